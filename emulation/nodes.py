"""Which device class each emulated edge node is: the ``--local-nodes`` spec and per-node CPU sets.

A spec is a comma-separated list of device-class names from ``srole_env/data/devices.csv``, each
optionally repeated with ``xK``: ``"raspberry_pi4x2,nuc_i7"`` is three nodes, edges 0 and 1 Raspberry
Pis, edge 2 a NUC. Edge ``i`` of the scheduler is node ``i`` of the cluster, in spec order.

A class can also be given as a ``DeviceClass`` object (``host_class`` builds one for this machine), so
a simulator and an emulator can be pointed at the same calibrated host profile.
"""

from __future__ import annotations

import os
import re

from srole_env.profiles import DeviceClass, device_classes

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


def speed_slowdowns(classes: list[DeviceClass], host_worker_flops: float) -> list[float]:
    """Factor >= 1 by which each node's workers are slowed to its class's per-core training speed.

    ``host_worker_flops`` is the measured FLOP/s of one single-thread worker here. A class faster per
    core than this host cannot be emulated faster: its factor is 1 (``speed_unreachable`` lists them).
    """
    if not host_worker_flops > 0:
        raise ValueError(f"host_worker_flops must be > 0, got {host_worker_flops}")
    return [max(1.0, host_worker_flops / (c.flops / c.cores)) for c in classes]


def speed_unreachable(classes: list[DeviceClass], host_worker_flops: float) -> list[str]:
    """Names of the classes whose per-core speed is above this host's (emulated at the host's speed)."""
    return sorted({c.name for c in classes if c.flops / c.cores > host_worker_flops})
