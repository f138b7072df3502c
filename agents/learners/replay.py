"""Replay buffer of per-agent transitions (a ring of NumPy arrays), saved with a run's checkpoint."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srole_common.persist import CorruptFile, load_arrays, save_arrays


@dataclass
class Batch:
    """Sampled transitions: obs [B, D], actions [B], rewards [B] (n-step returns), next_obs [B, D], next_mask [B, A],
    discount [B] (gamma^n of the bootstrap, 0 at a terminal state)."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    next_mask: np.ndarray
    discount: np.ndarray


class ReplayBuffer:
    """Fixed-capacity ring buffer; ``add`` takes a round's N transitions at once."""

    def __init__(self, capacity: int, obs_dim: int, n_actions: int):
        if capacity < 1:
            raise ValueError(f"hyperparameter buffer_size must be >= 1, got {capacity}")
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_mask = np.zeros((capacity, n_actions), np.bool_)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.discount = np.zeros(capacity, np.float32)
        self.pos = 0
        self.size = 0

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
            next_mask: np.ndarray, discount: np.ndarray | float) -> None:
        """Append N transitions (arrays with leading dimension N; ``discount`` may be a scalar)."""
        n = len(actions)
        idx = slice(self.pos, self.pos + n) if self.pos + n <= self.capacity else \
            (self.pos + np.arange(n)) % self.capacity  # a slice unless the ring wraps (same rows either way)
        self.obs[idx], self.actions[idx], self.rewards[idx] = obs, actions, rewards
        self.next_obs[idx], self.next_mask[idx], self.discount[idx] = next_obs, next_mask > 0, discount
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """``batch_size`` transitions drawn uniformly with replacement (``np.take``: half fancy indexing's time)."""
        idx = rng.integers(0, self.size, size=batch_size)
        return Batch(*(np.take(a, idx, axis=0) for a in (self.obs, self.actions, self.rewards, self.next_obs,
                                                         self.next_mask, self.discount)))

    def save(self, path: Path) -> None:
        """Write the filled part as an ``.npz`` (atomically, ``srole_common.persist``)."""
        n = self.size
        save_arrays(path, pos=self.pos, size=n, obs=self.obs[:n], next_obs=self.next_obs[:n],
                    next_mask=self.next_mask[:n], actions=self.actions[:n], rewards=self.rewards[:n],
                    discount=self.discount[:n])

    def load(self, path: Path) -> None:
        """Read ``save``'s output (``allow_pickle=False``); ``CorruptFile`` naming the file if it does not fit."""
        data = load_arrays(path, "replay buffer")
        names = ("obs", "next_obs", "next_mask", "actions", "rewards", "discount")
        missing = [k for k in ("size", "pos", *names) if k not in data]
        if missing:
            raise CorruptFile(f"replay buffer {str(path)!r} is not a replay buffer: it lacks {missing}")
        n, pos = int(data["size"]), int(data["pos"])
        if not 0 <= n <= self.capacity or not 0 <= pos < max(self.capacity, 1):
            raise CorruptFile(f"replay buffer {str(path)!r}: {n} transitions (pos {pos}), capacity {self.capacity}")
        for name in names:
            target = getattr(self, name)
            if data[name].shape != (n, *target.shape[1:]):
                raise CorruptFile(f"replay buffer {str(path)!r}: {name} has shape {data[name].shape}, "
                                  f"expected {(n, *target.shape[1:])}")
            target[:n] = data[name]
        self.size, self.pos = n, pos


class NStepReturns:
    """Turns each round's N one-step transitions into n-step ones (all agents move in lockstep).

    ``push`` takes a round and returns the transitions that are complete: the round n-1 rounds ago with
    its discounted n-step return and bootstrap discount gamma^n, or, when the episode ends, every pending
    round with the rewards up to the end (bootstrap gamma^m from the final observation after a
    truncation, 0 after termination). With ``n == 1`` it passes rounds straight through.
    """

    def __init__(self, n: int, gamma: float):
        if n < 1:
            raise ValueError(f"hyperparameter n_step must be >= 1, got {n}")
        self.n, self.gamma = n, gamma
        self.pending: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque()

    def push(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
             next_mask: np.ndarray, terminated: bool, episode_end: bool) -> list[tuple]:
        """Rounds ready for the buffer, each ``(obs, actions, returns, next_obs, next_mask, discount)``."""
        self.pending.append((obs, actions, np.asarray(rewards, np.float64)))
        if not episode_end and len(self.pending) < self.n:
            return []
        ready = list(self.pending) if episode_end else [self.pending[0]]
        out = []
        for j, (o, a, _) in enumerate(ready):
            later = [r for _, _, r in list(self.pending)[j:]]
            returns = sum(self.gamma**k * r for k, r in enumerate(later))
            discount = 0.0 if terminated else self.gamma ** len(later)
            out.append((o, a, returns, next_obs, next_mask, discount))
        if episode_end:
            self.pending.clear()
        else:
            self.pending.popleft()
        return out
