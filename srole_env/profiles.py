"""Device-class and DL-model profile tables shipped as package data (``srole_env/data/*.csv``).

``devices.csv`` holds datasheet figures of edge devices; ``models.csv`` holds per-sample training
FLOPs, parameter bytes and activation memory measured on real torch modules by
``scripts/calibrate/profile_models.py``. Both files carry their sources in ``#`` comment lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


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


DEVICE_FIELDS = ("cores", "peak_gflops_fp32", "training_efficiency", "memory_bytes", "nic_mbps", "accelerator")
"""The columns of ``devices.csv`` after ``name``: what a config's ``extra_device_classes`` entry must give."""


def device_class_from_fields(name: str, fields: Mapping[str, Any]) -> DeviceClass:
    """A ``DeviceClass`` named ``name`` from a mapping of ``DEVICE_FIELDS``; ``ValueError`` on a missing, unknown
    or out-of-range field (the same checks a ``devices.csv`` row would need)."""
    if not isinstance(fields, Mapping):
        raise TypeError(f"device class {name!r}: expected a mapping of {DEVICE_FIELDS}, got {fields!r}")
    missing, unknown = sorted(set(DEVICE_FIELDS) - set(fields)), sorted(set(fields) - set(DEVICE_FIELDS))
    if missing or unknown:
        raise ValueError(f"device class {name!r}: missing field(s) {missing}, unknown field(s) {unknown}; "
                         f"expected exactly {list(DEVICE_FIELDS)}")
    cores = fields["cores"]
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ValueError(f"device class {name!r}: cores must be an int >= 1, got {cores!r}")
    numbers = {}
    for key in ("peak_gflops_fp32", "training_efficiency", "memory_bytes", "nic_mbps"):
        value = fields[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise ValueError(f"device class {name!r}: {key} must be a finite number > 0, got {value!r}")
        numbers[key] = float(value)
    if numbers["training_efficiency"] > 1.0:
        raise ValueError(f"device class {name!r}: training_efficiency is a fraction of peak, <= 1, "
                         f"got {numbers['training_efficiency']}")
    if fields["accelerator"] not in ("cpu", "gpu"):
        raise ValueError(f"device class {name!r}: accelerator must be 'cpu' or 'gpu', got {fields['accelerator']!r}")
    return DeviceClass(name=name, cores=cores, accelerator=fields["accelerator"], **numbers)


def device_table(extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, DeviceClass]:
    """Device classes by name: ``devices.csv`` plus ``extra`` (a config's ``extra_device_classes``), which may
    add classes but not redefine a shipped one (a silent redefinition would change every scenario using it)."""
    table = dict(device_classes())
    for name, fields in (extra or {}).items():
        if name in table:
            raise ValueError(f"extra_device_classes: {name!r} is a shipped device class (devices.csv); "
                             "give the new class another name")
        table[name] = device_class_from_fields(name, fields)
    return table


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
