"""The crossover map's report (``docs/ceiling.md``): where the cluster head (CRL) backlogs, where the central shield
becomes slower than the decentralized ones, and SROLE's reductions against CRL and MARL on each side of those sizes (the
profiles: ``study.experiments.crossover_profile``).

Files ``write_report`` writes: ``methods.csv`` (every evaluation row, with ``rho``, ``head_service_s``, ``policy``
and ``unfinished_frac`` = ``jobs_unfinished / jobs_arrived``), ``points.csv`` (per point and method: means over
seeds, the unfinished fraction beside the JCT), ``nstar.csv`` (per head time and load: N* of the head backlog and of
the shields' latency), ``crossover.csv`` (per point: paired reductions of JCT, collisions and utilisation),
``sides.csv`` (the same pooled over the N below and at/above N*), ``transfer.csv`` (models trained at N = 20 against
retrained ones), the figures and ``summary.md``, whose reading is generated from these tables.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import atomic_write, write_frame
from srole_env.config import ClusterConfig
from study.analysis.crossover_tables import (
    FIXED,
    RETRAINED,
    SOURCE,
    crossover_frame,
    crossover_table,
    nstar_table,
    panels,
    points_table,
    rule9_table,
    sides_table,
    transfer_table,
)
from study.analysis.paper import paper_figures
from study.analysis.regime_tables import FEW, MIN_PAIRS, head_label, heatmap, where_points
from study.analysis.run_status import cell_counts, status_sections
from study.analysis.text import markdown_table, pct, wall_line
from study.experiments.crossover_profile import map_spec
from study.experiments.roster import EDGE_LEARNED, HEAD_METHODS

# ---------------------------------------------------------------------- the report
_pct = partial(pct, finer_below=0.095)
"""A signed percentage, one decimal under 9.5% (the map's small effects at large N)."""


def _n(v: float) -> str:
    return "none up to the largest N" if v is None or not np.isfinite(v) else f"{int(v):,}"


def write_report(profile: Any, rows: list[dict[str, Any]], curves: list[dict[str, Any]], out: Path,
                 run: Any) -> None:
    """The tables, figures and ``summary.md`` of the module docstring."""

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
        if panels(points, "mean_jct_all", out / "jct_vs_n.png", ("CRL", "CRL-greedy", *EDGE_LEARNED,
                   "least_loaded", "least_loaded+central", "greedy-reference"), "mean JCT, all jobs (s)",
                   "Mean JCT against N (line style: head service time per decision)"):
            figures.append(("JCT against N", "jct_vs_n.png"))
        if panels(points, "head_backlog_max", out / "head_backlog_vs_n.png", HEAD_METHODS,
                   "largest head backlog (decisions)", "The head's backlog against N"):
            figures.append(("head backlog against N", "head_backlog_vs_n.png"))
        if panels(points, "mean_decision_latency_s", out / "shield_latency_vs_n.png",
                   ("SROLE-central", "SROLE-decentralized", "least_loaded+central", "MARL"),
                   "decision latency per placed task (s)", "Decision latency (shields) against N"):
            figures.append(("shield latency against N", "shield_latency_vs_n.png"))
    for old in out.glob("heatmap_*.png"):
        old.unlink()
    jct = table[(table["metric"] == "mean_jct_all") & (table["policy"] == SOURCE)] if not table.empty else table
    for comparison in dict.fromkeys(jct["comparison"]) if not jct.empty else []:
        sel = jct[jct["comparison"] == comparison]
        if not sel["baseline_consults_head"].any():  # one panel: the head time does not enter
            sel = sel[sel["head_service_s"] == sel["head_service_s"].min()].assign(head_service_s=math.nan)
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

    lines = [f"# The crossover map (profile `{profile.name}`)", "",
             f"Generated by `srole reproduce --profile {profile.name}` (`study.analysis.crossover_report`); every "
             "number below comes from the CSV files beside this file.", "",
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
        ns = nstar.assign(head=nstar["head_service_s"].map(head_label),
                          n_star_head=nstar["n_star_head"].map(_n), n_star_shield=nstar["n_star_shield"].map(_n))
        lines += [markdown_table(ns, ["method", "head", "rho", "n_star_head", "backlog_at_n_star",
                                      "largest_n_without_backlog", "n_star_shield", "sizes"]), ""]
    lines += ["## Mean JCT per point (unfinished fraction of arrived jobs in brackets)", ""]
    if not points.empty:
        pts = points[points["policy"].isin((SOURCE, FIXED))].copy()
        pts["label"] = [m if not np.isfinite(h) else f"{m} {head_label(h)}"
                        for m, h in zip(pts["method"], pts["head_service_s"])]
        pts["cell"] = [f"{j:,.1f} ({100 * u:.0f}%)" if np.isfinite(u) else f"{j:,.1f}"
                       for j, u in zip(pts["mean_jct_all"], pts.get("unfinished_frac", pd.Series(np.nan, pts.index)))]
        wide = pts.pivot_table(index=["rho", "n_edges"], columns="label", values="cell", aggfunc="first").reset_index()
        lines += [markdown_table(wide, list(wide.columns)), ""]
    for title, path in figures:
        lines += [f"![{title}]({path})", ""]
    lines += _reading(frame, nstar, table, sides, transfer, spec.source,
                      float(spec.base.get("shield_check_s", ClusterConfig.shield_check_s)))
    if not sides.empty:
        s = sides.assign(head=sides["head_service_s"].map(head_label),
                         reduction=[f"{_pct(v)} [{_pct(lo)}, {_pct(hi)}]" for v, lo, hi in
                                    zip(sides["paired_reduction"], sides["lo"], sides["hi"])])
        lines += ["## Reductions on each side of N*_head (pooled over the side's N, paired over seeds)", "",
                  markdown_table(s, ["head", "rho", "comparison", "side", "sizes", "metric", "reduction", "verdict",
                                     "pairs"]), ""]
    if not transfer.empty:
        t = transfer.assign(head=transfer["head_service_s"].map(head_label),
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
    from study.experiments.crossover_profile import ALL_METHODS

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
                groups = [m[m["head_service_s"] == h] for h in spec.heads] if method in HEAD_METHODS else [m]
                have = min(g["seed"].nunique() for g in groups)
                if have < len(spec.seeds):
                    short.append(f"{method} ({have} of {len(spec.seeds)} seeds)")
            if short:
                out.append(f"N={n:,} rho {rho:g}: " + ", ".join(short))
    return out


def _reading(frame: pd.DataFrame, nstar: pd.DataFrame, table: pd.DataFrame, sides: pd.DataFrame,
             transfer: pd.DataFrame, source: int, check_s: float = ClusterConfig.shield_check_s) -> list[str]:
    """The map in words, every figure from the tables."""
    lines = ["## Reading", ""]
    if table.empty:
        return lines + ["No paired comparison yet.", ""]
    jct = table[(table["metric"] == "mean_jct_all") & (table["policy"] == SOURCE)]
    jct = jct.drop_duplicates(subset=["rho", "n_edges", "comparison", "head_service_s"])
    # edge baselines were repeated per head time for the side column: count them once
    once = pd.concat([jct[jct["baseline_consults_head"]],
                      jct[~jct["baseline_consults_head"]].drop_duplicates(subset=["rho", "n_edges", "comparison"])
                      .assign(head_service_s=math.nan)])
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
                f"N = {int(r['n_star_head']):,} at {head_label(r['head_service_s'])}, rho {r['rho']:g} "
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
                f"{r['comparison'].split(' vs ')[0]} {head_label(r['head_service_s'])} rho {r['rho']:g} "
                f"{_pct(r['paired_reduction'])} [{_pct(r['lo'])}, {_pct(r['hi'])}] ({r['verdict']})"
                for _, r in sel.iterrows()) + ".")
        lines.append("")
    lines += _paper(once, frame, check_s)
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
    here = sel[sel["head_service_s"] == r["head_service_s"]]
    fast = sel[sel["head_service_s"] == sel["head_service_s"].min()]
    if here.empty or fast.empty:
        return ""
    fastest, jct = head_label(fast["head_service_s"].iloc[0]), here["mean_jct_all"].mean()
    return (f": largest backlog {here['head_backlog_max'].mean():,.0f} decisions, JCT {jct:,.1f} s against "
            f"{fast['mean_jct_all'].mean():,.1f} s with the {fastest} head")


def _paper(once: pd.DataFrame, frame: pd.DataFrame, check_s: float) -> list[str]:
    """Whether the paper's JCT figure (``study.analysis.paper``) appears, where, and what the baseline's mechanism
    figures say there; a point whose head is charged another cost per decision than the shield's ``check_s`` per
    check is flagged as unequal costs (METHODS rule 16), not a fair comparison."""
    PAPER_REDUCTION = paper_figures().reductions["mean_jct_all"]
    lines = [f"**The paper's {PAPER_REDUCTION:.0%}**: "]
    near = once[(once["verdict"] == "better") & (once["hi"] >= PAPER_REDUCTION)]
    top = once.loc[once["paired_reduction"].idxmax()] if once["paired_reduction"].notna().any() else None
    def head(r: pd.Series) -> str:
        return f", head {head_label(r['head_service_s'])}" if np.isfinite(r["head_service_s"]) else ""

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
        if np.isfinite(r["head_service_s"]):
            base = base[base["head_service_s"] == r["head_service_s"]]
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
        unequal = ""
        if np.isfinite(r["head_service_s"]) and not math.isclose(r["head_service_s"], check_s):
            unequal = (f" **Unequal costs, not evidence:** the head is charged {head_label(r['head_service_s'])} per "
                       f"decision, the shield {head_label(check_s)} per check on the same host (METHODS rule 16).")
        lines.append(f"- {r['comparison']}, N = {int(r['n_edges']):,}, rho {r['rho']:g}"
                     f"{head(r)}: "
                     f"{_pct(r['paired_reduction'])} [{_pct(r['lo'])}, {_pct(r['hi'])}]; cause: "
                     f"{'; '.join(cause) or 'neither a head backlog nor more collisions'}.{unequal}")
    return lines + [""]
