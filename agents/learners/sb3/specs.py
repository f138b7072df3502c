"""The Stable-Baselines3 learners at the door: their typed configs and one ``Learner`` class per algo.

A config's fields are SB3 constructor keywords (``net_arch`` goes into ``policy_kwargs``). Fields with a value
are ours (the defaults below, or an override); a field left at None is not passed, so SB3's own default applies
(and ``config.json`` lists only what was passed, as before). The training machinery (``agents.learners.sb3.
learners``, which imports SB3) loads when a run starts or a policy loads, not at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agents.learners.base import Learner, LearnerConfig, above, at_least, between, in_open_closed, widths


def _steps(v: int) -> str | None:
    return None if v >= 1 or v == -1 else "must be >= 1, or -1 (as many as the rollout's env steps)"


_COMMON_LIMITS = {
    "learning_rate": above(0.0, "the learning rate"), "gamma": between(0.0, 1.0), "max_grad_norm": above(0.0),
    "stats_window_size": at_least(1), "net_arch": widths(),
}


@dataclass(frozen=True)
class SB3Config(LearnerConfig):
    """Base of the SB3 configs: ``to_dict`` holds the keywords passed to the SB3 constructor."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for name, value in super().to_dict().items():
            if value is not None:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def constructor_kwargs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(keyword arguments, policy_kwargs)`` for the SB3 class."""
        kwargs = self.to_dict()
        policy_kwargs = {"net_arch": list(kwargs.pop("net_arch"))} if "net_arch" in kwargs else {}
        return kwargs, policy_kwargs

    def sb3_envs(self, cluster: Any, env_kind: str) -> int:
        """SB3's ``n_envs``: one sub-env per edge agent on the parallel env, one head env for CRL."""
        return cluster.n_edges if env_kind == "parallel" else 1


@dataclass(frozen=True)
class PPOConfig(SB3Config):
    """SB3 ``PPO`` / sb3-contrib ``MaskablePPO`` keywords (``n_steps`` per sub-env: 200 rounds x N agents per
    rollout on the parallel env). The short discount follows what worked for the custom learners on ``small``
    (``agents.learners.ippo``)."""

    n_steps: int = 200
    batch_size: int = 500
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.8
    ent_coef: float = 0.01
    net_arch: tuple[int, ...] = (64, 64)
    gae_lambda: float | None = None
    clip_range: float | None = None
    clip_range_vf: float | None = None
    normalize_advantage: bool | None = None
    vf_coef: float | None = None
    max_grad_norm: float | None = None
    target_kl: float | None = None
    stats_window_size: int | None = None

    LIMITS: ClassVar = {
        **_COMMON_LIMITS, "n_steps": at_least(1), "batch_size": at_least(1), "n_epochs": at_least(1),
        "ent_coef": at_least(0.0), "gae_lambda": between(0.0, 1.0), "clip_range": above(0.0),
        "clip_range_vf": above(0.0), "vf_coef": at_least(0.0), "target_kl": above(0.0),
    }

    def combinations(self) -> list[tuple[tuple[str, ...], str]]:
        if self.normalize_advantage is not False and self.batch_size < 2:
            return [(("batch_size", "normalize_advantage"),
                     "advantage normalization needs minibatches of at least 2 samples (SB3 asserts batch_size > 1)")]
        return []

    def run_problems(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        envs = self.sb3_envs(cluster, env_kind)
        if self.normalize_advantage is not False and self.n_steps * envs < 2:
            return [(("n_steps", "normalize_advantage"),
                     f"a rollout of n_steps x {envs} env(s) = {self.n_steps * envs} sample cannot be normalized "
                     "(SB3 asserts n_steps * n_envs > 1)")]
        return []

    def run_warnings(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        per_round = 1 if env_kind == "parallel" else cluster.n_edges  # env steps of one env per round, at most
        if self.n_steps > rounds * per_round:
            return [(("n_steps",), f"the first rollout ({self.n_steps} steps per env) cannot fill within the budget "
                     "(a rollout cut by the budget is not trained on): the policy stays untrained")]
        return []


@dataclass(frozen=True)
class CRLPPOConfig(PPOConfig):
    """``PPOConfig`` at the cluster head: ``n_steps`` counts head decisions (one env)."""

    n_steps: int = 1024
    batch_size: int = 256


@dataclass(frozen=True)
class DQNConfig(SB3Config):
    """SB3 ``DQN`` keywords (sample counts in SB3 timesteps: agent-steps on the parallel env). The short discount
    follows what worked for the custom learners on ``small`` (``agents.learners.idqn``)."""

    buffer_size: int = 200_000
    learning_starts: int = 2_000
    batch_size: int = 256
    learning_rate: float = 5e-4
    gamma: float = 0.7
    train_freq: int = 1
    gradient_steps: int = 1
    target_update_interval: int = 2_000
    exploration_fraction: float = 0.3
    exploration_final_eps: float = 0.05
    net_arch: tuple[int, ...] = (128, 128)
    tau: float | None = None
    n_steps: int | None = None
    exploration_initial_eps: float | None = None
    max_grad_norm: float | None = None
    optimize_memory_usage: bool | None = None
    stats_window_size: int | None = None

    LIMITS: ClassVar = {
        **_COMMON_LIMITS, "buffer_size": at_least(1), "learning_starts": at_least(0), "batch_size": at_least(1),
        "train_freq": at_least(1), "gradient_steps": _steps, "target_update_interval": at_least(1),
        "exploration_fraction": between(0.0, 1.0), "exploration_final_eps": between(0.0, 1.0),
        "exploration_initial_eps": between(0.0, 1.0), "tau": in_open_closed(0.0, 1.0), "n_steps": at_least(1),
    }

    def run_warnings(self, cluster: Any, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        if self.learning_starts >= rounds * cluster.n_edges:  # SB3 timesteps per round: N (at most N at the head)
            return [(("learning_starts",), f"SB3 trains after learning_starts timesteps; the budget has at most "
                     f"{rounds * cluster.n_edges}: the policy stays untrained")]
        return []

    def combinations(self) -> list[tuple[tuple[str, ...], str]]:
        if self.optimize_memory_usage:
            return [(("optimize_memory_usage",), "SB3's replay buffer refuses it together with timeout handling, "
                     "which a horizon-truncated episode needs")]
        return []


@dataclass(frozen=True)
class CRLDQNConfig(DQNConfig):
    """``DQNConfig`` at the cluster head (timesteps are head decisions)."""

    learning_starts: int = 1_000
    target_update_interval: int = 1_000


class SB3Learner(Learner):
    """An SB3 algorithm: ``run`` and ``load_policy`` in ``agents.learners.sb3.learners``."""

    @classmethod
    def run(cls, ctx: Any) -> None:
        from agents.learners.sb3 import learners as sb3_learners

        sb3_learners.run(ctx)

    @classmethod
    def load_policy(cls, ckpt: Path, device: str = "cpu") -> Any:
        from agents.learners.sb3 import learners as sb3_learners

        return sb3_learners.load_policy(ckpt, cls.name, device)


class SB3PPO(SB3Learner):
    name, env_kind, config_class = "ppo", "parallel", PPOConfig
    description = "SB3 PPO, parameter-shared over the edge agents"


class SB3DQN(SB3Learner):
    name, env_kind, config_class = "dqn", "parallel", DQNConfig
    description = "SB3 DQN, parameter-shared over the edge agents"


class SB3MaskablePPO(SB3Learner):
    name, env_kind, config_class = "maskable_ppo", "parallel", PPOConfig
    description = "sb3-contrib MaskablePPO with the env's action masks"


class CRLPPO(SB3Learner):
    name, env_kind, config_class = "crl_ppo", "centralized", CRLPPOConfig
    description = "SB3 PPO at the cluster head (srole/Centralized-v0)"


class CRLDQN(SB3Learner):
    name, env_kind, config_class = "crl_dqn", "centralized", CRLDQNConfig
    description = "SB3 DQN at the cluster head (srole/Centralized-v0)"


class CRLMaskablePPO(SB3Learner):
    name, env_kind, config_class = "crl_maskable_ppo", "centralized", CRLPPOConfig
    description = "sb3-contrib MaskablePPO at the cluster head with its action masks, discounted per round"


SB3_LEARNERS: tuple[type[SB3Learner], ...] = (SB3PPO, SB3DQN, SB3MaskablePPO, CRLPPO, CRLDQN, CRLMaskablePPO)

DEFAULTS: dict[str, dict[str, Any]] = {cls.name: cls.config_class().to_dict() for cls in SB3_LEARNERS}
"""Our defaults per algo, as passed to SB3 (PPO's ``n_steps`` is per sub-env: 200 rounds x N agents per rollout)."""
