"""The LightningModule that trains a ResNet18 split into a frozen prefix and a trainable suffix."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from freeze_study import config as C
from freeze_study.model import freeze_prefix, split


METRICS = {"train": (C.TRAIN_LOSS, C.TRAIN_ACC), "val": (C.VAL_LOSS, C.VAL_ACC), "test": (C.TEST_LOSS, C.TEST_ACC)}


class FreezeClassifier(pl.LightningModule):
    """Cross-entropy classifier; logs the per-epoch metric contract, which MLflow autolog records."""

    def __init__(self, net: nn.Module, freeze: int, lr: float, features_input: bool = False):
        super().__init__()
        self.net = net
        self.lr = lr
        self.features_input = features_input  # batches hold the prefix's outputs, not images
        # kept in a tuple so they are not registered twice (they share net's modules)
        self.parts = split(net, freeze)
        freeze_prefix(self.parts[0])
        self.history: list[dict[str, float]] = []  # one row per finished epoch (val metrics, time)
        self._epoch_start = 0.0

    def train(self, mode: bool = True) -> FreezeClassifier:
        super().train(mode)
        self.parts[0].eval()  # frozen BatchNorm keeps its running statistics
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        prefix, suffix = self.parts
        logits = suffix(x if self.features_input else prefix(x))
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        loss_name, acc_name = METRICS[stage]
        self.log(loss_name, loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log(acc_name, acc, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        seconds = time.perf_counter() - self._epoch_start  # training + validation of this epoch
        self.log(C.EPOCH_TIME, seconds)
        metrics = self.trainer.callback_metrics
        self.history.append({C.VAL_LOSS: float(metrics[C.VAL_LOSS]), C.VAL_ACC: float(metrics[C.VAL_ACC]),
                             C.EPOCH_TIME: seconds})

    def configure_optimizers(self):
        return torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.lr)
