"""Logged and registered models read back: a model URI downloaded into a folder this process removes.

MLflow's `load_model(uri)` and `get_model_info(uri)` download a `runs:/` URI, and any model held by a
tracking server, into a new `tempfile.mkdtemp()` folder that nothing removes (`mlflow.utils.file_utils.
create_tmp_dir`): a copy of the whole model per load (about 45 MB for ResNet18) left under the system's
temporary folder by every `freeze-study predict` and `register`. Downloading into our own temporary
folder and loading from there leaves nothing behind; torch models are read fully into memory.
Artifacts downloaded in bulk (prediction tables, TensorBoard files) go without a progress bar each
(`quiet_downloads`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow

PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"  # MLflow's own switch for its download progress bars


@contextmanager
def quiet_downloads() -> Iterator[None]:
    """No 'Downloading artifacts' bar per download inside the block, unless the user set MLflow's switch."""
    if PROGRESS_ENV in os.environ:
        yield
        return
    os.environ[PROGRESS_ENV] = "false"
    try:
        yield
    finally:
        os.environ.pop(PROGRESS_ENV, None)


@contextmanager
def downloaded_model(uri: str) -> Iterator[str]:
    """The model at `uri` (`runs:/`, `models:/`, a path) as a local folder, removed on leaving the block.

    Yields the folder's path (it holds the model's `MLmodel`). Raises MlflowException when the URI
    cannot be resolved or downloaded, OSError when the temporary folder cannot be written. The
    `sys.path` entries a pyfunc load adds for the model's code (`code_paths`) go with the folder.
    """
    with tempfile.TemporaryDirectory(prefix="freeze-study-model-") as tmp:
        try:
            yield mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
        finally:
            sys.path[:] = [p for p in sys.path if not (p == tmp or str(p).startswith(tmp + os.sep))]
