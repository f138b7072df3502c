"""``srole score``: run any scheduler on a benchmark task and write its score card; ``--compare`` score cards."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srole_cli.args import add_device_arguments, set_threads
from srole_cli.registry import CLIError, Subcommand
from srole_common.names import SHIELDS

EPILOG = """POLICY is an import path package.module:factory (the factory returns a Policy or a callable from a round's
observations {agent: {"observation", "action_mask"}} to actions {agent: int}), a run directory of `srole train`, a
heuristic name (least_loaded, random, local, round_robin, crl_greedy) or an SB3 .zip.
examples:
  srole tasks
  srole score examples.custom_scheduler:make_policy --task edge_cluster_v1/small_poisson --out card.json
  srole score least_loaded --task edge_cluster_v1/paper20_alibaba --shield central
  srole score --compare card.json other.json"""


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("policy", nargs="?", metavar="POLICY", help="the scheduler to score (see below)")
    p.add_argument("--task", help="task id, e.g. edge_cluster_v1/small_poisson (`srole tasks` lists them)")
    p.add_argument("--shield", choices=SHIELDS, default=None, help="shield for the policy (default: the task's)")
    p.add_argument("--out", metavar="PATH.json",
                   help="score card path (default score-<task>-<policy>.json); the CSV is written beside it")
    p.add_argument("--references", metavar="DIR", help="reference results folder (default docs/results/benchmark)")
    p.add_argument("--compare", nargs="+", metavar="CARD.json", help="print the paired comparison of score cards")
    add_device_arguments(p)


def _default_out(task: str, policy: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{task.split('/')[-1]}-{Path(policy).name}")
    return Path(f"score-{safe}.json")


def run(args: argparse.Namespace) -> int:
    from study.benchmark.score import card_paths, compare, format_card, score

    if args.compare:
        if args.policy or args.task:
            raise CLIError("score: --compare takes score cards only (no POLICY or --task)")
        print(compare(args.compare))
        return 0
    if not args.policy or not args.task:
        raise CLIError("score: give POLICY and --task (or --compare CARD.json ...)")
    set_threads(args.threads)
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, "")  # a user's module in the working directory imports, as with `python -m`
    out = Path(args.out) if args.out else _default_out(args.task, args.policy)
    card = score(args.policy, args.task, shield=args.shield, out=out, device=args.device, references=args.references)
    print(format_card(card, args.references))
    json_path, csv_path = card_paths(out)
    print(f"score card: {json_path} and {csv_path}")
    return 0


SUBCOMMAND = Subcommand("score", "score a scheduler on a benchmark task (score card JSON/CSV); compare cards",
                        configure, run)
