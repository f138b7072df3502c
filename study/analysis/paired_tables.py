"""The paired comparison's tables (over training seeds, the same evaluation episodes for every method): paired
differences and reductions per baseline, the shield's factorial ablation with the JCT decomposed, per-run convergence
and the replication check; paired_report writes them with the prose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from study.analysis import stats
from study.analysis.bootstrap_tables import REPORTED_METRICS, summarize
from study.experiments.roster import HEAD_BASELINES, PAIRED_BASELINES, SROLE

PAIRED_METRICS = ("mean_jct_all", "collisions", "median_utilization", "mean_utilization")
"""Metrics every paired comparison reports (JCT, collisions and utilisation: the paper's three)."""
DECOMPOSITION = ("mean_jct_all", "jct_finished_part", "jct_unfinished_part", "mean_queue_wait_s", "mean_jct",
                 "jobs_unfinished", "collisions", "overloads", "oom_kills", "work_lost_s", "mean_utilization")
MAIN_TABLE = ("method", "mean_jct_all", "mean_jct", "collisions", "mean_utilization", "median_utilization",
              "oom_kills", "mean_decision_latency_s", "seeds")
EFFORT = ("train_rounds", "samples", "gradient_updates")
LOAD = "arrival_rate"
LEVELS = (*REPORTED_METRICS, "mean_utilization", "mean_queue_wait_s", *EFFORT)
"""Metrics of ``methods_summary.csv`` (IQM and CI per method and load)."""


# ---------------------------------------------------------------------- tables
def decompose(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``jct_finished_part`` and ``jct_unfinished_part`` (they sum to ``mean_jct_all`` per episode mean)."""
    out = frame.copy()
    if {"jobs_completed", "jobs_arrived", "mean_jct", "mean_jct_all"} <= set(out.columns):
        arrived = out["jobs_arrived"].where(out["jobs_arrived"] > 0)
        finished = (out["jobs_completed"] / arrived * out["mean_jct"].fillna(0.0)).fillna(0.0)
        out["jct_finished_part"] = finished
        out["jct_unfinished_part"] = out["mean_jct_all"] - finished
    return out


def _pivot(frame: pd.DataFrame, method: str, metric: str) -> pd.Series:
    part = frame[frame["method"] == method]
    return part.groupby("seed")[metric].mean() if metric in part.columns else pd.Series(dtype=float)


def paired_rows(frame: pd.DataFrame, pairs: list[tuple[str, str]], metrics=PAIRED_METRICS,
                seeds: list[int] | None = None) -> list[dict[str, Any]]:
    """One row per pair and metric: the paired comparison of the first method against the second."""
    rows = []
    for x_name, y_name in pairs:
        for metric in metrics:
            x, y = _pivot(frame, x_name, metric), _pivot(frame, y_name, metric)
            common = sorted(set(x.index) & set(y.index) & (set(seeds) if seeds is not None else set(x.index)))
            if not common:
                continue
            p = stats.paired_difference(x.loc[common].to_numpy(), y.loc[common].to_numpy())
            rows.append({"srole": x_name, "baseline": y_name, "metric": metric, "pairs": p.n,
                         "paired_diff": p.diff.value, "paired_diff_lo": p.diff.lo, "paired_diff_hi": p.diff.hi,
                         "paired_reduction": p.reduction.value, "paired_reduction_lo": p.reduction.lo,
                         "paired_reduction_hi": p.reduction.hi, "p_value": p.p_value, "wins": p.wins,
                         "verdict": p.verdict(f"{x_name} lower", f"{x_name} higher"),
                         "verdict_stable": p.stable})
    return rows


def _main_pairs(methods: set[str]) -> list[tuple[str, str]]:
    return [(s, b) for s in SROLE for b in PAIRED_BASELINES if s in methods and b in methods]


ABLATION_CELLS = {
    ("none", "none"): "ABL-trained-none [eval none]",
    ("none", "central"): "ABL-trained-none [eval central]",
    ("central", "none"): "ABL-trained-central [eval none]",
    ("central", "central"): "ABL-trained-central [eval central]",
}
"""(training shield, evaluation shield) -> the row name of that factorial cell."""
ABLATION_EFFECTS = (
    ("shield at evaluation, trained without", ABLATION_CELLS["none", "central"], ABLATION_CELLS["none", "none"]),
    ("shield at evaluation, trained behind it", ABLATION_CELLS["central", "central"],
     ABLATION_CELLS["central", "none"]),
    ("training behind the shield, evaluated behind it", ABLATION_CELLS["central", "central"],
     ABLATION_CELLS["none", "central"]),
    ("training behind the shield, evaluated without", ABLATION_CELLS["central", "none"],
     ABLATION_CELLS["none", "none"]),
    ("shield in training and evaluation (shared hyperparameters)", ABLATION_CELLS["central", "central"],
     ABLATION_CELLS["none", "none"]),
)
"""Named paired contrasts of the factorial cells (first minus second)."""


def ablation_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The factorial cells and every own-tuned method, decomposed (``ablation.csv``), and the paired effects."""
    frame = decompose(frame)
    abl = frame[frame["experiment"] == "ablation"]
    cells = summarize(abl, ["method"], DECOMPOSITION) if not abl.empty else pd.DataFrame()
    if not cells.empty:
        names = {v: k for k, v in ABLATION_CELLS.items()}
        cells.insert(0, "trained", cells["method"].map(lambda m: names.get(m, ("?", "?"))[0]))
        cells.insert(1, "evaluated", cells["method"].map(lambda m: names.get(m, ("?", "?"))[1]))
        cells.insert(0, "kind", "factorial (MARL's tuned hyperparameters)")
        base = abl[LOAD].dropna().unique() if LOAD in abl.columns else []
        if len(base):
            cells.insert(1, LOAD, base[0])
    main = frame[frame["experiment"].str.startswith("methods")]
    own = summarize(main, [LOAD, "method"], DECOMPOSITION) if not main.empty else pd.DataFrame()
    if not own.empty:
        own.insert(0, "kind", "own tuning")
    table = pd.concat([cells, own], ignore_index=True)
    effects = []
    for label, x, y in ABLATION_EFFECTS:
        for row in paired_rows(abl, [(x, y)], ("mean_jct_all", "jct_unfinished_part", "mean_queue_wait_s",
                                               "collisions", "oom_kills")):
            effects.append({"experiment": "ablation", "effect": label, **row})
    return table, effects


def convergence_table(curves: pd.DataFrame, keys: tuple[str, ...] = ("method", LOAD, "seed")) -> pd.DataFrame:
    """One row per learned run (one per ``keys``): the convergence test's figures and verdict
    (``agents.harness.convergence.flatness``)."""
    from agents.harness.convergence import flatness

    if curves.empty or "round" not in curves.columns:
        return pd.DataFrame(columns=[*keys, "converged"])
    keys = [k for k in keys if k in curves.columns]
    rows = []
    for key, run in curves.groupby(keys, sort=False):
        f = flatness(run)
        last = run.sort_values("round").iloc[-1]
        rows.append({**dict(zip(keys, key)), "converged": f.flattened, "points": f.points,
                     "window_first_round": f.first_round, "window_last_round": f.last_round,
                     "window_mean_jct_all": f.mean, "improvement_per_1000": f.improvement,
                     "improvement_per_1000_hi": f.improvement_hi, "episodes_per_point": f.episodes,
                     "frozen": f.frozen, "final_round": last["round"], "final_mean_jct_all": last["mean_jct_all"],
                     "reason": f.reason})
    return pd.DataFrame(rows)


def convergence_summary(conv: pd.DataFrame, by: list[str], medians: tuple[str, ...] = ("improvement_per_1000",),
                        sums: tuple[str, ...] = (), sort: bool = True) -> pd.DataFrame:
    """Runs and passes of the convergence test per group of ``convergence_table`` rows, with the sum of each of
    ``sums`` and the median of each of ``medians`` over the group's runs (the reports' "Medians over runs" table;
    ``sort=False`` keeps the groups in order of first appearance)."""
    agg = {"runs": ("converged", "size"), "converged": ("converged", "sum"),
           **{c: (c, "sum") for c in sums}, **{c: (c, "median") for c in medians}}
    return conv.groupby([c for c in by if c in conv.columns], sort=sort).agg(**agg).reset_index()


def replication_table(frame: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """Each main comparison's verdict on the first and second half of the training seeds."""
    rows = []
    main = frame[frame["experiment"].str.startswith("methods")]
    for load, part in main.groupby(LOAD, sort=True):
        pairs = _main_pairs(set(part["method"]))
        seeds = sorted(set(part["seed"]) & set(seeds))
        half = len(seeds) // 2
        first, second = seeds[:half], seeds[half:]
        if not first or not second:
            continue
        a = paired_rows(part, pairs, seeds=first)
        b = {(r["srole"], r["baseline"], r["metric"]): r for r in paired_rows(part, pairs, seeds=second)}
        for r in a:
            other = b.get((r["srole"], r["baseline"], r["metric"]))
            if other is None:
                continue
            rows.append({LOAD: load, "srole": r["srole"], "baseline": r["baseline"], "metric": r["metric"],
                         "seeds_first_half": f"{first[0]}-{first[-1]}",
                         "seeds_second_half": f"{second[0]}-{second[-1]}",
                         "verdict_first_half": r["verdict"], "verdict_second_half": other["verdict"],
                         "agree": r["verdict"] == other["verdict"],
                         "paired_reduction_first_half": r["paired_reduction"],
                         "paired_reduction_second_half": other["paired_reduction"]})
    return pd.DataFrame(rows)


README_PAIRS = tuple((srole, base) for srole in SROLE for base in HEAD_BASELINES)
"""SROLE's two configurations against the paper's two baselines and the head without learning."""


def quick_agreement(quick_dir: str | Path, results_dir: str | Path) -> pd.DataFrame:
    """The ``quick`` profile's JCT verdicts (independent bootstrap, 5 seeds, 2,000 rounds) against the decisive
    run's paired ones at the same load, for the headline pairs: which of quick's verdicts hold up."""
    quick = pd.read_csv(Path(quick_dir) / "comparisons.csv")
    quick = quick[quick["experiment"] == "methods"]
    comp = pd.read_csv(Path(results_dir) / "comparisons.csv")
    comp = comp[(comp["experiment"] == "methods") & (comp["metric"] == "mean_jct_all")]
    rows = []
    for srole, base in README_PAIRS:
        q = quick[(quick["srole"] == srole) & (quick["baseline"] == base)]
        d = comp[(comp["srole"] == srole) & (comp["baseline"] == base)]
        if q.empty or d.empty:
            continue
        load = min(d[LOAD])  # quick runs at the decisive profile's base load
        d = d[d[LOAD] == load].iloc[0]
        quick_verdict = _short(str(q.iloc[0]["mean_jct_all_verdict"]).replace("SROLE ", f"{srole} "))
        rows.append({"comparison": f"{srole} vs {base}", LOAD: load, "verdict_quick": quick_verdict,
                     "verdict_decisive": _short(d["verdict"]), "agree": quick_verdict == _short(d["verdict"])})
    return pd.DataFrame(rows)


def replication_across(first_dir: str | Path, second_dir: str | Path) -> pd.DataFrame:
    """The same paired comparisons run twice on disjoint training seeds (``paper`` on seeds 0-9,
    ``paper-replication`` on 10-19): each verdict of the first beside the second's, per experiment (the main
    comparison, the ablation's effects), load, pair and metric, for those both runs hold. A verdict replicates
    when both runs give the same one."""
    keys = ["experiment", LOAD, "srole", "baseline", "metric"]
    runs = []
    for folder in (first_dir, second_dir):
        comp = pd.read_csv(Path(folder) / "comparisons.csv")
        if "effect" not in comp.columns:
            comp["effect"] = np.nan
        runs.append(comp[keys + ["effect", "pairs", "verdict", "paired_reduction", "paired_reduction_lo",
                                 "paired_reduction_hi"]].set_index(keys))
    first, second = runs
    both = first.merge(second.drop(columns="effect"), how="inner", left_index=True, right_index=True,
                       suffixes=("_first", "_second"))
    columns = [*keys, "effect", "pairs_first", "pairs_second", "verdict_first", "verdict_second", "agree"]
    for side in ("first", "second"):
        columns += [f"paired_reduction_{side}", f"paired_reduction_lo_{side}", f"paired_reduction_hi_{side}"]
    if both.empty:
        return pd.DataFrame(columns=columns)
    out = both.reset_index()
    out["agree"] = out["verdict_first"] == out["verdict_second"]
    return out[columns].sort_values(keys, kind="stable").reset_index(drop=True)


def _headline(across: pd.DataFrame) -> pd.DataFrame:
    """The main comparison's rows of ``replication_across`` for the README's pairs."""
    pairs = np.array([(s, b) in README_PAIRS for s, b in zip(across["srole"], across["baseline"])], dtype=bool)
    return across[(across["experiment"] == "methods").to_numpy() & pairs]


def _short(verdict: str) -> str:
    """'SROLE-central lower' -> 'lower'; the no-difference verdict -> 'n.s.'."""
    return "n.s." if verdict == stats.NO_DIFFERENCE else verdict.rsplit(" ", 1)[-1]
