"""Estimate what the fair map costs before running it: count its distinct trainings (method, N, load, seed) and
evaluation episodes (method, point, ``request_s``, seed) as the cache will hold them, and each training's learning-curve
episodes (priced as evaluation episodes at the training's N), and multiply by measured
per-unit CPU seconds (``study/experiments/data/fair_map_unit_cost.csv``: CPU s per 1,000 training rounds and per
200-round evaluation episode, each row with its source). A (method, N) the table lacks is interpolated in log-log
between the nearest measured sizes (extrapolated from the two nearest beyond them) and flagged ``interpolated``.

    python scripts/experiments/fair_map_cost.py                        # the whole map, by part
    python scripts/experiments/fair_map_cost.py --sizes 20 200 --workers 2
    python scripts/experiments/fair_map_cost.py --unit-cost my_costs.csv --csv /tmp/fair_cost.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from study.experiments.fair_profile import FAIR_PROFILES, fair_profile  # noqa: E402
from study.experiments.roster import METHODS  # noqa: E402

UNIT_COST = ROOT / "study" / "experiments" / "data" / "fair_map_unit_cost.csv"
MEASURED_HORIZON = 200
"""Rounds of the evaluation episodes the unit costs were measured on (an episode's cost scales with its rounds)."""


def read_unit_cost(path: Path) -> pd.DataFrame:
    """The unit-cost table, checked: columns ``what`` (train/eval), ``method``, ``n_edges``, ``cpu_s``."""
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"fair_map_cost: cannot read the unit costs {path} ({err})") from err
    need = {"what", "method", "n_edges", "cpu_s"}
    if need - set(table.columns):
        raise ValueError(f"fair_map_cost: {path} lacks the columns {sorted(need - set(table.columns))}")
    bad = table[~table["what"].isin(("train", "eval")) | ~(pd.to_numeric(table["cpu_s"], errors="coerce") > 0)]
    if not bad.empty:
        raise ValueError(f"fair_map_cost: {path}: rows need what train/eval and a positive cpu_s, e.g. row "
                         f"{int(bad.index[0]) + 2}")
    return table


def unit(table: pd.DataFrame, what: str, method: str, n: int) -> tuple[float, bool]:
    """CPU seconds of one unit of ``method`` at N = ``n`` and whether it was interpolated (log-log in N)."""
    rows = table[(table["what"] == what) & (table["method"] == method)].sort_values("n_edges")
    if rows.empty:
        raise ValueError(f"fair_map_cost: no {what} cost of {method} in the unit-cost table")
    sizes, cost = rows["n_edges"].to_numpy(float), rows["cpu_s"].to_numpy(float)
    hit = np.flatnonzero(sizes == n)
    if len(hit):
        return float(cost[hit[0]]), False
    if len(sizes) == 1:
        return float(cost[0] * n / sizes[0]), True  # linear in N from the one size
    i = int(np.clip(np.searchsorted(sizes, n), 1, len(sizes) - 1))
    x0, x1, y0, y1 = np.log(sizes[i - 1]), np.log(sizes[i]), np.log(cost[i - 1]), np.log(cost[i])
    return float(np.exp(y0 + (np.log(n) - x0) * (y1 - y0) / (x1 - x0))), True


def count_units(profile) -> pd.DataFrame:  # noqa: ANN001 - a study Profile
    """One row per distinct training and evaluation (the cache's keys): what, method, N, seed, rounds/episodes."""
    trainings, evals = {}, {}
    for exp in profile.experiments:
        for g in exp.grid:
            train_cfg = {**exp.base, **g}
            for method in exp.methods:
                for seed in exp.seeds or profile.seeds:
                    if METHODS[method].learned:
                        trainings[(method, tuple(sorted(train_cfg.items())), seed)] = (
                            int(train_cfg["n_edges"]), int(train_cfg["horizon"]))
                    for e in exp.eval_grid or ({},):
                        cfg = {**train_cfg, **e}
                        key = (method, tuple(sorted(train_cfg.items())), tuple(sorted(cfg.items())), seed)
                        evals[key] = (int(cfg["n_edges"]), int(cfg["horizon"]), exp.episodes or profile.eval_episodes)
    rows = [{"what": "train", "method": k[0], "n_edges": n, "units": profile.rounds / 1000.0}
            for k, (n, _) in trainings.items()]
    if profile.eval_every:  # each training's learning curve: episodes at every checkpoint, priced as evaluations
        per = (profile.rounds // profile.eval_every) * len(profile.curve_seeds) * profile.curve_episodes
        rows += [{"what": "curve", "method": k[0], "n_edges": n, "units": per * h / MEASURED_HORIZON}
                 for k, (n, h) in trainings.items()]
    rows += [{"what": "eval", "method": k[0], "n_edges": n, "units": eps * h / MEASURED_HORIZON}
             for k, (n, h, eps) in evals.items()]
    return pd.DataFrame(rows)


def estimate(profile, table: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    """Per (what, method, N): the count, units and CPU hours."""
    units = count_units(profile)
    g = units.groupby(["what", "method", "n_edges"]).agg(count=("units", "size"), units=("units", "sum")).reset_index()
    costs = [unit(table, "eval" if w == "curve" else w, m, int(n))
             for w, m, n in zip(g["what"], g["method"], g["n_edges"])]
    g["cpu_s_per_unit"] = [c for c, _ in costs]
    g["interpolated"] = [i for _, i in costs]
    g["cpu_h"] = g["units"] * g["cpu_s_per_unit"] / 3600.0
    return g


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="fair-map", choices=FAIR_PROFILES)
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="only these N")
    p.add_argument("--loads", nargs="+", type=float, default=None, help="only these rho")
    p.add_argument("--rounds", type=int, default=None, help="another training budget")
    p.add_argument("--workers", type=int, default=2, help="cells in parallel, for the wall-clock figure")
    p.add_argument("--unit-cost", default=str(UNIT_COST), help="CSV of measured per-unit CPU seconds")
    p.add_argument("--csv", default=None, help="write the per-(what, method, N) estimate here")
    args = p.parse_args(argv)
    profile = fair_profile(args.profile, tuple(args.sizes) if args.sizes else None, args.rounds,
                           tuple(args.loads) if args.loads else None)
    est = estimate(profile, read_unit_cost(Path(args.unit_cost)))
    if args.csv:
        est.to_csv(args.csv, index=False)
    pd.set_option("display.width", 160)
    print(est.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    total = est["cpu_h"].sum()
    by_what = est.groupby("what")["cpu_h"].sum()
    by_n = est.groupby("n_edges")["cpu_h"].sum()
    print(f"\n{len(profile.experiments)} experiments; {int(est.loc[est['what'] == 'train', 'count'].sum())} "
          f"trainings, {int(est.loc[est['what'] == 'eval', 'count'].sum())} evaluations")
    print("CPU hours by part: " + ", ".join(f"{w} {h:.1f}" for w, h in by_what.items()))
    print("CPU hours by N: " + ", ".join(f"{int(n):,} {h:.1f}" for n, h in by_n.items()))
    print(f"total {total:.1f} CPU hours (~{total / max(args.workers, 1):.1f} h wall on {args.workers} workers; "
          f"{est.loc[est['interpolated'], 'cpu_h'].sum():.1f} CPU h from interpolated unit costs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
