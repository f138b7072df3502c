"""The policy interface every scheduler offers (heuristics, SB3 models, custom learners).

``preferences(obs [N, D], mask [N, A]) -> scores [N, A]`` (higher is better; a shield uses the order for
a displaced agent's next-best action) and ``act(obs, mask) -> actions [N] = argmax(preferences)``.
``reset()`` forgets per-episode state. For CRL policies N is 1 and obs is the head's observation.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    name: str

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


class ScoredPolicy:
    """Base for learned policies: ``act`` is the argmax of ``preferences``; subclasses set ``env_kind``."""

    name = "policy"
    env_kind = "parallel"
    """``parallel`` (one row per edge agent) or ``centralized`` (one row: the cluster head's decision)."""

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Greedy actions [N]."""
        return np.argmax(self.preferences(obs, mask), axis=1)

    def reset(self) -> None:
        """Learned policies here are memoryless."""
