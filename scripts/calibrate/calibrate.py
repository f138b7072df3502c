"""Calibrate the simulator's compute model on this host with real PyTorch training iterations.

Two measurements, both on single-threaded worker processes (``torch.set_num_threads(1)``, as a
simulated worker is one process pinned to one core):

(a) **Training efficiency per model.** A single-thread SGEMM (``torch.mm`` of two 1024x1024 fp32
    matrices, best of several runs) gives the *measured* per-core peak of this host (not a datasheet
    figure). Then each shipped model (``srole_env/data/models.csv``, modules built by
    ``scripts/calibrate/profile_models.py``) trains with SGD on random data for a fixed wall time; the achieved
    FLOP/s (``train_flops_per_sample x batch / time per iteration``) over that peak is the model's
    training efficiency on this host.
(b) **Oversubscription curve.** k = 1 .. 2 x cores concurrent worker processes each train one model
    (default ResNet-18, batch 8) for a fixed wall time, started together behind a barrier. The
    aggregate throughput against k, each point the median of ``--repeats`` sweeps, gives the
    efficiency ``aggregate(k) / (min(k, cores) x aggregate(1))``: 1 means perfect per-core scaling up
    to ``cores`` and perfect processor sharing beyond.

Rates are per CPU-second of each process (``time.process_time``), and the k-worker aggregate is
``min(k, cores) x`` the workers' mean samples per CPU-second: what the host's cores deliver when
nothing else runs on them. On a shared host (the one this was written on has 2 cores and other
people's processes) the wall-clock aggregate measures the OS scheduler's share against those
processes, not the hardware; it is kept in ``samples_per_s`` for the record. What the CPU-time
figure cannot remove: the other processes' cache and memory-bandwidth pressure, present at every k.

The CSV (``#`` header lines describe the host: CPU model, cores, torch version, date, load) goes to
``srole_env/data/calibration_host.csv`` by default; ``srole_env.core.contention`` reads its ``sweep``
rows as the oversubscription curve. Rows (long format):

* ``peak``: the SGEMM per-core peak (``gflops_per_s``).
* ``train``: one worker alone, per model (``gflops_per_s``, ``efficiency`` = of the SGEMM peak).
* ``sweep_run``: one repeat of one k (wall ``samples_per_s``, ``dedicated_samples_per_s``).
* ``sweep``: the median of ``dedicated_samples_per_s`` over repeats of one k (and the ``--stat`` of
  the wall figures), with its ``efficiency`` as defined above.

Run (from the repository root; a couple of minutes on 2 cores)::

    python scripts/calibrate/calibrate.py                                   # writes srole_env/data/calibration_host.csv
    python scripts/calibrate/calibrate.py --seconds 1 --repeats 1 --out /tmp/c.csv --models lenet5   # quick look
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from profile_models import MODELS, commented_csv, get_spec, run_together  # noqa: E402

from srole_common.host import cpu_model  # noqa: E402
from srole_env.profiles import model_profiles  # noqa: E402

COLUMNS = [  # dedicated_samples_per_s: see concurrent_samples_per_s
    "kind",
    "model",
    "batch",
    "cores",
    "workers",
    "repeat",
    "seconds",
    "samples_per_s",
    "dedicated_samples_per_s",
    "gflops_per_s",
    "efficiency",
]


def sgemm_peak_gflops(n: int = 1024, seconds: float = 1.0, repeats: int = 3) -> float:
    """Best single-thread fp32 matrix-multiply rate per CPU-second, GFLOP/s (2 n^3 FLOPs per product)."""
    torch.set_num_threads(1)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(repeats):
        done, start, cpu0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            torch.mm(a, b)
            done += 1
        best = max(best, done * 2.0 * n**3 / (time.process_time() - cpu0) / 1e9)
    return best


def _trainer(name: str, batch: int):
    """A closure running one SGD training iteration of model ``name`` on a fixed random batch."""
    spec = get_spec(name)
    torch.manual_seed(0)
    model = spec.build(spec.num_classes)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn((batch, *spec.input_shape))
    y = torch.randint(0, spec.num_classes, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def train_rate(name: str, batch: int, seconds: float, barrier=None) -> tuple[int, float, float]:
    """Iterations done, wall seconds and CPU seconds taken (to the end of the last iteration) training for
    ``seconds`` of wall time."""
    torch.set_num_threads(1)
    step = _trainer(name, batch)
    step()
    step()  # warm-up: allocator, oneDNN primitive cache
    if barrier is not None:
        barrier.wait()
    done, start, cpu0 = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        done += 1
    return done, elapsed, time.process_time() - cpu0


def _worker(name: str, batch: int, seconds: float, barrier, queue) -> None:
    """Process body of one swept worker: report (iterations, seconds) on ``queue``."""
    queue.put(train_rate(name, batch, seconds, barrier))


def concurrent_samples_per_s(name: str, batch: int, k: int, seconds: float, cores: int) -> tuple[float, float]:
    """Aggregate samples/s of ``k`` single-thread worker processes training together for ``seconds``: the
    wall-clock figure, and the dedicated-host figure ``min(k, cores) x`` the workers' mean samples per
    CPU-second (what ``cores`` cores would deliver if no other process competed for them)."""
    results = run_together(_worker, (name, batch, seconds), k)
    wall = sum(done * batch / elapsed for done, elapsed, _ in results)
    per_cpu_s = statistics.mean(done * batch / cpu for done, _, cpu in results)
    return wall, min(k, cores) * per_cpu_s


def render(rows: list[dict], header: list[str]) -> str:
    """CSV text: ``#`` header lines, the column line, the rows."""
    return commented_csv(header, COLUMNS, rows)


def main(argv: list[str] | None = None) -> None:
    """Measure (a) per-model efficiency and (b) the k-worker sweep, then write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("srole_env/data/calibration_host.csv"))
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--batch", type=int, default=32, help="batch of the per-model efficiency runs")
    parser.add_argument("--seconds", type=float, default=3.0, help="wall time of one timed run")
    parser.add_argument("--sweep-model", choices=list(MODELS), default="resnet18")
    parser.add_argument("--sweep-batch", type=int, default=8)
    parser.add_argument("--max-workers", type=int, default=None, help="largest k (default 2 x cores)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement (sweeps: each point's median)")
    parser.add_argument(
        "--stat",
        choices=("best", "median"),
        default="best",
        help="summary of the wall-clock repeats of one k (for the record; the curve uses the CPU-time median)",
    )
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    max_k = args.max_workers or 2 * cores
    profiles = model_profiles()
    load_before = os.getloadavg()

    peak_s = min(1.0, args.seconds)
    peak = sgemm_peak_gflops(seconds=peak_s)
    print(f"single-thread SGEMM peak {peak:.1f} GFLOP/s", flush=True)
    trains = {}
    for name in args.models:
        per_cpu = [train_rate(name, args.batch, args.seconds) for _ in range(args.repeats)]
        sps = statistics.median(done * args.batch / cpu for done, _, cpu in per_cpu)  # samples per CPU-second
        elapsed = statistics.median(took for _, took, _ in per_cpu)
        trains[name] = (sps, elapsed)
        print(f"{name}: {sps:.1f} samples/s", flush=True)
    peak = max(peak, sgemm_peak_gflops(seconds=peak_s))  # again after the training runs: the less disturbed of the two
    print(f"single-thread SGEMM peak (best of before/after) {peak:.1f} GFLOP/s", flush=True)
    # a row names only its kind's columns: the CSV writer leaves the others empty
    rows: list[dict] = [dict(kind="peak", model="sgemm1024", cores=cores, workers=1, seconds=args.seconds,
                             gflops_per_s=f"{peak:.2f}")]
    for name, (sps, elapsed) in trains.items():
        gflops = sps * profiles[name].train_flops_per_sample / 1e9
        rows.append(dict(kind="train", model=name, batch=args.batch, cores=cores, workers=1, seconds=f"{elapsed:.2f}",
                         samples_per_s=f"{sps:.3f}", gflops_per_s=f"{gflops:.2f}", efficiency=f"{gflops / peak:.3f}"))
        print(f"{name}: {gflops:.1f} GFLOP/s, {gflops / peak:.3f} of peak", flush=True)

    sweep = dict(model=args.sweep_model, batch=args.sweep_batch, cores=cores, seconds=args.seconds)
    runs: dict[int, list[float]] = {k: [] for k in range(1, max_k + 1)}
    dedicated: dict[int, list[float]] = {k: [] for k in runs}
    for rep in range(args.repeats):
        for k in runs:
            sps, ded = concurrent_samples_per_s(args.sweep_model, args.sweep_batch, k, args.seconds, cores)
            runs[k].append(sps)
            dedicated[k].append(ded)
            rows.append(dict(sweep, kind="sweep_run", workers=k, repeat=rep, samples_per_s=f"{sps:.3f}",
                             dedicated_samples_per_s=f"{ded:.3f}"))
            print(f"repeat {rep} k={k}: {sps:.2f} samples/s wall, {ded:.2f} dedicated", flush=True)
    summary = max if args.stat == "best" else statistics.median
    one = statistics.median(dedicated[1])
    for k, values in runs.items():
        med = statistics.median(dedicated[k])
        gflops = med * profiles[args.sweep_model].train_flops_per_sample / 1e9
        rows.append(dict(sweep, kind="sweep", workers=k, repeat=f"{args.stat}/median",
                         samples_per_s=f"{summary(values):.3f}", dedicated_samples_per_s=f"{med:.3f}",
                         gflops_per_s=f"{gflops:.2f}", efficiency=f"{med / (min(k, cores) * one):.3f}"))
    load_after = os.getloadavg()
    spread = max((max(v) - min(v)) / statistics.median(v) for v in runs.values())
    spread_ded = max((max(v) - min(v)) / statistics.median(v) for v in dedicated.values())
    header = [
        "SROLE host calibration, generated by scripts/calibrate/calibrate.py; do not edit by hand.",
        f"command: python scripts/calibrate/calibrate.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip(),
        f"date (UTC): {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M')}",
        f"host: {cpu_model()}; cores (os.cpu_count): {cores}; {platform.platform()}",
        f"torch {torch.__version__}, CPU, fp32, one thread per worker process (torch.set_num_threads(1)).",
        f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
        f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} (a shared machine: other processes ran).",
        f"noise: largest (max-min)/median over the {args.repeats} sweep repeats of one k: wall {spread:.2f}, "
        f"dedicated {spread_ded:.2f}.",
        "Rates are per CPU-second of the measuring process (time.process_time) unless they say wall: on a shared",
        "  host other processes take wall time, not the CPU time a worker needs for its work.",
        "peak: best single-thread torch.mm 1024x1024 fp32 (2 n^3 FLOPs) per CPU-second, before and after the train",
        "  runs; measured here, not a datasheet figure.",
        "train: one worker alone (median of the repeats), SGD on random data, samples per CPU-second; FLOPs/sample",
        "  from data/models.csv; efficiency = achieved FLOP/s / the SGEMM peak.",
        "sweep_run: k concurrent spawned worker processes behind a barrier: samples_per_s = wall-clock aggregate;",
        "  dedicated_samples_per_s = min(k, cores) x the workers' mean samples per CPU-second (what the cores",
        "  would deliver with no other process on them). The simulator's oversubscription curve uses the latter.",
        f"sweep: samples_per_s = {args.stat} wall aggregate over repeats; dedicated_samples_per_s = median;",
        "  efficiency = dedicated(k) / (min(k, cores) x dedicated(1)).",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows, header))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
