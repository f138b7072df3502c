"""The pod-trace converter and the on-off generator (srole_env.traces): mappings, errors, the shipped trace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srole_env import make_config
from srole_env.core.workload import TraceWorkload
from srole_env.traces import (
    SHIPPED_POD_TRACE,
    PodTraceMapping,
    convert_pod_trace,
    n_windows,
    onoff_trace_jobs,
    pod_trace_jobs,
    read_pod_trace,
    window_size,
)

HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"
FIXTURE = [
    "p0,1000,1024,1,1000,,LS,Succeeded,0,100,0",
    "p1,1000,1024,0,0,,BE,Failed,10,40,10",  # CPU-only: one task, cpu_pod_gpu_share
    "p2,1000,1024,8,1000,,LS,Running,20,1000,20",  # still Running: censored at the end
    "p3,1000,1024,1,500,,LS,Succeeded,30,230,30",
    "p4,1000,1024,2,1000,,LS,Pending,40,50,",
    "p5,1000,1024,1,250,,LS,Running,60,1000,60",
]


def _write(tmp_path, lines, name="pods.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_fixture_mapping(tmp_path):
    trace = read_pod_trace(_write(tmp_path, FIXTURE))
    assert len(trace) == 6 and trace.running.tolist() == [False, False, True, False, False, True]
    # 6 pods in one window: 2 edges x 0.006 jobs/s x 500 s
    assert window_size(2, 0.006, 500.0) == 6
    rows = pod_trace_jobs(trace, PodTraceMapping(), n_edges=2, arrival_rate=0.006, duration_s=500.0, window=0)
    arrival = [float(r[0]) for r in rows]
    assert arrival == sorted(arrival) and arrival[0] == 0.0 and arrival[-1] < 500.0
    # span 0..60 scaled to 500 * 5/6: relative gaps kept
    assert np.allclose(arrival, np.array([0, 10, 20, 30, 40, 60]) * (500 * 5 / 6 / 60))
    tasks = [r[6] for r in rows]
    assert tasks == [1, 1, 4, 1, 2, 1]  # num_gpu, CPU-only pod 1, capped at max_tasks 4
    samples = np.array([r[3] for r in rows])
    assert (samples >= 50).all() and (samples <= 6000).all()
    # work = lifetime x share: p0 100 GPU-s, p3 200 s x 0.5 = 100 GPU-s: equal samples
    assert samples[0] == samples[3]
    assert {r[1] for r in rows} <= {0, 1}


def test_running_readings(tmp_path):
    trace = read_pod_trace(_write(tmp_path, FIXTURE))
    dropped = PodTraceMapping(running="drop")
    assert n_windows(trace, dropped, 1, 0.01, 100.0) == 4  # 4 pods ended, one per window
    rows = pod_trace_jobs(trace, dropped, n_edges=1, arrival_rate=0.04, duration_s=100.0, window=0)
    assert len(rows) == 4 and [r[6] for r in rows] == [1, 1, 1, 2]  # p2 (8 GPUs) and p5 gone
    fixed = PodTraceMapping(samples_per_gpu_s=1.0, samples_range=(1, 10**6))
    censored = pod_trace_jobs(trace, fixed, n_edges=1, arrival_rate=0.06, duration_s=100.0, window=0)
    median = pod_trace_jobs(trace, PodTraceMapping(running="median", samples_per_gpu_s=1.0, samples_range=(1, 10**6)),
                            n_edges=1, arrival_rate=0.06, duration_s=100.0, window=0)
    assert censored[2][3] == 980 * 8  # age at the end x 8 GPUs
    assert median[2][3] == 65 * 8  # the median lifetime of the pods that ended (100, 30, 200, 10)
    assert censored[0][3] == median[0][3] == 100


def test_converter_writes_a_trace_the_simulator_reads(tmp_path):
    out = convert_pod_trace(_write(tmp_path, FIXTURE), tmp_path / "jobs.csv", n_edges=2, arrival_rate=0.006,
                            duration_s=500.0)
    cfg = make_config("small", n_edges=2, trace_path=str(out))
    assert len(TraceWorkload(out, cfg.n_edges, tuple(cfg.model_mix) + ("resnet18",))) == 6


@pytest.mark.parametrize("lines, where", [
    (["p0,1000,1024,1,1000,,LS,Succeeded,zero,100,0"], ":2: column 'creation_time'"),
    (["p0,1000,1024,1,1000,,LS,Succeeded,0,100,0", "p1,1000,1024,x,1000,,LS,Succeeded,0,100,0"],
     ":3: column 'num_gpu'"),
    (["p0,1000,1024,1,2000,,LS,Succeeded,0,100,0"], ":2: column 'gpu_milli'"),
    (["p0,1000,1024,1,1000,,LS,Sleeping,0,100,0"], ":2: column 'pod_phase'"),
    (["p0,1000,1024,1,1000,,LS,Succeeded,100,50,0"], ":2: column 'deletion_time'"),
    (["p0,1000,1024,1,1000,,LS,Succeeded,nan,100,0"], ":2: column 'creation_time'"),
    (["p0,1000,1024"], ":2: 3 fields"),
    ([], ":2: the pod trace has a header but no pods"),
])
def test_malformed_rows_name_file_line_column(tmp_path, lines, where):
    path = _write(tmp_path, lines)
    with pytest.raises(ValueError) as err:
        read_pod_trace(path)
    assert str(path) + where in str(err.value)


def test_missing_column_named(tmp_path):
    path = tmp_path / "pods.csv"
    path.write_text("name,num_gpu,gpu_milli,pod_phase,creation_time\np0,1,1000,Running,0\n")
    with pytest.raises(ValueError, match=r"pods.csv:1: missing column\(s\) \['deletion_time'\]"):
        read_pod_trace(path)
    with pytest.raises(ValueError, match="does not exist"):
        read_pod_trace(tmp_path / "absent.csv")


def test_window_out_of_range_and_bad_mapping(tmp_path):
    trace = read_pod_trace(_write(tmp_path, FIXTURE))
    with pytest.raises(ValueError, match="window 1 outside 0..0"):
        pod_trace_jobs(trace, PodTraceMapping(), n_edges=2, arrival_rate=0.006, duration_s=500.0, window=1)
    with pytest.raises(ValueError, match="running must be one of"):
        PodTraceMapping(running="ignore")
    with pytest.raises(ValueError, match="samples_range"):
        PodTraceMapping(samples_range=(10, 5))


def test_shipped_trace_first_rows():
    trace = read_pod_trace(SHIPPED_POD_TRACE)
    assert len(trace) == 8152 and np.all(np.diff(trace.creation) >= 0)
    k = window_size(20, 0.0075, 500.0)
    assert k == 75 and n_windows(trace, PodTraceMapping(), 20, 0.0075, 500.0) == 8152 // 75
    for window in (0, 1):
        rows = pod_trace_jobs(trace, PodTraceMapping(), n_edges=20, arrival_rate=0.0075, duration_s=500.0,
                              window=window)
        arrival = np.array([float(r[0]) for r in rows])
        samples = np.array([r[3] for r in rows], float)
        assert len(rows) == k and np.all(np.diff(arrival) >= 0) and 0 <= arrival.min() and arrival.max() < 500.0
        assert np.all(np.isfinite(samples)) and np.all(samples > 0)
        assert {r[6] for r in rows} <= {1, 2, 3, 4} and {r[1] for r in rows} <= set(range(20))


def test_onoff_rate_and_burstiness():
    cfg = make_config("paper", n_edges=20, horizon=50, arrival_rate=0.0075)
    counts = np.array([len(onoff_trace_jobs(cfg, s, 500.0, 4.0, 20.0)) for s in range(200)])
    assert abs(counts.mean() - 75) < 0.15 * 75  # the long-run rate is arrival_rate
    assert counts.var() > 3 * counts.mean()  # a Poisson count has variance = mean: these are bursts
    assert onoff_trace_jobs(cfg, 7, 500.0, 4.0, 20.0) == onoff_trace_jobs(cfg, 7, 500.0, 4.0, 20.0)
    rows = onoff_trace_jobs(cfg, 7, 500.0, 4.0, 20.0)
    assert [float(r[0]) for r in rows] == sorted(float(r[0]) for r in rows)
    plain = onoff_trace_jobs(cfg, 7, 500.0, 1.0, 20.0)  # burst factor 1: always on, Poisson
    assert len(plain) > 0
    with pytest.raises(ValueError, match="burst_factor"):
        onoff_trace_jobs(cfg, 0, 500.0, 0.5, 20.0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 1000), st.sampled_from(["Running", "Succeeded",
                                                                                      "Failed", "Pending"]),
                          st.integers(0, 10**6), st.integers(0, 10**5)), min_size=1, max_size=30))
def test_any_valid_pod_list_converts_to_ordered_positive_jobs(tmp_path_factory, pods):
    lines = [f"p{i},1,1,{g},{m},,LS,{ph},{c},{c + life},{c}" for i, (g, m, ph, c, life) in enumerate(pods)]
    path = _write(tmp_path_factory.mktemp("pods"), lines)
    trace = read_pod_trace(path)
    rows = pod_trace_jobs(trace, PodTraceMapping(), n_edges=3, arrival_rate=len(pods) / 300.0, duration_s=100.0,
                          window=0)
    arrival = [float(r[0]) for r in rows]
    assert len(rows) == len(pods) and arrival == sorted(arrival)
    assert all(np.isfinite(a) and 0 <= a < 100.0 for a in arrival)
    assert all(50 <= r[3] <= 6000 and 1 <= r[6] <= 4 for r in rows)
