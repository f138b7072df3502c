"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from srole_common.persist import check_output_path  # noqa: F401 - the subcommands' output-path check


def positive_int(text: str) -> int:
    """An int >= 1; accepts ``100000``, ``100_000`` and integral floats like ``1e5``."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def integer(text: str) -> int:
    return _integer(text)


def _integer(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")
    return int(value)


_NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (numbers, lists, true/false/null), else a string.

    ``nan``/``inf`` in any case are floats like JSON's ``NaN``/``Infinity``, so the config's validation
    answers them all with the same "must be finite" message."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if raw.strip().lower() in _NON_FINITE:
        return key.strip(), float(raw)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def unrecognized_message(extra: list[str], takes_set: bool) -> str:
    """argparse's "unrecognized arguments" line, plus the ``--set FIELD=VALUE`` spelling of any option that
    names a cluster config field (``--arrival-rate 0.01`` -> ``--set arrival_rate=0.01``) when the
    subcommand takes ``--set``."""
    message = f"unrecognized arguments: {' '.join(extra)}"
    if not takes_set:
        return message
    from srole_env.config import ClusterConfig

    fields = set(ClusterConfig.__dataclass_fields__)
    hints = []
    for i, token in enumerate(extra):
        if not token.startswith("--"):
            continue
        name, eq, value = token[2:].partition("=")
        field = name.replace("-", "_")
        if field not in fields:
            continue
        if not eq:
            value = extra[i + 1] if i + 1 < len(extra) and not extra[i + 1].startswith("--") else "VALUE"
        hints.append(f"--set {field}={value}")
    if hints:
        message += f"; config fields are set with --set FIELD=VALUE: {' '.join(hints)}"
    return message


def add_cluster_arguments(parser: argparse.ArgumentParser, scenario_default: str | None) -> None:
    """``--scenario`` and ``--set FIELD=VALUE`` (cluster config overrides)."""
    parser.add_argument("--scenario", default=scenario_default, metavar="NAME_OR_FILE",
                        help="scenario name (small, paper, large) or a .yaml/.json config file"
                             + (f" (default: {scenario_default})" if scenario_default else ""))
    parser.add_argument("--set", dest="overrides", type=key_value, action="append", default=[],
                        metavar="FIELD=VALUE", help="override a cluster config field, e.g. --set horizon=100")


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="torch device: auto (cuda if available), cpu, cuda, cuda:1")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch CPU threads (default 1: the small networks here run fastest single-threaded)")


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def add_map_arguments(p: argparse.ArgumentParser, profiles: tuple[str, ...], out: str, source: str) -> None:
    """The flags of a map run stage by stage (``study.reproduce.reproduce_stages``): ``--profile`` (one of
    ``profiles``, the first by default), ``--out`` (default ``out``), ``--workers``, ``--stages``, ``--sizes``,
    ``--loads``, ``--no-retrain`` (no retraining above ``source``, the source N), ``--methods``, ``--rounds``,
    ``--report-only``."""
    p.add_argument("--profile", default=profiles[0], choices=profiles)
    p.add_argument("--out", default=out, help="results directory and its cache")
    p.add_argument("--workers", type=int, default=1, help="cells run in parallel (each on one torch thread)")
    p.add_argument("--stages", type=int, default=None, help="run only the first K stages (default: all)")
    p.add_argument("--sizes", nargs="+", type=int, default=None, help="run exactly these N instead of the stages")
    p.add_argument("--loads", nargs="+", type=float, default=None, help="only these rho (the rest later)")
    p.add_argument("--no-retrain", action="store_true",
                   help=f"no retraining above {source} (transferred models and non-learned methods only: cheap first)")
    p.add_argument("--methods", nargs="+", default=None, help="only these methods (the rest from the cache)")
    p.add_argument("--rounds", type=int, default=None, help="another training budget (a separate cache key)")
    p.add_argument("--report-only", action="store_true", help="compute nothing: the report of what the cache holds")

