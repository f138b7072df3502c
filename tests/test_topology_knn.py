"""``nearest_neighbours`` beyond ``BRUTE_FORCE_MAX`` points (k-d tree proposals) gives the all-pairs answer,
ties included, so large clusters keep the candidates they had when every pair was compared."""

from __future__ import annotations

import numpy as np
import pytest

from srole_env.core import topology
from srole_env.core.topology import BRUTE_FORCE_MAX, nearest_neighbours


@pytest.mark.parametrize("k", [1, 4, 8])
def test_tree_path_equals_all_pairs_on_random_points(k):
    n = BRUTE_FORCE_MAX + 1000
    points = np.random.default_rng(k).uniform(0.0, 1000.0, size=(n, 2))
    expected = topology._nearest_all_pairs(points, k, 1024, np.arange(n))
    assert np.array_equal(nearest_neighbours(points, k), expected)


def test_tree_path_equals_all_pairs_with_ties_at_the_cut():
    side = int(np.ceil(np.sqrt(BRUTE_FORCE_MAX + 100)))
    grid = np.stack(np.meshgrid(np.arange(side, dtype=float), np.arange(side, dtype=float)), -1).reshape(-1, 2)
    for k in (2, 4, 6):  # on a unit grid four neighbours share each distance: the k-th and k+1-th often tie
        expected = topology._nearest_all_pairs(grid, k, 1024, np.arange(len(grid)))
        assert np.array_equal(nearest_neighbours(grid, k), expected)
