"""Small shared helpers: device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch


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
