"""The independent-bootstrap comparison's tables: IQM summaries with CIs, SROLE against each baseline (probability of
improvement, reductions), convergence, sensitivity and JCT quantiles; bootstrap_report writes them with the prose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import write_frame
from study.analysis import stats
from study.analysis.paper import METRICS as PAPER_METRICS
from study.experiments.roster import BASELINES, HEADLINE_BASELINES, METHOD_NAMES, SROLE

COMPARED = PAPER_METRICS
"""The metrics SROLE is compared on against each baseline: the paper's three (``study.analysis.paper``)."""
REPORTED_METRICS = (
    "mean_jct_all", "mean_jct", "p95_jct", "jobs_completed", "jobs_unfinished", "median_utilization", "collisions",
    "overloads", "interventions", "messages", "scheduling_overhead_s", "mean_decision_latency_s", "oom_kills",
    "work_lost_s", "head_backlog_max", "head_utilization_mean",
)
NONNEGATIVE = True
"""Every reported metric is nonnegative, so its CI is clipped at 0 in figures (a no-op, see ``figures``)."""
SUMMARY_COLUMNS = ("method", "mean_jct_all", "mean_jct", "collisions", "median_utilization", "overloads",
                   "mean_decision_latency_s", "seeds")
JCT_QUANTILES = (0.5, 0.9, 0.99)


# ---------------------------------------------------------------------- tables
def summarize(frame: pd.DataFrame, by: Sequence[str], metrics: Sequence[str] = REPORTED_METRICS,
              seed: int = 0) -> pd.DataFrame:
    """IQM over seeds of each metric with its 95% CI (``_lo``/``_hi``), grouped by ``by``."""
    metrics = [m for m in metrics if m in frame.columns]
    out = []
    for keys, group in frame.groupby(list(by), sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row: dict[str, Any] = dict(zip(by, keys))
        for metric in metrics:
            est = stats.iqm_ci(group[metric].to_numpy(float), seed=seed)
            row.update({metric: est.value, f"{metric}_lo": est.lo, f"{metric}_hi": est.hi})
        row["seeds"] = group["seed"].nunique()
        out.append(row)
    table = pd.DataFrame(out)
    if "method" in table.columns:  # methods in the comparison's order, then anything else
        rank = {m: i for i, m in enumerate(METHOD_NAMES)}
        order = table["method"].map(lambda m: rank.get(m, len(rank)))
        keys = [k for k in by if k != "method"]
        table = table.assign(_order=order).sort_values([*keys, "_order"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)


def compare(frame: pd.DataFrame, by: Sequence[str] = (), seed: int = 0) -> pd.DataFrame:
    """SROLE (both shields) against every baseline present, per group ``by``: probability of improvement
    on ``mean_jct_all`` and relative differences (how much lower SROLE is) with CIs and verdicts."""
    rows = []
    groups = frame.groupby(list(by), sort=False) if by else [((), frame)]
    for keys, group in groups:
        keys = keys if isinstance(keys, tuple) else (keys,)
        methods = set(group["method"])
        for srole in SROLE:
            if srole not in methods:
                continue
            x = group[group["method"] == srole]
            for base in BASELINES:
                if base not in methods or base == srole:
                    continue
                y = group[group["method"] == base]
                poi = stats.probability_of_improvement(x["mean_jct_all"], y["mean_jct_all"], seed=seed)
                row: dict[str, Any] = {**dict(zip(by, keys)), "srole": srole, "baseline": base,
                                       "poi_jct": poi.value, "poi_jct_lo": poi.lo, "poi_jct_hi": poi.hi}
                for metric in COMPARED:
                    if metric not in group.columns:
                        continue
                    rel, diff = stats.compare_lower(x[metric], y[metric], seed=seed)
                    row.update({f"{metric}_reduction": rel.value, f"{metric}_reduction_lo": rel.lo,
                                f"{metric}_reduction_hi": rel.hi, f"{metric}_difference": diff.value,
                                f"{metric}_difference_lo": diff.lo, f"{metric}_difference_hi": diff.hi,
                                f"{metric}_verdict": _difference_verdict(diff),
                                f"{metric}_both_zero": bool((x[metric] == 0).all() and (y[metric] == 0).all()),
                                f"{metric}_ratio_ok": ratio_meaningful(y[metric], seed)})
                rows.append(row)
    if by:
        rows += _pooled_poi(frame, list(by), seed)
    return pd.DataFrame(rows)


def _pooled_poi(frame: pd.DataFrame, by: list[str], seed: int) -> list[dict[str, Any]]:
    """Probability of improvement over every point of a sweep at once (rliable's average over tasks), with a
    bootstrap stratified by point; its row carries ``all`` in the sweep column."""
    rows = []
    methods = set(frame["method"])
    for srole in SROLE:
        for base in BASELINES:
            if srole not in methods or base not in methods:
                continue
            pair = frame[frame["method"].isin((srole, base))]
            table = pair.pivot_table(index="seed", columns=[*by, "method"], values="mean_jct_all", aggfunc="mean")
            points = [p for p in table.columns.droplevel(-1).unique()
                      if (*_as_tuple(p), srole) in table.columns and (*_as_tuple(p), base) in table.columns]
            if len(points) < 2:
                continue
            x = np.column_stack([table[(*_as_tuple(p), srole)] for p in points])
            y = np.column_stack([table[(*_as_tuple(p), base)] for p in points])
            keep = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
            if keep.sum() < 1:
                continue
            poi = stats.probability_of_improvement(x[keep], y[keep], seed=seed)
            rows.append({**{k: "all" for k in by}, "srole": srole, "baseline": base, "poi_jct": poi.value,
                         "poi_jct_lo": poi.lo, "poi_jct_hi": poi.hi})
    return rows


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


RATIO_MIN_SHARE = 0.5
"""Assumption: a relative reduction (baseline - SROLE) / baseline is reported only where the baseline's IQM is
well away from 0, i.e. the lower end of its 95% bootstrap CI is at least this share of the IQM. Below that the
bootstrap resamples divide by values near 0 (median utilisation at a light load, where most edges are idle at the
median) and the ratio's interval runs to hundreds of percent ([-794%, 40%]); the absolute difference is reported
instead."""


def ratio_meaningful(baseline: pd.Series, seed: int = 0) -> bool:
    """Whether the relative reduction against ``baseline``'s scores means something (``RATIO_MIN_SHARE``)."""
    est = stats.iqm_ci(baseline.to_numpy(float), seed=seed)
    return bool(np.isfinite(est.value) and est.value > 0 and np.isfinite(est.lo)
                and est.lo >= RATIO_MIN_SHARE * est.value)


def _difference_verdict(diff: stats.Estimate) -> str:
    """From the absolute difference IQM(SROLE) - IQM(baseline) and its CI."""
    if not diff.excludes_zero:
        return stats.NO_DIFFERENCE
    return "SROLE lower" if diff.value < 0 else "SROLE higher"


# ---------------------------------------------------------------------- convergence
def _has_flattened(curve: pd.DataFrame, metric: str) -> bool:
    from agents.harness.convergence import has_flattened

    return bool(has_flattened(curve, metric))


def convergence(curves: pd.DataFrame, metric: str = "mean_jct_all") -> pd.DataFrame:
    """Per method and training point: runs whose curve had flattened, of runs with a curve."""
    if curves.empty or metric not in curves.columns:
        return pd.DataFrame()
    keys = [k for k in ("method", "n_edges", "arrival_rate") if k in curves.columns]
    rows = []
    for group_keys, group in curves.groupby(keys, sort=False, dropna=False):
        flags = [_has_flattened(run, metric) for _, run in group.groupby("seed")]
        known = [f for f in flags if f is not None]
        rows.append({**dict(zip(keys, group_keys)), "runs": len(flags), "flattened": sum(known),
                     "not_flattened": len(known) - sum(known), "unknown": len(flags) - len(known)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- sensitivity
def _fmt_value(value: Any) -> str:
    """An assumption value for tables: None -> 'default', 6.0 -> '6'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "default"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sensitivity(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SROLE's JCT reduction against MARL and CRL at every assumption value, and the assumptions ranked by
    the range of that reduction over their values (the one the conclusion depends on most first)."""
    rows = []
    frame = frame.assign(value=frame["value"].map(_fmt_value))
    for (name, value), group in frame.groupby(["assumption", "value"], sort=False):
        for srole in SROLE:
            x = group[group["method"] == srole]
            if x.empty:
                continue
            for base in HEADLINE_BASELINES:
                y = group[group["method"] == base]
                if y.empty:
                    continue
                est, diff = stats.compare_lower(x["mean_jct_all"], y["mean_jct_all"], seed=seed)
                rows.append({"assumption": name, "value": value, "comparison": f"{srole} vs {base}",
                             "reduction": est.value, "reduction_lo": est.lo, "reduction_hi": est.hi,
                             "verdict": _difference_verdict(diff)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table, pd.DataFrame()
    effect = (table.groupby(["assumption", "comparison"], sort=False)["reduction"]
              .agg(lambda r: float(np.nanmax(r) - np.nanmin(r)) if r.notna().any() else math.nan)
              .rename("range").reset_index().sort_values("range", ascending=False))
    return table, effect


# ---------------------------------------------------------------------- the report
def _point_columns(frame: pd.DataFrame) -> list[str]:
    names = ("n_edges", "arrival_rate", "assumption", "value")
    return [c for c in names if c in frame.columns and frame[c].notna().any()]


def split_jobs(frame: pd.DataFrame, out: Path, keys: Sequence[str]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Move the rows' per-job JCTs (``job_jcts``) into ``out/jobs.csv`` (``keys`` + ``jct_s`` per job); returns the
    rows without them and the job records."""
    jobs: list[dict[str, Any]] = []
    if "job_jcts" in frame.columns:
        for _, row in frame[frame["job_jcts"].notna()].iterrows():
            jobs += [{**{k: row.get(k) for k in keys}, "jct_s": j} for j in row["job_jcts"]]
        frame = frame.drop(columns="job_jcts")
    write_frame(out / "jobs.csv", pd.DataFrame(jobs, columns=[*keys, "jct_s"]))
    return frame, jobs


def jct_quantiles(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per method (comparison order): job count, JCT percentiles (``p50``, ``p90``, ``p99``) and mean, in s."""
    rank = {m: i for i, m in enumerate(METHOD_NAMES)}
    rows = []
    for method, group in sorted(jobs.groupby("method"), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])):
        values = group["jct_s"].to_numpy(float)
        row = {"method": method, "jobs": len(values)}
        row.update({f"p{round(100 * q)}": float(np.quantile(values, q)) for q in JCT_QUANTILES})
        rows.append({**row, "mean": float(values.mean())})
    return pd.DataFrame(rows, columns=["method", "jobs", *[f"p{round(100 * q)}" for q in JCT_QUANTILES], "mean"])
