"""Train SROLE agents with RLlib PPO on one machine or on an existing Ray cluster (see docs/rllib.md).

    python scripts/experiments/train_rllib.py --scenario small --shield central --iterations 20 --num-env-runners 2 \\
        --out runs/rllib/small_central
    python scripts/experiments/train_rllib.py --address auto ...   # on a node of a running Ray cluster

Writes ``OUT/checkpoint/`` (an RLlib algorithm checkpoint) and ``OUT/run_config.json`` and prints the
checkpoint path. Evaluate it with ``srole evaluate --policy OUT``, or load it as a SROLE policy with
``load_rllib_policy(OUT / "checkpoint")``. The reusable code lives in ``agents/learners/rllib/adapter.py``; this
file only parses the command line.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from agents.learners.rllib.adapter import (
    ACTION_MASKING,
    POLICY_MAPPINGS,
    SHIELDS,
    RLlibTrainConfig,
    load_rllib_policy,
    train_rllib,
)

__all__ = ["load_rllib_policy", "main", "train_rllib"]


def _override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (numbers, lists), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = RLlibTrainConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default=d.scenario, help="small, paper, large or a .yaml/.json config file")
    p.add_argument("--shield", default=d.shield, choices=SHIELDS)
    p.add_argument("--iterations", type=int, default=d.iterations, help="training iterations")
    p.add_argument("--timesteps", type=int, default=None, help="train until this many env steps (rounds) instead")
    p.add_argument("--num-env-runners", type=int, default=d.num_env_runners, help="parallel sampling actors K")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=d.out_dir, help="output folder (checkpoint/ and run_config.json)")
    p.add_argument("--address", default=None, help="existing Ray cluster (e.g. auto); default: local instance")
    p.add_argument("--policy-mapping", default=d.policy_mapping, choices=POLICY_MAPPINGS)
    p.add_argument("--action-masking", default=d.action_masking, choices=ACTION_MASKING)
    p.add_argument("--train-batch-size", type=int, default=d.train_batch_size, help="env steps per iteration")
    p.add_argument("--minibatch-size", type=int, default=d.minibatch_size)
    p.add_argument("--num-epochs", type=int, default=d.num_epochs)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance")
    p.add_argument("--set", dest="overrides", action="append", type=_override, default=[], metavar="FIELD=VALUE",
                   help="ClusterConfig override, repeatable (e.g. --set horizon=50 --set n_edges=20)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    ckpt = train_rllib(
        args.scenario,
        args.shield,
        iterations=args.iterations,
        num_env_runners=args.num_env_runners,
        seed=args.seed,
        out_dir=args.out,
        address=args.address,
        policy_mapping=args.policy_mapping,
        timesteps=args.timesteps,
        action_masking=args.action_masking,
        train_batch_size=args.train_batch_size,
        minibatch_size=args.minibatch_size,
        num_epochs=args.num_epochs,
        lr=args.lr,
        num_cpus=args.num_cpus,
        env_overrides=dict(args.overrides),
    )
    print(ckpt)


if __name__ == "__main__":
    main()
