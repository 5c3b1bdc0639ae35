"""The network: torchvision's ResNet18 with its starting weights (`resnet`), what freeze level K
means (`levels`), and the network cut into a frozen prefix and a trainable suffix (`freezing`)."""

from freeze_study.model.freezing import (
    FrozenCut,
    count_params,
    freeze_at_level,
    freeze_prefix,
    level_steps,
    stage_modules,
)
from freeze_study.model.levels import frozen_stages, frozen_stages_param, level_name
from freeze_study.model.resnet import WeightsError, build_resnet18, export_model, weights_file, weights_sha256

__all__ = [
    "FrozenCut",
    "WeightsError",
    "build_resnet18",
    "count_params",
    "freeze_at_level",
    "export_model",
    "freeze_prefix",
    "frozen_stages",
    "frozen_stages_param",
    "level_name",
    "level_steps",
    "stage_modules",
    "weights_file",
    "weights_sha256",
]
