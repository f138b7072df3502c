"""``srole reproduce``: the paper's comparison end to end (see ``srole_cli.reproduce``)."""

from __future__ import annotations

import argparse

from srole_cli.args import add_device_arguments, positive_int, set_threads
from srole_cli.experiments import PROFILES, load_profile
from srole_cli.registry import Subcommand


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick",
                   help=f"budget profile: {', '.join(PROFILES)} or a YAML/JSON file of Profile fields")
    p.add_argument("--out", default="results/reproduce", help="output directory (also the cache)")
    add_device_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=positive_int, default=None, metavar="K",
                   help="cells run K at a time in worker processes, one torch thread each (Ray tasks if Ray is "
                        "installed, else local processes; 1: in this process; default: all cores); the tables "
                        "are the same for every K (docs/cells.md)")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help="run the cells as Ray tasks on this existing Ray cluster (needs Ray: the cells extra); "
                        "--workers K > 1 then caps the cells in flight")


def run(args: argparse.Namespace) -> int:
    from srole_cli.reproduce import reproduce

    set_threads(args.threads)  # a fixed thread count keeps results the same on machines with more cores
    profile = load_profile(args.profile)
    out = reproduce(profile, args.out, device=args.device, progress=not args.no_progress, workers=args.workers,
                    address=args.address)
    print((out / "summary.md").read_text())
    print(f"results in {out}")
    return 0


SUBCOMMAND = Subcommand("reproduce", "reproduce the paper's comparison (CSV tables, PNG plots, summary.md)",
                        configure, run)
