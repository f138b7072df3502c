"""Converters for the traces users have that carry no arrival times: a list of job runtimes, and a pod list of
resource requests. Both write the simulator's trace CSV (``srole_env.core.workload.TRACE_COLUMNS``).

**Runtime lists** (``read_runtime_list``): one column of job durations in seconds, with a header naming it
(``runtime_s``, ``duration_s``, ``duration``, ``runtime``, ``run_time`` or ``elapsed_s``; other columns are
ignored) or no header at all (a file of numbers). **Request lists** (``read_request_list``): pods or jobs with
``num_gpu`` and, optionally, ``gpu_milli`` (thousandths of a GPU per requested GPU, default 1000) and ``cpu_milli``,
but no creation or deletion times (a pod list *with* times converts with ``srole_env.traces.convert_pod_trace``).

Neither shape says when jobs arrive, nor how much work a job is in the simulator's units, so every mapping is a
field of ``ShapeMapping`` and an ASSUMPTION:

* **arrivals**: a seeded Poisson process, the simulator's own default workload: exponential gaps of mean
  ``1 / (n_edges x arrival_rate)`` seconds from ``numpy.random.default_rng([seed, window, 0xA7])``, over the
  ``K`` jobs of the window (``K`` = the jobs ``n_edges`` edges expect at ``arrival_rate`` over ``duration_s``,
  ``srole_env.traces.window_size``); rows are taken in file order, window ``w`` being rows ``w*K .. (w+1)*K-1``;
* **work**: ``samples`` = size x ``samples_per_unit``, where size is the runtime in seconds (runtime list) or the
  requested GPU share (``num_gpu`` x ``gpu_milli`` / 1000; a CPU-only request counts ``cpu_request_gpu_share``),
  with ``samples_per_unit=None`` calibrated so that the file's median job gets ``median_samples``; clipped to
  ``samples_range``; of ``model`` at ``epochs`` x ``batch_size``;
* **tasks**: a runtime list has no sizes, so every job has ``tasks`` workers; a request list gives
  ``min(num_gpu, max_tasks)`` workers (a CPU-only request one);
* **origin edge**: uniform over the edges, from the same seeded generator.

``convert_runtime_list`` and ``convert_request_list`` are the API; ``srole trace runtimes IN OUT`` and ``srole trace
requests IN OUT`` the command line (``docs/benchmark.md``, "Your own workload").
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srole_env.config import MAX_COUNT
from srole_env.core.workload import write_trace_csv

RUNTIME_COLUMNS = ("runtime_s", "duration_s", "duration", "runtime", "run_time", "elapsed_s")
"""Header names a runtime list's duration column may have (the first present is read)."""
REQUEST_COLUMNS = ("num_gpu",)
"""Columns a request list needs; ``gpu_milli`` and ``cpu_milli`` are optional."""
RUNTIME_SCHEMA = "one column of job durations in seconds (header runtime_s or duration_s, or no header)"
REQUEST_SCHEMA = "columns num_gpu (int >= 0) and optionally gpu_milli (0..1000), no times"


@dataclass(frozen=True)
class ShapeMapping:
    """How rows without arrival times become jobs; every field an ASSUMPTION (module docstring)."""

    seed: int = 0
    """Seeds the Poisson arrivals and the origin edges (mixed with the window)."""
    samples_per_unit: float | None = None
    """Samples per runtime second or per requested GPU; None = calibrated on the file (``median_samples``)."""
    median_samples: int = 1750
    """With ``samples_per_unit=None``: samples of the file's median job (the midpoint of the default
    ``job_samples`` range, as ``PodTraceMapping`` calibrates)."""
    samples_range: tuple[int, int] = (50, 6000)
    """Samples are clipped to this range."""
    model: str = "resnet18"
    epochs: int = 1
    batch_size: int = 32
    tasks: int = 1
    """Workers of every job of a runtime list (it has no sizes)."""
    max_tasks: int = 4
    """A request of ``num_gpu`` GPUs becomes min(num_gpu, max_tasks) workers (a CPU-only request: one)."""
    cpu_request_gpu_share: float = 0.1
    """GPU share a CPU-only request (``num_gpu`` 0) counts for its work."""

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        value = self.samples_per_unit
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value < math.inf):
            raise ValueError(f"samples_per_unit must be None or a finite number > 0, got {value!r}")
        share = self.cpu_request_gpu_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < math.inf:
            raise ValueError(f"cpu_request_gpu_share must be a finite number > 0, got {share!r}")
        lo, hi = tuple(self.samples_range)
        if not 1 <= lo <= hi <= MAX_COUNT:
            raise ValueError(f"samples_range must satisfy 1 <= lo <= hi <= {MAX_COUNT}, got {self.samples_range!r}")
        object.__setattr__(self, "samples_range", (int(lo), int(hi)))
        for name in ("median_samples", "epochs", "batch_size", "tasks", "max_tasks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
                raise ValueError(f"{name} must be an int in 1..{MAX_COUNT}, got {value!r}")


def _rows(path: str | Path, what: str) -> tuple[Path, list[tuple[int, list[str]]]]:
    """(path, [(line number, fields)]) of a CSV's non-empty, non-comment lines; ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what}: file {path} does not exist")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{what}: {path} is not UTF-8 text (bad byte at offset {err.start})") from None
    numbered = [(i + 1, line) for i, line in enumerate(text.splitlines())
                if line.strip() and not line.lstrip().startswith("#")]
    parsed = csv.reader(line for _, line in numbered)
    rows = [(n, [f.strip() for f in fields]) for (n, _), fields in zip(numbered, parsed)]
    if not rows:
        raise ValueError(f"{what}: {path} is empty")
    return path, rows


def _number(path: Path, line_no: int, raw: str, column: str, lo: float, hi: float, integer: bool = False) -> float:
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ValueError(f"{path}:{line_no}: column {column!r}: expected {'an int' if integer else 'a number'}, "
                         f"got {raw!r}") from None
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{path}:{line_no}: column {column!r}: {raw!r} outside [{lo:g}, {hi:g}]")
    return value


def read_runtime_list(path: str | Path) -> np.ndarray:
    """Durations [J] (seconds, file order) of a runtime list; ``ValueError`` naming the file, line and column."""
    path, rows = _rows(path, "runtime list")
    header = [h.lower() for h in rows[0][1]]
    column = next((c for c in RUNTIME_COLUMNS if c in header), None)
    if column is None:
        try:
            float(rows[0][1][0])
        except ValueError:
            raise ValueError(f"{path}:{rows[0][0]}: runtime list: no duration column among {rows[0][1]}; "
                             f"expected {RUNTIME_SCHEMA}, one of {list(RUNTIME_COLUMNS)}") from None
        if len(header) != 1:
            raise ValueError(f"{path}:{rows[0][0]}: runtime list without a header must have one column, got "
                             f"{len(header)}; expected {RUNTIME_SCHEMA}")
        index, body = 0, rows
    else:
        index, body = header.index(column), rows[1:]
    if not body:
        raise ValueError(f"{path}: runtime list has a header but no jobs")
    name = column or "1"
    out = []
    for line_no, fields in body:
        if len(fields) <= index:
            raise ValueError(f"{path}:{line_no}: {len(fields)} fields, column {name!r} is field {index + 1}")
        out.append(_number(path, line_no, fields[index], name, 0.0, 1e12))
    return np.asarray(out, float)


def read_request_list(path: str | Path) -> np.ndarray:
    """Requested GPU share [J] per job (``num_gpu`` x ``gpu_milli`` / 1000, file order) and GPUs [J], stacked as
    [2, J]; ``ValueError`` naming the file, line and column."""
    path, rows = _rows(path, "request list")
    header = [h.lower() for h in rows[0][1]]
    missing = [c for c in REQUEST_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}:{rows[0][0]}: request list: missing column(s) {missing}; expected "
                         f"{REQUEST_SCHEMA}")
    gpu, milli = header.index("num_gpu"), header.index("gpu_milli") if "gpu_milli" in header else None
    if len(rows) < 2:
        raise ValueError(f"{path}: request list has a header but no jobs")
    share, gpus = [], []
    for line_no, fields in rows[1:]:
        if len(fields) < len(header):
            raise ValueError(f"{path}:{line_no}: {len(fields)} fields, the header has {len(header)}")
        n = int(_number(path, line_no, fields[gpu], "num_gpu", 0, 1024, integer=True))
        per = 1000.0 if milli is None or fields[milli] == "" else _number(path, line_no, fields[milli], "gpu_milli",
                                                                         0.0, 1000.0)
        gpus.append(n)
        share.append(n * per / 1000.0)
    return np.asarray([share, gpus], float)


def _jobs(size: np.ndarray, tasks: np.ndarray, mapping: ShapeMapping, what: str, *, n_edges: int,
          arrival_rate: float, duration_s: float, window: int) -> list[tuple]:
    """Rows (``TRACE_COLUMNS`` order) of window ``window`` of jobs of work ``size`` [J] and ``tasks`` [J]."""
    from srole_env.traces import window_size

    if isinstance(n_edges, bool) or not isinstance(n_edges, int) or n_edges < 1:
        raise ValueError(f"n_edges must be an int >= 1, got {n_edges!r}")
    for name, value in (("arrival_rate", arrival_rate), ("duration_s", duration_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    k = window_size(n_edges, arrival_rate, duration_s)
    available = len(size) // k
    if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window < available:
        raise ValueError(f"{what}: window {window!r} outside 0..{available - 1} ({len(size)} jobs, {k} per window "
                         f"at n_edges={n_edges}, arrival_rate={arrival_rate}, duration_s={duration_s})")
    rate = mapping.samples_per_unit
    if rate is None:
        positive = size[size > 0]
        rate = mapping.median_samples / float(np.median(positive)) if len(positive) else 1.0
    sl = slice(window * k, (window + 1) * k)
    rng = np.random.default_rng([mapping.seed, window, 0xA7])
    arrival = np.cumsum(rng.exponential(1.0 / (n_edges * arrival_rate), size=k))
    arrival -= arrival[0]  # the first job arrives at time 0, as in a pod trace's window
    origin = rng.integers(0, n_edges, size=k)
    lo, hi = mapping.samples_range
    samples = np.clip(np.round(size[sl] * rate), lo, hi).astype(np.int64)
    return [(repr(float(arrival[i])), int(origin[i]), mapping.model, int(samples[i]), mapping.epochs,
             mapping.batch_size, int(tasks[sl][i])) for i in range(k)]


def runtime_list_jobs(runtimes: np.ndarray, mapping: ShapeMapping, *, n_edges: int, arrival_rate: float,
                      duration_s: float, window: int = 0) -> list[tuple]:
    """Rows of window ``window`` of a runtime list's jobs (module docstring)."""
    tasks = np.full(len(runtimes), mapping.tasks, np.int64)
    return _jobs(np.asarray(runtimes, float), tasks, mapping, "runtime list", n_edges=n_edges,
                 arrival_rate=arrival_rate, duration_s=duration_s, window=window)


def request_list_jobs(requests: np.ndarray, mapping: ShapeMapping, *, n_edges: int, arrival_rate: float,
                      duration_s: float, window: int = 0) -> list[tuple]:
    """Rows of window ``window`` of a request list's jobs (``requests``: ``read_request_list``'s [2, J])."""
    share, gpus = np.asarray(requests[0], float), np.asarray(requests[1], np.int64)
    size = np.where(gpus > 0, share, mapping.cpu_request_gpu_share)
    tasks = np.clip(gpus, 1, mapping.max_tasks)
    return _jobs(size, tasks, mapping, "request list", n_edges=n_edges, arrival_rate=arrival_rate,
                 duration_s=duration_s, window=window)


def convert_runtime_list(path: str | Path, out: str | Path, *, n_edges: int, arrival_rate: float,
                         duration_s: float, window: int = 0, mapping: ShapeMapping | None = None) -> Path:
    """Write window ``window`` of the runtime list at ``path`` as a simulator trace CSV at ``out``."""
    rows = runtime_list_jobs(read_runtime_list(path), mapping or ShapeMapping(), n_edges=n_edges,
                             arrival_rate=arrival_rate, duration_s=duration_s, window=window)
    return write_trace_csv(out, rows)


def convert_request_list(path: str | Path, out: str | Path, *, n_edges: int, arrival_rate: float,
                         duration_s: float, window: int = 0, mapping: ShapeMapping | None = None) -> Path:
    """Write window ``window`` of the request list at ``path`` as a simulator trace CSV at ``out``."""
    rows = request_list_jobs(read_request_list(path), mapping or ShapeMapping(), n_edges=n_edges,
                             arrival_rate=arrival_rate, duration_s=duration_s, window=window)
    return write_trace_csv(out, rows)
