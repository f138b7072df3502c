"""Cluster configuration: one dataclass, named scenarios, YAML/JSON loading.

Every number the simulator uses lives here as a field, so a user holding the paper's exact values can
set them. Defaults describe the ``small`` scenario; ``SCENARIOS`` overrides a few fields for ``paper``
and ``large`` (SPEC section 6). Where each default comes from is in docs/simulator.md ("Defaults and sources").
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srole_env.profiles import device_table

DEFAULT_DEVICE_MIX: dict[str, float] = {
    "raspberry_pi4": 0.3,
    "jetson_nano": 0.3,
    "jetson_tx2": 0.15,
    "jetson_xavier_nx": 0.15,
    "nuc_i7": 0.1,
}
DEFAULT_MODEL_MIX: dict[str, float] = {
    "lenet5": 0.25,
    "mobilenetv2": 0.25,
    "resnet18": 0.25,
    "vgg16": 0.25,
}


@dataclass(frozen=True)
class ClusterConfig:
    """All parameters of one simulated edge cluster and its DL-training workload.

    Units: seconds, bytes, FLOP, metres. Ranges ``(lo, hi)`` are inclusive and sampled uniformly.
    """

    # --- cluster shape ---------------------------------------------------------------------
    n_edges: int = 10
    """Number of edge devices (= agents of the parallel env)."""
    n_regions: int = 2
    """Regions for decentralized shields (used by ``shields.DecentralizedShield`` by default)."""
    n_neighbors: int = 4
    """Candidates per agent are itself plus its ``n_neighbors`` nearest edges (capped at N-1)."""
    device_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_DEVICE_MIX))
    """Device class -> proportion of the cluster (rows of ``data/devices.csv`` or ``extra_device_classes``)."""
    extra_device_classes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Device classes this config adds to ``data/devices.csv``: name -> the CSV's columns (``cores``,
    ``peak_gflops_fp32``, ``training_efficiency``, ``memory_bytes``, ``nic_mbps``, ``accelerator``). For
    hardware that is not shipped, e.g. the emulator's quota-limited nodes (``emulation.nodes``)."""
    area_m: float = 500.0
    """Edges are placed uniformly at random in an ``area_m`` x ``area_m`` square."""
    topology_seed: int | None = None
    """Fixes the cluster layout (devices, positions) across episodes; None draws it from the episode seed."""

    # --- network ---------------------------------------------------------------------------
    link_bandwidth_scale: float = 0.5
    """Fraction of the slower NIC's rate a link delivers at distance 0 (shared medium, protocol)."""
    link_bandwidth_ref_m: float = 200.0
    """Distance at which a link's bandwidth halves (multi-hop / wireless attenuation)."""
    link_base_latency_s: float = 0.002
    """One-way latency of any link, plus ``link_latency_per_m`` per metre."""
    link_latency_per_m: float = 5e-6

    # --- time ------------------------------------------------------------------------------
    round_s: float = 10.0
    """Simulated seconds per decision round (one env step)."""
    horizon: int = 200
    """Rounds per episode before truncation."""
    ledger: str = "exact"
    """What the episode's ledger keeps of completed jobs (``srole_env.core.ledger``): ``"exact"`` (every JCT and id,
    16 bytes a job: exact ``p95_jct`` and ``job_times()``) or ``"bounded"`` (fixed memory for a long-running env:
    ``mean_jct`` exact, ``p95_jct`` within 0.5% relative error, ``job_times()`` refused)."""

    # --- load and overload -----------------------------------------------------------------
    compute_threshold: float = 0.9
    """An edge is overloaded when its committed workers / cores exceeds this."""
    memory_threshold: float = 1.0
    """... or when its committed memory / usable memory exceeds this."""
    memory_thrash_slowdown: float = 0.2
    """Speed factor of every task on a memory-overcommitted edge with ``memory_overcommit="thrash"``
    (swapping; ASSUMPTION: not measured here, no cited figure)."""
    oversubscription_efficiency: float | None = None
    """Efficiency of time-shared cores once workers outnumber cores; None = the curve measured by
    ``scripts/calibrate/calibrate.py`` (``data/calibration_host.csv``); a float in (0, 1] overrides it (sensitivity)."""
    memory_overcommit: str = "oom_kill"
    """What happens when committed memory passes an edge's usable memory: ``"oom_kill"`` (the newest task is
    killed and re-queued, as the Linux OOM killer does on swapless Pi OS / Jetson L4T images) or ``"thrash"``
    (every task on the edge runs at ``memory_thrash_slowdown``)."""
    oom_victim: str = "largest"
    """Which task the OOM killer picks on an over-committed edge: ``"largest"`` (most committed memory, ties to
    the newest: Linux's ``oom_badness`` ranks processes by resident memory, mm/oom_kill.c) or ``"newest"`` (the
    last placed; with kills at placement that is always a task placed this round, so it never loses progress)."""
    checkpoint_interval_s: float | None = None
    """Seconds of training between a task's checkpoints; an OOM-killed task resumes from its last one.
    None = no checkpoints: a killed task restarts from zero (ASSUMPTION: checkpoint writes cost nothing)."""

    # --- workload ------------------------------------------------------------------------------
    arrival_rate: float = 0.0075
    """Poisson job arrivals per edge per simulated second (ignored when ``trace_path`` is set)."""
    trace_path: str | None = None
    """CSV job trace (see ``srole_env.core.workload``) replacing Poisson arrivals."""
    max_jobs_per_edge: int | None = None
    """Admission control (changes the physics): a job arriving at an edge that already owns this many unfinished
    jobs (running or queued) is rejected at submission, as Slurm's ``MaxSubmitJobs`` and YARN's
    ``maximum-applications`` reject submissions past a limit; it never enters the tables and is counted in
    ``metrics()`` (``jobs_rejected``, ``rejected_fraction``). None (default): every job is admitted, and a queue
    whose edge's candidates lack the capacity for its arrivals grows without bound."""
    model_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MODEL_MIX))
    """DL model -> proportion of jobs (rows of ``data/models.csv``)."""
    job_samples: tuple[int, int] = (500, 3000)
    """Training samples per job (a subset of the model's dataset)."""
    job_epochs: tuple[int, int] = (1, 2)
    batch_sizes: tuple[int, ...] = (32, 64)
    tasks_per_job: tuple[int, int] = (1, 4)
    """Data-parallel workers (tasks) per job."""
    worker_runtime_bytes: float = 300e6
    """Resident memory of one training process before the model (PyTorch runtime, data loader)."""
    optimizer_state_factor: float = 4.0
    """Parameter copies a worker holds: weights, gradients and two Adam moments."""

    # --- scheduling overhead -----------------------------------------------------------------
    local_decision_s: float = 0.005
    """One local policy inference on an edge (MARL and SROLE agents)."""
    report_bytes: float = 2048.0
    """Size of one edge's state report / one shield request message."""
    shield_check_s: float = 0.001
    """A shield's cost to check one request against its capacity table."""
    head_device: str | None = None
    """Device class of the cluster head edge (a ``data/devices.csv`` row); None = the most capable edge as drawn.
    If the drawn cluster has no edge of that class, edge 0 is made one (``srole_env.core.topology``)."""
    head_policy_flops: float | None = None
    """FLOPs of one CRL decision's policy inference; None = counted with ``torch.utils.flop_counter`` for the
    default CRL network (``srole_env.core.head_queue.default_policy_flops``)."""
    head_bookkeeping_s: float = 0.001
    """ASSUMPTION: per-decision work at the head besides the network's FLOPs (framework call overhead, state-table
    update, reply), on an idle core. Basis: one batch-1 SB3 MaskablePPO ``predict`` took 0.18 ms on one Xeon core
    here (its 16 kFLOPs are negligible); an ARM edge core is taken as ~5x slower."""
    request_s: float | None = None
    """ASSUMPTION, seconds: one cost model for every request a host serves (``srole_env.core.host_cost``): a CRL
    decision at the head and a shield's check at its host both cost ``request_s`` (framework call, state-table
    update, reply) plus their measured compute (``request_compute``), on the calibration host's core, scaled to
    the serving host's device class and CPU share. Basis: Kubernetes' scheduler_perf, ~800-900 pods/s at 500
    nodes on server CPUs (~1.1-1.3 ms a pod), ~330 pods/s (3 ms) mixed (``docs/host_cost.md``); swept.
    None: the separate older charges (``head_bookkeeping_s`` and the policy FLOPs at the head,
    ``shield_check_s`` per check)."""
    request_compute: bool = True
    """With ``request_s`` set: add each request's measured compute (``data/request_cost.csv``) to ``request_s``."""

    # --- reward ------------------------------------------------------------------------------
    reward_progress: float = 1.0
    """Weight of job progress (fraction of a job's work completed this round)."""
    reward_wait: float = 0.02
    """Cost per unfinished job per round (sum over time = JCT, by Little's law)."""
    reward_overload: float = 1.0
    """Penalty per task an agent places onto an edge that is then overloaded."""

    # --- observation normalisation -----------------------------------------------------------
    queue_norm: float = 10.0
    """Queue lengths are divided by this in observations."""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def n_candidates(self) -> int:
        """Candidate targets per agent: itself plus its nearest neighbours."""
        return 1 + min(self.n_neighbors, self.n_edges - 1)

    @property
    def n_actions(self) -> int:
        """Discrete actions per agent: one per candidate, plus ``hold`` (the last)."""
        return self.n_candidates + 1

    def replace(self, **changes: Any) -> ClusterConfig:
        """A copy with some fields changed (validated again)."""
        _check_fields(changes)
        return dataclasses.replace(self, **_coerce(changes))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON/YAML serialisable) that ``from_dict`` reads back."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
            elif isinstance(value, Mapping):
                out[key] = dict(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterConfig:
        """Build from a mapping; ``scenario`` picks the base, other keys override it."""
        if not isinstance(data, Mapping):
            raise TypeError(f"config must be a mapping, got {type(data).__name__}")
        data = dict(data)
        base = data.pop("scenario", "small")
        return make_config(base, **data)

    @classmethod
    def from_file(cls, path: str | Path) -> ClusterConfig:
        """Load a YAML (``.yaml``/``.yml``) or JSON file of config fields."""
        path = Path(path)
        if path.suffix.lower() not in (".yaml", ".yml", ".json"):
            raise ValueError(f"config file {path} must end in .yaml, .yml or .json")
        data = load_data_file(path) or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"config file {path} must hold a mapping of config fields, got {type(data).__name__}")
        try:  # the whole file is checked here, before anything runs: every error names it
            return cls.from_dict(data)
        except (TypeError, ValueError) as err:
            raise type(err)(f"config file {path}: {err}") from None


def load_data_file(path: str | Path) -> Any:
    """The data of a YAML (``yaml.safe_load``) or JSON file; ``ValueError`` naming the file and line if malformed."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not part of the data
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (bad byte at offset {err.start})") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: malformed JSON: {err.msg} (column {err.colno})") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"{where}: malformed YAML: {problem}") from None


SCENARIOS: dict[str, dict[str, Any]] = {
    "small": {},
    "paper": {"n_edges": 50, "n_regions": 4, "horizon": 500},
    "large": {"n_edges": 1000, "n_regions": 16, "horizon": 500},
}
"""Named scenarios: overrides of the ``ClusterConfig`` defaults (SPEC section 6)."""


def make_config(scenario: str | ClusterConfig | None = "small", **overrides: Any) -> ClusterConfig:
    """Config of a named scenario (``small``, ``paper``, ``large``) or a file, with overrides."""
    overrides = _drop_retired(overrides)
    if isinstance(scenario, ClusterConfig):
        return scenario.replace(**overrides) if overrides else scenario
    scenario = "small" if scenario is None else scenario
    if not isinstance(scenario, str):
        raise TypeError(f"scenario must be a name, a path or a ClusterConfig, got {type(scenario).__name__}")
    if scenario not in SCENARIOS:
        if Path(scenario).suffix.lower() in (".yaml", ".yml", ".json") and Path(scenario).exists():
            return ClusterConfig.from_file(scenario).replace(**overrides)
        raise ValueError(
            f"scenario: unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)} or a .yaml/.json file"
        )
    _check_fields(overrides)
    values = {**SCENARIOS[scenario], **overrides}
    if "n_regions" not in overrides:  # the scenario's region count, capped when the user shrinks the cluster
        n_edges = values.get("n_edges", ClusterConfig.n_edges)
        values["n_regions"] = (
            min(values.get("n_regions", ClusterConfig.n_regions), n_edges)
            if isinstance(n_edges, int)
            else values.get("n_regions", ClusterConfig.n_regions)
        )
    return ClusterConfig(**_coerce(values))


RETIRED_FIELDS: dict[str, str] = {
    "overload_slowdown": "speed follows the contention model (srole_env.core.contention)",
    "head_decision_s": "the cluster head is a queue (srole_env.core.head_queue; head_bookkeeping_s, head_policy_flops)",
}
"""Fields this version no longer has, and why: an old config that sets one still loads, with a note."""


KEY_ADDED_FIELDS: dict[str, Any] = {"request_s": None, "request_compute": True, "ledger": "exact",
                                     "max_jobs_per_edge": None}
"""Fields added after results caches first keyed cells by their config, at the values that keep the older physics
(here the head's and the shields' older separate charges, the exact ledger, and every job admitted)."""
KEY_RETIRED_VALUES: dict[str, Any] = {"overload_slowdown": 0.5, "head_decision_s": 0.01}
"""``RETIRED_FIELDS`` at the default every config had while they existed (unused by then, so the same physics)."""


def key_fields(config: ClusterConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The config as a results cache keys it: every field, but a ``KEY_ADDED_FIELDS`` field left out while it holds
    its older-physics value and the ``KEY_RETIRED_VALUES`` put back, so a cell computed before a field was added or
    retired keeps its key (and its cached result); any other value changes the key."""
    values = dict(config.to_dict() if isinstance(config, ClusterConfig) else config)
    for name, old in KEY_ADDED_FIELDS.items():
        if name in values and values[name] == old and type(values[name]) is type(old):
            values.pop(name)
    return {**KEY_RETIRED_VALUES, **values}


def _drop_retired(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without ``RETIRED_FIELDS``, with a note naming each one dropped."""
    values = dict(values)
    for name in sorted(set(values) & set(RETIRED_FIELDS)):
        values.pop(name)
        warnings.warn(f"config field {name!r} was retired and is ignored: {RETIRED_FIELDS[name]}", FutureWarning,
                      stacklevel=3)
    return values


def _check_fields(values: Mapping[str, Any]) -> None:
    """``ValueError`` naming the keys of ``values`` that are no ``ClusterConfig`` field."""
    fields = {f.name for f in dataclasses.fields(ClusterConfig)}
    unknown = sorted(str(k) for k in set(values) - fields)
    if unknown:
        from difflib import get_close_matches

        guesses = {k: get_close_matches(k, fields, n=1, cutoff=0.8) for k in unknown}
        hint = "".join(f" (did you mean {g[0]!r} for {k!r}?)" for k, g in guesses.items() if g)
        raise ValueError(f"unknown config field(s) {unknown}{hint}; valid fields: {sorted(fields)}")


def _coerce(values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn lists from JSON/YAML into the tuples the dataclass uses."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _validate(cfg: ClusterConfig) -> None:
    """Reject malformed values with a ``ValueError``/``TypeError`` that names the field."""

    def integer(name: str, lo: int) -> None:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < lo:
            raise ValueError(f"{name} must be >= {lo}, got {value}")

    def number(name: str, lo: float = 0.0, *, strict: bool = True, hi: float | None = None) -> None:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or value < lo or (strict and value == lo) or (hi is not None and value > hi):
            bound = f"> {lo}" if strict else f">= {lo}"
            upper = f" and <= {hi}" if hi is not None else ""
            raise ValueError(f"{name} must be finite, {bound}{upper}, got {value!r}")

    def int_range(name: str, lo: int) -> None:
        value = getattr(cfg, name)
        if (
            not isinstance(value, tuple)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise TypeError(f"{name} must be a pair of ints (lo, hi), got {value!r}")
        if value[0] < lo or value[1] < value[0] or value[1] > MAX_COUNT:
            raise ValueError(f"{name} must satisfy {lo} <= lo <= hi <= {MAX_COUNT}, got {value!r}")

    def mix(name: str) -> None:
        value = getattr(cfg, name)
        if not isinstance(value, Mapping) or not value:
            hint = (f"; on the command line a mapping is JSON, quoted: --set '{name}={{\"resnet18\": 1.0}}'"
                    if isinstance(value, str) else "")
            raise TypeError(f"{name} must be a non-empty mapping of name -> proportion, got {value!r}{hint}")
        for key, share in value.items():
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < math.inf:
                raise ValueError(f"{name}[{key!r}] must be a finite proportion >= 0, got {share!r}")
        if sum(value.values()) <= 0:
            raise ValueError(f"{name} proportions must not all be zero")

    integer("n_edges", 1)  # types first, then sizes: '10' or None is a TypeError, never a failed comparison
    integer("n_regions", 1)
    integer("n_neighbors", 0)
    integer("horizon", 1)
    for name in ("n_edges", "n_neighbors", "horizon"):
        if getattr(cfg, name) > MAX_COUNT:
            raise ValueError(f"{name} must be <= {MAX_COUNT}, got {getattr(cfg, name)}")
    if cfg.n_regions > cfg.n_edges:
        raise ValueError(f"n_regions must be <= n_edges ({cfg.n_edges}), got {cfg.n_regions}")
    if not isinstance(cfg.extra_device_classes, Mapping):
        raise TypeError(f"extra_device_classes must be a mapping of name -> fields, got {cfg.extra_device_classes!r}")
    table = device_table(cfg.extra_device_classes)  # validates every added class
    mix("device_mix")
    mix("model_mix")
    for name in (
        "area_m",
        "link_bandwidth_scale",
        "link_bandwidth_ref_m",
        "round_s",
        "memory_threshold",
        "queue_norm",
    ):
        number(name)
    for name in (
        "link_base_latency_s",
        "link_latency_per_m",
        "arrival_rate",
        "worker_runtime_bytes",
        "local_decision_s",
        "report_bytes",
        "shield_check_s",
        "head_bookkeeping_s",
        "reward_progress",
        "reward_wait",
        "reward_overload",
    ):
        number(name, strict=False)
    number("compute_threshold", hi=1.0)
    used = [n for n, share in cfg.device_mix.items() if share > 0 and n in table]
    used += [cfg.head_device] if cfg.head_device in table else []
    smallest = min(used, key=lambda n: table[n].cores, default=None)
    if smallest is not None and cfg.compute_threshold * table[smallest].cores < 1:
        raise ValueError(f"compute_threshold={cfg.compute_threshold!r} leaves no worker slot on a {smallest} "
                         f"({table[smallest].cores} cores): threshold x cores must be >= 1; use a value in "
                         f"[{1 / table[smallest].cores:.3g}, 1]")
    if cfg.oversubscription_efficiency is not None:
        number("oversubscription_efficiency", hi=1.0)
    if cfg.memory_overcommit not in ("oom_kill", "thrash"):
        raise ValueError(f"memory_overcommit must be 'oom_kill' or 'thrash', got {cfg.memory_overcommit!r}")
    if cfg.ledger not in ("exact", "bounded"):
        raise ValueError(f"ledger must be 'exact' or 'bounded', got {cfg.ledger!r}")
    if cfg.max_jobs_per_edge is not None:
        integer("max_jobs_per_edge", 1)
    if cfg.oom_victim not in ("largest", "newest"):
        raise ValueError(f"oom_victim must be 'largest' or 'newest', got {cfg.oom_victim!r}")
    if cfg.checkpoint_interval_s is not None:
        number("checkpoint_interval_s")
    number("memory_thrash_slowdown", hi=1.0)
    number("optimizer_state_factor", lo=1.0, strict=False)
    int_range("job_samples", 1)
    int_range("job_epochs", 1)
    int_range("tasks_per_job", 1)
    if (
        not isinstance(cfg.batch_sizes, tuple)
        or not cfg.batch_sizes
        or not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= MAX_COUNT for b in cfg.batch_sizes)
    ):
        raise ValueError(f"batch_sizes must be a non-empty tuple of ints in 1..{MAX_COUNT}, got {cfg.batch_sizes!r}")
    if cfg.topology_seed is not None and (
        isinstance(cfg.topology_seed, bool) or not isinstance(cfg.topology_seed, int)
    ):
        raise TypeError(f"topology_seed must be an int or None, got {cfg.topology_seed!r}")
    if cfg.head_device is not None and not isinstance(cfg.head_device, str):
        raise TypeError(f"head_device must be a device class name or None, got {cfg.head_device!r}")
    if cfg.head_policy_flops is not None:
        number("head_policy_flops", strict=False)
    if cfg.request_s is not None:
        number("request_s", strict=False)
    if not isinstance(cfg.request_compute, bool):
        raise TypeError(f"request_compute must be a bool, got {cfg.request_compute!r}")
    if cfg.trace_path is not None and not isinstance(cfg.trace_path, (str, Path)):
        raise TypeError(f"trace_path must be a path or None, got {cfg.trace_path!r}")
    if cfg.trace_path is not None and not str(cfg.trace_path).strip():
        raise ValueError("trace_path is empty; give a trace CSV's path, or leave it unset (null) for Poisson arrivals")


MAX_COUNT = 2**31 - 1
"""Largest count (edges, samples, epochs, batch, tasks, rounds) a config or trace may give: int32 range."""
