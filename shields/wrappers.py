"""PettingZoo parallel wrappers that put a shield between the agents and the edge cluster.

Each wrapper holds ``self.env``, forwards everything it does not change (``pettingzoo.utils``'s
``BaseParallelWrapper``), and exposes ``unwrapped`` (the ``EdgeClusterEnv``). Any learner runs unchanged
behind one; a learner that has action preferences passes them along:

    obs, rewards, terms, truncs, infos = shield.step(actions, preferences=q_values)    # dict path
    obs, mask, rewards, term, trunc, result = shield.step_arrays(actions, preferences)  # array path

``preferences`` is an array [N, A] or a dict agent -> array [A] (Q-values, logits or probabilities:
only the order matters, higher is preferred; ``-inf`` marks a masked action; an agent missing from the
dict has no opinion and falls back to least-loaded alternatives). ``NaN`` and ``+inf`` raise a
``ValueError`` naming the agent (a diverged network must not pass silently as "no opinion"). Both paths
run the same core on the same joint action, so they give identical trajectories.

Per step, before the inner env steps, a shield: reads the round's state; ranks the requests with its
priority rule (``shields.priority``); settles the joint action with its partition's region shields
(``shields.protocol``, one region for ``CentralShield``); charges each agent its simulated decision
latency (``shields.latency``) through ``unwrapped.charge_decision_latency``; and counts the rewritten
actions with ``unwrapped.record_interventions``. It reads the round from the env's public round-state API
(``round_state()``, ``topology``, ``round``, ``n_actions``; ``srole_env.edge_cluster``) and nothing private,
and draws its own layer on rendered frames (``shields.overlay``, registered with ``add_render_overlay``).
Its figures are in ``shield.last_report`` and, on the dict path, flattened into the per-agent infos as
scalars ``shield_<key>`` (``infos[agent]["shield_rewritten"]``; ``reset()`` gives every key too, with
``SHIELD_INFO_DEFAULTS``):

| key | meaning |
|---|---|
| ``original`` | the agent's action as given ([N] array in ``last_report``; -1 in the reset infos) |
| ``action`` | the safe action the cluster executed (-1 in the reset infos) |
| ``rewritten`` | ``action != original`` |
| ``interventions`` | rewritten actions this step |
| ``messages`` | request + reply messages between region shields this step (0 for ``CentralShield``) |
| ``decision_latency_s`` | simulated decision latency: the slowest answer of this step |
| ``latency_s`` | the simulated latency charged to this agent (``[N]`` in ``last_report``) |
| ``decision_time_s`` | **measured** wall time of the shield this step (infos: only with ``timing=True``) |

The infos hold no wall-clock measurement by default, so two runs with the same seeds give equal infos
(PettingZoo's ``parallel_seed_test`` passes behind a shield); ``timing=True`` adds ``shield_decision_time_s``.
A learner should store ``shield_action`` (the action that ran, whose reward and next observation it sees) as
the action of its transition: the post-posed shield of Alshiekh et al. (AAAI 2018), which learns from the
corrected action (``docs/shields.md``).

``last_report`` also holds ``rounds`` (coordination rounds), ``conflicts`` (target edges the joint action
would have overloaded), ``boundary_requests`` [N], ``transcript`` (the request messages of each coordination
round) and ``host_backlog_s`` [R] (work each region's host carries into the next round, ``shields.latency``).

``safe_action_mask(agent)`` is the pre-emptive form of the shield: candidates that stay safe whatever
the other agents pick (an edge whose spare capacity covers every pending task that could target it),
and ``hold``. Actions from it are never rewritten.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pettingzoo.utils.wrappers import BaseParallelWrapper

from shields.core import LazyPreferenceRanks, RoundState, requests_of
from shields.latency import LatencyModel
from shields.priority import check_rule, priority_ranks
from shields.protocol import Coordinator
from shields.regions import check_partition, partition_edges
from srole_env.actions import as_seed, index_of, joint_action
from srole_env.core.topology import Topology
from srole_env.edge_cluster import EdgeClusterEnv

SHIELD_INFO_DEFAULTS: dict[str, bool | int | float] = {
    "shield_original": -1,
    "shield_action": -1,
    "shield_rewritten": False,
    "shield_latency_s": 0.0,
    "shield_interventions": 0,
    "shield_messages": 0,
    "shield_decision_latency_s": 0.0,
}
"""The shield's per-agent info keys with their ``reset()`` values (``step()`` fills the same keys, same types)."""

TIMING_INFO_DEFAULTS: dict[str, float] = {"shield_decision_time_s": 0.0}
"""The measured (wall-clock) info keys, added only by a shield built with ``timing=True``."""

_SEED_STREAM = 0x5E1D
"""Mixed into a reset seed so the shield's random stream differs from the environment's."""


class ShieldWrapper(BaseParallelWrapper):
    """A shield over a partition of the cluster into regions (subclasses choose the partition)."""

    def __init__(self, env: Any, priority: str = "urgency", seed: int | None = None, timing: bool = False):
        """``env``: an ``EdgeClusterEnv`` (or a wrapper of one); ``priority``: a ``PRIORITY_RULES`` name;
        ``seed``: seeds the shield's random tie-breaks (mixed with the seed given to ``reset``); ``timing``: put
        the measured ``shield_decision_time_s`` in the per-step infos (off: the infos are deterministic)."""
        inner = getattr(env, "unwrapped", None)
        if not isinstance(inner, EdgeClusterEnv):
            got = type(env if inner is None else inner).__name__
            raise ValueError(f"a shield wraps an EdgeClusterEnv, got {got}")
        layer = env
        while layer is not inner:  # one shield per env: a shield behind a shield would settle actions twice
            if isinstance(layer, ShieldWrapper):
                raise ValueError(f"a shield cannot wrap another shield ({type(layer).__name__}); "
                                 "wrap the bare EdgeClusterEnv")
            layer = getattr(layer, "env", inner)
        super().__init__(env)
        self.priority = priority
        self._rule = check_rule(priority)
        self._seed = seed
        self.timing = bool(timing)
        self._info_defaults = {**SHIELD_INFO_DEFAULTS, **(TIMING_INFO_DEFAULTS if self.timing else {})}
        self._rng: np.random.Generator | None = None
        self._topology: Topology | None = None
        self._safe_masks: tuple[Topology, int, np.ndarray] | None = None  # (layout, round, masks)
        self.last_report: dict[str, Any] | None = None
        self.unwrapped.add_render_overlay("shield", self)  # render() calls draw_overlay: regions and rewrites

    # ------------------------------------------------------------------ partition (subclasses)
    def _partition(self, topology: Topology) -> tuple[np.ndarray, np.ndarray]:
        """Region label [N] of every edge and host edge [R] of every region."""
        raise NotImplementedError

    def _setup(self) -> None:
        """(Re)build the region shields and latency model for the current cluster layout."""
        env = self.unwrapped
        topology = env.topology
        labels, hosts = self._partition(topology)
        self.labels = labels
        self.hosts = hosts
        self._coordinator = Coordinator(labels, env.round_state())
        self._latency = LatencyModel(topology, env.config, labels, hosts)
        self._topology = topology

    # ------------------------------------------------------------------ PettingZoo API
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Reset the env; a seed also reseeds the shield (from it and the shield's own ``seed``), so the same
        seeds give the same trajectory."""
        seed = as_seed(seed)
        out = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng([seed, _SEED_STREAM] + ([] if self._seed is None else [self._seed]))
        elif self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        self._setup()
        self.last_report = None
        obs, infos = out
        for info in infos.values():
            info.update(self._info_defaults)
        return obs, infos

    def step(
        self, actions: dict[str, Any], preferences: dict[str, Any] | np.ndarray | None = None
    ) -> tuple[dict, dict, dict, dict, dict]:
        """Shield the joint action, then step the env with the safe one; agents absent from ``actions`` hold."""
        env = self.unwrapped
        joint = joint_action(actions, env.agent_index, env.n_actions, env.hold_action)
        safe = self._settle(joint, preferences)
        obs, rewards, terms, truncs, infos = self.env.step(dict(zip(env.possible_agents, safe.tolist())))
        rep = self.last_report
        keys = ("interventions", "messages", "decision_latency_s") + (("decision_time_s",) if self.timing else ())
        figures = {f"shield_{k}": rep[k] for k in keys}
        original, action = joint.tolist(), safe.tolist()
        rewritten, latency = rep["rewritten"].tolist(), rep["latency_s"].tolist()
        for agent, info in infos.items():
            i = env.agent_index[agent]
            info.update(shield_original=original[i], shield_action=action[i], shield_rewritten=rewritten[i],
                        shield_latency_s=latency[i], **figures)
        return obs, rewards, terms, truncs, infos

    def step_arrays(
        self, actions: np.ndarray, preferences: dict[str, Any] | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool, Any]:
        """Array fast path: shield ``actions`` [N], then ``EdgeClusterEnv.step_arrays`` on the safe ones."""
        return self.env.step_arrays(self._settle(actions, preferences))

    # ------------------------------------------------------------------ pre-emptive shield
    def safe_action_masks(self) -> np.ndarray:
        """[N, A] int8: actions safe whatever the others pick (see module docstring); ``hold`` always.

        Computed once per round (cached on the simulator's layout and round number).
        """
        env = self.unwrapped
        cached = self._safe_masks
        if cached is None or cached[0] is not env.topology or cached[1] != env.round:
            self._safe_masks = cached = (env.topology, env.round, preemptive_masks(env.round_state(), env.n_actions))
        return cached[2]

    def safe_action_mask(self, agent: str) -> np.ndarray:
        """[A] int8 row of ``safe_action_masks`` for one agent."""
        return self.safe_action_masks()[self._index(agent)]

    # ------------------------------------------------------------------ the shield
    def _index(self, agent: str) -> int:
        return index_of(agent, self.unwrapped.agent_index)

    def _preferences(self, preferences: dict[str, Any] | np.ndarray | None) -> np.ndarray | None:
        """Preferences as a float array [N, A] (``NaN`` rows for agents without one), or None."""
        if preferences is None:
            return None
        n, a = self.unwrapped.config.n_edges, self.unwrapped.n_actions
        if isinstance(preferences, dict):
            out = np.full((n, a), np.nan)
            for agent, row in preferences.items():
                row = np.asarray(row, dtype=float)
                if row.shape != (a,):
                    raise ValueError(f"preferences of {agent} must have shape ({a},), got {row.shape}")
                _check_finite_preferences(row[None, :], [agent])
                out[self._index(agent)] = row
            return out
        out = np.asarray(preferences, dtype=float)
        if out.shape != (n, a):
            raise ValueError(f"preferences must have shape ({n}, {a}) (agents x actions), got {out.shape}")
        _check_finite_preferences(out, self.unwrapped.possible_agents)
        return out

    def _settle(self, actions: np.ndarray, preferences: dict[str, Any] | np.ndarray | None) -> np.ndarray:
        """Settle one joint action [N]; charge its latency and interventions; return the safe joint action."""
        env = self.unwrapped
        env.check_running()
        start = time.perf_counter()
        if env.topology is not self._topology:  # the env was reset behind the shield's back
            self._setup()
        actions = env.validate_actions(actions)
        prefs = self._preferences(preferences)
        state = env.round_state()
        priority = priority_ranks(self._rule(state, actions, prefs), self._rng.random(state.n_agents))
        ranks = None if prefs is None else LazyPreferenceRanks(prefs, state.n_candidates)
        res = self._coordinator.resolve(state, actions, priority, ranks)
        requests = requests_of(state, actions)
        latency = self._latency.per_agent(requests, res, state.committed_slots[self.hosts])
        rewritten = res.actions != actions
        interventions = int(np.count_nonzero(rewritten))
        self.last_report = {
            "original": actions.copy(),
            "action": res.actions,
            "rewritten": rewritten,
            "interventions": interventions,
            "messages": res.messages,
            "decision_time_s": time.perf_counter() - start,
            "decision_latency_s": float(latency.max()) if requests.any() else 0.0,
            "latency_s": latency,
            "rounds": res.rounds,
            "conflicts": int(np.count_nonzero(res.conflicts)),
            "boundary_requests": res.boundary_requests,
            "transcript": res.transcript,
            "host_backlog_s": self._latency.backlog_s.copy(),
        }
        env.charge_decision_latency(latency)
        env.record_interventions(interventions)
        busiest = int(self._latency.busy_s.argmax())
        env.record_shield_host(min(1.0, float(self._latency.busy_s[busiest]) / self._latency.round_s),
                               float(self._latency.backlog_s.max()))
        return res.actions

    # ------------------------------------------------------------------ render overlay
    def draw_overlay(self, canvas: Any) -> None:
        """Draw this shield's regions and rewrites on a rendered frame (``shields.overlay``; the renderer
        calls it with a ``srole_env.render.MapCanvas``)."""
        from shields.overlay import draw_shield_overlay

        draw_shield_overlay(self, canvas)


def _check_finite_preferences(preferences: np.ndarray, agents: list[str]) -> None:
    """``ValueError`` naming the first agent whose preference row [A] holds ``NaN`` or ``+inf`` (``-inf`` is
    a masked action, allowed)."""
    if np.isfinite(preferences).all():  # the common case, in one pass
        return
    bad = np.isnan(preferences) | (preferences == np.inf)
    if bad.any():
        row = int(bad.any(axis=1).argmax())
        value = preferences[row, bad[row].argmax()]
        raise ValueError(
            f"preferences of {agents[row]} contain {value} (action {int(bad[row].argmax())}); preferences must be "
            "finite scores or -inf for masked actions; leave an agent without an opinion out of the dict"
        )


def preemptive_masks(state: RoundState, n_actions: int) -> np.ndarray:
    """[N, A] int8: a candidate is safe when its spare capacity covers every pending task that could
    target it (every agent with a pending task that has it among its candidates); ``hold`` is always safe.

    If all agents pick from these masks no edge overloads, whatever the combination.
    """
    n, c = state.n_agents, state.n_candidates
    reach = state.candidates[state.has_task].ravel()
    reach_slots = np.bincount(reach, minlength=n)
    reach_mem = np.bincount(reach, weights=np.repeat(state.demand_mem[state.has_task], c), minlength=n)
    safe_edge = (state.committed_slots + reach_slots <= state.slot_limit) & (
        state.committed_mem + reach_mem <= state.mem_limit
    )
    mask = np.ones((n, n_actions), dtype=np.int8)
    mask[:, :c] = safe_edge[state.candidates] & state.has_task[:, None]
    return mask


class CentralShield(ShieldWrapper):
    """One shield over the whole cluster, on the cluster head: every request is gathered and checked there.

    Sees every request, so it settles all collisions without messages; its decision latency grows with
    the number of requests in the cluster (``shields.latency``).
    """

    def __init__(self, env: Any, priority: str = "urgency", seed: int | None = None, timing: bool = False):
        super().__init__(env, priority=priority, seed=seed, timing=timing)

    def _partition(self, topology: Topology) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(topology.n_edges, dtype=np.int64), np.array([topology.head])


class DecentralizedShield(ShieldWrapper):
    """One shield per region; each owns its edges' capacity; boundary requests go through the protocol.

    ``regions`` (default: the env config's ``n_regions``) between 1 and N; ``partition`` ``"kmeans"``
    (default) or ``"grid"`` (``shields.regions``), recomputed from edge positions at every reset;
    ``partition_seed`` seeds k-means. Each region shield runs on its region's most capable edge.
    """

    def __init__(
        self,
        env: Any,
        regions: int | None = None,
        partition: str = "kmeans",
        priority: str = "urgency",
        seed: int | None = None,
        partition_seed: int = 0,
        timing: bool = False,
    ):
        super().__init__(env, priority=priority, seed=seed, timing=timing)
        n = self.unwrapped.config.n_edges
        regions = self.unwrapped.config.n_regions if regions is None else regions
        check_partition(regions, n, partition)
        self.regions = int(regions)
        self.partition_method = partition
        self.partition_seed = partition_seed

    def _partition(self, topology: Topology) -> tuple[np.ndarray, np.ndarray]:
        labels = partition_edges(topology.positions, self.regions, self.partition_method, self.partition_seed)
        # host: the region member with the most FLOP/s (lowest index on ties), found for all regions at once
        order = np.lexsort((np.arange(topology.n_edges), -topology.flops, labels))
        first = np.r_[True, labels[order][1:] != labels[order][:-1]]
        return labels, order[first]
