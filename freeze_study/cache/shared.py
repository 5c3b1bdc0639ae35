"""Frozen-prefix outputs shared by every run that can share them, all levels from one pass.

With starting weights that do not depend on the seed (ImageNet or a file), the prefix's
output for an image depends only on the weights, the data, the pre-processing, the level
and how it is computed (`Device`): together they key a store entry per level and split,
reused by every seed, later sweep and worker. Levels come from one pass: the stages run
in order over each batch and the output after step k is level k's entry
(`model.level_steps`); a level missing from the store starts from the deepest stored
level below it, so level k is computed from level k-1's outputs, never from the images again.
"""

from __future__ import annotations

import hashlib
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from freeze_study.cache.decoded import decoded_images
from freeze_study.cache.store import Store
from freeze_study.data import IMAGE_SIZE, Data, FileMemo, file_sha256, normalize, preprocessing
from freeze_study.model import Device, level_steps, weights_file
from freeze_study.names import MAX_FREEZE

KIND = "features"


@dataclass(frozen=True)
class SharedFeatures:
    """Each level's prefix outputs per split (read-only arrays, N x C x H x W or N x 512), and what it took."""

    group: str  # the store key shared by the entries of these weights, data and device (its describe())
    rows: dict[int, dict[str, np.ndarray]]  # level -> split -> outputs (`as_tensor` reads them)
    built: bool  # some entry was computed now (else all were reused)
    stored: bool  # every entry is in the store (else some were this run's only: no room in the budget)


def weights_digest(weights: str, memo: FileMemo | None = None) -> str:
    """What the frozen prefix computes with: the SHA-256 of the file its weights come from (the network's
    body is loaded from it, nothing else), remembered by file identity in `memo`.

    Raises ValueError for random init ("none"), whose weights depend on the seed.
    """
    path = weights_file(weights)
    if path is None:
        raise ValueError("random-init weights depend on the seed: their prefix outputs are not shared")
    digest = file_sha256(path, memo)
    if memo:
        memo.flush()
    return f"{weights if weights == 'imagenet' else 'file'}:{digest.hex()}"


def group_key(weights: str, data: Data, device: Device, size: int = IMAGE_SIZE) -> str:
    """The key part shared by one weights file's entries on one data set decoded to `size` pixels, computed
    one way."""
    text = f"{weights}|{data.digest}|{preprocessing(size)}|{device.describe()}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def entry_key(group: str, level: int, split: str) -> str:
    """'<group>-L2-train': the store key of one level's outputs on one split."""
    return f"{group}-L{level}-{split}"


def shared_features(
    net: nn.Module,
    weights: str,
    levels: list[int],
    data: Data,
    device: Device,
    batch_size: int,
    store: Store,
    hold: ExitStack,
    workers: int,
    memo: FileMemo | None = None,
    size: int = IMAGE_SIZE,
) -> SharedFeatures:
    """The prefix outputs of `net`, built from `weights` ("imagenet" or a file), at each of `levels` (1..4)
    for every split decoded to `size` pixels, from the store or computed in one pass per split, in batches of
    `batch_size`;
    kept from eviction until `hold` closes. `memo` remembers the weights file's digest.

    The steps that run must be frozen (BatchNorm in eval mode). Raises DataError for an image that
    cannot be decoded, ValueError for random init, a level outside 1..4 or a BatchNorm in training mode.
    """
    if not levels or not all(1 <= k <= MAX_FREEZE for k in levels):
        raise ValueError(f"levels {levels} must be in 1..{MAX_FREEZE}")
    group = group_key(weights_digest(weights, memo), data, device, size)
    rows: dict[int, dict[str, np.ndarray]] = {k: {} for k in levels}
    built, stored = False, True
    for name, split in data.splits.items():
        for k in levels:
            found = store.open(KIND, entry_key(group, k, name), hold)
            if found is not None:
                rows[k][name] = found
        if all(name in rows[k] for k in levels):
            continue
        with store.build_lock(KIND, group):  # a second worker waits here, then finds them built
            missing = []
            for k in levels:
                found = rows[k].get(name)
                if found is None:
                    found = store.open(KIND, entry_key(group, k, name), hold)
                if found is None:
                    missing.append(k)
                else:
                    rows[k][name] = found
            if not missing:
                continue
            start, source = _start(store, group, name, min(missing), hold)
            if source is None:
                source = decoded_images(split, data, store, workers, hold, size)
            meta = {"data": data.spec, "split": name, "preprocessing": preprocessing(size)}
            meta["compute"] = device.describe()
            made, all_stored = _one_pass(
                net, source, start, missing, device, batch_size, store, group, name, meta, hold
            )
            for k, array in made.items():
                rows[k][name] = array
            built, stored = True, stored and all_stored
    return SharedFeatures(group, rows, built, stored)


def as_tensor(rows: np.ndarray) -> torch.Tensor:
    """Stored outputs (a copy) as a tensor of the dtype they were computed in: bf16 is stored bit for bit
    as int16, since numpy has no bfloat16 (and prefix outputs are never integers)."""
    t = torch.from_numpy(np.array(rows))
    return t.view(torch.bfloat16) if t.dtype == torch.int16 else t


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy()


def _start(store: Store, group: str, split: str, below: int, hold: ExitStack) -> tuple[int, np.ndarray | None]:
    """The deepest stored level under `below` to start from, with its outputs; (0, None): start from the images."""
    for k in range(below - 1, 0, -1):
        found = store.open(KIND, entry_key(group, k, split), hold)
        if found is not None:
            return k, found
    return 0, None


def _one_pass(
    net: nn.Module,
    source: np.ndarray,
    start: int,
    levels: list[int],
    device: Device,
    batch_size: int,
    store: Store,
    group: str,
    split: str,
    meta: dict,
    hold: ExitStack,
) -> tuple[dict[int, np.ndarray], bool]:
    """Run steps start+1..max(levels) over `source` (images, or level `start`'s outputs) batch by batch,
    writing each of `levels`' outputs, in the dtype the step gave, to a new entry.

    Returns the committed entries by level, and whether all of them went into the store.
    """
    steps = level_steps(net)[start : max(levels)]
    if any(m.training for step in steps for m in step.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        raise ValueError("the prefix's BatchNorm layers must be frozen (eval mode) for its outputs to be cached")
    for step in steps:
        step.to(device.accelerator)

    def run(lo: int, hi: int) -> dict[int, np.ndarray]:
        x = normalize(torch.from_numpy(np.array(source[lo:hi]))) if start == 0 else as_tensor(source[lo:hi])
        x, out = device.prepare(x), {}
        with torch.no_grad(), device.context():
            for k, step in enumerate(steps, start + 1):
                x = step(x)
                if k in levels:
                    out[k] = _as_numpy(x)
        return out

    writers = {}
    for k, row in run(0, 1).items():
        shape = (len(source), *row.shape[1:])
        info = {**meta, "level": k, "dtype": "bfloat16" if row.dtype == np.int16 else str(row.dtype)}
        writers[k] = store.writer(KIND, group, entry_key(group, k, split), shape, row.dtype, info, hold)
    for lo in range(0, len(source), batch_size):
        for k, rows in run(lo, lo + batch_size).items():
            writers[k].array[lo : lo + len(rows)] = rows
    return {k: store.commit(w, hold) for k, w in writers.items()}, all(w.shared for w in writers.values())
