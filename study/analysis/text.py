"""Formatting shared by every report: numbers, percentages and intervals as text, Markdown tables, the run's wall-time
line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from study.experiments.runs import RunInfo


def percent(value: float) -> str:
    """0.59 -> '59.0%'; nan -> 'n/a'."""
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


def number(value: float) -> str:
    """A number to read: integers with thousands separators, 3 significant digits below 10, one decimal above."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"


def pct(value: float, finer_below: float = 0.0) -> str:
    """0.059 -> '+6%' (a signed change); with ``finer_below``, magnitudes under it keep one decimal ('+5.9%')."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{100 * value:+.1f}%" if abs(value) < finer_below else f"{100 * value:+.0f}%"


def with_ci(row: pd.Series | dict, metric: str, fmt=number) -> str:
    """``value [lo, hi]`` of a summary row."""
    value, lo, hi = row.get(metric), row.get(f"{metric}_lo"), row.get(f"{metric}_hi")
    if value is None or not np.isfinite(value):
        return "n/a"
    if lo is None or not np.isfinite(lo):
        return fmt(value)
    return f"{fmt(value)} [{fmt(lo)}, {fmt(hi)}]"


def markdown_table(table: pd.DataFrame, columns: Sequence[str]) -> str:
    """A Markdown table of ``columns``; metrics with ``_lo``/``_hi`` columns print as ``IQM [lo, hi]``."""
    columns = [c for c in columns if c in table.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in table.iterrows():
        cells = []
        for col in columns:
            if f"{col}_lo" in table.columns:
                cells.append(with_ci(row, col))
            elif isinstance(row[col], (float, np.floating)):
                cells.append(number(row[col]))
            else:
                cells.append(str(row[col]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seconds(s: float) -> str:
    """Seconds to read: whole seconds from 10 s on, two decimals below (a cached tiny run takes well under 1 s)."""
    return f"{s:,.0f}" if s >= 10 else f"{s:.2f}"


def wall_line(run: RunInfo) -> str:
    """The wall time of the invocations that computed the cells (kept across cached reruns in ``runs.json``), then
    this one's; a cache filled by runs that left no ``runs.json`` says so instead of showing a rerun's seconds."""
    counted = (f"all {run.cells} cells computed now" if run.computed == run.cells else
               f"{run.computed} of {run.cells} cells computed now (the rest from the cache)")
    now = f"this invocation {seconds(run.wall_s)} s, {counted}"
    history = run.history
    if not history:
        if run.computed == 0 and run.cells:
            return f"wall time of the runs that computed the cells not recorded (no `runs.json` in this folder); {now}"
        history = [{"wall_s": run.wall_s, "workers": run.workers}]
    total = sum(float(h["wall_s"]) for h in history)
    workers = sorted({str(h.get("workers") or "all") for h in history})
    return (f"wall time of the run(s) that computed the cells {total / 60:.1f} min ({seconds(total)} s, "
            f"{len(history)} run(s), {'/'.join(workers)} worker(s)); {now}")
