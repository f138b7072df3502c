"""What a run did not produce, for every report: the cells that failed, and the cells not run at all.

A ``--cached-only`` rebuild computes nothing, so a cell the cache lacks was *not run*, which is not a failure:
it is listed apart (``not_run.csv``, a "Not run" section) and the count line says both. Each table file is
removed when a later run has no such rows, so an old ``failures.csv`` never reads as current.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from srole_common.persist import write_frame
from study.experiments.runs import RunInfo

COLUMNS = ["experiment", "point", "method", "seed", "error"]
SHOWN_NOT_RUN = 20
"""Rows of the not-run table shown in ``summary.md`` (all of them are in ``not_run.csv``)."""


def outcome_counts(run: RunInfo) -> str:
    """``"{k} failed"``, plus ``", {m} not run (not in the cache)"`` when a rebuild lacked some cells."""
    return f"{len(run.failures)} failed" + (f", {len(run.not_run)} not run (not in the cache)" if run.not_run else "")


def cell_counts(run: RunInfo) -> str:
    """``"{cells} cells, "`` and ``outcome_counts``."""
    return f"{run.cells} cells, {outcome_counts(run)}"


def status_sections(out: Path, run: RunInfo, markdown_table: Callable[[pd.DataFrame, list[str]], str]) -> list[str]:
    """Write ``failures.csv`` and ``not_run.csv`` (or remove stale ones) and return the summary's sections, its
    tables drawn by ``markdown_table`` (``study.analysis.text.markdown_table``)."""
    md: list[str] = []
    for name, rows in (("failures", run.failures), ("not_run", run.not_run)):
        path = out / f"{name}.csv"
        if not rows:
            if path.exists():
                path.unlink()
            continue
        frame = pd.DataFrame(rows, columns=COLUMNS)
        write_frame(path, frame)
        shown = frame.assign(error=frame["error"].astype(str).str.slice(0, 160))
        if name == "failures":
            md += ["", "## Failures", "", f"{len(frame)} evaluation(s) or cell(s) failed; every other result is "
                   "reported above. Details in `failures.csv`.", "", markdown_table(shown, COLUMNS)]
        else:
            md += ["", "## Not run", "", f"{len(frame)} cell(s) are not in the cache: this report was rebuilt with "
                   "`--cached-only`, which computes nothing, and covers the cells that ran. They are listed in "
                   "`not_run.csv`" + (f" (the first {SHOWN_NOT_RUN} here)" if len(frame) > SHOWN_NOT_RUN else "")
                   + "; rerunning without `--cached-only` computes them.", "",
                   markdown_table(shown.head(SHOWN_NOT_RUN), COLUMNS)]
    return md
