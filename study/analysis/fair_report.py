"""The fair map's report (profiles: ``study.experiments.fair_profile``): the methods under one cost model for every
request a host serves, swept over ``request_s``, with where the head and the central shield's host saturate.

Files ``write_report`` writes: ``methods.csv`` (every evaluation row), ``points.csv`` (per point, ``request_s``,
method and policy: ``seeds``, ``mean_jct_all``, ``mean_jct_finished``, ``unfinished_frac``, the head's and the shield
host's utilisation and backlog), ``saturation.csv`` (per ``request_s``, load and host: the N from which its queue
grows), ``paired.csv`` (SROLE's paired reductions per point on all and finished jobs, the sign flag, both seed
halves), ``improvement.csv`` (probability of improvement per headline pair), ``transfer.csv``, ``rule9.csv``, the
figures ``jct_vs_n.png`` (one panel per load, ``request_s`` as line style) and ``saturation_vs_request.png``, and
``convergence.csv`` (every training's convergence test, METHODS rule 4) with ``curves_n<N>.png`` (learning curves per
trained N, one line per method and load), and ``summary.md``, whose reading is generated from these tables.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import atomic_write, write_frame
from study.analysis import figures
from study.analysis.crossover_tables import FIXED, RETRAINED, SOURCE
from study.analysis.fair_tables import (
    fair_frame,
    improvement_table,
    jct_panels,
    paired_table,
    points_table,
    rule9_table,
    saturation_figure,
    saturation_table,
    transfer_table,
)
from study.analysis.paired_tables import convergence_summary, convergence_table
from study.analysis.regime_tables import FEW, MIN_PAIRS
from study.analysis.run_status import cell_counts, status_sections
from study.analysis.text import markdown_table, pct, wall_line
from study.experiments.fair_profile import ALL_METHODS, HOST_METHODS, fair_spec, tuning_notes

_pct = partial(pct, finer_below=0.095)


def _ms(v: float) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{1e3 * v:g} ms"


def _n(v: float) -> str:
    return "none up to the largest N" if v is None or not np.isfinite(v) else f"{int(v):,}"


def write_report(profile: Any, rows: list[dict[str, Any]], curves: list[dict[str, Any]], out: Path,
                 run: Any) -> None:
    """The tables and ``summary.md`` of the module docstring."""
    out = Path(out)
    spec = fair_spec(profile.name)
    frame = fair_frame(rows, dict(spec.base), spec.source)
    points = points_table(frame)
    sat = saturation_table(frame)
    paired = paired_table(frame, sat, spec.halves())
    improvement = improvement_table(frame)
    transfer = transfer_table(frame)
    rule9 = rule9_table(frame)
    curve_frame = pd.DataFrame(curves)
    conv = convergence_table(curve_frame, CURVE_KEYS)
    for name, t in (("methods.csv", frame), ("points.csv", points), ("saturation.csv", sat), ("paired.csv", paired),
                    ("improvement.csv", improvement), ("transfer.csv", transfer), ("rule9.csv", rule9),
                    ("convergence.csv", conv)):
        write_frame(out / name, t)
    md = _summary(profile, spec, frame, points, sat, paired, improvement, transfer, rule9, run)
    md += convergence_section(conv, curve_frame, out)
    for title, name, made in (("JCT against N", "jct_vs_n.png", jct_panels(points, out / "jct_vs_n.png")),
                              ("saturation N against request_s", "saturation_vs_request.png",
                               saturation_figure(sat, out / "saturation_vs_request.png"))):
        if made:
            md += [f"![{title}]({name})", ""]
    md += [*status_sections(out, run, markdown_table), ""]
    atomic_write(out / "summary.md", "\n".join(md) + "\n")


CURVE_KEYS = ("method", "n_edges", "arrival_rate", "seed")
"""One learned run of the map: a method trained at one N and load from one seed (host methods at one request_s)."""


def convergence_section(conv: pd.DataFrame, curves: pd.DataFrame, out: Path) -> list[str]:
    """Rule 4: the share of the map's trainings that pass the convergence test, per method, trained N and load, and
    the learning curves (one figure per trained N)."""
    lines = ["## Convergence of the trainings (METHODS rule 4)", ""]
    if conv.empty:
        return lines + ["No learning curves were recorded (a profile without `eval_every`).", ""]
    by = convergence_summary(conv, ["method", "n_edges", "arrival_rate"],
                             medians=("improvement_per_1000", "final_mean_jct_all"))
    lines += ["Each training is evaluated on a fixed seed every few hundred rounds; the test "
              "(`agents.harness.convergence.flatness`) fits the last third of the curve (at least 4 points of at "
              "least 5 episodes) and passes when the one-sided 95% bound of its slope shows less than 2% "
              "improvement per 1,000 rounds. Medians over runs:", "",
              markdown_table(by, list(by.columns)), "",
              f"**{int(conv['converged'].sum())} of {len(conv)} trainings pass the convergence test**; the map's "
              "verdicts compare methods at an equal training budget, not converged ones, where this share is low.",
              ""]
    for n, group in curves.groupby("n_edges", sort=True):
        path = f"curves_n{int(n)}.png"
        labelled = group.assign(method=group["method"] + " @ " + group["arrival_rate"].map(lambda r: f"{r:.3g}/s"))
        figures.curves_plot(labelled, "mean_jct_all", out / path,
                            f"Learning curves, trained at N = {int(n):,} (method @ arrival rate per edge)")
        lines += [f"![learning curves at N = {int(n):,}]({path})", ""]
    return lines


def missing_points(spec: Any, frame: pd.DataFrame) -> list[str]:
    """``N=2,000 rho 0.8: CRL (3 of 10 seeds), ...`` wherever a method has fewer seeds than the profile gives that
    point (``FairSpec.seeds_at``; transferred policies; every ``request_s`` for host methods)."""
    out = []
    for n in spec.sizes:
        for rho in sorted(spec.loads):
            if not spec.runs(n, rho):
                continue
            want = len(spec.seeds_at(n, rho))
            sel = frame[(frame["n_edges"] == n) & (frame["rho"] == round(rho, 2))
                        & frame["policy"].isin((SOURCE, FIXED))] if not frame.empty else frame
            if sel.empty:
                out.append(f"N={n:,} rho {rho:g}: not run")
                continue
            short = []
            for method in ALL_METHODS:
                m = sel[sel["method"] == method]
                groups = [m[m["request_s"] == r] for r in spec.requests] if method in HOST_METHODS else [m]
                have = min(g["seed"].nunique() for g in groups)
                if have < want:
                    short.append(f"{method} ({have} of {want} seeds)")
            if short:
                out.append(f"N={n:,} rho {rho:g}: " + ", ".join(short))
    return out


def _summary(profile: Any, spec: Any, frame: pd.DataFrame, points: pd.DataFrame, sat: pd.DataFrame,
             paired: pd.DataFrame, improvement: pd.DataFrame, transfer: pd.DataFrame, rule9: pd.DataFrame,
             run: Any) -> list[str]:
    lines = [f"# The fair map (profile `{profile.name}`)", "",
             f"Generated by `srole reproduce --profile {profile.name}` (`study.analysis.fair_report`); every number "
             "below comes from the CSV files beside this file.", "", "## Design", "",
             f"- N = {', '.join(f'{n:,}' for n in spec.sizes)}; rho = "
             f"{', '.join(f'{r:g}' for r in sorted(spec.loads))}; `request_s` = "
             f"{', '.join(_ms(r) for r in spec.requests)} per request (`srole_env.core.host_cost`, "
             "`docs/host_cost.md`), charged alike to the head's decisions and every shield host's checks, with the "
             "measured compute per request; learned host methods trained at "
             f"{_ms(spec.train_request_s)} and evaluated at every value.",
             f"- Seeds: {list(spec.seeds)} everywhere, {list(spec.cited_seeds)} at the cited points "
             f"({'; '.join(f'N={n:,} rho {r:g}' for n, r in spec.cited)}). Training: {profile.rounds:,} rounds; "
             f"retrained at N = {', '.join(f'{n:,}' for n in spec.trained if n != spec.source)} beside the "
             f"N = {spec.source} models (policy `{SOURCE}` / `{RETRAINED}`).",
             "- Tuned hyperparameters (`study/experiments/tuned_fair`): "
             + "; ".join(tuning_notes(str(spec.base["scenario"]))) + ".",
             f"- Paired reduction = (baseline - SROLE) / baseline over per-seed means, BCa 95%; *better* / *worse* "
             f"when the interval excludes zero, else *tied*; fewer than {MIN_PAIRS} seeds: `{FEW}`.", "",
             f"**Cost**: {run.compute_s / 60:.1f} min of cell compute time ({cell_counts(run)}); {wall_line(run)}.",
             ""]
    if frame.empty:
        return lines + ["No results yet."]
    missing = missing_points(spec, frame)
    if missing:
        lines += ["**Missing** (not run yet, failed, or fewer seeds than the point's): " + "; ".join(missing) + ".",
                  ""]
    lines += ["## Where the hosts saturate", "",
              "`n_backlog`: the smallest N from which the host's mean backlog over seeds is > 0 there and at every "
              "larger N (its queue grows); `n_full`: the same for a mean utilisation >= 0.99.", ""]
    if not sat.empty:
        s = sat.assign(request=sat["request_s"].map(_ms), n_backlog=sat["n_backlog"].map(_n),
                       n_full=sat["n_full"].map(_n))
        lines += [markdown_table(s, ["request", "rho", "host", "method", "n_backlog", "n_full",
                                     "largest_n_without_backlog", "utilization_at_n_backlog", "sizes"]), ""]
    lines += _reading(paired, improvement)
    if not transfer.empty:
        worse = transfer[transfer["verdict"] == "worse"]
        lines += [f"**Transfer**: the N = {spec.source} models are significantly worse than retrained ones at "
                  f"{len(worse)} of {len(transfer)} (point, method, request_s) rows.", ""]
    lines += ["## Learned methods against their heuristics (METHODS rule 9)", ""]
    if rule9.empty:
        lines += ["No paired comparison yet.", ""]
    else:
        for (policy, learned, heuristic), part in rule9.groupby(["policy", "learned", "heuristic"], sort=False):
            worse = part[part["verdict"] == "worse"]
            lines.append(f"- {learned} ({policy}) against {heuristic}: worse at {len(worse)} of {len(part)} "
                         "(point, request_s) rows.")
        lines.append("")
    return lines


def _reading(paired: pd.DataFrame, improvement: pd.DataFrame) -> list[str]:
    """SROLE's verdicts per comparison in words, with every flag the rules ask for (rules 10 and 14)."""
    lines = ["## Reading", ""]
    if paired.empty:
        return lines + ["No paired comparison yet.", ""]
    src = paired[paired["policy"] == SOURCE]
    for comparison, part in src.groupby("comparison", sort=False):
        bits = []
        for verdict in ("better", "worse"):
            sel = part[part["verdict_all"] == verdict]
            if not sel.empty:
                bits.append(f"**{verdict}** at {len(sel)} (point, request_s) row(s), "
                            f"{_pct(sel['reduction_all'].min())} to {_pct(sel['reduction_all'].max())}")
        bits.append(f"tied at {int((part['verdict_all'] == 'tied').sum())}")
        lines.append(f"- {comparison}: " + "; ".join(bits) + ".")
    lines.append("")
    flips = paired[paired["sign_differs"].astype(bool)]
    differ = int(paired["verdict_differs"].astype(bool).sum())
    lines.append(f"**Verdicts whose sign differs between all jobs and finished jobs** (METHODS rule 14): {len(flips)}"
                 f" (and {differ} row(s) where one is significant and the other tied, `verdict_differs`)" +
                 (": " + "; ".join(f"{r['comparison']} N = {int(r['n_edges']):,} rho {r['rho']:g} request "
                                   f"{_ms(r['request_s'])} ({r['policy']}): {r['verdict_all']} on all, "
                                   f"{r['verdict_finished']} on finished"
                                   for _, r in flips.head(20).iterrows()) if len(flips) else "") + ".")
    halves = paired[paired["halves_agree"].notna()] if "halves_agree" in paired else paired.iloc[:0]
    split = halves[halves["halves_agree"] == False]  # noqa: E712 (a float column with NaN)
    opposite = int(halves["halves_opposite"].astype(bool).sum()) if "halves_opposite" in halves else 0
    where = "; ".join(f"{r['comparison']} N = {int(r['n_edges']):,} rho {r['rho']:g} request {_ms(r['request_s'])} "
                      f"({r['policy']})" for _, r in split.head(20).iterrows())
    lines.append("**Seed halves** (the first half of the cited points' seeds against the second): checked at "
                 f"{len(halves)} row(s), the verdicts differ at {len(split)} ({opposite} of them better on one half "
                 "and worse on the other)" + (f": {where}" if len(split) else "") + ".")
    lines.append("")
    if not improvement.empty:
        lines += ["**Probability of improvement** (headline pairs; SROLE's JCT lower than the baseline's for a random "
                  "pair of training seeds):", "",
                  markdown_table(improvement.assign(request=improvement["request_s"].map(_ms)),
                                 ["rho", "n_edges", "request", "comparison", "probability_of_improvement", "lo", "hi",
                                  "seeds"]), ""]
    return lines
