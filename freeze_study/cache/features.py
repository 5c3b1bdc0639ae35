"""The inputs a run trains on: cached frozen-prefix outputs where valid, else images.

Decoded images (uint8 224x224x3, ~150 KB each) come from the decoded-image cache
(`cache.decoded`). With weights that do not depend on the seed, the frozen prefix's
outputs come from the shared store (`cache.shared`), computed once for every run that
can use them. With random init they are computed once per split and run (eval mode,
no grad), kept in memory up to a budget and beyond it in memory-mapped files, deleted
after the run. `feature_cache=off` is the study's original pipeline: decode every
epoch, run every stage.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from freeze_study.cache.decoded import decoded_images
from freeze_study.cache.per_run import memory_budget, prefix_outputs
from freeze_study.cache.shared import as_tensor, shared_features
from freeze_study.cache.store import Store
from freeze_study.config import TrainConfig
from freeze_study.data import Data, FileMemo, ImageDataset, input_bytes, make_loader, to_input, worker_count
from freeze_study.model import Device
from freeze_study.names import RUN_SCOPE, SHARED_SCOPE

FILE_MEMO = "files.db"  # in the cache folder: what is known about data files (`data.identity`)


@dataclass(frozen=True)
class CachePlan:
    """Whether a run reads cached prefix outputs, why not, and what the cache cost."""

    reason: str | None  # why the prefix is not cached (None: it is)
    bytes: int  # decoded images + features, memory and disk
    build_s: float
    spilled_bytes: int = 0  # features that did not fit the memory budget, memory-mapped on disk
    scope: str | None = None  # SHARED_SCOPE (from the store) or RUN_SCOPE (this run's); None when not cached
    entry: str | None = None  # the store's key of the shared features
    scope_reason: str | None = None  # why the features are this run's only

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


def shared_problem(cfg: TrainConfig) -> str | None:
    """Why the prefix's outputs cannot be shared with other runs through the store, or None."""
    if cfg.weights == "none":
        return "random init (--weights none): the prefix's weights depend on the seed"
    return None


def store_of(cfg: TrainConfig) -> Store:
    """The run's persistent cache folder with its disk budget."""
    return Store(Path(cfg.cache_root()), int(cfg.cache_disk_gib * 2**30))


def file_memo(cfg: TrainConfig) -> FileMemo | None:
    """Image checks and file digests remembered in the cache folder; None with the original pipeline."""
    return FileMemo(Path(cfg.cache_root()) / FILE_MEMO) if cfg.feature_cache == "on" else None


class ArrayDataset(torch.utils.data.Dataset):
    """Rows of a cached array (decoded images or prefix outputs) with their labels."""

    def __init__(self, rows, labels, images: bool, flip: bool = False):
        self.rows, self.labels, self.images, self.flip = rows, labels, images, flip

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        row = self.rows[i]
        if not isinstance(row, torch.Tensor):
            row = as_tensor(row)  # a copy: memmaps are read-only
        return (to_input(row, self.flip) if self.images else row), self.labels[i]


def build_inputs(
    cfg: TrainConfig,
    data: Data,
    net: nn.Module,
    prefix: nn.Module,
    device: Device,
    spill: ExitStack,
    memo: FileMemo | None = None,
) -> tuple[dict, CachePlan]:
    """DataLoaders for the three splits and the plan: cached prefix outputs (shared or this run's),
    cached images, or the original pipeline (`feature_cache=off`).

    `prefix` is the frozen prefix of the run's network `net` (`model.freeze_at_level`); its
    outputs are N x C x H x W (N x 512 at freeze=4), in the autocast dtype if any. Store
    entries stay in use and this run's files on disk live until `spill` closes; `memo`
    remembers the weights file's digest.
    """
    problem = prefix_problem(cfg)
    flip = cfg.augment == "flip"
    if cfg.feature_cache == "off":
        loaders = {
            s: make_loader(
                ImageDataset(split, flip=flip and s == "train", size=cfg.image_size),
                cfg.batch_size,
                s == "train",
                cfg.num_workers,
                cfg.seed,
                input_bytes(cfg.image_size),
            )
            for s, split in data.splits.items()
        }
        return loaders, CachePlan(problem, 0, 0.0)
    start = time.perf_counter()
    store, workers = store_of(cfg), worker_count(cfg.num_workers)
    scope_reason = shared_problem(cfg) if problem is None else None
    size, spilled, scope, entry = 0, 0, None, None
    rows: Mapping[str, torch.Tensor | np.ndarray]  # split -> decoded images or prefix outputs
    if problem is None and scope_reason is None:  # images are decoded only if the store lacks the features
        found = shared_features(
            net, cfg.weights, [cfg.freeze], data, device, cfg.batch_size, store, spill, workers, memo, cfg.image_size
        )
        rows, entry = found.rows[cfg.freeze], found.group
        scope = SHARED_SCOPE if found.stored else RUN_SCOPE
        scope_reason = None if found.stored else f"over the cache's disk budget ({cfg.cache_disk_gib} GiB)"
    else:
        decoded = {
            s: decoded_images(split, data, store, workers, spill, cfg.image_size) for s, split in data.splits.items()
        }
        size, rows = sum(a.nbytes for a in decoded.values()), decoded
        if problem is None:
            budget, scope = [memory_budget(cfg)], RUN_SCOPE
            rows = {
                s: prefix_outputs(prefix, a, cfg.batch_size, device, budget, spill, store.root)
                for s, a in decoded.items()
            }
            spilled = sum(r.nbytes for r in rows.values() if isinstance(r, np.ndarray))
    if problem is None:
        size += sum(r.nbytes for r in rows.values())
    loaders = {
        s: make_loader(  # rows are ready: no workers
            ArrayDataset(rows[s], split.labels, images=problem is not None, flip=flip and s == "train"),
            cfg.batch_size,
            s == "train",
            0,
            cfg.seed,
        )
        for s, split in data.splits.items()
    }
    plan = CachePlan(problem, size, time.perf_counter() - start, spilled, scope, entry, scope_reason)
    return loaders, plan
