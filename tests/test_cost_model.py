"""The simulator's cost model against hand-computed cases (single jobs from a trace, one device class)."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env
from srole_env.profiles import device_classes, model_profiles

NANO = device_classes()["jetson_nano"]
LENET = model_profiles()["lenet5"]
RESNET = model_profiles()["resnet18"]


def _env(trace: str, **overrides):
    """Cluster of Jetson Nanos replaying ``trace``, no Poisson arrivals."""
    env = srole_env.parallel_env("small", device_mix={"jetson_nano": 1.0}, trace_path=trace, **overrides)
    env.reset(seed=0)
    return env


def _hold_all(env):
    return np.full(env.config.n_edges, env.sim.hold_action)


def test_one_task_alone_on_one_edge(write_trace):
    # 640 samples, batch 64, 1 epoch -> 10 iterations of 64 samples, alone on a Nano: the whole GPU.
    env = _env(write_trace([(0.0, 0, "lenet5", 640, 1, 64, 1)]), n_edges=1)
    env.step_arrays(np.array([0]))  # run on itself
    expected = env.config.local_decision_s + 10 * 64 * LENET.train_flops_per_sample / NANO.flops
    assert env.metrics()["jobs_completed"] == 1
    assert env.metrics()["mean_jct"] == pytest.approx(expected, rel=1e-9)


def _five_onto_edge_zero(write_trace, **overrides):
    """Five single-task jobs, one per edge, all sent to edge 0 in round 0; returns env and targets."""
    rows = [(0.0, i, "lenet5", 640, 1, 64, 1) for i in range(5)]
    env = _env(write_trace(rows), n_edges=5, **overrides)
    cand = env.sim.topology.candidates
    actions = np.array([int(np.flatnonzero(cand[i] == 0)[0]) for i in range(5)])
    shard_bits = 640 * LENET.sample_bytes * 8.0
    delays = (
        env.sim.local_latency
        + shard_bits / env.sim.topology.link_bps[np.arange(5), actions]
        + env.sim.topology.link_latency_s[np.arange(5), actions]
    )
    _, _, _, _, _, result = env.step_arrays(actions)
    return env, result, delays


def test_tasks_share_an_oversubscribed_edge(write_trace):
    # Five workers on a 4-core Nano: each gets 1/5 of the GPU, times the oversubscription efficiency (set
    # to 0.8 here) since five processes share four cores; at the highest threshold allowed (1.0: thresholds
    # above 1 are refused) 5/4 still counts as overloaded, and every job completes at the contention speed.
    env, result, delays = _five_onto_edge_zero(write_trace, compute_threshold=1.0, oversubscription_efficiency=0.8)
    assert result.overloaded_edges == 1 and result.jobs_completed == 5
    work = 10 * 64 * LENET.train_flops_per_sample
    expected = delays + work / (NANO.flops / 5 * 0.8)
    np.testing.assert_allclose(np.sort(result.jcts), np.sort(expected), rtol=1e-9)


def test_overloaded_edge_counts_but_speed_follows_contention(write_trace):
    # Same placement, default threshold 0.9: 5/4 workers per core overloads edge 0 (and it is a collision);
    # the speed is the same contention model as below the threshold (no extra cliff factor).
    env, result, delays = _five_onto_edge_zero(write_trace, oversubscription_efficiency=0.8)
    assert result.overloaded_edges == 1
    assert result.collisions == 1
    work = 10 * 64 * LENET.train_flops_per_sample
    expected = delays + work / (NANO.flops / 5 * 0.8)
    np.testing.assert_allclose(np.sort(result.jcts), np.sort(expected), rtol=1e-9)
    assert result.caused_overload.all()


def test_memory_overcommit_thrashes(write_trace):
    # Workers of 1.2 GB runtime each: three on a Nano's 3 GiB exceed memory -> thrash slowdown (the
    # "thrash" over-commit mode); the three share the GPU (a third each) on four cores.
    rows = [(0.0, i, "lenet5", 640, 1, 64, 1) for i in range(3)]
    env = _env(write_trace(rows), n_edges=3, worker_runtime_bytes=1.2e9, memory_overcommit="thrash")
    cand = env.sim.topology.candidates
    actions = np.array([int(np.flatnonzero(cand[i] == 0)[0]) for i in range(3)])
    mask = env.sim.action_mask()
    assert mask[np.arange(3), actions].all(), "each worker fits alone"
    _, _, _, _, _, result = env.step_arrays(actions)
    assert result.overloaded_edges == 1 and result.collisions == 1
    shard_bits = 640 * LENET.sample_bytes * 8.0
    topo = env.sim.topology
    delays = (
        env.sim.local_latency
        + shard_bits / topo.link_bps[np.arange(3), actions]
        + topo.link_latency_s[np.arange(3), actions]
    )
    work = 10 * 64 * LENET.train_flops_per_sample
    expected = delays + work / (NANO.flops / 3 * env.config.memory_thrash_slowdown)
    np.testing.assert_allclose(np.sort(result.jcts), np.sort(expected), rtol=1e-9)


def test_parameter_sync_over_the_slowest_link(write_trace):
    # A 2-worker ResNet-18 job: worker A on the origin in round 0 (no sync: in-memory), worker B on a
    # neighbour in round 1; from then on every iteration all-reduces 2*(k-1)/k * params over that link.
    env = _env(write_trace([(0.0, 0, "resnet18", 3200, 1, 32, 2)]), n_edges=2, n_neighbors=1)
    sim, topo = env.sim, env.sim.topology
    per_core = NANO.flops  # each worker is alone on its Nano: the whole GPU
    flops_iter = 32 * RESNET.train_flops_per_sample
    iters = 1600 / 32
    row_a = sim.pending_heads()[0]
    env.step_arrays(np.array([0, sim.hold_action]))
    after_round0 = iters - (10.0 - sim.local_latency[0]) / (flops_iter / per_core)
    assert sim.tasks.iters_left[row_a] == pytest.approx(after_round0, rel=1e-9)

    env.step_arrays(np.array([1, sim.hold_action]))  # worker B to the neighbour
    bw, lat = topo.link_bps[0, 1], topo.link_latency_s[0, 1]
    sync = 2 * (2 - 1) / 2 * RESNET.param_bytes * 8 / bw + 2 * (2 - 1) * lat
    after_round1 = after_round0 - 10.0 / (flops_iter / per_core + sync)
    assert sim.tasks.iters_left[0] == pytest.approx(after_round1, rel=1e-9)
    assert sync > 0.5, "a 45 MB all-reduce over an edge link takes real time"


def test_centralized_head_latency_grows_with_cluster_size():
    latencies = []
    for n in (10, 100):
        env = srole_env.CentralizedSchedulingEnv("small", n_edges=n, arrival_rate=0.02, horizon=3)
        env.reset(seed=0)
        done = False
        while not done:
            _, _, _, done, _ = env.step(int(np.flatnonzero(env.action_masks())[0]))
        latencies.append(env.metrics()["mean_decision_latency_s"])
    # 90 more state reports through the head's NIC (2.5 Gbit/s at most, devices.csv) before any decision,
    # and more decisions queued ahead of the average one (srole_env.core.head_queue)
    assert latencies[1] > latencies[0] + 90 * 2048 * 8 / 2.5e9


def test_trace_validation(write_trace):
    with pytest.raises(ValueError, match="unknown model"):
        _env(write_trace([(0.0, 0, "gpt5", 10, 1, 8, 1)]))
    with pytest.raises(ValueError, match="origin 7"):
        _env(write_trace([(0.0, 7, "lenet5", 10, 1, 8, 1)]), n_edges=3)
    with pytest.raises(ValueError, match="does not exist"):
        _env("/nonexistent/trace.csv")
