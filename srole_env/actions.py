"""Checking actions, agents and seeds: each an int in range, or a clear error (never a silent clamp).

Public: the envs use it, and so do wrappers in front of them (the shields), so both refuse the same input the
same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def as_action(action: Any, n_actions: int, who: str = "action") -> int:
    """``action`` as a Python int in ``0..n_actions-1``; ``TypeError``/``ValueError`` naming ``who`` otherwise."""
    value = action
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"{who} must be a scalar, got shape {value.shape}")
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who} must be an int in 0..{n_actions - 1}, got {action!r}")
    if not 0 <= value < n_actions:
        raise ValueError(f"{who} {value} is out of range 0..{n_actions - 1}")
    return int(value)


def index_of(agent: str, agent_index: Mapping[str, int]) -> int:
    """Index of ``agent`` in ``agent_index`` (agent -> index), or a ``ValueError`` that lists the agents."""
    i = agent_index.get(agent)
    if i is None:
        raise ValueError(f"unknown agent {agent!r}; agents are edge_0..edge_{len(agent_index) - 1}")
    return i


def joint_action(actions: Mapping[str, Any], agent_index: Mapping[str, int], n_actions: int, hold: int) -> np.ndarray:
    """A dict agent -> action as the joint action [N] (agents absent from it hold).

    Unknown agents raise ``ValueError``; bad actions raise as in ``as_action``.
    """
    if not isinstance(actions, Mapping):
        raise TypeError(f"step() takes a dict agent -> action (e.g. {{'edge_0': 1}}), got {type(actions).__name__}; "
                        "for an array of actions use step_arrays()")
    joint = np.full(len(agent_index), hold, dtype=np.int64)
    for agent, action in actions.items():
        i = index_of(agent, agent_index)
        if type(action) is not int or not 0 <= action < n_actions:  # the common case needs no further checks
            action = as_action(action, n_actions, f"action of {agent}")
        joint[i] = action
    return joint


def as_seed(seed: Any) -> int | None:
    """``seed`` as a Python int (NumPy integers accepted) or None; ``TypeError``/``ValueError`` otherwise."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative int or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return int(seed)
