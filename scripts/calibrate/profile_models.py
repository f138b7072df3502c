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
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

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
# Architectures (plain torch; standard CIFAR variants, no torchvision)
# --------------------------------------------------------------------------


class LeNet5(nn.Module):
    """LeNet-5 for MNIST on the raw 1x28x28 image.

    conv1 uses padding=2, which is the same as the classic 32x32 zero-padded
    input. ReLU + max-pool instead of tanh + sub-sampling (the usual modern
    form); 6-16 conv channels and 120-84-10 fully connected layers as in
    LeCun et al. (1998), 61,706 parameters.
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a (N, 1, 28, 28) batch to (N, num_classes) logits."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 6x14x14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 16x5x5
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection.

    The identity shortcut is used only when stride is 1 and the channel count
    is unchanged, as in Sandler et al. (2018).
    """

    def __init__(self, in_ch: int, out_ch: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [
                nn.Conv2d(in_ch, hidden, 1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(),
            ]
        layers += [
            nn.Conv2d(
                hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False
            ),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block and add the shortcut where shapes allow."""
        out = self.block(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    """MobileNetV2, width 1.0, CIFAR-10 variant.

    Same layer table as the ImageNet model (t, c, n, s), but the stem conv and
    the first 24-channel stage use stride 1 so a 32x32 input ends at 4x4
    before global pooling. 1280-wide last conv, 1280->10 classifier.
    """

    # (expansion t, out channels c, repeats n, first stride s)
    CFG: ClassVar[list[tuple[int, int, int, int]]] = [
        (1, 16, 1, 1),
        (6, 24, 2, 1),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU6(),
        ]
        in_ch = 32
        for t, c, n, s in self.CFG:
            for i in range(n):
                layers.append(InvertedResidual(in_ch, c, t, s if i == 0 else 1))
                in_ch = c
        layers += [
            nn.Conv2d(in_ch, 1280, 1, bias=False),
            nn.BatchNorm2d(1280),
            nn.ReLU6(),
        ]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a (N, 3, 32, 32) batch to (N, num_classes) logits."""
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN layers, 1x1 conv-BN projection shortcut on shape change."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_ch),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual: relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x))."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18, CIFAR-10 variant: 3x3 stride-1 stem conv, no max-pool, 4 stages of 2 blocks, 512->10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks: list[nn.Module] = []
        in_ch = 64
        for out_ch, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [BasicBlock(in_ch, out_ch, stride), BasicBlock(out_ch, out_ch, 1)]
            in_ch = out_ch
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a (N, 3, 32, 32) batch to (N, num_classes) logits."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class VGG16(nn.Module):
    """VGG-16 with BatchNorm, CIFAR-10 variant: 13 conv3x3-BN-ReLU layers, 5 max-pools, one 512->10 linear."""

    CFG: ClassVar[list[int | str]] = [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        "M",
    ]

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                assert isinstance(v, int)
                layers += [
                    nn.Conv2d(in_ch, v, 3, padding=1),
                    nn.BatchNorm2d(v),
                    nn.ReLU(),
                ]
                in_ch = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a (N, 3, 32, 32) batch to (N, num_classes) logits (features end at 512x1x1)."""
        return self.classifier(self.features(x).flatten(1))


# --------------------------------------------------------------------------
# Model / data set table
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A model together with the data set it trains on."""

    name: str
    dataset: str
    build: Callable[[int], nn.Module]
    input_shape: tuple[int, int, int]  # C, H, W as fed to the network
    num_classes: int
    sample_bytes: int  # stored uint8 image: C*H*W of the raw data set image
    train_samples: int


DATASETS = {
    # name: (input shape, classes, stored uint8 bytes per sample, training set size)
    "mnist": ((1, 28, 28), 10, 28 * 28, 60_000),
    "cifar10": ((3, 32, 32), 10, 3 * 32 * 32, 50_000),
}

MODELS: dict[str, tuple[str, Callable[[int], nn.Module]]] = {
    "lenet5": ("mnist", LeNet5),
    "mobilenetv2": ("cifar10", MobileNetV2),
    "resnet18": ("cifar10", ResNet18),
    "vgg16": ("cifar10", VGG16),
}


def get_spec(name: str) -> ModelSpec:
    """Return the ModelSpec for a model name in MODELS (its data set fixes shape, classes and sizes)."""
    dataset, build = MODELS[name]
    shape, classes, sample_bytes, train_samples = DATASETS[dataset]
    return ModelSpec(name, dataset, build, shape, classes, sample_bytes, train_samples)


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
