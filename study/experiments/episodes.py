"""One way to run a method on episodes: a trained policy, a heuristic, the greedy reference, a bound or the offline
optimum, each giving one row of metrics per episode (with the per-job JCTs where the method has jobs).

The study's cells (``study.experiments.plan``) and the optimality study (``scripts/experiments/optimality_gaps.py``)
run every method through ``run_episodes``; ``method_episodes`` does it for a roster ``Method``. Episode ``e`` is reset
with seed ``seed + e``, so two methods given the same seed see the same episodes (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from study.experiments.roster import KINDS, Method

__all__ = ["KINDS", "method_episodes", "run_episodes"]
"""``KINDS`` (the roster's): what ``run_episodes`` runs: a trained run directory, a heuristic policy (by name), the
full-knowledge greedy reference, the lower bound (every job alone on its fastest candidates), the fluid LP bound, and
the CP-SAT optimum of the contention-free schedule class replayed through the env (``solver``: ``solve_offline``'s
keyword arguments; its row adds the solver's own figures and what the schedule does, ``schedule_facts``)."""


def run_episodes(kind: str, config: Any, episodes: int, seed: int, *, policy: str | Path | None = None,
                 shield: str = "none", device: str = "cpu",
                 solver: Mapping[str, Any] | None = None,
                 on_round: Callable[[Any], None] | None = None) -> list[dict[str, Any]]:
    """Per-episode rows of one method of ``kind`` on ``episodes`` episodes of ``config`` (a ``ClusterConfig`` or a
    dict of its fields); ``policy``: the run directory (``learned``) or heuristic name (``heuristic``), run behind
    ``shield``; ``on_round`` (``learned``/``heuristic`` on the parallel env): called with the shielded env after every
    round (the shield-overhead cells read its ``last_report``)."""
    if kind not in KINDS:
        raise ValueError(f"kind: unknown method kind {kind!r}; choose one of {list(KINDS)}")
    if kind in ("learned", "heuristic"):
        if policy is None:
            raise ValueError(f"policy: a {kind} method needs a {'run directory' if kind == 'learned' else 'name'}")
        from agents.harness.evaluate import evaluate

        watch = {} if on_round is None else {"on_round": on_round}
        return evaluate(str(policy), shield, config, episodes, seed, device, **watch)["rows"]
    if kind == "reference":
        from gymnasium.utils import seeding

        from agents.baselines.greedy_reference import run_greedy_reference_episode
        from srole_env.core.simulator import ClusterSimulator

        sim = ClusterSimulator(_config(config))
        rows = []
        for e in range(episodes):
            metrics = run_greedy_reference_episode(sim, seeding.np_random(seed + e)[0])
            rows.append({**metrics, "job_jcts": sim.job_times()[0].tolist()})
        return rows
    if kind == "bound":
        from references.bound import lower_bound_episode

        return [lower_bound_episode(config, seed + e) for e in range(episodes)]
    if kind == "fluid-bound":
        from references.fluid_bound import fluid_bound_episode

        return [fluid_bound_episode(config, seed + e) for e in range(episodes)]
    from references.optimal import replay, schedule_facts, solve_offline

    rows = []
    for e in range(episodes):
        schedule = solve_offline(config, seed + e, **dict(solver or {}))
        rows.append({**replay(schedule)["rows"][0], "solver_gap": schedule.solver_gap, "optimum": schedule.mean_jct,
                     "cpsat_bound": schedule.best_bound, "solver_optimal": int(schedule.status == "OPTIMAL"),
                     "solve_s": schedule.wall_s, "n_jobs": schedule.n_jobs, **schedule_facts(schedule)})
    return rows


def method_episodes(method: Method, config: Any, episodes: int, seed: int, *, model: str | Path | None = None,
                    shield: str | None = None, device: str = "cpu") -> list[dict[str, Any]]:
    """``run_episodes`` for a roster method: behind ``shield`` (default: its own); a learned one runs ``model``."""
    policy = model if method.learned else method.policy
    return run_episodes(method.kind, config, episodes, seed, policy=policy,
                        shield=method.shield if shield is None else shield, device=device)


def _config(config: Any) -> Any:
    """A ``ClusterConfig`` from a config or a dict of its fields."""
    from srole_env import ClusterConfig, make_config

    return config if isinstance(config, ClusterConfig) else make_config(**config)
