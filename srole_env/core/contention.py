"""Compute contention on an edge: the FLOP/s each training worker gets when ``k`` workers share a device.

A worker is one training process with one thread (``torch.set_num_threads(1)``), so the CPU cores
bound how many run at full speed on any device:

* **CPU devices** (``accelerator`` = ``cpu`` in ``data/devices.csv``): up to ``cores`` workers each
  get one core, ``flops / cores`` (the device's sustained rate split evenly over its cores). Beyond
  that the OS time-shares the cores (processor sharing): each of ``k`` workers gets
  ``flops / k x eta(k / cores)``, where ``eta`` is the oversubscription efficiency (context
  switches, cache thrashing).
* **GPU devices** (Jetsons): the running workers share the sustained GPU rate, so ``k`` workers get
  ``flops / k`` each (one worker alone gets all of it). The worker processes still need a CPU core
  each to drive the GPU, so beyond ``cores`` workers the same ``eta(k / cores)`` applies.

Both cases are ``flops / max(k, units) x eta(k / cores)`` with ``units`` = cores (CPU) or 1 (GPU).

``eta`` comes from measurement: ``data/calibration_host.csv``, written by ``scripts/calibrate/calibrate.py``
(k = 1 .. 2 x cores concurrent single-thread ResNet-18 workers on the calibration host, their
throughput per CPU-second so that other processes on the shared host do not count), read as a
function of the oversubscription ratio ``k / cores`` and interpolated linearly between the measured
ratios, 1 at ratio <= 1 (the simulator takes per-core scaling as perfect up to ``cores``) and held at
the last measured value beyond the largest measured ratio (ASSUMPTION: the curve is flat past
2 x cores; it is measured on one x86 host and applied to every device class, also an ASSUMPTION).
``ClusterConfig.oversubscription_efficiency`` replaces the curve by a constant for sensitivity sweeps.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from srole_env.profiles import _read_rows

CALIBRATION_FILE = "calibration_host.csv"


@lru_cache(maxsize=1)
def oversubscription_curve() -> tuple[np.ndarray, np.ndarray]:
    """Measured ``(ratio, efficiency)`` points, ratio = workers / cores >= 1, from the ``sweep`` rows.

    The efficiency of ``k > cores`` workers is ``aggregate(k) / aggregate(cores)`` of the dedicated-host
    aggregates (``dedicated_samples_per_s``: cores x samples per CPU-second, see ``scripts/calibrate/calibrate.py``),
    the fraction of the cores' full-load throughput that survives time-sharing; ``(1.0, 1.0)`` is the
    first point.
    """
    rows = [r for r in _read_rows(CALIBRATION_FILE) if r["kind"] == "sweep"]
    if not rows:
        raise ValueError(f"{CALIBRATION_FILE}: no 'sweep' rows")
    cores = int(rows[0]["cores"])
    rate = {int(r["workers"]): float(r["dedicated_samples_per_s"]) for r in rows}
    if cores not in rate:
        raise ValueError(f"{CALIBRATION_FILE}: no sweep point at k = cores = {cores}")
    over = sorted(k for k in rate if k > cores)
    ratios = np.array([1.0] + [k / cores for k in over])
    eff = np.array([1.0] + [min(1.0, rate[k] / rate[cores]) for k in over])
    ratios.flags.writeable = False
    eff.flags.writeable = False
    return ratios, eff


def oversubscription_efficiency(ratio: np.ndarray, override: float | None = None) -> np.ndarray:
    """``eta`` at each ``workers / cores`` ratio: 1 up to 1, the measured curve (or ``override``) beyond."""
    ratio = np.asarray(ratio, float)
    if override is not None:
        return np.where(ratio > 1.0, override, 1.0)
    ratios, eff = oversubscription_curve()
    return np.interp(ratio, ratios, eff, left=1.0, right=eff[-1])


def worker_flops(
    flops: np.ndarray,
    cores: np.ndarray,
    units: np.ndarray,
    workers: np.ndarray,
    override: float | None = None,
) -> np.ndarray:
    """FLOP/s of each worker when ``workers`` share a device (all arrays broadcast together).

    ``flops`` is the device's sustained training rate, ``units`` the number of equal compute units it
    splits into (``cores`` for a CPU device, 1 for a GPU); ``workers`` < 1 is treated as one worker
    (the speed a worker would get alone).
    """
    k = np.maximum(workers, 1.0)
    return flops / np.maximum(k, units) * oversubscription_efficiency(k / cores, override)
