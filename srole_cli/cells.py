"""Run independent experiment cells (method x seed x sweep point, tuning trials) and collect their results.

``run_cells(fn, cells)`` calls ``fn(cell)`` for every cell and returns the results in the order of
``cells``. ``fn`` must be a picklable top-level function and each cell a picklable value, so that the
same call can later fan out over local processes or a Ray cluster (``workers``/``address``). A cell that
raises yields a ``CellFailure`` in its place and the others still run. Caching belongs to ``fn`` (a cell
that finds its result on disk returns it), so an interrupted run keeps every finished cell.

This first version runs cells one after another in this process; the parallel back-ends keep its API.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm


@dataclass(frozen=True)
class CellFailure:
    """A cell whose function raised: the cell, and the error's one-line summary and traceback."""

    cell: Any
    error: str
    traceback: str = ""


def run_cells(
    fn: Callable[[Any], Any],
    cells: Sequence[Any],
    *,
    workers: int | None = 1,
    address: str | None = None,
    desc: str = "cells",
    progress: bool = True,
) -> list[Any]:
    """``[fn(c) for c in cells]``, with a ``CellFailure`` in place of each cell that raised."""
    if address is not None or (workers is not None and workers != 1):
        raise NotImplementedError("parallel cells are not built yet; use workers=1")
    results: list[Any] = []
    with tqdm(total=len(cells), desc=desc, disable=not progress) as bar:
        for cell in cells:
            try:
                results.append(fn(cell))
            except Exception as exc:  # noqa: BLE001 - reported per cell, the rest still run
                results.append(CellFailure(cell, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
            bar.update()
    return results
