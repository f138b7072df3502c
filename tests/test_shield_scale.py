"""The decentralized shield's set-up at many regions without its N x R tables: k-means' nearest centres through a
k-d tree and the hosts' latencies pair by pair give exactly what the whole tables gave."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env
from shields import kernel, regions
from shields.latency import LatencyModel
from shields.priority import priority_ranks
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


def _kmeans_reference(pts: np.ndarray, k: int, seed: int, max_iter: int = 50) -> np.ndarray:
    """k-means as written before the savings: ``rng.choice`` and whole distance tables."""
    rng = np.random.default_rng(seed)
    n = len(pts)
    centres = np.empty((k, pts.shape[1]))
    centres[0] = pts[rng.integers(n)]
    d2 = np.sum((pts - centres[0]) ** 2, axis=1)
    for j in range(1, k):
        total = d2.sum()
        pick = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
        centres[j] = pts[pick]
        d2 = np.minimum(d2, np.sum((pts - centres[j]) ** 2, axis=1))
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(max_iter):
        dist = np.sum((pts[:, None, :] - centres[None, :, :]) ** 2, axis=2)
        new = np.argmin(dist, axis=1)
        counts = np.bincount(new, minlength=k)
        for empty in np.flatnonzero(counts == 0):
            own = dist[np.arange(n), new]
            far = int(np.argmax(np.where(counts[new] > 1, own, -np.inf)))
            counts[new[far]] -= 1
            new[far] = empty
            counts[empty] = 1
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        for axis in range(pts.shape[1]):
            centres[:, axis] = np.bincount(labels, weights=pts[:, axis], minlength=k) / counts
    return labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_is_the_reference_kmeans(seed, monkeypatch):
    monkeypatch.setattr(regions, "BRUTE_CELLS", 1000)
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 400, (2500, 2))
    pts[:300] = np.round(pts[:300] / 40.0) * 40.0  # repeated positions: zero distances, ties, empty clusters
    for k in (7, 180):
        assert np.array_equal(regions._kmeans(pts, k, seed), _kmeans_reference(pts, k, seed))


def test_choice_index_draws_as_rng_choice():
    rng = np.random.default_rng(5)
    for size in (1, 2, 17, 1000):
        for _ in range(20):
            w = rng.random(size) ** 3
            w[rng.random(size) < 0.3] = 0.0
            if w.sum() == 0:
                continue
            p = w / w.sum()
            a, b = np.random.default_rng(size), np.random.default_rng(size)
            assert [regions._choice_index(a, p) for _ in range(5)] == [int(b.choice(size, p=p)) for _ in range(5)]


@pytest.mark.skipif(not kernel.available(), reason="the compiled kernel needs numba")
def test_compiled_priority_ranks_are_lexsorts_order():
    kernel.load()
    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 50, 500):
        for _ in range(10):
            key = rng.integers(0, 4, n).astype(float) * rng.choice([1.0, -1.0], n)  # ties, 0.0 and -0.0
            ticket = np.round(rng.random(n), 1)  # tied tickets too
            expected = np.empty(n, dtype=np.int64)
            expected[np.lexsort((ticket, -key))] = np.arange(n)
            assert kernel.lex_ranks(-key, ticket).tolist() == expected.tolist()
            assert priority_ranks(key, ticket).tolist() == expected.tolist()
    key = np.array([1.0, np.nan, 0.0])
    assert kernel.lex_ranks(-key, np.zeros(3)) is None  # NaN: NumPy's lexsort decides
    expected = np.empty(3, dtype=np.int64)
    expected[np.lexsort((np.zeros(3), -key))] = np.arange(3)
    assert priority_ranks(key, np.zeros(3)).tolist() == expected.tolist()
