"""``EmulatedCluster``: the simulator's state and decision round, with the *run* phase done by real workers.

Design. The scheduler side of SROLE (observations, action masks, shields, collision and overload
counting, metrics) reads only the simulator's task/job tables and topology: ``observe()``,
``action_mask()``, ``committed()``, ``pending_heads()``, ``metrics()``. The simulator asks its physics
(``srole_env.core.physics``) what happens to placed work; ``EmulatedCluster`` is such a physics. It lays out
the named nodes (``FixedNodes``), kills nothing on declared memory, and its ``run`` phase

1. launches a real worker on its node for every task placed this round,
2. waits until the round's wall-clock deadline (``round_s`` is real seconds),
3. reads the real state from the backend: iterations done per task, finished tasks with their wall
   finishing time, memory of each node's workers, dead nodes,
4. writes it back into the tables (``iters_left``; finished tasks through ``ClusterSimulator.retire``), and
   enforces the two rules of a real edge: a node whose workers' resident memory passes its budget kills its
   newest task (an OOM kill, as on devices without swap), and a dead node's tasks go back to their origins'
   queues.

So the same ``EdgeClusterEnv`` (and any shield wrapping it) runs on top: ``EdgeClusterEnv(config,
simulator=lambda c: emulated_cluster(c, classes, backend))``, and the placement/collision/overload code of
``ClusterSimulator.step`` is shared, not rewritten. A collision or overload is counted exactly as in the
simulator (on committed load); its *cost* is physical: more single-thread workers than the node's CPU set
slows them all down.

Nothing in this module imports Ray. The backend (``Backend`` protocol; ``emulation.ray_backend`` is the
real one) does the launching, polling and killing, so the bookkeeping is testable without a cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from srole_env.config import ClusterConfig
from srole_env.core.physics import SimulatedPhysics
from srole_env.core.simulator import ClusterSimulator
from srole_env.core.topology import Topology, topology_from_devices
from srole_env.core.workload import JobBatch
from srole_env.profiles import DeviceClass


@dataclass(frozen=True)
class TaskWork:
    """What one real worker runs: ``iters`` iterations of ``model`` at ``batch``, one of its job's ``n_tasks``."""

    tid: int
    job: int
    n_tasks: int
    model: str
    batch: int
    iters: int


@dataclass
class TaskStatus:
    """A launched task as the backend last saw it."""

    iters_done: float = 0.0
    finished_at: float | None = None  # wall time (backend clock) the worker finished
    rss_bytes: float = 0.0
    failed: str | None = None  # error text if the worker died for another reason than our kill
    started_at: float | None = None  # wall time the worker process began (after Ray dispatched it)
    cpu_s: float = 0.0  # CPU seconds the worker has used since it started


class Backend(Protocol):
    """What the emulator needs from a cluster engine (see ``emulation.ray_backend.RayBackend``)."""

    def now(self) -> float: ...

    def sleep_until(self, t: float) -> None: ...

    def launch(self, node: int, work: TaskWork) -> None: ...

    def poll(self) -> dict[int, TaskStatus]: ...

    def kill(self, tid: int) -> None: ...

    def forget(self, tid: int) -> None: ...

    def dead_nodes(self) -> set[int]: ...


EXTRA_METRICS = ("oom_kills", "work_lost_s", "nodes_lost", "tasks_requeued", "placement_failures",
                 "worker_failures", "max_round_lag_s", "mean_start_delay_s", "measured_cpu_utilization", "wall_s")
"""Figures the emulator adds to ``ClusterSimulator.metrics()``."""


class FixedNodes(SimulatedPhysics):
    """The simulator's physics on named nodes: edge ``i`` is of class ``classes[i]`` (positions still drawn), so
    a simulated run and an emulated run of the same nodes and trace can be compared. ``classes`` may hold
    classes that are not in ``devices.csv`` (e.g. ``emulation.nodes.host_class`` of a calibrated host)."""

    def __init__(self, classes: list[DeviceClass]):
        self.classes = list(classes)

    def build_topology(self, sim: ClusterSimulator, rng: np.random.Generator) -> Topology:
        """Edge ``i`` of class ``classes[i]``, at a position drawn from ``rng``."""
        if len(self.classes) != sim.n_edges:
            raise ValueError(f"config.n_edges = {sim.n_edges} but {len(self.classes)} node classes were given")
        uniq = list(dict.fromkeys(self.classes))
        index = np.array([uniq.index(c) for c in self.classes])
        positions = rng.uniform(0.0, sim.config.area_m, size=(sim.n_edges, 2))
        return topology_from_devices(sim.config, uniq, index, positions)


def fixed_nodes_simulator(config: ClusterConfig, classes: list[DeviceClass]) -> ClusterSimulator:
    """The simulator on named nodes ``classes`` (``FixedNodes``)."""
    if len(classes) != config.n_edges:
        raise ValueError(f"config.n_edges = {config.n_edges} but {len(classes)} node classes were given")
    return ClusterSimulator(config, FixedNodes(classes))


def emulated_cluster(config: ClusterConfig, classes: list[DeviceClass], backend: Backend,
                     memory_budget: np.ndarray | None = None) -> ClusterSimulator:
    """A simulator whose placed tasks run as real workers on ``backend`` (``EmulatedCluster``)."""
    return ClusterSimulator(config, EmulatedCluster(config, classes, backend, memory_budget))


def trace_done(sim: ClusterSimulator) -> bool:
    """A trace workload: every job of the trace has arrived and finished (the tables hold open jobs only)."""
    return sim.workload.last_arrival_s <= sim.time and sim.jobs.size == 0


class EmulatedCluster(FixedNodes):
    """The physics of a cluster whose placed tasks run as real workers on ``backend`` (see module docstring).

    ``classes[i]`` is the device class of edge ``i`` (its cores, memory budget and nominal speed, which
    the observations show). ``memory_budget`` [N] bytes (default: each class's ``memory_bytes``) is the
    resident memory a node's workers may hold before its newest task is killed.
    """

    def __init__(self, config: ClusterConfig, classes: list[DeviceClass], backend: Backend,
                 memory_budget: np.ndarray | None = None):
        if config.trace_path is None:
            raise ValueError("emulation replays a job trace: set config.trace_path")
        super().__init__(classes)
        self.backend = backend
        budget = np.array([c.memory_bytes for c in classes], float) if memory_budget is None else memory_budget
        self.memory_budget = np.broadcast_to(np.asarray(budget, float), (config.n_edges,)).copy()

    def reset(self, sim: ClusterSimulator) -> None:
        """Start the episode: the wall clock's zero is now."""
        self.cluster = sim
        self._launched: dict[int, tuple[int, float, float]] = {}  # tid -> (node, iters at launch, launch time)
        self._dead: set[int] = set()
        self._extra = dict.fromkeys(EXTRA_METRICS, 0.0)
        self._decision_s = 0.0
        self._started: set[int] = set()
        self._start_delays: list[float] = []
        self._cpu_seen: dict[int, float] = {}  # tid -> CPU seconds at the last poll
        self._cpu_used = 0.0  # worker CPU seconds measured over the episode
        self._core_s = 0.0  # node-core seconds offered over the episode
        self._job_model: list[str] = []
        self._job_batch: list[int] = []
        self.epoch = self.backend.now()
        self._round_wall = self.epoch

    # ------------------------------------------------------------------ the run phase, for real
    def oom_kill(self, sim: ClusterSimulator, mem: np.ndarray) -> tuple[int, float, None]:
        """No kills from declared memory: the emulator kills on the workers' measured memory (``_enforce_memory``)."""
        return 0, 0.0, None

    def run(self, sim: ClusterSimulator, dt: float, mem: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """Launch the round's placed tasks on the backend, wait out the round, read back what they did."""
        tasks, backend = sim.tasks, self.backend
        start = backend.now()
        new_rows = self._launch_new()
        self._decision_s += (start - self._round_wall) * len(new_rows)  # charged to each task placed
        deadline = self.epoch + self.cluster.time + dt
        backend.sleep_until(deadline)
        now = backend.now()
        self._extra["max_round_lag_s"] = max(self._extra["max_round_lag_s"], now - deadline)
        status = backend.poll()
        self._requeue_dead_nodes(backend.dead_nodes())
        self._enforce_memory(status, now)

        progress = np.zeros(self.cluster.n_edges)
        self._account_cpu(status, dt)
        finished_rows, finish_at = [], []
        for row in (tasks.edge >= 0).nonzero()[0]:
            tid = int(tasks.tid[row])
            if tid not in self._launched:
                continue
            st = status.get(tid)
            if st is None:
                continue
            node, iters0, t_launch = self._launched[tid]
            if st.failed is not None:
                self._requeue(row, restart=False)
                self._extra["worker_failures"] += 1
                continue
            left = max(iters0 - st.iters_done, 0.0) if st.finished_at is None else 0.0
            progress[tasks.origin[row]] += (tasks.iters_left[row] - left) * tasks.weight[row]
            tasks.set(row, iters_left=left)
            if st.started_at is not None and tid not in self._started:
                self._started.add(tid)
                self._start_delays.append(st.started_at - t_launch)
            if st.finished_at is not None:
                finished_rows.append(row)
                finish_at.append(st.finished_at - self.epoch)
        n_done, jcts = self._finish(np.array(finished_rows, dtype=np.int64), np.array(finish_at, float))
        self._round_wall = backend.now()
        return progress, n_done, jcts

    def _account_cpu(self, status: dict[int, TaskStatus], dt: float) -> None:
        """Add this round's measured worker CPU seconds and the live nodes' core-seconds."""
        for tid in self._launched:
            st = status.get(tid)
            if st is None:
                continue
            self._cpu_used += max(st.cpu_s - self._cpu_seen.get(tid, 0.0), 0.0)
            self._cpu_seen[tid] = max(st.cpu_s, self._cpu_seen.get(tid, 0.0))
        alive = np.ones(self.cluster.n_edges, dtype=bool)
        alive[list(self._dead)] = False
        offered = getattr(self.backend, "offered_cpus", None)  # a node's quota, when it has one
        cpus = self.cluster.topology.cores if offered is None else np.asarray(offered, float)
        self._core_s += dt * float(cpus[alive].sum())

    def _launch_new(self) -> np.ndarray:
        """Start a worker for every placed task not yet running; a task placed on a dead node re-queues."""
        tasks = self.cluster.tasks
        placed = (tasks.edge >= 0).nonzero()[0]
        new = placed[~np.isin(tasks.tid[placed], np.fromiter(self._launched, np.int64, len(self._launched)))]
        now = self.backend.now()
        for row in new:
            node = int(tasks.edge[row])
            if node in self._dead:
                self._requeue(row, restart=False)
                self._extra["placement_failures"] += 1
                continue
            job = int(tasks.job[row])
            work = TaskWork(tid=int(tasks.tid[row]), job=job, n_tasks=int(tasks.job_tasks[row]),
                            model=self._job_model[job], batch=int(self._job_batch[job]),
                            iters=int(math.ceil(tasks.iters_left[row])))
            self.backend.launch(node, work)
            self._launched[work.tid] = (node, float(tasks.iters_left[row]), now)
        return new

    def jobs_added(self, sim: ClusterSimulator, ids: np.ndarray, batch: JobBatch) -> None:
        """Remember each new job's model and batch size (what its workers train), by job id."""
        self._job_model += [sim.model_names[m] for m in batch.model]
        self._job_batch += [int(b) for b in batch.batch]

    def _requeue(self, row: int, restart: bool) -> None:
        """Send task ``row`` back to its origin's queue (from zero if ``restart``: no checkpoint)."""
        tasks = self.cluster.tasks
        tid = int(tasks.tid[row])
        if tid in self._launched:
            del self._launched[tid]
            self.backend.forget(tid)
        self._started.discard(tid)  # its next launch has its own start delay
        self._cpu_seen.pop(tid, None)
        tasks.set(row, edge=-1, cand=-1, delay_left=0.0)
        if restart:
            tasks.set(row, iters_left=tasks.iters_total[row])
        self._extra["tasks_requeued"] += 1

    def _requeue_dead_nodes(self, dead: set[int]) -> None:
        for node in sorted(dead - self._dead):
            self._dead.add(node)
            self._extra["nodes_lost"] += 1
            for row in np.flatnonzero(self.cluster.tasks.edge == node):
                self._requeue(int(row), restart=False)  # keeps the iterations its origin heard of
        if self._dead:  # a dead node fits nothing: masks and shields steer around it
            dead_idx = np.fromiter(self._dead, np.int64)
            self.cluster.slot_limit[dead_idx] = -1.0
            self.cluster.mem_limit[dead_idx] = -1.0

    def _enforce_memory(self, status: dict[int, TaskStatus], now: float) -> None:
        """OOM rule: while a node's workers hold more resident memory than its budget, kill its newest task."""
        by_node: dict[int, list[tuple[float, int, float]]] = {}
        for tid, (node, _, t_launch) in self._launched.items():
            st = status.get(tid)
            if st is not None and st.finished_at is None:
                by_node.setdefault(node, []).append((t_launch, tid, st.rss_bytes))
        for node, items in by_node.items():
            used = sum(r for _, _, r in items)
            for t_launch, tid, rss in sorted(items, reverse=True):
                if used <= self.memory_budget[node]:
                    break
                self.backend.kill(tid)
                row = int(np.flatnonzero(self.cluster.tasks.tid == tid)[0])
                self._requeue(row, restart=True)
                self._extra["oom_kills"] += 1
                self._extra["work_lost_s"] += now - t_launch
                used -= rss

    def _finish(self, rows: np.ndarray, finish_at: np.ndarray) -> tuple[int, np.ndarray]:
        """Retire finished task rows: forget their workers, then the simulator's job bookkeeping (``_retire``)."""
        if len(rows) == 0:
            return 0, np.empty(0)
        for tid in self.cluster.tasks.tid[rows]:
            self._launched.pop(int(tid), None)
            self.backend.forget(int(tid))
        return self.cluster.retire(rows, finish_at)

    # ------------------------------------------------------------------ episode end and figures
    def metrics(self, sim: ClusterSimulator, figures: dict[str, float]) -> dict[str, float]:
        """The simulator's figures, with the measured decision latency and the emulator's own (``EXTRA_METRICS``).

        ``scheduling_overhead_s`` is the wall time from a round's state read to its placements (observe,
        policy, shield), charged to every task placed in that round, as the simulator charges its model.
        """
        out = figures
        placed = out["tasks_placed"]
        out["scheduling_overhead_s"] = self._decision_s
        out["mean_decision_latency_s"] = self._decision_s / placed if placed else 0.0
        out.update({k: v if k.endswith("_s") else int(v) for k, v in self._extra.items()})
        out["mean_start_delay_s"] = float(np.mean(self._start_delays)) if self._start_delays else math.nan
        out["measured_cpu_utilization"] = self._cpu_used / self._core_s if self._core_s else 0.0
        out["wall_s"] = self.backend.now() - self.epoch
        return out
