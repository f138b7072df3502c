"""The cluster head's view (CRL): one Gymnasium agent decides the edges' tasks, one decision per ``step``.

Same simulator as the parallel env. The head is a queue (``srole_env.core.head_queue``): each round it
collects N state reports through its NIC, then serves decision requests (edges with a pending task) in
FIFO order, each at the head's available compute; requests that do not fit in the round stay queued and
their tasks stay pending. Each ``step`` is one served decision; each decision sees the loads the head has
committed earlier in the round, so the head never collides with itself. After the round's last served
decision the simulator runs the round, charging every placed task the time until its answer arrived.
Rounds in which the head serves nothing run on their own.

**Observation** ``Box(0, 10, (6 + 6C + 2C + 12,))``, fixed in N so one network serves every cluster size:

* the deciding edge's local observation (the parallel env's layout, with this round's earlier decisions
  counted as load): the action is a choice among *its* candidates, as for MARL, so what differs from MARL
  is information and latency, not reach;
* per candidate, what only the head knows: the requests still to decide this round that could also go
  there (per core of the candidate) and the candidate's own queue length (``/ queue_norm``): the demand
  that will compete for its capacity;
* cluster-wide, the state the head collected: the fractions of edges in 5 load bins (committed workers /
  overload limit in [0, .25), [.25, .5), [.5, .75), [.75, 1], above 1 = overloaded), mean memory
  commitment / limit, fraction of edges with a pending task, mean queue length / ``queue_norm``, fraction
  of this round's decisions still to make, the head's own compute utilisation, its backlog / N, and the
  time into the round at which this decision completes / ``round_s``.

A per-edge table would grow with N and tie the network to one cluster size; aggregates plus the
candidates' exact figures carry what a decision for one task can use. All are updated incrementally per
decision (O(C) per step besides the local observation's vector ops).

**A round at once.** ``decide_round(rule)`` makes every decision left in the round in one compiled loop
(``srole_env.core.head_kernel``: the same observation, mask and placement arithmetic) with a rule given as
arrays (the greedy head, or a Q-network exported from torch by ``agents.common.export``) and returns what the
round's last ``step`` would; evaluation uses it (``agents.harness.evaluate``). ``collect_round`` is the learner's
form: epsilon-greedy inside the loop, every decision's observation, mask and action returned as arrays
(``agents.learners.crl_idqn``); other learners keep ``step``.

**Action** ``Discrete(C + 1)`` over the deciding edge's candidates, then hold (the task waits and its edge
requests again next round). ``action_masks()`` gives the safe actions (``sb3_contrib.MaskablePPO``).

**Reward and credit.** The team objective: the mean over edges of the parallel env's per-agent rewards
of the round, paid on the step that completes the round (0 on the round's other decisions). A round's
decisions share one point in simulated time, so the discount belongs to rounds, not decisions: every
step's info says ``rounds_completed`` (0 within a round; 1 plus the rounds without decisions it ran
through), and the CRL learners discount each step by ``gamma ** rounds_completed``
(``agents.learners.round_discount``), so every decision of a round sees the round's reward undiscounted
and the discount per round equals MARL's. Credit among a round's decisions flows through the value
function, which sees each earlier decision's effect on the state (as Decima, Mao et al. SIGCOMM 2019,
does for its several decisions per scheduling event). A plain Gymnasium learner with one per-step gamma
would discount per decision instead; set it near 1 or use the per-round discount.

**Infos.** Every step: ``deciding_edge``, ``rounds_completed`` and the head figures of the last completed
round (``head_backlog``, ``head_utilization``, ``head_decisions``, ``head_demand``,
``head_decision_latency_s`` mean and ``head_decision_latency_max_s``, ``head_service_s``); on a step that
completes a round also ``collisions``, ``overloaded_edges``, ``jobs_completed``, ``jcts``,
``decision_latency_s``, ``rounds_without_decisions``. Every step and ``reset`` also give ``edge_rewards``: the
per-edge rewards [N] (the parallel env's per-agent rewards) of each round that step (or ``reset``, before
the first decision) ran, in order (empty within a round); the step's reward is the sum of their means.
Learners that credit each decision with its own edge's rewards (``agents.learners.crl_idqn``) read them.
``metrics()`` adds ``head_backlog_max``,
``head_utilization_mean``, ``head_decision_latency_mean_s``, ``head_decision_latency_max_s`` and
``head_decisions`` to the simulator's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from srole_env.actions import as_action, as_seed
from srole_env.config import ClusterConfig, make_config
from srole_env.core import head_kernel
from srole_env.core.contention import oversubscription_curve
from srole_env.core.head_kernel import HeadRule
from srole_env.core.head_queue import HeadQueue, HeadRound, default_policy_flops
from srole_env.core.observation import OBS_HIGH
from srole_env.core.simulator import ClusterSimulator

CANDIDATE_EXTRA = 2
"""Head-only features per candidate (competing requests per core, queue length)."""
LOAD_BINS = np.array([0.25, 0.5, 0.75, 1.0 + 1e-9])
"""Upper edges of the load bins (committed workers / overload limit); the last bin is overloaded."""
GLOBAL_FEATURES = len(LOAD_BINS) + 1 + 7
"""Cluster-wide features (layout in the module docstring)."""
HEAD_INFO_KEYS = ("head_backlog", "head_utilization", "head_decisions", "head_demand", "head_decision_latency_s",
                  "head_decision_latency_max_s", "head_service_s")


_NO_RECORD = (False, np.zeros((0, 0), np.float32), np.zeros((0, 0), np.bool_), np.zeros((0, 0)), np.zeros(0))
"""``head_kernel.decide``'s collecting arguments when it only decides (``decide_round``)."""


class HeadDecisions(NamedTuple):
    """Decisions of a round made by ``CentralizedSchedulingEnv.collect_round``, in service order."""

    edges: np.ndarray
    """[k] the deciding edges."""
    obs: np.ndarray
    """[k, D] float32: the observation each decision was made at (``step``'s previous return)."""
    masks: np.ndarray
    """[k, A] bool: each decision's ``action_masks()``."""
    actions: np.ndarray
    """[k] int64: the actions taken."""


class CentralizedSchedulingEnv(gym.Env):
    """Centralized RL scheduler at the cluster head (see module docstring)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self, scenario: str | ClusterConfig | None = "small", render_mode: str | None = None, **overrides: Any
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.config = make_config(scenario, **overrides)
        self.sim = ClusterSimulator(self.config)
        self.render_mode = render_mode
        c = self.sim.n_candidates
        obs_dim = self.sim.obs_dim + CANDIDATE_EXTRA * c + GLOBAL_FEATURES
        self.observation_space = spaces.Box(0.0, OBS_HIGH, shape=(obs_dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.sim.n_actions)
        self.policy_flops = (
            default_policy_flops(obs_dim, self.sim.n_actions)
            if self.config.head_policy_flops is None
            else float(self.config.head_policy_flops)
        )
        n = self.config.n_edges
        self._joint = np.full(n, self.sim.hold_action, dtype=np.int64)
        self._extra_slots = np.zeros(n)
        self._extra_mem = np.zeros(n)
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0
        self.head: HeadQueue | None = None
        self._plan: HeadRound | None = None
        self._head_info = dict.fromkeys(HEAD_INFO_KEYS, 0.0)
        self._head_totals = self._zero_totals()
        self._edge_rewards: list[np.ndarray] = []

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=as_seed(seed))
        self.sim.reset(self.np_random)
        self.head = HeadQueue(self.sim.topology, self.config, self.policy_flops)
        self._head_info = dict.fromkeys(HEAD_INFO_KEYS, 0.0)
        self._head_totals = self._zero_totals()
        self._edge_rewards = []
        reward, skipped = self._begin_round()
        info = {"deciding_edge": self.deciding_edge, "reward_before_first_decision": reward,
                "rounds_completed": skipped, "edge_rewards": self._edge_rewards, **self._head_info}
        return self._observation(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._pos >= len(self._order):
            raise RuntimeError("step() called on a finished episode; call reset() first")
        self._apply(as_action(action, self.sim.n_actions))
        return self._advance()

    def decide_round(
        self, rule: HeadRule, act: Callable[[np.ndarray, np.ndarray], int] | None = None
    ) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Make every decision left in the current round with ``rule`` in one compiled loop
        (``srole_env.core.head_kernel``) and return what the ``step`` of the round's last decision returns.

        The decisions, the state they leave and the returned values are those of calling ``step`` with the
        rule's action once per decision (the other steps of a round return reward 0 and no round figures).
        A learned rule hands a near tie back: ``act(obs [D] float32, mask [A] bool) -> action`` (the policy the
        rule was exported from) decides it, through ``step``'s own path. For evaluation and greedy heads;
        a learner that needs every decision's observation uses ``collect_round`` (or ``step``).
        """
        if self._pos >= len(self._order):
            raise RuntimeError("decide_round() called on a finished episode; call reset() first")
        rule.check_fits(self.observation_space.shape[0], self.sim.n_actions)
        if not rule.exact and act is None:
            raise ValueError("decide_round: a learned rule needs act, the policy that decides near ties")
        self._run_kernel(rule, act, len(self._order), _NO_RECORD)
        return self._advance()

    def collect_round(
        self, rule: HeadRule, act: Callable[[np.ndarray, np.ndarray], int], rand: np.ndarray, eps: np.ndarray,
        count: int | None = None,
    ) -> tuple[HeadDecisions, tuple[np.ndarray, float, bool, bool, dict]]:
        """A learner's ``decide_round``: the next ``count`` decisions (default: the rest of the round) with the
        learned ``rule`` exploring epsilon-greedily, recording each decision's observation and mask.

        ``rand`` [count, A + 1] and ``eps`` [count] are the exploration draws of each decision (``IDQN.explore``'s
        per decision: A uniforms to pick a random allowed action, then one against ``eps``); ``act`` decides the
        near ties of decisions not explored (the torch policy's greedy action). The decisions and the returned
        values are those of calling ``step`` once per decision with the same actions (the last ``step``'s
        values); ``HeadDecisions`` holds what each decision saw and chose, in service order.
        """
        if self._pos >= len(self._order):
            raise RuntimeError("collect_round() called on a finished episode; call reset() first")
        rule.check_fits(self.observation_space.shape[0], self.sim.n_actions)
        left = len(self._order) - self._pos
        count = left if count is None else int(count)
        if not 1 <= count <= left:
            raise ValueError(f"collect_round: count must be in [1, {left}] (the decisions left in the round), "
                             f"got {count}")
        n_actions = self.sim.n_actions
        rand = np.ascontiguousarray(rand, dtype=np.float64)
        eps = np.ascontiguousarray(eps, dtype=np.float64)
        if rand.shape != (count, n_actions + 1) or eps.shape != (count,):
            raise ValueError(f"collect_round: rand must have shape {(count, n_actions + 1)} and eps {(count,)}, got "
                             f"{rand.shape} and {eps.shape}")
        start, stop, m = self._pos, self._pos + count, len(self._order)
        obs = np.zeros((m, self.observation_space.shape[0]), dtype=np.float32)
        masks = np.zeros((m, n_actions), dtype=bool)
        full_rand, full_eps = np.zeros((m, n_actions + 1)), np.zeros(m)
        full_rand[start:stop], full_eps[start:stop] = rand, eps
        self._run_kernel(rule, act, stop, (True, obs, masks, full_rand, full_eps))
        edges = self._order[start:stop].copy()
        decisions = HeadDecisions(edges, obs[start:stop], masks[start:stop], self._joint[edges].copy())
        return decisions, self._advance()

    def _run_kernel(self, rule: HeadRule, act: Callable[[np.ndarray, np.ndarray], int] | None, stop: int,
                    record: tuple) -> None:
        """Decisions up to position ``stop`` in ``head_kernel.decide``, near ties decided by ``act`` (``step``'s
        path); with ``record`` = ``(True, obs, masks, rand, eps)`` the collecting form (``collect_round``)."""
        before, after = self._kernel_args(rule)
        explore = record[0]
        while True:
            pos, mem_sum = head_kernel.decide(self._pos, *before, self._mem_sum, *after, stop, *record)
            self._pos, self._mem_sum = int(pos), float(mem_sum)
            if self._pos >= stop:
                break
            obs, mask = self._observation(), self.action_masks()
            if explore:
                record[1][self._pos], record[2][self._pos] = obs, mask
            self._apply(as_action(act(obs, mask), self.sim.n_actions))
            if self._pos >= stop:
                break

    def _apply(self, action: int) -> None:
        """Commit the decision ``action`` for the deciding edge (the state part of ``step``)."""
        agent = self._order[self._pos]
        self._joint[agent] = action
        cand = self.sim.topology.candidates[agent]
        if action < self.sim.n_candidates:
            self._commit(int(cand[action]), float(self.sim.head_demand()[1][agent]))
        self._reach[cand] -= 1
        self._pos += 1

    def _advance(self) -> tuple[np.ndarray, float, bool, bool, dict]:
        """After a decision: finish the round if it was the last one, then ``step``'s return values."""
        reward, info, rounds = 0.0, {}, 0
        self._edge_rewards = []
        if self._pos == len(self._order):
            reward, info = self._finish_round()
            more, skipped = self._begin_round()
            reward += more
            rounds = 1 + skipped
            info["rounds_without_decisions"] = skipped
        truncated = self._pos >= len(self._order)
        info["deciding_edge"] = self.deciding_edge
        info["rounds_completed"] = rounds
        info["edge_rewards"] = self._edge_rewards
        info.update(self._head_info)
        return self._observation(), float(reward), False, bool(truncated), info

    def action_masks(self) -> np.ndarray:
        """Bool mask [C + 1] of the deciding edge's safe actions given this round's earlier decisions."""
        if self._pos >= len(self._order):
            mask = np.zeros(self.sim.n_actions, dtype=bool)
            mask[self.sim.hold_action] = True
            return mask
        sim, agent = self.sim, int(self._order[self._pos])
        cand = sim.topology.candidates[agent]
        slots, mem = sim.committed()
        has, demand = sim.head_demand()
        mask = np.ones(sim.n_actions, dtype=bool)
        mask[: sim.n_candidates] = has[agent] & (
            (slots[cand] + self._extra_slots[cand] + 1.0 <= sim.slot_limit[cand])
            & (mem[cand] + self._extra_mem[cand] + demand[agent] <= sim.mem_limit[cand])
        )  # the deciding edge's row of ``sim.action_mask`` with this round's decisions, in O(C)
        return mask

    def metrics(self) -> dict[str, float]:
        """Episode figures so far: ``ClusterSimulator.metrics`` plus the head queue's (module docstring)."""
        t = self._head_totals
        rounds, decided = max(t["rounds"], 1), t["decisions"]
        return {
            **self.sim.metrics(),
            "head_backlog_max": t["backlog_max"],
            "head_utilization_mean": float(t["utilization"]) / rounds,
            "head_decision_latency_mean_s": t["latency"] / decided if decided else 0.0,
            "head_decision_latency_max_s": t["latency_max"],
            "head_decisions": decided,
        }

    @property
    def decisions_left(self) -> int:
        """Decisions still to make in the current round (0 when the episode is over)."""
        return len(self._order) - self._pos

    @property
    def deciding_edge(self) -> int:
        """Index of the edge whose task the next ``step`` decides (-1 when the episode is over)."""
        return int(self._order[self._pos]) if self._pos < len(self._order) else -1

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        util = self.sim.utilization()
        return (
            f"t={self.sim.time:.0f}s round {self.sim.round}/{self.config.horizon} "
            f"deciding edge_{self.deciding_edge} ({self._pos}/{len(self._order)}), "
            f"head backlog {self.head.backlog if self.head else 0}, mean util {util.mean():.2f}, "
            f"max util {util.max():.2f}"
        )

    # ------------------------------------------------------------------ rounds
    @staticmethod
    def _zero_totals() -> dict[str, float]:
        return {"rounds": 0, "utilization": 0.0, "backlog_max": 0, "decisions": 0, "latency": 0.0,
                "latency_max": 0.0}

    def _record(self, plan: HeadRound) -> None:
        """Store a round's head figures for the infos and the episode totals."""
        lat = plan.decision_latency
        self._head_info = {
            "head_backlog": plan.backlog,
            "head_utilization": plan.utilization,
            "head_decisions": len(plan.served),
            "head_demand": plan.demand,
            "head_decision_latency_s": float(lat.mean()) if len(lat) else 0.0,
            "head_decision_latency_max_s": float(lat.max()) if len(lat) else 0.0,
            "head_service_s": plan.service_s,
        }
        t = self._head_totals
        t["rounds"] += 1
        t["utilization"] += plan.utilization
        t["backlog_max"] = max(t["backlog_max"], plan.backlog)
        t["decisions"] += len(lat)
        t["latency"] += float(lat.sum())
        t["latency_max"] = max(t["latency_max"], self._head_info["head_decision_latency_max_s"])

    def _begin_round(self) -> tuple[float, int]:
        """Plan the next round in which the head serves decisions, running the rounds it serves none in;
        (reward of those rounds, their count)."""
        reward, skipped = 0.0, 0
        sim = self.sim
        self._joint[:] = sim.hold_action
        self._extra_slots[:] = 0.0
        self._extra_mem[:] = 0.0
        self._pos = 0
        while sim.round < self.config.horizon:
            head = sim.topology.head
            plan = self.head.plan(sim.round, sim.pending_heads() >= 0, float(sim.committed()[0][head]))
            if len(plan.served):
                self._plan, self._order = plan, plan.served
                self._start_observation_state()
                return reward, skipped
            self._record(plan)
            reward += self._paid(sim.step(self._joint, 0.0).rewards)
            skipped += 1
        self._plan, self._order = None, np.empty(0, dtype=np.int64)
        return reward, skipped

    def _finish_round(self) -> tuple[float, dict]:
        """Run the simulator round with the head's joint decision, charging each placed task its answer time."""
        plan = self._plan
        self._record(plan)
        result = self.sim.step(self._joint, plan.start_delay)
        info = {
            "collisions": result.collisions,
            "overloaded_edges": result.overloaded_edges,
            "jobs_completed": result.jobs_completed,
            "jcts": result.jcts.tolist(),
            "decision_latency_s": result.decision_latency_s,
        }
        return self._paid(result.rewards), info

    def _paid(self, rewards: np.ndarray) -> float:
        """Keep a round's per-edge rewards [N] for the infos' ``edge_rewards``; return the team reward (their mean)."""
        self._edge_rewards.append(np.asarray(rewards, dtype=np.float64).copy())
        return float(np.mean(rewards))

    # ------------------------------------------------------------------ observation
    def _start_observation_state(self) -> None:
        """Round-start arrays the observation updates incrementally as decisions commit load."""
        sim, topo = self.sim, self.sim.topology
        slots, mem = sim.committed()
        self._load = slots / sim.slot_limit
        self._load_hist = np.bincount(np.digitize(self._load, LOAD_BINS), minlength=len(LOAD_BINS) + 1)
        self._mem_sum = float((mem / sim.mem_limit).sum())
        self._reach = np.bincount(topo.candidates[self._order].ravel(), minlength=topo.n_edges)
        queue = sim.queue_lengths()
        self._queue_norm = queue / self.config.queue_norm
        self._cluster_fixed = np.array([np.count_nonzero(sim.pending_heads() >= 0) / topo.n_edges,
                                        queue.mean() / self.config.queue_norm])

    def _commit(self, target: int, mem: float) -> None:
        """Count one placement on ``target`` decided this round."""
        sim = self.sim
        self._extra_slots[target] += 1.0
        self._extra_mem[target] += mem
        old = self._load[target]
        self._load[target] = old + 1.0 / sim.slot_limit[target]
        self._load_hist[np.digitize(old, LOAD_BINS)] -= 1
        self._load_hist[np.digitize(self._load[target], LOAD_BINS)] += 1
        self._mem_sum += mem / sim.mem_limit[target]

    def _observation(self) -> np.ndarray:
        if self._pos >= len(self._order):
            return np.zeros(self.observation_space.shape, dtype=np.float32)
        sim, topo, n = self.sim, self.sim.topology, self.config.n_edges
        agent = int(self._order[self._pos])
        local = sim.observe(self._extra_slots, self._extra_mem, agents=np.array([agent]))[0]
        cand = topo.candidates[agent]
        competing = (self._reach[cand] - 1) / topo.cores[cand]
        per_cand = np.stack([competing, self._queue_norm[cand]], axis=1).ravel()
        head = topo.head
        plan = self._plan
        done_at = plan.start_delay[agent] - self.head.reply_s[agent]
        cluster = np.concatenate([
            self._load_hist / n,
            [self._mem_sum / n],
            self._cluster_fixed,
            [1.0 - self._pos / len(self._order),
             (sim.committed()[0][head] + self._extra_slots[head]) / topo.cores[head],
             plan.backlog / n,
             done_at / self.config.round_s],
        ])
        return np.clip(np.concatenate([local, per_cand, cluster]), 0.0, OBS_HIGH).astype(np.float32)

    def _kernel_args(self, rule: HeadRule) -> tuple[tuple, tuple]:
        """The arguments of ``head_kernel.decide`` for this round before and after ``mem_sum`` (the one scalar
        the loop updates)."""
        sim, topo, cfg = self.sim, self.sim.topology, self.config
        order = self._order
        slots, mem = sim.committed()
        heads = sim.pending_heads()[order]
        has = heads >= 0
        rows = np.maximum(heads, 0)
        tasks = sim.tasks
        h_flops = np.where(has, tasks.flops_iter[rows] * tasks.iters_total[rows], 0.0) if tasks.size \
            else np.zeros(len(order))
        h_mem = np.ascontiguousarray(sim.head_demand()[1][order], dtype=np.float64)
        base_obs = sim.observe(self._extra_slots, self._extra_mem, agents=order)
        override = cfg.oversubscription_efficiency
        ratios, eff = (np.ones(1), np.ones(1)) if override is not None else oversubscription_curve()
        plan = self._plan
        done_frac = (plan.start_delay[order] - self.head.reply_s[order]) / cfg.round_s
        flat_w, flat_b, in_dims, out_dims, w_off, b_off = rule.packed
        before = (order, base_obs, topo.candidates, np.asarray(slots, np.float64), np.asarray(mem, np.float64),
                  self._extra_slots,
                  self._extra_mem, sim.slot_limit, sim.mem_limit, topo.cores, topo.memory, topo.flops, sim.units,
                  h_flops, h_mem, override is not None, 1.0 if override is None else float(override),
                  np.ascontiguousarray(ratios, dtype=np.float64), np.ascontiguousarray(eff, dtype=np.float64),
                  self._load, LOAD_BINS, self._load_hist)
        after = (self._reach, self._queue_norm, self._cluster_fixed, int(topo.head), float(slots[topo.head]),
                 plan.backlog / cfg.n_edges, done_frac, self._joint, 0 if rule.kind == "earliest_finish" else 1,
                 flat_w, flat_b, in_dims, out_dims, w_off, b_off, rule.activation == "tanh", bool(rule.dueling),
                 bool(rule.mask_actions), float(rule.masked_score), head_kernel.NEAR_TIE, OBS_HIGH)
        return before, after
