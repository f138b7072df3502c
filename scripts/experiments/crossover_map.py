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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from study.experiments.crossover_profile import (  # noqa: E402
    CROSSOVER_PROFILES,
    crossover_profile,
    slim_models,
    stage_sizes,
)
from study.reproduce import reproduce  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="crossover", choices=CROSSOVER_PROFILES)
    p.add_argument("--out", default="docs/results/crossover", help="results directory and its cache")
    p.add_argument("--workers", type=int, default=1, help="cells run in parallel (each on one torch thread)")
    p.add_argument("--stages", type=int, default=None, help="run only the first K stages (default: all)")
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="run exactly these N instead of the stages")
    p.add_argument("--loads", nargs="+", type=float, default=None, help="only these rho (the rest later)")
    p.add_argument("--no-retrain", action="store_true",
                   help="no retraining above N = 20 (transferred models and non-learned methods only: cheap first)")
    p.add_argument("--methods", nargs="+", default=None, help="only these methods (the rest from the cache)")
    p.add_argument("--rounds", type=int, default=None, help="another training budget (a separate cache key)")
    p.add_argument("--report-only", action="store_true", help="compute nothing: the report of what the cache holds")
    args = p.parse_args(argv)
    from srole_cli.args import set_threads

    set_threads(1)  # as srole reproduce: one torch thread (a worker of --workers 1 runs in this process)
    stages = [tuple(args.sizes)] if args.sizes else stage_sizes(args.profile)[: args.stages]
    if args.report_only:
        stages = stages[-1:]
    for sizes in stages:
        t0 = time.perf_counter()
        profile = crossover_profile(args.profile, sizes, args.rounds, tuple(args.loads) if args.loads else None,
                                    retrain=not args.no_retrain)
        out = reproduce(profile, args.out, device="cpu", progress=False, workers=args.workers,
                        methods=tuple(args.methods) if args.methods else None, cached_only=args.report_only)
        freed = slim_models(out)
        print(f"crossover: stage N = {', '.join(map(str, sizes))} done in {time.perf_counter() - t0:.0f} s "
              f"({freed / 2**20:.1f} MiB of replay buffers and logs removed from the cached models)", flush=True)
    print((Path(args.out) / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
