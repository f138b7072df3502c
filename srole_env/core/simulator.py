"""The edge-cluster simulator core: state arrays and the vectorized decision round.

One model, two views (``srole_env.parallel_env`` and ``CentralizedSchedulingEnv``). A round is:

1. **Place**: each edge's head-of-queue pending task goes to the candidate its action names (or
   stays queued on ``hold``). Placed tasks start after their decision latency plus the transfer of
   their data shard from the origin.
   With ``memory_overcommit="oom_kill"`` (default) an edge whose committed memory now passes its
   usable memory kills a task (``oom_victim``: the largest, as Linux ranks by resident memory, ties
   to the newest = last placed, within a round the higher agent index; or the newest), again until
   the rest fit, before the round runs (the new worker's allocation triggers it at start-up; Pi OS and
   Jetson L4T images have little or no swap). A killed task loses its progress since its
   last checkpoint (``checkpoint_interval_s``; None = all of it) and is pending again at its origin.
2. **Run** ``round_s`` seconds of processor sharing. A task is one data-parallel worker process with one
   thread. Its speed follows ``srole_env.core.contention``: with ``k`` workers running on an edge
   (those whose start delay ends within the round), a CPU device gives each ``flops / max(k, cores)``,
   a GPU device ``flops / k`` (the GPU is shared), both times the measured oversubscription efficiency
   once ``k`` passes ``cores``; with ``memory_overcommit="thrash"`` every task on an edge whose
   committed memory passes its usable memory runs at ``memory_thrash_slowdown``. An iteration costs
   ``batch * train_flops_per_sample`` of compute plus a ring all-reduce of ``2 (k-1)/k`` parameter
   bytes over the slowest link among the job's placed workers (workers progress asynchronously).
   Rates are held for the round; a task finishing inside it gets its exact finishing time at those rates.
3. **Arrive**: new jobs join their origin's queue; they are decidable from the next round on.

Per-agent rewards: ``reward_progress`` x fraction of the agent's jobs' work done this round (less the
work an OOM kill threw away this round),
minus ``reward_wait`` per unfinished job it owns (summed over time this is its jobs' JCT), minus
``reward_overload`` if the task it placed landed on an edge that is overloaded after the round's
placements.

An edge is *overloaded* when its committed workers pass ``compute_threshold`` x cores or its committed
memory passes ``memory_threshold`` x usable memory (counted after placement, before any OOM kill); this
threshold defines overloads and collisions, while speed follows the contention model above.
A *collision* is an edge that receives new tasks from two or more agents in one round, each of which
would have fit alone, and that is overloaded by them together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from srole_env.config import ClusterConfig
from srole_env.core.contention import worker_flops
from srole_env.core.overhead import local_decision_latency
from srole_env.core.topology import Topology, build_topology
from srole_env.core.workload import JobBatch, make_workload
from srole_env.profiles import model_profiles

OBS_HIGH = 10.0
"""Observation features are clipped to [0, OBS_HIGH]."""
OWN_FEATURES = 6
CANDIDATE_FEATURES = 6
# per-candidate feature order inside the observation (after the OWN_FEATURES own features)
CAND_UTIL, CAND_MEM, CAND_SPEED, CAND_TRANSFER, CAND_COMPUTE, CAND_FITS = range(CANDIDATE_FEATURES)
UTIL_BINS = 100

_TASK_FIELDS = {
    "job": np.int64,
    "origin": np.int64,
    "edge": np.int64,  # -1 while pending
    "cand": np.int64,  # candidate index at the origin, -1 while pending
    "iters_left": np.float64,
    "iters_total": np.float64,
    "flops_iter": np.float64,
    "mem": np.float64,
    "shard_bits": np.float64,
    "delay_left": np.float64,  # seconds before compute starts (decision latency + shard transfer)
    "weight": np.float64,  # job fraction per iteration: 1 / (tasks * iters_total)
    "arrival": np.float64,
    "placed_seq": np.int64,  # placement order (larger = newer), for the OOM killer
    "run_s": np.float64,  # seconds of compute since the task last (re)started
    "ckpt_run_s": np.float64,  # run_s at the last checkpoint
    "ckpt_iters_left": np.float64,  # iters_left at the last checkpoint
}
_JOB_FIELDS = {
    "origin": np.int64,
    "arrival": np.float64,
    "n_tasks": np.int64,
    "tasks_left": np.int64,
    "finish": np.float64,
    "sync_bits": np.float64,  # ring all-reduce bits per iteration per worker
}


class _Table:
    """Columnar arrays with amortised append and in-place compaction (no per-row Python objects)."""

    def __init__(self, fields: dict[str, type], capacity: int = 256):
        self._fields = fields
        self.size = 0
        self.cols = {name: np.zeros(capacity, dtype=dtype) for name, dtype in fields.items()}

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("cols")
        if cols is None or name not in cols:
            raise AttributeError(name)
        return cols[name][: self.size]

    def append(self, **values: np.ndarray) -> None:
        n = len(next(iter(values.values())))
        need = self.size + n
        capacity = len(next(iter(self.cols.values())))
        if need > capacity:
            new_cap = max(need, 2 * capacity)
            for name, arr in self.cols.items():
                grown = np.zeros(new_cap, dtype=arr.dtype)
                grown[: self.size] = arr[: self.size]
                self.cols[name] = grown
        for name in self._fields:
            self.cols[name][self.size : need] = values[name]
        self.size = need

    def keep(self, mask: np.ndarray) -> None:
        """Drop rows where ``mask`` is False, preserving order."""
        kept = int(mask.sum())
        for arr in self.cols.values():
            arr[:kept] = arr[: self.size][mask]
        self.size = kept

    def clear(self) -> None:
        self.size = 0


def _runs(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start [R] and length [R] of each run of equal values in ``ids`` (non-empty; e.g. task rows grouped by job)."""
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    return starts, np.diff(np.append(starts, len(ids)))


@dataclass
class RoundResult:
    """Outcome of one decision round: per-agent arrays [N] and scalar figures."""

    rewards: np.ndarray
    placed: np.ndarray  # bool: agent placed a task this round
    targets: np.ndarray  # edge each agent's task went to, -1 if none
    caused_overload: np.ndarray  # bool: agent's task landed on an overloaded edge
    collided: np.ndarray  # bool: agent took part in a collision
    collisions: int
    overloaded_edges: int
    jobs_completed: int
    jcts: np.ndarray  # JCTs of the jobs completed this round
    decision_latency_s: float  # summed over the tasks placed this round
    oom_kills: int = 0  # tasks OOM-killed this round (memory_overcommit="oom_kill")
    work_lost_s: float = 0.0  # compute seconds those kills threw away (since their last checkpoint)


class ClusterSimulator:
    """Heterogeneous edge cluster training DL jobs; all state in NumPy arrays over edges, tasks, jobs."""

    def __init__(self, config: ClusterConfig):
        self.config = config
        table = model_profiles()
        unknown = sorted(set(config.model_mix) - set(table))
        if unknown:
            raise ValueError(f"model_mix: unknown model(s) {unknown}; known: {sorted(table)}")
        self.model_names = tuple(config.model_mix)
        profiles = [table[n] for n in self.model_names]
        self._m_flops = np.array([p.train_flops_per_sample for p in profiles], float)
        self._m_param = np.array([p.param_bytes for p in profiles], float)
        self._m_act = np.array([p.activation_bytes_per_sample for p in profiles], float)
        self._m_sample = np.array([p.sample_bytes for p in profiles], float)
        self.n_edges = config.n_edges
        self.n_candidates = config.n_candidates
        self.n_actions = config.n_actions
        self.hold_action = config.n_actions - 1
        self.obs_dim = OWN_FEATURES + CANDIDATE_FEATURES * self.n_candidates
        self.tasks = _Table(_TASK_FIELDS)
        self.jobs = _Table(_JOB_FIELDS)
        self.topology: Topology | None = None
        self._speed_cache: tuple[Topology, np.ndarray] | None = None
        self._idle_transfer_cache: tuple[Topology, np.ndarray] | None = None
        self._capacity_cache: tuple[Topology, tuple[np.ndarray, np.ndarray]] | None = None
        self._invalidate()

    # ------------------------------------------------------------------ episode lifecycle
    def reset(self, rng: np.random.Generator) -> None:
        """Draw a new cluster and workload from ``rng`` and seed the queues with one round of arrivals."""
        self.rng = rng
        layout_rng = rng if self.config.topology_seed is None else np.random.default_rng(self.config.topology_seed)
        self.topology = topo = self._build_topology(layout_rng)
        self.workload = make_workload(self.config, self.model_names)
        self.slot_limit = self.config.compute_threshold * topo.cores
        self.mem_limit = self.config.memory_threshold * topo.memory
        self._units = np.where(topo.gpu, 1.0, topo.cores)  # equal compute units of a device
        self._solo_flops = topo.flops / self._units  # FLOP/s of one worker alone on each edge
        self._place_seq = 0
        self.local_latency = local_decision_latency(topo, self.config)
        self.tasks.clear()
        self.jobs.clear()
        self.time = 0.0
        self.round = 0
        self._open_jobs = np.zeros(self.n_edges, dtype=np.int64)
        self._jcts: list[np.ndarray] = []
        self._util_hist = np.zeros(UTIL_BINS + 1, dtype=np.int64)
        self._totals = dict(
            collisions=0,
            overloads=0,
            jobs_arrived=0,
            jobs_completed=0,
            tasks_placed=0,
            interventions=0,
            oom_kills=0,
            work_lost_s=0.0,
            scheduling_overhead_s=0.0,
            queue_wait_s=0.0,
            rounds=0,
        )
        self._invalidate()
        self._add_jobs(self.workload.jobs_between(-self.config.round_s, 0.0, rng))

    def _build_topology(self, rng: np.random.Generator) -> Topology:
        """The episode's cluster (a subclass with named nodes, e.g. the emulator's, overrides this)."""
        return build_topology(self.config, rng)

    # ------------------------------------------------------------------ views of the state
    def _invalidate(self) -> None:
        """Forget state derived from the task table (call after any change to it)."""
        self._cache: dict[str, object] = {}

    def pending_heads(self) -> np.ndarray:
        """Row [N] of each edge's head-of-queue pending task (FIFO by arrival), -1 if its queue is empty."""
        if "heads" not in self._cache:
            pending = (self.tasks.edge < 0).nonzero()[0]
            none = np.iinfo(np.int64).max
            first = np.full(self.n_edges, none, dtype=np.int64)
            np.minimum.at(first, self.tasks.origin[pending], pending)  # the lowest pending row of each origin
            self._cache["heads"] = np.where(first == none, -1, first)
        return self._cache["heads"]

    def queue_lengths(self) -> np.ndarray:
        """Pending tasks [N] waiting at each edge."""
        if "queue" not in self._cache:
            self._cache["queue"] = np.bincount(self.tasks.origin[self.tasks.edge < 0], minlength=self.n_edges)
        return self._cache["queue"]

    def committed(self) -> tuple[np.ndarray, np.ndarray]:
        """Committed workers [N] and committed memory bytes [N] of every edge (read-only arrays)."""
        if "committed" not in self._cache:
            placed = self.tasks.edge >= 0
            edges = self.tasks.edge[placed]
            slots = np.bincount(edges, minlength=self.n_edges).astype(float)
            mem = np.bincount(edges, weights=self.tasks.mem[placed], minlength=self.n_edges)
            slots.flags.writeable = False
            mem.flags.writeable = False
            self._cache["committed"] = (slots, mem)
        return self._cache["committed"]

    def head_demand(self) -> tuple[np.ndarray, np.ndarray]:
        """``has_task`` [N] bool and memory demand [N] bytes of each edge's head task (one worker each; read-only)."""
        if "head" not in self._cache:
            heads = self.pending_heads()
            has = heads >= 0
            mem = np.where(has, self.tasks.mem[np.maximum(heads, 0)] if self.tasks.size else 0.0, 0.0)
            has.flags.writeable = False
            mem.flags.writeable = False
            self._cache["head"] = (has, mem)
        return self._cache["head"]

    def head_wait(self) -> np.ndarray:
        """Seconds [N] each edge's head task has waited so far, 0 without one (read-only)."""
        if "wait" not in self._cache:
            heads = self.pending_heads()
            arrival = self.tasks.arrival[np.maximum(heads, 0)] if self.tasks.size else 0.0
            wait = np.where(heads >= 0, self.time - arrival, 0.0)
            wait.flags.writeable = False
            self._cache["wait"] = wait
        return self._cache["wait"]

    def candidate_fits(self, extra_slots: np.ndarray | None = None, extra_mem: np.ndarray | None = None) -> np.ndarray:
        """[N, C] bool: the head task fits on each candidate without passing its thresholds.

        ``extra_slots``/``extra_mem`` [N] add commitments not yet in the simulator (e.g. earlier
        decisions of the same round). Without them the result is cached until the state changes (read-only):
        the observation's fits feature and the action mask are the same array.
        """
        if extra_slots is None and "fits" in self._cache:
            return self._cache["fits"]
        slots, mem = self.committed()
        if extra_slots is not None:
            slots = slots + extra_slots
            mem = mem + extra_mem
        has, demand = self.head_demand()
        busy = np.flatnonzero(has)  # an edge without a head task fits nowhere: only busy rows are computed
        fits = np.zeros((self.n_edges, self.n_candidates), dtype=bool)
        fits[busy] = self._fits_on(self.topology.candidates[busy], demand[busy], slots, mem)
        if extra_slots is None:
            fits.flags.writeable = False
            self._cache["fits"] = fits
        return fits

    def _fits_on(self, cand: np.ndarray, demand: np.ndarray, slots: np.ndarray, mem: np.ndarray) -> np.ndarray:
        """[R, C] bool: one more worker of ``demand`` [R] bytes stays within the thresholds of candidates ``cand``
        [R, C], against committed load ``slots``/``mem`` [N]."""
        return (slots[cand] + 1.0 <= self.slot_limit[cand]) & (mem[cand] + demand[:, None] <= self.mem_limit[cand])

    def action_mask(self, extra_slots: np.ndarray | None = None, extra_mem: np.ndarray | None = None) -> np.ndarray:
        """[N, A] int8 mask of safe actions: candidates the head task fits on, and ``hold`` (always)."""
        mask = np.ones((self.n_edges, self.n_actions), dtype=np.int8)
        mask[:, : self.n_candidates] = self.candidate_fits(extra_slots, extra_mem)
        return mask

    def observe(
        self,
        extra_slots: np.ndarray | None = None,
        extra_mem: np.ndarray | None = None,
        agents: np.ndarray | None = None,
    ) -> np.ndarray:
        """Local observations [len(agents), obs_dim] float32 (layout in ``srole_env.edge_cluster``).

        ``agents`` (default: all) selects rows; ``extra_*`` [N] add not-yet-committed load.
        """
        topo, tasks = self.topology, self.tasks
        whole = agents is None and extra_slots is None
        slots, mem = self.committed()
        if extra_slots is not None:
            slots = slots + extra_slots
            mem = mem + extra_mem
        # rows: a slice for all agents (views, no gathers), else the chosen rows
        rows_of = slice(None) if agents is None else np.asarray(agents, dtype=np.int64)
        n_rows = self.n_edges if agents is None else len(rows_of)
        heads = self.pending_heads()[rows_of]
        has_all, mem_all = self.head_demand()
        has, h_mem, h_wait = has_all[rows_of], mem_all[rows_of], self.head_wait()[rows_of]
        # the features of the head task are computed on the rows that have one (``busy``); a row without one has
        # no volume to move or compute and fits nowhere, so its transfer feature is the link latency's alone
        # and its compute, fits and FLOP features are 0: the values the full-row formulas give there
        busy = np.flatnonzero(has)
        head_rows = heads[busy]
        b_edges = busy if agents is None else rows_of[busy]
        if tasks.size:
            h_flops = tasks.flops_iter[head_rows] * tasks.iters_total[head_rows]
            h_bits = tasks.shard_bits[head_rows]
            h_ntasks = self.jobs.n_tasks[tasks.job[head_rows]]
        else:
            h_flops = h_bits = np.zeros(0)
            h_ntasks = np.zeros(0, dtype=np.int64)

        # one [A, D] float32 array written column by column: each feature computed in float64 and rounded on the
        # write, as a float64 array cast at the end would be (features are never negative, so clipping after the
        # rounding gives the same numbers: rounding is monotonic and 0 and OBS_HIGH are float32 values)
        cfg, c = self.config, self.n_candidates
        obs = np.empty((n_rows, self.obs_dim), dtype=np.float32)
        obs[:, 0] = has
        obs[:, 1] = self.queue_lengths()[rows_of] / cfg.queue_norm
        obs[:, 2] = h_mem / 1e9
        obs[:, 3] = 0.0
        obs[busy, 3] = np.log10(1.0 + h_flops) / 15.0
        obs[:, 4] = 0.0
        obs[busy, 4] = h_ntasks / cfg.tasks_per_job[1]
        obs[:, 5] = h_wait / (10.0 * cfg.round_s)
        per_cand = obs[:, OWN_FEATURES:].reshape(n_rows, c, CANDIDATE_FEATURES)
        cand = topo.candidates[rows_of]
        c_slots = slots[cand]
        cand_cores, cand_memory = self._candidate_capacity()
        np.divide(c_slots, cand_cores[rows_of], out=per_cand[:, :, CAND_UTIL])
        np.divide(mem[cand], cand_memory[rows_of], out=per_cand[:, :, CAND_MEM])
        per_cand[:, :, CAND_SPEED] = self._speed_feature()[rows_of]
        per_cand[:, :, CAND_TRANSFER] = self._idle_transfer_feature()[rows_of]
        per_cand[:, :, CAND_COMPUTE] = 0.0
        b_cand = cand[busy]
        b_slots = c_slots[busy]
        speed = worker_flops(topo.flops[b_cand], topo.cores[b_cand], self._units[b_cand], b_slots + 1.0,
                             cfg.oversubscription_efficiency)
        transfer = h_bits[:, None] / topo.link_bps[b_edges] + topo.link_latency_s[b_edges]
        per_cand[busy, :, CAND_TRANSFER] = np.log1p(transfer) / 5.0
        per_cand[busy, :, CAND_COMPUTE] = np.log1p(h_flops[:, None] / speed) / 10.0
        if whole:
            per_cand[:, :, CAND_FITS] = self.candidate_fits()
        else:
            per_cand[:, :, CAND_FITS] = 0.0
            per_cand[busy, :, CAND_FITS] = self._fits_on(b_cand, h_mem[busy], slots, mem)
        np.clip(obs, 0.0, OBS_HIGH, out=obs)
        return obs

    def _candidate_capacity(self) -> tuple[np.ndarray, np.ndarray]:
        """Cores [N, C] and memory [N, C] of every edge's candidates: fixed for the episode, gathered once."""
        if self._capacity_cache is None or self._capacity_cache[0] is not self.topology:
            cand = self.topology.candidates
            self._capacity_cache = (self.topology, (self.topology.cores[cand], self.topology.memory[cand]))
        return self._capacity_cache[1]

    def _idle_transfer_feature(self) -> np.ndarray:
        """[N, C] transfer feature of an edge without a head task, ``log1p(link latency) / 5``: fixed per episode."""
        if self._idle_transfer_cache is None or self._idle_transfer_cache[0] is not self.topology:
            self._idle_transfer_cache = (self.topology, np.log1p(0.0 / self.topology.link_bps
                                                                 + self.topology.link_latency_s) / 5.0)
        return self._idle_transfer_cache[1]

    def _speed_feature(self) -> np.ndarray:
        """[N, C] ``log10(solo FLOP/s) / 10`` of every edge's candidates: fixed for the episode, computed once."""
        if self._speed_cache is None or self._speed_cache[0] is not self.topology:
            self._speed_cache = (self.topology, np.log10(self._solo_flops[self.topology.candidates]) / 10.0)
        return self._speed_cache[1]

    def utilization(self) -> np.ndarray:
        """Compute utilisation [N] of each edge: committed workers / cores (above 1 when oversubscribed)."""
        return self.committed()[0] / self.topology.cores

    # ------------------------------------------------------------------ the round
    def validate_actions(self, actions: np.ndarray) -> np.ndarray:
        """Integer actions [N] in range, else a ``ValueError`` naming the first bad agent."""
        actions = np.asarray(actions)
        if actions.shape != (self.n_edges,):
            raise ValueError(f"expected {self.n_edges} actions, got shape {actions.shape}")
        if actions.dtype.kind not in "iu":
            if actions.dtype.kind != "f" or not np.all(np.mod(actions, 1) == 0):
                raise ValueError(f"actions must be integers, got {actions.dtype} values")
            actions = actions.astype(np.int64)
        if actions.min() < 0 or actions.max() >= self.n_actions:
            bad = np.flatnonzero((actions < 0) | (actions >= self.n_actions))[0]
            raise ValueError(f"action {actions[bad]} of edge_{bad} is out of range 0..{self.n_actions - 1}")
        return actions.astype(np.int64, copy=False)

    def step(self, actions: np.ndarray, decision_latency: np.ndarray | float | None = None) -> RoundResult:
        """Run one round with joint action ``actions`` [N] (candidate index, or ``hold_action``).

        ``decision_latency`` [N] (seconds, default: local decisions) delays each placed task's start.
        """
        cfg, topo, tasks = self.config, self.topology, self.tasks
        actions = self.validate_actions(actions)
        latency = (
            self.local_latency
            if decision_latency is None
            else np.broadcast_to(np.asarray(decision_latency, float), (self.n_edges,))
        )
        n = self.n_edges
        heads = self.pending_heads()
        slots_before, mem_before = self.committed()

        # 1. place
        placing = (heads >= 0) & (actions < self.n_candidates)
        agents = placing.nonzero()[0]
        rows = heads[agents]
        cand_idx = actions[agents]
        targets = topo.candidates[agents, cand_idx]
        new_mem = tasks.mem[rows]
        fits_alone = (slots_before[targets] + 1.0 <= self.slot_limit[targets]) & (
            mem_before[targets] + new_mem <= self.mem_limit[targets]
        )
        slots_after = slots_before + np.bincount(targets, minlength=n)
        mem_after = mem_before + np.bincount(targets, weights=new_mem, minlength=n)
        over_after = (slots_after > self.slot_limit) | (mem_after > self.mem_limit)
        collision_edge = over_after & (np.bincount(targets[fits_alone], minlength=n) >= 2)

        tasks.edge[rows] = targets
        tasks.cand[rows] = cand_idx
        transfer = tasks.shard_bits[rows] / topo.link_bps[agents, cand_idx] + topo.link_latency_s[agents, cand_idx]
        tasks.delay_left[rows] = latency[agents] + transfer
        tasks.placed_seq[rows] = self._place_seq + np.arange(len(rows))
        self._place_seq += len(rows)
        self._invalidate()
        kills, lost_s, undone = 0, 0.0, None
        if cfg.memory_overcommit == "oom_kill" and (mem_after > topo.memory).any():
            kills, lost_s, undone = self._oom_kill(mem_after)

        result_targets = np.full(n, -1, dtype=np.int64)
        result_targets[agents] = targets
        caused = np.zeros(n, dtype=bool)
        caused[agents] = over_after[targets]
        collided = np.zeros(n, dtype=bool)
        collided[agents] = collision_edge[targets] & fits_alone

        # queueing: every job with a task still pending after this round's placements waits the round
        waiting = tasks.job[tasks.edge < 0]
        if len(waiting):  # jobs with a pending task: task rows are grouped by job, so one run of equal ids per job
            self._totals["queue_wait_s"] += cfg.round_s * (1 + int(np.count_nonzero(waiting[1:] != waiting[:-1])))

        # 2. run
        progress, finished_jobs, jcts = self._run(cfg.round_s, mem_after)
        if undone is not None:
            progress = progress - undone

        # 3. arrive
        t0 = self.time
        self.time += cfg.round_s
        self.round += 1
        self._invalidate()  # waits depend on the clock
        self._add_jobs(self.workload.jobs_between(t0, self.time, self.rng))

        rewards = cfg.reward_progress * progress - cfg.reward_wait * self._open_jobs - cfg.reward_overload * caused
        util = np.minimum(slots_after / topo.cores, 1.0)
        self._util_hist += np.bincount(np.rint(util * UTIL_BINS).astype(np.int64), minlength=UTIL_BINS + 1)
        charged = float(latency[agents].sum())
        totals = self._totals
        totals["collisions"] += int(collision_edge.sum())
        totals["overloads"] += int(over_after.sum())
        totals["jobs_completed"] += finished_jobs
        totals["tasks_placed"] += len(agents)
        totals["scheduling_overhead_s"] += charged
        totals["oom_kills"] += kills
        totals["work_lost_s"] += lost_s
        totals["rounds"] += 1
        return RoundResult(
            rewards=rewards,
            placed=placing,
            targets=result_targets,
            caused_overload=caused,
            collided=collided,
            collisions=int(collision_edge.sum()),
            overloaded_edges=int(over_after.sum()),
            jobs_completed=finished_jobs,
            jcts=jcts,
            decision_latency_s=charged,
            oom_kills=kills,
            work_lost_s=lost_s,
        )

    def _oom_kill(self, mem: np.ndarray) -> tuple[int, float, np.ndarray]:
        """Kill tasks (in ``oom_victim`` order) on every edge whose committed memory ``mem`` [N] passes its usable one.

        Killed tasks roll back to their last checkpoint and are pending again at their origin. Returns
        the number of kills, the compute seconds lost and the progress undone per origin [N] (job fractions).
        """
        topo, tasks = self.topology, self.tasks
        c = {name: arr[: tasks.size] for name, arr in tasks.cols.items()}  # plain views: fewer lookups
        excess = mem - topo.memory
        on = ((c["edge"] >= 0) & (excess[c["edge"]] > 0)).nonzero()[0]
        edge, task_mem = c["edge"][on], c["mem"][on]
        keys = (-c["placed_seq"][on], edge)  # per edge, newest first
        if self.config.oom_victim == "largest":  # largest first, ties to the newest
            keys = (-c["placed_seq"][on], -task_mem, edge)
        order = np.lexsort(keys)
        rows, edge, task_mem = on[order], edge[order], task_mem[order]
        before = np.cumsum(task_mem) - task_mem  # memory freed by the kills ahead of each row (all edges)
        starts, counts = _runs(edge)
        before -= np.repeat(before[starts], counts)
        dead = rows[before < excess[edge]]
        lost = c["run_s"][dead] - c["ckpt_run_s"][dead]
        undone = np.bincount(
            c["origin"][dead],
            weights=(c["ckpt_iters_left"][dead] - c["iters_left"][dead]) * c["weight"][dead],
            minlength=self.n_edges,
        )
        c["iters_left"][dead] = c["ckpt_iters_left"][dead]
        c["run_s"][dead] = c["ckpt_run_s"][dead]
        c["edge"][dead] = -1
        c["cand"][dead] = -1
        c["delay_left"][dead] = 0.0
        self._invalidate()
        return len(dead), float(lost.sum()), undone

    def _run(self, dt: float, mem: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """Advance placed tasks by ``dt``; returns progress per origin [N], jobs finished, their JCTs."""
        cfg, topo, tasks, jobs = self.config, self.topology, self.tasks, self.jobs
        n = self.n_edges
        placed = (tasks.edge >= 0).nonzero()[0]
        if len(placed) == 0:
            return np.zeros(n), 0, np.empty(0)
        edge = tasks.edge[placed]
        delay = tasks.delay_left[placed]
        running = np.bincount(edge[delay < dt], minlength=n)  # workers computing at some point this round
        speed_edge = worker_flops(topo.flops, topo.cores, self._units, running, cfg.oversubscription_efficiency)
        if cfg.memory_overcommit == "thrash":
            speed_edge = speed_edge * np.where(mem > topo.memory, cfg.memory_thrash_slowdown, 1.0)

        # ring all-reduce over the slowest link among each job's placed workers (rows are grouped by job)
        job = tasks.job[placed]
        origin = tasks.origin[placed]
        cand = tasks.cand[placed]
        link = origin * self.n_candidates + cand  # flat [N, C] index: one gather per table, not a 2-D fancy index
        bw = topo.link_bps.reshape(-1).take(link)
        lat = topo.link_latency_s.reshape(-1).take(link)
        starts, counts = _runs(job)
        job_bw = np.repeat(np.minimum.reduceat(bw, starts), counts)
        job_lat = np.repeat(np.maximum.reduceat(lat, starts), counts)
        k = jobs.n_tasks[job]
        sync = np.where(np.isfinite(job_bw), jobs.sync_bits[job] / job_bw + 2.0 * (k - 1) * job_lat, 0.0)
        iter_time = tasks.flops_iter[placed] / speed_edge[edge] + sync

        compute_time = np.clip(dt - delay, 0.0, dt)
        tasks.delay_left[placed] = np.maximum(delay - dt, 0.0)
        iters_left = tasks.iters_left[placed]
        done_iters = np.minimum(compute_time / iter_time, iters_left)
        finishing = done_iters >= iters_left
        tasks.iters_left[placed] = iters_left - done_iters
        run_old = tasks.run_s[placed]
        tasks.run_s[placed] = run_new = run_old + compute_time
        if cfg.checkpoint_interval_s is not None:  # the last checkpoint passed this round, if any
            last = np.floor(run_new / cfg.checkpoint_interval_s) * cfg.checkpoint_interval_s
            hit = last > run_old
            rows = placed[hit]
            tasks.ckpt_run_s[rows] = last[hit]
            tasks.ckpt_iters_left[rows] = iters_left[hit] - (last[hit] - run_old[hit]) / iter_time[hit]
        progress = np.bincount(origin, weights=done_iters * tasks.weight[placed], minlength=n)

        n_finished_jobs, jcts = 0, np.empty(0)
        if finishing.any():
            finish_at = self.time + (dt - compute_time[finishing]) + iters_left[finishing] * iter_time[finishing]
            n_finished_jobs, jcts = self._retire(placed[finishing], finish_at)
        return progress, n_finished_jobs, jcts

    def _retire(self, rows: np.ndarray, finish_at: np.ndarray) -> tuple[int, np.ndarray]:
        """Remove finished task ``rows`` (finishing at ``finish_at`` [s]); returns jobs completed and their JCTs."""
        tasks, jobs = self.tasks, self.jobs
        f_jobs = tasks.job[rows]
        if (f_jobs[1:] < f_jobs[:-1]).any():  # rows out of order (task rows are grouped by job, in job order)
            order = np.argsort(f_jobs, kind="stable")
            rows, f_jobs, finish_at = rows[order], f_jobs[order], finish_at[order]
        starts, cnt = _runs(f_jobs)
        uniq = f_jobs[starts]  # with cnt, np.unique's result, without its sort
        jobs.finish[uniq] = np.maximum(jobs.finish[uniq], np.maximum.reduceat(finish_at, starts))
        jobs.tasks_left[uniq] -= cnt
        completed = uniq[jobs.tasks_left[uniq] == 0]
        jcts = jobs.finish[completed] - jobs.arrival[completed]
        np.subtract.at(self._open_jobs, jobs.origin[completed], 1)
        self._jcts.append(jcts)
        keep = np.ones(tasks.size, dtype=bool)
        keep[rows] = False
        tasks.keep(keep)
        self._invalidate()
        return len(completed), jcts

    def _add_jobs(self, batch: JobBatch) -> None:
        """Append a batch of arriving jobs and their (pending) tasks."""
        if len(batch) == 0:
            return
        m = batch.model
        k = batch.n_tasks
        job_ids = self.jobs.size + np.arange(len(batch))  # job id == row in the per-episode job table
        sync_bits = np.where(k > 1, 2.0 * (k - 1) / k * self._m_param[m] * 8.0, 0.0)
        self.jobs.append(
            origin=batch.origin,
            arrival=batch.arrival,
            n_tasks=k,
            tasks_left=k,
            finish=np.full(len(batch), -np.inf),
            sync_bits=sync_bits,
        )
        # tasks: worker i of a job trains on samples // k (+1 for the first samples % k workers)
        t_job = np.repeat(np.arange(len(batch)), k)
        worker = np.arange(len(t_job)) - np.repeat(np.cumsum(k) - k, k)
        shard = batch.samples[t_job] // k[t_job] + (worker < batch.samples[t_job] % k[t_job])
        shard = np.maximum(shard, 1)
        batch_size = batch.batch[t_job]
        iters = np.ceil(shard / batch_size) * batch.epochs[t_job]
        tm = m[t_job]
        self.tasks.append(
            job=job_ids[t_job],
            origin=batch.origin[t_job],
            edge=np.full(len(t_job), -1),
            cand=np.full(len(t_job), -1),
            iters_left=iters,
            iters_total=iters,
            flops_iter=np.minimum(batch_size, shard) * self._m_flops[tm],
            mem=self.config.worker_runtime_bytes
            + self.config.optimizer_state_factor * self._m_param[tm]
            + batch_size * self._m_act[tm],
            shard_bits=shard * self._m_sample[tm] * 8.0,
            delay_left=np.zeros(len(t_job)),
            weight=1.0 / (k[t_job] * iters),
            arrival=batch.arrival[t_job],
            placed_seq=np.zeros(len(t_job), dtype=np.int64),
            run_s=np.zeros(len(t_job)),
            ckpt_run_s=np.zeros(len(t_job)),
            ckpt_iters_left=iters,
        )
        self._open_jobs += np.bincount(batch.origin, minlength=self.n_edges)
        self._totals["jobs_arrived"] += len(batch)
        self._invalidate()

    # ------------------------------------------------------------------ metrics
    def record_interventions(self, count: int) -> None:
        """Count actions rewritten by a shield (wrappers call this)."""
        self._totals["interventions"] += int(count)

    def job_times(self) -> tuple[np.ndarray, np.ndarray]:
        """Per job of the episode so far: its JCT if it completed, else its age (a lower bound on its JCT),
        and whether it completed. The per-job figures behind ``mean_jct_all`` (for JCT distributions)."""
        jobs = self.jobs
        done = jobs.tasks_left == 0
        return np.where(done, jobs.finish - jobs.arrival, self.time - jobs.arrival), done

    def metrics(self) -> dict[str, float]:
        """Episode figures so far: collisions, overloads, JCT statistics, utilisation, overhead, OOM kills.

        ``oom_kills`` counts tasks killed for memory over-commit, ``work_lost_s`` the compute seconds
        they lost (progress since their last checkpoint), summed over kills.

        ``mean_jct``/``p95_jct`` cover completed jobs; ``mean_jct_all`` also counts every unfinished job
        at its age so far (a lower bound on its JCT), so a method cannot look fast by leaving slow jobs
        unfinished.
        """
        t = self._totals
        jcts = np.concatenate(self._jcts) if self._jcts else np.empty(0)
        hist = self._util_hist
        total = hist.sum()
        median_util = float(np.searchsorted(np.cumsum(hist), total / 2.0) / UTIL_BINS) if total else 0.0
        mean_util = float((hist * np.arange(UTIL_BINS + 1)).sum() / UTIL_BINS / total) if total else 0.0
        placed = t["tasks_placed"]
        open_jobs = self.jobs.tasks_left > 0
        ages = self.time - self.jobs.arrival[open_jobs]
        all_jct = np.concatenate([jcts, ages])
        return {
            "collisions": t["collisions"],
            "overloads": t["overloads"],
            "jobs_arrived": t["jobs_arrived"],
            "jobs_completed": t["jobs_completed"],
            "mean_jct": float(jcts.mean()) if len(jcts) else math.nan,
            "p95_jct": float(np.percentile(jcts, 95)) if len(jcts) else math.nan,
            "jobs_unfinished": int(open_jobs.sum()),
            "mean_jct_all": float(all_jct.mean()) if len(all_jct) else math.nan,
            "median_utilization": median_util,
            "mean_utilization": mean_util,
            "tasks_placed": placed,
            "interventions": t["interventions"],
            "scheduling_overhead_s": t["scheduling_overhead_s"],
            "oom_kills": t["oom_kills"],
            "work_lost_s": t["work_lost_s"],
            "mean_queue_wait_s": t["queue_wait_s"] / t["jobs_arrived"] if t["jobs_arrived"] else 0.0,
            "mean_decision_latency_s": t["scheduling_overhead_s"] / placed if placed else 0.0,
            "rounds": t["rounds"],
            "sim_time_s": self.time,
        }
