"""README and docs tables for the ceiling (the offline optimum, ``scripts/experiments/optimality_gaps.py``) and
the regime map (``srole reproduce --profile regime``), generated from their committed CSVs like every other
results table; the paper's figure comes from ``study.analysis.paper``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from study.analysis.paper import paper_figures
from study.analysis.regime_tables import HEAD_COLUMN, read_table
from study.experiments.profiles import OPTIMALITY

GAP_METHODS = OPTIMALITY
"""The optimality study's methods, in roster order."""


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


def regime_table(results_dir: str | Path) -> str:
    """Per comparison of the regime map: points that are better, tied, worse or without an interval (too few
    paired seeds), the range of the paired reductions, and the largest reduction anywhere."""
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


if __name__ == "__main__":  # python -m study.analysis.ceiling: print the gaps and regime tables
    print(gaps_table("docs/results/optimality"))
    print()
    print(regime_table("docs/results/regime"))
