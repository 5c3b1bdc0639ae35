"""Whether the tracking store can be used as configured, said before any training time is spent.

`StoreError` is the one error for a store that cannot be used (artifacts that cannot be
written, a launcher's run in another store, a deleted experiment); its message names the URI
and says what to do.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import mlflow

from freeze_study.errors import ExpectedError
from freeze_study.names import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND
from freeze_study.text import one_line


class StoreError(ExpectedError, RuntimeError):
    """The tracking store cannot be used as configured; the message names the URI and says what to do."""


def relative_store_path(uri: str) -> str | None:
    """The path a tracking URI names relative to the working directory ('sqlite:///mlflow.db', './mlruns',
    'file:mlruns'), or None for an absolute path or a server."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :].split("?")[0]
        return path if path and path != ":memory:" and not os.path.isabs(path) else None
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") and not parsed.netloc and parsed.path and not os.path.isabs(parsed.path):
        return parsed.path
    return None


def check_launcher_store(run_id: str) -> None:
    """Raise StoreError unless the run `mlflow run` created is in this process's store.

    `mlflow run` starts its entry point in the project folder with its own tracking URI: a
    relative one (MLflow's default `sqlite:///mlflow.db`) then names another file there when
    `mlflow run` was started elsewhere. Checked without opening a store that does not exist,
    so no stray empty database is left in the project.
    """
    uri = mlflow.get_tracking_uri()
    path = relative_store_path(uri)
    if path is None:
        return
    found = os.path.exists(path)
    if found:
        try:
            mlflow.MlflowClient().get_run(run_id)
            return
        except mlflow.exceptions.MlflowException:
            found = False
    raise StoreError(
        f"`mlflow run` created run {run_id} in {uri}, relative to the folder it was started from, but the entry "
        f"point runs in {os.getcwd()}, where {uri} is another store; set MLFLOW_TRACKING_URI to an absolute URI "
        "(e.g. export MLFLOW_TRACKING_URI=sqlite:///$PWD/mlflow.db where you start it) or a tracking server "
        "(http://HOST:5000), or start `mlflow run` in the project folder"
    )


def use_experiment(name: str) -> str:
    """Make `name` the active experiment (created if missing), tagged as model training, and return its id;
    StoreError when the store refuses it (e.g. an experiment of that name was deleted)."""
    try:
        experiment = mlflow.set_experiment(name)
    except mlflow.exceptions.MlflowException as exc:
        uri = mlflow.get_tracking_uri()
        raise StoreError(f"cannot use experiment '{name}' in {uri}: {one_line(exc.message)}") from None
    mark_model_training(experiment.experiment_id)
    return experiment.experiment_id


def mark_model_training(experiment_id: str) -> None:
    """Tag the experiment as model development (`mlflow.experimentKind`) unless someone chose its kind.

    The MLflow 3 UI also remembers a per-browser "GenAI / Model training" switch that wins
    over this tag: the addresses in `tracking.ui` carry `workflowType=machine_learning`.
    """
    client = mlflow.MlflowClient()
    kind = client.get_experiment(experiment_id).tags.get(EXPERIMENT_KIND_TAG, "")
    if not kind or kind.endswith("_inferred"):  # unset, or the UI's own guess
        try:
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
        except mlflow.exceptions.MlflowException:  # a server's insert races with another worker's: theirs stands
            if not client.get_experiment(experiment_id).tags.get(EXPERIMENT_KIND_TAG):
                raise
