"""The fair map's tables: per point and ``request_s`` the methods' figures (finished work beside all work), where the
head and the central shield's host saturate, SROLE's paired reductions with the verdict checked on finished jobs and
on both halves of the seeds, the probability of improvement per headline pair, the transfer gap and METHODS rule 9.
``study.analysis.fair_report`` writes them; the crossover map's helpers (``first_n``, the verdict words) are reused.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from study.analysis import stats
from study.analysis.crossover_tables import (
    FIXED,
    RETRAINED,
    SOURCE,
    _point_verdict,
    first_n,
    point_means,
    with_policy,
    with_rho,
)
from study.analysis.paired_tables import paired_rows
from study.analysis.regime_tables import FEW, MIN_PAIRS
from study.experiments.fair_profile import HOST_METHODS, LEARNED
from study.experiments.roster import COUNTERPARTS, SROLE, names

BASELINES = names(lambda m: m.headline > 0 or m.consults_head, order=lambda m: not m.headline)
"""What SROLE is measured against: the paper's CRL and MARL, and CRL-greedy (the head at full strength without
learning)."""
HEADLINE = tuple((s, b) for s in SROLE for b in names(lambda m: m.headline > 0))
"""The headline pairs (SROLE's two configurations against CRL and MARL): probability of improvement per point."""
JCT = ("mean_jct_all", "mean_jct_finished")
"""The two JCTs every verdict is read on (METHODS rule 14)."""
HOST_COLUMNS = ("head_utilization_mean", "head_backlog_max", "shield_host_utilization_mean",
                "shield_host_backlog_max_s")
POINT_COLUMNS = ("mean_jct_all", "mean_jct_finished", "unfinished_frac", *HOST_COLUMNS, "collisions",
                 "mean_decision_latency_s", "jobs_arrived")
HEAD_REFERENCE = names(lambda m: m.consults_head and not m.learned)[0]
"""The head without learning (CRL-greedy): its saturation N names the side of each point."""
HOSTS = (*(("head", m, "head_utilization_mean", "head_backlog_max")
           for m in names(lambda m: m.consults_head, order=lambda m: m.learned)),
         *(("central shield host", m, "shield_host_utilization_mean", "shield_host_backlog_max_s")
           for m in names(lambda m: m.srole and m.shield == "central")),
         *(("busiest region host", m, "shield_host_utilization_mean", "shield_host_backlog_max_s")
           for m in names(lambda m: m.srole and m.shield == "decentralized")))
"""(host, the method whose rows measure it, utilisation column, backlog column) of the saturation table."""
FULL = 0.99
"""Mean utilisation from which a host counts as fully busy (a per-round mean: 1 exactly only if busy every round)."""
HALVES = ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))
"""The two disjoint seed halves a verdict is replicated on (METHODS rule 10); a profile passes its own
(``FairSpec.halves``)."""
OPPOSITE = {"better", "worse"}


def fair_frame(rows: list[dict[str, Any]], base: dict[str, Any], source_n: int) -> pd.DataFrame:
    """The rows with ``rho``, ``request_s`` (NaN for methods no host serves), ``policy``, ``mean_jct_finished``
    (``mean_jct``: finished jobs only) and ``unfinished_frac``; a row reached from two experiments is kept once."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.drop(columns=[c for c in ("job_jcts",) if c in frame.columns])
    with_rho(frame, base)
    req = frame["request_s"] if "request_s" in frame.columns else pd.Series(np.nan, frame.index)
    frame["request_s"] = np.where(frame["method"].isin(HOST_METHODS), pd.to_numeric(req, errors="coerce"), np.nan)
    with_policy(frame, LEARNED, source_n)
    frame["mean_jct_finished"] = frame["mean_jct"] if "mean_jct" in frame.columns else np.nan
    for col in ("jobs_arrived", "jobs_unfinished", *HOST_COLUMNS):
        if col not in frame.columns:
            frame[col] = np.nan
    frame["unfinished_frac"] = frame["jobs_unfinished"] / frame["jobs_arrived"].where(frame["jobs_arrived"] > 0)
    return frame.drop_duplicates(subset=["method", "seed", "n_edges", "rho", "policy", "request_s"]
                                 ).reset_index(drop=True)


def points_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (rho, N, request_s, method, policy): means over seeds of ``POINT_COLUMNS`` and the seed count."""
    out = point_means(frame, "request_s", POINT_COLUMNS)
    if out.empty:
        return out
    return out[["rho", "n_edges", "request_s", "method", "policy", "seeds",
                *(m for m in POINT_COLUMNS if m in frame.columns)]]


def saturation_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (request_s, rho, host): ``n_backlog``, the smallest N from which the host's mean backlog over seeds is > 0
    there and at every larger N (its queue grows), ``n_full``, the same for a mean utilisation >= ``FULL``, the
    largest N without a backlog, and the utilisation and backlog at ``n_backlog`` (``HOSTS``; transferred policies
    and non-learned methods)."""
    out = []
    if frame.empty:
        return pd.DataFrame()
    use = frame[frame["policy"].isin((SOURCE, FIXED))]
    for host, method, util, backlog in HOSTS:
        rows = use[use["method"] == method]
        for (req, rho), part in rows.groupby(["request_s", "rho"]):
            per = part.groupby("n_edges")[[util, backlog]].mean()
            sizes = pd.Series(per.index)
            n_backlog = first_n(sizes, pd.Series(per[backlog].fillna(0).to_numpy() > 0))
            n_full = first_n(sizes, pd.Series(per[util].fillna(0).to_numpy() >= FULL))
            clear = per.index[per.index < n_backlog] if np.isfinite(n_backlog) else per.index
            at = per.loc[n_backlog] if np.isfinite(n_backlog) else None
            out.append({"request_s": req, "rho": rho, "host": host, "method": method, "n_backlog": n_backlog,
                        "n_full": n_full, "largest_n_without_backlog": float(clear.max()) if len(clear) else math.nan,
                        "utilization_at_n_backlog": float(at[util]) if at is not None else math.nan,
                        "backlog_at_n_backlog": float(at[backlog]) if at is not None else math.nan,
                        "sizes": " ".join(str(int(n)) for n in per.index)})
    return pd.DataFrame(out)


def _side(sat: pd.DataFrame, req: float, rho: float, n: int) -> str:
    """Which side of the head's saturation (``HEAD_REFERENCE``'s ``n_backlog``) the point lies on."""
    if sat.empty or not np.isfinite(req):
        return "n/a"
    row = sat[(sat["request_s"] == req) & (sat["rho"] == rho) & (sat["method"] == HEAD_REFERENCE)]
    if row.empty:
        return "n/a"
    n_sat = float(row["n_backlog"].iloc[0])
    return "below saturation" if not np.isfinite(n_sat) or n < n_sat else "at/above saturation"


def _pair_rows(part: pd.DataFrame, policy: str) -> list[tuple[str, str, float, pd.DataFrame]]:
    """(SROLE, baseline, request_s, the rows to pair) of one point: SROLE and host baselines at the same
    ``request_s``; a baseline no host serves paired with SROLE at every ``request_s``."""
    use = part[part["policy"].isin((policy, FIXED))]
    reqs = sorted(use["request_s"].dropna().unique())
    out = []
    for srole in SROLE:
        for req in reqs:
            mine = use[(use["method"] == srole) & (use["request_s"] == req)]
            if mine.empty:
                continue
            for baseline in BASELINES:
                base = use[use["method"] == baseline]
                if baseline in HOST_METHODS:
                    base = base[base["request_s"] == req]
                if not base.empty:
                    out.append((srole, baseline, req, pd.concat([mine, base])))
    return out


def _verdict_rows(pair: pd.DataFrame, srole: str, baseline: str, seeds: list[int] | None = None) -> dict[str, Any]:
    """Paired rows of both JCTs keyed by metric (points with at least 2 paired seeds)."""
    return {r["metric"]: r for r in paired_rows(pair, [(srole, baseline)], metrics=JCT, seeds=seeds)
            if r["pairs"] >= 2}


def paired_table(frame: pd.DataFrame, sat: pd.DataFrame,
                 halves: tuple[tuple[int, ...], tuple[int, ...]] = HALVES) -> pd.DataFrame:
    """Per (policy, rho, N, request_s, comparison): SROLE's paired JCT reduction against the baseline on all jobs and
    on finished jobs ((baseline - SROLE) / baseline, BCa 95%), each verdict, ``sign_differs`` (one better, the other
    worse) and ``verdict_differs`` (any disagreement, e.g. significant on one and tied on the other; METHODS rule 14),
    the verdict on each of the two seed ``halves`` (where each has enough seeds) and ``halves_agree``, and which side
    of the head's saturation the point lies on."""
    out = []
    if frame.empty:
        return pd.DataFrame()
    for policy in (SOURCE, RETRAINED):
        for (rho, n), part in frame.groupby(["rho", "n_edges"], sort=True):
            for srole, baseline, req, pair in _pair_rows(part, policy):
                rows = _verdict_rows(pair, srole, baseline)
                if "mean_jct_all" not in rows:
                    continue
                a, f = rows["mean_jct_all"], rows.get("mean_jct_finished")
                va, vf = _point_verdict(a), (_point_verdict(f) if f else FEW)
                half = [_verdict_rows(pair, srole, baseline, list(h)).get("mean_jct_all") for h in halves]
                vh = [_point_verdict(h) if h and h["pairs"] >= MIN_PAIRS else "" for h in half]
                out.append({"policy": policy, "rho": rho, "n_edges": int(n), "request_s": req,
                            "comparison": f"{srole} vs {baseline}", "srole": srole, "baseline": baseline,
                            "reduction_all": a["paired_reduction"], "lo_all": a["paired_reduction_lo"],
                            "hi_all": a["paired_reduction_hi"], "verdict_all": va,
                            "reduction_finished": f["paired_reduction"] if f else math.nan,
                            "lo_finished": f["paired_reduction_lo"] if f else math.nan,
                            "hi_finished": f["paired_reduction_hi"] if f else math.nan, "verdict_finished": vf,
                            "sign_differs": {va, vf} == OPPOSITE,
                            "verdict_differs": FEW not in (va, vf) and va != vf,
                            "verdict_first_half": vh[0], "verdict_second_half": vh[1],
                            "halves_agree": (vh[0] == vh[1]) if all(vh) else math.nan,
                            "halves_opposite": set(vh) == OPPOSITE,
                            "pairs": a["pairs"], "side": _side(sat, req, rho, n)})
    return pd.DataFrame(out)


def improvement_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (rho, N, request_s, headline pair): the probability that SROLE's JCT (all jobs) is lower than the
    baseline's for a random pair of training seeds, with its bootstrap 95% interval (transferred policies)."""
    out = []
    if frame.empty:
        return pd.DataFrame()
    for (rho, n), part in frame.groupby(["rho", "n_edges"], sort=True):
        for srole, baseline, req, pair in _pair_rows(part, SOURCE):
            if (srole, baseline) not in HEADLINE:
                continue
            x = pair[pair["method"] == srole].groupby("seed")["mean_jct_all"].mean().to_numpy()
            y = pair[pair["method"] == baseline].groupby("seed")["mean_jct_all"].mean().to_numpy()
            if len(x) < MIN_PAIRS or len(y) < MIN_PAIRS:
                continue
            p = stats.probability_of_improvement(x, y)
            out.append({"rho": rho, "n_edges": int(n), "request_s": req, "comparison": f"{srole} vs {baseline}",
                        "probability_of_improvement": p.value, "lo": p.lo, "hi": p.hi, "seeds": len(x)})
    return pd.DataFrame(out)


def transfer_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (rho, N, learned method, request_s): the N = source model against the retrained one, paired over seeds
    (positive ``paired_reduction``: the transferred model's JCT is lower)."""
    out = []
    if frame.empty:
        return pd.DataFrame()
    for (rho, n), part in frame.groupby(["rho", "n_edges"]):
        for method in LEARNED:
            mine = part[part["method"] == method]
            if set(mine["policy"]) < {SOURCE, RETRAINED}:
                continue
            for req in sorted(mine["request_s"].dropna().unique()) or [math.nan]:
                sel = mine if not np.isfinite(req) else mine[mine["request_s"] == req]
                pair = sel.assign(method=sel["policy"])
                for r in paired_rows(pair, [(SOURCE, RETRAINED)], metrics=("mean_jct_all",)):
                    if r["pairs"] >= 2:
                        out.append({"rho": rho, "n_edges": int(n), "method": method, "request_s": req,
                                    "paired_reduction": r["paired_reduction"], "lo": r["paired_reduction_lo"],
                                    "hi": r["paired_reduction_hi"], "verdict": _point_verdict(r),
                                    "pairs": r["pairs"]})
    return pd.DataFrame(out)


def rule9_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per point, ``request_s`` and policy: each learned method's paired JCT reduction (all and finished jobs) against
    the heuristic with the same or less information (``COUNTERPARTS``); ``verdict`` *worse* marks a broken
    baseline (METHODS rule 9)."""
    out = []
    if frame.empty:
        return pd.DataFrame()
    for policy in (SOURCE, RETRAINED):
        use = frame[frame["policy"].isin((policy, FIXED))]
        for (rho, n), part in use.groupby(["rho", "n_edges"]):
            for learned, heuristic in COUNTERPARTS:
                mine = part[part["method"] == learned]
                if mine.empty or (mine["policy"] == policy).sum() == 0:
                    continue
                for req in sorted(mine["request_s"].dropna().unique()) or [math.nan]:
                    sel = part
                    if np.isfinite(req):
                        sel = part[(part["request_s"] == req) | part["request_s"].isna()]
                    rows = _verdict_rows(sel, learned, heuristic)
                    if "mean_jct_all" not in rows:
                        continue
                    a, f = rows["mean_jct_all"], rows.get("mean_jct_finished")
                    out.append({"policy": policy, "rho": rho, "n_edges": int(n), "request_s": req,
                                "learned": learned, "heuristic": heuristic,
                                "paired_reduction": a["paired_reduction"], "lo": a["paired_reduction_lo"],
                                "hi": a["paired_reduction_hi"], "verdict": _point_verdict(a),
                                "verdict_finished": _point_verdict(f) if f else FEW, "pairs": a["pairs"]})
    return pd.DataFrame(out)



# ---------------------------------------------------------------------- figures
LINE_STYLES = ("-", "--", "-.", ":", (0, (1, 3)), (0, (5, 1)))
"""Line style per ``request_s`` (in sweep order)."""


def jct_panels(points: pd.DataFrame, path: Any, metric: str = "mean_jct_all") -> bool:
    """Mean JCT against N per method, one panel per load; a host method gets one line per ``request_s`` (line
    style), a method no host serves one solid line (transferred policies and non-learned methods)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from srole_common.persist import save_figure
    from study.analysis.figures import style

    part = points[points["policy"].isin((SOURCE, FIXED))] if not points.empty else points
    if part.empty or metric not in part.columns:
        return False
    loads, reqs = sorted(part["rho"].unique()), sorted(part["request_s"].dropna().unique())
    fig, axes = plt.subplots(1, len(loads), figsize=(max(4.6 * len(loads), 10.0), 4.4), squeeze=False)
    for ax, rho in zip(axes[0], loads):
        sel = part[part["rho"] == rho]
        for method in dict.fromkeys(sel["method"]):
            m, st = sel[sel["method"] == method], style(method)
            groups = [(r, m[m["request_s"] == r]) for r in reqs] if method in HOST_METHODS else [(None, m)]
            for r, g in groups:
                if g.empty:
                    continue
                g = g.sort_values("n_edges")
                ls = "-" if r is None else LINE_STYLES[reqs.index(r) % len(LINE_STYLES)]
                label = method if r is None else f"{method} {1e3 * r:g} ms"
                ax.plot(g["n_edges"], g[metric], marker=st["marker"], color=st["color"], linestyle=ls, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("cluster size N (edges)")
        ax.set_ylabel(f"{metric} (s)")
        ax.set_title(f"rho = {rho:g}", fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=7, frameon=False)
    fig.suptitle("Mean JCT against N (line style: request_s, the same for the head and every shield host)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.25, 1, 0.95))
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return True


def saturation_figure(sat: pd.DataFrame, path: Any) -> bool:
    """The N from which each host's queue grows against ``request_s``, one panel per load (hosts that never
    saturate within the map's sizes are left out of their panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from srole_common.persist import save_figure

    found = sat[np.isfinite(sat["n_backlog"].astype(float))] if not sat.empty else sat
    if found.empty:
        return False
    loads = sorted(sat["rho"].unique())
    fig, axes = plt.subplots(1, len(loads), figsize=(4.4 * len(loads), 3.8), squeeze=False)
    for ax, rho in zip(axes[0], loads):
        for (host, method), g in found[found["rho"] == rho].groupby(["host", "method"]):
            g = g.sort_values("request_s")
            ax.plot(1e3 * g["request_s"], g["n_backlog"], marker="o", label=f"{host} ({method})")
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("request_s (ms per request)")
        ax.set_ylabel("N from which the queue grows")
        ax.set_title(f"rho = {rho:g}", fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:  # no host saturates at this load within the map's sizes
            ax.text(0.5, 0.5, "no host saturates\nwithin the map's sizes", transform=ax.transAxes, ha="center",
                    va="center", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return True
