"""The compiled kernel (numba, optional) and the NumPy path of ``Coordinator`` make identical decisions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from shields import kernel
from shields.core import LazyPreferenceRanks, preference_ranks
from shields.priority import PRIORITY_RULES, priority_ranks
from shields.protocol import Coordinator

ROOT = Path(__file__).resolve().parents[1]
needs_numba = pytest.mark.skipif(not kernel.available(), reason="numba is not installed (pip install numba)")


def _hashes_module():
    spec = importlib.util.spec_from_file_location("shield_hashes", ROOT / "scripts" / "fixtures" / "shield_hashes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_numpy_path_reproduces_the_recorded_decisions(monkeypatch):
    mod = _hashes_module()
    monkeypatch.setattr(kernel, "available", lambda: False)
    assert not Coordinator(np.zeros(3, dtype=np.int64), mod._synthetic_state(3, np.random.default_rng(0))[0]).compiled
    recorded = json.loads(mod.DATA.read_text())
    assert mod.resolve_hashes() == {k: v for k, v in recorded.items() if k.startswith("resolve/")}


@needs_numba
def test_kernel_is_used_for_one_region_and_not_across_boundaries():
    mod = _hashes_module()
    state, pos = mod._synthetic_state(40, np.random.default_rng(1))
    assert Coordinator(np.zeros(40, dtype=np.int64), state).compiled
    assert not Coordinator(np.zeros(40, dtype=np.int64), state, compiled=False).compiled
    two = (pos[:, 0] > 0.5).astype(np.int64)  # nearest neighbours cross the cut: boundary candidates
    assert not Coordinator(two, state).compiled


@needs_numba
@pytest.mark.parametrize("n", [1, 7, 60])
def test_kernel_equals_numpy_on_random_states(n):
    mod = _hashes_module()
    rng = np.random.default_rng(n)
    labels = np.zeros(n, dtype=np.int64)
    for t in range(40):
        state, _ = mod._synthetic_state(n, rng)
        actions = mod._synthetic_actions(state, "random" if t % 3 else "least_loaded", rng)
        rule = sorted(PRIORITY_RULES)[t % 3]
        prefs = mod._preferences(n, mod.CANDIDATES + 1, rng) if t % 2 else None
        priority = priority_ranks(PRIORITY_RULES[rule](state, actions, prefs), rng.random(n))
        ranks, has_pref = preference_ranks(prefs, mod.CANDIDATES)
        args = (state, actions, priority, ranks if prefs is not None else None, has_pref if prefs is not None else None)
        slow = Coordinator(labels, state, compiled=False).resolve(*args)
        runs = [Coordinator(labels, state, compiled=True).resolve(*args)]
        if prefs is not None:  # ranks computed where needed, from the scores, by the kernel and by NumPy
            lazy = (*args[:3], LazyPreferenceRanks(prefs, mod.CANDIDATES))
            runs += [Coordinator(labels, state, compiled=c).resolve(*lazy) for c in (True, False)]
        for fast in runs:
            for key in ("actions", "answered", "via_boundary", "boundary_requests", "local_checks", "conflicts"):
                assert np.array_equal(getattr(fast, key), getattr(slow, key)), key
            assert (fast.rounds, fast.messages, len(fast.traffic)) == (slow.rounds, slow.messages, len(slow.traffic))
            assert fast.actions.dtype == slow.actions.dtype
        assert not runs[0].transcript


@needs_numba
def test_a_coordinator_left_to_choose_loads_the_kernel_once_numpy_has_cost_as_much(monkeypatch):
    mod = _hashes_module()
    rng = np.random.default_rng(11)
    state, _ = mod._synthetic_state(30, rng)
    actions = mod._synthetic_actions(state, "random", rng)
    args = (state, actions, priority_ranks(PRIORITY_RULES["urgency"](state, actions, None), rng.random(30)))
    kernel_calls = []
    real = kernel.resolve_local
    monkeypatch.setattr(kernel, "resolve_local", lambda *a: kernel_calls.append(1) or real(*a))
    monkeypatch.setattr(kernel, "_compiled", None)  # as in a fresh process
    monkeypatch.setattr(kernel, "_numpy_s", 0.0)
    monkeypatch.setattr(kernel, "LOAD_COST_S", 1e9)
    auto = Coordinator(np.zeros(30, dtype=np.int64), state)
    first = auto.resolve(*args)
    assert kernel_calls == [] and kernel._numpy_s > 0.0  # settled in NumPy, its time charged
    monkeypatch.setattr(kernel, "LOAD_COST_S", kernel._numpy_s)  # NumPy has now cost the kernel's load
    second = auto.resolve(*args)
    assert kernel_calls == [1] and kernel.loaded()
    assert np.array_equal(first.actions, second.actions) and np.array_equal(first.conflicts, second.conflicts)
    eager = Coordinator(np.zeros(30, dtype=np.int64), state, compiled=True)
    monkeypatch.setattr(kernel, "_compiled", None)
    monkeypatch.setattr(kernel, "LOAD_COST_S", 1e9)
    eager.resolve(*args)  # compiled=True asks for the kernel from the first round
    assert kernel_calls == [1, 1]


def test_compiled_without_numba_is_a_value_error(monkeypatch):
    monkeypatch.setattr(kernel, "available", lambda: False)
    mod = _hashes_module()
    state, _ = mod._synthetic_state(5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="numba"):
        Coordinator(np.zeros(5, dtype=np.int64), state, compiled=True)


@needs_numba
def test_kernel_equals_numpy_for_several_regions_without_boundary_candidates():
    mod = _hashes_module()
    rng = np.random.default_rng(5)
    n, block = 40, 10
    labels = np.arange(n) // block
    for t in range(20):
        state, _ = mod._synthetic_state(n, rng)
        # every agent's candidates inside its own block of 10 edges (itself first)
        others = np.array([rng.permutation(np.delete(np.arange(b * block, b * block + block), i % block))
                           for i, b in enumerate(labels)])
        cand = np.column_stack([np.arange(n), others[:, : mod.CANDIDATES - 1]])
        state = type(state)(**{**state.__dict__, "candidates": cand})
        actions = mod._synthetic_actions(state, "random", rng)
        prefs = mod._preferences(n, mod.CANDIDATES + 1, rng) if t % 2 else None
        priority = priority_ranks(state.wait_s, rng.random(n))
        ranks, has_pref = preference_ranks(prefs, mod.CANDIDATES)
        args = (state, actions, priority, ranks if prefs is not None else None, has_pref if prefs is not None else None)
        fast_c, slow_c = Coordinator(labels, state, compiled=True), Coordinator(labels, state, compiled=False)
        assert fast_c.compiled and not slow_c.compiled
        fast, slow = fast_c.resolve(*args), slow_c.resolve(*args)
        for key in ("actions", "answered", "local_checks", "conflicts"):
            assert np.array_equal(getattr(fast, key), getattr(slow, key)), key
        assert fast.rounds == slow.rounds and fast.messages == slow.messages == 0
        assert len(fast.local_checks) == n // block
