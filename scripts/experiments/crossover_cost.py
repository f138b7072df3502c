"""Measure what the crossover map's cells cost on this machine (``docs/ceiling.md``): one training of each learned
method for ``--rounds`` rounds at each ``--train-n``, and one evaluation episode of every method at each ``--eval-n``
(the learned ones with the model just trained at the smallest N, as the map transfers them), at one load and head time.
Prints and writes a CSV of CPU and wall seconds per item (``time.process_time`` / ``perf_counter``); the map's total
is extrapolated from these per-item figures in ``docs/ceiling.md`` (its **Cost** paragraph).

    nice -n 10 python scripts/experiments/crossover_cost.py --rounds 400 --train-n 20 200 --eval-n 20 200 2000 \
        --out docs/results/crossover/cost.csv
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from functools import partial
from pathlib import Path

import pandas as pd


def _timed(fn):  # noqa: ANN001, ANN202 - a small helper
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=400)
    p.add_argument("--train-n", nargs="+", type=int, default=[20])
    p.add_argument("--eval-n", nargs="*", type=int, default=[20, 200])
    p.add_argument("--rho", type=float, default=0.5)
    p.add_argument("--head-s", type=float, default=0.001)
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from study.experiments.crossover_profile import ALL_METHODS, LEARNED, crossover_profile, map_spec, point
    from study.experiments.episodes import method_episodes
    from study.experiments.plan import EVAL_SEED_OFFSET, resolve_learner
    from study.experiments.roster import METHODS

    spec = map_spec("crossover")
    profile = crossover_profile("crossover")
    methods = tuple(args.methods or ALL_METHODS)
    rows, models = [], {}
    tmp = Path(tempfile.mkdtemp(prefix="crossover_cost_"))
    from agents.harness.train import train

    for n in args.train_n:
        cfg = {**spec.base, **point(spec, n, args.rho)}
        for name in (m for m in methods if m in LEARNED):
            algo, hparams, _ = resolve_learner(profile, METHODS[name], "paper")
            run = tmp / f"{name}_{n}"
            _, cpu, wall = _timed(partial(train, algo, METHODS[name].shield, cfg, rounds=args.rounds, seed=0,
                                          out_dir=run, device="cpu", hparams=hparams, progress=False))
            models.setdefault(name, run)
            rows.append({"what": "train", "method": name, "algo": algo, "n_edges": n, "rounds": args.rounds,
                         "cpu_s": cpu, "wall_s": wall, "cpu_s_per_1000_rounds": 1000 * cpu / args.rounds})
            print(rows[-1], flush=True)
    for n in args.eval_n:
        cfg = {**spec.base, **point(spec, n, args.rho), "head_bookkeeping_s": args.head_s}
        for name in methods:
            method = METHODS[name]
            if method.learned and name not in models:
                continue
            _, cpu, wall = _timed(partial(method_episodes, method, cfg, 1, EVAL_SEED_OFFSET, model=models.get(name)))
            rows.append({"what": "eval episode", "method": name, "n_edges": n, "horizon": cfg["horizon"],
                         "cpu_s": cpu, "wall_s": wall, "eval_seed": EVAL_SEED_OFFSET})
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    frame["host_loadavg_1min"] = os.getloadavg()[0]
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out, index=False)
    print(frame.to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
