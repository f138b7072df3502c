"""Views of the simulator's state: queues, committed load, head tasks, fits, the action mask and the observation.

``StateViews`` is the part of ``srole_env.core.simulator.ClusterSimulator`` that reads the state without changing it;
each view is computed once per state (``_cached``: the task table's version and the clock) and handed out read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from srole_env.core import observation


class StateViews:
    """Read-only views of a ``ClusterSimulator``'s tables (a mixin: the simulator holds the state)."""

    def _cached(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per state: derived views are valid while the task table and the clock stand."""
        key = (self.tasks.version, self.time)
        if key != self._cache_key:
            self._cache, self._cache_key = {}, key
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]

    def pending_heads(self) -> np.ndarray:
        """Row [N] of each edge's head-of-queue pending task (FIFO by arrival), -1 if its queue is empty."""
        def heads() -> np.ndarray:
            pending = (self.tasks.edge < 0).nonzero()[0]
            none = np.iinfo(np.int64).max
            first = np.full(self.n_edges, none, dtype=np.int64)
            np.minimum.at(first, self.tasks.origin[pending], pending)  # the lowest pending row of each origin
            return np.where(first == none, -1, first)
        return self._cached("heads", heads)

    def queue_lengths(self) -> np.ndarray:
        """Pending tasks [N] waiting at each edge."""
        return self._cached("queue", lambda: np.bincount(self.tasks.origin[self.tasks.edge < 0],
                                                          minlength=self.n_edges))

    def committed(self) -> tuple[np.ndarray, np.ndarray]:
        """Committed workers [N] and committed memory bytes [N] of every edge (read-only arrays)."""
        def committed() -> tuple[np.ndarray, np.ndarray]:
            placed = self.tasks.edge >= 0
            edges = self.tasks.edge[placed]
            slots = np.bincount(edges, minlength=self.n_edges).astype(float)
            mem = np.bincount(edges, weights=self.tasks.mem[placed], minlength=self.n_edges)
            return _frozen(slots), _frozen(mem)
        return self._cached("committed", committed)

    def head_demand(self) -> tuple[np.ndarray, np.ndarray]:
        """``has_task`` [N] bool and memory demand [N] bytes of each edge's head task (one worker each; read-only)."""
        def demand() -> tuple[np.ndarray, np.ndarray]:
            heads = self.pending_heads()
            has = heads >= 0
            mem = np.where(has, self.tasks.mem[np.maximum(heads, 0)] if self.tasks.size else 0.0, 0.0)
            return _frozen(has), _frozen(mem)
        return self._cached("head", demand)

    def head_wait(self) -> np.ndarray:
        """Seconds [N] each edge's head task has waited so far, 0 without one (read-only)."""
        def wait() -> np.ndarray:
            heads = self.pending_heads()
            arrival = self.tasks.arrival[np.maximum(heads, 0)] if self.tasks.size else 0.0
            return _frozen(np.where(heads >= 0, self.clock() - arrival, 0.0))
        return self._cached("wait", wait)

    def candidate_fits(self, extra_slots: np.ndarray | None = None, extra_mem: np.ndarray | None = None) -> np.ndarray:
        """[N, C] bool: the head task fits on each candidate without passing its thresholds.

        ``extra_slots``/``extra_mem`` [N] add commitments not yet in the simulator (e.g. earlier
        decisions of the same round). Without them the result is cached until the state changes (read-only):
        the observation's fits feature and the action mask are the same array.
        """
        def fits() -> np.ndarray:
            slots, mem = self.committed()
            if extra_slots is not None:
                slots = slots + extra_slots
                mem = mem + extra_mem
            has, demand = self.head_demand()
            busy = np.flatnonzero(has)  # an edge without a head task fits nowhere: only busy rows are computed
            out = np.zeros((self.n_edges, self.n_candidates), dtype=bool)
            out[busy] = self.fits_on(self.topology.candidates[busy], demand[busy], slots, mem)
            return out
        return fits() if extra_slots is not None else self._cached("fits", lambda: _frozen(fits()))

    def fits_on(self, cand: np.ndarray, demand: np.ndarray, slots: np.ndarray, mem: np.ndarray) -> np.ndarray:
        """[R, C] bool: one more worker of ``demand`` [R] bytes stays within the thresholds of candidates ``cand``
        [R, C], against committed load ``slots``/``mem`` [N]."""
        return (slots[cand] + 1.0 <= self.slot_limit[cand]) & (mem[cand] + demand[:, None] <= self.mem_limit[cand])

    def action_mask(self, extra_slots: np.ndarray | None = None, extra_mem: np.ndarray | None = None) -> np.ndarray:
        """[N, A] int8 mask of safe actions: candidates the head task fits on, and ``hold`` (always)."""
        mask = np.ones((self.n_edges, self.n_actions), dtype=np.int8)
        mask[:, : self.n_candidates] = self.candidate_fits(extra_slots, extra_mem)
        return mask

    def observe(self, extra_slots: np.ndarray | None = None, extra_mem: np.ndarray | None = None,
                agents: np.ndarray | None = None) -> np.ndarray:
        """Local observations [len(agents), obs_dim] float32 (layout: ``srole_env.core.observation``).

        ``agents`` (default: all) selects rows; ``extra_*`` [N] add not-yet-committed load.
        """
        return observation.observe(self, extra_slots, extra_mem, agents)

    def episode_features(self) -> observation.EpisodeFeatures:
        """The observation's features fixed for this episode's layout (computed on first use)."""
        if self._features is None or self._features.topology is not self.topology:
            self._features = observation.EpisodeFeatures(self)
        return self._features

    def utilization(self) -> np.ndarray:
        """Compute utilisation [N] of each edge: committed workers / cores (above 1 when oversubscribed)."""
        return self.committed()[0] / self.topology.cores


def _frozen(arr: np.ndarray) -> np.ndarray:
    """``arr``, made read-only (views handed out by the simulator are not for writing)."""
    arr.flags.writeable = False
    return arr
