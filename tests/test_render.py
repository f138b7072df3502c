"""render_mode="rgb_array"/"human": the cluster map frame, its arrows and regions, recording an episode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Polygon

import srole_env
from shields import make_shield
from srole_env import render

ROOT = Path(__file__).resolve().parents[1]


def _busy(shield: str, render_mode: str | None = "rgb_array", rounds: int = 6, **kw):
    """A small cluster under heavy load where every agent sends its task to its nearest neighbour."""
    env = srole_env.parallel_env("small", render_mode=render_mode, arrival_rate=0.05, horizon=50, **kw)
    env = env if shield == "none" else make_shield(env, shield, seed=0)
    env.reset(seed=5)
    for _ in range(rounds):
        env.step(dict.fromkeys(env.agents, 1))
    return env


def _arrows(fig: Figure) -> dict[str, int]:
    counts: dict[str, int] = {}
    for patch in fig.axes[0].patches:
        if isinstance(patch, FancyArrowPatch):
            key = to_hex(patch.get_edgecolor())
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_rgb_array_frame_is_an_image_after_reset_and_steps():
    env = srole_env.parallel_env("small", render_mode="rgb_array")
    env.reset(seed=0)
    for _ in range(2):
        frame = env.render()
        assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
        assert frame.shape == (render.FRAME_SIZE[1], render.FRAME_SIZE[0], 3)
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 50  # a picture, not a blank canvas
        env.step(dict.fromkeys(env.agents, 0))
    assert "rgb_array" in env.metadata["render_modes"] and "ansi" in env.metadata["render_modes"]


def test_arrows_follow_the_rounds_placements_and_rewrites():
    env = _busy("central")
    base, report = env.unwrapped, env.last_report
    result = base._last
    c = base.sim.n_candidates
    requested = int(np.count_nonzero(report["rewritten"] & (report["original"] < c)))
    assert requested > 0  # the scenario makes the shield rewrite placements
    moved = result.placed & (result.targets != np.arange(base.config.n_edges))
    fig = Figure()
    render.draw(fig, base, env)
    arrows = _arrows(fig)
    assert arrows.get(render.ORANGE, 0) == requested  # dashed: the target each rewritten agent asked for
    assert arrows[render.ORANGE] and all(
        p.get_linestyle() != "-" for p in fig.axes[0].patches
        if isinstance(p, FancyArrowPatch) and to_hex(p.get_edgecolor()) == render.ORANGE
    )
    solid = sum(n for colour, n in arrows.items() if colour != render.ORANGE)
    assert solid == int(moved.sum())
    assert arrows.get(render.BLUE, 0) == int((moved & report["rewritten"]).sum())  # granted instead
    assert render.RED not in arrows  # behind the shield nothing collides


def test_unshielded_collisions_are_red():
    env = _busy("none", rounds=8)
    result = env.unwrapped._last
    assert result.collisions > 0 or result.caused_overload.any()
    fig = Figure()
    render.draw(fig, env.unwrapped, None)
    bad = result.placed & (result.collided | result.caused_overload)
    bad_moved = bad & (result.targets != np.arange(len(bad)))
    assert _arrows(fig).get(render.RED, 0) == int(bad_moved.sum())
    red_rings = [c for c in fig.axes[0].collections
                 if len(c.get_edgecolor()) and to_hex(c.get_edgecolor()[0]) == render.RED and len(c.get_offsets())]
    ring_xy = {tuple(xy) for ring in red_rings for xy in np.asarray(ring.get_offsets())}
    pos = env.unwrapped.sim.topology.positions
    for edge in result.targets[result.caused_overload]:
        assert tuple(pos[edge]) in ring_xy  # every edge this round's placements overloaded is ringed red


def test_decentralized_regions_are_drawn_as_hulls():
    env = _busy("decentralized", rounds=1, n_edges=12, n_regions=3)
    fig = Figure()
    render.draw(fig, env.unwrapped, env)
    hulls = [p for p in fig.axes[0].patches if isinstance(p, Polygon) and not isinstance(p, FancyArrowPatch)]
    sizes = np.bincount(env.labels)
    assert len(hulls) == int((sizes >= 3).sum())
    for hull in hulls:  # each hull's corners are edges of one region
        corners = hull.get_xy()[:-1]
        pos = env.unwrapped.sim.topology.positions
        members = [int(np.argmin(np.linalg.norm(pos - xy, axis=1))) for xy in corners]
        assert len({int(env.labels[m]) for m in members}) == 1
    text = " ".join(t.get_text() for t in fig.texts)
    assert "decentralized (3 regions)" in text and f"round {env.unwrapped.sim.round}/50" in text
    frame = env.render()  # the wrapper passes render through to the env, which draws the shield
    assert frame.shape[2] == 3


def test_no_render_mode_loads_no_matplotlib():
    code = ("import sys, srole_env, shields; e = shields.make_shield(srole_env.parallel_env(), 'central'); "
            "e.reset(seed=0); e.step({}); assert e.render() is None; "
            "print(any(m.startswith('matplotlib') for m in sys.modules), 'srole_env.render' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("shield", ["none", "decentralized"])
def test_parallel_api_with_a_render_mode(shield):
    from pettingzoo.test import parallel_api_test

    env = srole_env.parallel_env("small", render_mode="rgb_array", horizon=6)
    parallel_api_test(env if shield == "none" else make_shield(env, shield), num_cycles=6)


def test_human_mode_constructs_and_closes():
    env = srole_env.parallel_env("small", render_mode="human")
    env.reset(seed=0)
    env.close()
    with pytest.raises(ValueError, match="render_mode"):
        srole_env.parallel_env("small", render_mode="video")


def test_evaluate_records_the_first_episode(tmp_path, capsys):
    import imageio.v3 as iio

    from agents.harness.evaluate import evaluate
    from srole_cli.main import main

    path = tmp_path / "clip" / "ep.gif"
    result = evaluate("least_loaded", "decentralized", {"scenario": "small", "horizon": 3}, episodes=2, seed=0,
                      record=path)
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 3 and frames.shape[-1] == 3  # one frame per round of the first episode
    assert result["episodes"] == 2
    with pytest.raises(ValueError, match="record"):
        evaluate("least_loaded", "none", {"scenario": "small", "horizon": 3}, episodes=1, record=tmp_path / "x.mp4")
    status = main(["evaluate", "--policy", "local", "--scenario", "small", "--set", "horizon=2", "--episodes", "1",
                   "--record", str(tmp_path / "cli.gif")])
    assert status == 0 and iio.imread(tmp_path / "cli.gif", index=None).shape[0] == 2
    capsys.readouterr()
