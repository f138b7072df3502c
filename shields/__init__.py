"""SROLE shields: rewrite colliding actions of a decision round to safe alternatives.

A shield sits between the agents and the edge cluster (a PettingZoo parallel wrapper). It sees the
round's joint action, projects the load each target edge would get, finds the collisions, keeps the
requests that fit in priority order and gives every displaced agent its next-best candidate that still
fits (from the learner's preferences, else the least-loaded one), or ``hold`` when nothing fits.

| module | job |
|---|---|
| ``shields.core`` | projected load, collision detection, preference orders, vectorized granting |
| ``shields.priority`` | rules for which requests keep their target (``PRIORITY_RULES``) |
| ``shields.regions`` | partitioning edges into regions (k-means or grid) |
| ``shields.protocol`` | region shields and their request/grant/deny rounds over message queues |
| ``shields.latency`` | the simulated decision latency a shield adds |
| ``shields.wrappers`` | ``CentralShield``, ``DecentralizedShield`` (PettingZoo wrappers) |
| ``shields.overlay`` | the shield's layer on rendered frames (regions, denied requests, granted placements) |

Guarantees, every step: no edge's committed load passes its thresholds because of the round's new
tasks; an agent that asked for a candidate and ends up holding has no candidate that fits the final
load; agents without a pending task, agents that hold, and requests that fit and are in no conflict
keep their action.

A shield reads the round only through the env's public round-state API (``EdgeClusterEnv.round_state()``,
``topology``, ``round``, ``n_actions``) and reports back through ``charge_decision_latency`` and
``record_interventions``; it registers its overlay with ``add_render_overlay``.

    from shields import make_shield
    env = make_shield(srole_env.parallel_env("paper"), "decentralized", regions=4, priority="urgency")
"""

from __future__ import annotations

from typing import Any

from shields.priority import PRIORITY_RULES
from shields.regions import PARTITION_METHODS
from shields.wrappers import CentralShield, DecentralizedShield, ShieldWrapper
from srole_common.names import SHIELDS as SHIELD_KINDS

SHIELD_CLASSES: dict[str, type[ShieldWrapper]] = {"central": CentralShield, "decentralized": DecentralizedShield}
"""Shield kind -> wrapper class; with ``"none"`` (the bare env) these are ``SHIELD_KINDS``."""


def make_shield(env: Any, kind: str, **kwargs: Any) -> Any:
    """``env`` behind the shield ``kind`` (``"none"``, ``"central"``, ``"decentralized"``); learners use this.

    ``kwargs`` go to the shield's constructor (``priority``, ``seed``; ``regions``, ``partition``,
    ``partition_seed`` for ``decentralized``). ``"none"`` returns ``env`` itself and ignores ``kwargs``,
    so one call site can switch shields on and off.
    """
    if kind == "none":
        return env
    if kind in SHIELD_CLASSES:
        return SHIELD_CLASSES[kind](env, **kwargs)
    raise ValueError(f"kind: unknown shield kind {kind!r}; choose one of {list(SHIELD_KINDS)}")


__all__ = [
    "PARTITION_METHODS",
    "PRIORITY_RULES",
    "SHIELD_CLASSES",
    "SHIELD_KINDS",
    "CentralShield",
    "DecentralizedShield",
    "ShieldWrapper",
    "make_shield",
]
