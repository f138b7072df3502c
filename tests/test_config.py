"""Config: scenarios, files, and validation that names the offending field."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import srole_env
from srole_env.config import SCENARIOS, ClusterConfig, make_config
from srole_env.core.simulator import ClusterSimulator


def test_named_scenarios():
    assert make_config("small").n_edges == 10
    assert make_config("paper").n_edges == 50 and make_config("paper").n_regions == 4
    assert make_config("large").n_edges == 1000 and make_config("large").horizon == 500
    assert set(SCENARIOS) == {"small", "paper", "large"}
    with pytest.raises(ValueError, match="scenario"):
        make_config("huge")


def test_shrinking_cluster_caps_default_regions_but_not_explicit_ones():
    assert make_config("paper", n_edges=3).n_regions == 3
    with pytest.raises(ValueError, match="n_regions"):
        make_config("small", n_edges=3, n_regions=5)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_load_from_file_roundtrip(tmp_path, suffix):
    cfg = make_config("paper", arrival_rate=0.01, batch_sizes=(16, 32))
    path = tmp_path / f"cfg{suffix}"
    data = cfg.to_dict()
    path.write_text(yaml.safe_dump(data) if suffix == ".yaml" else json.dumps(data))
    assert ClusterConfig.from_file(path) == cfg
    env = srole_env.parallel_env(str(path))
    assert env.config == cfg


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("n_edges", 0, ValueError),
        ("n_edges", 2.5, TypeError),
        ("round_s", -1.0, ValueError),
        ("round_s", float("nan"), ValueError),
        ("compute_threshold", 0, ValueError),
        ("job_samples", (10, 5), ValueError),
        ("tasks_per_job", (1,), TypeError),
        ("batch_sizes", (), ValueError),
        ("device_mix", {"raspberry_pi4": -1.0}, ValueError),
        ("device_mix", {"raspberry_pi4": float("inf")}, ValueError),
        ("model_mix", {"lenet5": float("nan")}, ValueError),
        ("arrival_rate", float("inf"), ValueError),
        ("model_mix", {}, TypeError),
        ("horizon", True, TypeError),
    ],
)
def test_invalid_values_name_the_field(field, value, error):
    with pytest.raises(error, match=field):
        make_config("small", **{field: value})


def test_unknown_fields_and_names_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown config field"):
        make_config("small", n_edge=5)
    with pytest.raises(ValueError, match="device_mix"):
        srole_env.parallel_env("small", device_mix={"cray_1": 1.0}).reset(seed=0)
    with pytest.raises(ValueError, match="model_mix"):
        srole_env.parallel_env("small", model_mix={"gpt5": 1.0})
    bad = tmp_path / "cfg.toml"
    bad.write_text("x = 1")
    with pytest.raises(ValueError, match=r"\.yaml"):
        ClusterConfig.from_file(bad)


@given(n=st.integers(1, 40), k=st.integers(0, 8))
def test_candidates_are_self_plus_nearest(n, k):
    env = srole_env.parallel_env("small", n_edges=n, n_neighbors=k)
    env.reset(seed=n * 100 + k)
    topo = env.sim.topology
    c = env.config.n_candidates
    assert topo.candidates.shape == (n, c) and c == 1 + min(k, n - 1)
    assert (topo.candidates[:, 0] == range(n)).all()
    for i in range(n):
        assert len(set(topo.candidates[i])) == c
        dist = ((topo.positions - topo.positions[i]) ** 2).sum(1)
        others = sorted(set(range(n)) - {i}, key=lambda j: (dist[j], j))
        assert list(topo.candidates[i, 1:]) == others[: c - 1]


EMU_NODE = {"cores": 2, "peak_gflops_fp32": 3.5, "training_efficiency": 1.0, "memory_bytes": 4e9,
            "nic_mbps": 10_000.0, "accelerator": "cpu"}


def test_extra_device_class_builds_its_edges_and_survives_a_roundtrip(tmp_path):
    cfg = make_config("small", n_edges=4, device_mix={"emu_node": 1.0}, extra_device_classes={"emu_node": EMU_NODE})
    sim = ClusterSimulator(cfg)
    sim.reset(np.random.default_rng(0))
    assert sim.topology.device_names == ("emu_node",)
    assert sim.topology.flops.tolist() == [3.5e9] * 4 and sim.topology.cores.tolist() == [2.0] * 4
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert ClusterConfig.from_file(path) == cfg


@pytest.mark.parametrize("fields, match", [
    ({k: v for k, v in EMU_NODE.items() if k != "cores"}, "missing field"),
    ({**EMU_NODE, "speed": 1.0}, "unknown field"),
    ({**EMU_NODE, "training_efficiency": 1.5}, "training_efficiency"),
    ({**EMU_NODE, "cores": 0}, "cores"),
    ({**EMU_NODE, "accelerator": "tpu"}, "accelerator"),
])
def test_malformed_extra_device_class_is_refused(fields, match):
    with pytest.raises(ValueError, match=match):
        make_config("small", extra_device_classes={"emu_node": fields})


def test_extra_device_class_may_not_redefine_a_shipped_one():
    with pytest.raises(ValueError, match="shipped"):
        make_config("small", extra_device_classes={"raspberry_pi4": EMU_NODE})
    with pytest.raises(ValueError, match="unknown device class"):  # a mix naming a class nobody defined
        ClusterSimulator(make_config("small", device_mix={"emu_node": 1.0})).reset(np.random.default_rng(0))


@pytest.mark.parametrize("field", ["overload_slowdown", "head_decision_s"])
def test_retired_fields_still_load_with_a_note(tmp_path, field):
    path = tmp_path / "old.yaml"
    path.write_text(f"scenario: small\nn_edges: 7\n{field}: 0.5\n")
    with pytest.warns(FutureWarning, match=f"config field '{field}' was retired"):
        cfg = ClusterConfig.from_file(path)
    assert cfg.n_edges == 7 and field not in cfg.to_dict()
    with pytest.raises(TypeError):
        ClusterConfig(**{field: 0.5})  # code that names a retired field is told at once


def test_building_a_config_reads_nothing_from_the_host(monkeypatch):
    import inspect
    import os

    import srole_env.config as config_module
    import srole_env.core.memory as memory_module

    def refuse(*args):
        raise AssertionError("a config asked the host")

    monkeypatch.setattr(memory_module, "memory_limit_bytes", refuse)
    monkeypatch.setattr(os, "sysconf", refuse)
    cfg = make_config("small", n_edges=10**6, arrival_rate=1e6, horizon=10**9)  # valid data, however large
    assert cfg.n_edges == 10**6
    source = inspect.getsource(config_module)
    assert "/sys" not in source and "import resource" not in source and "sysconf" not in source
