"""Measure the compute of one request a host serves, with the project's own code, at several cluster sizes.

Writes ``srole_env/data/request_cost.csv`` (read by ``srole_env.core.host_cost``), the measured part of the one
cost model that charges the cluster head's decisions and every shield host's checks (``request_s`` is the
assumed part). Figures are seconds on this host's core (the device table's ``calibrated_host``); the model scales
them to the serving host's class.

* ``decision``: one CRL head decision in the project's compiled head (``srole_env.core.head_kernel.decide``, what
  evaluation runs): the round's preparation (``CentralizedSchedulingEnv``'s kernel arguments: the requests' base
  observations, the state table) plus the loop that, per request, builds the observation, masks, runs the 64x64
  Q-network (exported from ``HeadQPolicy`` by ``agents.common.export.head_rule``) and commits the placement; the
  round's time divided by its decisions, median over rounds. The round's simulation is not the head's work and is
  not timed. ``decision_python`` rows time the same decision one request at a time through the Gymnasium API
  (``action_masks``, ``HeadQPolicy.preferences`` in torch on a batch of one, ``step`` on a decision that is not
  the round's last), for comparison; the model does not read them.
* ``check``: the central shield's work per checked proposal: one round's ``ShieldWrapper`` settlement (priority
  ranks, preference ranks, the coordinator's resolution; ``last_report['decision_time_s']``) divided by the
  proposals the shield checked that round (``Resolution.local_checks``), median over rounds. The compiled kernel is
  loaded first (``shields.kernel.load``): the steady state of a long run. Proposals: each requesting agent's
  random allowed target, random preferences (a learner's Q-values are as arbitrary to the shield). At size n the
  shield serves n agents, so the row is what one host serving n agents pays per check (a region host's figure is
  read at its region's size). ``check_regions`` rows time the decentralized shield the same way (all regions
  settled in one vectorised call) for comparison; the model does not read them.

The machine may be shared: the header records the load average, and the median over many requests is taken.

    nice -n 10 python scripts/calibrate/request_cost.py                       # all sizes, write the package data
    python scripts/calibrate/request_cost.py --sizes 20 200 --out /tmp/rc.csv  # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "srole_env" / "data" / "request_cost.csv"
SIZES = (5, 20, 50, 200, 1000, 2000, 10000)


def _config(n: int, horizon: int) -> dict[str, Any]:
    """The map's cluster at size ``n``, loaded enough that most edges request each round."""
    return {"scenario": "paper", "n_edges": n, "horizon": horizon, "arrival_rate": 0.03}


def _head(n: int, rounds: int, seed: int) -> tuple[Any, np.ndarray, Any]:
    """(head env after reset, first observation, a fresh 64x64 ``HeadQPolicy``) on an ``n``-edge cluster."""
    import torch

    from agents.learners.crl_idqn import HeadQPolicy
    from agents.learners.networks import mlp
    from srole_env import CentralizedSchedulingEnv

    env = CentralizedSchedulingEnv(**_config(n, rounds + 5))
    obs, _ = env.reset(seed=seed)
    torch.manual_seed(0)
    policy = HeadQPolicy(mlp(env.observation_space.shape[0], [64, 64], int(env.action_space.n)).eval(), True, "cpu")
    return env, obs, policy


def time_compiled_decisions(n: int, rounds: int, seed: int = 0) -> list[float]:
    """Seconds per decision of each of ``rounds`` rounds of the compiled head (``head_kernel.decide``) on an
    ``n``-edge cluster: kernel arguments plus the loop, over the decisions it made (the round's simulation and
    near ties handed back to the policy are not timed)."""
    from agents.common.export import head_rule
    from srole_env.core import head_kernel

    env, obs, policy = _head(n, rounds, seed)
    rule = head_rule(policy)

    def act(o: np.ndarray, m: np.ndarray) -> int:
        return int(np.argmax(policy.preferences(o[None].astype(np.float32), m[None])[0]))

    times: list[float] = []
    warm = 2
    for r in range(rounds + warm):
        # decide_round's loop, with its first kernel call timed (a probe of the env's own arguments)
        m = len(env._order)  # noqa: SLF001
        pos0 = env._pos  # noqa: SLF001
        t0 = time.perf_counter()
        before, after = env._kernel_args(rule)  # noqa: SLF001
        pos, mem_sum = head_kernel.decide(pos0, *before, env._mem_sum, *after)  # noqa: SLF001
        dt = time.perf_counter() - t0
        env._pos, env._mem_sum = int(pos), float(mem_sum)  # noqa: SLF001
        if r >= warm and pos > pos0:
            times.append(dt / (pos - pos0))
        while env._pos < m:  # noqa: SLF001 - near ties: the policy decides, as decide_round does
            env._apply(act(env._observation(), env.action_masks()))  # noqa: SLF001
            if env._pos >= m:  # noqa: SLF001
                break
            before, after = env._kernel_args(rule)  # noqa: SLF001
            pos, mem_sum = head_kernel.decide(env._pos, *before, env._mem_sum, *after)  # noqa: SLF001
            env._pos, env._mem_sum = int(pos), float(mem_sum)  # noqa: SLF001
        *_, truncated, _ = env._advance()  # noqa: SLF001
        if truncated:
            env.reset(seed=seed + r + 1)
    return times


def time_decisions(n: int, rounds: int, seed: int = 0) -> list[float]:
    """Seconds of each non-final decision of ``rounds`` rounds at the head of an ``n``-edge cluster, one request
    at a time through the Gymnasium API (mask, torch forward, ``step``)."""
    env, obs, policy = _head(n, rounds, seed)
    times: list[float] = []
    done_rounds = 0
    while done_rounds < rounds:
        t0 = time.perf_counter()
        mask = env.action_masks()
        prefs = policy.preferences(obs[None].astype(np.float32), mask[None])
        action = int(np.argmax(prefs[0]))
        obs, _, _, truncated, info = env.step(action)
        dt = time.perf_counter() - t0
        if info["rounds_completed"]:  # this step ran the round's simulation too: not a head's per-request cost
            done_rounds += info["rounds_completed"]
        else:
            times.append(dt)
        if truncated:
            obs, _ = env.reset(seed=seed + done_rounds)
    return times


class _Counting:
    """The coordinator's ``resolve``, noting each round's checked proposals (``Resolution.local_checks``)."""

    def __init__(self, coordinator: Any):
        self.inner, self.checks = coordinator, 0

    def resolve(self, *args: Any, **kwargs: Any) -> Any:
        res = self.inner.resolve(*args, **kwargs)
        self.checks = int(res.local_checks.sum())
        return res


def time_checks(n: int, rounds: int, shield: str, seed: int = 0) -> tuple[list[float], float]:
    """(seconds per checked proposal of each round, mean region size) of ``shield`` on an ``n``-edge cluster."""
    from shields import CentralShield, DecentralizedShield, kernel
    from srole_env import EdgeClusterEnv

    if kernel.available():
        kernel.load()
    env = (CentralShield if shield == "central" else DecentralizedShield)(EdgeClusterEnv(**_config(n, rounds + 5)))
    env.reset(seed=seed)
    inner = env.unwrapped
    rng = np.random.default_rng(seed)
    per_check: list[float] = []
    warm = 3
    for r in range(rounds + warm):
        env._coordinator = counting = _Counting(env._coordinator)  # noqa: SLF001 - a timing probe, read-only
        mask = inner.sim.action_mask().astype(bool)
        place = mask[:, :-1]
        scores = rng.random(place.shape) + place  # a random allowed target for each agent that has one
        actions = np.where(place.any(axis=1), scores.argmax(axis=1), inner.hold_action)
        prefs = rng.normal(size=mask.shape)
        env.step_arrays(actions, prefs)
        env._coordinator = counting.inner  # noqa: SLF001
        if r >= warm and counting.checks:
            per_check.append(env.last_report["decision_time_s"] / counting.checks)
        if inner.round >= inner.config.horizon:
            env.reset(seed=seed + r + 1)
    return per_check, n / len(env.hosts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--rounds", type=int, default=0, help="rounds per size (default: enough for ~2000 requests)")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from srole_common.host import cpu_model
    from srole_common.persist import atomic_write

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rows = []
    for n in sorted(set(args.sizes)):
        rounds = args.rounds or int(min(200, max(16, 4000 / n)))
        for kind, (times, served) in (("decision", (time_compiled_decisions(n, rounds), n)),
                                      ("decision_python", (time_decisions(n, rounds), n)),
                                      ("check", time_checks(n, rounds, "central")),
                                      ("check_regions", time_checks(n, rounds, "decentralized"))):
            if not times:
                raise RuntimeError(f"request_cost: no {kind} request timed at n = {n}; raise --rounds")
            med = statistics.median(times)
            rows.append((kind, n, round(served, 2), med, statistics.quantiles(times, n=4)[0],
                         statistics.quantiles(times, n=4)[2], len(times)))
            print(f"n={n:>6} {kind:>15}: {med * 1e6:9.2f} us per request (n_served {served:.1f}, "
                  f"{len(times)} samples)", flush=True)
    load_after = os.getloadavg()
    header = [
        "# Measured compute of one request a host serves (scripts/calibrate/request_cost.py; do not edit by hand).",
        f"# host: {cpu_model()}, {os.cpu_count()} cores, python {platform.python_version()}, torch "
        f"{torch.__version__}, {time.strftime('%Y-%m-%dT%H:%M:%S%z')}; device table class calibrated_host.",
        f"# load average before {tuple(round(x, 2) for x in load_before)}, after "
        f"{tuple(round(x, 2) for x in load_after)} (a shared machine inflates the figures; medians over requests).",
        "# kind: decision = CRL head, compiled (observation, mask, 64x64 Q forward, placement per request, plus the",
        "# round's preparation); decision_python = the same through the Gymnasium API (comparison only); check =",
        "# central shield per checked proposal, serving n_served agents; check_regions = decentralized shield (all",
        "# regions at once), n_served = mean region size (comparison only). compute_s: median s per request here;",
        "# q1_s/q3_s: quartiles; samples: rounds timed (decision, check, check_regions: each a round's time over its",
        "# requests) or requests timed (decision_python).",
    ]
    lines = ["kind,n_edges,n_served,compute_s,q1_s,q3_s,samples"]
    lines += [f"{k},{n},{s:g},{m:.6g},{a:.6g},{b:.6g},{c}" for k, n, s, m, a, b, c in rows]
    atomic_write(Path(args.out), "\n".join(header + lines) + "\n")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
