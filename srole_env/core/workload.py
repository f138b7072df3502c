"""DL training jobs arriving at edges: Poisson per edge by default, or replayed from a CSV trace.

Trace schema (CSV with a header; ``#`` lines are comments), one row per job:

==================  ====================================================================
column              meaning
==================  ====================================================================
``arrival_time_s``  simulated second the job arrives (>= 0)
``origin``          index of the edge it arrives at (0 .. N-1)
``model``           a name from ``data/models.csv`` (e.g. ``resnet18``)
``samples``         training samples in the job's dataset subset (>= 1)
``epochs``          passes over those samples (>= 1)
``batch_size``      per-worker mini-batch (>= 1)
``tasks``           data-parallel workers the job is split into (>= 1)
==================  ====================================================================
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srole_env.config import MAX_COUNT, ClusterConfig
from srole_env.core.memory import check_memory

MAX_TIME_S = 1e12
"""Latest arrival a trace may give (simulated seconds; ~31,700 years)."""
TRACE_COLUMNS = ("arrival_time_s", "origin", "model", "samples", "epochs", "batch_size", "tasks")


@dataclass(frozen=True)
class JobBatch:
    """Jobs arriving in one window, sorted by arrival time. All arrays have shape [J]."""

    arrival: np.ndarray
    origin: np.ndarray
    model: np.ndarray  # index into the workload's model_names
    samples: np.ndarray
    epochs: np.ndarray
    batch: np.ndarray
    n_tasks: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival)


class PoissonWorkload:
    """Independent Poisson arrivals at every edge, job parameters drawn from the config's ranges."""

    def __init__(self, config: ClusterConfig, model_names: tuple[str, ...]):
        self.config = config
        self.model_names = model_names
        mix = np.array([config.model_mix.get(name, 0.0) for name in model_names], float)
        self._model_p = mix / mix.sum()
        # ``rng.choice(k, p=p)`` draws ``cdf.searchsorted(rng.random(size), side="right")`` with this cdf, and
        # ``rng.choice(values)`` draws ``values[rng.integers(0, len(values), size)]``: the same numbers from the same
        # stream (``tests/test_fast_path.py``), without ``choice``'s checks of ``p`` on every call
        self._model_cdf = self._model_p.cumsum()
        self._model_cdf /= self._model_cdf[-1]
        self._batch_sizes = np.array(config.batch_sizes)

    def jobs_between(self, t0: float, t1: float, rng: np.random.Generator) -> JobBatch:
        """Jobs arriving in the window (t0, t1]."""
        cfg = self.config
        counts = rng.poisson(cfg.arrival_rate * (t1 - t0), size=cfg.n_edges)
        total = int(counts.sum())
        origin = np.repeat(np.arange(cfg.n_edges), counts)
        arrival = rng.uniform(t0, t1, size=total)
        order = np.argsort(arrival, kind="stable")
        return JobBatch(
            arrival=arrival[order],
            origin=origin[order],
            model=self._model_cdf.searchsorted(rng.random(total), side="right"),
            samples=rng.integers(cfg.job_samples[0], cfg.job_samples[1], endpoint=True, size=total),
            epochs=rng.integers(cfg.job_epochs[0], cfg.job_epochs[1], endpoint=True, size=total),
            batch=self._batch_sizes[rng.integers(0, len(self._batch_sizes), size=total)],
            n_tasks=rng.integers(cfg.tasks_per_job[0], cfg.tasks_per_job[1], endpoint=True, size=total),
        )


class TraceWorkload:
    """Replays a CSV trace (schema in this module's docstring); identical across seeds."""

    def __init__(self, path: str | Path, n_edges: int, model_names: tuple[str, ...]):
        self.model_names = model_names
        rows = read_trace_rows(Path(path))
        index = {name: i for i, name in enumerate(model_names)}
        cols: dict[str, list] = {c: [] for c in TRACE_COLUMNS}
        for line_no, row in rows:
            try:
                values = {
                    "arrival_time_s": float(row["arrival_time_s"]),
                    "origin": int(row["origin"]),
                    "model": index[row["model"].strip()],
                    "samples": int(row["samples"]),
                    "epochs": int(row["epochs"]),
                    "batch_size": int(row["batch_size"]),
                    "tasks": int(row["tasks"]),
                }
            except KeyError as exc:
                raise ValueError(
                    f"{path}:{line_no}: unknown model {row['model']!r}; known: {list(model_names)}"
                ) from exc
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{line_no}: malformed row {row}: {exc}") from exc
            if not 0 <= values["origin"] < n_edges:
                raise ValueError(f"{path}:{line_no}: origin {values['origin']} outside 0..{n_edges - 1}")
            if not math.isfinite(values["arrival_time_s"]) or not 0 <= values["arrival_time_s"] <= MAX_TIME_S:
                raise ValueError(f"{path}:{line_no}: arrival_time_s must be finite, >= 0 and <= {MAX_TIME_S:g}, "
                                 f"got {row['arrival_time_s']!r}")
            if not all(1 <= values[c] <= MAX_COUNT for c in TRACE_COLUMNS[3:]):
                raise ValueError(f"{path}:{line_no}: samples, epochs, batch_size and tasks must be in 1..{MAX_COUNT}, "
                                 f"got {row}")
            for c in TRACE_COLUMNS:
                cols[c].append(values[c])
        if not cols["arrival_time_s"]:
            raise ValueError(f"trace_path: {path} has a header but no jobs")
        arrays = {c: np.asarray(v, dtype=np.float64 if c == "arrival_time_s" else np.int64) for c, v in cols.items()}
        order = np.argsort(arrays["arrival_time_s"], kind="stable")
        self._arrays = {c: a[order] for c, a in arrays.items()}

    def __len__(self) -> int:
        return len(self._arrays["arrival_time_s"])

    @property
    def last_arrival_s(self) -> float:
        """Arrival time (s) of the trace's last job: after it, the trace adds no work."""
        return float(self._arrays["arrival_time_s"][-1])

    def jobs_between(self, t0: float, t1: float, rng: np.random.Generator) -> JobBatch:
        """Trace jobs arriving in the window (t0, t1] (t0 < 0 includes time 0)."""
        times = self._arrays["arrival_time_s"]
        lo, hi = np.searchsorted(times, t0, side="right"), np.searchsorted(times, t1, side="right")
        if t0 < 0:
            lo = 0
        a = {c: v[lo:hi] for c, v in self._arrays.items()}
        return JobBatch(
            arrival=a["arrival_time_s"].astype(float),
            origin=a["origin"].astype(np.int64),
            model=a["model"].astype(np.int64),
            samples=a["samples"].astype(np.int64),
            epochs=a["epochs"].astype(np.int64),
            batch=a["batch_size"].astype(np.int64),
            n_tasks=a["tasks"].astype(np.int64),
        )


def write_trace_csv(path: str | Path, rows: Iterable[Sequence[object]]) -> Path:
    """Write job ``rows`` (values in ``TRACE_COLUMNS`` order) as a trace CSV that ``TraceWorkload`` replays."""
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TRACE_COLUMNS)
        w.writerows(rows)
    return Path(path)


def read_trace_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a trace CSV, checking the header."""
    if not path.exists():
        raise ValueError(f"trace_path: file {path} does not exist")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # a byte-order mark (Excel's CSV) is not a column
            numbered = [(i + 1, line) for i, line in enumerate(fh)
                        if line.strip() and not line.lstrip().startswith("#")]
    except UnicodeDecodeError as err:
        raise ValueError(f"trace_path: {path} is not UTF-8 text (bad byte at offset {err.start})") from None
    if not numbered:
        raise ValueError(f"trace_path: {path} is empty")
    reader = csv.DictReader(line for _, line in numbered)
    missing = [c for c in TRACE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"trace_path: {path} lacks column(s) {missing}; expected {list(TRACE_COLUMNS)}")
    return [(numbered[i + 1][0], row) for i, row in enumerate(reader)]


def make_workload(config: ClusterConfig, model_names: tuple[str, ...]) -> PoissonWorkload | TraceWorkload:
    """The workload the config asks for."""
    if config.trace_path is not None:
        trace = TraceWorkload(config.trace_path, config.n_edges, model_names)
        check_memory(config, len(trace), float(trace._arrays["tasks"].sum()), f"trace_path {config.trace_path}")
        return trace
    return PoissonWorkload(config, model_names)
