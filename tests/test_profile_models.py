"""Checks for scripts/calibrate/profile_models.py and the shipped tables srole_env/data/{models,devices}.csv.

Fast (a few seconds): only LeNet-5 is re-profiled; the larger networks are built to count
their parameters but not run.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "srole_env" / "data"
MODEL_COLUMNS = [
    "name",
    "dataset",
    "input_shape",
    "num_classes",
    "params",
    "param_bytes",
    "fwd_flops_per_sample",
    "train_flops_per_sample",
    "activation_bytes_per_sample",
    "sample_bytes",
    "train_samples",
]
DEVICE_COLUMNS = [
    "name",
    "cores",
    "peak_gflops_fp32",
    "training_efficiency",
    "memory_bytes",
    "nic_mbps",
    "accelerator",
]


def _load_script() -> ModuleType:
    """Import scripts/calibrate/profile_models.py from its path (scripts/ is not a package)."""
    name = "profile_models"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "scripts" / "calibrate" / "profile_models.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a shipped CSV, skipping '#' comment lines."""
    lines = [
        ln
        for ln in path.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


@pytest.fixture(scope="module")
def pm() -> ModuleType:
    """The profile_models script as a module."""
    return _load_script()


@pytest.fixture(scope="module")
def shipped_models() -> dict[str, dict[str, str]]:
    """Rows of the shipped models.csv by model name."""
    header, rows = _read_table(DATA / "models.csv")
    assert header == MODEL_COLUMNS
    return {row["name"]: row for row in rows}


def test_models_csv_shape(shipped_models: dict[str, dict[str, str]]) -> None:
    """All four models are present and every numeric field is a positive integer."""
    assert set(shipped_models) == {"lenet5", "mobilenetv2", "resnet18", "vgg16"}
    for row in shipped_models.values():
        for col in MODEL_COLUMNS[3:]:
            assert row[col].isdigit() and int(row[col]) > 0, (row["name"], col)
        assert int(row["param_bytes"]) == 4 * int(row["params"])  # fp32


def test_lenet5_reprofile_matches_shipped_row(
    pm: ModuleType, shipped_models: dict[str, dict[str, str]]
) -> None:
    """Re-running the profiler on LeNet-5 reproduces the shipped row exactly."""
    row = pm.profile("lenet5")
    assert list(row) == MODEL_COLUMNS
    assert {k: str(v) for k, v in row.items()} == shipped_models["lenet5"]


def test_lenet5_by_hand(shipped_models: dict[str, dict[str, str]]) -> None:
    """LeNet-5 figures against hand arithmetic (1x28x28 input, conv1 padding 2)."""
    # parameters: conv 6@5x5, conv 16@6x5x5, fc 400-120-84-10 (weights + biases)
    params = (
        (6 * 25 + 6)
        + (16 * 6 * 25 + 16)
        + (400 * 120 + 120)
        + (120 * 84 + 84)
        + (84 * 10 + 10)
    )
    assert params == 61_706
    # multiply-accumulates per sample, layer by layer
    macs = [6 * 28 * 28 * 25, 16 * 10 * 10 * 6 * 25, 400 * 120, 120 * 84, 84 * 10]
    fwd = 2 * sum(macs)
    # backward: every layer computes its weight gradient (same MACs as forward),
    # every layer but conv1 its input gradient (the image needs none)
    train = fwd + 2 * sum(macs) + 2 * sum(macs[1:])
    row = shipped_models["lenet5"]
    assert int(row["params"]) == params
    assert int(row["fwd_flops_per_sample"]) == fwd == 833_040
    assert int(row["train_flops_per_sample"]) == train == 2_263_920
    assert int(row["sample_bytes"]) == 28 * 28
    assert int(row["train_samples"]) == 60_000


def test_train_flops_are_two_to_three_times_forward(
    shipped_models: dict[str, dict[str, str]],
) -> None:
    """Backward costs about twice the forward pass, so train/forward lies in (2, 3]."""
    for row in shipped_models.values():
        ratio = int(row["train_flops_per_sample"]) / int(row["fwd_flops_per_sample"])
        assert 2.0 < ratio <= 3.0, (row["name"], ratio)


def test_depthwise_conv_backward_counted_per_group(pm: ModuleType) -> None:
    """A depthwise conv's weight gradient costs what its forward does, not `groups` times more."""
    conv = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
    x = torch.randn(2, 32, 8, 8, requires_grad=True)
    with pm.FlopCounterMode(display=False, custom_mapping=pm.FLOP_FORMULAS) as fwd:
        conv(x)
    with pm.FlopCounterMode(display=False, custom_mapping=pm.FLOP_FORMULAS) as train:
        conv(x).sum().backward()
    assert train.get_total_flops() == 3 * fwd.get_total_flops()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lenet5", 61_706),
        ("mobilenetv2", 2_236_682),  # torchvision structure, 1280->10 head
        ("resnet18", 11_173_962),  # CIFAR ResNet-18 (3x3 stem, no max-pool)
        ("vgg16", 14_728_266),  # VGG-16-BN features + 512->10
    ],
)
def test_param_counts(
    pm: ModuleType, shipped_models: dict[str, dict[str, str]], name: str, expected: int
) -> None:
    """Built networks have the known parameter counts of the standard CIFAR variants."""
    spec = pm.get_spec(name)
    model = spec.build(spec.num_classes)
    assert pm.count_params(model) == expected
    assert int(shipped_models[name]["params"]) == expected


def test_devices_csv_parses_and_is_positive() -> None:
    """devices.csv has the expected columns and rows, and every numeric value is positive."""
    header, rows = _read_table(DATA / "devices.csv")
    assert header == DEVICE_COLUMNS
    names = {row["name"] for row in rows}
    assert {
        "raspberry_pi4",
        "jetson_nano",
        "jetson_tx2",
        "jetson_xavier_nx",
        "nuc_i7",
    } <= names
    assert len(names) == len(rows)
    for row in rows:
        assert int(row["cores"]) > 0
        assert float(row["peak_gflops_fp32"]) > 0
        assert 0 < float(row["training_efficiency"]) <= 1
        assert int(row["memory_bytes"]) > 0
        assert float(row["nic_mbps"]) > 0
        assert row["accelerator"] in {"cpu", "gpu"}
