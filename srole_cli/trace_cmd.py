"""``srole trace``: convert a trace a user has into the simulator's trace CSV (``srole_env.trace_convert``,
``srole_env.traces``).

``srole trace runtimes IN OUT`` (one column of job durations), ``srole trace requests IN OUT`` (a pod list of
resource requests without times) and ``srole trace pods IN OUT`` (a pod list with creation and deletion times,
the Alibaba GPU-trace columns) write window ``--window`` of ``IN`` sized for ``--n-edges`` edges at
``--arrival-rate`` over ``--duration-s`` seconds; ``--seed`` seeds the arrivals of the shapes without times.
The mappings are assumptions (each a field of ``ShapeMapping`` or ``PodTraceMapping``), listed in
``docs/benchmark.md``.
"""

from __future__ import annotations

import argparse

from srole_cli.args import non_negative_int, positive_int
from srole_cli.registry import Subcommand

SHAPES = ("runtimes", "requests", "pods")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("shape", choices=SHAPES,
                   help="runtimes: one column of job durations (s); requests: num_gpu[,gpu_milli] per job, no times; "
                        "pods: a pod list with creation_time and deletion_time")
    p.add_argument("input", help="the CSV to convert")
    p.add_argument("out", help="the simulator trace CSV to write (ClusterConfig trace_path)")
    p.add_argument("--n-edges", type=positive_int, default=20, help="edges of the cluster it is for (default 20)")
    p.add_argument("--arrival-rate", type=_positive_float, default=0.0075,
                   help="jobs per second per edge (default 0.0075): sets the jobs per window and, for runtimes and "
                        "requests, the Poisson arrivals")
    p.add_argument("--duration-s", type=_positive_float, default=500.0,
                   help="simulated seconds of the episode (horizon x round length; default 500)")
    p.add_argument("--window", type=non_negative_int, default=0, help="which window of consecutive rows (default 0)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seeds the arrivals and origins (default 0)")


def run(args: argparse.Namespace) -> int:
    sizing = {"n_edges": args.n_edges, "arrival_rate": args.arrival_rate, "duration_s": args.duration_s,
              "window": args.window}
    if args.shape == "pods":
        from srole_env.traces import PodTraceMapping, convert_pod_trace

        out = convert_pod_trace(args.input, args.out, mapping=PodTraceMapping(origin_seed=args.seed), **sizing)
    else:
        from srole_env.trace_convert import ShapeMapping, convert_request_list, convert_runtime_list

        convert = convert_runtime_list if args.shape == "runtimes" else convert_request_list
        out = convert(args.input, args.out, mapping=ShapeMapping(seed=args.seed), **sizing)
    with open(out) as fh:
        jobs = sum(1 for _ in fh) - 1
    print(f"{out}: {jobs} jobs from {args.input} ({args.shape}, window {args.window}); use it with "
          f"--set trace_path={out} or a scenario file's trace_path (the mapping's assumptions: docs/benchmark.md)")
    return 0


SUBCOMMAND = Subcommand("trace", "convert a runtime list, a request list or a pod list into a simulator trace",
                        configure, run)
