"""How far from optimal is every method? ``srole reproduce --profile optimality`` with the study's flags: writes
``docs/results/optimality/gaps.csv`` and ``summary.md`` (``study.experiments.optimality_profile`` says what runs,
``study.analysis.optimality_report`` what the tables hold).

Cost: on a 2-core machine shared with other jobs the default run (6 instances, 40 s solver limit with 2 workers and
the 120 s time-limit check on each, 3 learned methods x 2 cluster sizes x 2000 training rounds with one torch thread)
takes a few hours, mostly training (the end of ``summary.md`` gives the figures of the committed run). Everything is
cached per (instance, method) under ``--out``'s ``cache/`` (gitignored), so a rerun only does what is missing and
regenerating the tables from a full cache takes seconds (``--fresh`` starts over).

    python scripts/experiments/optimality_gaps.py [--time-limit 40] [--rounds 2000] [--workers 2] [--fresh]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

OUT = Path("docs") / "results" / "optimality"
"""The committed results (relative to the repository root, where the script runs)."""


def main(argv: list[str] | None = None) -> None:
    from study.experiments.optimality_profile import INSTANCES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--time-limit", type=float, default=40.0, help="CP-SAT seconds per instance")
    p.add_argument("--workers", type=int, default=2, help="CP-SAT search workers")
    p.add_argument("--max-options", type=int, default=24, help="assignments per job in the solver's class")
    p.add_argument("--rounds", type=int, default=2000, help="training rounds per learned method and instance")
    p.add_argument("--arrival-rounds", type=int, default=20)
    p.add_argument("--drain-rounds", type=int, default=200)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--instances", type=int, default=len(INSTANCES), help="use the first K instances")
    p.add_argument("--fresh", action="store_true", help="drop the cache first")
    p.add_argument("--cached-only", action="store_true", help="compute nothing: the tables of what the cache holds")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for training (1: on a shared 2-core machine more threads thrash)")
    args = p.parse_args(argv)
    from srole_cli.args import set_threads
    from study.analysis.optimality_report import bound_violations
    from study.experiments.optimality_profile import optimality_profile
    from study.reproduce import reproduce

    set_threads(args.threads)
    if args.fresh and (args.out / "cache").exists():
        shutil.rmtree(args.out / "cache")
    t0 = time.perf_counter()
    profile = optimality_profile("optimality", args.out, time_limit_s=args.time_limit, workers=args.workers,
                                 max_options=args.max_options, rounds=args.rounds, arrival_rounds=args.arrival_rounds,
                                 drain_rounds=args.drain_rounds, instances=INSTANCES[: args.instances])
    reproduce(profile, args.out, device="cpu", progress=False, workers=1, cached_only=args.cached_only)
    print(f"wrote {args.out / 'gaps.csv'} and summary.md ({(time.perf_counter() - t0) / 60:.1f} min this run)")
    if bound_violations(args.out):
        raise SystemExit("a method beat the fluid LP bound (or has no JCT): see summary.md")


if __name__ == "__main__":
    main()
