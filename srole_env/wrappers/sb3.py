"""Stable-Baselines3 on SuperSuit-vectorized edge-cluster envs: masks for MaskablePPO, the horizon as truncation.

SuperSuit's ``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1(..., base_class="stable_baselines3")``
turns ``parallel_env(obs_format="flat")`` into an SB3 ``VecEnv`` with one entry per agent (N per copy).
``VecActionMasks`` wraps that ``VecEnv`` and adds two things SB3 needs:

* ``action_masks() -> bool [n_envs, A]``, the last ``A`` entries of the current observations, which
  ``sb3_contrib.MaskablePPO`` asks the env for before every action;
* ``infos[i]["TimeLimit.truncated"] = True`` on every ``done``. SuperSuit folds ``truncated`` into
  ``done``, and ``edge_cluster_v0`` episodes end only at the horizon (``terminated`` is always False), so
  every ``done`` is a time limit; with the key SB3 bootstraps the value of ``terminal_observation``
  instead of treating the horizon as the end of the world;
* ``seed(seed)``, which SuperSuit's SB3 wrapper lacks (SB3 calls it when a model gets ``seed=``): the
  next ``reset()`` resets copy ``k`` with ``seed + k``, so a seeded run repeats.

``supersuit_vec_env(scenario, n_envs, **env_kwargs)`` builds the whole chain (needs ``supersuit``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from srole_env.edge_cluster import parallel_env

MASKS_METHOD = "action_masks"
"""The method ``sb3_contrib.MaskablePPO`` calls on a ``VecEnv`` (``env_method("action_masks")``)."""


class VecActionMasks(VecEnvWrapper):
    """An SB3 ``VecEnv`` of flat edge-cluster observations with ``action_masks()`` and the horizon as truncation."""

    def __init__(self, venv: VecEnv, horizon_is_truncation: bool = True):
        with warnings.catch_warnings():  # SuperSuit's SB3 wrapper has no render_mode; SB3 says so, then uses None
            warnings.filterwarnings("ignore", message="The `render_mode` attribute is not defined")
            super().__init__(venv)
        if not isinstance(venv.action_space, spaces.Discrete):
            raise ValueError(f"VecActionMasks needs a Discrete action space, got {venv.action_space}")
        self.n_actions = int(venv.action_space.n)
        self.horizon_is_truncation = horizon_is_truncation
        self._obs: np.ndarray | None = None
        self._seed: int | None = None

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the next ``reset()`` (copy ``k`` of the env gets ``seed + k``)."""
        self._seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> VecEnvObs:
        """Reset every copy (seeded when ``seed()`` was called) and keep the observations for ``action_masks``."""
        if self._seed is None:
            obs = self.venv.reset()
        else:  # SuperSuit's SB3VecEnvWrapper cannot seed; its inner ConcatVecEnv can
            inner = getattr(self.venv, "venv", None)
            if inner is None:
                raise TypeError(f"cannot seed {type(self.venv).__name__}: expected SuperSuit's SB3VecEnvWrapper")
            obs, self.venv.reset_infos = inner.reset(seed=self._seed)
            self._seed = None
        self._obs = np.asarray(obs)
        return self._obs

    def step_wait(self) -> VecEnvStepReturn:
        """Step, keep the observations for ``action_masks`` and mark every ``done`` as a time limit."""
        obs, rewards, dones, infos = self.venv.step_wait()
        self._obs = np.asarray(obs)
        if self.horizon_is_truncation:
            for done, info in zip(dones, infos):
                if done:
                    info["TimeLimit.truncated"] = True
        return obs, rewards, dones, infos

    def action_masks(self) -> np.ndarray:
        """bool [n_envs, A]: the mask part (last ``A`` entries) of the current observations."""
        if self._obs is None:
            raise RuntimeError("action_masks() before reset()")
        return self._obs[:, -self.n_actions :] > 0.5

    def has_attr(self, attr_name: str) -> bool:
        """True for ``action_masks`` (how MaskablePPO checks for masking), else as the inner env says."""
        return attr_name == MASKS_METHOD or self.venv.has_attr(attr_name)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """``action_masks`` is answered here, one row per env; every other method goes to the inner envs."""
        if method_name == MASKS_METHOD:
            masks = self.action_masks()
            return [masks[i] for i in self._indices(indices)]
        return self.venv.env_method(method_name, *method_args, indices=indices, **method_kwargs)

    def _indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else list(indices)


def supersuit_vec_env(scenario: Any = "small", n_envs: int = 1, **env_kwargs: Any) -> VecActionMasks:
    """``n_envs`` copies of ``parallel_env(scenario, obs_format="flat", **env_kwargs)`` as one SB3 ``VecEnv``
    (N agents per copy, via SuperSuit), wrapped in ``VecActionMasks``."""
    try:
        import supersuit as ss
    except ImportError as err:
        raise ImportError('supersuit_vec_env needs SuperSuit: pip install -e ".[sb3]"') from err
    env = parallel_env(scenario, obs_format="flat", **env_kwargs)
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, n_envs, num_cpus=0, base_class="stable_baselines3")
    return VecActionMasks(venv)
