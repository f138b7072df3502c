"""The paper's reported figures, read from one data file (``study/analysis/paper.json``).

Every report that sets a measured result beside the paper's (``report``, ``decisive``, ``regime``, ``ceiling``)
takes the figures from ``paper_figures()``; the file names its source (the paper's published abstract, as the
project's design notes record it). A reduction is a fraction: 0.59 = SROLE 59% lower than the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from srole_common.persist import read_json

PAPER_FILE = Path(__file__).with_name("paper.json")
"""The data file of the paper's figures (shipped as package data)."""
METRICS = ("mean_jct_all", "collisions", "median_utilization")
"""The metrics the paper reports a reduction for (training time, action collisions, median utilisation)."""


@dataclass(frozen=True)
class PaperFigures:
    """The paper's headline reductions of SROLE against ``against`` (MARL and CRL), per metric."""

    reductions: dict[str, float]  # metric -> fraction (0.59 = 59% lower)
    against: tuple[str, ...]  # the baselines the paper compares with
    source: str  # where the figures were read

    def label(self, metric: str) -> str:
        """The figure as the paper states it: ``'59%'``."""
        return f"{self.reductions[metric]:.0%}"


@lru_cache(maxsize=8)
def paper_figures(path: str | Path = PAPER_FILE) -> PaperFigures:
    """The paper's figures from ``path`` (JSON, loaded without running code), checked: every metric of
    ``METRICS`` with a ``value`` in (0, 1], and a ``source``; else a ``ValueError`` naming the file and key."""
    data = read_json(path, what="paper figures")
    for key in ("source", "against", "reductions"):
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
    reductions = data["reductions"]
    if not isinstance(reductions, dict) or set(reductions) != set(METRICS):
        raise ValueError(f"{path}: 'reductions' must hold exactly {list(METRICS)}, got {sorted(reductions)}")
    values = {}
    for metric in METRICS:
        entry = reductions[metric]
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 < value <= 1.0) \
                or not math.isfinite(value):
            raise ValueError(f"{path}: reductions.{metric}.value must be a fraction in (0, 1], got {value!r}")
        values[metric] = float(value)
    against = data["against"]
    if not isinstance(against, list) or not against or not all(isinstance(b, str) for b in against):
        raise ValueError(f"{path}: 'against' must be a list of baseline names, got {against!r}")
    return PaperFigures(reductions=values, against=tuple(against), source=str(data["source"]))
