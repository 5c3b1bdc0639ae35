"""A sweep in TensorBoard (`freeze-study tensorboard`); the MLflow UI's pages and the command that serves them
are `tracking.ui`'s.

Each FINISHED child run holds its Lightning `TensorBoardLogger` files under `tensorboard/`;
they land in `<out>/freeze=K_seed=S/`, one TensorBoard run per grid point, so TensorBoard's
scalars (per epoch: train/val loss and accuracy), its HParams view and its run filter show
the grid. Works the same against a local store or a tracking server.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import mlflow

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.report.store import ReportError


def download_event_files(client: mlflow.MlflowClient, sweep_id: str, out: Path) -> list[str]:
    """Download each FINISHED child's `tensorboard/` folder into `out/<grid point>/`; returns those folder names.

    A folder already there is replaced. Raises ReportError when no child has event files
    (runs trained before the TensorBoard logger was added have none).
    """
    names = []
    with tempfile.TemporaryDirectory(prefix="freeze-study-tensorboard-") as tmp, tracking.quiet_downloads():
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
