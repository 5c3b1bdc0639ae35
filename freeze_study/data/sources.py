"""Where the images come from: a Hugging Face dataset or a local image folder, checked, as three splits.

`load_data(spec)` takes a Hugging Face dataset id (default `AI-Lab-Makerere/beans`)
or a local image folder `DIR/{train,validation,test}/<class>/*`, checks it, and
returns the three splits with class names taken from the data. Given a `FileMemo`,
a folder's image checks and file digests are done once per file (`data.identity`).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from freeze_study.data.identity import FileMemo
from freeze_study.data.preprocess import IMAGE_SIZE

SPLITS = ("train", "validation", "test")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
IMAGE_CHECK = "pil-verify"  # what `_check_image` verifies; change it with the check, so old passes are not trusted


class DataError(ValueError):
    """The data cannot be used; the message names the folder, split, class or file."""


@dataclass(frozen=True)
class Split:
    """One split: a way to open image i, its name for messages, and the labels."""

    name: str
    names: Sequence[str]  # file path, or "<dataset id>:<split>[i]"
    labels: Sequence[int]
    opener: Callable[[int], Image.Image] = field(repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def decode(self, i: int) -> np.ndarray:
        """Image i as uint8 HxWx3 after RGB conversion and resizing."""
        try:
            img = self.opener(i)
            img = img.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataError(f"cannot decode image {self.names[i]}: {exc}") from None
        return np.array(img, dtype=np.uint8)


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

    `memo` remembers a folder's passed image checks and file digests by file identity.
    Raises DataError naming the folder, split, class or file that cannot be used.
    """
    if os.path.isdir(spec):
        return _load_folder(Path(spec), memo)
    if os.path.exists(spec) or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise DataError(f"data folder {spec} not found (expected {spec}/{{train,validation,test}}/<class>/*)")
    return _load_hub(spec)


def _load_folder(root: Path, memo: FileMemo | None) -> Data:
    files: dict[str, dict[str, list[Path]]] = {}
    skipped: list[Path] = []
    for split in SPLITS:
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"data folder {root} has no '{split}' split (expected {folder}/<class>/*)")
        files[split] = {}
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            found = sorted(p for p in class_dir.rglob("*") if p.is_file())
            images = [p for p in found if p.suffix.lower() in IMAGE_EXTENSIONS]
            skipped += [p for p in found if p.suffix.lower() not in IMAGE_EXTENSIONS]
            if not images:
                raise DataError(f"class '{class_dir.name}' of split '{split}' has no images ({class_dir})")
            files[split][class_dir.name] = images
        if not files[split]:
            raise DataError(f"split '{split}' of {root} has no class folders ({folder}/<class>/*)")
    classes = tuple(files["train"])
    for split in SPLITS[1:]:
        for name in set(classes) ^ set(files[split]):
            has, lacks = ("train", split) if name in classes else (split, "train")
            raise DataError(f"class '{name}' is in split '{has}' but not in split '{lacks}' of {root}")
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} files in {root} that are not images by extension (e.g. {skipped[0]})", stacklevel=2
        )
    splits = {}
    check = memo.remembered(_check_image, IMAGE_CHECK) if memo else _check_image
    for split in SPLITS:
        paths = [p for c in classes for p in files[split][c]]
        labels = [i for i, c in enumerate(classes) for _ in files[split][c]]
        for p in paths:
            check(p)
        splits[split] = Split(split, [str(p) for p in paths], labels, _OpenFile(paths))
    if memo:
        memo.flush()
    file_digest = memo.sha256 if memo else _sha256

    def fingerprint() -> str:
        h = hashlib.sha256(repr(classes).encode())
        for split in SPLITS:
            for name, label in zip(splits[split].names, splits[split].labels, strict=False):
                h.update(f"{split}/{Path(name).relative_to(root)}:{label}:".encode())
                h.update(file_digest(Path(name)))
        if memo:
            memo.flush()
        return h.hexdigest()

    return Data(str(root), classes, splits, fingerprint)


def _sha256(path: Path) -> bytes:
    return hashlib.sha256(path.read_bytes()).digest()


def _check_image(path: Path) -> None:
    try:
        with Image.open(path) as img:
            img.verify()
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise DataError(f"cannot decode image {path}: {exc}") from None


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
    """Wrap a `datasets.DatasetDict` with an Image column and a ClassLabel column."""
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
        splits[split] = Split(split, names, labels, _OpenRow(ds, image_col))

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

    def __call__(self, i: int) -> Image.Image:
        return Image.open(self.paths[i])


@dataclass(frozen=True)
class _OpenRow:
    dataset: Any
    column: str

    def __call__(self, i: int) -> Image.Image:
        return self.dataset[i][self.column]


@dataclass(frozen=True)
class _OpenSubset:
    opener: Callable[[int], Image.Image]
    keep: Sequence[int]

    def __call__(self, i: int) -> Image.Image:
        return self.opener(self.keep[i])
