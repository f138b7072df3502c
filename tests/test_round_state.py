"""The env's public round-state API (what a shield reads) and its render overlays (what a shield draws)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import srole_env
from shields import make_shield
from srole_env import render
from srole_env.round_state import round_state

ROOT = Path(__file__).resolve().parents[1]


def test_round_state_is_the_simulators_round_and_follows_the_steps():
    env = srole_env.parallel_env("small", arrival_rate=0.05)
    env.reset(seed=3)
    for _ in range(3):
        state, sim = env.round_state(), env.sim
        has, demand = sim.head_demand()
        slots, mem = sim.committed()
        assert np.array_equal(state.has_task, has) and np.array_equal(state.demand_mem, demand)
        assert np.array_equal(state.committed_slots, slots) and np.array_equal(state.committed_mem, mem)
        assert state.candidates is env.topology.candidates and state.n_candidates == env.n_candidates
        assert env.n_actions == env.n_candidates + 1 == env.hold_action + 1
        env.step(dict.fromkeys(env.agents, 1))
    assert env.round == 3 and env.last_result is env._last


def test_round_state_before_reset_says_so():
    env = srole_env.parallel_env("small")
    with pytest.raises(RuntimeError, match="reset"):
        env.round_state()
    with pytest.raises(RuntimeError, match="reset"):
        round_state(env.sim)


def test_interventions_are_recorded_through_the_env():
    env = make_shield(srole_env.parallel_env("small", arrival_rate=0.05), "central", seed=0)
    env.reset(seed=5)
    rewritten = 0
    for _ in range(4):
        env.step(dict.fromkeys(env.agents, 1))
        rewritten += env.last_report["interventions"]
    assert rewritten > 0 and env.unwrapped.metrics()["interventions"] == rewritten


class _Marker:
    """An overlay that paints every placement of the round in one colour and adds a headline line."""

    def __init__(self, colour: str):
        self.colour = colour
        self.calls = 0

    def draw_overlay(self, canvas: render.MapCanvas) -> None:
        self.calls += 1
        canvas.placement_colours[:] = self.colour
        canvas.headline.append(f"marker {self.colour}")


def test_registered_overlays_are_drawn_and_replaced_by_name():
    env = srole_env.parallel_env("small", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(dict.fromkeys(env.agents, 0))
    first, second = _Marker("#2ca02c"), _Marker("#9467bd")
    env.add_render_overlay("marker", first)
    env.add_render_overlay("marker", second)
    assert list(env.render_overlays) == ["marker"] and env.render_overlays["marker"] is second
    fig = Figure()
    render.draw(fig, env)
    assert (first.calls, second.calls) == (0, 1)
    assert "marker #9467bd" in " ".join(t.get_text() for t in fig.texts)
    with pytest.raises(TypeError, match="draw_overlay"):
        env.add_render_overlay("bad", object())


def test_a_shield_registers_its_overlay_publicly():
    env = srole_env.parallel_env("small", render_mode="rgb_array")
    shield = make_shield(env, "decentralized", regions=2)
    assert env.render_overlays == {"shield": shield}


def test_shields_and_the_renderer_read_no_private_env_state():
    pattern = re.compile(r"\._shield|unwrapped\.sim\b|\benv\.sim\b|\._last\b|\._extra_latency|srole_env(\.\w+)*\._")
    files = sorted((ROOT / "shields").glob("*.py")) + [ROOT / "srole_env" / "render.py"]
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in files
            for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
