"""How one image becomes the study's pixels: opened, size-checked, oriented, scaled to 8 bits, RGB, 224x224.

The one decode of the study, for image files and for a Hugging Face dataset's image bytes
alike, so that both paths give the same tensor for the same photo:
- orientation: the EXIF orientation is applied (`PIL.ImageOps.exif_transpose`), as phones
  store photos and as `datasets` decodes them;
- bit depth: 16-bit images (PNG, TIFF: mode I;16) are scaled to 8 bits as torchvision's
  `convert_image_dtype` does (value >> 8, so 65535 is white); 32-bit float images with values
  in 0..1 (torchvision's float convention) are scaled by 255; other float images and 32-bit
  integer images (whose white the format does not say) are refused by name;
- size: at most `MAX_PIXELS` are decoded. Larger JPEGs are decoded reduced (`Image.draft`:
  1/2, 1/4 or 1/8 scale, in the JPEG decoder), larger images of other formats are refused by
  name. This replaces Pillow's decompression-bomb check, which would refuse a 14000x14000
  scan outright.
`check_image(path)` is the up-front check: the full decode, so a file cut short is found
before any run time is spent.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from freeze_study.data.errors import DataError
from freeze_study.data.preprocess import IMAGE_SIZE
from freeze_study.text import one_line, shown

MAX_PIXELS = 2**28  # 268 Mpixels (16384 x 16384; 805 MB as RGB): decoded whole; bigger JPEGs are decoded reduced
_OPEN = threading.Lock()  # Pillow's bomb limit is a module global: lifted for one `Image.open` at a time
_FAILURES = (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)

Source = str | os.PathLike | BinaryIO


def decode(source: Source, name: str, size: int = IMAGE_SIZE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The image at `source` (a path or a binary file) as uint8 `size` x `size` x 3 (224 by default).

    Raises DataError naming `name` when it cannot be decoded, is too large, or has pixel
    values whose meaning the format does not fix.
    """
    img = _open(source, name)
    with _decoding(name):
        with img:
            _reduce(img, name, max_pixels)
            img = _oriented(img)
            out = _to_rgb_or_grey(img, name).resize((size, size), Image.Resampling.BILINEAR)
            out = out.convert("RGB")  # grey resized first: the same pixels, a third of the work on a big scan
    return np.array(out, dtype=np.uint8)  # writable, as torch.from_numpy wants


def check_image(path: str | os.PathLike) -> None:
    """Decode the image file at `path` as training will, all its data read (DataError naming it if that fails).

    The up-front check of every file: it finds what `Image.verify()` cannot (a JPEG cut
    short, whose scan is only read when decoded). A JPEG's scan is decoded at 1/8 scale
    (`Image.draft`): every byte of it is still read and checked, at a quarter of the cost;
    the conversions after it cannot fail for a JPEG's modes. Other formats are decoded as
    `decode` does. Depends on the file's bytes alone.
    """
    name = os.fspath(path)
    img = _open(path, name)
    if img.format != "JPEG":
        img.close()
        decode(path, name)
        return
    with _decoding(name):
        with img:
            _reduce(img, name, MAX_PIXELS)
            img.draft(img.mode, (1, 1))  # the smallest DCT scale
            img.load()


def check_images(checks: Sequence[tuple[str, Callable[[], object]]], threads: int) -> None:
    """Run every (image name, check) pair, `threads` at a time (Pillow decodes outside the GIL).

    Raises one DataError for all that fail: the first one's message, and how many others and which.
    """

    def failure(check: Callable[[], object]) -> DataError | None:
        try:
            check()
        except DataError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max(1, threads)) as pool:
        results = list(pool.map(failure, [check for _, check in checks]))
    failed = [(name, exc) for (name, _), exc in zip(checks, results, strict=True) if exc is not None]
    if len(failed) == 1:
        raise failed[0][1]
    if failed:
        others = ", ".join(shown(name) for name, _ in failed[1:4]) + (" …" if len(failed) > 4 else "")
        raise DataError(f"{len(failed)} images cannot be used; the first: {failed[0][1]} (also {others})")


@contextlib.contextmanager
def _decoding(name: str) -> Iterator[None]:
    """Pillow's failures inside as one DataError naming the image; a DataError passes as it is."""
    try:
        yield
    except DataError:
        raise
    except _FAILURES as exc:
        raise DataError(f"cannot decode image {shown(name)}: {one_line(exc)}") from None


def _open(source: Source, name: str) -> Image.Image:
    with _decoding(name):
        with _OPEN:
            limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # `_reduce` applies the study's limit
            try:
                return Image.open(source)
            finally:
                Image.MAX_IMAGE_PIXELS = limit


def _reduce(img: Image.Image, name: str, max_pixels: int) -> None:
    """Decode a JPEG over `max_pixels` at the smallest scale that fits; refuse other formats that large."""
    w, h = img.size
    if w * h <= max_pixels:
        return
    if img.format == "JPEG":
        for scale in (2, 4, 8):  # the JPEG decoder's DCT scaling
            if -(-w // scale) * -(-h // scale) <= max_pixels:
                img.draft(img.mode, (-(-w // scale), -(-h // scale)))
                return
    raise DataError(
        f"image {shown(name)} is {w}x{h} ({w * h / 1e6:.0f} Mpixels), more than the {max_pixels / 1e6:.0f} Mpixels "
        "decoded at once (only JPEGs up to 8x that are decoded reduced); resize it (the study "
        f"uses {IMAGE_SIZE}x{IMAGE_SIZE} by default) or save it as JPEG"
    )


def _oriented(img: Image.Image) -> Image.Image:
    """`img` turned upright by its EXIF orientation (as `datasets` does); unreadable EXIF means none."""
    try:
        exif = img.getexif()
    except Exception:  # noqa: BLE001 - a corrupt EXIF block: the pixels are still fine
        return img
    if exif.get(0x0112, 1) in (None, 1):  # Orientation tag; 1 = upright
        return img
    return ImageOps.exif_transpose(img)


def _to_rgb_or_grey(img: Image.Image, name: str) -> Image.Image:
    """`img` as 8-bit RGB, or 8-bit grey ("L") for a grey image."""
    mode = img.mode
    if mode == "L":
        return img
    if mode.startswith("I;16"):  # 16 bits per pixel, 0..65535
        pixels = np.asarray(img).astype(np.uint16)
        return Image.fromarray((pixels >> 8).astype(np.uint8), "L")
    if mode == "F":
        pixels = np.asarray(img, dtype=np.float32)
        low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
        if not (np.isfinite(pixels).all() and 0 <= low and high <= 1):
            raise DataError(
                f"image {shown(name)} has 32-bit float pixels from {low:g} to {high:g}: only 0..1 (1 = white) "
                "has a meaning here; scale it to 0..1 or save it as an 8- or 16-bit image"
            )
        return Image.fromarray(np.round(pixels * 255).astype(np.uint8), "L")
    if mode == "I":
        raise DataError(
            f"image {shown(name)} has 32-bit integer pixels, whose white the format does not say; "
            "save it as an 8- or 16-bit image"
        )
    if mode in ("P", "PA") and "transparency" in img.info:
        img = img.convert("RGBA")  # what Pillow itself asks for, instead of a warning per image
    return img.convert("RGB")
