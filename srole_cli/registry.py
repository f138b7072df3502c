"""The subcommand registry of the ``srole`` command.

A subcommand module defines ``SUBCOMMAND = Subcommand(name, help, configure, run)``; ``srole_cli.main``
registers the modules in ``BUILTIN_MODULES``. To add a subcommand (e.g. ``reproduce``), write
``srole_cli/reproduce_cmd.py`` and add ``"srole_cli.reproduce_cmd"`` to ``BUILTIN_MODULES``; or call
``register`` before ``srole_cli.main.main`` runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

BUILTIN_MODULES = ["srole_cli.train_cmd", "srole_cli.evaluate_cmd", "srole_cli.reproduce_cmd"]
BUILTIN_MODULES.append("srole_cli.tune_cmd")
"""Modules whose ``SUBCOMMAND`` the CLI registers at start (in this order)."""
BUILTIN_MODULES.append("srole_cli.emulate_cmd")  # srole emulate (emulation/, docs/emulation.md)
BUILTIN_MODULES += ["srole_cli.tasks_cmd", "srole_cli.score_cmd"]  # the benchmark (study.benchmark, docs/benchmark.md)
BUILTIN_MODULES.append("srole_cli.trace_cmd")  # srole trace: a user's own trace into the simulator's format


class CLIError(Exception):
    """An error to report as one line on stderr (exit status 2)."""


@dataclass(frozen=True)
class Subcommand:
    """One ``srole`` subcommand."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    """Adds the subcommand's arguments to its parser."""
    run: Callable[[argparse.Namespace], int]
    """Runs it; returns the exit status."""


SUBCOMMANDS: dict[str, Subcommand] = {}


def register(command: Subcommand) -> Subcommand:
    """Add ``command`` (a second registration of a name replaces the first)."""
    SUBCOMMANDS[command.name] = command
    return command
