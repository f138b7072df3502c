"""The deep-learning models SROLE jobs train, as plain torch modules (no torchvision), with their data sets.

``get_spec(name)`` gives a ``ModelSpec`` (network builder, input shape, classes, stored sample size, training-set
size) for each model of ``MODELS``. The emulator's workers train these networks (``emulation.worker``), and
``scripts/calibrate/profile_models.py`` profiles them into ``srole_env/data/models.csv`` (so a worker's FLOPs
per iteration are the ones the simulator charges). Imports torch: import it only where a network is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

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
