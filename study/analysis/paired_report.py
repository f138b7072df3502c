"""The paired comparison's report, the decisive comparison's (``docs/results-paper.md``): paired statistics over
training seeds, the shield's factorial ablation with a decomposition of the mean JCT, per-run convergence and a
replication check (the tables: ``paired_tables``; this module writes them with the prose).

Written for a ``Profile(paired=True)`` (``srole reproduce --profile paper``) into the results directory:

* ``methods.csv``: one row per method x load x training seed (metrics are means over the seed's evaluation
  episodes, the same episodes for every method: common random numbers); ``methods_summary.csv``: IQM and
  stratified-bootstrap 95% CI per method and load.
* ``comparisons.csv``: per load, SROLE-central and SROLE-decentralized against each baseline, per metric: the
  paired difference (``paired_diff``, SROLE - baseline, mean over seeds) and paired reduction
  (``paired_reduction``, (baseline - SROLE) / baseline), each with its BCa interval, the paired t-test's
  ``p_value``, ``wins`` (seeds on which SROLE is lower), ``verdict`` and ``verdict_stable`` (the same verdict for
  20 bootstrap seeds). The ablation's effects are rows of experiment ``ablation``.
* ``ablation.csv``: the four factorial cells ({trained without, behind the central shield} x {evaluated
  without, behind it}, one learner, one set of hyperparameters) and, beside them, every method with its own
  tuning at every load, each with the mean JCT decomposed: ``jct_finished_part`` (completed jobs' share of
  ``mean_jct_all``) + ``jct_unfinished_part`` (unfinished jobs at their age), ``mean_queue_wait_s``,
  ``collisions``, ``oom_kills``, ``work_lost_s``, ``jobs_unfinished``.
* ``convergence.csv``: one row per learned run with ``converged`` (``agents.harness.convergence.flatness``), the
  fitted improvement per 1,000 rounds and its upper bound, ``frozen`` and the reason.
* ``replication.csv``: each comparison's verdict from the first and the second half of the training seeds
  (``verdict_first_half``, ``verdict_second_half``) and whether they ``agree``.
* ``curves.csv``, ``jobs.csv``, figures and ``summary.md``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import atomic_write, write_frame
from study.analysis import figures
from study.analysis.bootstrap_tables import split_jobs, summarize
from study.analysis.findings import what_we_found
from study.analysis.manifest import ResultsManifest, as_manifest, manifest_beside
from study.analysis.paired_tables import (
    DECOMPOSITION,
    EFFORT,
    LEVELS,
    LOAD,
    MAIN_TABLE,
    README_PAIRS,
    _headline,
    _main_pairs,
    _short,
    ablation_tables,
    convergence_summary,
    convergence_table,
    decompose,
    paired_rows,
    quick_agreement,
    replication_across,
    replication_table,
)
from study.analysis.paper import METRICS as PAPER_METRICS
from study.analysis.paper import paper_figures
from study.analysis.run_status import cell_counts, status_sections
from study.analysis.text import markdown_table, percent, wall_line, with_ci
from study.experiments.profiles import Profile
from study.experiments.roster import KEY_METHODS, LEARNED
from study.experiments.runs import RunInfo


# ---------------------------------------------------------------------- the report
def write_report(profile: Profile, rows: list[dict[str, Any]], curves: list[dict[str, Any]], out: Path,
                 run: RunInfo) -> None:
    """Write the decisive comparison's tables, figures and ``summary.md`` (module docstring) into ``out``."""
    frame, _ = split_jobs(pd.DataFrame(rows), out, ("method", LOAD, "seed"))
    if LOAD not in frame.columns:
        frame[LOAD] = math.nan
    base_load = _base_load(profile)
    frame[LOAD] = frame[LOAD].fillna(base_load)
    curve_frame = pd.DataFrame(curves)
    write_frame(out / "curves.csv", curve_frame)
    seeds = sorted(int(s) for s in profile.seeds)

    main = frame[frame["experiment"].str.startswith("methods")] if "experiment" in frame.columns else frame.iloc[0:0]
    main = decompose(main.dropna(axis=1, how="all"))
    write_frame(out / "methods.csv", main.drop(columns="experiment"))
    table = summarize(main, [LOAD, "method"], LEVELS) if not main.empty else pd.DataFrame()
    write_frame(out / "methods_summary.csv", table)

    comparisons = []
    for load, part in main.groupby(LOAD, sort=True):
        for r in paired_rows(part, _main_pairs(set(part["method"]))):
            comparisons.append({"experiment": "methods", LOAD: load, **r})
    abl_table, effects = ablation_tables(frame)
    comp = pd.DataFrame(comparisons + [{LOAD: base_load, **e} for e in effects])
    write_frame(out / "comparisons.csv", comp)
    write_frame(out / "ablation.csv", abl_table)
    conv = convergence_table(curve_frame)
    write_frame(out / "convergence.csv", conv)
    repl = replication_table(frame, seeds) if len(seeds) >= 4 else pd.DataFrame()
    write_frame(out / "replication.csv", repl)

    md = _header(profile, main, run)
    md[1:1] = what_we_found(comp, conv)  # right under the title
    md += _methods_section(profile, table, comp, out)
    md += _ablation_section(abl_table, comp)
    md += _convergence_section(conv, curve_frame, out)
    md += _replication_section(repl)
    md += status_sections(out, run, markdown_table)
    atomic_write(out / "summary.md", "\n".join(md) + "\n")


def _base_load(profile: Profile) -> float:
    from srole_env import make_config

    for exp in profile.experiments:
        if exp.name == "ablation":
            return float(make_config(**dict(exp.base)).arrival_rate)
    return math.nan


def _header(profile: Profile, main: pd.DataFrame, run: RunInfo) -> list[str]:
    lines = [
        f"# SROLE decisive comparison: profile `{profile.name}`", "",
        f"Budget: {profile.rounds:,} simulated decision rounds of training for every learned method, retrained at "
        f"every load; learning curves every {profile.eval_every} rounds on fixed evaluation seeds "
        f"{list(profile.curve_seeds)} x {profile.curve_episodes} episodes. Training seeds {list(profile.seeds)}; "
        f"{profile.eval_episodes} evaluation episodes per seed, the same episodes for every method (common random "
        "numbers).", "",
        f"Compute time {run.compute_s / 60:.1f} min ({run.compute_s:,.0f} s of cell time, cached cells at their "
        f"original time); {wall_line(run)}; {cell_counts(run)}.", "",
        "Statistics: every method is evaluated on the same episodes per training seed, so methods are compared by "
        "**paired** differences per seed (`study.analysis.stats.paired_difference`: mean over seeds, BCa bootstrap 95% "
        "interval, paired t-test, verdict checked for 20 bootstrap seeds). A difference is claimed only when its "
        "interval excludes zero. Tables of levels show the IQM over seeds with stratified-bootstrap 95% CIs. "
        "Learned runs are deterministic per machine, not bitwise across CPUs; the replication check (verdicts "
        "from each half of the seeds) is what stands in for \"the same on another machine\".", "",
    ]
    learned = main[main["method"].isin(LEARNED)] if "method" in main.columns else main.iloc[0:0]
    if not learned.empty:
        cols = [c for c in EFFORT if c in learned.columns]
        effort = learned.groupby(["method", "algo", "hparams_source"], sort=False)[cols].mean().reset_index() \
            if cols else learned[["method", "algo", "hparams_source"]].drop_duplicates()
        lines += ["Learners and learning effort per run (means over loads and seeds; samples are transitions "
                  "stored for learning, updates are gradient steps):", "",
                  markdown_table(effort, list(effort.columns)), ""]
    return lines


def _methods_section(profile: Profile, table: pd.DataFrame, comp: pd.DataFrame, out: Path) -> list[str]:
    lines = ["## Methods at each load", ""]
    if table.empty:
        return lines + ["No results."]
    plot = table[table["method"] != "lower-bound"]
    figures.sweep_plot(plot, LOAD, "mean_jct_all", out / "methods_jct.png",
                       f"Mean JCT vs load (IQM, 95% CI, {len(profile.seeds)} seeds; retrained per load)")
    lines += ["![mean JCT vs load](methods_jct.png)", ""]
    main = comp[comp["experiment"] == "methods"] if not comp.empty else comp
    for load, part in table.groupby(LOAD, sort=True):
        util = part.loc[part["method"] == "least_loaded", "mean_utilization"]
        note = f"; least_loaded's mean utilisation {util.iloc[0]:.2f}" if len(util) else ""
        lines += [f"### Load {load:g} jobs/s/edge{note}", "", markdown_table(part, MAIN_TABLE), ""]
        rows = main[(main[LOAD] == load)] if not main.empty else main
        if rows.empty:
            continue
        lines += ["Paired comparisons (SROLE - baseline per seed; reduction = (baseline - SROLE) / baseline):", "",
                  "| comparison | metric | paired reduction [95% CI] | paired difference [95% CI] | p | wins | "
                  "verdict | stable |", "|---|---|---|---|---|---|---|---|"]
        for _, r in rows.iterrows():
            lines.append(f"| {r['srole']} vs {r['baseline']} | {r['metric']} | "
                         f"{with_ci(r, 'paired_reduction', percent)} | {with_ci(r, 'paired_diff')} | "
                         f"{_p(r['p_value'])} | {int(r['wins'])}/{int(r['pairs'])} | {r['verdict']} | "
                         f"{'yes' if r['verdict_stable'] else 'no'} |")
        lines.append("")
    return lines


def _p(value: float) -> str:
    return "n/a" if not np.isfinite(value) else (f"{value:.2g}" if value >= 1e-4 else "<1e-4")


def _ablation_section(table: pd.DataFrame, comp: pd.DataFrame) -> list[str]:
    lines = ["## The shield's effect, isolated (factorial ablation)", ""]
    if table.empty:
        return lines + ["No ablation results."]
    cells = table[table["kind"].str.startswith("factorial")]
    cols = ["trained", "evaluated", *DECOMPOSITION, "seeds"]
    lines += ["One learner (IDQN) and one set of hyperparameters (MARL's tuned values) in all four cells; the mean "
              "JCT is split into completed jobs' part and unfinished jobs' part (they add up to `mean_jct_all`).",
              "", markdown_table(cells, [c for c in cols if c in cells.columns]), ""]
    effects = comp[comp["experiment"] == "ablation"] if not comp.empty else comp
    if not effects.empty:
        lines += ["| effect | metric | paired difference [95% CI] | paired reduction [95% CI] | verdict |",
                  "|---|---|---|---|---|"]
        for _, r in effects.iterrows():
            lines.append(f"| {r['effect']} | {r['metric']} | {with_ci(r, 'paired_diff')} | "
                         f"{with_ci(r, 'paired_reduction', percent)} | {r['verdict']} |")
        lines.append("")
    own = table[table["kind"] == "own tuning"]
    if not own.empty:
        lines += ["Each method with its own tuning, decomposed the same way:", "",
                  markdown_table(own, [c for c in (LOAD, "method", *DECOMPOSITION, "seeds") if c in own.columns]), ""]
    return lines


def _convergence_section(conv: pd.DataFrame, curves: pd.DataFrame, out: Path) -> list[str]:
    lines = ["## Convergence", ""]
    if conv.empty:
        return lines + ["No learning curves were recorded."]
    by = convergence_summary(conv, ["method", LOAD], sums=("frozen",),
                             medians=("improvement_per_1000", "improvement_per_1000_hi"), sort=False)
    lines += ["Criterion (`agents.harness.convergence.flatness`): the last third of each run's curve "
              "(>= 4 points, >= 5 "
              "evaluation episodes each), a least-squares slope whose one-sided 95% bound shows less than 2% "
              "improvement per 1,000 rounds, and not frozen. Medians over runs:", "",
              markdown_table(by, list(by.columns)), ""]
    for n, (load, group) in enumerate(curves.groupby(LOAD, sort=True) if LOAD in curves.columns else []):
        path = f"curves_{n}.png"
        figures.curves_plot(group, "mean_jct_all", out / path,
                            f"Learning curves at load {load:g} (across training seeds)")
        lines.append(f"![learning curves at load {load:g}]({path})")
    bad = conv[~conv["converged"].astype(bool)]
    lines += ["", f"{len(conv) - len(bad)} of {len(conv)} learned runs converged."]
    return lines


def _replication_section(repl: pd.DataFrame) -> list[str]:
    lines = ["", "## Replication on disjoint training seeds", ""]
    if repl.empty:
        return lines + ["Too few seeds to split."]
    agree = int(repl["agree"].sum())
    lines += [f"{agree} of {len(repl)} verdicts agree between the two halves of the training seeds."]
    bad = repl[~repl["agree"].astype(bool)]
    if not bad.empty:
        lines += ["", "These do not replicate (read them as unsettled):", "",
                  markdown_table(bad, [LOAD, "srole", "baseline", "metric", "verdict_first_half",
                                       "verdict_second_half"])]
    return lines


# ---------------------------------------------------------------------- the README's results section
README_METHODS = KEY_METHODS


def readme_section(results_dir: str | Path, manifest: ResultsManifest | str | Path | None = None) -> str:
    """The README's results tables (Markdown), generated from a decisive results directory's committed tables:
    mean JCT per method and load, the headline paired comparisons beside the paper's figures
    (``study.analysis.paper``), and the counts of converged runs and replicated verdicts.

    ``manifest`` (a ``ResultsManifest`` or its path; None: the ``manifest.yaml`` beside ``results_dir``, if any)
    names the companion runs: its ``replication``, ``long_budget`` and ``quick`` directories add their lines."""
    results = Path(results_dir)
    manifest = manifest_beside(results) if manifest is None else as_manifest(manifest)
    paper = paper_figures()
    table = pd.read_csv(results / "methods_summary.csv")
    loads = sorted(table[LOAD].unique())
    lines = ["| method | " + " | ".join(f"mean JCT (s), load {x:g}" for x in loads) + " |",
             "|---|" + "---:|" * len(loads)]
    for method in [m for m in README_METHODS if m in set(table["method"])]:
        cells = []
        for load in loads:
            row = table[(table["method"] == method) & (table[LOAD] == load)]
            cells.append(with_ci(row.iloc[0], "mean_jct_all") if len(row) else "n/a")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    comp = pd.read_csv(results / "comparisons.csv")
    comp = comp[comp["experiment"] == "methods"]
    lines += ["", f"| comparison | load | JCT reduction (paper {paper.label('mean_jct_all')}) | collision reduction "
              f"(paper {paper.label('collisions')}) | median-utilisation reduction (paper "
              f"{paper.label('median_utilization')}) |", "|---|---|---|---|---|"]
    for srole, base in README_PAIRS:
        for load in loads:
            part = comp[(comp["srole"] == srole) & (comp["baseline"] == base) & (comp[LOAD] == load)]
            if part.empty:
                continue
            cells = []
            for metric in PAPER_METRICS:
                r = part[part["metric"] == metric]
                cells.append(f"{with_ci(r.iloc[0], 'paired_reduction', percent)} ({_short(r.iloc[0]['verdict'])})"
                             if len(r) else "n/a")
            lines.append(f"| {srole} vs {base} | {load:g} | " + " | ".join(cells) + " |")
    conv = pd.read_csv(results / "convergence.csv")
    repl = pd.read_csv(results / "replication.csv")
    halves = f"seeds {repl['seeds_first_half'].iloc[0]} and {repl['seeds_second_half'].iloc[0]}" if len(repl) else ""
    pairs = comp["pairs"].astype(int)
    span = f"{pairs.min()}" if pairs.min() == pairs.max() else f"{pairs.min()}-{pairs.max()}"
    lines += ["", f"Paired over {span} training seeds per comparison; {int(conv['converged'].sum())} of "
              f"{len(conv)} learned runs passed the convergence test; {int(repl['agree'].sum())} of {len(repl)} "
              f"verdicts agree between {halves}."]
    replica, longer, quick = (_companion(manifest, role, results) for role in ("replication", "long_budget", "quick"))
    if replica is not None:
        lines += replication_lines(results, replica)
    if longer is not None:
        lines += budget_lines(results, longer)
    if quick is not None:
        agree = quick_agreement(quick, results)
        if not agree.empty:
            differ = agree[~agree["agree"].astype(bool)]
            if differ.empty:
                rest = "."
            elif (differ["verdict_quick"] == "n.s.").all():  # less power, no contradiction
                rest = f"; the other {len(differ)} are n.s. there."
            else:
                rest = "; they differ on " + "; ".join(
                    f"{r.comparison} (quick {r.verdict_quick}, decisive {r.verdict_decisive})"
                    for r in differ.itertuples()) + "."
            lines += ["", f"The `quick` profile (5 seeds, 2,000 rounds, independent bootstrap) agrees on "
                      f"{int(agree['agree'].sum())} of {len(agree)} of these JCT verdicts at the base load" + rest]
    return "\n".join(lines)


def _companion(manifest: ResultsManifest | None, role: str, results: Path) -> Path | None:
    """The manifest's directory for ``role`` when it is another run than ``results``; a ``ValueError`` naming the
    manifest when that directory holds no ``comparisons.csv``."""
    folder = None if manifest is None else manifest.get(role)
    if folder is None or folder == results.resolve():
        return None
    if not (folder / "comparisons.csv").is_file():
        raise ValueError(f"{manifest.path}: the {role} directory {str(folder)!r} holds no comparisons.csv")
    return folder


def _changed(rows: pd.DataFrame, first: str, second: str, title: str) -> list[str]:
    """A table of the verdicts in ``rows`` that differ between the two runs (labelled ``first``/``second``)."""
    table = [{"comparison": r.effect if r.experiment == "ablation" else f"{r.srole} vs {r.baseline}",
              LOAD: f"{getattr(r, LOAD):g}", "paired seeds": f"{r.pairs_first} / {r.pairs_second}",
              first: f"{percent(r.paired_reduction_first)} ({_short(r.verdict_first)})",
              second: f"{percent(r.paired_reduction_second)} ({_short(r.verdict_second)})"}
             for r in rows.itertuples() if not r.agree]
    if not table:
        return []
    return ["", f"{title} (JCT reduction, verdict):", "",
            markdown_table(pd.DataFrame(table), ["comparison", LOAD, "paired seeds", first, second])]


def replication_lines(first_dir: str | Path, second_dir: str | Path) -> list[str]:
    """The README's lines on the replication: how many verdicts of the headline pairs and of the ablation's JCT
    effects hold on the second set of training seeds, and which JCT verdicts do not."""
    across = replication_across(first_dir, second_dir)
    main = _headline(across)
    if main.empty:
        return []
    jct = main[main["metric"] == "mean_jct_all"]
    ablation = across[(across["experiment"] == "ablation") & (across["metric"] == "mean_jct_all")]
    first, second = (_seed_span(folder) for folder in (first_dir, second_dir))
    low, high = int(main["pairs_second"].min()), int(main["pairs_second"].max())
    pairs = f"{low}" if low == high else f"{low}-{high}"
    metrics = f"{main['metric'].nunique()} metrics"
    text = (f"Replicated on disjoint training seeds {second} (`srole reproduce --profile paper-replication`, "
            f"{pairs} paired seeds per comparison): {int(jct['agree'].sum())} of {len(jct)} JCT verdicts and "
            f"{int(main['agree'].sum())} of {len(main)} verdicts over {metrics} are the same as on seeds {first}")
    if not ablation.empty:
        text += f"; so are {int(ablation['agree'].sum())} of the ablation's {len(ablation)} JCT effects"
    return ["", text + "."] + _changed(pd.concat([jct, ablation]), f"seeds {first}", f"seeds {second}",
                                       "JCT verdicts that do not replicate")


def budget_lines(results_dir: str | Path, long_dir: str | Path) -> list[str]:
    """The README's lines on a longer budget (profile ``paper-long``, same seeds and episodes): how many of its
    learned runs pass the convergence test against the decisive run's at the same points, and which headline JCT
    verdicts change with the budget."""
    main = _headline(replication_across(results_dir, long_dir))
    jct = main[main["metric"] == "mean_jct_all"]
    if jct.empty:
        return []
    conv = {key: pd.read_csv(Path(folder) / "convergence.csv") for key, folder in (("short", results_dir),
                                                                                ("long", long_dir))}
    rounds = {key: int(c["final_round"].max()) for key, c in conv.items()}
    long = conv["long"][conv["long"][LOAD].isin(set(jct[LOAD]))]
    short = conv["short"][conv["short"][LOAD].isin(set(jct[LOAD])) & conv["short"]["method"].isin(set(long["method"]))]
    text = (f"At {rounds['long']:,} rounds (`srole reproduce --profile paper-long`, the same seeds and episodes, "
            f"load {', '.join(f'{x:g}' for x in sorted(set(jct[LOAD])))}): {int(long['converged'].sum())} of "
            f"{len(long)} learned runs pass the convergence test (at {rounds['short']:,} rounds: "
            f"{int(short['converged'].sum())} of {len(short)}); {int(jct['agree'].sum())} of {len(jct)} JCT "
            f"verdicts are the same as at {rounds['short']:,}.")
    return ["", text] + _changed(jct, f"{rounds['short']:,} rounds", f"{rounds['long']:,} rounds",
                                 "JCT verdicts that change with the budget")


def _seed_span(results_dir: str | Path) -> str:
    """'0-9': the training seeds of a results directory's ``methods.csv``."""
    seeds = pd.read_csv(Path(results_dir) / "methods.csv", usecols=["seed"])["seed"]
    return f"{int(seeds.min())}-{int(seeds.max())}"




if __name__ == "__main__":  # python -m study.analysis.paired_report RESULTS_DIR: print the README's results section
    import sys

    print(readme_section(sys.argv[1] if len(sys.argv) > 1 else "docs/results/paper"))
