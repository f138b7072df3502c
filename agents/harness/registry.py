"""Registry of trainable algorithms: how each one trains, which hyperparameters it takes, how its policy loads.

Add an ``AlgoSpec`` to ``ALGOS`` to make an algorithm available to ``agents.harness.train.train``, policy loading
and the ``srole train --algo`` choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.common.context import RunContext
from agents.learners import crl_idqn, idqn, ippo, sb3_learners
from srole_common.names import ALGO_NAMES


@dataclass(frozen=True)
class AlgoSpec:
    """One trainable algorithm: how to run it, what hyperparameters it takes, how to load its policy."""

    name: str
    env_kind: str
    """``parallel`` (one agent per edge, shields allowed) or ``centralized`` (the cluster head, no shield)."""
    run: Callable[[RunContext], None]
    hparams: Callable[[dict[str, Any]], dict[str, Any]]
    load_policy: Callable[[Path, str], Any]
    description: str


def _sb3(name: str, kind: str, description: str) -> AlgoSpec:
    return AlgoSpec(name, kind, sb3_learners.run, lambda o: sb3_learners.hparams(name, o),
                    lambda ckpt, device: sb3_learners.load_policy(ckpt, name, device), description)


ALGOS: dict[str, AlgoSpec] = {
    "ppo": _sb3("ppo", "parallel", "SB3 PPO, parameter-shared over the edge agents"),
    "dqn": _sb3("dqn", "parallel", "SB3 DQN, parameter-shared over the edge agents"),
    "maskable_ppo": _sb3("maskable_ppo", "parallel", "sb3-contrib MaskablePPO with the env's action masks"),
    "idqn": AlgoSpec("idqn", "parallel", idqn.run, idqn.hparams, idqn.load_policy,
                     "independent DQN in torch (shared network, preferences = Q-values)"),
    "ippo": AlgoSpec("ippo", "parallel", ippo.run, ippo.hparams, ippo.load_policy,
                     "independent PPO in torch (shared actor-critic, preferences = probabilities)"),
    "crl_ppo": _sb3("crl_ppo", "centralized", "SB3 PPO at the cluster head (srole/Centralized-v0)"),
    "crl_dqn": _sb3("crl_dqn", "centralized", "SB3 DQN at the cluster head (srole/Centralized-v0)"),
    "crl_maskable_ppo": _sb3("crl_maskable_ppo", "centralized",
                             "sb3-contrib MaskablePPO at the cluster head with its action masks, discounted per round"),
    "crl_idqn": AlgoSpec("crl_idqn", "centralized", crl_idqn.run, idqn.hparams, crl_idqn.load_policy,
                         "IDQN at the cluster head, each decision credited with its own edge's rewards"),
}
"""Registry of trainable algorithms (add an ``AlgoSpec`` here to add one to the CLI)."""
assert tuple(ALGOS) == ALGO_NAMES, "keep srole_common.names.ALGO_NAMES in step with ALGOS"
