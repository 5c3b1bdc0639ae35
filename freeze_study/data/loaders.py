"""DataLoaders whose order depends on the seed alone, over images decoded on every access."""

from __future__ import annotations

from collections.abc import Sized
from typing import cast

import torch

from freeze_study.data.preprocess import IMAGE_SIZE, input_bytes, to_input
from freeze_study.data.sources import Split
from freeze_study.data.workers import worker_count

LOADER_TIMEOUT_S = 300  # a worker that delivers no batch for this long fails the run instead of hanging it


class ImageDataset(torch.utils.data.Dataset):
    """Decodes image i to `size` x `size` on every access (the study's original input pipeline)."""

    def __init__(self, split: Split, flip: bool = False, size: int = IMAGE_SIZE):
        self.split, self.flip, self.size = split, flip, size

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return to_input(torch.from_numpy(self.split.decode(i, self.size)), self.flip), self.split.labels[i]


def make_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    seed: int,
    item_bytes: int = input_bytes(),
    timeout: float = LOADER_TIMEOUT_S,
) -> torch.utils.data.DataLoader:
    """A DataLoader whose order depends on `seed` alone.

    `num_workers` is capped by the CPUs available and by the shared memory that batches of
    `batch_size` items of `item_bytes` need (`worker_count`); a worker silent for `timeout`
    seconds raises instead of hanging the run.
    The shuffling sampler has a generator of its own: a DataLoader also draws its workers'
    base seed from its generator, once per epoch without persistent workers and once in all
    with them, so sharing one would make the order depend on the number of workers.
    """
    workers = worker_count(num_workers, batch_size * item_bytes)
    sampler = (
        # torch types a Dataset without __len__ (an iterable one has none); every dataset here has one
        torch.utils.data.RandomSampler(cast(Sized, dataset), generator=torch.Generator().manual_seed(seed))
        if shuffle
        else None
    )
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed + 1),
        timeout=timeout if workers > 0 else 0,
    )
