"""Registry of trainable algorithms: each name maps to its ``Learner`` class (``agents.learners.base``).

A learner class says how it trains (``run``), which hyperparameters it takes (``config_class``, validated at
``configure``) and how its policy loads (``load_policy``). Add a class to ``LEARNERS`` to make an algorithm
available to ``agents.harness.train.train``, policy loading and the ``srole train --algo`` choices; the RLlib
backend's PPO is ``RLLIB_LEARNERS["ppo"]``.
"""

from __future__ import annotations

from agents.learners.base import Learner
from agents.learners.crl_idqn import CRLIDQN
from agents.learners.idqn import IDQN
from agents.learners.ippo import IPPO
from agents.learners.rllib.specs import RLlibPPO
from agents.learners.sb3.specs import CRLDQN, CRLPPO, SB3DQN, SB3PPO, CRLMaskablePPO, SB3MaskablePPO
from srole_common.names import ALGO_NAMES

LEARNERS: dict[str, type[Learner]] = {cls.name: cls for cls in (
    SB3PPO, SB3DQN, SB3MaskablePPO, IDQN, IPPO, CRLPPO, CRLDQN, CRLMaskablePPO, CRLIDQN,
)}
"""Name -> learner class of every trainable algorithm of the native backend."""
assert tuple(LEARNERS) == ALGO_NAMES, "keep srole_common.names.ALGO_NAMES in step with LEARNERS"


RLLIB_LEARNERS: dict[str, type[Learner]] = {RLlibPPO.name: RLlibPPO}
"""Learners of ``srole train --backend rllib`` (validated through the same ``configure`` door)."""
