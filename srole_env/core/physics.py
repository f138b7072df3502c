"""How the cluster is laid out and how placed work runs: the simulator's seam.

``ClusterSimulator`` owns the state and the round's bookkeeping (placing, counting, rewarding, the ledger). What
happens to placed work is asked of a ``Physics`` handed to it (``ClusterSimulator(config, physics=...)``):

* ``build_topology(sim, rng)``: the episode's cluster (drawn from the config by default);
* ``oom_kill(sim, mem)``: the OOM phase, after the round's placements (declared memory, ``oom_victim`` order);
* ``run(sim, dt, mem)``: the run phase, ``dt`` seconds of processor sharing under the cost model
  (``srole_env.core.contention``, ring all-reduce, checkpoints); it retires finished tasks through
  ``sim.retire``;
* ``reset(sim)``, ``jobs_added(sim, ids, batch)`` and ``metrics(sim, figures)``: hooks at an episode's start,
  when jobs arrive and when figures are read.

``SimulatedPhysics`` is the simulator's own model; the emulator (``emulation.cluster``) subclasses it to lay
out named nodes and to run placed tasks as real workers. A physics changes the tables only through their
public writes (``Table.set``) and the simulator's ``retire``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from srole_env.core.contention import worker_flops
from srole_env.core.store import runs
from srole_env.core.topology import Topology, build_topology
from srole_env.core.workload import JobBatch

ClusterSimulator = Any
"""A ``srole_env.core.simulator.ClusterSimulator`` (named, not imported: the simulator imports this module)."""


class SimulatedPhysics:
    """The simulator's own layout and cost model (see module docstring); subclass it to change a phase."""

    def build_topology(self, sim: ClusterSimulator, rng: np.random.Generator) -> Topology:
        """The episode's cluster, drawn from ``sim.config`` with ``rng``."""
        return build_topology(sim.config, rng)

    def reset(self, sim: ClusterSimulator) -> None:
        """Called when an episode starts, after the layout is built and before the first jobs arrive."""

    def jobs_added(self, sim: ClusterSimulator, ids: np.ndarray, batch: JobBatch) -> None:
        """Called after jobs ``ids`` [J] of ``batch`` joined the tables."""

    def metrics(self, sim: ClusterSimulator, figures: dict[str, float]) -> dict[str, float]:
        """The episode's ``figures`` as ``sim.metrics()`` returns them (a physics may add its own)."""
        return figures

    def oom_kill(self, sim: ClusterSimulator, mem: np.ndarray) -> tuple[int, float, np.ndarray | None]:
        """Kill tasks (in ``oom_victim`` order) on every edge whose committed memory ``mem`` [N] passes its usable one.

        Killed tasks roll back to their last checkpoint and are pending again at their origin. Returns the
        number of kills, the compute seconds lost and the progress undone per origin [N] (job fractions).
        """
        topo, tasks = sim.topology, sim.tasks
        excess = mem - topo.memory
        t_edge = tasks.edge
        on = ((t_edge >= 0) & (excess[t_edge] > 0)).nonzero()[0]
        edge, task_mem = t_edge[on], tasks.mem[on]
        keys = (-tasks.placed_seq[on], edge)  # per edge, newest first
        if sim.config.oom_victim == "largest":  # largest first, ties to the newest
            keys = (-tasks.placed_seq[on], -task_mem, edge)
        order = np.lexsort(keys)
        rows, edge, task_mem = on[order], edge[order], task_mem[order]
        before = sim.cumsum_by_episode(task_mem, edge) - task_mem  # memory freed by the kills ahead of each row
        starts, counts = runs(edge)
        before -= np.repeat(before[starts], counts)
        dead = rows[before < excess[edge]]
        run_s, ckpt_run_s = tasks.run_s[dead], tasks.ckpt_run_s[dead]
        ckpt_iters = tasks.ckpt_iters_left[dead]
        undone = np.bincount(tasks.origin[dead], weights=(ckpt_iters - tasks.iters_left[dead]) * tasks.weight[dead],
                             minlength=sim.n_edges)
        tasks.set(dead, iters_left=ckpt_iters, run_s=ckpt_run_s, edge=-1, cand=-1, delay_left=0.0)
        return (*sim.count_kills(dead, run_s - ckpt_run_s), undone)

    def run(self, sim: ClusterSimulator, dt: float, mem: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """Advance placed tasks by ``dt``; returns progress per origin [N], jobs finished, their JCTs."""
        cfg, topo, tasks = sim.config, sim.topology, sim.tasks
        n = sim.n_edges
        placed = (tasks.edge >= 0).nonzero()[0]
        if len(placed) == 0:
            return np.zeros(n), 0, np.empty(0)
        edge = tasks.edge[placed]
        delay = tasks.delay_left[placed]
        running = np.bincount(edge[delay < dt], minlength=n)  # workers computing at some point this round
        speed_edge = worker_flops(topo.flops, topo.cores, sim.units, running, cfg.oversubscription_efficiency)
        if cfg.memory_overcommit == "thrash":
            speed_edge = speed_edge * np.where(mem > topo.memory, cfg.memory_thrash_slowdown, 1.0)

        # ring all-reduce over the slowest link among each job's placed workers (rows are grouped by job)
        origin = tasks.origin[placed]
        link = origin * sim.n_candidates + tasks.cand[placed]  # flat [N, C] index: one gather per table
        bw = topo.link_bps.reshape(-1).take(link)
        lat = topo.link_latency_s.reshape(-1).take(link)
        starts, counts = runs(tasks.job[placed])
        job_bw = np.repeat(np.minimum.reduceat(bw, starts), counts)
        job_lat = np.repeat(np.maximum.reduceat(lat, starts), counts)
        k = tasks.job_tasks[placed]
        sync = np.where(np.isfinite(job_bw), tasks.sync_bits[placed] / job_bw + 2.0 * (k - 1) * job_lat, 0.0)
        iter_time = tasks.flops_iter[placed] / speed_edge[edge] + sync

        compute_time = np.clip(dt - delay, 0.0, dt)
        iters_left = tasks.iters_left[placed]
        done_iters = np.minimum(compute_time / iter_time, iters_left)
        finishing = done_iters >= iters_left
        run_old = tasks.run_s[placed]
        run_new = run_old + compute_time
        tasks.set(placed, delay_left=np.maximum(delay - dt, 0.0), iters_left=iters_left - done_iters, run_s=run_new)
        if cfg.checkpoint_interval_s is not None:  # the last checkpoint passed this round, if any
            last = np.floor(run_new / cfg.checkpoint_interval_s) * cfg.checkpoint_interval_s
            hit = last > run_old
            tasks.set(placed[hit], ckpt_run_s=last[hit],
                      ckpt_iters_left=iters_left[hit] - (last[hit] - run_old[hit]) / iter_time[hit])
        progress = np.bincount(origin, weights=done_iters * tasks.weight[placed], minlength=n)

        n_finished_jobs, jcts = 0, np.empty(0)
        if finishing.any():
            finish_at = (sim.clock(origin[finishing]) + (dt - compute_time[finishing])
                         + iters_left[finishing] * iter_time[finishing])
            n_finished_jobs, jcts = sim.retire(placed[finishing], finish_at)
        return progress, n_finished_jobs, jcts
