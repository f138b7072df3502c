"""Soak: run the `paper` scenario for many rounds through the fast path and print resident memory as it
goes, to show that episode memory stays flat (episodes reset at the horizon; tables are reused).

    python scripts/bench/soak_memory.py --rounds 1000000 --every 100000
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import srole_env


def rss_mib() -> float:
    """Current resident set size in MiB (from /proc, Linux)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="paper")
    parser.add_argument("--rounds", type=int, default=1_000_000, help="env steps (decision rounds) in all")
    parser.add_argument("--every", type=int, default=100_000, help="print memory every this many rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    env = srole_env.parallel_env(args.scenario)
    env.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    n, n_actions = env.config.n_edges, env.sim.n_actions
    start, episodes = time.perf_counter(), 0
    print(f"{'rounds':>10s} {'episodes':>9s} {'rss MiB':>8s} {'rounds/s':>9s}")
    for step in range(1, args.rounds + 1):
        *_, truncated, _ = env.step_arrays(rng.integers(n_actions, size=n))
        if truncated:
            env.reset()
            episodes += 1
        if step % args.every == 0:
            rate = step / (time.perf_counter() - start)
            print(f"{step:>10d} {episodes:>9d} {rss_mib():>8.1f} {rate:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
