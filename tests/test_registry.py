"""The Model Registry: one version per run, the champion alias moved only to a better choice (or when told).

Runs hold a tiny network logged as training logs its `model`; registration is the real one,
into the test's SQLite registry.
"""

from __future__ import annotations

import mlflow
import pytest

import freeze_study.names as N
from freeze_study.serve import register_run
from freeze_study.tracking import registry
from tests.helpers import log_model_run

NAME = N.registered_model_name(N.DEFAULT_EXPERIMENT)


def versions(client: mlflow.MlflowClient, name: str = NAME) -> list:
    return sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))


def aliases(client: mlflow.MlflowClient, name: str = NAME) -> dict[str, int]:
    return {alias: int(version) for alias, version in client.get_registered_model(name).aliases.items()}


def classifiers(client: mlflow.MlflowClient, run_id: str) -> list:
    """The classifiers logged in the run's experiment."""
    experiment_id = client.get_run(run_id).info.experiment_id
    return client.search_logged_models([experiment_id], f"name = '{N.CLASSIFIER_ARTIFACT}'")


def test_default_name_is_derived_from_the_experiment():
    assert N.registered_model_name("freeze-study") == "freeze-study-resnet18"
    assert N.registered_model_name("/Users/me/beans:v2") == "Users-me-beans-v2-resnet18"  # no '/' or ':'


def test_registering_the_same_run_again_keeps_one_version(store):
    run_id = log_model_run()
    first = register_run(run_id, NAME, {N.VAL_ACC: "0.5", N.FREEZE_PARAM: "4"})
    again = register_run(run_id, NAME, {N.VAL_ACC: "0.5", N.FREEZE_PARAM: "4", N.TEST_ACC: "0.25"})
    assert (first.version, first.created, again.version, again.created) == (1, True, 1, False)
    (version,) = versions(store)
    assert version.run_id == run_id
    assert version.tags == {N.VAL_ACC: "0.5", N.FREEZE_PARAM: "4", N.TEST_ACC: "0.25"}  # refreshed
    assert aliases(store) == {N.CHAMPION_ALIAS: 1}
    assert [m.source_run_id for m in classifiers(store, run_id)] == [run_id]  # logged once, with the run


def test_champion_moves_to_a_better_choice_only_unless_promoted(store):
    a, b, c = (log_model_run(seed=s) for s in range(3))
    assert register_run(a, NAME, {N.VAL_ACC: "0.5"}).champion == 1
    moved = register_run(b, NAME, {N.VAL_ACC: "0.7"})  # better on validation: applications get it
    assert (moved.version, moved.champion, moved.previous_champion) == (2, 2, 1)
    worse = register_run(c, NAME, {N.VAL_ACC: "0.6"})  # not better: the challenger, the champion stays
    assert (worse.version, worse.champion, worse.previous_champion) == (3, 2, None)
    assert aliases(store) == {N.CHAMPION_ALIAS: 2, N.CHALLENGER_ALIAS: 3}
    promoted = register_run(c, NAME, {N.VAL_ACC: "0.6"}, promote=True)
    assert (promoted.version, promoted.created, promoted.champion, promoted.previous_champion) == (3, False, 3, 2)
    assert aliases(store) == {N.CHAMPION_ALIAS: 3}
    assert len(versions(store)) == 3


def test_a_version_another_process_registered_meanwhile_is_kept(store):
    run_id = log_model_run()

    def log_while_another_registers() -> str:
        from freeze_study.serve.publish import log_classifier

        logged = log_classifier(run_id)
        mlflow.register_model(logged, NAME)  # the other process wins the race: version 1
        return logged

    result = registry.register(run_id, NAME, {N.VAL_ACC: "0.5"}, log_while_another_registers)
    assert (result.version, result.created, result.champion) == (1, False, 1)
    (version,) = versions(store)
    assert int(version.version) == 1
    assert version.tags[N.VAL_ACC] == "0.5"


def test_a_name_the_registry_refuses_is_an_error_before_anything_is_logged(store):
    run_id = log_model_run()
    with pytest.raises(mlflow.exceptions.MlflowException, match="cannot contain"):
        register_run(run_id, "a/b", {})
    assert not classifiers(store, run_id)
