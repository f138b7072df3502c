"""Learning curves on fixed evaluation seeds, and the test of whether a curve has flattened.

``CurveRecorder`` is what ``agents.train.train(..., eval_every=K, eval_seeds=...)`` uses: every K
simulated rounds the learner's current policy is evaluated greedily, behind the run's shield (with or
without its preferences, as in training), through ``agents.evaluate.evaluate`` on the same episodes
each time (the evaluation is injected: ``agents.evaluate.evaluate_seeds``, so this module imports no
learner), and one row goes to ``curves.csv``:

``round, mean_jct_all, collisions, jobs_completed, overloads, mean_reward, mean_jct, interventions, episodes``

(``mean_reward`` is the mean evaluation episode return; the figures are means over the evaluation
episodes). Rows are written at round 0 (the untrained policy), at every multiple of K, and at the end of
training when the budget is not a multiple of K. A CRL learner advances several rounds in one head
decision when rounds pass with nothing to decide, so its rows fall on the first decision at or after
each multiple (the ``round`` column says where).

``has_flattened(curve, metric, window, rtol)`` is the convergence criterion the report applies to every
learned method; ``flatness`` returns the figures behind it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Evaluator = Callable[[Any, Sequence[int], int], dict[str, float]]
"""``(policy, seeds, episodes) -> metric means``: how a ``CurveRecorder`` evaluates (``evaluate.evaluate_seeds``)."""

CURVE_COLUMNS = ("round", "mean_jct_all", "collisions", "jobs_completed", "overloads", "mean_reward", "mean_jct",
                 "interventions", "episodes")
"""Columns of ``curves.csv`` (one row per evaluation)."""
_FROM_RESULT = {"mean_reward": "episode_return"}


class CurveRecorder:
    """Evaluates a policy every ``every`` rounds on fixed seeds and appends the rows to ``path``.

    Episode ``e`` of evaluation seed ``s`` is reset with ``s + e`` (``agents.evaluate`` semantics), for
    every ``s`` in ``seeds`` and ``e < episodes``; the same episodes at every evaluation. ``evaluator``
    runs them (injected, so the recorder stays below the learners and the evaluation code).
    """

    def __init__(self, path: str | Path, every: int, seeds: Sequence[int], episodes: int, evaluator: Evaluator,
                 start: int | None = None):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"eval_every must be a positive int, got {every!r}")
        seeds = tuple(seeds)
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"eval_seeds must be a non-empty sequence of ints when eval_every is set, got {seeds!r}")
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"eval_episodes must be a positive int, got {episodes!r}")
        self.path = Path(path)
        self.every, self.seeds, self.episodes = every, seeds, episodes
        self.evaluator = evaluator
        self.last: int | None = None
        if start is None:  # a fresh run: evaluate the untrained policy first
            self.next = 0
            self.path.unlink(missing_ok=True)
        else:  # a resumed run: keep the rows up to its checkpoint
            self._keep_up_to(start)
            self.next = (start // every + 1) * every
            self.last = start if any(r["round"] == start for r in read_curve(self.path)) else None

    def due(self, rounds: int) -> bool:
        """Whether an evaluation is due at ``rounds`` (the first call at or after each multiple of ``every``)."""
        return rounds >= self.next

    def maybe_record(self, rounds: int, policy: Any) -> None:
        """Evaluate ``policy`` and append a row if an evaluation is due at ``rounds``."""
        if self.due(rounds):
            self.record(rounds, policy)

    def finish(self, rounds: int, policy: Any) -> None:
        """The end of training: a last row at ``rounds`` unless one was just written there."""
        if self.last != rounds:
            self.record(rounds, policy)

    def record(self, rounds: int, policy: Any) -> dict[str, float]:
        """Evaluate ``policy`` now and append its row; returns the row."""
        means = self.evaluator(policy, self.seeds, self.episodes)
        row = {"round": int(rounds), "episodes": len(self.seeds) * self.episodes}
        for column in CURVE_COLUMNS[1:]:
            row.setdefault(column, means.get(_FROM_RESULT.get(column, column), math.nan))
        new = not self.path.is_file()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CURVE_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        self.last = int(rounds)
        self.next = (int(rounds) // self.every + 1) * self.every
        return row

    def _keep_up_to(self, rounds: int) -> None:
        kept = [r for r in read_curve(self.path) if r["round"] <= rounds]
        if not self.path.is_file():
            return
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CURVE_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({**r, "round": int(r["round"])} for r in kept)


def read_curve(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``curves.csv`` (values as floats); empty if the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in csv.DictReader(f)]


# ---------------------------------------------------------------------- convergence criterion
@dataclass(frozen=True)
class Flatness:
    """What ``has_flattened`` decided from: the window's points, mean, fitted trend and its relative size."""

    points: int
    first_round: float
    last_round: float
    mean: float
    slope: float
    """Least-squares slope of the metric against the round over the window (metric units per round)."""
    relative_change: float
    """|slope| x (last_round - first_round) / |mean|: how much the fitted trend moves across the window."""
    flattened: bool


def flatness(curve: Any, metric: str = "mean_jct_all", window: float = 0.25, rtol: float = 0.05,
             min_points: int = 3) -> Flatness:
    """The figures behind ``has_flattened`` (same arguments)."""
    if not 0.0 < window <= 1.0:
        raise ValueError(f"window must be a fraction in (0, 1], got {window!r}")
    if rtol < 0:
        raise ValueError(f"rtol must be >= 0, got {rtol!r}")
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 2:
        raise ValueError(f"min_points must be an int >= 2, got {min_points!r}")
    rounds, values = _curve_arrays(curve, metric)
    keep = np.isfinite(values)
    rounds, values = rounds[keep], values[keep]
    take = max(min_points, math.ceil(window * len(rounds)))
    if len(rounds) < min_points:
        return Flatness(len(rounds), math.nan, math.nan, math.nan, math.nan, math.inf, False)
    r, v = rounds[-take:], values[-take:]
    mean = float(v.mean())
    span = float(r[-1] - r[0])
    slope = float(np.polyfit(r, v, 1)[0]) if span > 0 else 0.0
    rel = abs(slope) * span / abs(mean) if mean != 0 else (0.0 if slope == 0 else math.inf)
    return Flatness(len(r), float(r[0]), float(r[-1]), mean, slope, rel, bool(rel <= rtol))


def has_flattened(curve: Any, metric: str = "mean_jct_all", window: float = 0.25, rtol: float = 0.05,
                  min_points: int = 3) -> bool:
    """Whether a learning curve has flattened by the end of training.

    Criterion: take the last ``window`` fraction of the evaluations (at least ``min_points`` of them);
    fit a least-squares line of ``metric`` against ``round`` through them; the curve has flattened when
    the fitted trend changes the metric across that window by at most ``rtol`` (default 5%) of the
    window's mean. A trend, not the spread, decides: evaluation noise around a flat line passes, a curve
    still falling (or rising) by more than 5% over its last quarter fails. Fewer than ``min_points``
    finite evaluations: not flattened (no evidence).

    ``curve`` is a pandas DataFrame or a sequence of row dicts with ``round`` and ``metric`` columns
    (``curves.csv``); several rows at one round (e.g. several training seeds) are averaged first.
    """
    return flatness(curve, metric, window, rtol, min_points).flattened


def _curve_arrays(curve: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Rounds (sorted, unique) and the metric's mean per round."""
    if hasattr(curve, "to_dict"):  # a pandas DataFrame
        rows = curve.to_dict("records")
    else:
        rows = list(curve)
    if rows and ("round" not in rows[0] or metric not in rows[0]):
        raise ValueError(f"curve needs columns 'round' and {metric!r}, got {sorted(rows[0])}")
    by_round: dict[float, list[float]] = {}
    for row in rows:
        by_round.setdefault(float(row["round"]), []).append(float(row[metric]))
    rounds = np.array(sorted(by_round), dtype=np.float64)
    with np.errstate(all="ignore"):
        values = np.array([np.nanmean(by_round[r]) if np.isfinite(by_round[r]).any() else math.nan for r in rounds])
    return rounds, values
