"""Where a 2,000-round shielded IDQN training's CPU time goes, per tree, and the part no learner-side change removes.

``srole train --algo idqn --shield central`` on the tuned MARL cell (``bench_learn.py``'s ``train-2000``: paper,
N = 20, horizon 50, 128x128 units, batch 256, 1,901 gradient steps), each tree in its own process (cwd and
``PYTHONPATH`` the tree, one OpenMP thread), with phase timers (this thread's CPU time) around the calls that
exist in the tree: the imports, the gradient steps (their forwards and backward), the env round (simulator step,
shield, observation), acting. Then two floors, measured in fresh processes of this tree:

- ``import numpy, torch`` (best of ``--repeat``): paid by any run whose learner is torch;
- the gradient steps' matrix products alone: the same ``addmm``/``mm`` calls at the run's shapes (online network on
  [2 x 256, 36], target on [256, 36], four products of the backward), ``--steps`` times in a tight loop: what the
  steps cost with every other operation at zero and the caches warm.

The summary line compares half of the base tree's total with the floors plus this tree's env rounds.

    python scripts/bench/train_floor.py                     # this tree and /work/before: about 1 min on 2 cores
    python scripts/bench/train_floor.py --base /path/to/old --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND = ["train", "--algo", "idqn", "--rounds", "2000", "--seed", "0", "--no-progress", "--device", "cpu",
           "--hparam", "lr=0.0007062166854943423", "--hparam", "gamma=0.739519005053225", "--hparam", "n_step=5",
           "--shield", "central", "--scenario", "paper", "--set", "n_edges=20", "--set", "horizon=50"]
"""``bench_learn.py``'s ``train-2000`` (the tuned MARL cell, ``study/experiments/tuned/paper/MARL.yaml``)."""

PHASES = r"""
import json, runpy, sys, time
T = time.thread_time
times = {}

def wrap(module, owner, name, label):
    try:
        target = getattr(__import__(module, fromlist=["_"]), owner) if owner else __import__(module, fromlist=["_"])
    except (ImportError, AttributeError):
        return
    f = getattr(target, name, None)
    if f is None:
        return
    def timed(*a, **k):
        t = T()
        try:
            return f(*a, **k)
        finally:
            times[label] = times.get(label, 0.0) + T() - t
    setattr(target, name, timed)

import numpy
t_numpy = T()
import torch
t_torch = T()
import agents.harness.train
t_imports = T()
for module, owner, name, label in [
        ("agents.learners.idqn", "IDQN", "update", "gradient steps"),
        ("agents.learners.mlp_step", None, "_forward", "  their forwards"),
        ("agents.learners.mlp_step", "MLPQStep", "_backward", "  their backward"),
        ("agents.common.array_env", "EpisodeDriver", "step", "env rounds"),
        ("srole_env.core.simulator", "ClusterSimulator", "step", "  simulator step"),
        ("shields.wrappers", "ShieldWrapper", "_settle", "  shield"),
        ("srole_env.core.simulator", "ClusterSimulator", "observe", "  observation"),
        ("agents.learners.idqn", "QNetPolicy", "preferences", "acting (Q-values)"),
        ("agents.learners.idqn", "IDQN", "explore", "exploration")]:
    wrap(module, owner, name, label)
sys.argv = ["srole", *sys.argv[1:]]
t_run = T()
try:
    runpy.run_module("srole_cli.main", run_name="__main__")
except SystemExit:
    pass
t_end = T()
print("PHASES " + json.dumps({"python + import numpy": t_numpy, "import torch": t_torch - t_numpy,
                              "other imports": t_imports - t_torch, **times, "total": t_end}))
"""

BARE = ("import resource, time; import numpy, torch; u = resource.getrusage(resource.RUSAGE_SELF); "
        "print('BARE', u.ru_utime + u.ru_stime)")

PRODUCTS = r"""
import sys, time, numpy as np, torch
torch.set_num_threads(1)
steps, (d, h, a, b) = int(sys.argv[1]), (36, 128, 6, 256)
rng = np.random.default_rng(0)
w = [torch.from_numpy(rng.standard_normal(s).astype(np.float32) * 0.1) for s in ((h, d), (h, h), (a, h))]
bias = [torch.zeros(s) for s in (h, h, a)]
x = torch.from_numpy(rng.random((2 * b, d), np.float32))
online, target = [torch.empty(2 * b, m.shape[0]) for m in w], [torch.empty(b, m.shape[0]) for m in w]
grad_w = [torch.empty_like(m) for m in w]
g_out, g_hidden, g_in = torch.randn(b, a), torch.randn(b, h), torch.empty(b, h)
wt = [m.t() for m in w]
def step():
    for rows, outs in ((x, online), (x[b:], target)):
        for i in range(3):
            rows = torch.addmm(bias[i], rows, wt[i], out=outs[i])
    torch.mm(g_out.t(), online[1][:b], out=grad_w[2])
    torch.mm(g_hidden.t(), online[0][:b], out=grad_w[1])
    torch.mm(g_hidden, w[1], out=g_in)
    torch.mm(g_hidden.t(), x[:b], out=grad_w[0])
for _ in range(100):
    step()
t = time.thread_time()
for _ in range(steps):
    step()
print("PRODUCTS", time.thread_time() - t)
"""


def _python(tree: Path, code: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{tree}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return out.stdout


def _tagged(stdout: str, tag: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(tag + " ")).split(" ", 1)[1]


def phases(tree: Path, out: Path) -> dict[str, float]:
    """Phase CPU seconds of one whole training in ``tree`` (the calls the tree has)."""
    return json.loads(_tagged(_python(tree, PHASES, *COMMAND, "--out", str(out)), "PHASES"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=Path("/work/before"), help="the checkout to compare against")
    parser.add_argument("--runs", type=int, default=1, help="phase runs per tree, interleaved (median per phase)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh interpreters for the import floor (best kept)")
    parser.add_argument("--steps", type=int, default=1901, help="gradient steps of the run (the products floor)")
    args = parser.parse_args(argv)
    trees = {"base": args.base.resolve(), "this": ROOT}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for label, tree in trees.items():
                runs[label].append(phases(tree, Path(tmp) / f"{label}{i}"))
    med = {k: {p: statistics.median(r.get(p, float("nan")) for r in v) for p in v[0]} for k, v in runs.items()}
    bare = min(float(_tagged(_python(ROOT, BARE), "BARE")) for _ in range(args.repeat))
    products = float(_tagged(_python(ROOT, PRODUCTS, str(args.steps)), "PRODUCTS"))
    order = ["python + import numpy", "import torch", "other imports", "gradient steps", "  their forwards",
             "  their backward", "env rounds", "  simulator step", "  shield", "  observation", "acting (Q-values)",
             "exploration", "total"]
    names = [n for n in order if n in med["base"] or n in med["this"]]
    print(f"CPU seconds (this thread), median of {args.runs} run(s) per tree; base {trees['base']}\n")
    print("| phase | base | this tree |\n|---|---|---|")
    for name in names:
        cells = [f"{med[k][name]:.2f}" if name in med[k] else "-" for k in trees]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    half, env = med["base"]["total"] / 2, med["this"].get("env rounds", float("nan"))
    print(f"\nfloors: import numpy + torch {bare:.2f} s (process CPU, best of {args.repeat}); the {args.steps} steps' "
          f"matrix products alone {products:.2f} s")
    print(f"half of base: {half:.2f} s; the floors {bare + products:.2f} s, with this tree's env rounds "
          f"{bare + products + env:.2f} s; left for everything else: {half - bare - products - env:.2f} s")


if __name__ == "__main__":
    main()
