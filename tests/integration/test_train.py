"""One tracked training run: what the store holds afterwards, failures, and bad parameters."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.data import ImageDataset, load_data
from freeze_study.model import build_resnet18
from freeze_study.training import train
from tests.helpers import CLASSES, PROJECT, assert_complete_run, assert_evidence, bare_trainer, runs_of


def test_two_epoch_run_records_the_contract(store, tiny_config):
    cfg = dataclasses.replace(tiny_config, freeze=2)
    result = train(cfg)
    assert_complete_run(store, result.run_id, cfg, epochs=2)
    metrics = store.get_run(result.run_id).data.metrics
    assert metrics[N.TRAINABLE_PARAMS] == 10_494_979 and metrics[N.TOTAL_PARAMS] == 11_178_051
    assert metrics[N.TEST_ACC] == pytest.approx(result.test_acc)
    val_acc = store.get_metric_history(result.run_id, N.VAL_ACC)[result.best_epoch].value
    assert val_acc == pytest.approx(result.val_acc)
    val_loss = [m.value for m in store.get_metric_history(result.run_id, N.VAL_LOSS)]
    assert result.best_epoch == val_loss.index(min(val_loss))  # the first epoch with the lowest val_loss
    assert store.get_run(result.run_id).data.tags[N.RUN_NAME_TAG] == "freeze=2 seed=42"
    assert_evidence(store, result.run_id, cfg.data)
    assert_evidence_is_the_logged_models(store, result.run_id, cfg.data, cfg.image_size)
    if (PROJECT / ".git").exists():  # a checkout (CI clones one): the code's commit is on the run
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT, capture_output=True, text=True).stdout
        assert store.get_run(result.run_id).data.tags[N.GIT_COMMIT_TAG] == head.strip()


def assert_evidence_is_the_logged_models(store, run_id: str, data: str, size: int) -> None:
    """The validation and test predictions a run logged (from its best epoch's validation pass and its test
    pass, no pass of their own) are the probabilities its logged model gives those images."""
    import pandas as pd

    model = mlflow.pytorch.load_model(f"runs:/{run_id}/{N.MODEL_ARTIFACT}").eval()
    splits = load_data(data).splits
    for split in N.EVALUATED_SPLITS:
        images = torch.stack([x for x, _ in ImageDataset(splits[split], size=size)])
        with torch.no_grad():
            probs = torch.softmax(model(images), dim=1).numpy()
        local = store.download_artifacts(run_id, N.predictions_artifact(split))
        table = pd.read_json(local, orient="split", dtype=False)
        logged = table[[f"{N.PROB_PREFIX}{c}" for c in CLASSES]].to_numpy()
        np.testing.assert_allclose(logged, probs, atol=1e-4)


def test_logged_model_loads_and_classifies_an_image(store, tiny_config):
    result = train(tiny_config)
    model = mlflow.pytorch.load_model(f"runs:/{result.run_id}/{N.MODEL_ARTIFACT}")
    assert model.conv1.weight.is_contiguous()  # trained channels-last, logged in the ordinary layout
    x, _ = ImageDataset(load_data(tiny_config.data).splits["test"], size=tiny_config.image_size)[0]
    with torch.no_grad():
        logits = model(x.unsqueeze(0))
    assert logits.shape == (1, len(CLASSES))
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/{N.MODEL_ARTIFACT}")
    out = np.asarray(pyfunc.predict(x.unsqueeze(0).numpy()))
    np.testing.assert_allclose(out, logits.numpy(), rtol=1e-4, atol=1e-5)


def test_same_seed_same_numbers_and_the_weights_file_is_identified(store, tiny_config, tmp_path):
    weights = tmp_path / "start.pth"
    torch.save(build_resnet18(1000, "none").state_dict(), weights)
    cfg = dataclasses.replace(tiny_config, epochs=1, freeze=3, weights=str(weights))
    a, b = train(cfg), train(cfg)
    for name in (N.TRAIN_LOSS, N.VAL_LOSS, N.TEST_ACC, N.split_metric("validation", N.MACRO_F1)):
        assert store.get_run(a.run_id).data.metrics[name] == store.get_run(b.run_id).data.metrics[name]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert store.get_run(a.run_id).data.params[N.WEIGHTS_SHA256_PARAM] == digest


def test_failure_ends_the_run_failed_with_the_reason(store, tiny_config, tmp_path):
    cfg = dataclasses.replace(tiny_config, weights=str(tmp_path / "missing.pth"))
    assert main(["train", "--data", cfg.data, "--weights", cfg.weights, "--epochs", "1", "--num-workers", "0"]) == 2
    (run,) = runs_of(store)
    assert run.info.status == N.FAILED
    assert "missing.pth not found" in run.data.tags[N.ERROR_TAG]
    assert run.data.params["weights"] == cfg.weights  # what was recorded before the failure stays


@pytest.mark.parametrize(
    ("flag", "value"), [("--freeze", "7"), ("--lr", "0"), ("--batch-size", "0"), ("--precision", "fp8")]
)
def test_invalid_parameter_exits_nonzero_and_names_it(store, tiny_config, capsys, flag, value):
    assert main(["train", "--data", tiny_config.data, "--weights", "none", flag, value]) == 2
    err = capsys.readouterr().err
    assert f"invalid {flag[2:].replace('-', '_')}={value}" in err.replace("'", "")
    assert runs_of(store) == []


def test_bad_data_fails_the_run_before_training(store, tiny_config, capsys):
    (Path(tiny_config.data) / "test" / "healthy" / "x.jpg").write_bytes(b"no")
    assert main(["train", "--data", tiny_config.data, "--weights", "none", "--num-workers", "0"]) == 2
    assert "cannot decode image" in capsys.readouterr().err
    (run,) = runs_of(store)
    assert run.info.status == N.FAILED and "x.jpg" in run.data.tags[N.ERROR_TAG]
    assert N.TRAIN_LOSS not in run.data.metrics


def test_status_is_killed_on_interrupt(store, tiny_config):
    from freeze_study import tracking

    with pytest.raises(KeyboardInterrupt):
        with tracking.run("interrupted", N.DEFAULT_EXPERIMENT):
            raise KeyboardInterrupt("Ctrl-C")
    (run,) = runs_of(store)
    assert run.info.status == N.KILLED and run.data.tags[N.ERROR_TAG] == "KeyboardInterrupt: Ctrl-C"


def test_unparseable_value_is_a_clear_error(store, capsys):
    assert main(["train", "--freeze", "two"]) == 2
    assert "argument --freeze: invalid int value: 'two'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("accelerator", "asked", "layout"),
    [("cpu", "auto", "channels_last"), ("cpu", "contiguous", "contiguous"), ("cpu", "channels_last", "channels_last")],
)
def test_convolution_layout_is_chosen_per_device(tiny_config, accelerator, asked, layout):
    from freeze_study.model import resolve_device

    device = resolve_device(dataclasses.replace(tiny_config, accelerator=accelerator, memory_format=asked))
    assert device.memory_format == layout and device.channels_last == (layout == "channels_last")


def test_contiguous_layout_runs_match_too(store, tiny_config):
    from tests.helpers import EXACT_IMAGE_SIZE, assert_same_numbers

    cfg = dataclasses.replace(tiny_config, freeze=2, epochs=1, memory_format="contiguous", image_size=EXACT_IMAGE_SIZE)
    cached, plain = train(cfg), train(dataclasses.replace(cfg, feature_cache="off"))
    assert store.get_run(cached.run_id).data.params[N.RESOLVED_MEMORY_FORMAT_PARAM] == "contiguous"
    assert_same_numbers(store, cached.run_id, plain.run_id)


def test_best_weights_keeps_the_best_epochs_weights_and_validation_outputs_not_the_last():
    """A real Trainer, three epochs whose val_loss is 1.0, 0.5, 0.8: the second epoch's weights and validation
    outputs are kept (the ones a run tests, logs and names as its validation evidence)."""
    import pytorch_lightning as pl

    from freeze_study.training.best import BestWeights
    from freeze_study.training.module import Outputs

    class Scripted(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 3)
            self.val_outputs = None

        def training_step(self, batch, batch_idx):
            return self.layer(batch[0]).sum()

        def validation_step(self, batch, batch_idx):
            self.log(N.VAL_LOSS, [1.0, 0.5, 0.8][self.current_epoch])

        def on_validation_epoch_end(self):
            epoch = float(self.current_epoch) if not self.trainer.sanity_checking else -1.0
            self.val_outputs = Outputs(torch.full((2, 3), epoch), torch.zeros(2, dtype=torch.long))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(2, 2)), batch_size=2)
    module, best = Scripted(), BestWeights(N.VAL_LOSS)
    weights = {}
    keep = pl.callbacks.LambdaCallback(
        on_validation_end=lambda t, m: weights.setdefault(t.current_epoch, m.layer.weight.detach().clone())
    )
    trainer = bare_trainer(max_epochs=3, callbacks=[keep, best])
    trainer.fit(module, loader, loader)
    assert best.restore(module) == 1
    assert torch.equal(best.val_outputs.probs, torch.full((2, 3), 1.0))
    assert torch.equal(module.layer.weight, weights[1]) and not torch.equal(weights[1], weights[2])
