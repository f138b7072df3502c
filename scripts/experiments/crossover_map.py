"""Run the crossover map (``docs/ceiling.md``) stage by stage into one results directory, resumably.

Each stage is ``srole reproduce --profile crossover`` restricted to the sizes so far
(``study.experiments.crossover_profile.stage_sizes``: N <= 200, then + 2,000, + 10,000, + 50,000), so a run cut short
holds whole seeds of every method at the cheap sizes first; every training and evaluation is cached under ``OUT/cache``
(a rerun of a finished cell costs nothing, an interrupted one resumes). After each stage the trained models are slimmed
to what evaluation needs (the replay buffers and TensorBoard logs are deleted: a 64x64 IDQN checkpoint is ~100 kB), so
the cache can be committed (``docs/results/crossover/cache``: ``.gitignore`` lets it in) and a fresh clone's ``srole
reproduce --profile crossover --out docs/results/crossover --cached-only`` rebuilds every table.

    nice -n 10 python scripts/experiments/crossover_map.py --workers 16                  # the whole map
    python scripts/experiments/crossover_map.py --stages 1 --workers 16                  # N <= 200 only
    nice -n 10 python scripts/experiments/crossover_map.py --sizes 20 200 --loads 0.5   # the cheap points, one load
    python scripts/experiments/crossover_map.py --report-only                            # tables from the cache
    python scripts/experiments/crossover_map.py --profile crossover-tiny --out /tmp/ct   # seconds, end to end
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from srole_cli.args import add_map_arguments, set_threads  # noqa: E402
from study.experiments.crossover_profile import CROSSOVER_PROFILES, crossover_profile, stage_sizes  # noqa: E402
from study.reproduce import reproduce_stages  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_map_arguments(p, CROSSOVER_PROFILES, "docs/results/crossover", "N = 20")
    args = p.parse_args(argv)
    set_threads(1)  # as srole reproduce: one torch thread (a worker of --workers 1 runs in this process)
    loads = tuple(args.loads) if args.loads else None
    reproduce_stages(lambda sizes: crossover_profile(args.profile, sizes, args.rounds, loads,
                                                     retrain=not args.no_retrain),
                     stage_sizes(args.profile), args.out, sizes=tuple(args.sizes) if args.sizes else None,
                     first=args.stages, workers=args.workers, methods=tuple(args.methods) if args.methods else None,
                     report_only=args.report_only, label="crossover")
    print((Path(args.out) / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
