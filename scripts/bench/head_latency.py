"""CRL's decision latency against cluster size N at a fixed per-edge load: where does the cluster head saturate?

Runs the earliest-finish head (``crl_greedy``) on ``CentralizedSchedulingEnv``: the same head queue CRL pays
(``srole_env.core.head_queue``), so the demand is the real stream of pending tasks of a cluster whose
placements follow a sensible rule. For each N and each ``head_bookkeeping_s`` it plays ``--rounds`` rounds
and records per round the head's backlog, utilisation and request-to-answer decision latency.

Writes ``head_latency.csv`` (one row per N and bookkeeping value), ``head_latency_rounds.csv`` (per round)
and ``head_latency.png`` to ``--out``, and prints the table with the smallest N at which the backlog grows
(the head saturates) or, if none does, the head's utilisation at the largest N.

    python scripts/bench/head_latency.py --out docs/results/head_latency            # ~2 min on one core
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from agents.baselines.crl_greedy import EarliestFinishHead
from srole_env import CentralizedSchedulingEnv

COLUMNS = ("n_edges", "head_bookkeeping_s", "arrival_rate", "rounds", "service_s", "capacity_per_round",
           "demand_per_round", "decisions_per_round", "decision_latency_mean_s", "decision_latency_last_s",
           "backlog_final", "backlog_max", "utilization_mean", "saturated", "wall_s")


def run_case(n: int, bookkeeping: float, rounds: int, arrival_rate: float, seed: int) -> tuple[dict, list[dict]]:
    """Play ``rounds`` rounds with the greedy head; (summary row, per-round rows)."""
    env = CentralizedSchedulingEnv("paper", n_edges=n, horizon=rounds, arrival_rate=arrival_rate,
                                   head_bookkeeping_s=bookkeeping)
    policy = EarliestFinishHead()
    start = time.perf_counter()
    obs, info = env.reset(seed=seed)
    per_round: list[dict] = []
    last_round = 0

    def record() -> None:
        nonlocal last_round
        while last_round < env.sim.round:  # rounds run inside one step (no decisions) repeat the last figures
            last_round += 1
            per_round.append({"n_edges": n, "head_bookkeeping_s": bookkeeping, "round": last_round,
                              "backlog": info["head_backlog"], "utilization": info["head_utilization"],
                              "decisions": info["head_decisions"], "demand": info["head_demand"],
                              "decision_latency_s": info["head_decision_latency_s"]})

    record()
    done = env.deciding_edge < 0
    while not done:
        action = int(policy.act(obs[None, :], env.action_masks()[None, :].astype(np.int8))[0])
        obs, _, terminated, truncated, info = env.step(action)
        record()
        done = terminated or truncated
    wall = time.perf_counter() - start
    m = env.metrics()
    backlog = np.array([r["backlog"] for r in per_round], float)
    tail = backlog[len(backlog) // 2 :]
    saturated = bool(tail[-1] > 0 and tail[-1] > tail[0])
    lat = [r["decision_latency_s"] for r in per_round if r["decisions"]]
    service = float(info["head_service_s"]) or float("nan")
    row = {
        "n_edges": n, "head_bookkeeping_s": bookkeeping, "arrival_rate": arrival_rate, "rounds": rounds,
        "service_s": service,
        "capacity_per_round": int(np.floor((env.config.round_s - env.head.collect_s) / service)),
        "demand_per_round": float(np.mean([r["demand"] for r in per_round])),
        "decisions_per_round": m["head_decisions"] / rounds,
        "decision_latency_mean_s": m["head_decision_latency_mean_s"],
        "decision_latency_last_s": lat[-1] if lat else 0.0,
        "backlog_final": int(backlog[-1]), "backlog_max": int(m["head_backlog_max"]),
        "utilization_mean": m["head_utilization_mean"], "saturated": saturated, "wall_s": round(wall, 2),
    }
    return row, per_round


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    styles = ["o-", "s--", "^:", "d-."]
    for i, b in enumerate(sorted({r["head_bookkeeping_s"] for r in rows})):
        sel = sorted((r for r in rows if r["head_bookkeeping_s"] == b), key=lambda r: r["n_edges"])
        ns = [r["n_edges"] for r in sel]
        label = f"bookkeeping {b * 1e3:g} ms/decision"
        ax1.plot(ns, [r["decision_latency_mean_s"] for r in sel], styles[i % 4], label=label)
        ax2.plot(ns, [r["utilization_mean"] for r in sel], styles[i % 4], label=label)
        sat = [r for r in sel if r["saturated"]]
        if sat:
            ax1.plot([r["n_edges"] for r in sat], [r["decision_latency_mean_s"] for r in sat], "rx", ms=10,
                     label="backlog grows" if i == 0 or not ax1.get_legend_handles_labels()[1].count("backlog grows")
                     else None)
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("cluster size N (edges)")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set_yscale("log")
    ax1.set_ylabel("CRL decision latency, request to answer (s)")
    ax2.set_ylabel("head utilisation (fraction of each round busy)")
    ax2.set_ylim(0, 1.05)
    rate = rows[0]["arrival_rate"]
    fig.suptitle(f"Cluster head as a queue: 'paper' scenario, {rate} jobs/s per edge, {rows[0]['rounds']} rounds")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000, 3000, 5000, 7000, 10000])
    p.add_argument("--bookkeeping", type=float, nargs="+", default=[0.001, 0.01],
                   help="head_bookkeeping_s values (s per decision; 0.001 is the default)")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--arrival-rate", type=float, default=0.0075, help="jobs/s per edge (the paper scenario's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/head_latency"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, rounds = [], []
    for b in args.bookkeeping:
        for n in args.n:
            row, per_round = run_case(n, b, args.rounds, args.arrival_rate, args.seed)
            rows.append(row)
            rounds += per_round
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    with (args.out / "head_latency.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with (args.out / "head_latency_rounds.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rounds[0]))
        w.writeheader()
        w.writerows(rounds)
    plot(rows, args.out / "head_latency.png")
    print("\n| N | bookkeeping (ms) | s/decision | capacity/round | demand/round | latency mean (s) | "
          "backlog final | head util | saturated |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
    for r in rows:
        print(f"| {r['n_edges']} | {r['head_bookkeeping_s'] * 1e3:g} | {r['service_s']:.5f} | "
              f"{r['capacity_per_round']} | {r['demand_per_round']:.0f} | {r['decision_latency_mean_s']:.3f} | "
              f"{r['backlog_final']} | {r['utilization_mean']:.3f} | {'yes' if r['saturated'] else 'no'} |")
    for b in args.bookkeeping:
        sel = sorted((r for r in rows if r["head_bookkeeping_s"] == b), key=lambda r: r["n_edges"])
        sat = [r["n_edges"] for r in sel if r["saturated"]]
        if sat:
            print(f"bookkeeping {b * 1e3:g} ms: the head saturates (backlog grows) from N = {sat[0]}")
        else:
            print(f"bookkeeping {b * 1e3:g} ms: no saturation up to N = {sel[-1]['n_edges']}; "
                  f"head utilisation there {sel[-1]['utilization_mean']:.3f}")
        unsat = [r for r in sel if not r["saturated"]] or sel
        per_edge = unsat[-1]["demand_per_round"] / unsat[-1]["n_edges"]
        print(f"  extrapolated: capacity {sel[-1]['capacity_per_round']} decisions/round / demand {per_edge:.3f} "
              f"requests per edge per round -> saturation near N = {sel[-1]['capacity_per_round'] / per_edge:,.0f}")


if __name__ == "__main__":
    main()
