"""What one training run records in the active MLflow run: training says what happened, this says how.

Params: the whole config plus what was resolved from it; the three splits as dataset
inputs; the feature cache's costs; the once-only results; the TensorBoard event files;
the best model.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.models import infer_signature
from torch import nn

from freeze_study.names import (
    CACHE_BUILD_TIME,
    CACHE_BYTES,
    CACHE_SPILLED,
    CLASSES_PARAM,
    FEATURE_CACHE_REASON_TAG,
    FEATURE_CACHE_TAG,
    MODEL_ARTIFACT,
    TENSORBOARD_ARTIFACT,
)

# MLflow's "context" of a dataset input, per data split.
INPUT_CONTEXTS = {"train": "training", "validation": "validation", "test": "testing"}


def params(values: Mapping[str, str]) -> None:
    """Log params to the active run, skipping keys it already has (`mlflow run` logs its -P values as typed)."""
    run_id = mlflow.active_run().info.run_id
    existing = mlflow.MlflowClient().get_run(run_id).data.params
    mlflow.log_params({k: v for k, v in values.items() if k not in existing})


def metrics(values: Mapping[str, float], step: int | None = None) -> None:
    """Log once-only metrics (counts, times, test results) to the active run."""
    mlflow.log_metrics(dict(values), step=step)


def data(spec: str, classes: tuple[str, ...], digest: str) -> None:
    """The class names as a param, and one `log_input` per split with the data's content digest.

    A local folder is recorded as a local source (`DIR/<split>`), anything else as a
    Hugging Face dataset id.
    """
    params({CLASSES_PARAM: ",".join(classes)})
    local = Path(spec).is_dir()
    for split, context in INPUT_CONTEXTS.items():
        if local:
            with warnings.catch_warnings():  # MLflow registers its local-file source twice and says so
                warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
                source = resolve_dataset_source(str(Path(spec, split).resolve()))
        else:
            source = HuggingFaceDatasetSource(path=spec, split=split)
        mlflow.log_input(MetaDataset(source, name=f"{Path(spec).name}-{split}", digest=digest[:16]), context=context)


def feature_cache(features: bool, reason: str | None, size: int, build_s: float, spilled: int) -> None:
    """Whether the frozen prefix's outputs were cached (and why not), and what the cache cost (bytes, s)."""
    mlflow.set_tag(FEATURE_CACHE_TAG, "on" if features else "off")
    if reason:
        mlflow.set_tag(FEATURE_CACHE_REASON_TAG, reason)
    metrics({CACHE_BYTES: size, CACHE_BUILD_TIME: build_s, CACHE_SPILLED: spilled})


def tensorboard(log_dir: str) -> None:
    """The run's TensorBoard event files (and Lightning's hparams.yaml), under `tensorboard/`."""
    mlflow.log_artifacts(log_dir, TENSORBOARD_ARTIFACT)


def model(net: nn.Module, input_example: np.ndarray, metadata: Mapping[str, object]) -> None:
    """The network under `model`, as logged by `mlflow.pytorch.log_model`, with its signature taken from
    `input_example` (e.g. 1 x 3 x 224 x 224 float32) and `metadata` (class names, pre-processing)."""
    with torch.no_grad():
        output = net(torch.from_numpy(input_example)).numpy()
    mlflow.pytorch.log_model(
        net,
        name=MODEL_ARTIFACT,
        signature=infer_signature(input_example, output),
        serialization_format="pickle",
        pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "torchvision"],
        metadata=dict(metadata),
    )
