"""Image folders as users bring them: hidden entries, links, phone photos, high bit depth, cut files,
huge scans, file names that are not UTF-8. Each is trained on or refused by name before training."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freeze_study.data import (
    DataError,
    ImageDataset,
    decode,
    load_data,
    make_loader,
)
from tests.helpers import CLASSES, make_image_folder, write_image


def counts(data) -> dict[str, int]:
    return {s: len(split) for s, split in data.splits.items()}


# 1. Entries that are not part of the data set
def test_hidden_and_system_entries_are_ignored_at_every_level(image_folder):
    for split in ("train", "validation", "test"):  # Jupyter's checkpoints, with images, in every split
        write_image(image_folder / split / ".ipynb_checkpoints" / "healthy_0-checkpoint.jpg")
    write_image(image_folder / "train" / "healthy" / ".ipynb_checkpoints" / "x-checkpoint.jpg")
    write_image(image_folder / "train" / "__MACOSX" / "healthy" / "._healthy_0.jpg")  # a zip made on a Mac
    (image_folder / "train" / "healthy" / "._healthy_0.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (image_folder / "test" / "bean_rust" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    with pytest.warns(UserWarning, match=r"skipped 7 entries in .*: 7 hidden or system \(e\.g\. .*\)"):
        data = load_data(str(image_folder))
    assert data.classes == CLASSES  # no fourth class, no shifted labels
    assert counts(data) == {"train": 9, "validation": 9, "test": 9}


def test_a_checkpoint_folder_in_one_split_only_is_not_a_missing_class(image_folder):
    write_image(image_folder / "validation" / "__MACOSX" / "x.jpg")
    with pytest.warns(UserWarning, match="1 hidden or system"):
        assert load_data(str(image_folder)).classes == CLASSES


# 2. Symbolic links
def test_links_to_folders_are_followed_once_and_broken_links_named(image_folder, tmp_path):
    extra = make_image_folder(tmp_path / "more")
    (image_folder / "train" / "healthy" / "more").symlink_to(extra / "train" / "healthy", target_is_directory=True)
    (image_folder / "train" / "healthy" / "loop").symlink_to(
        image_folder / "train" / "healthy", target_is_directory=True
    )
    with pytest.warns(UserWarning, match="folders already read"):
        data = load_data(str(image_folder))
    assert counts(data)["train"] == 12  # 9 + the 3 linked images (not 9: rglob does not follow links)
    labels = dict(zip(data.splits["train"].names, data.splits["train"].labels, strict=True))
    assert labels[str(image_folder / "train" / "healthy" / "more" / "healthy_0.jpg")] == CLASSES.index("healthy")

    (image_folder / "test" / "healthy" / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    with pytest.raises(DataError, match=r"^broken symbolic link .*test/healthy/gone\.jpg -> .*deleted\.jpg"):
        load_data(str(image_folder))


def test_one_file_under_two_labels_is_refused_and_one_in_two_splits_warned(image_folder):
    (image_folder / "train" / "healthy" / "rust").symlink_to(image_folder / "train" / "bean_rust")
    with pytest.raises(DataError, match=r"bean_rust_0\.jpg is in class 'bean_rust' and in class 'healthy' of split"):
        load_data(str(image_folder))
    (image_folder / "train" / "healthy" / "rust").unlink()
    (image_folder / "test" / "healthy" / "again.jpg").symlink_to(image_folder / "train" / "healthy" / "healthy_0.jpg")
    with pytest.warns(UserWarning, match=r"1 images are in two splits \(e\.g\. .*healthy_0\.jpg in train and test\)"):
        assert len(load_data(str(image_folder)).splits["test"]) == 10


def test_a_linked_class_folder_is_a_class(image_folder, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.move(image_folder / "test" / "healthy", moved)
    (image_folder / "test" / "healthy").symlink_to(moved, target_is_directory=True)
    assert counts(load_data(str(image_folder)))["test"] == 9


# 4. High bit depth
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_images_are_scaled_not_clipped(tmp_path, suffix):
    ramp = Image.fromarray(np.arange(65536, dtype=np.uint32).reshape(256, 256).astype(np.uint16))
    assert ramp.mode == "I;16"
    ramp.save(tmp_path / f"ramp{suffix}")
    pixels = decode(tmp_path / f"ramp{suffix}", "ramp")
    assert (pixels == 255).mean() < 0.01  # clipping made 99.6 % of it white
    assert abs(pixels.mean() - 127.5) < 1.0 and pixels.min() == 0 and pixels.max() == 255
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(tmp_path / f"grey{suffix}")
    assert np.unique(decode(tmp_path / f"grey{suffix}", "grey")).tolist() == [128]  # 32768 >> 8


def test_float_images_in_0_1_are_scaled_others_refused_by_name(tmp_path):
    Image.fromarray(np.full((8, 8), 0.25, np.float32)).save(tmp_path / "quarter.tif")
    assert np.unique(decode(tmp_path / "quarter.tif", "quarter")).tolist() == [64]  # round(0.25 * 255)
    Image.fromarray(np.full((8, 8), 3.5, np.float32)).save(tmp_path / "depth.tif")
    with pytest.raises(DataError, match=r"image depth.tif has 32-bit float pixels from 3.5 to 3.5"):
        decode(tmp_path / "depth.tif", "depth.tif")
    Image.fromarray(np.full((8, 8), 70000, np.int32)).save(tmp_path / "counts.tif")
    with pytest.raises(DataError, match=r"image counts.tif has 32-bit integer pixels"):
        decode(tmp_path / "counts.tif", "counts.tif")


def test_a_palette_image_with_transparency_decodes_without_a_warning(tmp_path, recwarn):
    img = Image.new("P", (8, 8), 1)
    img.putpalette([0, 0, 0, 250, 10, 10] + [0] * 762)
    img.save(tmp_path / "p.png", transparency=0)
    assert decode(tmp_path / "p.png", "p")[0, 0].tolist() == [250, 10, 10]
    assert not [w for w in recwarn if "Palette images with Transparency" in str(w.message)]


# 5. Files that break only when fully decoded (the up-front check is in test_data.py)
def test_a_decoding_error_in_a_dataloader_worker_stays_one_line(image_folder):
    data = load_data(str(image_folder))
    victim = Path(data.splits["train"].names[4])
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # changed after the check
    loader = make_loader(ImageDataset(data.splits["train"]), 9, False, 1, 0)
    with pytest.raises(DataError) as caught:
        next(iter(loader))
    assert str(caught.value).startswith(f"cannot decode image {victim}: image file is truncated")
    assert "\n" not in str(caught.value)
    assert "Original Traceback" in caught.value.worker_traceback


# 6. Very large images
def test_large_jpeg_is_decoded_reduced_and_large_png_refused_by_name(tmp_path):
    big = Image.new("RGB", (1600, 1200), (20, 20, 220))
    big.paste((220, 20, 20), (0, 0, 800, 1200))
    big.save(tmp_path / "big.jpg", quality=95)
    pixels = decode(tmp_path / "big.jpg", "big.jpg", max_pixels=200_000).astype(int)  # needs 1/4 scale
    assert pixels[112, 20, 0] > 180 and pixels[112, 200, 2] > 180
    big.save(tmp_path / "big.png")
    with pytest.raises(DataError, match=r"image big.png is 1600x1200 \(2 Mpixels\), more than the 0 Mpixels"):
        decode(tmp_path / "big.png", "big.png", max_pixels=200_000)


# 7. File names that are not valid UTF-8
def test_non_utf8_file_names_are_accepted_and_shown_escaped(image_folder):
    folder = os.fsencode(image_folder / "train" / "healthy")
    Image.new("RGB", (20, 20), (1, 2, 3)).save(os.fsdecode(folder + b"/caf\xe9.jpg"))  # a cp1252 name
    data = load_data(str(image_folder))
    assert counts(data)["train"] == 10 and len(data.digest) == 64  # the digest hashed the name's bytes
    cut = os.fsdecode(folder + b"/cut\xe9.jpg")
    Path(cut).write_bytes(io.BytesIO(b"\xff\xd8\xff\xe0" + b"\x00" * 20).getvalue())
    with pytest.raises(DataError, match=r"cannot decode image .*/cut\\xe9\.jpg: "):
        load_data(str(image_folder))


# Neighbours
def test_common_spellings_of_the_validation_split(image_folder):
    (image_folder / "validation").rename(image_folder / "val")
    assert counts(load_data(str(image_folder)))["validation"] == 9
    make_image_folder(image_folder / "tmp")
    shutil.move(image_folder / "tmp" / "validation", image_folder / "validation")
    with pytest.raises(DataError, match=r"has both 'validation' and 'val' for the 'validation' split: keep one"):
        load_data(str(image_folder))


def test_images_outside_class_folders_are_counted_and_an_archive_is_named(image_folder):
    write_image(image_folder / "train" / "stray.jpg")
    with pytest.warns(UserWarning, match=r"1 not in a class folder \(e\.g\. .*stray\.jpg\)"):
        assert counts(load_data(str(image_folder)))["train"] == 9
    (image_folder.parent / "beans.zip").write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=r"beans\.zip is a file, not a folder: unpack it"):
        load_data(str(image_folder.parent / "beans.zip"))


def test_every_bad_file_is_counted_in_one_line(image_folder):
    for name in ("a.jpg", "b.jpg", "c.png"):
        (image_folder / "test" / "healthy" / name).write_bytes(b"not an image")
    with pytest.raises(DataError) as caught:
        load_data(str(image_folder))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("3 images cannot be used; the first: cannot decode image ")
    assert message.endswith("b.jpg, " + str(image_folder / "test" / "healthy" / "c.png") + ")")


def test_decoded_tensors_match_between_folder_and_loader(image_folder):
    data = load_data(str(image_folder))
    x, _ = ImageDataset(data.splits["test"])[0]
    assert x.dtype == torch.float32 and x.shape == (3, 224, 224)
