"""Benchmark: agent-steps per second of the batched env (K episodes x N agents per call) against one env's
array fast path (``EdgeClusterEnv.step_arrays``), same scenario, same random policy.

    python scripts/bench/bench_batched_env.py                        # K = 64 at N = 20 and N = 1000
    python scripts/bench/bench_batched_env.py --sizes 20 --k 1 8 64 --seconds 2
    python scripts/bench/bench_batched_env.py --train-rounds 1600     # also IDQN/IPPO training, n_envs 1 vs K
    python scripts/bench/bench_batched_env.py --sizes 20 1000 --k 8 64 --before /tmp/before   # side by side

An agent-step is one agent's action in one round (K x N per batched call, N per single-env step). Episodes run to
the `small` scenario's horizon (200 rounds) and auto-reset (the single env resets itself, the batched env with its
``autoreset_mode``). Each figure is the best of ``--repeats`` timed runs of at least ``--seconds`` each, after a
warm-up; the ratio is batched / single. The batched env runs its K episodes as K blocks of one simulator
(``srole_env.core.batch``). The column "one env of K x N", one env of K x N edges through ``step_arrays``, is the
same array work per round without the per-block bookkeeping (a reference, not a batch: its jobs cross blocks).
``--before DIR`` also runs DIR's copy of this script (another checkout, e.g. the commit before the batched engine)
for every (N, K) in the same run, interleaved, and prints its single and batched figures beside these.
``--train-rounds R`` also times ``R``-round IDQN and IPPO trainings (``small``, N = the first size, defaults) with
the learner option ``n_envs`` = 1 and each K (one torch thread).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

import srole_env
from srole_env.vector import BatchedEdgeClusterEnv


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


def single_case(n: int, seed: int = 0) -> Callable[[], int]:
    """One env of ``n`` edges through ``step_arrays``."""
    env = srole_env.parallel_env("small", n_edges=n)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    a = env.sim.n_actions

    def step() -> int:
        if env.step_arrays(rng.integers(a, size=n))[4]:
            env.reset()
        return n
    return step


def batched_case(k: int, n: int, seed: int = 0, mode: str = "NextStep") -> Callable[[], int]:
    """``k`` episodes of ``n`` edges through ``BatchedEdgeClusterEnv.step_arrays``."""
    venv = BatchedEdgeClusterEnv(k, "small", n_edges=n, autoreset_mode=mode)
    venv.reset(seed=seed)
    rng = np.random.default_rng(seed)

    def step() -> int:
        venv.step_arrays(rng.integers(venv.n_actions, size=(k, n)))
        return k * n
    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 1000], help="cluster sizes N")
    parser.add_argument("--k", type=int, nargs="+", default=[64], help="episodes per batched call K")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--proxy-max", type=int, default=20_000, help="largest K x N timed as one env")
    parser.add_argument("--train-rounds", type=int, default=0, help="also time trainings of this many rounds")
    parser.add_argument("--before", default=None, help="another checkout whose copy of this script runs beside")
    args = parser.parse_args(argv)
    print(f"{'N':>6} {'K':>4} {'single agent-steps/s':>22} {'batched agent-steps/s':>22} {'ratio':>7} "
          f"{'one env of K x N':>17} {'ratio':>7}" + ("   | before: single, batched, ratio" if args.before else ""))
    for n in args.sizes:
        single = _timed(single_case(n), args.seconds, args.repeats)
        for k in args.k:
            before = _before_row(args.before, n, k, args.seconds, args.repeats) if args.before else ""
            batched = _timed(batched_case(k, n), args.seconds, args.repeats)
            proxy = _timed(single_case(k * n), args.seconds, args.repeats) if k * n <= args.proxy_max else float("nan")
            print(f"{n:>6} {k:>4} {single:>22,.0f} {batched:>22,.0f} {batched / single:>7.2f} {proxy:>17,.0f} "
                  f"{proxy / single:>7.2f}" + before, flush=True)
    if args.train_rounds:
        train_table(args.sizes[0], args.k, args.train_rounds)
    return 0


def _before_row(tree: str, n: int, k: int, seconds: float, repeats: int) -> str:
    """The single and batched figures of ``tree``'s copy of this script at (n, k), run now in a subprocess."""
    script = os.path.join(tree, "scripts", "bench", "bench_batched_env.py")
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, script, "--sizes", str(n), "--k", str(k), "--seconds", str(seconds),
                          "--repeats", str(repeats), "--proxy-max", "0"], cwd=tree, env=env, capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields[:2] == [str(n), str(k)]:
            return f"   | {fields[2]:>10} {fields[3]:>10} {fields[4]:>6}"
    raise RuntimeError(f"--before {tree}: no row for N = {n}, K = {k} in its output:\n{out}")


def train_table(n: int, ks: list[int], rounds: int) -> None:
    """Wall seconds of ``rounds``-round IDQN and IPPO trainings at ``n`` edges with ``n_envs`` 1 and each K."""
    import tempfile

    import torch

    from agents.harness.train import train
    from srole_env import make_config

    torch.set_num_threads(1)
    config = make_config("small", n_edges=n)
    print(f"\n{'algo':>6} {'n_envs':>6} {'wall s':>8} {'rounds/s':>9}  ({rounds} rounds, N = {n})")
    for algo in ("idqn", "ippo"):
        for k in sorted({1, *ks}):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                train(algo, "none", config, rounds, 0, f"{tmp}/run", "cpu", hparams={"n_envs": k}, progress=False)
                wall = time.perf_counter() - start
            print(f"{algo:>6} {k:>6} {wall:>8.1f} {rounds / wall:>9.0f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
