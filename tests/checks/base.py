"""What every fault-injection case is: a ``Case`` (one bad input and what should happen) and ``Wrong`` (raised by
a case whose code returned a wrong result: a silent success, a lost row, a stale table)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLEAR = (ValueError, TypeError, RuntimeError, FileNotFoundError, FileExistsError)
"""Exceptions that count as a clear refusal (when their message names what it should)."""


class Wrong(Exception):
    """Raised by a case when the code returned but the result is wrong."""


@dataclass
class Case:
    """One bad input: ``run`` does it; ``expect`` is refuse/accept/no_code; ``needle``: text a clear error has."""

    name: str
    run: Callable[[], Any]
    expect: str = "refuse"
    needle: str | tuple[str, ...] | None = None
    """Text (or every one of several texts) a clear error's message has: the file, the key, the field."""
    isolated: bool = False  # run in a memory-limited child process
    errors: tuple[type[BaseException], ...] = CLEAR
    """Exception classes that count as a clear refusal (a full disk: ``OSError``)."""
    group: str = "round 1"
    """The class of bad input (round-2 classes: ``profile``, ``tuned``, ``scenario``, ``cached-only``,
    ``episode log``, ``run files``, ``file named``)."""
