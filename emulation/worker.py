"""One data-parallel worker: real PyTorch SGD iterations of a shipped model on synthetic inputs.

The networks are the ones ``scripts/calibrate/profile_models.py`` profiled into ``srole_env/data/models.csv`` (so a
worker's FLOPs per iteration are the ones the simulator charges). Inputs are random tensors of the
model's input shape with random labels: the cost of an iteration does not depend on the pixel values,
and synthetic data keeps the emulator free of data-set downloads.

Synchronisation: after every optimizer step the worker hands its flat parameter vector to ``sync``
and loads what comes back (the job's parameter averager returns the mean of its workers' latest
vectors). Nothing here imports Ray: the backend passes ``sync`` and ``report`` callables in.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np

PROFILE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "calibrate" / "profile_models.py"


@lru_cache(maxsize=1)
def profile_module() -> ModuleType:
    """``scripts/calibrate/profile_models.py`` loaded as a module (it defines the torch networks and their input
    shapes)."""
    if not PROFILE_SCRIPT.exists():
        raise FileNotFoundError(f"emulation needs the repository's {PROFILE_SCRIPT} (the model definitions)")
    spec = importlib.util.spec_from_file_location("srole_profile_models", PROFILE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def train_worker(
    model: str,
    batch: int,
    iters: int,
    report: Callable[[int, float, float], float | None],
    sync: Callable[[np.ndarray], np.ndarray] | None = None,
    cpu_set: list[int] | None = None,
    seed: int = 0,
) -> float:
    """Run ``iters`` SGD iterations of ``model`` at mini-batch ``batch``; returns the wall time it finished.

    ``report(i, cpu_s, started)`` is called after iteration ``i`` (1-based) with the CPU seconds that
    iteration used and the wall time (``time.time()``) it began; if it returns a wall time the worker
    sleeps until then: that is how a node's CPU quota (``emulation.nodes.CpuQuota``) throttles it.
    ``sync(flat)`` (or None for a one-worker job) averages parameters with the job's other workers;
    ``cpu_set`` pins this process to those host CPUs (one torch thread: a worker is one process on one
    core, as in the simulator).
    """
    import torch

    if cpu_set:
        os.sched_setaffinity(0, cpu_set)
    torch.set_num_threads(1)
    spec = profile_module().get_spec(model)
    torch.manual_seed(seed)
    net = spec.build(spec.num_classes)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *spec.input_shape), generator=g)
    y = torch.randint(0, spec.num_classes, (batch,), generator=g)
    params = [p for p in net.parameters() if p.requires_grad]
    for i in range(1, int(iters) + 1):
        c0, started = time.thread_time(), time.time()  # torch runs on this thread (one intra-op thread)
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()
        if sync is not None:
            with torch.no_grad():
                flat = torch.nn.utils.parameters_to_vector(params).numpy()
                torch.nn.utils.vector_to_parameters(torch.from_numpy(np.array(sync(flat), dtype=np.float32)), params)
        resume_at = report(i, time.thread_time() - c0, started)
        if resume_at is not None:
            time.sleep(max(0.0, resume_at - time.time()))
    return time.time()
