"""Equal hyperparameter tuning for every learned method (Optuna TPE), and the tuned values as package data.

``tune(method, scenario, trials, rounds)`` gives each learned method of the comparison the same search:
the same number of trials, each a training run of ``rounds`` simulated decision rounds, over a search
space with the same number of dimensions (4), scored on tuning seeds disjoint from the evaluation seeds.
The best trial is written to ``study/experiments/tuned/<scenario>/<method>.yaml`` (committed, shipped with the
package) and read back by ``load_tuned(method, scenario)``.

**Methods.** (``METHODS``) ``MARL``, ``SROLE-central``, ``SROLE-decentralized`` and
``SROLE-central-noprefs`` choose their learner by the same procedure: the learner is a categorical
dimension {idqn, ippo, maskable_ppo} of the search, next to the learning rate, the discount and one
learner-specific knob (IDQN's n-step return length, the entropy bonus of IPPO and MaskablePPO).
``CRL`` chooses its learner at the cluster head the same way, from {crl_idqn, crl_maskable_ppo, crl_dqn}
(``CRL_LEARNERS``), with IDQN's n-step length, MaskablePPO's entropy bonus or SB3 DQN's exploration
fraction as the learner's knob: also 4 dimensions. CRL's ``crl_idqn`` trials all start warm (``CRL_WARM_START``:
the head's learner imitates the greedy head first, ``agents.learners.crl_idqn``), a fixed part of that learner
(``MethodSpace.fixed``, recorded in the journal's header and the YAML), not a fifth dimension.
``SROLE-central-noprefs`` trains and is scored with ``shield_preferences: false`` (the learner's preferences
withheld from the shield).

**Seeds.** Every trial of a study trains ``train_seeds`` runs (default 3), with seeds ``seed_base``,
``seed_base + 1000``, ... (common random numbers: trials differ only in their hyperparameters), and is
scored by the mean over those runs of the mean ``mean_jct_all`` over the evaluation episodes
``seed_base + 1 ... seed_base + episodes`` (fewer than 1000, so they never meet a training seed). ``seed_base`` must be
at least ``TUNE_SEED_BASE`` (50,000),
above every seed ``srole reproduce`` evaluates on (``10_000 + 100 * seed + e``).

**Search.** ``optuna.samplers.TPESampler(seed=seed_base, n_startup_trials=max(1, min(10, trials // 3)),
constant_liar=True)``; trials are asked in batches of ``workers``, run as cells
(``study.experiments.cells.run_cells``), then told, so ``workers`` changes which trials are sampled (the YAML
records it). A trial that fails or scores NaN is told as failed.

**Resuming.** Each finished batch is appended, one JSON line per trial (its Optuna parameters, state, value and
history row), to a journal (``journal``, default ``<root>/<scenario>/<method>.journal.jsonl`` beside the YAML)
whose first line records the study's settings. A study started again with the same settings (method, scenario,
overrides, rounds, seeds, episodes, sampler seed, search space) resumes: a fresh sampler with the same seed is asked
the recorded batches again and told their recorded results, which reproduces the sampler's state exactly (the
asked parameters are checked against the recorded ones), and the study goes on from there: a killed run loses only
the batch it was running, and samples the trials an uninterrupted run would have. Where the replay asks other
parameters (another Optuna version, or another ``trials`` and so another number of start-up trials), the recorded
trials are added to the study as they are (``Study.add_trial``) and the later trials differ from an uninterrupted
run's; the YAML says which happened (``resume``). Other settings are refused (``ValueError`` naming them).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from srole_common.persist import atomic_write
from srole_env.config import load_data_file

TUNED_DIR = Path(__file__).resolve().parent / "tuned"
"""Where the committed tuned hyperparameters live: ``tuned/<scenario>/<method>.yaml``."""
TUNE_SEED_BASE = 50_000
"""Lowest seed tuning may use (training and evaluation), above the seeds ``srole reproduce`` evaluates on."""
OBJECTIVE = "mean_jct_all"
TRAIN_SEED_STRIDE = 1_000
"""Training seeds of a study are ``seed_base + TRAIN_SEED_STRIDE * k`` (evaluation seeds lie in between)."""
LEARNERS = ("idqn", "ippo", "maskable_ppo")
"""The learners MARL and SROLE choose from, by the same search."""
CRL_LEARNERS = ("crl_idqn", "crl_maskable_ppo", "crl_dqn")
"""The learners the cluster head (CRL) chooses from, by the same search."""


@dataclass(frozen=True)
class MethodSpace:
    """A learned method as the tuner sees it: the algos it may use, its shield, whether it shares preferences."""

    name: str
    algos: tuple[str, ...]
    shield: str = "none"
    shield_preferences: bool = True
    fixed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per algo, hyperparameters every trial of that algo uses as they are (not searched)."""


CRL_WARM_START = {"demo_fraction": 0.25, "pretrain_steps": 1000}
"""CRL's ``crl_idqn`` starts warm: the first quarter of the budget demonstrated by the greedy head, then DQfD's 1,000
pretraining steps (margin 0.8 and weight 1 as the learner's defaults, DQfD's values); ``docs/fair_map.md``."""


METHODS: dict[str, MethodSpace] = {
    m.name: m
    for m in (
        MethodSpace("CRL", CRL_LEARNERS, fixed={"crl_idqn": CRL_WARM_START}),
        MethodSpace("MARL", LEARNERS),
        MethodSpace("SROLE-central", LEARNERS, "central"),
        MethodSpace("SROLE-decentralized", LEARNERS, "decentralized"),
        MethodSpace("SROLE-central-noprefs", LEARNERS, "central", shield_preferences=False),
    )
}
"""Every learned method of the comparison (``study.experiments.profiles`` names), with the same tuning budget."""

SHARED_KNOBS: dict[str, dict[str, Any]] = {
    "lr": {"type": "log_float", "low": 1e-4, "high": 3e-3},
    "gamma": {"type": "float", "low": 0.5, "high": 0.99},
}
"""Knobs every algo is tuned over (learning rate and discount)."""
SPECIFIC_KNOBS: dict[str, dict[str, dict[str, Any]]] = {
    "idqn": {"n_step": {"type": "int", "low": 1, "high": 8}},
    "ippo": {"ent_coef": {"type": "log_float", "low": 1e-4, "high": 0.05}},
    "maskable_ppo": {"ent_coef": {"type": "log_float", "low": 1e-4, "high": 0.05}},
    "crl_idqn": {"n_step": {"type": "int", "low": 1, "high": 8}},
    "crl_maskable_ppo": {"ent_coef": {"type": "log_float", "low": 1e-4, "high": 0.05}},
    "crl_dqn": {"exploration_fraction": {"type": "float", "low": 0.05, "high": 0.5}},
}
"""Each algo's own knob (one each, so every method's search has 4 dimensions: learner, lr, gamma, knob)."""
HPARAM_NAMES: dict[str, dict[str, str]] = {
    "maskable_ppo": {"lr": "learning_rate"},
    "crl_maskable_ppo": {"lr": "learning_rate"},
    "crl_dqn": {"lr": "learning_rate"},
}
"""Knob name -> the algo's own hyperparameter name, where they differ (SB3 calls it ``learning_rate``)."""


def search_space(method: str) -> dict[str, Any]:
    """The search space of ``method`` (written to the YAML): the algo choice and each knob's distribution."""
    space = _method(method)
    out: dict[str, Any] = {"algo": {"type": "categorical", "choices": list(space.algos)}} if len(space.algos) > 1 \
        else {}
    out.update({k: dict(v) for k, v in SHARED_KNOBS.items()})
    for algo in space.algos:
        for knob, dist in SPECIFIC_KNOBS[algo].items():
            out[f"{algo}.{knob}"] = dict(dist)
    return out


def search_dimensions(method: str) -> int:
    """Dimensions one trial of ``method`` samples (the algo choice counts as one): the size compared across methods."""
    space = _method(method)
    specific = {len(SPECIFIC_KNOBS[a]) for a in space.algos}
    return (len(space.algos) > 1) + len(SHARED_KNOBS) + max(specific)


def tuning_seeds(seed_base: int, episodes: int, train_seeds: int = 3) -> tuple[list[int], list[int]]:
    """(training seeds, evaluation episode seeds) of a study: ``seed_base + TRAIN_SEED_STRIDE * k`` for
    ``k < train_seeds``, and ``seed_base + 1 ... + episodes``."""
    if isinstance(seed_base, bool) or not isinstance(seed_base, int) or seed_base < TUNE_SEED_BASE:
        raise ValueError(f"seed_base must be an int >= {TUNE_SEED_BASE} (tuning seeds stay disjoint from the "
                         f"evaluation seeds 10_000 + 100 * seed + e of srole reproduce), got {seed_base!r}")
    if episodes >= TRAIN_SEED_STRIDE:
        raise ValueError(f"episodes must be below {TRAIN_SEED_STRIDE} (evaluation seeds stay below the next "
                         f"training seed), got {episodes!r}")
    if isinstance(train_seeds, bool) or not isinstance(train_seeds, int) or train_seeds < 1:
        raise ValueError(f"train_seeds must be a positive int, got {train_seeds!r}")
    return ([seed_base + TRAIN_SEED_STRIDE * k for k in range(train_seeds)],
            [seed_base + 1 + e for e in range(episodes)])


# ---------------------------------------------------------------------- one trial (a cell)
@dataclass(frozen=True)
class TrialCell:
    """One tuning trial: train ``algo`` with ``hparams`` and score it (picklable, for ``run_cells``)."""

    method: str
    number: int
    algo: str
    shield: str
    hparams: dict[str, Any]
    config: dict[str, Any]
    rounds: int
    train_seeds: tuple[int, ...]
    eval_seed: int
    episodes: int
    work_dir: str
    device: str = "cpu"
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def run_trial(cell: TrialCell) -> dict[str, float]:
    """Train and evaluate one trial on each training seed; returns the means over seeds of ``mean_jct_all`` and
    the other evaluation means, and ``mean_jct_all`` per seed (``per_seed``) (top-level, picklable)."""
    import torch

    from agents.harness.evaluate import evaluate
    from agents.harness.train import train

    torch.set_num_threads(cell.threads)
    keys = (OBJECTIVE, "mean_jct", "collisions", "overloads", "jobs_completed")
    start = time.perf_counter()
    results = []
    for seed in cell.train_seeds:
        run_dir = Path(cell.work_dir) / cell.method / f"trial_{cell.number:04d}_seed_{seed}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        try:
            train(cell.algo, cell.shield, cell.config, cell.rounds, seed, run_dir, cell.device,
                  hparams=cell.hparams, progress=False)
            result = evaluate(run_dir, cell.shield, cell.config, cell.episodes, cell.eval_seed, cell.device)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        results.append([float(result.get(k, math.nan)) for k in keys])
    means = np.mean(results, axis=0)
    return {**{k: float(v) for k, v in zip(keys, means)}, "per_seed": [r[0] for r in results],
            "wall_s": time.perf_counter() - start}


# ---------------------------------------------------------------------- the study
def _suggest(trial: Any, method: str) -> tuple[str, dict[str, Any]]:
    """(algo, hparams) of an Optuna trial, sampled define-by-run from ``search_space(method)``."""
    space = _method(method)
    algo = trial.suggest_categorical("algo", list(space.algos)) if len(space.algos) > 1 else space.algos[0]
    values = {knob: _sample(trial, knob, dist) for knob, dist in SHARED_KNOBS.items()}
    values.update({knob: _sample(trial, f"{algo}.{knob}", dist) for knob, dist in SPECIFIC_KNOBS[algo].items()})
    names = HPARAM_NAMES.get(algo, {})
    hparams = {names.get(k, k): v for k, v in values.items()}
    hparams.update(space.fixed.get(algo, {}))
    if not space.shield_preferences:
        hparams["shield_preferences"] = False
    return algo, hparams


def _sample(trial: Any, name: str, dist: dict[str, Any]) -> Any:
    kind = dist["type"]
    if kind == "log_float":
        return trial.suggest_float(name, dist["low"], dist["high"], log=True)
    if kind == "float":
        return trial.suggest_float(name, dist["low"], dist["high"])
    if kind == "int":
        return trial.suggest_int(name, dist["low"], dist["high"])
    return trial.suggest_categorical(name, dist["choices"])


def tune(
    method: str,
    scenario: str = "small",
    trials: int = 20,
    rounds: int = 2_000,
    *,
    overrides: dict[str, Any] | None = None,
    seed_base: int = TUNE_SEED_BASE,
    episodes: int = 3,
    train_seeds: int = 3,
    workers: int | None = 1,
    address: str | None = None,
    out_root: str | Path | None = None,
    work_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    journal: str | Path | None = None,
) -> Path:
    """Run (or resume) the study for ``method`` on ``scenario`` (with config ``overrides``) and write its YAML;
    returns the path.

    ``out_root`` defaults to the package's ``tuned/`` directory; ``work_dir`` (trial run directories, each
    removed after scoring) to a temporary directory; ``journal`` (the finished trials, for resuming) to
    ``<out_root>/<scenario>/<method>.journal.jsonl``.
    """
    import optuna
    from optuna.trial import TrialState

    from agents.harness.registry import LEARNERS as REGISTRY
    from srole_env import make_config
    from study.experiments.cells import CellFailure, run_cells

    space = _method(method)
    missing = [a for a in space.algos if a not in REGISTRY]
    if missing:
        raise ValueError(f"method {method}: algo(s) {missing} are not available in agents.harness.registry")
    for name, value in (("trials", trials), ("rounds", rounds), ("episodes", episodes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive int or None (all cores), got {workers!r}")
    seeds, eval_seeds = tuning_seeds(seed_base, episodes, train_seeds)
    overrides = dict(overrides or {})
    config = {"scenario": scenario, **overrides}
    make_config(scenario, **overrides)  # validates the cluster before any trial runs
    batch = workers if workers is not None else _cores()
    startup = max(1, min(10, trials // 3))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal_path = Path(journal) if journal is not None else \
        tuned_path(method, scenario, out_root).with_suffix(".journal.jsonl")
    header = {"kind": "header", "format": JOURNAL_FORMAT, "method": method, "scenario": scenario_key(scenario),
              "overrides": _plain(overrides), "rounds": rounds, "seed_base": seed_base, "train_seeds": seeds,
              "eval_seeds": eval_seeds, "episodes": episodes, "search_space": search_space(method)}
    if space.fixed:
        header["fixed"] = _plain(space.fixed)
    rows = _read_journal(journal_path, header)
    study, replay = _resume_study(method, seed_base, startup, rows)
    history: list[dict[str, Any]] = [dict(r["row"]) for r in rows]
    batches = 1 + max((int(r["batch"]) for r in rows), default=-1)
    if rows and progress:
        print(f"tune {method}: resumed {len(rows)} finished trial(s) from {journal_path} ({replay} replay)", flush=True)
    _append_journal(journal_path, [] if rows else [header])
    own_work = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="srole_tune_")) if own_work else Path(work_dir)
    started = time.perf_counter()
    try:
        while len(study.trials) < trials:
            asked = [study.ask() for _ in range(min(batch, trials - len(study.trials)))]
            cells = []
            for trial in asked:
                algo, hparams = _suggest(trial, method)
                cells.append(TrialCell(method, trial.number, algo, space.shield, hparams, config, rounds, tuple(seeds),
                                       eval_seeds[0], episodes, str(work), device))
            results = run_cells(run_trial, cells, workers=workers, address=address,
                                desc=f"tune {method} ({len(study.trials)}/{trials})", progress=progress)
            lines = []
            for trial, cell, result in zip(asked, cells, results):
                value = math.nan if isinstance(result, CellFailure) else result[OBJECTIVE]
                if math.isfinite(value):
                    study.tell(trial, value)
                else:
                    study.tell(trial, state=TrialState.FAIL)
                row = {"number": trial.number, "algo": cell.algo, "hparams": cell.hparams,
                       "value": None if not math.isfinite(value) else value}
                if isinstance(result, CellFailure):
                    row["error"] = result.error
                else:
                    row.update({k: v for k, v in result.items() if k != OBJECTIVE})
                history.append(row)
                lines.append({"kind": "trial", "number": trial.number, "batch": batches, "params": trial.params,
                              "value": row["value"], "row": _plain(row)})
            _append_journal(journal_path, lines)
            batches += 1
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not done:
        errors = sorted({h.get("error", "NaN objective") for h in history})
        raise RuntimeError(f"tune {method}: every trial failed: {errors}")
    best = next(h for h in history if h["number"] == study.best_trial.number)
    data = {
        "method": method, "scenario": scenario_key(scenario), "overrides": overrides,
        "algo": best["algo"], "shield": space.shield, "hparams": best["hparams"],
        "trials": trials, "rounds": rounds, "best_value": float(study.best_value), "best_trial": best["number"],
        "objective": f"{OBJECTIVE}: mean over the tuning episodes (lower is better)",
        "seed_base": seed_base, "train_seeds": seeds, "eval_seeds": eval_seeds,
        "sampler": {"name": "TPESampler", "seed": seed_base, "n_startup_trials": startup, "constant_liar": True},
        "workers": batch, "search_space": search_space(method), "search_dimensions": search_dimensions(method),
        **({"fixed": _plain(space.fixed)} if space.fixed else {}),
        "wall_s": round(time.perf_counter() - started, 1), "optuna": optuna.__version__,
        "resume": {"journal": journal_path.name, "resumed_trials": len(rows), "replay": replay},
        "history": history,
    }
    path = tuned_path(method, scenario, out_root)
    atomic_write(path, yaml.safe_dump(_plain(data), sort_keys=False))
    return path


# ---------------------------------------------------------------------- the journal (resuming)
JOURNAL_FORMAT = 1
"""Version of the journal's lines (the header's ``format``)."""


def _read_journal(path: Path, header: dict[str, Any]) -> list[dict[str, Any]]:
    """The finished-trial lines of the journal at ``path`` (none if it does not exist), after checking that its
    header matches this study's ``header``. A last line cut short (a kill while writing) is dropped from the file."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # the one write a kill can cut short; its batch is run again
                atomic_write(path, "".join(line + "\n" for line in lines[:i]))
                break
            raise ValueError(f"tuning journal {path}: line {i + 1} is not JSON") from None
    if not records or not isinstance(records[0], dict) or records[0].get("kind") != "header":
        raise ValueError(f"tuning journal {path}: the first line must be the study's header")
    differ = sorted(k for k in set(header) | set(records[0]) if records[0].get(k) != _plain(header.get(k)))
    if differ:
        raise ValueError(f"tuning journal {path} is for another study (its {', '.join(differ)} differ from this "
                         f"one's); resume with the same settings, or move the file away (or pass another journal) "
                         f"to start afresh")
    rows = []
    for i, rec in enumerate(records[1:], start=1):
        ok = (isinstance(rec, dict) and rec.get("kind") == "trial" and rec.get("number") == len(rows)
              and isinstance(rec.get("batch"), int) and isinstance(rec.get("params"), dict)
              and isinstance(rec.get("row"), dict)
              and (rec.get("value") is None or isinstance(rec.get("value"), (int, float))))
        if not ok:
            raise ValueError(f"tuning journal {path}: record {i} is not the finished trial number {len(rows)} "
                             f"(kind, number, batch, params, value, row)")
        rows.append(rec)
    return rows


def _append_journal(path: Path, lines: list[dict[str, Any]]) -> None:
    """Append ``lines`` (JSON, one per line) to the journal and flush them to disk."""
    if not lines:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(line) + "\n" for line in lines))
        f.flush()
        os.fsync(f.fileno())


def _resume_study(method: str, seed_base: int, startup: int, rows: list[dict[str, Any]]) -> tuple[Any, str]:
    """A study holding the journal's finished trials, and how they were put back: ``"exact"`` (a fresh sampler
    asked the recorded batches again and sampled the recorded parameters: its state is the uninterrupted run's),
    ``"history"`` (it sampled others: the trials were added as recorded) or ``"none"`` (nothing to resume)."""
    import optuna
    from optuna.trial import TrialState

    def fresh() -> Any:
        sampler = optuna.samplers.TPESampler(seed=seed_base, n_startup_trials=startup, constant_liar=True)
        return optuna.create_study(direction="minimize", sampler=sampler, study_name=f"{method}/resumed")

    study = fresh()
    if not rows:
        return study, "none"
    batches: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        batches.setdefault(int(row["batch"]), []).append(row)
    exact = True
    for batch in batches.values():
        asked = [study.ask() for _ in batch]
        for trial in asked:
            _suggest(trial, method)
        if any(t.params != r["params"] for t, r in zip(asked, batch)):
            exact = False
            break
        for trial, row in zip(asked, batch):
            if row["value"] is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, float(row["value"]))
    if exact:
        return study, "exact"
    study = fresh()
    for row in rows:
        params = row["params"]
        dists = {name: _distribution(method, name) for name in params}
        state = TrialState.FAIL if row["value"] is None else TrialState.COMPLETE
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, state=state,
                                                  value=None if row["value"] is None else float(row["value"])))
    return study, "history"


def _distribution(method: str, name: str) -> Any:
    """The Optuna distribution of parameter ``name`` in ``method``'s search space (ValueError if it has none)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dist = search_space(method).get(name)
    if dist is None:
        raise ValueError(f"tuning journal: parameter {name!r} is not in {method}'s search space")
    if dist["type"] == "categorical":
        return CategoricalDistribution(dist["choices"])
    if dist["type"] == "int":
        return IntDistribution(dist["low"], dist["high"])
    return FloatDistribution(dist["low"], dist["high"], log=dist["type"] == "log_float")


# ---------------------------------------------------------------------- reading the results
def scenario_key(scenario: str) -> str:
    """Directory name of a scenario under ``tuned/``: its name, or a config file's stem."""
    return Path(scenario).stem if Path(scenario).suffix.lower() in (".yaml", ".yml", ".json") else str(scenario)


def tuned_path(method: str, scenario: str, root: str | Path | None = None) -> Path:
    """``<root>/<scenario>/<method>.yaml`` (``root`` defaults to the package's ``tuned/``)."""
    _method(method)
    return Path(root or TUNED_DIR) / scenario_key(scenario) / f"{method}.yaml"


def load_tuned(method: str, scenario: str, root: str | Path | None = None) -> dict[str, Any] | None:
    """The tuned settings of ``method`` on ``scenario`` (``algo``, ``hparams``, ...), or None if not tuned yet.

    ``hparams`` go to ``agents.harness.train.train(algo, ..., hparams=...)`` as they are (for
    ``SROLE-central-noprefs`` they include ``shield_preferences: false``).
    """
    path = tuned_path(method, scenario, root)
    if not path.is_file():
        return None
    data = load_data_file(path)
    from study.experiments.validate import check_tuned  # checked whole at the door: keys, types, hyperparameters

    return check_tuned(data, path, method)


def _method(method: str) -> MethodSpace:
    if method not in METHODS:
        raise ValueError(f"method: unknown learned method {method!r}; choose one of {list(METHODS)}")
    return METHODS[method]


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _plain(value: Any) -> Any:
    """YAML-safe plain types (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value
