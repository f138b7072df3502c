"""One cost model for every request a host serves: the cluster head's decisions and every shield host's checks.

The head (CRL, and the central shield, which runs there) and each decentralized shield's region host serve
*requests*: a decision (the head places one task) or a check (a shield checks one proposal against its table).
With ``config.request_s`` set, a request served on host ``h`` with ``w`` training workers committed on it takes

    (request_s + compute_s(kind, n_served)) x ratio(h) / scheduler_share(cores_h, w)

* ``request_s`` (ASSUMPTION, a config field): the framework call, state-table update and reply, in seconds on the
  calibration host (a server core, the device table's ``calibrated_host``). It is grounded in the Kubernetes
  scheduler's published throughput on server CPUs (``docs/host_cost.md``) and swept, never fitted.
  A shield request (one agent's proposal message) pays ``request_s`` once and ``compute_s("check", n)`` for every
  proposal of it the shield checks (an original that does not fit, then each alternative): the head's decision
  scores every candidate of its task in one ``compute_s("decision", n)``.
* ``compute_s(kind, n)``: the request's own compute, *measured* on the calibration host with the project's own
  code (``scripts/calibrate/request_cost.py`` -> ``srole_env/data/request_cost.csv``): ``decision`` = the CRL
  head's observation, mask, Q-network forward and placement for one task; ``check`` = the shield's work per
  checked proposal, from timing the real shield code per round at several cluster sizes. ``n`` is the number of
  agents the host serves (N at the head and the central shield, the region's size at a region host): the per-
  request figure is interpolated log-linearly in ``n`` between the measured sizes and held at the ends.
* ``ratio(h)``: the calibration host's sustained FLOP/s per core over host ``h``'s (the device table's figures,
  as ``scripts/calibrate/head_cost.py`` scales the head), so the same request costs the same on every host of a
  class and proportionally more on a slower one.
* ``scheduler_share`` (``srole_env.core.head_queue``): the fraction of one core the serving process gets beside
  the host's training workers.

``config.request_s = None`` (the default) keeps the older, separate charges: ``head_bookkeeping_s`` plus the
policy's counted FLOPs at the head, ``shield_check_s`` per check at a shield host.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from srole_env.config import ClusterConfig
from srole_env.core.topology import Topology

KINDS = ("decision", "check")
"""What a host serves per request: a head's decision (place one task) or a shield's check (one proposal)."""
REFERENCE_CLASS = "calibrated_host"
"""The device class the measured compute and ``request_s`` are expressed on (``data/devices.csv``)."""
DATA_FILE = "request_cost.csv"


@lru_cache(maxsize=1)
def measured_compute() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``kind -> (n served [k], seconds per request on the calibration host [k])`` from ``data/request_cost.csv``
    (lines starting with ``#`` are its provenance); the sizes ascending, the seconds finite and >= 0."""
    text = resources.files("srole_env").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    rows = list(csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#")))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for kind in KINDS:
        pairs = sorted((int(r["n_served"]), float(r["compute_s"])) for r in rows if r["kind"] == kind)
        if not pairs:
            raise ValueError(f"{DATA_FILE}: no rows of kind {kind!r} (rerun scripts/calibrate/request_cost.py)")
        n, s = (np.array(v, dtype=float) for v in zip(*pairs))
        if not (np.all(np.isfinite(s)) and np.all(s >= 0) and np.all(n >= 1)):
            raise ValueError(f"{DATA_FILE}: kind {kind!r} needs n_served >= 1 and finite compute_s >= 0")
        out[kind] = (n, s)
    return out


def compute_s(kind: str, n_served: Any) -> np.ndarray:
    """Measured compute of one ``kind`` request on the calibration host for hosts serving ``n_served`` agents
    (log-linear in n between the measured sizes, held at the ends); elementwise."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n, s = measured_compute()[kind]
    return np.interp(np.log(np.maximum(np.asarray(n_served, float), 1.0)), np.log(n), s)


def reference_core_flops() -> float:
    """Sustained FLOP/s of one core of the calibration host (``data/devices.csv``: peak x efficiency / cores)."""
    from srole_env.profiles import device_table

    ref = device_table()[REFERENCE_CLASS]
    return float(ref.flops) / float(ref.cores)


def host_ratio(topology: Topology, hosts: Any) -> np.ndarray:
    """How many times longer a request takes on each of ``hosts`` than on the calibration host (per-core rates)."""
    hosts = np.asarray(hosts, dtype=np.int64)
    return reference_core_flops() / (topology.flops[hosts] / topology.cores[hosts])


def request_part_s(config: ClusterConfig, topology: Topology, hosts: Any) -> np.ndarray:
    """Seconds of a request's assumed part (``request_s``) on each of ``hosts``, on an idle core."""
    if config.request_s is None:
        raise ValueError("request_s is None: the one cost model is off (set request_s, seconds per request)")
    return config.request_s * host_ratio(topology, hosts)


def compute_part_s(config: ClusterConfig, topology: Topology, hosts: Any, kind: str, n_served: Any) -> np.ndarray:
    """Seconds of one unit of ``kind`` compute (a decision, or one checked proposal) on each of ``hosts`` serving
    ``n_served`` agents, on an idle core (0 with ``request_compute`` off)."""
    if config.request_s is None:
        raise ValueError("request_s is None: the one cost model is off (set request_s, seconds per request)")
    if not config.request_compute:
        return np.zeros(np.broadcast(np.asarray(hosts), np.asarray(n_served)).shape)
    return compute_s(kind, n_served) * host_ratio(topology, hosts)


def idle_request_s(config: ClusterConfig, topology: Topology, hosts: Any, kind: str, n_served: Any) -> np.ndarray:
    """Seconds one ``kind`` request with one unit of compute takes on each of ``hosts`` (serving ``n_served``
    agents) on an idle core: ``request_part_s + compute_part_s``."""
    return request_part_s(config, topology, hosts) + compute_part_s(config, topology, hosts, kind, n_served)


def scheduler_share(cores: float | np.ndarray, workers: float | np.ndarray) -> float | np.ndarray:
    """Fraction of one core a scheduler process (the head's, a shield host's) gets beside ``workers`` training
    workers on ``cores`` cores: every process has a core while they fit, beyond that processor sharing,
    ``min(1, cores / (workers + 1))``. One core, because a batch-1 inference of a small MLP (or a shield's
    table check) does not parallelise usefully. Works elementwise on arrays."""
    return np.minimum(1.0, np.asarray(cores, float) / (np.maximum(workers, 0.0) + 1.0))


def request_service_s(
    config: ClusterConfig, topology: Topology, hosts: Any, kind: str, n_served: Any, workers: Any
) -> np.ndarray:
    """Seconds one ``kind`` request takes on each of ``hosts`` with ``workers`` training workers committed there."""
    hosts = np.asarray(hosts, dtype=np.int64)
    share = scheduler_share(topology.cores[hosts], np.asarray(workers, float))
    return idle_request_s(config, topology, hosts, kind, n_served) / share
