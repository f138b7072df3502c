"""The Ray side of the emulator: edge nodes, per-node reporters, parameter averagers, workers, faults.

Nodes. Edge ``i`` is the Ray node holding the custom resource ``edge_<i>`` (and the label
``srole.edge=<i>``, ``srole.device=<class>`` on a local cluster). ``start_local_cluster`` starts one
node per edge with ``ray.cluster_utils.Cluster`` (the class's cores as ``num_cpus``, its memory as
``memory``); on a real cluster each machine joins with
``ray start --address=HEAD:6379 --resources='{"edge_3": 1}'``.

Placement. Every actor and worker of edge ``i`` is pinned with ``NodeAffinitySchedulingStrategy(node,
soft=False)``. Workers ask for 0 CPUs: Ray must not queue a worker the scheduler placed (that would hide
an overload); instead each worker pins itself to its node's CPU set (``emulation.nodes.cpu_sets``) with
one torch thread, so more workers than the node's cores share those cores, as on the device.

Device speed. On one host every node computes at the host's speed. With ``quotas`` (host CPUs per node,
from ``emulation.nodes.node_quotas``) a node's workers are not pinned; they share the node's
``CpuQuota``, held by its reporter, as a container's ``--cpus`` limit: a node is as fast as its class and
its workers share it, and nodes whose quotas sum to less than the host's CPUs do not slow each other.

Reporter. A ``NodeReporter`` actor per node receives each worker's iteration count (and the CPU seconds
of that iteration) every iteration, answers with the wall time the worker may resume when the node has
a quota, and reads its workers' resident memory from ``/proc/<pid>/status`` (Linux) when the scheduler
asks for a snapshot.

Synchronisation. Workers of a multi-worker job average their parameters after every iteration through an
averager actor on the scheduler's node (the object store carries the vectors): each worker sends its
vector and gets back the mean of the latest vector of every worker of its job. One actor serves all
jobs (one process less per job on a small host; it serialises the averaging, a bottleneck at scale). We chose this
over ``torch.distributed`` gloo because the scheduler places a job's workers one at a time, in different
rounds, and may kill or re-queue any of them: a gloo process group needs every rank present for each
all-reduce, so one held or killed worker would block its siblings, while the averager lets workers
progress asynchronously, which is also the simulator's model.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from emulation.cluster import TaskStatus, TaskWork
from emulation.nodes import CpuQuota, cpu_sets
from emulation.worker import train_worker
from srole_env.profiles import DeviceClass

try:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError:  # pragma: no cover - the emulator is optional
    ray = None

HEAD_RESOURCE = "srole_head"


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def require_ray() -> None:
    if ray is None:
        raise ValueError("emulation needs ray: pip install 'ray>=2.60,<2.61'")


def _rss_bytes(pid: int) -> float:
    """Resident memory of process ``pid`` in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (float(fields[11]) + float(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class _Reporter:
    """Per-node actor body: iteration counts and pids of the node's workers, and the node's CPU quota."""

    def __init__(self, quota_cpus: float | None = None, cores: int = 1) -> None:
        self.quota = None if quota_cpus is None else CpuQuota(quota_cpus, cores)
        self.iters: dict[int, int] = {}
        self.pids: dict[int, int] = {}
        self.started: dict[int, float] = {}
        self.cpu0: dict[int, float] = {}

    def start(self, tid: int, pid: int, wall: float) -> None:
        self.iters[tid] = 0
        self.pids[tid] = pid
        self.started[tid] = wall
        self.cpu0[tid] = _cpu_seconds(pid)  # a pooled worker process has history: count from here

    def report(self, tid: int, iters: int, pid: int, cpu_s: float = 0.0, started: float = 0.0) -> float | None:
        """Record iteration ``iters`` of task ``tid`` (``cpu_s`` CPU seconds, begun at wall time ``started``);
        with a quota, the wall time its worker may resume."""
        self.iters[tid] = iters
        self.pids[tid] = pid
        return None if self.quota is None else self.quota.charge(cpu_s, started, tid)

    def forget(self, tid: int) -> None:
        if self.quota is not None:
            self.quota.forget(tid)
        self.iters.pop(tid, None)
        self.pids.pop(tid, None)
        self.started.pop(tid, None)
        self.cpu0.pop(tid, None)

    def clear(self) -> None:
        if self.quota is not None:
            self.quota.reset()
        self.iters.clear()
        self.pids.clear()
        self.started.clear()
        self.cpu0.clear()

    def snapshot(self) -> dict[int, tuple[int, float, float | None, float]]:
        return {tid: (n, _rss_bytes(self.pids[tid]), self.started.get(tid),
                      max(_cpu_seconds(self.pids[tid]) - self.cpu0.get(tid, 0.0), 0.0))
                for tid, n in self.iters.items()}


class _Averager:
    """Actor body on the scheduler's node: per job, the mean of the latest parameter vector of each worker."""

    def __init__(self) -> None:
        self.latest: dict[int, dict[int, np.ndarray]] = {}

    def average(self, job: int, worker: int, flat: np.ndarray) -> np.ndarray:
        vectors = self.latest.setdefault(job, {})
        vectors[worker] = flat
        return np.mean(np.stack(list(vectors.values())), axis=0)

    def leave(self, job: int, worker: int) -> None:
        vectors = self.latest.get(job, {})
        vectors.pop(worker, None)
        if not vectors:
            self.latest.pop(job, None)

    def clear(self) -> None:
        self.latest.clear()


def _run_worker(work: TaskWork, reporter: Any, averager: Any, cpu_set: list[int], seed: int,
                throttled: bool = False) -> float:
    pid = os.getpid()
    reporter.start.remote(work.tid, pid, time.time())
    if throttled:  # wait for the node's quota to say when to go on
        report = lambda i, c, t: ray.get(reporter.report.remote(work.tid, i, pid, c, t))  # noqa: E731
    else:  # fire and forget
        report = lambda i, c, t: reporter.report.remote(work.tid, i, pid, c, t) and None  # noqa: E731
    sync = None if averager is None else (lambda flat: ray.get(averager.average.remote(work.job, work.tid, flat)))
    try:
        return train_worker(work.model, work.batch, work.iters, report, sync, cpu_set, seed)
    finally:
        if averager is not None:
            averager.leave.remote(work.job, work.tid)


def _warm(hold_s: float = 0.0) -> int:
    """Import torch and the model definitions in a pooled worker process (held ``hold_s`` so that tasks
    launched together land in different processes and the pool grows)."""
    import torch  # noqa: F401 - imported so pooled worker processes start warm

    import emulation.models  # noqa: F401 - the networks, imported once per pooled process
    time.sleep(hold_s)
    return os.getpid()


WARM_WORKERS_EXTRA = 1
"""Warm worker processes per node beyond its cores, so a node's first overload does not wait for a cold
process start (importing torch takes seconds on a small host, which no scheduler would pay per task:
a deployment keeps a pool, as Ray does)."""


def start_local_cluster(classes: list[DeviceClass], memory_scale: float = 1.0) -> Any:
    """A ``ray.cluster_utils.Cluster`` with a CPU-less head and one node per edge (see module docstring)."""
    require_ray()
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "resources": {HEAD_RESOURCE: 1.0},
        "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 4,
                           # keep the warm pool (below) alive for the run rather than 1 s after a task
                           "num_workers_soft_limit": max(c.cores for c in classes) + WARM_WORKERS_EXTRA,
                           "idle_worker_killing_time_threshold_ms": 3_600_000},
    })
    try:
        for i, c in enumerate(classes):
            cluster.add_node(num_cpus=c.cores, memory=int(c.memory_bytes * memory_scale),
                             resources={f"edge_{i}": 1.0}, labels={"srole.edge": str(i), "srole.device": c.name})
        cluster.wait_for_nodes()
    except BaseException:
        cluster.shutdown()
        raise
    return cluster


class RayBackend:
    """``emulation.cluster.Backend`` on a Ray cluster: a local one it starts, or one at ``address``.

    Use as a context manager: leaving it (normally, on an error or on Ctrl-C) kills the workers and shuts
    a local cluster down.
    """

    def __init__(self, classes: list[DeviceClass], address: str | None = None, seed: int = 0,
                 host_cores: list[int] | None = None, quotas: list[float] | None = None):
        require_ray()
        if quotas is not None and (len(quotas) != len(classes) or not all(q > 0 for q in quotas)):
            raise ValueError(f"quotas: expected {len(classes)} CPU quotas > 0, got {quotas}")
        self.quotas = None if quotas is None else [float(q) for q in quotas]
        self.classes = classes
        self.address = address
        self.seed = seed
        self.cluster = None
        host = len(os.sched_getaffinity(0) if host_cores is None else host_cores)
        if address is not None or quotas is not None:  # real machines, or quota-limited nodes: no pinning
            self.cpu_sets = [[] for _ in classes]
        else:
            self.cpu_sets = cpu_sets([c.cores for c in classes], host_cores)
        demand = sum(self.quotas) if self.quotas is not None else sum(c.cores for c in classes)
        self.oversubscribed_host = address is None and demand > host
        self.offered_cpus = self.quotas if self.quotas is not None else [float(c.cores) for c in classes]
        self._refs: dict[int, Any] = {}
        self._node_of: dict[int, int] = {}
        self._dead: set[int] = set()
        self._last: dict[int, TaskStatus] = {}

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> RayBackend:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        if threading.current_thread() is threading.main_thread():  # SIGTERM also shuts the cluster down
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
        if self.address is None:
            root = str(Path(__file__).resolve().parents[1])  # node processes inherit it: workers import emulation
            paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            os.environ["PYTHONPATH"] = os.pathsep.join([root, *[p for p in paths if p != root]])
            self.cluster = start_local_cluster(self.classes)
            ray.init(address=self.cluster.address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=self.address, log_to_driver=False)
        self.node_ids = self._find_nodes()
        self.head_id = ray.get_runtime_context().get_node_id()
        reporter_cls = ray.remote(num_cpus=0)(_Reporter)
        n = len(self.classes)
        quotas = self.quotas or [None] * n
        self.reporters = [reporter_cls.options(scheduling_strategy=self._on(i)).remote(quotas[i], self.classes[i].cores)
                          for i in range(n)]
        self._remote_worker = ray.remote(num_cpus=0, max_retries=0)(_run_worker)
        head = NodeAffinitySchedulingStrategy(self.head_id, soft=False)
        self.averager = ray.remote(num_cpus=0)(_Averager).options(scheduling_strategy=head).remote()
        self.warm_pool()
        ray.get([r.snapshot.remote() for r in self.reporters] + [self.averager.clear.remote()])

    def warm_pool(self) -> None:
        """Start (or restart, after force-cancelled workers) each node's warm worker processes."""
        warm = ray.remote(num_cpus=0)(_warm)
        ray.get([warm.options(scheduling_strategy=self._on(i)).remote(1.0)
                 for i, c in enumerate(self.classes) if i not in self._dead
                 for _ in range(c.cores + WARM_WORKERS_EXTRA)])

    def clear_tasks(self) -> None:
        """Cancel every running worker and forget all tasks (between runs on one cluster)."""
        for ref in self._refs.values():
            ray.cancel(ref, force=True)
        for i, reporter in enumerate(self.reporters):
            if i not in self._dead:
                reporter.clear.remote()
        self._refs.clear()
        self._node_of.clear()
        self._last.clear()
        self.averager.clear.remote()

    def close(self) -> None:
        try:
            for ref in self._refs.values():
                ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001 - best effort while shutting down
            pass
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        if self.cluster is not None:
            self.cluster.shutdown()
            self.cluster = None
        if getattr(self, "_old_sigterm", None) is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    def _find_nodes(self) -> list[str]:
        """Ray node id of each edge, by its ``edge_<i>`` resource."""
        ids: dict[int, str] = {}
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            for key in node.get("Resources", {}):
                if key.startswith("edge_") and key[5:].isdigit():
                    ids[int(key[5:])] = node["NodeID"]
        missing = [i for i in range(len(self.classes)) if i not in ids]
        if missing:
            raise ValueError(f"no live Ray node holds resource(s) {[f'edge_{i}' for i in missing]}; start each "
                             "edge with ray start --resources='{\"edge_<i>\": 1}'")
        return [ids[i] for i in range(len(self.classes))]

    def _on(self, node: int) -> Any:
        return NodeAffinitySchedulingStrategy(self.node_ids[node], soft=False)

    # ------------------------------------------------------------------ Backend protocol
    def now(self) -> float:
        return time.time()

    def sleep_until(self, t: float) -> None:
        time.sleep(max(0.0, t - time.time()))

    def launch(self, node: int, work: TaskWork) -> None:
        averager = self.averager if work.n_tasks > 1 else None
        ref = self._remote_worker.options(scheduling_strategy=self._on(node)).remote(
            work, self.reporters[node], averager, self.cpu_sets[node], self.seed * 1_000_003 + work.tid,
            self.quotas is not None)
        self._refs[work.tid] = ref
        self._node_of[work.tid] = node
        self._last[work.tid] = TaskStatus()

    def poll(self) -> dict[int, TaskStatus]:
        live = [i for i in range(len(self.classes)) if i not in self._dead]
        snaps = {i: self.reporters[i].snapshot.remote() for i in live}
        ready, _ = ray.wait(list(snaps.values()), num_returns=len(snaps), timeout=5.0)
        ready_set = set(ready)
        for i, ref in snaps.items():
            if ref not in ready_set:
                continue
            try:
                snap = ray.get(ref)
            except Exception:  # noqa: BLE001 - the reporter's node died
                self._dead.add(i)
                continue
            for tid, (iters, rss, started, cpu) in snap.items():
                if tid in self._last:
                    self._last[tid].iters_done = float(iters)
                    self._last[tid].rss_bytes = rss
                    self._last[tid].started_at = started
                    self._last[tid].cpu_s = cpu
        refs = list(self._refs.values())
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0) if refs else ([], [])
        done_set = set(done)
        for tid, ref in list(self._refs.items()):
            if ref not in done_set:
                continue
            try:
                self._last[tid].finished_at = float(ray.get(ref))
            except Exception as err:  # noqa: BLE001 - worker or node died
                if self._node_of[tid] not in self._dead:
                    self._last[tid].failed = f"{type(err).__name__}: {err}"[:200]
        self._check_nodes()
        return dict(self._last)

    def _check_nodes(self) -> None:
        alive = {n["NodeID"]: n.get("Alive", False) for n in ray.nodes()}
        for i, nid in enumerate(self.node_ids):
            if not alive.get(nid, False):
                self._dead.add(i)

    def kill(self, tid: int) -> None:
        ref = self._refs.get(tid)
        if ref is not None:
            ray.cancel(ref, force=True)

    def forget(self, tid: int) -> None:
        self._refs.pop(tid, None)
        self._last.pop(tid, None)
        node = self._node_of.pop(tid, None)
        if node is not None and node not in self._dead:
            self.reporters[node].forget.remote(tid)

    def dead_nodes(self) -> set[int]:
        return set(self._dead)

    def kill_node(self, node: int) -> None:
        """Fault injection on a local cluster: kill edge ``node``'s raylet and everything on it."""
        if self.cluster is None:
            raise ValueError("kill_node: only a local cluster's nodes can be killed by the emulator")
        target = self.node_ids[node]
        for handle in list(self.cluster.worker_nodes):
            if handle.node_id == target:
                self.cluster.remove_node(handle, allow_graceful=False)
                self._dead.add(node)
                return
        raise ValueError(f"kill_node: edge {node} has no node in the local cluster")
