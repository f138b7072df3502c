"""Sim-to-real: the same nodes and trace under the same policies, emulated on Ray and simulated.

``compare_sim_emulation`` runs each method twice: on a local Ray cluster (``emulation.run``) and in the
simulator on the same named nodes (``emulation.cluster.FixedNodes``). ``sim_classes`` points the simulator at a
device profile of its own, e.g. this host's calibrated class (the calibration branch's data), so the
two runs can disagree only through the model. The emulated nodes' classes set what the scheduler
observes and each node's cores and memory budget; on one host every node computes at the host's speed,
so the emulated classes should be the host's class too (``host_class(measure_host_flops(...), ...)``).

One Ray cluster serves every method (started once; tasks cleared between methods).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emulation.cluster import fixed_nodes_simulator
from emulation.run import emulate, emulation_config, run_loop, scale_trace
from srole_env.profiles import DeviceClass, model_profiles

TABLE_COLUMNS = ("method", "emulated_mean_jct", "simulated_mean_jct", "error", "emulated_collisions",
                 "simulated_collisions", "emulated_overloads", "simulated_overloads")


def measure_host_flops(model: str = "lenet5", batch: int = 32, seconds: float = 2.0) -> float:
    """Training FLOP/s of one single-thread worker on this host: timed SGD steps x ``models.csv`` FLOPs."""
    import torch

    from emulation.worker import train_worker

    torch.set_num_threads(1)
    train_worker(model, batch, 3, lambda i, c, t: None)  # warm-up (allocator, oneDNN kernels)
    iters, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        train_worker(model, batch, 5, lambda i, c, t: None)
        iters += 5
    elapsed = time.perf_counter() - start
    return iters * batch * model_profiles()[model].train_flops_per_sample / elapsed


def host_cpu_times() -> tuple[float, float]:
    """(busy, total) CPU jiffies of this host since boot, from ``/proc/stat`` (Linux; zeros elsewhere)."""
    try:
        with open("/proc/stat") as fh:
            fields = [float(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_fraction(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Fraction of the host's CPU time that was busy between two ``host_cpu_times`` snapshots."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else math.nan


def simulate(policy: str, shield: str, config: Any, classes: list[DeviceClass], seed: int = 0) -> dict[str, float]:
    """One episode of ``policy`` on the simulator with named nodes ``classes`` until the trace is done."""
    from agents.common.array_env import ArrayEnv, make_parallel_env
    from agents.harness.policies import load_policy

    pol, _ = load_policy(policy, "cpu", seed)
    env = ArrayEnv(make_parallel_env(config, shield, simulator=lambda c: fixed_nodes_simulator(c, classes)))
    return run_loop(env, pol, seed)


class _SharedBackend:
    """A started backend lent to several ``emulate`` calls: entering clears its tasks, leaving keeps it."""

    def __init__(self, backend: Any):
        self._backend = backend

    def __enter__(self) -> _SharedBackend:
        self._backend.clear_tasks()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._backend.clear_tasks()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def compare_sim_emulation(
    trace: str | Path,
    classes: list[DeviceClass],
    methods: tuple[tuple[str, ...], ...] = (("local", "none"), ("least_loaded", "none"), ("random", "none")),
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Every row of ``iter_sim_emulation`` (same arguments), as a list."""
    return list(iter_sim_emulation(trace, classes, methods, **kwargs))


def iter_sim_emulation(
    trace: str | Path,
    classes: list[DeviceClass],
    methods: tuple[tuple[str, ...], ...] = (("local", "none"), ("least_loaded", "none"), ("random", "none")),
    sim_classes: list[DeviceClass] | None = None,
    quotas: list[float] | None = None,
    backend: Any = None,
    work_scale: float = 1.0,
    time_scale: float = 1.0,
    round_s: float = 2.0,
    max_rounds: int = 200,
    seed: int = 0,
    **overrides: Any,
) -> Iterator[dict[str, Any]]:
    """One row per ``(policy, shield)`` or ``(label, policy, shield)`` in ``methods``, yielded as each is ready
    (the caller saves rows as they come): emulated and simulated mean JCT and their relative error.

    ``error`` = (simulated - emulated) / emulated mean JCT. The simulator uses ``sim_classes`` (default:
    ``classes``) and the same scaled trace, ``round_s`` and seed; ``overrides`` are ``ClusterConfig`` fields
    for both. ``quotas`` (host CPUs per node, ``emulation.nodes.node_quotas``) limit the emulated nodes.
    ``backend``: a started backend to run on (kept running), instead of a local Ray cluster started here.
    """
    from emulation.ray_backend import RayBackend

    sim_classes = list(classes) if sim_classes is None else list(sim_classes)
    if len(sim_classes) != len(classes):
        raise ValueError(f"sim_classes has {len(sim_classes)} nodes, classes {len(classes)}")
    with tempfile.TemporaryDirectory() as tmp:
        scaled = scale_trace(trace, Path(tmp) / "trace.csv", work_scale, time_scale)
        cfg = emulation_config(sim_classes, scaled, round_s, max_rounds, **overrides)
        with contextlib.ExitStack() as stack:
            if backend is None:
                backend = stack.enter_context(RayBackend(classes, seed=seed, quotas=quotas))
            shared = _SharedBackend(backend)
            for method in methods:
                label, policy, shield = method if len(method) == 3 else (None, *method)
                cpu0 = host_cpu_times()
                emu = emulate(policy, shield, scaled, local_nodes=classes, round_s=round_s, max_rounds=max_rounds,
                              seed=seed, backend=shared, **overrides)
                host_busy = busy_fraction(cpu0, host_cpu_times())
                sim = simulate(policy, shield, cfg, sim_classes, seed)
                e, s = emu["mean_jct_all"], sim["mean_jct_all"]
                yield {
                    "method": label or (policy if shield == "none" else f"{policy}+{shield}"),
                    "emulated_mean_jct": e, "simulated_mean_jct": s,
                    "error": (s - e) / e if e and not math.isnan(e) else math.nan,
                    "emulated_collisions": emu["collisions"], "simulated_collisions": sim["collisions"],
                    "emulated_overloads": emu["overloads"], "simulated_overloads": sim["overloads"],
                    "emulated_jobs_completed": emu["jobs_completed"], "simulated_jobs_completed": sim["jobs_completed"],
                    "emulated_wall_s": emu["wall_s"], "max_round_lag_s": emu["max_round_lag_s"],
                    "emulated_start_delay_s": emu["mean_start_delay_s"],
                    "emulated_cpu_utilization": emu["measured_cpu_utilization"],
                    "host_cpu_busy": host_busy,
                    "simulated_utilization": sim["mean_utilization"],
                    "emulated_decision_latency_s": emu["mean_decision_latency_s"],
                    "simulated_decision_latency_s": sim["mean_decision_latency_s"],
                    "emulated_oom_kills": emu["oom_kills"], "emulated_worker_failures": emu["worker_failures"],
                    "host_cpus": len(os.sched_getaffinity(0)), "load_avg_1m": os.getloadavg()[0],
                }


def ranking_agrees(rows: list[dict[str, Any]], tie: float = 0.05) -> bool:
    """Every pair of methods is ordered the same by emulated and by simulated mean JCT; a pair within
    ``tie`` (relative) of each other on either side counts as a tie and agrees with any order."""
    e = np.array([r["emulated_mean_jct"] for r in rows], float)
    s = np.array([r["simulated_mean_jct"] for r in rows], float)
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            de, ds = e[i] - e[j], s[i] - s[j]
            if abs(de) <= tie * max(e[i], e[j]) or abs(ds) <= tie * max(s[i], s[j]):
                continue
            if np.sign(de) != np.sign(ds):
                return False
    return True


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``TABLE_COLUMNS``."""
    out = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    for r in rows:
        cells = [r[c] if isinstance(r[c], str) else f"{r[c]:+.0%}" if c == "error" else
                 f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c]) for c in TABLE_COLUMNS]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
