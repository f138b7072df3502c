"""Versioned benchmark tasks ``edge_cluster_v1/<name>``, frozen as package data (``tasks/v1/<name>.yaml``).

A task file holds everything an evaluation depends on: the full resolved cluster config (every field of
``ClusterConfig``, not overrides, so a changed default in ``srole_env/config.py`` cannot move a task), the
workload, the evaluation seeds and episodes, the shield the scored policy runs behind, the family whose
trained reference policies it uses, and which bounds it has. Loading runs no code (``yaml.safe_load``).

Workloads (``workload.kind``):

* ``poisson``: the config's Poisson arrivals; episode ``e`` is reset with seed ``seed + e`` (as ``srole evaluate
  --seed SEED --episodes E`` does).
* ``poisson_window``: Poisson jobs arriving in the first ``arrival_rounds`` rounds only (drawn as
  ``references.optimal.instance_config`` draws them, from ``default_rng(seed + e)``), then a drain without
  arrivals, so that the CP-SAT optimum (``references.optimal``) exists: the task's ``optimum`` bound.
* ``onoff``: a bursty on-off MMPP (``srole_env.traces.onoff_trace_jobs``, fields ``burst_factor``, ``mean_on_s``),
  one trace per episode drawn from the episode's seed.
* ``pod_trace``: windows of a real pod list (``path`` relative to ``srole_env/data``; ``mapping``: the
  ``srole_env.traces.PodTraceMapping`` fields; ``windows``: one per episode), converted by ``srole_env.traces``.

Trace workloads are written per episode to a cache folder (``SROLE_TRACE_CACHE``, default
``~/.cache/srole/traces``), named by a hash of their inputs and of the generator's code (``generator_version``: the
source of the modules that draw and convert them), and each file's first line records the SHA-256 of the rest: a
file whose content does not match (cut, edited) or that lacks the line is regenerated, with a warning naming it.

**Versions.** ``SUITES`` lists every suite version; a simulator change that moves any task's results (the
regression hashes in ``tests/data/benchmark_hashes.json`` fail) adds ``edge_cluster_v2`` with its own folder
and reference results; older versions' files and reference results stay readable.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srole_common.persist import atomic_write
from srole_env import ClusterConfig
from srole_env.config import RETIRED_FIELDS, load_data_file

SUITES = ("edge_cluster_v1",)
"""Suite versions, oldest first; the last is the current one."""
CURRENT = SUITES[-1]
TASK_ROOT = Path(__file__).parent / "tasks"
WORKLOAD_KINDS = ("poisson", "poisson_window", "onoff", "pod_trace")
TASK_KEYS = ("suite", "name", "description", "family", "base_scenario", "config", "workload", "seed", "episodes",
             "shield", "bounds")
ADDED_FIELDS: dict[str, Any] = {"request_s": None, "request_compute": True, "ledger": "exact",
                                 "max_jobs_per_edge": None}
"""Config fields added after a suite was frozen, at the values that keep its physics (here: the head's and the
shields' older separate charges; the exact ledger, since the cards read every job time; every job admitted). A
task's config is these plus its file's (which stays as frozen, so its content hash and reference results stay
valid); a later change of these fields' defaults cannot move a task."""


def _data_root() -> Path:
    import srole_env

    return Path(srole_env.__file__).parent / "data"


@dataclass(frozen=True)
class Task:
    """One frozen task (module docstring); ``id`` is ``<suite>/<name>``."""

    suite: str
    name: str
    description: str
    family: str
    """Training family: the task's learned reference policies are the family's (trained once at N = 20)."""
    base_scenario: str
    """The scenario the config was resolved from (a note: ``config`` holds every field)."""
    config: dict[str, Any]
    workload: dict[str, Any]
    seed: int
    episodes: int
    shield: str
    bounds: dict[str, bool] = field(default_factory=dict)
    """``fluid_bound`` (the capacity LP, ``references.fluid_bound``) and ``optimum`` (CP-SAT) where computed."""
    content_hash: str = ""
    """SHA-256 of the task file's data (canonical JSON): cards record it."""

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"

    def cluster(self) -> ClusterConfig:
        """The task's cluster config (the trace path left unset)."""
        return ClusterConfig.from_dict({"scenario": "small", **ADDED_FIELDS, **self.config})

    def seeds(self) -> list[int]:
        """Reset seed of each evaluation episode."""
        return [self.seed + e for e in range(self.episodes)]

    def episode_config(self, episode: int) -> dict[str, Any]:
        """The config (a dict of every field) of episode ``episode``: with its trace for trace workloads."""
        if not 0 <= episode < self.episodes:
            raise ValueError(f"task {self.id}: episode {episode} outside 0..{self.episodes - 1}")
        kind = self.workload["kind"]
        if kind == "poisson":
            return {**ADDED_FIELDS, **self.config}
        return {**ADDED_FIELDS, **self.config, "trace_path": str(self._trace(episode))}

    def _trace(self, episode: int) -> Path:
        from srole_env import traces

        cfg = self.cluster()
        duration = cfg.horizon * cfg.round_s
        key = hashlib.sha256(json.dumps([self.workload, self.config, self.seed, episode, generator_version()],
                                        sort_keys=True, default=str).encode()).hexdigest()[:20]
        path = trace_cache() / f"{self.name}-{episode}-{key}.csv"
        if path.is_file():
            problem = check_trace_file(path)
            if problem is None:
                return path
            warnings.warn(f"task {self.id}: cached trace {str(path)!r} {problem}; regenerated", stacklevel=2)
        if self.workload["kind"] == "poisson_window":
            import numpy as np

            from srole_env.core.workload import PoissonWorkload

            workload = PoissonWorkload(cfg, tuple(cfg.model_mix))
            b = workload.jobs_between(0.0, self.workload["arrival_rounds"] * cfg.round_s,
                                      np.random.default_rng(self.seeds()[episode]))
            rows = [(repr(float(b.arrival[i])), int(b.origin[i]), workload.model_names[b.model[i]], int(b.samples[i]),
                     int(b.epochs[i]), int(b.batch[i]), int(b.n_tasks[i])) for i in range(len(b))]
        elif self.workload["kind"] == "onoff":
            rows = traces.onoff_trace_jobs(cfg, self.seeds()[episode], duration, self.workload["burst_factor"],
                                           self.workload["mean_on_s"])
        else:
            pods = traces.read_pod_trace(_data_root() / self.workload["path"])
            mapping = traces.PodTraceMapping(**self.workload.get("mapping", {}))
            rows = traces.pod_trace_jobs(pods, mapping, n_edges=cfg.n_edges, arrival_rate=cfg.arrival_rate,
                                         duration_s=duration, window=int(self.workload["windows"][episode]))
        if not rows:
            raise ValueError(f"task {self.id}: episode {episode}'s trace has no jobs")
        lines = [",".join(("arrival_time_s", "origin", "model", "samples", "epochs", "batch_size", "tasks"))]
        lines += [",".join(str(v) for v in row) for row in rows]
        body = "\n".join(lines) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, f"{TRACE_STAMP}{_sha(body.encode())} generator={generator_version()}\n{body}")
        return path


TRACE_STAMP = "# srole benchmark trace sha256="
"""First line of a cached trace: the SHA-256 of the rest of the file, then the generator version."""
GENERATOR_MODULES = ("srole_env.traces", "srole_env.core.workload", "study.benchmark.tasks")
"""Modules whose code draws or converts a task's traces."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=1)
def generator_version() -> str:
    """SHA-256 (16 hex digits) of the source of the modules that make traces: a changed generator changes the cache
    key, so a trace an older generator left is not reused."""
    import importlib

    h = hashlib.sha256()
    for name in GENERATOR_MODULES:
        h.update(Path(importlib.import_module(name).__file__).read_bytes())
    return h.hexdigest()[:16]


def check_trace_file(path: Path) -> str | None:
    """None when the cached trace at ``path`` holds what its first line says, else what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return f"cannot be read ({err})"
    head, _, body = data.partition(b"\n")
    text = head.decode("utf-8", "replace")
    if not text.startswith(TRACE_STAMP):
        return "lacks its content hash line (written by an older version, or edited)"
    digest, _, generator = text[len(TRACE_STAMP):].partition(" generator=")
    if generator != generator_version():
        return f"was written by another trace generator ({generator!r}, this one {generator_version()!r})"
    if _sha(body) != digest:
        return "does not match its content hash (cut or edited)"
    return None


def trace_cache() -> Path:
    """Where per-episode traces are written (``SROLE_TRACE_CACHE`` or ``~/.cache/srole/traces``)."""
    return Path(os.environ.get("SROLE_TRACE_CACHE") or Path.home() / ".cache" / "srole" / "traces")


def data_hash(data: Any) -> str:
    """SHA-256 of canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def suite_dir(suite: str) -> Path:
    if suite not in SUITES:
        raise ValueError(f"task: unknown suite {suite!r}; suites: {list(SUITES)}")
    return TASK_ROOT / suite.rsplit("_", 1)[-1]


def task_names(suite: str = CURRENT) -> list[str]:
    """Names of the suite's tasks, in file order."""
    return sorted(p.stem for p in suite_dir(suite).glob("*.yaml"))


def load_task(task_id: str | Task) -> Task:
    """The task ``<suite>/<name>`` (or ``<name>`` of the current suite); ``ValueError`` naming the known ones."""
    if isinstance(task_id, Task):
        return task_id
    if not isinstance(task_id, str) or not task_id:
        raise TypeError(f"task must be a task id like {CURRENT}/small_poisson, got {task_id!r}")
    suite, _, name = task_id.rpartition("/")
    suite = suite or CURRENT
    if suite not in SUITES:
        raise ValueError(f"task {task_id!r}: unknown suite {suite!r}; suites: {list(SUITES)}")
    path = suite_dir(suite) / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(f"{suite}/{n}" for n in task_names(suite))
        raise ValueError(f"task {task_id!r}: unknown task; known: {known}")
    return read_task(path)


def read_task(path: str | Path) -> Task:
    """Parse and check one task file."""
    data = load_data_file(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a task file holds a mapping, got {type(data).__name__}")
    missing = [k for k in TASK_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path}: task file lacks {missing}")
    if data["workload"].get("kind") not in WORKLOAD_KINDS:
        raise ValueError(f"{path}: workload.kind must be one of {WORKLOAD_KINDS}, got {data['workload'].get('kind')!r}")
    if data["workload"]["kind"] == "pod_trace" and len(data["workload"].get("windows", [])) != data["episodes"]:
        raise ValueError(f"{path}: a pod_trace task needs one window per episode")
    # fields retired since the task was frozen were ignored then too: the task's config drops them (the hash keeps them)
    config = {k: v for k, v in data["config"].items() if k not in RETIRED_FIELDS}
    task = Task(**{k: data[k] for k in TASK_KEYS if k != "config"}, config=config, content_hash=data_hash(data))
    task.cluster()  # validates every field
    return task


def all_tasks(suite: str = CURRENT) -> list[Task]:
    return [load_task(f"{suite}/{n}") for n in task_names(suite)]
