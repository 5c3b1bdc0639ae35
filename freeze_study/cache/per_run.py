"""Frozen-prefix outputs computed for one run only (random init: the weights depend on the seed).

Computed once per split and run (eval mode, no grad), kept in memory up to a budget
(`--cache-memory-gib`, at most half the available memory) and beyond it in
memory-mapped files, deleted when the run ends.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch
from torch import nn

from freeze_study.config import TrainConfig
from freeze_study.data import normalize
from freeze_study.model import Device
from freeze_study.names import FEATURES_SCRATCH
from freeze_study.scratch import scratch_dir


def prefix_outputs(
    prefix: nn.Module,
    images: np.ndarray,
    batch_size: int,
    device: Device,
    budget: list[int],
    spill: ExitStack,
    root: Path,
) -> torch.Tensor | np.ndarray:
    """This run's prefix output for every image: a tensor while `budget` (bytes left) allows, else a memmap
    (bf16 as float32: numpy has none), deleted when `spill` closes.

    Computed in training-sized batches (on 2 CPU cores, batches of 64 ran ~35% slower than 16).
    """
    prefix = prefix.to(device.accelerator).eval()
    with torch.no_grad():
        first = _forward(prefix, images[:1], device)
    shape, dtype = (len(images), *first.shape[1:]), first.dtype
    nbytes = int(np.prod(shape)) * first.element_size()
    out: torch.Tensor | np.ndarray
    if nbytes <= budget[0]:
        budget[0] -= nbytes
        out = torch.empty(shape, dtype=dtype)
    else:
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(spill.enter_context(scratch_dir(FEATURES_SCRATCH, root)))  # removed by whoever outlives a kill
        disk_dtype = np.float32 if dtype == torch.bfloat16 else str(dtype).replace("torch.", "")  # no bf16 in numpy
        out = np.lib.format.open_memmap(folder / "features.npy", mode="w+", shape=shape, dtype=disk_dtype)
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            chunk = _forward(prefix, images[i : i + batch_size], device)
            if isinstance(out, torch.Tensor):
                out[i : i + len(chunk)] = chunk
            else:
                out[i : i + len(chunk)] = chunk.float().numpy()
    return out


def _forward(prefix: nn.Module, images: np.ndarray, device: Device) -> torch.Tensor:
    x = device.prepare(normalize(torch.from_numpy(np.array(images))))
    with device.context():
        return prefix(x).cpu().contiguous()  # NCHW rows, whatever layout the convolutions ran in


def memory_budget(cfg: TrainConfig) -> int:
    """Bytes of cached features kept in RAM: --cache-memory-gib, at most half the available memory."""
    budget = int(cfg.cache_memory_gib * 2**30)
    available = _available_memory()
    return budget if available is None else min(budget, available // 2)


def _available_memory() -> int | None:
    try:  # MemAvailable counts reclaimable page cache, unlike free pages
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform
        return None
