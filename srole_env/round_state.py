"""The state of one decision round as a wrapper sees it: who asks for what, where, and what fits.

``RoundState`` is what a shield (``shields/``) or a reference scheduler reads at the start of a round: the
agents' candidate edges, their head tasks' demands and waits, every edge's committed load and its overload
thresholds. ``EdgeClusterEnv.round_state()`` gives it for the env's current round; ``round_state(sim)`` for a
bare ``ClusterSimulator``. The arrays are the simulator's own read-only views (no copies), so reading a round's
state costs nothing per edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srole_env.core.simulator import ClusterSimulator


@dataclass(frozen=True)
class RoundState:
    """What a shield reads from the simulator at the start of a round (arrays [N] unless noted)."""

    candidates: np.ndarray  # [N, C] int: candidate edges of each agent (candidates[:, 0] = itself)
    has_task: np.ndarray  # bool: the agent has a pending head task
    demand_mem: np.ndarray  # bytes of memory the head task needs (0 without one)
    wait_s: np.ndarray  # seconds the head task has waited (0 without one)
    committed_slots: np.ndarray  # workers already committed to each edge
    committed_mem: np.ndarray  # bytes already committed to each edge
    slot_limit: np.ndarray  # workers an edge takes before it overloads (compute threshold x cores)
    mem_limit: np.ndarray  # bytes an edge takes before it overloads (memory threshold x memory)
    cores: np.ndarray  # cores of each edge (for least-loaded ordering)

    @property
    def n_agents(self) -> int:
        """Number of agents (= edges) N."""
        return len(self.has_task)

    @property
    def n_candidates(self) -> int:
        """Candidates per agent C; action C is ``hold``."""
        return self.candidates.shape[1]


def round_state(sim: ClusterSimulator) -> RoundState:
    """The round's ``RoundState`` read (not copied for writing) from a simulator that has been reset."""
    if sim.topology is None:
        raise RuntimeError("round_state() needs a simulator that has been reset; call reset() first")
    has, demand = sim.head_demand()
    slots, mem = sim.committed()
    return RoundState(
        candidates=sim.topology.candidates,
        has_task=has,
        demand_mem=demand,
        wait_s=sim.head_wait(),
        committed_slots=slots,
        committed_mem=mem,
        slot_limit=sim.slot_limit,
        mem_limit=sim.mem_limit,
        cores=sim.topology.cores,
    )
