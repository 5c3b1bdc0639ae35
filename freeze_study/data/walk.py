"""How a folder of images is walked: the one walker for every command that reads a folder.

Training reads each class folder of a split with it (`data.folder`), `freeze-study predict DIR`
each folder it is given. The rules, as torchvision's `ImageFolder` and Hugging Face's
`imagefolder` read a folder:
- hidden entries (a name starting with '.': `.ipynb_checkpoints`, `.DS_Store`, `._IMG.jpg`)
  and system ones (starting with '__': `__MACOSX`, `__pycache__`) are ignored at every level;
- symbolic links are followed (as torchvision's `os.walk(..., followlinks=True)`), each folder
  read once, so a link loop ends; a broken link named like an image is refused by name;
- files without an image extension are skipped; what was skipped is told to `skip` by reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from freeze_study.data.errors import DataError
from freeze_study.text import shown

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
HIDDEN = "hidden or system"
NOT_IMAGE = "not images by extension"
REPEATED = "folders already read (a link loop or a second link)"

Skip = Callable[[str, Path], None]  # told (reason, path) for each entry left out


def is_hidden(name: str) -> bool:
    """Hidden ('.x') or system ('__x') entries are not part of a data set."""
    return name.startswith((".", "__"))


def entries(folder: Path) -> list[os.DirEntry]:
    """The entries of `folder`, sorted by name; DataError naming the folder when it cannot be read."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"cannot read folder {shown(folder)}: {exc.strerror or exc}") from None


def images_under(folder: Path, skip: Skip) -> list[Path]:
    """Image files under `folder`, links followed, each folder once (sorted as paths); DataError naming a
    broken link where an image would be, or a folder that cannot be read."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        st = current.stat()
        if (st.st_dev, st.st_ino) in seen:
            skip(REPEATED, current)
            continue
        seen.add((st.st_dev, st.st_ino))
        for entry in entries(current):
            path = Path(entry.path)
            if is_hidden(entry.name):
                skip(HIDDEN, path)
            elif entry.is_dir():
                stack.append(path)
            elif path.suffix.lower() not in IMAGE_EXTENSIONS:
                skip(NOT_IMAGE, path)
            elif entry.is_file():
                found.append(path)
            elif entry.is_symlink():
                raise DataError(broken_link(path, "an image"))
            else:
                skip(NOT_IMAGE, path)  # a FIFO or socket named like an image
    return sorted(found)


def broken_link(path: Path, what: str) -> str:
    """'broken symbolic link P -> T where WHAT should be: restore its target or remove the link'."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return (
        f"broken symbolic link {shown(path)} -> {shown(target)} where {what} should be: "
        "restore its target or remove the link"
    )
