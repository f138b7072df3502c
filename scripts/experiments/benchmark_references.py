"""Regenerate the benchmark's reference results and the leaderboard page.

Trains the learned reference methods once per task family (``study.benchmark.references``), evaluates every
method of the study on every task of the suite into ``docs/results/benchmark/<suite>/<task>/<method>.json``
(resumable per (task, method): existing files for the task's current version are kept), then writes
``docs/leaderboard.md`` from the committed files. Niced; ``--workers K`` runs K processes.

    python scripts/experiments/benchmark_references.py [--suite edge_cluster_v1] [--workers 1] [--task NAME ...]
        [--method NAME ...] [--work runs/benchmark] [--leaderboard-only]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from study.benchmark.leaderboard import write_leaderboard  # noqa: E402
from study.benchmark.references import generate, niced  # noqa: E402
from study.benchmark.tasks import CURRENT, SUITES  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=SUITES, default=CURRENT)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--task", nargs="+", help="only these tasks (names)")
    parser.add_argument("--method", nargs="+", help="only these methods")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "benchmark"))
    parser.add_argument("--work", default=str(ROOT / "runs" / "benchmark"), help="trained models (not committed)")
    parser.add_argument("--leaderboard-only", action="store_true", help="only rewrite docs/leaderboard.md")
    args = parser.parse_args()
    t0 = time.perf_counter()
    niced()
    if not args.leaderboard_only:
        generate(args.suite, args.out, args.work, args.workers, args.task, args.method,
                 log=lambda line: print(line, flush=True))
    path = write_leaderboard(ROOT / "docs" / "leaderboard.md", args.out)
    print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
