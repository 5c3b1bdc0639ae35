"""The Model Registry: one version per run, the champion alias moved only to a better choice (or when told).

Runs and sweeps are logged by hand with known validation results (the report's selection chooses
among them) and a tiny network logged as training logs its `model`; registration is the real one,
into the test's SQLite registry.
"""

from __future__ import annotations

import mlflow
import pytest

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.report import load_sweep, rule_text, select_level, write_report
from freeze_study.serve import register_run, register_sweep
from freeze_study.sweep import summarize_parent
from freeze_study.tracking import registry
from tests.helpers import (
    N_TEST,
    N_VAL,
    REGISTERED_NAME,
    aliases,
    first_right,
    log_child,
    log_model,
    log_model_run,
    md_table,
    new_parent,
    versions,
)


def classifiers(client: mlflow.MlflowClient, run_id: str) -> list:
    """The classifiers logged in the run's experiment."""
    experiment_id = client.get_run(run_id).info.experiment_id
    return client.search_logged_models([experiment_id], f"name = '{N.CLASSIFIER_ARTIFACT}'")


def test_default_name_is_derived_from_the_experiment():
    assert N.registered_model_name("freeze-study") == "freeze-study-resnet18"
    assert N.registered_model_name("/Users/me/beans:v2") == "Users-me-beans-v2-resnet18"  # no '/' or ':'


def test_registering_the_same_run_again_keeps_one_version(store):
    run_id = log_model_run()
    first = register_run(run_id, REGISTERED_NAME, {N.VAL_ACC: "0.5", N.FREEZE_PARAM: "4"})
    again = register_run(run_id, REGISTERED_NAME, {N.VAL_ACC: "0.5", N.FREEZE_PARAM: "4", N.TEST_ACC: "0.25"})
    assert (first.version, first.created, again.version, again.created) == (1, True, 1, False)
    (version,) = versions(store)
    assert version.run_id == run_id
    assert version.tags == {N.VAL_ACC: "0.5", N.FREEZE_PARAM: "4", N.TEST_ACC: "0.25"}  # refreshed
    assert aliases(store) == {N.CHAMPION_ALIAS: 1}
    assert [m.source_run_id for m in classifiers(store, run_id)] == [run_id]  # logged once, with the run


def test_champion_moves_to_a_better_choice_only_unless_promoted(store):
    a, b, c = (log_model_run(seed=s) for s in range(3))
    assert register_run(a, REGISTERED_NAME, {N.VAL_ACC: "0.5"}).champion == 1
    moved = register_run(b, REGISTERED_NAME, {N.VAL_ACC: "0.7"})  # better on validation: applications get it
    assert (moved.version, moved.champion, moved.previous_champion) == (2, 2, 1)
    worse = register_run(c, REGISTERED_NAME, {N.VAL_ACC: "0.6"})  # not better: the challenger, the champion stays
    assert (worse.version, worse.champion, worse.previous_champion) == (3, 2, None)
    assert aliases(store) == {N.CHAMPION_ALIAS: 2, N.CHALLENGER_ALIAS: 3}
    promoted = register_run(c, REGISTERED_NAME, {N.VAL_ACC: "0.6"}, promote=True)
    assert (promoted.version, promoted.created, promoted.champion, promoted.previous_champion) == (3, False, 3, 2)
    assert aliases(store) == {N.CHAMPION_ALIAS: 3}
    assert len(versions(store)) == 3


def test_a_version_another_process_registered_meanwhile_is_kept(store):
    run_id = log_model_run()

    def log_while_another_registers() -> str:
        from freeze_study.serve.publish import log_classifier

        logged = log_classifier(run_id)
        mlflow.register_model(logged, REGISTERED_NAME)  # the other process wins the race: version 1
        return logged

    result = registry.register(run_id, REGISTERED_NAME, {N.VAL_ACC: "0.5"}, log_while_another_registers)
    assert (result.version, result.created, result.champion) == (1, False, 1)
    (version,) = versions(store)
    assert int(version.version) == 1
    assert version.tags[N.VAL_ACC] == "0.5"


def test_a_name_the_registry_refuses_is_an_error_before_anything_is_logged(store):
    run_id = log_model_run()
    with pytest.raises(mlflow.exceptions.MlflowException, match="cannot contain"):
        register_run(run_id, "a/b", {})
    assert not classifiers(store, run_id)


def logged_sweep(client: mlflow.MlflowClient, v0: dict[int, float], start: int) -> tuple[str, dict[int, str]]:
    """A finished sweep logged by hand: one seed per level, validation accuracy v0 + 0.1 at the tested epoch (2),
    test accuracy v0; each child holds a `model`. Returns (parent id, child id by level)."""
    exp = client.get_experiment_by_name(N.DEFAULT_EXPERIMENT)
    exp_id = exp.experiment_id if exp else client.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(client, exp_id, start)
    children = {k: log_child(client, exp_id, parent, k, 1, test_acc=a, fit=10.0, best=2, v0=a) for k, a in v0.items()}
    for level, run_id in children.items():
        log_model(run_id, seed=level)
    return parent, children


def test_register_makes_one_version_per_choice_and_moves_the_champion_to_a_better_one(store, capsys):
    first, runs = logged_sweep(store, {0: 0.6, 4: 0.3}, start=1_000)  # level 0 is clearly better on validation
    assert main(["register", "--sweep", first]) == 0
    assert capsys.readouterr().out.startswith(f"registered: run {runs[0]} (freeze=0 seed=1, val_acc=0.7000, ")
    (version,) = versions(store)
    assert version.run_id == runs[0]
    assert version.tags == {
        N.SWEEP_ID_TAG: first,
        N.FREEZE_PARAM: "0",
        N.SEED_PARAM: "1",
        N.SELECTION_RULE_TAG: rule_text(),
        N.VAL_ACC: repr(0.6 + 0.05 * 2),
        N.TEST_ACC: "0.6",
    }
    assert main(["register", "--sweep", first]) == 0  # again: the same version
    assert capsys.readouterr().out.startswith(f"already registered: run {runs[0]} ")
    assert len(versions(store)) == 1 and aliases(store) == {N.CHAMPION_ALIAS: 1}

    worse, _ = logged_sweep(store, {0: 0.5, 4: 0.3}, start=2_000)
    assert main(["register", "--sweep", worse]) == 0
    assert "the challenger: the champion stays version 1" in capsys.readouterr().out
    better, runs = logged_sweep(store, {0: 0.7, 4: 0.3}, start=3_000)
    assert main(["register"]) == 0  # the newest sweep: the better one
    assert capsys.readouterr().out.endswith(f"it is the champion (models:/{REGISTERED_NAME}@champion, was version 1)\n")
    assert aliases(store) == {N.CHAMPION_ALIAS: 3, N.CHALLENGER_ALIAS: 2}
    assert store.get_model_version_by_alias(REGISTERED_NAME, N.CHAMPION_ALIAS).run_id == runs[0]
    assert [v.tags[N.SWEEP_ID_TAG] for v in versions(store)] == [first, worse, better]


def test_register_refuses_a_sweep_without_a_recommendation_and_a_bad_name_in_one_line(store, capsys):
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, 1_000)
    log_child(store, exp_id, parent, 4, 1, test_acc=0.5, fit=1.0, best=2, v0=0.5, evidence=False)
    assert main(["register", "--sweep", parent]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"freeze-study: error: sweep {parent} recommends no level to register: no run has validation predictions\n"
    )
    assert main(["register", "--sweep", parent, "--model-name", "team/beans"]) == 2
    assert "invalid model_name='team/beans': must be a name without '/' or ':'" in capsys.readouterr().err
    assert not store.search_registered_models()


def test_the_parent_run_the_report_and_the_registry_name_the_same_level(store, tmp_path):
    """freeze=0 is best on validation by 5 images over two seeds (exact McNemar p = 0.0625: within noise), so the
    rule recommends freeze=4, which trains far fewer parameters: the parent's `recommended_level`, the report and
    the registered version all say 4, and the parent's `best_level` says 0 beside it."""
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, 1_000)
    for seed, (right, lost) in {1: (150, 2), 2: (152, 3)}.items():
        for level, k in ((0, right), (4, right - lost)):
            val, test = first_right(N_VAL, k / N_VAL), first_right(N_TEST, 0.8)
            run_id = log_child(
                store, exp_id, parent, level, seed, 0.8, 10.0, 1, val.mean() - 0.05, val_correct=val, test_correct=test
            )
            if level == 4:
                log_model(run_id, seed=seed)

    metrics = summarize_parent(parent)  # what the closing worker writes on the parent

    recorded = store.get_run(parent).data
    assert (
        (recorded.metrics[N.BEST_LEVEL], recorded.metrics[N.RECOMMENDED_LEVEL])
        == (0, 4)
        == (
            metrics[N.BEST_LEVEL],
            metrics[N.RECOMMENDED_LEVEL],
        )
    )
    assert all(m.step == 0 for m in store.get_metric_history(parent, N.RECOMMENDED_LEVEL))
    note = recorded.tags[N.NOTE_TAG]
    assert "`best_level` = 0" in note and "`recommended_level` = 4" in note and "They differ" in note
    assert "| 0 (best on validation) |" in note and "| 4 (recommended) |" in note
    loaded = load_sweep(store, parent)
    chosen = select_level(loaded.runs, loaded.predictions)
    assert (chosen.level, chosen.best_level) == (4, 0)
    md = (write_report(store, parent, tmp_path / "r") / "report.md").read_text()
    assert "Recommended: freeze=4" in md and md_table(md, "Results per freeze level")[1][0] == "4 (recommended)"
    said = register_sweep(N.DEFAULT_EXPERIMENT, parent, REGISTERED_NAME)
    (version,) = versions(store)
    assert version.tags[N.FREEZE_PARAM] == "4" and version.run_id == chosen.run_id and "freeze=4 seed=2" in said
