"""The MLflow UI opens on the study: model-training addresses, the experiment's kind, the sweep parent's
summary metrics and description, and the addresses a sweep prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pytest

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.sweep import summarize_parent
from freeze_study.tracking import ui
from tests.helpers import children, fragment_query, log_child, new_parent

UI_BUNDLE = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"


def test_every_address_opens_the_model_training_view():
    urls = [
        ui.experiment_url("3"),
        ui.run_url("abc", "3"),
        ui.children_url("3", "parent"),
        ui.compare_url("3", ["a", "b"]),
    ]
    for url in urls:
        assert url.startswith(ui.LOCAL_UI + "/#/"), url  # a local store: where `mlflow ui` serves it
        assert fragment_query(url)[1]["workflowType"] == "machine_learning", url
    assert fragment_query(urls[0])[0] == "/experiments/3/runs"
    assert fragment_query(urls[1])[0] == "/experiments/3/runs/abc"
    route, query = fragment_query(ui.compare_url("3", ["a", "b"], base="http://tracking:5000"))
    assert route == "/compare-runs" and json.loads(query["runs"]) == ["a", "b"]
    assert json.loads(query["experiments"]) == ["3"]
    assert ui.base_url("http://10.0.0.1:5000/") == "http://10.0.0.1:5000" and ui.serve_command("http://x") is None
    assert ui.serve_command("sqlite:////tmp/m.db") == ["mlflow", "ui", "--backend-store-uri", "sqlite:////tmp/m.db"]


def test_the_installed_ui_still_speaks_the_routes_and_keys_the_addresses_use():
    """A guard for MLflow upgrades: the UI's JavaScript bundle knows every name `tracking.ui` relies on."""
    bundle = "".join(p.read_text(errors="ignore") for p in UI_BUNDLE.glob("*.js"))
    for name in (
        "workflowType",
        '"machine_learning"',
        "/compare-runs",
        "?runs=${JSON.stringify",
        "compareRunsMode",
        '"CHART"',
        '"searchFilter"',
        '"orderByKey"',
        N.EXPERIMENT_KIND_TAG,
        f'"{N.MODEL_TRAINING_KIND}"',
    ):
        assert name in bundle, name


def test_the_children_filter_selects_exactly_the_sweep_children(store):
    exp = mlflow.set_experiment(N.DEFAULT_EXPERIMENT).experiment_id
    parent, other = new_parent(store, exp, 1), new_parent(store, exp, 2)
    kids = {log_child(store, exp, parent, k, 1, 0.5, 10.0, 1, 0.5) for k in (0, 4)}
    log_child(store, exp, other, 0, 1, 0.5, 10.0, 1, 0.5)
    query = fragment_query(ui.children_url(exp, parent))[1]
    found = store.search_runs([exp], query["searchFilter"], order_by=[query["orderByKey"]])
    assert {r.info.run_id for r in found} == kids  # the address's filter is valid MLflow search syntax


def test_experiments_are_tagged_as_model_training_unless_someone_chose(store):
    with tracking.run("r", "kinds"):
        pass
    tagged = store.get_experiment_by_name("kinds")
    assert tagged.tags[N.EXPERIMENT_KIND_TAG] == N.MODEL_TRAINING_KIND
    chosen = store.create_experiment("chosen", tags={N.EXPERIMENT_KIND_TAG: "genai_development"})
    with tracking.run("r", "chosen"):
        pass
    assert store.get_experiment(chosen).tags[N.EXPERIMENT_KIND_TAG] == "genai_development"


def test_parent_summary_chooses_on_validation_and_reports_test(store):
    exp = mlflow.set_experiment(N.DEFAULT_EXPERIMENT).experiment_id
    parent = new_parent(store, exp, 1)
    # val_acc at best epoch = v0 + 0.05 * best: level 0 -> 0.60, 0.70 (mean 0.65); level 4 -> 0.55, 0.65 (0.60).
    # Test accuracy says the opposite (level 4 higher): the choice follows validation.
    log_child(store, exp, parent, 0, 1, test_acc=0.70, fit=100.0, best=2, v0=0.50)
    log_child(store, exp, parent, 0, 2, test_acc=0.80, fit=110.0, best=2, v0=0.60)
    log_child(store, exp, parent, 4, 1, test_acc=0.90, fit=10.0, best=1, v0=0.50)
    log_child(store, exp, parent, 4, 2, test_acc=0.95, fit=12.0, best=1, v0=0.60)
    log_child(store, exp, parent, 2, 1, test_acc=1.00, fit=50.0, best=1, v0=0.99, status=N.FAILED)  # not counted

    metrics = summarize_parent(parent)

    run = store.get_run(parent)
    assert run.data.metrics == pytest.approx(metrics)
    assert metrics == pytest.approx(
        {
            N.POINTS_FINISHED: 4,
            N.TOTAL_FIT_TIME: 232.0,
            N.BEST_LEVEL: 0,
            N.RECOMMENDED_LEVEL: 0,  # freeze=4 is 20 validation images worse over the paired seeds: not noise
            N.BEST_LEVEL_VAL_ACC: 0.65,
            N.BEST_LEVEL_TEST_ACC: 0.75,
        }
    )
    assert set(metrics) == set(N.SWEEP_METRICS)
    assert all(m.step == 0 for k in metrics for m in store.get_metric_history(parent, k))  # bars in the chart view
    note = run.data.tags[N.NOTE_TAG]
    assert "| 0 (best on validation, recommended) | 2 | 0.650 | 0.750 | 105.0 |" in note
    assert "`best_level` = 0" in note and "`recommended_level` = 0" in note and "They agree" in note
    assert "| 4 | 2 | 0.600 | 0.925 | 11.0 |" in note
    links = re.findall(r"\]\((#/[^)]+)\)", note)
    assert len(links) == 2 and all("workflowType=machine_learning" in link for link in links)
    compare = fragment_query("http://x/" + links[1])[1]
    assert set(json.loads(compare["runs"])) == {r.info.run_id for r in children(store, parent, N.FINISHED)}


def test_parent_summary_of_a_sweep_with_nothing_finished(store):
    exp = mlflow.set_experiment(N.DEFAULT_EXPERIMENT).experiment_id
    parent = new_parent(store, exp, 1)
    assert summarize_parent(parent) == {N.POINTS_FINISHED: 0, N.TOTAL_FIT_TIME: 0}
    assert "no grid point finished yet" in store.get_run(parent).data.tags[N.NOTE_TAG]
