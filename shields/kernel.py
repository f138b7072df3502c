"""Optional compiled kernel (numba) for partitions without boundary candidates, e.g. the central shield.

``shields.protocol.Coordinator`` settles a round in NumPy with a fixed number of array operations per
coordination round; at small N (about 100 agents) NumPy's per-call overhead, not the work, dominates a
central shield's step. When numba is installed (a dependency of the package), a partition whose every
candidate is owned by its agent's own region (one region always is) runs this kernel instead: the same
algorithm, one agent and one request at a time, compiled.

It makes exactly the decisions of the NumPy path (``tests/test_shield_kernel.py`` checks both on the
recorded decision fixture and on random states): round 0 settles the original requests, later rounds
propose each pending agent's first fitting candidate in its order (original action, then preference
rank or least utilization, ties by candidate index) against the table as it was at the start of the
round; each round's requests are granted per target in priority order while the running count and
memory fit (``shields.core.grant_prefix``). Memory sums are compared as in the NumPy path, which is exact
for whole-byte demands (see ``shields.core``).

``available()`` says whether numba is installed and not disabled with the environment variable
``SROLE_NUMBA=0``. numba is imported, and the kernel compiled (or loaded from numba's on-disk cache), on
the first ``resolve_local`` call, not at ``import shields``: that first call costs a few seconds after an
install (compiling) and 1.5-2 s later on (importing numba and loading; measured on the 2-core VM of
``docs/benchmarks.md``), and numba with LLVM adds about 110 MiB of resident memory to the process.

**When to load it (ski rental).** A short run at small N spends less in the NumPy path than loading numba
costs (a 2,000-round training at N = 20 behind the central shield: 1.3 s in NumPy, against 2.6 s with the
kernel, its loading included). So a coordinator left to choose (``compiled=None``) settles rounds in NumPy
until this process has spent ``LOAD_COST_S`` in that path, then loads the kernel: never more than about
twice the better of the two choices, whatever the run's length. The decisions are the same either way.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np

_compiled: Any = None

LOAD_COST_S = 1.5
"""Seconds of NumPy settling after which ``worth_loading`` says yes: about numba's import and load cost."""
_numpy_s = 0.0


def available() -> bool:
    """True when the compiled kernel can be used (numba installed, not disabled by ``SROLE_NUMBA=0``)."""
    return os.environ.get("SROLE_NUMBA", "1") != "0" and importlib.util.find_spec("numba") is not None


def loaded() -> bool:
    """True once the kernel is compiled or loaded in this process (from then on it costs nothing more)."""
    return _compiled is not None


def worth_loading() -> bool:
    """Ski rental (module docstring): True once the kernel is loaded or the NumPy path has cost ``LOAD_COST_S``."""
    return loaded() or _numpy_s >= LOAD_COST_S


def charge_numpy(seconds: float) -> None:
    """Add ``seconds`` the NumPy path spent settling a round (``worth_loading`` reads the sum)."""
    global _numpy_s
    _numpy_s += seconds


def load() -> None:
    """Import numba and wrap the kernel now (it compiles, or loads from numba's cache, on its first call), so
    every coordinator uses it from here on: for benchmarks that time the steady state, not the ski rental."""
    global _compiled, _grant_jit, _rank_jit, _has_order_jit, _lex_ranks_jit
    if _compiled is None:
        from numba import njit

        _lex_ranks_jit = njit(cache=True, nogil=True)(_lex_ranks)
        _grant_jit = njit(cache=True, nogil=True)(_grant)
        _rank_jit = njit(cache=True, nogil=True)(_preference_rank)
        _has_order_jit = njit(cache=True, nogil=True)(_has_order)
        _compiled = njit(cache=True, nogil=True)(_resolve_local)


def resolve_local(*args: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The compiled ``_resolve_local`` (compiled on first use; see module docstring)."""
    load()
    return _compiled(*args)


def lex_ranks(neg: np.ndarray, ticket: np.ndarray) -> np.ndarray | None:
    """Ranks [N] in ``np.lexsort((ticket, neg))``'s order (ties of both by index), compiled, once the kernel is
    loaded (else None); None too when a value is ``NaN`` (the caller sorts with NumPy)."""
    if _compiled is None:
        return None
    ranks = _lex_ranks_jit(neg, ticket)
    return ranks if len(ranks) == len(neg) else None


def _lex_ranks(neg, ticket):  # pragma: no cover (compiled; tests/test_shield_scale.py runs both forms)
    """Two stable sorts, by ticket then by ``neg`` (lexsort's order; ``-0.0`` equals ``0.0`` in both); an empty
    array when a value is ``NaN``, whose place in the order this does not reproduce."""
    n = len(neg)
    for i in range(n):
        if np.isnan(neg[i]) or np.isnan(ticket[i]):
            return np.empty(0, dtype=np.int64)
    by_ticket = np.argsort(ticket, kind="mergesort")
    order = by_ticket[np.argsort(neg[by_ticket], kind="mergesort")]
    ranks = np.empty(n, dtype=np.int64)
    for r in range(n):
        ranks[order[r]] = r
    return ranks


def _grant(rows, entry, demand, priority, slots, mem, slot_limit, mem_limit, granted):  # pragma: no cover
    """Grant requests ``rows`` onto table ``entry`` per target in priority order (``grant_prefix`` with
    ``fit_alone=True``); updates the table and ``granted`` (bool over agents)."""
    p = len(rows)
    if p == 0:
        return
    # np.lexsort((priority, entry)): stable sorts by priority, then by entry (ties keep the row order)
    prio = np.empty(p, dtype=np.float64)
    for j in range(p):
        prio[j] = priority[rows[j]]
    by_prio = np.argsort(prio, kind="mergesort")
    order = by_prio[np.argsort(entry[by_prio], kind="mergesort")]
    j = 0
    while j < p:
        t = entry[order[j]]
        count = 0
        run = 0.0
        add = 0.0
        won = 0
        while j < p and entry[order[j]] == t:
            d = demand[rows[order[j]]]
            count += 1
            run += d
            if slots[t] + count <= slot_limit[t] and mem[t] + run <= mem_limit[t]:
                granted[rows[order[j]]] = True
                won += 1
                add += d
            j += 1
        slots[t] += won
        mem[t] += add


def _has_order(scores, i, c):  # pragma: no cover
    """Whether row ``i`` of the preference scores [N, >= C] has a number among its first ``c`` (``has_pref``)."""
    for o in range(c):
        if not np.isnan(scores[i, o]):
            return True
    return False


def _preference_rank(scores, i, cc, c):  # pragma: no cover
    """``core.preference_ranks``'s rank of candidate ``cc`` in row ``i`` of the scores [N, >= C]: how many
    candidates a stable sort by score descending, ``NaN`` last, puts ahead of it (ties keep candidate order)."""
    s = scores[i, cc]
    rank = 0
    for o in range(c):
        if o == cc:
            continue
        t = scores[i, o]
        if np.isnan(s):
            if not np.isnan(t) or o < cc:
                rank += 1
        elif not np.isnan(t) and (t > s or (t == s and o < cc)):
            rank += 1
    return float(rank)


def _resolve_local(cand_entry, actions, requests, demand, priority, slots, mem, slot_limit, mem_limit, cores,
                   ranks, has_pref, use_pref, hold, labels, n_regions, edge_of):  # pragma: no cover
    """All-local resolve; returns (actions, answered, conflicts over edges, local checks [R], rounds).

    ``use_pref``: 0 least-loaded alternatives; 1 ``ranks`` [N, C] and ``has_pref`` [N] from
    ``core.preference_ranks``; 2 ``ranks`` holds the preference scores [N, >= C] and the ranks of the agents that
    move (a few per round) are computed here, the same values."""
    n, c = cand_entry.shape
    out = actions.copy()
    answered = np.full(n, -1, dtype=np.int64)
    conflicts = np.zeros(n, dtype=np.bool_)
    local_checks = np.zeros(n_regions, dtype=np.int64)
    granted = np.zeros(n, dtype=np.bool_)
    pending = np.flatnonzero(requests)
    max_rounds = len(pending) * (hold + 1) + 2
    k = 0
    while len(pending) > 0:
        if k >= max_rounds:
            for i in pending:
                out[i] = hold
                answered[i] = k
            break
        p = len(pending)
        choice = np.empty(p, dtype=np.int64)
        go = np.ones(p, dtype=np.bool_)
        entry = np.empty(p, dtype=np.int64)
        alone = np.ones(p, dtype=np.bool_)
        if k == 0:
            for j in range(p):
                i = pending[j]
                choice[j] = actions[i]
                e = cand_entry[i, choice[j]]
                entry[j] = e
                alone[j] = slots[e] + 1.0 <= slot_limit[e] and mem[e] + demand[i] <= mem_limit[e]
        else:
            for j in range(p):
                i = pending[j]
                best = -1
                best_key = np.inf
                if use_pref == 1:
                    row_pref = has_pref[i]
                else:
                    row_pref = use_pref == 2 and _has_order_jit(ranks, i, c)
                for cc in range(c):
                    e = cand_entry[i, cc]
                    if not (slots[e] + 1.0 <= slot_limit[e] and mem[e] + demand[i] <= mem_limit[e]):
                        continue
                    if cc == actions[i]:
                        key = -1.0
                    elif row_pref:
                        key = ranks[i, cc] if use_pref == 1 else _rank_jit(ranks, i, cc, c)
                    else:
                        key = slots[e] / cores[e]
                    if key < best_key:
                        best_key = key
                        best = cc
                if best < 0:
                    out[i] = hold
                    answered[i] = k
                    go[j] = False
                else:
                    choice[j] = best
                    entry[j] = cand_entry[i, best]
        rows = pending[go & alone]
        sel = entry[go & alone]
        for i in pending[go]:
            local_checks[labels[i]] += 1
        _grant_jit(rows, sel, demand, priority, slots, mem, slot_limit, mem_limit, granted)
        nxt = 0
        keep = np.empty(p, dtype=np.int64)
        for j in range(p):
            if not go[j]:
                continue
            i = pending[j]
            if granted[i]:
                out[i] = choice[j]
                answered[i] = k
            else:
                if k == 0:
                    conflicts[edge_of[entry[j]]] = True
                keep[nxt] = i
                nxt += 1
        pending = keep[:nxt]
        k += 1
    return out, answered, conflicts, local_checks, k


_grant_jit = _grant  # replaced by its compiled form on the first ``resolve_local`` call (so are the two below)
_rank_jit = _preference_rank
_has_order_jit = _has_order
