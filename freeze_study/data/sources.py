"""Where the images come from: a Hugging Face dataset or a local image folder, checked, as three splits.

`load_data(spec)` takes a Hugging Face dataset id (default `AI-Lab-Makerere/beans`)
or a local image folder `DIR/{train,validation,test}/<class>/*` (what in it counts:
`data.folder`), decodes every image once as a check (`data.decode.check_image`: the one
function to cache by file identity), and returns the three splits with class names taken
from the data. Both sources decode alike (`data.decode`). Given a `FileMemo`, a
folder's image checks and file digests are done once per unchanged file (`data.identity`).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np

from freeze_study.data.decode import Source, check_image, check_images, decode
from freeze_study.data.errors import DataError
from freeze_study.data.folder import SPLITS, list_folder
from freeze_study.data.identity import FileMemo, file_sha256
from freeze_study.data.preprocess import IMAGE_SIZE
from freeze_study.data.workers import available_cpus
from freeze_study.text import shown

__all__ = ["SPLITS", "Data", "DataError", "Split", "from_hub_dataset", "load_data", "subset"]
IMAGE_CHECK = "decode-1/8"  # what `check_image` verifies; change it with the check, so old passes are not trusted


@dataclass(frozen=True)
class Split:
    """One split: a way to open image i (a path or its bytes), its name for messages, and the labels."""

    name: str
    names: Sequence[str]  # file path, or "<dataset id>:<split>[i]"
    labels: Sequence[int]
    opener: Callable[[int], Source] = field(repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def decode(self, i: int, size: int = IMAGE_SIZE) -> np.ndarray:
        """Image i as uint8 `size` x `size` x 3 (`data.decode`: upright, 8-bit, RGB, resized); DataError naming
        it if it fails."""
        return decode(self.opener(i), self.names[i], size)


@dataclass(frozen=True)
class Data:
    """The three splits of one dataset and its class names (index order)."""

    spec: str
    classes: tuple[str, ...]
    splits: dict[str, Split]
    fingerprint: Callable[[], str] = field(repr=False)

    @cached_property
    def digest(self) -> str:
        """Hash of the data's content (file bytes, or the HF dataset fingerprints) and labels."""
        return self.fingerprint()


def load_data(spec: str, memo: FileMemo | None = None) -> Data:
    """A local image folder if `spec` is a directory, else a Hugging Face dataset id.

    Every image is decoded once before this returns (DataError naming the files that cannot
    be), so a bad file stops a run before any training time is spent; `memo` remembers the
    images that passed, and the files' digests, by file identity.
    """
    if os.path.isdir(spec):
        return _load_folder(Path(spec), memo)
    if os.path.exists(spec):
        raise DataError(
            f"--data {shown(spec)} is a file, not a folder: unpack it into {{train,validation,test}}/<class>/*"
        )
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise DataError(
            f"data folder {shown(spec)} not found (expected {shown(spec)}/{{train,validation,test}}/<class>/*)"
        )
    return _load_hub(spec)


def _load_folder(root: Path, memo: FileMemo | None) -> Data:
    listing = list_folder(root)
    classes = tuple(listing.files["train"])
    for split in SPLITS[1:]:
        for name in sorted(set(classes) ^ set(listing.files[split])):
            has, lacks = ("train", split) if name in classes else (split, "train")
            raise DataError(f"class '{name}' is in split '{has}' but not in split '{lacks}' of {shown(root)}")
    for message in [listing.summary(), *listing.warnings]:
        if message:
            warnings.warn(message, stacklevel=3)
    splits, openers = {}, {}
    check = memo.remembered(check_image, IMAGE_CHECK) if memo else check_image
    for split in SPLITS:
        paths = [p for c in classes for p in listing.files[split][c]]
        labels = [i for i, c in enumerate(classes) for _ in listing.files[split][c]]
        openers[split] = _OpenFile(paths)
        splits[split] = Split(split, [str(p) for p in paths], labels, openers[split])
    check_images([(str(p), partial(check, p)) for s in SPLITS for p in openers[s].paths], available_cpus())
    if memo:
        memo.flush()

    def fingerprint() -> str:
        h = hashlib.sha256(repr(classes).encode("utf-8", "surrogateescape"))
        for split in SPLITS:
            for name, label in zip(splits[split].names, splits[split].labels, strict=True):
                rel = os.fsencode(Path(name).relative_to(root))  # bytes: file names need not be UTF-8
                h.update(f"{split}/".encode() + rel + f":{label}:".encode())
                h.update(file_sha256(Path(name), memo))
        if memo:
            memo.flush()
        return h.hexdigest()

    return Data(str(root), classes, splits, fingerprint)


def _load_hub(dataset_id: str) -> Data:
    import datasets  # heavy import, only for the hub path

    try:
        dsd = datasets.load_dataset(dataset_id)
    except Exception as exc:
        raise DataError(
            f"cannot load Hugging Face dataset '{dataset_id}' ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); offline, pass --data DIR "
            "with a local image folder DIR/{train,validation,test}/<class>/*"
        ) from None
    return from_hub_dataset(dataset_id, dsd)


def from_hub_dataset(dataset_id: str, dsd: Any) -> Data:
    """Wrap a `datasets.DatasetDict` with an Image column and a ClassLabel column.

    Images are read as stored (`datasets.Image(decode=False)`) and decoded by `data.decode`,
    as image files are; every one is decoded once here (DataError naming the row that fails).
    """
    import datasets

    missing = [s for s in SPLITS if s not in dsd]
    if missing:
        raise DataError(f"dataset '{dataset_id}' has no '{missing[0]}' split (has: {', '.join(dsd)})")
    features = dsd["train"].features
    image_col = next((k for k, f in features.items() if isinstance(f, datasets.Image)), None)
    label_col = next((k for k, f in features.items() if isinstance(f, datasets.ClassLabel)), None)
    if image_col is None or label_col is None:
        raise DataError(f"dataset '{dataset_id}' needs an Image and a ClassLabel column (has: {features})")
    classes = tuple(features[label_col].names)
    splits = {}
    for split in SPLITS:
        ds = dsd[split]
        labels = list(ds[label_col])
        for c in set(range(len(classes))) - set(labels):
            raise DataError(f"class '{classes[c]}' of split '{split}' of '{dataset_id}' has no images")
        names = [f"{dataset_id}:{split}[{i}]" for i in range(len(ds))]
        stored = ds.cast_column(image_col, datasets.Image(decode=False))  # {"bytes": ..., "path": ...} per row
        splits[split] = Split(split, names, labels, _OpenRow(stored, image_col))
    rows = [(splits[s].names[i], partial(splits[s].decode, i)) for s in SPLITS for i in range(len(splits[s]))]
    check_images(rows, available_cpus())

    def fingerprint() -> str:
        return hashlib.sha256("".join(dsd[s]._fingerprint for s in SPLITS).encode()).hexdigest()

    return Data(dataset_id, classes, splits, fingerprint)


def subset(data: Data, limit: int) -> Data:
    """At most `limit` images per split, evenly spaced so every class stays (for quick benchmarks)."""
    splits = {}
    for name, split in data.splits.items():
        keep = sorted(set(np.linspace(0, len(split) - 1, min(limit, len(split))).round().astype(int).tolist()))
        splits[name] = Split(
            name, [split.names[i] for i in keep], [split.labels[i] for i in keep], _OpenSubset(split.opener, keep)
        )
    return Data(
        data.spec, data.classes, splits, lambda: hashlib.sha256(f"{data.digest}|limit={limit}".encode()).hexdigest()
    )


# Openers are small classes, not lambdas, so DataLoader workers can be spawned (macOS, Windows, bench).
@dataclass(frozen=True)
class _OpenFile:
    paths: Sequence[Path]

    def __call__(self, i: int) -> Source:
        return self.paths[i]


@dataclass(frozen=True)
class _OpenRow:
    dataset: Any  # with the image column cast to `datasets.Image(decode=False)`
    column: str

    def __call__(self, i: int) -> Source:
        stored = self.dataset[i][self.column]
        return io.BytesIO(stored["bytes"]) if stored.get("bytes") is not None else stored["path"]


@dataclass(frozen=True)
class _OpenSubset:
    opener: Callable[[int], Source]
    keep: Sequence[int]

    def __call__(self, i: int) -> Source:
        return self.opener(self.keep[i])
