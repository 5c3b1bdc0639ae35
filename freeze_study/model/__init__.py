"""The network: torchvision's ResNet18 with its starting weights (`resnet`), the network cut at a freeze
level into a frozen prefix and a trainable suffix (`freezing`), and the device, precision and layout it runs
in (`device`). What a level is called: `freeze_study.levels`."""

from freeze_study.model.device import Device, make_deterministic, resolve_device, to_layout
from freeze_study.model.freezing import (
    FrozenCut,
    count_params,
    freeze_at_level,
    freeze_prefix,
    level_steps,
    stage_modules,
)
from freeze_study.model.resnet import WeightsError, build_resnet18, export_model, weights_file, weights_sha256

__all__ = [
    "Device",
    "FrozenCut",
    "WeightsError",
    "build_resnet18",
    "count_params",
    "freeze_at_level",
    "export_model",
    "freeze_prefix",
    "level_steps",
    "make_deterministic",
    "resolve_device",
    "stage_modules",
    "to_layout",
    "weights_file",
    "weights_sha256",
]
