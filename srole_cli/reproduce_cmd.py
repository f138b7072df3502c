"""``srole reproduce``: the paper's comparison end to end (see ``study.reproduce``)."""

from __future__ import annotations

import argparse

from srole_cli.args import add_device_arguments, non_negative_int, set_threads
from srole_cli.registry import Subcommand

PROFILE_LIST = "<profiles>"
"""Stands in the --profile help for the profile names, filled in only when the help is shown: listing them imports
the study, which a command line with a bad argument should not wait for."""


class _ProfileHelp(argparse.HelpFormatter):
    """Fills ``PROFILE_LIST`` in when the help is printed."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text is None or PROFILE_LIST not in text:
            return text
        from study.experiments.crossover_profile import CROSSOVER_PROFILES
        from study.experiments.emulation_profile import EMULATION_PROFILES
        from study.experiments.fair_profile import FAIR_PROFILES
        from study.experiments.optimality_profile import OPTIMALITY_PROFILES
        from study.experiments.profiles import LAZY_PROFILES, PROFILES

        return text.replace(PROFILE_LIST, ", ".join((*PROFILES, *LAZY_PROFILES, *CROSSOVER_PROFILES,
                                                     *FAIR_PROFILES, *OPTIMALITY_PROFILES))).replace(
            "<emulation>", ", ".join(EMULATION_PROFILES))


def configure(p: argparse.ArgumentParser) -> None:
    p.formatter_class = _ProfileHelp
    p.add_argument("--profile", default="first",
                   help=f"budget profile (default first: minutes on 2 cores; paper: the paper-scale comparison): "
                        f"{PROFILE_LIST}, a YAML/JSON file of Profile fields, or <emulation> (sim-to-real on a local "
                        "Ray cluster)")
    p.add_argument("--out", default="results/reproduce", help="output directory (also the cache)")
    add_device_arguments(p)
    p.add_argument("--workers", type=non_negative_int, default=0,
                   help="cells run in parallel, each on one torch thread (default 0: all cores; the tables are the "
                        "same whatever K is)")
    p.add_argument("--address", default=None, help="HOST:PORT of an existing Ray cluster to run the cells on")
    p.add_argument("--drop-models", action="store_true",
                   help="delete each trained model after its evaluations (results and learning curves stay)")
    p.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                   help="compute only these methods of the profile (the report adds what the cache holds of the "
                        "others; a later full run computes the rest)")
    p.add_argument("--cached-only", action="store_true",
                   help="compute nothing: write the report from what --out's cache already holds (a run cut "
                        "short); a folder whose cache holds none of the profile's evaluations is refused and nothing "
                        "is written; the cells it lacks are listed as not run (not_run.csv), not as failures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from study.experiments.crossover_profile import CROSSOVER_PROFILES
    from study.experiments.emulation_profile import EMULATION_PROFILES
    from study.experiments.fair_profile import FAIR_PROFILES
    from study.experiments.optimality_profile import OPTIMALITY_PROFILES
    from study.experiments.profiles import LAZY_PROFILES, load_profile
    from study.reproduce import reproduce

    set_threads(args.threads)  # a fixed thread count keeps results the same on machines with more cores
    if args.profile in EMULATION_PROFILES:
        from study.experiments.emulation_profile import reproduce_emulation

        out = reproduce_emulation(EMULATION_PROFILES[args.profile], args.out, progress=not args.no_progress)
        print((out / "summary.md").read_text())
        print(f"results in {out}")
        return 0
    if args.profile in LAZY_PROFILES:  # the regime map's profiles: arrival rates from the offered-load model
        from study.experiments.regime_profile import regime_profile

        profile = regime_profile(args.profile)
    elif args.profile in CROSSOVER_PROFILES:  # the crossover map (docs/ceiling.md): arrival rates from the offered load
        from study.experiments.crossover_profile import crossover_profile

        profile = crossover_profile(args.profile)
    elif args.profile in FAIR_PROFILES:  # the fair map: one request cost for the head and every shield host
        from study.experiments.fair_profile import fair_profile

        profile = fair_profile(args.profile)
    elif args.profile in OPTIMALITY_PROFILES:  # the optimality study: its instances' traces go under --out
        from study.experiments.optimality_profile import optimality_profile

        profile = optimality_profile(args.profile, args.out)
    else:
        profile = load_profile(args.profile)
    out = reproduce(profile, args.out, device=args.device, progress=not args.no_progress,
                    workers=args.workers or None, address=args.address, drop_models=args.drop_models,
                    methods=tuple(args.methods) if args.methods else None, cached_only=args.cached_only)
    from study.analysis.findings import summary_digest

    print(summary_digest((out / "summary.md").read_text()))
    print(f"results in {out} (the whole report: {out / 'summary.md'})")
    return 0


SUBCOMMAND = Subcommand("reproduce", "reproduce the paper's comparison (CSV tables, PNG plots, summary.md)",
                        configure, run)
