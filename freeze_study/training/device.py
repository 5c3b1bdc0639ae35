"""Which device and precision a run uses, chosen from what this machine has."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from freeze_study.config import TrainConfig


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
    bf16-mixed on CPUs with AMX, else fp32 (32-true)."""
    accelerator = cfg.accelerator
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    precision = cfg.precision
    if precision == "auto":
        precision = "16-mixed" if accelerator == "cuda" else "bf16-mixed" if _cpu_has_amx() else "32-true"
    return Device(accelerator, precision)


def _cpu_has_amx() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags  # AVX512-BF16 alone does not speed up convolutions: bf16 ran ~15x slower
