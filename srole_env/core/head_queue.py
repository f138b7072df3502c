"""The cluster head (CRL) as a single-server queue of decisions, carried over from round to round.

The head is one of the edges (``topology.head``) and trains tasks too. Each round of ``round_s`` seconds:

1. **Collect.** Every edge sends one state report (``report_bytes``); they travel in parallel and are
   received one after another through the head's NIC (``overhead.gather_latency``). The head decides
   only once it holds the round's cluster state.
2. **Serve.** Requests (edges with a pending task) wait in FIFO order: last round's backlog first, then the
   new requests in a rotating order. One decision costs the CRL policy network's inference FLOPs
   (``head_policy_flops``, counted with ``torch.utils.flop_counter.FlopCounterMode``) at the compute the
   head's scheduler process gets beside the head's own training workers, plus ``head_bookkeeping_s``
   (framework overhead, state-table update; ASSUMPTION) stretched by the same CPU share.
3. **Carry over.** Decisions that cannot complete by the end of the round stay queued: their tasks are
   *not placed* and stay pending at their origin, and they are served first next round with the state
   the head holds then. This is the physically right reading: a worker cannot start before the head has
   decided where it runs, and the head cannot commit capacity it has not decided on. So once decision
   demand passes ``(round_s - collect) / service`` per round, the backlog and each task's decision
   latency grow round after round, and the wait shows in JCT because the task stays pending.

A decision served in the round is charged (as start delay) the time from the round's start to its
completion plus the reply's one-way latency; the rounds it spent in the backlog are not charged again
(the task was pending, which JCT already counts). The *decision latency* reported (``HeadRound``) is
request to answer: rounds waited x ``round_s`` plus the in-round part.

``scheduler_share`` is the one place that says how much of the head's device the scheduler gets; the
simulator's compute-sharing model may move it (keep it one small function).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from srole_env.config import ClusterConfig
from srole_env.core.host_cost import request_service_s, scheduler_share
from srole_env.core.overhead import gather_latency, one_way_latency
from srole_env.core.topology import Topology

CRL_NET_ARCH: tuple[int, ...] = (64, 64)
"""Hidden layers of the default CRL policy network (``agents.learners.sb3.specs.DEFAULTS['crl_maskable_ppo']``)."""


# ---------------------------------------------------------------------- costs
def count_flops(module: object, example: object) -> int:
    """FLOPs of one no-grad call ``module(example)``, counted by ``torch.utils.flop_counter.FlopCounterMode``
    (matrix products; activations and bias adds are not counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(example)
    return int(counter.get_total_flops())


@lru_cache(maxsize=64)
def default_policy_flops(obs_dim: int, n_actions: int, net_arch: tuple[int, ...] = CRL_NET_ARCH) -> float:
    """FLOPs of one CRL decision with the default network: the inference path of SB3's ``MlpPolicy`` actor
    (``obs -> Linear/Tanh x len(net_arch) -> Linear -> logits``; the value head is not evaluated to act), on a
    batch of one: 2 x in x out per linear layer, the figure ``count_flops`` (torch's ``FlopCounterMode``) gives
    for it (``tests/test_head_queue.py`` checks), computed without torch so the env needs none."""
    widths = (obs_dim, *net_arch, n_actions)
    return float(sum(2 * a * b for a, b in zip(widths[:-1], widths[1:])))



def decision_service_s(
    config: ClusterConfig, topology: Topology, head_workers: float, policy_flops: float
) -> float:
    """Seconds the head needs for one decision with ``head_workers`` training workers committed on it:
    (policy FLOPs at one core's share of the device's sustained rate + bookkeeping) / the scheduler's share,
    or, with ``config.request_s`` set, the one request cost model (``srole_env.core.host_cost``)."""
    head = topology.head
    if config.request_s is not None:
        return float(request_service_s(config, topology, [head], "decision", topology.n_edges, [head_workers])[0])
    core_flops = topology.flops[head] / topology.cores[head]
    share = float(scheduler_share(float(topology.cores[head]), head_workers))
    return (policy_flops / core_flops + config.head_bookkeeping_s) / share


# ---------------------------------------------------------------------- the queue
@dataclass(frozen=True)
class HeadRound:
    """The head's plan for one round (arrays over the decisions it serves, in service order)."""

    served: np.ndarray
    """Edges [m] whose decisions complete this round, in service order (backlog first)."""
    start_delay: np.ndarray
    """[N] seconds from the round's start until each served edge holds its answer (0 for the others)."""
    decision_latency: np.ndarray
    """[m] request-to-answer seconds of each served decision (backlog rounds x ``round_s`` + in-round part)."""
    backlog: int
    """Requests still queued after this round (carried to the next)."""
    utilization: float
    """Fraction of the round the head spends receiving reports and deciding (<= 1)."""
    demand: int
    """Requests queued at the round's start (served + backlog)."""
    service_s: float
    """Seconds per decision this round."""


class HeadQueue:
    """FIFO of decision requests at the cluster head, carried across rounds (see module docstring)."""

    def __init__(self, topology: Topology, config: ClusterConfig, policy_flops: float):
        if not (math.isfinite(policy_flops) and policy_flops >= 0.0):
            raise ValueError(f"policy_flops must be finite and >= 0, got {policy_flops!r}")
        self.topology, self.config, self.policy_flops = topology, config, float(policy_flops)
        n = topology.n_edges
        everyone = np.ones(n, dtype=bool)
        head = topology.head
        self.collect_s = gather_latency(topology, config, head, everyone, 0.0, 0)
        self.receive_s = n * config.report_bytes * 8.0 / float(topology.nic_bps[head])
        self.reply_s = one_way_latency(topology, config, head)
        self._edges = np.empty(0, dtype=np.int64)
        self._since = np.empty(0, dtype=np.int64)
        self._queued = np.zeros(n, dtype=bool)

    @property
    def backlog(self) -> int:
        """Requests waiting now."""
        return len(self._edges)

    def plan(self, round_index: int, requesting: np.ndarray, head_workers: float) -> HeadRound:
        """Queue this round's new requests (``requesting`` [N] bool: edges with a pending task), serve what fits
        in the round, carry the rest over. ``head_workers``: training workers committed on the head now."""
        cfg, n = self.config, self.topology.n_edges
        requesting = np.asarray(requesting, dtype=bool)
        if requesting.shape != (n,):
            raise ValueError(f"requesting must be a bool array of shape ({n},), got {requesting.shape}")
        still = requesting[self._edges]  # a queued edge whose task is gone has nothing left to decide
        edges, since = self._edges[still], self._since[still]
        new = np.flatnonzero(requesting & ~self._queued)
        if len(new):
            new = np.roll(new, -(round_index % len(new)))  # rotate who goes first among same-round requests
        edges = np.concatenate([edges, new])
        since = np.concatenate([since, np.full(len(new), round_index, dtype=np.int64)])

        service = decision_service_s(cfg, self.topology, head_workers, self.policy_flops)
        free = max(cfg.round_s - self.collect_s, 0.0)
        capacity = int(math.floor(free / service * (1.0 + 1e-12))) if service > 0 else len(edges)
        m = min(len(edges), capacity)
        served = edges[:m]
        done_at = self.collect_s + service * np.arange(1, m + 1)
        start_delay = np.zeros(n)
        start_delay[served] = done_at + self.reply_s[served]
        waited = (round_index - since[:m]) * cfg.round_s

        self._edges, self._since = edges[m:], since[m:]
        self._queued[:] = False
        self._queued[self._edges] = True
        busy = self.receive_s + m * service
        return HeadRound(
            served=served,
            start_delay=start_delay,
            decision_latency=waited + start_delay[served],
            backlog=len(self._edges),
            utilization=min(1.0, busy / cfg.round_s),
            demand=len(edges),
            service_s=service,
        )
