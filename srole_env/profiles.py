"""Device-class and DL-model profile tables shipped as package data (``srole_env/data/*.csv``).

``devices.csv`` holds datasheet figures of edge devices; ``models.csv`` holds per-sample training
FLOPs, parameter bytes and activation memory measured on real torch modules by
``scripts/profile_models.py``. Both files carry their sources in ``#`` comment lines.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class DeviceClass:
    """One kind of edge device. ``flops`` is the sustained training throughput (FLOP/s)."""

    name: str
    cores: int
    peak_gflops_fp32: float
    training_efficiency: float
    memory_bytes: float
    nic_mbps: float
    accelerator: str

    @property
    def flops(self) -> float:
        """Sustained FLOP/s a training workload reaches on the whole device."""
        return self.peak_gflops_fp32 * 1e9 * self.training_efficiency


@dataclass(frozen=True)
class ModelProfile:
    """Training cost of one DL model on its dataset, per sample."""

    name: str
    dataset: str
    params: int
    param_bytes: int
    fwd_flops_per_sample: int
    train_flops_per_sample: int
    activation_bytes_per_sample: int
    sample_bytes: int
    train_samples: int


def _read_rows(filename: str) -> list[dict[str, str]]:
    """Rows of a packaged CSV, skipping ``#`` comment lines."""
    text = resources.files("srole_env").joinpath("data").joinpath(filename).read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


@lru_cache(maxsize=1)
def device_classes() -> dict[str, DeviceClass]:
    """Device classes by name, from ``data/devices.csv``."""
    out = {}
    for row in _read_rows("devices.csv"):
        out[row["name"]] = DeviceClass(
            name=row["name"],
            cores=int(row["cores"]),
            peak_gflops_fp32=float(row["peak_gflops_fp32"]),
            training_efficiency=float(row["training_efficiency"]),
            memory_bytes=float(row["memory_bytes"]),
            nic_mbps=float(row["nic_mbps"]),
            accelerator=row["accelerator"],
        )
    return out


@lru_cache(maxsize=1)
def model_profiles() -> dict[str, ModelProfile]:
    """DL model profiles by name, from ``data/models.csv``."""
    out = {}
    for row in _read_rows("models.csv"):
        out[row["name"]] = ModelProfile(
            name=row["name"],
            dataset=row["dataset"],
            params=int(row["params"]),
            param_bytes=int(row["param_bytes"]),
            fwd_flops_per_sample=int(row["fwd_flops_per_sample"]),
            train_flops_per_sample=int(row["train_flops_per_sample"]),
            activation_bytes_per_sample=int(row["activation_bytes_per_sample"]),
            sample_bytes=int(row["sample_bytes"]),
            train_samples=int(row["train_samples"]),
        )
    return out
