"""The crossover map's tables and figures: per point the methods' figures, the head's saturation size N* per load and
head time, SROLE's paired reductions on each side of it, the transfer gap and METHODS rule 9 (a learned method against
its counterpart); crossover_report writes them with the prose.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import save_figure
from srole_env.load import offered_load
from study.analysis.paired_tables import paired_rows
from study.analysis.regime_tables import FEW, MIN_PAIRS, VERDICT_WORDS, head_label
from study.experiments.crossover_profile import LEARNED
from study.experiments.roster import COUNTERPARTS, HEAD_METHODS, SROLE, names

BASELINES = names(lambda m: m.headline > 0 or m.consults_head, order=lambda m: not m.headline)
"""What SROLE's reductions are measured against (CRL and MARL: the paper's; CRL-greedy: the head without learning)."""
SOURCE, RETRAINED, FIXED = "transferred", "retrained", "-"
"""``policy`` of a row: a learned model trained at the source N (``MapSpec.source``) and run unchanged here, one
retrained at this N, or a non-learned method (at the source N the two learned policies are the same model)."""
METRICS = ("mean_jct_all", "collisions", "mean_utilization")
"""Paired per point: JCT and collisions (a reduction is better), utilisation (reported as a relative difference)."""
POINT_METRICS = ("mean_jct_all", "unfinished_frac", "jobs_arrived", "collisions", "oom_kills", "mean_utilization",
                 "mean_decision_latency_s", "head_backlog_max", "head_decision_latency_mean_s", "head_utilization_mean")
HEAD_STYLES = {0: "-", 1: "--", 2: ":"}


# ---------------------------------------------------------------------- tables
def with_rho(frame: pd.DataFrame, base: dict[str, Any]) -> None:
    """Add ``rho`` (the offered load of each row's N and arrival rate at ``base``, to 2 decimals) to a map's rows."""
    keys = frame[["n_edges", "arrival_rate"]].drop_duplicates()
    rho = {(n, r): round(offered_load({**base, "n_edges": int(n), "arrival_rate": float(r)}), 2)
           for n, r in keys.itertuples(index=False)}
    frame["rho"] = [rho[(n, r)] for n, r in zip(frame["n_edges"], frame["arrival_rate"])]


def with_policy(frame: pd.DataFrame, learned: tuple[str, ...], source_n: int) -> None:
    """Add ``policy``: ``SOURCE`` for a learned model trained at ``source_n``, ``RETRAINED`` for one trained at its
    own N, ``FIXED`` for the non-learned methods."""
    retrained = (frame["experiment"] == "trained") & (frame["n_edges"] != source_n)
    frame["policy"] = np.where(frame["method"].isin(learned), np.where(retrained, RETRAINED, SOURCE), FIXED)


def crossover_frame(rows: list[dict[str, Any]], base: dict[str, Any], source_n: int) -> pd.DataFrame:
    """The rows with ``rho``, ``head_service_s`` (NaN for methods that never consult the head), ``policy`` (module
    constants) and ``unfinished_frac``; a non-learned row reached from two experiments is kept once."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.drop(columns=[c for c in ("job_jcts",) if c in frame.columns])
    with_rho(frame, base)
    head = frame["head_bookkeeping_s"] if "head_bookkeeping_s" in frame.columns else pd.Series(np.nan, frame.index)
    frame["head_service_s"] = np.where(frame["method"].isin(HEAD_METHODS), head, np.nan)
    with_policy(frame, LEARNED, source_n)
    arrived = frame["jobs_arrived"] if "jobs_arrived" in frame.columns else pd.Series(np.nan, frame.index)
    unfinished = frame["jobs_unfinished"] if "jobs_unfinished" in frame.columns else pd.Series(np.nan, frame.index)
    frame["unfinished_frac"] = unfinished / arrived.where(arrived > 0)
    keys = ["method", "seed", "n_edges", "rho", "policy", "head_service_s"]
    return frame.drop_duplicates(subset=keys).reset_index(drop=True)


def point_means(frame: pd.DataFrame, axis: str, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Per (rho, N, ``axis``, method, policy): means over seeds of ``metrics`` (those the frame has) and the seed
    count; ``axis`` NaN (a method the axis does not apply to) stays NaN."""
    if frame.empty:
        return pd.DataFrame()
    keys = ["rho", "n_edges", axis, "method", "policy"]
    present = [m for m in metrics if m in frame.columns]
    g = frame.assign(**{axis: frame[axis].fillna(-1.0)}).groupby(keys)
    out = g[present].mean()
    out["seeds"] = g["seed"].nunique()
    out = out.reset_index()
    out[axis] = out[axis].where(out[axis] >= 0)
    return out


def points_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (rho, N, head time, method, policy): means over seeds of ``POINT_METRICS`` and the seed count."""
    return point_means(frame, "head_service_s", POINT_METRICS)


def first_n(sizes: pd.Series, flags: pd.Series) -> float:
    """The smallest N whose flag is true such that every larger N's flag is true too (NaN when none): a crossover,
    not a blip."""
    order = np.argsort(sizes.to_numpy())
    n, f = sizes.to_numpy()[order], flags.to_numpy(bool)[order]
    for i in range(len(n)):
        if f[i:].all():
            return float(n[i])
    return math.nan


def nstar_table(frame: pd.DataFrame, method: str = "CRL", policy: str = SOURCE) -> pd.DataFrame:
    """Per (head time, rho): N*_head, the smallest N from which the head backlogs (``method``'s mean
    ``head_backlog_max`` over seeds > 0 there and at every larger N), and N*_shield, the smallest N from which the
    central shield's mean decision latency exceeds the decentralized shields' (SROLE-central against
    SROLE-decentralized, ``mean_decision_latency_s``; the same at every head time). Also the largest N without a
    backlog and the sizes looked at."""
    if frame.empty or "head_backlog_max" not in frame.columns:
        return pd.DataFrame(columns=["head_service_s", "rho", "n_star_head", "n_star_shield"])
    shield = {}
    lat = frame[frame["method"].isin(SROLE) & frame["policy"].isin((policy, FIXED))]
    if "mean_decision_latency_s" in lat.columns and not lat.empty:
        for rho, part in lat.groupby("rho"):
            per = part.groupby(["n_edges", "method"])["mean_decision_latency_s"].mean().unstack()
            if set(SROLE) <= set(per.columns):
                per = per.dropna()
                shield[rho] = first_n(pd.Series(per.index), per["SROLE-central"] > per["SROLE-decentralized"])
    head = frame[(frame["method"] == method) & frame["policy"].isin((policy, FIXED))]
    out = []
    for (h, rho), part in head.groupby(["head_service_s", "rho"]):
        per = part.groupby("n_edges")["head_backlog_max"].mean()
        n_star = first_n(pd.Series(per.index), per > 0)
        clear = per[per.index < n_star] if np.isfinite(n_star) else per
        out.append({"head_service_s": h, "rho": rho, "method": method, "n_star_head": n_star,
                    "largest_n_without_backlog": float(clear.index.max()) if len(clear) else math.nan,
                    "backlog_at_n_star": float(per.get(n_star, math.nan)) if np.isfinite(n_star) else math.nan,
                    "sizes": " ".join(str(int(n)) for n in per.index),
                    "n_star_shield": shield.get(rho, math.nan)})
    return pd.DataFrame(out)


def _comparison_rows(part: pd.DataFrame, srole: str, baseline: str, metrics: tuple[str, ...]) -> list[dict]:

    return [r for r in paired_rows(part, [(srole, baseline)], metrics=metrics) if r["pairs"] >= 2]


NEUTRAL = ("mean_utilization",)
"""Metrics where neither direction is better: their verdicts read *lower* / *higher* (SROLE's value), not better."""


def _point_verdict(r: dict[str, Any]) -> str:
    """A paired row's verdict in the map's words: better, worse or tied (lower/higher for a neutral metric)."""
    if r["pairs"] < MIN_PAIRS:
        return FEW
    word = r["verdict"].rsplit(" ", 1)[-1]
    if r.get("metric") in NEUTRAL:
        return word if word in ("lower", "higher") else "tied"
    return VERDICT_WORDS.get(word, "tied")


def _pairs(part: pd.DataFrame, policy: str) -> list[tuple[str, str, float, pd.DataFrame]]:
    """(SROLE, baseline, head time, the rows to pair) of one point for one policy variant."""
    use = part[part["policy"].isin((policy, FIXED))]
    heads = sorted(use["head_service_s"].dropna().unique())
    out = []
    for srole in SROLE:
        mine = use[use["method"] == srole]
        if mine.empty:
            continue
        for baseline in BASELINES:
            base = use[use["method"] == baseline]
            for h in ([math.nan] if baseline not in HEAD_METHODS else heads):
                sel = base if baseline not in HEAD_METHODS else base[base["head_service_s"] == h]
                if not sel.empty:
                    out.append((srole, baseline, h, pd.concat([mine, sel])))
    return out


def crossover_table(frame: pd.DataFrame, nstar: pd.DataFrame) -> pd.DataFrame:
    """Per (policy, rho, N, head time, comparison, metric): SROLE's paired reduction against the baseline over
    training seeds ((baseline - SROLE) / baseline, BCa 95%), its verdict, and which side of N*_head the point lies
    on (for an edge baseline, each head time's side is given by repeating the row per head time)."""
    out = []
    if frame.empty:
        return pd.DataFrame()
    heads_all = sorted(frame["head_service_s"].dropna().unique())
    for policy in (SOURCE, RETRAINED):
        for (rho, n), part in frame.groupby(["rho", "n_edges"], sort=True):
            for srole, baseline, h, pair in _pairs(part, policy):
                for r in _comparison_rows(pair, srole, baseline, METRICS):
                    for side_head in ([h] if np.isfinite(h) else heads_all or [math.nan]):
                        out.append({"policy": policy, "rho": rho, "n_edges": int(n), "head_service_s": side_head,
                                    "baseline_consults_head": baseline in HEAD_METHODS,
                                    "comparison": f"{srole} vs {baseline}", "srole": srole, "baseline": baseline,
                                    "metric": r["metric"], "paired_reduction": r["paired_reduction"],
                                    "lo": r["paired_reduction_lo"], "hi": r["paired_reduction_hi"],
                                    "verdict": _point_verdict(r), "p_value": r["p_value"], "wins": r["wins"],
                                    "pairs": r["pairs"], "side": _side(nstar, side_head, rho, n)})
    table = pd.DataFrame(out)
    if not table.empty:
        table["trained"] = table["policy"] == RETRAINED
    return table


def _side(nstar: pd.DataFrame, head: float, rho: float, n: int) -> str:
    if nstar.empty or not np.isfinite(head):
        return "n/a"
    row = nstar[(nstar["head_service_s"] == head) & (nstar["rho"] == rho)]
    if "method" in row.columns and (row["method"] == "CRL").any():  # CRL's N*; CRL-greedy's where CRL has none
        row = row[row["method"] == "CRL"]
    if row.empty:
        return "n/a"
    n_star = float(row["n_star_head"].iloc[0])
    return "below N*" if not np.isfinite(n_star) or n < n_star else "at/above N*"


def sides_table(frame: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per (head time, rho, comparison, metric, side of N*_head): the paired reduction pooled over the side's N
    (each seed's mean over those N, then paired over seeds), with the N it pools."""
    out = []
    if table.empty:
        return pd.DataFrame()
    src = table[table["policy"] == SOURCE]
    for (h, rho, comparison, side), part in src.groupby(["head_service_s", "rho", "comparison", "side"]):
        if side == "n/a":
            continue
        sizes = sorted(part["n_edges"].unique())
        srole, baseline = comparison.split(" vs ")
        rows = frame[(frame["rho"] == rho) & frame["n_edges"].isin(sizes) & frame["policy"].isin((SOURCE, FIXED))]
        rows = rows[(rows["method"] == srole) | ((rows["method"] == baseline)
                                                 & ((rows["head_service_s"] == h) if baseline in HEAD_METHODS
                                                    else True))]
        for r in _comparison_rows(rows, srole, baseline, METRICS):
            out.append({"head_service_s": h, "rho": rho, "comparison": comparison, "side": side,
                        "sizes": " ".join(str(int(n)) for n in sizes), "metric": r["metric"],
                        "paired_reduction": r["paired_reduction"], "lo": r["paired_reduction_lo"],
                        "hi": r["paired_reduction_hi"], "verdict": _point_verdict(r), "pairs": r["pairs"]})
    return pd.DataFrame(out)


def transfer_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (rho, N, learned method[, head time]): the model trained at N = 20 against the one retrained at this N,
    paired over seeds: the transfer gap (positive ``paired_reduction``: the transferred model's JCT is lower)."""
    out = []
    if frame.empty:
        return pd.DataFrame()
    for (rho, n), part in frame.groupby(["rho", "n_edges"]):
        for method in LEARNED:
            mine = part[part["method"] == method]
            if set(mine["policy"]) < {SOURCE, RETRAINED}:
                continue
            heads = sorted(mine["head_service_s"].dropna().unique()) or [math.nan]
            for h in heads:
                sel = mine if not np.isfinite(h) else mine[mine["head_service_s"] == h]
                pair = sel.assign(method=sel["policy"])
                for r in _comparison_rows(pair, SOURCE, RETRAINED, ("mean_jct_all",)):
                    out.append({"rho": rho, "n_edges": int(n), "method": method, "head_service_s": h,
                                "paired_reduction": r["paired_reduction"], "lo": r["paired_reduction_lo"],
                                "hi": r["paired_reduction_hi"], "verdict": _point_verdict(r), "pairs": r["pairs"]})
    return pd.DataFrame(out)


RULE9 = COUNTERPARTS
"""(learned method, the heuristic with the same or less information): METHODS rule 9 says the first must not lose."""


def rule9_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per point (and head time for the head pair): each learned method's paired JCT reduction against its heuristic
    (``RULE9``), policy trained at the source N; ``verdict`` *worse* marks a learned baseline below its heuristic."""
    out = []
    if frame.empty:
        return pd.DataFrame()
    use = frame[frame["policy"].isin((SOURCE, FIXED))]
    for (rho, n), part in use.groupby(["rho", "n_edges"]):
        for learned, heuristic in RULE9:
            heads = sorted(part.loc[part["method"] == learned, "head_service_s"].dropna().unique()) or [math.nan]
            for h in heads:
                sel = part if not np.isfinite(h) else part[part["head_service_s"] == h]
                for r in _comparison_rows(sel, learned, heuristic, ("mean_jct_all",)):
                    out.append({"rho": rho, "n_edges": int(n), "head_service_s": h, "learned": learned,
                                "heuristic": heuristic, "paired_reduction": r["paired_reduction"],
                                "lo": r["paired_reduction_lo"], "hi": r["paired_reduction_hi"],
                                "verdict": _point_verdict(r), "pairs": r["pairs"]})
    return pd.DataFrame(out)


# ---------------------------------------------------------------------- figures
def panels(points: pd.DataFrame, metric: str, path: Path, methods: tuple[str, ...], ylabel: str,
            title: str, logy: bool = True) -> bool:
    """One panel per load: ``metric`` against N (log) per method (policy from N=20 and non-learned methods); a
    head-consulting method gets one line per head time (line style: head time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from study.analysis.figures import style

    part = points[points["method"].isin(methods) & points["policy"].isin((SOURCE, FIXED))]
    if part.empty or metric not in part.columns:
        return False
    loads = sorted(part["rho"].unique())
    heads = sorted(part["head_service_s"].dropna().unique())
    fig, axes = plt.subplots(1, len(loads), figsize=(4.6 * len(loads), 4.2), squeeze=False)
    for ax, rho in zip(axes[0], loads):
        sel = part[part["rho"] == rho]
        for method in methods:
            m = sel[sel["method"] == method]
            if m.empty:
                continue
            st = style(method)
            groups = [(h, m[m["head_service_s"] == h]) for h in heads] if method in HEAD_METHODS else [(None, m)]
            for h, g in groups:
                g = g.sort_values("n_edges")
                if g.empty:
                    continue
                ls = HEAD_STYLES.get(heads.index(h), "-.") if h is not None else "-"
                label = method if h is None else f"{method} {head_label(h)}"
                ax.plot(g["n_edges"], g[metric], marker=st["marker"], color=st["color"], linestyle=ls, label=label)
        ax.set_xscale("log")
        sizes = sorted(sel["n_edges"].unique())
        ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])
        ax.minorticks_off()
        if logy:
            ax.set_yscale("symlog", linthresh=1e-3) if (sel[metric] <= 0).any() else ax.set_yscale("log")
        ax.set_xlabel("cluster size N (edges)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"rho = {rho:g}", fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for hd, lb in zip(*ax.get_legend_handles_labels()):
            if lb not in labels:
                handles.append(hd)
                labels.append(lb)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.18, 1, 0.95))
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return True
