"""Frozen stages in a real Lightning fit: their weights and BatchNorm statistics do not change."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from freeze_study.data import ImageDataset, load_data, make_loader
from freeze_study.model import (
    build_resnet18,
    freeze_at_level,
)
from freeze_study.training import FreezeClassifier
from tests.helpers import bare_trainer


def test_frozen_stages_and_batchnorm_statistics_do_not_change(image_folder):
    pl.seed_everything(0)
    data = load_data(str(image_folder))
    net = build_resnet18(3, "none")
    module = FreezeClassifier(net, freeze_at_level(net, 2), lr=1e-2, features_input=False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    frozen = [k for k in before if k.split(".")[0] in ("conv1", "bn1", "layer1", "layer2")]
    assert any("running_mean" in k for k in frozen)
    loader = make_loader(ImageDataset(data.splits["train"]), 4, True, 0, 0)
    trainer = bare_trainer(max_steps=3)
    trainer.fit(module, loader)
    after = net.state_dict()
    for k in frozen:
        assert torch.equal(after[k], before[k]), f"frozen {k} changed"
    changed = {k for k in before if not torch.equal(after[k], before[k])}
    assert "layer3.0.bn1.running_mean" in changed  # trainable BatchNorm still updates
    assert {"layer3.0.conv1.weight", "fc.weight"} <= changed
