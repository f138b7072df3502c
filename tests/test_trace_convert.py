"""Converters for traces without arrival times (a runtime list, a request list): seeded Poisson arrivals, the
work mapping's calibration, errors naming the file, line, column and the converter, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

import srole_env
from srole_cli.main import main
from srole_env.core.workload import TRACE_COLUMNS
from srole_env.trace_convert import (
    ShapeMapping,
    convert_request_list,
    convert_runtime_list,
    read_request_list,
    read_runtime_list,
    request_list_jobs,
    runtime_list_jobs,
)

RUNTIMES = "runtime_s\n" + "\n".join(str(10.0 * (i + 1)) for i in range(40)) + "\n"
REQUESTS = "name,num_gpu,gpu_milli\n" + "\n".join(f"p{i},{i % 5},{500 if i % 2 else 1000}" for i in range(40)) + "\n"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_runtime_list_maps_the_median_job_and_seeds_the_arrivals(tmp_path):
    runtimes = read_runtime_list(_write(tmp_path, "rt.csv", RUNTIMES))
    assert runtimes.tolist() == [10.0 * (i + 1) for i in range(40)]
    sizing = {"n_edges": 4, "arrival_rate": 0.01, "duration_s": 200.0}  # 8 jobs a window
    rows = runtime_list_jobs(runtimes, ShapeMapping(seed=3), window=0, **sizing)
    assert len(rows) == 8 and [r[3] for r in rows] == sorted(r[3] for r in rows)  # work grows with runtime
    median = ShapeMapping().median_samples / float(np.median(runtimes))
    assert rows[2][3] == round(30.0 * median)  # the third job ran 30 s
    times = [float(r[0]) for r in rows]
    assert times[0] == 0.0 and times == sorted(times) and times[-1] > 0
    assert rows == runtime_list_jobs(runtimes, ShapeMapping(seed=3), window=0, **sizing)  # seeded
    assert [r[0] for r in runtime_list_jobs(runtimes, ShapeMapping(seed=4), window=0, **sizing)] != [r[0] for r in rows]
    second = runtime_list_jobs(runtimes, ShapeMapping(seed=3), window=1, **sizing)
    assert second[0][3] == round(90.0 * median)  # window 1: rows 8..15
    with pytest.raises(ValueError, match=r"window 5 outside 0\.\.4"):
        runtime_list_jobs(runtimes, ShapeMapping(), window=5, **sizing)


def test_a_headerless_runtime_list_reads_too(tmp_path):
    assert read_runtime_list(_write(tmp_path, "bare.csv", "12.5\n7\n")).tolist() == [12.5, 7.0]


def test_request_list_gives_workers_and_work_by_gpu_share(tmp_path):
    requests = read_request_list(_write(tmp_path, "req.csv", REQUESTS))
    share, gpus = requests
    assert gpus[:3].tolist() == [0, 1, 2] and share[:3].tolist() == [0.0, 0.5, 2.0]
    rows = request_list_jobs(requests, ShapeMapping(max_tasks=3), n_edges=4, arrival_rate=0.01, duration_s=200.0)
    assert [r[6] for r in rows[:5]] == [1, 1, 2, 3, 3]  # min(num_gpu, max_tasks); a CPU-only request: 1
    assert rows[0][3] < rows[1][3] < rows[2][3]  # CPU-only (0.1 GPU) < 0.5 GPU < 2 GPUs of work


def test_converted_traces_run_in_the_simulator(tmp_path):
    for convert, text in ((convert_runtime_list, RUNTIMES), (convert_request_list, REQUESTS)):
        out = convert(_write(tmp_path, "in.csv", text), tmp_path / "jobs.csv", n_edges=4, arrival_rate=0.01,
                      duration_s=200.0)
        assert out.read_text().splitlines()[0] == ",".join(TRACE_COLUMNS)
        env = srole_env.parallel_env("small", n_edges=4, horizon=20, trace_path=str(out))
        env.reset(seed=0)
        while env.agents:
            env.step({a: 0 for a in env.agents})
        assert env.metrics()["jobs_arrived"] == 8


@pytest.mark.parametrize(("reader", "text", "match"), [
    (read_runtime_list, "job,user\na,b\n", r"rt\.csv:1: runtime list: no duration column .* runtime_s"),
    (read_runtime_list, "runtime_s\n10\nlong\n", r"rt\.csv:3: column 'runtime_s': expected a number, got 'long'"),
    (read_runtime_list, "runtime_s\n-1\n", r"rt\.csv:2: column 'runtime_s': '-1' outside"),
    (read_request_list, "name,gpu_milli\na,1000\n", r"rt\.csv:1: request list: missing column\(s\) \['num_gpu'\]"),
    (read_request_list, "num_gpu,gpu_milli\n1,2000\n", r"rt\.csv:2: column 'gpu_milli': '2000' outside"),
])
def test_bad_rows_name_the_file_line_and_column(tmp_path, reader, text, match):
    with pytest.raises(ValueError, match=match):
        reader(_write(tmp_path, "rt.csv", text))


def test_missing_columns_name_the_converters(tmp_path):
    from srole_env.traces import read_pod_trace

    with pytest.raises(ValueError, match=r"srole trace requests .*convert_request_list"):
        read_pod_trace(_write(tmp_path, "req.csv", REQUESTS))
    with pytest.raises(ValueError, match=r"srole trace: 'runtimes' .*convert_runtime_list"):
        srole_env.parallel_env("small", trace_path=str(_write(tmp_path, "rt.csv", RUNTIMES))).reset(seed=0)


def test_mapping_fields_are_checked():
    with pytest.raises(ValueError, match="samples_per_unit"):
        ShapeMapping(samples_per_unit=0.0)
    with pytest.raises(ValueError, match="tasks"):
        ShapeMapping(tasks=0)


def test_cli_converts_both_shapes(tmp_path, capsys):
    rt, req = _write(tmp_path, "rt.csv", RUNTIMES), _write(tmp_path, "req.csv", REQUESTS)
    assert main(["trace", "runtimes", str(rt), str(tmp_path / "a.csv"), "--n-edges", "4", "--arrival-rate", "0.01",
                 "--duration-s", "200", "--seed", "2"]) == 0
    assert "8 jobs" in capsys.readouterr().out
    assert main(["trace", "requests", str(req), str(tmp_path / "b.csv"), "--n-edges", "4", "--arrival-rate", "0.01",
                 "--duration-s", "200", "--window", "1"]) == 0
    assert len((tmp_path / "b.csv").read_text().splitlines()) == 9
