"""The reproduction's figures (matplotlib, Agg): the paper's figure types plus learning curves and sensitivity.

Every line of a figure has its own colour, marker and line style (readable in grey scale; ``styles``), sweep
lines are offset sideways so equal values stay visible (``dodge``), log axes are labelled at 1, 2 and 5 times
each power of ten, legends sit outside the axes so they never cover data, axes carry units, and titles name
each sweep's base scenario and N. Intervals are
the stratified-bootstrap 95% CIs of the IQM (``study.analysis.stats``); for a nonnegative metric they are
clipped at 0, which is a no-op (a percentile interval of a trimmed mean lies inside the data's range),
said in each caption of ``summary.md``. Figures are sized to be read at 100%: at most ``MAX_WIDTH_IN``
inches wide at ``DPI`` (about 1000 pixels with the legend), text at 8 points or more.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from srole_common.persist import save_figure  # noqa: E402
from study.analysis import stats  # noqa: E402
from study.experiments.roster import HEADLINE_BASELINES, REFERENCE_KINDS, SROLE, names  # noqa: E402

DPI = 110
"""Dots per inch of every PNG."""
MAX_WIDTH_IN = 8.0
"""Widest figure body (inches), so that no figure needs zooming out to be read."""
CDF_METHODS = (*SROLE, *HEADLINE_BASELINES, *REFERENCE_KINDS)
"""The methods the JCT CDF draws (SROLE, the paper's two baselines, the full-knowledge reference); every
method's quantiles are in ``jct_quantiles.csv`` and the summary's table."""
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p", "d")
STYLES = ("-", "--", "-.", ":")
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf", "#393b79", "#637939", "#000000")
"""One distinct colour per method of ``STYLED`` (matplotlib's tab10 plus three darker ones)."""
STYLED = names(lambda m: not m.offline)
"""The methods with a style of their own, in roster order: every one but the optimality study's solver rows (which no
figure draws): the styles of the other names start where they always did."""
LABELS = {
    "mean_jct_all": "mean JCT, all jobs (simulated s)",
    "mean_jct": "mean JCT, completed jobs (simulated s)",
    "collisions": "action collisions per episode",
    "mean_decision_latency_s": "decision latency per task (simulated s)",
    "decision_latency_s": "shield decision latency (simulated s)",
    "median_utilization": "median core utilisation (fraction)",
    "n_edges": "cluster size N (edges)",
    "arrival_rate": "load (job arrivals per edge per s)",
    "round": "training rounds (simulated decision rounds)",
}


def style(method: str) -> dict[str, object]:
    """A fixed marker, line style and colour per method of ``STYLED`` (the same in every figure); other
    names (e.g. the shield-overhead sweep's "central shield") get theirs from ``styles``, per figure."""
    if method in STYLED:
        return _style_at(STYLED.index(method))
    return styles([method])[method]


def _style_at(i: int) -> dict[str, object]:
    return {"marker": MARKERS[i % len(MARKERS)], "linestyle": STYLES[i % len(STYLES)], "color": COLORS[i % len(COLORS)]}


def styles(methods: Sequence[str]) -> dict[str, dict[str, object]]:
    """One style per name in ``methods``, pairwise different in colour, marker and line style: the fixed style of
    a ``STYLED`` entry, and for any other name, in order, the next style index no name of this figure uses
    (so two such lines never share a look, as hashing the name could make them)."""
    known = {m: STYLED.index(m) for m in methods if m in STYLED}
    used = {i % len(COLORS) for i in known.values()}
    free = (i for i in range(len(STYLED), 10 * len(COLORS)) if i % len(COLORS) not in used)
    out: dict[str, dict[str, object]] = {}
    for m in dict.fromkeys(methods):
        if m in known:
            out[m] = _style_at(known[m])
        else:
            i = next(free)
            used.add(i % len(COLORS))
            out[m] = _style_at(i)
    return out


def dodge(x: np.ndarray, k: int, n: int, log: bool, width: float) -> np.ndarray:
    """Positions ``x`` of line ``k`` of ``n`` shifted sideways (by ``width`` x the smallest gap between sweep values,
    in log space on a log axis), so lines with equal values (e.g. every shielded method at 0 collisions) stay visible
    side by side instead of hiding one another."""
    x = np.asarray(x, dtype=float)
    if n <= 1 or len(x) == 0:
        return x
    base = np.log(x) if log else x
    gaps = np.diff(np.unique(base))
    gap = float(gaps.min()) if len(gaps) else (abs(float(base[0])) or 1.0)
    shifted = base + (k - (n - 1) / 2) * width * gap / n
    return np.exp(shifted) if log else shifted


def readable_log_ticks(axis) -> None:
    """Label a log axis at 1, 2 and 5 times each power of ten (``0.01``, ``0.02``, ``0.05``, ...; also 1.5, 3 and 7
    on an axis spanning less than a decade), not only at the powers of ten, which leaves one label or none there.
    Call it after the data are drawn (it reads the axis limits)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    lo, hi = sorted(axis.get_view_interval())
    decades = math.log10(hi / lo) if lo > 0 else 2.0
    subs = (1.0, 2.0, 5.0) if decades >= 1.0 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)  # at least two labels
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def wrap(title: str, width: int = 75) -> str:
    """A title broken into lines so it never runs past the figure."""
    return "\n".join(textwrap.wrap(title, width))


def _finish(fig, ax, path: Path, title: str, legend: bool = True) -> None:
    ax.set_title(wrap(title), fontsize=10)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def _yerr(group: pd.DataFrame, metric: str, nonnegative: bool) -> np.ndarray | None:
    lo, hi = group.get(f"{metric}_lo"), group.get(f"{metric}_hi")
    if lo is None or hi is None:
        return None
    lo = lo.clip(lower=0) if nonnegative else lo
    value = group[metric]
    return np.vstack([(value - lo).clip(lower=0).fillna(0), (hi - value).clip(lower=0).fillna(0)])


def sweep_plot(table: pd.DataFrame, x: str, metric: str, path: Path, title: str, logy: bool = False,
               nonnegative: bool = True) -> None:
    """``metric`` (IQM and CI) against sweep variable ``x``, one line per method, each in its own colour, marker and
    line style, the lines offset sideways (``dodge``) so equal values do not hide one another."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    if logy:  # a log axis cannot show zeros (e.g. a scheduler that pays no latency): leave them out
        table = table[table[metric] > 0]
    logx = x == "n_edges"
    groups = [(str(name), group.sort_values(x)) for name, group in table.groupby("method", sort=False)
              if group[metric].notna().any()]
    looks = styles([name for name, _ in groups])
    for k, (name, group) in enumerate(groups):
        xs = dodge(group[x].to_numpy(float), k, len(groups), logx, width=0.35)
        ax.errorbar(xs, group[metric], yerr=_yerr(group, metric, nonnegative), capsize=3, label=name,
                    markersize=5, **looks[name])
    ax.set_xlabel(LABELS.get(x, x) + ("; methods offset sideways" if len(groups) > 1 else ""))
    ax.set_ylabel(LABELS.get(metric, metric))
    if logy:
        ax.set_yscale("log")
        readable_log_ticks(ax.yaxis)
    values = sorted(table[x].dropna().unique())
    if logx:
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(values, [f"{v:g}" for v in values])
    if logy:
        ax.yaxis.set_minor_locator(plt.NullLocator())
    _finish(fig, ax, path, title)


def methods_bar(table: pd.DataFrame, metric: str, path: Path, title: str) -> None:
    """Horizontal bars of ``metric`` per method (IQM) with CI whiskers."""
    table = table[table[metric].notna()]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(table) + 1.2))
    y = np.arange(len(table))
    ax.barh(y, table[metric], xerr=_yerr(table, metric, True), capsize=3,
            color=[style(m)["color"] for m in table["method"]])
    ax.set_yticks(y, table["method"])
    ax.invert_yaxis()
    ax.set_xlabel(LABELS.get(metric, metric))
    _finish(fig, ax, path, title, legend=False)


def cdf_plot(jobs: pd.DataFrame, path: Path, title: str, methods: Sequence[str] = CDF_METHODS) -> None:
    """Empirical CDF of per-job JCT (unfinished jobs at their age) of ``methods`` (those present), log time axis."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for name in [m for m in methods if m in set(jobs["method"])]:
        group = jobs[jobs["method"] == name]
        values = np.sort(group["jct_s"].to_numpy())
        values = values[values > 0]
        if len(values):
            st = style(str(name))
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", label=str(name),
                    linestyle=st["linestyle"], color=st["color"])
    ax.set_xscale("log")
    ax.set_xlabel("job completion time (simulated s; unfinished jobs at their age)")
    ax.set_ylabel("fraction of jobs")
    ax.set_ylim(0, 1.01)
    _finish(fig, ax, path, title)


def curve_band(curves: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per round: the IQM over seeds of ``metric`` and its stratified-bootstrap 95% CI (``value``, ``lo``, ``hi``)."""
    rows = []
    for rounds, group in curves.groupby("round", sort=True):
        est = stats.iqm_ci(group[metric].to_numpy(float))
        rows.append({"round": rounds, "value": est.value, "lo": est.lo, "hi": est.hi})
    return pd.DataFrame(rows, columns=["round", "value", "lo", "hi"])


def curves_plot(curves: pd.DataFrame, metric: str, path: Path, title: str) -> None:
    """Learning curves: IQM over seeds of ``metric`` on the fixed evaluation seeds, band = its bootstrap 95% CI."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    looks = styles([str(m) for m in dict.fromkeys(curves["method"])])
    for name, group in curves.groupby("method", sort=False):
        band = curve_band(group, metric)
        st = looks[str(name)]
        ax.plot(band["round"], band["value"], label=str(name), markersize=4, **st)
        ax.fill_between(band["round"], band["lo"], band["hi"], alpha=0.12, color=st["color"])
    ax.set_xlabel(LABELS["round"])
    ax.set_ylabel(LABELS.get(metric, metric))
    _finish(fig, ax, path, title)


def sensitivity_plot(table: pd.DataFrame, path: Path, title: str, series: Sequence[str]) -> None:
    """One panel per assumption (at most three a row): SROLE's JCT reduction (CI) against each baseline per value."""
    assumptions = list(dict.fromkeys(table["assumption"]))
    ncols = min(3, len(assumptions))
    nrows = math.ceil(len(assumptions) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(MAX_WIDTH_IN, 2.9 * nrows + 0.6), squeeze=False, sharey=True)
    for ax in axes.flat[len(assumptions):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, assumptions):
        part = table[table["assumption"] == name]
        labels = list(dict.fromkeys(part["value"].astype(str)))
        for k, comp in enumerate(series):
            rows = part[part["comparison"] == comp]
            if rows.empty:
                continue
            pos = [labels.index(str(v)) + 0.1 * (k - (len(series) - 1) / 2) for v in rows["value"]]
            err = np.vstack([(rows["reduction"] - rows["reduction_lo"]).clip(lower=0).fillna(0),
                             (rows["reduction_hi"] - rows["reduction"]).clip(lower=0).fillna(0)])
            ax.errorbar(pos, 100 * rows["reduction"], yerr=100 * err, capsize=3, label=comp, linestyle="none",
                        marker=MARKERS[k % len(MARKERS)], color=f"C{k}")
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        ax.set_xlabel(name, fontsize=9)
    for row in axes:
        row[0].set_ylabel("JCT reduction (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(wrap(title, 95), fontsize=10)
    if handles:
        fig.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.9))
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
