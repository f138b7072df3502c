"""The one learner protocol: a typed, validated config class and a learner class per algorithm.

Every trainable algorithm is a ``Learner`` subclass (``agents.harness.registry.LEARNERS`` maps its name to the
class): ``config_class`` is its hyperparameters as a frozen ``LearnerConfig`` dataclass, ``run(ctx)`` trains or
resumes a run, ``load_policy(ckpt, device)`` loads a trained policy. A ``--hparam`` reaches the learner only
through ``Learner.configure`` (the door): unknown names, wrong types and out-of-range values are refused there
by the config's ``__post_init__`` (``LearnerConfig.check``), and settings that cannot work together on the run's
cluster and budget by ``check_run``; each refusal is a ``ValueError`` naming the hyperparameter and the reason.
The run context (``agents.common.context.RunContext``) carries the validated config object, not a dict.

``TorchLearner`` is the shared base of our torch learners (``idqn``, ``ippo``; ``crl_idqn`` reuses IDQN):
construction from sizes, checkpoint save/load of its state dicts and RNG, ``run`` and ``load_policy``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from srole_common.persist import load_checkpoint, restore, save_checkpoint

if typing.TYPE_CHECKING:
    from agents.common.context import RunContext
    from agents.common.policy import ScoredPolicy
    from srole_env import ClusterConfig

C = TypeVar("C", bound="LearnerConfig")
Limit = Callable[[Any], "str | None"]
"""A value check: the reason a value is refused, or None when it is fine."""


# ---------------------------------------------------------------------- value checks for ``LIMITS``
def at_least(low: float) -> Limit:
    return lambda v: None if v >= low else f"must be >= {low}"


def above(low: float) -> Limit:
    return lambda v: None if v > low else f"must be > {low}"


def between(low: float, high: float) -> Limit:
    return lambda v: None if low <= v <= high else f"must be in [{low}, {high}]"


def in_open_closed(low: float, high: float) -> Limit:
    return lambda v: None if low < v <= high else f"must be in ({low}, {high}]"


def one_of(*choices: Any) -> Limit:
    return lambda v: None if v in choices else f"must be one of {list(choices)}"


def widths(allow_empty: bool = True) -> Limit:
    """Hidden-layer widths: a tuple of ints >= 1 (empty: no hidden layer, when ``allow_empty``)."""
    def check(v: tuple) -> str | None:
        if not allow_empty and not v:
            return "must have at least one layer"
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in v):
            return "must be a list of layer widths (ints >= 1)"
        return None
    return check


def _type_problem(name: str, value: Any, hint: Any, default: Any) -> tuple[Any, str | None]:
    """``(coerced value, reason or None)``: ints where floats are wanted, lists where tuples are wanted."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return value, None
        problems = []
        for arg in (a for a in args if a is not type(None)):
            coerced, problem = _type_problem(name, value, arg, default)
            if problem is None:
                return coerced, None
            problems.append(problem)
        return value, problems[0] if problems else "has the wrong type"
    if hint is bool:
        return value, None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        return (int(value), None) if ok else (value, "must be an integer")
    if hint is float:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
        if not ok:
            return value, "must be a number"
        return (float(value), None) if math.isfinite(float(value)) else (value, "must be finite")
    if hint is str:
        return value, None if isinstance(value, str) else "must be a string"
    if origin is tuple or hint is tuple:
        if not isinstance(value, (list, tuple)):
            return value, "must be a list"
        return tuple(value), None
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            return value, "must be a list"
        return list(value), None
    if origin is dict or hint is dict:
        return value, None if isinstance(value, dict) else "must be a mapping"
    return value, None  # Any


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    """Base of a learner's hyperparameters: a frozen dataclass checked whole when it is built.

    Subclasses declare fields with defaults (and a docstring line with the evidence for each default) and
    ``LIMITS``, a check per field; ``combinations`` adds checks across fields. Building an instance coerces
    ints to floats and lists to tuples where the field says so, then refuses a wrong type, an out-of-range
    value or an impossible combination with ``ValueError("hyperparameter NAME=VALUE: REASON")``.
    """

    LIMITS: ClassVar[dict[str, Limit]] = {}

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            coerced, problem = _type_problem(f.name, value, hints[f.name], f.default)
            if problem is not None:
                raise ValueError(f"hyperparameter {f.name} {problem} (like {_default(f)!r}), got {value!r}")
            object.__setattr__(self, f.name, coerced)
        self.check()

    def check(self) -> None:
        """Refuse out-of-range values (``LIMITS``) and impossible combinations (``combinations``)."""
        for name, limit in self.LIMITS.items():
            value = getattr(self, name)
            reason = None if value is None else limit(value)
            if reason is not None:
                raise ValueError(f"hyperparameter {name}={value!r}: {reason}")
        for names, reason in self.combinations():
            settings = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
            raise ValueError(f"hyperparameters {settings} cannot work together: {reason}")

    def combinations(self) -> list[tuple[tuple[str, ...], str]]:
        """``(names, reason)`` of each combination of these settings that cannot run (none by default)."""
        return []

    def run_problems(self, cluster: ClusterConfig, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        """Like ``combinations``, for settings that cannot run on ``cluster`` within ``rounds`` rounds (``env_kind``:
        the learner's env, ``parallel`` or ``centralized``)."""
        return []

    def run_warnings(self, cluster: ClusterConfig, rounds: int, env_kind: str) -> list[tuple[tuple[str, ...], str]]:
        """Settings that run but waste the run (no gradient step within the budget): warned, not refused."""
        return []

    @classmethod
    def from_overrides(cls: type[C], overrides: Mapping[str, Any]) -> C:
        """The defaults with ``overrides``; unknown names, wrong types, bad values -> ``ValueError``."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown}; valid: {sorted(names)}")
        return cls(**dict(overrides))

    @classmethod
    def from_saved(cls: type[C], saved: Mapping[str, Any]) -> C:
        """The config a checkpoint or ``config.json`` recorded (names this version no longer has are dropped)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The hyperparameters as ``config.json`` records them."""
        return dataclasses.asdict(self)


def _default(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


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
