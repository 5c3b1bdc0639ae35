"""What one training run records in the active MLflow run: training says what happened, this says how.

Params: the whole config plus what was resolved from it, each within MLflow's limits and
recorded once (a value `mlflow run` recorded in another spelling is kept: MLflow cannot change
a param); the code's git commit; the config and the class names as artifacts (exact, any length);
the three splits as dataset inputs; the feature cache's costs; the once-only results; the TensorBoard
event files; the tested weights' per-image evidence on the validation and test splits; the best model.
Writing the first artifact at run start finds an artifact store that cannot be written
before any training time is spent.
"""

from __future__ import annotations

import math
import shlex
import warnings
from collections.abc import Mapping
from importlib.metadata import version
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
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
from sklearn.metrics import ConfusionMatrixDisplay
from torch import nn

from freeze_study.config import ConfigError
from freeze_study.errors import reason
from freeze_study.names import (
    AUTOLOG_PARAMS,
    CACHE_BUILD_TIME,
    CACHE_BYTES,
    CACHE_SPILLED,
    CLASSES_ARTIFACT,
    CLASSES_PARAM,
    CONFIG_ARTIFACT,
    FEATURE_CACHE_ENTRY_TAG,
    FEATURE_CACHE_REASON_TAG,
    FEATURE_CACHE_SCOPE_REASON_TAG,
    FEATURE_CACHE_SCOPE_TAG,
    FEATURE_CACHE_TAG,
    GIT_COMMIT_TAG,
    MODEL_ARTIFACT,
    TENSORBOARD_ARTIFACT,
    TRUE_COL,
    confusion_artifact,
    predictions_artifact,
)
from freeze_study.text import fits, shown
from freeze_study.tracking.store import StoreError

# MLflow's "context" of a dataset input, per data split.
INPUT_CONTEXTS = {"train": "training", "validation": "validation", "test": "testing"}


def params(values: Mapping[str, str]) -> None:
    """Log params to the active run, each value shown (any file name) and cut to MLflow's 6000 characters.

    A key the run already has keeps its value when that is the same value spelled otherwise
    (`mlflow run -P lr=1e-4` records '1e-4' as typed, `'my data'` shell-quoted): MLflow
    cannot change a param. Raises ConfigError for a different value, or for a spelling that
    MLflow's autolog would log again differently (`AUTOLOG_PARAMS`), rejecting its batch.
    """
    run_id = _active_run().info.run_id
    existing = mlflow.MlflowClient().get_run(run_id).data.params
    new = {}
    for key, value in values.items():
        value = fits(shown(value), MAX_PARAM_VAL_LENGTH, f"… (cut at {MAX_PARAM_VAL_LENGTH} characters)")
        if key not in existing:
            new[key] = value
        elif not same_value(existing[key], value):
            raise ConfigError(
                f"run {run_id} already has param {key}={existing[key]!r} but uses {key}={value!r}, "
                "and an MLflow param cannot change"
            )
        elif existing[key] != value and key in AUTOLOG_PARAMS:
            raise ConfigError(
                f"`mlflow run` recorded {key}={existing[key]!r} as typed, MLflow's autolog records it as {value!r} "
                f"and an MLflow param cannot change: pass -P {key}={value}"
            )
    mlflow.log_params(new)


def same_value(recorded: str, value: str) -> bool:
    """Whether two param strings are one value: equal, equal as numbers ('1e-4', '0.0001'), or equal once
    shell-unquoted (`mlflow run` quotes values with spaces)."""
    if recorded == value:
        return True
    try:
        a, b = float(recorded), float(value)
        return a == b or (math.isnan(a) and math.isnan(b))
    except ValueError:
        pass
    try:
        return shlex.split(recorded) == [value]
    except ValueError:
        return False


def config(values: Mapping[str, object]) -> None:
    """The run's config with its types (`config.json`), written first: raises StoreError, naming the artifact
    location, when this client cannot write the run's artifacts (found at run start, not after training)."""
    try:
        mlflow.log_dict(dict(values), CONFIG_ARTIFACT)
    except Exception as exc:  # noqa: BLE001 - OSError, HTTP errors, boto errors: all mean "cannot write here"
        raise StoreError(_cannot_write(exc)) from None


def metrics(values: Mapping[str, float], step: int | None = None) -> None:
    """Log once-only metrics (counts, times, test results) to the active run."""
    mlflow.log_metrics(dict(values), step=step)


def source_commit() -> None:
    """The code's git commit as MLflow's `mlflow.source.git.commit` tag, when MLflow did not set it
    (it looks at the entry script, e.g. `.venv/bin/freeze-study`, which git ignores): taken from the
    checkout this package is imported from; nothing when that is not a git repository."""
    run = _active_run()
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
    listed = ",".join(classes)
    params({CLASSES_PARAM: fits(listed, MAX_PARAM_VAL_LENGTH, f"… ({len(classes)} classes: {CLASSES_ARTIFACT})")})
    mlflow.log_dict({"classes": list(classes)}, CLASSES_ARTIFACT)  # every name, exactly, in label order
    local = Path(spec).is_dir()
    for split, context in INPUT_CONTEXTS.items():
        if local:
            with warnings.catch_warnings():  # MLflow registers its local-file source twice and says so
                warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
                source = resolve_dataset_source(shown(Path(spec, split).resolve()))
        else:
            source = HuggingFaceDatasetSource(path=spec, split=split)
        name = f"{shown(Path(spec).name)}-{split}"
        # MLflow leaves Dataset.profile abstract in MetaDataset, which is meant to be made (Dataset is no ABC)
        dataset = MetaDataset(source, name=name, digest=digest[:16])  # type: ignore[abstract]
        mlflow.log_input(dataset, context=context)


def feature_cache(
    reason: str | None,
    size: int,
    build_s: float,
    spilled: int,
    scope: str | None = None,
    scope_reason: str | None = None,
    entry: str | None = None,
) -> None:
    """Whether the frozen prefix's outputs were cached (`reason`: why not), shared through the store or this
    run's own (`scope`, `scope_reason`: why not shared), the store entry, and what the cache cost (bytes, s)."""
    tags = {
        FEATURE_CACHE_TAG: "off" if reason else "on",
        FEATURE_CACHE_REASON_TAG: reason,
        FEATURE_CACHE_SCOPE_TAG: scope,
        FEATURE_CACHE_SCOPE_REASON_TAG: scope_reason,
        FEATURE_CACHE_ENTRY_TAG: entry,
    }
    mlflow.set_tags({k: v for k, v in tags.items() if v})
    metrics({CACHE_BYTES: size, CACHE_BUILD_TIME: build_s, CACHE_SPILLED: spilled})


def tensorboard(log_dir: str) -> None:
    """The run's TensorBoard event files (and Lightning's hparams.yaml), under `tensorboard/`."""
    mlflow.log_artifacts(log_dir, TENSORBOARD_ARTIFACT)


def model(net: nn.Module, input_example: np.ndarray, metadata: Mapping[str, object]) -> None:
    """The network under `model`, as logged by `mlflow.pytorch.log_model`, with its signature taken from
    `input_example` (e.g. 1 x 3 x 224 x 224 float32) and `metadata` (class names, pre-processing)."""
    with torch.no_grad():
        output = net(torch.from_numpy(input_example)).numpy()
    try:
        mlflow.pytorch.log_model(
            net,
            name=MODEL_ARTIFACT,
            signature=infer_signature(input_example, output),
            serialization_format="pickle",
            pip_requirements=[pinned("torch"), "torchvision"],
            metadata=dict(metadata),
        )
    except (OSError, mlflow.exceptions.MlflowException) as exc:
        raise StoreError(_cannot_write(exc)) from None


def _active_run() -> mlflow.ActiveRun:
    """The run these functions log to; RuntimeError outside `mlflow.start_run` (a caller's bug)."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("no active MLflow run to record into")
    return run


def _cannot_write(exc: BaseException) -> str:
    uri = mlflow.get_artifact_uri()
    return (
        f"cannot write the artifacts of run {_active_run().info.run_id} to {uri} ({reason(exc)}); "
        "make that location writable for this user, or point the experiment at one that is "
        "(a tracking server: mlflow server --artifacts-destination DIR serves them for its clients)"
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


def pinned(package: str) -> str:
    """'torch==2.14.1': the installed version of `package`, without a local build tag ('+cpu'), as a pip
    requirement of a logged model."""
    return f"{package}=={version(package).split('+')[0]}"
