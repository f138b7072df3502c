"""The simulator's store: columnar tables of the live tasks and jobs, and their field specs.

A ``Table`` holds one NumPy array per field with amortised append and in-place compaction (no per-row Python
objects). Reading a column gives a read-only view of its live rows; every change goes through ``append``,
``set``, ``keep`` or ``clear``, each of which bumps ``version``, so state derived from a table (the
simulator's views: pending heads, committed load, the action mask) is valid exactly while the version it was
computed at stands. The tables hold live work only: a job leaves them when it completes (its figures go to
the episode's ledger, ``srole_env.core.ledger``).
"""

from __future__ import annotations

import itertools

import numpy as np

TASK_FIELDS: dict[str, type] = {
    "tid": np.int64,  # task id, unique in the episode (rows move when the table compacts)
    "job": np.int64,  # id of the task's job (the job's ``id`` in the job table)
    "origin": np.int64,
    "edge": np.int64,  # -1 while pending
    "cand": np.int64,  # candidate index at the origin, -1 while pending
    "iters_left": np.float64,
    "iters_total": np.float64,
    "flops_iter": np.float64,
    "mem": np.float64,
    "shard_bits": np.float64,
    "delay_left": np.float64,  # seconds before compute starts (decision latency + shard transfer)
    "weight": np.float64,  # job fraction per iteration: 1 / (tasks * iters_total)
    "arrival": np.float64,
    "placed_seq": np.int64,  # placement order (larger = newer), for the OOM killer
    "run_s": np.float64,  # seconds of compute since the task last (re)started
    "ckpt_run_s": np.float64,  # run_s at the last checkpoint
    "ckpt_iters_left": np.float64,  # iters_left at the last checkpoint
    "job_tasks": np.int64,  # workers of the task's job
    "sync_bits": np.float64,  # ring all-reduce bits per iteration of the task's job, per worker
}
"""Columns of the task table: one row per task (one data-parallel worker) of a job still in the system."""
JOB_FIELDS: dict[str, type] = {
    "id": np.int64,  # job id: arrival order in the episode (0, 1, ...); rows stay in id order
    "origin": np.int64,
    "arrival": np.float64,
    "n_tasks": np.int64,
    "tasks_left": np.int64,
    "finish": np.float64,
    "sync_bits": np.float64,  # ring all-reduce bits per iteration per worker
}
"""Columns of the job table: one row per job that has arrived and not yet completed."""

_versions = itertools.count(1)


class Table:
    """Columnar arrays with amortised append and in-place compaction; columns read as read-only views."""

    def __init__(self, fields: dict[str, type], capacity: int = 256):
        clash = sorted(set(fields) & (set(dir(Table)) | {"fields", "size", "version", "cols", "_viewed",
                                                          "min_capacity"}))
        if clash:
            raise ValueError(f"Table: field name(s) {clash} would hide the table's own attributes")
        self.fields = dict(fields)
        self.size = 0
        self.min_capacity = capacity
        self.version = next(_versions)
        self.cols = {name: np.zeros(capacity, dtype=dtype) for name, dtype in self.fields.items()}
        self._viewed: list[str] = []  # columns whose view sits in the instance dict until rows come or go

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("cols")
        if cols is None or name not in cols:
            raise AttributeError(name)
        view = cols[name][: self.size]
        view.flags.writeable = False
        self.__dict__[name] = view  # later reads are plain attribute reads, until ``_resized`` drops it
        self._viewed.append(name)
        return view

    def append(self, **values: np.ndarray) -> None:
        """Add rows: one array (or scalar) per field, all of the same length."""
        n = len(next(iter(values.values())))
        need = self.size + n
        capacity = len(next(iter(self.cols.values())))
        if need > capacity:
            new_cap = max(need, 2 * capacity)
            for name, arr in self.cols.items():
                grown = np.zeros(new_cap, dtype=arr.dtype)
                grown[: self.size] = arr[: self.size]
                self.cols[name] = grown
        for name in self.fields:
            self.cols[name][self.size : need] = values[name]
        self.size = need
        self._resized()

    def set(self, rows: np.ndarray | slice | int, **values: np.ndarray | float) -> None:
        """Write ``values`` (field -> array or scalar) into ``rows``: the one way to change a row."""
        for name, value in values.items():
            self.cols[name][: self.size][rows] = value
        self._changed()

    def keep(self, mask: np.ndarray) -> None:
        """Drop rows where ``mask`` is False, preserving order. Capacity follows the rows down: below a quarter
        full (and past the initial capacity) the arrays are reallocated at twice the rows, so memory held after a
        burst of work tracks the work left, with amortised O(1) cost per row and no thrashing at the boundary."""
        rows = np.flatnonzero(mask)  # once, not once per column
        capacity = len(next(iter(self.cols.values())))
        shrink = capacity > max(4 * len(rows), self.min_capacity)
        for name, arr in self.cols.items():
            if shrink:
                self.cols[name] = np.zeros(max(2 * len(rows), self.min_capacity), dtype=arr.dtype)
            self.cols[name][: len(rows)] = arr.take(rows)
        self.size = len(rows)
        self._resized()

    def clear(self) -> None:
        """Drop every row (capacity is kept for the next episode)."""
        self.size = 0
        self._resized()

    def _changed(self) -> None:
        self.version = next(_versions)

    def _resized(self) -> None:
        """Rows came or went (or moved to new arrays): forget the views, then move the version."""
        for name in self._viewed:
            del self.__dict__[name]
        self._viewed = []
        self._changed()


def runs(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start [R] and length [R] of each run of equal values in ``ids`` (non-empty; e.g. task rows grouped by job)."""
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    return starts, np.diff(np.append(starts, len(ids)))
