"""Run the fair map (``study.experiments.fair_profile``) stage by stage into one results directory, resumably.

Each stage is ``srole reproduce --profile fair-map`` restricted to the sizes so far (N <= 200, then + 2,000,
+ 10,000, + 50,000), so a run cut short holds whole seeds of every method at the cheap sizes first; every training and
evaluation is cached under ``OUT/cache`` (a finished cell costs nothing on a rerun, an interrupted one resumes), and
after each stage the trained models are slimmed to what evaluation needs (``crossover_profile.slim_models``) so the
cache can be committed and ``--report-only`` (or ``srole reproduce --profile fair-map --cached-only``) rebuilds every
table. Estimate the cost first: ``scripts/experiments/fair_map_cost.py``.

    nice -n 10 python scripts/experiments/fair_map.py --workers 2                   # the whole map
    nice -n 10 python scripts/experiments/fair_map.py --stages 1 --workers 2        # N <= 200 only
    python scripts/experiments/fair_map.py --report-only                            # tables from the cache
    python scripts/experiments/fair_map.py --profile fair-map-tiny --out /tmp/fm    # seconds, end to end
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from study.experiments.crossover_profile import slim_models  # noqa: E402
from study.experiments.fair_profile import (  # noqa: E402
    FAIR_PROFILES,
    fair_profile,
    fair_spec,
    stage_sizes,
    tuning_notes,
)
from study.reproduce import reproduce  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="fair-map", choices=FAIR_PROFILES)
    p.add_argument("--out", default="docs/results/fair_map", help="results directory and its cache")
    p.add_argument("--workers", type=int, default=1, help="cells run in parallel (each on one torch thread)")
    p.add_argument("--stages", type=int, default=None, help="run only the first K stages (default: all)")
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="run exactly these N instead of the stages")
    p.add_argument("--loads", nargs="+", type=float, default=None, help="only these rho (the rest later)")
    p.add_argument("--no-retrain", action="store_true", help="no retraining above the source N (cheap first)")
    p.add_argument("--methods", nargs="+", default=None, help="only these methods (the rest from the cache)")
    p.add_argument("--rounds", type=int, default=None, help="another training budget (a separate cache key)")
    p.add_argument("--report-only", action="store_true", help="compute nothing: the report of what the cache holds")
    args = p.parse_args(argv)
    from srole_cli.args import set_threads

    set_threads(1)  # as srole reproduce: one torch thread per cell
    for line in tuning_notes(str(fair_spec(args.profile).base["scenario"])):
        print(f"fair map: {line}", flush=True)
    stages = [tuple(args.sizes)] if args.sizes else stage_sizes(args.profile)[: args.stages]
    if args.report_only:
        stages = stages[-1:]
    for sizes in stages:
        t0 = time.perf_counter()
        profile = fair_profile(args.profile, sizes, args.rounds, tuple(args.loads) if args.loads else None,
                               retrain=not args.no_retrain)
        out = reproduce(profile, args.out, device="cpu", progress=False, workers=args.workers,
                        methods=tuple(args.methods) if args.methods else None, cached_only=args.report_only)
        freed = slim_models(out)
        print(f"fair map: stage N = {', '.join(map(str, sizes))} done in {time.perf_counter() - t0:.0f} s "
              f"({freed / 2**20:.1f} MiB of replay buffers and logs removed from the cached models)", flush=True)
    print((Path(args.out) / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
