"""K independent episodes in one simulator: K blocks of N edges in the same arrays, one round for all of them.

``BatchedClusterSimulator(config, k)`` is a ``ClusterSimulator`` over K x N edges whose block ``b`` (edges
``b * N .. b * N + N - 1``) is episode ``b`` of ``config`` (N = ``config.n_edges``). The round is the simulator's
own (``ClusterSimulator.step``: place, OOM kill, run with the physics of ``srole_env.core.physics``, arrive,
reward), applied to every block in one set of array calls. The blocks never exchange work: each block's layout is
drawn on its own and its candidates are edges of the same block (the network is block-diagonal), so placements,
transfers, all-reduces and contention stay inside a block.

Per block, and only per block: its generator (``reset_blocks``: the layout and every round's arrivals are drawn from
it exactly as a single env with that generator draws them; every block's arrivals in one compiled call,
``srole_env.core.arrivals``, else block by block through ``jobs_between``), its clock and round counter (blocks may
be reset at different rounds), job ids in arrival order, and its ledger (``BlockLedger``: the round's figures as
segmented reductions over the blocks, folded into one ``srole_env.core.ledger.Ledger`` per block when figures are
read). Each block is therefore the episode a single ``ClusterSimulator`` reset with the same generator runs, bit for
bit (``tests/test_batched_env.py``): rows of a block keep their single-env order within the shared tables,
reductions that a single env takes over all its rows (the OOM killer's running sum, the round's summed decision
latency and lost work) restart at each block.

Shield hooks (``record_interventions``, ``record_shield_host``) are per episode and not supported here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from srole_env.config import ClusterConfig
from srole_env.core.arrivals import fast_arrivals
from srole_env.core.ledger import FLOAT_TOTALS, TOTALS, UTIL_BINS, Ledger
from srole_env.core.memory import memory_estimate_bytes, memory_limit_bytes
from srole_env.core.overhead import local_decision_latency
from srole_env.core.physics import SimulatedPhysics
from srole_env.core.simulator import ClusterSimulator, Placement
from srole_env.core.store import JOB_FIELDS, Table, runs
from srole_env.core.topology import Topology
from srole_env.core.workload import JobBatch, make_workload

ROUND_FIGURES = ("collisions", "overloaded_edges", "jobs_completed", "decision_latency_s", "oom_kills",
                 "work_lost_s")
"""Per-block figures of the last round (``BatchedClusterSimulator.round_figures``, arrays [K])."""


class BlockLedger:
    """The ledgers of K episodes as arrays: totals [K], utilisation histograms [K, bins], completed jobs.

    ``ledger(b)`` folds block ``b``'s figures into a ``Ledger``, whose ``metrics``/``job_times`` then give the
    single env's numbers (float totals are accumulated round by round in the same order as a single ledger's)."""

    def __init__(self, k: int, template: Ledger):
        self.k = k
        self.template = template  # a fresh ledger of the simulator's kind: each block's is a copy of it
        self.totals = {key: np.zeros(k, dtype=np.float64 if key in FLOAT_TOTALS else np.int64) for key in TOTALS}
        self.util_hist = np.zeros((k, UTIL_BINS + 1), dtype=np.int64)
        self._done: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (block, local id, JCT), completion order

    def reset(self, blocks: np.ndarray) -> None:
        """Start blocks ``blocks`` afresh (their completed jobs leave the record)."""
        for arr in self.totals.values():
            arr[blocks] = 0
        self.util_hist[blocks] = 0
        if self._done:
            block, ids, jcts = self._completed()
            keep = ~np.isin(block, blocks)
            self._done = [(block[keep], ids[keep], jcts[keep])] if keep.any() else []

    def record_completed(self, block: np.ndarray, ids: np.ndarray, jcts: np.ndarray) -> None:
        """Jobs ``ids`` (local to their ``block``) completed with ``jcts`` [s], in completion order."""
        if len(ids):
            self._done.append((block, ids, jcts))

    def _completed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(self._done) > 1:
            self._done = [tuple(np.concatenate(parts) for parts in zip(*self._done))]  # type: ignore[misc]
        if not self._done:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return self._done[0]

    def ledgers(self, blocks: Sequence[int]) -> list[Ledger]:
        """A ``Ledger`` holding each of ``blocks``' figures so far."""
        block, ids, jcts = self._completed()
        order = np.argsort(block, kind="stable")  # completion order kept within a block
        starts = np.searchsorted(block[order], np.arange(self.k + 1))
        out = []
        for b in blocks:
            ledger = copy.deepcopy(self.template)
            ledger.count(**{key: (float(v[b]) if key in FLOAT_TOTALS else int(v[b])) for key, v in self.totals.items()})
            ledger.util_hist += self.util_hist[b]
            rows = order[starts[b]:starts[b + 1]]
            ledger.record_completed(ids[rows], jcts[rows])
            out.append(ledger)
        return out


class BatchedClusterSimulator(ClusterSimulator):
    """K episodes of ``config`` as K blocks of N edges in one simulator (see module docstring)."""

    def __init__(self, config: ClusterConfig, k: int, physics: SimulatedPhysics | None = None):
        super().__init__(config, physics)
        self.n_blocks = int(k)
        self.block_size = n = config.n_edges
        self.n_edges = self.n_blocks * n
        self.edge_block = np.repeat(np.arange(self.n_blocks), n)
        """Block [K * N] of every edge."""
        self.jobs = Table({**JOB_FIELDS, "local_id": np.int64})  # local_id: the job's id in its own episode
        self.rngs: list[np.random.Generator | None] = [None] * self.n_blocks
        self.block_time = np.zeros(self.n_blocks)
        """Each block's episode clock (s)."""
        self.block_round = np.zeros(self.n_blocks, dtype=np.int64)
        """Rounds each block's episode has played."""
        self.active = np.ones(self.n_blocks, dtype=bool)
        """Blocks whose episode moves on in the next ``step`` (the others' clocks and generators stand still)."""
        self.ledgers = BlockLedger(self.n_blocks, copy.deepcopy(self.ledger))
        self.round_figures: dict[str, np.ndarray] = {}
        self._topologies: list[Topology | None] = [None] * self.n_blocks
        self._next_local = np.zeros(self.n_blocks, dtype=np.int64)
        self._round_completed = np.zeros(self.n_blocks, dtype=np.int64)
        self._latency = np.zeros(self.n_edges)
        self._open_jobs = np.zeros(self.n_edges, dtype=np.int64)
        self._place_seq = self._next_job = self._next_tid = 0  # batch-wide: ordered as each block's own
        self.time = 0.0  # the views' cache clock (``_cached``): moves on every step and reset; blocks: block_time
        self.round = 0

    # ------------------------------------------------------------------ episodes
    def reset(self, rng: np.random.Generator) -> None:
        raise TypeError("a batched simulator resets blocks: reset_blocks(blocks, rngs)")

    def reset_blocks(self, blocks: Sequence[int] | np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Start a new episode in each of ``blocks``, drawn from its generator in ``rngs`` (as ``reset(rng)``)."""
        cfg, n = self.config, self.block_size
        blocks = np.asarray(blocks, dtype=np.int64).reshape(-1)
        if len(blocks) != len(rngs):
            raise ValueError(f"reset_blocks: {len(blocks)} blocks but {len(rngs)} generators")
        if self.topology is None:
            if sorted(blocks.tolist()) != list(range(self.n_blocks)):
                raise ValueError("reset_blocks: the first reset must start every block")
            need, have = memory_estimate_bytes(cfg) * self.n_blocks, memory_limit_bytes()
            if need > have:
                raise ValueError(f"num_envs={self.n_blocks} episodes of n_edges={cfg.n_edges} need about "
                                 f"{need / 2**30:.3g} GiB, more than this machine's {have / 2**30:.3g} GiB")
            self.workload = make_workload(cfg, self.model_names)
        for b, rng in zip(blocks.tolist(), rngs):
            self.rngs[b] = rng
            layout_rng = rng if cfg.topology_seed is None else np.random.default_rng(cfg.topology_seed)
            self._topologies[b] = self.physics.build_topology(self, layout_rng)
        self.topology = topo = concat_topologies(self._topologies, n)  # type: ignore[arg-type]
        self.slot_limit = cfg.compute_threshold * topo.cores
        self.mem_limit = cfg.memory_threshold * topo.memory
        self.units = np.where(topo.gpu, 1.0, topo.cores)
        self.solo_flops = topo.flops / self.units
        self.local_latency = local_decision_latency(topo, cfg)
        self._features = None
        gone = np.zeros(self.n_blocks, dtype=bool)
        gone[blocks] = True
        self.tasks.keep(~gone[self.edge_block[self.tasks.origin]])
        self.jobs.keep(~gone[self.edge_block[self.jobs.origin]])
        self._open_jobs[gone[self.edge_block]] = 0
        self.block_time[blocks] = 0.0
        self.block_round[blocks] = 0
        self._next_local[blocks] = 0
        self.ledgers.reset(blocks)
        self.time += 1.0
        self.physics.reset(self)
        self._add_arrivals(blocks, np.full(len(blocks), -cfg.round_s), np.zeros(len(blocks)))

    def _add_arrivals(self, blocks: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> None:
        """Each block's jobs arriving in (t0, t1], drawn from its own generator, into the tables in block order."""
        n = self.block_size
        rngs = [self.rngs[k] for k in blocks.tolist()]
        fast = fast_arrivals(self.workload, rngs, t0, t1)  # one compiled call for every block, else block by block
        if fast is not None:
            merged, counts = fast
        else:
            batches = [self.workload.jobs_between(float(a), float(b), rng)  # type: ignore[arg-type]
                       for rng, a, b in zip(rngs, t0.tolist(), t1.tolist())]
            counts = np.array([len(x) for x in batches], dtype=np.int64)
            merged = JobBatch(**{f: np.concatenate([getattr(x, f) for x in batches])
                                 for f in ("arrival", "origin", "model", "samples", "epochs", "batch", "n_tasks")})
        if not counts.any():
            return
        block = np.repeat(blocks, counts)
        merged.origin[:] += block * n
        self.add_jobs(merged)

    # ------------------------------------------------------------------ the round's per-block bookkeeping
    def _place(self, actions: np.ndarray, latency: np.ndarray) -> Placement:
        self._latency = latency
        self._round_completed[:] = 0
        return super()._place(actions, latency)

    def _count_queue_wait(self) -> None:
        """Per block: every job with a task still pending after this round's placements waits the round."""
        pending = self.tasks.edge < 0
        waiting = self.tasks.job[pending]
        if len(waiting):
            starts, _ = runs(waiting)
            jobs = np.bincount(self.edge_block[self.tasks.origin[pending][starts]], minlength=self.n_blocks)
            self.ledgers.totals["queue_wait_s"] += self.config.round_s * jobs

    def _arrive(self) -> None:
        """The active blocks' clocks move on a round; their new jobs join the queues."""
        blocks = np.flatnonzero(self.active)
        t0 = self.block_time[blocks]
        self.block_time[blocks] += self.config.round_s
        self.block_round[blocks] += 1
        self.time += 1.0
        self.round += 1
        self._add_arrivals(blocks, t0, self.block_time[blocks])

    def _record_round(self, placed: Placement, finished_jobs: int, kills: np.ndarray | int,
                      lost_s: np.ndarray | float) -> None:
        """The round's figures of every block into its ledger (segmented reductions over the blocks)."""
        k, n, led = self.n_blocks, self.block_size, self.ledgers
        util = np.minimum(placed.slots_after / self.topology.cores, 1.0)
        bins = np.rint(util * UTIL_BINS).astype(np.int64) + self.edge_block * (UTIL_BINS + 1)
        led.util_hist += np.bincount(bins, minlength=k * (UTIL_BINS + 1)).reshape(k, UTIL_BINS + 1)
        figures = {
            "collisions": placed.collision_edge.reshape(k, n).sum(axis=1),
            "overloaded_edges": placed.over_after.reshape(k, n).sum(axis=1),
            "jobs_completed": self._round_completed.copy(),
            "decision_latency_s": block_sums(self._latency[placed.agents], self.edge_block[placed.agents], k),
            "oom_kills": np.broadcast_to(kills, (k,)).astype(np.int64),
            "work_lost_s": np.broadcast_to(np.asarray(lost_s, float), (k,)).copy(),
        }
        t = led.totals
        t["collisions"] += figures["collisions"]
        t["overloads"] += figures["overloaded_edges"]
        t["jobs_completed"] += figures["jobs_completed"]
        t["tasks_placed"] += placed.placing.reshape(k, n).sum(axis=1)
        t["scheduling_overhead_s"] += figures["decision_latency_s"]
        t["oom_kills"] += figures["oom_kills"]
        t["work_lost_s"] += figures["work_lost_s"]
        t["rounds"] += 1
        self.round_figures = figures

    # ------------------------------------------------------------------ per-episode hooks of the simulator
    def clock(self, edges: np.ndarray | None = None) -> np.ndarray:
        """Each edge's episode time (s): its block's clock, at ``edges`` (default: every edge)."""
        return self.block_time[self.edge_block if edges is None else self.edge_block[edges]]

    def cumsum_by_episode(self, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
        """``np.cumsum`` restarting at each block (rows sorted by edge), so each block sums as its single env."""
        if len(values) == 0:
            return np.cumsum(values)
        block = self.edge_block[edges]
        starts, counts = runs(block)
        if len(starts) == 1:
            return np.cumsum(values)
        row = np.repeat(np.arange(len(starts)), counts)
        col = np.arange(len(values)) - np.repeat(starts, counts)
        padded = np.zeros((len(starts), int(counts.max())))
        padded[row, col] = values
        return np.cumsum(padded, axis=1)[row, col]

    def count_kills(self, rows: np.ndarray, lost_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per block [K]: OOM kills and the seconds they lost (rows in kill order, blocks ascending)."""
        block = self.edge_block[self.tasks.origin[rows]]
        return np.bincount(block, minlength=self.n_blocks), block_sums(lost_s, block, self.n_blocks)

    def _job_columns(self, batch: JobBatch) -> dict[str, np.ndarray]:
        """Each admitted job's id in its own episode: its block's next ids, in arrival order (blocks contiguous)."""
        block = self.edge_block[batch.origin]
        starts, counts = runs(block)
        local = self._next_local[block] + np.arange(len(block)) - np.repeat(starts, counts)
        self._next_local[block[starts]] += counts
        return {"local_id": local}

    def _count_arrivals(self, batch: JobBatch) -> None:
        self.ledgers.totals["jobs_arrived"] += np.bincount(self.edge_block[batch.origin], minlength=self.n_blocks)

    def _count_rejected(self, batch: JobBatch) -> None:
        rejected = np.bincount(self.edge_block[batch.origin], minlength=self.n_blocks)
        self.ledgers.totals["jobs_arrived"] += rejected
        self.ledgers.totals["jobs_rejected"] += rejected

    def _record_completed(self, rows: np.ndarray, jcts: np.ndarray) -> None:
        block = self.edge_block[self.jobs.origin[rows]]
        self._round_completed += np.bincount(block, minlength=self.n_blocks)
        self.ledgers.record_completed(block, self.jobs.local_id[rows], jcts)

    def record_interventions(self, count: int) -> None:
        raise NotImplementedError("a batched simulator runs unshielded episodes (shields wrap one env)")

    def record_shield_host(self, utilization: float, backlog_s: float) -> None:
        raise NotImplementedError("a batched simulator runs unshielded episodes (shields wrap one env)")

    # ------------------------------------------------------------------ figures per block
    def metrics_of(self, blocks: Sequence[int]) -> list[dict[str, float]]:
        """Each of ``blocks``' episode figures so far (``ClusterSimulator.metrics`` of its single env)."""
        open_block = self.edge_block[self.jobs.origin]
        out = []
        for b, ledger in zip(blocks, self.ledgers.ledgers(blocks)):
            figures = ledger.metrics(float(self.block_time[b]), self.jobs.arrival[open_block == b])
            out.append(self.physics.metrics(self, figures))
        return out

    def job_times_of(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Block ``block``'s ``job_times()`` (per job of its episode, by its own job ids)."""
        mine = self.edge_block[self.jobs.origin] == block
        ledger = self.ledgers.ledgers([block])[0]
        return ledger.job_times(float(self.block_time[block]), self.jobs.local_id[mine], self.jobs.arrival[mine])

    def metrics(self) -> dict[str, float]:
        raise TypeError("a batched simulator has one set of figures per block: metrics_of(blocks)")

    def job_times(self) -> tuple[np.ndarray, np.ndarray]:
        raise TypeError("a batched simulator has one set of job times per block: job_times_of(block)")


def block_sums(values: np.ndarray, block: np.ndarray, k: int) -> np.ndarray:
    """Sum [k] of ``values`` per block, each block's values contiguous in ``block``: each sum is the one
    ``values[block == b].sum()`` gives, bit for bit (NumPy's pairwise summation of a row of that length)."""
    out = np.zeros(k)
    if len(values) == 0:
        return out
    starts, counts = runs(block)
    owner = block[starts]
    for c in np.unique(counts).tolist():
        sel = counts == c
        out[owner[sel]] = values[starts[sel][:, None] + np.arange(c)].sum(axis=1)
    return out


def concat_topologies(parts: Sequence[Topology], n: int) -> Topology:
    """K topologies of ``n`` edges as one of K x n edges, block ``b``'s candidates offset by ``b * n``."""
    first = parts[0]
    offset = (np.arange(len(parts)) * n)[:, None, None]
    return replace(
        first,
        device_index=np.concatenate([p.device_index for p in parts]),
        cores=np.concatenate([p.cores for p in parts]),
        flops=np.concatenate([p.flops for p in parts]),
        memory=np.concatenate([p.memory for p in parts]),
        nic_bps=np.concatenate([p.nic_bps for p in parts]),
        positions=np.concatenate([p.positions for p in parts]),
        candidates=(np.stack([p.candidates for p in parts]) + offset).reshape(-1, first.candidates.shape[1]),
        link_bps=np.concatenate([p.link_bps for p in parts]),
        link_latency_s=np.concatenate([p.link_latency_s for p in parts]),
        gpu=np.concatenate([p.gpu for p in parts]),
    )
