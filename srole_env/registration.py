"""Environment ids: Gymnasium registration of the centralized view and a registry for the parallel view.

The cluster head's env is a Gymnasium env, registered as ``srole/Centralized-v0``. As Gymnasium documents for
third-party environments, ``gymnasium.make("srole_env:srole/Centralized-v0")`` works in a fresh interpreter (the
``module:`` prefix imports ``srole_env``, which registers the id); after ``import srole_env``, the bare id works too.

The per-edge env is a PettingZoo parallel env, and Gymnasium has no registry for those, so its name follows
PettingZoo's convention instead (a versioned module, ``srole_env.edge_cluster_v0``), not Gymnasium's id syntax:
``srole_env.make("edge_cluster_v0")`` builds it, like ``srole_env.edge_cluster_v0.parallel_env()``. The older
name ``srole/Edge-v0`` still works, with a ``FutureWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import gymnasium

CENTRALIZED_ID = "srole/Centralized-v0"
EDGE_ID = "edge_cluster_v0"
OLD_EDGE_ID = "srole/Edge-v0"
"""The per-edge env's former make-name, which looked like a Gymnasium id (``gymnasium.make`` cannot build it)."""


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
    """Build an environment by name: ``edge_cluster_v0`` (PettingZoo parallel) or ``srole/Centralized-v0``."""
    if env_id == OLD_EDGE_ID:
        warnings.warn(f"{OLD_EDGE_ID!r} is now {EDGE_ID!r} (a PettingZoo env, not a Gymnasium id)", FutureWarning,
                      stacklevel=2)
        env_id = EDGE_ID
    if env_id in PARALLEL_REGISTRY:
        return PARALLEL_REGISTRY[env_id](**kwargs)
    if env_id in (CENTRALIZED_ID, f"srole_env:{CENTRALIZED_ID}"):
        return _centralized_v0(**kwargs)
    raise ValueError(f"unknown environment id {env_id!r}; known: {sorted([*PARALLEL_REGISTRY, CENTRALIZED_ID])}")
