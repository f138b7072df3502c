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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from srole_cli.args import add_map_arguments, set_threads  # noqa: E402
from study.experiments.fair_profile import (  # noqa: E402
    FAIR_PROFILES,
    fair_profile,
    fair_spec,
    stage_sizes,
    tuning_notes,
)
from study.reproduce import reproduce_stages  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_map_arguments(p, FAIR_PROFILES, "docs/results/fair_map", "the source N")
    args = p.parse_args(argv)
    set_threads(1)  # as srole reproduce: one torch thread per cell
    for line in tuning_notes(str(fair_spec(args.profile).base["scenario"])):
        print(f"fair map: {line}", flush=True)
    loads = tuple(args.loads) if args.loads else None
    reproduce_stages(lambda sizes: fair_profile(args.profile, sizes, args.rounds, loads, retrain=not args.no_retrain),
                     stage_sizes(args.profile), args.out, sizes=tuple(args.sizes) if args.sizes else None,
                     first=args.stages, workers=args.workers, methods=tuple(args.methods) if args.methods else None,
                     report_only=args.report_only, label="fair map")
    print((Path(args.out) / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
