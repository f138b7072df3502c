"""A results directory's run history: how each invocation of ``srole reproduce`` went (``RunInfo``) and the
``runs.json`` log of every invocation that computed cells, so a rerun served from the cache keeps their wall time."""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srole_common.host import cpu_model
from srole_common.persist import CorruptFile, read_json, write_json

RUNS_FILE = "runs.json"
TMP_GLOB = ".*.tmp-*"
"""The atomic writer's temporary files (``srole_common.persist.atomic_write``)."""


@dataclass
class RunInfo:
    """How the run went: this invocation's wall time, the compute time of every cell (including cells
    served from the cache: their original time), the cell count, the failures and the cells not run."""

    wall_s: float
    compute_s: float
    cells: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    not_run: list[dict[str, Any]] = field(default_factory=list)
    """Cells a ``--cached-only`` rebuild found no evaluations of (not failures: nothing was computed)."""
    workers: int | None = 1
    drop_models: bool = False
    computed: int = 0
    """Cells this invocation computed (trained or evaluated); the others came from the cache."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Every invocation that computed cells (``runs.json``), so a cached rerun keeps their wall time."""


def machine() -> str:
    """This machine in a line (CPU model, cores this process may use, OS): recorded with each computing run."""
    cpu = cpu_model("unknown CPU")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores, {platform.system()} {platform.release()}"


def record_run(out: Path, wall_s: float, computed: int, cells: int, workers: int | None) -> list[dict[str, Any]]:
    """Append this invocation to ``out/runs.json`` when it computed any cell; return every computing run. The
    read-append-write holds an exclusive lock (``flock`` on the ``cache`` folder: no lock file is left behind), so
    two invocations finishing together on one folder both stay in the file."""
    (out / "cache").mkdir(parents=True, exist_ok=True)
    with _locked(out / "cache", fcntl.LOCK_EX):
        return _record_run(out, wall_s, computed, cells, workers)


def _record_run(out: Path, wall_s: float, computed: int, cells: int, workers: int | None) -> list[dict[str, Any]]:
    path = out / RUNS_FILE
    history = read_json(path, "run history", kind=list) if path.is_file() else []
    for k, entry in enumerate(history):  # each entry an object with its wall time, as this function writes them
        wall = entry.get("wall_s") if isinstance(entry, dict) else None
        if isinstance(wall, bool) or not isinstance(wall, (int, float)):
            raise CorruptFile(f"run history {str(path)!r} is corrupt: entry {k} must be an object with a number "
                              f"'wall_s', got {entry!r}")
    if computed:
        history.append({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_s": round(wall_s, 3),
                        "workers": workers, "cells_computed": computed, "cells": cells, "machine": machine()})
        write_json(path, history)
    return history


@contextlib.contextmanager
def _locked(folder: Path, mode: int) -> Iterator[int]:
    """Hold ``fcntl.flock(mode)`` on the folder itself for the block (yields its descriptor)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, mode)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def folder_use(out: Path) -> Iterator[list[Path]]:
    """Mark ``out`` in use by this invocation for the block (a shared ``flock`` on the folder itself); when no other
    invocation holds it, first remove the temporary files (``.*.tmp-*``) a killed run left, and yield them."""
    swept: list[Path] = []
    with _locked(out, fcntl.LOCK_SH) as fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # converts the shared lock when nobody else holds one
        except BlockingIOError:  # another invocation writes here: its temporary files are live
            pass
        else:
            swept = sweep_temporary(out)
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield swept


def sweep_temporary(out: Path) -> list[Path]:
    """Remove the atomic writer's temporary files under ``out`` (only call with no writer running there)."""
    swept = []
    for folder, _, files in os.walk(out):
        for name in files:
            if name.startswith(".") and ".tmp-" in name:
                path = Path(folder) / name
                path.unlink(missing_ok=True)
                swept.append(path)
    return swept
