"""Calibrating emulated nodes on the cluster itself: what a quota-limited node core delivers, and how busy the
twin simulator expects a workload to keep the nodes.

``calibrate_node_speed(backend, model, batch, seconds, busy)`` runs ``busy`` one-worker jobs through the nodes'
quotas (their reports, Ray's processes and the scheduler's polling included) and returns the per-core training
FLOP/s; ``quota_node`` makes that the nodes' device class; ``predicted_utilization`` asks the twin simulator
how many of the cores a trace keeps busy, so the calibration can be repeated at that load. The ``emulation``
profile of ``srole reproduce`` (``study.experiments.emulation_profile``) calls these in turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulation.cluster import TaskWork
from emulation.compare import simulate
from emulation.nodes import host_class
from emulation.run import emulation_config
from srole_env.profiles import DeviceClass, model_profiles

CALIBRATION_TID = 1_000_000_000
"""Task ids of the calibration workers (the emulator numbers a run's tasks from 0)."""
QUOTA_NODE = "quota_node"
"""The device-class name of a calibrated quota-limited node."""


def calibrate_node_speed(backend: Any, model: str, batch: int, seconds: float, busy: int | None = None) -> float:
    """Per-core training FLOP/s the emulated nodes of a started ``backend`` deliver with ``busy`` cores working
    (default: all).

    ``busy`` one-worker jobs of ``model`` at ``batch``, spread over the nodes (one core of each node in turn),
    run through the nodes' quotas with their reports, Ray's processes and the scheduler's polling for
    ``seconds`` after a one-second start; the rate is iterations done over that window, per worker, times the
    model's FLOPs per iteration (``models.csv``). The workers are then cancelled and the warm pool restarted.
    """
    slots = [(node, k) for k in range(max(c.cores for c in backend.classes))
             for node, c in enumerate(backend.classes) if k < c.cores]
    busy = len(slots) if busy is None else busy
    if not 1 <= busy <= len(slots):
        raise ValueError(f"busy must be in 1..{len(slots)} (the nodes' cores), got {busy}")
    tids = []
    for node, _ in slots[:busy]:
        tid = CALIBRATION_TID + len(tids)
        backend.launch(node, TaskWork(tid=tid, job=tid, n_tasks=1, model=model, batch=batch, iters=10**9))
        tids.append(tid)
    backend.sleep_until(backend.now() + 1.0)
    t1, first = backend.now(), {t: st.iters_done for t, st in backend.poll().items()}  # (statuses are live)
    backend.sleep_until(t1 + seconds)
    t2, last = backend.now(), {t: st.iters_done for t, st in backend.poll().items()}
    backend.clear_tasks()
    if hasattr(backend, "warm_pool"):
        backend.warm_pool()
    iters = sum(last[t] - first[t] for t in tids)
    if iters <= 0:
        raise RuntimeError("node calibration: the workers did no iterations (is the cluster overloaded?)")
    flops_per_iter = batch * model_profiles()[model].train_flops_per_sample
    return iters / (t2 - t1) / len(tids) * flops_per_iter


def quota_node(per_core_flops: float, cores: int, memory_bytes: float) -> DeviceClass:
    """The device class of a quota-limited node at a calibrated per-core speed."""
    return host_class(per_core_flops * cores, cores, memory_bytes, name=QUOTA_NODE)


def predicted_utilization(classes: list[DeviceClass], trace: str | Path, round_s: float, max_rounds: int,
                          policy: str = "least_loaded", **overrides: Any) -> float:
    """Mean fraction of the nodes' cores busy that the twin simulator predicts for ``trace`` under ``policy``
    (``overrides``: ``ClusterConfig`` fields, as for ``emulation_config``)."""
    cfg = emulation_config(classes, trace, round_s, max_rounds, **overrides)
    return float(simulate(policy, "none", cfg, classes)["mean_utilization"])
