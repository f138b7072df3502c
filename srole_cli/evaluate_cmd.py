"""``srole evaluate``: evaluate run directories and/or heuristics; print a table, write CSV/JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from srole_cli.args import (
    add_cluster_arguments,
    add_device_arguments,
    check_output_path,
    non_negative_int,
    positive_int,
    set_threads,
)
from srole_cli.registry import Subcommand
from srole_common.names import CENTRAL_HEURISTIC_NAMES, HEURISTIC_NAMES, SHIELDS

EPILOG = f"""POLICY is what `srole score` takes: a run directory written by `srole train` or
`scripts/experiments/train_rllib.py`, an import path package.module:factory (the factory returns a Policy or a callable
from a round's observations to actions), an SB3 .zip, or a heuristic: {', '.join(HEURISTIC_NAMES)}; or
{', '.join(CENTRAL_HEURISTIC_NAMES)} (earliest-finish cluster head, CRL's env).
Episode e uses seed SEED + e, so all policies meet the same clusters and jobs.
examples:
  srole evaluate --policy runs/ippo_central random local --shield central --episodes 10 --seed 1000
  srole evaluate --policy runs/crl_ppo --episodes 5 --json results.json
  srole evaluate --policy least_loaded --shield decentralized --scenario paper --set horizon=60 --episodes 1 \
      --record cluster.gif"""


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--policy", nargs="+", required=True, metavar="POLICY",
                   help="run directories, package.module:factory import paths, SB3 .zip files or heuristic names")
    p.add_argument("--shield", choices=SHIELDS, default=None,
                   help="shield for every policy (default: each run's own shield; none for heuristics and CRL)")
    add_cluster_arguments(p, scenario_default=None)
    p.epilog += "\nThe cluster is --scenario, else the first run directory's training cluster, else small."
    p.add_argument("--episodes", type=positive_int, default=10, help="episodes per policy (default 10)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the first episode (default 0)")
    p.add_argument("--csv", metavar="PATH", help="also write the table (all metric means) as CSV")
    p.add_argument("--json", metavar="PATH", help="also write the results with per-episode rows as JSON")
    p.add_argument("--record", metavar="PATH.gif",
                   help="record the first episode of the first policy as an animated GIF of the cluster map")
    add_device_arguments(p)


def common_config(policies: list[str], scenario: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """One cluster for every policy: ``--scenario``, else the first run directory's training cluster, else
    ``small``; then the ``--set`` overrides."""
    if scenario is not None:
        return {"scenario": scenario, **overrides}
    for policy in policies:
        if policy not in HEURISTIC_NAMES and Path(policy).is_dir():
            from agents.harness.policies import run_cluster

            return {**run_cluster(policy), **overrides}
    return {"scenario": "small", **overrides}


def cluster_line(config: dict[str, Any]) -> str:
    """The cluster the policies are evaluated on, in one line (``agents.common.run_dir.describe_cluster``)."""
    from agents.common.run_dir import describe_cluster
    from srole_env import make_config

    return describe_cluster(make_config(**config).to_dict())


def _resolved(spec: str, config: dict[str, Any]) -> Any:
    """``spec`` as ``evaluate`` takes it: run directories and heuristic names stay strings, import paths and SB3
    zips become policies (``study.benchmark.policy_spec.resolve``, the resolution ``srole score`` uses)."""
    if spec in HEURISTIC_NAMES or spec in CENTRAL_HEURISTIC_NAMES or Path(spec).is_dir():
        return spec
    if ":" not in spec and Path(spec).suffix != ".zip":
        return spec  # evaluate says what it is not (a heuristic, a run directory)
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, "")  # a user's module in the working directory imports, as with `python -m`
    from study.benchmark.policy_spec import needs_kind, resolve

    policy, _ = resolve(spec)
    if hasattr(policy, "obs_shape"):  # an SB3 zip: parallel or head policy by its observation size
        import srole_env

        env = srole_env.parallel_env(**config)
        policy.env_kind = needs_kind(policy, env.observation_space(env.possible_agents[0])["observation"].shape[0])
    return policy


def run(args: argparse.Namespace) -> int:
    from agents.harness.evaluate import evaluate, format_table, write_csv, write_json

    for flag, path in (("--csv", args.csv), ("--json", args.json), ("--record", args.record)):
        if path:  # before any episode: a path that cannot be written is refused first
            check_output_path(path, flag)
    set_threads(args.threads)
    config = common_config(args.policy, args.scenario, dict(args.overrides))
    policies = [_resolved(policy, config) for policy in args.policy]
    results = [evaluate(policy, args.shield, config, args.episodes, args.seed, args.device,
                        record=args.record if k == 0 else None) for k, policy in enumerate(policies)]
    print(format_table(results))
    print(f"srole evaluate: cluster {cluster_line(config)}", file=sys.stderr)  # which N ran, whatever the source
    if args.csv:
        write_csv(results, args.csv)
    if args.json:
        write_json(results, args.json)
    return 0


SUBCOMMAND = Subcommand("evaluate", "evaluate policies: mean JCT, collisions, overloads, interventions, overhead",
                        configure, run)
