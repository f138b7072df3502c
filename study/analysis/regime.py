"""The regime map's report (``docs/ceiling.md``): where SROLE wins, ties or loses against MARL, the learned CRL and
CRL-greedy, over offered load x cluster size N x the head's service time per decision (the profiles:
``study.experiments.regime``; the offered load: ``srole_env.load``). ``write_report`` turns the profile's rows into
``regime.csv``, heatmaps and ``summary.md``; ``least_loaded``'s measured mean utilisation stands beside each load.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import atomic_write, save_figure, write_frame
from srole_env import make_config
from srole_env.load import offered_load
from study.analysis.paper import paper_figures
from study.analysis.run_status import outcome_counts, status_sections
from study.experiments.regime import BASE, COST_NOTE, EVAL_N, LARGE_EPISODES, REFERENCE, SOURCE_N
from study.experiments.roster import EDGE_LEARNED, HEAD_BASELINES, HEAD_METHODS, SROLE

# ---------------------------------------------------------------------- the report
MECHANISM = ("mean_jct_all", "collisions", "oom_kills", "mean_queue_wait_s", "mean_decision_latency_s",
             "head_backlog_max", "head_decision_latency_mean_s", "jobs_unfinished")
"""Per-point means (over seeds) written beside each comparison: where a gap comes from."""
CSV_COLUMNS = ("rho", "least_loaded_utilization", "n_edges", "trained", "head_decision_s", "comparison", "srole",
               "baseline", "paired_reduction", "lo", "hi", "verdict", "verdict_stable", "p_value", "wins", "pairs")
VERDICT_WORDS = {"lower": "better", "higher": "worse"}
MIN_PAIRS = 3
"""Training seeds a point needs (both methods) for an interval and a verdict; with 2 the point estimate is shown
with verdict ``FEW``."""
FEW = "n/a (2 seeds)"


def head_label(head: float) -> str:
    """A head service time as ``1 ms`` / ``0.0724 ms`` / ``2 s`` (empty for none)."""
    if head is None or not np.isfinite(head):
        return ""
    return f"{head:g} s" if head >= 1 else f"{head * 1e3:.3g} ms"


def regime_frame(rows: list[dict[str, Any]], base: dict[str, Any]) -> pd.DataFrame:
    """The run's rows with ``rho`` (the offered-load level, from N and the arrival rate), ``trained`` (N was
    retrained, not only evaluated) and ``head_decision_s`` (the head's service time; NaN for edge methods)."""
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
    frame["head_decision_s"] = np.where(frame["method"].isin(HEAD_METHODS), head.fillna(default), np.nan)
    return frame


def regime_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (load, N, head time, comparison): the paired JCT reduction of SROLE against the baseline over
    training seeds, its BCa interval and verdict, with both methods' mechanism figures (means over seeds)."""
    from study.analysis.decisive import paired_rows

    out = []
    if frame.empty:
        return pd.DataFrame(columns=CSV_COLUMNS)
    for (rho, n), part in frame.groupby(["rho", "n_edges"], sort=True):
        util = part.loc[part["method"] == REFERENCE, "mean_utilization"]
        edge = part[part["method"].isin(EDGE_LEARNED)]
        trained = bool(edge["trained"].any()) if not edge.empty else bool(part["trained"].any())
        heads = sorted(part["head_decision_s"].dropna().unique())
        for srole in SROLE:
            for baseline in HEAD_BASELINES:
                for head in ([math.nan] if baseline in EDGE_LEARNED else heads):
                    base_rows = part[part["method"] == baseline]
                    if baseline in HEAD_METHODS:
                        base_rows = base_rows[base_rows["head_decision_s"] == head]
                    pair = pd.concat([part[part["method"] == srole], base_rows])
                    rows = paired_rows(pair, [(srole, baseline)], metrics=("mean_jct_all",))
                    if not rows or rows[0]["pairs"] < 2:
                        continue
                    r = rows[0]
                    word = r["verdict"].rsplit(" ", 1)[-1]
                    row = {"rho": rho, "least_loaded_utilization": float(util.mean()) if len(util) else math.nan,
                           "n_edges": int(n), "trained": trained, "head_decision_s": head,
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
    heads = sorted(part["head_decision_s"].dropna().unique()) or [math.nan]
    loads = sorted(part["rho"].unique())
    sizes = sorted(part["n_edges"].unique())
    colours = {"better": "#4caf50", "worse": "#e53935", "tied": "#bdbdbd", FEW: "#fff3c4"}
    # one panel per head time, stacked: the figure stays about 800 px wide, readable at 100%
    size = (1.5 + 1.6 * len(loads), 0.6 + (0.9 + 0.75 * len(sizes)) * len(heads))
    fig, axes = plt.subplots(len(heads), 1, figsize=size, squeeze=False)
    for ax, head in zip(axes[:, 0], heads):
        sel = part if math.isnan(head) else part[part["head_decision_s"] == head]
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


def _slug(comparison: str) -> str:
    return comparison.replace(" vs ", "_vs_").replace(" ", "_")


def write_report(profile: Any, rows: list[dict[str, Any]], curves: list[dict[str, Any]], out: Path,
                 run: Any) -> None:
    """``regime.csv`` (module docstring), ``methods.csv`` (every row), one heatmap per comparison and ``summary.md``."""
    from study.analysis.report import markdown_table

    out = Path(out)
    base = dict(profile.experiments[0].base) if profile.experiments else dict(BASE)
    frame = regime_frame(rows, base)
    write_frame(out / "methods.csv", frame)
    table = regime_table(frame)
    write_frame(out / "regime.csv", table)
    figures = []
    for comparison in dict.fromkeys(table["comparison"]) if not table.empty else []:
        path = f"heatmap_{_slug(comparison)}.png"
        heatmap(table, comparison, out / path, _source_n(profile))
        figures.append((comparison, path))
    md = _summary(profile, frame, table, figures, run, markdown_table)
    md += [*status_sections(out, run, markdown_table), ""]
    atomic_write(out / "summary.md", "\n".join(md) + "\n")


def _source_n(profile: Any) -> int | None:
    """The trained N whose models the evaluation-only points use."""
    sizes = {int(g["n_edges"]) for e in profile.experiments if e.name == "evaluated" for g in e.grid}
    return min(sizes) if sizes else None


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:,.{digits}f}"


def _pct(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:+.0f}%"


def _expected_points(profile: Any) -> set[tuple[int, float]]:
    from study.experiments.plan import _grid_points

    base = dict(profile.experiments[0].base)
    points = set()
    for exp in profile.experiments:
        for point, _, _ in _grid_points(exp):
            cfg = {**base, **point}
            points.add((int(cfg["n_edges"]), round(offered_load(cfg), 2)))
    return points


def _summary(profile: Any, frame: pd.DataFrame, table: pd.DataFrame, figures: list[tuple[str, str]], run: Any,
             markdown_table: Any) -> list[str]:
    from study.analysis.report import wall_line

    base = dict(profile.experiments[0].base)
    if frame.empty:
        return [f"# Regime map (profile `{profile.name}`)", "", "No results yet."]
    learned = frame[frame["method"].isin(("CRL", *EDGE_LEARNED))]
    algos = (learned.groupby("method")[["algo", "hparams_source"]].first().reset_index()
             if not learned.empty else pd.DataFrame(columns=["method", "algo", "hparams_source"]))
    trained_n = sorted({n for n, _ in _expected_points(profile)} & {int(g["n_edges"]) for e in profile.experiments
                                                                  if e.name == "trained" for g in e.grid})
    lines = [
        f"# Regime map: where SROLE wins, ties and loses (profile `{profile.name}`)", "",
        "Generated by `srole reproduce --profile " + profile.name + "` (`study.analysis.regime`); "
        "every number below comes "
        "from `regime.csv` and `methods.csv` beside this file.", "",
        "## Design", "",
        f"- **Load**: offered load rho = arrival rate x N x mean job work / sum of the edges' sustained FLOP/s "
        f"(`srole_env.load.offered_load`, from the simulator's workload generator and device table), at rho = "
        f"{', '.join(f'{x:g}' for x in sorted(frame['rho'].unique()))} on the `{base.get('scenario')}` scenario, "
        f"horizon {base.get('horizon')} rounds. `least_loaded`'s measured mean utilisation (committed workers per "
        "core) is given at each level: it stays well below rho because a GPU edge is saturated by one worker.",
        f"- **N**: retrained at N = {', '.join(str(n) for n in trained_n)} (every learned method, every load, "
        f"{profile.rounds:,} rounds, {len(profile.seeds)} training seeds {list(profile.seeds)}); N = "
        f"{', '.join(f'{n:,}' for n in EVAL_N if profile.name == 'regime')} are **evaluation-only** (cost): the "
        f"policies trained at N = {SOURCE_N} run unchanged (parameter sharing across agents; the head's features "
        f"are fixed-size). N = 10,000 is evaluated at rho = 0.2 only (cost: `EVAL_N`)." if profile.name == "regime" else
        f"- **N**: retrained at N = {trained_n}; larger N evaluation-only.",
        "- **Head service time**: `head_bookkeeping_s` = 1 ms and 10 ms per decision (`head_decision_s` is "
        "deprecated and unused: the head is the queue of `srole_env.core.head_queue`, whose per-decision cost is "
        "the policy FLOPs plus `head_bookkeeping_s`, divided by the CPU share the head's scheduler gets beside its "
        "own training workers). An evaluation-time setting: CRL is trained at 1 ms and **not retrained** per head "
        "time; MARL and SROLE never consult the head, so they are evaluated once per point and paired with CRL and "
        "CRL-greedy at each head time.",
        f"- **Statistics**: every method is evaluated on the same episodes (training seed s, episode e: seed "
        f"10,000 + 100 s + e), {profile.eval_episodes} episode(s) per seed at trained N and "
        f"{LARGE_EPISODES if profile.name == 'regime' else 1} at evaluation-only N; the metric is `mean_jct_all` "
        "(completed jobs' JCT and unfinished jobs at their age). Paired reduction = (baseline - SROLE) / baseline "
        "over per-seed means, BCa 95% interval (`study.analysis.stats.paired_difference`); *better* / *worse* when the "
        "paired difference's interval excludes zero, else *tied*.",
        "- **Learners**: tuned hyperparameters (`study/experiments/tuned/paper/*.yaml`) plus the profile's "
        "common choice "
        f"{dict(profile.learner_hparams)}. Learning curves are not recorded here (the decisive profile checks "
        f"convergence at 6,000 rounds); {profile.rounds:,} rounds is the tuning budget's order, so the learned "
        "methods may be short of converged.", "",
    ]
    if not algos.empty:
        lines += [markdown_table(algos, ["method", "algo", "hparams_source"]), ""]
        crl = algos.loc[algos["method"] == "CRL", "algo"]
        if len(crl) and crl.iloc[0] != "crl_idqn":
            lines += [f"CRL ran as `{crl.iloc[0]}`: the committed tuned YAML "
                      "(`study/experiments/tuned/paper/CRL.yaml`) "
                      "selects it; the per-decision-credit learner `crl_idqn` had no tuned YAML when this ran. "
                      "Rerunning with one reruns only the CRL cells (the others are cached).", ""]
    lines += [f"**Cost**: {run.compute_s / 60:.1f} min of cell compute time ({run.cells} cells, cached cells at their "
              f"original time; {outcome_counts(run)}); {wall_line(run)}. The run is resumable: every training "
              "and evaluation is cached under `cache/`.", ""]
    if "wall_s" in frame.columns:
        cost = frame.groupby(["n_edges", "trained"])["wall_s"].sum().reset_index()
        cost["eval_min"] = cost["wall_s"] / 60
        lines += ["Evaluation time by N (minutes, all methods and seeds; training time is in the total above):", "",
                  markdown_table(cost, ["n_edges", "trained", "eval_min"]), ""]
        per = frame.assign(episodes=np.where(frame["trained"], profile.eval_episodes, LARGE_EPISODES))
        per["s_per_episode"] = per["wall_s"] / per["episodes"]
        per["head"] = per["head_decision_s"].map(lambda h: "" if not np.isfinite(h) else head_label(h))
        feasible = per.groupby(["n_edges", "method", "head"])["s_per_episode"].mean().unstack(["method", "head"])
        feasible.columns = [f"{m} {h}".strip() for m, h in feasible.columns]
        feasible = feasible.reset_index()
        lines += ["Seconds per evaluation episode (horizon "
                  f"{base.get('horizon')} rounds; wall time of one worker on the shared machine), by N and method: "
                  "the feasibility of evaluating at large N.", "",
                  markdown_table(feasible, list(feasible.columns)), ""]
    lines += [COST_NOTE, ""]
    if table.empty:
        return lines + ["No comparisons yet."]
    have = table.groupby(["n_edges", "rho"])["baseline"].agg(set).to_dict()
    missing = [f"N={n:,} rho={r:g}" + ("" if (n, r) not in have else
                                       f" (no {', '.join(b for b in HEAD_BASELINES if b not in have[(n, r)])})")
               for n, r in sorted(_expected_points(profile)) if set(HEAD_BASELINES) - have.get((n, r), set())]
    if missing:
        lines += [f"**Missing** (not run yet, failed, or fewer than 2 paired seeds): {'; '.join(missing)}.",
                  ""]
    lines += ["## Load levels", ""]
    util = frame[frame["method"] == REFERENCE].groupby(["rho", "n_edges"])["mean_utilization"].mean().unstack()
    levels = pd.DataFrame({"rho": sorted(frame["rho"].unique())})
    levels["arrival_rate (jobs/s/edge)"] = levels["rho"].map(frame.groupby("rho")["arrival_rate"].first())
    for n in util.columns:
        levels[f"least_loaded utilisation, N={n}"] = levels["rho"].map(util[n])
    lines += ["`least_loaded`'s measured mean utilisation (committed workers per core, mean over seeds and "
              "episodes) at each offered load:", "", markdown_table(levels, list(levels.columns)), ""]
    lines += ["## The map", ""]
    counts = table.groupby(["comparison", "verdict"]).size().unstack(fill_value=0).reset_index()
    lines += ["Points where SROLE is better / tied / worse (all loads, N and head times):", "",
              markdown_table(counts, ["comparison", *[v for v in ("better", "tied", "worse", FEW)
                                                      if v in counts.columns]]),
              ""]
    for comparison, path in figures:
        lines += [f"![{comparison}]({path})", ""]
    lines += _reading_section(table, frame) + _paper_section(table) + _mechanism_section(table, markdown_table)
    return lines


def where_points(part: pd.DataFrame) -> str:
    """``N=20 rho 0.2, 0.5; N=1,000 rho 0.95`` (with the head time when it is set) of the rows in ``part``."""
    out = []
    for (n, head), sel in part.groupby(["n_edges", part["head_decision_s"].fillna(-1.0)], sort=True):
        h = "" if head < 0 else f" at {head_label(head)}"
        out.append(f"N={n:,}{h} rho {', '.join(f'{r:g}' for r in sorted(sel['rho'].unique()))}")
    return "; ".join(out)


def _reading_section(table: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """The map in words, every figure from ``table`` / ``frame``."""
    lines = ["## Reading", ""]
    for comparison, part in table.groupby("comparison", sort=False):
        parts = []
        for verdict in ("better", "worse"):
            sel = part[part["verdict"] == verdict]
            if not sel.empty:
                lo, hi = sel["paired_reduction"].min(), sel["paired_reduction"].max()
                parts.append(f"**{verdict}** at {len(sel)} point(s) ({_pct(lo)} to {_pct(hi)}: {where_points(sel)})")
        tied = int((part["verdict"] == "tied").sum())
        parts.append(f"tied at {tied}")
        few = part[part["verdict"] == FEW]
        if not few.empty:
            lo, hi = _pct(few["paired_reduction"].min()), _pct(few["paired_reduction"].max())
            parts.append(f"{len(few)} point(s) with 2 seeds only (point estimates {lo} to {hi}, no interval)")
        lines.append(f"- {comparison}: " + "; ".join(parts) + ".")
    head = frame[frame["method"].isin(HEAD_METHODS)]
    if not head.empty and "head_backlog_max" in head.columns:
        worst = head.loc[head["head_decision_latency_mean_s"].idxmax()]
        lines.append(f"- The head: its largest backlog over every CRL/CRL-greedy episode evaluated was "
                     f"{head['head_backlog_max'].max():,.0f} decisions; its worst mean request-to-answer latency "
                     f"{worst['head_decision_latency_mean_s']:.2f} s ({worst['method']}, N={worst['n_edges']:,}, rho "
                     f"{worst['rho']:g}, {head_label(worst['head_decision_s'])}), against mean JCTs of "
                     f"{head['mean_jct_all'].min():.0f}-{head['mean_jct_all'].max():.0f} s.")
    marl = frame[frame["method"] == "MARL"]
    srole = frame[frame["method"].isin(SROLE)]
    if not marl.empty:
        per = marl.groupby(["n_edges", "rho"])[["collisions", "oom_kills"]].mean()
        top = per["collisions"].idxmax()
        lines.append(f"- Collisions: MARL's mean per episode reaches {per['collisions'].max():,.1f} (OOM kills "
                     f"{per.loc[top, 'oom_kills']:,.1f}) at N={top[0]:,}, rho {top[1]:g}; SROLE's shields keep them at "
                     f"{srole['collisions'].max() if not srole.empty else math.nan:,.1f} collisions and "
                     f"{srole['oom_kills'].max() if not srole.empty else math.nan:,.1f} OOM kills at most.")
    if not srole.empty and "mean_decision_latency_s" in srole.columns:
        sh = srole.groupby(["method", "n_edges"])["mean_decision_latency_s"].mean()
        lines.append("- The shields' own cost (mean decision latency per placed task, s): " + "; ".join(
            f"{m} N={n:,}: {v:.2f}" for (m, n), v in sh.items()) + ".")
    return lines + [""]


def _paper_section(table: pd.DataFrame) -> list[str]:
    paper_reduction = paper_figures().reductions["mean_jct_all"]
    lines = [f"## Does any region reproduce the paper's {paper_reduction:.0%}?", ""]
    near = table[(table["hi"] >= paper_reduction) & (table["verdict"] == "better")]
    settled = table[table["verdict"] != FEW]
    if settled.empty:
        return lines + ["No point has 3 paired seeds yet.", ""]
    best = settled.loc[settled["paired_reduction"].idxmax()]
    top = table.loc[table["paired_reduction"].idxmax()]
    lines.append(f"Largest point estimate anywhere (any seed count): {_pct(top['paired_reduction'])} "
                 f"({top['comparison']}, rho {top['rho']:g}, N = {top['n_edges']:,}{_head_text(top)}, "
                 f"{int(top['pairs'])} seeds).")
    lines.append("")
    if near.empty:
        lines.append(f"**No.** No point's 95% interval reaches a {paper_reduction:.0%} reduction. The largest paired "
                     f"reduction is {_pct(best['paired_reduction'])} [{_pct(best['lo'])}, {_pct(best['hi'])}] "
                     f"({best['comparison']}, rho {best['rho']:g}, N = {best['n_edges']:,}"
                     f"{_head_text(best)}).")
    else:
        lines.append(f"**Yes, in {len(near)} point(s)** whose interval reaches {paper_reduction:.0%} (SROLE "
                     "significantly better there):")
        lines.append("")
        for _, r in near.sort_values("paired_reduction", ascending=False).iterrows():
            lines.append(f"- {r['comparison']}, rho {r['rho']:g}, N = {r['n_edges']:,}{_head_text(r)}: "
                         f"{_pct(r['paired_reduction'])} [{_pct(r['lo'])}, {_pct(r['hi'])}]"
                         f"{'' if r['trained'] else ' (evaluation-only N)'}")
    return lines + [""]


def _head_text(r: pd.Series) -> str:
    return "" if not np.isfinite(r["head_decision_s"]) else f", head {head_label(r['head_decision_s'])}"


def _mechanism_section(table: pd.DataFrame, markdown_table: Any) -> list[str]:
    lines = ["## Where the gaps come from", "",
             "Per comparison, the point with SROLE's largest significant win and its largest significant loss, with "
             "both methods' mechanism figures (means over seeds and episodes): the head's backlog "
             "(`head_backlog_max`, decisions queued at the head) and request-to-answer latency "
             "(`head_decision_latency_mean_s`), collisions, OOM kills and the mean decision latency charged per "
             "placed task (`mean_decision_latency_s`: head queue for CRL, local inference plus shield checks for "
             "SROLE).", ""]
    picks = []
    for _, part in table.groupby("comparison", sort=False):
        better, worse = part[part["verdict"] == "better"], part[part["verdict"] == "worse"]
        if not better.empty:
            picks.append(better.loc[better["paired_reduction"].idxmax()])
        if not worse.empty:
            picks.append(worse.loc[worse["paired_reduction"].idxmin()])
    if not picks:
        return lines + ["No significant difference anywhere."]
    rows = []
    for r in picks:
        rows.append({"comparison": r["comparison"], "rho": r["rho"], "N": f"{r['n_edges']:,}",
                     "head": "" if not np.isfinite(r["head_decision_s"]) else head_label(r["head_decision_s"]),
                     "reduction": f"{_pct(r['paired_reduction'])} [{_pct(r['lo'])}, {_pct(r['hi'])}]",
                     "verdict": r["verdict"],
                     "JCT SROLE / base (s)": f"{_fmt(r['srole_mean_jct_all'])} / {_fmt(r['baseline_mean_jct_all'])}",
                     "base head backlog max": _fmt(r["baseline_head_backlog_max"], 0),
                     "base head latency (s)": _fmt(r["baseline_head_decision_latency_mean_s"], 2),
                     "collisions SROLE / base": f"{_fmt(r['srole_collisions'])} / {_fmt(r['baseline_collisions'])}",
                     "OOM kills SROLE / base": f"{_fmt(r['srole_oom_kills'])} / {_fmt(r['baseline_oom_kills'])}",
                     "decision latency SROLE / base (s)": f"{_fmt(r['srole_mean_decision_latency_s'], 2)} / "
                                                          f"{_fmt(r['baseline_mean_decision_latency_s'], 2)}"})
    frame = pd.DataFrame(rows)
    return lines + [markdown_table(frame, list(frame.columns)), ""]
