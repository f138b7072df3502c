"""Run directories: what every training run writes beside its results (CleanRL style).

```
OUT/
  config.json        everything the run was started with (algo, shield, cluster config, hyperparameters, ...)
  episodes.csv       one line per finished training episode: episode, total_rounds (run total), episode_return,
                     metrics() (agents.common.episode_log: survives a torn write, sets damaged lines aside)
  curves.csv         with eval_every: one row per periodic evaluation on fixed seeds (agents.common.curves)
  tb/                TensorBoard event files (episode metrics and learner losses)
  checkpoint/        state.json (rounds, episodes), config.json (the config as trained, compared at every load)
                     + the learner's files (model, optimizer, replay buffer, env.npz: the episode to replay)
```

Every file here but the episode log is written through ``srole_common.persist`` (atomic) and read back without
unpickling (``SECURITY.md``); ``load_run`` checks a run's own files against each other (``check_run``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.common.episode_log import EPISODE_KEYS, EpisodeLog, read_episodes  # noqa: F401 - the run's log, here too
from srole_common import persist

CONFIG_FILE = "config.json"
EPISODES_FILE = "episodes.csv"
CURVES_FILE = "curves.csv"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
TB_DIR = "tb"


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


RUN_IDENTITY_FIELDS = ("algo", "shield", "seed", "env_kind", "cluster", "hparams", "shield_preferences", "evaluation")
"""Fields of ``config.json`` that must equal the checkpoint's copy (``checkpoint/config.json``, written when the run
started): what the checkpoint was trained with. ``rounds`` and ``resumes`` change on resume and are not compared."""


LOCK_FILE = ".train.lock"
"""Held (``fcntl.flock``) by the process training a run, so that a live run is never taken for a dead one."""
RUN_WRITES = (CONFIG_FILE, EPISODES_FILE, f".{EPISODES_FILE}.last", CURVES_FILE, CHECKPOINT_DIR, TB_DIR, LOCK_FILE)
"""What a run writes into its folder (besides the atomic writer's ``.*.tmp-*`` files)."""


def died_before_checkpoint(root: Path) -> bool:
    """Whether ``root`` holds only what a fresh run writes, without a checkpoint: a run killed before its first
    checkpoint (``kill -9``, a power cut), which a new run of the same folder may clear and start again."""
    run = RunDir(root)
    if not run.config.is_file() or run.state.is_file() or _locked_by_another(root / LOCK_FILE):
        return False
    return all(child.name in RUN_WRITES or (child.name.startswith(".") and ".tmp-" in child.name)
               for child in root.iterdir())


def _locked_by_another(path: Path) -> bool:
    import fcntl

    if not path.is_file():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold the run's lock (``LOCK_FILE``) while it trains; the file is removed when the block ends."""
    import fcntl

    path = root / LOCK_FILE
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_run(path: str | Path) -> tuple[RunDir, dict[str, Any], dict[str, Any]]:
    """A run directory with its config and checkpoint state, or ``FileNotFoundError`` saying what is missing.

    The run's own files are checked against each other first (``check_run``): an edited ``config.json`` (another
    ``n_edges``, other hyperparameters) is refused with the differing fields named, not evaluated at the edit."""
    run = RunDir(Path(path))
    if not run.root.is_dir():
        raise FileNotFoundError(f"run directory {str(run.root)!r} does not exist")
    if not run.config.is_file():
        raise FileNotFoundError(f"{str(run.root)!r} is not a run directory: no {CONFIG_FILE}")
    if not run.state.is_file():
        raise FileNotFoundError(f"no checkpoint in {str(run.root)!r}: {CHECKPOINT_DIR}/{STATE_FILE} is missing (a run "
                                "stopped before its first checkpoint has nothing to resume: run the same `srole train` "
                                "command without --resume and it starts again in this folder)")
    saved, state = read_json(run.config, "run config"), read_json(run.state, "checkpoint state")
    check_run(run, saved)
    return run, saved, state


def check_run(run: RunDir, saved: dict[str, Any]) -> None:
    """``CorruptFile`` naming the file when a run's ``config.json`` does not describe its checkpoint: its cluster is
    not a valid config, it differs from the checkpoint's copy in ``RUN_IDENTITY_FIELDS``, or its action count
    differs from the one the learner's checkpoint metadata records."""
    if not isinstance(saved.get("algo"), str):
        raise persist.CorruptFile(f"run config {str(run.config)!r}: 'algo' must be a string, got {saved.get('algo')!r}")
    cluster = saved.get("cluster")
    if not isinstance(cluster, dict):
        raise persist.CorruptFile(f"run config {str(run.config)!r}: 'cluster' must be a mapping of config fields, "
                                  f"got {type(cluster).__name__}")
    copy = run.checkpoint / CONFIG_FILE
    if copy.is_file():
        trained = read_json(copy, "checkpoint config")
        changed = [f"cluster.{k}" for k in _diff_keys(cluster, trained.get("cluster"))]
        changed += [k for k in RUN_IDENTITY_FIELDS if k != "cluster" and saved.get(k) != trained.get(k)]
        if changed:
            raise persist.CorruptFile(
                f"config: {str(run.config)!r} differs from the config the checkpoint was trained with "
                f"({CHECKPOINT_DIR}/{CONFIG_FILE}) in {changed}; restore it, or start a new run")
    if saved.get("env_kind", "parallel") != "parallel":
        return
    actions = cluster_sizes(cluster, run.config)["n_actions"]
    for meta_path in sorted(run.checkpoint.glob("*.json")):
        if meta_path.name in (STATE_FILE, CONFIG_FILE):
            continue
        meta = read_json(meta_path, "checkpoint metadata")
        if "n_actions" in meta and meta["n_actions"] != actions:
            raise persist.CorruptFile(
                f"config: {str(run.config)!r} describes a cluster with {actions} actions per agent, but the "
                f"checkpoint {str(meta_path)!r} was trained with {meta['n_actions']!r}; the two do not belong together")


def _diff_keys(a: Any, b: Any) -> list[str]:
    """Keys whose values differ between two dicts (``*`` if either is not a dict and they differ)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return [] if a == b else ["*"]
    return sorted(str(k) for k in set(a) | set(b) if a.get(k) != b.get(k))


def cluster_sizes(cluster: dict[str, Any], source: Path | str = "") -> dict[str, int]:
    """``n_edges``, ``n_neighbors``, ``n_candidates``, ``n_actions`` and ``horizon`` of a run's saved cluster (plain
    arithmetic on its fields, as ``ClusterConfig``'s properties); ``CorruptFile`` naming ``source`` if not ints."""
    from srole_env.config import ClusterConfig

    defaults = {k: getattr(ClusterConfig, k) for k in ("n_edges", "n_neighbors", "horizon")}
    values = {k: cluster.get(k, v) for k, v in defaults.items()}
    bad = {k: v for k, v in values.items() if isinstance(v, bool) or not isinstance(v, int) or v < (k != "n_neighbors")}
    if bad:
        raise persist.CorruptFile(f"run config {str(source)!r}: cluster sizes must be positive ints, got {bad}")
    candidates = 1 + min(values["n_neighbors"], values["n_edges"] - 1)
    return {**values, "n_candidates": candidates, "n_actions": candidates + 1}


def describe_cluster(cluster: dict[str, Any]) -> str:
    """One line saying which cluster a run ran (or is evaluated) on, e.g. ``N=10 edges, 5 candidates per agent
    (n_neighbors=4), 6 actions, horizon 200 rounds, load 0.0075 jobs/s/edge``."""
    sizes = cluster_sizes(cluster)
    load = cluster.get("arrival_rate")
    trace = cluster.get("trace_path")
    work = f"trace {trace}" if trace else (f"load {load:g} jobs/s/edge" if isinstance(load, (int, float)) else "")
    return (f"N={sizes['n_edges']} edges, {sizes['n_candidates']} candidates per agent "
            f"(n_neighbors={sizes['n_neighbors']}), {sizes['n_actions']} actions, horizon "
            f"{sizes['horizon']} rounds" + (f", {work}" if work else ""))
