"""Regenerate the regime map (``docs/ceiling.md``) into ``docs/results/regime/``: ``regime.csv``, ``methods.csv``, one
heatmap per comparison and ``summary.md`` (``study.experiments.regime_profile``, ``study.analysis.regime_report``).

Runs ``srole reproduce --profile regime`` into ``--out`` (the cache: resumable, a rerun of finished cells costs
nothing), then copies the generated tables, figures and summary (not the cache) into ``--docs``.

    nice -n 19 python scripts/experiments/regime_map.py --workers 2               # the map (cost: its summary.md)
    python scripts/experiments/regime_map.py --report-only                        # report what the cache holds now
    python scripts/experiments/regime_map.py --sizes 20 200 1000                  # only these N first (then the rest)
    python scripts/experiments/regime_map.py --profile regime-tiny --out /tmp/rt  # seconds: the pipeline end to end
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from study.experiments.regime_profile import regime_profile
from study.reproduce import reproduce

GENERATED = ("regime.csv", "methods.csv", "summary.md", "failures.csv", "profile.json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="regime", help="regime (the map) or regime-tiny (seconds)")
    p.add_argument("--out", default="results/regime", help="results directory and cache")
    p.add_argument("--docs", default="docs/results/regime", help="where the tables, figures and summary are copied "
                   "('' to skip)")
    p.add_argument("--workers", type=int, default=2, help="cells run in parallel (each on one torch thread)")
    p.add_argument("--methods", nargs="+", default=None, help="run only these methods (the rest from the cache)")
    p.add_argument("--report-only", action="store_true", help="run nothing: report what the cache holds")
    p.add_argument("--sizes", nargs="+", type=int, default=None,
                   help="only these N, trained or evaluated (run the cheap part first; the report covers them)")
    args = p.parse_args(argv)
    workers = 1 if args.report_only else args.workers
    profile = regime_profile(args.profile, tuple(args.sizes)) if args.sizes else regime_profile(args.profile)
    out = reproduce(profile, args.out, device="cpu", progress=False, workers=workers,
                    methods=tuple(args.methods) if args.methods else None, cached_only=args.report_only)
    if args.docs:
        docs = Path(args.docs)
        docs.mkdir(parents=True, exist_ok=True)
        for old in docs.glob("heatmap_*.png"):
            old.unlink()
        for path in [*(out / name for name in GENERATED), *out.glob("heatmap_*.png")]:
            if path.exists():
                shutil.copy2(path, docs / path.name)
            elif (docs / path.name).exists():
                (docs / path.name).unlink()
    print((out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
