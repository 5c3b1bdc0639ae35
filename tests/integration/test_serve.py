"""Using the model: the registered classifier on bytes, paths and base64 text, and `freeze-study predict`.

The runs hold a tiny network logged as training logs its `model`; the classifier around it is
the real one, registered in a real registry (the test's SQLite store).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from mlflow.exceptions import MlflowException

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.data import DataError, ImageDataset, load_data
from freeze_study.serve import register_run
from freeze_study.serve.predict import load_classifier
from tests.helpers import (
    CHAMPION,
    CLASSES,
    REGISTERED_NAME,
    log_model_run,
    make_image_folder,
    tiny_network,
)


def test_classifier_applies_the_training_preprocessing_to_bytes_paths_and_base64(registered, image_folder):
    split = load_data(str(image_folder)).splits["test"]  # JPEGs, a grayscale JPEG and an RGBA PNG
    net = mlflow.pytorch.load_model(f"runs:/{registered}/{N.MODEL_ARTIFACT}")
    with torch.no_grad():  # what training feeds the network for these images
        expected = torch.softmax(net(torch.stack([x for x, _ in ImageDataset(split)])), dim=1).numpy()
    model = mlflow.pyfunc.load_model(CHAMPION)
    paths = [Path(name) for name in split.names]
    as_bytes = model.predict([p.read_bytes() for p in paths])
    as_paths = model.predict(paths)
    as_base64 = model.predict([base64.b64encode(p.read_bytes()).decode() for p in paths])
    assert as_bytes == as_paths == as_base64
    got = np.array([[p.probabilities[c] for c in CLASSES] for p in as_bytes])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert [p.class_name for p in as_bytes] == [CLASSES[i] for i in expected.argmax(1)]
    assert all(p.probability == max(p.probabilities.values()) for p in as_bytes)


@pytest.mark.parametrize("precision", [None, N.FP32_PRECISION, "bf16-mixed", "16-mixed"])
def test_the_served_model_runs_in_the_precision_its_run_evaluated_in(store, image_folder, precision):
    """None: a model logged before the precision was recorded, served in fp32 as it was then."""
    run_id = log_model_run(precision=precision)
    register_run(run_id, REGISTERED_NAME, {N.VAL_ACC: "0.5"})  # the network exported to pt2, in the classifier
    split = load_data(str(image_folder)).splits["test"]
    x = torch.stack([x for x, _ in ImageDataset(split)])
    dtype = N.AUTOCAST_DTYPES.get(precision or N.FP32_PRECISION)
    with torch.no_grad():
        fp32 = torch.softmax(tiny_network()(x), dim=1).numpy()
        with torch.autocast("cpu", dtype=getattr(torch, dtype or "bfloat16"), enabled=dtype is not None):
            expected = torch.softmax(tiny_network()(x).float(), dim=1).numpy()  # the network's own, in that precision
    assert dtype is None or np.abs(expected - fp32).max() > 1e-5  # fp32 would fail the check below
    served = mlflow.pyfunc.load_model(CHAMPION).predict([Path(name) for name in split.names])
    direct = load_classifier(f"runs:/{run_id}/{N.MODEL_ARTIFACT}")
    assert direct.precision == (precision or N.FP32_PRECISION)
    for probabilities in (
        np.array([[p.probabilities[c] for c in CLASSES] for p in served]),
        direct.probabilities([split.decode(i) for i in range(len(split))]),
    ):
        np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-5)
    recorded = mlflow.models.get_model_info(CHAMPION).metadata
    assert recorded.get(N.RESOLVED_PRECISION_PARAM) == precision


def test_non_images_are_named_and_nothing_is_predicted(registered, image_folder):
    model = mlflow.pyfunc.load_model(CHAMPION)
    jpeg = next((image_folder / "test").rglob("*.jpg")).read_bytes()
    with pytest.raises(MlflowException, match=r"2 of 3 inputs are not images: cannot decode image input 1: .*input 2 "):
        model.predict([jpeg, b"plain text", "not base64!"])


def test_registered_classifier_loads_without_unpickling(registered, image_folder, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    model = mlflow.pyfunc.load_model(CHAMPION)
    info = mlflow.models.get_model_info(CHAMPION)
    assert info.flavors["python_function"]["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert model.predict([next((image_folder / "test").rglob("*.png"))])[0].class_name in CLASSES
    with pytest.raises(MlflowException, match="pickle"):  # the run's own `model` is pickled: refused here
        mlflow.pytorch.load_model(f"runs:/{registered}/{N.MODEL_ARTIFACT}")


def test_predict_prints_a_table_and_names_files_that_are_not_images(registered, image_folder, tmp_path, capsys):
    (image_folder / "test" / "notes.txt").write_text("not an image")
    broken = image_folder / "test" / "healthy" / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    assert main(["predict", str(image_folder / "test"), str(tmp_path / "missing.jpg")]) == 1
    out, err = capsys.readouterr()
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["file", "class", "probability"]
    images = sorted(p for p in (image_folder / "test").rglob("*") if p.suffix in (".jpg", ".png") and p != broken)
    assert [r[0] for r in rows[1:]] == [str(p) for p in images]
    assert all(r[1] in CLASSES and 0 < float(r[2]) <= 1 for r in rows[1:])
    lines = err.splitlines()
    assert f"freeze-study: error: cannot decode image {broken}: cannot identify image file '{broken}'" in lines
    assert f"freeze-study: error: {tmp_path / 'missing.jpg'}: no such file or folder" in lines
    assert any(line.startswith("skipped 1 files that are not images by extension") for line in lines)
    assert any(line.startswith(f"9 images classified by {CHAMPION} in ") and "2 failed" in line for line in lines)


def test_predict_walks_a_folder_as_training_does_through_a_linked_sub_folder(
    registered, image_folder, tmp_path, capsys
):
    extra = make_image_folder(tmp_path / "more")
    (image_folder / "test" / "healthy" / "more").symlink_to(extra / "test" / "healthy", target_is_directory=True)
    (image_folder / "test" / "healthy" / "loop").symlink_to(image_folder / "test" / "healthy", target_is_directory=True)
    assert main(["predict", str(image_folder / "test")]) == 0
    out, err = capsys.readouterr()
    files = [line.split()[0] for line in out.splitlines()[1:]]
    assert str(image_folder / "test" / "healthy" / "more" / "healthy_0.jpg") in files and len(files) == 12
    with pytest.warns(UserWarning, match="folders already read"):
        assert sorted(files) == sorted(load_data(str(image_folder)).splits["test"].names)  # the files training reads
    assert f"12 images classified by {CHAMPION} in " in err


def test_predict_on_a_folder_with_no_image_says_so_in_one_line_and_exits_2(store, tmp_path, capsys):
    (tmp_path / "photos" / "empty").mkdir(parents=True)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    (tmp_path / "photos" / ".hidden.jpg").write_bytes(b"")
    assert main(["predict", str(tmp_path / "photos")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"freeze-study: error: folder {tmp_path / 'photos'} has no images (files ending in .bmp, ")
    assert len(err.splitlines()) == 1


def test_predict_names_a_broken_link_in_one_line_and_exits_2_as_training_does(store, image_folder, tmp_path, capsys):
    gone = image_folder / "test" / "healthy" / "gone.jpg"
    gone.symlink_to(tmp_path / "deleted.jpg")
    assert main(["predict", str(image_folder / "test")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"freeze-study: error: broken symbolic link {gone} -> {tmp_path / 'deleted.jpg'} where an ")
    assert len(err.splitlines()) == 1
    with pytest.raises(DataError) as training:
        load_data(str(image_folder))
    assert err == f"freeze-study: error: {training.value}\n"


def test_predict_json_through_the_registry_equals_the_runs_own_model(registered, image_folder, capsys):
    folder = str(image_folder / "test")
    assert main(["predict", folder, "--json"]) == 0
    registry = json.loads(capsys.readouterr().out)
    assert main(["predict", folder, "--json", "--model", f"runs:/{registered}/{N.MODEL_ARTIFACT}"]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in registry] == [r["file"] for r in direct] and len(registry) == 9
    assert [r["class_name"] for r in registry] == [r["class_name"] for r in direct]
    for a, b in zip(registry, direct, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], rel=1e-5, abs=1e-6)


def test_register_and_predict_leave_no_copy_of_a_model_in_the_temporary_folder(
    store, image_folder, isolated_temp, capsys
):
    run_id = log_model_run()
    register_run(run_id, REGISTERED_NAME, {N.VAL_ACC: "0.5"})  # reads the run's model back to export it
    path = list(sys.path)
    for uri in (CHAMPION, f"runs:/{run_id}/{N.MODEL_ARTIFACT}"):  # the pyfunc classifier, the torch network
        assert main(["predict", str(image_folder / "test"), "--model", uri]) == 0
        assert f"9 images classified by {uri}" in capsys.readouterr().err
    assert not list(isolated_temp.rglob("MLmodel"))  # where MLflow's downloads and ours go
    assert sys.path == path  # the classifier's code folder went with its download


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("models:/no-such-model@champion", "cannot load model models:/no-such-model@champion: "),
        ("runs:/0123456789abcdef/model", "cannot load model runs:/0123456789abcdef/model: "),
    ],
)
def test_predict_with_a_model_that_cannot_be_loaded_says_so_in_one_line(store, image_folder, capsys, model, message):
    assert main(["predict", str(image_folder / "test"), "--model", model]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"freeze-study: error: {message}") and len(err.splitlines()) == 1
