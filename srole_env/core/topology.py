"""Cluster topology: heterogeneous edges on a plane, their candidates and the links to them.

Each edge's *candidates* are itself (index 0) and its ``k`` nearest edges. A link between edges i and
j delivers ``link_bandwidth_scale * min(nic_i, nic_j) / (1 + d_ij / link_bandwidth_ref_m)`` bits/s
(the shared medium and multi-hop paths attenuate with distance) with one-way latency
``link_base_latency_s + link_latency_per_m * d_ij``. An edge's link to itself is in-memory: infinite
bandwidth, zero latency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srole_env.config import ClusterConfig
from srole_env.profiles import device_table


@dataclass(frozen=True)
class Topology:
    """Static arrays describing one cluster. Shapes: N edges, C candidates per edge."""

    device_names: tuple[str, ...]
    device_index: np.ndarray  # [N] int, index into device_names
    cores: np.ndarray  # [N] float, worker slots
    flops: np.ndarray  # [N] float, sustained training FLOP/s of the whole device
    memory: np.ndarray  # [N] float, bytes usable for training
    nic_bps: np.ndarray  # [N] float
    positions: np.ndarray  # [N, 2] metres
    candidates: np.ndarray  # [N, C] int, candidates[:, 0] == arange(N)
    link_bps: np.ndarray  # [N, C] float, bandwidth to each candidate (inf for self)
    link_latency_s: np.ndarray  # [N, C] float, one-way latency to each candidate (0 for self)
    head: int  # index of the cluster head (the most capable edge, or one of class config.head_device)
    gpu: np.ndarray  # [N] bool, the device trains on a GPU that its workers share (``accelerator`` column)

    @property
    def n_edges(self) -> int:
        """Number of edges N."""
        return len(self.cores)


def allocate_by_proportion(total: int, proportions: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``total`` closest to ``total * proportions`` (largest remainder)."""
    shares = proportions / proportions.sum() * total
    counts = np.floor(shares).astype(np.int64)
    order = np.argsort(-(shares - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


BRUTE_FORCE_MAX = 2048
"""Up to this many points ``nearest_neighbours`` compares all pairs; beyond, a k-d tree proposes the neighbours."""


def nearest_neighbours(positions: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """Indices [N, k] of each point's k nearest other points, nearest first, ties by index.

    Up to ``BRUTE_FORCE_MAX`` points: all pairs, chunked (O(N^2 / chunk) memory). Beyond: ``scipy.spatial.cKDTree``
    proposes k + 1 neighbours per point in O(N log N); their squared distances are recomputed with the same
    arithmetic and ordered by the same rule, so the result is the all-pairs one (a point whose k-th and
    (k+1)-th proposals are equally far, where a tie could straddle the cut, is redone by all pairs).
    """
    n = len(positions)
    if k == 0:
        return np.empty((n, 0), dtype=np.int64)
    if n <= BRUTE_FORCE_MAX or k >= n - 1:
        return _nearest_all_pairs(positions, k, chunk, np.arange(n))
    from scipy.spatial import cKDTree

    _, idx = cKDTree(positions).query(positions, k=k + 2)
    idx = idx.astype(np.int64)
    dist = np.sum((positions[:, None, :] - positions[idx]) ** 2, axis=-1)
    dist[idx == np.arange(n)[:, None]] = np.inf  # the point itself
    order = np.lexsort((idx, dist), axis=1)
    idx, dist = np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1)
    out = idx[:, :k].copy()
    unsure = np.flatnonzero(~(dist[:, k - 1] < dist[:, k]) | ~np.isfinite(dist[:, k - 1]))
    if len(unsure):
        out[unsure] = _nearest_all_pairs(positions, k, chunk, unsure)
    return out


def _nearest_all_pairs(positions: np.ndarray, k: int, chunk: int, rows: np.ndarray) -> np.ndarray:
    """``nearest_neighbours`` of the points ``rows`` by comparing each with all points."""
    n = len(positions)
    out = np.empty((len(rows), k), dtype=np.int64)
    for start in range(0, len(rows), chunk):
        who = rows[start : start + chunk]
        block = positions[who]
        dist = np.sum((block[:, None, :] - positions[None, :, :]) ** 2, axis=-1)
        dist[np.arange(len(block)), who] = np.inf
        part = np.argpartition(dist, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(dist, axis=1)[:, :k]
        part_d = np.take_along_axis(dist, part, axis=1)
        order = np.lexsort((part, part_d), axis=1)
        out[start : start + chunk] = np.take_along_axis(part, order, axis=1)
    return out


def build_topology(config: ClusterConfig, rng: np.random.Generator) -> Topology:
    """Draw device classes (fixed proportions, shuffled) and positions, then derive candidates and links."""
    table = device_table(config.extra_device_classes)
    unknown = sorted(set(config.device_mix) - set(table))
    if unknown:
        raise ValueError(f"device_mix: unknown device class(es) {unknown}; known: {sorted(table)}")
    names = tuple(config.device_mix)
    counts = allocate_by_proportion(config.n_edges, np.array([config.device_mix[n] for n in names], float))
    device_index = rng.permutation(np.repeat(np.arange(len(names)), counts))
    names, device_index, head = _head_edge(config, names, device_index)
    classes = [table[n] for n in names]
    positions = rng.uniform(0.0, config.area_m, size=(config.n_edges, 2))
    return topology_from_devices(config, classes, device_index, positions, head)


def topology_from_devices(
    config: ClusterConfig, classes: list, device_index: np.ndarray, positions: np.ndarray, head: int | None = None
) -> Topology:
    """The topology of edges whose device classes (``classes[device_index[i]]``, ``DeviceClass`` objects) and
    positions [N, 2] are given: candidates and links as in ``build_topology`` (the emulator names its nodes).
    ``head``: the cluster head's edge (None: the edge with the most FLOP/s)."""
    device_index = np.asarray(device_index, dtype=np.int64)
    names = tuple(c.name for c in classes)
    cores = np.array([c.cores for c in classes], float)[device_index]
    flops = np.array([c.flops for c in classes], float)[device_index]
    memory = np.array([c.memory_bytes for c in classes], float)[device_index]
    nic_bps = np.array([c.nic_mbps * 1e6 for c in classes], float)[device_index]
    k = config.n_candidates - 1
    candidates = np.concatenate([np.arange(config.n_edges)[:, None], nearest_neighbours(positions, k)], axis=1)
    dist = np.linalg.norm(positions[candidates] - positions[:, None, :], axis=-1)
    link_bps = (
        config.link_bandwidth_scale
        * np.minimum(nic_bps[:, None], nic_bps[candidates])
        / (1.0 + dist / config.link_bandwidth_ref_m)
    )
    link_latency = config.link_base_latency_s + config.link_latency_per_m * dist
    link_bps[:, 0] = np.inf
    link_latency[:, 0] = 0.0
    return Topology(
        device_names=names,
        device_index=device_index,
        cores=cores,
        flops=flops,
        memory=memory,
        nic_bps=nic_bps,
        positions=positions,
        candidates=candidates,
        link_bps=link_bps,
        link_latency_s=link_latency,
        head=int(np.argmax(flops)) if head is None else head,
        gpu=np.array([c.accelerator == "gpu" for c in classes], dtype=bool)[device_index],
    )


def _head_edge(
    config: ClusterConfig, names: tuple[str, ...], device_index: np.ndarray
) -> tuple[tuple[str, ...], np.ndarray, int | None]:
    """Apply ``config.head_device``: (device names, device index [N], head edge or None for the most capable).

    The head is the lowest-index edge of class ``head_device``; when the drawn cluster has none, edge 0
    becomes one (the cluster's mix then differs from ``device_mix`` by that one edge).
    """
    if config.head_device is None:
        return names, device_index, None
    known = device_table(config.extra_device_classes)
    if config.head_device not in known:
        raise ValueError(f"head_device: unknown device class {config.head_device!r}; known: {sorted(known)}")
    if config.head_device not in names:
        names = (*names, config.head_device)
    cls = names.index(config.head_device)
    members = np.flatnonzero(device_index == cls)
    if len(members):
        return names, device_index, int(members[0])
    device_index = device_index.copy()
    device_index[0] = cls
    return names, device_index, 0
