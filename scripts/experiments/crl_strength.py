"""The learned head against CRL-greedy on the fair map's own points (METHODS rule 9; ``docs/fair_map.md``).

For each load rho and training seed: trains CRL as the fair map does (``study.experiments.plan.resolve_learner``:
the tuned set ``tuned_fair/paper/CRL.yaml`` plus the profile's common choices; ``--hparams`` JSON adds overrides, e.g.
the warm start) at the source N = 20 (``transferred``) and, for every larger ``--sizes`` N, at that N
(``retrained``), at the map's training ``request_s``; evaluates each model and ``crl_greedy`` at each N on the map's
episodes (``10_000 + 100 * seed + e``, the map's episode count) at each ``--requests`` value; prints per point the
mean over seeds of both JCTs (``mean_jct_all``, ``mean_jct`` = finished jobs) for both heads, and the paired gap
(CRL - CRL-greedy: > 0 means the learned head is worse) with a t-interval over seeds. Trained models are kept under
``--out`` (a rerun with the same settings reuses them).

    nice -n 10 python scripts/experiments/crl_strength.py --sizes 20 200 --seeds 0 1 2 --out /tmp/crl-strength
    python scripts/experiments/crl_strength.py --sizes 20 --loads 0.5 --hparams '{"demo_rounds": 1000}' --tag warm
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from agents.harness.evaluate import evaluate  # noqa: E402
from agents.harness.train import train  # noqa: E402
from study.experiments.fair_profile import fair_profile, fair_spec, point  # noqa: E402
from study.experiments.plan import EVAL_SEED_OFFSET, resolve_learner  # noqa: E402
from study.experiments.roster import METHODS  # noqa: E402


def _interval(gaps: np.ndarray) -> tuple[float, float]:
    """95% t-interval of the mean of ``gaps`` (one per seed); (nan, nan) with fewer than 2."""
    if len(gaps) < 2:
        return float("nan"), float("nan")
    from scipy import stats

    half = stats.t.ppf(0.975, len(gaps) - 1) * gaps.std(ddof=1) / np.sqrt(len(gaps))
    return float(gaps.mean() - half), float(gaps.mean() + half)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 200])
    ap.add_argument("--loads", type=float, nargs="+", default=[0.2, 0.5, 0.8])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--requests", type=float, nargs="+", default=[0.001], help="request_s values evaluated")
    ap.add_argument("--rounds", type=int, default=None, help="training budget (default: the map's)")
    ap.add_argument("--hparams", default="{}", help="JSON overrides on top of the map's CRL hyperparameters")
    ap.add_argument("--no-transfer", action="store_true", help="only models trained at each N")
    ap.add_argument("--out", type=Path, default=Path("/tmp/crl-strength"))
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    spec = fair_spec("fair-map")
    rounds = args.rounds or spec.rounds
    algo, hparams, source = resolve_learner(fair_profile("fair-map", sizes=(spec.source,)), METHODS["CRL"], "paper")
    hparams = {**hparams, **json.loads(args.hparams)}
    tag = hashlib.sha256(json.dumps([algo, hparams, rounds], sort_keys=True).encode()).hexdigest()[:10]
    print(f"CRL: {algo} {hparams} ({source}), {rounds} rounds, models under {args.out / tag}", flush=True)
    models: dict[tuple[int, float, int], Path] = {}

    def model(n: int, rho: float, seed: int) -> Path:
        key = (n, rho, seed)
        if key not in models:
            run = args.out / tag / f"n{n}_rho{rho}_s{seed}"
            if not (run / "checkpoint" / "state.json").is_file() or \
                    json.loads((run / "checkpoint" / "state.json").read_text()).get("rounds", 0) < rounds:
                t0 = time.process_time()
                cfg = {**spec.base, **point(spec, n, rho), "request_s": spec.train_request_s}
                train(algo, "none", cfg, rounds, seed, run, "cpu", hparams=hparams, progress=False)
                print(f"  trained N={n} rho {rho} seed {seed}: {time.process_time() - t0:.0f} CPU s", flush=True)
            models[key] = run
        return models[key]

    rows = []
    for rho in args.loads:
        for n in args.sizes:
            policies = [("retrained" if n != spec.source else "trained", n)]
            if n != spec.source and not args.no_transfer:
                policies.append(("transferred", spec.source))
            for request_s in args.requests:
                cfg = {**spec.base, **point(spec, n, rho), "request_s": request_s}
                episodes = spec.episodes(n)
                for policy, train_n in policies:
                    per = {"crl": [], "greedy": []}
                    for seed in args.seeds:
                        eval_seed = EVAL_SEED_OFFSET + 100 * seed
                        for name, pol in (("crl", model(train_n, rho, seed)), ("greedy", "crl_greedy")):
                            r = evaluate(pol, "none", cfg, episodes, eval_seed, "cpu")
                            per[name].append((r["mean_jct_all"], r["mean_jct"], r["jobs_unfinished"]))
                    crl, greedy = np.array(per["crl"]), np.array(per["greedy"])
                    row = {"rho": rho, "n_edges": n, "request_s": request_s, "policy": policy, "seeds": args.seeds,
                           "hparams": hparams}
                    for j, metric in enumerate(("mean_jct_all", "mean_jct_finished")):
                        gap = crl[:, j] - greedy[:, j]
                        row |= {f"crl_{metric}": float(crl[:, j].mean()),
                                f"greedy_{metric}": float(greedy[:, j].mean()), f"gap_{metric}": float(gap.mean()),
                                f"gap_{metric}_ci": _interval(gap),
                                f"gap_{metric}_per_seed": gap.round(2).tolist()}
                    rows.append(row)
                    print(f"rho {rho} N {n:6d} req {request_s * 1e3:4.0f} ms {policy:11s} "
                          f"all: CRL {row['crl_mean_jct_all']:7.2f} greedy {row['greedy_mean_jct_all']:7.2f} "
                          f"gap {row['gap_mean_jct_all']:+6.2f} [{row['gap_mean_jct_all_ci'][0]:+.2f}, "
                          f"{row['gap_mean_jct_all_ci'][1]:+.2f}]  finished: CRL {row['crl_mean_jct_finished']:7.2f} "
                          f"greedy {row['greedy_mean_jct_finished']:7.2f} gap {row['gap_mean_jct_finished']:+6.2f} "
                          f"[{row['gap_mean_jct_finished_ci'][0]:+.2f}, {row['gap_mean_jct_finished_ci'][1]:+.2f}]",
                          flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
