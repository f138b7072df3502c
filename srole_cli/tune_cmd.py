"""``srole tune``: equal Optuna tuning of one learned method on one scenario (``study.experiments.tuning``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from srole_cli.args import add_cluster_arguments, add_device_arguments, integer, positive_int, set_threads
from srole_cli.registry import CLIError, Subcommand

EPILOG = """Every learned method gets the same study: --trials training runs of --rounds simulated rounds each,
over a 4-dimensional search space (MARL and SROLE: the learner {idqn, ippo, maskable_ppo}, learning rate,
discount, one learner-specific knob; CRL: the same with the head's learners {crl_idqn, crl_maskable_ppo,
crl_dqn}), each trial trained on --train-seeds seeds and scored by their mean mean_jct_all, on tuning seeds
>= 50000 (disjoint from the evaluation seeds of srole reproduce). The best trial goes to
study/experiments/tuned/<scenario>/<method>.yaml (or --out).
--workers K asks K trials at a time and runs them as parallel cells.
--method all tunes every learned method in turn with the same settings.
Each finished trial is appended to a journal (--journal, default <out>/<scenario>/<method>.journal.jsonl); run
the same command again after a kill and the study resumes where it stopped (the finished trials are kept and the
sampler asks the trials an uninterrupted run would). Other settings against an existing journal are refused.
examples:
  srole tune --method all --scenario paper --set n_edges=20 --set horizon=50 --trials 20 --rounds 1500
  srole tune --method SROLE-central --scenario paper --set horizon=100 --trials 20 --rounds 3000
  srole tune --method CRL --scenario small --trials 2 --rounds 100 --out /tmp/tuned"""


def configure(p: argparse.ArgumentParser) -> None:
    from study.experiments.tuning import METHODS, TUNE_SEED_BASE

    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--method", required=True, choices=[*METHODS, "all"],
                   help="learned method to tune (all: every one in turn, with the same settings)")
    add_cluster_arguments(p, scenario_default="small")
    p.add_argument("--trials", type=positive_int, default=20, help="Optuna trials (default 20)")
    p.add_argument("--rounds", type=positive_int, default=2_000,
                   help="training budget of each trial in simulated decision rounds (default 2000)")
    p.add_argument("--episodes", type=positive_int, default=3, help="tuning evaluation episodes per trial (default 3)")
    p.add_argument("--seed-base", type=integer, default=TUNE_SEED_BASE, metavar="B",
                   help=f"training seeds B, B+1000, ..., evaluation episodes B+1.. "
                        f"(default and minimum {TUNE_SEED_BASE})")
    p.add_argument("--train-seeds", type=positive_int, default=3, metavar="S",
                   help="training runs per trial, scored by their mean (default 3)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="K", help="trials run at once (default 1)")
    p.add_argument("--address", default=None, metavar="HOST:PORT", help="run the trials on an existing Ray cluster")
    p.add_argument("--out", default=None, metavar="DIR", help="root of the tuned files (default: the package's)")
    p.add_argument("--work-dir", default=None, metavar="DIR", help="trial run directories (default: a temp dir)")
    p.add_argument("--journal", default=None, metavar="FILE",
                   help="finished trials, for resuming (default: <out>/<scenario>/<method>.journal.jsonl; "
                        "with --method all, a folder holding <method>.journal.jsonl)")
    add_device_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from agents.harness.registry import LEARNERS
    from study.experiments.tuning import METHODS, load_tuned, tune

    set_threads(args.threads)
    methods = list(METHODS) if args.method == "all" else [args.method]
    missing = sorted({a for m in methods for a in METHODS[m].algos if a not in LEARNERS})
    if missing:
        raise CLIError(f"algo(s) {missing} needed by {args.method} are not available in agents.harness.registry")
    for method in methods:
        try:
            path = tune(method, args.scenario, args.trials, args.rounds, overrides=dict(args.overrides),
                        seed_base=args.seed_base, episodes=args.episodes, train_seeds=args.train_seeds,
                        workers=args.workers,
                        address=args.address, out_root=args.out, work_dir=args.work_dir, device=args.device,
                        progress=not args.no_progress, journal=_journal(args.journal, method, len(methods) > 1))
        except NotImplementedError as err:
            raise CLIError(f"--workers/--address: {err}") from err
        best = load_tuned(method, args.scenario, args.out)
        print(f"{method} on {args.scenario}: best {best['best_value']:.1f} s mean_jct_all with {best['algo']} "
              f"{best['hparams']}")
        print(f"written to {path}", flush=True)
    return 0


def _journal(journal: str | None, method: str, several: bool) -> str | None:
    """The journal file of ``method``'s study: ``--journal`` itself, or ``--journal/<method>.journal.jsonl`` for all."""
    if journal is None or not several:
        return journal
    return str(Path(journal) / f"{method}.journal.jsonl")


SUBCOMMAND = Subcommand("tune", "tune a learned method's hyperparameters (Optuna, equal budget)", configure, run)
