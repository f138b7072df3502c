"""Turning per-seed results into the reproduction's tables, figures and ``summary.md``.

Files written into the results directory (all regenerated from the rows, except ``runs.json`` and the
cache; ``readme_tables`` rebuilds the README's table from the committed ones); ``OUTPUTS`` lists them:

* ``<experiment>.csv``: one row per method x sweep point x training seed (metrics are means over the
  evaluation episodes); ``methods.csv`` is the methods experiment (``method``, ``seed``, ``mean_jct_all``,
  ``collisions``, ``jobs_completed``, ... , ``wall_s``).
* ``<experiment>_summary.csv``: per method and point, the IQM over seeds of each metric with its
  stratified-bootstrap 95% CI (``<metric>``, ``<metric>_lo``, ``<metric>_hi``) and ``seeds``.
* ``comparisons.csv``: SROLE against each baseline per experiment and point: probability of improvement
  (mean JCT) and the relative differences in ``mean_jct_all``, ``collisions``, ``median_utilization``,
  each with its CI and verdict.
* ``sensitivity.csv`` / ``sensitivity_effect.csv``: SROLE's JCT reduction per assumption value, and the
  assumptions ranked by how far they move it.
* ``sensitivity_reduction.csv``: the same reductions as drawn in ``sensitivity.png``.
* ``curves.csv``: learning curves (``method``, ``seed``, the training point, ``round``, metrics).
* ``jobs.csv``: per-job JCTs of the methods experiment (``method``, ``seed``, ``jct_s``);
  ``jct_quantiles.csv``: per method, the job count and the 50th, 90th and 99th percentile and mean JCT.
* Figures: ``<experiment>_jct.png`` (every experiment with methods), ``scalability_collisions.png`` and
  ``scalability_latency.png`` (the N sweep), ``shield_overhead_latency.png``, ``sensitivity.png``,
  ``jct_cdf.png`` (``figures.CDF_METHODS``) and ``curves_<k>.png`` (one per training point).
* ``summary.md`` (everything above with its captions), ``profile.json`` (the profile as run),
  ``runs.json`` (every invocation that computed cells: its wall time, workers and cells computed),
  ``failures.csv`` when anything failed, ``not_run.csv`` when a ``--cached-only`` rebuild lacked cells, and
  ``cache/`` (trained models, training records, evaluations).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from srole_common.persist import atomic_write, write_frame
from study.analysis import figures
from study.analysis.bootstrap_tables import (
    COMPARED,
    SUMMARY_COLUMNS,
    _point_columns,
    compare,
    convergence,
    jct_quantiles,
    sensitivity,
    split_jobs,
    summarize,
)
from study.analysis.findings import what_we_found
from study.analysis.paper import paper_figures
from study.analysis.run_status import cell_counts, status_sections
from study.analysis.text import markdown_table, number, percent, wall_line, with_ci
from study.experiments.profiles import Profile
from study.experiments.roster import ALL, HEADLINE_BASELINES
from study.experiments.runs import RunInfo

READING = ("How to read these figures against the paper, and why they differ, is written up in the documentation "
           "(`docs/reproducing.md`, 'Reading the results').")
OUTPUTS = ("<experiment>.csv", "<experiment>_summary.csv", "comparisons.csv", "sensitivity_effect.csv",
           "sensitivity_reduction.csv", "curves.csv", "jobs.csv", "jct_quantiles.csv", "<experiment>_jct.png",
           "scalability_collisions.png", "scalability_latency.png", "shield_overhead_latency.png", "sensitivity.png",
           "jct_cdf.png", "curves_<k>.png", "summary.md", "profile.json", "runs.json", "failures.csv", "not_run.csv",
           "cache/")
"""Every file ``srole reproduce`` writes into its results directory (module docstring: what each holds)."""


def reduction_cells(row: pd.Series | dict, metric: str) -> tuple[str, str]:
    """(value, verdict) cells of a comparison of ``metric``: ``n/a (both 0)`` where both methods scored 0 on every
    seed (nothing to reduce); the absolute difference SROLE - baseline where the ratio is not meaningful
    (``ratio_meaningful``); else the relative reduction with its CI."""
    verdict = str(row.get(f"{metric}_verdict", "n/a"))
    if bool(row.get(f"{metric}_both_zero", False)):
        return "n/a (both 0)", "no difference (both 0)"
    ratio_ok = row.get(f"{metric}_ratio_ok", True)
    if ratio_ok is not None and not (isinstance(ratio_ok, float) and math.isnan(ratio_ok)) and not bool(ratio_ok):
        return f"{with_ci(row, f'{metric}_difference')} (difference SROLE - baseline; ratio n/a: baseline near 0)", \
            verdict
    return with_ci(row, f"{metric}_reduction", percent), verdict


def _poi(row: pd.Series) -> str:
    """The probability of improvement of a comparisons row with its CI."""
    return with_ci({"p": row["poi_jct"], "p_lo": row["poi_jct_lo"], "p_hi": row["poi_jct_hi"]}, "p")


def write_report(profile: Profile, rows: list[dict[str, Any]], curves: list[dict[str, Any]], out: Path,
                 run: RunInfo) -> None:
    """Write every table, figure and ``summary.md`` (see the module docstring) into ``out``."""
    frame, jobs = split_jobs(pd.DataFrame(rows), out, ("method", "seed"))
    curve_frame = pd.DataFrame(curves)
    write_frame(out / "curves.csv", curve_frame)

    md = _header(profile, frame, run)
    found_at = 1  # "What we found" goes under the title, once the comparisons are known
    comparisons = []
    for exp in profile.experiments:
        part = frame[frame["experiment"] == exp.name] if "experiment" in frame.columns else frame.iloc[0:0]
        part = part.dropna(axis=1, how="all")
        if part.empty:
            md += ["", f"## {exp.name}", "", "No results (every cell failed; see Failures)."]
            continue
        write_frame(out / f"{exp.name}.csv", part.drop(columns="experiment"))
        title_base = exp.describe_base()
        if exp.kind == "shield_overhead":
            table = summarize(part, [exp.sweep, "method"], ("decision_latency_s", "messages_per_round",
                                                            "shield_wall_ms_per_round"))
            write_frame(out / f"{exp.name}_summary.csv", table)
            figures.sweep_plot(table, exp.sweep, "decision_latency_s", out / f"{exp.name}_latency.png",
                               f"Shield decision latency vs N ({title_base}; least-loaded play)", logy=True)
            md += ["", f"## {exp.name}", "", f"Least-loaded play behind each shield ({title_base}); latency is the "
                   "simulated time from request to answer (IQM over seeds of the mean over rounds with requests).",
                   "", f"![{exp.name}]({exp.name}_latency.png)", "",
                   markdown_table(table, [exp.sweep, "method", "decision_latency_s", "messages_per_round",
                                          "shield_wall_ms_per_round", "seeds"])]
            continue
        if exp.kind == "sensitivity":
            md += _sensitivity_section(exp, part, out, title_base)
            continue
        points = _point_columns(part)
        table = summarize(part, [*points, "method"])
        write_frame(out / f"{exp.name}_summary.csv", table)
        comp = compare(part, points)
        if not comp.empty:
            comparisons.append(comp.assign(experiment=exp.name))
        md += ["", f"## {exp.name}", ""]
        if exp.sweep:
            label = figures.LABELS.get(exp.sweep, exp.sweep)
            base = f"{title_base}; IQM and 95% CI over {len(profile.seeds)} seeds"
            figures.sweep_plot(table, exp.sweep, "mean_jct_all", out / f"{exp.name}_jct.png",
                               f"Mean JCT vs {label.split(' (')[0]} ({base})")
            pics = [f"{exp.name}_jct.png"]
            if exp.sweep == "n_edges":
                figures.sweep_plot(table, exp.sweep, "collisions", out / f"{exp.name}_collisions.png",
                                   f"Collisions vs N ({base})")
                figures.sweep_plot(table[table["method"] != "lower-bound"], exp.sweep, "mean_decision_latency_s",
                                   out / f"{exp.name}_latency.png", f"Decision latency vs N ({base})", logy=True)
                pics += [f"{exp.name}_collisions.png", f"{exp.name}_latency.png"]
            md += [f"Sweep of {exp.sweep} at {title_base}. Intervals are stratified-bootstrap 95% CIs of the IQM "
                   "(clipped at 0 for these nonnegative metrics, a no-op).", "",
                   *[f"![{p}]({p})" for p in pics], "", markdown_table(table, [exp.sweep, *SUMMARY_COLUMNS])]
            md += ["", _headline_per_point(comp, exp.sweep)]
        else:
            figures.methods_bar(table, "mean_jct_all", out / f"{exp.name}_jct.png",
                                f"Mean JCT per method ({title_base}; IQM, 95% CI, {len(profile.seeds)} seeds)")
            md += [f"All methods at {title_base}. IQM over training seeds [95% stratified-bootstrap CI].", "",
                   f"![{exp.name}]({exp.name}_jct.png)", "", markdown_table(table, SUMMARY_COLUMNS)]
            if exp.name == profile.jobs_experiment and jobs:
                drawn = [m for m in figures.CDF_METHODS if m in set(table["method"])]
                figures.cdf_plot(pd.DataFrame(jobs), out / "jct_cdf.png",
                                 f"JCT distribution ({title_base}; all seeds and episodes)")
                quantiles = jct_quantiles(pd.DataFrame(jobs))
                write_frame(out / "jct_quantiles.csv", quantiles)
                md += ["", f"JCT distribution of {', '.join(drawn)}; every method's quantiles below "
                       "(`jct_quantiles.csv`). They and its `mean` pool every job of every seed and episode (each "
                       "job counts once, so busy seeds weigh more); the table above is the IQM over training seeds "
                       "of each seed's mean (each seed counts once, the best and worst quarter trimmed), so the two "
                       "means differ.", "", "![JCT distribution](jct_cdf.png)", "",
                       markdown_table(quantiles, list(quantiles.columns))]
            md += _headline_section(comp)
    all_comp = pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame()
    write_frame(out / "comparisons.csv", all_comp)
    md[found_at:found_at] = what_we_found(all_comp, convergence(curve_frame))
    md += _convergence_section(profile, curve_frame, out)
    md += status_sections(out, run, markdown_table)
    atomic_write(out / "summary.md", "\n".join(md) + "\n")


def _header(profile: Profile, frame: pd.DataFrame, run: RunInfo) -> list[str]:
    sources = []
    if "hparams_source" in frame.columns:
        learned = frame[frame["hparams_source"].fillna("") != ""]
        for (method, algo, source), _ in learned.groupby(["method", "algo", "hparams_source"], sort=False):
            sources.append(f"{method}: `{algo}` ({source})")
    return [
        f"# SROLE reproduction: profile `{profile.name}`",
        "",
        f"Budget: {profile.rounds:,} simulated decision rounds of training for every learned method (CRL, MARL, "
        f"SROLE), at every N and load; learning curves every {profile.eval_every or 'n/a'} rounds on fixed "
        f"evaluation seeds {list(profile.curve_seeds)}. Training seeds {list(profile.seeds)}; "
        f"{profile.eval_episodes} evaluation episode(s) per seed on evaluation seeds disjoint from training, the "
        "same for every method.",
        "",
        "Learners: " + ("; ".join(sources) if sources else "none ran") + ".",
        "",
        f"Compute time {run.compute_s / 60:.1f} min ({run.compute_s:,.0f} s; every cell, including those served "
        f"from the cache at their original time); {wall_line(run)}; "
        f"{cell_counts(run)}." + (" Models dropped after evaluation." if run.drop_models else ""),
        "",
        "Statistics: IQM over training seeds with stratified-bootstrap 95% CIs (`study.analysis.stats`, rliable's "
        "estimators); probability of improvement P(SROLE run has lower mean JCT than a baseline run); a "
        "difference is claimed only when its CI excludes zero, else \"no significant difference\". "
        "`mean_jct_all` counts unfinished jobs at their age at the end of the episode (a lower bound on their "
        "JCT); JCT in simulated seconds. `greedy-reference` is a full-knowledge greedy scheduler (a reference, "
        "not a bound); `lower-bound` is derived (every job alone on its fastest candidates, no queueing, no "
        "contention, no decision latency) and tested never to be beaten.",
    ]


def _headline_section(comp: pd.DataFrame) -> list[str]:
    if comp.empty:
        return []
    paper = paper_figures()
    lines = ["", "### SROLE against each baseline", "",
             "Reductions are (baseline IQM - SROLE IQM) / baseline IQM with 95% bootstrap CIs; positive = SROLE "
             "lower. The verdict comes from the CI of the absolute difference IQM(SROLE) - IQM(baseline) "
             "(`comparisons.csv` has both). 'n/a (both 0)': both methods scored 0 on every seed. Where the "
             "baseline's IQM is near 0 (its CI reaches below half of it, e.g. median utilisation at a light load) "
             "the ratio is meaningless and the absolute difference is shown instead. "
             f"The paper reports up to {paper.label('mean_jct_all')} (JCT), "
             f"{paper.label('collisions')} (collisions), {paper.label('median_utilization')} (median "
             f"utilisation) against {' and '.join(paper.against)}.", "",
             "| comparison | P(improvement), JCT | JCT reduction | verdict | paper | collision reduction | verdict "
             "| paper | median-utilisation reduction | verdict | paper |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in comp.iterrows():
        cells = [f"{r['srole']} vs {r['baseline']}", _poi(r)]
        for metric in COMPARED:
            figure = percent(paper.reductions[metric]) if r["baseline"] in HEADLINE_BASELINES else ""
            cells += [*reduction_cells(r, metric), figure]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "### Gaps to the paper", ""]
    for _, r in comp[comp["baseline"].isin(HEADLINE_BASELINES)].iterrows():
        lines += [f"- {r['srole']} vs {r['baseline']}: measured JCT reduction "
                  f"{reduction_cells(r, 'mean_jct_all')[0]} ({r.get('mean_jct_all_verdict')}), paper "
                  f"{paper.label('mean_jct_all')}; collisions {reduction_cells(r, 'collisions')[0]}, paper "
                  f"{paper.label('collisions')}; median utilisation "
                  f"{reduction_cells(r, 'median_utilization')[0]}, paper {paper.label('median_utilization')}."]
    return lines + ["", READING]


def _headline_per_point(comp: pd.DataFrame, sweep: str) -> str:
    if comp.empty:
        return ""
    part = comp[comp["baseline"].isin(HEADLINE_BASELINES)]
    lines = ["Per point, and over all points at once (`all`: the probability of improvement averaged over points, "
             "bootstrap stratified by point):", "",
             f"| {sweep} | comparison | P(improvement), JCT | JCT reduction | verdict |", "|---|---|---|---|---|"]
    for _, r in part.iterrows():
        point = r[sweep] if isinstance(r[sweep], str) else number(r[sweep])
        verdict = r["mean_jct_all_verdict"] if isinstance(r.get("mean_jct_all_verdict"), str) else ""
        lines.append(f"| {point} | {r['srole']} vs {r['baseline']} | {_poi(r)} | "
                     f"{with_ci(r, 'mean_jct_all_reduction', percent)} | {verdict} |")
    return "\n".join(lines)


def _sensitivity_section(exp, part: pd.DataFrame, out: Path, title_base: str) -> list[str]:
    table, effect = sensitivity(part)
    write_frame(out / "sensitivity_reduction.csv", table)
    write_frame(out / "sensitivity_effect.csv", effect)
    lines = ["", f"## {exp.name}", "",
             f"Evaluation-time sweep: the methods trained on the base cell ({title_base}) are evaluated at each "
             "value of each model assumption, without retraining (so the policies meet values they were not "
             "trained on; 'default' is the model's own value). SROLE's JCT reduction (IQM, 95% CI) against MARL "
             "and CRL per value:", ""]
    if table.empty:
        return lines + ["No comparison could be made (see Failures)."]
    figures.sensitivity_plot(table, out / "sensitivity.png", f"SROLE's JCT reduction per assumption ({title_base})",
                             list(dict.fromkeys(table["comparison"])))
    lines += ["![sensitivity](sensitivity.png)", "", "| assumption | value | comparison | JCT reduction | verdict |",
              "|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['assumption']} | {r['value']} | {r['comparison']} | "
                     f"{with_ci(r, 'reduction', percent)} | {r['verdict']} |")
    lines += ["", "Which assumption moves the reduction most (range of the reduction over the assumption's values):",
              "", "| assumption | comparison | range |", "|---|---|---|"]
    for _, r in effect.iterrows():
        lines.append(f"| {r['assumption']} | {r['comparison']} | {percent(r['range'])} |")
    return lines


def _convergence_section(profile: Profile, curves: pd.DataFrame, out: Path) -> list[str]:
    lines = ["", "## Convergence", ""]
    if curves.empty or "round" not in curves.columns:
        return lines + ["No learning curves were recorded (the trainer wrote no `curves.csv`)."]
    metric = "mean_jct_all" if "mean_jct_all" in curves.columns else None
    if metric is None:
        return lines + ["Learning curves lack `mean_jct_all`."]
    keys = [k for k in ("n_edges", "arrival_rate") if k in curves.columns]
    for n, (point, group) in enumerate(curves.groupby(keys, sort=False, dropna=False)):
        point = point if isinstance(point, tuple) else (point,)
        name = ", ".join(f"{k}={v}" for k, v in zip(keys, point))
        path = f"curves_{n}.png"
        figures.curves_plot(group, metric, out / path,
                            f"Learning curves ({name}; IQM over seeds, 95% bootstrap CI)")
        lines += [f"![learning curves {name}]({path})"]
    table = convergence(curves, metric)
    flagged = table[table["not_flattened"] > 0] if not table.empty else table
    lines += ["", "Criterion: `agents.harness.convergence.has_flattened` on `mean_jct_all` per run.", ""]
    if flagged.empty:
        lines.append("Every learned run's curve had flattened.")
    else:
        lines.append("**Not flattened** (the budget was too short for these; their results are provisional):")
        lines += ["", markdown_table(flagged, list(flagged.columns))]
    return lines


# ---------------------------------------------------------------------- README
README_METHODS = ALL
"""The README's rows, in roster order (the ablation has its own table)."""


def readme_tables(results_dir: str | Path) -> str:
    """The README's results table (Markdown) generated from a results directory's committed tables:
    ``methods_summary.csv`` (IQM [95% CI] per method) and ``comparisons.csv`` (SROLE vs MARL and CRL)."""
    results = Path(results_dir)
    table = pd.read_csv(results / "methods_summary.csv")
    table = table.set_index("method")
    order = [m for m in README_METHODS if m in table.index] + [m for m in table.index if m not in README_METHODS]
    lines = ["| method | mean JCT, all jobs (s) | collisions | median utilisation | decision latency (s) | seeds |",
             "|---|---:|---:|---:|---:|---:|"]
    for method in order:
        row = table.loc[method]
        lines.append(f"| {method} | {with_ci(row, 'mean_jct_all')} | {with_ci(row, 'collisions')} | "
                     f"{with_ci(row, 'median_utilization')} | {with_ci(row, 'mean_decision_latency_s')} | "
                     f"{int(row['seeds'])} |")
    comp_path = results / "comparisons.csv"
    if comp_path.exists() and comp_path.stat().st_size > 1:
        comp = pd.read_csv(comp_path)
        comp = comp[(comp["experiment"] == "methods") & comp["baseline"].isin(HEADLINE_BASELINES)]
        if not comp.empty:
            paper = paper_figures()
            lines += ["", f"| comparison | P(improvement), JCT | JCT reduction (paper {paper.label('mean_jct_all')}) "
                      f"| collision reduction (paper {paper.label('collisions')}) | median-utilisation reduction "
                      f"(paper {paper.label('median_utilization')}) |", "|---|---|---|---|---|"]
            for _, r in comp.iterrows():
                lines.append(
                    f"| {r['srole']} vs {r['baseline']} | {_poi(r)} | "
                    + " | ".join("{} ({})".format(*reduction_cells(r, m)) for m in COMPARED)
                    + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m study.analysis.bootstrap_report RESULTS_DIR: print the README's results table
    import sys

    print(readme_tables(sys.argv[1] if len(sys.argv) > 1 else "docs/results/quick"))
