"""Checks at the door: a profile file and a tuned YAML are validated whole before any cell runs.

A file from elsewhere (``srole reproduce --profile FILE.yaml``, ``study/experiments/tuned/<scenario>/<method>.yaml``)
is read as plain data and then checked here, key by key, types before values: unknown keys, wrong types and
out-of-range values are refused with one ``ValueError`` naming the file, the key (``experiments[1].base.n_edges``)
and the reason. Every cluster config a profile's cells would build is built here once (``make_config`` checks it
whole, memory included), and the profile's hyperparameters of each algo are checked against the learner's accepted
names (``check_hparams``), so a bad profile fails in a second with exit status 2 instead of failing every cell into
``failures.csv``. This module imports nothing else of ``study``: ``profiles`` and ``tuning`` call it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from srole_common.names import ALGO_NAMES, SHIELDS
from srole_env.config import ClusterConfig, make_config

SHIELD_PREFERENCES = "shield_preferences"
"""The hyperparameter every parallel-env learner takes besides its own (``agents.harness.train``)."""
EXPERIMENT_KINDS = ("methods", "shield_overhead", "sensitivity", "grid")
TUNED_KEYS = frozenset({
    "method", "scenario", "overrides", "algo", "shield", "hparams", "trials", "rounds", "best_value", "best_trial",
    "objective", "seed_base", "train_seed", "train_seeds", "eval_seeds", "sampler", "workers", "search_space",
    "search_dimensions", "wall_s", "optuna", "history", "resume", "fixed",
})
"""Top-level keys a tuned YAML may hold (what ``study.experiments.tuning.tune`` writes, old and new)."""


class Where:
    """A file and a key path inside it, for messages: ``profile p.yaml: experiments[0].base.n_edges: ...``."""

    def __init__(self, what: str, path: str | Path, key: str = ""):
        self.what, self.path, self.key = what, str(path), key

    def at(self, key: str | int) -> Where:
        sub = f"[{key}]" if isinstance(key, int) else (f".{key}" if self.key else str(key))
        return Where(self.what, self.path, self.key + sub)

    def fail(self, reason: str) -> ValueError:
        return ValueError(f"{self.what} {self.path}: {self.key + ': ' if self.key else ''}{reason}")


# ---------------------------------------------------------------------- typed values (types before sizes)
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(value: Any, where: Where, lo: int | None = None, optional: bool = False) -> None:
    """An int (not a bool, a float or a string) ``>= lo``; ``None`` too when ``optional``."""
    if value is None and optional:
        return
    if not _is_int(value):
        raise where.fail(f"must be an int{' or null' if optional else ''}, got {value!r} ({type(value).__name__})")
    if lo is not None and value < lo:
        raise where.fail(f"must be >= {lo}, got {value}")


def text(value: Any, where: Where, choices: tuple[str, ...] | None = None, optional: bool = False) -> None:
    """A string (one of ``choices`` when given); ``None`` too when ``optional``."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise where.fail(f"must be a string, got {value!r} ({type(value).__name__})")
    if choices is not None and value not in choices:
        raise where.fail(f"unknown value {value!r}; choose one of {list(choices)}")


def int_list(value: Any, where: Where, lo: int = 0, optional: bool = False, non_empty: bool = True) -> None:
    """A list of ints ``>= lo`` (a string such as ``'01'`` is not a list of seeds)."""
    if value is None and optional:
        return
    if not isinstance(value, (list, tuple)):
        raise where.fail(f"must be a list of ints, got {value!r} ({type(value).__name__})")
    if non_empty and not value:
        raise where.fail("must not be empty")
    for k, item in enumerate(value):
        integer(item, where.at(k), lo)
    if len(set(value)) != len(value):
        raise where.fail(f"has repeated values {sorted(v for v in set(value) if list(value).count(v) > 1)}")


def mapping(value: Any, where: Where) -> Mapping[str, Any]:
    """A mapping with string keys."""
    if not isinstance(value, Mapping):
        raise where.fail(f"must be a mapping, got {value!r} ({type(value).__name__})")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise where.fail(f"keys must be strings, got {bad!r}")
    return value


def known_keys(data: Mapping[str, Any], allowed: Any, where: Where) -> None:
    """``ValueError`` naming the keys of ``data`` not in ``allowed``."""
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise where.fail(f"unknown key(s) {unknown}; known: {sorted(allowed)}")


def flag(value: Any, where: Where) -> None:
    if not isinstance(value, bool):
        raise where.fail(f"must be true or false, got {value!r} ({type(value).__name__})")


# ---------------------------------------------------------------------- hyperparameters
def check_hparams(algo: str, hparams: Mapping[str, Any], where: Where) -> None:
    """``ValueError`` naming ``where`` when ``hparams`` has a name (or a type) the learner ``algo`` does not take.

    Asks the registry the way ``agents.harness.train`` does (its per-algo ``hparams`` builder refuses unknown
    names), so the accepted names are the learner's own, whatever they are."""
    text(algo, where, ALGO_NAMES)
    hp = dict(mapping(hparams, where))
    if SHIELD_PREFERENCES in hp:
        flag(hp.pop(SHIELD_PREFERENCES), where.at(SHIELD_PREFERENCES))
    from agents.harness.registry import LEARNERS

    try:
        LEARNERS[algo].hparams(hp)
    except (TypeError, ValueError) as err:
        raise where.fail(f"for {algo}: {' '.join(str(err).split())}") from None


def check_tuned(data: Any, path: str | Path, method: str | None = None) -> dict[str, Any]:
    """A tuned YAML's data checked whole (``study.experiments.tuning.load_tuned``): keys, types, the algo and its
    hyperparameters; returns it. ``method``: the method the file is for (its ``method`` key must agree)."""
    where = Where("tuned file", path)
    data = dict(mapping(data, where))
    known_keys(data, TUNED_KEYS, where)
    for key in ("algo", "hparams"):
        if key not in data:
            raise where.fail(f"a tuned file needs 'algo' (a string) and 'hparams' (a mapping); {key!r} is missing")
    text(data["algo"], where.at("algo"), ALGO_NAMES)
    text(data.get("method"), where.at("method"), optional=True)
    if method is not None and data.get("method") not in (None, method):
        raise where.fail(f"method: the file is for {data['method']!r}, not {method!r}")
    text(data.get("scenario"), where.at("scenario"), optional=True)
    text(data.get("shield"), where.at("shield"), SHIELDS, optional=True)
    if data.get("overrides") is not None:
        overrides = mapping(data["overrides"], where.at("overrides"))
        _config(dict(overrides), where.at("overrides"))
    check_hparams(data["algo"], data["hparams"], where.at("hparams"))
    return data


# ---------------------------------------------------------------------- profiles
def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def check_profile_file(data: Any, path: str | Path, profile_fields: Any, experiment_fields: Any,
                       method_names: tuple[str, ...]) -> None:
    """The raw data of a profile file: a mapping of ``Profile`` fields (``profile_fields``), each of the right type
    and range, and its experiments mappings of ``Experiment`` fields naming known methods (``ValueError`` naming the
    file and key otherwise). The field names come from the caller (``study.experiments.profiles``)."""
    where = Where("profile", path)
    data = mapping(data, where)
    known_keys(data, profile_fields, where)
    for key in ("rounds", "eval_episodes", "curve_episodes"):
        if key in data:
            integer(data[key], where.at(key), 1)
    if "eval_every" in data:
        integer(data["eval_every"], where.at("eval_every"), 1, optional=True)
    if "seeds" in data:
        int_list(data["seeds"], where.at("seeds"))
    if "curve_seeds" in data:
        int_list(data["curve_seeds"], where.at("curve_seeds"))
    for key in ("marl_algo", "crl_algo"):
        if key in data:
            text(data[key], where.at(key), ALGO_NAMES)
    for key in ("name", "jobs_experiment"):
        if key in data:
            text(data[key], where.at(key))
    if "paired" in data:
        flag(data["paired"], where.at("paired"))
    if data.get("report") is not None:
        text(data["report"], where.at("report"))  # its value: ``Profile`` checks it against ``profiles.REPORTS``
    for key in ("hparams", "learner_hparams"):
        for algo, hp in mapping(data.get(key, {}), where.at(key)).items():
            text(algo, where.at(key).at(algo), ALGO_NAMES)
            mapping(hp, where.at(key).at(algo))
    experiments = data.get("experiments")
    if not isinstance(experiments, list) or not experiments:
        raise where.at("experiments").fail(f"must be a non-empty list of experiments, got {experiments!r}")
    names: set[str] = set()
    for i, exp in enumerate(experiments):
        _check_experiment_data(exp, where.at("experiments").at(i), experiment_fields, method_names)
        if exp["name"] in names:
            raise where.at("experiments").at(i).fail(f"experiment name {exp['name']!r} is used twice")
        names.add(exp["name"])


def _check_experiment_data(exp: Any, where: Where, fields: Any, method_names: tuple[str, ...]) -> None:
    exp = mapping(exp, where)
    known_keys(exp, fields, where)
    for key in ("name", "base"):
        if key not in exp:
            raise where.fail(f"an experiment needs {key!r}")
    text(exp["name"], where.at("name"))
    base = mapping(exp["base"], where.at("base"))
    text(base.get("scenario", "small"), where.at("base").at("scenario"))
    text(exp.get("kind", "methods"), where.at("kind"), EXPERIMENT_KINDS)
    config_fields = tuple(_fields(ClusterConfig))
    text(exp.get("sweep"), where.at("sweep"), config_fields, optional=True)
    values = exp.get("values", [])
    if not isinstance(values, list):
        raise where.at("values").fail(f"must be a list, got {values!r} ({type(values).__name__})")
    if exp.get("sweep") is not None and not values:
        raise where.at("values").fail(f"a sweep over {exp['sweep']!r} needs values")
    if exp.get("sweep") is None and values:
        raise where.at("values").fail("values given without a sweep field to set them to")
    methods = exp.get("methods", [])
    if not isinstance(methods, list):
        raise where.at("methods").fail(f"must be a list of method names, got {methods!r}")
    for k, m in enumerate(methods):
        text(m, where.at("methods").at(k), method_names)
    if "regions" in exp:
        int_list(exp["regions"], where.at("regions"), lo=1)
    integer(exp.get("episodes"), where.at("episodes"), 1, optional=True)
    int_list(exp.get("seeds"), where.at("seeds"), optional=True)
    for key in ("grid", "eval_grid"):
        points = exp.get(key, [])
        if not isinstance(points, list):
            raise where.at(key).fail(f"must be a list of mappings of config fields, got {points!r}")
        for k, point in enumerate(points):
            known_keys(mapping(point, where.at(key).at(k)), config_fields, where.at(key).at(k))
    assumptions = mapping(exp.get("assumptions", {}), where.at("assumptions"))
    for name, vals in assumptions.items():
        text(name, where.at("assumptions").at(name), config_fields)
        if not isinstance(vals, list) or not vals:
            raise where.at("assumptions").at(name).fail(f"must be a non-empty list of values, got {vals!r}")


def _config(cfg: dict[str, Any], where: Where) -> ClusterConfig:
    """``make_config`` of one cell's config, its error naming ``where``."""
    cfg = {k: v for k, v in cfg.items() if v is not None or k == "scenario"}
    try:
        return make_config(**cfg)
    except (TypeError, ValueError, FileNotFoundError) as err:
        raise where.fail(" ".join(str(err).split())) from None


def experiment_configs(exp: Any) -> list[tuple[str, dict[str, Any]]]:
    """(key path, config) of every cluster config an experiment's cells build (training and evaluation)."""
    base = dict(exp.base)
    out = [("base", base)]
    if exp.sweep is not None:
        out += [(f"values[{k}]", {**base, exp.sweep: v}) for k, v in enumerate(exp.values)]
    for name, values in exp.assumptions:
        out += [(f"assumptions.{name}[{k}]", {**base, name: v}) for k, v in enumerate(values)]
    for k, g in enumerate(exp.grid):
        out.append((f"grid[{k}]", {**base, **g}))
        out += [(f"grid[{k}] + eval_grid[{j}]", {**base, **g, **e}) for j, e in enumerate(exp.eval_grid)]
    return out


def check_profile(profile: Any, path: str | Path) -> None:
    """What the cells of ``profile`` will build, built once: every cluster config of every experiment (training and
    evaluation points) and the profile's hyperparameters for each algo, checked against that learner. (A tuned YAML
    a learned method uses is checked whole when ``build_cells`` resolves it, before any cell runs.)"""
    where = Where("profile", path)
    for i, exp in enumerate(profile.experiments):
        at = where.at("experiments").at(i)
        for key, cfg in experiment_configs(exp):
            _config(cfg, at.at(key))
    for key in ("hparams", "learner_hparams"):
        for algo, hp in getattr(profile, key).items():
            check_hparams(algo, hp, where.at(key).at(algo))
