"""The base of every learner's hyperparameters: a frozen dataclass checked whole when it is built.

``LearnerConfig`` lives here, below the learners, because the run context (``agents.common.context.RunContext``)
carries a learner's validated config; the learners' own configs subclass it (``agents.learners.base`` re-exports
it with the ``Learner`` protocol). The value checks (``at_least``, ``between``, ...) fill a config's ``LIMITS``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

if typing.TYPE_CHECKING:
    from srole_env import ClusterConfig

C = TypeVar("C", bound="LearnerConfig")
Limit = Callable[[Any], "str | None"]
"""A value check: the reason a value is refused, or None when it is fine."""


# ---------------------------------------------------------------------- value checks for ``LIMITS``
def at_least(low: float) -> Limit:
    return lambda v: None if v >= low else f"must be >= {low}"


def above(low: float, what: str = "") -> Limit:
    """``> low``; ``what`` names the quantity in the reason (``"the learning rate"``)."""
    prefix = f"{what} " if what else ""
    return lambda v: None if v > low else f"{prefix}must be > {low}"


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
        if not isinstance(saved, Mapping):
            raise TypeError(f"saved hyperparameters must be a mapping, got {type(saved).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The hyperparameters as ``config.json`` records them."""
        return dataclasses.asdict(self)


def _default(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
