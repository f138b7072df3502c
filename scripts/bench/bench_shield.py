"""Benchmark the shields: real wall time per step and simulated decision latency against cluster size.

For every N it runs the unshielded env, the central shield and the decentralized shield on the same
seed with a random policy through the array fast path (``step_arrays``), after a few untimed warm-up
rounds, and prints per step:

* ``wall ms``: real wall time of one ``step_arrays`` call (shield + simulator round);
* ``shield ms``: the shield's own share (``last_report["decision_time_s"]``);
* ``sim latency s``: simulated decision latency of the round (the slowest answer), the figure the
  simulator charges; ``per request s``: its mean over the round's requests;
* interventions, messages and coordination rounds per step.

The decentralized shield gets ``ceil(N / --edges-per-region)`` regions (at least 2), so its regions keep
their size as N grows: its simulated latency stays nearly flat while the central shield's grows with N.

    python scripts/bench/bench_shield.py --sizes 10 100 1000 10000 --steps 50 --big-steps 10
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from agents.baselines.heuristics import make_heuristic
from shields import kernel, make_shield
from srole_env import parallel_env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000], help="cluster sizes N")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per run")
    parser.add_argument("--big-steps", type=int, default=10, help="timed steps for N >= --big")
    parser.add_argument("--big", type=int, default=10000, help="N from which --big-steps applies")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds before timing")
    parser.add_argument("--edges-per-region", type=int, default=50, help="region size of the decentralized shield")
    parser.add_argument("--scenario", default="small", help="base scenario (n_edges is overridden)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def run(n: int, kind: str, args: argparse.Namespace) -> dict[str, float]:
    """Mean per-step figures of one shield kind on a cluster of ``n`` edges."""
    steps = args.big_steps if n >= args.big else args.steps
    regions = max(2, math.ceil(n / args.edges_per_region)) if n >= 2 else 1
    env = parallel_env(args.scenario, n_edges=n, n_regions=regions, horizon=args.warmup + steps + 1)
    env = make_shield(env, kind, seed=args.seed)
    env.reset(seed=args.seed)
    policy = make_heuristic("random", seed=args.seed)
    sim = env.unwrapped.sim
    obs, mask = sim.observe(), sim.action_mask()
    wall, shield, latency, per_request, interventions, messages, rounds = [], [], [], [], [], [], []
    for t in range(args.warmup + steps):
        actions = policy.act(obs, mask)
        start = time.perf_counter()
        obs, mask, *_ = env.step_arrays(actions)
        elapsed = time.perf_counter() - start
        if t < args.warmup:
            continue
        wall.append(elapsed)
        if kind != "none":
            rep = env.last_report
            shield.append(rep["decision_time_s"])
            latency.append(rep["decision_latency_s"])
            charged = rep["latency_s"][rep["latency_s"] > 0]
            per_request.append(charged.mean() if len(charged) else 0.0)
            interventions.append(rep["interventions"])
            messages.append(rep["messages"])
            rounds.append(rep["rounds"])

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else 0.0

    return {
        "regions": regions if kind == "decentralized" else (1 if kind == "central" else 0),
        "steps": steps,
        "wall_ms": 1e3 * mean(wall),
        "shield_ms": 1e3 * mean(shield),
        "latency_s": mean(latency),
        "per_request_s": mean(per_request),
        "interventions": mean(interventions),
        "messages": mean(messages),
        "rounds": mean(rounds),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if kernel.available():  # the compiled shield from the first round: the steady state, not the ski rental
        kernel.load()
    header = (f"{'N':>6} {'shield':<14} {'R':>4} {'steps':>5} {'wall ms':>9} {'shield ms':>9} "
              f"{'sim latency s':>13} {'per request s':>13} {'interv.':>8} {'messages':>8} {'rounds':>6}")
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        for kind in ("none", "central", "decentralized"):
            r = run(n, kind, args)
            print(f"{n:>6} {kind:<14} {r['regions']:>4} {r['steps']:>5} {r['wall_ms']:>9.2f} {r['shield_ms']:>9.2f} "
                  f"{r['latency_s']:>13.4f} {r['per_request_s']:>13.4f} {r['interventions']:>8.1f} "
                  f"{r['messages']:>8.1f} {r['rounds']:>6.1f}")


if __name__ == "__main__":
    main()
