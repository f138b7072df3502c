"""The shield's share of a fast-path step, measured interleaved so that machine load hits both sides alike.

Two copies of the same cluster (same scenario, size and seed) run side by side under random play through
``step_arrays``: one bare, one behind the shield. Each iteration steps both with the same joint action
and times each step. Printed, as medians over blocks of ``--block`` iterations:

* ``bare ms`` / ``shielded ms``: wall time of one step without and with the shield;
* ``shield ms``: the shield's own time (``last_report["decision_time_s"]``);
* ``share``: shield ms / shielded ms, the share of a shielded step spent in the shield;
* ``added``: (shielded - bare) / shielded, the same from the difference of the two walls.

    python scripts/bench/bench_shield_share.py                       # central shield, N = 100
    python scripts/bench/bench_shield_share.py --kind decentralized --n 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from shields import kernel, make_shield
from srole_env import parallel_env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="central", choices=["central", "decentralized"])
    parser.add_argument("--n", type=int, default=100, help="cluster size N")
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if kernel.available():  # the compiled shield from the first round: the steady state, not the ski rental
        kernel.load()

    bare = parallel_env(args.scenario, n_edges=args.n)
    shielded = make_shield(parallel_env(args.scenario, n_edges=args.n), args.kind, seed=args.seed)
    for env in (bare, shielded):
        env.reset(seed=args.seed)
    n_actions = bare.sim.n_actions
    rng = np.random.default_rng(args.seed)
    times = np.zeros((args.iterations, 3))
    for it in range(-50, args.iterations):  # 50 warm-up iterations (first calls, compiled kernels)
        actions = rng.integers(n_actions, size=args.n)
        start = time.perf_counter()
        done_bare = bare.step_arrays(actions)[4]
        mid = time.perf_counter()
        done_shielded = shielded.step_arrays(actions)[4]
        end = time.perf_counter()
        if it >= 0:
            times[it] = (mid - start, end - mid, shielded.last_report["decision_time_s"])
        if done_bare:
            bare.reset()
        if done_shielded:
            shielded.reset()
    blocks = times[: len(times) // args.block * args.block].reshape(-1, args.block, 3).mean(axis=1)
    t_bare, t_shielded, t_shield = np.median(blocks, axis=0)
    share = np.median(blocks[:, 2] / blocks[:, 1])
    added = np.median(1.0 - blocks[:, 0] / blocks[:, 1])
    print(f"N={args.n} {args.kind}: bare {1e3 * t_bare:.3f} ms, shielded {1e3 * t_shielded:.3f} ms, "
          f"shield {1e3 * t_shield:.3f} ms, share {share:.1%}, added {added:.1%}")


if __name__ == "__main__":
    main()
