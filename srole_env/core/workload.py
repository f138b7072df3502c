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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
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

    def select(self, keep: np.ndarray) -> JobBatch:
        """The jobs where ``keep`` [J] (bool) is true, in the same order."""
        return JobBatch(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})


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
        arrays = _read_trace_arrays(Path(path), n_edges, model_names)
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


TRACE_CHUNK_ROWS = 65_536
"""Rows converted at a time: a trace streams through in chunks, so memory is the arrays', not the text's."""


def _read_trace_arrays(path: Path, n_edges: int, model_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The trace's columns as arrays (file order), every value checked; ``ValueError`` naming the file and line.

    Streams: rows are read in chunks of ``TRACE_CHUNK_ROWS``, each chunk converted and checked with array operations.
    A file without comment lines is split by pandas' C reader (``_fast_trace_arrays``); anything it does not take
    whole (a comment line, a value that does not convert or is out of range, a ragged row) is read again here with
    the csv module, and the first bad row found is checked by ``_check_row``, whose message names its line and
    field. Values convert as Python's ``int``/``float`` convert them on both paths."""
    if not path.exists():
        raise ValueError(f"trace_path: file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"trace_path: {path} is not a file")
    index = {name: i for i, name in enumerate(model_names)}
    fast = _fast_trace_arrays(path, n_edges, index)
    if fast is not None:
        return fast
    chunks: list[dict[str, np.ndarray]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # a byte-order mark (Excel's CSV) is not a column
            numbers: list[int] = []

            def lines() -> Iterable[str]:
                for line_no, line in enumerate(fh, start=1):
                    if line.strip() and not line.lstrip().startswith("#"):
                        numbers.append(line_no)
                        yield line

            reader = csv.reader(lines())
            header = next(reader, None)
            if header is None:
                raise ValueError(f"trace_path: {path} is empty")
            missing = [c for c in TRACE_COLUMNS if c not in header]
            if missing:
                raise _missing_columns(path, missing)
            numbers.clear()
            rows: list[list[str]] = []
            row_lines: list[int] = []
            for row in reader:
                rows.append(row)
                row_lines.append(numbers[-1])
                if len(rows) == TRACE_CHUNK_ROWS:
                    chunks.append(_trace_chunk(path, header, rows, row_lines, index, model_names, n_edges))
                    rows, row_lines = [], []
                    numbers.clear()
            if rows:
                chunks.append(_trace_chunk(path, header, rows, row_lines, index, model_names, n_edges))
    except UnicodeDecodeError as err:
        raise ValueError(f"trace_path: {path} is not UTF-8 text (bad byte at offset {err.start})") from None
    if not chunks:
        raise ValueError(f"trace_path: {path} has a header but no jobs")
    return {c: np.concatenate([ch[c] for ch in chunks]) for c in TRACE_COLUMNS}


COMMENT_LINE = re.compile(rb"(?:^|[\r\n])[ \t\f\v]*#")


def has_comment_lines(path: Path, block: int = 1 << 22) -> bool:
    """Whether any line of the file starts (after blanks) with ``#``; read in blocks, never whole."""
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            data = tail + chunk
            if COMMENT_LINE.search(data):
                return True
            tail = data[-64:]
    return False


def _trace_flags(arrays: dict[str, np.ndarray], n_edges: int) -> np.ndarray:
    """Rows of a chunk that break a rule (unknown model, origin, arrival time, counts)."""
    counts = np.stack([arrays[c] for c in TRACE_COLUMNS[3:]])
    arrival = arrays["arrival_time_s"]
    return ((arrays["model"] < 0) | (arrays["origin"] < 0) | (arrays["origin"] >= n_edges)
            | ~np.isfinite(arrival) | (arrival < 0) | (arrival > MAX_TIME_S)
            | (counts < 1).any(axis=0) | (counts > MAX_COUNT).any(axis=0))


def _fast_trace_arrays(path: Path, n_edges: int, index: dict[str, int]) -> dict[str, np.ndarray] | None:
    """The trace's arrays when pandas' C reader takes the file whole and every row passes, else None."""
    import warnings

    import pandas as pd

    if has_comment_lines(path):
        return None
    parts: dict[str, list[np.ndarray]] = {c: [] for c in TRACE_COLUMNS}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a ragged row or any other doubt: the exact path
            with pd.read_csv(path, dtype=str, na_filter=False, index_col=False, usecols=list(TRACE_COLUMNS),
                             encoding="utf-8-sig", chunksize=TRACE_CHUNK_ROWS) as reader:
                for chunk in reader:
                    arrays = {c: np.array(chunk[c].to_numpy(), dtype=np.float64 if c == "arrival_time_s" else np.int64)
                              for c in TRACE_COLUMNS if c != "model"}
                    arrays["model"] = chunk["model"].str.strip().map(index).fillna(-1).to_numpy(np.int64)
                    if _trace_flags(arrays, n_edges).any():
                        return None
                    for c in TRACE_COLUMNS if len(chunk) else ():
                        parts[c].append(arrays[c])
    except Exception:  # noqa: BLE001 - whatever the fast reader refuses, the exact path reads and names
        return None
    if not parts["origin"]:
        return None
    return {c: np.concatenate(v) for c, v in parts.items()}


def _trace_chunk(path: Path, header: list[str], rows: list[list[str]], lines: list[int], index: dict[str, int],
                 model_names: tuple[str, ...], n_edges: int) -> dict[str, np.ndarray]:
    """One chunk of trace rows as checked arrays (``_read_trace_arrays``)."""
    width = len(header)
    short = [k for k, r in enumerate(rows) if len(r) < width]
    first_bad = short[0] if short else len(rows)
    cols = list(zip(*(r[:width] for r in rows[:first_bad]))) if first_bad else [() for _ in header]
    where = {c: header.index(c) for c in TRACE_COLUMNS}
    try:
        arrays = {c: np.array(cols[where[c]], dtype=np.float64 if c == "arrival_time_s" else np.int64)
                  for c in TRACE_COLUMNS if c != "model"}
    except (TypeError, ValueError, OverflowError):  # a value that does not convert: find its row
        for k in range(len(rows)):
            _check_row(path, lines[k], _row_dict(header, rows[k]), index, model_names, n_edges)
        raise AssertionError("unreachable: a chunk failed to convert but no row did") from None
    arrays["model"] = np.array([index.get(m.strip(), -1) for m in cols[where["model"]]], np.int64)
    flagged = np.flatnonzero(_trace_flags(arrays, n_edges))
    k = int(flagged[0]) if len(flagged) else first_bad
    if k < len(rows):
        _check_row(path, lines[k], _row_dict(header, rows[k]), index, model_names, n_edges)
        raise AssertionError(f"unreachable: row at line {lines[k]} was flagged but passed")
    return arrays


def _row_dict(header: list[str], row: list[str]) -> dict[str, str | None]:
    """A row by column name, as ``csv.DictReader`` gives it (None for the fields a short row lacks)."""
    return {**dict(zip(header, row)), **{h: None for h in header[len(row):]}}


def read_trace_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs of a trace CSV, checking the header (small traces: the emulation's)."""
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
        raise _missing_columns(path, missing)
    return [(numbered[i + 1][0], row) for i, row in enumerate(reader)]


def _check_row(path: Path, line_no: int, row: dict[str, str | None], index: dict[str, int],
               model_names: tuple[str, ...], n_edges: int) -> None:
    """Check one trace row; ``ValueError`` naming the file, the line and what is wrong."""
    try:
        values = {
            "arrival_time_s": float(row["arrival_time_s"]),  # type: ignore[arg-type]
            "origin": int(row["origin"]),  # type: ignore[arg-type]
            "model": index[row["model"].strip()],  # type: ignore[union-attr]
            "samples": int(row["samples"]),  # type: ignore[arg-type]
            "epochs": int(row["epochs"]),  # type: ignore[arg-type]
            "batch_size": int(row["batch_size"]),  # type: ignore[arg-type]
            "tasks": int(row["tasks"]),  # type: ignore[arg-type]
        }
    except KeyError as exc:
        raise ValueError(f"{path}:{line_no}: unknown model {row['model']!r}; known: {list(model_names)}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}:{line_no}: malformed row {row}: {exc}") from exc
    if not 0 <= values["origin"] < n_edges:
        raise ValueError(f"{path}:{line_no}: origin {values['origin']} outside 0..{n_edges - 1}")
    if not math.isfinite(values["arrival_time_s"]) or not 0 <= values["arrival_time_s"] <= MAX_TIME_S:
        raise ValueError(f"{path}:{line_no}: arrival_time_s must be finite, >= 0 and <= {MAX_TIME_S:g}, "
                         f"got {row['arrival_time_s']!r}")
    if not all(1 <= values[c] <= MAX_COUNT for c in TRACE_COLUMNS[3:]):
        raise ValueError(f"{path}:{line_no}: samples, epochs, batch_size and tasks must be in 1..{MAX_COUNT}, "
                         f"got {row}")


def make_workload(config: ClusterConfig, model_names: tuple[str, ...]) -> PoissonWorkload | TraceWorkload:
    """The workload the config asks for."""
    if config.trace_path is not None:
        trace = TraceWorkload(config.trace_path, config.n_edges, model_names)
        check_memory(config, len(trace), float(trace._arrays["tasks"].sum()), f"trace_path {config.trace_path}")
        return trace
    return PoissonWorkload(config, model_names)


def _missing_columns(path: Path, missing: list[str]) -> ValueError:
    """The error for a trace without the simulator's columns, naming the converters of the other shapes."""
    return ValueError(f"trace_path: {path} lacks column(s) {missing}; expected {list(TRACE_COLUMNS)} (a simulator "
                      "trace); other shapes convert with srole trace: 'runtimes' (one column of job durations, "
                      "srole_env.trace_convert.convert_runtime_list), 'requests' (num_gpu[,gpu_milli] per job, no "
                      "times: convert_request_list), 'pods' (a pod list with creation_time and deletion_time: "
                      "srole_env.traces.convert_pod_trace)")
