"""Statistics that can say "no" (Agarwal et al., NeurIPS 2021; ``rliable``): IQM, stratified bootstrap CIs,
probability of improvement, and differences claimed only when their interval excludes zero.

Scores are arrays ``[runs, tasks]``: one row per training seed, one column per task (a sweep point). The
point estimates are ``rliable.metrics``' (``aggregate_iqm``, ``probability_of_improvement``). The
confidence intervals are percentile intervals of a *stratified* bootstrap: runs are resampled with
replacement within each task, as ``rliable.library.StratifiedBootstrap`` does; it is done here in NumPy
(vectorised over resamples) because ``rliable.library`` imports ``arch``, which fails to import beside
pandas 3. Every function takes a ``seed`` so tables regenerate exactly.

A percentile interval of a trimmed mean lies inside the range of the data, so the interval of a
nonnegative metric cannot go below zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rliable import metrics as rly
from scipy import stats as sps

REPS = 2000
"""Bootstrap resamples."""
CONFIDENCE = 0.95
NO_DIFFERENCE = "no significant difference"


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its ``CONFIDENCE`` interval (nan when undefined)."""

    value: float
    lo: float
    hi: float

    @property
    def excludes_zero(self) -> bool:
        return bool(np.isfinite(self.lo) and np.isfinite(self.hi) and (self.lo > 0 or self.hi < 0))


NAN = Estimate(math.nan, math.nan, math.nan)


def as_scores(values) -> np.ndarray:
    """``[runs, tasks]`` float array from a 1-D (one task) or 2-D input, NaN runs dropped per column (1-D)."""
    arr = np.asarray(values, float)
    if arr.ndim == 1:
        arr = arr[np.isfinite(arr)][:, None]
    if arr.ndim != 2:
        raise ValueError(f"scores must be 1-D or 2-D [runs, tasks], got shape {arr.shape}")
    return arr


def iqm(scores) -> float:
    """Interquartile mean over runs and tasks (``rliable.metrics.aggregate_iqm``)."""
    arr = as_scores(scores)
    return float(rly.aggregate_iqm(arr)) if arr.size else math.nan


def _resample(arr: np.ndarray, rng: np.random.Generator, reps: int) -> np.ndarray:
    """Stratified bootstrap: ``[reps, runs, tasks]``, runs resampled with replacement within each task."""
    runs, tasks = arr.shape
    idx = rng.integers(0, runs, size=(reps, runs, tasks))
    return np.take_along_axis(np.broadcast_to(arr, (reps, runs, tasks)), idx, axis=1)


def _batched_iqm(samples: np.ndarray) -> np.ndarray:
    """IQM of each resample ``[reps, runs, tasks]`` -> ``[reps]`` (same trimming as ``aggregate_iqm``)."""
    flat = samples.reshape(len(samples), -1)
    return sps.trim_mean(flat, 0.25, axis=1)


def _interval(boot: np.ndarray) -> tuple[float, float]:
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return math.nan, math.nan
    tail = 100 * (1 - CONFIDENCE) / 2
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    return float(lo), float(hi)


def iqm_ci(scores, seed: int = 0, reps: int = REPS) -> Estimate:
    """IQM with its stratified-bootstrap 95% interval (nan without scores; a point interval with one run)."""
    arr = as_scores(scores)
    if arr.size == 0:
        return NAN
    boot = _batched_iqm(_resample(arr, np.random.default_rng(seed), reps))
    return Estimate(iqm(arr), *_interval(boot))


def _prob_greater(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y)/2 per resample and task: x ``[reps, nx, tasks]``, y ``[reps, ny, tasks]`` -> ``[reps]``."""
    diff = x[:, :, None, :] - y[:, None, :, :]
    per_task = ((diff > 0) + 0.5 * (diff == 0)).mean(axis=(1, 2))
    return per_task.mean(axis=1)


def probability_of_improvement(x, y, lower_is_better: bool = True, seed: int = 0, reps: int = REPS) -> Estimate:
    """P(a run of X beats a run of Y) averaged over tasks, with a stratified-bootstrap interval.

    ``rliable`` counts *higher* as better; for ``lower_is_better`` metrics (JCT, collisions) both score sets
    are negated first.
    """
    xs, ys = as_scores(x), as_scores(y)
    if xs.size == 0 or ys.size == 0:
        return NAN
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"x and y need the same tasks, got {xs.shape[1]} and {ys.shape[1]}")
    sign = -1.0 if lower_is_better else 1.0
    xs, ys = sign * xs, sign * ys
    point = float(rly.probability_of_improvement(xs, ys))
    rng = np.random.default_rng(seed)
    boot = _prob_greater(_resample(xs, rng, reps), _resample(ys, rng, reps))
    return Estimate(point, *_interval(boot))


def _ratio_stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(y - x) / y; 0 where both are 0 (no difference), nan where only y is 0 (undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (y - x) / y
    ratio = np.where((x == 0) & (y == 0), 0.0, ratio)
    return np.where(np.isfinite(ratio), ratio, np.nan)


def difference(x, y, relative: bool = True, seed: int = 0, reps: int = REPS) -> Estimate:
    """How much lower X's IQM is than Y's, with a bootstrap interval (X and Y resampled independently).

    ``relative``: ``(IQM(Y) - IQM(X)) / IQM(Y)`` (0.59 = X is 59% lower, the paper's form); else
    ``IQM(X) - IQM(Y)``. Undefined (nan) when Y's IQM is 0 in the relative form.
    """
    xs, ys = as_scores(x), as_scores(y)
    if xs.size == 0 or ys.size == 0:
        return NAN
    rng = np.random.default_rng(seed)
    bx, by = _batched_iqm(_resample(xs, rng, reps)), _batched_iqm(_resample(ys, rng, reps))
    stat: Callable[[np.ndarray, np.ndarray], np.ndarray] = _ratio_stat if relative else np.subtract
    point = float(stat(np.array([iqm(xs)]), np.array([iqm(ys)]))[0])
    if not np.isfinite(point):
        return NAN
    return Estimate(point, *_interval(stat(bx, by)))


def compare_lower(x, y, seed: int = 0, reps: int = REPS) -> tuple[Estimate, Estimate]:
    """``(relative, absolute)`` differences of X against Y (``difference``): the relative one in the paper's
    form, the absolute one (``IQM(X) - IQM(Y)``) to decide significance (defined even where Y's IQM is 0)."""
    return difference(x, y, True, seed, reps), difference(x, y, False, seed, reps)


def verdict(estimate: Estimate, what: str = "") -> str:
    """``what`` when the interval excludes zero, else ``NO_DIFFERENCE``."""
    return (what or "significant") if estimate.excludes_zero else NO_DIFFERENCE
