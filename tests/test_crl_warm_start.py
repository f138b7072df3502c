"""``crl_idqn``'s warm start by imitation of the greedy head (DQfD's demonstrations and large-margin loss): the head
learns the greedy head's decisions, both collection paths make the same run, a run is seed-reproducible, the
default learner is unchanged, and bad settings are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import srole_env
from agents.baselines.crl_greedy import EarliestFinishHead
from agents.harness.train import train
from agents.learners.crl_idqn import CRLIDQN, DEMO_FILE, DemoSet, margin_loss
from srole_env.core import head_kernel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLUSTER = {"scenario": "paper", "n_edges": 20, "horizon": 40, "arrival_rate": 0.02}
WARM = {"hidden": [64, 64], "batch_size": 64, "learning_starts": 64, "demo_rounds": 600, "pretrain_steps": 1500,
        "demo_weight": 10.0, "lr": 1e-3}
"""About 4,000 demonstrations: a flat MLP then agrees with the greedy head on about 75% of held-out decisions (about
60% after 700 demonstrations, 80% after 7,000 with 128 x 128 units; 14% of the greedy head's decisions are near ties,
its two best finish times within 1%)."""


def _agreement(run: Path, seeds: tuple[int, ...]) -> float:
    """Share of decisions (with a choice: two or more allowed actions) on which the trained head's greedy action is
    CRL-greedy's, along CRL-greedy's own trajectories of held-out episodes."""
    head = CRLIDQN.load_policy(run / "checkpoint")
    greedy = EarliestFinishHead()
    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**CLUSTER))
    same = total = 0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        while env.deciding_edge >= 0:
            mask = env.action_masks()
            action = int(greedy.act(obs[None, :], mask[None, :])[0])
            if mask.sum() > 1:
                total += 1
                same += int(np.argmax(head.preferences(obs[None, :], mask[None, :])[0])) == action
            obs, *_ = env.step(action)
    return same / total


def test_warm_start_alone_imitates_the_greedy_head(tmp_path: Path):
    held_out = (7_001, 7_002)
    warm = train("crl_idqn", "none", CLUSTER, WARM["demo_rounds"] + 1, 3, tmp_path / "warm", "cpu", hparams=WARM,
                 progress=False)
    cold = {k: v for k, v in WARM.items() if k not in ("demo_rounds", "pretrain_steps")}
    cold_run = train("crl_idqn", "none", CLUSTER, WARM["demo_rounds"] + 1, 3, tmp_path / "cold", "cpu",
                     hparams=cold, progress=False)
    warm_share, cold_share = _agreement(warm, held_out), _agreement(cold_run, held_out)
    assert warm_share > 0.7, warm_share
    assert warm_share > cold_share + 0.2, (warm_share, cold_share)  # the same budget without it learns less of it


def _weights(run: Path) -> dict[str, np.ndarray]:
    agent = CRLIDQN.load(run / "checkpoint", "cpu")
    return {k: v.numpy().copy() for k, v in agent.q.state_dict().items()}


@pytest.mark.skipif(not head_kernel.available(), reason="the compiled loop needs numba")
def test_warm_start_is_seed_reproducible_on_both_paths(tmp_path: Path, monkeypatch):
    hp = {**WARM, "demo_rounds": 30, "pretrain_steps": 20, "hidden": [16]}
    runs = [train("crl_idqn", "none", CLUSTER, 60, 5, tmp_path / name, "cpu", hparams=hp, progress=False)
            for name in ("a", "b")]
    monkeypatch.setattr(head_kernel, "available", lambda: False)  # HeadLearner steps once per decision
    runs.append(train("crl_idqn", "none", CLUSTER, 60, 5, tmp_path / "slow", "cpu", hparams=hp, progress=False))
    demos = [DemoSet.load(r / "checkpoint" / DEMO_FILE) for r in runs]
    assert demos[0].size > 0
    weights = [_weights(r) for r in runs]
    for other_demos, other in zip(demos[1:], weights[1:]):
        assert other_demos.size == demos[0].size
        assert np.array_equal(other_demos.actions[: other_demos.size], demos[0].actions[: demos[0].size])
        for key, value in other.items():
            assert np.array_equal(value, weights[0][key]), key
    other_seed = train("crl_idqn", "none", CLUSTER, 60, 6, tmp_path / "c", "cpu", hparams=hp, progress=False)
    assert any(not np.array_equal(v, weights[0][k]) for k, v in _weights(other_seed).items())


def test_demonstrations_are_the_greedy_heads_decisions(tmp_path: Path):
    hp = {**WARM, "demo_rounds": 20, "pretrain_steps": 0, "hidden": [16]}
    run = train("crl_idqn", "none", CLUSTER, 25, 1, tmp_path / "r", "cpu", hparams=hp, progress=False)
    demos = DemoSet.load(run / "checkpoint" / DEMO_FILE)
    n = demos.size
    assert n > 20
    expected = EarliestFinishHead().act(demos.obs[:n], demos.masks[:n])
    assert np.array_equal(demos.actions[:n], expected)
    state = CRLIDQN.load(run / "checkpoint", "cpu")
    assert state.demos is not None and state.demos.size == n  # a resumed run keeps them


def test_default_learner_takes_no_demonstrations(tmp_path: Path):
    hp = {"hidden": [16], "batch_size": 16, "learning_starts": 16}
    run = train("crl_idqn", "none", CLUSTER, 20, 1, tmp_path / "r", "cpu", hparams=hp, progress=False)
    assert not (run / "checkpoint" / DEMO_FILE).exists()
    assert CRLIDQN.load(run / "checkpoint", "cpu").demos is None


def test_margin_loss():
    q = torch.tensor([[1.0, 0.0, 5.0], [0.0, 2.0, 0.0]])
    masks = torch.tensor([[True, True, False], [True, True, True]])
    actions = torch.tensor([0, 0])
    # row 0: action 0 leads the other allowed action by 1 >= 0.8 (the masked 5.0 does not count): 0;
    # row 1: max(0 + 0, 2 + 0.8, 0 + 0.8) - 0 = 2.8
    assert margin_loss(q, masks, actions, 0.8).item() == pytest.approx(2.8 / 2)
    assert margin_loss(q[:1], masks[:1], actions[:1], 1.5).item() == pytest.approx(0.5)


@pytest.mark.parametrize(("hp", "field"), [({"demo_rounds": 30}, "demo_rounds"), ({"demo_rounds": -1}, "demo_rounds"),
                                           ({"demo_margin": 0.0}, "demo_margin"),
                                           ({"pretrain_steps": -3}, "pretrain_steps")])
def test_bad_warm_start_settings_are_refused(tmp_path: Path, hp: dict, field: str):
    with pytest.raises(ValueError, match=field):
        train("crl_idqn", "none", CLUSTER, 30, 1, tmp_path / "r", "cpu", hparams={"hidden": [16], **hp},
              progress=False)


def test_crl_tuning_trials_start_warm_and_others_do_not():
    optuna = pytest.importorskip("optuna")
    from study.experiments.tuning import CRL_WARM_START, _suggest

    knobs = {"lr": 1e-3, "gamma": 0.7}
    algo, hp = _suggest(optuna.trial.FixedTrial({"algo": "crl_idqn", **knobs, "crl_idqn.n_step": 3}), "CRL")
    assert algo == "crl_idqn" and hp == {**knobs, "n_step": 3, **CRL_WARM_START}
    _, hp = _suggest(optuna.trial.FixedTrial({"algo": "crl_dqn", **knobs, "crl_dqn.exploration_fraction": 0.1}), "CRL")
    assert "demo_fraction" not in hp
    _, hp = _suggest(optuna.trial.FixedTrial({"algo": "idqn", **knobs, "idqn.n_step": 3}), "MARL")
    assert hp == {**knobs, "n_step": 3}


def test_demo_fraction_is_fixed_in_rounds_at_the_start():
    from agents.learners.crl_idqn import CRLIDQNConfig

    hp = CRLIDQNConfig(demo_fraction=0.25).for_budget(4000)
    assert hp.demo_rounds == 1000 and hp.for_budget(100).demo_rounds == 1000  # fixed once, as eps_decay_rounds
    assert CRLIDQNConfig(demo_fraction=0.25, demo_rounds=7).for_budget(4000).demo_rounds == 7


def test_demo_set_grows_up_to_its_capacity(tmp_path: Path):
    demos = DemoSet(5000, 3, 2)
    rows = np.arange(4500 * 3, dtype=np.float32).reshape(4500, 3)
    for chunk in np.array_split(np.arange(4500), 7):
        demos.add(rows[chunk], np.ones((len(chunk), 2), bool), chunk % 2)
    assert demos.size == 4500 and np.array_equal(demos.obs[:4500], rows)
    demos.save(tmp_path / "d.npz")
    back = DemoSet.load(tmp_path / "d.npz")
    assert back.size == 4500 and back.capacity == 5000 and np.array_equal(back.actions[:4500], np.arange(4500) % 2)
    with pytest.raises(RuntimeError, match="capacity"):
        back.add(rows[:501], np.ones((501, 2), bool), np.zeros(501, np.int64))
