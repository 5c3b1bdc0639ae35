"""The LightningModule that trains a ResNet18's trainable suffix on top of its frozen prefix."""

from __future__ import annotations

import time
from typing import NamedTuple

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from freeze_study import tracking
from freeze_study.model import FrozenCut, to_layout
from freeze_study.names import EPOCH_TIME, SPLIT_METRICS, VAL_ACC, VAL_LOSS


class Outputs(NamedTuple):
    """One evaluation pass: N x classes softmax probabilities (float32) and the N labels, in the loader's order."""

    probs: torch.Tensor
    labels: torch.Tensor

    @staticmethod
    def join(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> Outputs:
        probs, labels = zip(*batches, strict=True)
        return Outputs(torch.cat(probs), torch.cat(labels))


class FreezeClassifier(pl.LightningModule):
    """Cross-entropy classifier; logs the per-epoch metric contract, which MLflow autolog records.

    `net` is the whole network and `cut` its frozen prefix and trainable suffix (both
    share `net`'s modules). With `features_input` the batches hold the prefix's outputs
    (N x C x H x W, or N x 512 at freeze=4), else images (N x 3 x 224 x 224). With
    `channels_last` batches are made channels-last on the device, as `net` is.

    The last validation pass and the last test pass also keep their class probabilities
    (`val_outputs`, `test_outputs`; `BestWeights` keeps the best epoch's), so a run's
    per-image evidence comes from the passes that computed its metrics, not from another
    pass over the same images.
    """

    def __init__(self, net: nn.Module, cut: FrozenCut, lr: float, features_input: bool, channels_last: bool = False):
        super().__init__()
        self.net = net
        self.lr = lr
        self.features_input = features_input
        self.channels_last = channels_last
        self.cut = cut  # a tuple, so its modules are registered once, through `net`
        self.history: list[dict[str, float]] = []  # one row per finished epoch (val metrics, time)
        self.val_outputs: Outputs | None = None  # of the last finished epoch's validation
        self.test_outputs: Outputs | None = None  # of the last `Trainer.test`
        self._epoch_start = 0.0
        self._batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def train(self, mode: bool = True) -> FreezeClassifier:
        super().train(mode)
        self.cut.prefix.eval()  # frozen BatchNorm keeps its running statistics
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(to_layout(x, self.channels_last))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """N x classes logits of a batch as the loaders give it (images, or the prefix's outputs)."""
        x = to_layout(x, self.channels_last)  # the same layout as the cached prefix ran in: the same numbers
        prefix, suffix = self.cut
        return suffix(x if self.features_input else prefix(x))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> torch.Tensor:
        x, y = batch
        logits = self.logits(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        loss_name, acc_name = SPLIT_METRICS[split]
        self.log(loss_name, loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log(acc_name, acc, on_step=False, on_epoch=True, batch_size=len(y))
        if split != "train":
            self._batches.append((F.softmax(logits.detach().float(), dim=1).cpu(), y.cpu()))
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()

    def on_validation_epoch_start(self) -> None:
        self._batches = []

    def on_test_epoch_start(self) -> None:
        self._batches = []

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        seconds = time.perf_counter() - self._epoch_start  # training + validation of this epoch
        self.log(EPOCH_TIME, seconds)
        metrics = self.trainer.callback_metrics
        self.history.append({VAL_LOSS: float(metrics[VAL_LOSS]), VAL_ACC: float(metrics[VAL_ACC]), EPOCH_TIME: seconds})
        self.val_outputs = Outputs.join(self._batches)

    def on_test_epoch_end(self) -> None:
        self.test_outputs = Outputs.join(self._batches)

    def configure_optimizers(self):
        return tracking.autolog_safe(torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=self.lr))
