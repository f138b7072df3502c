"""Profile the deep-learning models that SROLE jobs train and write `models.csv`.

Each row describes one model / data set pair with the figures the simulator needs:
FLOPs per sample (forward, and forward + backward including the loss), parameter
count and bytes, activation memory per sample, the stored size of one sample and
the number of training samples.

How the figures are measured (CPU, fp32, deterministic):

* FLOPs come from `torch.utils.flop_counter.FlopCounterMode`, which counts the
  matmul / convolution family (2 FLOPs per multiply-accumulate). Element-wise
  ops (BatchNorm, ReLU, pooling, the loss itself) are not counted; they are a
  few percent of the total for these networks.
* `train_flops_per_sample` counts forward + cross-entropy loss + backward on a
  batch, divided by the batch size. The first layer needs no input gradient,
  so the ratio to forward FLOPs is a little under 3.
* `activation_bytes_per_sample` is the total size of the unique storages that
  autograd saves for backward (`torch.autograd.graph.saved_tensors_hooks`),
  excluding parameters and buffers, divided by the batch size (rounded up).
  The input batch is included because conv1 saves it.

Run (from the repository root):

    python scripts/calibrate/profile_models.py --out srole_env/data/models.csv
    python scripts/calibrate/profile_models.py --models lenet5 resnet18 --out /tmp/m.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the networks are the package's (emulation.models), installed or not
    sys.path.insert(0, str(ROOT))

from emulation.models import MODELS, ModelSpec, get_spec  # noqa: E402  (the networks, trained by the emulator too)

SEED = 0
BATCH = 8
COLUMNS = [
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


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_param_bytes(model: nn.Module) -> int:
    """Bytes of the trainable parameters in their stored dtype (fp32 here: 4 bytes each)."""
    return sum(
        p.numel() * p.element_size() for p in model.parameters() if p.requires_grad
    )


def _example_batch(spec: ModelSpec, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic random input batch and integer labels for `spec`."""
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn((batch, *spec.input_shape), generator=g)
    y = torch.randint(0, spec.num_classes, (batch,), generator=g)
    return x, y


def conv_backward_flop_grouped(
    grad_out_shape: list[int],
    x_shape: list[int],
    w_shape: list[int],
    _bias: object,
    _stride: object,
    _padding: object,
    _dilation: object,
    transposed: bool,
    _output_padding: object,
    groups: int,
    output_mask: list[bool],
    out_shape: list[list[int] | None],
    **kwargs: object,
) -> int:
    """FLOPs of aten.convolution_backward, counting grouped / depthwise convs correctly.

    Same formula as torch.utils.flop_counter.conv_backward_flop, except that the
    weight-gradient term is divided by `groups`: torch's version treats the
    transposed input as a dense filter and overcounts a depthwise conv by its
    channel count (7.4x on MobileNetV2's training total; see pytorch/pytorch PR
    #183405). Called by FlopCounterMode with tensors replaced by their shapes.
    """

    def t(shape: list[int]) -> list[int]:
        return [shape[1], shape[0], *shape[2:]]

    grad_in_shape, grad_w_shape = out_shape[0], out_shape[1]
    flops = 0
    if output_mask[0] and grad_in_shape is not None:
        # grad_input = conv_transpose(grad_out, weight); w_shape already has C_in / groups
        flops += conv_flop_count(grad_out_shape, w_shape, grad_in_shape, not transposed)
    if output_mask[1] and grad_w_shape is not None:
        # grad_weight = conv(input, grad_out), done separately within each group
        a, b = (grad_out_shape, x_shape) if transposed else (x_shape, grad_out_shape)
        flops += conv_flop_count(t(a), t(b), t(grad_w_shape)) // groups
    return flops


FLOP_FORMULAS = {torch.ops.aten.convolution_backward: conv_backward_flop_grouped}


def measure_flops(
    model: nn.Module, spec: ModelSpec, batch: int = BATCH
) -> tuple[int, int]:
    """Forward FLOPs and forward+loss+backward FLOPs per sample, counted by FlopCounterMode.

    Both figures are batch totals divided by `batch`; the counted ops scale
    linearly with batch size, so the division is exact.
    """
    x, y = _example_batch(spec, batch)
    model.train()
    with FlopCounterMode(display=False, custom_mapping=FLOP_FORMULAS) as fwd_counter:
        model(x)
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False, custom_mapping=FLOP_FORMULAS) as train_counter:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
    model.zero_grad(set_to_none=True)
    fwd, train = fwd_counter.get_total_flops(), train_counter.get_total_flops()
    return fwd // batch, train // batch


def measure_activation_bytes(
    model: nn.Module, spec: ModelSpec, batch: int = BATCH
) -> int:
    """Bytes per sample of the tensors autograd keeps for backward in one training step.

    Every tensor passed to the pack hook is keyed by its storage's data pointer,
    so views and tensors saved by several ops (e.g. a ReLU output that the next
    conv also saves) are counted once. Parameter and buffer storages are left
    out: they are model state (see param_bytes), not per-sample activations.
    """
    x, y = _example_batch(spec, batch)
    model.train()
    state_ptrs = {
        t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]
    }
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in state_ptrs:
            saved[ptr] = max(saved.get(ptr, 0), storage.nbytes())
        return t

    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        loss = F.cross_entropy(model(x), y)
    loss.backward()  # frees the graph (and the saved tensors) the usual way
    model.zero_grad(set_to_none=True)
    return math.ceil(sum(saved.values()) / batch)


def profile(name: str, batch: int = BATCH) -> dict[str, str | int]:
    """Build model `name` with a fixed seed and return its models.csv row as a dict."""
    spec = get_spec(name)
    torch.manual_seed(SEED)
    model = spec.build(spec.num_classes)
    fwd, train = measure_flops(model, spec, batch)
    return {
        "name": spec.name,
        "dataset": spec.dataset,
        "input_shape": "x".join(str(d) for d in spec.input_shape),
        "num_classes": spec.num_classes,
        "params": count_params(model),
        "param_bytes": count_param_bytes(model),
        "fwd_flops_per_sample": fwd,
        "train_flops_per_sample": train,
        "activation_bytes_per_sample": measure_activation_bytes(model, spec, batch),
        "sample_bytes": spec.sample_bytes,
        "train_samples": spec.train_samples,
    }


def render_csv(
    rows: list[dict[str, str | int]], command: str, batch: int = BATCH
) -> str:
    """The CSV text: '#' comment lines saying how it was generated, the header, then one line per row."""
    header = [
        "SROLE model table, generated by scripts/calibrate/profile_models.py; do not edit by hand.",
        f"command: {command}",
        f"torch {torch.__version__}, CPU, fp32, torch.manual_seed({SEED}), batch {batch}.",
        "FLOPs: torch.utils.flop_counter.FlopCounterMode (matmul/conv only, 2 FLOPs per MAC), batch total / batch;",
        "convolution_backward weight-gradient term divided by groups (torch overcounts depthwise convs there).",
        "train_flops_per_sample: forward + cross-entropy + backward. Element-wise ops (BN, ReLU, pool) not counted.",
        "activation_bytes_per_sample: unique storages saved for backward (saved_tensors_hooks), no params/buffers.",
        "lenet5 takes the raw 1x28x28 MNIST image with conv1 padding=2 (same as the classic 32x32 padded input).",
        "sample_bytes: stored uint8 image (MNIST 784, CIFAR-10 3072). train_samples: size of the training split.",
    ]
    return commented_csv(header, COLUMNS, rows)


def run_together(target: Callable[..., None], args: tuple, k: int) -> list:
    """Start ``k`` spawned processes ``target(*args, barrier, queue)`` that begin their timed work together
    (behind ``barrier``) and each put one result on ``queue``; returns the ``k`` results."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, queue)) for _ in range(k)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return results


def commented_csv(header: list[str], columns: list[str], rows: list[dict]) -> str:
    """CSV text: ``# `` comment lines (how and where the data was made), the column line, the rows."""
    buf = io.StringIO()
    for line in header:
        buf.write(f"# {line}\n")
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options: output path and the subset of models to profile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("srole_env/data/models.csv"),
        help="CSV file to write",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=list(MODELS),
        default=list(MODELS),
        help="models to profile (default: all)",
    )
    parser.add_argument(
        "--batch", type=int, default=BATCH, help="batch size used for the measurements"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Profile the selected models and write the CSV."""
    args = parse_args(argv)
    torch.set_num_threads(1)  # CPU kernels; keeps runs comparable and quiet
    rows = []
    for name in args.models:
        row = profile(name, args.batch)
        rows.append(row)
        print(", ".join(f"{k}={v}" for k, v in row.items()))
    command = "python scripts/calibrate/profile_models.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_csv(rows, command.strip(), args.batch))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
