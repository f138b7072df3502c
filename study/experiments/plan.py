"""A profile's plan: the *cells* it runs, how one cell trains and evaluates its method, and their cache.

``build_cells(profile, out)`` lists the cells; ``study.reproduce.reproduce`` runs them with
``study.experiments.cells.run_cells`` (sequentially, over local processes or on a Ray cluster) and hands the rows
to the analysis (``study.analysis``) for the tables, figures and ``summary.md``.

A cell is one training unit: a method, a training config and a training seed, with every evaluation
that uses that trained model (its point of the methods experiment, of each sweep that shares the
config, and every value of the sensitivity experiment). So a model is trained once, all its evaluations
run in the same process, and ``drop_models=True`` can delete it right after. Non-learned methods are
cells too (no training). A shield-overhead measurement is a cell of its own.

Cache (``out_dir/cache``): ``evals/<key>.json`` per evaluation (the row, with the seconds it took),
``train/<key>.json`` per training (seconds, learning curve) and ``models/<key>/`` (the model, unless
dropped), keyed by everything that determines them. Each entry is stamped with its key and content hash
and checked against its kind's schema when read (``study.experiments.cache_entries``): one that fails is
recomputed (``--cached-only``: left out), naming the file and the field. A rerun of a finished cell costs nothing
and keeps the original compute time; an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import CorruptFile, atomic_write, read_json, write_json
from srole_env import make_config
from srole_env.config import key_fields
from study.experiments.cache_entries import STAMP, check_row, check_stamp, check_train, stamped
from study.experiments.episodes import run_episodes
from study.experiments.profiles import Experiment, Profile
from study.experiments.roster import Method

EVAL_SEED_OFFSET = 10_000
"""Evaluation episodes use seeds ``EVAL_SEED_OFFSET + 100 * seed + e``, disjoint from training seeds."""


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EvalSpec:
    """One evaluation of a cell's model: the experiment and sweep point it reports, and its cluster."""

    experiment: str
    point: dict[str, Any]
    config: dict[str, Any]
    keep_jobs: bool = False
    shield: str | None = None
    """Evaluate behind this shield instead of the method's own (``Method.eval_shields``)."""
    episodes: int | None = None
    """Evaluation episodes of this evaluation (None: the cell's ``eval_episodes``)."""
    seed: int | None = None
    """The first evaluation episode's seed (``Experiment.eval_seed``; None: ``EVAL_SEED_OFFSET + 100 * seed``)."""


@dataclass(frozen=True)
class Cell:
    """One unit of work (picklable: plain data only); ``run_cell`` does it."""

    kind: str  # "method" or "overhead"
    method: dict[str, Any]
    seed: int
    train_config: dict[str, Any]
    evals: tuple[EvalSpec, ...]
    cache: str
    device: str = "cpu"
    algo: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    hparams_source: str = ""
    rounds: int = 0
    eval_episodes: int = 1
    eval_every: int | None = None
    curve_seeds: tuple[int, ...] = ()
    curve_episodes: int = 1
    drop_models: bool = False
    cached_only: bool = False
    """Report what the cache holds and compute nothing (``srole reproduce --cached-only``)."""
    overhead: dict[str, Any] = field(default_factory=dict)  # kind "overhead": shield, regions

    def label(self) -> str:
        return f"{self.method.get('name', self.overhead)} seed {self.seed} {self.train_config}"


# ---------------------------------------------------------------------- adapters to other branches
def _load_tuned(method: str, scenario: str, root: str | None = None) -> dict[str, Any] | None:
    """Tuned ``{algo, hparams}`` for a method and scenario (under ``root``, default the package's set), or None."""
    from study.experiments.tuning import load_tuned

    return load_tuned(method, scenario, root)


def _train(cell: Cell, run_dir: Path) -> None:
    """``agents.harness.train.train`` for ``cell.rounds`` decision rounds, evaluating every ``eval_every`` rounds."""
    from agents.harness.train import train

    train(cell.algo, cell.method["shield"], cell.train_config, rounds=cell.rounds, seed=cell.seed,
          out_dir=run_dir, device=cell.device, hparams=cell.hparams or None, progress=False,
          eval_every=cell.eval_every, eval_seeds=cell.curve_seeds, eval_episodes=cell.curve_episodes)


# ---------------------------------------------------------------------- one cell
def run_cell(cell: Cell) -> dict[str, Any]:
    """Train (if learned and not cached) and evaluate one cell; returns its rows, curve and failures.

    Result: ``rows`` (one per evaluation, with ``wall_s``), ``failures`` (evaluations that raised: the
    others still count), ``curves`` (the learning curve rows), ``train_wall_s`` (seconds the training
    took when it ran, also when it ran in an earlier invocation), ``ran_s`` (seconds spent now).
    """
    start = time.perf_counter()
    if cell.kind == "overhead":
        notes: list[str] = []
        row, computed = _overhead_row(cell, notes)
        return {"rows": [row] if row else [], "failures": [], "curves": [], "train_wall_s": 0.0,
                "ran_s": time.perf_counter() - start, "recomputed": notes, "computed": computed}
    cache = Path(cell.cache)
    method = cell.method
    train_key = _key("train", cell.algo, method["shield"], cell.hparams, key_fields(make_config(**cell.train_config)),
                     cell.seed, cell.rounds, cell.eval_every, cell.curve_seeds, cell.curve_episodes)
    rows, failures, pending, duplicates, seen = [], [], [], [], set()
    expected: dict[Path, str] = {}
    recomputed: list[str] = []
    for spec in cell.evals:
        try:
            cfg = make_config(**spec.config).to_dict()
        except (TypeError, ValueError) as exc:
            failures.append(_failure(cell, spec, exc))
            continue
        key = _key("eval", method["kind"], method.get("policy"), spec.shield or method["shield"],
                   train_key if cell.algo else None, key_fields(cfg), cell.seed, spec.episodes or cell.eval_episodes,
                   spec.keep_jobs, *_own_key(cell, spec))
        path = cache / "evals" / f"{key}.json"
        expect = _eval_name(method, spec)
        if path in seen:  # the same evaluation reached from another point: run and count it once
            duplicates.append((spec, path))
        elif (cached := _read_cache(path, _eval_check(expect, cell.seed), recomputed)) is not None:
            rows.append({**cached, "experiment": spec.experiment, **spec.point})
        else:
            pending.append((spec, cfg, path))
        seen.add(path)
        expected[path] = expect
    record: dict[str, Any] = {}
    record_path = cache / "train" / f"{train_key}.json"
    stale = False
    if cell.algo and record_path.exists():
        record = _read_cache(record_path, _train_check, recomputed) or {}
        stale = not record
    model_dir = cache / "models" / train_key
    if cell.cached_only:  # the report of a run cut short: what finished, nothing new
        pending, stale = [], False
    if (pending or stale) and cell.algo:
        with _training_lock(model_dir):  # two methods may share one training (the ablation's and MARL's)
            if stale or not (model_dir / "DONE").exists():
                if model_dir.exists():  # an interrupted or dropped run: start it again
                    shutil.rmtree(model_dir)
                t0 = time.perf_counter()
                _train(cell, model_dir)
                record = {"wall_s": time.perf_counter() - t0, "curves": _read_curves(model_dir / "curves.csv"),
                          **_training_effort(model_dir)}
                write_json(record_path, stamped(record, record_path), indent=None)
                atomic_write(model_dir / "DONE", "")
            elif record_path.exists():
                record = _read_cache(record_path, _train_check, recomputed) or {}
    for spec, cfg, path in pending:
        t0 = time.perf_counter()
        try:
            metrics = _evaluate(cell, model_dir, cfg, spec.shield or method["shield"], spec.episodes, spec.seed)
        except Exception as exc:  # noqa: BLE001 - one failed evaluation is reported, the rest still count
            failures.append(_failure(cell, spec, exc))
            continue
        jobs = metrics.pop("job_jcts", None)
        row = {"method": _eval_name(method, spec), "seed": cell.seed,
               "algo": cell.algo or method.get("policy") or method["kind"],
               "hparams_source": cell.hparams_source, "train_shield": method["shield"],
               "eval_shield": spec.shield or method["shield"], **_effort(record), **metrics,
               "wall_s": time.perf_counter() - t0}
        if spec.keep_jobs and jobs is not None:
            row["job_jcts"] = [round(float(j), 3) for j in jobs]
        write_json(path, stamped(row, path), indent=None)
        rows.append({**row, "experiment": spec.experiment, **spec.point})
    for spec, path in duplicates:
        if (cached := _read_cache(path, _eval_check(expected[path], cell.seed), recomputed)) is not None:
            rows.append({**cached, "experiment": spec.experiment, **spec.point, "wall_s": 0.0})
    if cell.drop_models and model_dir.exists():
        shutil.rmtree(model_dir)
    return {"rows": rows, "failures": failures, "curves": record.get("curves", []),
            "train_wall_s": float(record.get("wall_s", 0.0)), "ran_s": time.perf_counter() - start,
            "recomputed": recomputed, "computed": bool(pending)}


def _own_key(cell: Cell, spec: EvalSpec) -> tuple[Any, ...]:
    """What else an evaluation's cache key holds when it has it: its own evaluation seed, an optimum's solver
    settings (nothing for the others, so that their keys stay those of earlier versions)."""
    extra: tuple[Any, ...] = () if spec.seed is None else (("eval_seed", spec.seed),)
    if cell.method["kind"] == "optimum":
        extra += (("solver", cell.hparams),)
    return extra


def _eval_name(method: dict[str, Any], spec: EvalSpec) -> str:
    """The ``method`` of an evaluation's row (the method's name, with the evaluation shield when it has its own)."""
    return method["name"] if spec.shield is None else f"{method['name']} [eval {spec.shield}]"


def _eval_check(method: str, seed: int) -> Callable[[dict[str, Any], Path], dict[str, Any]]:
    return lambda entry, path: check_row(entry, path, "eval", method, seed)


def _train_check(entry: dict[str, Any], path: Path) -> dict[str, Any]:
    return check_train(entry, path)


def _read_cache(path: Path, check: Callable[[dict[str, Any], Path], dict[str, Any]],
                recomputed: list[str]) -> dict[str, Any] | None:
    """The cache entry at ``path`` (its stamp and schema checked, ``study.experiments.cache_entries``), or None if
    absent; a corrupt, edited or misplaced one is noted in ``recomputed`` (naming the file and the field) and None
    (a full run recomputes and overwrites it; ``--cached-only`` reports the cell as not in the cache)."""
    if not path.exists():
        return None
    try:
        raw = read_json(path, "cache entry")
        check({k: v for k, v in raw.items() if k != STAMP}, path)  # the field's name first, then the stamp
        entry = check_stamp(raw, path)
    except (CorruptFile, OSError) as err:
        recomputed.append(f"{err}; recomputed")
        return None
    return entry


def _failure(cell: Cell, spec: EvalSpec, exc: Exception) -> dict[str, Any]:
    return {"experiment": spec.experiment, "point": json.dumps(spec.point, default=str),
            "method": cell.method.get("name"), "seed": cell.seed, "error": f"{type(exc).__name__}: {exc}"}


@contextlib.contextmanager
def _training_lock(model_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``model_dir``'s training (``fcntl.flock``) so that two cells sharing one trained
    model, in two processes, train it once: the second waits, then finds it done."""
    locks = model_dir.parent.parent / "locks"  # beside models/, so that models/ holds models only
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{model_dir.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _training_effort(run_dir: Path) -> dict[str, Any]:
    """Rounds, samples (transitions collected) and gradient updates of a finished run, from its ``state.json``."""
    path = run_dir / "checkpoint" / "state.json"
    if not path.is_file():
        return {}
    state = json.loads(path.read_text())
    out = {"train_rounds": state.get("rounds")}
    out.update({k: state[k] for k in ("samples", "gradient_updates") if k in state})
    return {k: v for k, v in out.items() if v is not None}


def _read_curves(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return pd.read_csv(path).to_dict("records")


def _effort(record: dict[str, Any]) -> dict[str, Any]:
    """A trained cell's learning effort for its rows: training rounds, samples and gradient updates."""
    return {k: record[k] for k in ("train_rounds", "samples", "gradient_updates") if k in record}


def _evaluate(cell: Cell, model_dir: Path, cfg: dict[str, Any], shield: str,
              episodes: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """Mean metrics over ``episodes`` (default: the cell's) evaluation episodes behind ``shield``, the first seeded
    ``seed`` (default: ``EVAL_SEED_OFFSET + 100 * cell.seed``), and the per-job JCTs of all of them."""
    method, episodes = cell.method, episodes or cell.eval_episodes
    first = EVAL_SEED_OFFSET + 100 * cell.seed if seed is None else seed
    rows = run_episodes(method["kind"], cfg, episodes, first, shield=shield,
                        policy=model_dir if method["kind"] == "learned" else method.get("policy"), device=cell.device,
                        solver=cell.hparams if method["kind"] == "optimum" else None)
    jobs = [j for r in rows for j in r.get("job_jcts", [])]
    numeric = [{k: v for k, v in r.items() if isinstance(v, (int, float)) and k not in ("episode", "seed")}
               for r in rows]
    from agents.harness.evaluate import summarize

    return {**summarize(numeric), "job_jcts": jobs}


def _overhead_row(cell: Cell, recomputed: list[str] | None = None) -> tuple[dict[str, Any], bool]:
    """Least-loaded play behind a shield (``run_episodes``, reading the shield's report every round): mean simulated
    decision latency and messages per round (cached), and whether it was computed now (False: read from the cache),
    which the report's cell count needs."""
    shield, regions = cell.overhead["shield"], cell.overhead["regions"]
    spec = cell.evals[0]
    cfg = make_config(**spec.config)
    key = _key("overhead", shield, regions, key_fields(cfg), cell.seed, cell.eval_episodes)
    path = Path(cell.cache) / "evals" / f"{key}.json"
    notes = [] if recomputed is None else recomputed
    name = f"{shield} shield" + (f" ({regions} regions)" if shield == "decentralized" else "")
    check = lambda entry, p: check_row(entry, p, "overhead", name, cell.seed)  # noqa: E731
    if (cached := _read_cache(path, check, notes)) is not None:
        return {**cached, "experiment": spec.experiment, **spec.point}, False
    if cell.cached_only:  # --cached-only computes nothing: the cell is reported as not in the cache
        return {}, False
    t0 = time.perf_counter()
    run_cfg = cfg.replace(n_regions=regions) if shield == "decentralized" else cfg  # the shield reads its regions
    latency: list[float] = []
    seen = {"messages": 0, "rounds": 0, "wall": 0.0}

    def record(env: Any) -> None:
        rep = env.last_report
        if rep["decision_latency_s"] > 0:
            latency.append(rep["decision_latency_s"])
        seen["messages"] += rep["messages"]
        seen["wall"] += rep["decision_time_s"]
        seen["rounds"] += 1

    run_episodes("heuristic", run_cfg, cell.eval_episodes, EVAL_SEED_OFFSET + 100 * cell.seed, policy="least_loaded",
                 shield=shield, on_round=record)
    messages, rounds, wall = seen["messages"], seen["rounds"], seen["wall"]
    row = {
        "method": name,
        "shield": shield, "regions": regions if shield == "decentralized" else 1, "seed": cell.seed,
        "decision_latency_s": float(np.mean(latency)) if latency else 0.0,
        "messages_per_round": messages / rounds, "shield_wall_ms_per_round": 1e3 * wall / rounds,
        "wall_s": time.perf_counter() - t0,
    }
    write_json(path, stamped(row, path), indent=None)
    return {**row, "experiment": spec.experiment, **spec.point}, True


# ---------------------------------------------------------------------- the cell list
def resolve_learner(profile: Profile, method: Method, scenario: str) -> tuple[str, dict[str, Any], str]:
    """``(algo, hparams, source)`` of a learned method, the hyperparameters checked at the learner's door.

    Layers, later ones winning: the committed tuned YAML of the method (or of ``tune_as``) for ``scenario``, else
    the profile's ``hparams`` for the algo; then the profile's ``learner_hparams`` common to every method of that
    algo; then the method's own ``hparams``. A method with its own ``algo`` (CRL: the head's learner) takes the
    tuned values of ``tune_as`` as they are, or the profile's values for its own algo when nothing is tuned.
    ``hparams`` stays the overrides (what a cell's cache key hashes), not the learner's full config.
    A profile with its own tuned set (``Profile.tuned_root``: every learned method tuned on its own, equal budgets)
    reads the method's own YAML there first and takes its algo as it is; without one it falls back to
    ``tune_as``'s YAML in that set, and ``source`` says so.
    """
    root = profile.tuned_root
    own = _load_tuned(method.name, scenario, root) if root is not None and method.tune_as else None
    if own is not None:
        algo, source = own["algo"], f"tuned ({scenario}, {Path(root).name}, its own study)"
        layers = [(source, dict(own.get("hparams") or {}))]
        return _finish_learner(profile, method, algo, source, layers)
    tuned = _load_tuned(method.tune_as or method.name, scenario, root)
    if tuned is not None:
        algo, source = tuned["algo"], f"tuned ({scenario}{', ' + Path(root).name if root else ''})"
        if root is not None and method.tune_as:
            source += f"; no study of {method.name}'s own there yet: FALLBACK to {method.tune_as}'s"
        layers = [(source, dict(tuned.get("hparams") or {}))]
    else:
        algo, source = profile.default_algo(method), "profile default"
        layers = [(f"profile {profile.name} hparams[{algo}]", dict(profile.hparams.get(algo, {})))]
    if method.algo and method.algo != algo:  # e.g. CRL: the head's own learner with MARL's tuned values
        algo = method.algo
        source += f" of {method.tune_as or method.name}, as {algo}"
        if tuned is None:
            layers = [(f"profile {profile.name} hparams[{algo}]", dict(profile.hparams.get(algo, {})))]
    return _finish_learner(profile, method, algo, source, layers)


def _finish_learner(profile: Profile, method: Method, algo: str, source: str,
                    layers: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any], str]:
    """``resolve_learner``'s common layers (the profile's per-algo choices, the method's own) on top of ``layers``,
    merged and checked."""
    common = dict(profile.learner_hparams.get(algo, {}))
    if common:
        source += " + profile common " + ", ".join(f"{k}={v}" for k, v in common.items())
    layers += [(f"profile {profile.name} learner_hparams[{algo}]", common),
               (f"method {method.name} hparams", dict(method.hparams))]
    hparams: dict[str, Any] = {}
    for _, layer in layers:
        hparams.update(layer)
    _check_learner(algo, hparams, layers)
    return algo, hparams, source


def _check_learner(algo: str, hparams: dict[str, Any], layers: list[tuple[str, dict[str, Any]]]) -> None:
    """Refuse hyperparameters the learner's config refuses, naming the layers that set the keys."""
    from agents.harness.registry import LEARNERS
    from agents.harness.train import SHIELD_PREFERENCES

    if algo not in LEARNERS:
        raise ValueError(f"algo: unknown algo {algo!r}; choose one of {list(LEARNERS)}")
    try:
        LEARNERS[algo].configure({k: v for k, v in hparams.items() if k != SHIELD_PREFERENCES})
    except ValueError as err:
        sources = "; ".join(f"{name}: {sorted(layer)}" for name, layer in layers if layer)
        raise ValueError(f"hyperparameters for {algo} ({sources or 'defaults only'}): {err}") from err


def solver_settings(profile: Profile, method: Method) -> dict[str, Any]:
    """``solve_offline``'s keyword arguments for an ``optimum`` method: the profile's ``settings["solver"]``, the time
    limit times the method's ``time_limit_factor``."""
    solver = dict(profile.settings.get("solver", {}))
    factor = method.hparams.get("time_limit_factor", 1)
    if factor != 1:
        solver["time_limit_s"] = factor * float(solver.get("time_limit_s", 30.0))
    return solver


def _points(exp: Experiment) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(point, eval config) pairs of an experiment."""
    if exp.kind == "sensitivity":
        return [({"assumption": name, "value": value}, {**exp.base, name: value})
                for name, values in exp.assumptions for value in values]
    if exp.kind == "grid":
        return [(point, cfg) for point, cfg, _ in _grid_points(exp)]
    if exp.sweep is None:
        return [({}, dict(exp.base))]
    return [({exp.sweep: value}, {**exp.base, exp.sweep: value}) for value in exp.values]


def _grid_points(exp: Experiment) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(point, eval config, training config) triples of a grid experiment."""
    return [({**g, **e}, {**exp.base, **g, **e}, {**exp.base, **g})
            for g in exp.grid for e in (exp.eval_grid or ({},))]


def _strip_none(cfg: dict[str, Any]) -> dict[str, Any]:
    """Sensitivity value None means the model's default: leave the field out (so older configs still build)."""
    return {k: v for k, v in cfg.items() if v is not None}


def _resolved(cfg: dict[str, Any]) -> Any:
    """Every field of a cell's config (or the dict itself when it does not build: it will fail in its cell)."""
    try:
        return make_config(**cfg).to_dict()
    except (TypeError, ValueError):
        return cfg


def build_cells(profile: Profile, out: Path, device: str = "cpu", drop_models: bool = False,
                only: tuple[str, ...] | None = None) -> list[Cell]:
    """Every cell of the profile: one per (method, training config, seed) with its evaluations, and one per
    shield-overhead measurement. ``only``: just these methods (and no shield-overhead cells)."""
    methods = profile.methods()
    if only is not None:
        unknown = sorted(set(only) - set(methods))
        if unknown:
            raise ValueError(f"methods: unknown method(s) {unknown}; known: {list(methods)}")
    units: dict[str, dict[str, Any]] = {}
    overhead: list[Cell] = []
    cache = str(out / "cache")
    for exp in profile.experiments:
        points = _grid_points(exp) if exp.kind == "grid" else [(p, c, None) for p, c in _points(exp)]
        for point, cfg, grid_train in points:
            cfg = _strip_none(cfg)
            if exp.kind == "shield_overhead":
                if only is not None:
                    continue
                n_edges = cfg.get("n_edges", 10)
                jobs = [("central", 1)] + [("decentralized", r) for r in exp.regions if r <= n_edges]
                for seed in exp.seeds or profile.seeds:
                    for shield, regions in jobs:
                        overhead.append(Cell("overhead", {"name": f"{shield} shield"}, seed, cfg,
                                             (EvalSpec(exp.name, point, cfg),), cache, device,
                                             eval_episodes=exp.episodes or profile.eval_episodes,
                                             overhead={"shield": shield, "regions": regions}))
                continue
            train_cfg = dict(exp.base) if exp.kind == "sensitivity" else cfg
            if grid_train is not None:  # a grid point: trained at base + its grid mapping (not its eval_grid one)
                train_cfg = _strip_none(grid_train)
            keep_jobs = exp.name == profile.jobs_experiment
            for name in exp.methods:
                if only is not None and name not in only:
                    continue
                method = methods[name]
                for seed in exp.seeds or profile.seeds:
                    # resolved configs, so that {..., arrival_rate: default} and {...} share one unit
                    unit_key = json.dumps([name, seed, _resolved(train_cfg if method.learned else cfg)],
                                          sort_keys=True, default=str)
                    unit = units.setdefault(unit_key, {"method": method, "seed": seed, "train": train_cfg,
                                                       "evals": []})
                    unit["evals"] += [EvalSpec(exp.name, point, cfg, keep_jobs, shield,
                                               exp.episodes or profile.eval_episodes, exp.eval_seed)
                                      for shield in (method.eval_shields or (None,))]
                    unit["episodes"] = exp.episodes or profile.eval_episodes
    cells = []
    for unit in units.values():
        method: Method = unit["method"]
        extra: dict[str, Any] = {}
        if method.learned:
            scenario = profile.tuned_scenario or str(unit["train"].get("scenario", "small"))
            algo, hparams, source = resolve_learner(profile, method, scenario)
            extra = dict(algo=algo, hparams=hparams, hparams_source=source, rounds=profile.rounds,
                         eval_every=profile.eval_every, curve_seeds=tuple(profile.curve_seeds),
                         curve_episodes=profile.curve_episodes)
        elif method.kind == "optimum":
            extra = dict(hparams=solver_settings(profile, method))
        cells.append(Cell("method", {**asdict(method), "hparams": dict(method.hparams)}, unit["seed"], unit["train"],
                          tuple(unit["evals"]), cache, device, eval_episodes=unit["episodes"],
                          drop_models=drop_models, **extra))
    if profile.paired:  # seed by seed: a run cut short still has every method for its first seeds (pairs)
        cells.sort(key=lambda c: c.seed)
    return cells + overhead
