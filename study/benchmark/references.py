"""Reference results: every method of the study on every task of a suite, one JSON per (task, method).

``generate(suite, out, work, workers)`` writes ``out/<suite>/<task>/<method>.json`` (per-episode rows of
``runner.METRICS``, the method's settings, how it was produced, CPU seconds) and skips a (task, method) whose
file exists for the task's current hash: an interrupted run resumes, ``--workers K`` runs the units in K
processes. ``scripts/experiments/benchmark_references.py`` is its command line.

**Learned methods** (CRL, MARL, SROLE-central, SROLE-decentralized) are trained once per task *family*
(``FAMILIES``: the paper scenario at N = 20 and the family's load, Poisson arrivals, 50-round episodes) with the
tuned hyperparameters of ``study/experiments/tuned/paper`` (``study.experiments.plan.resolve_learner`` of the
``paper`` profile, its 64x64 network) for ``ROUNDS`` decision rounds, seed ``TRAIN_SEED``, and evaluated unchanged
on every task of the family at any N (parameter sharing: one network per agent role; the candidate count is the
same, ``n_neighbors`` = 4). Bursty and trace tasks use Poisson-trained policies: a test of transfer, stated.
The models live in ``work`` (not committed).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from srole_common import persist
from study.benchmark.runner import run_evaluable, run_reference_kind
from study.benchmark.tasks import CURRENT, Task, all_tasks, load_task
from study.experiments.profiles import DECISIVE
from study.experiments.roster import PAPER_LEARNED

ROUNDS = 4000
"""Training rounds of every learned reference: the decisive comparison's budget (``DECISIVE_ROUNDS``), one seed;
all references together stay within the benchmark's ~20 CPU-minutes (``docs/benchmark.md``) (the leaderboard states the
measured figure)."""
TRAIN_SEED = 0
FAMILIES: dict[str, dict[str, Any]] = {
    "poisson-0.0075": {"scenario": "paper", "n_edges": 20, "horizon": 50, "arrival_rate": 0.0075},
    "poisson-0.015": {"scenario": "paper", "n_edges": 20, "horizon": 50, "arrival_rate": 0.015},
}
"""Training config of each task family (the decisive cell, ``study.experiments.profiles.DECISIVE_BASE``)."""
LEARNED = PAPER_LEARNED
REFERENCE_METHODS = (*DECISIVE, "fluid-bound", "optimum")
"""Every method of the decisive comparison (``study.experiments.profiles.DECISIVE``), plus the fluid LP bound and the
CP-SAT optimum on the tasks that have them."""
PRODUCED_BY = "python scripts/experiments/benchmark_references.py --suite {suite}"


def methods_for(task: Task) -> list[str]:
    wanted = {"fluid-bound": task.bounds.get("fluid_bound"), "optimum": task.bounds.get("optimum")}
    return [m for m in REFERENCE_METHODS if wanted.get(m, True)]


def learner(method: str) -> tuple[str, dict[str, Any], str, str]:
    """``(algo, hparams, source, shield)`` of a learned reference method."""
    from study.experiments.plan import resolve_learner
    from study.experiments.profiles import METHODS, PROFILES

    algo, hparams, source = resolve_learner(PROFILES["paper"], METHODS[method], "paper")
    return algo, hparams, source, METHODS[method].shield


def model_dir(work: Path, suite: str, family: str, method: str) -> Path:
    return work / suite / family / method


def train_unit(args: tuple[str, str, str, str]) -> dict[str, Any]:
    """Train one (family, method) unless its model is done; returns its record."""
    from agents.harness.train import train

    suite, family, method, work = args
    path = model_dir(Path(work), suite, family, method)
    record_path = path.parent / f"{method}.train.json"
    if (path / "DONE").is_file() and record_path.is_file():
        return persist.read_json(record_path, "training record")
    algo, hparams, source, shield = learner(method)
    if path.exists():
        import shutil

        shutil.rmtree(path)
    t0, c0 = time.perf_counter(), time.process_time()
    train(algo, shield, FAMILIES[family], rounds=ROUNDS, seed=TRAIN_SEED, out_dir=path, device="cpu",
          hparams=hparams, progress=False)
    record = {"family": family, "method": method, "algo": algo, "hparams": hparams, "hparams_source": source,
              "shield": shield, "rounds": ROUNDS, "seed": TRAIN_SEED, "train_config": FAMILIES[family],
              "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    persist.write_json(record_path, record)
    persist.atomic_write(path / "DONE", "")
    return record


def is_done(task: Task, method: str, out: str | Path) -> bool:
    """Whether ``out`` holds the (task, method) reference for the task's current version."""
    path = Path(out) / task.suite / task.name / f"{method}.json"
    try:
        return path.is_file() and persist.read_json(path, "reference result").get("task_hash") == task.content_hash
    except (persist.CorruptFile, OSError):
        return False


def evaluate_unit(args: tuple[str, str, str, str]) -> str:
    """Evaluate one (task, method) into its reference file unless it is there for this task version."""
    from study.experiments.profiles import METHODS

    task_id, method, out, work = args
    task = load_task(task_id)
    path = Path(out) / task.suite / task.name / f"{method}.json"
    if is_done(task, method, out):
        return f"{task.id} {method}: cached"
    t0, c0 = time.perf_counter(), time.process_time()
    if method in LEARNED:
        train_record = persist.read_json(model_dir(Path(work), task.suite, task.family, method).parent
                                         / f"{method}.train.json", "training record")
        run = model_dir(Path(work), task.suite, task.family, method)
        rows = run_evaluable(str(run), task, train_record["shield"])
        settings = (f"{train_record['algo']} trained {train_record['rounds']} rounds at N=20 ({task.family}, seed "
                    f"{train_record['seed']}), {train_record['hparams_source']}; shield {train_record['shield']}")
        extra = {"training": train_record}
    elif method in ("greedy-reference", "lower-bound", "fluid-bound", "optimum"):
        kind = "reference" if method == "greedy-reference" else method
        rows = run_reference_kind(kind, task)
        settings = {"greedy-reference": "full-knowledge greedy, no decision latency (agents.baselines)",
                    "lower-bound": "every job alone on its fastest candidates (references.bound)",
                    "fluid-bound": "capacity-aware fluid LP (references.fluid_bound)",
                    "optimum": f"CP-SAT optimum of the contention-free schedule class (references.optimal), "
                               f"{task.bounds.get('optimum_time_limit_s', 20.0):g} s limit, replayed"}[method]
        extra = {}
    else:
        m = METHODS[method]
        rows = run_evaluable(m.policy, task, m.shield)
        settings = f"heuristic {m.policy}, shield {m.shield}"
        extra = {}
    from study.benchmark.score import package_version

    record = {"suite": task.suite, "task": task.id, "task_hash": task.content_hash, "method": method,
              "settings": settings, "produced_by": PRODUCED_BY.format(suite=task.suite),
              "package_version": package_version(), "rows": rows, "wall_s": time.perf_counter() - t0,
              "cpu_s": time.process_time() - c0, **extra}
    persist.write_json(path, record)
    return f"{task.id} {method}: {record['wall_s']:.1f} s"


def niced() -> None:
    """Lower this process's priority (nice 10) and use one torch thread: reference runs share the machine."""
    try:
        os.nice(10)
    except OSError:
        pass
    import torch

    torch.set_num_threads(1)


def generate(suite: str = CURRENT, out: str | Path = "docs/results/benchmark", work: str | Path = "runs/benchmark",
             workers: int = 1, tasks: list[str] | None = None, methods: list[str] | None = None,
             log: Any = print) -> None:
    """Train what is missing, then evaluate every (task, method) that is missing (module docstring). Worker processes
    are niced; call ``niced()`` first to nice this one too (the script does)."""
    chosen = [t for t in all_tasks(suite) if tasks is None or t.name in tasks or t.id in tasks]
    units = [(t, m) for t in chosen for m in methods_for(t) if methods is None or m in methods]
    pending = [(t, m) for t, m in units if not is_done(t, m, out)]
    log(f"{len(units) - len(pending)} of {len(units)} (task, method) references already done")
    trainings = sorted({(suite, t.family, m, str(work)) for t, m in pending if m in LEARNED})
    pool = ProcessPoolExecutor(workers, initializer=niced) if workers > 1 else None
    try:
        mapper = pool.map if pool is not None else map
        for record in mapper(train_unit, trainings):
            log(f"trained {record['family']} {record['method']}: {record['wall_s']:.1f} s")
        for line in mapper(evaluate_unit, [(t.id, m, str(out), str(work)) for t, m in pending]):
            log(line)
    finally:
        if pool is not None:
            pool.shutdown()
