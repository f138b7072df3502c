"""The decentralized shield's set-up at many regions without its N x R tables: k-means' nearest centres through a
k-d tree and the hosts' latencies pair by pair give exactly what the whole tables gave."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env
from shields import regions
from shields.latency import LatencyModel
from shields.regions import partition_edges
from srole_env.core.overhead import one_way_latency
from srole_env.core.simulator import ClusterSimulator


def _table_argmin(pts: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The reference: the whole squared-distance table's argmin (the first of equal minima)."""
    return np.argmin(np.sum((pts[:, None, :] - centres[None, :, :]) ** 2, axis=2), axis=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_nearest_centre_is_the_tables_argmin(seed, monkeypatch):
    monkeypatch.setattr(regions, "BRUTE_CELLS", 1000)  # the k-d tree path at a test's size
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 500, (3000, 2))
    centres = np.concatenate([pts[rng.choice(3000, 200, replace=False)], rng.uniform(0, 500, (100, 2))])
    assert np.array_equal(regions._nearest(pts, centres), _table_argmin(pts, centres))
    # exact ties everywhere: points and centres on an integer grid, centres repeated (lowest index wins)
    grid = rng.integers(0, 30, (3000, 2)).astype(float)
    tied = np.concatenate([grid[:150], grid[:150] + 1.0, grid[:50]])
    assert np.array_equal(regions._nearest(grid, tied), _table_argmin(grid, tied))
    assert np.array_equal(regions._brute_nearest(grid, tied), _table_argmin(grid, tied))  # in blocks of 3 rows


def test_partition_and_latency_as_with_whole_tables(monkeypatch):
    cfg = srole_env.make_config("paper", n_edges=1500, n_regions=120)
    sim = ClusterSimulator(cfg)
    sim.reset(np.random.default_rng(3))
    topo = sim.topology
    whole = partition_edges(topo.positions, 120)
    monkeypatch.setattr(regions, "BRUTE_CELLS", 1000)
    labels = partition_edges(topo.positions, 120)
    assert np.array_equal(labels, whole) and len(np.unique(labels)) == 120
    hosts = np.array([np.flatnonzero(labels == r)[0] for r in range(120)])
    model = LatencyModel(topo, cfg, labels, hosts)
    rows = np.array([one_way_latency(topo, cfg, int(h)) for h in hosts])  # the per-region rows it replaced
    assert np.array_equal(model.to_host, rows[labels, np.arange(cfg.n_edges)])
    assert np.array_equal(model.host_link, rows[:, hosts])
    assert (model.to_host[hosts] == 0).all() and (model.to_host > 0).sum() == cfg.n_edges - 120
