"""``srole score``: run any scheduler on a benchmark task and write its score card; ``--compare`` score cards."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from srole_cli.args import add_device_arguments, key_value, non_negative_int, positive_int, set_threads
from srole_cli.registry import CLIError, Subcommand
from srole_common.names import SHIELDS

EPILOG = """POLICY is an import path package.module:factory (the factory returns a Policy or a callable from a round's
observations {agent: {"observation", "action_mask"}} to actions {agent: int}), a run directory of `srole train`, a
heuristic name (least_loaded, random, local, round_robin, crl_greedy) or an SB3 .zip.
examples:
  srole tasks
  srole score examples.custom_scheduler:make_policy --task edge_cluster_v1/small_poisson --out card.json
  srole score least_loaded --task edge_cluster_v1/paper20_alibaba --shield central
  srole score least_loaded --trace my_jobs.csv --episodes 5     # your own workload: an unofficial task
  srole score --compare card.json other.json
Your own workload (--scenario FILE and/or --trace CSV, with --set FIELD=VALUE): an unofficial task; the reference
methods that need no training (heuristics, the greedy reference, the lower bound) run on the same episodes, so the
paired differences and the rank are real; `srole trace` converts runtime, request and pod lists."""


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("policy", nargs="?", metavar="POLICY", help="the scheduler to score (see below)")
    p.add_argument("--task", help="task id, e.g. edge_cluster_v1/small_poisson (`srole tasks` lists them)")
    p.add_argument("--scenario", metavar="NAME|FILE", default=None,
                   help="your own workload instead of --task: a scenario name or YAML/JSON file (unofficial task)")
    p.add_argument("--trace", metavar="CSV", default=None,
                   help="your own workload: a simulator trace replayed every episode (unofficial task)")
    p.add_argument("--set", dest="overrides", action="append", type=key_value, default=[], metavar="FIELD=VALUE",
                   help="change a ClusterConfig field of your own workload (repeatable)")
    p.add_argument("--episodes", type=positive_int, default=10, help="episodes of your own workload (default 10)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="first episode's seed, own workload (default 0)")
    p.add_argument("--shield", choices=SHIELDS, default=None, help="shield for the policy (default: the task's)")
    p.add_argument("--out", metavar="PATH.json",
                   help="score card path (default scores/score-<task>-<policy>.json); the CSV is written beside it")
    p.add_argument("--references", metavar="DIR", help="reference results folder (default docs/results/benchmark)")
    p.add_argument("--compare", nargs="+", metavar="CARD.json", help="print the paired comparison of score cards")
    add_device_arguments(p)


def _default_out(task: str, policy: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{task.split('/')[-1]}-{Path(policy).name}")
    return Path("scores") / f"score-{safe}.json"


def run(args: argparse.Namespace) -> int:
    from study.benchmark.score import card_paths, compare, format_card, score

    if args.compare:
        if args.policy or args.task:
            raise CLIError("score: --compare takes score cards only (no POLICY or --task)")
        print(compare(args.compare))
        return 0
    own = args.scenario is not None or args.trace is not None or bool(args.overrides)
    if not args.policy or (not args.task and not own):
        raise CLIError("score: give POLICY and --task, or POLICY and your workload (--scenario/--trace), or "
                       "--compare CARD.json ...")
    if args.task and own:
        raise CLIError("score: --task scores a frozen task; --scenario/--trace/--set build your own: not both")
    set_threads(args.threads)
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, "")  # a user's module in the working directory imports, as with `python -m`
    if own:
        from study.benchmark.own_task import own_task, score_own

        task = own_task(args.scenario, trace=args.trace, episodes=args.episodes, seed=args.seed,
                        overrides=dict(args.overrides), shield=args.shield or "none")
        out = Path(args.out) if args.out else _default_out(task.name, args.policy)
        card = score_own(args.policy, task, out=out, shield=args.shield, device=args.device)
        print(format_card(card))
        print(f"score card (unofficial task {task.id}): {out} and {out.with_suffix('.csv')}; references in "
              f"{out.parent / 'references'}")
        return 0
    out = Path(args.out) if args.out else _default_out(args.task, args.policy)
    card = score(args.policy, args.task, shield=args.shield, out=out, device=args.device, references=args.references)
    print(format_card(card, args.references))
    json_path, csv_path = card_paths(out)
    print(f"score card: {json_path} and {csv_path}")
    return 0


SUBCOMMAND = Subcommand("score", "score a scheduler on a benchmark task (score card JSON/CSV); compare cards",
                        configure, run)
