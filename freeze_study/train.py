"""How one run is trained and what it records: `train(cfg) -> TrainResult`.

Run it with `freeze-study train --freeze 1` or `mlflow run . -P freeze=1`.
"""

from __future__ import annotations

import copy
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytorch_lightning as pl
import torch
from mlflow.models import infer_signature
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn

import freeze_study.config as C
from freeze_study import tracking
from freeze_study.config import TrainConfig
from freeze_study.cache import CachePlan, build_loaders
from freeze_study.data import IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD, PREPROCESSING, Data, load_data
from freeze_study.lit import FreezeClassifier
from freeze_study.model import build_resnet18, count_params


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports back (the same numbers are in MLflow)."""

    run_id: str
    val_acc: float  # at the best epoch
    test_acc: float
    test_loss: float
    fit_time_s: float
    epochs_run: int
    best_epoch: int


def resolve_device(cfg: TrainConfig) -> tuple[str, str]:
    """(accelerator, precision): 16-mixed on CUDA, bf16-mixed on CPUs with native bf16, else fp32."""
    accelerator = cfg.accelerator
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    precision = cfg.precision
    if precision == "auto":
        precision = "16-mixed" if accelerator == "cuda" else "bf16-mixed" if _cpu_has_bf16() else "32-true"
    return accelerator, precision


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags  # AVX512-BF16 alone does not speed up convolutions: bf16 ran ~15x slower


def train(cfg: TrainConfig, parent_run_id: str | None = None, tags: dict[str, str] | None = None) -> TrainResult:
    """Fine-tune ResNet18 at `cfg.freeze` in one MLflow run; a failure ends the run FAILED with the reason."""
    accelerator, precision = resolve_device(cfg)
    if not parent_run_id:
        tracking.use_experiment(cfg.experiment_name())
    tracking.enable_autolog()
    with tracking.run(C.grid_point_name(cfg.freeze, cfg.seed), parent_run_id, tags) as active:
        tracking.log_new_params({**cfg.params(), "resolved_accelerator": accelerator,
                                 "resolved_precision": precision, "preprocessing": PREPROCESSING,
                                 C.FROZEN_STAGES_PARAM: ",".join(cfg.frozen_stages) or "none"})
        data = load_data(cfg.data)
        mlflow.log_param("classes", ",".join(data.classes))
        _log_inputs(data)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        net = build_resnet18(len(data.classes), cfg.weights)
        module = FreezeClassifier(net, cfg.freeze, cfg.lr)
        trainable, total = count_params(net)
        mlflow.log_metrics({C.TRAINABLE_PARAMS: trainable, C.TOTAL_PARAMS: total})
        with tempfile.TemporaryDirectory(prefix="freeze-study-ckpt-") as ckpt_dir, ExitStack() as spill:
            start = time.perf_counter()
            loaders, plan = build_loaders(cfg, data, module, accelerator, autocast_dtype(precision), spill)
            module.features_input = plan.features
            _log_cache(plan)
            best = ModelCheckpoint(dirpath=ckpt_dir, monitor=C.VAL_LOSS, mode="min", save_top_k=1,
                                   save_weights_only=True)
            trainer = make_trainer(cfg, accelerator, precision, ckpt_dir,
                                   [EarlyStopping(C.VAL_LOSS, patience=cfg.patience, mode="min"), best])
            trainer.fit(module, loaders["train"], loaders["validation"])
            fit_time = time.perf_counter() - start  # includes building the cache
            checkpoint = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
            module.load_state_dict(checkpoint["state_dict"])
            best_epoch = int(checkpoint["epoch"])
            (test,) = trainer.test(module, loaders["test"], verbose=False)
        mlflow.log_metrics({C.FIT_TIME: fit_time, C.BEST_EPOCH: best_epoch,
                            C.EPOCHS_RUN: trainer.current_epoch})
        _log_model(net, data)
        return TrainResult(active.info.run_id, module.history[best_epoch][C.VAL_ACC], test[C.TEST_ACC],
                           test[C.TEST_LOSS], fit_time, trainer.current_epoch, best_epoch)


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype Lightning uses for `precision` (None for fp32)."""
    return {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}.get(precision)


def make_trainer(cfg: TrainConfig, accelerator: str, precision: str, root: str, callbacks: list,
                 quiet: bool = False) -> pl.Trainer:
    """The study's Trainer: deterministic, no Lightning logger (MLflow autolog records the metrics).

    `quiet` (for timing): no checkpoints, progress bar or sanity validation.
    """
    return pl.Trainer(max_epochs=cfg.epochs, accelerator=accelerator, devices=1, precision=precision,
                      deterministic=True, logger=False, log_every_n_steps=cfg.log_every_n_steps,
                      callbacks=callbacks, default_root_dir=root, enable_model_summary=False,
                      enable_checkpointing=not quiet, enable_progress_bar=not quiet,
                      num_sanity_val_steps=0 if quiet else 2)


def _log_cache(plan: CachePlan) -> None:
    mlflow.set_tag(C.FEATURE_CACHE_TAG, "on" if plan.features else "off")
    if plan.reason:
        mlflow.set_tag(C.FEATURE_CACHE_REASON_TAG, plan.reason)
    mlflow.log_metrics({C.CACHE_BYTES: plan.bytes, C.CACHE_BUILD_TIME: plan.build_s,
                        C.CACHE_SPILLED: plan.spilled_bytes})


def _log_inputs(data: Data) -> None:
    """One `mlflow.log_input` per split, with the content digest (the same for the same data)."""
    from mlflow.data.dataset_source_registry import get_registered_sources
    from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    local = Path(data.spec).is_dir()
    local_source = next(s for s in get_registered_sources() if s.__name__ == "LocalArtifactDatasetSource")
    for split, context in (("train", "training"), ("validation", "validation"), ("test", "testing")):
        if local:
            source = local_source(str(Path(data.spec, split).resolve()))
        else:
            source = HuggingFaceDatasetSource(path=data.spec, split=split)
        mlflow.log_input(MetaDataset(source, name=f"{Path(data.spec).name}-{split}", digest=data.digest[:16]),
                         context=context)


def export_model(net: nn.Module) -> nn.Module:
    """A plain torchvision ResNet18 (stock pooling) on the CPU, in eval mode, for logging."""
    out = copy.deepcopy(net).float().cpu().eval()
    out.avgpool = nn.AdaptiveAvgPool2d(1)  # identical forward; loads without this package
    out.requires_grad_(True)
    return out


def _log_model(net: nn.Module, data: Data) -> None:
    model = export_model(net)
    example = np.zeros((1, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    with torch.no_grad():
        output = model(torch.from_numpy(example)).numpy()
    mlflow.pytorch.log_model(
        model, name="model", signature=infer_signature(example, output), serialization_format="pickle",
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "torchvision"],
        metadata={"classes": list(data.classes), "preprocessing": PREPROCESSING,
                  "normalize_mean": list(IMAGENET_MEAN), "normalize_std": list(IMAGENET_STD)})
