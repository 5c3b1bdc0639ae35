"""A sweep in the tools people already use: the MLflow UI's pages (`freeze-study ui`) and TensorBoard
(`freeze-study tensorboard`).

Each FINISHED child run holds its Lightning `TensorBoardLogger` files under `tensorboard/`;
they land in `<out>/freeze=K_seed=S/`, one TensorBoard run per grid point, so TensorBoard's
scalars (per epoch: train/val loss and accuracy), its HParams view and its run filter show
the grid. Works the same against a local store or a tracking server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mlflow

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.report.store import ReportError, latest_sweep

PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"  # MLflow's own switch for its download progress bars


def ui_pages(client: mlflow.MlflowClient, experiment: str, base: str | None = None) -> list[tuple[str, str]]:
    """(name, address) of the experiment's runs and of its latest sweep's runs and compare page, in the
    model-training view; the experiment is tagged as model training. Raises ReportError when it does not exist."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ReportError(f"no experiment '{experiment}' in {mlflow.get_tracking_uri()} (train or sweep first)")
    tracking.mark_model_training(found.experiment_id)
    pages = [("experiment", tracking.ui.experiment_url(found.experiment_id, base))]
    if sweep := latest_sweep(client, experiment):
        charts, compare = tracking.ui.sweep_urls(sweep, base)
        pages += [("latest sweep as charts", charts), ("compare its runs", compare)]
    return pages


def ui_command(port: int) -> list[str]:
    """`mlflow ui` on the current local store, on 127.0.0.1:`port`, with the MLflow of this environment."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        mlflow.get_tracking_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def download_event_files(client: mlflow.MlflowClient, sweep_id: str, out: Path) -> list[str]:
    """Download each FINISHED child's `tensorboard/` folder into `out/<grid point>/`; returns those folder names.

    A folder already there is replaced. Raises ReportError when no child has event files
    (runs trained before the TensorBoard logger was added have none).
    """
    names = []
    with tempfile.TemporaryDirectory(prefix="freeze-study-tensorboard-") as tmp, _no_progress_bars():
        for run in tracking.child_runs(client, sweep_id, N.FINISHED):
            if not client.list_artifacts(run.info.run_id, N.TENSORBOARD_ARTIFACT):
                continue
            name = (run.data.tags.get(N.GRID_POINT_TAG) or run.info.run_name or run.info.run_id).replace(" ", "_")
            local = client.download_artifacts(run.info.run_id, N.TENSORBOARD_ARTIFACT, tmp)
            target = out / name
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(local, target)
            names.append(name)
    if not names:
        raise ReportError(f"no finished run of sweep '{sweep_id}' has TensorBoard event files under tensorboard/")
    return sorted(names)


def tensorboard_command(logdir: Path, port: int) -> list[str]:
    """`tensorboard --logdir DIR --host 127.0.0.1 --port PORT`, with the TensorBoard of this environment."""
    script = Path(sys.executable).with_name("tensorboard")
    program = [str(script)] if script.exists() else [sys.executable, "-m", "tensorboard.main"]
    return [*program, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)]


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    before = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = before
