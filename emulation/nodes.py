"""Which device class each emulated edge node is: the ``--local-nodes`` spec and per-node CPU sets.

A spec is a comma-separated list of device-class names from ``srole_env/data/devices.csv``, each
optionally repeated with ``xK``: ``"raspberry_pi4x2,nuc_i7"`` is three nodes, edges 0 and 1 Raspberry
Pis, edge 2 a NUC. Edge ``i`` of the scheduler is node ``i`` of the cluster, in spec order.

A class can also be given as a ``DeviceClass`` object (``host_class`` builds one for this machine), so
a simulator and an emulator can be pointed at the same calibrated host profile.

Speed on one host. Every node of a local cluster computes on this host's CPUs. ``CpuQuota`` limits a
node's workers to a share of them, as a container's ``--cpus`` does: a node of ``cores`` cores at a
per-core speed below this host's gets ``cores x (its speed / the host's)`` CPUs (``node_quotas``).
"""

from __future__ import annotations

import os
import re

from srole_env.profiles import DEVICE_FIELDS, DeviceClass, device_classes

_ITEM = re.compile(r"^(?P<name>[A-Za-z0-9_]+?)(?:x(?P<count>[0-9]+))?$")


def parse_node_spec(spec: str, extra: dict[str, DeviceClass] | None = None) -> list[DeviceClass]:
    """Device class [N] of each node named by ``spec`` (see module docstring); ``extra`` adds classes by name."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"local nodes: expected a spec like 'raspberry_pi4x2,nuc_i7', got {spec!r}")
    table = {**device_classes(), **(extra or {})}
    nodes: list[DeviceClass] = []
    for item in spec.split(","):
        item = item.strip()
        match = _ITEM.match(item)
        name = item if item in table else match.group("name") if match else None
        count = 1 if item in table else int(match.group("count") or 1) if match else 0
        if name not in table or count < 1:
            raise ValueError(f"local nodes: {item!r} is not CLASS or CLASSxK with CLASS one of {sorted(table)}")
        nodes.extend([table[name]] * count)
    return nodes


def host_class(flops: float, cores: int, memory_bytes: float, name: str = "host") -> DeviceClass:
    """A device class for this machine from a measured training throughput ``flops`` (FLOP/s per device)."""
    if flops <= 0 or cores < 1 or memory_bytes <= 0:
        raise ValueError(f"host class: flops, cores and memory must be positive, got {flops}, {cores}, {memory_bytes}")
    return DeviceClass(name=name, cores=int(cores), peak_gflops_fp32=flops / 1e9, training_efficiency=1.0,
                       memory_bytes=float(memory_bytes), nic_mbps=10_000.0, accelerator="cpu")


def cpu_sets(cores: list[int], host_cores: list[int] | None = None) -> list[list[int]]:
    """Host CPU ids each node's workers are pinned to: consecutive blocks of ``cores[i]`` host CPUs.

    With enough host CPUs the blocks are disjoint, so a node really has its class's cores and an
    oversubscribed node really slows down. With fewer, blocks wrap around and nodes share CPUs (the
    caller reports ``oversubscribed_host``): contention is then physical but not per node.
    """
    host = sorted(os.sched_getaffinity(0)) if host_cores is None else list(host_cores)
    out, start = [], 0
    for c in cores:
        out.append(sorted({host[(start + j) % len(host)] for j in range(int(c))}))
        start += int(c)
    return out


class CpuQuota:
    """A node's CPU limits, as a container's ``--cpus`` (CFS bandwidth) plus one core per thread: the node's
    workers together get at most ``cpus`` host CPU-seconds per wall second, and each worker (one thread)
    at most one core's share, ``cpus / cores``.

    Token clocks: each worker reports the CPU seconds ``c`` its last iteration used and the wall time it
    began. The node's clock advances by ``c / cpus`` and the worker's own by ``c / (cpus / cores)``, each
    from no earlier than the iteration's start; the worker sleeps until the later of the two. As in CFS,
    wall time passes whether or not the worker was on a CPU: time it spent waiting for a busy host
    counts towards its period, it is not added on top. Up to ``cores`` workers each run at a core's
    share; ``k`` > ``cores`` workers share the node (``cpus / k`` each): the processor sharing an
    oversubscribed device does.
    """

    def __init__(self, cpus: float, cores: int = 1):
        if not cpus > 0 or cores < 1:
            raise ValueError(f"a CPU quota needs cpus > 0 and cores >= 1, got {cpus}, {cores}")
        self.cpus = float(cpus)
        self.per_core = self.cpus / int(cores)
        self.reset()

    def reset(self) -> None:
        """Forget past use (a new run on the same node)."""
        self.clock = -float("inf")
        self.worker_clock: dict[int, float] = {}

    def forget(self, worker: int) -> None:
        """Worker ``worker`` is gone."""
        self.worker_clock.pop(worker, None)

    def charge(self, cpu_s: float, started: float, worker: int = 0) -> float:
        """Account ``cpu_s`` CPU seconds ``worker`` used in an iteration that began at wall time ``started``;
        the wall time it may resume."""
        cpu_s = max(float(cpu_s), 0.0)
        self.clock = max(self.clock, started) + cpu_s / self.cpus
        own = max(self.worker_clock.get(worker, -float("inf")), started) + cpu_s / self.per_core
        self.worker_clock[worker] = own
        return max(self.clock, own)


def node_quotas(classes: list[DeviceClass], host_worker_flops: float) -> list[float]:
    """Host CPUs each node's quota grants: its cores times its class's per-core speed over this host's.

    ``host_worker_flops`` is the measured FLOP/s of one single-thread worker here. A class faster per
    core than this host cannot be emulated faster: its quota is its cores (``speed_unreachable`` lists it).
    """
    if not host_worker_flops > 0:
        raise ValueError(f"host_worker_flops must be > 0, got {host_worker_flops}")
    return [c.cores * min(1.0, (c.flops / c.cores) / host_worker_flops) for c in classes]


def speed_unreachable(classes: list[DeviceClass], host_worker_flops: float) -> list[str]:
    """Names of the classes whose per-core speed is above this host's (emulated at the host's speed)."""
    return sorted({c.name for c in classes if c.flops / c.cores > host_worker_flops})


def device_fields(cls: DeviceClass) -> dict[str, object]:
    """``cls`` as a ``ClusterConfig.extra_device_classes`` entry (its ``devices.csv`` columns)."""
    return {k: getattr(cls, k) for k in DEVICE_FIELDS}
