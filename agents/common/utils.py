"""Small shared helpers: device choice, seeding and the cluster config of a run."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from srole_env import ClusterConfig, make_config


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; other values are checked and returned."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    try:
        torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device: {err}") from err
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - SB3 draws from the legacy global RNG
    torch.manual_seed(seed)


def as_config(config: ClusterConfig | str | dict[str, Any] | None) -> ClusterConfig:
    """A ``ClusterConfig`` from a config, a scenario name or file, or a dict of fields."""
    if isinstance(config, dict):
        return ClusterConfig.from_dict(config)
    return make_config(config)
