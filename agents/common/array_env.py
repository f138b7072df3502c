"""Array view of the (shielded) parallel env, and a driver that runs it episode after episode.

Every learner and the evaluator step the parallel env through ``ArrayEnv``: integer actions [N] and
optional preferences [N, A] in, arrays out. It hides whether a shield is in front of the env: the
shields' ``step_arrays(actions, preferences)`` gets the learner's preferences (so a displaced agent gets
its own next-best action), the bare ``EdgeClusterEnv.step_arrays(actions)`` does not take them.

``ArrayEnv(env, share_preferences=False)`` withholds the preferences from the shield (the shield then
falls back to its own least-loaded order): the ``SROLE-central-noprefs`` ablation.

``EpisodeDriver`` adds what training needs on top: episode ``k`` of a run with seed ``s`` is reset with
``episode_seed(s, k)`` (so a resumed run continues the same sequence of episodes), per-agent returns are
summed, each finished episode is handed to a callback with ``env.unwrapped.metrics()``, and ``rounds``
counts the decision rounds simulated so far: the training budget's unit (one ``step`` = one round).

**Checkpointing the env as data.** The driver records the joint actions [k, N] (and preferences
[k, N, A]) of the current episode's k rounds. ``save_state`` writes them, with the counters and the last
observation, as a NumPy ``.npz``; ``load_state`` rebuilds the episode on the env it was given (made by
the run's own constructor from its config): reset with the episode's seed, then the k recorded rounds
replayed. The env is deterministic given its seed and actions, so the result is the checkpointed state;
a replay that does not reach the saved observation and returns (another config or code) is refused.
Nothing is unpickled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from srole_common.names import SHIELDS
from srole_common.persist import CorruptFile, load_arrays, save_arrays
from srole_env import ClusterConfig, EdgeClusterEnv


def make_parallel_env(config: ClusterConfig, shield: str = "none", render_mode: str | None = None,
                      simulator: Any = None) -> Any:
    """The parallel env for ``config``, behind ``shields.make_shield(env, shield)`` unless ``shield == "none"``;
    ``simulator``: a factory of the env's simulator (``EdgeClusterEnv``'s argument, e.g. the emulator's)."""
    if shield not in SHIELDS:
        raise ValueError(f"shield: unknown shield {shield!r}; choose one of {list(SHIELDS)}")
    env = EdgeClusterEnv(config, render_mode=render_mode, simulator=simulator)
    if shield == "none":
        return env
    try:
        import shields
    except ImportError as err:  # the shields package is optional for unshielded runs
        raise ValueError(f"shield {shield!r} needs the `shields` package, which failed to import: {err}") from err
    return shields.make_shield(env, shield)


def episode_seed(seed: int, episode: int) -> int:
    """Reset seed of training episode ``episode`` of a run seeded ``seed`` (a 31-bit int, stable across versions)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(episode)]).generate_state(1)[0] >> 1)


@dataclass
class StepOutput:
    """One decision round: next observations [N, D], masks [N, A], rewards [N], done flags, executed actions [N]."""

    obs: np.ndarray
    mask: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool
    executed: np.ndarray
    result: Any

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class ArrayEnv:
    """Arrays in, arrays out over a parallel env that may sit behind a shield (see module docstring)."""

    def __init__(self, env: Any, share_preferences: bool = True):
        self.env = env
        self.base: EdgeClusterEnv = env.unwrapped
        self.shielded = env is not self.base
        self.share_preferences = bool(share_preferences)
        """Hand the learner's preferences to the shield (False: the shield ranks alternatives itself)."""
        self.n_agents = self.base.config.n_edges
        self.obs_dim = self.base.sim.obs_dim
        self.n_actions = self.base.sim.n_actions

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start an episode; returns observations [N, D] float32 and action masks [N, A] int8."""
        obs, _ = self.env.reset(seed=seed)
        agents = self.base.possible_agents
        return (
            np.stack([obs[a]["observation"] for a in agents]).astype(np.float32, copy=False),
            np.stack([obs[a]["action_mask"] for a in agents]),
        )

    def step(self, actions: np.ndarray, preferences: np.ndarray | None = None) -> StepOutput:
        """One round with joint action [N] (and, behind a shield, the agents' preferences [N, A])."""
        actions = np.asarray(actions, dtype=np.int64).reshape(self.n_agents)
        if self.shielded:
            prefs = preferences if self.share_preferences else None
            obs, mask, rewards, terminated, truncated, result = self.env.step_arrays(actions, prefs)
            report = getattr(self.env, "last_report", None) or {}
            executed = np.asarray(report.get("action", actions), dtype=np.int64).reshape(self.n_agents)
        else:
            obs, mask, rewards, terminated, truncated, result = self.env.step_arrays(actions)
            executed = actions
        return StepOutput(obs, mask, np.asarray(rewards, dtype=np.float64), bool(terminated), bool(truncated),
                          executed, result)

    def metrics(self) -> dict[str, float]:
        """The episode's figures so far (``env.unwrapped.metrics()``)."""
        return self.base.metrics()


EpisodeCallback = Callable[[dict[str, Any]], None]
"""Receives one row per finished episode: ``episode``, ``total_rounds`` (the run's count), ``episode_return``
and the metrics."""


class EpisodeDriver:
    """Runs an ``ArrayEnv`` across episodes for training (see module docstring).

    ``obs`` [N, D] and ``mask`` [N, A] are always the observation to act on next; ``rounds`` counts the
    rounds of the whole run (the budget), ``episode_rounds`` those of the current episode.
    """

    n_envs = 1
    """Episodes stepped per ``step`` (``agents.common.batched_driver.BatchedDriver`` steps several)."""

    def __init__(self, env: ArrayEnv, seed: int, on_episode: EpisodeCallback | None = None,
                 episode: int = 0, rounds: int = 0, episode_stride: int = 1):
        self.env = env
        self.seed = int(seed)
        self.on_episode = on_episode
        self.episode = episode
        self.episode_stride = int(episode_stride)
        """The next episode's index is this one's plus ``episode_stride`` (K drivers of a batch interleave)."""
        self.rounds = rounds
        self.returns = np.zeros(env.n_agents)
        self.episode_rounds = 0
        self._actions: list[np.ndarray] = []
        self._prefs: list[np.ndarray | None] = []
        self.obs, self.mask = self.reset()

    def reset(self) -> tuple[np.ndarray, np.ndarray]:
        """Start episode ``self.episode`` from its seed."""
        self.returns[:] = 0.0
        self.episode_rounds = 0
        self._actions, self._prefs = [], []
        self.obs, self.mask = self.env.reset(seed=episode_seed(self.seed, self.episode))
        return self.obs, self.mask

    def step(self, actions: np.ndarray, preferences: np.ndarray | None = None) -> StepOutput:
        """One round; on the episode's end logs it and resets, so ``self.obs`` starts the next one.

        The returned ``StepOutput.obs`` is the round's own next observation (the final one when done).
        """
        self._actions.append(np.array(actions, dtype=np.int64).reshape(self.env.n_agents))
        self._prefs.append(None if preferences is None else np.array(preferences, dtype=np.float64))
        out = self.env.step(actions, preferences)
        self.rounds += 1
        self.returns += out.rewards
        self.episode_rounds += 1
        if out.done:
            row = {"episode": self.episode, "total_rounds": self.rounds,
                   "episode_return": float(self.returns.mean()), **self.env.metrics()}
            if self.on_episode is not None:
                self.on_episode(row)
            self.episode += self.episode_stride
            self.reset()
        else:
            self.obs, self.mask = out.obs, out.mask
        return out

    @property
    def samples(self) -> int:
        """Agent-steps simulated so far in the run (rounds x agents)."""
        return self.rounds * self.env.n_agents

    # ------------------------------------------------------------------ checkpointing
    def save_state(self, path: str | Path) -> None:
        """Write the episode so far as data (module docstring): counters, recorded actions and preferences."""
        env, k = self.env, len(self._actions)
        n, a = env.n_agents, env.n_actions
        has_prefs = np.array([p is not None for p in self._prefs], dtype=bool)
        prefs = np.zeros((k, n, a)) if k else np.zeros((0, n, a))
        for i in np.flatnonzero(has_prefs):
            prefs[i] = self._prefs[i]
        save_arrays(path, format=np.int64(1), seed=np.int64(self.seed), episode=np.int64(self.episode),
                    rounds=np.int64(self.rounds), episode_rounds=np.int64(self.episode_rounds),
                    shape=np.array([n, env.obs_dim, a], dtype=np.int64),
                    actions=np.stack(self._actions) if k else np.zeros((0, n), np.int64),
                    preferences=prefs, has_preferences=has_prefs, obs=self.obs, mask=self.mask, returns=self.returns)

    def load_state(self, path: str | Path) -> None:
        """Rebuild the checkpointed episode on ``self.env`` by replaying it; ``CorruptFile`` if it does not fit."""
        where = f"env state {str(path)!r}"
        env = self.env
        data = read_env_state(path, (env.n_agents, env.obs_dim, env.n_actions), self.seed, self.episode, self.rounds)
        k = int(data["episode_rounds"])
        actions, prefs, has = data["actions"], data["preferences"], data["has_preferences"]
        self.reset()
        for i in range(k):
            try:
                out = self.env.step(actions[i], prefs[i] if has[i] else None)
            except (ValueError, TypeError, RuntimeError) as err:  # e.g. an action out of range
                raise CorruptFile(f"{where} does not replay: round {i + 1} of {k} was refused: {err}") from None
            self._actions.append(np.array(actions[i], dtype=np.int64))
            self._prefs.append(np.array(prefs[i]) if has[i] else None)
            self.returns += out.rewards
            if out.done:
                raise CorruptFile(f"{where} does not replay: the episode ended after {i + 1} of {k} rounds "
                                  "(the run's config or the simulator differs from the checkpoint's)")
            self.obs, self.mask = out.obs, out.mask
        self.episode_rounds = k
        if not (np.array_equal(self.obs, data["obs"]) and np.array_equal(self.mask, data["mask"])
                and np.allclose(self.returns, data["returns"], rtol=0, atol=1e-9)):
            raise CorruptFile(f"{where} does not replay to the checkpointed state (the run's config or the "
                              "simulator differs from the checkpoint's, or the file was altered)")


def read_env_state(path: str | Path, shape: tuple[int, int, int], seed: int, episode: int, rounds: int) -> dict:
    """The arrays of an env-state file (``EpisodeDriver.save_state``), checked against the run: its cluster's
    (agents, obs size, actions) ``shape``, seed, episode and rounds; ``CorruptFile`` naming what does not fit."""
    where = f"env state {str(path)!r}"
    data = load_arrays(path, "env state")
    expected = ("format", "seed", "episode", "rounds", "episode_rounds", "shape", "actions", "preferences",
                "has_preferences", "obs", "mask", "returns")
    missing = [key for key in expected if key not in data]
    if missing:
        raise CorruptFile(f"{where} is not an env state of this version: it lacks {missing}")
    if tuple(int(v) for v in np.ravel(data["shape"])) != shape:
        raise CorruptFile(f"{where} is for a cluster of (agents, obs size, actions) = "
                          f"{tuple(int(v) for v in np.ravel(data['shape']))}, this run's config gives {shape}")
    if int(data["seed"]) != seed or int(data["episode"]) != episode or int(data["rounds"]) != rounds:
        raise CorruptFile(f"{where} does not match the checkpoint: seed/episode/rounds "
                          f"{int(data['seed'])}/{int(data['episode'])}/{int(data['rounds'])}, "
                          f"expected {seed}/{episode}/{rounds}")
    k = int(data["episode_rounds"])
    actions, prefs, has = data["actions"], data["preferences"], data["has_preferences"]
    if (not 0 <= k < np.iinfo(np.int32).max or actions.shape != (k, shape[0]) or actions.dtype.kind not in "iu"
            or prefs.shape != (k, shape[0], shape[2]) or has.shape != (k,) or has.dtype != bool):
        raise CorruptFile(f"{where} is corrupt: arrays do not fit {k} recorded rounds of {shape[0]} agents")
    return data
