"""Decoded images: each split decoded, converted to RGB and resized once, kept as a uint8 file.

Files are keyed by the data's content digest, the split and the pre-processing, so every
epoch, run and later sweep on the same data reuses them; they are written atomically.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from freeze_study.data import IMAGE_SIZE, LOADER_TIMEOUT_S, PREPROCESSING, Data, Split, worker_count
from freeze_study.names import DECODING_SCRATCH
from freeze_study.scratch import DECODED_FOLDER, owned_prefix

_BATCH = 32  # images decoded per worker task


def decoded_images(split: Split, data: Data, root: Path, workers: int) -> np.ndarray:
    """The split decoded and resized once, as a read-only uint8 memmap (built on first use)."""
    key = hashlib.sha256(f"{data.digest}|{split.name}|{PREPROCESSING}".encode()).hexdigest()[:24]
    path = root / DECODED_FOLDER / f"{key}.npy"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=owned_prefix(DECODING_SCRATCH), suffix=".tmp")
        os.close(fd)
        try:
            out = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.uint8, shape=(len(split), IMAGE_SIZE, IMAGE_SIZE, 3)
            )
            workers = worker_count(workers, _BATCH * IMAGE_SIZE * IMAGE_SIZE * 3)  # what shared memory holds
            loader = torch.utils.data.DataLoader(
                _Decoder(split), batch_size=_BATCH, num_workers=workers, timeout=LOADER_TIMEOUT_S if workers else 0
            )
            i = 0
            for batch in loader:
                out[i : i + len(batch)] = batch.numpy()
                i += len(batch)
            out.flush()
            del out
            os.replace(tmp, path)  # atomic: concurrent runs never read half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return np.load(path, mmap_mode="r")


class _Decoder(torch.utils.data.Dataset):
    def __init__(self, split: Split):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.split.decode(i))
