"""The feature cache: same numbers as the original pipeline, invalidation, memory budget, fallbacks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import freeze_study.names as N
from freeze_study.cache import prefix_outputs
from freeze_study.model import Device, build_resnet18, freeze_at_level
from freeze_study.training import train
from tests.helpers import EXACT_IMAGE_SIZE, assert_same_numbers, history


@pytest.mark.parametrize("freeze", [1, 4])
def test_cached_and_uncached_runs_match(store, tiny_config, freeze):
    cfg = dataclasses.replace(tiny_config, freeze=freeze, image_size=EXACT_IMAGE_SIZE)
    cached = train(cfg)
    plain = train(dataclasses.replace(cfg, feature_cache="off", num_workers=1))  # the cache reads in-process
    assert_same_numbers(store, cached.run_id, plain.run_id)
    on, off = store.get_run(cached.run_id).data, store.get_run(plain.run_id).data
    assert on.tags[N.FEATURE_CACHE_TAG] == "on" and N.FEATURE_CACHE_REASON_TAG not in on.tags
    assert on.metrics[N.CACHE_BYTES] > 0 and on.metrics[N.CACHE_BUILD_TIME] > 0
    assert off.tags[N.FEATURE_CACHE_TAG] == "off" and "turned off" in off.tags[N.FEATURE_CACHE_REASON_TAG]
    assert off.metrics[N.CACHE_BYTES] == 0


def test_tiny_memory_budget_spills_to_disk_and_still_matches(store, tiny_config):
    cfg = dataclasses.replace(tiny_config, freeze=2, epochs=1)
    spilled = train(dataclasses.replace(cfg, cache_memory_gib=0))
    in_memory = train(cfg)
    assert store.get_run(spilled.run_id).data.metrics[N.CACHE_SPILLED] > 0
    assert store.get_run(in_memory.run_id).data.metrics[N.CACHE_SPILLED] == 0
    assert_same_numbers(store, spilled.run_id, in_memory.run_id)


def test_decoded_images_are_reused_and_rebuilt_when_data_or_preprocessing_change(store, tiny_config, isolated_cache):
    cfg = dataclasses.replace(tiny_config, freeze=3, epochs=1)
    train(cfg)
    decoded = sorted((isolated_cache / "decoded").glob("*.npy"))
    assert len(decoded) == 3  # one file per split
    train(dataclasses.replace(cfg, seed=1))
    assert sorted((isolated_cache / "decoded").glob("*.npy")) == decoded  # reused
    train(dataclasses.replace(cfg, image_size=cfg.image_size + 8))  # another pre-processing: decoded again
    assert len(list((isolated_cache / "decoded").glob("*.npy"))) == 6
    image = next((Path(tiny_config.data) / "test" / "healthy").glob("*.jpg"))
    image.write_bytes(_other_jpeg())
    train(cfg)
    assert len(list((isolated_cache / "decoded").glob("*.npy"))) == 9  # new content, new key


def _other_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (50, 40), (10, 200, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def test_new_weights_never_reuse_old_features(store, tiny_config, tmp_path):
    files = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        path = tmp_path / f"w{seed}.pth"
        torch.save(build_resnet18(1000, "none").state_dict(), path)
        files.append(str(path))
    cfg = dataclasses.replace(tiny_config, freeze=2, epochs=1, image_size=EXACT_IMAGE_SIZE)
    first = train(dataclasses.replace(cfg, weights=files[0]))
    second = train(dataclasses.replace(cfg, weights=files[1]))
    plain = train(dataclasses.replace(cfg, weights=files[1], feature_cache="off"))
    assert_same_numbers(store, second.run_id, plain.run_id)
    assert history(store, first.run_id, N.TRAIN_LOSS) != history(store, second.run_id, N.TRAIN_LOSS)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"augment": "flip", "freeze": 2}, "random augmentation (flip)"),
        ({"freeze": 0}, "nothing is frozen"),
    ],
)
def test_fallback_reason_is_recorded(store, tiny_config, changes, reason):
    result = train(dataclasses.replace(tiny_config, epochs=1, **changes))
    tags = store.get_run(result.run_id).data.tags
    assert tags[N.FEATURE_CACHE_TAG] == "off" and reason in tags[N.FEATURE_CACHE_REASON_TAG]
    assert store.get_run(result.run_id).data.metrics[N.CACHE_BYTES] > 0  # decoded images still cached


def test_bf16_features_spill_to_disk(tmp_path):
    from contextlib import ExitStack

    import numpy as np

    prefix = freeze_at_level(build_resnet18(3, "none"), 4).prefix
    images = np.random.default_rng(0).integers(0, 255, (3, 224, 224, 3), dtype=np.uint8)
    with ExitStack() as spill:
        bf16 = Device("cpu", "bf16-mixed", "channels_last")
        out = prefix_outputs(prefix, images, 2, bf16, [0], spill, tmp_path)
        assert isinstance(out, np.ndarray) and out.shape == (3, 512) and out.dtype == np.float32
        in_memory = prefix_outputs(prefix, images, 2, bf16, [2**20], spill, tmp_path)
        assert in_memory.dtype == torch.bfloat16
        np.testing.assert_array_equal(out, in_memory.float().numpy())
    assert not list(tmp_path.glob("features-*"))  # spilled files go when the run ends
