"""Auditing a shielded round: re-derive the shield guarantees from the round's state, independently.

Used by the tests and ``scripts/experiments/shield_safety_sweep.py``; also handy to check a new shield. Given the
state at the start of a round, the joint action the agents chose and the joint action the cluster ran,
``audit`` counts every breach of the guarantees (all counts are 0 for a correct shield):

* ``overloaded_edges``: edges whose committed load passes a threshold because of the round's new tasks
  (an edge that was already past a threshold must receive no new task);
* ``missed_alternatives``: agents that asked for a candidate, were displaced and hold although one of
  their candidates fits the final load;
* ``order_violations``: rewritten agents with a candidate they rank above the one they got (their
  original action always ranks first; then their preferences when given) that fits the final load;
* ``touched``: agents without a request (no pending task, or ``hold``) whose action was changed;
* ``needless_rewrites``: requests that fit alone, on a target whose requests that fit alone fit
  together (no conflict), that were rewritten anyway.

``collisions_unshielded`` is the simulator's collision count had the original joint action run as is:
edges receiving new tasks from two or more agents, each fitting alone, that overload together;
``overloads_unshielded`` counts the edges the original joint action pushes past a threshold.
"""

from __future__ import annotations

import numpy as np

from shields.core import RoundState, preference_ranks


def _load_after(state: RoundState, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Workers [N], bytes [N] and new-task count [N] of every edge with the tasks of ``targets`` (-1: none)."""
    n = state.n_agents
    placed = targets >= 0
    new = np.bincount(targets[placed], minlength=n)
    mem = state.committed_mem + np.bincount(targets[placed], weights=state.demand_mem[placed], minlength=n)
    return state.committed_slots + new, mem, new


def _targets(state: RoundState, actions: np.ndarray) -> np.ndarray:
    c = state.n_candidates
    req = state.has_task & (actions < c)
    return np.where(req, state.candidates[np.arange(state.n_agents), np.minimum(actions, c - 1)], -1)


def audit(
    state: RoundState, original: np.ndarray, executed: np.ndarray, preferences: np.ndarray | None = None
) -> dict[str, int]:
    """Breaches of the shield guarantees in one round (see module docstring); ``preferences`` [N, A] or None."""
    n, c = state.n_agents, state.n_candidates
    original = np.asarray(original)
    executed = np.asarray(executed)
    asked = state.has_task & (original < c)

    # overloads caused by the executed round's new tasks
    t_exec = _targets(state, executed)
    slots, mem, new = _load_after(state, t_exec)
    over = (slots > state.slot_limit) | (mem > state.mem_limit)
    overloaded = int(np.count_nonzero(over & (new > 0)))

    # which candidates fit the final load, for every agent
    cs, cm = slots[state.candidates], mem[state.candidates]
    fit_final = (cs + 1.0 <= state.slot_limit[state.candidates]) & (
        cm + state.demand_mem[:, None] <= state.mem_limit[state.candidates]
    )
    held = asked & (executed >= c)
    missed = int(np.count_nonzero(held & fit_final.any(axis=1)))

    # candidates ranked above the one received: the original, then (with preferences) better-ranked ones
    rewritten = asked & (executed != original)
    ahead = np.zeros((n, c), dtype=bool)
    ahead[np.arange(n), np.minimum(original, c - 1)] = True
    if preferences is not None:
        ranks, has_pref = preference_ranks(preferences, c)
        got = np.where(executed < c, ranks[np.arange(n), np.minimum(executed, c - 1)], np.inf)
        ahead |= has_pref[:, None] & (ranks < got[:, None])
    ahead[held] = True
    placed = np.flatnonzero(asked & (executed < c))
    ahead[placed, executed[placed]] = False  # the candidate received is not ahead of itself
    order_violations = int(np.count_nonzero(rewritten & (ahead & fit_final).any(axis=1)))

    touched = int(np.count_nonzero(~asked & (executed != original)))

    # requests without conflict: fit alone, and all fitting-alone requests to the target fit together
    t_orig = _targets(state, original)
    t0 = np.maximum(t_orig, 0)
    alone = asked & (state.committed_slots[t0] + 1.0 <= state.slot_limit[t0]) & (
        state.committed_mem[t0] + state.demand_mem <= state.mem_limit[t0]
    )
    s_alone, m_alone, _ = _load_after(state, np.where(alone, t_orig, -1))
    calm = alone & (s_alone[t0] <= state.slot_limit[t0]) & (m_alone[t0] <= state.mem_limit[t0])
    needless = int(np.count_nonzero(calm & (executed != original)))

    # what the original joint action would have done
    s_o, m_o, new_o = _load_after(state, t_orig)
    over_o = (s_o > state.slot_limit) | (m_o > state.mem_limit)
    fitting_new = np.bincount(t_orig[alone], minlength=n)
    return {
        "overloaded_edges": overloaded,
        "missed_alternatives": missed,
        "order_violations": order_violations,
        "touched": touched,
        "needless_rewrites": needless,
        "collisions_unshielded": int(np.count_nonzero(over_o & (fitting_new >= 2))),
        "overloads_unshielded": int(np.count_nonzero(over_o & (new_o > 0))),
    }


BREACHES = ("overloaded_edges", "missed_alternatives", "order_violations", "touched", "needless_rewrites")
"""The ``audit`` counts that must be 0 behind a correct shield."""
