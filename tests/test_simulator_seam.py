"""The simulator is used through its declared seam only: no module outside ``srole_env/`` imports a private name
of ``srole_env`` (the simulator's store, ledger, physics included) or swaps an env's simulator by assignment
(``EdgeClusterEnv(..., simulator=...)`` and ``srole_env.core.physics`` are the ways in)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np

from srole_env import EdgeClusterEnv
from srole_env.core.physics import SimulatedPhysics
from srole_env.core.simulator import ClusterSimulator

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", ".git", "srole_env", "build", "dist", "site", ".nox"}


def _sources() -> list[Path]:
    here = Path(__file__).resolve()
    return [p for p in ROOT.rglob("*.py") if not SKIP & set(p.relative_to(ROOT).parts) and p.resolve() != here]


def test_no_module_outside_srole_env_imports_a_private_name_of_it():
    bad = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("srole_env"):
                bad += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, bad


def test_no_module_outside_srole_env_assigns_an_env_its_simulator():
    pattern = re.compile(r"\.sim\s*=(?!=)")
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in _sources()
           for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not bad, bad


def test_the_checks_catch_what_they_look_for():
    tree = ast.parse("from srole_env.core.simulator import _Table\n")
    node = tree.body[0]
    assert isinstance(node, ast.ImportFrom) and node.names[0].name.startswith("_")
    assert re.search(r"\.sim\s*=(?!=)", "env.base.sim = other") and not re.search(r"\.sim\s*=(?!=)", "a.sim == b")


class _CountingPhysics(SimulatedPhysics):
    """The simulator's own physics, counting the phases it is asked to run."""

    def __init__(self) -> None:
        self.calls = {"reset": 0, "run": 0, "jobs_added": 0}

    def reset(self, sim):
        self.calls["reset"] += 1

    def jobs_added(self, sim, ids, batch):
        self.calls["jobs_added"] += 1

    def run(self, sim, dt, mem):
        self.calls["run"] += 1
        return super().run(sim, dt, mem)


def test_an_env_takes_a_simulator_with_its_own_physics_and_gets_the_same_numbers():
    physics = _CountingPhysics()
    env = EdgeClusterEnv("small", n_edges=8, horizon=30, simulator=lambda cfg: ClusterSimulator(cfg, physics))
    plain = EdgeClusterEnv("small", n_edges=8, horizon=30)
    for e in (env, plain):
        e.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        actions = rng.integers(env.n_actions, size=8)
        a, b = env.step_arrays(actions), plain.step_arrays(actions)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2])
    assert env.metrics() == plain.metrics()
    assert physics.calls["reset"] == 1 and physics.calls["run"] == 30 and physics.calls["jobs_added"] > 1
