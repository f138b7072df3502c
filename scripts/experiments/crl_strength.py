"""CRL at its strongest (``docs/results-paper.md``): learned heads vs the heuristics on the quick profile's cell.

Trains ``crl_idqn`` (MARL's tuned IDQN hyperparameters) and ``crl_maskable_ppo`` (CRL's tuned values) for
each budget and training seed, evaluates each run on the episodes ``10_000 + 100 * seed + e`` (as ``srole
reproduce``), and evaluates ``least_loaded`` and ``crl_greedy`` on the same episodes; prints one table row
per method and budget (mean over seeds of the mean ``mean_jct_all``, its spread over seeds, samples,
gradient updates and wall time per run).

    python scripts/experiments/crl_strength.py                                   # 2000 and 6000 rounds, seeds 0-2
    python scripts/experiments/crl_strength.py --rounds 2000 --seeds 0 --methods crl_idqn
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from agents.harness.evaluate import evaluate
from agents.harness.train import train
from study.experiments.tuning import load_tuned

CLUSTER = {"scenario": "paper", "n_edges": 20, "horizon": 50}
HEURISTICS = ("least_loaded", "crl_greedy")
LEARNED = ("crl_idqn", "crl_maskable_ppo")


def _hparams(method: str) -> dict:
    tuned = load_tuned("MARL" if method == "crl_idqn" else "CRL", "paper")
    if tuned is None or (method != "crl_idqn" and tuned["algo"] != method):
        return {}
    return dict(tuned["hparams"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, nargs="+", default=[2000, 6000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--methods", nargs="+", default=list(HEURISTICS + LEARNED))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="crl_strength_"))
    for method in args.methods:
        for rounds in args.rounds if method in LEARNED else [0]:
            per_seed, extra = [], []
            for seed in args.seeds:
                start = time.perf_counter()
                policy = method
                if method in LEARNED:
                    policy = train(method, "none", CLUSTER, rounds, seed, work / f"{method}_{rounds}_{seed}", "cpu",
                                   hparams=_hparams(method), progress=False)
                    extra.append(json.loads((policy / "checkpoint" / "state.json").read_text()))
                result = evaluate(policy, "none", CLUSTER, args.episodes, 10_000 + 100 * seed, "cpu")
                per_seed.append((result["mean_jct_all"], time.perf_counter() - start))
            jct = np.array([p[0] for p in per_seed])
            row = {"method": method, "rounds": rounds, "mean_jct_all": float(jct.mean()),
                   "min": float(jct.min()), "max": float(jct.max()),
                   "wall_s": float(np.mean([p[1] for p in per_seed])), "per_seed": jct.round(2).tolist(),
                   "samples": int(np.mean([e.get("samples", 0) for e in extra])) if extra else 0,
                   "gradient_updates": int(np.mean([e.get("gradient_updates", 0) for e in extra])) if extra else 0}
            rows.append(row)
            print(f"{method:18s} rounds {rounds:5d}  mean_jct_all {row['mean_jct_all']:7.2f} "
                  f"[{row['min']:.2f}, {row['max']:.2f}]  per seed {row['per_seed']}  samples {row['samples']} "
                  f"updates {row['gradient_updates']}  wall/run {row['wall_s']:.1f}s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
