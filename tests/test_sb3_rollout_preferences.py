"""SB3 learners behind a shield reuse the rollout's forward pass for preferences, with the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from agents.common.array_env import ArrayEnv, make_parallel_env
from agents.common.vec_env import EdgeVecEnv
from agents.learners.sb3.learners import RolloutPreferences, sb3_preferences
from srole_env import make_config


@pytest.mark.parametrize("cls, use_mask", [(MaskablePPO, True), (PPO, False)])
def test_rollout_preferences_equal_a_fresh_forward_pass_and_skip_it(cls, use_mask):
    venv = EdgeVecEnv(ArrayEnv(make_parallel_env(make_config("small", horizon=12), "central")), seed=0)
    model = cls("MlpPolicy", venv, n_steps=6, batch_size=30, n_epochs=1, seed=0, device="cpu")
    prefs = RolloutPreferences(model, use_mask)
    hits = []

    def checked(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        hits.append(prefs._probs is not None and prefs._matches(obs, mask))
        got = prefs(obs, mask)
        assert np.array_equal(got, sb3_preferences(model, obs, mask, use_mask))
        return got

    venv.preference_fn = checked
    model.learn(18 * venv.num_envs)  # three rollouts with updates in between, across an episode end
    assert len(hits) >= 18 and all(hits)  # every round's preferences came from the rollout's forward pass

    obs, mask = venv.driver.obs, venv.driver.mask
    other = obs + 1.0  # not what the last forward pass saw: a fresh forward pass, the same numbers
    assert not prefs._matches(other, mask)
    assert np.array_equal(prefs(other, mask), sb3_preferences(model, other, mask, use_mask))
    if use_mask:
        flipped = mask.copy()
        flipped[:, 0] = 1 - flipped[:, 0]
        assert not prefs._matches(prefs._obs.cpu().numpy(), flipped)
