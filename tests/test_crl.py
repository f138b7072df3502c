"""CRL at the cluster head: masked MaskablePPO respects the mask, places tasks in every seed, discounts per round;
``crl_idqn`` credits each decision with its own edge's rewards and beats ``least_loaded``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

import srole_env
from agents.harness.evaluate import evaluate
from agents.harness.policies import load_policy
from agents.harness.train import train
from agents.learners.round_discount import RoundDiscountCallback, RoundDiscountMaskableRolloutBuffer

CLUSTER = {"scenario": "small", "horizon": 12, "arrival_rate": 0.03}
"""Busy enough that many candidates are unsafe (masks with zeros), small enough to train in seconds."""
HPARAMS = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train(tmp_path: Path, seed: int) -> Path:
    return train("crl_maskable_ppo", "none", CLUSTER, 192, seed, tmp_path / f"crl{seed}", "cpu",
                 hparams=HPARAMS, progress=False)


def test_masked_crl_never_takes_a_masked_action(tmp_path: Path):
    run = _train(tmp_path, 0)
    policy, meta = load_policy(run)
    assert meta["env_kind"] == "centralized"
    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**CLUSTER))
    rng = np.random.default_rng(0)
    masked_seen = 0
    for seed in (11, 12):
        obs, _ = env.reset(seed=seed)
        while env.deciding_edge >= 0:
            mask = env.action_masks()
            masked_seen += int((~mask).sum())
            # sampled (training-time) and greedy (evaluation-time) actions
            sampled, _ = policy.model.predict(obs, action_masks=mask, deterministic=False)
            greedy = int(policy.act(obs[None, :], mask[None, :].astype(np.int8))[0])
            assert mask[int(sampled)] and mask[greedy]
            action = int(sampled) if rng.random() < 0.5 else greedy
            obs, *_ = env.step(action)
    assert masked_seen > 0, "the cluster must be busy enough for the mask to matter"


def test_crl_places_tasks_in_every_seed(tmp_path: Path):
    for seed in (0, 1, 2):
        result = evaluate(_train(tmp_path, seed), episodes=1, seed=100, device="cpu")
        assert result["tasks_placed"] > 0 and result["jobs_completed"] > 0, f"training seed {seed}"
        assert result["head_decisions"] > 0


def test_round_discount_gae_by_hand():
    buf = RoundDiscountMaskableRolloutBuffer(3, spaces.Box(0, 1, (1,)), spaces.Discrete(2), "cpu",
                                             gae_lambda=1.0, gamma=0.5, n_envs=1)
    for reward, value in ((0.0, 1.0), (4.0, 2.0), (8.0, 3.0)):
        buf.add(np.zeros((1, 1)), np.zeros((1, 1)), np.array([reward]), np.array([0.0]),
                torch.tensor([value]), torch.zeros(1), action_masks=np.ones((1, 2)))
    buf.step_gamma[:, 0] = [1.0, 0.5, 0.25]  # step 0 within a round, step 1 ends a round, step 2 ends two
    buf.compute_returns_and_advantage(torch.tensor([10.0]), np.array([False]))
    # lambda = 1: returns are discounted sums with each step's own discount
    g2 = 8.0 + 0.25 * 10.0
    g1 = 4.0 + 0.5 * g2
    g0 = 0.0 + 1.0 * g1
    np.testing.assert_allclose(buf.returns[:, 0], [g0, g1, g2], rtol=1e-6)


def test_training_discounts_within_a_round_by_one(tmp_path: Path):
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**CLUSTER))
    venv = DummyVecEnv([lambda: env])
    model = MaskablePPO("MlpPolicy", venv, n_steps=64, batch_size=32, n_epochs=1, gamma=0.8, seed=0,
                        rollout_buffer_class=RoundDiscountMaskableRolloutBuffer)
    model.learn(64, callback=RoundDiscountCallback())
    gammas = model.rollout_buffer.step_gamma[:, 0]
    assert (gammas == 1.0).any() and np.isclose(gammas, 0.8).any()
    allowed = 0.8 ** np.arange(12)  # gamma ** rounds_completed
    assert np.abs(gammas[:, None] - allowed[None, :]).min(axis=1).max() < 1e-6


# ---------------------------------------------------------------------- crl_idqn: per-edge credit at the head
def test_edge_credit_chains_discounts_per_round_by_hand():
    from agents.learners.crl_idqn import EdgeCredit

    g = 0.5
    credit = EdgeCredit(n_edges=2, n_step=2, gamma=g)
    o = [np.full(3, float(i)) for i in range(4)]
    m = np.ones(2, dtype=bool)
    assert credit.decide(0, o[0], m) == []
    credit.act(0, o[0], 1)
    credit.pay([np.array([1.0, 100.0]), np.array([2.0, 100.0])])  # edge 1 has no open decision: not paid
    assert credit.decide(0, o[1], m) == []  # one transition: the 2-step chain is not complete yet
    credit.act(0, o[1], 0)
    credit.pay([np.array([4.0, 100.0])])
    (obs, action, ret, next_obs, _, discount), = credit.decide(0, o[2], m)
    assert action[0] == 1 and obs[0, 0] == 0.0 and next_obs[0, 0] == 2.0
    assert ret[0] == pytest.approx(1.0 + g * 2.0 + g**2 * 4.0) and discount == pytest.approx(g**3)
    credit.act(0, o[2], 0)
    credit.pay([np.array([8.0, 0.0])])
    (_, action, ret, next_obs, _, discount), = credit.end_episode()  # the open decision at o[2] is dropped
    assert action[0] == 0 and ret[0] == 4.0 and discount == g and next_obs[0, 0] == 2.0
    assert credit.end_episode() == []


def test_edge_credit_pays_each_decision_its_own_edges_rewards():
    """Invariant on a real episode (gamma 1, n_step 1): the stored returns add up to each edge's rewards between
    its first and its last head decision, counted independently from the env's infos."""
    from agents.learners.crl_idqn import EdgeCredit

    env = srole_env.CentralizedSchedulingEnv(srole_env.make_config(**CLUSTER))
    credit = EdgeCredit(env.config.n_edges, n_step=1, gamma=1.0)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=5)
    rounds = list(info["edge_rewards"])  # per-edge rewards [N] of every round so far, in order
    decided: dict[int, list[int]] = {}  # edge -> round indices of its decisions
    stored = []
    done = False
    while not done:
        edge, mask = env.deciding_edge, env.action_masks()
        decided.setdefault(edge, []).append(len(rounds))
        stored += credit.decide(edge, obs, mask)
        action = int(rng.choice(np.flatnonzero(mask)))
        credit.act(edge, obs, action)
        obs, _, terminated, truncated, info = env.step(action)
        credit.pay(info["edge_rewards"])
        rounds += info["edge_rewards"]
        done = terminated or truncated
    stored += credit.end_episode()
    assert len(rounds) == env.config.horizon
    expected = sum(rounds[r][e] for e, ds in decided.items() for r in range(ds[0], ds[-1]))
    assert len(stored) == sum(len(ds) - 1 for ds in decided.values()) > 0
    assert sum(float(t[2][0]) for t in stored) == pytest.approx(expected)
    assert abs(expected) > 0 and all(t[5] == 1.0 for t in stored)


def test_crl_idqn_registry_hparams_and_policy_round_trip(tmp_path: Path):
    from agents.harness.registry import LEARNERS
    from agents.learners.crl_idqn import CRLIDQNConfig

    spec = LEARNERS["crl_idqn"]
    assert spec.env_kind == "centralized"
    warm_off = {"demo_fraction": 0.0, "demo_rounds": 0, "demo_margin": 0.8, "demo_weight": 1.0, "pretrain_steps": 0}
    # MARL's hyperparameters, and the warm start off
    assert spec.hparams({"n_step": 3}) == {**LEARNERS["idqn"].hparams({}), "n_step": 3, **warm_off}
    with pytest.raises(ValueError, match="unknown"):
        spec.hparams({"n_steps": 3})
    hp = {"learning_starts": 50, "batch_size": 32, "n_step": 2, "lr": 1e-3, "gamma": 0.7}
    run = train("crl_idqn", "none", CLUSTER, 40, 0, tmp_path / "run", "cpu", hparams=hp, progress=False)
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["rounds"] == 40 and state["samples"] > 0 and state["gradient_updates"] > 0
    assert state["decisions"] >= state["samples"]
    policy, meta = load_policy(run)
    assert meta["env_kind"] == "centralized" and meta["algo"] == "crl_idqn"
    saved = json.loads((run / "config.json").read_text())["hparams"]
    assert {k: saved[k] for k in hp} == hp and set(saved) == {f.name for f in dataclasses.fields(CRLIDQNConfig)}
    result = evaluate(run, episodes=1, seed=100, device="cpu")
    assert result["head_decisions"] > 0 and result["tasks_placed"] > 0
    resumed = train("crl_idqn", rounds=60, out_dir=run, device="cpu", resume=True, progress=False)
    assert json.loads((resumed / "checkpoint" / "state.json").read_text())["rounds"] == 60


def test_crl_idqn_honours_the_learning_rate_decay(tmp_path: Path):
    # lr_end_fraction=0.25 over a 40-round run: the optimizer's last rate is near 0.25 x lr, not lr
    from agents.learners.idqn import IDQN

    hp = {"learning_starts": 20, "batch_size": 16, "hidden": [16], "lr": 1e-3, "lr_end_fraction": 0.25}
    run = train("crl_idqn", "none", CLUSTER, 40, 0, tmp_path / "run", "cpu", hparams=hp, progress=False)
    agent = IDQN.load(run / "checkpoint", "cpu", with_buffer=False)
    assert agent.updates > 0
    lr = agent.optim.param_groups[0]["lr"]
    assert 0.25e-3 <= lr < 0.3e-3, f"the decayed rate was not applied: lr={lr}"


BUSY = {"scenario": "small", "n_edges": 10, "horizon": 30, "arrival_rate": 0.02}
"""A busy cluster (least_loaded's mean JCT ~100 s, the greedy head's ~91 s): learning has something to find."""


def test_crl_idqn_beats_least_loaded_on_a_busy_cluster(tmp_path: Path):
    """Learned CRL at full strength (MARL's tuned IDQN hyperparameters, per-edge credit) beats least_loaded on the
    same 6 episodes after 800 rounds. Checked on training seeds 0, 1, 2 before fixing seed 0: 93.9, 97.0 and
    92.9 s against least_loaded's 102.5 s (crl_greedy: 91.3 s)."""
    hp = {"lr": 7e-4, "gamma": 0.74, "n_step": 5, "learning_starts": 500, "batch_size": 64}
    run = train("crl_idqn", "none", BUSY, 800, 0, tmp_path / "crl", "cpu", hparams=hp, progress=False)
    learned = evaluate(run, "none", BUSY, 6, 500, "cpu")["mean_jct_all"]
    heuristic = evaluate("least_loaded", "none", BUSY, 6, 500, "cpu")["mean_jct_all"]
    assert learned < heuristic, (learned, heuristic)
