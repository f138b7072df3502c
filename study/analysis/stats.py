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


# ---------------------------------------------------------------------- paired comparisons
PAIRED_REPS = 10_000
"""Bootstrap resamples of a paired comparison (enough that no verdict moves across ``STABILITY_SEEDS``)."""
STABILITY_SEEDS = 20
"""Bootstrap seeds a paired verdict is recomputed with; it must be the same for all of them."""


@dataclass(frozen=True)
class Paired:
    """A paired comparison of X against Y over training seeds (``paired_difference``)."""

    diff: Estimate
    """Mean over seeds of X - Y (absolute; negative = X lower), with its BCa bootstrap interval."""
    reduction: Estimate
    """(mean Y - mean X) / mean Y (0.59 = X is 59% lower, the paper's form), with its BCa interval."""
    p_value: float
    """Two-sided paired t-test of the per-seed differences (nan when they are all equal)."""
    wins: int
    """Seeds on which X is lower than Y."""
    n: int
    stable: bool
    """The verdict is the same for ``STABILITY_SEEDS`` bootstrap seeds."""

    def verdict(self, lower: str = "lower", higher: str = "higher") -> str:
        """``lower``/``higher`` when the difference's interval excludes zero, else ``NO_DIFFERENCE``."""
        return _paired_verdict(self.diff, lower, higher)


def _paired_verdict(diff: Estimate, lower: str = "lower", higher: str = "higher") -> str:
    if not diff.excludes_zero:
        return NO_DIFFERENCE
    return lower if diff.hi < 0 else higher


def _bca(x: np.ndarray, y: np.ndarray, statistic: Callable, seed: int, reps: int) -> tuple[float, float]:
    """BCa bootstrap interval (Efron 1987) of ``statistic(x, y)``, resampling seeds jointly (paired).

    Bias correction from the share of resamples below the point estimate, acceleration from the jackknife;
    the same estimator as ``scipy.stats.bootstrap(..., paired=True, method="BCa")``, vectorised in NumPy.
    """
    n = len(x)
    idx = np.random.default_rng(seed).integers(0, n, size=(reps, n))
    boot = statistic(x[idx], y[idx], axis=-1)
    boot = boot[np.isfinite(boot)]
    point = float(statistic(x, y))
    if len(boot) == 0 or not np.isfinite(point):
        return math.nan, math.nan
    share = (np.count_nonzero(boot < point) + 0.5 * np.count_nonzero(boot == point)) / len(boot)
    z0 = sps.norm.ppf(min(max(share, 1.0 / len(boot)), 1.0 - 1.0 / len(boot)))
    keep = ~np.eye(n, dtype=bool)
    jack = statistic(np.broadcast_to(x, (n, n))[keep].reshape(n, n - 1),
                     np.broadcast_to(y, (n, n))[keep].reshape(n, n - 1), axis=-1)
    dev = jack.mean() - jack
    denom = 6.0 * float((dev ** 2).sum()) ** 1.5
    accel = float((dev ** 3).sum()) / denom if denom > 0 else 0.0
    z = sps.norm.ppf([(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    alphas = sps.norm.cdf(z0 + (z0 + z) / (1.0 - accel * (z0 + z)))
    lo, hi = np.percentile(boot, 100 * alphas)
    return float(lo), float(hi)


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def _mean_ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    my = np.mean(y, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(my != 0, (my - np.mean(x, axis=axis)) / my, np.nan)


def paired_difference(x, y, seed: int = 0, reps: int = PAIRED_REPS) -> Paired:
    """Compare X with Y paired by training seed: ``x[i]`` and ``y[i]`` are the two methods' means over the
    same evaluation episodes (common random numbers) for seed ``i``; pairs with a NaN are dropped.

    The per-seed differences carry the pairing: the episodes' own difficulty cancels in them, so the
    interval is the one of the mean difference, not of two independent means. Intervals are BCa bootstraps
    over seeds (``PAIRED_REPS`` resamples; BCa corrects the percentile interval's under-coverage at 10-20
    runs); the verdict is checked for ``STABILITY_SEEDS`` bootstrap seeds (``stable``).
    """
    xs, ys = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"paired scores need the same seeds, got {xs.shape} and {ys.shape}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    n = len(xs)
    if n == 0:
        return Paired(NAN, NAN, math.nan, 0, 0, True)
    d = xs - ys
    point_diff = float(d.mean())
    point_red = float(_mean_ratio(xs, ys))
    wins = int((d < 0).sum())
    if n < 3 or np.ptp(d) == 0.0:  # no spread: the difference is what it is (an interval of one point)
        diff = Estimate(point_diff, point_diff, point_diff) if n >= 3 else Estimate(point_diff, math.nan, math.nan)
        red = Estimate(point_red, point_red, point_red) if n >= 3 else Estimate(point_red, math.nan, math.nan)
        return Paired(diff, red, math.nan, wins, n, True)
    p_value = float(sps.ttest_rel(xs, ys).pvalue)
    diff = Estimate(point_diff, *_bca(xs, ys, _mean_diff, seed, reps))
    red = Estimate(point_red, *_bca(xs, ys, _mean_ratio, seed, reps)) if np.isfinite(point_red) else NAN
    verdicts = {_paired_verdict(Estimate(point_diff, *_bca(xs, ys, _mean_diff, s, reps)))
                for s in range(seed + 1, seed + STABILITY_SEEDS)} | {_paired_verdict(diff)}
    return Paired(diff, red, p_value, wins, n, len(verdicts) == 1)
