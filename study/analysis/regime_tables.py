"""The regime map's tables and heatmaps: the rows with offered load and head time, SROLE's paired JCT reduction against
each baseline per point with both methods' mechanism figures, and one heatmap per comparison; regime_report writes them
with the prose.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import save_figure
from srole_env import make_config
from srole_env.load import offered_load
from study.analysis.paired_tables import paired_rows
from study.analysis.paper import paper_figures
from study.experiments.regime_profile import REFERENCE, SOURCE_N
from study.experiments.roster import EDGE_LEARNED, HEAD_BASELINES, HEAD_METHODS, SROLE

# ---------------------------------------------------------------------- the report


MECHANISM = ("mean_jct_all", "collisions", "oom_kills", "mean_queue_wait_s", "mean_decision_latency_s",
             "head_backlog_max", "head_decision_latency_mean_s", "jobs_unfinished")
"""Per-point means (over seeds) written beside each comparison: where a gap comes from."""
CSV_COLUMNS = ("rho", "least_loaded_utilization", "n_edges", "trained", "head_service_s", "comparison", "srole",
               "baseline", "paired_reduction", "lo", "hi", "verdict", "verdict_stable", "p_value", "wins", "pairs")
HEAD_COLUMN = "head_service_s"
"""The head's service time per decision in the row's evaluation (its ``head_bookkeeping_s``), NaN for the methods
that never consult the head. Tables written before it had this name call it ``head_decision_s`` (which is also a
deprecated config field that means nothing now); ``read_table`` reads both."""
VERDICT_WORDS = {"lower": "better", "higher": "worse"}
MIN_PAIRS = 3
"""Training seeds a point needs (both methods) for an interval and a verdict; with 2 the point estimate is shown
with verdict ``FEW``."""
FEW = "n/a (2 seeds)"


def read_table(path: str | Path) -> pd.DataFrame:
    """A regime or crossover CSV, its head column named ``HEAD_COLUMN`` whatever version of the code wrote it."""
    frame = pd.read_csv(path)
    if HEAD_COLUMN not in frame.columns and "head_decision_s" in frame.columns:
        frame = frame.rename(columns={"head_decision_s": HEAD_COLUMN})
    return frame


def head_label(head: float) -> str:
    """A head service time as ``1 ms`` / ``0.0724 ms`` / ``2 s`` (empty for none)."""
    if head is None or not np.isfinite(head):
        return ""
    return f"{head:g} s" if head >= 1 else f"{head * 1e3:.3g} ms"


def regime_frame(rows: list[dict[str, Any]], base: dict[str, Any]) -> pd.DataFrame:
    """The run's rows with ``rho`` (the offered-load level, from N and the arrival rate), ``trained`` (N was
    retrained, not only evaluated) and ``head_service_s`` (the head's service time; NaN for edge methods)."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.drop(columns=[c for c in ("job_jcts",) if c in frame.columns])
    keys = frame[["n_edges", "arrival_rate"]].drop_duplicates()
    rho = {(n, r): round(offered_load({**base, "n_edges": int(n), "arrival_rate": float(r)}), 2)
           for n, r in keys.itertuples(index=False)}
    frame["rho"] = [rho[(n, r)] for n, r in zip(frame["n_edges"], frame["arrival_rate"])]
    frame["trained"] = frame["experiment"] == "trained"
    head = frame["head_bookkeeping_s"] if "head_bookkeeping_s" in frame.columns else pd.Series(np.nan, frame.index)
    default = make_config(**base).head_bookkeeping_s
    frame["head_service_s"] = np.where(frame["method"].isin(HEAD_METHODS), head.fillna(default), np.nan)
    return frame


def regime_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (load, N, head time, comparison): the paired JCT reduction of SROLE against the baseline over
    training seeds, its BCa interval and verdict, with both methods' mechanism figures (means over seeds)."""

    out = []
    if frame.empty:
        return pd.DataFrame(columns=CSV_COLUMNS)
    for (rho, n), part in frame.groupby(["rho", "n_edges"], sort=True):
        util = part.loc[part["method"] == REFERENCE, "mean_utilization"]
        edge = part[part["method"].isin(EDGE_LEARNED)]
        trained = bool(edge["trained"].any()) if not edge.empty else bool(part["trained"].any())
        heads = sorted(part["head_service_s"].dropna().unique())
        for srole in SROLE:
            for baseline in HEAD_BASELINES:
                for head in ([math.nan] if baseline in EDGE_LEARNED else heads):
                    base_rows = part[part["method"] == baseline]
                    if baseline in HEAD_METHODS:
                        base_rows = base_rows[base_rows["head_service_s"] == head]
                    pair = pd.concat([part[part["method"] == srole], base_rows])
                    rows = paired_rows(pair, [(srole, baseline)], metrics=("mean_jct_all",))
                    if not rows or rows[0]["pairs"] < 2:
                        continue
                    r = rows[0]
                    word = r["verdict"].rsplit(" ", 1)[-1]
                    row = {"rho": rho, "least_loaded_utilization": float(util.mean()) if len(util) else math.nan,
                           "n_edges": int(n), "trained": trained, "head_service_s": head,
                           "comparison": f"{srole} vs {baseline}", "srole": srole, "baseline": baseline,
                           "paired_reduction": r["paired_reduction"], "lo": r["paired_reduction_lo"],
                           "hi": r["paired_reduction_hi"],
                           "verdict": VERDICT_WORDS.get(word, "tied") if r["pairs"] >= MIN_PAIRS else FEW,
                           "verdict_stable": r["verdict_stable"], "p_value": r["p_value"], "wins": r["wins"],
                           "pairs": r["pairs"]}
                    for who, sel in (("srole", part[part["method"] == srole]), ("baseline", base_rows)):
                        for metric in MECHANISM:
                            row[f"{who}_{metric}"] = float(sel[metric].mean()) if metric in sel.columns else math.nan
                    out.append(row)
    return pd.DataFrame(out)


def heatmap(table: pd.DataFrame, comparison: str, path: Path, source_n: int | None = SOURCE_N) -> None:
    """x = load level, y = N, one panel per head time: cells coloured better (green) / worse (red) / tied (grey)
    with the paired reduction and its 95% interval printed; hatched cells were evaluated only (the policies were
    trained at N = ``source_n``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    part = table[table["comparison"] == comparison]
    heads = sorted(part["head_service_s"].dropna().unique()) or [math.nan]
    loads = sorted(part["rho"].unique())
    sizes = sorted(part["n_edges"].unique())
    colours = {"better": "#4caf50", "worse": "#e53935", "tied": "#bdbdbd", FEW: "#fff3c4"}
    # one panel per head time, stacked: the figure stays about 800 px wide, readable at 100%
    size = (1.5 + 1.6 * len(loads), 0.6 + (0.9 + 0.75 * len(sizes)) * len(heads))
    fig, axes = plt.subplots(len(heads), 1, figsize=size, squeeze=False)
    for ax, head in zip(axes[:, 0], heads):
        sel = part if math.isnan(head) else part[part["head_service_s"] == head]
        for _, r in sel.iterrows():
            x, y = loads.index(r["rho"]), sizes.index(r["n_edges"])
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=colours[r["verdict"]], edgecolor="white",
                                   hatch=None if r["trained"] else "//", linewidth=2))
            text = f"{100 * r['paired_reduction']:+.0f}%" if np.isfinite(r["paired_reduction"]) else "n/a"
            word = "2 seeds" if r["verdict"] == FEW else r["verdict"]
            ax.text(x, y + 0.12, f"{text} {word}", ha="center", va="center", fontsize=10)
            if np.isfinite(r["lo"]):
                ax.text(x, y - 0.2, f"[{100 * r['lo']:+.0f}, {100 * r['hi']:+.0f}]", ha="center", va="center",
                        fontsize=8)
        ax.set_xlim(-0.5, len(loads) - 0.5)
        ax.set_ylim(-0.5, len(sizes) - 0.5)
        ax.set_xticks(range(len(loads)), [f"{rho:g}" for rho in loads])
        ax.set_yticks(range(len(sizes)), [f"{n:,}" for n in sizes])
        ax.set_xlabel("offered load rho")
        ax.set_ylabel("N (edges)")
        ax.set_title("head time does not enter" if math.isnan(head) else f"head service {head_label(head)}/decision",
                     fontsize=10)
    handles = [Patch(facecolor=c, label="2 seeds: no interval" if v == FEW else f"SROLE {v}")
               for v, c in colours.items()]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="//",
                         label=f"evaluated only (trained at N={source_n})"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"{comparison}: paired JCT reduction (mean_jct_all)", fontsize=11)
    fig.tight_layout(rect=(0, 0.1, 1, 0.96))
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def slug(comparison: str) -> str:
    return comparison.replace(" vs ", "_vs_").replace(" ", "_")


def trained_source_n(profile: Any) -> int | None:
    """The trained N whose models the evaluation-only points use."""
    sizes = {int(g["n_edges"]) for e in profile.experiments if e.name == "evaluated" for g in e.grid}
    return min(sizes) if sizes else None


def fixed(value: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals and thousands separators; nan -> 'n/a'."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:,.{digits}f}"


def expected_points(profile: Any) -> set[tuple[int, float]]:
    from study.experiments.plan import _grid_points

    base = dict(profile.experiments[0].base)
    points = set()
    for exp in profile.experiments:
        for point, _, _ in _grid_points(exp):
            cfg = {**base, **point}
            points.add((int(cfg["n_edges"]), round(offered_load(cfg), 2)))
    return points


def where_points(part: pd.DataFrame) -> str:
    """``N=20 rho 0.2, 0.5; N=1,000 rho 0.95`` (with the head time when it is set) of the rows in ``part``."""
    out = []
    for (n, head), sel in part.groupby(["n_edges", part["head_service_s"].fillna(-1.0)], sort=True):
        h = "" if head < 0 else f" at {head_label(head)}"
        out.append(f"N={n:,}{h} rho {', '.join(f'{r:g}' for r in sorted(sel['rho'].unique()))}")
    return "; ".join(out)


def readme_table(results_dir: str | Path) -> str:
    """The README's regime table: per comparison of the regime map, points that are better, tied, worse or without an
    interval (too few paired seeds), the range of the paired reductions, and the largest reduction anywhere."""
    regime = read_table(Path(results_dir) / "regime.csv")
    lines = ["| comparison | points | better | tied | worse | no interval | paired JCT reduction, range |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for comparison, part in regime.groupby("comparison", sort=True):
        verdict = part["verdict"].astype(str)
        lines.append(f"| {comparison} | {len(part)} | {(verdict == 'better').sum()} | {(verdict == 'tied').sum()} | "
                     f"{(verdict == 'worse').sum()} | {verdict.str.startswith('n/a').sum()} | "
                     f"{part['paired_reduction'].min():+.0%} to {part['paired_reduction'].max():+.0%} |")
    top = regime.loc[regime["paired_reduction"].idxmax()]
    head = "" if pd.isna(top[HEAD_COLUMN]) else f", head {top[HEAD_COLUMN] * 1e3:g} ms"
    lines += ["", f"Largest paired JCT reduction anywhere: {top['paired_reduction']:+.0%} ({top['comparison']}, "
              f"N = {int(top['n_edges'])}, offered load {top['rho']:g}{head}; verdict: {top['verdict']}). "
              f"The paper reports up to {paper_figures().label('mean_jct_all')}."]
    return "\n".join(lines)
