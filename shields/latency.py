"""Simulated decision latency of a shield: what the simulator charges before a shielded task can start.

Every region shield runs on its region's *host*: the cluster head (``topology.head``) for the central
shield, the most capable edge (highest FLOP/s, lowest index on ties) of each region for decentralized
shields. With ``srole_env.core.overhead``'s link model (``one_way_latency``) and config fields
``report_bytes``, ``shield_check_s`` and ``link_*``, an agent i of region r that sent a request waits

    gather_r + coordination(i) + one_way(host_r -> i)

* ``gather_r``: the region's requests reach the host in parallel (the farthest requester's one-way
  latency), are received one after another through the host's NIC (``report_bytes`` each), and the host
  checks every proposal of its own agents against its table, ``shield_check_s`` each on an idle core (an
  original that does not fit is checked, and so is each alternative its agent then proposes). With no
  training workers on the host and no backlog this is exactly
  ``overhead.gather_latency(topology, config, host, requesters, shield_check_s, checks)``.
* The host trains tasks too: a check takes ``shield_check_s / scheduler_share(cores, workers)`` with the
  host's committed workers (``srole_env.core.host_cost.scheduler_share``, as for the cluster head). Work
  (receiving plus checking) that does not fit in ``round_s`` carries over as the host's backlog
  (``backlog_s`` [R]) and delays the next round's answers by that much first. A shield answers the
  round's joint action at once, so its tasks are placed with the latency included (they start when the
  answer arrives), where the cluster head's unanswered tasks stay pending (``srole_env.core.head_queue``).
* With ``config.request_s`` set, the one request cost model (``srole_env.core.host_cost``) that also charges the
  cluster head's decisions replaces ``shield_check_s``: every request message costs ``request_s`` and every check
  the measured compute of a check, both scaled to the host's device class and divided by its CPU share.
* ``coordination(i)``: the sum of the boundary round trips of the coordination rounds before i's answer
  (including the round of its answer when a remote owner granted it). The round trip of a round with
  boundary traffic is two one-way latencies between the farthest pair of hosts that exchanged messages,
  plus the busiest owner receiving and checking its queue. Rounds without boundary traffic cost nothing
  here (their checks are counted in ``gather_r``).

Regions work in parallel, so the decentralized latency depends on region size, not on N; the central
shield gathers and checks every request of the cluster at one host, so its latency grows with N.
"""

from __future__ import annotations

import numpy as np

from shields.protocol import Resolution, RoundTraffic
from srole_env.config import ClusterConfig
from srole_env.core.host_cost import compute_part_s, request_part_s, scheduler_share
from srole_env.core.topology import Topology


class LatencyModel:
    """Per-agent simulated decision latency of a partition of region shields (see module docstring)."""

    def __init__(self, topology: Topology, config: ClusterConfig, labels: np.ndarray, hosts: np.ndarray):
        """``labels`` [N] region of every edge; ``hosts`` [R] the edge each region shield runs on."""
        self.labels = np.asarray(labels, dtype=np.int64)
        self.hosts = np.asarray(hosts, dtype=np.int64)
        n_regions = len(self.hosts)
        self._positions, self._config = topology.positions, config
        own_host = self.hosts[self.labels]
        self.to_host = self._link(own_host, np.arange(topology.n_edges))
        """[N] one-way latency from every edge to its region's host (``one_way_latency``'s, pair by pair)."""
        self._host_link: np.ndarray | None = None
        self.receive_s = config.report_bytes * 8.0 / topology.nic_bps[self.hosts]
        self.host_cores = topology.cores[self.hosts]
        self.round_s = config.round_s
        if config.request_s is None:
            self.idle_check_s = np.full(n_regions, config.shield_check_s)
            self.idle_request_s = np.zeros(n_regions)
        else:  # the one request cost model: request_s per request message, the measured compute per check
            self.idle_check_s = compute_part_s(config, topology, self.hosts, "check",
                                               np.bincount(self.labels, minlength=n_regions))
            self.idle_request_s = request_part_s(config, topology, self.hosts)
        self.check_s = self.idle_check_s.copy()
        """Seconds per check at each host this round (set by ``per_agent`` from the hosts' load)."""
        self.request_s = self.idle_request_s.copy()
        """Seconds per request message at each host this round, besides its checks (0 without ``request_s``)."""
        self.backlog_s = np.zeros(n_regions)
        """Work (seconds) each host carries into the next round."""
        self.busy_s = np.zeros(n_regions)
        """Work (seconds) each host had this round: carried in plus this round's (its utilisation: / ``round_s``)."""

    def _link(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """One-way latency between edges ``a`` and ``b`` (arrays of edge indices): ``one_way_latency(..., a)[b]``
        with its arithmetic, for these pairs only (0 where ``a == b``), so no region needs a row over all N."""
        dist = np.linalg.norm(self._positions[b] - self._positions[a], axis=-1)
        lat = self._config.link_base_latency_s + self._config.link_latency_per_m * dist
        return np.where(a == b, 0.0, lat)

    @property
    def host_link(self) -> np.ndarray:
        """[R, R] one-way latency between every two hosts (computed on first use: R^2 entries)."""
        if self._host_link is None:
            r = np.arange(len(self.hosts))
            self._host_link = self._link(self.hosts[r[:, None]], self.hosts[r[None, :]])
        return self._host_link

    def _one_region(self, requests: np.ndarray, res: Resolution, host_workers: np.ndarray | None) -> float:
        """``per_agent``'s gather time of a single region (the central shield) in scalars: the same operations
        in the same order as the arrays of length 1 the general case uses (a round's fixed cost at small N)."""
        workers = 0.0 if host_workers is None else float(np.asarray(host_workers, float)[0])
        share = min(1.0, float(self.host_cores[0]) / (max(workers, 0.0) + 1.0))  # scheduler_share
        check = float(self.idle_check_s[0]) / share
        request = float(self.idle_request_s[0]) / share
        self.check_s, self.request_s = np.array([check]), np.array([request])
        count = int(np.count_nonzero(requests))
        far = max(0.0, float(self.to_host[requests].max(initial=0.0)))
        work = count * (float(self.receive_s[0]) + request) + int(res.local_checks[0]) * check
        carried = float(self.backlog_s[0])
        self.busy_s = np.array([carried + work])
        self.backlog_s = np.array([max(carried + work - self.round_s, 0.0)])
        return carried + far + work if count > 0 else 0.0

    def round_trip(self, traffic: RoundTraffic) -> float:
        """Seconds one coordination round's boundary exchange adds (0 without boundary traffic)."""
        if len(traffic.owners) == 0:
            return 0.0
        wire = 2.0 * float(self._link(self.hosts[traffic.src], self.hosts[traffic.dst]).max())
        owners = traffic.owners
        work = float((traffic.served * (self.receive_s[owners] + self.request_s[owners] + self.check_s[owners])).max())
        return wire + work

    def per_agent(self, requests: np.ndarray, res: Resolution, host_workers: np.ndarray | None = None) -> np.ndarray:
        """Latency [N] seconds of every requesting agent (``requests`` bool [N]); 0 for the others.

        ``host_workers`` [R]: training workers committed on each host (default none); call once per round,
        as it advances the hosts' backlog."""
        n_regions = len(self.hosts)
        if n_regions == 1:
            latency = self._one_region(requests, res, host_workers)
        else:
            workers = np.zeros(n_regions) if host_workers is None else np.asarray(host_workers, float)
            share = scheduler_share(self.host_cores, workers)
            self.check_s = self.idle_check_s / share
            self.request_s = self.idle_request_s / share
            region = self.labels[requests]
            far = np.zeros(n_regions)
            np.maximum.at(far, region, self.to_host[requests])
            count = np.bincount(region, minlength=n_regions)
            work = count * (self.receive_s + self.request_s) + res.local_checks * self.check_s
            carried = self.backlog_s
            self.busy_s = carried + work
            self.backlog_s = np.maximum(carried + work - self.round_s, 0.0)
            latency = np.where(count > 0, carried + far + work, 0.0)[self.labels]
        trips = [self.round_trip(t) for t in res.traffic]
        if any(trips):  # boundary round trips before (and of) each agent's answer
            coordination = np.concatenate(([0.0], np.cumsum(trips)))
            latency = latency + coordination[np.maximum(res.answered, 0) + res.via_boundary]
        return np.where(requests, latency + self.to_host, 0.0)
