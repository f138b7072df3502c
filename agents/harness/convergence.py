"""The test of whether a learning curve has flattened (the curves themselves: ``agents.common.curves``).

``CurveRecorder`` (``agents.common.curves``, re-exported here) is what ``agents.harness.train.train(..., eval_every=K,
eval_seeds=...)`` uses to write a run's ``curves.csv``: every K simulated rounds the policy is evaluated greedily
on fixed seeds.

``has_flattened(curve, metric)`` is the convergence criterion the report applies to every learned run (the
slope of the curve's last third, with its interval, must show under 2% improvement per 1,000 rounds, and the
curve must not be frozen); ``flatness`` returns the figures behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.common.curves import CURVE_COLUMNS, CurveRecorder, Evaluator, read_curve

__all__ = ["CURVE_COLUMNS", "CurveRecorder", "Evaluator", "Flatness", "flatness", "has_flattened", "read_curve"]


# ---------------------------------------------------------------------- convergence criterion
@dataclass(frozen=True)
class Flatness:
    """What ``has_flattened`` decided from: the window's points, the fitted trend with its interval, the verdict."""

    points: int
    first_round: float
    last_round: float
    mean: float
    slope: float
    """Least-squares slope of the metric against the round over the window (metric units per round)."""
    slope_lo: float
    """The slope's one-sided lower ``confidence`` bound (Student t on the fit's residuals): the steepest fall
    the evaluations allow."""
    improvement: float
    """Fitted improvement per ``per_rounds`` rounds as a fraction of the window mean (-slope x per_rounds / mean,
    positive = the metric still falls)."""
    improvement_hi: float
    """Upper end of the improvement's interval: the most the run may still be improving."""
    episodes: int
    """Fewest evaluation episodes behind one point of the window."""
    frozen: bool
    """Every point of the window reads the same value: the policy stopped changing (e.g. a collapsed learner)."""
    flattened: bool
    reason: str
    """Why not flattened (empty when flattened)."""


def flatness(curve: Any, metric: str = "mean_jct_all", window: float = 1 / 3, max_improvement: float = 0.02,
             per_rounds: float = 1_000.0, min_points: int = 4, min_episodes: int = 5,
             confidence: float = 0.95) -> Flatness:
    """The figures behind ``has_flattened`` (same arguments)."""
    if not 0.0 < window <= 1.0:
        raise ValueError(f"window must be a fraction in (0, 1], got {window!r}")
    if max_improvement < 0:
        raise ValueError(f"max_improvement must be >= 0, got {max_improvement!r}")
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 3:
        raise ValueError(f"min_points must be an int >= 3 (a slope interval needs a residual), got {min_points!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    rounds, values, episodes = _curve_arrays(curve, metric)
    keep = np.isfinite(values)
    rounds, values, episodes = rounds[keep], values[keep], episodes[keep]
    nan = math.nan
    if len(rounds) < min_points:
        return Flatness(len(rounds), nan, nan, nan, nan, nan, nan, math.inf, 0, False, False,
                        f"{len(rounds)} finite evaluation(s), fewer than {min_points}")
    take = max(min_points, math.ceil(window * len(rounds)))
    r, v, eps = rounds[-take:], values[-take:], episodes[-take:]
    mean = float(v.mean())
    fewest = int(eps.min()) if np.isfinite(eps).all() else min_episodes  # no column: not known to be short
    frozen = bool(np.ptp(v) == 0.0)
    slope, lo = _slope_bound(r, v, confidence)
    scale = per_rounds / abs(mean) if mean != 0 else math.inf
    improvement, improvement_hi = -slope * scale, -lo * scale
    reasons = []
    if fewest < min_episodes:
        reasons.append(f"{fewest} evaluation episode(s) per point, fewer than {min_episodes}")
    if frozen:
        reasons.append("frozen: every point of the window reads the same value")
    if not improvement_hi <= max_improvement:
        reasons.append(f"may still improve by {improvement_hi:.1%} per {per_rounds:g} rounds "
                       f"(limit {max_improvement:.0%})")
    return Flatness(len(r), float(r[0]), float(r[-1]), mean, slope, lo, improvement, improvement_hi, fewest,
                    frozen, not reasons, "; ".join(reasons))


def _slope_bound(rounds: np.ndarray, values: np.ndarray, confidence: float) -> tuple[float, float]:
    """OLS slope of ``values`` on ``rounds`` and its one-sided lower Student-t bound from the residuals."""
    from scipy import stats

    x = rounds - rounds.mean()
    sxx = float((x * x).sum())
    if sxx == 0.0:
        return 0.0, -math.inf
    slope = float((x * (values - values.mean())).sum() / sxx)
    resid = values - values.mean() - slope * x
    dof = len(values) - 2
    se = math.sqrt(float((resid * resid).sum()) / dof / sxx)
    return slope, slope - float(stats.t.ppf(confidence, dof)) * se


def has_flattened(curve: Any, metric: str = "mean_jct_all", **criterion: Any) -> bool:
    """Whether a learning curve has converged by the end of training (a test that can fail).

    Criterion (``flatness``): take the last ``window`` (a third) of the evaluations, at least ``min_points``
    (4) of them, each the mean of at least ``min_episodes`` (5) evaluation episodes on fixed seeds; fit a
    least-squares line of ``metric`` against ``round`` and its one-sided 95% bound. The run has converged
    when even that bound (the steepest fall the evaluations allow) improves the metric by less than
    ``max_improvement`` (2%) of the window
    mean per ``per_rounds`` (1,000) rounds, and the window is not *frozen* (every point the same value: a
    policy that stopped updating). A still-falling curve fails, and so does a noisy one whose trend the
    evaluations cannot pin down (more evaluation episodes narrow the interval). A rising curve passes this
    test (it no longer improves); the report shows the curves.

    ``curve`` is a pandas DataFrame or a sequence of row dicts with ``round`` and ``metric`` columns
    (``curves.csv``; an ``episodes`` column gives the episodes per point, assumed ``min_episodes`` when
    absent); several rows at one round (e.g. several seeds) are averaged first and their episodes summed.
    """
    return flatness(curve, metric, **criterion).flattened


def _curve_arrays(curve: Any, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rounds (sorted, unique), the metric's mean per round and the evaluation episodes per round."""
    if hasattr(curve, "to_dict"):  # a pandas DataFrame
        rows = curve.to_dict("records")
    else:
        rows = list(curve)
    if rows and ("round" not in rows[0] or metric not in rows[0]):
        raise ValueError(f"curve needs columns 'round' and {metric!r}, got {sorted(rows[0])}")
    by_round: dict[float, list[float]] = {}
    episodes: dict[float, float] = {}
    for row in rows:
        r = float(row["round"])
        by_round.setdefault(r, []).append(float(row[metric]))
        count = row.get("episodes")
        episodes[r] = episodes.get(r, 0.0) + (math.nan if count is None else float(count))
    rounds = np.array(sorted(by_round), dtype=np.float64)
    with np.errstate(all="ignore"):
        values = np.array([np.nanmean(by_round[r]) if np.isfinite(by_round[r]).any() else math.nan for r in rounds])
    return rounds, values, np.array([episodes[r] for r in rounds])
