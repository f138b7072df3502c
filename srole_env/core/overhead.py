"""Scheduling-overhead model: how long a decision takes before the task it places can start.

All costs are simulated seconds charged to the tasks placed in a round (they delay the task's start),
so they show in JCT; the simulator also sums them as ``scheduling_overhead_s``.

* MARL / SROLE agents decide locally: one inference plus fetching the neighbours' load reports.
* The cluster head (CRL) first collects one report from every edge through its own NIC, then decides
  the round's tasks one after another as a queue (``srole_env.core.head_queue``).
* A shield host gathers the requests of the agents it covers, checks each, and answers.
"""

from __future__ import annotations

import numpy as np

from srole_env.config import ClusterConfig
from srole_env.core.topology import Topology


def one_way_latency(topology: Topology, config: ClusterConfig, host: int) -> np.ndarray:
    """One-way latency [N] from every edge to ``host`` (0 for the host itself)."""
    dist = np.linalg.norm(topology.positions - topology.positions[host], axis=1)
    lat = config.link_base_latency_s + config.link_latency_per_m * dist
    lat[host] = 0.0
    return lat


def local_decision_latency(topology: Topology, config: ClusterConfig) -> np.ndarray:
    """Per-agent latency [N] of a local decision: neighbour reports (in parallel) plus one inference."""
    if topology.candidates.shape[1] == 1:
        return np.full(topology.n_edges, config.local_decision_s)
    fetch = topology.link_latency_s[:, 1:] + config.report_bytes * 8.0 / topology.link_bps[:, 1:]
    return config.local_decision_s + fetch.max(axis=1)


def gather_latency(
    topology: Topology, config: ClusterConfig, host: int, members: np.ndarray, per_item_s: float, n_items: int
) -> float:
    """Time for ``host`` to receive one message from each member and process ``n_items`` at ``per_item_s`` each.

    Messages arrive in parallel over the network but are received serially through the host's NIC.
    """
    if not np.any(members):
        return 0.0
    lat = one_way_latency(topology, config, host)[members].max()
    receive = np.count_nonzero(members) * config.report_bytes * 8.0 / topology.nic_bps[host]
    return float(lat + receive + n_items * per_item_s)
