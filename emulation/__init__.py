"""Emulation: the SROLE decision loop driving a real Ray cluster of edge nodes running real PyTorch jobs.

Modules, bottom up: ``nodes`` (which device class each node is), ``worker`` (one data-parallel worker's
real training loop), ``cluster`` (``EmulatedCluster``: the simulator's physics with the run phase
done by real workers; no Ray), ``ray_backend`` (nodes, reporters, averagers, placement, faults:
the only module that imports Ray), ``run`` (``emulate``: the evaluate loop on an emulated cluster),
``compare`` (the same trace emulated and simulated), ``calibrate`` (what a quota-limited node core
delivers, measured on the cluster). Nothing here imports ``study``: the ``emulation`` profile of
``srole reproduce`` calls down into these. See ``docs/emulation.md``.
"""

from emulation.cluster import EmulatedCluster, TaskStatus, TaskWork, emulated_cluster
from emulation.nodes import host_class, parse_node_spec

__all__ = ["EmulatedCluster", "TaskStatus", "TaskWork", "emulated_cluster", "host_class", "parse_node_spec"]
