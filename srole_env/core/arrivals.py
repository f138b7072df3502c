"""Poisson arrivals of K episodes in one compiled call, each drawn from its own generator exactly as
``PoissonWorkload.jobs_between`` draws it.

A batch of K episodes (``srole_env.core.batch``) draws each round's arrivals from K generators; through NumPy that is
K calls of ``jobs_between``, some ten NumPy calls each, which at small N costs more than the round's physics. Here
one numba function makes every block's draws in the same order, from the same bit streams (it calls each PCG64
bit generator's own C functions through their ctypes pointers) with NumPy's algorithms for the draws it uses:
``poisson`` below 10 (the multiplication method), ``uniform``, ``random`` (with ``searchsorted`` on the model CDF)
and ``integers`` on 32-bit ranges (Lemire's method on ``next_uint32``). The same seed gives the same jobs and leaves
each generator in the same state (``tests/test_batched_env.py`` compares them with ``jobs_between``). Anything else
(another bit generator, a rate of 10 or more jobs per edge and round, a trace, no numba, ``SROLE_NUMBA=0``) goes
through ``jobs_between`` block by block: ``fast_arrivals`` returns None then.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from srole_env.core.workload import JobBatch, PoissonWorkload

POISSON_MULT_MAX = 10.0
"""NumPy draws a Poisson variate by multiplying uniforms below this mean (above it: PTRS, not reproduced here)."""
_U32 = 0xFFFFFFFF
_kernel: Any = None
_pointers: tuple[Any, Any] | None = None


def available() -> bool:
    """True when the compiled draws can be used (numba installed, not disabled by ``SROLE_NUMBA=0``)."""
    return os.environ.get("SROLE_NUMBA", "1") != "0" and importlib.util.find_spec("numba") is not None


def fast_arrivals(workload: Any, rngs: Sequence[np.random.Generator], t0: np.ndarray,
                  t1: np.ndarray) -> tuple[JobBatch, np.ndarray] | None:
    """Jobs of every block [B] arriving in (t0[b], t1[b]], block after block, and the count per block [B]
    (origins are block-local); None when the compiled draws do not apply (module docstring)."""
    if type(workload) is not PoissonWorkload or not available():
        return None
    cfg = workload.config
    lam = cfg.arrival_rate * (t1 - t0)
    ranges = [cfg.job_samples[1] - cfg.job_samples[0], cfg.job_epochs[1] - cfg.job_epochs[0],
              len(workload._batch_sizes) - 1, cfg.tasks_per_job[1] - cfg.tasks_per_job[0]]
    if (not (lam < POISSON_MULT_MAX).all() or min(ranges) < 0 or max(ranges) >= _U32
            or any(type(r.bit_generator) is not np.random.PCG64 for r in rngs)):
        return None
    kernel, (next_double, next_uint32) = _compiled()
    states = np.array([r.bit_generator.ctypes.state_address for r in rngs], dtype=np.uint64)
    arrival, origin, model, samples, epochs, batch_idx, n_tasks, counts = kernel(
        states, next_double, next_uint32, np.asarray(t0, float), np.asarray(t1, float), float(cfg.arrival_rate),
        int(cfg.n_edges), workload._model_cdf, np.array([cfg.job_samples[0], cfg.job_epochs[0], 0,
                                                         cfg.tasks_per_job[0]], dtype=np.int64),
        np.array(ranges, dtype=np.int64))
    batch = JobBatch(arrival=arrival, origin=origin, model=model, samples=samples, epochs=epochs,
                     batch=workload._batch_sizes[batch_idx], n_tasks=n_tasks)
    return batch, counts


def _compiled() -> tuple[Any, tuple[Any, Any]]:
    """The compiled kernel and the PCG64 C functions it calls (built on first use)."""
    global _kernel, _pointers
    if _kernel is None:
        from numba import njit

        ct = np.random.PCG64(0).ctypes
        address = ctypes.c_void_p
        _pointers = (ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_uint64)(ctypes.cast(ct.next_double, address).value),
                     ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_uint64)(ctypes.cast(ct.next_uint32, address).value))
        _kernel = njit(cache=True, nogil=True)(_draw_blocks)
    return _kernel, _pointers  # type: ignore[return-value]


def _draw_blocks(states, next_double, next_uint32, t0, t1, rate, n, model_cdf, lows, ranges):  # pragma: no cover
    """Every block's ``jobs_between`` draws in NumPy's order (compiled; module docstring)."""
    n_blocks = len(states)
    counts = np.zeros(n_blocks, dtype=np.int64)
    cap = 64
    arrival = np.empty(cap)
    origin = np.empty(cap, dtype=np.int64)
    cols = np.empty((5, cap), dtype=np.int64)  # model, samples, epochs, batch index, tasks
    used = 0
    edge_counts = np.empty(n, dtype=np.int64)
    for b in range(n_blocks):
        state = states[b]
        span = t1[b] - t0[b]
        lam = rate * span
        total = 0
        if lam > 0.0:  # poisson(lam, size=n): the multiplication method (NumPy's below a mean of 10)
            enlam = np.exp(-lam)
            for e in range(n):
                x = 0
                prod = 1.0
                while True:
                    prod *= next_double(state)
                    if prod > enlam:
                        x += 1
                    else:
                        break
                edge_counts[e] = x
                total += x
        else:
            edge_counts[:] = 0
        counts[b] = total
        if used + total > cap:
            while used + total > cap:
                cap *= 2
            grown = np.empty(cap)
            grown[:used] = arrival[:used]
            arrival = grown
            grown_o = np.empty(cap, dtype=np.int64)
            grown_o[:used] = origin[:used]
            origin = grown_o
            grown_c = np.empty((5, cap), dtype=np.int64)
            grown_c[:, :used] = cols[:, :used]
            cols = grown_c
        u = np.empty(total)
        for i in range(total):  # uniform(t0, t1, size=total)
            u[i] = t0[b] + span * next_double(state)
        order = np.argsort(u, kind="mergesort")
        orig = np.empty(total, dtype=np.int64)
        j = 0
        for e in range(n):
            for _ in range(edge_counts[e]):
                orig[j] = e
                j += 1
        for i in range(total):
            arrival[used + i] = u[order[i]]
            origin[used + i] = orig[order[i]]
        for i in range(total):  # model: the CDF searched with random(size=total)
            cols[0, used + i] = np.searchsorted(model_cdf, next_double(state), side="right")
        for c in range(4):  # integers(low, low + range, endpoint=True, size=total), 32-bit Lemire
            rng = ranges[c]
            for i in range(total):
                if rng == 0:
                    cols[c + 1, used + i] = lows[c]
                    continue
                rng_excl = np.uint64(rng + 1)
                m = np.uint64(next_uint32(state)) * rng_excl
                leftover = m & np.uint64(_U32)
                if leftover < rng_excl:
                    threshold = np.uint64((_U32 - rng) % (rng + 1))
                    while leftover < threshold:
                        m = np.uint64(next_uint32(state)) * rng_excl
                        leftover = m & np.uint64(_U32)
                cols[c + 1, used + i] = lows[c] + np.int64(m >> np.uint64(32))
        used += total
    return (arrival[:used].copy(), origin[:used].copy(), cols[0, :used].copy(), cols[1, :used].copy(),
            cols[2, :used].copy(), cols[3, :used].copy(), cols[4, :used].copy(), counts)
