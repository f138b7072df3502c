"""The learned head's training against MARL's at scale, this tree beside another checkout, in one run.

A ``crl_idqn`` training and an ``idqn`` (MARL) training at the same N, load and rounds (``paper`` scenario, horizon
50, rho = 0.5, hidden [64, 64] as the regime map, ``learning_starts`` 5 N + 1 so that MARL's 5-step returns have
filled the buffer, one torch thread), each in a fresh process of each tree:

    python scripts/bench/bench_head_train.py                              # N = 2,000, 400 rounds, vs /work/before
    python scripts/bench/bench_head_train.py --rounds 4000 --before-rounds 200   # the goal's run; before scaled

Figures are CPU seconds (user + system) of the training call alone (imports and a 12-round warm-up training at
N = 20 excluded: numba's cache, torch's first calls), so a shared machine's waiting is left out; wall beside.
With ``--before-rounds`` below ``--rounds`` the other tree's trainings run that many rounds and their time is
scaled to ``--rounds`` (said in the table). The goal: ``crl_idqn`` <= 2x ``idqn`` at the same N and rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, resource, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
from agents.harness.train import train
from srole_env.load import rate_for_load
algo, n, rounds, rho = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
base = {"scenario": "paper", "horizon": 50}
cfg = {**base, "n_edges": n, "arrival_rate": round(rate_for_load({**base, "n_edges": n}, rho), 7)}
hp = {"hidden": [64, 64], "learning_starts": max(2000, 5 * n + 1)}  # idqn's n_step = 5 stores from round 5 on
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
with tempfile.TemporaryDirectory() as tmp:
    small = {**base, "n_edges": 20, "arrival_rate": round(rate_for_load({**base, "n_edges": 20}, rho), 7)}
    warm = {"hidden": [64, 64], "learning_starts": 120}
    train(algo, "none", small, 12, 0, tmp + "/warm", "cpu", hparams=warm, progress=False)
    c, w = cpu(), time.perf_counter()
    train(algo, "none", cfg, rounds, 0, tmp + "/run", "cpu", hparams=hp, progress=False)
    print(json.dumps({"cpu": cpu() - c, "wall": time.perf_counter() - w}))
"""


def run(tree: Path, algo: str, n: int, rounds: int, rho: float) -> dict[str, float]:
    """One training in a fresh process of ``tree``: ``{"cpu": s, "wall": s}``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), algo, str(n), str(rounds), str(rho)], cwd=tree,
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{algo} in {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-edges", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--before-rounds", type=int, default=None, help="rounds of the other tree's runs (scaled)")
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--before", type=Path, default=Path("/work/before"), help="the other checkout")
    args = parser.parse_args(argv)
    before_rounds = args.before_rounds or args.rounds
    rows = {}
    for label, tree, rounds in (("before", args.before, before_rounds), ("this tree", ROOT, args.rounds)):
        for algo in ("idqn", "crl_idqn"):
            r = run(tree, algo, args.n_edges, rounds, args.rho)
            scale = args.rounds / rounds
            rows[label, algo] = {"cpu": r["cpu"] * scale, "wall": r["wall"] * scale, "rounds": rounds}
            print(f"  {label} {algo}: {r['cpu']:.1f} s CPU, {r['wall']:.1f} s wall ({rounds} rounds)", flush=True)
    print(f"\nN = {args.n_edges:,}, {args.rounds:,} rounds (rho = {args.rho}), CPU s (wall s)")
    print("| training | before | this tree | this / before |")
    print("|---|---|---|---|")
    for algo in ("idqn", "crl_idqn"):
        b, t = rows["before", algo], rows["this tree", algo]
        note = f" (from {b['rounds']:,} rounds)" if b["rounds"] != args.rounds else ""
        print(f"| {algo} | {b['cpu']:.1f} ({b['wall']:.1f}){note} | {t['cpu']:.1f} ({t['wall']:.1f}) | "
              f"{t['cpu'] / b['cpu']:.3f} |")
    for label in ("before", "this tree"):
        ratio = rows[label, "crl_idqn"]["cpu"] / rows[label, "idqn"]["cpu"]
        verdict = "met" if ratio <= 2.0 else "NOT met"
        print(f"* {label}: crl_idqn / idqn = {ratio:.2f}x (goal <= 2x: {verdict})")


if __name__ == "__main__":
    main()
