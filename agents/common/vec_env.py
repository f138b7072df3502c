"""SB3 ``VecEnv`` adapters: the parallel env with one sub-env per edge agent, and the centralized env.

``EdgeVecEnv`` turns the N agents of one (shielded) parallel env into N sub-envs of a Stable-Baselines3
vector env, so a single SB3 policy is shared by all agents (parameter sharing) and one ``predict`` call
acts for all of them. It steps through ``step_arrays`` (no per-agent dicts), exposes ``action_masks()``
[N, A] for ``sb3_contrib.MaskablePPO``, and, behind a shield, passes the policy's preferences [N, A]
(set ``preference_fn``) so a displaced agent gets its own next-best action. All sub-envs end together
at the horizon (a truncation: SB3 bootstraps from ``terminal_observation``). One ``step`` is one decision
round (SB3 counts it as N timesteps); ``driver.rounds`` counts rounds for the budget.

Why not SuperSuit's ``pettingzoo_env_to_vec_env_v1``: it steps through the dict API (N dicts per
round), wants a plain ``Box`` observation (ours is a ``Dict`` with the mask), has no way to return
action masks to MaskablePPO or to hand preferences to a shield, and cannot seed episodes by index for
exact resumption. This adapter is ~100 lines over the array fast path.

``CentralizedEpisodes`` is the Gymnasium wrapper for the CRL runs (one head decision per timestep). It
counts the simulated rounds for the budget (a decision that completes a round can also run the following
rounds that have nothing to decide) and, with ``budget``, shortens the horizon of the run's last episode
so that training stops at exactly ``budget`` rounds, as the parallel learners do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from agents.common.array_env import ArrayEnv, EpisodeCallback, EpisodeDriver, episode_seed
from srole_env.core.observation import OBS_HIGH

PreferenceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class AgentVecEnv(VecEnv):
    """What the SB3 adapters of the edge agents share (``EdgeVecEnv``, ``batched_vec_env.BatchedEdgeVecEnv``): each
    sub-env is one agent, whose action mask ``get_attr``/``env_method("action_masks")`` serve from ``action_masks()``;
    other attributes and methods are those of the env an agent belongs to (``_env_attr``, ``_env_call``)."""

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "action_masks":
            masks = self.action_masks()
            return [(lambda i=i: masks[i]) for i in self._get_indices(indices)]
        return self._env_attr(attr_name, self._get_indices(indices))

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        idx = self._get_indices(indices)
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in idx]
        return self._env_call(method_name, idx, method_args, method_kwargs)

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def action_masks(self) -> np.ndarray:
        raise NotImplementedError

    def _env_attr(self, attr_name: str, indices: Any) -> list[Any]:
        raise NotImplementedError

    def _env_call(self, method_name: str, indices: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        raise NotImplementedError


class EdgeVecEnv(AgentVecEnv):
    """N edge agents of one parallel env as N SB3 sub-envs (see module docstring)."""

    def __init__(self, env: ArrayEnv, seed: int, on_episode: EpisodeCallback | None = None,
                 episode: int = 0, rounds: int = 0):
        self.driver = EpisodeDriver(env, seed, on_episode, episode=episode, rounds=rounds)
        self.preference_fn: PreferenceFn | None = None
        obs_space = spaces.Box(0.0, OBS_HIGH, shape=(env.obs_dim,), dtype=np.float32)
        super().__init__(env.n_agents, obs_space, spaces.Discrete(env.n_actions))
        self._actions = np.zeros(env.n_agents, dtype=np.int64)
        self._t0 = time.time()

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> np.ndarray:
        """Restart the current episode index from its seed; observations [N, D]."""
        obs, _ = self.driver.reset()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        d = self.driver
        prefs = None
        if d.env.shielded and d.env.share_preferences and self.preference_fn is not None:
            prefs = self.preference_fn(d.obs, d.mask)
        returns, rounds = d.returns.copy(), d.episode_rounds + 1
        out = d.step(self._actions, prefs)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if out.done:
            returns += out.rewards
            for i, info in enumerate(infos):
                info["terminal_observation"] = out.obs[i]
                info["TimeLimit.truncated"] = out.truncated and not out.terminated
                info["episode"] = {"r": float(returns[i]), "l": rounds, "t": round(time.time() - self._t0, 6)}
        dones = np.full(self.num_envs, out.done)
        return d.obs.copy(), out.rewards.astype(np.float32), dones, infos

    def action_masks(self) -> np.ndarray:
        """Bool [N, A]: every agent's safe actions for the current observation."""
        return self.driver.mask > 0

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Episodes are seeded by index from the run's seed (see ``episode_seed``); SB3's seed is not used."""
        return [None] * self.num_envs

    def close(self) -> None:
        pass

    def _env_attr(self, attr_name: str, indices: Any) -> list[Any]:
        value = getattr(self.driver.env.env, attr_name)
        return [value for _ in indices]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.driver.env.env, attr_name, value)

    def _env_call(self, method_name: str, indices: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        result = getattr(self.driver.env.env, method_name)(*args, **kwargs)
        return [result for _ in indices]


class CentralizedEpisodes(gym.Wrapper):
    """The cluster head's env for CRL runs: seeds episode ``k`` with ``episode_seed(seed, k)``, counts head
    decisions and simulated rounds, and hands each finished episode (return, ``metrics()``) to ``on_episode``.

    ``rounds`` is the run's count of simulated rounds after the last ``step`` (rounds the env runs inside
    ``reset`` are counted at the episode's first decision). With ``budget``, an episode that would run past
    ``budget`` rounds is given a horizon that ends it exactly there; that last, shortened episode is treated
    like an episode cut by a checkpoint: it is neither logged nor counted, and a resumed run restarts it.
    """

    def __init__(self, env: gym.Env, seed: int, on_episode: EpisodeCallback | None = None,
                 episode: int = 0, rounds: int = 0, decisions: int = 0, budget: int | None = None):
        super().__init__(env)
        self.run_seed = int(seed)
        self.on_episode = on_episode
        self.episode = episode
        self.rounds = rounds
        self.decisions = decisions
        self.budget = budget
        self._config = env.unwrapped.config
        self._episode_start = rounds
        self._capped = False
        self._return = 0.0
        self._length = 0
        self._t0 = time.time()

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self._return, self._length = 0.0, 0
        self._episode_start = self.rounds
        left = None if self.budget is None else self.budget - self.rounds
        self._capped = left is not None and 0 < left < self._config.horizon
        self.env.unwrapped.config = self._config.replace(horizon=left) if self._capped else self._config
        obs, info = self.env.reset(seed=episode_seed(self.run_seed, self.episode), options=options)
        self._return += float(info.get("reward_before_first_decision", 0.0))
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        return self._count(*self.env.step(action))

    def _count(self, obs: np.ndarray, reward: float, terminated: bool, truncated: bool,
               info: dict) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Count one decision (the env's ``step`` return values) and log a finished episode."""
        self.decisions += 1
        self.rounds = self._episode_start + int(self.env.unwrapped.sim.round)
        self._return += float(reward)
        self._length += 1
        if (terminated or truncated) and not self._capped:
            info["episode"] = {"r": self._return, "l": self._length, "t": round(time.time() - self._t0, 6)}
            if self.on_episode is not None:
                self.on_episode({"episode": self.episode, "total_rounds": self.rounds, "decisions": self.decisions,
                                 "episode_return": self._return, **self.env.unwrapped.metrics()})
            self.episode += 1
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()

    @property
    def rounds_now(self) -> int:
        """The run's simulated rounds now, counting those the env ran inside ``reset`` (``rounds`` counts them
        at the episode's first decision)."""
        return self._episode_start + int(self.env.unwrapped.sim.round)

    def collect(self, rule: Any, act: Any, rand: np.ndarray, eps: np.ndarray,
                count: int | None = None) -> tuple[Any, tuple[np.ndarray, float, bool, bool, dict]]:
        """``CentralizedSchedulingEnv.collect_round`` with this wrapper's counting: the same counters, episode
        log and infos as ``step`` called once per decision made."""
        decisions, (obs, reward, terminated, truncated, info) = self.env.unwrapped.collect_round(
            rule, act, rand, eps, count)
        k = len(decisions.edges)
        self.decisions += k - 1  # ``_count`` adds the last one
        self._length += k - 1
        return decisions, self._count(obs, reward, terminated, truncated, info)
