"""Training one run: the device (`device`), the LightningModule (`module`), what happens before
`fit` (`prepare`, shared with the benchmark) and the tracked run itself (`train`)."""

from freeze_study.training.device import Device, resolve_device
from freeze_study.training.module import FreezeClassifier
from freeze_study.training.prepare import Prepared, make_trainer, prepare
from freeze_study.training.train import TrainResult, train

__all__ = [
    "Device",
    "FreezeClassifier",
    "Prepared",
    "TrainResult",
    "make_trainer",
    "prepare",
    "resolve_device",
    "train",
]
