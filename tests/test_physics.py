"""The physical compute and memory model against hand computations from the data files.

Figures used below, copied from ``srole_env/data`` (and checked against the loaded tables first):
devices.csv: jetson_xavier_nx 6 cores, 844.8 GFLOP/s peak x 0.25 efficiency, GPU; raspberry_pi4 4 cores,
48.0 x 0.15, CPU; jetson_nano 4 cores, 235.9 x 0.25, GPU, 3221225472 usable bytes.
models.csv: resnet18 3328997376 train FLOPs/sample, 44695848 param bytes, 4705009 activation bytes/sample;
lenet5 2263920 train FLOPs/sample, 246824 param bytes, 48129 activation bytes/sample.
calibration_host.csv: the ``sweep`` rows (dedicated-host aggregate samples/s of k workers on a 2-core host).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import srole_env
from srole_env.core.contention import oversubscription_efficiency, worker_flops
from srole_env.profiles import device_classes, model_profiles

DATA = Path(__file__).resolve().parents[1] / "srole_env" / "data"
XAVIER_FLOPS = 844.8e9 * 0.25
PI_CORE_FLOPS = 48.0e9 * 0.15 / 4
NANO_FLOPS = 235.9e9 * 0.25
NANO_MEM = 3221225472.0
RESNET_FLOPS, RESNET_PARAM, RESNET_ACT = 3328997376, 44695848, 4705009
LENET_FLOPS, LENET_PARAM, LENET_ACT = 2263920, 246824, 48129


def _sweep() -> tuple[int, dict[int, float]]:
    """Host cores and aggregate samples/s per worker count k, read straight from the calibration CSV."""
    lines = [line for line in (DATA / "calibration_host.csv").read_text().splitlines() if not line.startswith("#")]
    rows = [r for r in csv.DictReader(lines) if r["kind"] == "sweep"]
    return int(rows[0]["cores"]), {int(r["workers"]): float(r["dedicated_samples_per_s"]) for r in rows}


def test_data_figures_match_the_tables():
    dev, mod = device_classes(), model_profiles()
    assert dev["jetson_xavier_nx"].flops == pytest.approx(XAVIER_FLOPS)
    assert dev["jetson_xavier_nx"].accelerator == "gpu" and dev["jetson_nano"].accelerator == "gpu"
    assert dev["raspberry_pi4"].flops / dev["raspberry_pi4"].cores == pytest.approx(PI_CORE_FLOPS)
    assert dev["raspberry_pi4"].accelerator == "cpu" and dev["raspberry_pi4"].cores == 4
    assert dev["jetson_nano"].flops == pytest.approx(NANO_FLOPS) and dev["jetson_nano"].memory_bytes == NANO_MEM
    assert (mod["resnet18"].train_flops_per_sample, mod["resnet18"].param_bytes) == (RESNET_FLOPS, RESNET_PARAM)
    assert (mod["lenet5"].train_flops_per_sample, mod["lenet5"].activation_bytes_per_sample) == (LENET_FLOPS, LENET_ACT)


def _env(trace: str, device: str, **overrides):
    env = srole_env.parallel_env("small", device_mix={device: 1.0}, trace_path=trace, **overrides)
    env.reset(seed=0)
    return env


def _delays(env, actions: np.ndarray, shard_bits: float) -> np.ndarray:
    """Decision latency plus shard transfer of each origin's task to the candidate its action names."""
    topo, idx = env.sim.topology, np.arange(len(actions))
    return env.sim.local_latency + shard_bits / topo.link_bps[idx, actions] + topo.link_latency_s[idx, actions]


def _all_to_edge_zero(env) -> np.ndarray:
    cand = env.sim.topology.candidates
    return np.array([int(np.flatnonzero(cand[i] == 0)[0]) for i in range(env.config.n_edges)])


# ---------------------------------------------------------------- GPU devices
def test_one_resnet_worker_alone_gets_the_whole_xavier_gpu(write_trace):
    # 1000 samples, batch 40 -> 25 full iterations = 1000 samples of work. The job arrives at 3 s and is
    # decided in round 1 (t = 10 s): JCT = 7 s wait + local decision + 1000 x FLOPs / (peak x efficiency).
    env = _env(write_trace([(3.0, 0, "resnet18", 1000, 1, 40, 1)]), "jetson_xavier_nx", n_edges=1)
    for _ in range(4):
        env.step_arrays(np.array([0]))
    expected = 7.0 + 0.005 + 1000 * RESNET_FLOPS / XAVIER_FLOPS  # 22.77 s (old per-core model: 101.6 s)
    assert env.metrics()["jobs_completed"] == 1
    assert env.metrics()["mean_jct"] == pytest.approx(expected, rel=1e-9)


def test_two_workers_share_the_xavier_gpu(write_trace):
    # Two 200-sample ResNet-18 jobs (5 iterations of 40) from edges 0 and 1, both onto edge 0 in round 0:
    # both start within the round, so each gets half the GPU and finishes inside round 0.
    rows = [(0.0, i, "resnet18", 200, 1, 40, 1) for i in range(2)]
    env = _env(write_trace(rows), "jetson_xavier_nx", n_edges=2, n_neighbors=1)
    actions = _all_to_edge_zero(env)
    delays = _delays(env, actions, 200 * 3072 * 8.0)
    result = env.step_arrays(actions)[5]
    assert result.jobs_completed == 2 and result.overloaded_edges == 0
    expected = delays + 200 * RESNET_FLOPS / (XAVIER_FLOPS / 2)
    np.testing.assert_allclose(np.sort(result.jcts), np.sort(expected), rtol=1e-9)


# ---------------------------------------------------------------- CPU devices
def _lenet_on_pi(write_trace, k: int, **overrides):
    """k single-worker LeNet-5 jobs (640 samples, batch 64), one per edge of a k-Pi cluster, all onto edge 0."""
    rows = [(0.0, i, "lenet5", 640, 1, 64, 1) for i in range(k)]
    env = _env(write_trace(rows), "raspberry_pi4", n_edges=k, n_neighbors=k - 1, **overrides)
    actions = _all_to_edge_zero(env)
    delays = _delays(env, actions, 640 * 784 * 8.0)
    result = env.step_arrays(actions)[5]
    assert result.jobs_completed == k
    order = np.argsort(delays)  # finishing times follow start times: equal compute
    return result, np.sort(result.jcts) - delays[order]


def test_four_workers_on_a_four_core_pi_are_no_slower_than_three(write_trace):
    work = 640 * LENET_FLOPS / PI_CORE_FLOPS  # one core each: 0.805 s
    three, compute3 = _lenet_on_pi(write_trace, 3)
    four, compute4 = _lenet_on_pi(write_trace, 4)
    np.testing.assert_allclose(compute3, work, rtol=1e-9)
    np.testing.assert_allclose(compute4, work, rtol=1e-9)
    assert three.overloaded_edges == 0
    assert four.overloaded_edges == 1, "4/4 cores passes compute_threshold 0.9: counted, but no slower"


def test_eight_workers_on_four_cores_take_twice_as_long_over_the_measured_efficiency(write_trace):
    cores, rate = _sweep()
    eta = min(1.0, rate[2 * cores] / rate[cores])  # measured: 2x oversubscribed aggregate / full-load aggregate
    _, compute4 = _lenet_on_pi(write_trace, 4)
    _, compute8 = _lenet_on_pi(write_trace, 8)
    np.testing.assert_allclose(compute8, compute4[0] * 2.0 / eta, rtol=1e-9)
    _, compute8_half = _lenet_on_pi(write_trace, 8, oversubscription_efficiency=0.5)
    np.testing.assert_allclose(compute8_half, compute4[0] * 4.0, rtol=1e-9)


def test_simulated_throughput_matches_the_calibration_host(write_trace):
    # k workers of the swept model on the calibrated_host class against the measured aggregate samples/s.
    cores, rate = _sweep()
    lines = [ln for ln in (DATA / "calibration_host.csv").read_text().splitlines() if not ln.startswith("#")]
    sweep = [r for r in csv.DictReader(lines) if r["kind"] == "sweep"]
    model, batch = sweep[0]["model"], int(sweep[0]["batch"])
    for k in sorted(rate):
        rows = [(0.0, i, model, 2000, 1, batch, 1) for i in range(k)]  # far more than one round of work
        env = _env(write_trace(rows), "calibrated_host", n_edges=k, n_neighbors=k - 1)
        actions = _all_to_edge_zero(env)
        delays = _delays(env, actions, 2000 * model_profiles()[model].sample_bytes * 8.0)
        env.step_arrays(actions)
        sim = env.sim
        done = sim.tasks.iters_total - sim.tasks.iters_left  # iterations in round 0, after each start delay
        simulated = float(np.sum(done * batch / (10.0 - delays[sim.tasks.origin])))
        assert simulated == pytest.approx(rate[k], rel=0.10), f"k={k}: simulated {simulated:.1f} samples/s"


@settings(max_examples=50, deadline=None)
@given(
    cores=st.integers(1, 16),
    gpu=st.booleans(),
    k=st.integers(1, 64),
    eta=st.one_of(st.none(), st.floats(0.05, 1.0)),
)
def test_more_workers_never_raise_the_aggregate_or_the_per_worker_rate(cores, gpu, k, eta):
    units = 1.0 if gpu else float(cores)
    one, more = (worker_flops(100.0, float(cores), units, float(n), eta) for n in (k, k + 1))
    assert more <= one + 1e-12
    if k + 1 <= cores:  # below the core count the device's aggregate never drops
        assert (k + 1) * more >= k * one - 1e-9
    assert 0.0 < oversubscription_efficiency(k / cores, eta) <= 1.0


# ---------------------------------------------------------------- memory over-commit
def _oom_cluster(write_trace, **overrides):
    """Two Nanos. Job A (ResNet-18, 320 samples, batch 32) at edge 0 runs there in round 0; in round 1 two
    LeNet-5 jobs B (edge 0) and C (edge 1) are both placed on edge 0 and over-commit its memory."""
    rows = [(0.0, 0, "resnet18", 320, 1, 32, 1), (5.0, 0, "lenet5", 640, 1, 64, 1), (5.0, 1, "lenet5", 640, 1, 64, 1)]
    env = _env(write_trace(rows), "jetson_nano", n_edges=2, n_neighbors=1, worker_runtime_bytes=1.2e9, **overrides)
    hold = env.sim.hold_action
    env.step_arrays(np.array([0, hold]))  # A on edge 0
    row_a = int(np.flatnonzero(env.sim.tasks.job == 0)[0])
    result = env.step_arrays(np.array([0, 1]))[5]  # B and C onto edge 0
    return env, result, row_a


def test_memory_over_commit_kills_the_largest_task_which_requeues_and_pays_in_jct(write_trace):
    mem_a = 1.2e9 + 4 * RESNET_PARAM + 32 * RESNET_ACT  # 1.529 GB
    mem_lenet = 1.2e9 + 4 * LENET_PARAM + 64 * LENET_ACT  # 1.204 GB
    assert mem_a + 2 * mem_lenet > NANO_MEM > 2 * mem_lenet  # killing A alone makes the rest fit
    env, result, row_a = _oom_cluster(write_trace)
    sim = env.sim
    assert result.oom_kills == 1 and sim.metrics()["oom_kills"] == 1
    assert sim.tasks.edge[row_a] == -1, "A is pending again"
    assert sim.pending_heads()[0] == row_a, "at the front of its origin's queue (oldest arrival)"
    assert sim.tasks.iters_left[row_a] == sim.tasks.iters_total[row_a] == 10, "no checkpoint: restart from zero"
    # all of round 0 after its decision latency (one inference plus the neighbour's report)
    assert result.work_lost_s == pytest.approx(10.0 - sim.local_latency[0], rel=1e-9)
    assert sim.metrics()["work_lost_s"] == pytest.approx(result.work_lost_s)
    # round 2: A to edge 1 (idle, C went to edge 0) and runs alone on its GPU to the end.
    delay = _delays(env, np.array([1, 0]), 320 * 3072 * 8.0)[0]
    for _ in range(4):
        env.step_arrays(np.array([1 if sim.pending_heads()[0] == row_a else sim.hold_action, sim.hold_action]))
    jct_a = 20.0 + delay + 320 * RESNET_FLOPS / NANO_FLOPS  # 20 s lost to the kill, then all 18.06 s again
    times, done = sim.job_times()
    assert done[0] and times[0] == pytest.approx(jct_a, rel=1e-9)


def test_a_checkpoint_limits_the_lost_work(write_trace):
    env, result, row_a = _oom_cluster(write_trace, checkpoint_interval_s=4.0)
    iter_s = 32 * RESNET_FLOPS / NANO_FLOPS  # 1.806 s per iteration
    assert result.oom_kills == 1
    # ran 10 s - decision latency; the last checkpoint was at 8 s of compute
    assert result.work_lost_s == pytest.approx(10.0 - env.sim.local_latency[0] - 8.0, rel=1e-9)
    assert env.sim.tasks.iters_left[row_a] == pytest.approx(10 - 8.0 / iter_s, rel=1e-9)


def test_newest_victim_kills_the_last_placed_task(write_trace):
    env, result, row_a = _oom_cluster(write_trace, oom_victim="newest")
    sim = env.sim
    assert result.oom_kills == 1 and result.work_lost_s == 0.0
    assert sim.tasks.edge[row_a] == 0, "A keeps running"
    killed = sim.tasks.edge < 0
    assert killed.sum() == 1 and sim.tasks.origin[killed][0] == 1, "C (higher agent index, same round) is killed"


def test_thrash_mode_slows_instead_of_killing(write_trace):
    env, result, row_a = _oom_cluster(write_trace, memory_overcommit="thrash")
    assert result.oom_kills == 0 and env.sim.metrics()["oom_kills"] == 0
    assert env.sim.tasks.edge[row_a] == 0


def test_calibrate_script_writes_a_readable_table(tmp_path, monkeypatch):
    # Tiny run of scripts/calibrate/calibrate.py (LeNet-5, k = 1 only: each spawned worker imports torch).
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "calibrate" / "calibrate.py"
    spec = importlib.util.spec_from_file_location("calibrate", path)
    calibrate = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "calibrate", calibrate)  # spawned workers unpickle calibrate._worker
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts scripts/ on sys.path
    spec.loader.exec_module(calibrate)
    out = tmp_path / "cal.csv"
    args = "--models lenet5 --seconds 0.1 --repeats 1 --sweep-model lenet5 --sweep-batch 16 --max-workers 1"
    calibrate.main(["--out", str(out), *args.split()])
    text = out.read_text()
    assert "# host: " in text and "torch " in text
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert [r["kind"] for r in rows].count("sweep") == 1
    assert all(float(r["samples_per_s"]) > 0 for r in rows if r["kind"] != "peak")
    assert all(float(r["dedicated_samples_per_s"]) > 0 for r in rows if r["kind"].startswith("sweep"))
    sweep = [r for r in rows if r["kind"] == "sweep"]
    assert float(sweep[0]["efficiency"]) == 1.0


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("oversubscription_efficiency", 0.0, ValueError),
        ("oversubscription_efficiency", 1.5, ValueError),
        ("oversubscription_efficiency", "high", TypeError),
        ("memory_overcommit", "swap", ValueError),
        ("oom_victim", "oldest", ValueError),
        ("checkpoint_interval_s", 0.0, ValueError),
    ],
)
def test_physics_fields_are_validated(field, value, error):
    from srole_env.config import make_config

    with pytest.raises(error, match=field):
        make_config("small", **{field: value})
