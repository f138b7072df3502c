"""Checking one agent's action: an int in range, or a clear error (never a silent clamp)."""

from __future__ import annotations

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
