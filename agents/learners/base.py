"""The one learner protocol: a typed, validated config class and a learner class per algorithm.

Every trainable algorithm is a ``Learner`` subclass (``agents.harness.registry.LEARNERS`` maps its name to the
class): ``config_class`` is its hyperparameters as a frozen ``LearnerConfig`` dataclass, ``run(ctx)`` trains or
resumes a run, ``load_policy(ckpt, device)`` loads a trained policy. A ``--hparam`` reaches the learner only
through ``Learner.configure`` (the door): unknown names, wrong types and out-of-range values are refused there
by the config's ``__post_init__`` (``LearnerConfig.check``), and settings that cannot work together on the run's
cluster and budget by ``LearnerConfig.run_problems``; each refusal is a ``ValueError`` naming the hyperparameter
and the reason (``agents/common/learner_config.py`` holds ``LearnerConfig``, re-exported here).
The run context (``agents.common.context.RunContext``) carries the validated config object, not a dict.

``TorchLearner`` is the shared base of our torch learners (``idqn``, ``ippo``; ``crl_idqn`` reuses IDQN):
construction from sizes, checkpoint save/load of its state dicts and RNG, ``run`` and ``load_policy``.
"""

from __future__ import annotations

import typing
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from agents.common.learner_config import (  # noqa: F401  (re-exported: the learners' configs build on these)
    LearnerConfig,
    Limit,
    above,
    at_least,
    between,
    in_open_closed,
    one_of,
    widths,
)
from srole_common.persist import load_checkpoint, restore, save_checkpoint

if typing.TYPE_CHECKING:
    from agents.common.context import RunContext
    from agents.common.policy import ScoredPolicy
    from srole_env import ClusterConfig


class Learner:
    """One trainable algorithm (class attributes and class methods; instances are the learners of a run)."""

    name: ClassVar[str]
    env_kind: ClassVar[str]
    """``parallel`` (one agent per edge, shields allowed) or ``centralized`` (the cluster head, no shield)."""
    description: ClassVar[str]
    config_class: ClassVar[type[LearnerConfig]]

    @classmethod
    def configure(cls, overrides: Mapping[str, Any], cluster: ClusterConfig | None = None,
                  rounds: int | None = None) -> LearnerConfig:
        """The door: the validated config of ``overrides``; with ``cluster`` and ``rounds`` also the checks of
        settings that cannot run on that cluster within that budget (``LearnerConfig.run_problems``)."""
        hp = cls.config_class.from_overrides(overrides)
        if cluster is not None and rounds is not None:
            for names, reason in hp.run_problems(cluster, rounds, cls.env_kind):
                settings = ", ".join(f"{n}={getattr(hp, n)!r}" for n in names)
                raise ValueError(f"hyperparameters {settings} cannot work together on a {cluster.n_edges}-edge "
                                 f"cluster in {rounds} rounds: {reason}")
            for names, reason in hp.run_warnings(cluster, rounds, cls.env_kind):
                settings = ", ".join(f"{n}={getattr(hp, n)!r}" for n in names)
                warnings.warn(f"{cls.name}: hyperparameters {settings} on a {cluster.n_edges}-edge cluster in "
                              f"{rounds} rounds: {reason}", UserWarning, stacklevel=2)
        return hp

    @classmethod
    def hparams(cls, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """The full hyperparameters a run with ``overrides`` uses, as ``config.json`` records them."""
        return cls.configure(overrides).to_dict()

    @classmethod
    def run(cls, ctx: RunContext) -> None:
        """Train (or resume) the run ``ctx`` describes."""
        raise NotImplementedError

    @classmethod
    def load_policy(cls, ckpt: Path, device: str = "cpu") -> ScoredPolicy:
        """The greedy policy of a checkpoint directory."""
        raise NotImplementedError


class TorchLearner(Learner):
    """Shared base of our torch learners: sizes, seeded RNG, checkpoint files, ``run`` and ``load_policy``.

    A subclass builds its networks and optimizer in ``build``, names what its checkpoint holds in
    ``STATE`` (key -> (attribute, what it is, for errors)) and trains in ``learn(driver, ctx)``.
    """

    MODEL_FILE: ClassVar[str]
    ENV_FILE: ClassVar[str] = "env.npz"
    STATE: ClassVar[dict[str, tuple[str, str]]]
    """Checkpoint entry -> (attribute holding a ``state_dict``, its name in error messages)."""

    def __init__(self, obs_dim: int, n_actions: int, hp: LearnerConfig, seed: int, device: str = "cpu"):
        import torch

        self.hp, self.device = hp, device
        self.obs_dim, self.n_actions = obs_dim, n_actions
        torch.manual_seed(seed)
        self.build()
        self.rng = np.random.default_rng(seed)
        self.updates = 0

    def build(self) -> None:
        """Networks, optimizer and policy from ``self.hp`` and the sizes."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_meta(self) -> dict[str, Any]:
        """JSON metadata of the checkpoint beside the state dicts."""
        return {"hparams": self.hp.to_dict(), "obs_dim": self.obs_dim, "n_actions": self.n_actions,
                "rng": self.rng.bit_generator.state, "updates": self.updates}

    def checkpoint_tensors(self) -> dict[str, Any]:
        """The tensors of the checkpoint: every ``STATE`` entry's state dict."""
        return {key: getattr(self, attr).state_dict() for key, (attr, _) in self.STATE.items()}

    def write_checkpoint(self, ctx: RunContext, **extra: Any) -> Path:
        """``MODEL_FILE`` (tensors and metadata, plus ``extra`` metadata) into ``checkpoint/``; returns it."""
        ckpt = ctx.run.checkpoint
        ckpt.mkdir(parents=True, exist_ok=True)
        save_checkpoint(ckpt / self.MODEL_FILE, self.checkpoint_tensors(), {**self.checkpoint_meta(), **extra})
        return ckpt

    def restore_extra(self, ckpt: Path, data: dict[str, Any], meta: dict[str, Any], with_buffer: bool) -> None:
        """What a subclass checkpoints beyond ``STATE`` and the RNG (counters, buffers)."""

    @classmethod
    def load(cls, ckpt: Path, device: str, with_buffer: bool = True) -> Any:
        """The learner of a checkpoint directory; each part that does not fit raises naming the file."""
        path = Path(ckpt) / cls.MODEL_FILE
        data, meta = load_checkpoint(path, device, tuple(cls.tensor_keys()),
                                     ("hparams", "obs_dim", "n_actions", "rng", "updates"))
        hp = restore(path, "hyperparameters", cls.config_class.from_saved, meta["hparams"])
        agent = restore(path, "sizes", cls, int(meta["obs_dim"]), int(meta["n_actions"]), hp, 0, device)
        for key, (attr, what) in cls.STATE.items():
            restore(path, what, getattr(agent, attr).load_state_dict, data[key])
        restore(path, "the RNG state", setattr, agent.rng.bit_generator, "state", meta["rng"])
        agent.updates = int(meta["updates"])
        agent.restore_extra(Path(ckpt), data, meta, with_buffer)
        return agent

    @classmethod
    def tensor_keys(cls) -> list[str]:
        """Entries the checkpoint must hold."""
        return list(cls.STATE)

    # ------------------------------------------------------------------ runs
    @classmethod
    def new_for(cls, ctx: RunContext, obs_dim: int, n_actions: int) -> Any:
        """A fresh learner for the run ``ctx`` (subclasses fix budget-relative schedules here)."""
        return cls(obs_dim, n_actions, ctx.hparams, ctx.seed, ctx.device)

    @classmethod
    def run(cls, ctx: RunContext) -> None:
        """Train (or resume) a run of the parallel env: env, learner and driver, then ``learn``."""
        from agents.common.array_env import EpisodeDriver
        from agents.common.context import resume_driver

        n_envs = int(getattr(ctx.hparams, "n_envs", 1))
        if n_envs > 1:  # the learner option: K episodes per step (``agents.common.batched_driver``)
            from agents.common.batched_driver import BatchedDriver, EngineDriver

            start = (int(ctx.state["episodes"]), ctx.start_rounds) if ctx.resume else (0, 0)
            if ctx.shield == "none":  # unshielded: the K episodes as blocks of one simulator (srole_env.vector)
                from srole_env.vector import BatchedEdgeClusterEnv

                venv = BatchedEdgeClusterEnv(n_envs, ctx.config, autoreset_mode="Disabled")
                driver: Any = EngineDriver(venv, ctx.seed, ctx.episode_log, episode=start[0], rounds=start[1])
            else:  # a shield wraps one env: K shielded envs stepped one after another
                envs = [ctx.make_env() for _ in range(n_envs)]
                driver = BatchedDriver(envs, ctx.seed, ctx.episode_log, episode=start[0], rounds=start[1])
            if ctx.resume:
                agent = cls.load(ctx.run.checkpoint, ctx.device)
                driver.load_state(ctx.run.checkpoint / cls.ENV_FILE)
            else:
                agent = cls.new_for(ctx, driver.env.obs_dim, driver.env.n_actions)
            agent.learn(driver, ctx)
            return
        env = ctx.make_env()
        if ctx.resume:
            agent = cls.load(ctx.run.checkpoint, ctx.device)
            driver = resume_driver(env, ctx, cls.ENV_FILE)
        else:
            agent = cls.new_for(ctx, env.obs_dim, env.n_actions)
            driver = EpisodeDriver(env, ctx.seed, ctx.episode_log)
        agent.learn(driver, ctx)

    def learn(self, driver: Any, ctx: RunContext) -> None:
        raise NotImplementedError

    def policy_for_eval(self) -> ScoredPolicy:
        """The greedy policy, networks in eval mode."""
        for attr, _ in self.STATE.values():
            module = getattr(self, attr)
            if hasattr(module, "eval") and hasattr(module, "training"):
                module.eval()
        return self.policy

    @classmethod
    def load_policy(cls, ckpt: Path, device: str = "cpu") -> ScoredPolicy:
        """The greedy policy of a checkpoint (no replay buffer loaded)."""
        return cls.load(ckpt, device, with_buffer=False).policy_for_eval()
