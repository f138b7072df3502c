"""CRL at the cluster head: masked MaskablePPO respects the mask, places tasks in every seed, discounts per round."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

import srole_env
from agents.common.round_discount import RoundDiscountCallback, RoundDiscountMaskableRolloutBuffer
from agents.evaluate import evaluate
from agents.policies import load_policy
from agents.train import train

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
