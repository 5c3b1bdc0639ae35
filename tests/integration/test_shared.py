"""Frozen-prefix outputs shared across seeds, levels, runs and sweeps: one pass for all levels, the same numbers
as each level's own prefix, built before a sweep's runs and read by every seed; per-run where they cannot be shared."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import torch

import freeze_study.names as N
from freeze_study.cache import Store, decoded_images, shared_features
from freeze_study.cache.shared import as_tensor
from freeze_study.data import load_data, normalize
from freeze_study.model import Device, build_resnet18, freeze_at_level, freeze_prefix
from freeze_study.training import train
from tests.helpers import EXACT_IMAGE_SIZE, assert_same_numbers

CPU = Device("cpu", "32-true", "channels_last")


def frozen_net(weights: str):
    net = build_resnet18(3, weights).to(memory_format=torch.channels_last)
    freeze_prefix(net)
    return net


def direct(net, images: np.ndarray, level: int) -> torch.Tensor:
    """Level `level`'s prefix run on the images, as an uncached run computes it."""
    prefix = freeze_at_level(net, level).prefix
    with torch.no_grad():
        return prefix(normalize(torch.from_numpy(np.array(images))).contiguous(memory_format=torch.channels_last))


def test_one_pass_gives_each_levels_own_prefix_outputs(image_folder, weights_file, tmp_path):
    data, net = load_data(str(image_folder)), frozen_net(weights_file)
    store = Store(tmp_path / "cache", 2**30)
    with ExitStack() as hold:
        found = shared_features(net, weights_file, [1, 2, 3, 4], data, CPU, 4, store, hold, 0)
        images = decoded_images(data.splits["validation"], data, store, 0, hold)
        for level in (1, 2, 3, 4):
            cached = as_tensor(found.rows[level]["validation"])
            assert torch.equal(cached, direct(net, images, level)), level
    assert found.built and found.stored
    assert sum(e.kind == "features" for e in store.entries()) == 4 * 3  # levels x splits


def test_a_missing_level_starts_from_the_deepest_stored_level(image_folder, weights_file, tmp_path):
    data, net = load_data(str(image_folder)), frozen_net(weights_file)
    store = Store(tmp_path / "cache", 2**30)
    with ExitStack() as hold:
        shared_features(net, weights_file, [2], data, CPU, 4, store, hold, 0)
    for entry in store.entries():
        if entry.kind == "decoded":
            assert store.remove(entry)
    with ExitStack() as hold:
        found = shared_features(net, weights_file, [4], data, CPU, 4, store, hold, 0)
        level4 = as_tensor(found.rows[4]["test"])
    assert not [e for e in store.entries() if e.kind == "decoded"]  # from level 2's outputs, not the images
    with ExitStack() as hold:
        images = decoded_images(data.splits["test"], data, store, 0, hold)
        assert torch.equal(level4, direct(net, images, 4))
    with ExitStack() as hold:  # everything there now: nothing built
        assert not shared_features(net, weights_file, [2, 4], data, CPU, 4, store, hold, 0).built


def test_other_weights_data_or_compute_never_share_entries(image_folder, weights_file, tmp_path):
    data, net = load_data(str(image_folder)), frozen_net(weights_file)
    store = Store(tmp_path / "cache", 2**30)
    other = tmp_path / "other.pth"
    other.write_bytes(Path(weights_file).read_bytes() + b"\0")  # another file, the same tensors
    with ExitStack() as hold:
        groups = {
            shared_features(net, weights_file, [4], data, CPU, 4, store, hold, 0).group,
            shared_features(net, str(other), [4], data, CPU, 4, store, hold, 0).group,
            shared_features(
                net, weights_file, [4], data, CPU._replace(memory_format="contiguous"), 4, store, hold, 0
            ).group,
        }
    assert len(groups) == 3
    with pytest.raises(ValueError, match="random-init"):
        shared_features(net, "none", [4], data, CPU, 4, store, ExitStack(), 0)


def test_random_init_features_stay_the_runs_own(store, tiny_config, isolated_cache):
    result = train(dataclasses.replace(tiny_config, freeze=3, epochs=1))
    tags = store.get_run(result.run_id).data.tags
    assert tags[N.FEATURE_CACHE_SCOPE_TAG] == N.RUN_SCOPE and "random init" in tags[N.FEATURE_CACHE_SCOPE_REASON_TAG]
    assert not list((isolated_cache / "features").glob("*.npy"))


def test_features_over_the_disk_budget_are_the_runs_own_and_still_match(
    store, tiny_config, weights_file, isolated_cache
):
    cfg = dataclasses.replace(tiny_config, freeze=2, epochs=1, weights=weights_file, image_size=EXACT_IMAGE_SIZE)
    small = train(dataclasses.replace(cfg, cache_disk_gib=0.0))
    plain = train(dataclasses.replace(cfg, feature_cache="off"))
    tags = store.get_run(small.run_id).data.tags
    assert tags[N.FEATURE_CACHE_SCOPE_TAG] == N.RUN_SCOPE and "disk budget" in tags[N.FEATURE_CACHE_SCOPE_REASON_TAG]
    assert not list(isolated_cache.glob("*/*.npy")) and not list(isolated_cache.glob("run-*"))  # nothing left
    assert_same_numbers(store, small.run_id, plain.run_id)
