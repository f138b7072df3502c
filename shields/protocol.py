"""Region shields and the request/grant/deny protocol between them.

The cluster is split into regions (``shields.regions``); one ``RegionShield`` per region *owns* the
capacity of its edges: only it grants tasks onto them, so no edge is ever committed by two shields.
It also serves the agents of its region. A central shield is the same machinery with one region.

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
   against its exact table. The rest are boundary requests: one *request message* each, appended
   (as one batch per destination) to the owner's inbox deque.
C. **Serve inboxes.** Every owner drains its inbox and settles all those requests together with
   ``grant_prefix`` (priority ranks travel in the messages) against its table, after its own local
   grants of this round (local requests first). It answers each with a *reply message* (grant or deny)
   carrying the edge's load after serving, appended to the requester's reply deque.
D. **Read replies.** Requesters update their tables from the replies; granted agents are done, denied
   ones propose again in round k + 1 (the same edge if it still fits, else their next choice).

Termination: in every coordination round either some request is granted (the first request of each
target in priority order that fits alone always is) or every request to some edge fails to fit even
alone, and the deny teaches its requesters that this edge will not fit for the rest of the round.
So at most ``requests x (C + 1) + 1`` rounds; in practice a handful. Messages (request + reply each) are
exchanged only for boundary requests. All per-request work is vectorized per region; Python loops run
over regions only, and only over regions with work in the current round.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from shields.core import RoundState, choose_candidates, fits, grant_prefix, order_keys, requests_of


@dataclass
class Requests:
    """A batch of request messages from region ``src`` to the owner of every ``targets`` edge (rows [P])."""

    src: int
    agents: np.ndarray  # requesting agents (global index)
    targets: np.ndarray  # requested edges (global index), all owned by the receiver
    demand: np.ndarray  # bytes of memory each task needs
    priority: np.ndarray  # priority rank of each request (lower keeps its target first)


@dataclass
class Replies:
    """A batch of grant/deny replies to one region shield, with the owner's load after serving (rows [P])."""

    agents: np.ndarray
    targets: np.ndarray
    granted: np.ndarray  # bool
    slots: np.ndarray  # workers committed to the target after the owner served its queue
    mem: np.ndarray  # bytes committed to the target after the owner served its queue


@dataclass
class RoundTraffic:
    """Boundary traffic of one coordination round (for the latency model)."""

    src: np.ndarray  # [m] requesting region of each (src, dst) pair that exchanged messages
    dst: np.ndarray  # [m] owning region of that pair
    owners: np.ndarray  # [o] regions that served an inbox this round
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
    transcript: list[Requests] = field(default_factory=list)  # every request batch delivered
    messages: int = 0  # request + reply messages
    rounds: int = 0  # coordination rounds run


class RegionShield:
    """The shield of one region: owns its edges' capacity, serves its agents (see module docstring)."""

    def __init__(
        self,
        region: int,
        members: np.ndarray,
        candidates: np.ndarray,
        owner: np.ndarray,
        slot_limit: np.ndarray,
        mem_limit: np.ndarray,
        cores: np.ndarray,
    ):
        self.region = region
        self.members = members  # sorted agent (= edge) indices of the region
        self.cand_global = candidates[members]  # [M, C]
        self.known = np.unique(np.concatenate([members, self.cand_global.ravel()]))  # edges in the table
        self.cand_local = np.searchsorted(self.known, self.cand_global)  # [M, C] rows of the table
        self.owner_of_known = owner[self.known]
        self.all_local = bool(np.all(self.owner_of_known == region))  # no candidate outside the region
        self.slot_limit = slot_limit[self.known]
        self.mem_limit = mem_limit[self.known]
        self.cores = cores[self.known]
        self.inbox: deque[Requests] = deque()
        self.replies: deque[Replies] = deque()

    # ------------------------------------------------------------------ one decision round
    def begin(
        self,
        state: RoundState,
        actions: np.ndarray,
        requests: np.ndarray,
        priority: np.ndarray,
        ranks: np.ndarray | None,
        has_pref: np.ndarray | None,
    ) -> None:
        """Load the table from the round's reports and queue the region's requests (``requests`` bool [N])."""
        m = self.members
        self.slots = state.committed_slots[self.known].astype(float)
        self.mem = state.committed_mem[self.known].astype(float)
        self.demand = state.demand_mem[m]
        self.priority = priority[m]
        self.original = actions[m]  # read only at pending rows, whose actions name a candidate
        self.ranks = None if ranks is None else ranks[m]
        self.has_pref = None if has_pref is None else has_pref[m]
        self.pending = requests[m].nonzero()[0]  # member rows still to place
        if not self.all_local:  # candidate index of each in-flight boundary request
            self.asked = np.full(len(m), -1, dtype=np.int64)
        self.local_checks = 0
        self.inbox.clear()
        self.replies.clear()

    def propose_and_grant(self, k: int, out: Resolution, hold: int, shields: list[RegionShield]) -> set[int]:
        """Phases A and B for the pending agents; returns the regions whose inbox got requests."""
        rows = self.pending
        original = self.original[rows]
        if k == 0:  # round 0 carries the original requests only, so alternatives never displace them
            choice = original
            table_row = self.cand_local[rows, original]
        else:
            cl = self.cand_local[rows]
            fit = fits(self.slots[cl], self.mem[cl], self.slot_limit[cl], self.mem_limit[cl], self.demand[rows, None])
            keys = order_keys(
                original, self.slots[cl] / self.cores[cl],
                None if self.ranks is None else self.ranks[rows],
                None if self.has_pref is None else self.has_pref[rows],
            )
            choice = choose_candidates(fit, keys)
            go = choice >= 0
            if not go.all():
                none = self.members[rows[~go]]  # nothing fits: hold
                out.actions[none] = hold
                out.answered[none] = k
                rows, choice = rows[go], choice[go]
            table_row = self.cand_local[rows, choice]
        if self.all_local:
            all_local = True
        else:
            local = self.owner_of_known[table_row] == self.region
            all_local = bool(local.all())

        # B. local requests: settled here against the exact table. From round 1 on every proposal fits it
        # alone; in round 0 ``grant_prefix`` drops the originals that do not, and they choose in round 1.
        if all_local:
            lrows, lchoice, ltable = rows, choice, table_row
        else:
            lrows, lchoice, ltable = rows[local], choice[local], table_row[local]
        granted = grant_prefix(
            ltable, self.demand[lrows], self.priority[lrows],
            self.slots, self.mem, self.slot_limit, self.mem_limit, fit_alone=k > 0,
        )
        self.local_checks += len(lrows)
        if k == 0:
            out.conflicts[self.known[ltable[~granted]]] = True
        won = self.members[lrows[granted]]
        out.actions[won] = lchoice[granted]
        out.answered[won] = k
        self.pending = lrows[~granted]
        if all_local:
            return set()

        # boundary requests: one message each, batched per owner; in round 0 only originals that fit the table
        brows, bchoice, btable = rows[~local], choice[~local], table_row[~local]
        if k == 0:
            fit = fits(self.slots[btable], self.mem[btable], self.slot_limit[btable], self.mem_limit[btable],
                       self.demand[brows])
            out.conflicts[self.known[btable[~fit]]] = True
            self.pending = np.concatenate([self.pending, brows[~fit]])
            self.pending.sort()
            brows, bchoice, btable = brows[fit], bchoice[fit], btable[fit]
            if len(brows) == 0:
                return set()
        self.asked[brows] = bchoice
        agents = self.members[brows]
        targets = self.cand_global[brows, bchoice]
        owners = self.owner_of_known[btable]
        out.boundary_requests[agents] += 1
        out.messages += len(brows)
        order = np.argsort(owners, kind="stable")
        dests, starts = np.unique(owners[order], return_index=True)
        for dst, idx in zip(dests.tolist(), np.split(order, starts[1:])):
            batch = Requests(self.region, agents[idx], targets[idx], self.demand[brows[idx]], self.priority[brows[idx]])
            shields[dst].inbox.append(batch)
            out.transcript.append(batch)
        return set(dests.tolist())

    def serve_inbox(self, k: int, out: Resolution, shields: list[RegionShield]) -> tuple[int, np.ndarray]:
        """Phase C of round ``k``: settle every queued request against the table; reply to each.

        Returns (requests served, source regions)."""
        batches = []
        while self.inbox:
            batches.append(self.inbox.popleft())
        src = np.concatenate([np.full(len(b.agents), b.src) for b in batches])
        agents = np.concatenate([b.agents for b in batches])
        targets = np.concatenate([b.targets for b in batches])
        demand = np.concatenate([b.demand for b in batches])
        priority = np.concatenate([b.priority for b in batches])
        table_row = self.known.searchsorted(targets)
        granted = grant_prefix(table_row, demand, priority, self.slots, self.mem, self.slot_limit, self.mem_limit)
        if k == 0:
            out.conflicts[targets[~granted]] = True
        slots_after, mem_after = self.slots[table_row], self.mem[table_row]
        out.messages += len(agents)
        for b in batches:  # one reply batch per request batch (at most one per source region)
            idx = src == b.src
            shields[b.src].replies.append(
                Replies(agents[idx], targets[idx], granted[idx], slots_after[idx], mem_after[idx])
            )
        return len(agents), np.array([b.src for b in batches], dtype=np.int64)

    def read_replies(self, k: int, out: Resolution) -> None:
        """Phase D: learn the owners' loads; granted agents are placed, denied ones propose again."""
        while self.replies:
            r = self.replies.popleft()
            rows = self.members.searchsorted(r.agents)
            table_row = self.known.searchsorted(r.targets)
            self.slots[table_row] = np.maximum(self.slots[table_row], r.slots)
            self.mem[table_row] = np.maximum(self.mem[table_row], r.mem)
            won = rows[r.granted]
            out.actions[r.agents[r.granted]] = self.asked[won]
            out.answered[r.agents[r.granted]] = k
            out.via_boundary[r.agents[r.granted]] = True
            self.pending = np.concatenate([self.pending, rows[~r.granted]])
        self.pending.sort()


class Coordinator:
    """All region shields of a partition and the synchronous rounds that settle a joint action."""

    def __init__(self, labels: np.ndarray, state: RoundState):
        """``labels`` [N]: region of every edge; ``state`` supplies the static arrays (candidates, limits)."""
        self.labels = np.asarray(labels, dtype=np.int64)
        self.n_regions = int(self.labels.max()) + 1
        self.shields = [
            RegionShield(
                r, np.flatnonzero(self.labels == r), state.candidates, self.labels,
                state.slot_limit, state.mem_limit, state.cores,
            )
            for r in range(self.n_regions)
        ]

    def resolve(
        self,
        state: RoundState,
        actions: np.ndarray,
        priority: np.ndarray,
        ranks: np.ndarray | None = None,
        has_pref: np.ndarray | None = None,
    ) -> Resolution:
        """Settle the joint action ``actions`` [N]: a safe joint action and the protocol's figures.

        ``priority`` [N] ranks (lower keeps its target first); ``ranks``/``has_pref`` from
        ``core.preference_ranks`` or None (least-loaded alternatives).

        ``conflicts`` comes for free from round 0, which settles exactly the original requests: an edge's
        original requests all fit together iff none of them is denied (granting is a prefix, and in
        round 0 every table holds the start-of-round load), so the edges with a round-0 denial are
        ``core.colliding_edges(state, actions)`` (the property tests check this).
        """
        n, hold = state.n_agents, state.n_candidates
        out = Resolution(
            actions=np.array(actions, dtype=np.int64),
            answered=np.full(n, -1, dtype=np.int64),
            via_boundary=np.zeros(n, dtype=bool),
            boundary_requests=np.zeros(n, dtype=np.int64),
            local_checks=np.zeros(self.n_regions, dtype=np.int64),
            conflicts=np.zeros(n, dtype=bool),
        )
        requests = requests_of(state, actions)
        for sh in self.shields:
            sh.begin(state, actions, requests, priority, ranks, has_pref)
        active = [sh for sh in self.shields if len(sh.pending)]
        max_rounds = int(np.count_nonzero(requests)) * (hold + 1) + 2
        k = 0
        while active:
            if k >= max_rounds:  # unreachable (see module docstring); hold is the safe answer
                for sh in active:
                    out.actions[sh.members[sh.pending]] = hold
                    out.answered[sh.members[sh.pending]] = k
                break
            inboxes: set[int] = set()
            for sh in active:
                inboxes |= sh.propose_and_grant(k, out, hold, self.shields)
            out.traffic.append(self._exchange(inboxes, k, out) if inboxes else _NO_TRAFFIC)
            k += 1
            active = [sh for sh in self.shields if len(sh.pending)]
        out.rounds = k
        for sh in self.shields:
            out.local_checks[sh.region] = sh.local_checks
        return out

    def _exchange(self, inboxes: set[int], k: int, out: Resolution) -> RoundTraffic:
        """Phases C and D of round ``k``: owners serve their inboxes, requesters read the replies."""
        src, dst, owners, served = [], [], [], []
        for r in sorted(inboxes):
            count, sources = self.shields[r].serve_inbox(k, out, self.shields)
            src.append(sources)
            dst.append(np.full(len(sources), r))
            owners.append(r)
            served.append(count)
        src_all = np.concatenate(src)
        for r in sorted(set(src_all.tolist())):
            self.shields[r].read_replies(k, out)
        return RoundTraffic(
            src=src_all,
            dst=np.concatenate(dst),
            owners=np.array(owners, dtype=np.int64),
            served=np.array(served, dtype=np.int64),
        )
