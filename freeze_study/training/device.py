"""Which device, precision and convolution layout a run uses, chosen from what this machine has."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import torch

from freeze_study.cache import Compute
from freeze_study.config import ConfigError, TrainConfig
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
    precision: str
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

    @property
    def compute(self) -> Compute:
        """How the frozen prefix runs outside the Trainer: the same device, autocast and layout."""
        return Compute(self.accelerator, self.autocast, self.channels_last)


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
