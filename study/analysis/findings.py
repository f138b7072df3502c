"""The short "What we found" block that opens ``summary.md``, generated from the report's own tables.

One bullet per comparison of SROLE against a baseline on the headline metrics (mean JCT of all jobs, then
collisions), each with its 95% interval and verdict, and beside it the convergence caveat of the learned methods
it involves (how many of their runs passed the convergence test: an unconverged run makes the verdict
provisional). Both report shapes are read: the paired comparison's (``srole``, ``baseline``, ``metric``,
``paired_reduction*``, ``verdict``; convergence per run with ``converged``) and the independent one's
(``<metric>_reduction*``, ``<metric>_verdict``; convergence counts with ``flattened`` and ``runs``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from study.experiments.roster import METHODS

METRICS = {"mean_jct_all": ("mean JCT", ("MARL", "CRL", "CRL-greedy", "least_loaded")),
           "collisions": ("collisions", ("MARL",))}
"""The headline metrics of the block, in order: their names in prose and the baselines shown for each (the rest
are in the comparison tables)."""


def what_we_found(comparisons: pd.DataFrame, convergence: pd.DataFrame | None = None,
                  max_bullets: int = 10) -> list[str]:
    """Markdown lines of the block (module docstring); an empty comparison table gives a one-line note."""
    lines = ["", "## What we found", "",
             "Generated from the tables below: SROLE against each baseline on the same evaluation episodes, the "
             "reduction with its 95% interval; a difference is claimed only when the interval excludes zero.", ""]
    bullets = list(_bullets(comparisons, convergence))
    if not bullets:
        return lines + ["No comparison of SROLE against a baseline was computed (see the tables and Failures)."]
    lines += bullets[:max_bullets]
    if len(bullets) > max_bullets:
        lines.append(f"- ... and {len(bullets) - max_bullets} more in the comparison tables below.")
    return lines


def _bullets(comp: pd.DataFrame, conv: pd.DataFrame | None) -> Iterable[str]:
    if comp is None or comp.empty or "srole" not in comp.columns or "baseline" not in comp.columns:
        return
    if "experiment" in comp.columns:
        comp = comp[comp["experiment"].astype(str).str.startswith("methods")]
    paired = "metric" in comp.columns
    for metric, (prose, baselines) in METRICS.items():
        part = comp[comp["metric"] == metric] if paired else comp
        if not paired and f"{metric}_verdict" not in comp.columns:
            continue
        part = part[part["baseline"].isin(baselines)]
        order = {b: i for i, b in enumerate(baselines)}
        part = part.assign(_order=part["baseline"].map(order)).sort_values(["srole", "_order"], kind="stable")
        for _, row in part.iterrows():
            red, lo, hi, verdict = _figures(row, metric, paired)
            if verdict is None:
                continue
            load = row.get("arrival_rate")
            where = f" at load {load:g}" if isinstance(load, float) and math.isfinite(load) else ""
            if red is None:
                claim = verdict
            elif "no significant" in verdict or "n.s." in verdict:
                claim = f"no significant difference (reduction {_pct(red)} [{_pct(lo)}, {_pct(hi)}])"
            elif red > 0:
                claim = f"{_pct(red)} lower [{_pct(lo)}, {_pct(hi)}]"
            else:  # a higher value: the reduction's interval negated
                claim = f"{_pct(-red)} higher [{_pct(_neg(hi))}, {_pct(_neg(lo))}]"
            caveat = _caveat(conv, (row["srole"], row["baseline"]), load)
            yield f"- **{row['srole']} vs {row['baseline']}**, {prose}{where}: {claim}.{caveat}"


def _figures(row: pd.Series, metric: str, paired: bool) -> tuple[float | None, float | None, float | None,
                                                                   str | None]:
    if paired:
        keys = ("paired_reduction", "paired_reduction_lo", "paired_reduction_hi", "verdict")
    else:
        keys = (f"{metric}_reduction", f"{metric}_reduction_lo", f"{metric}_reduction_hi", f"{metric}_verdict")
    values = [row.get(k) for k in keys]
    nums = [float(v) if isinstance(v, (int, float)) and math.isfinite(float(v)) else None for v in values[:3]]
    verdict = values[3] if isinstance(values[3], str) else None
    return nums[0], nums[1], nums[2], verdict


def _caveat(conv: pd.DataFrame | None, methods: tuple[str, str], load: Any) -> str:
    """`` (Caveat: ...)`` naming the runs of the learned methods among ``methods`` that did not converge."""
    if conv is None or conv.empty or "method" not in conv.columns:
        return ""
    parts = []
    for method in methods:
        if not _learned(str(method)):
            continue
        rows = conv[conv["method"] == method]
        if "arrival_rate" in rows.columns and isinstance(load, float) and math.isfinite(load):
            at_load = rows[rows["arrival_rate"] == load]
            rows = at_load if not at_load.empty else rows
        if rows.empty:
            continue
        if "converged" in rows.columns:
            ok, total = int(rows["converged"].astype(bool).sum()), len(rows)
        elif {"flattened", "runs"} <= set(rows.columns):
            ok, total = int(rows["flattened"].sum()), int(rows["runs"].sum())
        else:
            continue
        if ok < total:
            parts.append(f"{ok} of {total} {method}")
    return f" *Provisional: {' and '.join(parts)} runs passed the convergence test.*" if parts else ""


def _neg(value: float | None) -> float | None:
    return None if value is None else -value


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def summary_digest(summary: str) -> str:
    """The part of a ``summary.md`` worth printing on a terminal: its title and its "What we found" block (the
    whole text when it has no such block, e.g. a summary written before the block existed)."""
    lines = summary.splitlines()
    try:
        start = lines.index("## What we found")
    except ValueError:
        return summary
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("## ", "Budget:", "Profile"))),
               len(lines))
    return "\n".join([*lines[:1], "", *lines[start:end]]).rstrip() + "\n"


def _learned(method: str) -> bool:
    """Whether the roster's method behind a table row (``NAME`` or ``NAME [eval SHIELD]``) learns."""
    known = METHODS.get(method.split(" [", 1)[0])
    return known is not None and known.learned
