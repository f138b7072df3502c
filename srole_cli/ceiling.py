"""README and docs tables for the ceiling (the offline optimum, ``scripts/optimality_gaps.py``) and the regime map
(``srole reproduce --profile regime``), generated from their committed CSVs like every other results table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

GAP_METHODS = ("SROLE-central", "crl_greedy", "greedy_reference", "CRL", "MARL", "least_loaded",
               "least_loaded+central", "random", "local")


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


if __name__ == "__main__":  # python -m srole_cli.ceiling DIR: print the gaps table
    import sys

    print(gaps_table(sys.argv[1] if len(sys.argv) > 1 else "docs/results/optimality"))
