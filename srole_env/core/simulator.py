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
4. **Reward** and **ledger**: the round's rewards, and its figures into the episode's ledger.

The pieces live apart: the tables in ``srole_env.core.store``, the read-only views of the state (queues, fits,
the mask) in ``srole_env.core.views``, the observation in ``srole_env.core.observation``,
the episode's figures in ``srole_env.core.ledger``, and the layout, OOM and run phases in the physics handed to
the simulator (``srole_env.core.physics``: the simulator's cost model by default, the emulator's real workers).

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

from dataclasses import dataclass
from typing import Any

import numpy as np

from srole_env.config import ClusterConfig
from srole_env.core import observation
from srole_env.core.ledger import Ledger
from srole_env.core.memory import check_memory
from srole_env.core.overhead import local_decision_latency
from srole_env.core.physics import SimulatedPhysics
from srole_env.core.store import JOB_FIELDS, TASK_FIELDS, Table, runs
from srole_env.core.topology import Topology
from srole_env.core.views import StateViews
from srole_env.core.workload import JobBatch, make_workload
from srole_env.profiles import model_profiles


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


@dataclass
class Placement:
    """What the place phase did: who placed where, and the committed load after it."""

    placing: np.ndarray  # [N] bool: the agent placed a task
    agents: np.ndarray  # [P] agents that placed a task
    targets: np.ndarray  # [P] edge each one's task went to
    fits_alone: np.ndarray  # [P] bool: the task would have fit there alone
    slots_after: np.ndarray  # [N] committed workers after the placements
    mem_after: np.ndarray  # [N] committed bytes after the placements
    over_after: np.ndarray  # [N] bool: edge overloaded after the placements
    collision_edge: np.ndarray  # [N] bool: edge where a collision happened
    charged_s: float  # decision latency summed over the placed tasks


class ClusterSimulator(StateViews):
    """Heterogeneous edge cluster training DL jobs; all state in NumPy arrays over edges, tasks, jobs.

    ``physics`` (default ``SimulatedPhysics``) lays out the cluster and runs placed work (``srole_env.core.physics``).
    """

    def __init__(self, config: ClusterConfig, physics: SimulatedPhysics | None = None):
        self.config = config
        self.physics = SimulatedPhysics() if physics is None else physics
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
        self.obs_dim = observation.obs_dim(self.n_candidates)
        self.tasks = Table(TASK_FIELDS)
        self.jobs = Table(JOB_FIELDS)
        self.topology: Topology | None = None
        self.ledger = Ledger(config.ledger, admission=config.max_jobs_per_edge is not None)
        self._features: observation.EpisodeFeatures | None = None
        self._cache: dict[str, Any] = {}
        self._cache_key: tuple = ()

    # ------------------------------------------------------------------ episode lifecycle
    def reset(self, rng: np.random.Generator) -> None:
        """Draw a new cluster and workload from ``rng`` and seed the queues with one round of arrivals.

        ``ValueError`` first when the episode's arrays cannot fit in this machine's memory
        (``srole_env.core.memory``)."""
        check_memory(self.config)
        self.rng = rng
        layout_rng = rng if self.config.topology_seed is None else np.random.default_rng(self.config.topology_seed)
        self.topology = topo = self.physics.build_topology(self, layout_rng)
        self.workload = make_workload(self.config, self.model_names)
        self.slot_limit = self.config.compute_threshold * topo.cores
        self.mem_limit = self.config.memory_threshold * topo.memory
        self.units = np.where(topo.gpu, 1.0, topo.cores)  # equal compute units of a device
        self.solo_flops = topo.flops / self.units  # FLOP/s of one worker alone on each edge
        self._features = None
        self._place_seq = self._next_job = self._next_tid = 0
        self.local_latency = local_decision_latency(topo, self.config)
        self.tasks.clear()
        self.jobs.clear()
        self.time = 0.0
        self.round = 0
        self._open_jobs = np.zeros(self.n_edges, dtype=np.int64)
        self.ledger = Ledger(self.config.ledger, admission=self.config.max_jobs_per_edge is not None)
        self.physics.reset(self)
        self.add_jobs(self.workload.jobs_between(-self.config.round_s, 0.0, rng))

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
        The round's phases, in order: place, OOM kill, run, arrive, reward, ledger (the queue waits are counted
        between OOM kill and run: the jobs left waiting by this round's placements).
        """
        cfg = self.config
        actions = self.validate_actions(actions)
        latency = (self.local_latency if decision_latency is None
                   else np.broadcast_to(np.asarray(decision_latency, float), (self.n_edges,)))
        placed = self._place(actions, latency)
        kills, lost_s, undone = 0, 0.0, None
        if cfg.memory_overcommit == "oom_kill" and (placed.mem_after > self.topology.memory).any():
            kills, lost_s, undone = self.physics.oom_kill(self, placed.mem_after)
        self._count_queue_wait()
        progress, finished_jobs, jcts = self.physics.run(self, cfg.round_s, placed.mem_after)
        if undone is not None:
            progress = progress - undone
        self._arrive()
        caused = np.zeros(self.n_edges, dtype=bool)
        caused[placed.agents] = placed.over_after[placed.targets]
        rewards = self._reward(progress, caused)
        self._record_round(placed, finished_jobs, kills, lost_s)
        targets = np.full(self.n_edges, -1, dtype=np.int64)
        targets[placed.agents] = placed.targets
        collided = np.zeros(self.n_edges, dtype=bool)
        collided[placed.agents] = placed.collision_edge[placed.targets] & placed.fits_alone
        return RoundResult(rewards=rewards, placed=placed.placing,
                           targets=targets, caused_overload=caused, collided=collided,
                           collisions=int(placed.collision_edge.sum()), overloaded_edges=int(placed.over_after.sum()),
                           jobs_completed=finished_jobs, jcts=jcts, decision_latency_s=placed.charged_s,
                           oom_kills=kills, work_lost_s=lost_s)

    def _place(self, actions: np.ndarray, latency: np.ndarray) -> Placement:
        """Phase 1: each edge's head task goes to the candidate its action names (the start delay: decision
        ``latency`` [N] plus the shard's transfer); overloads and collisions are judged on the committed load."""
        topo, tasks, n = self.topology, self.tasks, self.n_edges
        heads = self.pending_heads()
        slots_before, mem_before = self.committed()
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
        transfer = tasks.shard_bits[rows] / topo.link_bps[agents, cand_idx] + topo.link_latency_s[agents, cand_idx]
        tasks.set(rows, edge=targets, cand=cand_idx, delay_left=latency[agents] + transfer,
                  placed_seq=self._place_seq + np.arange(len(rows)))
        self._place_seq += len(rows)
        return Placement(placing, agents, targets, fits_alone, slots_after, mem_after, over_after, collision_edge,
                         float(latency[agents].sum()))

    def _count_queue_wait(self) -> None:
        """Every job with a task still pending after this round's placements waits the round."""
        waiting = self.tasks.job[self.tasks.edge < 0]
        if len(waiting):  # task rows are grouped by job, so one run of equal ids per job
            jobs = 1 + int(np.count_nonzero(waiting[1:] != waiting[:-1]))
            self.ledger.count(queue_wait_s=self.config.round_s * jobs)

    def _arrive(self) -> None:
        """Phase 4: the clock moves on a round; the round's new jobs join their origins' queues."""
        t0 = self.time
        self.time += self.config.round_s
        self.round += 1
        self.add_jobs(self.workload.jobs_between(t0, self.time, self.rng))

    def _reward(self, progress: np.ndarray, caused: np.ndarray) -> np.ndarray:
        """Phase 5: per-agent rewards [N] (module docstring)."""
        cfg = self.config
        return cfg.reward_progress * progress - cfg.reward_wait * self._open_jobs - cfg.reward_overload * caused

    def _record_round(self, placed: Placement, finished_jobs: int, kills: int, lost_s: float) -> None:
        """Phase 6: the round's figures into the episode's ledger."""
        self.ledger.record_utilization(np.minimum(placed.slots_after / self.topology.cores, 1.0))
        self.ledger.count(collisions=int(placed.collision_edge.sum()), overloads=int(placed.over_after.sum()),
                          jobs_completed=finished_jobs, tasks_placed=len(placed.agents),
                          scheduling_overhead_s=placed.charged_s, oom_kills=kills, work_lost_s=lost_s, rounds=1)

    # ------------------------------------------------------------------ jobs entering and leaving the tables
    def retire(self, rows: np.ndarray, finish_at: np.ndarray) -> tuple[int, np.ndarray]:
        """Remove finished task ``rows`` (finishing at ``finish_at`` [s]); a job whose last task this was completes:
        its JCT goes to the ledger and it leaves the job table. Returns jobs completed and their JCTs."""
        tasks, jobs = self.tasks, self.jobs
        f_jobs = tasks.job[rows]
        if (f_jobs[1:] < f_jobs[:-1]).any():  # rows out of order (task rows are grouped by job, in job order)
            order = np.argsort(f_jobs, kind="stable")
            rows, f_jobs, finish_at = rows[order], f_jobs[order], finish_at[order]
        starts, cnt = runs(f_jobs)
        uniq = f_jobs[starts]  # with cnt, np.unique's result, without its sort
        at = np.searchsorted(jobs.id, uniq)  # their rows: the job table stays in id order
        finish = np.maximum(jobs.finish[at], np.maximum.reduceat(finish_at, starts))
        left = jobs.tasks_left[at] - cnt
        jobs.set(at, finish=finish, tasks_left=left)
        completed = at[left == 0]
        jcts = jobs.finish[completed] - jobs.arrival[completed]
        np.subtract.at(self._open_jobs, jobs.origin[completed], 1)
        self._record_completed(completed, jcts)
        if len(completed):
            jobs.keep(jobs.tasks_left > 0)
        keep = np.ones(tasks.size, dtype=bool)
        keep[rows] = False
        tasks.keep(keep)
        return len(completed), jcts

    def add_jobs(self, batch: JobBatch) -> None:
        """Append a batch of arriving jobs and their (pending) tasks (those admitted: ``max_jobs_per_edge``)."""
        if len(batch) == 0:
            return
        if self.config.max_jobs_per_edge is not None:
            batch = self._admit(batch, self.config.max_jobs_per_edge)
            if len(batch) == 0:
                return
        m = batch.model
        k = batch.n_tasks
        job_ids = self._next_job + np.arange(len(batch))  # job ids: arrival order in the episode
        self._next_job += len(batch)
        sync_bits = np.where(k > 1, 2.0 * (k - 1) / k * self._m_param[m] * 8.0, 0.0)
        self.jobs.append(id=job_ids, origin=batch.origin, arrival=batch.arrival, n_tasks=k, tasks_left=k,
                         finish=np.full(len(batch), -np.inf), sync_bits=sync_bits, **self._job_columns(batch))
        # tasks: worker i of a job trains on samples // k (+1 for the first samples % k workers)
        t_job = np.repeat(np.arange(len(batch)), k)
        worker = np.arange(len(t_job)) - np.repeat(np.cumsum(k) - k, k)
        shard = batch.samples[t_job] // k[t_job] + (worker < batch.samples[t_job] % k[t_job])
        shard = np.maximum(shard, 1)
        batch_size = batch.batch[t_job]
        iters = np.ceil(shard / batch_size) * batch.epochs[t_job]
        tm = m[t_job]
        cfg, zeros = self.config, np.zeros(len(t_job))
        self.tasks.append(
            tid=self._next_tid + np.arange(len(t_job)), job=job_ids[t_job], origin=batch.origin[t_job],
            edge=np.full(len(t_job), -1), cand=np.full(len(t_job), -1), iters_left=iters, iters_total=iters,
            flops_iter=np.minimum(batch_size, shard) * self._m_flops[tm],
            mem=cfg.worker_runtime_bytes + cfg.optimizer_state_factor * self._m_param[tm]
            + batch_size * self._m_act[tm],
            shard_bits=shard * self._m_sample[tm] * 8.0, delay_left=zeros, weight=1.0 / (k[t_job] * iters),
            arrival=batch.arrival[t_job], placed_seq=np.zeros(len(t_job), dtype=np.int64), run_s=zeros,
            ckpt_run_s=zeros, ckpt_iters_left=iters, job_tasks=k[t_job], sync_bits=sync_bits[t_job],
        )
        self._next_tid += len(t_job)
        self._open_jobs += np.bincount(batch.origin, minlength=self.n_edges)
        self._count_arrivals(batch)
        self.physics.jobs_added(self, job_ids, batch)

    def _admit(self, batch: JobBatch, limit: int) -> JobBatch:
        """Admission control: the jobs of ``batch`` whose origin owns fewer than ``limit`` unfinished jobs when they
        arrive (in arrival order, counting the batch's earlier admissions); the others are rejected and counted."""
        order = np.argsort(batch.origin, kind="stable")  # each origin's arrivals, in arrival order
        starts, counts = runs(batch.origin[order])
        rank = np.empty(len(batch), dtype=np.int64)
        rank[order] = np.arange(len(batch)) - np.repeat(starts, counts)
        admitted = self._open_jobs[batch.origin] + rank < limit
        if admitted.all():
            return batch
        self._count_rejected(batch.select(~admitted))
        return batch.select(admitted)

    # ------------------------------------------------------------------ per-episode hooks
    # One episode here; ``srole_env.core.batch.BatchedClusterSimulator`` runs K episodes as K blocks of edges in
    # the same arrays and overrides these to keep each episode's clock and figures apart.
    def clock(self, edges: np.ndarray | None = None) -> float | np.ndarray:
        """The episode's time (s) at ``edges`` (default: every edge): one float, the same for every edge."""
        return self.time

    def cumsum_by_episode(self, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
        """``np.cumsum(values)`` over rows sorted by their ``edges``, restarting at each episode (one here)."""
        return np.cumsum(values)

    def count_kills(self, rows: np.ndarray, lost_s: np.ndarray) -> tuple[int, float]:
        """OOM kills of task ``rows`` (in kill order) losing ``lost_s`` [s] each: the kills and the seconds lost."""
        return len(rows), float(lost_s.sum())

    def _job_columns(self, batch: JobBatch) -> dict[str, np.ndarray]:
        """Extra job-table columns for arriving ``batch`` (none here)."""
        return {}

    def _count_arrivals(self, batch: JobBatch) -> None:
        """Jobs of ``batch`` arrived: into the ledger."""
        self.ledger.count(jobs_arrived=len(batch))

    def _count_rejected(self, batch: JobBatch) -> None:
        """Jobs of ``batch`` arrived and were rejected at admission: into the ledger."""
        self.ledger.count(jobs_arrived=len(batch), jobs_rejected=len(batch))

    def _record_completed(self, rows: np.ndarray, jcts: np.ndarray) -> None:
        """Jobs at job-table ``rows`` completed with ``jcts`` [s]: into the ledger."""
        self.ledger.record_completed(self.jobs.id[rows], jcts)

    # ------------------------------------------------------------------ metrics
    def record_interventions(self, count: int) -> None:
        """Count actions rewritten by a shield (wrappers call this)."""
        self.ledger.count(interventions=int(count))

    def record_shield_host(self, utilization: float, backlog_s: float) -> None:
        """One round of the busiest shield host: its utilisation (work / ``round_s``, capped at 1) and the work
        (seconds) it carries over (shield wrappers call this; ``metrics()`` then reports the shield host's load)."""
        self.ledger.record_shield_host(utilization, backlog_s)

    def job_times(self) -> tuple[np.ndarray, np.ndarray]:
        """Per job of the episode so far: its JCT if it completed, else its age (a lower bound on its JCT),
        and whether it completed. The per-job figures behind ``mean_jct_all`` (for JCT distributions)."""
        return self.ledger.job_times(self.time, self.jobs.id, self.jobs.arrival)

    def metrics(self) -> dict[str, float]:
        """Episode figures so far: collisions, overloads, JCT statistics, utilisation, overhead, OOM kills.

        ``oom_kills`` counts tasks killed for memory over-commit, ``work_lost_s`` the compute seconds
        they lost (progress since their last checkpoint), summed over kills.

        ``mean_jct``/``p95_jct`` cover completed jobs; ``mean_jct_all`` also counts every unfinished job
        at its age so far (a lower bound on its JCT), so a method cannot look fast by leaving slow jobs
        unfinished.

        With ``max_jobs_per_edge`` set, ``jobs_rejected`` and ``rejected_fraction`` (of ``jobs_arrived``) count the
        jobs refused at admission; they have no JCT, so the JCT figures cover admitted jobs only
        (``jobs_arrived = jobs_completed + jobs_unfinished + jobs_rejected``).
        """
        return self.physics.metrics(self, self.ledger.metrics(self.time, self.jobs.arrival))
