"""RLlib adapter: one tiny PPO iteration on the small scenario (behind each shield that exists), then the
checkpoint evaluated as a SROLE policy. Skipped when Ray/RLlib is not installed (the ``rllib`` extra)."""

from __future__ import annotations

import json

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason='Ray/RLlib not installed (optional extra: pip install -e ".[rllib]")')
pytest.importorskip("ray.rllib", reason='RLlib not installed (optional extra: pip install -e ".[rllib]")')

from agents.learners.rllib.adapter import (  # noqa: E402
    RUN_CONFIG_FILE,
    FlattenMaskObs,
    load_rllib_policy,
    make_rllib_env,
    make_shielded_env,
    train_rllib,
)

pytestmark = [
    pytest.mark.rllib,  # the nox session rllib (its own venv: ray[rllib] pins gymnasium 1.2), not the main suite
    pytest.mark.filterwarnings("ignore:.*rllib-multi-agent-env-v0 already in registry:UserWarning"),
]

HORIZON = 16
TINY = {"train_batch_size": 64, "minibatch_size": 32, "num_epochs": 1, "env_overrides": {"horizon": HORIZON}}


def _available_shields() -> list[str]:
    """``none`` always; ``central`` and ``decentralized`` once ``shields.make_shield`` is importable."""
    try:
        from shields import make_shield  # noqa: F401
    except ImportError:
        return ["none"]
    return ["none", "central", "decentralized"]


CASES = [(shield, "shared", "logits") for shield in _available_shields()] + [
    ("none", "per_agent", "logits"),
    ("none", "shared", "features"),
]


@pytest.fixture(scope="module")
def ray_session():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # never a stranger's
    yield
    ray.shutdown()


def test_flattened_env_matches_rllib_spaces():
    env = make_rllib_env({"scenario": "small", "overrides": {"horizon": HORIZON}})
    obs, _ = env.reset(seed=0)
    inner = make_shielded_env("small", horizon=HORIZON)
    d = inner.sim.obs_dim
    a = inner.sim.n_actions
    assert len(obs) == inner.config.n_edges
    for agent, o in obs.items():
        assert o.shape == (d + a,) and o.dtype == np.float32
        assert env.observation_space[agent].contains(o)
        assert o[-1] == 1.0  # hold is always allowed: the last mask entry
    flat = FlattenMaskObs(make_shielded_env("small", horizon=HORIZON))
    assert flat.observation_space("edge_0").shape == (d + a,)


@pytest.mark.parametrize(("shield", "mapping", "masking"), CASES)
def test_train_one_iteration_and_evaluate(ray_session, tmp_path, shield, mapping, masking):
    ckpt = train_rllib(
        "small", shield, iterations=1, num_env_runners=0, seed=0, out_dir=tmp_path,
        policy_mapping=mapping, action_masking=masking, verbose=False, **TINY,
    )
    assert ckpt.is_dir()
    run = json.loads((tmp_path / RUN_CONFIG_FILE).read_text())
    assert run["config"]["shield"] == shield and run["config"]["policy_mapping"] == mapping
    assert len(run["history"]) == 1 and run["history"][0]["env_steps"] >= TINY["train_batch_size"]

    policy = load_rllib_policy(ckpt)
    assert policy.respect_mask
    env = make_shielded_env("small", shield, horizon=HORIZON)
    obs, _ = env.reset(seed=3)
    n_actions = env.unwrapped.sim.n_actions
    for _ in range(8):
        o = np.stack([obs[a]["observation"] for a in env.agents])
        m = np.stack([obs[a]["action_mask"] for a in env.agents])
        prefs = policy.preferences(o, m)
        actions = policy.act(o, m)
        assert prefs.shape == m.shape and actions.shape == (len(env.agents),)
        assert np.all((actions >= 0) & (actions < n_actions))
        assert np.all(m[np.arange(len(actions)), actions] == 1), "policy chose a masked action"
        joint = dict(zip(env.agents, actions.tolist()))
        if shield == "none":
            obs, _, _, truncated, infos = env.step(joint)
        else:  # the shield takes the policy's preferences for displaced agents' alternatives
            obs, _, _, truncated, infos = env.step(joint, preferences=prefs)
            assert all("shield_rewritten" in info for info in infos.values())
        assert not any(truncated.values())

    # Only "hold" allowed: a mask-respecting policy must hold; the masked-logit module masks its own logits.
    hold_only = np.zeros_like(m)
    hold_only[:, -1] = 1
    assert np.all(policy.act(o, hold_only) == n_actions - 1)
    if masking == "logits":
        assert np.all(policy.logits(o, hold_only)[:, :-1] < -1e30)

    # the run directory evaluates through the same path as every other learner (srole evaluate)
    from srole_cli.main import main

    table = tmp_path / "eval.csv"
    assert main(["evaluate", "--policy", str(tmp_path), "--episodes", "1", "--csv", str(table)]) == 0
    row = table.read_text().splitlines()
    assert row[0].startswith("policy,shield") and f",{shield}," in row[1]
    if shield != "none":
        assert "collisions" in row[0] and float(row[1].split(",")[row[0].split(",").index("collisions")]) == 0


def test_srole_train_backend_rllib(ray_session, tmp_path, capsys):
    from srole_cli.main import main

    out = tmp_path / "run"
    argv = ["train", "--backend", "rllib", "--shield", "decentralized", "--rounds", "64", "--out", str(out),
            "--num-env-runners", "0", "--set", f"horizon={HORIZON}", "--no-progress",
            "--hparam", "train_batch_size=64", "--hparam", "minibatch_size=32", "--hparam", "num_epochs=1"]
    assert main(argv) == 0
    run = json.loads((out / RUN_CONFIG_FILE).read_text())
    # --rounds is the budget in decision rounds, and RLlib env steps are rounds
    assert run["config"]["timesteps"] == 64 and run["config"]["shield"] == "decentralized"
    assert run["history"][-1]["env_steps"] >= 64
    assert main(["evaluate", "--policy", str(out), "--episodes", "1"]) == 0
    assert "decentralized" in capsys.readouterr().out
