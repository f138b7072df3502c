"""Job traces for the simulator: a converter from a GPU-cluster pod list, and a bursty on-off generator.

Both write the simulator's trace CSV (``srole_env.core.workload.TRACE_COLUMNS``, read by ``TraceWorkload``).

**Pod lists** (the Alibaba ``cluster-trace-gpu-v2023`` columns, shipped in ``srole_env/data/alibaba-gpu-2023/``
with its terms and citation, or a user's own file in the same columns): ``read_pod_trace`` checks every row and
names the file, line and column of a bad one; ``pod_trace_jobs`` maps one *window* of consecutive pods to one
episode's jobs. Every mapping is a field of ``PodTraceMapping`` and an ASSUMPTION (the trace is a datacenter's):

* **time**: the window's ``K`` pods (``K`` = the jobs an episode of ``n_edges`` edges expects at ``arrival_rate``
  over ``duration_s``) keep their relative creation times, scaled so that they span the episode
  (``time_scale=None``), or by a fixed factor (sim seconds per trace second);
* **work**: GPU-seconds = lifetime x GPU share (``num_gpu`` x ``gpu_milli`` / 1000; a CPU-only pod counts
  ``cpu_pod_gpu_share``), times ``samples_per_gpu_s`` (None: calibrated so that the trace's median pod gets
  ``median_samples``), clipped to ``samples_range``, of ``model`` at ``epochs`` x ``batch_size``;
* **tasks**: ``num_gpu`` workers (a CPU-only pod one), at most ``max_tasks``;
* **pods still Running at the trace's end** (``running``): ``"censored"`` (default) reads their age at the end as
  the lifetime, a lower bound, capped at ``max_lifetime_s`` like every lifetime; ``"median"`` gives them the median
  lifetime of the pods that ended; ``"drop"`` leaves them out;
* **origin edge**: the trace has none; drawn uniformly from ``origin_seed`` and the window.

**On-off arrivals** (``onoff_trace_jobs``): a two-state Markov-modulated Poisson process shared by all edges (a
cluster-wide burst, the hard case for collisions): exponential ON periods of mean ``mean_on_s`` at
``burst_factor`` x ``arrival_rate`` per edge, OFF periods silent, of mean ``mean_on_s x (burst_factor - 1)``, so the
long-run rate is ``arrival_rate``; job parameters drawn as ``PoissonWorkload`` draws them.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srole_env.config import MAX_COUNT, ClusterConfig
from srole_env.core.workload import PoissonWorkload, write_trace_csv

POD_COLUMNS = ("name", "num_gpu", "gpu_milli", "pod_phase", "creation_time", "deletion_time")
"""Columns of a pod list the converter reads (others, e.g. ``cpu_milli``, are ignored)."""
POD_PHASES = ("Running", "Succeeded", "Failed", "Pending")
RUNNING_READINGS = ("censored", "median", "drop")
SHIPPED_POD_TRACE = Path(__file__).parent / "data" / "alibaba-gpu-2023" / "openb_pod_list_default.csv"
"""The shipped Alibaba pod list (8,152 pods; attribution in the folder's README.md)."""


@dataclass(frozen=True)
class PodTrace:
    """A validated pod list, in creation order. Arrays [P]."""

    path: str
    creation: np.ndarray
    lifetime: np.ndarray
    gpu_share: np.ndarray
    """``num_gpu`` x ``gpu_milli`` / 1000 (0 for a CPU-only pod)."""
    num_gpu: np.ndarray
    running: np.ndarray
    """True for a pod still ``Running`` at the trace's end (its lifetime is censored)."""

    def __len__(self) -> int:
        return len(self.creation)


@dataclass(frozen=True)
class PodTraceMapping:
    """How pods become jobs; every field an ASSUMPTION (module docstring)."""

    running: str = "censored"
    """Reading of pods still Running at the end: ``censored`` (age = lower bound), ``median`` or ``drop``."""
    max_lifetime_s: float = 86_400.0
    """Lifetimes are capped here (a day) before the work mapping: the censored ages reach months."""
    cpu_pod_gpu_share: float = 0.1
    """GPU share a CPU-only pod (``num_gpu`` 0) counts for its work."""
    samples_per_gpu_s: float | None = None
    """Training samples per GPU-second of the pod; None = calibrated on the trace (``median_samples``)."""
    median_samples: int = 1750
    """With ``samples_per_gpu_s=None``: samples of the trace's median pod (the midpoint of the default
    ``job_samples`` range, so the median job matches the synthetic workload's)."""
    samples_range: tuple[int, int] = (50, 6000)
    """Samples are clipped to this range (the heavy tail kept up to 2x the synthetic ``job_samples`` maximum)."""
    model: str = "resnet18"
    epochs: int = 1
    batch_size: int = 32
    max_tasks: int = 4
    """A pod of ``num_gpu`` GPUs becomes min(num_gpu, max_tasks) workers (a CPU-only pod: one)."""
    time_scale: float | None = None
    """Sim seconds per trace second; None = each window's pods are scaled to span the episode."""
    origin_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.running, str) or self.running not in RUNNING_READINGS:
            raise ValueError(f"running must be one of {RUNNING_READINGS}, got {self.running!r}")
        for name in ("max_lifetime_s", "cpu_pod_gpu_share"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("samples_per_gpu_s", "time_scale"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or not 0 < value < math.inf):
                raise ValueError(f"{name} must be None or a finite number > 0 (not a bool), got {value!r}")
        pair = self.samples_range
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
            raise ValueError(f"samples_range must be a pair of ints [lo, hi], got {pair!r}")
        lo, hi = pair
        if not 1 <= lo <= hi <= MAX_COUNT:
            raise ValueError(f"samples_range must satisfy 1 <= lo <= hi <= {MAX_COUNT}, got {self.samples_range!r}")
        object.__setattr__(self, "samples_range", (int(lo), int(hi)))
        for name in ("median_samples", "epochs", "batch_size", "max_tasks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
                raise ValueError(f"{name} must be an int in 1..{MAX_COUNT}, got {value!r}")
        if isinstance(self.origin_seed, bool) or not isinstance(self.origin_seed, int) or self.origin_seed < 0:
            raise ValueError(f"origin_seed must be an int >= 0, got {self.origin_seed!r}")
        from srole_env.profiles import model_profiles

        known = model_profiles()
        if not isinstance(self.model, str) or self.model not in known:
            raise ValueError(f"model: unknown model {self.model!r}; known: {sorted(known)}")


def _is_number(value: object) -> bool:
    """A real number, not a bool (``True`` is not 1.0 here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_episode_size(n_edges: object, arrival_rate: object, duration_s: object, window: object = 0) -> None:
    """The converter's sizes checked before any file is read; ``ValueError`` naming the argument."""
    if isinstance(n_edges, bool) or not isinstance(n_edges, (int, np.integer)) or not 1 <= n_edges <= MAX_COUNT:
        raise ValueError(f"n_edges must be an int in 1..{MAX_COUNT}, got {n_edges!r}")
    for name, value in (("arrival_rate", arrival_rate), ("duration_s", duration_s)):
        if not _is_number(value) or not 0 < value < math.inf:  # type: ignore[operator]
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise ValueError(f"window must be an int >= 0, got {window!r}")


POD_CHUNK_ROWS = 65_536
"""Pods converted at a time: a pod list streams through in chunks (memory is the arrays', not the text's)."""


def read_pod_trace(path: str | Path) -> PodTrace:
    """Read and check a pod list; ``ValueError`` naming the file, line and column of a missing or bad value.

    Streams: the file is read as CSV (a UTF-8 byte-order mark accepted; only CR/LF end a line, so a name holding
    U+2028 stays one field) in chunks of ``POD_CHUNK_ROWS`` rows, each converted and checked with array operations:
    by pandas' C reader when it takes the file whole and every pod passes, else again with the csv module, where the
    first bad row found is checked by ``_pod_row``, whose message names its line and column."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pod trace: file {path} does not exist" if not path.exists() else
                         f"pod trace: {path} is not a file")
    chunks = _fast_pod_chunks(path)
    if chunks is None:
        chunks = _exact_pod_chunks(path)
    values = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    creation = values["creation"]
    order = np.argsort(creation, kind="stable")
    num_gpu = values["num_gpu"]
    share = np.where(num_gpu > 0, num_gpu * values["gpu_milli"] / 1000.0, 0.0)
    return PodTrace(str(path), creation[order], (values["deletion"] - creation)[order], share[order], num_gpu[order],
                    values["running"][order])


def _pod_arrays(creation: np.ndarray, deletion: np.ndarray, num_gpu: np.ndarray, gpu_milli: np.ndarray,
                phase: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A chunk's arrays and the rows that break a rule."""
    bad = (~np.isfinite(creation) | (creation < 0) | (creation > 1e12) | ~np.isfinite(deletion) | (deletion < 0)
           | (deletion > 1e12) | (deletion < creation) | ~np.isin(phase, np.array(POD_PHASES, dtype=object))
           | (num_gpu < 0) | (num_gpu > 1024) | ~np.isfinite(gpu_milli) | (gpu_milli < 0) | (gpu_milli > 1000))
    return {"creation": creation, "deletion": deletion, "num_gpu": num_gpu, "gpu_milli": gpu_milli,
            "running": phase == "Running"}, bad


def _fast_pod_chunks(path: Path) -> list[dict[str, np.ndarray]] | None:
    """The pod list's chunks when pandas' C reader takes the file whole and every pod passes, else None."""
    import warnings

    import pandas as pd

    chunks = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a ragged row or any other doubt: the exact path
            with pd.read_csv(path, dtype=str, na_filter=False, index_col=False, usecols=list(POD_COLUMNS),
                             encoding="utf-8-sig", chunksize=POD_CHUNK_ROWS) as reader:
                for chunk in reader:
                    arrays, bad = _pod_arrays(
                        np.array(chunk["creation_time"].to_numpy(), np.float64),
                        np.array(chunk["deletion_time"].to_numpy(), np.float64),
                        np.array(chunk["num_gpu"].to_numpy(), np.int64),
                        np.array(chunk["gpu_milli"].to_numpy(), np.float64),
                        chunk["pod_phase"].str.strip().to_numpy(object))
                    if bad.any():
                        return None
                    if len(chunk):
                        chunks.append(arrays)
    except Exception:  # noqa: BLE001 - whatever the fast reader refuses, the exact path reads and names
        return None
    return chunks or None


def _exact_pod_chunks(path: Path) -> list[dict[str, np.ndarray]]:
    """The pod list's chunks read with the csv module; ``ValueError`` naming the first bad line."""
    chunks: list[dict[str, np.ndarray]] = []
    line = 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise ValueError(f"{path}:1: empty pod trace (expected a header with columns {list(POD_COLUMNS)})")
            header = [h.strip() for h in header]
            missing = [c for c in POD_COLUMNS if c not in header]
            if missing:
                raise ValueError(f"{path}:1: missing column(s) {missing}; a pod trace (srole trace pods, "
                                 f"srole_env.traces.convert_pod_trace) needs {list(POD_COLUMNS)}; a list of resource "
                                 "requests without times converts with srole trace requests (srole_env.trace_convert."
                                 "convert_request_list: columns num_gpu and optionally gpu_milli)")
            col = {c: header.index(c) for c in POD_COLUMNS}
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                line = reader.line_num
                if not row or not "".join(row).strip():
                    continue
                rows.append(row)
                lines.append(line)
                if len(rows) == POD_CHUNK_ROWS:
                    chunks.append(_pod_chunk(path, header, col, rows, lines))
                    rows, lines = [], []
            if rows:
                chunks.append(_pod_chunk(path, header, col, rows, lines))
    except UnicodeDecodeError:
        raise ValueError(f"pod trace: {path} is not UTF-8 text (a bad byte after line {line})") from None
    except csv.Error as err:
        raise ValueError(f"{path}:{line}: not CSV: {err}") from None
    if not chunks:
        raise ValueError(f"{path}:2: the pod trace has a header but no pods")
    return chunks


def _pod_chunk(path: Path, header: list[str], col: dict[str, int], rows: list[list[str]],
               lines: list[int]) -> dict[str, np.ndarray]:
    """One chunk of pod rows as checked arrays (``read_pod_trace``)."""
    width = len(header)
    short = [k for k, r in enumerate(rows) if len(r) < width]
    first_bad = short[0] if short else len(rows)
    good = rows[:first_bad]
    try:
        creation = np.array([r[col["creation_time"]] for r in good], np.float64)
        deletion = np.array([r[col["deletion_time"]] for r in good], np.float64)
        num_gpu = np.array([r[col["num_gpu"]] for r in good], np.int64)
        gpu_milli = np.array([r[col["gpu_milli"]] for r in good], np.float64)
    except (TypeError, ValueError, OverflowError):  # a value that does not convert: find its row
        for k in range(len(rows)):
            _pod_row(path, lines[k], rows[k], col, width)
        raise AssertionError("unreachable: a chunk failed to convert but no row did") from None
    phase = np.array([r[col["pod_phase"]].strip() for r in good], dtype=object)
    arrays, bad = _pod_arrays(creation, deletion, num_gpu, gpu_milli, phase)
    flagged = np.flatnonzero(bad)
    k = int(flagged[0]) if len(flagged) else first_bad
    if k < len(rows):
        _pod_row(path, lines[k], rows[k], col, width)
        raise AssertionError(f"unreachable: the pod at line {lines[k]} was flagged but passed")
    return arrays


def _pod_row(path: Path, line_no: int, row: list[str], col: dict[str, int], width: int) -> None:
    """Check one pod row; ``ValueError`` naming the file, line and column of what is wrong."""
    if len(row) < width:
        raise ValueError(f"{path}:{line_no}: {len(row)} fields, the header has {width}")
    creation = _field(path, line_no, row, col, "creation_time", 0.0, 1e12)
    deletion = _field(path, line_no, row, col, "deletion_time", 0.0, 1e12)
    if deletion < creation:
        raise ValueError(f"{path}:{line_no}: column 'deletion_time': {deletion:g} before creation_time {creation:g}")
    phase = row[col["pod_phase"]].strip()
    if phase not in POD_PHASES:
        raise ValueError(f"{path}:{line_no}: column 'pod_phase': {phase!r} is not one of {list(POD_PHASES)}")
    _field(path, line_no, row, col, "num_gpu", 0, 1024, integer=True)
    _field(path, line_no, row, col, "gpu_milli", 0.0, 1000.0)


def _field(path: Path, line_no: int, row: list[str], col: dict[str, int], name: str, lo: float, hi: float,
           integer: bool = False) -> float:
    """One number of a pod row, range-checked; ``ValueError`` naming the file, line and column."""
    raw = row[col[name]].strip()
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ValueError(f"{path}:{line_no}: column {name!r}: expected {'an int' if integer else 'a number'}, "
                         f"got {raw!r}") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{path}:{line_no}: column {name!r}: {raw!r} outside [{lo:g}, {hi:g}]")
    return value


def window_size(n_edges: int, arrival_rate: float, duration_s: float) -> int:
    """Pods per episode window: the jobs ``n_edges`` edges expect at ``arrival_rate`` over ``duration_s`` (>= 1)."""
    return max(1, int(round(n_edges * arrival_rate * duration_s)))


def _kept(trace: PodTrace, mapping: PodTraceMapping) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the pods kept, their lifetimes after the Running reading and the cap)."""
    life = trace.lifetime.copy()
    keep = np.ones(len(trace), bool)
    if mapping.running == "drop":
        keep = ~trace.running
    elif mapping.running == "median":
        ended = life[~trace.running]
        if len(ended) == 0:
            raise ValueError(f"{trace.path}: running='median' needs pods that ended; every pod is Running")
        life[trace.running] = float(np.median(ended))
    idx = np.flatnonzero(keep)
    return idx, np.minimum(life[idx], mapping.max_lifetime_s)


def n_windows(trace: PodTrace, mapping: PodTraceMapping, n_edges: int, arrival_rate: float, duration_s: float) -> int:
    """Whole windows the trace holds for episodes of this size and load."""
    return len(_kept(trace, mapping)[0]) // window_size(n_edges, arrival_rate, duration_s)


def pod_trace_jobs(trace: PodTrace, mapping: PodTraceMapping, *, n_edges: int, arrival_rate: float,
                   duration_s: float, window: int) -> list[tuple]:
    """Rows (``TRACE_COLUMNS`` order) of window ``window``'s jobs, in arrival order (module docstring)."""
    check_episode_size(n_edges, arrival_rate, duration_s, window)
    if not isinstance(mapping, PodTraceMapping):
        raise TypeError(f"mapping must be a PodTraceMapping, got {type(mapping).__name__}")
    idx, life = _kept(trace, mapping)
    k = window_size(n_edges, arrival_rate, duration_s)
    available = len(idx) // k
    if not 0 <= window < available:
        raise ValueError(f"{trace.path}: window {window} outside 0..{available - 1} ({len(idx)} pods, {k} per "
                         f"window at n_edges={n_edges}, arrival_rate={arrival_rate}, duration_s={duration_s})")
    share = np.where(trace.num_gpu > 0, trace.gpu_share, mapping.cpu_pod_gpu_share)[idx]
    gpu_s = life * share
    rate = mapping.samples_per_gpu_s
    if rate is None:
        median = float(np.median(gpu_s[gpu_s > 0])) if np.any(gpu_s > 0) else 1.0
        rate = mapping.median_samples / median
    sl = slice(window * k, (window + 1) * k)
    created = trace.creation[idx][sl]
    if mapping.time_scale is not None:
        arrival = (created - created[0]) * mapping.time_scale
    else:
        span = float(created[-1] - created[0])
        arrival = (created - created[0]) * (duration_s * (k - 1) / k / span) if span > 0 else np.zeros(k)
    lo, hi = mapping.samples_range
    samples = np.clip(np.round(gpu_s[sl] * rate), lo, hi).astype(np.int64)
    tasks = np.clip(trace.num_gpu[idx][sl], 1, mapping.max_tasks)
    origin = np.random.default_rng([mapping.origin_seed, window]).integers(0, n_edges, size=k)
    return [(repr(float(arrival[i])), int(origin[i]), mapping.model, int(samples[i]), mapping.epochs,
             mapping.batch_size, int(tasks[i])) for i in range(k)]


def convert_pod_trace(path: str | Path, out: str | Path, *, n_edges: int, arrival_rate: float, duration_s: float,
                      window: int = 0, mapping: PodTraceMapping | None = None) -> Path:
    """Write window ``window`` of the pod list at ``path`` as a simulator trace CSV at ``out`` (the sizes and the
    mapping checked before the pod list is read)."""
    check_episode_size(n_edges, arrival_rate, duration_s, window)
    if mapping is not None and not isinstance(mapping, PodTraceMapping):
        raise TypeError(f"mapping must be a PodTraceMapping, got {type(mapping).__name__}")
    if Path(out).is_dir():
        raise ValueError(f"out: {str(out)!r} is a folder; give the trace CSV's file path")
    rows = pod_trace_jobs(read_pod_trace(path), mapping or PodTraceMapping(), n_edges=n_edges,
                          arrival_rate=arrival_rate, duration_s=duration_s, window=window)
    return write_trace_csv(out, rows)


def onoff_trace_jobs(config: ClusterConfig, seed: int, duration_s: float, burst_factor: float,
                     mean_on_s: float) -> list[tuple]:
    """Rows (``TRACE_COLUMNS`` order) of an on-off MMPP's jobs over ``[0, duration_s)`` (module docstring)."""
    if not (isinstance(burst_factor, (int, float)) and 1.0 <= burst_factor < math.inf):
        raise ValueError(f"burst_factor must be a finite number >= 1, got {burst_factor!r}")
    if not (isinstance(mean_on_s, (int, float)) and 0 < mean_on_s < math.inf):
        raise ValueError(f"mean_on_s must be a finite number > 0, got {mean_on_s!r}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x0FF])
    on = PoissonWorkload(config.replace(arrival_rate=config.arrival_rate * burst_factor), tuple(config.model_mix))
    mean_off_s = mean_on_s * (burst_factor - 1.0)
    state_on = bool(rng.random() < 1.0 / burst_factor)  # the stationary share of time ON
    t, rows = 0.0, []
    while t < duration_s:
        length = float(rng.exponential(mean_on_s if state_on else mean_off_s)) if (state_on or mean_off_s > 0) \
            else duration_s
        end = min(duration_s, t + length)
        if state_on and end > t:
            b = on.jobs_between(t, end, rng)
            rows += [(repr(float(b.arrival[i])), int(b.origin[i]), on.model_names[b.model[i]], int(b.samples[i]),
                      int(b.epochs[i]), int(b.batch[i]), int(b.n_tasks[i])) for i in range(len(b))]
        t, state_on = end, (not state_on) if mean_off_s > 0 else True
    return rows
