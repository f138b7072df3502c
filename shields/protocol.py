"""Region shields and the request/grant/deny protocol between them, all regions resolved together.

The cluster is split into regions (``shields.regions``); each region's shield *owns* the capacity of
its edges: only it grants tasks onto them, so no edge is ever committed by two shields. It also serves
the agents of its region. A central shield is the same machinery with one region.

Each region shield keeps a load table of the edges it knows: its own (exact, it is their owner) and its
agents' candidates in other regions (the reports every agent observes at the start of the round, then
whatever grant/deny replies tell it). Loads only grow within a round, so a table never shows more load
than an edge really has: when nothing fits in a shield's table, nothing fits in reality.

A decision round runs *coordination rounds* k = 0, 1, ... until every request is answered:

A. **Propose.** Every region shield, for all its unresolved agents at once, picks each agent's first
   candidate in its order (``shields.core``: the original action, then the learner's preferences or
   least loaded) that fits its table. An agent with none holds. Round 0 carries original actions
   only (an agent whose original does not fit waits for round 1), so a request that fits and is in no
   conflict is never displaced by another agent's alternative.
B. **Local grants.** Proposals onto the region's own edges are settled at once by ``grant_prefix``
   against its exact table. The rest are boundary requests: one *request message* each to the owner
   of the requested edge (in round 0 only originals that fit the requester's table are sent).
C. **Serve requests.** Every owner settles all the boundary requests it received together with
   ``grant_prefix`` (priority ranks travel in the messages) against its table, after its own local
   grants of this round (local requests first). It answers each with a *reply message* (grant or deny)
   carrying the edge's load after serving.
D. **Read replies.** Requesters update their tables from the replies; granted agents are done, denied
   ones propose again in round k + 1 (the same edge if it still fits, else their next choice).

Termination: in every coordination round either some request is granted (the first request of each
target in priority order that fits alone always is) or every request to some edge fails to fit even
alone, and the deny teaches its requesters that this edge will not fit for the rest of the round.
So at most ``requests x (C + 1) + 1`` rounds; in practice a handful. Messages (request + reply each) are
exchanged only for boundary requests.

**Vectorized over regions.** The tables of all regions are one flat array: entry ``(r, e)`` is region
r's view of edge e, for every edge e that r knows (its members and its agents' candidates), sorted by
``r * N + e``. An agent's candidates map to its own region's entries, an edge to its owner's entry.
Every region reads and writes only its own entries, and ``grant_prefix`` settles each target entry
independently, so one call over the requests of all regions makes exactly the decisions the regions
would make one by one. Each coordination round is a fixed number of array operations, whatever the
number of regions or messages; the only Python loop is over coordination rounds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from shields import kernel
from shields.core import (
    LazyPreferenceRanks,
    RoundState,
    choose_candidates,
    fits,
    grant_prefix,
    order_keys,
    requests_of,
)


@dataclass
class Requests:
    """The request messages of one coordination round (rows [P], one message each, by requesting agent).

    Row i goes from region ``src[i]`` (the agent's) to the owner of edge ``targets[i]`` (another region).
    """

    src: np.ndarray  # requesting region of each message
    agents: np.ndarray  # requesting agents (global index)
    targets: np.ndarray  # requested edges (global index)
    demand: np.ndarray  # bytes of memory each task needs
    priority: np.ndarray  # priority rank of each request (lower keeps its target first)


@dataclass
class RoundTraffic:
    """Boundary traffic of one coordination round (for the latency model)."""

    src: np.ndarray  # [m] requesting region of each (src, dst) pair that exchanged messages
    dst: np.ndarray  # [m] owning region of that pair (pairs sorted by dst, then src)
    owners: np.ndarray  # [o] regions that served requests this round (ascending)
    served: np.ndarray  # [o] requests each of them served


_NO_TRAFFIC = RoundTraffic(*(np.empty(0, dtype=np.int64) for _ in range(4)))
"""The traffic of a coordination round without boundary requests (shared, never written)."""


@dataclass
class Resolution:
    """What the shields decided for one decision round (arrays [N] over agents unless noted)."""

    actions: np.ndarray  # the safe joint action
    answered: np.ndarray  # coordination round in which each request was answered (-1: not a request)
    via_boundary: np.ndarray  # bool: answered by a remote grant (waited for that round's replies)
    boundary_requests: np.ndarray  # int: request messages each agent sent
    local_checks: np.ndarray  # [R] proposals each region shield checked for its own agents (all rounds)
    conflicts: np.ndarray  # [N] bool edges: a round-0 (original) request to it was denied (see ``resolve``)
    traffic: list[RoundTraffic] = field(default_factory=list)  # one entry per coordination round
    transcript: list[Requests] = field(default_factory=list)  # request messages of every round that sent any
    messages: int = 0  # request + reply messages
    rounds: int = 0  # coordination rounds run


class Coordinator:
    """The region shields of a partition (one flat table) and the synchronous rounds that settle a joint action."""

    def __init__(self, labels: np.ndarray, state: RoundState, compiled: bool | None = None):
        """``labels`` [N]: region of every edge; ``state`` supplies the static arrays (candidates, limits).

        ``compiled``: settle partitions without boundary candidates with the numba kernel
        (``shields.kernel``, identical decisions); True = from the first round, None = when numba is
        installed and the NumPy path has cost as much as loading it would (``kernel.worth_loading``),
        False = NumPy only.
        """
        if compiled and not kernel.available():
            raise ValueError("compiled=True needs numba (a dependency of the package: pip install numba)")
        self.labels = labels = np.asarray(labels, dtype=np.int64)
        self.n_regions = int(labels.max()) + 1
        n = len(labels)
        cand = np.asarray(state.candidates, dtype=np.int64)
        self.candidates = cand
        self.all_local = self.n_regions == 1 or bool(np.all(labels[cand] == labels[:, None]))
        if self.n_regions == 1:  # one table over all edges: entry e is edge e
            self.edge_of = np.arange(n)
            self.cand_entry = cand
            self.owner_entry = self.edge_of
        else:  # entry (r, e) for every region r and edge e it knows, sorted by r * N + e
            keys = np.concatenate([labels * n + np.arange(n), (labels[:, None] * n + cand).ravel()])
            known = np.unique(keys)
            self.edge_of = known % n
            self.cand_entry = known.searchsorted(labels[:, None] * n + cand)  # [N, C] own region's entries
            self.owner_entry = known.searchsorted(labels * n + np.arange(n))  # [N] each edge's owner entry
        self.is_local = labels[cand] == labels[:, None]  # [N, C] candidate owned by the agent's region
        self.slot_limit = np.asarray(state.slot_limit, dtype=float)[self.edge_of]
        self.mem_limit = np.asarray(state.mem_limit, dtype=float)[self.edge_of]
        self.cores = np.asarray(state.cores, dtype=float)[self.edge_of]
        self.compiled = self.all_local and (kernel.available() if compiled is None else bool(compiled))
        self.deferred = self.compiled and compiled is None
        """The kernel is used once ``kernel.worth_loading()`` (until then NumPy settles, timed)."""

    def resolve(
        self,
        state: RoundState,
        actions: np.ndarray,
        priority: np.ndarray,
        ranks: np.ndarray | LazyPreferenceRanks | None = None,
        has_pref: np.ndarray | None = None,
    ) -> Resolution:
        """Settle the joint action ``actions`` [N]: a safe joint action and the protocol's figures.

        ``priority`` [N] ranks (lower keeps its target first); ``ranks``/``has_pref`` from
        ``core.preference_ranks``, or ``ranks`` a ``core.LazyPreferenceRanks`` (``has_pref`` None), or None
        (least-loaded alternatives).

        ``conflicts`` comes for free from round 0, which settles exactly the original requests: an edge's
        original requests all fit together iff none of them is denied (granting is a prefix, and in
        round 0 every table holds the start-of-round load), so the edges with a round-0 denial are
        ``core.colliding_edges(state, actions)`` (the property tests check this).
        """
        n = state.n_agents
        out = Resolution(
            actions=np.array(actions, dtype=np.int64),
            answered=np.full(n, -1, dtype=np.int64),
            via_boundary=np.zeros(n, dtype=bool),
            boundary_requests=np.zeros(n, dtype=np.int64),
            local_checks=np.zeros(self.n_regions, dtype=np.int64),
            conflicts=np.zeros(n, dtype=bool),
        )
        requests = requests_of(state, actions)
        if not self.compiled:
            return self._resolve_numpy(out, requests, priority, ranks, has_pref, state)
        if not self.deferred or kernel.worth_loading():
            return self._resolve_compiled(state, out, requests, priority, ranks, has_pref)
        started = time.perf_counter()  # deferred: NumPy settles, and its time counts towards loading the kernel
        try:
            return self._resolve_numpy(out, requests, priority, ranks, has_pref, state)
        finally:
            kernel.charge_numpy(time.perf_counter() - started)

    def _resolve_numpy(
        self,
        out: Resolution,
        requests: np.ndarray,
        priority: np.ndarray,
        ranks: np.ndarray | LazyPreferenceRanks | None,
        has_pref: np.ndarray | None,
        state: RoundState,
    ) -> Resolution:
        """``resolve`` in NumPy: a fixed number of array operations per coordination round."""
        hold = state.n_candidates
        edge_of, cand_entry = self.edge_of, self.cand_entry
        slots = state.committed_slots[edge_of].astype(float)  # every region's table, one flat array
        mem = state.committed_mem[edge_of].astype(float)
        slot_limit, mem_limit = self.slot_limit, self.mem_limit
        demand = state.demand_mem
        original = out.actions
        pending = requests.nonzero()[0]  # agents still to place, ascending
        max_rounds = int(len(pending)) * (hold + 1) + 2
        local_checks = np.zeros(self.n_regions, dtype=np.int64)
        k = 0
        while len(pending):
            if k >= max_rounds:  # unreachable (see module docstring); hold is the safe answer
                out.actions[pending] = hold
                out.answered[pending] = k
                break
            rows = pending
            # A. proposals of every region at once, each against its own region's table
            if k == 0:  # round 0 carries the original requests only, so alternatives never displace them
                choice = original[rows]
            else:
                ce = cand_entry[rows]
                fit = fits(slots[ce], mem[ce], slot_limit[ce], mem_limit[ce], demand[rows, None])
                if isinstance(ranks, LazyPreferenceRanks):
                    row_ranks, row_has = ranks.rows(rows)
                else:
                    row_ranks = None if ranks is None else ranks[rows]
                    row_has = None if has_pref is None else has_pref[rows]
                keys = order_keys(original[rows], slots[ce] / self.cores[ce], row_ranks, row_has)
                choice = choose_candidates(fit, keys)
                go = choice >= 0
                if not go.all():
                    none = rows[~go]  # nothing fits: hold
                    out.actions[none] = hold
                    out.answered[none] = k
                    rows, choice = rows[go], choice[go]
            entry = cand_entry[rows, choice]
            if self.all_local:
                local = None
                lrows, lchoice, lentry = rows, choice, entry
            else:
                local = self.is_local[rows, choice]
                lrows, lchoice, lentry = rows[local], choice[local], entry[local]

            # B. local requests, settled against the owners' exact tables. From round 1 on every proposal fits
            # alone; in round 0 ``grant_prefix`` drops the originals that do not, and they choose in round 1.
            granted = grant_prefix(
                lentry, demand[lrows], priority[lrows], slots, mem, slot_limit, mem_limit, fit_alone=k > 0
            )
            if self.n_regions == 1:
                local_checks[0] += len(lrows)
            else:
                local_checks += np.bincount(self.labels[lrows], minlength=self.n_regions)
            if k == 0:
                out.conflicts[edge_of[lentry[~granted]]] = True
            won = lrows[granted]
            out.actions[won] = lchoice[granted]
            out.answered[won] = k
            pending = lrows[~granted]
            traffic = _NO_TRAFFIC
            if local is not None and not local.all():
                pending, traffic = self._boundary(k, out, rows[~local], choice[~local], entry[~local],
                                                  slots, mem, demand, priority, pending)
            out.traffic.append(traffic)
            k += 1
        out.rounds = k
        out.local_checks = local_checks
        return out

    def _boundary(
        self,
        k: int,
        out: Resolution,
        brows: np.ndarray,
        bchoice: np.ndarray,
        bentry: np.ndarray,
        slots: np.ndarray,
        mem: np.ndarray,
        demand: np.ndarray,
        priority: np.ndarray,
        pending: np.ndarray,
    ) -> tuple[np.ndarray, RoundTraffic]:
        """Boundary requests of round ``k`` (rows ``brows`` proposing candidates ``bchoice``, requester table
        entries ``bentry``): send, serve (phase C), reply (phase D). Returns the pending agents and the traffic."""
        slot_limit, mem_limit = self.slot_limit, self.mem_limit
        if k == 0:  # only originals that fit the requester's table are sent
            fit = fits(slots[bentry], mem[bentry], slot_limit[bentry], mem_limit[bentry], demand[brows])
            if not fit.all():
                out.conflicts[self.edge_of[bentry[~fit]]] = True
                pending = np.concatenate([pending, brows[~fit]])
                brows, bchoice, bentry = brows[fit], bchoice[fit], bentry[fit]
        if len(brows) == 0:
            pending.sort()
            return pending, _NO_TRAFFIC
        targets = self.candidates[brows, bchoice]
        src, dst = self.labels[brows], self.labels[targets]
        bdemand, bpriority = demand[brows], priority[brows]
        out.boundary_requests[brows] += 1
        out.transcript.append(Requests(src, brows, targets, bdemand, bpriority))
        # C. every owner serves the requests to its edges, against its table after its local grants
        owner = self.owner_entry[targets]
        granted = grant_prefix(owner, bdemand, bpriority, slots, mem, slot_limit, mem_limit)
        if k == 0:
            out.conflicts[targets[~granted]] = True
        out.messages += 2 * len(brows)  # a request and a reply each
        # D. requesters learn the owners' loads after serving; granted agents are placed
        slots[bentry] = np.maximum(slots[bentry], slots[owner])
        mem[bentry] = np.maximum(mem[bentry], mem[owner])
        won = brows[granted]
        out.actions[won] = bchoice[granted]
        out.answered[won] = k
        out.via_boundary[won] = True
        pending = np.concatenate([pending, brows[~granted]])
        pending.sort()
        pair = np.unique(dst * self.n_regions + src)
        owners, served = np.unique(dst, return_counts=True)
        traffic = RoundTraffic(src=pair % self.n_regions, dst=pair // self.n_regions, owners=owners, served=served)
        return pending, traffic

    def _resolve_compiled(
        self,
        state: RoundState,
        out: Resolution,
        requests: np.ndarray,
        priority: np.ndarray,
        ranks: np.ndarray | LazyPreferenceRanks | None,
        has_pref: np.ndarray | None,
    ) -> Resolution:
        """``resolve`` of an all-local partition with the compiled kernel (no boundary traffic)."""
        if isinstance(ranks, LazyPreferenceRanks):  # the kernel ranks the agents it moves from the scores
            scores = np.ascontiguousarray(ranks.preferences[:, : state.n_candidates], dtype=float)
            pref_args = (scores, _NO_PREF, 2)
        elif ranks is not None:
            pref_args = (np.asarray(ranks, dtype=float), np.asarray(has_pref, dtype=bool), 1)
        else:
            pref_args = (_NO_RANKS, _NO_PREF, 0)
        actions, out.answered, out.conflicts, out.local_checks, rounds = kernel.resolve_local(
            self.cand_entry, out.actions, requests, np.asarray(state.demand_mem, dtype=float),
            np.asarray(priority, dtype=float),
            state.committed_slots[self.edge_of].astype(float), state.committed_mem[self.edge_of].astype(float),
            self.slot_limit, self.mem_limit, self.cores,
            *pref_args, state.n_candidates, self.labels, self.n_regions, self.edge_of,
        )
        out.actions = actions
        out.rounds = int(rounds)
        out.traffic = [_NO_TRAFFIC] * out.rounds
        return out


_NO_RANKS = np.zeros((1, 1))
_NO_PREF = np.zeros(1, dtype=bool)
