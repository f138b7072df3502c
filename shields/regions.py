"""Partitioning the cluster into regions from edge positions (one decentralized shield per region).

Two methods, both return labels [N] in ``0..R-1`` with every region non-empty (requires R <= N):

* ``kmeans`` (default): Lloyd's algorithm on the positions, k-means++ initial centres from a seeded
  generator, at most ``max_iter`` iterations; a centre left without edges is moved to the edge
  farthest from its centre. Regions are compact, so most candidates (nearest neighbours) stay local.
* ``grid``: an equal-count grid: ``ceil(sqrt(R))`` vertical strips by x quantile, each cut into cells
  by y quantile, strip sizes proportional to their number of cells. Cells hold N / R edges (+-1).

Labels are renumbered by each region's smallest edge index, so they do not depend on the order the
algorithm found the regions in.
"""

from __future__ import annotations

import math

import numpy as np

PARTITION_METHODS = ("kmeans", "grid")


def partition_edges(positions: np.ndarray, n_regions: int, method: str = "kmeans", seed: int = 0) -> np.ndarray:
    """Region label [N] of every edge (see module docstring); ``ValueError`` on a bad count or method."""
    n = len(positions)
    check_partition(n_regions, n, method)
    if n_regions == 1:
        return np.zeros(n, dtype=np.int64)
    labels = _kmeans(positions, n_regions, seed) if method == "kmeans" else _grid(positions, n_regions)
    return _canonical(labels, n_regions)


def check_partition(n_regions: int, n_edges: int, method: str) -> None:
    """``ValueError`` unless ``n_regions`` is an int in ``1..n_edges`` and ``method`` a known method."""
    if isinstance(n_regions, bool) or not isinstance(n_regions, (int, np.integer)):
        raise ValueError(f"regions must be an int, got {n_regions!r}")
    if not 1 <= n_regions <= n_edges:
        raise ValueError(f"regions must be between 1 and the number of edges ({n_edges}), got {n_regions}")
    if method not in PARTITION_METHODS:
        raise ValueError(f"partition: unknown partition method {method!r}; choose one of {list(PARTITION_METHODS)}")


def _grid(positions: np.ndarray, n_regions: int) -> np.ndarray:
    """Equal-count grid cells (strips by x, cells by y)."""
    n = len(positions)
    n_strips = math.ceil(math.sqrt(n_regions))
    cells = np.full(n_strips, n_regions // n_strips) + (np.arange(n_strips) < n_regions % n_strips)
    cells = cells[cells > 0]
    bounds = np.floor(np.cumsum(cells)[:-1] * n / n_regions).astype(np.int64)
    by_x = np.lexsort((positions[:, 1], positions[:, 0]))
    labels = np.empty(n, dtype=np.int64)
    label = 0
    for members, n_cells in zip(np.split(by_x, bounds), cells):
        by_y = members[np.lexsort((positions[members, 0], positions[members, 1]))]
        for part in np.array_split(by_y, n_cells):
            labels[part] = label
            label += 1
    return labels


def _kmeans(positions: np.ndarray, k: int, seed: int, max_iter: int = 50) -> np.ndarray:
    """Lloyd's k-means with k-means++ initialisation; no empty cluster."""
    rng = np.random.default_rng(seed)
    pts = np.asarray(positions, dtype=float)
    n = len(pts)
    centres = _kmeans_pp(pts, k, rng)
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(max_iter):
        new = _fill_empty(_nearest(pts, centres), pts, centres, k)
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        for axis in range(pts.shape[1]):
            centres[:, axis] = np.bincount(labels, weights=pts[:, axis], minlength=k) / counts
    return labels


def _kmeans_pp(pts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ initial centres [k, D]: each next centre drawn with probability proportional to the squared
    distance to the nearest centre so far (``rng.choice(n, p=d2 / d2.sum())``, or uniform once all are 0).

    Two savings, the same centres: the draw is ``rng.choice``'s own arithmetic without its argument checks
    (``_choice_index``), and a new centre lowers the distances only of points in the slab of x within the
    largest distance so far (points sorted by x once): outside it ``(x - cx)^2`` alone is at least every
    point's distance, so ``minimum`` would keep them.
    """
    n = len(pts)
    centres = np.empty((k, pts.shape[1]))
    centres[0] = pts[rng.integers(n)]
    d2 = np.sum((pts - centres[0]) ** 2, axis=1)
    by_x = np.argsort(pts[:, 0], kind="stable")
    xs = pts[by_x, 0]
    for j in range(1, k):
        total = d2.sum()
        pick = _choice_index(rng, d2 / total) if total > 0 else rng.integers(n)
        centres[j] = pts[pick]
        reach = math.sqrt(float(d2.max())) * (1.0 + 1e-9) + 1e-300
        cx = centres[j, 0]
        near = by_x[xs.searchsorted(cx - reach, side="left"):xs.searchsorted(cx + reach, side="right")]
        d2[near] = np.minimum(d2[near], np.sum((pts[near] - centres[j]) ** 2, axis=1))
    return centres


def _choice_index(rng: np.random.Generator, p: np.ndarray) -> int:
    """``rng.choice(len(p), p=p)`` for a valid ``p`` (non-negative, summing to 1): NumPy's inverse-CDF draw
    (``cdf = p.cumsum(); cdf /= cdf[-1]``, one uniform, ``searchsorted`` right), the same index and draw."""
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


def _sq_dist(pts: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared distances ``sum((p - c) ** 2)`` over the last axis (``pts`` [..., 2] against ``centres`` [..., 2])."""
    return np.sum((pts - centres) ** 2, axis=-1)


BRUTE_CELLS = 4_000_000
"""Largest point x centre table ``_nearest`` computes whole; beyond it, a k-d tree narrows the centres down."""
KD_NEIGHBOURS = 4
"""Centres the k-d tree proposes per point; the exact distances then pick among them."""


def _nearest(pts: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index [n] of each point's nearest centre, the lowest index among equally near ones: exactly
    ``argmin(_sq_dist(pts[:, None], centres[None]), axis=1)``, without its n x k table when that is large.

    A k-d tree (``scipy.spatial.cKDTree``) proposes each point's ``KD_NEIGHBOURS`` nearest centres, and the same
    squared-distance formula picks among them. Every other centre is at least as far as the farthest proposed
    one, so the pick is the argmin's unless that one is within rounding of the nearest (a near tie): those
    points, if any, take the whole table row by row.
    """
    n, k = len(pts), len(centres)
    if n * k <= BRUTE_CELLS or k <= KD_NEIGHBOURS:
        return _brute_nearest(pts, centres)
    from scipy.spatial import cKDTree

    kd_dist, idx = cKDTree(centres).query(pts, k=KD_NEIGHBOURS)
    exact = _sq_dist(pts[:, None, :], centres[idx])  # [n, K] the argmin's own arithmetic
    best = exact.min(axis=1)
    labels = np.where(exact == best[:, None], idx, k).min(axis=1)  # lowest index among the proposed ties
    # a centre not proposed is at k-d distance >= the K-th's: it cannot tie or beat ``best`` when that is clear
    unsure = np.flatnonzero(kd_dist[:, -1] ** 2 <= best * (1.0 + 1e-9) + 1e-300)
    if len(unsure):
        labels[unsure] = _brute_nearest(pts[unsure], centres)
    return labels


def _brute_nearest(pts: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``argmin`` over the whole squared-distance table, in blocks of points that keep it to ``BRUTE_CELLS``."""
    block = max(1, BRUTE_CELLS // max(len(centres), 1))
    return np.concatenate([np.argmin(_sq_dist(pts[i:i + block, None, :], centres[None, :, :]), axis=1)
                           for i in range(0, len(pts), block)]) if len(pts) else np.zeros(0, dtype=np.int64)


def _fill_empty(labels: np.ndarray, pts: np.ndarray, centres: np.ndarray, k: int) -> np.ndarray:
    """Give every empty cluster the point farthest from its own centre, taken from a cluster of 2+."""
    counts = np.bincount(labels, minlength=k)
    for empty in np.flatnonzero(counts == 0):
        own = _sq_dist(pts, centres[labels])
        movable = counts[labels] > 1
        far = int(np.argmax(np.where(movable, own, -np.inf)))
        counts[labels[far]] -= 1
        labels[far] = empty
        counts[empty] = 1
    return labels


def _canonical(labels: np.ndarray, n_regions: int) -> np.ndarray:
    """Renumber regions in order of their smallest member index."""
    first = np.full(n_regions, len(labels), dtype=np.int64)
    np.minimum.at(first, labels, np.arange(len(labels)))
    rename = np.empty(n_regions, dtype=np.int64)
    rename[np.argsort(first, kind="stable")] = np.arange(n_regions)
    return rename[labels]
