"""Which device and precision a run uses, chosen from what this machine has."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from freeze_study.config import ConfigError, TrainConfig


class Device(NamedTuple):
    """Lightning's accelerator ("cpu" or "cuda") and precision ("32-true", "16-mixed", "bf16-mixed")."""

    accelerator: str
    precision: str

    @property
    def autocast(self) -> torch.dtype | None:
        """The autocast dtype Lightning uses for this precision (None for fp32)."""
        return {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}.get(self.precision)


def resolve_device(cfg: TrainConfig) -> Device:
    """`cfg`'s accelerator and precision, "auto" resolved: CUDA when available; 16-mixed on CUDA,
    bf16-mixed on CPUs with AMX, else fp32 (32-true).

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
    return Device(accelerator, precision)


def _cpu_has_amx() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags  # AVX512-BF16 alone does not speed up convolutions: bf16 ran ~15x slower
