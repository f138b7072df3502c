"""One data-parallel worker: real PyTorch SGD iterations of a shipped model on synthetic inputs.

The networks are the ones ``scripts/profile_models.py`` profiled into ``srole_env/data/models.csv`` (so a
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

PROFILE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "profile_models.py"


@lru_cache(maxsize=1)
def profile_module() -> ModuleType:
    """``scripts/profile_models.py`` loaded as a module (it defines the torch networks and their input shapes)."""
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
    report: Callable[[int], None],
    sync: Callable[[np.ndarray], np.ndarray] | None = None,
    cpu_set: list[int] | None = None,
    seed: int = 0,
    slowdown: float = 1.0,
) -> float:
    """Run ``iters`` SGD iterations of ``model`` at mini-batch ``batch``; returns the wall time it finished.

    ``report(i)`` is called after iteration ``i`` (1-based); ``sync(flat)`` (or None for a one-worker
    job) averages parameters with the job's other workers; ``cpu_set`` pins this process to those host
    CPUs (one torch thread: a worker is one process on one core, as in the simulator). ``slowdown`` >= 1
    emulates a slower device by duty cycling: after an iteration that took ``d`` seconds the worker
    sleeps ``(slowdown - 1) d`` (as a CPU quota would throttle it), so it runs at 1/``slowdown`` of its
    speed here, contention included.
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
    if not slowdown >= 1.0:
        raise ValueError(f"slowdown must be >= 1, got {slowdown}")
    for i in range(1, int(iters) + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()
        if sync is not None:
            with torch.no_grad():
                flat = torch.nn.utils.parameters_to_vector(params).numpy()
                torch.nn.utils.vector_to_parameters(torch.from_numpy(np.array(sync(flat), dtype=np.float32)), params)
        if slowdown > 1.0:
            time.sleep((slowdown - 1.0) * (time.perf_counter() - t0))
        report(i)
    return time.time()
