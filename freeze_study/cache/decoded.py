"""Decoded images: each split decoded, converted to RGB and resized once, kept as a uint8 store entry.

Entries are keyed by the data's content digest, the split and the pre-processing, so every
epoch, run and later sweep on the same data reuses them (`cache.store`: atomic writes,
one builder at a time, under the disk budget).
"""

from __future__ import annotations

import hashlib
from contextlib import ExitStack

import numpy as np
import torch

from freeze_study.cache.store import Store
from freeze_study.data import IMAGE_SIZE, LOADER_TIMEOUT_S, Data, Split, preprocessing, worker_count

_BATCH = 32  # images decoded per worker task

KIND = "decoded"


def decoded_key(data: Data, split: str, size: int = IMAGE_SIZE) -> str:
    """The store key of a split's decoded images: its data's content digest, the split, the pre-processing
    (which names the image size)."""
    return hashlib.sha256(f"{data.digest}|{split}|{preprocessing(size)}".encode()).hexdigest()[:24]


def decoded_images(
    split: Split, data: Data, store: Store, workers: int, hold: ExitStack, size: int = IMAGE_SIZE
) -> np.ndarray:
    """The split decoded and resized once: a read-only uint8 N x `size` x `size` x 3 memmap, built on first use.

    Kept from eviction until `hold` closes; a file of this run's when the disk budget has no room.
    Raises DataError for an image that cannot be decoded.
    """
    key = decoded_key(data, split.name, size)
    images = store.open(KIND, key, hold)
    if images is not None:
        return images
    with store.build_lock(KIND, key):
        images = store.open(KIND, key, hold)  # built meanwhile by another process
        if images is not None:
            return images
        meta = {"data": data.spec, "split": split.name, "images": len(split), "preprocessing": preprocessing(size)}
        out = store.writer(KIND, key, key, (len(split), size, size, 3), np.uint8, meta, hold)
        workers = worker_count(workers, _BATCH * size * size * 3)  # what shared memory holds
        loader = torch.utils.data.DataLoader(
            _Decoder(split, size), batch_size=_BATCH, num_workers=workers, timeout=LOADER_TIMEOUT_S if workers else 0
        )
        i = 0
        for batch in loader:
            out.array[i : i + len(batch)] = batch.numpy()
            i += len(batch)
        return store.commit(out, hold)


class _Decoder(torch.utils.data.Dataset):
    def __init__(self, split: Split, size: int):
        self.split, self.size = split, size

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.split.decode(i, self.size))
