"""Everything before `Trainer.fit`, shared by a tracked run (`train`) and the benchmark (`bench`).

The order is fixed by what each step needs: the network is built (in the device's
convolution layout) and cut at the freeze level, the inputs are built from its frozen
prefix, and only then the LightningModule, which is told what its batches hold.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from torch import nn

from freeze_study.cache import CachePlan, build_inputs
from freeze_study.config import TrainConfig
from freeze_study.data import Data, FileMemo
from freeze_study.model import Device, FrozenCut, build_resnet18, freeze_at_level, make_deterministic
from freeze_study.training.module import FreezeClassifier


@dataclass(frozen=True)
class Prepared:
    """A run ready to fit: the network, its cut, the module, the three loaders and the cache plan."""

    net: nn.Module
    cut: FrozenCut
    module: FreezeClassifier
    loaders: dict  # split name -> DataLoader
    plan: CachePlan


def prepare(cfg: TrainConfig, data: Data, device: Device, spill: ExitStack, memo: FileMemo | None = None) -> Prepared:
    """Seed, build ResNet18 from `cfg.weights`, freeze it at `cfg.freeze`, build the inputs, then the module.

    Raises WeightsError for weights that cannot be loaded and DataError for images that
    cannot be decoded. Features spilled to disk live until `spill` closes; `memo` remembers
    file digests (`cache.file_memo`).
    """
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    net = build_network(len(data.classes), cfg.weights, device)
    cut = freeze_at_level(net, cfg.freeze)
    make_deterministic()
    loaders, plan = build_inputs(cfg, data, net, cut.prefix, device, spill, memo)
    module = FreezeClassifier(net, cut, cfg.lr, features_input=plan.features, channels_last=device.channels_last)
    return Prepared(net, cut, module, loaders, plan)


def build_network(num_classes: int, weights: str, device: Device) -> nn.Module:
    """ResNet18 from `weights` (`model.build_resnet18`) with its convolution weights in the device's layout."""
    net = build_resnet18(num_classes, weights)
    return net.to(memory_format=torch.channels_last) if device.channels_last else net


def make_trainer(
    cfg: TrainConfig,
    device: Device,
    root: str,
    callbacks: list,
    quiet: bool = False,
    logger: Logger | bool = False,
) -> pl.Trainer:
    """The study's Trainer: deterministic; MLflow autolog records the metrics, `logger` (e.g. a
    TensorBoardLogger) also receives them; no checkpoint files (`BestWeights` keeps the best epoch in memory).

    `quiet` (for timing): no progress bar or sanity validation.
    """
    return pl.Trainer(
        max_epochs=cfg.epochs,
        accelerator=device.accelerator,
        devices=1,
        precision=device.precision,
        deterministic=True,
        logger=logger,
        log_every_n_steps=cfg.log_every_n_steps,
        callbacks=callbacks,
        default_root_dir=root,
        enable_model_summary=False,
        enable_checkpointing=False,
        enable_progress_bar=not quiet,
        num_sanity_val_steps=0 if quiet else 2,
    )
