"""What one training run records in the active MLflow run: training says what happened, this says how.

Params: the whole config plus what was resolved from it; the code's git commit; the three
splits as dataset inputs; the feature cache's costs; the once-only results; the tested
checkpoint's per-image evidence on the validation and test splits; the best model.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.models import infer_signature
from mlflow.utils.git_utils import get_git_commit
from sklearn.metrics import ConfusionMatrixDisplay
from torch import nn

from freeze_study.names import (
    CACHE_BUILD_TIME,
    CACHE_BYTES,
    CACHE_SPILLED,
    CLASSES_PARAM,
    FEATURE_CACHE_REASON_TAG,
    FEATURE_CACHE_TAG,
    GIT_COMMIT_TAG,
    MODEL_ARTIFACT,
    TRUE_COL,
    confusion_artifact,
    predictions_artifact,
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


def source_commit() -> None:
    """The code's git commit as MLflow's `mlflow.source.git.commit` tag, when MLflow did not set it
    (it looks at the entry script, e.g. `.venv/bin/freeze-study`, which git ignores): taken from the
    checkout this package is imported from; nothing when that is not a git repository."""
    run = mlflow.active_run()
    if GIT_COMMIT_TAG in run.data.tags:
        return
    commit = get_git_commit(str(Path(__file__).resolve().parent))
    if commit:
        mlflow.set_tag(GIT_COMMIT_TAG, commit)


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


def evaluation(split: str, predictions: pd.DataFrame, scores: Mapping[str, float], confusion: pd.DataFrame) -> None:
    """One split's evidence: the per-image predictions as an MLflow table (`evaluation/<split>_predictions.json`),
    the per-class and macro scores as metrics, the confusion matrix (counts, true class by row) as a CSV file
    and as a PNG drawn by scikit-learn."""
    mlflow.log_table(predictions, predictions_artifact(split))
    metrics(scores)
    mlflow.log_text(confusion.to_csv(), confusion_artifact(split))
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    ConfusionMatrixDisplay(confusion.to_numpy(), display_labels=list(confusion.columns)).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=20
    )
    ax.set(title=f"{split}: {int(confusion.to_numpy().sum())} images (counts)", ylabel=TRUE_COL.replace("_", " "))
    mlflow.log_figure(fig, confusion_artifact(split, "png"))
