"""Learning curves on fixed evaluation seeds: ``CurveRecorder`` writes a run's ``curves.csv``, ``read_curve``
reads one back.

Every K simulated rounds the learner's current policy is evaluated greedily, behind the run's shield (with or
without its preferences, as in training), on the same episodes each time; the evaluation is injected
(``agents.harness.evaluate.evaluate_seeds``), so this module imports no learner and no evaluation code. One row per
evaluation:

``round, mean_jct_all, collisions, jobs_completed, overloads, mean_reward, mean_jct, interventions, episodes``

(``mean_reward`` is the mean evaluation episode return; the figures are means over the evaluation
episodes). Rows are written at round 0 (the untrained policy), at every multiple of K, and at the end of
training when the budget is not a multiple of K. A CRL learner advances several rounds in one head
decision when rounds pass with nothing to decide, so its rows fall on the first decision at or after
each multiple (the ``round`` column says where). The convergence test on these curves is
``agents.harness.convergence``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from srole_common.persist import CorruptFile, write_rows

Evaluator = Callable[[Any, Sequence[int], int], dict[str, float]]
"""``(policy, seeds, episodes) -> metric means``: how a ``CurveRecorder`` evaluates (``evaluate.evaluate_seeds``)."""

CURVE_COLUMNS = ("round", "mean_jct_all", "collisions", "jobs_completed", "overloads", "mean_reward", "mean_jct",
                 "interventions", "episodes")
"""Columns of ``curves.csv`` (one row per evaluation)."""
_FROM_RESULT = {"mean_reward": "episode_return"}


class CurveRecorder:
    """Evaluates a policy every ``every`` rounds on fixed seeds and appends the rows to ``path``.

    Episode ``e`` of evaluation seed ``s`` is reset with ``s + e`` (``agents.harness.evaluate`` semantics), for
    every ``s`` in ``seeds`` and ``e < episodes``; the same episodes at every evaluation. ``evaluator``
    runs them (injected, so the recorder stays below the learners and the evaluation code).
    """

    def __init__(self, path: str | Path, every: int, seeds: Sequence[int], episodes: int, evaluator: Evaluator,
                 start: int | None = None):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"eval_every must be a positive int, got {every!r}")
        seeds = tuple(seeds)
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"eval_seeds must be a non-empty sequence of ints when eval_every is set, got {seeds!r}")
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"eval_episodes must be a positive int, got {episodes!r}")
        self.path = Path(path)
        self.every, self.seeds, self.episodes = every, seeds, episodes
        self.evaluator = evaluator
        self.last: int | None = None
        self.rows: list[dict[str, Any]] = []
        """The curve so far (what ``curves.csv`` holds), rewritten whole with each new row."""
        if start is None:  # a fresh run: evaluate the untrained policy first
            self.next = 0
            self.path.unlink(missing_ok=True)
        else:  # a resumed run: keep the rows up to its checkpoint
            self.rows = [r for r in read_curve(self.path) if r["round"] <= start]
            if self.path.is_file():
                self._write()
            self.next = (start // every + 1) * every
            self.last = start if any(r["round"] == start for r in self.rows) else None

    def due(self, rounds: int) -> bool:
        """Whether an evaluation is due at ``rounds`` (the first call at or after each multiple of ``every``)."""
        return rounds >= self.next

    def maybe_record(self, rounds: int, policy: Any) -> None:
        """Evaluate ``policy`` and append a row if an evaluation is due at ``rounds``."""
        if self.due(rounds):
            self.record(rounds, policy)

    def finish(self, rounds: int, policy: Any) -> None:
        """The end of training: a last row at ``rounds`` unless one was just written there."""
        if self.last != rounds:
            self.record(rounds, policy)

    def record(self, rounds: int, policy: Any) -> dict[str, float]:
        """Evaluate ``policy`` now and append its row; returns the row."""
        means = self.evaluator(policy, self.seeds, self.episodes)
        row = {"round": int(rounds), "episodes": len(self.seeds) * self.episodes}
        for column in CURVE_COLUMNS[1:]:
            row.setdefault(column, means.get(_FROM_RESULT.get(column, column), math.nan))
        self.rows.append(row)
        self._write()
        self.last = int(rounds)
        self.next = (int(rounds) // self.every + 1) * self.every
        return row

    def _write(self) -> None:
        """The whole curve, rewritten atomically (a crash mid-row never leaves a torn ``curves.csv``)."""
        rows = ({k: _count(v) if k in ("round", "episodes") else v for k, v in r.items()} for r in self.rows)
        write_rows(self.path, CURVE_COLUMNS, rows, extrasaction="ignore")


def _count(value: Any) -> Any:
    """A count read back as a float (``read_curve``) written as the integer it is; NaN stays empty."""
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else ""


def read_curve(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``curves.csv`` (values as floats); empty if the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if "round" not in (reader.fieldnames or []):
                raise CorruptFile(f"learning curve {str(path)!r} is corrupt: no 'round' column in its header")
            return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in reader]
    except (ValueError, TypeError, UnicodeDecodeError, csv.Error) as err:  # a value that is no number, a torn row
        if isinstance(err, CorruptFile):
            raise
        raise CorruptFile(f"learning curve {str(path)!r} is corrupt: {err}") from None
