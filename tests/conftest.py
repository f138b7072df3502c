"""Shared test helpers: tiny deterministic clusters built from a job trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from srole_env.core.workload import write_trace_csv

settings.register_profile("busy-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("busy-machine")
"""Property tests judge behaviour, not speed: no per-example deadline and no too-slow check, so a loaded CI
machine does not fail them (speed goals live in scripts/bench/)."""


@pytest.fixture
def write_trace(tmp_path: Path):
    """Write trace rows (tuples in TRACE_COLUMNS order) to a CSV and return its path."""

    def _write(rows: list[tuple]) -> str:
        return str(write_trace_csv(tmp_path / "trace.csv", rows))

    return _write


@pytest.fixture(scope="module")
def one_torch_thread():
    """Train on one torch thread (deterministic and fastest for the small networks here), restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
