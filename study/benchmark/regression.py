"""The benchmark's regression guard: a hash of ``least_loaded``'s per-episode metrics on each task's first episode.

``tests/test_benchmark.py`` compares ``first_episode_hash(task)`` with ``tests/data/benchmark_hashes.json``. A
simulator change that moves a hash moves the task's results: add a new suite version (``edge_cluster_v2``),
regenerate its reference results, and write its hashes (``python -m study.benchmark.regression --write``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

from srole_common import persist
from study.benchmark.runner import run_evaluable
from study.benchmark.tasks import CURRENT, SUITES, Task, all_tasks, data_hash

DIGITS = 6
"""Significant digits the metrics are rounded to before hashing (float noise across platforms stays below)."""


def _round(value: float) -> float | None:
    if not math.isfinite(value):
        return None
    return float(f"{value:.{DIGITS}g}")


def first_episode_hash(task: Task) -> str:
    """SHA-256 of ``least_loaded``'s rounded metrics on the task's first episode (task shield)."""
    first = dataclasses.replace(task, episodes=1, workload={**task.workload, **(
        {"windows": task.workload["windows"][:1]} if "windows" in task.workload else {})})
    rows = run_evaluable("least_loaded", first, task.shield)
    return data_hash([{k: _round(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows])


def suite_hashes(suite: str = CURRENT) -> dict[str, str]:
    return {t.id: first_episode_hash(t) for t in all_tasks(suite)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="PATH", help="merge the hashes into this JSON file")
    args = parser.parse_args()
    hashes = {k: v for suite in SUITES for k, v in suite_hashes(suite).items()}
    if args.write:
        path = Path(args.write)
        old = persist.read_json(path, "hash file") if path.is_file() else {}
        persist.write_json(path, {**old, **hashes})
    for k, v in hashes.items():
        print(k, v)
