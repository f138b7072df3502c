"""Run directories: what every training run writes beside its results (CleanRL style).

```
OUT/
  config.json        everything the run was started with (algo, shield, cluster config, hyperparameters, ...)
  episodes.csv       one row per finished training episode: episode, total_rounds (run total), episode_return, metrics()
  curves.csv         with eval_every: one row per periodic evaluation on fixed seeds (agents.common.curves)
  tb/                TensorBoard event files (episode metrics and learner losses)
  checkpoint/        state.json (rounds, episodes), config.json (the config as trained, compared on resume)
                     + the learner's files (model, optimizer, replay buffer, env.npz: the episode to replay)
```

Every file here is written through ``srole_common.persist`` (atomic) and read back without unpickling
(``SECURITY.md``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srole_common import persist

CONFIG_FILE = "config.json"
EPISODES_FILE = "episodes.csv"
CURVES_FILE = "curves.csv"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
TB_DIR = "tb"
EPISODE_KEYS = ("episode", "total_rounds", "episode_return")


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def episodes(self) -> Path:
        return self.root / EPISODES_FILE

    @property
    def curves(self) -> Path:
        return self.root / CURVES_FILE

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT_DIR

    @property
    def state(self) -> Path:
        return self.checkpoint / STATE_FILE

    @property
    def tb(self) -> Path:
        return self.root / TB_DIR

    def has_checkpoint(self) -> bool:
        return self.config.is_file() and self.state.is_file()


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON through the one atomic writer (``srole_common.persist``)."""
    persist.write_json(path, data)


def read_json(path: Path, what: str = "JSON file") -> dict[str, Any]:
    """A JSON object from ``path``; ``CorruptFile`` (a ``ValueError``) naming the file if it does not parse."""
    return persist.read_json(path, what)


def load_run(path: str | Path) -> tuple[RunDir, dict[str, Any], dict[str, Any]]:
    """A run directory with its config and checkpoint state, or ``FileNotFoundError`` saying what is missing."""
    run = RunDir(Path(path))
    if not run.root.is_dir():
        raise FileNotFoundError(f"run directory {str(run.root)!r} does not exist")
    if not run.config.is_file():
        raise FileNotFoundError(f"{str(run.root)!r} is not a run directory: no {CONFIG_FILE}")
    if not run.state.is_file():
        raise FileNotFoundError(f"no checkpoint in {str(run.root)!r}: {CHECKPOINT_DIR}/{STATE_FILE} is missing")
    return run, read_json(run.config, "run config"), read_json(run.state, "checkpoint state")


class EpisodeLog:
    """Appends one CSV row (and TensorBoard scalars) per finished training episode.

    Columns are fixed by the first row written (or by the existing file). ``keep_before(k)`` drops rows of
    episodes >= k, which a resumed run calls so that episodes logged after its checkpoint are not doubled.
    """

    def __init__(self, path: Path, writer: Any | None = None):
        self.path = Path(path)
        self.writer = writer
        self._fields: list[str] | None = None
        if self.path.is_file():
            with self.path.open(newline="") as f:
                self._fields = next(csv.reader(f), None)

    def keep_before(self, episode: int) -> None:
        """Drop the rows of episodes ``>= episode`` and any torn row (this log is appended, not written atomically)."""
        if not self.path.is_file():
            return
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or list(EPISODE_KEYS)
            # a row cut short by a crash mid-append has missing fields (None): dropped with the later episodes
            rows = [r for r in reader if None not in r and None not in r.values()
                    and (r.get("episode") or "").isdigit() and int(r["episode"]) < episode]
        persist.write_rows(self.path, fields, rows)

    def __call__(self, row: dict[str, Any]) -> None:
        new = self._fields is None
        if new:
            self._fields = [*EPISODE_KEYS, *(k for k in row if k not in EPISODE_KEYS)]
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        if self.writer is not None:
            step = int(row["total_rounds"])
            for key, value in row.items():
                if key not in ("episode", "total_rounds") and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(f"episode/{key}", value, step)


def read_episodes(path: str | Path) -> list[dict[str, float]]:
    """Rows of an ``episodes.csv`` (values as floats)."""
    with Path(path).open(newline="") as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()} for r in csv.DictReader(f)]
