"""The memory check at the start of an episode: will the episode's arrays fit in this machine's memory?

A ``ClusterConfig`` is pure data (building one reads nothing from the host); whether an episode fits is asked
where an episode starts (``ClusterSimulator.reset``), against this process's memory limit. The tables hold live
work only (a completed job leaves them for the episode's ledger), so the estimate counts the arrays of every
edge and the jobs in the system at the start, not the horizon's worth of arrivals: a long horizon alone is no
longer refused.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from srole_env.config import ClusterConfig

EDGE_BYTES, CANDIDATE_BYTES, JOB_BYTES, TASK_BYTES = 4096, 512, 256, 512
"""Generous bytes per edge, per (edge, candidate), per job and per task of an episode's arrays."""


def memory_estimate_bytes(cfg: ClusterConfig, jobs: float | None = None, tasks: float | None = None) -> float:
    """Rough peak bytes of an episode's start: per-edge arrays, the neighbour search, the job/task tables.

    ``jobs``/``tasks``: the jobs held when known (a trace holds all of its own); by default the Poisson mean
    of one round's arrivals, the live work at the start.
    """
    n = cfg.n_edges
    if jobs is None:
        jobs = 0.0 if cfg.trace_path is not None else n * cfg.arrival_rate * cfg.round_s
    if tasks is None:
        tasks = jobs * (cfg.tasks_per_job[0] + cfg.tasks_per_job[1]) / 2
    search = min(1024, n) * float(n) * 24.0  # chunked pairwise distances (srole_env.core.topology)
    return n * (EDGE_BYTES + CANDIDATE_BYTES * cfg.n_candidates) + search + jobs * JOB_BYTES + tasks * TASK_BYTES


def memory_limit_bytes() -> float:
    """Memory this process may use: physical memory, capped by a cgroup limit and ``RLIMIT_AS`` (inf if unknown)."""
    limits = [math.inf]
    try:
        limits.append(float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
    except (AttributeError, ValueError, OSError):
        pass
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        limits.append(float(text) if text.isdigit() else math.inf)
    except OSError:
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        limits.append(math.inf if soft == resource.RLIM_INFINITY else float(soft))
    except (ImportError, OSError, ValueError):
        pass
    return min(limits)


def check_memory(cfg: ClusterConfig, jobs: float | None = None, tasks: float | None = None, what: str = "") -> None:
    """``ValueError`` before an episode of ``cfg`` starts when its arrays cannot fit in this machine's memory."""
    need, have = memory_estimate_bytes(cfg, jobs, tasks), memory_limit_bytes()
    if need > have:
        expected = (f"{jobs:.3g} jobs" if jobs is not None else
                    f"n_edges={cfg.n_edges}, arrival_rate={cfg.arrival_rate}, round_s={cfg.round_s}, "
                    f"tasks_per_job={cfg.tasks_per_job}")
        raise ValueError(f"{what or 'config'}: an episode needs about {need / 2**30:.3g} GiB ({expected}), more than "
                         f"this machine's {have / 2**30:.3g} GiB; use a smaller cluster or load")
