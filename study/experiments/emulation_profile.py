"""The ``emulation`` profile of ``srole reproduce``: sim-to-real on this host, heuristics and trained policies.

This module holds the profile (nodes, workload, methods, budget), the twin's config, the traces, the trained
policies and the report; everything that touches the emulated cluster is an ``emulation`` function it calls
(``emulation.ray_backend``, ``emulation.calibrate``, ``emulation.compare.iter_sim_emulation``): calls go one
way, down, and ``emulation`` never imports ``study``.

``reproduce_emulation(profile, out)`` does, in order:

1. **Nodes.** It starts a local Ray cluster of ``nodes`` nodes of ``node_cores`` cores, each core limited
   (``CpuQuota``, like ``docker --cpus`` plus one core per thread) to a share of a host CPU chosen so
   that all nodes together take ``host_share`` of this host's CPUs and never slow each other down. The
   rest of the host runs Ray, the scheduler and the parameter averager.
2. **Calibration.** It measures what a node core delivers under full load, on the cluster itself
   (``emulation.calibrate.calibrate_node_speed``: a worker on every core for ``calibrate_s`` seconds), asks
   the twin how busy the workload keeps the cores (``predicted_utilization``), measures again at that load and
   makes that the node class (``quota_node``). One worker alone on this host is measured too, for the record.
3. **The twin.** The simulator gets exactly that class (``ClusterConfig.extra_device_classes``), the
   host's calibrated oversubscription curve (the config default) and loopback-like links
   (``area_m``: the nodes share one host). Its time unit is the emulator's real second.
4. **Policies.** Each learned method (``MARL``, ``SROLE-central``, ``SROLE-decentralized``) trains on the
   twin under Poisson arrivals with the trace's job distribution, for ``train_rounds`` rounds, with the
   committed tuned hyperparameters (``study/experiments/tuned/``); they are cached in ``out/cache/models``.
5. **Traces.** For each trace seed, the same Poisson workload's first ``arrival_rounds`` rounds are written
   as a job trace (held-out seeds: never a training episode's seed).
6. **Runs.** Every method runs each trace emulated (real PyTorch workers) and simulated;
   ``sim_vs_emulation.csv`` has one row per (trace, method), saved as each is ready, and ``summary.md``
   the mean JCTs, their error, and whether the two rank the methods the same.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emulation.nodes import device_fields
from srole_common.persist import atomic_write, write_json
from srole_env.config import ClusterConfig, make_config
from srole_env.core.workload import PoissonWorkload, write_trace_csv
from srole_env.profiles import DeviceClass, model_profiles

TRAIN_SEED_BASE = 0
TRACE_SEED_BASE = 70_000
"""Trace seeds are ``TRACE_SEED_BASE + t``: disjoint from training seeds and from the tuner's (>= 50,000)."""


@dataclass(frozen=True)
class EmulationProfile:
    """A sim-to-real experiment: the nodes, the workload, the methods and the training budget."""

    name: str
    nodes: int = 4
    node_cores: int = 2
    host_share: float = 0.6
    """Fraction of this host's CPUs the nodes' quotas take together (the rest: Ray, scheduler, averager)."""
    node_memory_gb: float = 4.0
    round_s: float = 2.0
    arrival_rounds: int = 24
    """Trace jobs arrive during the first ``arrival_rounds`` rounds; the run then drains."""
    jobs_per_round: float = 0.6
    """Mean arrivals per round over the whole cluster (Poisson)."""
    model: str = "lenet5"
    batch: int = 256
    """Large enough that an iteration's compute dwarfs its parameter averaging and report calls (CPU that the
    quotas do not cover): LeNet-5 at 256 is ~0.6 GFLOP per iteration against a 247 KB parameter vector."""
    job_iters: tuple[int, int] = (40, 120)
    """Iterations of a whole job (split over its workers): samples = iterations x batch."""
    tasks_per_job: tuple[int, int] = (1, 3)
    traces: int = 2
    calibrate_s: float = 10.0
    """Seconds of each calibration of the nodes' per-core speed (``calibrate_node_speed``: full load, then the
    predicted load)."""
    methods: tuple[str, ...] = ("local", "least_loaded", "random", "least_loaded+central", "MARL",
                                "SROLE-central", "SROLE-decentralized")
    train_rounds: int = 20_000
    """The paper profile's budget (rounds are cheap here: 4 edges)."""
    train_horizon: int = 40
    max_rounds: int = 150
    area_m: float = 1.0
    """All nodes are on one host: links are loopback-like (the twin's link model at ~0 m)."""
    overrides: Mapping[str, Any] = field(default_factory=lambda: {"compute_threshold": 1.0})
    """``ClusterConfig`` fields for both sides (``compute_threshold`` 1.0: a node takes as many workers as
    cores before it counts as overloaded)."""


EMULATION_PROFILES: dict[str, EmulationProfile] = {
    "emulation": EmulationProfile("emulation"),
    # tests and smoke runs: 3 nodes, tiny jobs, one trace, tiny training
    "emulation-tiny": EmulationProfile(
        "emulation-tiny", nodes=3, node_cores=1, round_s=1.0, arrival_rounds=4, batch=32, jobs_per_round=0.75,
        job_iters=(20, 40), tasks_per_job=(1, 2), traces=1, methods=("local", "least_loaded", "SROLE-central"),
        train_rounds=40, train_horizon=12, max_rounds=40, calibrate_s=2.0),
}


def node_cpus_per_core(profile: EmulationProfile, host_cpus: int) -> float:
    """Host CPUs per node core: ``host_share`` of the host over all nodes' cores, at most one CPU."""
    return min(1.0, profile.host_share * host_cpus / (profile.nodes * profile.node_cores))


def twin_config(profile: EmulationProfile, cls: DeviceClass, **fields: Any) -> ClusterConfig:
    """The simulator's config for these nodes (Poisson arrivals with the trace's job distribution)."""
    n = profile.nodes
    samples = (profile.job_iters[0] * profile.batch, profile.job_iters[1] * profile.batch)
    return make_config(
        "small", n_edges=n, n_neighbors=min(n - 1, 4), n_regions=1 if n < 4 else 2,
        device_mix={cls.name: 1.0}, extra_device_classes={cls.name: device_fields(cls)},
        area_m=profile.area_m, round_s=profile.round_s, horizon=profile.train_horizon,
        arrival_rate=profile.jobs_per_round / (n * profile.round_s), model_mix={profile.model: 1.0},
        job_samples=samples, job_epochs=(1, 1), batch_sizes=(profile.batch,), tasks_per_job=profile.tasks_per_job,
        **{**dict(profile.overrides), **fields})


def write_trace(config: ClusterConfig, seed: int, duration_s: float, path: str | Path) -> Path:
    """The Poisson workload of ``config`` over ``[0, duration_s)`` drawn with ``seed``, as a trace CSV."""
    names = tuple(model_profiles())
    batch = PoissonWorkload(config, names).jobs_between(0.0, duration_s, np.random.default_rng(seed))
    return write_trace_csv(path, ([round(float(batch.arrival[j]), 3), int(batch.origin[j]), names[batch.model[j]],
                                   int(batch.samples[j]), int(batch.epochs[j]), int(batch.batch[j]),
                                   int(batch.n_tasks[j])] for j in range(len(batch))))


def train_methods(profile: EmulationProfile, config: ClusterConfig, out: Path,
                  progress: bool = True) -> dict[str, Path]:
    """Train (or reuse) each learned method of the profile on the twin ``config``; method -> run dir."""
    from agents.harness.train import train
    from study.experiments.plan import resolve_learner
    from study.experiments.profiles import PROFILES
    from study.experiments.roster import METHODS

    runs = {}
    for name in profile.methods:
        method = METHODS[name]
        if not method.learned:
            continue
        if method.centralized:
            raise ValueError(f"{name}: the emulator drives parallel-env policies, not the cluster head's")
        algo, hparams, _ = resolve_learner(PROFILES["quick"], method, "paper")
        key = hashlib.sha256(json.dumps([algo, method.shield, hparams, config.to_dict(), profile.train_rounds,
                                         TRAIN_SEED_BASE],
                                        sort_keys=True, default=str).encode()).hexdigest()[:12]
        run_dir = out / "cache" / "models" / f"{name}-{key}"  # a changed profile or host trains afresh
        if not (run_dir / "done.json").exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # an interrupted training starts over
            train(algo, method.shield, config, rounds=profile.train_rounds, seed=TRAIN_SEED_BASE, out_dir=run_dir,
                  device="cpu", hparams=hparams or None, progress=progress)
            write_json(run_dir / "done.json", {"algo": algo, "hparams": hparams, "rounds": profile.train_rounds})
        runs[name] = run_dir
    return runs


def method_specs(profile: EmulationProfile, runs: Mapping[str, Path]) -> tuple[tuple[str, str, str], ...]:
    """``(label, policy, shield)`` of every method: a heuristic's name or a trained run directory."""
    from study.experiments.roster import METHODS

    specs = []
    for name in profile.methods:
        m = METHODS[name]
        if m.kind not in ("heuristic", "learned"):
            raise ValueError(f"{name}: the emulation profile runs heuristics and learned methods, not {m.kind}")
        specs.append((name, str(runs[name]) if m.learned else m.policy, m.shield))
    return tuple(specs)


def reproduce_emulation(profile: EmulationProfile, out_dir: str | Path, progress: bool = True,
                        host_worker_flops: float | None = None) -> Path:
    """Run the profile (module docstring) and write ``sim_vs_emulation.csv`` and ``summary.md`` in ``out_dir``.

    ``host_worker_flops`` skips measuring one worker alone here (reported, not used by the twin). Every step
    calls down into ``emulation`` (nodes, calibration, runs) or ``agents`` (training); nothing calls back.
    """
    from agents.harness.evaluate import write_csv
    from emulation import ray_backend
    from emulation.calibrate import calibrate_node_speed, predicted_utilization
    from emulation.compare import iter_sim_emulation, measure_host_flops

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    host_cpus = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()[0]
    alone = host_worker_flops or measure_host_flops(profile.model, profile.batch)
    cpus_per_core = node_cpus_per_core(profile, host_cpus)
    quota = cpus_per_core * profile.node_cores
    shape = _node(profile, 1.0)  # the backend reads a node's cores and memory only; its speed is the quota
    rows: list[dict[str, Any]] = []
    duration = profile.arrival_rounds * profile.round_s
    with ray_backend.RayBackend([shape] * profile.nodes, seed=0, quotas=[quota] * profile.nodes) as backend:
        # A node core's speed here depends on how busy the whole host is (duty-cycled workers and shared
        # caches pay per iteration): calibrate at full load, ask the twin how busy this workload keeps the
        # cores (least_loaded on a calibration trace, seed TRACE_SEED_BASE - 1: not a compared trace), and
        # calibrate again at that load; the twin gets the second figure.
        full_load = calibrate_node_speed(backend, profile.model, profile.batch, profile.calibrate_s)
        first = _node(profile, full_load)
        calibration = write_trace(twin_config(profile, first), TRACE_SEED_BASE - 1, duration,
                                  out / "trace_calibration.csv")
        busy_fraction = predicted_utilization([first] * profile.nodes, calibration, profile.round_s,
                                              profile.max_rounds, **_eval_fields(twin_config(profile, first)))
        cores = profile.nodes * profile.node_cores
        busy = min(cores, max(1, round(busy_fraction * cores)))
        per_core = calibrate_node_speed(backend, profile.model, profile.batch, profile.calibrate_s, busy=busy)
        cls = _node(profile, per_core)
        config = twin_config(profile, cls)
        runs = train_methods(profile, config, out, progress)  # the cluster idles meanwhile
        specs = method_specs(profile, runs)
        for t in range(profile.traces):
            seed = TRACE_SEED_BASE + t
            trace = write_trace(config, seed, duration, out / f"trace_{t}.csv")
            for row in iter_sim_emulation(trace, [cls] * profile.nodes, specs, round_s=profile.round_s,
                                          max_rounds=profile.max_rounds, seed=seed, backend=backend,
                                          **_eval_fields(config)):
                rows.append({"trace": t, **row})
                write_csv(rows, out / "sim_vs_emulation.csv")  # saved as it comes: nothing lost on an interrupt
                if progress:
                    print(f"trace {t} {row['method']}: emulated {row['emulated_mean_jct']:.2f} s, simulated "
                          f"{row['simulated_mean_jct']:.2f} s ({row['error']:+.0%})", flush=True)
    info = {"profile": dataclasses.asdict(profile), "host_cpus": host_cpus, "host_worker_gflops_alone": alone / 1e9,
            "node_core_gflops_calibrated": per_core / 1e9, "node_core_gflops_full_load": full_load / 1e9,
            "calibration_busy_cores": busy, "predicted_utilization": busy_fraction,
            "node_class": dataclasses.asdict(cls),
            "node_quota_cpus": quota, "load_avg_1m_before": load_before, "wall_s": time.perf_counter() - start,
            "config": config.to_dict()}
    atomic_write(out / "emulation.json", json.dumps(info, indent=2, default=str))
    atomic_write(out / "summary.md", summarize(rows, info))
    return out


def _node(profile: EmulationProfile, per_core_flops: float) -> DeviceClass:
    """The emulated nodes' class at a calibrated per-core speed (``emulation.calibrate.quota_node``)."""
    from emulation.calibrate import quota_node

    return quota_node(per_core_flops, profile.node_cores, profile.node_memory_gb * 1e9)


def _eval_fields(config: ClusterConfig) -> dict[str, Any]:
    """The twin's fields that ``emulation_config`` does not set itself (so both sides see the same cluster)."""
    keep = ("extra_device_classes", "area_m", "compute_threshold", "model_mix", "job_samples", "job_epochs",
            "batch_sizes", "tasks_per_job")
    return {k: getattr(config, k) for k in keep}


def per_method(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method, over traces: mean emulated and simulated JCT (each the mean of the traces' mean JCTs),
    their relative error, and the totals of collisions and overloads on both sides."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        e = float(np.mean([float(r["emulated_mean_jct"]) for r in mine]))
        s = float(np.mean([float(r["simulated_mean_jct"]) for r in mine]))
        out.append({"method": method, "emulated_mean_jct": e, "simulated_mean_jct": s,
                    "error": (s - e) / e if e and not math.isnan(e) else math.nan,
                    **{k: int(sum(int(r[k]) for r in mine)) for k in (
                        "emulated_collisions", "simulated_collisions", "emulated_overloads", "simulated_overloads")}})
    return out


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a committed ``sim_vs_emulation.csv``."""
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


def readme_table(path: str | Path) -> str:
    """The per-method Markdown table of ``sim_vs_emulation.csv`` (the README's sim-to-real table)."""
    from emulation.compare import format_rows

    return format_rows(per_method(read_rows(path)))


def summarize(rows: list[dict[str, Any]], info: Mapping[str, Any]) -> str:
    """``summary.md``: the per-method table, the 20% goal and the ranking check, and the host."""
    from emulation.compare import format_rows, ranking_agrees

    table = per_method(rows)
    traces = sorted({r["trace"] for r in rows})
    within = [r["method"] for r in table if abs(r["error"]) <= 0.20]
    prof = info["profile"]
    lines = [
        f"# Sim-to-real: profile `{prof['name']}`",
        "",
        f"{prof['nodes']} nodes of {prof['node_cores']} cores, each core limited to "
        f"{info['node_quota_cpus'] / prof['node_cores']:.2f} of a host CPU ({info['host_cpus']} CPUs here). A core "
        f"delivers {info['node_core_gflops_calibrated']:.2f} GFLOP/s of {prof['model']} (batch {prof['batch']}) "
        f"with {info['calibration_busy_cores']} cores busy (the twin's predicted utilisation "
        f"{info['predicted_utilization']:.2f}): the twin's node class; with every core busy "
        f"{info['node_core_gflops_full_load']:.2f}, one unthrottled worker alone "
        f"{info['host_worker_gflops_alone']:.2f}. "
        f"{prof['traces']} trace(s), round {prof['round_s']} s. Mean over traces; error = (simulated - emulated) / "
        "emulated mean JCT (seconds).",
        "",
        format_rows(table),
        "",
        f"Within 20%: {len(within)} of {len(table)} methods ({', '.join(within) or 'none'}). "
        f"Same ranking (pairs within 5% count as ties): {'yes' if ranking_agrees(table) else 'no'}.",
        f"Per trace: same ranking in {sum(ranking_agrees([r for r in rows if r['trace'] == t]) for t in traces)}"
        f" of {len(traces)}.",
        "",
        f"Wall time {info['wall_s'] / 60:.1f} min; 1-minute load average before the run "
        f"{info['load_avg_1m_before']:.2f}.",
        "",
    ]
    return "\n".join(lines)
