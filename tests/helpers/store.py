"""Reading an MLflow store back: runs of an experiment, a sweep's parent and children, and the assertions on
what a run holds (the contract, its evidence, the same numbers as another run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

import freeze_study.names as N
from freeze_study.config import TrainConfig
from freeze_study.data import load_data
from tests.helpers.data import CLASSES


def runs_of(client: mlflow.MlflowClient, experiment: str = N.DEFAULT_EXPERIMENT) -> list:
    """Every run of the experiment (none if it does not exist)."""
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def sweep_parents(client: mlflow.MlflowClient, experiment: str = N.DEFAULT_EXPERIMENT) -> list:
    return [r for r in runs_of(client, experiment) if r.data.tags.get(N.ROLE_TAG) == N.SWEEP_ROLE]


def children(
    client: mlflow.MlflowClient, parent_id: str, status: str | None = None, experiment: str = N.DEFAULT_EXPERIMENT
) -> list:
    runs = [r for r in runs_of(client, experiment) if r.data.tags.get(N.PARENT_RUN_TAG) == parent_id]
    return [r for r in runs if status is None or r.info.status == status]


def assert_no_leaked_runs(client: mlflow.MlflowClient) -> None:
    """Fail if a run is still active in this process or left RUNNING in the store; end them, autolog off."""
    leaked = mlflow.active_run()
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.pytorch.autolog(disable=True)
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, f"attributes.status = '{N.RUNNING}'") if experiments else []
    assert leaked is None, f"an MLflow run leaked: {leaked.info.run_id}"
    assert not running, f"runs left RUNNING: {[r.info.run_name for r in running]}"


# The fixed costs of a run, in seconds, each logged once (besides the epochs).
FIXED_TIME_METRICS = (
    N.DATA_CHECK_TIME,
    N.DATA_DIGEST_TIME,
    N.CACHE_BUILD_TIME,
    N.TEST_TIME,
    N.EVIDENCE_LOG_TIME,
    N.MODEL_LOG_TIME,
)


def assert_complete_run(client: mlflow.MlflowClient, run_id: str, cfg: TrainConfig, epochs: int) -> None:
    """Every param and metric of the contract is in the store, per-epoch ones once per epoch."""
    run = client.get_run(run_id)
    assert run.info.status == N.FINISHED
    params = run.data.params
    for f in dataclasses.fields(cfg):
        if getattr(cfg, f.name) is not None:
            assert params[f.name] == str(getattr(cfg, f.name)), f.name
    assert params[N.RESOLVED_PRECISION_PARAM] == "32-true" and params[N.RESOLVED_ACCELERATOR_PARAM] == "cpu"
    layout = "channels_last" if cfg.memory_format == "auto" else cfg.memory_format  # auto: channels-last on CPUs
    assert params[N.RESOLVED_MEMORY_FORMAT_PARAM] == layout
    assert params[N.FROZEN_STAGES_PARAM] == (",".join(N.STAGES[: cfg.freeze + 1]) if cfg.freeze else "none")
    assert params[N.CLASSES_PARAM] == ",".join(CLASSES)
    for name in N.EPOCH_METRICS:
        history = client.get_metric_history(run_id, name)
        assert [m.step for m in history] == list(range(epochs)), name
    for name in (*N.ONCE_METRICS, *FIXED_TIME_METRICS):
        assert len(client.get_metric_history(run_id, name)) == 1, name
    metrics = run.data.metrics
    assert metrics[N.EPOCHS_RUN] == epochs and 0 <= metrics[N.BEST_EPOCH] < epochs
    assert 0 <= metrics[N.TEST_ACC] <= 1 and metrics[N.FIT_TIME] > 0
    assert all(metrics[name] >= 0 for name in FIXED_TIME_METRICS)
    assert metrics[N.TEST_TIME] > 0 and metrics[N.MODEL_LOG_TIME] > 0 and metrics[N.DATA_CHECK_TIME] > 0
    assert metrics[N.EVIDENCE_LOG_TIME] > 0
    assert all(m.value > 0 for m in client.get_metric_history(run_id, N.EPOCH_TIME))
    inputs = run.inputs.dataset_inputs
    digest = load_data(cfg.data).digest[:16]
    contexts = sorted(t.value for i in inputs for t in i.tags if t.key == MLFLOW_DATASET_CONTEXT)
    assert contexts == ["testing", "training", "validation"]
    assert [i.dataset.digest for i in inputs] == [digest] * 3  # the data's content, the same for each split


def assert_evidence(client: mlflow.MlflowClient, run_id: str, data: str) -> None:
    """The run holds, for the validation and test splits, a prediction table naming every image of the split
    (relative to the data folder) with its true class, the argmax of its probabilities, and the metrics and
    confusion matrix that scikit-learn computes from that table."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    loaded = load_data(data)
    metrics = client.get_run(run_id).data.metrics
    for split in N.EVALUATED_SPLITS:
        local = client.download_artifacts(run_id, N.predictions_artifact(split))
        table = pd.read_json(local, orient="split", dtype=False)
        names = [Path(n).relative_to(data).as_posix() for n in loaded.splits[split].names]
        assert list(table[N.IMAGE_COL]) == names and names[0].startswith(f"{split}/")
        assert list(table[N.TRUE_COL]) == [CLASSES[i] for i in loaded.splits[split].labels]
        probs = table[[f"{N.PROB_PREFIX}{c}" for c in CLASSES]].to_numpy()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert list(table[N.PREDICTED_COL]) == [CLASSES[i] for i in probs.argmax(axis=1)]
        accuracy = (table[N.TRUE_COL] == table[N.PREDICTED_COL]).mean()  # the tested checkpoint's
        best = int(metrics[N.BEST_EPOCH])
        logged = metrics[N.TEST_ACC] if split == "test" else client.get_metric_history(run_id, N.VAL_ACC)[best].value
        assert accuracy == pytest.approx(logged, abs=1e-6)
        precision, recall, f1, _ = precision_recall_fscore_support(
            table[N.TRUE_COL], table[N.PREDICTED_COL], labels=list(CLASSES), zero_division=0.0
        )
        for i, c in enumerate(CLASSES):
            assert metrics[N.class_metric(split, "precision", c)] == pytest.approx(precision[i])
            assert metrics[N.class_metric(split, "recall", c)] == pytest.approx(recall[i])
            assert metrics[N.class_metric(split, "f1", c)] == pytest.approx(f1[i])
        macro = f1_score(
            table[N.TRUE_COL], table[N.PREDICTED_COL], labels=list(CLASSES), average="macro", zero_division=0.0
        )
        assert metrics[N.split_metric(split, N.MACRO_F1)] == pytest.approx(macro)
        counts = pd.read_csv(client.download_artifacts(run_id, N.confusion_artifact(split)), index_col=0)
        expected = confusion_matrix(table[N.TRUE_COL], table[N.PREDICTED_COL], labels=list(CLASSES))
        assert list(counts.index) == list(CLASSES) and (counts.to_numpy() == expected).all()
        assert client.download_artifacts(run_id, N.confusion_artifact(split, "png"))


def history(client: mlflow.MlflowClient, run_id: str, name: str) -> list[float]:
    """A metric's values in step order."""
    return [m.value for m in client.get_metric_history(run_id, name)]


def assert_same_numbers(client: mlflow.MlflowClient, a: str, b: str) -> None:
    """The prefix's outputs are the same numbers either way, so the runs match to float precision."""
    for name in (N.TRAIN_LOSS, N.VAL_LOSS, N.VAL_ACC, N.TRAIN_ACC):
        assert history(client, a, name) == pytest.approx(history(client, b, name), rel=1e-6, abs=1e-7), name
    test_a, test_b = (client.get_run(r).data.metrics for r in (a, b))
    assert test_a[N.TEST_LOSS] == pytest.approx(test_b[N.TEST_LOSS], rel=1e-6)
    assert test_a[N.TEST_ACC] == test_b[N.TEST_ACC]


REGISTERED_NAME = N.registered_model_name(N.DEFAULT_EXPERIMENT)  # the default experiment's registered model
CHAMPION = f"models:/{REGISTERED_NAME}@{N.CHAMPION_ALIAS}"


def versions(client: mlflow.MlflowClient, name: str = REGISTERED_NAME) -> list:
    """The registered model's versions, oldest first."""
    return sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))


def aliases(client: mlflow.MlflowClient, name: str = REGISTERED_NAME) -> dict[str, int]:
    """The registered model's aliases and the version each points to."""
    return {alias: int(version) for alias, version in client.get_registered_model(name).aliases.items()}


def fragment_query(url: str) -> tuple[str, dict[str, str]]:
    """(route, query) of a UI address `http://host/#/route?query`."""
    from urllib.parse import parse_qs, urlsplit

    route, _, query = urlsplit(url).fragment.partition("?")
    return route, {k: v[0] for k, v in parse_qs(query).items()}


def scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) per scalar tag of a TensorBoard log folder, as TensorBoard reads it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(s.step, s.value) for s in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def hparams(logdir: Path) -> dict[str, object]:
    """The hparams of a TensorBoard log folder (its HParams view's session start info)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}
