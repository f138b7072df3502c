"""Run independent experiment cells (method x seed x sweep point, tuning trials) and collect their results.

``run_cells(fn, cells)`` calls ``fn(cell)`` for every cell and returns the results in the order of
``cells``; a cell whose ``fn`` raised yields a ``CellFailure`` in its place and the others still run.

Where the cells run:

- ``workers=1`` (and no ``address``): one after another in this process, as a plain loop would.
- ``workers=K > 1`` or ``workers=None`` (all cores): K at a time in worker processes, each with torch pinned
  to one thread. With Ray installed (the ``cells`` extra) they are Ray tasks (``num_cpus=1`` each) on a
  local Ray instance started for the call (``num_cpus=K``) and shut down afterwards; without Ray, a
  ``concurrent.futures.ProcessPoolExecutor(K)`` of spawned processes. Both give the same results.
- ``address="HOST:PORT"``: Ray tasks on an existing Ray cluster (``ray.init(address=...)``); ``workers=K``
  (K > 1) then caps the cells in flight, 1 (the default) or None leave it to the cluster's CPUs. The
  cluster keeps running.
  Every node needs SROLE installed (the same Python and Ray version), since tasks import ``fn``'s module.
- A Ray session already initialised in this process is used as it is and left running.

The contract for ``fn``: a picklable top-level function of one picklable cell, deterministic given the
cell (it seeds everything it draws from, so the same cell gives the same result in any process and in
any order), self-contained (it must not rely on state left by another cell), and it caches its own
result (a cell that finds its result on disk returns it) with an atomic write (a temporary file, then
``os.replace``). Then Ctrl-C is safe: ``run_cells`` cancels the pending cells, stops the workers (a cell
cut off half-way leaves no result behind), and re-raises ``KeyboardInterrupt``; every finished cell is on
disk, so running the same cells again only runs the rest. Two cells that would write the same cache
entry must not run at once: pass each unique cell once.

A worker that dies (killed for memory, say) fails only its own cell under Ray; in a process pool it
breaks the pool, and the cells still running or queued then fail too (rerun: finished cells are cached).

The progress bar counts finished cells across all workers; with ``weights`` (an estimate of each cell's cost,
e.g. ``study.experiments.cell_cost``) it shows the share of the estimated work done, so its time left is honest
when long and short cells mix.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import pickle
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

from tqdm.auto import tqdm

RAY_EXTRA = 'pip install "srole[cells]"'
"""How to install the optional Ray back-end (named in errors)."""


@dataclass(frozen=True)
class CellFailure:
    """A cell whose function raised: the cell, and the error's one-line summary and traceback."""

    cell: Any
    error: str
    traceback: str = ""


def run_cells(
    fn: Callable[[Any], Any],
    cells: Sequence[Any],
    *,
    workers: int | None = 1,
    address: str | None = None,
    desc: str = "cells",
    progress: bool = True,
    weights: Sequence[float] | None = None,
) -> list[Any]:
    """``[fn(c) for c in cells]``, run as the module docstring says, with a ``CellFailure`` in place of each
    cell that raised. ``KeyboardInterrupt`` stops every worker and propagates. ``weights``: each cell's estimated
    cost, for the progress bar only."""
    if not callable(fn):
        raise TypeError(f"run_cells: fn must be callable, got {type(fn).__name__}")
    k = _resolve_workers(workers)
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise TypeError(f"run_cells: address must be 'HOST:PORT' (a non-empty str) or None, got {address!r}")
    cells = list(cells)
    if not cells:
        return []
    if weights is not None and len(weights) != len(cells):
        raise ValueError(f"run_cells: {len(weights)} weights for {len(cells)} cells")
    with _Progress(cells, desc, progress, weights) as bar:
        if address is not None:
            ray = _import_ray()
            if ray is None:
                raise ImportError(f"run_cells: address={address!r} needs Ray, which is not installed ({RAY_EXTRA})")
            return _run_ray(ray, fn, cells, bar, address=address, in_flight=k if workers not in (None, 1) else None)
        if k == 1:
            return _run_here(fn, cells, bar)
        k = min(k, len(cells))
        ray = _import_ray()
        if ray is not None:
            return _run_ray(ray, fn, cells, bar, num_cpus=k, in_flight=k)
        return _run_processes(fn, cells, bar, k)


class _Progress:
    """A tqdm bar over cells: counts them, or with weights shows the share of the estimated work done and the time
    left extrapolated from it (said only once ``ETA_AFTER`` of the work is done: before that, the start-up of the
    workers dominates and the figure would be wild)."""

    ETA_AFTER = 5.0
    """Percent of the estimated work after which the bar gives a time left."""

    def __init__(self, cells: list[Any], desc: str, progress: bool, weights: Sequence[float] | None):
        self.n = len(cells)
        self.finished = 0
        self.done_pct = 0.0
        self.start = time.monotonic()
        if weights is None:
            self.weights = None
            self.bar = tqdm(total=self.n, desc=desc, disable=not progress)
        else:
            total = float(sum(max(float(w), 0.0) for w in weights)) or 1.0
            self.weights = [100.0 * max(float(w), 0.0) / total for w in weights]
            self.bar = tqdm(total=100.0, desc=desc, disable=not progress,
                            bar_format="{desc}: {percentage:3.0f}% of the estimated work |{bar}| [{elapsed}{postfix}]")
            self.bar.set_postfix_str(self._postfix(), refresh=False)

    def _postfix(self) -> str:
        text = f"cells {self.finished}/{self.n}"
        if self.done_pct < self.ETA_AFTER:
            return f"{text}, time left once {self.ETA_AFTER:g}% is done"
        left = (time.monotonic() - self.start) * (100.0 - self.done_pct) / self.done_pct
        return f"{text}, about {_minutes(left)} left"

    def done(self, i: int) -> None:
        """Cell ``i`` finished."""
        self.finished += 1
        if self.weights is None:
            self.bar.update()
            return
        self.done_pct = min(100.0, self.done_pct + self.weights[i])
        self.bar.set_postfix_str(self._postfix(), refresh=False)
        self.bar.update(self.weights[i])

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()


def _minutes(seconds: float) -> str:
    """``"40 s"``, ``"7 min"`` or ``"2.5 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _resolve_workers(workers: int | None) -> int:
    """``workers`` as a count: None means every core this process may use."""
    if workers is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"run_cells: workers must be an int >= 1 or None (all cores), got {workers!r}")
    if workers < 1:
        raise ValueError(f"run_cells: workers must be >= 1 or None (all cores), got {workers}")
    return workers


def _import_ray() -> Any:
    """The ``ray`` module, or None when Ray is not installed (the ``cells`` extra)."""
    try:
        import ray
    except ImportError:
        return None
    return ray


# ------------------------------------------------------------------------------------------- one cell
_Outcome = tuple[bool, Any]
"""``(True, result)`` or ``(False, (error summary, traceback))``: what a worker sends back for one cell."""


def _call(fn: Callable[[Any], Any], cell: Any, pin: bool = True) -> _Outcome:
    """``fn(cell)`` with its exception caught (``KeyboardInterrupt`` is not: it stops the run)."""
    if pin:
        _pin_threads()
    try:
        return True, fn(cell)
    except Exception as exc:  # noqa: BLE001 - reported per cell, the rest still run
        return False, (f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _pin_threads() -> None:
    """One torch thread per worker: K workers use K cores, and results do not depend on the core count."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    if find_spec("torch") is not None:
        import torch

        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)


def _result(cell: Any, outcome: _Outcome) -> Any:
    ok, value = outcome
    return value if ok else CellFailure(cell, *value)


def _lost(cell: Any, exc: BaseException) -> CellFailure:
    """A cell whose worker could not run it or send its result back (crashed, killed, unpicklable)."""
    return CellFailure(cell, f"{type(exc).__name__}: {exc}",
                       "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


# ------------------------------------------------------------------------------------------ back-ends
def _run_here(fn: Callable[[Any], Any], cells: list[Any], bar: _Progress) -> list[Any]:
    """In this process, in order; torch threads stay as the caller set them."""
    results = []
    for i, cell in enumerate(cells):
        results.append(_result(cell, _call(fn, cell, pin=False)))
        bar.done(i)
    return results


def _init_process_worker() -> None:
    """A pool worker leaves Ctrl-C to the parent (which stops it) and runs torch on one thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _pin_threads()


def _run_processes(fn: Callable[[Any], Any], cells: list[Any], bar: _Progress, k: int) -> list[Any]:
    """K spawned processes (spawn, not fork: a forked torch/OpenMP runtime can hang in the child)."""
    try:
        pickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001 - any pickling error means the same thing here
        raise TypeError(f"run_cells: fn must be a picklable top-level function to run in processes ({exc})") from exc
    results: list[Any] = [None] * len(cells)
    pool = cf.ProcessPoolExecutor(k, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_init_process_worker)
    futures: dict[cf.Future, int] = {}
    try:
        futures = {pool.submit(_call, fn, cell): i for i, cell in enumerate(cells)}
        for future in cf.as_completed(futures):
            i = futures[future]
            try:
                results[i] = _result(cells[i], future.result())
            except Exception as exc:  # noqa: BLE001 - the worker died or the cell/result did not pickle
                results[i] = _lost(cells[i], exc)
            bar.done(i)
    except BaseException:  # Ctrl-C (or a bug here): stop the workers now, keep what finished on disk
        _stop_pool(pool, futures)
        raise
    pool.shutdown()
    return results


def _stop_pool(pool: cf.ProcessPoolExecutor, futures: dict[cf.Future, int]) -> None:
    """Cancel the pending cells and terminate the running ones (Python 3.11 has no public way to)."""
    for future in futures:
        future.cancel()
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def _run_ray(ray: Any, fn: Callable[[Any], Any], cells: list[Any], bar: _Progress, *, address: str | None = None,
             num_cpus: int | None = None, in_flight: int | None = None) -> list[Any]:
    """Ray tasks of one CPU each, at most ``in_flight`` at a time, on ``address`` or a local instance."""
    started = False
    if not ray.is_initialized():
        if address is not None:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            # address="local": a new instance even when `ray start` left one running on this machine
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
        started = True
    results: list[Any] = [None] * len(cells)
    pending: dict[Any, int] = {}
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_call)
        fn_ref = ray.put(fn)
        queue = iter(range(len(cells)))
        limit = in_flight or len(cells)

        def submit() -> None:
            for i in queue:
                pending[task.remote(fn_ref, cells[i])] = i
                if len(pending) >= limit:
                    return

        submit()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    results[i] = _result(cells[i], ray.get(ref))
                except Exception as exc:  # noqa: BLE001 - the worker crashed or the result did not deserialize
                    results[i] = _lost(cells[i], exc)
                bar.done(i)
            submit()
    except BaseException:  # Ctrl-C: drop the queued cells, interrupt the running ones
        # Not force=True: Ray 2.60 can abort the driver when a force-cancelled task's reply crosses the
        # cancel. Disconnecting (ray.shutdown below) ends this job's tasks on the cluster anyway.
        for ref in pending:
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001, S110 - already finished or gone
                pass
        raise
    finally:
        if started:
            ray.shutdown()
    return results
