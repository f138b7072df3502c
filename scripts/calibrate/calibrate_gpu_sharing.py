"""Measure how k concurrent training processes share one CUDA GPU (the simulator's GPU-sharing assumption).

The simulator lets the running workers of a GPU edge share its sustained rate equally: one worker alone gets
all of it, k workers get 1/k each, so the GPU's aggregate training throughput does not depend on k. This
script checks that on a real GPU: k = 1, 2, 4 processes each train one of the shipped models (the torch modules
of ``scripts/calibrate/profile_models.py``, FP32, synthetic inputs of the model's shape, SGD) on the same device for a
fixed wall time, started together, and it reports per-process and aggregate samples/s. ``aggregate(k) /
aggregate(1)`` near 1 means the equal-share model holds; above 1 means one small-batch job left the GPU idle
part of the time (kernel-launch bound), so concurrent jobs overlap and the model is pessimistic for that GPU.

Usage (on a machine with a CUDA GPU): ``python scripts/calibrate/calibrate_gpu_sharing.py --out FILE.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import profile_models  # noqa: E402  (the shipped models' torch modules)


def _worker(name: str, batch: int, seconds: float, barrier, results) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False  # FP32 training, as the device table's FP32 peaks assume
    torch.backends.cudnn.allow_tf32 = False
    spec = profile_models.get_spec(name)
    model = spec.build(spec.num_classes).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn((batch, *spec.input_shape), device="cuda")
    y = torch.randint(0, spec.num_classes, (batch,), device="cuda")
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    barrier.wait()
    start = time.perf_counter()
    iters = 0
    while time.perf_counter() - start < seconds:
        for _ in range(5):
            step()
        iters += 5
        torch.cuda.synchronize()
    results.put(iters * batch / (time.perf_counter() - start))


def measure(name: str, k: int, batch: int, seconds: float) -> list[float]:
    """Samples/s of each of ``k`` processes training ``name`` together on GPU 0."""
    return sorted(profile_models.run_together(_worker, (name, batch, seconds), k))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "mobilenetv2", "resnet18", "vgg16"])
    parser.add_argument("--ks", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("calibrate_gpu_sharing: no CUDA device")
    props = torch.cuda.get_device_properties(0)
    rows = []
    for name in args.models:
        single = None
        for k in args.ks:
            rates = measure(name, k, args.batch, args.seconds)
            total = sum(rates)
            single = total if k == 1 else single
            rows.append({"model": name, "k": k, "batch": args.batch, "per_process_samples_s": round(sum(rates) / k, 1),
                         "min_process_samples_s": round(rates[0], 1), "aggregate_samples_s": round(total, 1),
                         "aggregate_vs_k1": round(total / single, 3) if single else ""})
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        f.write(f"# GPU sharing measured by scripts/calibrate/calibrate_gpu_sharing.py on {datetime.date.today()}\n")
        f.write(f"# device: {props.name}, {props.multi_processor_count} SMs, {props.total_memory / 2**30:.0f} GiB; "
                f"torch {torch.__version__}; FP32 (TF32 off); batch {args.batch}; {args.seconds} s per point\n")
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
