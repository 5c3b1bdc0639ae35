"""The weights of the best epoch (lowest val_loss), kept in memory: the ones a run tests and logs, with
that epoch's validation outputs (the run's validation evidence).

A checkpoint file per improvement would write the whole network (45 MB) to disk only to
read it back once when training ends; a copy in memory of the same tensors is enough.
The rule is Lightning's `ModelCheckpoint(monitor="val_loss", mode="min", save_top_k=1)`:
an epoch replaces the best one only when strictly better.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch

from freeze_study.names import VAL_LOSS
from freeze_study.training.module import Outputs


class BestWeights(pl.Callback):
    """Copies the module's state after each validation that improves `monitor` (lower is better), and the
    module's `val_outputs` of that validation when it has them (`FreezeClassifier`): two epochs' worth at most."""

    def __init__(self, monitor: str = VAL_LOSS):
        self.monitor = monitor
        self.best_score = math.inf
        self.best_epoch: int | None = None  # 0-based
        self._state: dict[str, torch.Tensor] | None = None
        self.val_outputs: Outputs | None = None  # the best epoch's validation outputs, if the module keeps them

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        if score < self.best_score:  # NaN never is
            self.best_score, self.best_epoch = score, trainer.current_epoch
            self._state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
            self.val_outputs = getattr(pl_module, "val_outputs", None)  # replaced, never changed, by the module

    def restore(self, module: torch.nn.Module) -> int:
        """Load the best epoch's weights into `module`; returns that epoch. Raises RuntimeError when no
        epoch had a finite `monitor`."""
        if self._state is None or self.best_epoch is None:
            raise RuntimeError(f"no epoch had a finite {self.monitor}: nothing to test or log")
        module.load_state_dict(self._state)
        return self.best_epoch
