"""How a frozen prefix's outputs are computed: device, autocast dtype and memory layout.

The same image gives slightly different numbers on another device, CPU instruction set,
precision, layout or torch version, so all of them are part of a shared entry's key
(`describe`): cached outputs are always the numbers the uncached run would compute.
"""

from __future__ import annotations

import platform
from contextlib import nullcontext
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Compute:
    """Where and how the network runs: "cpu" or "cuda", the autocast dtype (None: fp32), channels-last or NCHW."""

    device: str
    autocast: torch.dtype | None
    channels_last: bool

    def describe(self) -> str:
        """Everything that changes the numbers, as text for a cache key."""
        if self.device == "cuda":
            where = f"cuda:{torch.cuda.get_device_name()}:sm{''.join(map(str, torch.cuda.get_device_capability()))}"
        else:
            where = f"{self.device}:{platform.machine()}:{torch.backends.cpu.get_cpu_capability()}"
        layout = "channels_last" if self.channels_last else "contiguous"
        return f"{where}|{self.autocast or torch.float32}|{layout}|torch {torch.__version__}"

    def context(self):
        """The autocast context the run's Trainer uses for this precision (none for fp32)."""
        return torch.autocast(self.device, dtype=self.autocast) if self.autocast else nullcontext()

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """`x` on the device, in the layout convolutions run in."""
        return to_layout(x.to(self.device, non_blocking=True), self.channels_last)


def to_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A batch of images or feature maps (N x C x H x W) in channels-last layout when asked; other shapes as they are.

    The values are the same; only the order in memory changes, which decides the convolution
    kernels used (and so the last bits of their results).
    """
    if channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
