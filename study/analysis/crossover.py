"""The crossover map's report (``docs/ceiling.md``): where the cluster head (CRL) backlogs, where the central shield
becomes slower than the decentralized ones, and SROLE's reductions against CRL and MARL on each side of those sizes (the
profiles: ``study.experiments.crossover``).

Files ``write_report`` writes: ``methods.csv`` (every evaluation row, with ``rho``, ``head_decision_s``, ``policy``
and ``unfinished_frac`` = ``jobs_unfinished / jobs_arrived``), ``points.csv`` (per point and method: means over
seeds, the unfinished fraction beside the JCT), ``nstar.csv`` (per head time and load: N* of the head backlog and of
the shields' latency), ``crossover.csv`` (per point: paired reductions of JCT, collisions and utilisation),
``sides.csv`` (the same pooled over the N below and at/above N*), ``transfer.csv`` (models trained at N = 20 against
retrained ones), the figures and ``summary.md``, whose reading is generated from these tables.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import atomic_write, save_figure, write_frame
from srole_env.load import offered_load
from study.analysis.paper import paper_figures
from study.analysis.regime import FEW, MIN_PAIRS, VERDICT_WORDS, head_label, heatmap, where_points
from study.analysis.run_status import cell_counts, status_sections
from study.experiments.crossover import LEARNED, map_spec
from study.experiments.roster import COUNTERPARTS, EDGE_LEARNED, HEAD_METHODS, SROLE, names

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
def crossover_frame(rows: list[dict[str, Any]], base: dict[str, Any], source_n: int) -> pd.DataFrame:
    """The rows with ``rho``, ``head_decision_s`` (NaN for methods that never consult the head), ``policy`` (module
    constants) and ``unfinished_frac``; a non-learned row reached from two experiments is kept once."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.drop(columns=[c for c in ("job_jcts",) if c in frame.columns])
    keys = frame[["n_edges", "arrival_rate"]].drop_duplicates()
    rho = {(n, r): round(offered_load({**base, "n_edges": int(n), "arrival_rate": float(r)}), 2)
           for n, r in keys.itertuples(index=False)}
    frame["rho"] = [rho[(n, r)] for n, r in zip(frame["n_edges"], frame["arrival_rate"])]
    head = frame["head_bookkeeping_s"] if "head_bookkeeping_s" in frame.columns else pd.Series(np.nan, frame.index)
    frame["head_decision_s"] = np.where(frame["method"].isin(HEAD_METHODS), head, np.nan)
    learned = frame["method"].isin(LEARNED)
    retrained = (frame["experiment"] == "trained") & (frame["n_edges"] != source_n)
    frame["policy"] = np.where(learned, np.where(retrained, RETRAINED, SOURCE), FIXED)
    arrived = frame["jobs_arrived"] if "jobs_arrived" in frame.columns else pd.Series(np.nan, frame.index)
    unfinished = frame["jobs_unfinished"] if "jobs_unfinished" in frame.columns else pd.Series(np.nan, frame.index)
    frame["unfinished_frac"] = unfinished / arrived.where(arrived > 0)
    keys = ["method", "seed", "n_edges", "rho", "policy", "head_decision_s"]
    return frame.drop_duplicates(subset=keys).reset_index(drop=True)


def points_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (rho, N, head time, method, policy): means over seeds of ``POINT_METRICS`` and the seed count."""
    if frame.empty:
        return pd.DataFrame()
    keys = ["rho", "n_edges", "head_decision_s", "method", "policy"]
    metrics = [m for m in POINT_METRICS if m in frame.columns]
    g = frame.assign(head_decision_s=frame["head_decision_s"].fillna(-1.0)).groupby(keys)
    out = g[metrics].mean()
    out["seeds"] = g["seed"].nunique()
    out = out.reset_index()
    out["head_decision_s"] = out["head_decision_s"].where(out["head_decision_s"] >= 0)
    return out


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
        return pd.DataFrame(columns=["head_decision_s", "rho", "n_star_head", "n_star_shield"])
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
    for (h, rho), part in head.groupby(["head_decision_s", "rho"]):
        per = part.groupby("n_edges")["head_backlog_max"].mean()
        n_star = first_n(pd.Series(per.index), per > 0)
        clear = per[per.index < n_star] if np.isfinite(n_star) else per
        out.append({"head_decision_s": h, "rho": rho, "method": method, "n_star_head": n_star,
                    "largest_n_without_backlog": float(clear.index.max()) if len(clear) else math.nan,
                    "backlog_at_n_star": float(per.get(n_star, math.nan)) if np.isfinite(n_star) else math.nan,
                    "sizes": " ".join(str(int(n)) for n in per.index),
                    "n_star_shield": shield.get(rho, math.nan)})
    return pd.DataFrame(out)


def _comparison_rows(part: pd.DataFrame, srole: str, baseline: str, metrics: tuple[str, ...]) -> list[dict]:
    from study.analysis.decisive import paired_rows

    return [r for r in paired_rows(part, [(srole, baseline)], metrics=metrics) if r["pairs"] >= 2]


NEUTRAL = ("mean_utilization",)
"""Metrics where neither direction is better: their verdicts read *lower* / *higher* (SROLE's value), not better."""


def _verdict(r: dict[str, Any]) -> str:
    if r["pairs"] < MIN_PAIRS:
        return FEW
    word = r["verdict"].rsplit(" ", 1)[-1]
    if r.get("metric") in NEUTRAL:
        return word if word in ("lower", "higher") else "tied"
    return VERDICT_WORDS.get(word, "tied")


def _pairs(part: pd.DataFrame, policy: str) -> list[tuple[str, str, float, pd.DataFrame]]:
    """(SROLE, baseline, head time, the rows to pair) of one point for one policy variant."""
    use = part[part["policy"].isin((policy, FIXED))]
    heads = sorted(use["head_decision_s"].dropna().unique())
    out = []
    for srole in SROLE:
        mine = use[use["method"] == srole]
        if mine.empty:
            continue
        for baseline in BASELINES:
            base = use[use["method"] == baseline]
            for h in ([math.nan] if baseline not in HEAD_METHODS else heads):
                sel = base if baseline not in HEAD_METHODS else base[base["head_decision_s"] == h]
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
    heads_all = sorted(frame["head_decision_s"].dropna().unique())
    for policy in (SOURCE, RETRAINED):
        for (rho, n), part in frame.groupby(["rho", "n_edges"], sort=True):
            for srole, baseline, h, pair in _pairs(part, policy):
                for r in _comparison_rows(pair, srole, baseline, METRICS):
                    for side_head in ([h] if np.isfinite(h) else heads_all or [math.nan]):
                        out.append({"policy": policy, "rho": rho, "n_edges": int(n), "head_decision_s": side_head,
                                    "baseline_consults_head": baseline in HEAD_METHODS,
                                    "comparison": f"{srole} vs {baseline}", "srole": srole, "baseline": baseline,
                                    "metric": r["metric"], "paired_reduction": r["paired_reduction"],
                                    "lo": r["paired_reduction_lo"], "hi": r["paired_reduction_hi"],
                                    "verdict": _verdict(r), "p_value": r["p_value"], "wins": r["wins"],
                                    "pairs": r["pairs"], "side": _side(nstar, side_head, rho, n)})
    table = pd.DataFrame(out)
    if not table.empty:
        table["trained"] = table["policy"] == RETRAINED
    return table


def _side(nstar: pd.DataFrame, head: float, rho: float, n: int) -> str:
    if nstar.empty or not np.isfinite(head):
        return "n/a"
    row = nstar[(nstar["head_decision_s"] == head) & (nstar["rho"] == rho)]
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
    for (h, rho, comparison, side), part in src.groupby(["head_decision_s", "rho", "comparison", "side"]):
        if side == "n/a":
            continue
        sizes = sorted(part["n_edges"].unique())
        srole, baseline = comparison.split(" vs ")
        rows = frame[(frame["rho"] == rho) & frame["n_edges"].isin(sizes) & frame["policy"].isin((SOURCE, FIXED))]
        rows = rows[(rows["method"] == srole) | ((rows["method"] == baseline)
                                                 & ((rows["head_decision_s"] == h) if baseline in HEAD_METHODS
                                                    else True))]
        for r in _comparison_rows(rows, srole, baseline, METRICS):
            out.append({"head_decision_s": h, "rho": rho, "comparison": comparison, "side": side,
                        "sizes": " ".join(str(int(n)) for n in sizes), "metric": r["metric"],
                        "paired_reduction": r["paired_reduction"], "lo": r["paired_reduction_lo"],
                        "hi": r["paired_reduction_hi"], "verdict": _verdict(r), "pairs": r["pairs"]})
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
            heads = sorted(mine["head_decision_s"].dropna().unique()) or [math.nan]
            for h in heads:
                sel = mine if not np.isfinite(h) else mine[mine["head_decision_s"] == h]
                pair = sel.assign(method=sel["policy"])
                for r in _comparison_rows(pair, SOURCE, RETRAINED, ("mean_jct_all",)):
                    out.append({"rho": rho, "n_edges": int(n), "method": method, "head_decision_s": h,
                                "paired_reduction": r["paired_reduction"], "lo": r["paired_reduction_lo"],
                                "hi": r["paired_reduction_hi"], "verdict": _verdict(r), "pairs": r["pairs"]})
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
            heads = sorted(part.loc[part["method"] == learned, "head_decision_s"].dropna().unique()) or [math.nan]
            for h in heads:
                sel = part if not np.isfinite(h) else part[part["head_decision_s"] == h]
                for r in _comparison_rows(sel, learned, heuristic, ("mean_jct_all",)):
                    out.append({"rho": rho, "n_edges": int(n), "head_decision_s": h, "learned": learned,
                                "heuristic": heuristic, "paired_reduction": r["paired_reduction"],
                                "lo": r["paired_reduction_lo"], "hi": r["paired_reduction_hi"],
                                "verdict": _verdict(r), "pairs": r["pairs"]})
    return pd.DataFrame(out)


# ---------------------------------------------------------------------- figures
def _panels(points: pd.DataFrame, metric: str, path: Path, methods: tuple[str, ...], ylabel: str,
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
    heads = sorted(part["head_decision_s"].dropna().unique())
    fig, axes = plt.subplots(1, len(loads), figsize=(4.6 * len(loads), 4.2), squeeze=False)
    for ax, rho in zip(axes[0], loads):
        sel = part[part["rho"] == rho]
        for method in methods:
            m = sel[sel["method"] == method]
            if m.empty:
                continue
            st = style(method)
            groups = [(h, m[m["head_decision_s"] == h]) for h in heads] if method in HEAD_METHODS else [(None, m)]
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


# ---------------------------------------------------------------------- the report
def _pct(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{100 * v:+.1f}%" if abs(v) < 0.095 else f"{100 * v:+.0f}%"


def _n(v: float) -> str:
    return "none up to the largest N" if v is None or not np.isfinite(v) else f"{int(v):,}"


def write_report(profile: Any, rows: list[dict[str, Any]], curves: list[dict[str, Any]], out: Path,
                 run: Any) -> None:
    """The tables, figures and ``summary.md`` of the module docstring."""
    from study.analysis.report import markdown_table

    out = Path(out)
    spec = map_spec(profile.name)
    frame = crossover_frame(rows, dict(spec.base), spec.source)
    points = points_table(frame)
    nstar = pd.concat([t for t in (nstar_table(frame, m) for m in HEAD_METHODS) if not t.empty] or
                      [nstar_table(frame)], ignore_index=True)
    table = crossover_table(frame, nstar)
    sides = sides_table(frame, table)
    transfer = transfer_table(frame)
    rule9 = rule9_table(frame)
    for name, t in (("methods.csv", frame), ("points.csv", points), ("nstar.csv", nstar), ("crossover.csv", table),
                    ("sides.csv", sides), ("transfer.csv", transfer), ("rule9.csv", rule9)):
        write_frame(out / name, t)
    figures = []
    if not points.empty:
        if _panels(points, "mean_jct_all", out / "jct_vs_n.png", ("CRL", "CRL-greedy", *EDGE_LEARNED,
                   "least_loaded", "least_loaded+central", "greedy-reference"), "mean JCT, all jobs (s)",
                   "Mean JCT against N (line style: head service time per decision)"):
            figures.append(("JCT against N", "jct_vs_n.png"))
        if _panels(points, "head_backlog_max", out / "head_backlog_vs_n.png", HEAD_METHODS,
                   "largest head backlog (decisions)", "The head's backlog against N"):
            figures.append(("head backlog against N", "head_backlog_vs_n.png"))
        if _panels(points, "mean_decision_latency_s", out / "shield_latency_vs_n.png",
                   ("SROLE-central", "SROLE-decentralized", "least_loaded+central", "MARL"),
                   "decision latency per placed task (s)", "Decision latency (shields) against N"):
            figures.append(("shield latency against N", "shield_latency_vs_n.png"))
    for old in out.glob("heatmap_*.png"):
        old.unlink()
    jct = table[(table["metric"] == "mean_jct_all") & (table["policy"] == SOURCE)] if not table.empty else table
    for comparison in dict.fromkeys(jct["comparison"]) if not jct.empty else []:
        sel = jct[jct["comparison"] == comparison]
        if not sel["baseline_consults_head"].any():  # one panel: the head time does not enter
            sel = sel[sel["head_decision_s"] == sel["head_decision_s"].min()].assign(head_decision_s=math.nan)
        name = f"heatmap_{comparison.replace(' vs ', '_vs_').replace(' ', '_')}.png"
        heatmap(sel.assign(trained=True), comparison, out / name, None)
        figures.append((comparison, name))
    md = _summary(profile, spec, frame, points, nstar, table, sides, transfer, figures, run, markdown_table)
    md += _rule9_section(rule9)
    md += [*status_sections(out, run, markdown_table), ""]
    atomic_write(out / "summary.md", "\n".join(md) + "\n")


def _summary(profile: Any, spec: Any, frame: pd.DataFrame, points: pd.DataFrame, nstar: pd.DataFrame,
             table: pd.DataFrame, sides: pd.DataFrame, transfer: pd.DataFrame, figures: list[tuple[str, str]],
             run: Any, markdown_table: Any) -> list[str]:
    from study.analysis.report import wall_line

    lines = [f"# The crossover map (profile `{profile.name}`)", "",
             f"Generated by `srole reproduce --profile {profile.name}` (`study.analysis.crossover`); every number "
             "below comes from the CSV files beside this file.", "",
             "## Design", "",
             f"- N = {', '.join(f'{n:,}' for n in spec.sizes)}; rho = {', '.join(f'{r:g}' for r in sorted(spec.loads))}"
             f" (`srole_env.load.rate_for_load`, `{spec.base['scenario']}` scenario); horizon per load "
             f"{dict(sorted(spec.horizon.items()))} rounds; head service per decision (`head_bookkeeping_s`) "
             f"{', '.join(head_label(h) for h in spec.heads)} (the last: the measured `crl_idqn` decision scaled to "
             "the head's device class, `study/experiments/data/head_cost.json`).",
             f"- Learned methods trained at N = {', '.join(f'{n:,}' for n in spec.trained)} ({profile.rounds:,} "
             f"rounds, seeds {list(spec.seeds)}); the N = {spec.source} models run unchanged at every larger N "
             f"(policy `{SOURCE}`), the retrained ones are policy `{RETRAINED}`. Evaluation episodes per seed: "
             f"{spec.eval_episodes} below N = {spec.large_from:,}, {spec.large_episodes} from there. Regions of the "
             "decentralized shield: `max(4, round(N / 12.5))`.",
             "- Paired reduction = (baseline - SROLE) / baseline over per-seed means, BCa 95% interval; *better* / "
             "*worse* when the paired difference's interval excludes zero, else *tied*; fewer than "
             f"{MIN_PAIRS} paired seeds: `{FEW}`. For `mean_utilization` (neither direction is better) the verdict "
             "reads *lower* / *higher* (SROLE's utilisation) and a positive reduction means SROLE's is lower.", "",
             f"**Cost**: {run.compute_s / 60:.1f} min of cell compute time ({cell_counts(run)}); {wall_line(run)}.", ""]
    history = getattr(run, "history", None) or []
    if history:
        hist = pd.DataFrame(history)
        cols = [c for c in ("finished", "wall_s", "workers", "cells_computed", "cells", "machine") if c in hist]
        lines += ["Runs that computed cells (`runs.json`):", "", markdown_table(hist, cols), ""]
    if frame.empty:
        return lines + ["No results yet."]
    missing = missing_points(spec, frame)
    if missing:
        lines += [f"**Missing** (not run yet, failed, or fewer than {len(spec.seeds)} seeds): " + "; ".join(missing)
                  + ".", ""]
    lines += ["## Where the head backlogs and where the central shield falls behind (N*)", "",
              "`n_star_head`: the smallest N from which the head carries decisions over (mean `head_backlog_max` "
              "over seeds > 0 there and at every larger N), for CRL and for CRL-greedy (the side of N* in the tables "
              "below is CRL's); `n_star_shield`: the smallest N from which SROLE-central's "
              "mean decision latency exceeds SROLE-decentralized's.", ""]
    if not nstar.empty:
        ns = nstar.assign(head=nstar["head_decision_s"].map(head_label),
                          n_star_head=nstar["n_star_head"].map(_n), n_star_shield=nstar["n_star_shield"].map(_n))
        lines += [markdown_table(ns, ["method", "head", "rho", "n_star_head", "backlog_at_n_star",
                                      "largest_n_without_backlog", "n_star_shield", "sizes"]), ""]
    lines += ["## Mean JCT per point (unfinished fraction of arrived jobs in brackets)", ""]
    if not points.empty:
        pts = points[points["policy"].isin((SOURCE, FIXED))].copy()
        pts["label"] = [m if not np.isfinite(h) else f"{m} {head_label(h)}"
                        for m, h in zip(pts["method"], pts["head_decision_s"])]
        pts["cell"] = [f"{j:,.1f} ({100 * u:.0f}%)" if np.isfinite(u) else f"{j:,.1f}"
                       for j, u in zip(pts["mean_jct_all"], pts.get("unfinished_frac", pd.Series(np.nan, pts.index)))]
        wide = pts.pivot_table(index=["rho", "n_edges"], columns="label", values="cell", aggfunc="first").reset_index()
        lines += [markdown_table(wide, list(wide.columns)), ""]
    for title, path in figures:
        lines += [f"![{title}]({path})", ""]
    lines += _reading(frame, nstar, table, sides, transfer, spec.source)
    if not sides.empty:
        s = sides.assign(head=sides["head_decision_s"].map(head_label),
                         reduction=[f"{_pct(v)} [{_pct(lo)}, {_pct(hi)}]" for v, lo, hi in
                                    zip(sides["paired_reduction"], sides["lo"], sides["hi"])])
        lines += ["## Reductions on each side of N*_head (pooled over the side's N, paired over seeds)", "",
                  markdown_table(s, ["head", "rho", "comparison", "side", "sizes", "metric", "reduction", "verdict",
                                     "pairs"]), ""]
    if not transfer.empty:
        t = transfer.assign(head=transfer["head_decision_s"].map(head_label),
                            gap=[f"{_pct(v)} [{_pct(lo)}, {_pct(hi)}]" for v, lo, hi in
                                 zip(transfer["paired_reduction"], transfer["lo"], transfer["hi"])])
        lines += [f"## Transfer: models trained at N = {spec.source} against retrained ones", "",
                  f"Positive: the N = {spec.source} model's JCT is lower than the retrained model's.", "",
                  markdown_table(t, ["rho", "n_edges", "method", "head", "gap", "verdict", "pairs"]), ""]
    return lines


def _rule9_section(rule9: pd.DataFrame) -> list[str]:
    """Where a learned method is significantly worse than the heuristic with the same or less information."""
    lines = ["## Learned methods against their heuristics (METHODS rule 9)", ""]
    if rule9.empty:
        return lines + ["No paired comparison yet.", ""]
    for (learned, heuristic), part in rule9.groupby(["learned", "heuristic"], sort=False):
        worse = part[part["verdict"] == "worse"]
        few = int((part["verdict"] == FEW).sum())
        lines.append(f"- {learned} against {heuristic}: worse at {len(worse)} of {len(part)} point(s)"
                     + (f" ({where_points(worse)}; {_pct(worse['paired_reduction'].min())} to "
                        f"{_pct(worse['paired_reduction'].max())})" if len(worse) else "")
                     + (f"; {few} point(s) with too few seeds for a verdict" if few else "") + ".")
    return lines + ["", "A learned baseline below its heuristic is a bug to fix before its verdicts count "
                    "(issue 26 section 1), not a result.", ""]


def missing_points(spec: Any, frame: pd.DataFrame) -> list[str]:
    """``N=2,000 rho 0.8: CRL (3 of 5 seeds), ...`` for every point of the map where a method has fewer seeds than
    the profile's (the transferred policy for learned methods; every head time for the head methods)."""
    from study.experiments.crossover import ALL_METHODS

    out = []
    for n in spec.sizes:
        for rho in sorted(spec.loads):
            if n not in spec.trained and rho not in spec.eval_n.get(n, ()):
                continue
            sel = frame[(frame["n_edges"] == n) & (frame["rho"] == round(rho, 2))
                        & frame["policy"].isin((SOURCE, FIXED))]
            if sel.empty:
                out.append(f"N={n:,} rho {rho:g}: not run")
                continue
            short = []
            for method in ALL_METHODS:
                m = sel[sel["method"] == method]
                groups = [m[m["head_decision_s"] == h] for h in spec.heads] if method in HEAD_METHODS else [m]
                have = min(g["seed"].nunique() for g in groups)
                if have < len(spec.seeds):
                    short.append(f"{method} ({have} of {len(spec.seeds)} seeds)")
            if short:
                out.append(f"N={n:,} rho {rho:g}: " + ", ".join(short))
    return out


def _reading(frame: pd.DataFrame, nstar: pd.DataFrame, table: pd.DataFrame, sides: pd.DataFrame,
             transfer: pd.DataFrame, source: int) -> list[str]:
    """The map in words, every figure from the tables."""
    lines = ["## Reading", ""]
    if table.empty:
        return lines + ["No paired comparison yet.", ""]
    jct = table[(table["metric"] == "mean_jct_all") & (table["policy"] == SOURCE)]
    jct = jct.drop_duplicates(subset=["rho", "n_edges", "comparison", "head_decision_s"])
    # edge baselines were repeated per head time for the side column: count them once
    once = pd.concat([jct[jct["baseline_consults_head"]],
                      jct[~jct["baseline_consults_head"]].drop_duplicates(subset=["rho", "n_edges", "comparison"])
                      .assign(head_decision_s=math.nan)])
    lines.append(f"**Where SROLE wins and loses** (JCT; learned policies trained at N = {source}):")
    lines.append("")
    for comparison, part in once.groupby("comparison", sort=False):
        bits = []
        for verdict in ("better", "worse"):
            sel = part[part["verdict"] == verdict]
            if not sel.empty:
                bits.append(f"**{verdict}** at {len(sel)} point(s), {_pct(sel['paired_reduction'].min())} to "
                            f"{_pct(sel['paired_reduction'].max())} ({where_points(sel)})")
        bits.append(f"tied at {int((part['verdict'] == 'tied').sum())}")
        few = int((part["verdict"] == FEW).sum())
        if few:
            bits.append(f"{few} point(s) with too few seeds for a verdict")
        lines.append(f"- {comparison}: " + "; ".join(bits) + ".")
    lines.append("")
    if not nstar.empty:
        found = nstar[np.isfinite(nstar["n_star_head"])]
        if found.empty:
            top = int(frame.loc[frame["method"].isin(HEAD_METHODS), "n_edges"].max())
            lines.append(f"**The head never backlogs** in the sizes run with a head method (up to N = {top:,}) at "
                         "any head time or load: the paper's mechanism (an overloaded head) is absent from this map.")
        else:
            lines.append("**The head backlogs** from " + "; ".join(
                f"N = {int(r['n_star_head']):,} at {head_label(r['head_decision_s'])}, rho {r['rho']:g} "
                f"({r['method']}{_backlog_cost(frame, r)})" for _, r in found.iterrows()) + ".")
        shield = nstar.drop_duplicates("rho")
        lines.append("**The central shield's latency exceeds the decentralized shields'** " + "; ".join(
            f"rho {r['rho']:g}: from N = {_n(r['n_star_shield'])}" for _, r in shield.iterrows()) + ".")
        lines.append("")
    if not sides.empty:
        main = sides[(sides["metric"] == "mean_jct_all") & sides["comparison"].str.endswith(" vs CRL")]
        for side in ("below N*", "at/above N*"):
            sel = main[main["side"] == side]
            if sel.empty:
                continue
            lines.append(f"- Against CRL {side}: " + "; ".join(
                f"{r['comparison'].split(' vs ')[0]} {head_label(r['head_decision_s'])} rho {r['rho']:g} "
                f"{_pct(r['paired_reduction'])} [{_pct(r['lo'])}, {_pct(r['hi'])}] ({r['verdict']})"
                for _, r in sel.iterrows()) + ".")
        lines.append("")
    lines += _paper(once, frame)
    if not transfer.empty:
        worse = transfer[transfer["verdict"] == "worse"]
        lines.append(f"**Transfer**: the N = {source} models are significantly worse than retrained ones at "
                     f"{len(worse)} of {len(transfer)} (point, method) pairs" + (f" ({where_points(worse)}; methods "
                     f"{', '.join(sorted(worse['method'].unique()))})" if len(worse) else "") + ".")
        lines.append("")
    return lines


def _backlog_cost(frame: pd.DataFrame, r: pd.Series) -> str:
    """``: largest backlog B, JCT X s against Y s with the fastest head`` at a head method's N* (means over seeds)."""
    sel = frame[(frame["method"] == r["method"]) & (frame["rho"] == r["rho"]) & (frame["n_edges"] == r["n_star_head"])
                & frame["policy"].isin((SOURCE, FIXED))]
    here = sel[sel["head_decision_s"] == r["head_decision_s"]]
    fast = sel[sel["head_decision_s"] == sel["head_decision_s"].min()]
    if here.empty or fast.empty:
        return ""
    fastest, jct = head_label(fast["head_decision_s"].iloc[0]), here["mean_jct_all"].mean()
    return (f": largest backlog {here['head_backlog_max'].mean():,.0f} decisions, JCT {jct:,.1f} s against "
            f"{fast['mean_jct_all'].mean():,.1f} s with the {fastest} head")


def _paper(once: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """Whether the paper's JCT figure (``study.analysis.paper``) appears, where, and what the baseline's mechanism
    figures say there."""
    PAPER_REDUCTION = paper_figures().reductions["mean_jct_all"]
    lines = [f"**The paper's {PAPER_REDUCTION:.0%}**: "]
    near = once[(once["verdict"] == "better") & (once["hi"] >= PAPER_REDUCTION)]
    top = once.loc[once["paired_reduction"].idxmax()] if once["paired_reduction"].notna().any() else None
    def head(r: pd.Series) -> str:
        return f", head {head_label(r['head_decision_s'])}" if np.isfinite(r["head_decision_s"]) else ""

    if near.empty:
        lines[0] += (f"no point's 95% interval reaches a {PAPER_REDUCTION:.0%} JCT reduction." +
                     (f" The largest point estimate is {_pct(top['paired_reduction'])} [{_pct(top['lo'])}, "
                      f"{_pct(top['hi'])}] ({top['comparison']}, N = {int(top['n_edges']):,}, rho {top['rho']:g}"
                      f"{head(top)})."
                      if top is not None else ""))
        return lines + [""]
    lines[0] += (f"reached (interval up to {PAPER_REDUCTION:.0%} or beyond, SROLE significantly better) at "
                 f"{len(near)} point(s); what the baseline shows there (means over seeds):")
    lines.append("")
    for _, r in near.sort_values("paired_reduction", ascending=False).head(12).iterrows():
        base = frame[(frame["method"] == r["baseline"]) & (frame["rho"] == r["rho"])
                     & (frame["n_edges"] == r["n_edges"]) & frame["policy"].isin((SOURCE, FIXED))]
        if np.isfinite(r["head_decision_s"]):
            base = base[base["head_decision_s"] == r["head_decision_s"]]
        srole = frame[(frame["method"] == r["srole"]) & (frame["rho"] == r["rho"]) & (frame["n_edges"] == r["n_edges"])
                      & frame["policy"].isin((SOURCE, FIXED))]

        def mean(sel: pd.DataFrame, col: str) -> float:
            return float(sel[col].mean()) if col in sel.columns and len(sel) else math.nan

        cause = []
        if mean(base, "head_backlog_max") > 0:
            cause.append(f"head backlog up to {mean(base, 'head_backlog_max'):,.0f} decisions, head latency "
                         f"{mean(base, 'head_decision_latency_mean_s'):.1f} s")
        if mean(base, "collisions") > mean(srole, "collisions"):
            cause.append(f"collisions {mean(base, 'collisions'):,.1f} against SROLE's {mean(srole, 'collisions'):,.1f}")
        lines.append(f"- {r['comparison']}, N = {int(r['n_edges']):,}, rho {r['rho']:g}"
                     f"{head(r)}: "
                     f"{_pct(r['paired_reduction'])} [{_pct(r['lo'])}, {_pct(r['hi'])}]; cause: "
                     f"{'; '.join(cause) or 'neither a head backlog nor more collisions'}.")
    return lines + [""]
