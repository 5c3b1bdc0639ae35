"""Training one run: the LightningModule (`module`), what happens before
`fit` (`prepare`, shared with the benchmark), the tracked run itself (`train`), and a sweep's
frozen-prefix outputs for all levels in one pass (`warm`)."""

from freeze_study.training.module import FreezeClassifier
from freeze_study.training.prepare import Prepared, make_trainer, prepare
from freeze_study.training.train import TrainResult, train
from freeze_study.training.warm import Warmed, share_features

__all__ = [
    "FreezeClassifier",
    "Prepared",
    "TrainResult",
    "Warmed",
    "make_trainer",
    "prepare",
    "share_features",
    "train",
]
