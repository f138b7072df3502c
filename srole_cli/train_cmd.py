"""``srole train``: train one algorithm (optionally behind a shield) into a run directory, or resume one."""

from __future__ import annotations

import argparse

from srole_cli.args import (
    add_cluster_arguments,
    add_device_arguments,
    integer,
    key_value,
    non_negative_int,
    positive_int,
    set_threads,
)
from srole_cli.registry import CLIError, Subcommand
from srole_common.names import ALGO_NAMES, SHIELDS

EPILOG = """budget: --rounds counts simulated decision rounds (10 s each), the same unit for every algo: a round
is one step of the parallel env (all N edge agents act) for the MARL algos and the rounds the head's
decisions cover for crl_*. --rounds is the run's total, also when resuming.
SROLE = any MARL algo (ppo, dqn, maskable_ppo, idqn, ippo) with --shield central or decentralized;
--hparam shield_preferences=false withholds the learner's preferences from the shield.
--eval-every K --eval-seeds S [S ...]: evaluate the policy every K rounds on the fixed episodes S+e
(e < --eval-episodes) and write curves.csv in the run directory.
--backend rllib trains PPO with Ray RLlib (needs the rllib extra; see docs/rllib.md): --num-env-runners
sampling actors, --address an existing Ray cluster, --hparam RLlibTrainConfig fields (train_batch_size,
lr, ...); RLlib env steps are rounds. The run directory evaluates with `srole evaluate`. It does not resume.
examples:
  srole train --algo ippo --shield central --scenario small --rounds 20000 --seed 0 --out runs/ippo_central
  srole train --resume runs/ippo_central --rounds 40000
  srole train --algo idqn --rounds 3000 --eval-every 300 --eval-seeds 50000 --eval-episodes 3 --out runs/idqn
  srole train --backend rllib --algo ppo --shield central --rounds 20000 --num-env-runners 2 --out runs/rllib"""


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--algo", choices=ALGO_NAMES, help="algorithm (required unless --resume)")
    p.add_argument("--shield", choices=SHIELDS, default=None, help="shield in front of the env (default: none)")
    add_cluster_arguments(p, scenario_default=None)
    p.add_argument("--rounds", type=positive_int, default=None,
                   help="total training budget in simulated decision rounds (default 10000; when resuming: "
                        "the run's budget)")
    p.add_argument("--timesteps", default=None, help=argparse.SUPPRESS)  # removed: refused with a pointer
    p.add_argument("--eval-every", type=positive_int, default=None, metavar="K",
                   help="evaluate every K rounds on --eval-seeds and write curves.csv")
    p.add_argument("--eval-seeds", type=integer, nargs="+", default=[], metavar="S",
                   help="evaluation seeds (episode e of seed S resets with S+e)")
    p.add_argument("--eval-episodes", type=positive_int, default=1, metavar="E",
                   help="episodes per evaluation seed (default 1)")
    p.add_argument("--seed", type=non_negative_int, default=None, help="random seed (default 0)")
    p.add_argument("--out", default=None, metavar="DIR", help="new run directory (required unless --resume)")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR from its checkpoint")
    p.add_argument("--hparam", dest="hparams", type=key_value, action="append", default=[], metavar="NAME=VALUE",
                   help="learner hyperparameter, e.g. --hparam lr=0.001 --hparam hidden=[64,64]")
    p.add_argument("--checkpoint-every", type=non_negative_int, default=None, metavar="ROUNDS",
                   help="also checkpoint every ROUNDS rounds (default 0: at the end only)")
    add_device_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--backend", choices=("native", "rllib"), default="native",
                   help="native (SB3 / our torch learners, default) or rllib (Ray RLlib PPO)")
    p.add_argument("--num-env-runners", type=non_negative_int, default=None, metavar="K",
                   help="rllib: parallel sampling actors (0: sample in the driver; default 1)")
    p.add_argument("--address", default=None, help="rllib: an existing Ray cluster (default: a local instance)")


def run(args: argparse.Namespace) -> int:
    from agents.harness.train import DEFAULT_ROUNDS, resume_run, train

    set_threads(args.threads)
    progress = not args.no_progress
    if args.timesteps is not None:
        raise CLIError("--timesteps was replaced by --rounds: the budget is in simulated decision rounds for every "
                       "algo (one round = one step of all N edge agents; the old agent-steps / N)")
    if args.backend == "rllib":
        return _train_rllib(args)
    if args.num_env_runners is not None or args.address is not None:
        raise CLIError("--num-env-runners and --address are for --backend rllib")
    if args.resume:
        given = [f"--{name}" for name in ("algo", "shield", "scenario", "seed") if getattr(args, name) is not None]
        given += ["--set"] * bool(args.overrides) + ["--hparam"] * bool(args.hparams)
        given += ["--eval-every"] * (args.eval_every is not None) + ["--eval-seeds"] * bool(args.eval_seeds)
        if given:
            raise CLIError(f"--resume takes the run's own settings; drop {', '.join(sorted(set(given)))}")
        if args.out and args.out != args.resume:
            raise CLIError("--resume continues the run in place; drop --out or give the same directory")
        out = resume_run(args.resume, args.rounds, device=args.device, progress=progress,
                         checkpoint_every=args.checkpoint_every)
    else:
        if args.algo is None or args.out is None:
            raise CLIError("--algo and --out are required (or --resume DIR)")
        config = {"scenario": args.scenario or "small", **dict(args.overrides)}
        out = train(args.algo, args.shield or "none", config, args.rounds or DEFAULT_ROUNDS,
                    0 if args.seed is None else args.seed, args.out, args.device, hparams=dict(args.hparams),
                    progress=progress, eval_every=args.eval_every, eval_seeds=tuple(args.eval_seeds),
                    eval_episodes=args.eval_episodes, checkpoint_every=args.checkpoint_every or 0)
    print(f"run written to {out}")
    return 0


def _train_rllib(args: argparse.Namespace) -> int:
    """``--backend rllib``: PPO through ``agents.learners.rllib.adapter``; ``--rounds`` is RLlib's env-step budget (one
    env step of the multi-agent env = one decision round of all N agents)."""
    if args.resume:
        raise CLIError("--backend rllib does not resume; start a new run with --out")
    if args.algo not in (None, "ppo"):
        raise CLIError(f"--backend rllib trains ppo only, got --algo {args.algo}")
    if args.out is None:
        raise CLIError("--out is required")
    if args.checkpoint_every:
        raise CLIError("--backend rllib checkpoints at the end only; drop --checkpoint-every")
    if args.eval_every is not None:
        raise CLIError("--backend rllib writes no learning curve; drop --eval-every")
    from agents.harness.registry import RLLIB_LEARNERS
    from agents.learners.rllib.adapter import train_rllib
    from srole_env.config import make_config

    scenario = args.scenario or "small"
    overrides = dict(args.overrides)
    make_config(scenario, **overrides)  # validates the cluster before Ray starts
    hp = RLLIB_LEARNERS["ppo"].configure(dict(args.hparams))  # and the hyperparameters, at the same door
    from agents.harness.train import DEFAULT_ROUNDS

    runners = 1 if args.num_env_runners is None else args.num_env_runners
    ckpt = train_rllib(scenario, args.shield or "none", num_env_runners=runners,
                       seed=0 if args.seed is None else args.seed, out_dir=args.out, address=args.address,
                       timesteps=args.rounds or DEFAULT_ROUNDS, verbose=not args.no_progress,
                       env_overrides=overrides, **hp.to_dict())
    print(f"run written to {ckpt.parent}")
    return 0


SUBCOMMAND = Subcommand("train", "train a scheduler (heuristics need no training)", configure, run)
