"""The model applications use: image file bytes in, the class name and the class probabilities out.

`ImageClassifier` is an `mlflow.pyfunc.PythonModel` around the study's torch network. Each
image is decoded and pre-processed by the project's own functions (`data.decode`, then
`normalize`), so an image sent to the model becomes exactly the tensor a test image became in
training, and runs in the precision the run evaluated its test split in (the network's metadata
says which), so its probabilities are the run's logged test predictions. MLflow logs it from code
(`model_code.py`, nothing pickled) with the network as a pt2 (torch.export) artifact, so loading
the registered model unpickles nothing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel  # mlflow.pyfunc is a lazy loader to a type checker
from pydantic import BaseModel

from freeze_study import data
from freeze_study.data import DataError, normalize
from freeze_study.names import (
    AUTOCAST_DTYPES,
    CLASSES_PARAM,
    FP32_PRECISION,
    IMAGE_SIZE,
    IMAGE_SIZE_KEY,
    NETWORK_ARTIFACT,
    RESOLVED_PRECISION_PARAM,
)

BATCH_SIZE = 32  # images per forward pass: bounds memory (32 x 3 x 224 x 224 float32 = 19 MB)


class Prediction(BaseModel):
    """One image's answer (the scoring server returns it as a JSON object)."""

    class_name: str  # the most probable class
    probability: float  # its probability
    probabilities: dict[str, float]  # every class's, the softmax of the logits


def decode(source: bytes | Path, name: str, size: int = IMAGE_SIZE) -> np.ndarray:
    """An image (file bytes or a path; any format the data path reads: JPEG, PNG, grayscale, RGBA, 16-bit)
    decoded as the study decodes a training image (`data.decode`): uint8 `size` x `size` x 3. Raises DataError
    naming `name`."""
    return data.decode(io.BytesIO(source) if isinstance(source, bytes) else source, name, size)


def _source(item: object, i: int) -> bytes | Path:
    """An input as `decode` takes it; a str is base64 text (a path must come as a `Path`, so a served
    model never opens files named by a client). Raises DataError."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, os.PathLike):
        return Path(item)
    if isinstance(item, str):
        try:
            return base64.b64decode(item)  # lenient about line breaks, as MLflow's own examples wrap them
        except binascii.Error as exc:
            raise DataError(f"input {i} is not base64 text of an image file ({exc}); pass a path as a Path") from None
    raise DataError(f"input {i} is a {type(item).__name__}; expected image file bytes, a Path or base64 text")


def precision_of(metadata: Mapping[str, object] | None) -> str:
    """The precision a logged network's run evaluated in (its metadata's `resolved_precision`); 32-true for a
    model logged before the precision was recorded (those runs served fp32). ValueError for one it cannot run."""
    return _checked(str((metadata or {}).get(RESOLVED_PRECISION_PARAM, FP32_PRECISION)))


def _checked(precision: str) -> str:
    if precision != FP32_PRECISION and precision not in AUTOCAST_DTYPES:
        raise ValueError(f"unknown precision {precision!r}: expected {FP32_PRECISION} or one of {AUTOCAST_DTYPES}")
    return precision


class ImageClassifier(PythonModel):
    """The study's network with its pre-processing and class names: images -> `Prediction`s.

    Built from a network, class names and the run's precision (`ImageClassifier(net, classes, precision)`),
    or by MLflow from the logged model (`load_context`). The network runs on the CPU, in eval mode, in that
    precision: under CPU autocast to bfloat16 for bf16-mixed, to float16 for 16-mixed (a run on a GPU: the
    same dtype, though CPU kernels round differently than CUDA's), in fp32 for 32-true.
    """

    def __init__(
        self,
        net: torch.nn.Module | None = None,
        classes: Sequence[str] = (),
        precision: str = FP32_PRECISION,
        image_size: int = IMAGE_SIZE,
    ):
        self.net = net
        self.classes = tuple(classes)
        self.precision = _checked(precision)
        self.image_size = image_size

    def load_context(self, context) -> None:
        """The network from the pt2 artifact; the class names, the precision and the image size from its metadata
        (models logged before the image size was recorded decode to the default, 224)."""
        network = context.artifacts[NETWORK_ARTIFACT]
        self.net = mlflow.pytorch.load_model(network)
        metadata = mlflow.models.Model.load(network).metadata
        if metadata is None:
            raise ValueError(f"the network at {network} has no metadata (class names, precision): not a study's model")
        self.classes = tuple(metadata[CLASSES_PARAM])  # in its output order
        self.image_size = int(metadata.get(IMAGE_SIZE_KEY, IMAGE_SIZE))
        self.precision = precision_of(metadata)

    def predict(self, context, model_input: list[bytes | str | Path], params=None) -> list[Prediction]:
        """One `Prediction` per image: file bytes, a file path (`pathlib.Path`), or the file's bytes as
        base64 text (what JSON carries: `{"inputs": ["<base64 JPEG>", ...]}` to the scoring server).

        Raises MlflowException (INVALID_PARAMETER_VALUE: a 400 from the scoring server) naming the
        inputs that are not images; nothing is predicted then.
        """
        images, bad = [], []
        for i, item in enumerate(model_input):
            try:
                images.append(decode(_source(item, i), f"input {i}", self.image_size))
            except DataError as exc:
                bad.append(str(exc))
        if bad:
            raise MlflowException.invalid_parameter_value(
                f"{len(bad)} of {len(model_input)} inputs are not images: " + "; ".join(bad[:5])
            )
        return self.classify(images)

    def classify(self, images: Sequence[np.ndarray]) -> list[Prediction]:
        """`Prediction`s for decoded images (uint8 S x S x 3 each, S the model's image size, as `decode` returns
        them)."""
        return [
            Prediction(
                class_name=self.classes[int(p.argmax())],
                probability=float(p.max()),
                probabilities={c: float(v) for c, v in zip(self.classes, p, strict=True)},
            )
            for p in self.probabilities(images)
        ]

    def probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """N x classes softmax probabilities (float32) for N decoded images, in batches of BATCH_SIZE."""
        if self.net is None:
            raise RuntimeError("no network: give ImageClassifier one, or let MLflow load it (load_context)")
        out = [np.zeros((0, len(self.classes)), np.float32)]
        with torch.inference_mode(), self.autocast():
            for start in range(0, len(images), BATCH_SIZE):
                x = normalize(torch.from_numpy(np.stack(images[start : start + BATCH_SIZE])))
                out.append(torch.softmax(self.net(x).float(), dim=1).numpy())
        return np.concatenate(out)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The CPU autocast of the run's precision (none for fp32); a torch.export'ed network honours it too."""
        dtype = AUTOCAST_DTYPES.get(self.precision)
        return torch.autocast("cpu", dtype=getattr(torch, dtype)) if dtype else contextlib.nullcontext()
