"""Score a scheduler on a user's own workload: an *unofficial* task built from a scenario file, a trace or config
overrides, with the reference methods run on the same episodes so that the paired part and the rank are real.

``own_task(scenario, trace=..., episodes=..., seed=...)`` resolves the cluster (every ``ClusterConfig`` field, as a
frozen task holds it) into a ``Task`` of suite ``unofficial``; ``score_own(policy, task)`` scores the policy as
``study.benchmark.score.score`` does, runs ``OWN_REFERENCES`` on the same episodes (heuristics, the full-knowledge
greedy reference and the lower bound: no training, so seconds to minutes), writes their records beside the card
(``<card folder>/references/unofficial/<task>/<method>.json``, reused on the next call for the same task) and
makes the card against them. The card says ``"unofficial": true`` and lists the references it ran; the learned
references (CRL, MARL, SROLE) are the frozen tasks' only, since they would need training on the user's cluster.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from srole_common import persist
from study.benchmark.runner import run_evaluable, run_reference_kind
from study.benchmark.tasks import Task, data_hash
from study.experiments.profiles import DECISIVE
from study.experiments.roster import names

UNOFFICIAL = "unofficial"
"""The suite name of a user's own task: never a frozen suite, so its cards never mix with the leaderboard's."""
OWN_REFERENCES = names(lambda m: m.name in DECISIVE and not m.learned and not m.consults_head)
"""The reference methods run on a user's task (every one of the frozen tasks' that needs no training)."""


def own_task(scenario: str | Path | None = None, *, trace: str | Path | None = None, episodes: int = 10,
             seed: int = 0, shield: str = "none", name: str | None = None,
             overrides: dict[str, Any] | None = None) -> Task:
    """An unofficial task: ``scenario`` (a name or a YAML/JSON file of ``ClusterConfig`` fields, default ``paper``
    at N = 20 and 50 rounds, the decisive cell) with ``overrides`` and, if given, ``trace`` replayed every episode
    (a simulator trace: ``srole trace`` converts other shapes); ``episodes`` seeded ``seed``, ``seed + 1``, ..."""
    from srole_env import make_config

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an int >= 1, got {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    fields = dict(overrides or {})
    if scenario is None:
        fields = {"n_edges": 20, "horizon": 50, **fields}
    if trace is not None:
        trace = Path(trace)
        if not trace.is_file():
            raise ValueError(f"trace {str(trace)!r} does not exist (srole trace converts runtime, request and pod "
                             "lists into a simulator trace)")
        fields["trace_path"] = str(trace.resolve())
    config = make_config(str(scenario) if scenario is not None else "paper", **fields).to_dict()
    stem = name or "-".join(Path(str(p)).stem for p in (scenario, trace) if p is not None) or "paper"
    workload = {"kind": "poisson"} if trace is None else {"kind": "trace", "sha256": _sha256(Path(trace))}
    data = {"suite": UNOFFICIAL, "name": stem, "description": f"your workload ({stem})", "family": "none",
            "base_scenario": str(scenario or "paper"), "config": config, "workload": workload, "seed": seed,
            "episodes": episodes, "shield": shield, "bounds": {}}
    return Task(**{k: v for k, v in data.items()}, content_hash=data_hash(data))


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _episode_rows(task: Task, method: str) -> tuple[list[dict[str, Any]], str]:
    """(per-episode rows, settings) of one reference method on ``task``."""
    from study.experiments.profiles import METHODS

    if method in ("greedy-reference", "lower-bound"):
        kind = "reference" if method == "greedy-reference" else method
        return run_reference_kind(kind, _as_poisson(task)), method
    m = METHODS[method]
    return run_evaluable(m.policy, _as_poisson(task), m.shield), f"heuristic {m.policy}, shield {m.shield}"


def _as_poisson(task: Task) -> Task:
    """The task as the runner reads it: every episode's config is the task's (its trace included)."""
    from dataclasses import replace

    return replace(task, workload={"kind": "poisson"})


def run_references(task: Task, folder: str | Path, methods: tuple[str, ...] = OWN_REFERENCES,
                   progress: bool = True) -> Path:
    """Run ``methods`` on ``task``'s episodes into ``folder/<suite>/<task>/<method>.json`` (kept when there for
    this task version); returns ``folder``."""
    import sys

    out = Path(folder) / task.suite / task.name
    for method in methods:
        path = out / f"{method}.json"
        if path.is_file():
            try:
                if persist.read_json(path, "reference result").get("task_hash") == task.content_hash:
                    continue
            except (persist.CorruptFile, OSError):
                pass
        t0 = time.perf_counter()
        rows, settings = _episode_rows(task, method)
        persist.write_json(path, {"suite": task.suite, "task": task.id, "task_hash": task.content_hash,
                                  "method": method, "settings": settings, "rows": rows,
                                  "wall_s": time.perf_counter() - t0})
        if progress:
            print(f"reference {method} on {task.id}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return Path(folder)


def score_own(policy: Any, task: Task, *, out: str | Path, shield: str | None = None, device: str = "cpu",
              progress: bool = True) -> dict[str, Any]:
    """Score ``policy`` on the unofficial ``task`` against ``OWN_REFERENCES`` run on the same episodes; write the
    card to ``out`` (and the CSV beside it) and the references under ``<out's folder>/references``."""
    from study.benchmark.policy_spec import PolicyError, resolve
    from study.benchmark.score import make_card, write_card

    if task.suite != UNOFFICIAL:
        raise ValueError(f"score_own: {task.id} is a frozen task; score it with study.benchmark.score.score")
    evaluable, identity = resolve(policy)
    shield = shield or task.shield
    try:
        rows = run_evaluable(evaluable, _as_poisson(task), shield, device)
    except PolicyError as err:
        raise PolicyError(f"task {task.id}, policy {policy!s}: {err}") from err
    json_path = Path(out) if str(out).endswith(".json") else Path(f"{out}.json")
    refs = run_references(task, json_path.parent / "references", progress=progress)
    card = make_card(task, identity, shield, rows, refs)
    card.pop("content_hash")
    card.update(unofficial=True, references_run=list(OWN_REFERENCES),
                note="an unofficial task (your workload): references without training only; not comparable with "
                     "the leaderboard")
    card["content_hash"] = data_hash(card)
    write_card(card, json_path)
    return card
