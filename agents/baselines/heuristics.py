"""Baseline schedulers that act on each agent's local observation (no learning).

Every heuristic scores each action of every agent (``preferences`` -> [N, A]); the action is the best
score, so a shield can also use the scores as the agent's preference order. All are vectorized over
agents and work behind any shield.

* ``random``: uniform over all actions, ignoring the mask (it overloads edges and collides).
* ``local``: run on itself when the task fits there, else hold.
* ``least_loaded``: the candidate with the lowest compute utilisation among those the task fits on
  (ties: faster estimated compute, then nearer); hold if none fits.
* ``round_robin``: the next candidate the task fits on, cycling per agent; hold if none fits.
"""

from __future__ import annotations

import numpy as np

from srole_env.core.observation import CAND_COMPUTE, CAND_UTIL, OWN_HAS_TASK, candidate_feature, own_feature


class HeuristicPolicy:
    """Base: ``act(obs [N, D], mask [N, A]) -> actions [N]`` from ``preferences`` (higher is better)."""

    name = "heuristic"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Best-scoring action of every agent."""
        return np.argmax(self.preferences(obs, mask), axis=1)

    def reset(self) -> None:
        """Forget per-episode state."""


class RandomPolicy(HeuristicPolicy):
    """Uniformly random actions, ignoring the mask."""

    name = "random"

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.rng.random(mask.shape)


class LocalPolicy(HeuristicPolicy):
    """Run every task on its origin edge when it fits; hold otherwise."""

    name = "local"

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        scores = np.full(mask.shape, -np.inf)
        scores[:, -1] = 0.0
        scores[:, 0] = np.where(mask[:, 0] > 0, 1.0, -np.inf)
        return scores


class LeastLoadedPolicy(HeuristicPolicy):
    """Send the task to the least-utilised candidate it fits on (ties: faster, then nearer)."""

    name = "least_loaded"

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n_cand = mask.shape[1] - 1
        util = candidate_feature(obs, CAND_UTIL, n_cand)
        compute = candidate_feature(obs, CAND_COMPUTE, n_cand)
        order = np.arange(n_cand)
        score = -(util * 1e3 + compute) - order * 1e-6
        scores = np.full(mask.shape, -np.inf)
        scores[:, :n_cand] = np.where(mask[:, :n_cand] > 0, score + 1e4, -np.inf)
        scores[:, -1] = 0.0
        return scores


class RoundRobinPolicy(HeuristicPolicy):
    """Cycle each agent through its candidates, skipping those the task does not fit on."""

    name = "round_robin"

    def __init__(self, seed: int | None = None):
        super().__init__(seed)
        self._next: np.ndarray | None = None

    def reset(self) -> None:
        self._next = None

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n, n_actions = mask.shape
        n_cand = n_actions - 1
        if self._next is None or len(self._next) != n:
            self._next = np.zeros(n, dtype=np.int64)
        distance = (np.arange(n_cand)[None, :] - self._next[:, None]) % n_cand
        scores = np.full(mask.shape, -np.inf)
        scores[:, :n_cand] = np.where(mask[:, :n_cand] > 0, n_cand - distance, -np.inf)
        scores[:, -1] = 0.0
        has_task = own_feature(obs, OWN_HAS_TASK) > 0
        chosen = np.argmax(scores, axis=1)
        advance = has_task & (chosen < n_cand)
        self._next[advance] = (chosen[advance] + 1) % n_cand
        return scores


_POLICIES = {cls.name: cls for cls in (RandomPolicy, LocalPolicy, LeastLoadedPolicy, RoundRobinPolicy)}
HEURISTICS = tuple(_POLICIES)
"""The heuristics' names (``srole_common.names.HEURISTIC_NAMES`` lists the same for the CLI; a test holds them
equal)."""


def make_heuristic(name: str, seed: int | None = None) -> HeuristicPolicy:
    """A heuristic by name (one of ``HEURISTICS``)."""
    if name not in _POLICIES:
        raise ValueError(f"unknown heuristic {name!r}; choose one of {list(_POLICIES)}")
    return _POLICIES[name](seed)
