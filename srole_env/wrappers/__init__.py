"""Wrappers other libraries need around the edge-cluster env: the flat observation (RLlib, SB3 ``MlpPolicy``).

``FlattenMaskObs(env)`` turns a Dict-observation parallel env (the bare ``EdgeClusterEnv`` or one behind
a shield) into one Box ``[observation (D) ; action_mask (A)]`` per agent, the layout of
``parallel_env(obs_format="flat")``; ``split_obs`` takes such an observation apart again. The SB3
vector-env wrapper for MaskablePPO is in ``srole_env.wrappers.sb3`` (it imports Stable-Baselines3).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.wrappers import BaseParallelWrapper

from srole_env.edge_cluster import flat_space, flatten_obs

__all__ = ["FlattenMaskObs", "flatten_obs", "split_obs"]


def split_obs(flat: np.ndarray, n_actions: int) -> tuple[np.ndarray, np.ndarray]:
    """A flat observation [..., D + A] -> (observation [..., D], action_mask [..., A] int8)."""
    flat = np.asarray(flat)
    return flat[..., :-n_actions], (flat[..., -n_actions:] > 0.5).astype(np.int8)


class FlattenMaskObs(BaseParallelWrapper):
    """Turns each agent's ``{observation [D], action_mask [A]}`` into one Box ``[D + A]`` (mask last)."""

    def __init__(self, env: Any):
        super().__init__(env)
        self._spaces: dict[str, spaces.Box] = {}

    def observation_space(self, agent: str) -> spaces.Box:
        """The flat Box of ``agent`` (built once from the inner Dict space)."""
        if agent not in self._spaces:
            inner = self.env.observation_space(agent)
            self._spaces[agent] = flat_space(inner["observation"], inner["action_mask"])
        return self._spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Reset the inner env; its observations flattened."""
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._flat(obs), infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Step the inner env; its observations flattened, everything else as it is."""
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        return self._flat(obs), rewards, terminations, truncations, infos

    @staticmethod
    def _flat(obs: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {a: flatten_obs(o["observation"], o["action_mask"]) for a, o in obs.items()}
