"""The simulator's store: columns read as read-only views, every write goes through the table and moves its
version (what the simulator's cached views are keyed on), and finished jobs leave the tables."""

from __future__ import annotations

import numpy as np
import pytest

from srole_env import parallel_env
from srole_env.core.ledger import Column
from srole_env.core.store import Table


def test_columns_are_read_only_and_every_write_moves_the_version():
    t = Table({"a": np.int64, "b": np.float64}, capacity=2)
    versions = [t.version]
    t.append(a=np.arange(5), b=np.ones(5))  # grows past its capacity
    versions.append(t.version)
    with pytest.raises(ValueError, match="read-only"):
        t.a[0] = 7
    t.set(np.array([1, 3]), b=np.array([2.0, 4.0]))
    versions.append(t.version)
    assert t.b.tolist() == [1.0, 2.0, 1.0, 4.0, 1.0]
    t.keep(t.a % 2 == 1)
    versions.append(t.version)
    assert t.a.tolist() == [1, 3] and t.b.tolist() == [2.0, 4.0]
    t.clear()
    versions.append(t.version)
    assert t.size == 0 and len(set(versions)) == len(versions)


def test_a_cached_view_follows_a_write():
    env = parallel_env("small", n_edges=6, arrival_rate=0.03)
    env.reset(seed=0)
    sim = env.sim
    heads = sim.pending_heads()
    assert (heads >= 0).any()
    row = int(heads[heads >= 0][0])
    sim.tasks.set(row, edge=0, cand=0)  # placed by hand: no call to forget anything
    assert sim.pending_heads()[sim.tasks.origin[row]] != row and sim.committed()[0][0] >= 1


def test_the_tables_hold_live_work_only():
    env = parallel_env("small", n_edges=8, horizon=300, arrival_rate=0.01)
    env.reset(seed=1)
    sim = env.sim
    for _ in range(300):
        env.step_arrays(np.zeros(8, dtype=np.int64))
    m = sim.metrics()
    assert m["jobs_completed"] > 50
    assert sim.jobs.size == m["jobs_unfinished"] == m["jobs_arrived"] - m["jobs_completed"]
    assert set(np.unique(sim.tasks.job)) <= set(sim.jobs.id.tolist())
    times, done = sim.job_times()
    assert len(times) == m["jobs_arrived"] and done.sum() == m["jobs_completed"]


def test_a_ledger_column_keeps_order_across_chunks():
    col = Column(np.float64, chunk=4)
    parts = [np.arange(3.0), np.arange(3.0, 10.0), np.empty(0), np.arange(10.0, 11.0)]
    for p in parts:
        col.extend(p)
    assert col.array().tolist() == list(np.arange(11.0)) and len(col.chunks) == 3


def test_capacity_follows_the_rows_down_after_a_burst():
    t = Table({"a": np.int64, "b": np.float64}, capacity=8)
    t.append(a=np.arange(10_000), b=np.arange(10_000) * 0.5)
    assert len(t.cols["a"]) >= 10_000
    t.keep(t.a % 1000 == 3)  # ten rows left
    assert t.a.tolist() == list(range(3, 10_000, 1000)) and t.b.tolist() == [0.5 * i for i in range(3, 10_000, 1000)]
    assert len(t.cols["a"]) == len(t.cols["b"]) == 20  # twice the rows, not the burst's 10,000
    t.keep(np.ones(10, dtype=bool))
    t.append(a=np.arange(5), b=np.zeros(5))
    held = t.cols["a"]
    t.keep(t.a > 100)  # a quarter full or more: compaction in place, no reallocation
    assert t.cols["a"] is held and t.size == 9
    t.keep(np.zeros(9, dtype=bool))
    assert len(t.cols["a"]) == 8  # never below the initial capacity
