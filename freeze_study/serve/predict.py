"""`freeze-study predict`: a registered or logged model applied to image files and folders, in batches.

The model is the registered classifier (`models:/NAME@champion`, any `models:/` URI) or a run's
plain torch network (`runs:/ID/model`), which is wrapped in the same `ImageClassifier`. A folder is
walked as training walks one (`data.walk`). A file that cannot be read or decoded is reported by name
and the others are still predicted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from tqdm import tqdm

from freeze_study.data import IMAGE_EXTENSIONS, NOT_IMAGE, DataError, images_under
from freeze_study.errors import ExpectedError, message_of
from freeze_study.names import CLASSES_PARAM, IMAGE_SIZE, IMAGE_SIZE_KEY
from freeze_study.serve.classifier import BATCH_SIZE, ImageClassifier, Prediction, decode, precision_of
from freeze_study.text import shown
from freeze_study.tracking import downloaded_model

PROGRESS_FROM = 2 * BATCH_SIZE  # images: smaller jobs get no progress bar


class ModelError(ExpectedError, ValueError):
    """The model URI cannot be loaded as an image classifier; the message names the URI."""


@dataclass(frozen=True)
class FileResult:
    """One input file: its prediction, or why it has none."""

    file: str
    prediction: Prediction | None = None
    error: str | None = None


@dataclass(frozen=True)
class Predictions:
    """The results in input order, and the wall seconds spent loading, decoding and classifying them."""

    results: list[FileResult]
    seconds: float

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.error is not None]


def load_classifier(uri: str) -> ImageClassifier:
    """The `ImageClassifier` at `uri`: a logged or registered classifier, or a run's torch `model`
    (its class names and precision from the model's metadata). Raises ModelError naming the URI."""
    try:
        with downloaded_model(uri) as local:
            info = Model.load(local)
            if "pytorch" in info.flavors:
                metadata = info.metadata or {}
                if not metadata.get(CLASSES_PARAM):
                    raise ModelError(f"model {uri} has no class names in its metadata; it is not a freeze-study model")
                net = mlflow.pytorch.load_model(local).eval()
                size = int(metadata.get(IMAGE_SIZE_KEY, IMAGE_SIZE))
                return ImageClassifier(net, metadata[CLASSES_PARAM], precision_of(metadata), size)
            model = mlflow.pyfunc.load_model(local).unwrap_python_model()
    except (MlflowException, OSError) as exc:
        raise ModelError(f"cannot load model {uri}: {message_of(exc)}") from None
    if not isinstance(model, ImageClassifier):
        raise ModelError(f"model {uri} is a {type(model).__name__}, not a freeze-study image classifier")
    return model


def image_files(inputs: Iterable[str]) -> tuple[list[Path | str], list[Path]]:
    """(inputs to predict, skipped files that are not images): a folder becomes its image files, walked as
    training walks a class folder (`data.walk`: links followed, hidden and system entries left out); a file,
    or a path that does not exist, is kept as given. DataError (one line) for a folder with no image or a
    broken link named like an image."""
    found: list[Path | str] = []
    skipped: list[Path] = []

    def skip(reason: str, path: Path) -> None:
        if reason == NOT_IMAGE:
            skipped.append(path)

    for given in inputs:
        path = Path(given)
        if not path.is_dir():
            found.append(path if path.exists() else given)
            continue
        images = images_under(path, skip)
        if not images:
            kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
            raise DataError(f"folder {shown(path)} has no images (files ending in {kinds}, in it or below)")
        found += images
    return found, skipped


def predict_files(classifier: ImageClassifier, files: Sequence[Path | str], progress: bool = True) -> Predictions:
    """Classify `files` in batches of BATCH_SIZE; a progress bar on a terminal's stderr from PROGRESS_FROM files on."""
    start = time.perf_counter()
    results: list[FileResult] = []
    quiet = True if not progress or len(files) < PROGRESS_FROM else None  # None: tqdm's "only on a terminal"
    with tqdm(total=len(files), unit="img", disable=quiet) as bar:
        for first in range(0, len(files), BATCH_SIZE):
            batch, images, names = files[first : first + BATCH_SIZE], [], []
            for f in batch:
                if isinstance(f, str):
                    results.append(FileResult(f, error=f"{f}: no such file or folder"))
                    continue
                try:
                    images.append(decode(f, str(f), classifier.image_size))
                    names.append(str(f))
                except DataError as exc:
                    results.append(FileResult(str(f), error=str(exc)))
            results += [FileResult(n, p) for n, p in zip(names, classifier.classify(images), strict=True)]
            bar.update(len(batch))
    order = {str(f): i for i, f in enumerate(files)}
    return Predictions(sorted(results, key=lambda r: order[r.file]), time.perf_counter() - start)


def format_table(predictions: Predictions) -> str:
    """file, class, probability: one row per predicted file, columns aligned."""
    rows = [("file", "class", "probability")]
    rows += [
        (r.file, r.prediction.class_name, f"{r.prediction.probability:.4f}")
        for r in predictions.results
        if r.prediction
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows)


def summary(predictions: Predictions, uri: str) -> str:
    """'128 images classified by URI in 4.1s (31.2 images/s), 0 failed' (the seconds exclude loading the model)."""
    done = len(predictions.results) - len(predictions.failed)
    rate = done / predictions.seconds if predictions.seconds > 0 else float("nan")
    return (
        f"{done} images classified by {uri} in {predictions.seconds:.1f}s ({rate:.1f} images/s), "
        f"{len(predictions.failed)} failed"
    )


def to_json(predictions: Predictions) -> str:
    """A JSON list in input order: {file, class_name, probability, probabilities} or {file, error}."""
    out = [
        {"file": r.file, **r.prediction.model_dump()} if r.prediction else {"file": r.file, "error": r.error}
        for r in predictions.results
    ]
    return json.dumps(out, indent=2)
