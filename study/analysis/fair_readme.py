"""The README's answer to the paper's question, generated from the fair map's committed tables (``points.csv``,
``saturation.csv``, ``paired.csv``, ``rule9.csv``, ``convergence.csv`` under ``docs/results/fair_map``): where each
host saturates, SROLE's verdicts against every baseline at full strength, the largest reduction against the strongest
head overall and within a production scheduler's measured per-request range, where SROLE loses, and the caveats.
``tests/test_readme_results.py`` checks that the README holds exactly this text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from study.analysis.crossover_tables import FIXED, RETRAINED, SOURCE
from study.analysis.paper import paper_figures
from study.analysis.text import markdown_table, pct
from study.experiments.roster import HEAD_METHODS

MEASURED_REQUEST_S = (0.001, 0.003)
"""The per-request service time a production scheduler measures (Kubernetes' ``scheduler_perf``: about 1.1-1.3 ms a
pod at 500 nodes, 3 ms in a mixed workload; ``docs/host_cost.md``): the range a real cluster's head lives in."""
HEADS = HEAD_METHODS
"""The cluster head's methods (CRL, CRL-greedy): a filter over the roster."""


def _read(results: Path, name: str) -> pd.DataFrame:
    path = results / name
    return pd.read_csv(path) if path.is_file() and path.stat().st_size > 0 else pd.DataFrame()


def _ms(v: float) -> str:
    return f"{1e3 * v:g} ms"


def _where(r: pd.Series) -> str:
    return f"N = {int(r['n_edges']):,}, rho {r['rho']:g}, {_ms(r['request_s'])}"


def map_policy(paired: pd.DataFrame) -> pd.DataFrame:
    """One policy per point: models retrained at the point's N where the map has them, else the transferred ones."""
    if paired.empty:
        return paired
    has_retrained = paired.groupby(["n_edges"])["policy"].transform(lambda p: (p == RETRAINED).any())
    return paired[np.where(has_retrained, paired["policy"] == RETRAINED, paired["policy"] == SOURCE)]


def strongest_head(points: pd.DataFrame) -> pd.DataFrame:
    """Per (rho, N, request_s, policy): the head with the lower mean JCT of all jobs (CRL or CRL-greedy)."""
    heads = points[points["method"].isin(HEADS)]
    rows = []
    for (rho, n, req), part in heads.groupby(["rho", "n_edges", "request_s"]):
        greedy = part[part["method"] == "CRL-greedy"]
        for policy in (SOURCE, RETRAINED):
            crl = part[(part["method"] == "CRL") & (part["policy"] == policy)]
            both = pd.concat([crl, greedy])
            if not both.empty:
                best = both.loc[both["mean_jct_all"].idxmin()]
                rows.append({"rho": rho, "n_edges": n, "request_s": req, "policy": policy, "head": best["method"]})
    return pd.DataFrame(rows, columns=["rho", "n_edges", "request_s", "policy", "head"])


def saturation_lines(sat: pd.DataFrame) -> str:
    """Per ``request_s``: the N from which the head's (CRL-greedy's), the central shield host's and the busiest region
    host's queues grow, at each load."""
    if sat.empty:
        return "No saturation table yet."
    loads = sorted(sat["rho"].unique())
    hosts = (("head", "CRL-greedy"), ("central shield host", "SROLE-central"),
             ("busiest region host", "SROLE-decentralized"))
    rows = []
    for req, part in sat.groupby("request_s", sort=True):
        row = {"request": _ms(req)}
        for host, method in hosts:
            cells = []
            for rho in loads:
                hit = part[(part["host"] == host) & (part["method"] == method) & (part["rho"] == rho)]
                n = hit["n_backlog"].iloc[0] if len(hit) else np.nan
                cells.append("-" if not len(hit) else ("none" if not np.isfinite(n) else f"{int(n):,}"))
            row[host] = " / ".join(cells)
        rows.append(row)
    table = pd.DataFrame(rows)
    return markdown_table(table, list(table.columns))


VERDICTS = ("better", "tied", "worse")
"""The paired verdicts a row has once it has enough seeds (else ``n/a``)."""


def _judged(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with a verdict (enough paired seeds): the only ones a largest reduction is read from."""
    return rows[rows["verdict_all"].isin(VERDICTS)]


def verdict_table(paired: pd.DataFrame) -> pd.DataFrame:
    """Per comparison: (point, request_s) rows that are better / tied / worse on all jobs, and the largest reduction
    and increase among those rows with where they are (the map's policy per point); a row with too few seeds for a
    verdict counts in ``rows`` only."""
    rows = []
    for comparison, part in paired.groupby("comparison", sort=False):
        judged = _judged(part)
        best = judged.loc[judged["reduction_all"].idxmax()] if judged["reduction_all"].notna().any() else None
        worst = judged.loc[judged["reduction_all"].idxmin()] if judged["reduction_all"].notna().any() else None
        rows.append({"comparison": comparison, "rows": len(part),
                     **{v: int((judged["verdict_all"] == v).sum()) for v in VERDICTS},
                     "largest reduction": "n/a" if best is None else f"{pct(best['reduction_all'])} ({_where(best)})",
                     "largest increase": "n/a" if worst is None or worst["reduction_all"] >= 0
                     else f"{pct(-worst['reduction_all'])} ({_where(worst)})"})
    return pd.DataFrame(rows)


def against_strongest_head(paired: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """The paired rows of SROLE against whichever head is stronger at each point (the map's policy per point)."""
    heads = strongest_head(points)
    if heads.empty or paired.empty:
        return paired.iloc[:0]
    merged = paired.merge(heads, on=["rho", "n_edges", "request_s", "policy"], how="inner")
    return merged[merged["baseline"] == merged["head"]]


def _coverage(points: pd.DataFrame, seeds: pd.Series) -> str:
    """Whether the committed tables cover the whole map (its N and its seeds per point) or part of it."""
    from study.experiments.fair_profile import fair_spec

    spec = fair_spec("fair-map")
    have = set(points["n_edges"].unique())
    short = [f"N = {n:,}" for n in spec.sizes if n not in have]
    few = [(n, r) for (r, n), k in seeds.items() if k < len(spec.seeds_at(int(n), float(r)))]
    if not short and not few:
        return "The whole map: every N, load and seed the profile gives."
    return ("**Partial** (the run continues, `docs/fair_map.md`): " + ("; ".join(
        [f"not yet run: {', '.join(short)}"] if short else []) + ("; " if short and few else "") + (
        f"{len(few)} of {len(seeds)} (N, rho) points have fewer seeds than the profile's 5-10 (the fewest, "
        f"{int(seeds.min())}, on some method)" if few else "")) + ". Read the verdicts below as provisional.")


def _unjudged_beyond(rows: pd.DataFrame, claim: float) -> str:
    """``; k row(s) with too few seeds to judge show more`` where rows without a verdict reach ``claim``, else
    ``""``."""
    unjudged = rows.drop(_judged(rows).index)
    beyond = unjudged[unjudged["reduction_all"] >= claim]
    return f"; {len(beyond)} row(s) with too few seeds to judge show more" if len(beyond) else ""


def readme_section(results_dir: str | Path) -> str:
    """The README's fair-map section (Markdown) from a fair-map results directory."""
    results = Path(results_dir)
    points, sat, paired = _read(results, "points.csv"), _read(results, "saturation.csv"), _read(results, "paired.csv")
    rule9, conv = _read(results, "rule9.csv"), _read(results, "convergence.csv")
    if points.empty or paired.empty:
        return "The fair map has no results yet (`python scripts/experiments/fair_map.py`)."
    paired = map_policy(paired)
    sizes = ", ".join(f"{int(n):,}" for n in sorted(points["n_edges"].unique()))
    loads = " / ".join(f"{r:g}" for r in sorted(points["rho"].unique()))
    requests = ", ".join(_ms(r) for r in sorted(points["request_s"].dropna().unique()))
    seeds = points.groupby(["rho", "n_edges"])["seeds"].min()
    lines = [_coverage(points, seeds), "",
             f"N = {sizes}; rho = {loads}; `request_s` = {requests}, charged alike to the head's decisions and "
             "every shield host's checks ([one cost model](docs/host_cost.md)); "
             f"{int(points['seeds'].min())}-{int(points['seeds'].max())} training seeds per method and point; learned "
             f"methods retrained at the point's N where the map has such models, else trained at "
             f"N = {int(points['n_edges'].min()):,} and transferred.", "",
             "Where each host's queue starts to grow (smallest N with a backlog there and at every larger N; "
             f"rho {loads}; `none`: not up to the largest N run):", "", saturation_lines(sat), "",
             "SROLE's paired verdicts per (point, `request_s`) on the mean JCT of all jobs (BCa 95% intervals; "
             "`worse`: where SROLE loses):", "",
             markdown_table(verdict_table(paired), ["comparison", "rows", "better", "tied", "worse",
                                                    "largest reduction", "largest increase"]), ""]
    everything = against_strongest_head(paired, points)
    strong = _judged(everything)
    if not strong.empty:
        best = strong.loc[strong["reduction_all"].idxmax()]
        measured = strong[strong["request_s"].between(*MEASURED_REQUEST_S)]
        pending = len(everything) - len(strong)
        lines.append(f"- *Against the strongest head* (the better of CRL and CRL-greedy at each point): the largest "
                     f"reduction is {pct(best['reduction_all'])} ({best['srole']} vs {best['baseline']}, "
                     f"{_where(best)}, {best['verdict_all']}); SROLE is better at "
                     f"{int((strong['verdict_all'] == 'better').sum())}, tied at "
                     f"{int((strong['verdict_all'] == 'tied').sum())} and worse at "
                     f"{int((strong['verdict_all'] == 'worse').sum())} of {len(everything)} rows"
                     + (f" ({pending} too few seeds to judge)." if pending else "."))
        if not measured.empty:
            mbest = measured.loc[measured["reduction_all"].idxmax()]
            lines.append(f"- *At a production scheduler's measured cost* ({_ms(MEASURED_REQUEST_S[0])} to "
                         f"{_ms(MEASURED_REQUEST_S[1])} per request): the largest reduction against the strongest "
                         f"head is {pct(mbest['reduction_all'])} ({mbest['srole']}, {_where(mbest)}, "
                         f"{mbest['verdict_all']}); worse at {int((measured['verdict_all'] == 'worse').sum())} of "
                         f"{len(measured)} rows.")
        claim = paper_figures().reductions["mean_jct_all"]  # the paper's headline reduction of training time
        reached = strong[(strong["reduction_all"] >= claim) & (strong["verdict_all"] == "better")]
        lines.append(f"- *The paper's {claim:.0%}*: " + (
            f"reached against the strongest head at {len(reached)} row(s), from {_ms(reached['request_s'].min())} "
            "per request." if len(reached) else
            f"not reached against the strongest head under equal costs (largest {pct(best['reduction_all'])})"
            + _unjudged_beyond(everything, claim) + "."))
    flips = paired[paired["sign_differs"].astype(bool)]
    lines.append(f"- *Finished jobs*: {len(flips)} of {len(paired)} verdicts change sign when read on finished jobs "
                 "only (METHODS rule 14).")
    if not rule9.empty:
        r9 = rule9[rule9["policy"].isin((SOURCE, RETRAINED, FIXED))]
        below = r9[r9["verdict"] == "worse"]
        lines.append(f"- *Rule 9* (learned against its heuristic): below it at {len(below)} of {len(r9)} rows" + (
            ": " + "; ".join(f"{a} vs {b} at {len(p)}" for (a, b), p in below.groupby(["learned", "heuristic"]))
            if len(below) else "") + ".")
    if not conv.empty:
        lines.append(f"- *Convergence*: {int(conv['converged'].sum())} of {len(conv)} trainings pass the test "
                     "(METHODS rule 4): equal-budget verdicts, not converged ones.")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(readme_section(sys.argv[1] if len(sys.argv) > 1 else "docs/results/fair_map"))
