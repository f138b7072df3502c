"""Benchmark: agent-steps per second of the SROLE env (dict API and array fast path), behind each shield,
and of mpe2's simple_spread_v3 with the same random policy, for several cluster sizes; plus peak memory.

    python scripts/bench/bench_env.py                       # N in 10, 100, 1000
    python scripts/bench/bench_env.py --sizes 10 100 --seconds 2 --no-peer

An agent-step is one agent's action in one round (N agent-steps per env step); episodes run to the
`small` scenario's horizon (200 rounds) and reset, as in training. Each figure is the best
of ``--repeats`` timed runs of at least ``--seconds`` each, after a warm-up, on one process (one core
for the env: NumPy is not multi-threaded for these array sizes). Peak memory is the process's
``ru_maxrss`` after each case, so it is cumulative and grows with the largest case run so far.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable

import numpy as np

import srole_env


def _timed(step: Callable[[], int], seconds: float, repeats: int) -> float:
    """Best agent-steps/s over ``repeats`` runs of at least ``seconds`` each; ``step`` returns agent-steps done."""
    step()  # warm-up
    best = 0.0
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            done += step()
        best = max(best, done / elapsed)
    return best


def srole_case(n: int, mode: str, shield: str, seed: int = 0) -> Callable[[], int]:
    """A step function for the SROLE env of ``n`` edges: ``mode`` is ``dict`` or ``fast``."""
    env = srole_env.parallel_env("small", n_edges=n)
    if shield != "none":
        from shields import make_shield

        env = make_shield(env, shield)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n_actions = env.unwrapped.sim.n_actions
    agents = list(env.possible_agents)

    if mode == "fast":

        def step() -> int:
            if env.step_arrays(rng.integers(n_actions, size=n))[4]:
                env.reset()
            return n
    else:

        def step() -> int:
            actions = dict(zip(agents, rng.integers(n_actions, size=n).tolist()))
            if all(env.step(actions)[3].values()):
                env.reset()
            return n

    return step


def mpe_case(n: int, seed: int = 0) -> Callable[[], int] | None:
    """simple_spread_v3 with ``n`` agents and random actions through its dict API (None if mpe2 is missing)."""
    try:
        from mpe2 import simple_spread_v3
    except ImportError:
        return None
    env = simple_spread_v3.parallel_env(N=n, max_cycles=10**9, continuous_actions=False)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    agents = list(env.agents)
    n_actions = env.action_space(agents[0]).n

    def step() -> int:
        env.step(dict(zip(agents, rng.integers(n_actions, size=n).tolist())))
        return n

    return step


def peak_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum duration of one timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--shields",
        nargs="*",
        default=["central", "decentralized"],
        help="shields to time through the fast path and the dict API (needs the shields package)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip mpe2 simple_spread_v3")
    args = parser.parse_args(argv)

    try:
        import shields  # noqa: F401
    except ImportError:
        args.shields = []
    rows = []
    for n in args.sizes:
        cases: list[tuple[str, Callable[[], int] | None]] = [
            ("srole dict API", srole_case(n, "dict", "none")),
            ("srole fast path", srole_case(n, "fast", "none")),
        ]
        cases += [(f"srole fast + {s} shield", srole_case(n, "fast", s)) for s in args.shields]
        cases += [(f"srole dict + {s} shield", srole_case(n, "dict", s)) for s in args.shields]
        if not args.no_peer:
            cases.append(("mpe2 simple_spread_v3 dict API", mpe_case(n)))
        for name, step in cases:
            if step is None:
                rows.append((n, name, float("nan"), peak_mib()))
                continue
            rows.append((n, name, _timed(step, args.seconds, args.repeats), peak_mib()))
            print(
                f"N={n:<6d} {name:<34s} {rows[-1][2]:>14,.0f} agent-steps/s   peak {rows[-1][3]:8.1f} MiB", flush=True
            )
    print()
    print("| N | case | agent-steps/s | peak MiB |")
    print("|---|---|---:|---:|")
    for n, name, rate, mem in rows:
        print(f"| {n} | {name} | {rate:,.0f} | {mem:.0f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
