"""Bad input refused at the door with an error that says what and where: traces, configs, sizes, env calls."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import srole_env.core.memory as memory_module
from srole_env import CentralizedSchedulingEnv, EdgeClusterEnv, make_config
from srole_env.core.simulator import ClusterSimulator

HEADER = "arrival_time_s,origin,model,samples,epochs,batch_size,tasks\n"


def trace_env(tmp_path: Path, body: bytes) -> EdgeClusterEnv:
    path = tmp_path / "trace.csv"
    path.write_bytes(HEADER.encode() + body)
    env = EdgeClusterEnv("small", trace_path=str(path))
    env.reset(seed=0)
    return env


# ---------------------------------------------------------------------- traces
@pytest.mark.parametrize("row, match", [
    (b"nan,0,lenet5,100,1,32,1\n", r"trace\.csv:2: arrival_time_s must be finite"),
    (b"inf,0,lenet5,100,1,32,1\n", r"trace\.csv:2: arrival_time_s must be finite"),
    (b"-1,0,lenet5,100,1,32,1\n", r"trace\.csv:2: arrival_time_s must be finite, >= 0"),
    (b"1,0,lenet5,100,1,32,1\n1,0,lenet5,100000000000000000000,1,32,1\n", r"trace\.csv:3: samples.* 1\.\.2147483647"),
    (b"1,0,lenet5,100,1,32,0\n", r"trace\.csv:2: samples, epochs, batch_size and tasks must be in 1\.\."),
    (b"1,0,lenet5,1e3,1,32,1\n", r"trace\.csv:2: malformed row"),
    (b"1,0,len\xff\xfe5,100,1,32,1\n", r"trace\.csv is not UTF-8 text"),
    (b"", r"trace\.csv has a header but no jobs"),
])
def test_bad_traces_are_refused_naming_file_and_line(tmp_path: Path, row: bytes, match: str):
    with pytest.raises(ValueError, match=match):
        trace_env(tmp_path, row)


def test_a_trace_too_big_for_memory_is_refused_before_the_episode(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(memory_module, "memory_limit_bytes", lambda: 2.0**30)
    with pytest.raises(ValueError, match=r"trace_path .*needs about .* GiB"):
        trace_env(tmp_path, b"1,0,lenet5,100000000,1,32,100000000\n")


# ---------------------------------------------------------------------- configs
@pytest.mark.parametrize("value, match", [
    (2.0, r"compute_threshold must be finite, > 0.0 and <= 1.0"),
    (0.0, r"compute_threshold must be finite, > 0.0"),
    (1e-9, r"leaves no worker slot on a .* threshold x cores must be >= 1"),
])
def test_compute_threshold_is_bounded(value: float, match: str):
    with pytest.raises(ValueError, match=match):
        make_config("small", compute_threshold=value)
    assert make_config("small", compute_threshold=1.0).compute_threshold == 1.0


@pytest.mark.parametrize("overrides", [{"n_edges": 10**6}, {"arrival_rate": 1e6}, {"tasks_per_job": (1, 10**9)}])
def test_sizes_that_cannot_fit_fail_fast(overrides: dict, monkeypatch):
    monkeypatch.setattr(memory_module, "memory_limit_bytes", lambda: 16.0 * 2**30)
    cfg = make_config("small", **overrides)  # a config is data: building one asks nothing of this machine
    start = time.process_time()  # CPU time: a busy machine stretches the wall clock, not the work done
    with pytest.raises(ValueError, match=r"an episode needs about .* GiB .* more than this machine's 16 GiB"):
        ClusterSimulator(cfg).reset(np.random.default_rng(0))  # the check is where an episode starts
    assert time.process_time() - start < 10.0  # refused up front, not after minutes of allocating


def test_a_long_horizon_alone_is_not_refused(monkeypatch):
    monkeypatch.setattr(memory_module, "memory_limit_bytes", lambda: 16.0 * 2**30)
    env = EdgeClusterEnv("small", n_edges=10_000, horizon=10**6)  # the tables hold live work, not the horizon's
    env.reset(seed=0)
    env.step_arrays(np.full(10_000, env.hold_action))
    assert env.round == 1 and env.metrics()["jobs_arrived"] > 0


def test_counts_beyond_int32_are_refused():
    with pytest.raises(ValueError, match=r"job_samples must satisfy 1 <= lo <= hi <= 2147483647"):
        make_config("small", job_samples=(1, 10**20))
    with pytest.raises(ValueError, match=r"batch_sizes must be .* 1\.\.2147483647"):
        make_config("small", batch_sizes=(2**40,))


def test_malformed_yaml_names_file_and_line(tmp_path: Path):
    from study.experiments.profiles import load_profile

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nseeds: [1, 2\nrounds: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:3: malformed YAML"):
        make_config(str(bad))
    with pytest.raises(ValueError, match=r"bad\.yaml:3: malformed YAML"):
        load_profile(str(bad))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"n_edges": 4,\n "horizon": }\n')
    with pytest.raises(ValueError, match=r"bad\.json:2: malformed JSON"):
        make_config(str(bad_json))


# ---------------------------------------------------------------------- env calls
def test_step_takes_only_a_dict():
    env = EdgeClusterEnv("small")
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"step\(\) takes a dict agent -> action .* got list; .* step_arrays"):
        env.step([0] * 10)


def test_step_arrays_after_the_episode_is_refused_like_step():
    env = EdgeClusterEnv("small", horizon=2)
    with pytest.raises(RuntimeError, match="finished episode"):
        env.step_arrays(np.zeros(10, dtype=np.int64))  # before reset
    env.reset(seed=0)
    hold = np.full(10, env.sim.hold_action)
    env.step_arrays(hold)
    env.step_arrays(hold)
    with pytest.raises(RuntimeError, match="finished episode; call reset"):
        env.step_arrays(hold)


def test_a_shield_cannot_wrap_a_shield():
    import shields

    inner = shields.make_shield(EdgeClusterEnv("small"), "central")
    with pytest.raises(ValueError, match="a shield cannot wrap another shield"):
        shields.make_shield(inner, "decentralized")


def test_numpy_integer_seeds_are_accepted():
    import shields

    plain, shielded = EdgeClusterEnv("small"), shields.make_shield(EdgeClusterEnv("small"), "central")
    a, _ = plain.reset(seed=np.int64(3))
    b, _ = shielded.reset(seed=np.int32(3))
    np.testing.assert_equal(a, b)
    obs, _ = CentralizedSchedulingEnv(make_config("small")).reset(seed=np.uint8(3))
    assert obs.shape[0] > 0
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        plain.reset(seed=3.0)


def test_evaluating_on_another_observation_size_is_a_clear_error(tmp_path: Path):
    from agents.harness.evaluate import evaluate
    from agents.harness.train import train

    run = train("idqn", "none", {"scenario": "small", "horizon": 5}, 5, np.int64(0), tmp_path / "run", "cpu",
                hparams={"learning_starts": 50, "buffer_size": 500, "batch_size": 8, "hidden": [8]}, progress=False)
    with pytest.raises(ValueError, match=r"trained with \d+ candidate edges .* observation size differs"):
        evaluate(run, config={"scenario": "small", "n_neighbors": 2}, episodes=1, device="cpu")
    assert evaluate(run, config={"scenario": "small", "n_edges": 20, "horizon": 3}, episodes=1,
                    seed=np.int64(1), device="cpu")["episodes"] == 1
