"""Freeze levels: exact trainable counts, frozen weights and BatchNorm statistics never change."""

from __future__ import annotations

import pytest
import torch

from freeze_study.levels import frozen_stages, level_name
from freeze_study.model import (
    WeightsError,
    build_resnet18,
    count_params,
    export_model,
    freeze_at_level,
)
from freeze_study.model.freezing import STAGE_MODULES
from freeze_study.training import FreezeClassifier

EXPECTED_TRAINABLE = {0: 11_178_051, 1: 11_020_547, 2: 10_494_979, 3: 8_395_267, 4: 1_539}


@pytest.mark.parametrize("freeze", range(5))
def test_trainable_counts_per_level(freeze):
    net = build_resnet18(3, "none")
    module = FreezeClassifier(net, freeze_at_level(net, freeze), lr=1e-3, features_input=False)
    assert count_params(net) == (EXPECTED_TRAINABLE[freeze], 11_178_051)
    opt = module.configure_optimizers()
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == EXPECTED_TRAINABLE[freeze]


@pytest.mark.parametrize("freeze", range(5))
def test_one_definition_of_a_level_what_is_named_is_what_is_frozen(freeze):
    net = build_resnet18(3, "none")
    prefix, _ = freeze_at_level(net, freeze)
    frozen_modules = {name.split(".")[0] for name, p in net.named_parameters() if not p.requires_grad}
    named = {m for stage in frozen_stages(freeze) for m in STAGE_MODULES[stage]}
    assert frozen_modules == {m for m in named if list(getattr(net, m).parameters())}  # relu/maxpool: none
    assert {id(m) for m in prefix.modules()} >= {id(getattr(net, m)) for m in named}
    assert all(not m.training for m in prefix.modules())  # BatchNorm in eval mode
    assert frozen_stages(freeze) == (("stem",) + tuple(f"layer{k}" for k in range(1, freeze + 1)) if freeze else ())
    assert level_name(freeze).startswith(f"freeze={freeze} (")


def test_levels_outside_the_network_are_refused():
    for level in (-1, 5):
        with pytest.raises(ValueError, match=f"freeze level {level} is not in 0..4"):
            frozen_stages(level)
    assert level_name(0) == "freeze=0 (nothing frozen)" and level_name(3) == "freeze=3 (stem–layer3)"


@pytest.mark.parametrize("freeze", [0, 2, 4])
def test_prefix_then_suffix_is_the_network(freeze):
    net = build_resnet18(3, "none").eval()
    prefix, suffix = freeze_at_level(net, freeze)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(suffix(prefix(x)), net(x), rtol=0, atol=0)
    torch.testing.assert_close(export_model(net)(x), net(x))


def test_weights_file_round_trip_and_mismatch(tmp_path):
    source = build_resnet18(1000, "none")
    good = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), good)
    net = build_resnet18(3, str(good))
    torch.testing.assert_close(net.conv1.weight, source.conv1.weight)
    assert net.fc.out_features == 3
    bad = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, bad)
    with pytest.raises(WeightsError, match=r"other\.pth does not match torchvision's resnet18"):
        build_resnet18(3, str(bad))
    with pytest.raises(WeightsError, match="not found"):
        build_resnet18(3, str(tmp_path / "missing.pth"))


def test_imagenet_weights_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing cached there
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # a closed loopback port: offline, no traffic out
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(WeightsError) as err:
        build_resnet18(3, "imagenet")
    message = str(err.value)
    assert "\n" not in message and "--weights PATH" in message and "--weights none" in message


def test_old_checkpoint_without_num_batches_tracked_loads(tmp_path):
    state = {
        k: v for k, v in build_resnet18(1000, "none").state_dict().items() if not k.endswith("num_batches_tracked")
    }  # as in torchvision's resnet18-f37072fd.pth
    torch.save(state, tmp_path / "old.pth")
    net = build_resnet18(3, str(tmp_path / "old.pth"))
    torch.testing.assert_close(net.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])
