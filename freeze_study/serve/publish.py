"""From a sweep's choice to a registered model: the report's recommended run (`report.selection`, decided on
validation), its network exported to pt2 and wrapped in the image classifier, logged with the run as
`classifier`, registered once under a name, the `champion` alias moved (`tracking.registry`).

What the environment of the logged model holds: this package's code (`code_paths`, so MLflow
puts it on `sys.path` wherever the model is loaded or served, even where freeze_study is not
installed) and pinned torch, torchvision, Pillow, numpy and pydantic requirements.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature
from PIL import Image

from freeze_study.errors import ExpectedError, message_of
from freeze_study.names import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    CLASSES_PARAM,
    IMAGE_SIZE,
    IMAGE_SIZE_KEY,
    MODEL_ARTIFACT,
    NETWORK_ARTIFACT,
    TEST_ACC,
    VAL_ACC,
    grid_point_name,
)
from freeze_study.report import RUN_ID, load_sweep, resolve_sweep, select_level
from freeze_study.tracking import downloaded_model, record, registry

PACKAGE = Path(__file__).resolve().parents[1]  # freeze_study/, copied into the model as its code
MODEL_CODE = Path(__file__).with_name("model_code.py")
REQUIREMENTS = ("torch", "torchvision", "pillow", "numpy", "pydantic")


class RegistrationError(ExpectedError, ValueError):
    """The sweep recommends no run to register; the message says why."""


def register_sweep(experiment: str, sweep_id: str | None, name: str, promote: bool = False) -> str:
    """Register the recommended level's best run of sweep `sweep_id` (default: the experiment's newest) as
    `name` (`register_run`), its version tagged with the sweep, level, seed, selection rule and the run's
    validation and test accuracy; returns a line saying what was done. Raises ReportError for a sweep that
    is not there, RegistrationError when it recommends no level or the registry refuses."""
    client = mlflow.MlflowClient()
    sweep_id = resolve_sweep(client, experiment, sweep_id)
    sweep = load_sweep(client, sweep_id)
    choice = select_level(sweep.runs, sweep.predictions)
    if choice.run_id is None or choice.level is None or choice.seed is None:  # select_level sets all or none
        raise RegistrationError(f"sweep {sweep_id} recommends no level to register: {choice.reason}")
    run = sweep.runs.set_index(RUN_ID).loc[choice.run_id]
    tags = registry.version_tags(sweep_id, choice.level, choice.seed, choice.rule, run[VAL_ACC], run[TEST_ACC])
    try:
        done = register_run(choice.run_id, name, tags, promote)
    except MlflowException as exc:  # e.g. a registry or artifact store that refuses the write
        raise RegistrationError(f"cannot register run {choice.run_id} as {name}: {message_of(exc)}") from None
    said = (
        f"{'registered' if done.created else 'already registered'}: run {choice.run_id} "
        f"({grid_point_name(choice.level, choice.seed)}, val_acc={run[VAL_ACC]:.4f}, test_acc={run[TEST_ACC]:.4f}) "
        f"as {name} version {done.version}"
    )
    if done.champion == done.version:
        was = f", was version {done.previous_champion}" if done.previous_champion else ""
        return f"{said}; it is the {CHAMPION_ALIAS} (models:/{name}@{CHAMPION_ALIAS}{was})"
    return (
        f"{said}, the {CHALLENGER_ALIAS}: the {CHAMPION_ALIAS} stays version {done.champion}, whose validation "
        f"accuracy is as high or higher (`freeze-study register --sweep {sweep_id} --promote` to replace it)"
    )


def register_run(run_id: str, name: str, tags: dict[str, str], promote: bool = False) -> registry.Registration:
    """Register run `run_id`'s classifier under `name` (once per run), tag the version, move the aliases
    (`tracking.registry.register` says when `champion` moves). Raises MlflowException when the run has
    no `model` or the registry refuses the name."""
    return registry.register(run_id, name, tags, lambda: log_classifier(run_id), promote)


def log_classifier(run_id: str) -> str:
    """Log the run's network, exported to pt2, inside an `ImageClassifier` as the run's `classifier`;
    returns the logged model's URI. The class names come from the `model`'s metadata."""
    source = f"runs:/{run_id}/{MODEL_ARTIFACT}"
    with downloaded_model(source) as local:
        metadata = dict(Model.load(local).metadata or {})
        if not metadata.get(CLASSES_PARAM):
            raise RegistrationError(f"{source} has no class names in its metadata; it is not a freeze-study model")
        net = mlflow.pytorch.load_model(local).eval()
    size = int(metadata.get(IMAGE_SIZE_KEY, IMAGE_SIZE))  # models logged before `image_size`: the default
    example = np.zeros((2, 3, size, size), np.float32)  # 2, not 1: torch.export keeps N dynamic
    with torch.no_grad():
        signature = infer_signature(example, net(torch.from_numpy(example)).numpy())
    with tempfile.TemporaryDirectory(prefix="freeze-study-classifier-") as tmp:
        network = Path(tmp, NETWORK_ARTIFACT)
        mlflow.pytorch.save_model(
            net,
            network,
            serialization_format="pt2",
            input_example=example,
            signature=signature,
            pip_requirements=[record.pinned("torch")],
            metadata=metadata,  # with the class names, as training logged them
        )
        return registry.log_classifier(
            run_id,
            str(MODEL_CODE),
            artifacts={NETWORK_ARTIFACT: str(network)},
            code_paths=[str(PACKAGE)],
            pip_requirements=[record.pinned(p) for p in REQUIREMENTS],
            input_example=[_example_jpeg()],
            metadata={**metadata, "source_model": source},
        )


def _example_jpeg() -> bytes:
    """A small JPEG: the input example MLflow checks the model with and shows as the serving example."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 60)).save(out, format="JPEG")
    return out.getvalue()
