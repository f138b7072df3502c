"""Priority rules: which requests keep their target when a target edge cannot take them all.

A rule maps the round's state, the joint action and the learner's preferences (or None) to a key [N]
(higher keeps its target first). Ties, and rules without an opinion, are broken by a random ticket per
agent drawn each round from the shield's seeded generator, so a shield is deterministic under a seed.

* ``urgency`` (default): the head task that has waited longest keeps its target (shortens the tail
  of job completion times; needs nothing from the learner).
* ``preference``: the agent that loses most by moving keeps its target: its preference for the
  requested action minus its preference for its best other candidate (a Q-value gap, or a probability
  gap). An agent whose other candidates are all ``-inf`` (masked) has an infinite margin. Without
  preferences every margin is 0 and the random ticket decides.
* ``random``: the random ticket alone (a seeded lottery).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shields import kernel
from shields.core import RoundState, distinct_key_order

COMPILED_MAX = 20_000
"""Largest N whose ranks come from ``shields.kernel.lex_ranks`` once the kernel is loaded (beyond, NumPy's SIMD
quicksort of one key is faster than two compiled merge sorts)."""

PriorityRule = Callable[[RoundState, np.ndarray, "np.ndarray | None"], np.ndarray]
_BIG = 1e300


def urgency(state: RoundState, actions: np.ndarray, preferences: np.ndarray | None) -> np.ndarray:
    """Key [N]: seconds each agent's head task has waited."""
    return state.wait_s


def preference_margin(state: RoundState, actions: np.ndarray, preferences: np.ndarray | None) -> np.ndarray:
    """Key [N]: preference of the requested candidate minus the best other candidate's (0 without one)."""
    n, c = state.n_agents, state.n_candidates
    if preferences is None:
        return np.zeros(n)
    scores = np.nan_to_num(np.asarray(preferences, dtype=float)[:, :c], nan=-_BIG, posinf=_BIG, neginf=-_BIG)
    chosen = np.minimum(actions, c - 1)
    own = np.take_along_axis(scores, chosen[:, None], axis=1)[:, 0]
    others = scores.copy()
    np.put_along_axis(others, chosen[:, None], -np.inf, axis=1)
    best_other = others.max(axis=1) if c > 1 else np.full(n, -_BIG)
    margin = own - best_other
    return np.where(np.isfinite(margin), margin, 0.0)


def no_preference(state: RoundState, actions: np.ndarray, preferences: np.ndarray | None) -> np.ndarray:
    """Key [N]: all equal, so the seeded random ticket alone decides."""
    return np.zeros(state.n_agents)


PRIORITY_RULES: dict[str, PriorityRule] = {
    "urgency": urgency,
    "preference": preference_margin,
    "random": no_preference,
}
"""Name -> rule; pass the name as ``priority=`` to a shield."""


def check_rule(name: str) -> PriorityRule:
    """The rule called ``name``, or a ``ValueError`` that lists the known rules."""
    if name not in PRIORITY_RULES:
        raise ValueError(f"priority: unknown priority rule {name!r}; choose one of {sorted(PRIORITY_RULES)}")
    return PRIORITY_RULES[name]


def priority_ranks(key: np.ndarray, ticket: np.ndarray) -> np.ndarray:
    """Rank [N] of every agent (0 = keeps its target first): by key descending, then ticket ascending.

    Up to ``COMPILED_MAX`` agents with the compiled kernel loaded: ``shields.kernel.lex_ranks``. Otherwise the
    order of ``np.lexsort((ticket, -key))`` (ties of both by agent index) from NumPy's SIMD quicksort, about a
    third of lexsort's merge sorts at N = 100,000: the dense rank of ``-key`` plus the ticket is one float sort
    key; adding rounds monotonically, so an order with no equal sort keys is lexsort's, and any equal keys (tied
    or rounded-together tickets) or a ``NaN`` fall back to ``np.lexsort``.
    """
    neg = -np.asarray(key, dtype=float)
    ticket = np.asarray(ticket, dtype=float)
    n = len(neg)
    if n <= COMPILED_MAX:  # a few calls' overhead, where the sorts' work is small: two stable sorts, compiled
        ranks = kernel.lex_ranks(neg, ticket)
        if ranks is not None:
            return ranks
    by_key = np.argsort(neg)
    neg_sorted = neg[by_key]
    key_steps = neg_sorted[1:] != neg_sorted[:-1]
    if n and np.isnan(neg_sorted[-1]):
        order = np.lexsort((ticket, neg))
    elif key_steps.all():  # no tied keys: the ticket decides nothing
        order = by_key
    else:
        if key_steps.any():
            sort_key = np.empty(n)
            sort_key[by_key] = np.concatenate(([0.0], np.cumsum(key_steps, dtype=float)))
            sort_key += ticket
        else:  # one key for all: the ticket alone
            sort_key = ticket
        order = distinct_key_order(sort_key)
        if order is None:
            order = np.lexsort((ticket, neg))
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n)
    return ranks
