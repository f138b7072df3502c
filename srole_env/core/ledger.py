"""The episode's ledger: what an episode has done so far, kept apart from the live state of the cluster.

The simulator's tables (``srole_env.core.store``) hold live work only; a job leaves them when it completes, and
what the episode's figures need of it stays here: its JCT, in completion order (``mean_jct`` and ``p95_jct``
read them in that order), and its id (``job_times`` reads them in arrival order). With the round's counters and
the utilisation histogram, the ledger answers ``metrics()`` and ``job_times()`` with the numbers the simulator
gave when it kept every finished job, bit for bit, at 16 bytes per completed job.

That record is the one part of an episode's memory that grows with every job that ever completed. With
``ledger="bounded"`` (a ``ClusterConfig`` field) the ledger keeps fixed-size accumulators instead: the count and
an exact sum (``mean_jct`` is the correctly rounded sum over the count), and a log-bucket quantile sketch for
``p95_jct`` within a relative error of ``QUANTILE_RELATIVE_ERROR``; ``job_times()`` then refuses, naming the field.
"""

from __future__ import annotations

import math

import numpy as np

LEDGERS = ("exact", "bounded")
"""Values of ``ClusterConfig.ledger``: every completed job's JCT and id kept, or fixed-size accumulators."""
QUANTILE_RELATIVE_ERROR = 0.005
"""The bounded ledger's ``p95_jct`` is within this relative error of the exact one (``QuantileSketch``)."""

UTIL_BINS = 100
"""Resolution of the utilisation histogram (bins of 1% of an edge's cores)."""
TOTALS = ("collisions", "overloads", "jobs_arrived", "jobs_completed", "tasks_placed", "interventions", "oom_kills",
          "work_lost_s", "scheduling_overhead_s", "queue_wait_s", "rounds", "jobs_rejected")
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


class QuantileSketch:
    """Fixed-memory quantiles of positive values within relative error ``alpha`` (log buckets, as DDSketch).

    A value ``x > 0`` counts in bucket ``i = ceil(log_gamma(x))`` with ``gamma = (1 + alpha) / (1 - alpha)``, i.e.
    ``gamma**(i-1) < x <= gamma**i``, whose representative ``2 gamma**i / (gamma + 1)`` is within ``alpha`` of
    every value in it; values ``<= 0`` count apart and read as 0. Memory: one count per bucket between the
    smallest and largest value seen (about 460 buckets per decade at ``alpha = 0.005``), whatever the count.
    ``percentile`` follows ``np.percentile``'s linear interpolation between the two order statistics around the
    rank; both are within ``alpha`` of the true ones, and so is their convex combination.
    """

    def __init__(self, alpha: float = QUANTILE_RELATIVE_ERROR):
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        self.alpha = alpha
        self._log_gamma = math.log((1.0 + alpha) / (1.0 - alpha))
        self.counts = np.zeros(0, dtype=np.int64)  # counts[j]: bucket self.offset + j
        self.offset = 0
        self.zeros = 0
        self.count = 0

    def add(self, values: np.ndarray) -> None:
        """Count ``values`` (1-D, finite)."""
        values = np.asarray(values, dtype=np.float64)
        if not len(values):
            return
        positive = values[values > 0.0]
        self.zeros += len(values) - len(positive)
        self.count += len(values)
        if not len(positive):
            return
        index = np.ceil(np.log(positive) / self._log_gamma).astype(np.int64)
        lo, hi = int(index.min()), int(index.max())
        if not len(self.counts):
            self.counts, self.offset = np.zeros(hi - lo + 1, dtype=np.int64), lo
        elif lo < self.offset or hi >= self.offset + len(self.counts):
            new_lo, new_hi = min(lo, self.offset), max(hi, self.offset + len(self.counts) - 1)
            grown = np.zeros(new_hi - new_lo + 1, dtype=np.int64)
            grown[self.offset - new_lo : self.offset - new_lo + len(self.counts)] = self.counts
            self.counts, self.offset = grown, new_lo
        self.counts += np.bincount(index - self.offset, minlength=len(self.counts))

    def _order_statistic(self, ranks: np.ndarray) -> np.ndarray:
        """Estimates of the values of 0-based ``ranks`` [K] in sorted order."""
        positive_rank = ranks - self.zeros
        bucket = np.searchsorted(np.cumsum(self.counts), positive_rank, side="right") + self.offset
        value = 2.0 * np.exp(bucket * self._log_gamma) / (1.0 + math.exp(self._log_gamma))
        return np.where(positive_rank < 0, 0.0, value)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100) as ``np.percentile`` (linear) gives it, within ``alpha``; nan if empty."""
        if not self.count:
            return math.nan
        position = q / 100.0 * (self.count - 1)
        below = math.floor(position)
        lo, hi = self._order_statistic(np.array([below, min(below + 1, self.count - 1)]))
        return float(lo + (hi - lo) * (position - below))


class ExactSum:
    """A running sum of floats kept exact to about 106 bits (two floats): ``value`` is the correctly rounded sum."""

    def __init__(self) -> None:
        self.hi, self.lo = 0.0, 0.0

    def add(self, values: np.ndarray) -> None:
        """Add ``values`` (1-D)."""
        terms = [self.hi, self.lo, *np.asarray(values, dtype=np.float64).tolist()]
        self.hi = math.fsum(terms)
        terms.append(-self.hi)
        self.lo = math.fsum(terms)

    @property
    def value(self) -> float:
        """The sum so far."""
        return self.hi + self.lo


class Ledger:
    """Running totals, the utilisation histogram and completed jobs of one episode (see module docstring).

    ``kind``: ``"exact"`` keeps every completed job's JCT and id; ``"bounded"`` fixed-size accumulators.
    ``admission``: jobs may be rejected at arrival (``ClusterConfig.max_jobs_per_edge``): ``metrics()`` then reports
    ``jobs_rejected`` and ``rejected_fraction``; ``jobs_arrived`` counts every arrival, the rest admitted ones."""

    def __init__(self, kind: str = "exact", admission: bool = False) -> None:
        if kind not in LEDGERS:
            raise ValueError(f"ledger must be one of {LEDGERS}, got {kind!r}")
        self.kind = kind
        self.admission = admission
        self.totals: dict[str, float] = {k: (0.0 if k in FLOAT_TOTALS else 0) for k in TOTALS}
        self.util_hist = np.zeros(UTIL_BINS + 1, dtype=np.int64)
        self.shield_host = [0, 0.0, 0.0]
        """Rounds a shield host served, the sum of its utilisation over them, its largest backlog (seconds)."""
        self.jcts = Column(np.float64)  # completed jobs' JCTs, in completion order (exact ledger)
        self.ids = Column(np.int64)  # their ids, in the same order (exact ledger)
        self.jct_sum = ExactSum()  # the bounded ledger's JCT sum and quantiles
        self.jct_sketch = QuantileSketch()

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
        if self.kind == "bounded":
            if len(jcts):
                self.jct_sum.add(jcts)
                self.jct_sketch.add(jcts)
            return
        self.jcts.extend(jcts)
        self.ids.extend(ids)

    def held_bytes(self) -> int:
        """Bytes the completed-job record holds (the exact ledger's columns, or the bounded ledger's sketch)."""
        if self.kind == "bounded":
            return self.jct_sketch.counts.nbytes
        return sum(c.nbytes for col in (self.jcts, self.ids) for c in col.chunks)

    def job_times(self, now: float, open_ids: np.ndarray, open_arrival: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per job of the episode (by id): its JCT if completed, else its age at ``now``; and whether it completed.

        ``open_ids``/``open_arrival``: the jobs still in the system (the job table)."""
        if self.kind == "bounded":
            raise ValueError("job_times() needs every completed job's JCT, which ledger='bounded' does not keep; "
                             "set ledger='exact' in the config (the default) to read per-job times")
        n = int(self.totals["jobs_arrived"] - self.totals["jobs_rejected"])  # ids: admitted jobs, in arrival order
        times, done = np.empty(n), np.zeros(n, dtype=bool)
        ids = self.ids.array()
        times[ids] = self.jcts.array()
        done[ids] = True
        times[open_ids] = now - open_arrival
        return times, done

    def metrics(self, now: float, open_arrival: np.ndarray) -> dict[str, float]:
        """The episode's figures (``ClusterSimulator.metrics``); ``open_arrival``: arrival times of open jobs."""
        t = self.totals
        hist = self.util_hist
        total = hist.sum()
        median_util = float(np.searchsorted(np.cumsum(hist), total / 2.0) / UTIL_BINS) if total else 0.0
        mean_util = float((hist * np.arange(UTIL_BINS + 1)).sum() / UTIL_BINS / total) if total else 0.0
        placed = t["tasks_placed"]
        admitted = t["jobs_arrived"] - t["jobs_rejected"]
        mean_jct, p95_jct, mean_jct_all = self._jct_figures(now, open_arrival)
        return {
            "collisions": t["collisions"],
            "overloads": t["overloads"],
            "jobs_arrived": t["jobs_arrived"],
            "jobs_completed": t["jobs_completed"],
            "mean_jct": mean_jct,
            "p95_jct": p95_jct,
            "jobs_unfinished": len(open_arrival),
            "mean_jct_all": mean_jct_all,
            "median_utilization": median_util,
            "mean_utilization": mean_util,
            "tasks_placed": placed,
            "interventions": t["interventions"],
            "scheduling_overhead_s": t["scheduling_overhead_s"],
            "oom_kills": t["oom_kills"],
            "work_lost_s": t["work_lost_s"],
            "mean_queue_wait_s": t["queue_wait_s"] / admitted if admitted else 0.0,
            "mean_decision_latency_s": t["scheduling_overhead_s"] / placed if placed else 0.0,
            "rounds": t["rounds"],
            "sim_time_s": now,
            **self._shield_host_metrics(),
            **self._admission_metrics(),
        }

    def _admission_metrics(self) -> dict[str, float]:
        """Jobs rejected at admission and their fraction of the arrivals, only with admission control."""
        if not self.admission:
            return {}
        arrived, rejected = self.totals["jobs_arrived"], self.totals["jobs_rejected"]
        return {"jobs_rejected": rejected, "rejected_fraction": rejected / arrived if arrived else 0.0}

    def _jct_figures(self, now: float, open_arrival: np.ndarray) -> tuple[float, float, float]:
        """``mean_jct``, ``p95_jct`` (completed jobs) and ``mean_jct_all`` (with open jobs at their age so far)."""
        ages = now - open_arrival
        if self.kind == "bounded":
            done = self.jct_sketch.count
            mean = self.jct_sum.value / done if done else math.nan
            every = ExactSum()
            every.add(np.array([self.jct_sum.hi, self.jct_sum.lo]))
            every.add(ages)
            mean_all = every.value / (done + len(ages)) if done + len(ages) else math.nan
            return mean, self.jct_sketch.percentile(95), mean_all
        jcts = self.jcts.array()
        all_jct = np.concatenate([jcts, ages])
        if not len(jcts):
            return math.nan, math.nan, float(all_jct.mean()) if len(all_jct) else math.nan
        return float(jcts.mean()), float(np.percentile(jcts, 95)), float(all_jct.mean())

    def _shield_host_metrics(self) -> dict[str, float]:
        """The busiest shield host's mean utilisation and largest backlog (seconds), only when a shield ran."""
        rounds, util, backlog = self.shield_host
        if not rounds:
            return {}
        return {"shield_host_utilization_mean": util / rounds, "shield_host_backlog_max_s": backlog}
