"""The MLflow Model Registry: a run's classifier registered once under a name, and the aliases applications load.

`register` makes at most one version per (registered name, run): registering the same run
again reuses its version and refreshes its tags. The `champion` alias (aliases, not the
deprecated stages) moves to the version when there is no champion yet, when its validation
accuracy beats the champion's, or when asked to (`promote`); otherwise the version becomes the
`challenger`, so a quick or worse sweep never replaces what applications serve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from freeze_study.names import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    CLASSIFIER_ARTIFACT,
    FREEZE_PARAM,
    SEED_PARAM,
    SELECTION_RULE_TAG,
    SWEEP_ID_TAG,
    TEST_ACC,
    VAL_ACC,
)


@dataclass(frozen=True)
class Registration:
    """What `register` did: the run's version, and which version is the champion now."""

    name: str
    version: int
    created: bool  # False: the run had been registered under this name before
    champion: int  # the version `champion` points to now
    previous_champion: int | None  # the version it pointed to before, when that was another one


def version_tags(sweep_id: str, freeze: int, seed: int, rule: str, val_acc: float, test_acc: float) -> dict[str, str]:
    """The tags of a registered version: where it comes from, why it was chosen and how it scored."""
    return {
        SWEEP_ID_TAG: sweep_id,
        FREEZE_PARAM: str(freeze),
        SEED_PARAM: str(seed),
        SELECTION_RULE_TAG: rule,
        VAL_ACC: repr(float(val_acc)),  # the run's validation accuracy at its tested checkpoint: compared
        TEST_ACC: repr(float(test_acc)),
    }


def log_classifier(run_id: str, python_model: str, **kwargs: object) -> str:
    """Log a pyfunc model from the code file `python_model` as the run's `classifier` (an MLflow
    LoggedModel whose source run is `run_id`, which may have ended); returns its `models:/<id>` URI.

    `kwargs` go to `mlflow.pyfunc`'s `save_model` (artifacts, code_paths, pip_requirements,
    input_example, metadata, ...).
    """
    info = Model.log(
        None, name=CLASSIFIER_ARTIFACT, flavor=mlflow.pyfunc, run_id=run_id, python_model=python_model, **kwargs
    )
    return info.model_uri


def find_version(client: mlflow.MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    """The oldest version of registered model `name` made from run `run_id`, or None."""
    versions = client.search_model_versions(f"name = '{_quoted(name)}' and run_id = '{_quoted(run_id)}'")
    return min(versions, key=lambda v: int(v.version), default=None)


def register(
    run_id: str, name: str, tags: Mapping[str, str], log_model: Callable[[], str], promote: bool = False
) -> Registration:
    """Register run `run_id` under `name` once, tag its version with `tags`, and move the aliases.

    `log_model` logs the model to register and returns its URI; it is called only when the run has
    no version yet. Two processes registering the same run at once keep one version (the older).
    Raises MlflowException for a name the registry refuses (e.g. with '/' or ':').
    """
    client = mlflow.MlflowClient()
    _create_model(client, name)  # checks the name before anything is logged
    version = find_version(client, name, run_id)
    created = version is None
    if version is None:
        mine = mlflow.register_model(log_model(), name, tags=dict(tags))
        version = find_version(client, name, run_id) or mine
        if int(version.version) != int(mine.version):  # another process registered this run meanwhile
            client.delete_model_version(name, mine.version)
            created = False
    if not created:
        for key, value in tags.items():
            client.set_model_version_tag(name, version.version, key, value)
        version = client.get_model_version(name, version.version)
    return _move_aliases(client, version, created, promote)


def _move_aliases(client: mlflow.MlflowClient, version: ModelVersion, created: bool, promote: bool) -> Registration:
    name, number = version.name, int(version.version)
    try:
        current = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:  # no champion yet
        current = None
    if current is not None and int(current.version) == number:
        return Registration(name, number, created, number, None)
    if current is None or promote or _val_acc(version) > _val_acc(current):
        client.set_registered_model_alias(name, CHAMPION_ALIAS, str(number))
        if client.get_registered_model(name).aliases.get(CHALLENGER_ALIAS) in (number, str(number)):
            client.delete_registered_model_alias(name, CHALLENGER_ALIAS)
        return Registration(name, number, created, number, None if current is None else int(current.version))
    client.set_registered_model_alias(name, CHALLENGER_ALIAS, str(number))
    return Registration(name, number, created, int(current.version), None)


def _create_model(client: mlflow.MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _val_acc(version: ModelVersion) -> float:
    """The version's `val_acc` tag; -inf when it has none (registered by other means)."""
    try:
        value = float(version.tags[VAL_ACC])
    except (KeyError, ValueError):
        return -math.inf
    return value if not math.isnan(value) else -math.inf


def _quoted(value: str) -> str:
    return value.replace("'", "\\'")
