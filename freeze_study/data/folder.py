"""What in an image folder is the data set: its splits, class folders and image files.

Read as torchvision's `ImageFolder` and Hugging Face's `imagefolder` read it: each split is a
folder `train`, `validation` (also spelled `valid`, `val`, `dev`) and `test` (also `testing`),
holding one folder per class; images may sit in sub-folders. Each class folder is walked by
`data.walk` (hidden and system entries ignored, links followed, each folder once, a broken link
refused by name, non-images skipped), the walker `freeze-study predict` uses too; hidden entries
and broken links beside the class folders are treated alike. What was skipped is counted for
one warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from freeze_study.data.errors import DataError
from freeze_study.data.walk import HIDDEN, broken_link, entries, images_under, is_hidden
from freeze_study.text import shown

SPLITS = ("train", "validation", "test")
SPLIT_SPELLINGS = {"train": ("train", "training"), "validation": ("validation", "valid", "val", "dev")}
SPLIT_SPELLINGS["test"] = ("test", "testing")


@dataclass
class Listing:
    """The images of each split and class (sorted paths), and what was left out, by reason."""

    root: Path
    split_dirs: dict[str, Path] = field(default_factory=dict)
    files: dict[str, dict[str, list[Path]]] = field(default_factory=dict)  # split -> class -> images
    skipped: dict[str, list[Path]] = field(default_factory=dict)  # reason -> entries
    warnings: list[str] = field(default_factory=list)  # about what is used

    def skip(self, reason: str, path: Path) -> None:
        self.skipped.setdefault(reason, []).append(path)

    def summary(self) -> str | None:
        """'skipped 3 entries in DIR: 2 hidden or system (e.g. …), 1 not an image by extension (e.g. …)', or None."""
        if not self.skipped:
            return None
        total = sum(map(len, self.skipped.values()))
        parts = [f"{len(paths)} {reason} (e.g. {shown(paths[0])})" for reason, paths in self.skipped.items()]
        return f"skipped {total} entries in {shown(self.root)}: {'; '.join(parts)}"


OUTSIDE = "not in a class folder"


def list_folder(root: Path) -> Listing:
    """The splits, classes and image files under `root`; DataError (one line) when a split is missing or empty,
    a class has no images, or a broken link stands where a class or an image would."""
    listing = Listing(root)
    for split in SPLITS:
        folder = _split_dir(root, split)
        listing.split_dirs[split] = folder
        classes: dict[str, list[Path]] = {}
        for entry in entries(folder):
            path = Path(entry.path)
            if is_hidden(entry.name):
                listing.skip(HIDDEN, path)
            elif entry.is_dir():
                images = images_under(path, listing.skip)
                if not images:
                    raise DataError(f"class '{shown(entry.name)}' of split '{split}' has no images ({shown(path)})")
                classes[shown(entry.name)] = images  # a class name is a label: recorded, printed
            elif entry.is_symlink() and not entry.is_file():
                raise DataError(broken_link(path, "a class folder or file"))
            else:
                listing.skip(OUTSIDE, path)
        if not classes:
            raise DataError(f"split '{split}' of {shown(root)} has no class folders ({shown(folder)}/<class>/*)")
        listing.files[split] = classes
    _check_one_place(listing)
    return listing


def _check_one_place(listing: Listing) -> None:
    """One file (links resolved) under two labels of a split is refused; in two splits it is warned about."""
    where: dict[str, tuple[str, str, Path]] = {}
    shared, example = 0, ""
    for split, classes in listing.files.items():
        for name, paths in classes.items():
            for path in paths:
                real = os.path.realpath(path)
                seen = where.setdefault(real, (split, name, path))
                if seen[0] == split and seen[1] != name:
                    raise DataError(
                        f"image {shown(real)} is in class '{seen[1]}' and in class '{name}' of split '{split}' "
                        f"(as {shown(seen[2])} and {shown(path)}): one image, one label"
                    )
                if seen[0] != split:
                    shared += 1
                    example = example or f"{shown(real)} in {seen[0]} and {split}"
    if shared:
        listing.warnings.append(
            f"{shared} images are in two splits (e.g. {example}): the later split's accuracy overstates"
        )


def _split_dir(root: Path, split: str) -> Path:
    found = [root / name for name in SPLIT_SPELLINGS[split] if (root / name).is_dir()]
    if len(found) > 1:
        names = " and ".join(f"'{p.name}'" for p in found)
        raise DataError(f"data folder {shown(root)} has both {names} for the '{split}' split: keep one")
    if not found:
        spelled = "/".join(SPLIT_SPELLINGS[split])
        raise DataError(
            f"data folder {shown(root)} has no '{split}' split (expected {shown(root)}/{{{spelled}}}/<class>/*)"
        )
    return found[0]
