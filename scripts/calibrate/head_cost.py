"""Measure the CRL head policy's real per-decision cost and scale it to the head's device class (the crossover map's
head axis: ``docs/ceiling.md``).

One decision of the learned head (``crl_idqn``) is one call of ``HeadQPolicy.preferences`` on a batch of one:
observation to tensor, the 64x64 Q-network forward, back to NumPy, the action mask applied, as evaluation runs
it. This script times that call in a Python/torch process (one torch thread, as every experiment worker runs)
``--repeats`` times after a warm-up and takes the median, for a fresh network and for a trained checkpoint when
``--model`` names one (a trained net costs the same FLOPs; the check is that nothing else differs).

**Scaling to the head.** The host is the device table's ``calibrated_host`` row (``srole_env/data/devices.csv``:
the x86 machine ``scripts/calibrate/calibrate.py`` measured); the head is the edge the simulator makes the cluster
head on the ``paper`` scenario (``topology.head``: the edge with the most sustained FLOP/s; ``--head-class``
overrides). The ratio is per core, because the head's scheduler runs on one core
(``srole_env.core.host_cost.scheduler_share``): sustained FLOP/s per core = ``peak_gflops_fp32 x
training_efficiency / cores``. ``head_s = host median x host per-core rate / head per-core rate``. This is an
ASSUMPTION in one respect: a batch-1 forward of a 64x64 MLP is dominated by framework overhead, not FLOPs, and the
table's rate for a Jetson is its GPU's, while the scheduler would run on its ARM CPU; the ratio is the table's
only compute figure for the head class. The result goes to ``study/experiments/data/head_cost.json``
(``study.experiments.crossover_profile`` reads it as the map's third head service time).

Rewriting the JSON changes the map's third head time, hence the cache keys of the head methods' evaluations at it
(they are recomputed on the next run); check a new measurement with ``--out`` elsewhere first.

    nice -n 10 python scripts/calibrate/head_cost.py                         # measure, write the JSON
    python scripts/calibrate/head_cost.py --model results/x/cache/models/KEY --out /tmp/h.json
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

from srole_common.host import cpu_model

OUT = Path(__file__).resolve().parents[2] / "study" / "experiments" / "data" / "head_cost.json"
HOST_CLASS = "calibrated_host"


def per_core_rate(name: str) -> float:
    """Sustained FLOP/s of one core of a device class (``peak x training_efficiency / cores``)."""
    from srole_env.profiles import device_table

    table = device_table()
    if name not in table:
        raise ValueError(f"head_cost: unknown device class {name!r}; known: {sorted(table)}")
    return float(table[name].flops) / float(table[name].cores)


def head_class(config: dict[str, Any]) -> str:
    """The device class the simulator makes the cluster head for ``config`` (``topology.head``)."""
    from srole_env import make_config
    from srole_env.core.simulator import ClusterSimulator

    sim = ClusterSimulator(make_config(**config))
    sim.reset(np.random.default_rng(0))
    topo = sim.topology
    return str(topo.device_names[int(topo.device_index[topo.head])])


def time_decision(policy: Any, obs: np.ndarray, mask: np.ndarray, repeats: int, warmup: int = 200) -> list[float]:
    """Seconds of each of ``repeats`` one-decision calls ``policy.preferences(obs[None], mask[None])``."""
    o, m = obs[None].astype(np.float32), mask[None]
    for _ in range(warmup):
        policy.preferences(o, m)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        policy.preferences(o, m)
        times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=5, help="independent timing rounds (median of their medians)")
    p.add_argument("--model", default=None, help="a trained crl_idqn run directory (its checkpoint) to time too")
    p.add_argument("--head-class", default=None, help="device class of the head (default: the paper scenario's)")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from agents.learners.crl_idqn import HeadQPolicy, load_policy
    from agents.learners.networks import mlp
    from srole_common.persist import write_json
    from srole_env import CentralizedSchedulingEnv, make_config

    config = {"scenario": "paper", "n_edges": 20, "horizon": 200}
    env = CentralizedSchedulingEnv(make_config(**config))
    obs, _ = env.reset(seed=0)
    mask = np.asarray(env.action_masks(), dtype=np.int8)
    torch.manual_seed(0)
    fresh = HeadQPolicy(mlp(env.observation_space.shape[0], [64, 64], int(env.action_space.n)).eval(), True, "cpu")
    policies = {"fresh 64x64": fresh}
    if args.model:
        policies["trained"] = load_policy(Path(args.model) / "checkpoint", "cpu")
    load_before = os.getloadavg()
    measured = {}
    for name, policy in policies.items():
        medians = [statistics.median(time_decision(policy, obs, mask, args.repeats)) for _ in range(args.rounds)]
        measured[name] = {"median_s": statistics.median(medians), "round_medians_s": medians}
    load_after = os.getloadavg()
    host_s = min(v["median_s"] for v in measured.values())
    cls = args.head_class or head_class(config)
    ratio = per_core_rate(HOST_CLASS) / per_core_rate(cls)
    result = {
        "what": "one crl_idqn decision (HeadQPolicy.preferences, batch 1, 64x64 Q-network, torch 1 thread)",
        "host": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                 "torch": torch.__version__, "loadavg_before": load_before, "loadavg_after": load_after,
                 "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "table_class": HOST_CLASS},
        "obs_dim": int(env.observation_space.shape[0]), "n_actions": int(env.action_space.n),
        "repeats": args.repeats, "rounds": args.rounds, "measured": measured, "host_median_s": host_s,
        "head_class": cls, "host_core_flops": per_core_rate(HOST_CLASS), "head_core_flops": per_core_rate(cls),
        "ratio": ratio, "head_s": host_s * ratio,
        "scaling": "head_s = host median x (host per-core sustained FLOP/s / head per-core sustained FLOP/s), "
                   "per-core rate = peak_gflops_fp32 x training_efficiency / cores (srole_env/data/devices.csv)",
    }
    write_json(Path(args.out), result)
    print(f"host median {host_s * 1e6:.1f} us/decision ({cpu_model()}); head class {cls}: x{ratio:.2f} -> "
          f"{result['head_s'] * 1e3:.3f} ms/decision; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
