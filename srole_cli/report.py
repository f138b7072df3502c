"""Turning per-seed results into the reproduction's tables, plots and Markdown summary.

Rows are plain dicts (one per experiment cell x method x seed); aggregation gives the mean over seeds
and a 95% Student-t confidence half-width. The summary states SROLE's reductions against MARL and CRL
beside the paper's figures (PAPER.md): 59% JCT, 48% collisions, 29% median utilisation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

PAPER_JCT_REDUCTION = 0.59
PAPER_COLLISION_REDUCTION = 0.48
PAPER_UTILIZATION_REDUCTION = 0.29

REPORTED_METRICS = (
    "mean_jct_all",
    "mean_jct",
    "p95_jct",
    "jobs_completed",
    "jobs_unfinished",
    "median_utilization",
    "collisions",
    "overloads",
    "interventions",
    "messages",
    "scheduling_overhead_s",
    "mean_decision_latency_s",
)


def ci95(values: Sequence[float]) -> float:
    """Half-width of the 95% Student-t confidence interval of the mean (nan for fewer than 2 values)."""
    values = np.asarray([v for v in values if not (isinstance(v, float) and math.isnan(v))], float)
    if len(values) < 2:
        return math.nan
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))


def aggregate(rows: Iterable[dict], by: Sequence[str], metrics: Sequence[str] = REPORTED_METRICS) -> pd.DataFrame:
    """Mean and 95% CI half-width (``<metric>_ci``) of each metric over seeds, grouped by ``by``."""
    frame = pd.DataFrame(list(rows))
    metrics = [m for m in metrics if m in frame.columns]
    grouped = frame.groupby(list(by), sort=False)
    out = grouped[metrics].mean()
    for metric in metrics:
        out[f"{metric}_ci"] = grouped[metric].agg(ci95)
    out["seeds"] = grouped.size()
    return out.reset_index()


def reduction(baseline: float, method: float) -> float:
    """Relative reduction of ``method`` against ``baseline`` (0.59 = 59% lower); nan if undefined."""
    if not baseline or math.isnan(baseline) or math.isnan(method):
        return math.nan
    return (baseline - method) / baseline


def bar_plot(table: pd.DataFrame, metric: str, path: Path, title: str) -> None:
    """Bars of ``metric`` per method with CI whiskers."""
    fig, ax = plt.subplots(figsize=(8, 4))
    ci = table.get(f"{metric}_ci", pd.Series([0.0] * len(table))).fillna(0.0)
    ax.bar(table["method"], table[metric], yerr=ci, capsize=3, color="tab:blue")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def line_plot(table: pd.DataFrame, x: str, metric: str, path: Path, title: str, series: str = "method") -> None:
    """``metric`` against ``x``, one line per ``series`` value, with CI bands."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, group in table.groupby(series, sort=False):
        group = group.sort_values(x)
        ax.plot(group[x], group[metric], marker="o", label=str(name))
        ci = group.get(f"{metric}_ci")
        if ci is not None and ci.notna().any():
            ax.fill_between(group[x], group[metric] - ci.fillna(0), group[metric] + ci.fillna(0), alpha=0.15)
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_table(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """A Markdown table of ``columns``; metrics with a ``_ci`` column print as ``mean ± ci``."""
    columns = [c for c in columns if c in table.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in table.iterrows():
        cells = []
        for col in columns:
            value = row[col]
            ci = row.get(f"{col}_ci")
            if isinstance(value, (float, np.floating)):
                text = f"{value:.4g}" if abs(value) < 1 else f"{value:,.1f}"
                if ci is not None and not pd.isna(ci):
                    text += f" ± {ci:.2g}" if abs(ci) < 1 else f" ± {ci:,.1f}"
            else:
                text = str(value)
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def percent(value: float) -> str:
    """0.59 -> '59.0%'; nan -> 'n/a'."""
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def write_rows(path: Path, rows: list[dict]) -> None:
    """One experiment's per-seed rows as CSV."""
    pd.DataFrame(rows).to_csv(path, index=False)


SUMMARY_COLUMNS = ("method", "mean_jct_all", "mean_jct", "p95_jct", "jobs_unfinished", "median_utilization",
                   "collisions", "overloads", "interventions", "mean_decision_latency_s", "seeds")


def _method_table(rows: list[dict], by: Sequence[str]) -> pd.DataFrame:
    return aggregate(rows, by=[*by, "method"])


def _headline(table: pd.DataFrame) -> list[str]:
    """Sentences comparing SROLE with MARL and CRL on the methods table, beside the paper's figures."""
    by = table.set_index("method")
    lines = []
    for srole in ("SROLE-central", "SROLE-decentralized"):
        if srole not in by.index:
            continue
        for base in ("MARL", "CRL"):
            if base not in by.index:
                continue
            jct_all = reduction(by.at[base, "mean_jct_all"], by.at[srole, "mean_jct_all"])
            jct = reduction(by.at[base, "mean_jct"], by.at[srole, "mean_jct"])
            col = reduction(by.at[base, "collisions"], by.at[srole, "collisions"])
            util = reduction(by.at[base, "median_utilization"], by.at[srole, "median_utilization"])
            lines.append(
                f"| {srole} vs {base} | {percent(jct_all)} | {percent(jct)} | {percent(PAPER_JCT_REDUCTION)} | "
                f"{percent(col)} | {percent(PAPER_COLLISION_REDUCTION)} | {percent(util)} | "
                f"{percent(PAPER_UTILIZATION_REDUCTION)} |"
            )
    if lines:
        lines = [
            "| comparison | JCT reduction (all jobs) | JCT reduction (completed) | paper | collision reduction | "
            "paper | median-utilisation reduction | paper |",
            "|---|---|---|---|---|---|---|---|",
            *lines,
        ]
    if "oracle" in by.index:
        for method in ("SROLE-central", "SROLE-decentralized", "MARL", "CRL"):
            if method in by.index:
                gap = by.at[method, "mean_jct_all"] / by.at["oracle", "mean_jct_all"] - 1.0
                lines.append(f"\n{method}: mean JCT (all jobs) is {percent(gap)} above the oracle bound.")
    return lines


def write_report(profile, results: dict[str, list[dict]], out: Path, wall_s: float) -> None:
    """Aggregate CSVs, PNG plots and ``summary.md`` for every experiment in ``results``."""
    md = [
        f"# SROLE reproduction: profile `{profile.name}`",
        "",
        f"Budget: {profile.timesteps:,} timesteps per learned method (MARL/SROLE: agent-steps; CRL: head "
        f"decisions), MARL/SROLE algo `{profile.marl_algo}`, CRL algo `{profile.crl_algo}`; training seeds "
        f"{list(profile.seeds)}; {profile.eval_episodes} evaluation episode(s) per seed on shared evaluation "
        f"seeds. Means over seeds ± 95% CI half-width. Wall time {wall_s / 60:.1f} min.",
        "",
        "`mean_jct_all` counts unfinished jobs at their age at the end of the episode (a lower bound on "
        "their JCT), so a method cannot look fast by leaving slow jobs unfinished; `mean_jct` covers "
        "completed jobs only. JCT in simulated seconds.",
    ]
    for name, rows in results.items():
        if not rows:
            continue
        exp = next(e for e in profile.experiments if e.name == name)
        if exp.kind == "shield_overhead":
            table = aggregate(rows, by=[exp.sweep, "method"],
                              metrics=("decision_latency_s", "messages_per_round", "shield_wall_ms_per_round"))
            table.to_csv(out / f"{name}_summary.csv", index=False)
            line_plot(table, exp.sweep, "decision_latency_s", out / f"{name}_latency.png",
                      "Simulated shield decision latency vs cluster size")
            md += ["", f"## {name}", "", "Least-loaded play behind each shield; latency is the simulated "
                   "time from request to answer (mean over rounds with requests).", "",
                   markdown_table(table, [exp.sweep, "method", "decision_latency_s", "messages_per_round",
                                          "shield_wall_ms_per_round"])]
            continue
        by = [exp.sweep] if exp.sweep else []
        table = _method_table(rows, by)
        table.to_csv(out / f"{name}_summary.csv", index=False)
        md += ["", f"## {name}", ""]
        if exp.sweep:
            line_plot(table, exp.sweep, "mean_jct_all", out / f"{name}_jct.png", f"Mean JCT vs {exp.sweep}")
            md.append(f"![{name}]({name}_jct.png)")
            md.append("")
            md.append(markdown_table(table, [exp.sweep, *SUMMARY_COLUMNS]))
        else:
            bar_plot(table, "mean_jct_all", out / f"{name}_jct.png", "Mean JCT per method (all jobs)")
            md += [f"![{name}]({name}_jct.png)", "", markdown_table(table, SUMMARY_COLUMNS), "",
                   "### SROLE against MARL and CRL (paper: up to 59% JCT, 48% collisions, 29% median utilisation)",
                   "", *_headline(table)]
    (out / "summary.md").write_text("\n".join(md) + "\n")
