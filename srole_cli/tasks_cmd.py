"""``srole tasks``: list the benchmark's versioned tasks, a line of description each."""

from __future__ import annotations

import argparse

from srole_cli.registry import Subcommand


def configure(p: argparse.ArgumentParser) -> None:
    from study.benchmark.tasks import CURRENT, SUITES

    p.add_argument("--suite", choices=SUITES, default=CURRENT, help=f"suite version (default {CURRENT})")


def run(args: argparse.Namespace) -> int:
    from study.benchmark.tasks import all_tasks

    tasks = all_tasks(args.suite)
    width = max(len(t.id) for t in tasks)
    for t in tasks:
        print(f"{t.id:<{width}}  N={t.cluster().n_edges:<5} {t.episodes:>2} episodes  {t.description}")
    return 0


SUBCOMMAND = Subcommand("tasks", "list the benchmark tasks (srole score runs a scheduler on one)", configure, run)
