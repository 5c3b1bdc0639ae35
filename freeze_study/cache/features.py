"""The inputs a run trains on: cached frozen-prefix outputs where valid, else images.

Decoded images (uint8 224x224x3, ~150 KB each) come from the decoded-image cache
(`cache.decoded`). The frozen prefix's outputs are computed once per split and run
(eval mode, no grad), kept in memory up to a budget and beyond it in memory-mapped
files, deleted after the run. `feature_cache=off` is the study's original pipeline:
decode every epoch, run every stage.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from freeze_study.cache.decoded import decoded_images
from freeze_study.config import TrainConfig
from freeze_study.data import Data, ImageDataset, make_loader, normalize, to_input, worker_count
from freeze_study.names import FEATURES_SCRATCH
from freeze_study.scratch import scratch_dir


@dataclass(frozen=True)
class CachePlan:
    """Whether a run reads cached prefix outputs, why not, and what the cache cost."""

    reason: str | None  # why the prefix is not cached (None: it is)
    bytes: int  # decoded images + features, memory and disk
    build_s: float
    spilled_bytes: int = 0  # features that did not fit the memory budget, memory-mapped on disk

    @property
    def features(self) -> bool:
        """Batches hold the prefix's outputs (else images)."""
        return self.reason is None


def prefix_problem(cfg: TrainConfig) -> str | None:
    """Why the frozen prefix's outputs cannot be cached for this run, or None."""
    if cfg.feature_cache == "off":
        return "turned off (--feature-cache off)"
    if cfg.freeze == 0:
        return "nothing is frozen (freeze=0); decoded images are still cached"
    if cfg.augment != "none":
        return f"random augmentation ({cfg.augment}) changes the prefix's input every epoch"
    return None


class ArrayDataset(torch.utils.data.Dataset):
    """Rows of a cached array (decoded images or prefix outputs) with their labels."""

    def __init__(self, rows, labels, images: bool, flip: bool = False):
        self.rows, self.labels, self.images, self.flip = rows, labels, images, flip

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        row = self.rows[i]
        if not isinstance(row, torch.Tensor):
            row = torch.from_numpy(np.array(row))  # a copy: memmaps are read-only
        return (to_input(row, self.flip) if self.images else row), self.labels[i]


def prefix_outputs(
    prefix: nn.Module,
    images: np.ndarray,
    batch_size: int,
    device: str,
    autocast: torch.dtype | None,
    budget: list[int],
    spill: ExitStack,
    root: Path,
) -> torch.Tensor | np.ndarray:
    """The prefix's output for every image: a tensor while `budget` (bytes left) allows, else a memmap.

    Computed in training-sized batches (on 2 CPU cores, batches of 64 ran ~35% slower than 16).
    """
    prefix = prefix.to(device).eval()
    with torch.no_grad():
        first = _forward(prefix, images[:1], device, autocast)
    shape, dtype = (len(images), *first.shape[1:]), first.dtype
    nbytes = int(np.prod(shape)) * first.element_size()
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
            chunk = _forward(prefix, images[i : i + batch_size], device, autocast)
            out[i : i + len(chunk)] = chunk if isinstance(out, torch.Tensor) else chunk.float().numpy()
    return out


def _forward(prefix: nn.Module, images: np.ndarray, device: str, autocast: torch.dtype | None) -> torch.Tensor:
    x = normalize(torch.from_numpy(np.array(images))).to(device)
    ctx = torch.autocast(device, dtype=autocast) if autocast else nullcontext()
    with ctx:
        return prefix(x).cpu()


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


def build_inputs(
    cfg: TrainConfig, data: Data, prefix: nn.Module, device: str, autocast: torch.dtype | None, spill: ExitStack
) -> tuple[dict, CachePlan]:
    """DataLoaders for the three splits and the plan: cached prefix outputs, cached images, or the
    original pipeline (`feature_cache=off`).

    `prefix` is the frozen prefix of the run's network (`model.freeze_at_level`); its
    outputs are N x C x H x W (N x 512 at freeze=4), in the autocast dtype if any.
    Files spilled to disk live until `spill` closes.
    """
    problem = prefix_problem(cfg)
    flip = cfg.augment == "flip"
    if cfg.feature_cache == "off":
        loaders = {
            s: make_loader(
                ImageDataset(split, flip=flip and s == "train"), cfg.batch_size, s == "train", cfg.num_workers, cfg.seed
            )
            for s, split in data.splits.items()
        }
        return loaders, CachePlan(problem, 0, 0.0)
    start = time.perf_counter()
    root = Path(cfg.cache_root())
    loaders, size, spilled, budget = {}, 0, 0, [memory_budget(cfg)]
    for s, split in data.splits.items():
        rows = images = decoded_images(split, data, root, worker_count(cfg.num_workers))
        size += images.nbytes
        if problem is None:
            rows = prefix_outputs(prefix, images, cfg.batch_size, device, autocast, budget, spill, root)
            size += rows.nbytes
            spilled += rows.nbytes if isinstance(rows, np.ndarray) else 0
        dataset = ArrayDataset(rows, split.labels, images=problem is not None, flip=flip and s == "train")
        loaders[s] = make_loader(dataset, cfg.batch_size, s == "train", 0, cfg.seed)  # rows are ready
    return loaders, CachePlan(problem, size, time.perf_counter() - start, spilled)
