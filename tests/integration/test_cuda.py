"""On a CUDA device: 16-mixed precision by default, deterministic training, channels-last, and cached runs that
log the same numbers as uncached ones. Marked `cuda`: skipped without a CUDA device; `make gpu-check` runs them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import freeze_study.names as N
from freeze_study.config import TrainConfig
from freeze_study.model import build_resnet18, resolve_device
from freeze_study.training import train
from tests.helpers import EXACT_IMAGE_SIZE, assert_same_numbers, history

pytestmark = pytest.mark.cuda


@pytest.fixture
def gpu_config(tiny_config: TrainConfig, tmp_path) -> TrainConfig:
    """The tiny run on CUDA with the defaults a user gets there, and a weights file (shared cache)."""
    torch.manual_seed(0)
    path = tmp_path / "weights.pth"
    torch.save(build_resnet18(1000, "none").state_dict(), path)
    # batch 3 divides every split of the tiny folder: every batch has the shape cuDNN sees in both paths
    return dataclasses.replace(
        tiny_config,
        accelerator="auto",
        precision="auto",
        weights=str(path),
        batch_size=3,
        freeze=2,
        image_size=EXACT_IMAGE_SIZE,  # as measured on the GPU machines before image_size existed
    )


def test_cuda_defaults_are_16_mixed_and_channels_last(gpu_config):
    assert resolve_device(gpu_config) == ("cuda", "16-mixed", "channels_last")


def test_cuda_run_is_deterministic(store, gpu_config):
    a, b = train(gpu_config), train(gpu_config)
    params = store.get_run(a.run_id).data.params
    assert params[N.RESOLVED_PRECISION_PARAM] == "16-mixed" and params[N.RESOLVED_ACCELERATOR_PARAM] == "cuda"
    for name in (N.TRAIN_LOSS, N.VAL_LOSS):
        assert history(store, a.run_id, name) == history(store, b.run_id, name), name


@pytest.mark.parametrize("freeze", [1, 4])
def test_cuda_cached_and_uncached_runs_match(store, gpu_config, freeze):
    cfg = dataclasses.replace(gpu_config, freeze=freeze)
    cached = train(cfg)
    plain = train(dataclasses.replace(cfg, feature_cache="off"))
    assert store.get_run(cached.run_id).data.tags[N.FEATURE_CACHE_SCOPE_TAG] == N.SHARED_SCOPE
    assert_same_numbers(store, cached.run_id, plain.run_id)


def test_cuda_features_are_half_precision(store, gpu_config, isolated_cache):
    import numpy as np

    train(dataclasses.replace(gpu_config, epochs=1))
    arrays = [np.load(p, mmap_mode="r") for p in (isolated_cache / "features").glob("*.npy")]
    assert arrays and all(a.dtype == np.float16 for a in arrays)
