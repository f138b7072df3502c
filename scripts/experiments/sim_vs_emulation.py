"""Sim-to-real on this host: the same nodes and trace emulated on a local Ray cluster and simulated.

Every node is this host's class: ``--node-cores`` cores, ``--node-memory-gb`` of memory and the training
FLOP/s one single-thread LeNet-5 worker measures here (``measure_host_flops``), unless ``--host-flops``
gives a calibrated figure. The trace is ``--jobs`` LeNet-5 jobs (1-2 workers) arriving at random edges
over the first rounds, drawn from ``--seed``. Writes a CSV and prints a Markdown table.

    PYTHONPATH=$PWD python scripts/experiments/sim_vs_emulation.py --nodes 4 --jobs 8 --out sim_vs_emulation.csv
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from agents.harness.evaluate import write_csv
from emulation.compare import compare_sim_emulation, format_rows, measure_host_flops, ranking_agrees
from emulation.nodes import host_class
from srole_env.core.workload import write_trace_csv


def write_trace(path: Path, n_nodes: int, jobs: int, iters: tuple[int, int], round_s: float, seed: int) -> Path:
    """``jobs`` LeNet-5 jobs, batch 32, 1-2 workers, ``iters`` iterations per worker, over the first rounds."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in np.sort(rng.uniform(0, jobs * round_s / 2, size=jobs)):
        k = int(rng.integers(1, 3))
        rows.append([round(float(t), 3), int(rng.integers(n_nodes)), "lenet5",
                     k * 32 * int(rng.integers(iters[0], iters[1] + 1)), 1, 32, k])
    return write_trace_csv(path, rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--node-cores", type=int, default=1)
    p.add_argument("--node-memory-gb", type=float, default=2.0)
    p.add_argument("--jobs", type=int, default=8)
    p.add_argument("--iters", type=int, nargs=2, default=(100, 300), help="iterations per worker (min max)")
    p.add_argument("--round-s", type=float, default=2.0)
    p.add_argument("--host-flops", type=float, default=None, help="calibrated FLOP/s of one worker on this host")
    p.add_argument("--methods", nargs="+", default=["local", "least_loaded", "random"])
    p.add_argument("--max-rounds", type=int, default=80)
    p.add_argument("--compute-threshold", type=float, default=1.0,
                   help="ClusterConfig.compute_threshold for both (1.0: a 1-core node takes one worker)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="sim_vs_emulation.csv")
    args = p.parse_args(argv)
    flops = args.host_flops or measure_host_flops()
    print(f"host: {len(os.sched_getaffinity(0))} CPUs, one LeNet-5 worker {flops / 1e9:.2f} GFLOP/s, "
          f"load {os.getloadavg()[0]:.1f}")
    cls = host_class(flops * args.node_cores, args.node_cores, args.node_memory_gb * 1e9)
    with tempfile.TemporaryDirectory() as tmp:
        trace = write_trace(Path(tmp) / "trace.csv", args.nodes, args.jobs, tuple(args.iters), args.round_s, args.seed)
        rows = compare_sim_emulation(trace, [cls] * args.nodes, tuple((m, "none") for m in args.methods),
                                     round_s=args.round_s, max_rounds=args.max_rounds, seed=args.seed,
                                     compute_threshold=args.compute_threshold)
    write_csv(rows, args.out)
    print(format_rows(rows))
    print(f"same ranking: {ranking_agrees(rows)}")


if __name__ == "__main__":
    main()
