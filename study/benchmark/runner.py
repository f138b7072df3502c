"""Run a policy, a study method or a bound on a task's evaluation episodes: one row of metrics per episode.

Policies go through ``agents.harness.evaluate.evaluate`` (the path ``srole evaluate`` takes), so a card's numbers
are ``srole evaluate``'s on the same episodes: a Poisson task in one call (episode ``e`` seeded ``seed + e``), a
trace task one call per episode (its own trace, seed ``seed + e``).
"""

from __future__ import annotations

import math
from typing import Any

from study.benchmark.tasks import Task

METRICS = ("mean_jct_all", "mean_jct", "p95_jct", "unfinished_fraction", "collisions", "overloads",
           "median_utilization", "scheduling_overhead_s")
"""Every figure of a score card (lower is better for all but ``median_utilization``, which is reported, not
ranked). ``mean_jct_all`` counts unfinished jobs at their age; ``mean_jct`` completed jobs only."""
PRIMARY = "mean_jct_all"
"""The leaderboard's score and the rank's key."""
BOUND_METHODS = ("lower-bound", "fluid-bound", "optimum")
REFERENCE_KINDS = {"reference": "reference", "lower-bound": "bound", "fluid-bound": "fluid-bound", "optimum": "optimum"}
"""A reference of the card -> its kind in ``study.experiments.episodes.run_episodes``."""


def episode_row(row: dict[str, Any], episode: int, seed: int) -> dict[str, Any]:
    """The card's figures of one evaluation row (``unfinished_fraction`` = unfinished / arrived jobs)."""
    out: dict[str, Any] = {"episode": episode, "seed": seed}
    arrived = row.get("jobs_arrived")
    if "unfinished_fraction" not in row and arrived is not None and "jobs_unfinished" in row:
        row = {**row, "unfinished_fraction": row["jobs_unfinished"] / arrived if arrived else math.nan}
    for key in METRICS:
        value = row.get(key, math.nan)
        out[key] = math.nan if value is None else float(value)
    return out


def run_evaluable(evaluable: Any, task: Task, shield: str, device: str = "cpu") -> list[dict[str, Any]]:
    """Per-episode rows of ``evaluate(evaluable, shield, ...)`` on the task's episodes."""
    from agents.harness.evaluate import evaluate

    if task.workload["kind"] == "poisson":
        rows = evaluate(evaluable, shield, task.episode_config(0), task.episodes, task.seed, device)["rows"]
        return [episode_row(r, e, task.seed + e) for e, r in enumerate(rows)]
    out = []
    for e, seed in enumerate(task.seeds()):
        row = evaluate(evaluable, shield, task.episode_config(e), 1, seed, device)["rows"][0]
        out.append(episode_row(row, e, seed))
    return out


def run_reference_kind(kind: str, task: Task) -> list[dict[str, Any]]:
    """Per-episode rows of the greedy reference (``reference``), a bound (``lower-bound``, ``fluid-bound``) or the
    CP-SAT optimum of the contention-free schedule class (``optimum``, replayed through the env)."""
    from study.experiments.episodes import run_episodes

    if kind not in REFERENCE_KINDS:
        raise ValueError(f"unknown reference kind {kind!r}")
    solver = {"time_limit_s": float(task.bounds.get("optimum_time_limit_s", 20.0))} if kind == "optimum" else None
    rows = []
    for e, seed in enumerate(task.seeds()):
        (row,) = run_episodes(REFERENCE_KINDS[kind], {"scenario": "small", **task.episode_config(e)}, 1, seed,
                              solver=solver)
        rows.append(episode_row(row, e, seed))
    return rows
