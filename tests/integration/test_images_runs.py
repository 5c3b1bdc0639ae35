"""Images through a whole run: EXIF orientation on both paths, non-UTF-8 names through the file memo and every cache."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import datasets
import numpy as np
import torch
from PIL import Image

import freeze_study.names as N
from freeze_study.cache.features import FILE_MEMO
from freeze_study.data import (
    PREPROCESSING,
    from_hub_dataset,
    identity,
    load_data,
    sources,
)
from freeze_study.data.sources import IMAGE_CHECK
from freeze_study.model import build_resnet18
from freeze_study.training import train
from tests.helpers import CLASSES


# 3. Photos as phones store them
def test_exif_orientation_is_applied_on_both_paths(image_folder):
    stored = Image.new("RGB", (80, 40), (220, 20, 20))
    stored.paste((20, 20, 220), (40, 0, 80, 40))  # stored: red left, blue right
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": red on top, blue below
    photo = image_folder / "train" / "healthy" / "phone.jpg"
    stored.save(photo, exif=exif, quality=95)
    data = load_data(str(image_folder))
    pixels = data.splits["train"].decode(data.splits["train"].names.index(str(photo))).astype(int)
    assert pixels[20, 20, 0] > 180 and pixels[20, 200, 0] > 180  # the top row is red across
    assert pixels[200, 20, 2] > 180 and pixels[200, 200, 2] > 180  # the bottom row is blue across

    features = datasets.Features({"image": datasets.Image(), "labels": datasets.ClassLabel(names=list(CLASSES))})
    split = datasets.Dataset.from_dict({"image": [str(photo)] * 3, "labels": [0, 1, 2]}, features=features)
    hub = from_hub_dataset("me/photos", datasets.DatasetDict({"train": split, "validation": split, "test": split}))
    np.testing.assert_array_equal(hub.splits["test"].decode(0), pixels)  # the same tensor on both paths
    assert PREPROCESSING.startswith("exif,")  # decoded caches of the unrotated pipeline are not reused


def test_non_utf8_file_names_go_through_the_file_memo_and_every_cache_twice(
    store, tiny_config, isolated_cache, monkeypatch
):
    folder = Path(tiny_config.data)
    name = os.fsdecode(os.fsencode(folder / "train" / "healthy") + b"/caf\xe9.jpg")
    Image.new("RGB", (20, 20), (1, 2, 3)).save(name)
    torch.manual_seed(0)
    weights = folder.parent / "weights.pth"  # a file: features are kept in the shared store, not per run
    torch.save(build_resnet18(1000, "none").state_dict(), weights)
    old = time.time() - 60  # older than the memo's racy window, so the memo remembers every file
    for path in [*folder.rglob("*"), weights]:
        os.utime(path, (old, old))
    cfg = dataclasses.replace(tiny_config, freeze=4, epochs=1, weights=str(weights))
    first = train(cfg)
    with closing(sqlite3.connect(isolated_cache / FILE_MEMO)) as conn:
        known = set(conn.execute("SELECT path, what FROM known"))
    real = os.fsencode(os.path.realpath(name))
    assert {(real, IMAGE_CHECK), (real, "sha256")} <= known and len(known) == 2 * 28 + 1  # and the weights' digest
    caches = {p: p.read_bytes() for p in isolated_cache.glob("*/*.json")}  # each entry's meta, with when it was made
    decoded = [json.loads(meta)["images"] for p, meta in caches.items() if p.parent.name == "decoded"]
    assert sorted(decoded) == [9, 9, 10] and {p.parent.name for p in caches} == {"decoded", "features"}

    def refuse(*args):
        raise AssertionError(f"not read from the memo or the caches: {args}")

    for module, function in ((sources, "check_image"), (identity, "file_sha256"), (sources, "decode")):
        monkeypatch.setattr(module, function, refuse)  # the second run checks, hashes and decodes nothing
    second = train(cfg)
    assert {p: p.read_bytes() for p in isolated_cache.glob("*/*.json")} == caches  # read, none made again
    runs = [store.get_run(r.run_id).data for r in (first, second)]
    assert [r.tags[N.FEATURE_CACHE_SCOPE_TAG] for r in runs] == [N.SHARED_SCOPE] * 2
    assert runs[0].tags[N.FEATURE_CACHE_ENTRY_TAG] == runs[1].tags[N.FEATURE_CACHE_ENTRY_TAG]
    digests = {store.get_run(r.run_id).inputs.dataset_inputs[0].dataset.digest for r in (first, second)}
    assert len(digests) == 1  # the second run's data digest is the first's, from the remembered file digests
