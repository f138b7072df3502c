"""A training driver over K episodes at once: the project's learners (IDQN, IPPO) collect K x N transitions per
step with one batched forward of their network (the learner option ``n_envs``).

``BatchedDriver`` has ``EpisodeDriver``'s interface with the K episodes' agents stacked: ``obs`` [K * N, D],
``mask`` [K * N, A], ``step(actions [K * N], preferences [K * N, A])`` -> a ``StepOutput`` of [K * N] arrays;
row ``k * N + i`` is agent ``i`` of sub-env ``k``. Each sub-env is a (shielded) ``ArrayEnv`` run by its own
``EpisodeDriver``: sub-env ``k`` runs the run's episodes ``k, k + K, k + 2K, ...``, each reset with
``episode_seed(seed, index)`` as a single driver resets it, so K = 1 is the plain driver's run. All episodes
have the run's horizon and end together, so ``done`` is one flag. ``rounds`` counts simulated rounds (K per
``step``: the training budget's unit stays a round of one cluster); ``samples`` counts agent-steps.

The K sub-envs are single (shielded) envs stepped one after another, not ``srole_env.vector``'s one simulator over
K blocks (a shield wraps one env): what K buys is fewer, larger network calls per simulated round and K decorrelated
episodes in every batch, not faster physics.
Checkpoints: sub-driver ``k``'s episode goes to ``<file stem>.<k><suffix>`` beside the run's env file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.common.array_env import ArrayEnv, EpisodeCallback, EpisodeDriver, StepOutput


@dataclass
class BatchView:
    """What a learner reads of ``driver.env``: the stacked agent count and the action layout."""

    n_agents: int
    obs_dim: int
    n_actions: int
    shielded: bool
    share_preferences: bool


class BatchedDriver:
    """K ``EpisodeDriver``s stepped together, their agents stacked (see module docstring)."""

    def __init__(self, envs: list[ArrayEnv], seed: int, on_episode: EpisodeCallback | None = None,
                 episode: int = 0, rounds: int = 0):
        if not envs:
            raise ValueError("envs: a batched driver needs at least one env")
        k = len(envs)
        if episode % k or rounds % k:
            raise ValueError(f"episode ({episode}) and rounds ({rounds}) of a {k}-env driver must be multiples of {k}")
        first = envs[0]
        if any((e.n_agents, e.obs_dim, e.n_actions) != (first.n_agents, first.obs_dim, first.n_actions) for e in envs):
            raise ValueError("envs: every sub-env must have the same agents, observation size and actions")
        self.n_envs = k
        self.n = first.n_agents
        self.on_episode = on_episode
        self.rounds = rounds
        self._finished: list[dict[str, Any]] = []
        self.drivers = [EpisodeDriver(env, seed, self._finished.append, episode=episode + i, rounds=rounds // k,
                                      episode_stride=k) for i, env in enumerate(envs)]
        self.env = BatchView(k * self.n, first.obs_dim, first.n_actions, first.shielded, first.share_preferences)
        self._gather()

    @property
    def episode(self) -> int:
        """Index of the first episode of the batch under way (the count of finished episodes)."""
        return self.drivers[0].episode

    @property
    def samples(self) -> int:
        """Agent-steps simulated so far in the run (rounds x agents of one cluster)."""
        return self.rounds * self.n

    def step(self, actions: np.ndarray, preferences: np.ndarray | None = None) -> StepOutput:
        """One round of each of the K episodes; finished episodes are logged in episode order, then reset."""
        actions = np.asarray(actions, dtype=np.int64).reshape(self.n_envs, self.n)
        prefs = None if preferences is None else np.asarray(preferences).reshape(self.n_envs, self.n, -1)
        outs = [d.step(actions[i], None if prefs is None else prefs[i]) for i, d in enumerate(self.drivers)]
        done = {o.done for o in outs}
        if len(done) != 1:
            raise RuntimeError("the sub-envs of a batched driver ended their episodes in different rounds")
        self.rounds += self.n_envs
        for row in self._finished:
            row["total_rounds"] = self.rounds
            if self.on_episode is not None:
                self.on_episode(row)
        self._finished.clear()
        self._gather()
        return StepOutput(np.concatenate([o.obs for o in outs]), np.concatenate([o.mask for o in outs]),
                          np.concatenate([o.rewards for o in outs]), all(o.terminated for o in outs),
                          all(o.truncated for o in outs), np.concatenate([o.executed for o in outs]),
                          [o.result for o in outs])

    def metrics(self) -> list[dict[str, float]]:
        """Each sub-env's episode figures so far."""
        return [d.env.metrics() for d in self.drivers]

    def save_state(self, path: str | Path) -> None:
        """Each sub-driver's episode so far into its own file beside ``path`` (``EpisodeDriver.save_state``)."""
        for i, d in enumerate(self.drivers):
            d.save_state(sub_path(path, i))

    def load_state(self, path: str | Path) -> None:
        """Rebuild every sub-driver's episode from its file (``EpisodeDriver.load_state``)."""
        for i, d in enumerate(self.drivers):
            d.load_state(sub_path(path, i))
        self._gather()

    def _gather(self) -> None:
        self.obs = np.concatenate([d.obs for d in self.drivers])
        self.mask = np.concatenate([d.mask for d in self.drivers])


def sub_path(path: str | Path, index: int) -> Path:
    """Sub-driver ``index``'s env-state file: ``env.npz`` -> ``env.3.npz``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{index}{path.suffix}")
