"""Which device, precision and convolution layout a run uses, chosen from what this machine has (`resolve_device`),
and how the network runs there, in the Trainer or outside it (the frozen prefix's cached outputs): one `Device`.

The same image gives slightly different numbers on another device, CPU instruction set,
precision, layout or torch version, so all of them are part of a shared cache entry's key
(`Device.describe`): cached outputs are always the numbers the uncached run would compute.
"""

from __future__ import annotations

import os
import platform
from contextlib import nullcontext
from pathlib import Path
from typing import NamedTuple

import torch

from freeze_study.config import ConfigError, Precision, TrainConfig
from freeze_study.names import AUTOCAST_DTYPES

# The faster convolution layout per device for ResNet18 (batch 16). CPU: channels-last measured 15 % faster
# for a training step and 28 % for an eval forward pass (fp32, oneDNN) where the issue was filed; on a 2-core
# test machine a whole training step was even (0.93-1.06x between runs) but level 3's trainable suffix 25 %
# faster and eval up to 46 % (`freeze-study bench --sweep` prints this machine's figures). CUDA: channels-last
# lets cuDNN use tensor cores without transposes under 16-mixed (NVIDIA's performance guide).
FASTER_LAYOUT = {"cpu": "channels_last", "cuda": "channels_last"}


class Device(NamedTuple):
    """Lightning's accelerator ("cpu" or "cuda"), precision ("32-true", "16-mixed", "bf16-mixed") and the
    convolution layout ("channels_last" or "contiguous")."""

    accelerator: str
    precision: Precision
    memory_format: str = "contiguous"

    @property
    def autocast(self) -> torch.dtype | None:
        """The autocast dtype Lightning uses for this precision (None for fp32)."""
        name = AUTOCAST_DTYPES.get(self.precision)
        return getattr(torch, name) if name else None

    @property
    def channels_last(self) -> bool:
        """Convolutions run on channels-last (NHWC-ordered) tensors."""
        return self.memory_format == "channels_last"

    def describe(self) -> str:
        """Everything that changes the numbers, as text for a cache key."""
        if self.accelerator == "cuda":
            where = f"cuda:{torch.cuda.get_device_name()}:sm{''.join(map(str, torch.cuda.get_device_capability()))}"
        else:
            where = f"{self.accelerator}:{platform.machine()}:{torch.backends.cpu.get_cpu_capability()}"
        layout = "channels_last" if self.channels_last else "contiguous"
        return f"{where}|{self.autocast or torch.float32}|{layout}|torch {torch.__version__}"

    def context(self):
        """The autocast context the run's Trainer uses for this precision (none for fp32), for the frozen prefix
        run outside the Trainer."""
        return torch.autocast(self.accelerator, dtype=self.autocast) if self.autocast else nullcontext()

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """`x` on the device, in the layout convolutions run in."""
        return to_layout(x.to(self.accelerator, non_blocking=True), self.channels_last)


def to_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A batch of images or feature maps (N x C x H x W) in channels-last layout when asked; other shapes as they are.

    The values are the same; only the order in memory changes, which decides the convolution
    kernels used (and so the last bits of their results).
    """
    if channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def resolve_device(cfg: TrainConfig) -> Device:
    """`cfg`'s accelerator, precision and layout, "auto" resolved: CUDA when available; 16-mixed on CUDA,
    bf16-mixed on CPUs with AMX, else fp32 (32-true); the layout measured faster on that device.

    Raises ConfigError for what this machine cannot run as asked, before a run starts: CUDA
    without a GPU, 16-mixed on the CPU (Lightning would quietly run bf16-mixed), bf16 on a GPU
    without it.
    """
    accelerator = cfg.accelerator
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    elif accelerator == "cuda" and not torch.cuda.is_available():
        raise ConfigError("invalid accelerator='cuda': torch sees no CUDA device here; use --accelerator cpu or auto")
    precision = cfg.precision
    if precision == "auto":
        precision = "16-mixed" if accelerator == "cuda" else "bf16-mixed" if _cpu_has_amx() else "32-true"
    elif precision == "16-mixed" and accelerator == "cpu":
        raise ConfigError(
            "invalid precision='16-mixed' on the CPU: Lightning would run bf16-mixed instead; use 32-true or bf16-mixed"
        )
    elif precision == "bf16-mixed" and accelerator == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("invalid precision='bf16-mixed': this GPU has no bfloat16; use 16-mixed or 32-true")
    layout = cfg.memory_format
    if layout == "auto":
        layout = FASTER_LAYOUT.get(accelerator, "contiguous")
    return Device(accelerator, precision, layout)


def make_deterministic() -> None:
    """What the Trainer's `deterministic=True` sets, set before the frozen prefix runs outside it, so
    cached outputs are computed as the uncached run computes them."""
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # cuBLAS reproducibility, as Lightning sets it


def _cpu_has_amx() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags  # AVX512-BF16 alone does not speed up convolutions: bf16 ran ~15x slower
