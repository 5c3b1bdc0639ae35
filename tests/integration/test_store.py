"""Parameters and tracking stores as users bring them: any spelling of a number, many classes, an artifact
store that cannot be written, a relative store seen from another folder, autolog failures made visible."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from mlflow.exceptions import MlflowException
from PIL import Image

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.cli import main
from freeze_study.config import SweepConfig, TrainConfig
from freeze_study.data import load_data
from freeze_study.tracking import sweeps
from freeze_study.tracking.record import same_value
from tests.helpers import TINY_IMAGE_SIZE, children, runs_of, sweep_args, sweep_parents

TRAIN = ["train", "--weights", "none", "--epochs", "1", "--batch-size", "4", "--num-workers", "0", "--freeze", "4"]
TRAIN += ["--image-size", str(TINY_IMAGE_SIZE)]


def test_spellings_of_one_value_are_one_value():
    assert same_value("1e-4", "0.0001") and same_value("2.0", "2") and same_value("'my beans'", "my beans")
    assert not same_value("1e-3", "0.0001") and not same_value("beans", "other")


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.layer(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit_into_a_run_with_a_clashing_param() -> None:
    data = torch.utils.data.TensorDataset(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))
    tracking.enable_autolog()
    with tracking.run("clash", N.DEFAULT_EXPERIMENT):
        mlflow.log_param("epochs", "99")  # autolog logs epochs=1: the store rejects its batch
        trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
        trainer.fit(_Tiny(), torch.utils.data.DataLoader(data, batch_size=2))


def test_autolog_failures_raise_in_tests_and_warn_otherwise(store, monkeypatch, caplog):
    with pytest.raises(MlflowException, match="Changing param values is not allowed"):
        _fit_into_a_run_with_a_clashing_param()  # MLFLOW_AUTOLOGGING_TESTING=true (conftest)
    monkeypatch.delenv("MLFLOW_AUTOLOGGING_TESTING")
    _fit_into_a_run_with_a_clashing_param()  # `silent=True` swallowed this without a word
    (warning,) = [r for r in caplog.records if "Encountered unexpected error during autologging" in r.message]
    assert warning.levelname == "WARNING" and "Changing param values is not allowed" in warning.message


# 9. Many classes
def test_600_classes_are_recorded_exactly_and_every_param_fits(store, tmp_path):
    classes = [f"plant_{i:03d}_leaf_disease" for i in range(600)]  # 13,200 characters joined
    for split in ("train", "validation", "test"):
        for name in classes:
            (tmp_path / "many" / split / name).mkdir(parents=True)
            Image.new("RGB", (4, 4), (1, 2, 3)).save(tmp_path / "many" / split / name / "a.png")
    data = load_data(str(tmp_path / "many"))
    assert list(data.classes) == classes and len(data.splits["test"]) == 600
    with tracking.run("many", N.DEFAULT_EXPERIMENT) as active:
        tracking.record.data(data.spec, data.classes, data.digest)
        tracking.record.model(torch.nn.Linear(4, 600), np.zeros((1, 4), np.float32), {"classes": classes})
    run_id = active.info.run_id
    recorded = store.get_run(run_id).data.params[N.CLASSES_PARAM]
    assert len(recorded) <= 6000 and recorded.endswith("… (600 classes: classes.json)")
    assert recorded.startswith(",".join(classes[:200]))  # whole names before the cut
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=N.CLASSES_ARTIFACT, dst_path=tmp_path)
    assert json.loads(open(path).read())["classes"] == classes
    metadata = mlflow.models.get_model_info(f"runs:/{run_id}/{N.MODEL_ARTIFACT}").metadata
    assert metadata["classes"] == classes


def test_a_sweep_of_2000_seeds_keeps_its_name_and_params_within_mlflow_limits(store):
    cfg = SweepConfig(levels=(4,), seeds=tuple(range(2000)), train=TrainConfig(weights="none"))
    parent = sweeps.find_or_create_parent(cfg)
    sweeps.describe_parent(parent, cfg, "study", "sqlite:///optuna.db")
    tracking.set_status(parent, N.FINISHED)
    run = store.get_run(parent)
    assert len(run.info.run_name) <= 250 and run.info.run_name.endswith("… (2000 seeds)")
    assert len(run.data.params[N.SEEDS_PARAM]) <= 6000 and run.data.params[N.GRID_SIZE_PARAM] == "2000"
    grid = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{N.GRID_ARTIFACT}")
    assert grid["seeds"] == list(range(2000))


# 10. An artifact store that cannot be written
def _unwritable_experiment(store, tmp_path) -> str:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the artifact root should be")  # root writes anywhere: a file blocks it
    store.create_experiment(N.DEFAULT_EXPERIMENT, artifact_location=f"file://{blocker}/artifacts")
    return str(blocker)


def test_an_unwritable_artifact_store_fails_the_run_at_its_start(store, tiny_config, tmp_path, capsys):
    blocker = _unwritable_experiment(store, tmp_path)
    assert main([*TRAIN, "--data", tiny_config.data]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("freeze-study: error: cannot write the artifacts of run ")
    assert f"to file://{blocker}/artifacts/" in err and "NotADirectoryError" in err
    (run,) = runs_of(store)
    assert run.info.status == N.FAILED and run.data.tags[N.ERROR_TAG].startswith("StoreError: cannot write")
    trained = [name for name in run.data.metrics if not name.startswith("system/")]  # MLflow's monitor may sample
    assert run.data.params["lr"] == "0.0001" and trained == []  # recorded before; nothing trained


def test_an_unwritable_artifact_store_stops_a_sweep_before_any_point(store, tiny_config, tmp_path, capsys):
    blocker = _unwritable_experiment(store, tmp_path)
    assert main(sweep_args(tiny_config, "0,4", "1,2")) == 2
    assert f"to file://{blocker}/artifacts/" in capsys.readouterr().err
    (parent,) = sweep_parents(store)
    assert parent.info.status == N.FAILED and "StoreError: cannot write" in parent.data.tags[N.ERROR_TAG]
    assert children(store, parent.info.run_id) == []


# Neighbour: a deleted experiment of the same name
def test_a_deleted_experiment_is_one_clear_line(store, tiny_config, capsys):
    store.delete_experiment(store.create_experiment(N.DEFAULT_EXPERIMENT))
    assert main([*TRAIN, "--data", tiny_config.data]) == 2
    err = capsys.readouterr().err
    assert err.startswith("freeze-study: error: cannot use experiment 'freeze-study' in sqlite:///")
    assert "deleted experiment" in err and err.count("\n") == 1
