"""Offline optimum on small instances: the best contention-free schedule, from OR-Tools CP-SAT.

Given the whole episode in advance (a config whose jobs are all known: a trace, or a seeded Poisson
draw replayed by ``references.bound.replay_jobs``), ``solve_offline`` minimises the mean JCT over a stated
**schedule class** and ``ScheduledPolicy`` replays the schedule through the parallel env (the same
``ArrayEnv`` / ``agents.harness.evaluate.evaluate`` path every policy takes), so the comparison code does not
special-case it. The replayed JCT equals the solver's objective up to float rounding
(``tests/test_optimality.py`` checks ``REPLAY_RTOL`` = 1e-6 relative; the differences measured on the
test instance and on every instance of ``scripts/experiments/optimality_gaps.py`` are below 1e-12 relative), which
validates the model against the simulator.

**What the env can express.** Each round every edge may place its head-of-queue task (FIFO by arrival)
on one of its candidates or hold it; a placed task starts after its decision latency (the parallel env
charges the local one, ``ClusterSimulator.local_latency``) plus its shard's transfer, and cannot be moved
or paused. So a schedule is: for each task, a placement round and a candidate.

**Schedule class (the restrictions; the solver's result is the best schedule in this class).**

1. *No overload, no contention between jobs*: at every round each edge has at most
   ``cap = floor(compute_threshold x cores)`` committed workers (so never more workers than cores: no
   oversubscription) and its committed memory stays within ``memory_threshold x memory`` (nothing is
   overloaded, nothing OOM-killed). A *GPU* edge serves one job at a time (from the placement of the
   job's first worker there to the finish of its last one there); that job's workers on it share the GPU
   as the simulator says (``srole_env.core.contention.worker_flops``: ``flops / k``). On a CPU edge,
   workers of several jobs may run together (up to ``cap`` <= cores, each on its own core at the solo
   rate). So a job's speed never depends on another job. (Sharing a GPU between jobs or oversubscribing
   cores is outside the class; methods that do so are compared with it all the same and may beat it:
   the valid bound for every schedule is ``references.fluid_bound``.)
2. *A job's tasks are placed in consecutive rounds* ``S_j, S_j + 1, ..., S_j + k_j - 1`` (the origin
   places one task per round, so this is the fastest a job can start), at a start round ``S_j`` the
   solver chooses (holding a whole job is allowed; holding between a job's own tasks is not).
   FIFO at the origin follows: a later job at the same origin starts after the earlier one's last task.
3. *Each job chooses among its* ``max_options`` *fastest edge assignments* (a candidate per task, ranked
   by the job's contention-free finishing time); with ``max_options >= C ** k`` this is no restriction.
4. *Every job finishes within the horizon* (the instance must leave room to drain).

Within the class a job's timing does not depend on other jobs, only on its own start round and
assignment (the all-reduce over the slowest link among its placed workers changes as its workers start
and finish; ``job_option_times`` integrates that round by round exactly as ``ClusterSimulator._run``
does, from the simulator's own task table, latencies, links and ``worker_flops``). The CP-SAT model:
an integer start round per job, one boolean per (job, assignment), one optional interval per task of
each assignment on its edge, spanning the rounds the worker is committed there (placement round to the
round it finishes, inclusive); per-edge cumulative constraints on memory, and on workers (``cap``) on CPU
edges; on GPU edges a no-overlap constraint over one interval per (job assignment, edge) spanning the
job's use of it; FIFO precedences per origin; and the sum of JCTs (each job's finishing offset rounded
to the millisecond) as the objective. A list-scheduling heuristic inside the class gives the solver a
feasible hint. ``OfflineSchedule.mean_jct`` is recomputed exactly from the chosen schedule;
``solver_gap`` is CP-SAT's proven relative gap within the class (0 when proven optimal; on the gap
instances CP-SAT's bound stays weak, and the optimality study (``srole reproduce --profile optimality``) also uses
the fluid LP bound, which is valid for the class too).

The decision latency is the parallel env's local one without a shield (what the replay pays).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from references.bound import replay_jobs
from srole_env import ClusterConfig, make_config
from srole_env.core.contention import worker_flops
from srole_env.core.simulator import ClusterSimulator
from srole_env.core.workload import PoissonWorkload, write_trace_csv

REPLAY_RTOL = 1e-6
"""Relative tolerance between the solver's mean JCT and the replayed simulation's (float rounding only)."""
MEM_UNIT = 1e6
"""Memory is modelled in MB in CP-SAT: demands rounded up, capacities down (conservative: never over-commits)."""


@dataclass
class JobOptions:
    """The candidate assignments of one job and their contention-free timing (relative to its start round)."""

    job: int
    origin: int
    rows: np.ndarray  # [k] task rows in the simulator's table (placement order)
    release: int  # first round the job can be decided
    arrival: float
    combos: np.ndarray  # [M, k] candidate index of each task
    finish: np.ndarray  # [M, k] seconds from the start round's beginning to each task's finish
    last_round: np.ndarray  # [M, k] round (relative to the start round) in which each task finishes
    mem: np.ndarray  # [k] bytes per task

    @property
    def job_finish(self) -> np.ndarray:
        """[M] seconds from the start round's beginning to the job's last task's finish."""
        return self.finish.max(axis=1)


@dataclass
class OfflineSchedule:
    """A solved instance: per job its start round and assignment, the objective and the solver's figures."""

    config: ClusterConfig
    seed: int
    start_round: dict[int, int]  # job -> S_j
    assignment: dict[int, tuple[int, ...]]  # job -> candidate index per task
    mean_jct: float  # the model's mean JCT of this schedule (seconds)
    best_bound: float  # CP-SAT's proven lower bound on the class optimum's mean JCT
    status: str  # OPTIMAL / FEASIBLE
    wall_s: float
    n_jobs: int
    actions: dict[int, np.ndarray] = field(default_factory=dict)  # round -> joint action [N]

    @property
    def solver_gap(self) -> float:
        """CP-SAT's proven relative gap ``(mean_jct - best_bound) / mean_jct`` (0 = proven optimal)."""
        return max(0.0, (self.mean_jct - self.best_bound) / self.mean_jct) if self.mean_jct > 0 else 0.0


# ---------------------------------------------------------------------------------------------- instances
def instance_config(
    trace_path: str | Path,
    n_edges: int = 10,
    arrival_rounds: int = 20,
    drain_rounds: int = 40,
    arrival_rate: float = 0.01,
    seed: int = 0,
    topology_seed: int | None = None,
    **overrides: Any,
) -> ClusterConfig:
    """A small instance: the ``small`` scenario with ``n_edges`` edges laid out by ``topology_seed`` (default
    ``seed``),
    and a trace (written to ``trace_path``) of the Poisson jobs (``arrival_rate`` per edge per second, the
    simulator's own ``PoissonWorkload`` draws from ``default_rng(seed)``) arriving in the first
    ``arrival_rounds`` rounds; the horizon adds ``drain_rounds`` without arrivals so that jobs can finish."""
    layout = seed if topology_seed is None else topology_seed
    base = make_config("small", n_edges=n_edges, arrival_rate=arrival_rate, topology_seed=layout, **overrides)
    Path(trace_path).parent.mkdir(parents=True, exist_ok=True)
    workload = PoissonWorkload(base, tuple(base.model_mix))
    batch = workload.jobs_between(0.0, arrival_rounds * base.round_s, np.random.default_rng(seed))
    names = workload.model_names
    write_trace_csv(trace_path, (
        (repr(float(batch.arrival[i])), int(batch.origin[i]), names[batch.model[i]], int(batch.samples[i]),
         int(batch.epochs[i]), int(batch.batch[i]), int(batch.n_tasks[i]))
        for i in range(len(batch))
    ))
    return base.replace(trace_path=str(trace_path), horizon=arrival_rounds + drain_rounds)


# ---------------------------------------------------------------------------------------------- physics
def edge_caps(sim: ClusterSimulator) -> tuple[np.ndarray, np.ndarray]:
    """Per edge [N]: the class's worker cap (restriction 1, ``floor(compute_threshold x cores)``, at most
    cores) and memory limit in bytes (``memory_threshold x memory``)."""
    topo, cfg = sim.topology, sim.config
    cap = np.minimum(topo.cores, np.floor(cfg.compute_threshold * topo.cores + 1e-9)).astype(np.int64)
    return cap, cfg.memory_threshold * topo.memory


def _units(sim: ClusterSimulator) -> np.ndarray:
    """[N] equal compute units of each device (cores on a CPU device, 1 on a GPU), as the simulator has them."""
    topo = sim.topology
    return np.where(topo.gpu, 1.0, topo.cores)


def job_option_times(
    sim: ClusterSimulator, job: int, combos: np.ndarray, latency: float
) -> tuple[np.ndarray, np.ndarray]:
    """Finish times [M, k] (seconds from the start round) and finishing rounds [M, k] of ``job``'s tasks
    under each assignment ``combos`` [M, k] (candidate indices), task ``i`` placed in relative round ``i``,
    every worker at its solo speed. Integrates ``ClusterSimulator._run`` round by round: delay (decision
    ``latency`` + shard transfer), then iterations of compute at the solo speed plus the ring all-reduce
    over the slowest link (and largest latency) among the job's workers placed and not yet finished."""
    tasks, topo, R = sim.tasks, sim.topology, sim.config.round_s
    rows = np.flatnonzero(tasks.job == job)
    o = int(sim.jobs.origin[job])
    k = len(rows)
    n_tasks = int(sim.jobs.n_tasks[job])
    sync_bits = float(sim.jobs.sync_bits[job])
    bw = topo.link_bps[o][combos]  # [M, k]
    lat = topo.link_latency_s[o][combos]
    edge = topo.candidates[o][combos]
    delay = latency + tasks.shard_bits[rows][None, :] / bw + lat
    units = _units(sim)
    override = sim.config.oversubscription_efficiency
    iters_left = np.broadcast_to(tasks.iters_total[rows], combos.shape).astype(float).copy()
    placed_at = np.arange(k)[None, :]
    done = np.zeros(combos.shape, dtype=bool)
    finish = np.full(combos.shape, np.nan)
    last = np.full(combos.shape, -1, dtype=np.int64)
    r = 0
    while not done.all():
        placed = (placed_at <= r) & ~done
        job_bw = np.where(placed, bw, np.inf).min(axis=1, keepdims=True)
        job_lat = np.where(placed, lat, -np.inf).max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            sync = np.where(np.isfinite(job_bw), sync_bits / job_bw + 2.0 * (n_tasks - 1) * job_lat, 0.0)
        # workers of this job running on each task's edge this round (the simulator counts placed tasks
        # whose start delay ends within the round); within the class no other job runs on a GPU edge, and
        # on a CPU edge the speed is flat up to cores
        running = placed & (delay < R)
        same = (edge[:, :, None] == edge[:, None, :]) & running[:, None, :]
        k_on = same.sum(axis=2).astype(float)
        speed = worker_flops(topo.flops[edge], topo.cores[edge], units[edge], k_on, override)
        iter_time = tasks.flops_iter[rows][None, :] / speed + sync
        compute_time = np.where(placed, np.clip(R - delay, 0.0, R), 0.0)
        delay = np.where(placed, np.maximum(delay - R, 0.0), delay)
        done_iters = np.where(placed, np.minimum(compute_time / iter_time, iters_left), 0.0)
        fin = placed & (done_iters >= iters_left)
        finish[fin] = r * R + (R - compute_time[fin]) + iters_left[fin] * iter_time[fin]
        last[fin] = r
        iters_left = iters_left - done_iters
        done |= fin
        r += 1
        if r > 100_000:
            raise RuntimeError(f"job {job}: no progress after {r} rounds")
    return finish, last


def build_options(sim: ClusterSimulator, max_options: int = 24) -> list[JobOptions]:
    """Every job's ``max_options`` fastest assignments (restriction 3) with their timing, in table order."""
    tasks, jobs, R = sim.tasks, sim.jobs, sim.config.round_s
    if (tasks.edge >= 0).any():
        raise ValueError("build_options needs a simulator whose tasks are all pending "
                         "(see references.bound.replay_jobs)")
    out = []
    n_cand = sim.n_candidates
    cap, mem_cap = edge_caps(sim)
    cand = sim.topology.candidates
    for j in range(jobs.size):
        rows = np.flatnonzero(tasks.job == j)
        k = len(rows)
        o = int(jobs.origin[j])
        combos = np.array(list(itertools.product(range(n_cand), repeat=k)), dtype=np.int64)
        finish, last = job_option_times(sim, j, combos, float(sim.local_latency[o]))
        fits = _fits_alone(combos, last, tasks.mem[rows], cap[cand[o]], mem_cap[cand[o]])
        combos, finish, last = combos[fits], finish[fits], last[fits]
        if len(combos) == 0:
            raise ValueError(f"job {j}: no assignment of its {k} tasks fits its origin's candidates within the class")
        order = np.lexsort((np.arange(len(combos)), finish.max(axis=1)))[:max_options]
        out.append(JobOptions(
            job=j, origin=o, rows=rows,
            release=int(max(math.ceil(jobs.arrival[j] / R - 1e-12), 0)),
            arrival=float(jobs.arrival[j]),
            combos=combos[order], finish=finish[order], last_round=last[order], mem=tasks.mem[rows].copy(),
        ))
    return out


def _fits_alone(
    combos: np.ndarray, last: np.ndarray, mem: np.ndarray, cap: np.ndarray, mem_cap: np.ndarray
) -> np.ndarray:
    """[M] bool: the assignment respects the per-edge caps with the job's own tasks alone (task ``t`` is
    committed from relative round ``t`` to ``last[:, t]``); ``cap``/``mem_cap`` [C] per candidate."""
    k = combos.shape[1]
    ok = np.ones(len(combos), dtype=bool)
    for i in range(k):  # concurrency peaks at some task's placement round (cap: the job's own workers)
        occ = (np.arange(k)[None, :] <= i) & (last >= i)
        for c in range(len(cap)):
            on = occ & (combos == c)
            ok &= (on.sum(axis=1) <= cap[c]) & ((on * mem[None, :]).sum(axis=1) <= mem_cap[c])
    return ok


# ---------------------------------------------------------------------------------------------- hint
def list_schedule(sim: ClusterSimulator, options: list[JobOptions], horizon: int) -> dict[int, tuple[int, int]]:
    """A feasible schedule in the class (job -> (start round, option index)): jobs in arrival order, each at
    the (start, option) with the earliest finish given the capacity the earlier jobs use. Empty if some
    job fits nowhere within ``horizon``."""
    cap, mem_cap = edge_caps(sim)
    cand = sim.topology.candidates
    gpu = sim.topology.gpu
    cap = np.where(gpu, 1, cap)  # a GPU edge: one job at a time (its span counts as one)
    used = np.zeros((sim.n_edges, horizon + 1), dtype=np.int64)
    used_mem = np.zeros((sim.n_edges, horizon + 1))
    origin_free = np.zeros(sim.n_edges, dtype=np.int64)
    plan: dict[int, tuple[int, int]] = {}
    for opt in sorted(options, key=lambda o: (o.arrival, o.job)):
        k = len(opt.rows)
        best = None
        for s in range(max(opt.release, int(origin_free[opt.origin])), horizon):
            for m in range(len(opt.combos)):
                ends = s + opt.last_round[m]
                if ends.max() >= horizon:
                    continue
                ok = True
                add = np.zeros_like(used)
                add_mem = np.zeros_like(used_mem)
                for i in range(k):
                    e = cand[opt.origin, opt.combos[m, i]]
                    if gpu[e]:
                        add[e, s + i : ends[i] + 1] = 1
                    else:
                        add[e, s + i : ends[i] + 1] += 1
                    add_mem[e, s + i : ends[i] + 1] += opt.mem[i]
                if ((used + add) > cap[:, None]).any() or ((used_mem + add_mem) > mem_cap[:, None]).any():
                    ok = False
                if ok:
                    t = s * sim.config.round_s + opt.finish[m].max()
                    if best is None or t < best[0]:
                        best = (t, s, m, add, add_mem)
            if best is not None and best[0] <= (s + 1) * sim.config.round_s + opt.job_finish.min():
                break  # no later start can finish earlier than this
        if best is None:
            return {}
        _, s, m, add, add_mem = best
        used += add
        used_mem += add_mem
        origin_free[opt.origin] = s + k
        plan[opt.job] = (s, m)
    return plan


# ---------------------------------------------------------------------------------------------- solver
def solve_offline(
    config: ClusterConfig | str | dict[str, Any],
    seed: int = 0,
    *,
    time_limit_s: float = 30.0,
    max_options: int = 24,
    num_workers: int = 1,
    random_seed: int = 0,
) -> OfflineSchedule:
    """Minimise the mean JCT of the episode ``(config, seed)`` over the schedule class (module docstring)
    with CP-SAT within ``time_limit_s``. Raises ``ValueError`` if the class has no schedule that finishes
    every job within the horizon (lengthen the horizon)."""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    cfg = ClusterConfig.from_dict(config) if isinstance(config, dict) else make_config(config)
    sim = replay_jobs(cfg, seed)
    options = build_options(sim, max_options)
    H = cfg.horizon
    R = cfg.round_s
    cap, mem_cap = edge_caps(sim)
    cand = sim.topology.candidates
    hint = list_schedule(sim, options, H)

    model = cp_model.CpModel()
    starts, choose = {}, {}
    edge_iv: dict[int, list] = {e: [] for e in range(sim.n_edges)}
    edge_mem: dict[int, list[int]] = {e: [] for e in range(sim.n_edges)}
    gpu_span: dict[int, list] = {e: [] for e in range(sim.n_edges)}  # one interval per (job option, GPU edge)
    gpu = sim.topology.gpu
    objective = []
    for opt in options:
        j, k = opt.job, len(opt.rows)
        latest = H - 1 - int(opt.last_round.max(axis=1).min())
        if latest < opt.release:
            raise ValueError(f"job {j} cannot finish within horizon {H} rounds in the class; lengthen the horizon")
        s = model.NewIntVar(opt.release, latest, f"S{j}")
        starts[j] = s
        xs = []
        for m in range(len(opt.combos)):
            x = model.NewBoolVar(f"x{j}_{m}")
            xs.append(x)
            model.Add(s + int(opt.last_round[m].max()) <= H - 1).OnlyEnforceIf(x)
            for i in range(k):
                e = int(cand[opt.origin, opt.combos[m, i]])
                size = int(opt.last_round[m, i]) - i + 1
                iv = model.NewOptionalIntervalVar(s + i, size, s + i + size, x, f"iv{j}_{m}_{i}")
                edge_iv[e].append(iv)
                edge_mem[e].append(int(math.ceil(opt.mem[i] / MEM_UNIT)))
            edges = cand[opt.origin, opt.combos[m]]
            for e in np.unique(edges[gpu[edges]]):
                on = np.flatnonzero(edges == e)
                first, end = int(on.min()), int(opt.last_round[m, on].max()) + 1
                gpu_span[int(e)].append(
                    model.NewOptionalIntervalVar(s + first, end - first, s + end, x, f"g{j}_{m}_{e}"))
            objective.append((x, int(round(opt.finish[m].max() * 1000))))
        model.AddExactlyOne(xs)
        choose[j] = xs
        objective.append((s, int(round(R * 1000))))
        if hint:
            hs, hm = hint[j]
            model.AddHint(s, hs)
            for m, x in enumerate(xs):
                model.AddHint(x, int(m == hm))
    for e in range(sim.n_edges):
        if gpu[e] and gpu_span[e]:  # one job at a time (its own workers are within the cap: build_options)
            model.AddNoOverlap(gpu_span[e])
        elif edge_iv[e]:
            model.AddCumulative(edge_iv[e], [1] * len(edge_iv[e]), int(cap[e]))
        if edge_iv[e]:
            model.AddCumulative(edge_iv[e], edge_mem[e], int(math.floor(mem_cap[e] / MEM_UNIT)))
    by_origin: dict[int, list[JobOptions]] = {}
    for opt in options:
        by_origin.setdefault(opt.origin, []).append(opt)
    for queue in by_origin.values():  # FIFO at the origin, one placement per round (table order = queue order)
        for a, b in zip(queue, queue[1:]):
            model.Add(starts[b.job] >= starts[a.job] + len(a.rows))
    model.Minimize(sum(c * v for v, c in objective))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(num_workers)
    solver.parameters.random_seed = int(random_seed)
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise ValueError(f"CP-SAT found no schedule in the class ({solver.StatusName(status)}); lengthen the horizon "
                         "or the time limit")
    start_round, assignment, jct = {}, {}, []
    for opt in options:
        j = opt.job
        m = next(m for m, x in enumerate(choose[j]) if solver.BooleanValue(x))
        start_round[j] = int(solver.Value(starts[j]))
        assignment[j] = tuple(int(c) for c in opt.combos[m])
        jct.append(start_round[j] * R + float(opt.finish[m].max()) - opt.arrival)
    n = len(options)
    arrivals = sum(opt.arrival for opt in options)
    bound = (solver.BestObjectiveBound() / 1000.0 - arrivals) / n if n else 0.0
    schedule = OfflineSchedule(
        config=cfg, seed=seed, start_round=start_round, assignment=assignment,
        mean_jct=float(np.mean(jct)) if n else math.nan, best_bound=float(bound),
        status=solver.StatusName(status), wall_s=time.perf_counter() - t0, n_jobs=n,
    )
    schedule.actions = joint_actions(sim, options, start_round, assignment)
    return schedule


def joint_actions(
    sim: ClusterSimulator,
    options: list[JobOptions],
    start_round: dict[int, int],
    assignment: dict[int, tuple[int, ...]],
) -> dict[int, np.ndarray]:
    """round -> joint action [N]: task ``i`` of job ``j`` goes to its candidate in round ``S_j + i``; else hold."""
    actions: dict[int, np.ndarray] = {}
    for opt in options:
        for i, c in enumerate(assignment[opt.job]):
            r = start_round[opt.job] + i
            row = actions.setdefault(r, np.full(sim.n_edges, sim.hold_action, dtype=np.int64))
            if row[opt.origin] != sim.hold_action:
                raise ValueError(f"edge {opt.origin} places two tasks in round {r}")
            row[opt.origin] = c
    return actions


# ---------------------------------------------------------------------------------------------- replay
class ScheduledPolicy:
    """Replays an ``OfflineSchedule`` as a policy of the parallel env (no shield): in round ``r`` every edge
    takes the schedule's action (its preference is 1, every other action 0). One ``preferences`` call
    per round (as ``agents.harness.evaluate`` makes); ``reset`` rewinds to round 0."""

    name = "optimal"
    env_kind = "parallel"

    def __init__(self, schedule: OfflineSchedule):
        self.schedule = schedule
        self.round = 0

    def reset(self) -> None:
        self.round = 0

    def preferences(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n, n_actions = mask.shape
        action = self.schedule.actions.get(self.round)
        if action is None:
            action = np.full(n, n_actions - 1, dtype=np.int64)
        self.round += 1
        prefs = np.zeros((n, n_actions))
        prefs[np.arange(n), action] = 1.0
        return prefs

    def act(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.argmax(self.preferences(obs, mask), axis=1)


def replay(schedule: OfflineSchedule) -> dict[str, Any]:
    """Evaluate the schedule's ``ScheduledPolicy`` on its own episode through ``agents.harness.evaluate.evaluate``."""
    from agents.harness.evaluate import evaluate

    return evaluate(ScheduledPolicy(schedule), shield="none", config=schedule.config, episodes=1, seed=schedule.seed)


def schedule_facts(schedule: OfflineSchedule) -> dict[str, float]:
    """What the solver's schedule does: share of tasks on GPU edges and off their origin, share of jobs held
    past the first round their origin could place them (FIFO), mean rounds held."""
    sim = replay_jobs(schedule.config, schedule.seed)
    options = build_options(sim, 1)
    cand, gpu = sim.topology.candidates, sim.topology.gpu
    free = np.zeros(sim.n_edges, dtype=np.int64)
    held, on_gpu, remote, tasks = [], 0, 0, 0
    for opt in options:
        s = schedule.start_round[opt.job]
        earliest = max(opt.release, int(free[opt.origin]))
        held.append(s - earliest)
        free[opt.origin] = s + len(opt.rows)
        combo = np.asarray(schedule.assignment[opt.job])
        on_gpu += int(gpu[cand[opt.origin, combo]].sum())
        remote += int((combo > 0).sum())
        tasks += len(combo)
    held_arr = np.asarray(held)
    return {"gpu_share": on_gpu / tasks, "remote_share": remote / tasks, "held_share": float((held_arr > 0).mean()),
            "mean_hold_rounds": float(held_arr.mean())}
