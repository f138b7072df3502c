"""Pick the crossover map's episode horizon per load (``docs/ceiling.md``): the shortest candidate horizon at which
``least_loaded`` leaves at most ``--max-unfinished`` (20%) of the jobs that arrived unfinished at the episode's end,
measured at each N of ``--sizes`` (``paper`` scenario, the evaluation seeds of training seed 0). Writes
``horizon.csv`` (every measurement, ``jobs_unfinished / jobs_arrived`` over the episodes) and prints the pick; where
no candidate meets the bound (least_loaded saturated: its unfinished fraction does not fall with the horizon) it
says so, and the map keeps the longest candidate that its cost allows (``study.experiments.crossover_profile.HORIZON``).

    nice -n 10 python scripts/experiments/crossover_horizon.py --out docs/results/crossover/horizon.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def measure(sizes: list[int], loads: list[float], horizons: list[int], episodes: int) -> pd.DataFrame:
    """One row per (N, rho, horizon): arrived and unfinished jobs over ``episodes`` least_loaded episodes."""
    from agents.harness.evaluate import evaluate
    from srole_env.load import rate_for_load
    from study.experiments.plan import EVAL_SEED_OFFSET

    rows = []
    for n in sizes:
        for rho in loads:
            for h in horizons:
                base = {"scenario": "paper", "n_edges": n, "horizon": h}
                cfg = {**base, "arrival_rate": rate_for_load(base, rho)}
                eps = evaluate("least_loaded", "none", cfg, episodes, EVAL_SEED_OFFSET, "cpu")["rows"]
                arrived = sum(r["jobs_arrived"] for r in eps)
                unfinished = sum(r["jobs_unfinished"] for r in eps)
                rows.append({"n_edges": n, "rho": rho, "horizon": h, "episodes": episodes, "jobs_arrived": arrived,
                             "jobs_unfinished": unfinished, "unfinished_frac": unfinished / arrived,
                             "mean_jct_all": sum(r["mean_jct_all"] for r in eps) / len(eps)})
    return pd.DataFrame(rows)


def pick(frame: pd.DataFrame, bound: float) -> dict[float, int | None]:
    """Per load: the shortest horizon whose unfinished fraction is <= ``bound`` at every N (None: no candidate)."""
    out = {}
    for rho, part in frame.groupby("rho"):
        worst = part.groupby("horizon")["unfinished_frac"].max()
        ok = worst[worst <= bound]
        out[float(rho)] = int(ok.index.min()) if len(ok) else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[20, 200])
    p.add_argument("--loads", nargs="+", type=float, default=[0.2, 0.5, 0.8])
    p.add_argument("--horizons", nargs="+", type=int, default=[50, 100, 200, 400])
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--max-unfinished", type=float, default=0.2)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    frame = measure(args.sizes, args.loads, args.horizons, args.episodes)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(args.out, index=False)
    print(frame.to_string(index=False))
    for rho, h in pick(frame, args.max_unfinished).items():
        print(f"rho {rho:g}: " + (f"horizon {h}" if h else f"no candidate leaves <= {args.max_unfinished:.0%} "
                                  "unfinished (least_loaded saturated there)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
