"""``emulate(...)``: drive a real cluster with a policy (and shield) through the simulator's decision loop.

The loop is ``agents.harness.evaluate``'s: ``ArrayEnv`` over ``EdgeClusterEnv`` (behind ``shields.make_shield``
when asked), the policy's preferences, argmax, step; only the env's simulator runs its placed tasks on a
``RayBackend`` (``emulation.cluster.EmulatedCluster``, handed to the env as ``simulator=``).
The episode ends when every trace job has finished (or after
``max_rounds``). The result has the keys of ``agents.harness.evaluate.evaluate`` (one episode), so
``agents.harness.evaluate.write_csv`` writes it in the CSV schema of ``srole evaluate``.

Scaling: ``work_scale`` multiplies each trace job's ``samples`` (at least 1) and ``time_scale`` its
arrival times, so a trace sized for hours runs in minutes; ``round_s`` is the real length of a decision
round in seconds. All times in the result (JCTs, ``sim_time_s``) are real seconds.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emulation.cluster import Backend, emulated_cluster, trace_done
from emulation.nodes import node_quotas, parse_node_spec, speed_unreachable
from srole_env.config import ClusterConfig, make_config
from srole_env.core.workload import TRACE_COLUMNS, read_trace_rows, write_trace_csv
from srole_env.profiles import DeviceClass


def scale_trace(src: str | Path, dst: str | Path, work_scale: float = 1.0, time_scale: float = 1.0) -> Path:
    """Write ``src`` with ``samples`` x ``work_scale`` (>= 1, rounded) and arrivals x ``time_scale`` to ``dst``."""
    if not work_scale > 0 or not time_scale > 0:
        raise ValueError(f"work_scale and time_scale must be > 0, got {work_scale}, {time_scale}")
    scaled = []
    for _, row in read_trace_rows(Path(src)):
        row = {**row, "samples": max(1, round(int(row["samples"]) * work_scale)),
               "arrival_time_s": float(row["arrival_time_s"]) * time_scale}
        scaled.append([row[c] for c in TRACE_COLUMNS])
    return write_trace_csv(dst, scaled)


def emulation_config(classes: list[DeviceClass], trace: str | Path, round_s: float, max_rounds: int,
                     base: ClusterConfig | None = None, **overrides: Any) -> ClusterConfig:
    """The ``ClusterConfig`` both the emulator and its twin simulator use for these nodes and this trace."""
    n = len(classes)
    fields = dict(n_edges=n, n_neighbors=min(n - 1, 4), n_regions=1 if n < 4 else 2, trace_path=str(trace),
                  round_s=round_s, horizon=max_rounds, device_mix={c.name: 1.0 for c in dict.fromkeys(classes)},
                  **overrides)
    if base is not None:
        return replace(base, **fields)
    return make_config("small", **fields)


def run_loop(env: Any, policy: Any, seed: int, on_round: Any = None) -> dict[str, float]:
    """One episode of ``ArrayEnv`` ``env`` under ``policy`` until the trace is done (the evaluate loop)."""
    sim = env.base.sim
    obs, mask = env.reset(seed=seed)
    policy.reset()
    total = 0.0
    while True:
        if on_round is not None:
            on_round(sim.round)
        prefs = policy.preferences(obs, mask)
        out = env.step(np.argmax(prefs, axis=1), prefs if env.shielded else None)
        total += float(out.rewards.mean())
        obs, mask = out.obs, out.mask
        if out.done or (sim.config.trace_path is not None and trace_done(sim)):
            return {"episode_return": total, **env.metrics()}


def emulate(
    policy: str | Path,
    shield: str = "none",
    trace: str | Path = "",
    local_nodes: str | list[DeviceClass] | None = None,
    address: str | None = None,
    node_classes: str | list[DeviceClass] | None = None,
    work_scale: float = 1.0,
    time_scale: float = 1.0,
    round_s: float = 2.0,
    max_rounds: int = 500,
    seed: int = 0,
    kill_node: tuple[int, int] | None = None,
    memory_budget: float | None = None,
    emulate_speed: float | None = None,
    backend: Backend | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Emulate ``trace`` on real nodes under ``policy`` (a heuristic name or a run directory) and ``shield``.

    Nodes: ``local_nodes`` (a spec, see ``emulation.nodes``, or classes) starts a local Ray cluster;
    ``address`` joins an existing one whose edge ``i`` holds resource ``edge_<i>`` and whose classes
    ``node_classes`` gives. ``kill_node=(edge, round)`` kills that local node at the start of that round.
    ``memory_budget`` (bytes per node; default: each class's ``memory_bytes``) is the resident memory of a
    node's workers above which its newest task is killed. ``emulate_speed``: this host's single-thread
    worker FLOP/s (``emulation.compare.measure_host_flops``); if given, each local node's workers share a
    CPU quota that makes the node as fast as its class (``emulation.nodes.node_quotas``). ``backend``
    replaces Ray (tests). ``overrides`` are ``ClusterConfig`` fields.
    """
    from agents.common.array_env import ArrayEnv, make_parallel_env
    from agents.harness.policies import load_policy

    if (local_nodes is None) == (address is None):
        raise ValueError("give exactly one of local_nodes (a spec such as 'raspberry_pi4x3') or address")
    spec = local_nodes if address is None else node_classes
    if spec is None:
        raise ValueError("with address, node_classes names each edge's device class (same syntax as local_nodes)")
    classes = parse_node_spec(spec) if isinstance(spec, str) else list(spec)
    if not round_s > 0 or max_rounds < 1:
        raise ValueError(f"round_s must be > 0 and max_rounds >= 1, got {round_s}, {max_rounds}")
    pol, meta = load_policy(policy, "cpu", seed)
    if meta["env_kind"] == "centralized":
        raise ValueError(f"{meta['name']} is a CRL (cluster-head) policy; the emulator drives parallel-env policies")
    with tempfile.TemporaryDirectory() as tmp:
        scaled = scale_trace(trace, Path(tmp) / "trace.csv", work_scale, time_scale)
        cfg = emulation_config(classes, scaled, round_s, max_rounds, **overrides)
        if backend is None:
            from emulation.ray_backend import RayBackend

            quotas = None if emulate_speed is None or address is not None else node_quotas(classes, emulate_speed)
            backend = RayBackend(classes, address=address, seed=seed, quotas=quotas)
        with backend:
            env = ArrayEnv(make_parallel_env(cfg, shield, simulator=lambda c: emulated_cluster(c, classes, backend,
                                                                                              memory_budget)))

            def on_round(r: int) -> None:
                if kill_node is not None and r == kill_node[1]:
                    backend.kill_node(kill_node[0])

            row = run_loop(env, pol, seed, on_round)
    extra = {"nodes": ",".join(c.name for c in classes), "work_scale": work_scale, "round_s": round_s,
             "oversubscribed_host": bool(getattr(backend, "oversubscribed_host", False)),
             "speed_emulated": emulate_speed is not None and address is None,
             "speed_unreachable": " ".join(speed_unreachable(classes, emulate_speed)) if emulate_speed else ""}
    return {"policy": meta["name"], "shield": shield, "scenario": "emulation", "episodes": 1, "seed": seed,
            **row, **extra, "rows": [{"episode": 0, "seed": seed, **row}]}
