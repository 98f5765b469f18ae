"""PyTorch builds of the paper's four architectures (rethink_tf.models) and a bare train-step throughput.

A reference for tools/benchmark.py --torch: the issue asks for the ratio TF / PyTorch of the same
architecture measured in the same run, so that a slow TensorFlow number can be told apart from a slow
machine. Same layers, shapes and trainable parameter counts as the Keras models, for 28x28x3 input
(NCHW here) and 10 classes; initializers are PyTorch's defaults, since only speed and shapes are compared.
PyTorch is optional: pip install torch==2.13.0 (the CPU build).
"""

from __future__ import annotations

import math
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

from rethink_tf.models import inception  # the block list the PyTorch twin must share

INPUT_SHAPE = (3, 28, 28)
NUM_CLASSES = 10
KEYS = ("inception_small", "inception_small_nobn", "alexnet_small", "mlp_1x512", "mlp_3x512")

# The Keras model's own block list: "inc" = Inception(c1 1x1, c3 3x3); "down" = Downsample(c3 3x3/2 + pool).
_BLOCKS = inception.BLOCKS


def _pad_same(x: torch.Tensor, kernel_size: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's 'SAME' padding of the last two dims: output ceil(n / stride), the odd pixel at bottom/right."""
    pads = []
    for n in reversed(x.shape[-2:]):  # F.pad takes the last dim first
        total = max((math.ceil(n / stride) - 1) * stride + kernel_size - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's 'SAME' padding for any stride."""

    def forward(self, x):
        return super().forward(_pad_same(x, self.kernel_size[0], self.stride[0]))


class SameMaxPool2d(nn.MaxPool2d):
    """MaxPool2d with TensorFlow's 'SAME' padding: padded pixels never win (28 -> 14 -> 7 at 3x3/2)."""

    def forward(self, x):
        return super().forward(_pad_same(x, self.kernel_size, self.stride, value=-math.inf))


class BatchNormOffset(nn.BatchNorm2d):
    """Keras BatchNormalization(center=True, scale=False): normalize, then add a learnable offset, no scale."""

    def __init__(self, channels: int):
        # Keras' epsilon, and the benchmark's bn_momentum=0.9 (PyTorch weighs the new batch, Keras the old mean).
        super().__init__(channels, eps=1e-3, momentum=0.1, affine=False)
        self.offset = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return super().forward(x) + self.offset.view(1, -1, 1, 1)


def conv_module(cin: int, cout: int, kernel_size: int, stride: int, batch_norm: bool) -> nn.Sequential:
    """The paper's ConvModule: Conv 'same' (bias only without BN) -> BatchNorm (offset only) -> ReLU."""
    layers = [SameConv2d(cin, cout, kernel_size, stride, bias=not batch_norm)]
    if batch_norm:
        layers.append(BatchNormOffset(cout))
    return nn.Sequential(*layers, nn.ReLU())


class Concat(nn.Module):
    """Runs every branch on the same input and concatenates their outputs along channels."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class Inception(Concat):
    """Inception(c1, c3): concat[ConvModule 1x1 c1, ConvModule 3x3 c3]."""

    def __init__(self, cin: int, c1: int, c3: int, batch_norm: bool):
        super().__init__(conv_module(cin, c1, 1, 1, batch_norm), conv_module(cin, c3, 3, 1, batch_norm))


class Downsample(Concat):
    """Downsample(c3): concat[ConvModule 3x3/2 c3, MaxPool 3x3/2], both TensorFlow 'SAME'."""

    def __init__(self, cin: int, c3: int, batch_norm: bool):
        super().__init__(conv_module(cin, c3, 3, 2, batch_norm), SameMaxPool2d(3, 2))


def inception_small(batch_norm: bool = True) -> nn.Sequential:
    """ConvModule(96, 3x3) -> the Inception/Downsample stack -> global average pool -> Linear logits."""
    layers, channels = [conv_module(INPUT_SHAPE[0], 96, 3, 1, batch_norm)], 96
    for kind, widths in _BLOCKS:
        if kind == "inc":
            layers.append(Inception(channels, *widths, batch_norm))
            channels = sum(widths)
        else:
            layers.append(Downsample(channels, widths, batch_norm))
            channels += widths
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, NUM_CLASSES))


def alexnet_small() -> nn.Sequential:
    """Two [Conv 5x5x64 ReLU -> MaxPool 3x3/2 'same' -> LRN] blocks, Linear 384 -> 192 (ReLU) -> logits."""
    layers, channels = [], INPUT_SHAPE[0]
    for _ in range(2):
        # tf.nn.local_response_normalization(depth_radius=4, bias=1, alpha=0.001/9, beta=0.75) sums alpha * x**2
        # over 9 channels; PyTorch divides alpha by size, hence alpha = 0.001 / 9 * 9.
        layers += [
            SameConv2d(channels, 64, 5, 1),
            nn.ReLU(),
            SameMaxPool2d(3, 2),
            nn.LocalResponseNorm(size=9, alpha=0.001, beta=0.75, k=1.0),
        ]
        channels = 64
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 384),
        nn.ReLU(),
        nn.Linear(384, 192),
        nn.ReLU(),
        nn.Linear(192, NUM_CLASSES),
    )


def mlp(num_hidden_layers: int, width: int = 512) -> nn.Sequential:
    """Flatten -> num_hidden_layers x Linear(width, ReLU) -> Linear logits."""
    layers, features = [nn.Flatten()], math.prod(INPUT_SHAPE)
    for _ in range(num_hidden_layers):
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    return nn.Sequential(*layers, nn.Linear(features, NUM_CLASSES))


def build(key: str) -> nn.Module:
    """The PyTorch twin of a benchmark key: a rethink_tf.models name, "_nobn" for Inception w/o BatchNorm."""
    builders = {
        "inception_small": lambda: inception_small(True),
        "inception_small_nobn": lambda: inception_small(False),
        "alexnet_small": alexnet_small,
        "mlp_1x512": lambda: mlp(1),
        "mlp_3x512": lambda: mlp(3),
    }
    if key not in builders:
        raise ValueError(f"Unknown model {key!r}; choose one of {', '.join(KEYS)}")
    return builders[key]()


def trainable_params(module: nn.Module) -> int:
    """Trainable parameters, as rethink_tf.models.paper_param_count counts them (BN running statistics do not)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def train_step_images_per_s(key: str, batch_size: int, seconds: float, threads: int | None = None) -> float:
    """Eager train steps (forward, cross-entropy, backward, SGD 0.01 momentum 0.9) on one batch held in memory.

    One untimed warm-up step, then steps until `seconds` elapse; uses `threads` intra-op threads (all CPUs).
    """
    torch.set_num_threads(threads or os.cpu_count() or 1)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, *INPUT_SHAPE, generator=generator)
    y = torch.randint(0, NUM_CLASSES, (batch_size,), generator=generator)
    model = build(key).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    step()
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        steps += 1
    return steps * batch_size / elapsed
