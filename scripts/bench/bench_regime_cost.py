"""The regime profile's cost, recomputed: time one cell of each kind with this tree's code, then add them up over
the cells the profile runs (``study.experiments.regime_profile.regime_profile``), for ``COST_NOTE``.

    python scripts/bench/bench_regime_cost.py                  # 1,500-round trainings, as the profile
    python scripts/bench/bench_regime_cost.py --train-rounds 500   # cheaper: per-round cost x the profile's rounds

Kinds timed (CPU seconds of this process, user + system, so a shared machine's waiting is left out; wall beside):
an IDQN training at N = 20 (rho = 0.5, the profile's hidden [64, 64]) without and behind the central shield
(the decentralized shield's training is counted at the central one's cost), a ``crl_idqn`` training, and one
evaluation episode (horizon 50) of every method at N = 20, 200, 1,000 (rho = 0.5) and 10,000 (rho = 0.2), the
head methods at both head service times. The total assumes a cell's cost does not depend on its seed or its
load beyond the measured point (load changes the number of tasks, so it is an estimate).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from agents.harness.evaluate import evaluate
from agents.harness.train import train
from srole_env.load import rate_for_load
from study.experiments.regime_profile import BASE, HEAD_S, ROUNDS, regime_profile
from study.experiments.roster import EDGE_LEARNED, METHODS

EDGE = {name: METHODS[name].shield for name in EDGE_LEARNED}
"""Shield of each learned edge method."""


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn: Any) -> tuple[Any, float, float]:
    c, w = _cpu(), time.perf_counter()
    out = fn()
    return out, _cpu() - c, time.perf_counter() - w


def _point(n: int, rho: float) -> dict[str, Any]:
    return {**BASE, "n_edges": n, "arrival_rate": round(rate_for_load({**BASE, "n_edges": n}, rho), 7)}


def count_cells(profile: Any) -> tuple[Counter, Counter]:
    """(trainings per kind, evaluation episodes per (kind, N)) of the profile's cells."""
    trainings: Counter = Counter()
    episodes: Counter = Counter()
    seen = set()
    for exp in profile.experiments:
        seeds = exp.seeds or profile.seeds
        per = exp.episodes or profile.eval_episodes
        for point in exp.grid:
            for method in exp.methods:
                for seed in seeds:
                    key = (method, tuple(sorted(point.items())), seed)
                    if method in (*EDGE, "CRL") and key not in seen:
                        seen.add(key)
                        trainings["crl_idqn" if method == "CRL" else "idqn_central" if method != "MARL"
                                  else "idqn"] += 1
                    for extra in exp.eval_grid or ({},):
                        n = extra.get("n_edges", point["n_edges"])
                        episodes[(method, int(n))] += per
    return trainings, episodes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-rounds", type=int, default=ROUNDS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 1000, 10_000])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    profile = regime_profile("regime")
    hp = profile.learner_hparams["idqn"]
    tmp = Path(tempfile.mkdtemp(prefix="regime_cost_"))
    scale = ROUNDS / args.train_rounds
    train_cpu: dict[str, float] = {}
    runs: dict[str, Path] = {}
    rows = []
    for kind, algo, shield in (("idqn", "idqn", "none"), ("idqn_central", "idqn", "central"),
                               ("crl_idqn", "crl_idqn", "none")):
        run, cpu, wall = _timed(lambda a=algo, s=shield, k=kind: train(
            a, s, _point(20, 0.5), args.train_rounds, 0, tmp / k, "cpu", hparams=hp, progress=False))
        runs[kind] = run
        train_cpu[kind] = cpu * scale
        rows.append(f"| training {kind} ({args.train_rounds} rounds, N = 20) | {cpu:.1f} | {wall:.1f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    policy = {"MARL": runs["idqn"], "SROLE-central": runs["idqn_central"], "SROLE-decentralized": runs["idqn_central"],
              "CRL": runs["crl_idqn"], "CRL-greedy": "crl_greedy", "least_loaded": "least_loaded"}
    episode_cpu: dict[tuple[str, int], float] = {}
    for n in args.sizes:
        rho = 0.2 if n >= 10_000 else 0.5
        for method, pol in policy.items():
            shield = EDGE.get(method, "none")
            heads = HEAD_S if method in ("CRL", "CRL-greedy") else (None,)
            cpus = []
            for h in heads:
                cfg = {**_point(n, rho), **({} if h is None else {"head_bookkeeping_s": h})}
                _, cpu, wall = _timed(lambda p=pol, s=shield, c=cfg: evaluate(p, s, c, 1, 0, "cpu"))
                cpus.append(cpu)
                rows.append(f"| episode {method} N = {n:,} rho = {rho}{'' if h is None else f' head {h * 1e3:g} ms'}"
                            f" | {cpu:.2f} | {wall:.2f} |")
                print(rows[-1], file=sys.stderr, flush=True)
            episode_cpu[(method, n)] = sum(cpus) / len(cpus)
    trainings, episodes = count_cells(profile)
    total_train = sum(train_cpu[k] * c for k, c in trainings.items())
    total_eval = 0.0
    for (method, n), count in episodes.items():
        known = [m for m in args.sizes if m <= n] or [min(args.sizes)]
        ref = max(known)
        total_eval += count * episode_cpu[(method, ref)] * (n / ref if n > ref else 1.0)
    lines = ["| cell | CPU s | wall s |", "|---|---:|---:|", *rows, "",
             f"Trainings: {dict(trainings)} -> {total_train / 60:.0f} min of CPU "
             f"(per training scaled to {ROUNDS} rounds: " + ", ".join(f"{k} {v:.0f} s" for k, v in train_cpu.items())
             + ")",
             f"Evaluation episodes: {sum(episodes.values())} -> {total_eval / 60:.0f} min of CPU",
             f"Total on 2 dedicated cores (--workers 2): about {(total_train + total_eval) / 120:.0f} min"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
