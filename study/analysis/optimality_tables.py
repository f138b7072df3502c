"""The optimality study's tables (profiles: ``study.experiments.optimality_profile``): every method's gap to the
class optimum per instance (``gaps.csv``), the per-method and per-instance Markdown tables of ``summary.md``, and the
README's table (``gaps_table``, from the committed ``gaps.csv``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from srole_common.persist import write_rows
from study.experiments.profiles import OPTIMALITY

COLUMNS = ("method", "instance", "n_edges", "n_jobs", "seed", "mean_jct", "optimum", "solver_gap", "lower_bound",
           "gap", "old_bound", "cpsat_bound", "jobs_unfinished", "wall_s")
"""``gaps.csv``: ``mean_jct`` is the method's ``mean_jct_all`` (unfinished jobs count at their age); ``optimum`` the
solver's best schedule in the class; ``solver_gap`` its proven gap against the larger of CP-SAT's own bound and the
fluid LP bound (``lower_bound``); ``gap`` = ``(mean_jct - optimum) / optimum`` (negative: the method beats the best
schedule of the restricted class); ``old_bound`` every job alone on its fastest candidates; ``seed`` the instance's
trace seed."""
OPTIMUM = "optimal"
"""The roster's class optimum; ``LONGER`` its time-limit check, ``FLUID`` the fluid LP bound, ``OLD`` the old bound."""
LONGER = "optimal-longer"
FLUID = "fluid-lp-bound"
OLD = "lower-bound"
FACTS = ("gpu_share", "held_share", "mean_hold_rounds", "remote_share")
"""What the optimum's schedule does (``references.optimal.schedule_facts``)."""
GAP_METHODS = OPTIMALITY
"""The optimality study's methods, in roster order."""


def instance_of(row: dict[str, Any]) -> str:
    """The instance a row was evaluated on: its trace file's stem (``N10-r0.015-s1``)."""
    return Path(str(row["trace_path"])).stem


def gaps_rows(rows: list[dict[str, Any]], methods: tuple[str, ...],
              instances: list[str]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The rows of ``gaps.csv`` (``optimal`` then ``methods`` per instance, in ``instances`` order; the optimum's rows
    carry ``FACTS``, ``status`` and ``replay_rel_diff`` too) and, per instance, its ``optimal-longer`` row if any.
    ``ValueError`` if an instance lacks its optimum or bounds, or the replay differs from the solver's JCT."""
    by = {(instance_of(r), r["method"]): r for r in rows if "trace_path" in r}
    out, longer = [], {}
    for inst in instances:
        missing = [m for m in (OPTIMUM, FLUID, OLD) if (inst, m) not in by]
        if missing:
            raise ValueError(f"optimality: instance {inst} has no {missing} row (the solver's cells failed or are "
                             "not in the cache)")
        ref, fluid, old = by[inst, OPTIMUM], by[inst, FLUID], by[inst, OLD]
        if abs(ref["mean_jct_all"] - ref["optimum"]) > 1e-6 * ref["optimum"]:
            raise ValueError(f"optimality: {inst}: replayed JCT {ref['mean_jct_all']} differs from the solver's "
                             f"{ref['optimum']}")
        proven = max(ref["cpsat_bound"], fluid["mean_jct_all"])
        common = {"instance": inst, "n_edges": int(ref["n_edges"]), "n_jobs": int(ref["n_jobs"]),
                  "seed": int(re.search(r"-s(\d+)$", inst).group(1)), "optimum": ref["optimum"],
                  "solver_gap": max(0.0, (ref["optimum"] - proven) / ref["optimum"]),
                  "lower_bound": fluid["mean_jct_all"], "old_bound": old["mean_jct_all"],
                  "cpsat_bound": ref["cpsat_bound"]}
        facts = {**{k: ref[k] for k in FACTS}, "status": "OPTIMAL" if ref["solver_optimal"] else "FEASIBLE",
                 "replay_rel_diff": abs(ref["mean_jct_all"] - ref["optimum"]) / ref["optimum"]}
        for method in (OPTIMUM, *methods):
            if (inst, method) not in by:
                continue  # a failed or missing cell: the summary lists it
            r = by[inst, method]
            out.append({"method": method, **common, "mean_jct": float(r["mean_jct_all"]),
                        "gap": (r["mean_jct_all"] - ref["optimum"]) / ref["optimum"],
                        "jobs_unfinished": int(r["jobs_unfinished"]), "wall_s": float(r["wall_s"]),
                        **(facts if method == OPTIMUM else {})})
            out[-1] = {k: out[-1][k] for k in (*COLUMNS, *(k for k in out[-1] if k not in COLUMNS))}
        if (inst, LONGER) in by:
            longer[inst] = by[inst, LONGER]
    return out, longer


def write_gaps_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """``gaps.csv``: ``COLUMNS`` of every row, floats to 6 significant digits."""
    write_rows(path, COLUMNS, ({k: (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]) for k in COLUMNS}
                               for r in rows))


def method_order(rows: list[dict[str, Any]]) -> list[str]:
    """The methods by mean gap, lowest first."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    return sorted(methods, key=lambda m: np.mean([r["gap"] for r in rows if r["method"] == m]))


def method_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per method, lowest mean gap first: mean, min and max gap, mean JCT, instances beating the optimum, unfinished
    jobs (Markdown lines)."""
    lines = ["| method | mean gap | min gap | max gap | mean JCT (s) | instances beating the optimum | "
             "unfinished jobs |", "|---|---|---|---|---|---|---|"]
    for m in method_order(rows):
        g = np.round([r["gap"] for r in rows if r["method"] == m], 9) + 0.0  # no "-0.00" from float noise
        jct = np.array([r["mean_jct"] for r in rows if r["method"] == m])
        unf = sum(r["jobs_unfinished"] for r in rows if r["method"] == m)
        lines.append(f"| {m} | {g.mean():+.2f} | {g.min():+.2f} | {g.max():+.2f} | {jct.mean():.1f} | "
                     f"{int((g < -1e-9).sum())}/{len(g)} | {unf} |")
    return lines


def instance_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per instance: jobs, the optimum and its solver status, proven gap, the three bounds and their ratios, the best
    known schedule over the LP bound (Markdown lines)."""
    per_inst = {r["instance"]: r for r in rows if r["method"] == OPTIMUM}
    lines = ["| instance | jobs | optimum (s) | solver status | proven gap | CP-SAT bound | fluid LP bound |"
             " old bound | LP / old | optimum / LP | best known / LP |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for inst, r in per_inst.items():
        best = min(x["mean_jct"] for x in rows if x["instance"] == inst)
        lines.append(f"| {inst} | {r['n_jobs']} | {r['optimum']:.1f} | {r.get('status', '')} | {r['solver_gap']:.2f} | "
                     f"{r['cpsat_bound']:.1f} | {r['lower_bound']:.1f} | {r['old_bound']:.1f} | "
                     f"{r['lower_bound'] / r['old_bound']:.2f} | {r['optimum'] / r['lower_bound']:.2f} | "
                     f"{best / r['lower_bound']:.2f} |")
    return lines


def gaps_table(results_dir: str | Path) -> str:
    """Per method: mean, min and max gap to the best schedule CP-SAT found in its class, over the instances of
    ``gaps.csv``; then the solver's proven gaps and the fluid LP bound against the old bound."""
    gaps = pd.read_csv(Path(results_dir) / "gaps.csv")
    methods = [m for m in GAP_METHODS if m in set(gaps["method"])]
    lines = ["| method | mean gap to the class optimum | min | max | mean JCT (s) |", "|---|---:|---:|---:|---:|"]
    for method in methods:
        part = gaps[gaps["method"] == method]
        lines.append(f"| {method} | {part['gap'].mean():+.2f} | {part['gap'].min():+.2f} | {part['gap'].max():+.2f} "
                     f"| {part['mean_jct'].mean():.1f} |")
    inst = gaps.drop_duplicates("instance")
    ratio = inst["lower_bound"] / inst["old_bound"]
    lines += ["", f"{len(inst)} instances (N = {sorted(inst['n_edges'].unique().tolist())}, "
              f"{int(inst['n_jobs'].min())}-{int(inst['n_jobs'].max())} jobs); the solver's proven gap "
              f"{inst['solver_gap'].min():.2f}-{inst['solver_gap'].max():.2f}; the fluid LP bound is "
              f"{ratio.min():.1f}-{ratio.max():.1f}x the old bound (every job alone on its fastest candidates)."]
    return "\n".join(lines)
