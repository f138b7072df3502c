"""The ``srole`` console command: ``srole <subcommand> [options]``.

Subcommands live in a registry (``srole_cli.registry``): a module defines ``SUBCOMMAND =
Subcommand(name, help, configure, run)`` and is listed in ``BUILTIN_MODULES``. To add a command ``NAME``, write
``srole_cli/NAME_cmd.py`` and add ``"srole_cli.NAME_cmd"`` to ``BUILTIN_MODULES``.

Bad input never ends in a traceback: ``srole: error: <message>`` on one stderr line and exit status 2
(set ``SROLE_DEBUG=1`` to see the traceback of an unexpected error).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from srole_cli.args import unrecognized_message
from srole_cli.registry import BUILTIN_MODULES, SUBCOMMANDS, CLIError, register

PROG = "srole"
EXIT_USAGE = 2


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        register(importlib.import_module(module).SUBCOMMAND)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one stderr line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROG).strip()
        raise CLIError(f"{command}: {message}" if command else message)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``srole`` parser. Given the command line ``argv`` whose first word names a subcommand, only that
    subcommand's arguments are configured (the others keep their one-line help): configuring ``reproduce``
    imports the study, which ``srole train`` does not need at start-up."""
    _load_builtins()
    parser = OneLineParser(prog=PROG, description="SROLE: shielded multi-agent RL for edge DL-training schedulers.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for command in SUBCOMMANDS.values():
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        if chosen is None or command.name == chosen:
            command.configure(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``srole`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        args, extra = parser.parse_known_args(argv)
        if extra:
            parser.error(unrecognized_message(extra, takes_set=hasattr(args, "overrides")))
        return int(args._run(args) or 0)
    except SystemExit as exit_:  # --help, or a subcommand that exits on purpose
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        return _fail(str(exit_.code))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except (CLIError, ValueError, TypeError, FileNotFoundError, FileExistsError, KeyError) as err:
        if os.environ.get("SROLE_DEBUG"):
            raise
        return _fail(_message(err))
    except Exception as err:  # an unexpected failure: still one line unless debugging
        if os.environ.get("SROLE_DEBUG"):
            raise
        return _fail(f"{type(err).__name__}: {_message(err)} (set SROLE_DEBUG=1 for the traceback)")


def _message(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
