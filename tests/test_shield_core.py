"""Unit tests of the shield core pieces: granting, orders, priority rules, regions, latency."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shields.core import (
    LazyPreferenceRanks,
    RoundState,
    choose_candidates,
    colliding_edges,
    grant_prefix,
    order_keys,
    preference_ranks,
    projected_load,
    target_priority_order,
)
from shields.priority import PRIORITY_RULES, check_rule, preference_margin, priority_ranks
from shields.regions import PARTITION_METHODS, partition_edges
from srole_env import parallel_env
from srole_env.core.overhead import gather_latency, one_way_latency


def _load(slots, mem):
    return np.array(slots, float), np.array(mem, float)


def test_grant_prefix_keeps_highest_priority_up_to_capacity():
    slots, mem = _load([0.0, 0.0], [0.0, 0.0])
    limit_s, limit_m = np.array([2.0, 5.0]), np.array([100.0, 100.0])
    targets = np.array([0, 0, 0, 1])
    demand = np.array([10.0, 10.0, 10.0, 10.0])
    priority = np.array([2, 0, 1, 3])
    granted = grant_prefix(targets, demand, priority, slots, mem, limit_s, limit_m)
    assert granted.tolist() == [False, True, True, True]
    assert slots.tolist() == [2.0, 1.0] and mem.tolist() == [20.0, 10.0]


def test_grant_prefix_memory_and_requests_that_do_not_fit_alone():
    slots, mem = _load([0.0], [50.0])
    limit_s, limit_m = np.array([10.0]), np.array([100.0])
    # request 0 (first in priority) can never fit: it is dropped, not allowed to block the others
    targets = np.zeros(4, dtype=np.int64)
    demand = np.array([60.0, 30.0, 30.0, 10.0])
    priority = np.array([0, 1, 2, 3])
    granted = grant_prefix(targets, demand, priority, slots, mem, limit_s, limit_m)
    # 30 fits (80), the next 30 would make 110: the prefix stops there, so the last one is not granted
    assert granted.tolist() == [False, True, False, False]
    assert mem[0] == 80.0


def test_grant_prefix_empty_and_none_fit():
    slots, mem = _load([1.0], [0.0])
    granted = grant_prefix(np.zeros(2, dtype=np.int64), np.ones(2), np.arange(2), slots, mem,
                           np.array([1.0]), np.array([10.0]))
    assert not granted.any() and slots[0] == 1.0
    empty = grant_prefix(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0), slots, mem,
                         np.array([1.0]), np.array([10.0]))
    assert empty.shape == (0,)


def test_preference_ranks_nan_last_ties_by_index():
    prefs = np.array([[1.0, 3.0, 2.0, 0.0], [np.nan, 1.0, 1.0, 9.0], [np.nan, np.nan, np.nan, 1.0]])
    ranks, has = preference_ranks(prefs, 3)
    assert ranks[0].tolist() == [2.0, 0.0, 1.0]
    assert ranks[1].tolist() == [2.0, 0.0, 1.0]
    assert has.tolist() == [True, True, False]


def test_order_keys_put_original_first_and_choose_respects_fit():
    util = np.array([[0.5, 0.1, 0.9], [0.5, 0.1, 0.9]])
    keys = order_keys(np.array([2, 0]), util)
    fit = np.array([[True, True, False], [False, False, False]])
    # agent 0: original (2) does not fit, least loaded fitting is candidate 1; agent 1: nothing fits
    assert choose_candidates(fit, keys).tolist() == [1, -1]
    ranks = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
    keys = order_keys(np.array([0, 1]), util, ranks, np.array([True, False]))
    fit = np.array([[False, True, True], [True, False, True]])
    # agent 0 prefers 2 over 1; agent 1 has no preferences: least loaded among {0, 2} is 0
    assert choose_candidates(fit, keys).tolist() == [2, 0]


def test_priority_rules_and_ranks():
    assert set(PRIORITY_RULES) == {"urgency", "preference", "random"}
    with pytest.raises(ValueError, match="priority"):
        check_rule("loudest")
    ranks = priority_ranks(np.array([1.0, 5.0, 5.0, 0.0]), np.array([0.3, 0.9, 0.1, 0.0]))
    assert ranks.tolist() == [2, 1, 0, 3]


_KEYS = st.sampled_from([0.0, -0.0, 1.0, 5.0, 1e6, np.inf, -np.inf, np.nan])
_TICKETS = st.one_of(st.floats(0.0, 1.0, exclude_max=True), st.sampled_from([0.25, 0.5, 1 - 2.0**-53]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(_KEYS, st.floats(-10, 10)), _TICKETS), max_size=40), st.booleans())
def test_priority_ranks_are_lexsorts_order(rows, whole_ranks):
    """Quicksort with one sort key and its fallbacks give lexsort's order: ties of keys, of tickets, NaN, signed 0,
    tickets that round together when added to a key's rank."""
    key = np.array([k for k, _ in rows], dtype=float)
    ticket = np.array([t for _, t in rows], dtype=float)
    if whole_ranks:  # integer keys in steps: many tied keys, the quicksort path
        key = np.where(np.isfinite(key), np.round(key), key)
    order = np.lexsort((ticket, -key))
    expected = np.empty(len(order), dtype=np.int64)
    expected[order] = np.arange(len(order))
    assert priority_ranks(key, ticket).tolist() == expected.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(-3, 40)), max_size=40), st.booleans())
def test_target_priority_order_is_lexsorts(pairs, as_float):
    """The one-key quicksort order, with tied pairs (the lexsort fallback) and float priorities, is lexsort's."""
    targets = np.array([t for t, _ in pairs], dtype=np.int64)
    priority = np.array([p for _, p in pairs], dtype=float if as_float else np.int64)
    assert target_priority_order(targets, priority).tolist() == np.lexsort((priority, targets)).tolist()


def test_lazy_preference_ranks_rows_are_the_full_ranks_rows():
    rng = np.random.default_rng(3)
    prefs = rng.choice([0.0, 1.0, 2.0, -np.inf, np.nan], size=(50, 6))
    prefs[7] = np.nan
    lazy = LazyPreferenceRanks(prefs, 5)
    ranks, has = preference_ranks(prefs, 5)
    rows = np.array([7, 0, 49, 3, 3])
    sub_ranks, sub_has = lazy.rows(rows)
    assert np.array_equal(sub_ranks, ranks[rows]) and np.array_equal(sub_has, has[rows])
    all_ranks, all_has = lazy.rows(np.arange(50))
    assert np.array_equal(all_ranks, ranks) and np.array_equal(all_has, has)


def _state(n=3, c=3, **kw) -> RoundState:
    base = dict(
        candidates=np.array([[0, 1, 2], [1, 0, 2], [2, 1, 0]])[:n, :c],
        has_task=np.ones(n, bool),
        demand_mem=np.full(n, 10.0),
        wait_s=np.arange(n, dtype=float),
        committed_slots=np.zeros(n),
        committed_mem=np.zeros(n),
        slot_limit=np.full(n, 1.5),
        mem_limit=np.full(n, 100.0),
        cores=np.full(n, 2.0),
    )
    base.update(kw)
    return RoundState(**base)


def test_preference_margin_rule():
    state = _state()
    prefs = np.array([[3.0, 1.0, 0.0, 0.0], [-np.inf, 2.0, -np.inf, 0.0], [0.0, 0.0, 0.0, 0.0]])
    margin = preference_margin(state, np.array([0, 1, 3]), prefs)
    assert margin[0] == 2.0
    assert margin[1] > 1e200  # every alternative masked: it has nowhere else to go
    assert np.all(preference_margin(state, np.array([0, 1, 3]), None) == 0.0)


def test_projected_load_and_collisions():
    state = _state()
    actions = np.array([0, 1, 3])  # agents 0 and 1 both target edge 0 ... agent 1's candidate 1 is edge 0
    slots, mem = projected_load(state, actions)
    assert slots.tolist() == [2.0, 0.0, 0.0] and mem.tolist() == [20.0, 0.0, 0.0]
    assert colliding_edges(state, actions).tolist() == [True, False, False]
    assert not colliding_edges(state, np.array([0, 0, 3])).any()


@pytest.mark.parametrize("method", PARTITION_METHODS)
def test_partitions_cover_every_region(method):
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 50, 333):
        pos = rng.uniform(0, 500, (n, 2))
        for r in sorted({1, min(n, 2), min(n, 3), min(n, 8), n}):
            labels = partition_edges(pos, r, method)
            assert labels.shape == (n,)
            assert np.bincount(labels, minlength=r).min() >= 1 and labels.max() == r - 1
            assert np.array_equal(labels, partition_edges(pos, r, method))  # deterministic
            first = [np.flatnonzero(labels == k)[0] for k in range(r)]
            assert first == sorted(first)  # canonical numbering
    same = np.zeros((6, 2))  # coincident points still give non-empty regions
    assert np.bincount(partition_edges(same, 4, method)).min() >= 1


def test_partition_rejects_bad_arguments():
    pos = np.zeros((5, 2))
    for bad in (0, 6, -1):
        with pytest.raises(ValueError, match="regions"):
            partition_edges(pos, bad)
    with pytest.raises(ValueError, match="regions"):
        partition_edges(pos, 2.0)
    with pytest.raises(ValueError, match="partition"):
        partition_edges(pos, 2, "voronoi")


def test_kmeans_regions_are_compact():
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(c, 5.0, (20, 2)) for c in ((0, 0), (400, 0), (0, 400), (400, 400))])
    labels = partition_edges(blobs, 4, "kmeans")
    for k in range(4):
        assert len(set(labels[k * 20 : (k + 1) * 20])) == 1


def test_central_latency_is_gather_at_head_plus_reply():
    from shields import CentralShield

    env = CentralShield(parallel_env("paper"), seed=0)
    env.reset(seed=3)
    sim, cfg = env.unwrapped.sim, env.unwrapped.config
    has, _ = sim.head_demand()
    actions = np.zeros(cfg.n_edges, dtype=np.int64)
    env.step_arrays(actions)
    rep = env.last_report
    requests = has & (actions < sim.n_candidates)
    topo = sim.topology
    gather = gather_latency(topo, cfg, topo.head, requests, cfg.shield_check_s, int(requests.sum()))
    expected = np.where(requests, gather + one_way_latency(topo, cfg, topo.head), 0.0)
    # every request is for the agent's own, still empty edge: one check each, one pass, no messages
    assert rep["rounds"] == 1 and rep["interventions"] == 0
    np.testing.assert_allclose(rep["latency_s"], expected)
    assert rep["decision_latency_s"] == pytest.approx(rep["latency_s"].max())
