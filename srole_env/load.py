"""Offered load: how busy a workload makes a cluster, from the simulator's own physics.

``offered_load(config)`` is ``rho = arrival rate x N x E[compute work of a job] / (sum of the edges' sustained
FLOP/s)``: the work is what the simulator's own workload generator draws (every task's iterations x FLOPs per
iteration, as ``ClusterSimulator`` builds them; a Monte Carlo mean over ``LOAD_SAMPLES`` jobs with a fixed seed),
the capacity the device table's sustained rates for the device mix allocated to N edges. ``rate_for_load(config,
rho)`` inverts it. The utilisation a scheduler reaches is another matter (the simulator's utilisation counts
committed workers per core, and a GPU edge is saturated by one worker).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from srole_env.config import ClusterConfig, make_config
from srole_env.core.topology import allocate_by_proportion
from srole_env.core.workload import PoissonWorkload
from srole_env.profiles import device_table, model_profiles

LOAD_SAMPLES = 200_000
"""Jobs drawn to estimate the mean compute work of a job (standard error well under 1%)."""


def _as_config(config: ClusterConfig | dict[str, Any]) -> ClusterConfig:
    return config if isinstance(config, ClusterConfig) else make_config(**config)


def mean_job_work(config: ClusterConfig | dict[str, Any]) -> float:
    """Mean compute work (FLOP) of one job drawn by the config's Poisson workload, as the simulator counts it:
    per task ``ceil(shard / batch) x epochs`` iterations of ``min(batch, shard) x train FLOPs per sample``."""
    cfg = _as_config(config)
    if cfg.trace_path is not None:
        raise ValueError("offered load: trace_path is set; the offered load of a trace is its own (not drawn)")
    return _mean_job_work(tuple(sorted(cfg.model_mix.items())), tuple(cfg.job_samples), tuple(cfg.job_epochs),
                          tuple(cfg.batch_sizes), tuple(cfg.tasks_per_job))


@lru_cache(maxsize=32)
def _mean_job_work(model_mix: tuple, job_samples: tuple, job_epochs: tuple, batch_sizes: tuple,
                   tasks_per_job: tuple) -> float:
    cfg = make_config(model_mix=dict(model_mix), job_samples=job_samples, job_epochs=job_epochs,
                      batch_sizes=batch_sizes, tasks_per_job=tasks_per_job, n_edges=1)
    names = tuple(cfg.model_mix)
    flops = np.array([model_profiles()[n].train_flops_per_sample for n in names], float)
    span = LOAD_SAMPLES / cfg.arrival_rate  # about LOAD_SAMPLES jobs at the config's own (valid) rate
    jobs = PoissonWorkload(cfg, names).jobs_between(0.0, span, np.random.default_rng(0))
    k = jobs.n_tasks
    t_job = np.repeat(np.arange(len(jobs)), k)
    worker = np.arange(len(t_job)) - np.repeat(np.cumsum(k) - k, k)
    samples = jobs.samples[t_job]
    shard = np.maximum(samples // k[t_job] + (worker < samples % k[t_job]), 1)
    batch = jobs.batch[t_job]
    work = np.ceil(shard / batch) * jobs.epochs[t_job] * np.minimum(batch, shard) * flops[jobs.model[t_job]]
    return float(work.sum() / len(jobs))


def cluster_capacity(config: ClusterConfig | dict[str, Any]) -> float:
    """Sustained compute capacity (FLOP/s) of the cluster: the sum of its edges' sustained training rates for the
    device mix allocated to N edges (the proportions ``build_topology`` uses)."""
    cfg = _as_config(config)
    table = device_table(cfg.extra_device_classes)
    names = tuple(cfg.device_mix)
    counts = allocate_by_proportion(cfg.n_edges, np.array([cfg.device_mix[n] for n in names], float))
    return float(sum(c * table[n].flops for n, c in zip(names, counts)))


def offered_load(config: ClusterConfig | dict[str, Any]) -> float:
    """``rho`` = arrival rate x N x mean job work / cluster capacity (module docstring)."""
    cfg = _as_config(config)
    return cfg.arrival_rate * cfg.n_edges * mean_job_work(cfg) / cluster_capacity(cfg)


def rate_for_load(config: ClusterConfig | dict[str, Any], rho: float) -> float:
    """The arrival rate (jobs/s/edge) at which ``config``'s cluster has offered load ``rho``."""
    if not (isinstance(rho, (int, float)) and rho > 0):
        raise ValueError(f"rho must be a positive number, got {rho!r}")
    cfg = _as_config(config)
    return float(rho) * cluster_capacity(cfg) / (cfg.n_edges * mean_job_work(cfg))
