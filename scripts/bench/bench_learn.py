"""Benchmark learning against another checkout: the gradient step, start-up to the first env step, and whole runs.

Every figure comes from a fresh subprocess whose working directory is the checkout measured (``python -m``
runs that tree's code), so this tree and ``--base`` (a worktree of the commit before the change, e.g.
``git worktree add /work/wt-learners-base 49d33dc``; default ``/work/before``) run side by side, interleaved:

- ``update``: IDQN's ``update()`` (64x64 MLP, batch 256, a filled buffer), median ms per step over 300 steps;
- ``start-up``: ``srole train --algo idqn --shield central`` until its first env step (``EpisodeDriver.step``),
  minus a bare ``import torch`` (best of ``--repeat`` fresh interpreters each);
- ``train-2000``: ``srole train --algo idqn --shield central`` on the tuned MARL cell (paper, N = 20, horizon 50)
  for 2,000 rounds, wall seconds and CPU seconds (user + system of the process), and whether the two trees'
  final weights (online and target networks) are equal bit for bit;
- ``train-16000`` (``--long``): the ``paper-long`` MARL cell's training (16,000 rounds, a learning-curve point
  every 500 rounds on 5 episodes), the same figures.

    python scripts/bench/bench_learn.py          # update, start-up, 2,000-round runs: about 2 min on 2 cores
    python scripts/bench/bench_learn.py --long   # plus the two 16,000-round runs (several minutes)
    python scripts/bench/bench_learn.py --only update startup --base /work/wt-learners-base
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUNED = ["--hparam", "lr=0.0007062166854943423", "--hparam", "gamma=0.739519005053225", "--hparam", "n_step=5"]
"""``study/experiments/tuned/paper/MARL.yaml`` (the tuned cell: paper, n_edges 20, horizon 50)."""
CELL = ["--scenario", "paper", "--set", "n_edges=20", "--set", "horizon=50"]
LONG = [*CELL, "--set", "arrival_rate=0.0075", "--hparam", "hidden=[64,64]", "--eval-every", "500",
        "--eval-seeds", "900000", "--eval-episodes", "5"]
"""``paper-long``'s MARL cell: ``DECISIVE_BASE`` at the first ``DECISIVE_LOADS``, ``DECISIVE_IDQN``, its curve."""

UPDATE = r"""
import json, time, numpy as np, torch
torch.set_num_threads(1)
try:
    from agents.learners.idqn import IDQN, IDQNConfig
except ImportError:  # a checkout from before the house move
    from agents.idqn import IDQN, IDQNConfig
agent = IDQN(37, 21, IDQNConfig(hidden=(64, 64), batch_size=256, learning_starts=0), 0)
rng = np.random.default_rng(0)
n = 20_000
obs, next_obs = rng.random((n, 37), np.float32), rng.random((n, 37), np.float32)
agent.buffer.add(obs, rng.integers(0, 21, n), rng.random(n), next_obs, rng.random((n, 21)) > 0.3, 0.5)
for _ in range(30):
    agent.update()
times = []
for _ in range(300):
    t = time.perf_counter(); agent.update(); times.append(time.perf_counter() - t)
print(json.dumps({"update_ms": 1e3 * float(np.median(times))}))
"""

FIRST_STEP = r"""
import os, sys, time
t0 = time.perf_counter()
import importlib.abc, importlib.util, runpy

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "agents.common.array_env":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            step = module.EpisodeDriver.step
            def first(self, *a, **k):
                print(f"FIRST_STEP {time.perf_counter() - t0:.4f}", flush=True)
                os._exit(0)
            module.EpisodeDriver.step = first
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook())
sys.argv = ["srole", *sys.argv[1:]]
runpy.run_module("srole_cli.main", run_name="__main__")
"""

BARE_TORCH = "import time; t0 = time.perf_counter(); import torch; print(f'FIRST_STEP {time.perf_counter() - t0:.4f}')"


def _python(tree: Path, code: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "0"}
    out = subprocess.run(["nice", "-n", "10", sys.executable, "-c", code, *args], cwd=tree, env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0 and "FIRST_STEP" not in out.stdout:
        raise RuntimeError(f"{tree}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return out.stdout


def _seconds(stdout: str) -> float:
    return float(next(line for line in stdout.splitlines() if line.startswith("FIRST_STEP")).split()[1])


def update_ms(tree: Path) -> float:
    return json.loads(_python(tree, UPDATE).strip().splitlines()[-1])["update_ms"]


def startup_s(tree: Path, repeat: int) -> tuple[float, float]:
    """(best time to the first env step, best bare ``import torch``), both from fresh interpreters."""
    first, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            bare.append(_seconds(_python(tree, BARE_TORCH)))
            first.append(_seconds(_python(tree, FIRST_STEP, "train", "--algo", "idqn", "--shield", "central", *CELL,
                                          "--rounds", "10", "--no-progress", "--out", f"{tmp}/run{i}")))
    return min(first), min(bare)


def run_s(tree: Path, rounds: int, extra: list[str], out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a whole ``srole train`` command (start-up included) writing its run to ``out``."""
    cmd = ["nice", "-n", "10", sys.executable, "-m", "srole_cli.main", "train", "--algo", "idqn", "--rounds",
           str(rounds), "--seed", "0", "--no-progress", "--device", "cpu", "--out", str(out), *TUNED, *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=tree, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def same_weights(a: Path, b: Path) -> bool:
    """True when two runs' final online and target networks are equal bit for bit."""
    import torch

    x, y = (torch.load(run / "checkpoint" / "idqn.pt", weights_only=True) for run in (a, b))
    return all(x[k].keys() == y[k].keys() and all(torch.equal(x[k][n], y[k][n]) for n in x[k]) for k in ("q", "target"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("/work/before"), help="the checkout to compare against")
    parser.add_argument("--only", nargs="+", default=["update", "startup", "train-2000"],
                        choices=["update", "startup", "train-2000", "train-16000"])
    parser.add_argument("--long", action="store_true", help="also the 16,000-round paper-long cell (both trees)")
    parser.add_argument("--repeat", type=int, default=3, help="start-up measurements per tree (best is kept)")
    parser.add_argument("--long-rounds", type=int, default=16_000,
                        help="budget of the paper-long cell's run (default its 16,000; shorter for a quick check)")
    parser.add_argument("--pairs", type=int, default=1, help="runs per tree for the whole-run figures, interleaved "
                        "base/this (the median is kept)")
    args = parser.parse_args(argv)
    only = [*args.only, *(["train-16000"] if args.long and "train-16000" not in args.only else [])]
    trees = {"base": args.base.resolve(), "this": ROOT}
    print(f"this tree {ROOT}, base {trees['base']}, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    rows = []
    for what in only:
        figures = {}
        for label, tree in trees.items():
            if what == "update":
                figures[label] = update_ms(tree)
            elif what == "startup":
                first, bare = startup_s(tree, args.repeat)
                figures[label] = first - bare
                print(f"  start-up {label}: first env step {first:.2f} s, bare import torch {bare:.2f} s")
            else:
                figures[label] = []
        if what in ("train-2000", "train-16000"):
            rounds, extra = (2000, ["--shield", "central", *CELL]) if what == "train-2000" else \
                (args.long_rounds, ["--shield", "none", *LONG])
            same = []
            with tempfile.TemporaryDirectory() as tmp:
                for i in range(args.pairs):  # interleaved, so that a change in the machine's load hits both trees
                    for label, tree in trees.items():
                        figures[label].append(run_s(tree, rounds, extra, Path(tmp) / f"{label}{i}"))
                    same.append(same_weights(Path(tmp) / f"base{i}", Path(tmp) / f"this{i}"))
            print(f"  {what} runs (wall s, CPU s): "
                  + ", ".join(f"{k} {[(round(w, 1), round(c, 2)) for w, c in v]}" for k, v in figures.items())
                  + f"; same final weights: {'yes' if all(same) else 'NO'}", flush=True)
            what = what if what == "train-2000" or args.long_rounds == 16_000 else f"paper-long-{args.long_rounds}"
            cpu = {k: statistics.median(c for _, c in v) for k, v in figures.items()}
            rows.append((f"{what} CPU", cpu["base"], cpu["this"], cpu["this"] / cpu["base"], "s"))
            print(f"{what + ' CPU':12s} base {cpu['base']:8.3f} s  this {cpu['this']:8.3f} s  "
                  f"this/base {cpu['this'] / cpu['base']:.3f}", flush=True)
            figures = {k: statistics.median(w for w, _ in v) for k, v in figures.items()}
            what = f"{what} wall"
        unit = "ms" if what == "update" else "s"
        ratio = figures["this"] / figures["base"] if figures["base"] else float("nan")
        rows.append((what, figures["base"], figures["this"], ratio, unit))
        print(f"{what:12s} base {figures['base']:8.3f} {unit}  this {figures['this']:8.3f} {unit}  "
              f"this/base {ratio:.3f}", flush=True)
    print("\n| figure | base | this tree | this / base |\n|---|---|---|---|")
    for what, base, this, ratio, unit in rows:
        label = "start-up (first env step - import torch)" if what == "startup" else what
        print(f"| {label} | {base:.3f} {unit} | {this:.3f} {unit} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
