"""The RLlib learner at the door: its typed config and ``Learner`` class, without importing Ray.

``srole train --backend rllib --hparam`` goes through ``RLlibPPO.configure`` like every other learner; the
training itself is ``agents.learners.rllib.adapter.train_rllib`` (which needs the ``rllib`` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agents.learners.base import Learner, LearnerConfig, above, at_least, between, one_of, widths

POLICY_MAPPINGS = ("shared", "per_agent")
ACTION_MASKING = ("logits", "features")
"""As ``agents.learners.rllib.adapter``'s (kept apart so that checking a config never imports Ray)."""


def _fragment(v: int | str) -> str | None:
    return None if v == "auto" or (isinstance(v, int) and v >= 1) else "must be 'auto' or an int >= 1"


@dataclass(frozen=True)
class RLlibPPOConfig(LearnerConfig):
    """The hyperparameters ``srole train --backend rllib --hparam`` sets: the learner's fields of
    ``RLlibTrainConfig`` (the run's own settings, scenario, shield, seed, out dir, budget, come from the command)."""

    policy_mapping: str = "shared"
    """``shared`` (one policy for every agent) or ``per_agent`` (one per edge)."""
    action_masking: str = "logits"
    """``logits`` (masked-logit RLModule) or ``features`` (mask only as input features)."""
    train_batch_size: int = 2000
    """Env steps per training iteration (each env step is one decision round of all N agents)."""
    minibatch_size: int = 256
    num_epochs: int = 10
    lr: float = 3e-4
    gamma: float = 0.99
    hidden: tuple[int, ...] = (64, 64)
    rollout_fragment_length: int | str = "auto"
    num_cpus: int | None = None
    """CPUs of the local Ray instance (ignored with ``address``); None lets Ray detect them."""

    LIMITS: ClassVar = {
        "policy_mapping": one_of(*POLICY_MAPPINGS), "action_masking": one_of(*ACTION_MASKING),
        "train_batch_size": at_least(1), "minibatch_size": at_least(1), "num_epochs": at_least(1),
        "lr": above(0.0, "the learning rate"),
        "gamma": between(0.0, 1.0), "hidden": widths(), "rollout_fragment_length": _fragment, "num_cpus": at_least(1),
    }

    def combinations(self) -> list[tuple[tuple[str, ...], str]]:
        if self.minibatch_size > self.train_batch_size:
            return [(("minibatch_size", "train_batch_size"), "a minibatch cannot be larger than the iteration's batch "
                     "(RLlib refuses minibatch_size > train_batch_size)")]
        return []


class RLlibPPO(Learner):
    """RLlib PPO (``srole train --backend rllib``): validated by ``configure`` like every learner, trained by
    ``agents.learners.rllib.adapter.train_rllib`` (its own run layout: an RLlib checkpoint and
    ``run_config.json``; no ``RunContext``)."""

    name = "ppo"
    env_kind = "parallel"
    description = "Ray RLlib PPO (new API stack), parameter-shared or per agent"
    config_class = RLlibPPOConfig

    @classmethod
    def run(cls, ctx: Any) -> None:
        raise ValueError("RLlib runs train through agents.learners.rllib.adapter.train_rllib, not a RunContext")

    @classmethod
    def load_policy(cls, ckpt: Path, device: str = "cpu") -> Any:
        raise ValueError("RLlib checkpoints load with agents.harness.policies.load_policy(run_dir) (or "
                         "agents.learners.rllib.adapter.load_rllib_policy), which need the rllib extra")
