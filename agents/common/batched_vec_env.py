"""SB3 ``VecEnv`` over the batched env: K episodes x N agents as K * N sub-envs sharing one policy.

``BatchedEdgeVecEnv(venv)`` takes a ``srole_env.vector.BatchedEdgeClusterEnv`` made with
``autoreset_mode="SameStep"`` (SB3's own convention: the observation after a done is the next episode's first,
the last one in ``infos[i]["terminal_observation"]``). Row ``k * N + i`` is agent ``i`` of episode ``k``.
It steps through ``step_arrays`` (no per-agent dicts) and exposes ``action_masks()`` [K * N, A] for
``sb3_contrib.MaskablePPO``. Episodes end by truncation at the horizon (``TimeLimit.truncated``: SB3 bootstraps).
Seeds: ``seed(s)`` then ``reset()`` seeds episode k with ``s + k`` (the batched env's int seed); without one,
``reset()`` continues each sub-env's generator. Unshielded only (a shield wraps one parallel env: ``EdgeVecEnv``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from agents.common.vec_env import AgentVecEnv
from srole_env.core.observation import OBS_HIGH
from srole_env.vector import BatchedEdgeClusterEnv


class BatchedEdgeVecEnv(AgentVecEnv):
    """K x N agents of a batched env as K * N SB3 sub-envs (see module docstring)."""

    def __init__(self, venv: BatchedEdgeClusterEnv):
        if not isinstance(venv, BatchedEdgeClusterEnv):
            raise TypeError(f"venv must be a BatchedEdgeClusterEnv, got {type(venv).__name__}")
        if venv.autoreset_mode is not AutoresetMode.SAME_STEP:
            raise ValueError("venv: SB3 resets in the same step; make the batched env with autoreset_mode='SameStep', "
                             f"got {venv.autoreset_mode.value!r}")
        self.venv = venv
        self.k, self.n = venv.num_envs, venv.n_agents
        obs_space = spaces.Box(0.0, OBS_HIGH, shape=(venv.obs_dim,), dtype=np.float32)
        super().__init__(self.k * self.n, obs_space, spaces.Discrete(venv.n_actions))
        self._actions = np.zeros((self.k, self.n), dtype=np.int64)
        self._mask = np.zeros((self.k * self.n, venv.n_actions), dtype=np.int8)
        self._returns = np.zeros((self.k, self.n))
        self._lengths = np.zeros(self.k, dtype=np.int64)
        self._seed: int | None = None
        self._t0 = time.time()

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> np.ndarray:
        """Reset every episode (seeded by ``seed()`` if it was called since); observations [K * N, D]."""
        obs, infos = self.venv.reset(seed=self._seed)
        self._seed = None
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._mask = infos["action_mask"].reshape(self.num_envs, -1)
        return self._rows(obs["observation"] if isinstance(obs, dict) else obs[..., : self.venv.obs_dim])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.k, self.n)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, mask, rewards, terminated, truncated, infos = self.venv.step_arrays(self._actions)
        self._returns += rewards
        self._lengths += 1
        done = terminated | truncated
        out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for k in np.flatnonzero(done):
            final = infos["final_obs"][k]
            for i in range(self.n):
                out[k * self.n + i] = {
                    "terminal_observation": final[i],
                    "TimeLimit.truncated": bool(truncated[k] and not terminated[k]),
                    "episode": {"r": float(self._returns[k, i]), "l": int(self._lengths[k]),
                                "t": round(time.time() - self._t0, 6)},
                }
            self._returns[k] = 0.0
            self._lengths[k] = 0
        self._mask = mask.reshape(self.num_envs, -1)
        return (self._rows(obs), rewards.reshape(-1).astype(np.float32), np.repeat(done, self.n), out)

    def action_masks(self) -> np.ndarray:
        """Bool [K * N, A]: every agent's safe actions for the current observation."""
        return self._mask > 0

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the next ``reset()``: episode k gets ``seed + k``."""
        self._seed = seed
        return [None if seed is None else seed + k for k in range(self.k) for _ in range(self.n)]

    def close(self) -> None:
        self.venv.close()

    def _env_attr(self, attr_name: str, indices: Any) -> list[Any]:
        value = getattr(self.venv, attr_name)  # the K episodes share one batched env (``srole_env.vector``)
        return [value for _ in indices]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def _env_call(self, method_name: str, indices: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        method = getattr(self.venv, method_name)
        return [method(*args, **kwargs) for _ in indices]

    def _rows(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs, dtype=np.float32).reshape(self.num_envs, -1)
