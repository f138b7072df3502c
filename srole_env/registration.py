"""Environment ids: Gymnasium registration of the centralized view and a registry for the parallel view.

Gymnasium has no registry for PettingZoo environments, so ``srole_env.make`` resolves both kinds of id:
``srole/Centralized-v0`` (also reachable through ``gymnasium.make``) and ``srole/Edge-v0``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium

CENTRALIZED_ID = "srole/Centralized-v0"
EDGE_ID = "srole/Edge-v0"


def _edge_v0(**kwargs: Any):
    from srole_env.edge_cluster_v0 import parallel_env

    return parallel_env(**kwargs)


def _centralized_v0(**kwargs: Any):
    from srole_env.centralized import CentralizedSchedulingEnv

    return CentralizedSchedulingEnv(**kwargs)


PARALLEL_REGISTRY: dict[str, Callable[..., Any]] = {EDGE_ID: _edge_v0}


def register_envs() -> None:
    """Register the Gymnasium ids (idempotent)."""
    if CENTRALIZED_ID not in gymnasium.registry:
        gymnasium.register(id=CENTRALIZED_ID, entry_point="srole_env.centralized:CentralizedSchedulingEnv")


def make(env_id: str, **kwargs: Any):
    """Build an environment by id: ``srole/Edge-v0`` (PettingZoo parallel) or ``srole/Centralized-v0``."""
    if env_id in PARALLEL_REGISTRY:
        return PARALLEL_REGISTRY[env_id](**kwargs)
    if env_id == CENTRALIZED_ID:
        return _centralized_v0(**kwargs)
    raise ValueError(f"unknown environment id {env_id!r}; known: {sorted([*PARALLEL_REGISTRY, CENTRALIZED_ID])}")
