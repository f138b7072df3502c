"""``srole emulate``: run a trace of real PyTorch jobs on a Ray cluster under a policy (and shield)."""

from __future__ import annotations

import argparse

from srole_cli.args import non_negative_int, positive_int
from srole_cli.registry import CLIError, Subcommand
from srole_common.names import HEURISTIC_NAMES, SHIELDS

EPILOG = f"""POLICY is a run directory written by `srole train` (a parallel-env policy) or a heuristic:
{', '.join(HEURISTIC_NAMES)}.
SPEC names each edge's device class in order, CLASS or CLASSxK, e.g. raspberry_pi4x2,nuc_i7.
The CSV has the columns of `srole evaluate --csv` plus the emulator's own (oom_kills, nodes_lost, ...).
examples:
  srole emulate --policy least_loaded --trace jobs.csv --local-nodes raspberry_pi4x3 --work-scale 0.05 --csv emu.csv
  srole emulate --policy runs/ippo_central --shield central --trace jobs.csv --address 10.0.0.1:6379 \\
      --node-classes raspberry_pi4x4,nuc_i7 --round-s 5
  srole emulate --policy local --trace jobs.csv --local-nodes nuc_i7x3 --kill-node 1@5
See docs/emulation.md for what is real and what is not."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _edge_at_round(text: str) -> tuple[int, int]:
    edge, sep, rnd = text.partition("@")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected EDGE@ROUND, e.g. 1@5, got {text!r}")
    return non_negative_int(edge), non_negative_int(rnd)


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--policy", required=True, metavar="POLICY", help="a run directory or a heuristic name")
    p.add_argument("--shield", choices=SHIELDS, default="none", help="shield in front of the policy (default none)")
    p.add_argument("--trace", required=True, metavar="JOBS.csv", help="job trace (schema: srole_env.core.workload)")
    nodes = p.add_mutually_exclusive_group(required=True)
    nodes.add_argument("--local-nodes", metavar="SPEC", help="start a local Ray cluster, one node per edge")
    nodes.add_argument("--address", metavar="HOST:PORT", help="an existing Ray cluster (edge i holds resource edge_i)")
    p.add_argument("--node-classes", metavar="SPEC", help="with --address: each edge's device class")
    p.add_argument("--work-scale", type=_positive_float, default=1.0, help="multiply each job's samples (default 1)")
    p.add_argument("--time-scale", type=_positive_float, default=1.0, help="multiply arrival times (default 1)")
    p.add_argument("--round-s", type=_positive_float, default=2.0, help="real seconds per decision round (default 2)")
    p.add_argument("--max-rounds", type=positive_int, default=500, help="stop after this many rounds (default 500)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
    p.add_argument("--kill-node", type=_edge_at_round, metavar="EDGE@ROUND",
                   help="fault injection: kill that local node at the start of that round")
    p.add_argument("--memory-budget-gb", type=_positive_float, default=None,
                   help="resident memory (GB) of a node's workers above which its newest task is killed "
                        "(default: the device class's memory)")
    p.add_argument("--emulate-speed", action="store_true",
                   help="local nodes: measure this host's worker speed and give each node a CPU quota (as docker "
                        "--cpus) that makes it as fast as its class (classes faster than the host run at its speed)")
    p.add_argument("--csv", metavar="PATH", help="write the result row (srole evaluate's CSV schema)")
    p.add_argument("--json", metavar="PATH", help="write the result as JSON")


def run(args: argparse.Namespace) -> int:
    from agents.harness.evaluate import format_table, write_csv, write_json
    from emulation.run import emulate

    if args.address is not None and args.node_classes is None:
        raise CLIError("emulate: --address needs --node-classes SPEC (each edge's device class)")
    if args.kill_node is not None and args.address is not None:
        raise CLIError("emulate: --kill-node works on --local-nodes clusters only")
    speed = None
    if args.emulate_speed:
        from emulation.compare import measure_host_flops

        speed = measure_host_flops()
    result = emulate(args.policy, args.shield, args.trace, local_nodes=args.local_nodes, address=args.address,
                     node_classes=args.node_classes, work_scale=args.work_scale, time_scale=args.time_scale,
                     round_s=args.round_s, max_rounds=args.max_rounds, seed=args.seed, kill_node=args.kill_node,
                     memory_budget=None if args.memory_budget_gb is None else args.memory_budget_gb * 1e9,
                     emulate_speed=speed)
    print(format_table([result], columns=("mean_jct", "mean_jct_all", "collisions", "overloads", "oom_kills",
                                          "nodes_lost", "mean_decision_latency_s", "jobs_completed")))
    if args.csv:
        write_csv([result], args.csv)
    if args.json:
        write_json([result], args.json)
    return 0


SUBCOMMAND = Subcommand("emulate", "run a job trace for real on a Ray cluster of edge nodes under a policy",
                        configure, run)
