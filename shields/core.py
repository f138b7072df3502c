"""The shield core: projected load, collision detection, preference orders and vectorized granting.

Every shield (central or decentralized) is built from these functions; the partitions differ only in
*who* runs them on *which* requests (``shields.protocol``).

Terms, for one decision round (all arrays are over agents [N] or edges [N], C candidates per agent):

* a *request* is an agent with a pending head task whose action names a candidate (not ``hold``);
* a request *fits* on edge ``e`` when ``slots[e] + 1 <= slot_limit[e]`` and
  ``mem[e] + demand <= mem_limit[e]``, where ``slots``/``mem`` are the committed load plus the tasks
  already granted this round (the simulator's own overload thresholds, so "fits" here is exactly the
  environment's ``action_mask`` at the start of the round);
* a *collision* is a target edge whose projected load (commitments plus every request of the joint
  action) passes a threshold although it did not before the round.

Granting (``grant_prefix``), all requests of a pass at once, no loop over agents:

1. drop the requests that do not fit alone on their target (against the load granted so far);
2. ``np.lexsort`` the rest by (target, priority rank) so each target's requests form one run,
   highest priority first;
3. within each run, the running count and the cumulative memory of the requests (``np.cumsum`` minus
   the run's offset) are added to the target's load; a request is granted when both still fit.
   Every request needs one slot and a non-negative amount of memory, so both totals only grow along a
   run: the granted requests are exactly a prefix of it, and the first request of every run is granted.

Choosing proposals (``choose_candidates``): an agent's *order* over its candidates is its original
action first, then its preference order (higher preference first, ``NaN`` last, ties by candidate
index) when the learner gives one, else least loaded first (committed workers / cores under the load
the proposer knows, ties by candidate index). The first pass carries the original requests only; in
every later pass an unresolved agent proposes the first candidate in its order that fits under the load
it knows; an agent with no such candidate holds, which is always safe. Because loads only grow within
a round, a candidate that does not fit once never fits again, so when an agent holds none of its
candidates fits the final load either.

So a requesting agent holds only when none of its candidates fits, even a candidate its learner scored
``-inf``: the shield's capacity check, not the learner's mask, decides what is safe. ``hold`` preferences
are ignored for the same reason (an agent that wanted to hold asked for ``hold`` and is left alone).

Memory sums are exact when task memory demands are whole numbers of bytes (the default workload's
are), so the granted totals here and the simulator's totals agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from srole_env.round_state import RoundState


def requests_of(state: RoundState, actions: np.ndarray) -> np.ndarray:
    """bool [N]: agents whose action is a request (a pending task sent to a candidate, not ``hold``)."""
    return state.has_task & (actions < state.n_candidates)


def targets_of(state: RoundState, actions: np.ndarray) -> np.ndarray:
    """Target edge [N] each agent's action names, -1 for ``hold`` or no pending task."""
    req = requests_of(state, actions)
    cand = np.minimum(actions, state.n_candidates - 1)
    return np.where(req, state.candidates[np.arange(state.n_agents), cand], -1)


def fits(
    slots: np.ndarray, mem: np.ndarray, slot_limit: np.ndarray, mem_limit: np.ndarray, demand: np.ndarray
) -> np.ndarray:
    """Elementwise: one more worker of ``demand`` bytes fits on an edge with load ``slots``/``mem``.

    This is the safety test every shield applies; it is the simulator's own threshold test.
    """
    return (slots + 1.0 <= slot_limit) & (mem + demand <= mem_limit)


def _added_load(state: RoundState, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Workers [N] and bytes [N] that requests with ``targets`` [N] (-1: none) add to every edge."""
    req = targets >= 0
    n = state.n_agents
    return (
        np.bincount(targets[req], minlength=n),
        np.bincount(targets[req], weights=state.demand_mem[req], minlength=n),
    )


def projected_load(state: RoundState, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Committed plus requested load [N] (workers, bytes) of every edge if the joint action ran as is."""
    slots, mem = _added_load(state, targets_of(state, actions))
    return state.committed_slots + slots, state.committed_mem + mem


def colliding_edges(state: RoundState, actions: np.ndarray) -> np.ndarray:
    """bool [N]: target edges the joint action would push past a threshold (its new tasks cause it).

    An edge already past a threshold before the round counts when it receives any new task.
    """
    slots, mem = _added_load(state, targets_of(state, actions))
    over = (state.committed_slots + slots > state.slot_limit) | (state.committed_mem + mem > state.mem_limit)
    return (slots > 0) & over


def preference_ranks(preferences: np.ndarray | None, n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Each agent's rank [N, C] of every candidate in its preference order, and which rows have one [N].

    Higher preference ranks first (rank 0); ``NaN`` entries rank last; ties keep candidate order.
    A row that is all ``NaN`` (or ``preferences is None``) has no preference order; the shield falls back
    to least-loaded ordering for that agent. ``-inf`` is a valid (lowest) preference.
    """
    if preferences is None:
        return np.zeros((0, n_candidates)), np.zeros(0, dtype=bool)
    scores = np.asarray(preferences, dtype=float)[:, :n_candidates]
    has_pref = ~np.all(np.isnan(scores), axis=1)
    # argsort of -score is stable and puts NaN last; the rank of a candidate is its position there
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty(order.shape, dtype=float)
    np.put_along_axis(ranks, order, np.arange(n_candidates, dtype=float)[None, :], axis=1)
    return ranks, has_pref


class LazyPreferenceRanks:
    """``preference_ranks`` of one round's preferences [N, A], computed for the rows a resolver asks for.

    Most requests are granted as they stand, so the NumPy resolver ranks only the agents it moves (each row's
    ranks are its own: the rows' result is the same rows of the full one); the compiled kernel computes the ranks
    it needs from ``preferences`` (``shields.kernel``).
    """

    def __init__(self, preferences: np.ndarray, n_candidates: int):
        self.preferences = preferences
        self.n_candidates = n_candidates

    def rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``preference_ranks`` of the agents ``rows``: ranks [len(rows), C] and has_pref [len(rows)]."""
        return preference_ranks(self.preferences[rows], self.n_candidates)


def order_keys(
    original: np.ndarray,
    utilization: np.ndarray,
    ranks: np.ndarray | None = None,
    has_pref: np.ndarray | None = None,
) -> np.ndarray:
    """Sort keys [U, C] (lower first) of U agents' candidates: original action, then preference or load.

    ``original`` [U] is each agent's requested candidate index; ``utilization`` [U, C] the load of each
    candidate as the proposer knows it (used where the agent has no preference order); ``ranks`` [U, C]
    and ``has_pref`` [U] from ``preference_ranks`` (rows of the same agents), or None.
    """
    if ranks is None:
        keys = np.array(utilization, dtype=float)
    else:
        keys = np.where(has_pref[:, None], ranks, utilization)
    keys[np.arange(len(original)), original] = -1.0
    return keys


def choose_candidates(fit: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index [U] of the lowest-key candidate that fits for each of U agents, -1 where none fits."""
    masked = np.where(fit, keys, np.inf)
    best = masked.argmin(axis=1)
    return np.where(fit.any(axis=1), best, -1)


def distinct_key_order(key: np.ndarray) -> np.ndarray | None:
    """``np.argsort(key)`` by NumPy's SIMD quicksort when the keys are all distinct (then every sort gives that
    order, the stable one included), else None (equal keys or a ``NaN``: the caller sorts stably)."""
    order = np.argsort(key)
    sorted_keys = key[order]
    if len(key) and (np.isnan(sorted_keys[-1]) or (sorted_keys[1:] == sorted_keys[:-1]).any()):
        return None
    return order


def target_priority_order(targets: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """``np.lexsort((priority, targets))``: requests by target, then priority, ties by position.

    Integer targets and priorities make one integer sort key that NumPy's SIMD quicksort orders about four times
    faster than lexsort's two merge sorts; an order without equal keys is lexsort's (equal keys, float priorities
    or a key past int64 fall back to lexsort).
    """
    if len(targets) > 1 and targets.dtype.kind in "iu" and priority.dtype.kind in "iu":
        t_min, p_min = int(targets.min()), int(priority.min())
        span = int(priority.max()) - p_min + 1
        if (int(targets.max()) - t_min + 1) * span < 2**62:
            order = distinct_key_order((targets.astype(np.int64) - t_min) * span + (priority.astype(np.int64) - p_min))
            if order is not None:
                return order
    return np.lexsort((priority, targets))


def grant_prefix(
    targets: np.ndarray,
    demand: np.ndarray,
    priority: np.ndarray,
    slots: np.ndarray,
    mem: np.ndarray,
    slot_limit: np.ndarray,
    mem_limit: np.ndarray,
    fit_alone: bool = False,
) -> np.ndarray:
    """Which of P requests to grant, and update ``slots``/``mem`` in place with the granted ones.

    ``targets`` [P] index the load arrays (edges or an owner's local edge table); ``demand`` [P] bytes;
    ``priority`` [P] ranks (lower keeps its target first). Per target, the longest prefix in priority
    order of the requests that fit alone is granted (see the module docstring). Returns bool [P].
    ``fit_alone=True`` says the caller already knows every request fits alone (skips that filter).
    """
    granted = np.zeros(len(targets), dtype=bool)
    if len(targets) == 0:
        return granted
    if fit_alone:
        order = target_priority_order(targets, priority)
    else:
        alone = fits(slots[targets], mem[targets], slot_limit[targets], mem_limit[targets], demand).nonzero()[0]
        if len(alone) == 0:
            return granted
        order = alone[target_priority_order(targets[alone], priority[alone])]
    t = targets[order]
    d = demand[order]
    run_start = t.searchsorted(t)  # t is sorted: the position where each request's run begins
    count = np.arange(1, len(order) + 1) - run_start
    cum = np.add.accumulate(d)
    run_mem = cum - cum[run_start] + d[run_start]
    ok = (slots[t] + count <= slot_limit[t]) & (mem[t] + run_mem <= mem_limit[t])
    won = order[ok]
    granted[won] = True
    slots += np.bincount(targets[won], minlength=len(slots))
    mem += np.bincount(targets[won], weights=demand[won], minlength=len(mem))
    return granted
