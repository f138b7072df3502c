"""Evaluation: ``evaluate(policy_or_dir, shield, config, episodes, seed) -> dict`` and its table/CSV/JSON forms.

Episode ``e`` of an evaluation with seed ``s`` is reset with seed ``s + e``, so every method meets the
same clusters and job arrivals. Policies act greedily (argmax of their preferences), and behind a shield
the same preferences [N, A] go to the shield (unless the run withheld them: ``shield_preferences``).
Parallel-env policies (heuristics, MARL, SROLE) run on the parallel env behind ``shield`` through its array fast
path (one batched policy call for all agents of a round; per-agent dicts only in the PettingZoo reset); CRL
policies run on the cluster head's env (no shield), a round's decisions at a time in the compiled loop when the
policy exports to one (``fast_head``; ``CentralizedSchedulingEnv.decide_round``), else one ``step`` per decision.

The result holds the mean over episodes of every figure of ``env.unwrapped.metrics()`` (NaN-aware:
``mean_jct`` is NaN in an episode that completes no job) plus ``episode_return``, and ``rows``: one dict
per episode. ``mean_jct_all`` also counts unfinished jobs at their age, so compare methods on both.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.common.array_env import ArrayEnv, make_parallel_env
from agents.common.export import head_rule
from agents.common.policy import Policy
from agents.common.utils import as_config, resolve_device
from agents.harness.policies import check_fits, load_policy
from srole_common import persist
from srole_env import CentralizedSchedulingEnv, ClusterConfig
from srole_env.core.head_kernel import HeadRule

TABLE_COLUMNS = ("mean_jct", "mean_jct_all", "p95_jct", "collisions", "overloads", "interventions",
                 "scheduling_overhead_s", "jobs_completed")
"""Figures ``format_table`` shows (every metric is in the result and in ``--csv``/``--json``)."""


def evaluate(
    policy_or_dir: str | Path | Policy,
    shield: str | None = None,
    config: ClusterConfig | str | dict[str, Any] | None = None,
    episodes: int = 10,
    seed: int = 0,
    device: str = "auto",
    record: str | Path | None = None,
    shield_preferences: bool | None = None,
    fast_head: bool = True,
    on_round: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` episodes and return the metric means (and per-episode ``rows``).

    ``shield`` defaults to the run's own shield (``none`` for heuristics); ``config`` (a ``ClusterConfig``,
    scenario name/file or dict of fields) defaults to the run's training cluster (``small`` for heuristics).
    ``record``: a ``.gif`` path; the first episode's cluster map (``render_mode="rgb_array"``) is written
    there, one frame per round (parallel-env policies only).
    ``shield_preferences``: hand the policy's preferences to the shield; None = the run's own setting
    (``config.json``), True for heuristics and policy objects.
    ``fast_head``: run a CRL head's decisions in the compiled loop when its policy exports to one
    (``agents.common.export.head_rule``: the greedy head, Q-network heads); False steps the head env one decision
    at a time (the same decisions, slower).
    ``on_round``: called with the (shielded) parallel env after every round, e.g. to read the shield's
    ``last_report`` (parallel-env policies only).
    """
    if record is not None and Path(record).suffix.lower() != ".gif":
        raise ValueError(f"record: expected a .gif path, got {str(record)!r}")
    if record is not None:
        persist.check_output_path(record, "record:")  # before the episode, not after it
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    seed = int(seed)
    policy, meta = load_policy(policy_or_dir, resolve_device(device), seed)
    centralized = meta["env_kind"] == "centralized"
    shield = shield or ("none" if centralized else meta.get("shield", "none"))
    if centralized and shield != "none":
        raise ValueError(f"shield: {meta['name']} is a CRL policy (the cluster head's env takes no shield); use none")
    cfg = as_config(config if config is not None else meta.get("cluster", "small"))
    check_fits(meta, cfg)
    rows = []
    if centralized and record is not None:
        raise ValueError(f"record: {meta['name']} is a CRL policy; recording draws the parallel env's cluster map")
    if centralized and on_round is not None:
        raise ValueError(f"on_round: {meta['name']} is a CRL policy; on_round watches the parallel env's rounds")
    if centralized:
        env = CentralizedSchedulingEnv(cfg)
        rule = head_rule(policy) if fast_head else None
        for e in range(episodes):
            rows.append({"episode": e, "seed": seed + e, **_centralized_episode(env, policy, seed + e, rule)})
    else:
        share = meta.get("shield_preferences", True) if shield_preferences is None else shield_preferences
        env = ArrayEnv(
            make_parallel_env(cfg, shield, render_mode="rgb_array" if record is not None else None),
            share_preferences=bool(share),
        )
        for e in range(episodes):
            frames: list[np.ndarray] | None = [] if record is not None and e == 0 else None
            rows.append({"episode": e, "seed": seed + e,
                         **_parallel_episode(env, policy, seed + e, frames, on_round)})
            if frames is not None:
                write_gif(frames, record, fps=env.base.metadata["render_fps"])
    if config is None:
        scenario = meta.get("scenario")
    else:
        scenario = config if isinstance(config, str) else config.get("scenario") if isinstance(config, dict) else None
    return {"policy": meta["name"], "shield": shield, "scenario": scenario, "episodes": episodes, "seed": seed,
            **summarize(rows), "rows": rows}


def evaluate_seeds(policy: Policy, seeds: Sequence[int], episodes: int, *, shield: str,
                   config: ClusterConfig, device: str = "cpu", shield_preferences: bool = True) -> dict[str, float]:
    """Metric means of ``policy`` over ``episodes`` episodes of each seed: the learning curves' evaluation
    (``agents.harness.convergence.CurveRecorder``'s evaluator, bound to the run's shield and cluster)."""
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        rows += evaluate(policy, shield, config, episodes, seed, device, shield_preferences=shield_preferences)["rows"]
    return summarize(rows)


def _parallel_episode(
    env: ArrayEnv, policy: Policy, seed: int, frames: list[np.ndarray] | None = None,
    on_round: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    obs, mask = env.reset(seed=seed)
    policy.reset()
    total = 0.0
    while True:
        prefs = policy.preferences(obs, mask)
        out = env.step(np.argmax(prefs, axis=1), prefs if env.shielded else None)
        total += float(out.rewards.mean())
        obs, mask = out.obs, out.mask
        if frames is not None:
            frames.append(env.env.render())
        if on_round is not None:
            on_round(env.env)
        if out.done:
            return {"episode_return": total, **env.metrics(), "job_jcts": _job_jcts(env.base.sim)}


def _centralized_episode(env: CentralizedSchedulingEnv, policy: Policy, seed: int,
                         rule: HeadRule | None = None) -> dict[str, Any]:
    """One head episode: with ``rule`` (the policy as plain arrays, ``agents.common.export``) each round's
    decisions run in the compiled loop (``env.decide_round``: the same decisions and figures), else one
    ``step`` per decision."""
    obs, info = env.reset(seed=seed)
    policy.reset()
    total = float(info.get("reward_before_first_decision", 0.0))

    def act(o: np.ndarray, m: np.ndarray) -> int:
        return int(policy.act(o[None, :], m[None, :].astype(np.int8))[0])

    done = env.deciding_edge < 0
    while not done:
        if rule is not None:
            obs, reward, terminated, truncated, _ = env.decide_round(rule, act)
        else:
            obs, reward, terminated, truncated, _ = env.step(act(obs, env.action_masks()))
        total += reward
        done = terminated or truncated
    return {"episode_return": total, **env.metrics(), "job_jcts": _job_jcts(env.sim)}


def _job_jcts(sim: Any) -> list[float]:
    """Per-job JCT (age for unfinished jobs) of the episode, for JCT distributions (``ClusterSimulator.job_times``)."""
    return sim.job_times()[0].tolist()


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """NaN-aware mean over episodes of every numeric figure in ``rows`` (except episode and seed)."""
    keys = [k for k, v in rows[0].items() if k not in ("episode", "seed") and isinstance(v, (int, float))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN
        return {k: float(np.nanmean([float(r[k]) for r in rows])) for k in keys}


# ---------------------------------------------------------------------- output
def write_gif(frames: list[np.ndarray], path: str | Path, fps: float = 4.0) -> None:
    """Write H x W x 3 uint8 frames as a looping GIF (imageio)."""
    import imageio.v3 as iio

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)


def format_table(results: list[dict[str, Any]], columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """A plain-text table: one line per result (policy, shield, then ``columns``)."""
    header = ["policy", "shield", *columns]
    lines = [[str(r["policy"]), str(r["shield"]), *(_fmt(r.get(c, math.nan)) for c in columns)] for r in results]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    for line in lines:
        out.append("  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


def write_csv(results: list[dict[str, Any]], path: str | Path) -> None:
    """One row per result: identification columns, then every metric mean."""
    keys: list[str] = []
    for r in results:
        keys += [k for k in r if k != "rows" and k not in keys]
    persist.write_rows(path, keys, ({k: v for k, v in r.items() if k != "rows"} for r in results))


def write_json(results: list[dict[str, Any]], path: str | Path) -> None:
    """All results with their per-episode rows (NaN written as null)."""
    persist.write_json(path, _nan_to_none(results))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return _nan_to_none(value.item())
    return value
