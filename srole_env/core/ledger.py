"""The episode's ledger: what an episode has done so far, kept apart from the live state of the cluster.

The simulator's tables (``srole_env.core.store``) hold live work only; a job leaves them when it completes, and
what the episode's figures need of it stays here: its JCT, in completion order (``mean_jct`` and ``p95_jct``
read them in that order), and its id (``job_times`` reads them in arrival order). With the round's counters and
the utilisation histogram, the ledger answers ``metrics()`` and ``job_times()`` with the numbers the simulator
gave when it kept every finished job, bit for bit, at 16 bytes per completed job.
"""

from __future__ import annotations

import math

import numpy as np

UTIL_BINS = 100
"""Resolution of the utilisation histogram (bins of 1% of an edge's cores)."""
TOTALS = ("collisions", "overloads", "jobs_arrived", "jobs_completed", "tasks_placed", "interventions", "oom_kills",
          "work_lost_s", "scheduling_overhead_s", "queue_wait_s", "rounds")
"""The ledger's running counters (``Ledger.totals``)."""
FLOAT_TOTALS = ("work_lost_s", "scheduling_overhead_s", "queue_wait_s")


class Column:
    """An append-only column of one dtype in fixed-size chunks: no doubling copies, no per-round objects."""

    def __init__(self, dtype: type, chunk: int = 1 << 16):
        self.dtype, self.chunk = dtype, chunk
        self.chunks: list[np.ndarray] = []
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        """Append ``values`` (1-D) at the end."""
        values = np.asarray(values, dtype=self.dtype)
        done = 0
        while done < len(values):
            used = self.size % self.chunk
            if used == 0:
                self.chunks.append(np.empty(self.chunk, dtype=self.dtype))
            take = min(self.chunk - used, len(values) - done)
            self.chunks[-1][used : used + take] = values[done : done + take]
            done += take
            self.size += take

    def array(self) -> np.ndarray:
        """Every value so far, in order (a new array)."""
        if not self.chunks:
            return np.empty(0, dtype=self.dtype)
        out = np.concatenate(self.chunks)
        return out[: self.size]


class Ledger:
    """Running totals, the utilisation histogram and completed jobs of one episode (see module docstring)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {k: (0.0 if k in FLOAT_TOTALS else 0) for k in TOTALS}
        self.util_hist = np.zeros(UTIL_BINS + 1, dtype=np.int64)
        self.shield_host = [0, 0.0, 0.0]
        """Rounds a shield host served, the sum of its utilisation over them, its largest backlog (seconds)."""
        self.jcts = Column(np.float64)  # completed jobs' JCTs, in completion order
        self.ids = Column(np.int64)  # their ids, in the same order

    def count(self, **amounts: float) -> None:
        """Add ``amounts`` to the running totals (``TOTALS``)."""
        for key, value in amounts.items():
            self.totals[key] += value

    def record_utilization(self, util: np.ndarray) -> None:
        """Add one round's edge utilisations [N] (committed workers / cores, capped at 1) to the histogram."""
        self.util_hist += np.bincount(np.rint(util * UTIL_BINS).astype(np.int64), minlength=UTIL_BINS + 1)

    def record_shield_host(self, utilization: float, backlog_s: float) -> None:
        """Add one round of the busiest shield host (``ClusterSimulator.record_shield_host``)."""
        h = self.shield_host
        h[0] += 1
        h[1] += utilization
        h[2] = max(h[2], backlog_s)

    def record_completed(self, ids: np.ndarray, jcts: np.ndarray) -> None:
        """Fold completed jobs ``ids`` [J] with their ``jcts`` [J] (seconds) into the ledger."""
        self.jcts.extend(jcts)
        self.ids.extend(ids)

    def job_times(self, now: float, open_ids: np.ndarray, open_arrival: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per job of the episode (by id): its JCT if completed, else its age at ``now``; and whether it completed.

        ``open_ids``/``open_arrival``: the jobs still in the system (the job table)."""
        n = int(self.totals["jobs_arrived"])
        times, done = np.empty(n), np.zeros(n, dtype=bool)
        ids = self.ids.array()
        times[ids] = self.jcts.array()
        done[ids] = True
        times[open_ids] = now - open_arrival
        return times, done

    def metrics(self, now: float, open_arrival: np.ndarray) -> dict[str, float]:
        """The episode's figures (``ClusterSimulator.metrics``); ``open_arrival``: arrival times of open jobs."""
        t = self.totals
        jcts = self.jcts.array()
        hist = self.util_hist
        total = hist.sum()
        median_util = float(np.searchsorted(np.cumsum(hist), total / 2.0) / UTIL_BINS) if total else 0.0
        mean_util = float((hist * np.arange(UTIL_BINS + 1)).sum() / UTIL_BINS / total) if total else 0.0
        placed = t["tasks_placed"]
        all_jct = np.concatenate([jcts, now - open_arrival])
        return {
            "collisions": t["collisions"],
            "overloads": t["overloads"],
            "jobs_arrived": t["jobs_arrived"],
            "jobs_completed": t["jobs_completed"],
            "mean_jct": float(jcts.mean()) if len(jcts) else math.nan,
            "p95_jct": float(np.percentile(jcts, 95)) if len(jcts) else math.nan,
            "jobs_unfinished": len(open_arrival),
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
            "sim_time_s": now,
            **self._shield_host_metrics(),
        }

    def _shield_host_metrics(self) -> dict[str, float]:
        """The busiest shield host's mean utilisation and largest backlog (seconds), only when a shield ran."""
        rounds, util, backlog = self.shield_host
        if not rounds:
            return {}
        return {"shield_host_utilization_mean": util / rounds, "shield_host_backlog_max_s": backlog}
