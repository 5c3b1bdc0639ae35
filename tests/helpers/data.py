"""Generated data and the flags that run on it: a tiny image folder, the image sizes tests train at, a quick
sweep's command line, a Markdown table read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from freeze_study.config import TrainConfig

PROJECT = Path(__file__).resolve().parents[2]
CLASSES = ("angular_leaf_spot", "bean_rust", "healthy")
TINY_IMAGE_SIZE = 64  # pixels: the smallest the study takes (12x less work than 224); tests that need 224 say so
# Cached and uncached runs agree to float precision only where a convolution's result does not depend on the batch
# it is computed in: at 224 pixels oneDNN's CPU convolutions give the same bits for an image alone or in any batch;
# at 64 they differ by up to 3e-6 (the cache's one pass and training batch images differently).
EXACT_IMAGE_SIZE = 224


def make_image_folder(root: Path, per_class: int = 3, classes: tuple[str, ...] = CLASSES) -> Path:
    """DIR/{train,validation,test}/<class>/*: mixed sizes, one PNG, one grayscale, one RGBA."""
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                size = (40 + 8 * i, 32 + 4 * c)
                pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                pixels[..., c] = 200  # a class signal a network can pick up
                img = Image.fromarray(pixels)
                if i == 1 and c == 0:
                    img.convert("L").save(folder / f"{name}_{i}.jpg")
                elif i == 2 and c == 1:
                    img.convert("RGBA").save(folder / f"{name}_{i}.png")
                else:
                    img.save(folder / f"{name}_{i}.jpg")
    return root


def sweep_args(cfg: TrainConfig, levels: str, seeds: str) -> list[str]:
    """`freeze-study sweep` arguments for a quick sweep on `cfg`'s data (random init, one epoch)."""
    return [
        "sweep",
        "--levels",
        levels,
        "--seeds",
        seeds,
        "--data",
        cfg.data,
        "--weights",
        "none",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--image-size",
        str(TINY_IMAGE_SIZE),
        "--num-workers",
        "0",
    ]


def md_table(md: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule left out) of the first table after `## heading` in report.md."""
    lines = md.split(f"## {heading}\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append([c.strip() for c in line.strip()[1:-1].split(" | ")])
    return rows


def write_image(path: Path, size=(24, 16), color=(200, 30, 30), **save) -> Path:
    """A one-colour RGB image saved at `path` (its folders made; `save` passed to Pillow, e.g. `format=`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, **save)
    return path
