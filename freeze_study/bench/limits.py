"""The physical reference: this machine's matrix-multiply rate and the arithmetic each level's epoch needs.

An epoch cannot run faster than its floating-point operations divided by the rate at
which the machine multiplies matrices. FLOPs are those of the convolutions and matrix
products, as `torch.utils.flop_counter.FlopCounterMode` counts them (2 per multiply-add;
BatchNorm, ReLU, pooling and the optimizer are left out: well under 5 % here), measured
on one small batch of the real network and scaled per image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from freeze_study.data import IMAGE_SIZE
from freeze_study.model import build_resnet18, freeze_at_level


def matmul_rate(device: str = "cpu", dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of the fastest of `repeats` products of two `size` x `size` matrices (after a warm-up), in `dtype`.

    The fastest, not the mean: it is the limit, and on a shared machine the others are slowed by neighbours.
    """
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    best = float("inf")
    for i in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        if i:  # the first is warm-up
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


@dataclass(frozen=True)
class LevelFlops:
    """FLOPs per image at one freeze level: a training step and an evaluation, reading cached prefix
    outputs (the trainable suffix only) or images (the frozen prefix's forward pass too)."""

    level: int
    cached_train: float  # suffix forward + backward
    cached_eval: float  # suffix forward
    uncached_train: float  # prefix forward + suffix forward + backward
    uncached_eval: float  # whole network forward

    @property
    def prefix_eval(self) -> float:
        """The frozen prefix's forward pass alone, per image: what caching its output costs once."""
        return self.uncached_eval - self.cached_eval

    def epoch(self, train_images: int, val_images: int, cached: bool) -> float:
        """FLOPs of one epoch: training on `train_images`, then validating on `val_images`."""
        if cached:
            return train_images * self.cached_train + val_images * self.cached_eval
        return train_images * self.uncached_train + val_images * self.uncached_eval


def level_flops(level: int, num_classes: int, batch: int = 2, size: int = IMAGE_SIZE) -> LevelFlops:
    """Count the FLOPs of a training step and an evaluation at `level` on a batch of `batch` images of `size` x
    `size` pixels (CPU, fp32)."""
    torch.manual_seed(0)
    net = build_resnet18(num_classes, "none")
    prefix, suffix = freeze_at_level(net, level)
    suffix.train()
    images = torch.randn(batch, 3, size, size)
    labels = torch.zeros(batch, dtype=torch.long)
    with torch.no_grad():
        features = prefix(images)

    def count(step) -> float:
        with FlopCounterMode(display=False) as counter:
            step()
        net.zero_grad(set_to_none=True)
        return counter.get_total_flops() / batch

    def train(x: torch.Tensor, through_prefix: bool) -> None:
        F.cross_entropy(suffix(prefix(x) if through_prefix else x), labels).backward()

    def evaluate(x: torch.Tensor, through_prefix: bool) -> None:
        with torch.no_grad():
            suffix(prefix(x) if through_prefix else x)

    return LevelFlops(
        level,
        count(lambda: train(features, False)),
        count(lambda: evaluate(features, False)),
        count(lambda: train(images, True)),
        count(lambda: evaluate(images, True)),
    )


def layout_seconds(
    device: str = "cpu", batch: int = 16, repeats: int = 3, size: int = IMAGE_SIZE
) -> dict[str, dict[str, float]]:
    """Seconds of a ResNet18 training step and of an evaluation pass on `batch` images of `size` pixels (fp32), in the
    contiguous (NCHW) and channels-last layouts, interleaved, fastest of `repeats` after a warm-up each."""
    torch.manual_seed(0)
    net = build_resnet18(3, "none").to(device)
    images = torch.randn(batch, 3, size, size, device=device)
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    formats = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    best = {name: {"train_step": float("inf"), "eval": float("inf")} for name in formats}
    for i in range(repeats + 1):
        for name, fmt in formats.items():
            net.to(memory_format=fmt)
            x = images.contiguous(memory_format=fmt)
            for kind in ("train_step", "eval"):
                _sync(device)
                start = time.perf_counter()
                if kind == "eval":
                    with torch.no_grad():
                        net.eval()(x)
                else:
                    F.cross_entropy(net.train()(x), labels).backward()
                _sync(device)
                if i:  # the first round is warm-up
                    best[name][kind] = min(best[name][kind], time.perf_counter() - start)
                net.zero_grad(set_to_none=True)
    return best


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
