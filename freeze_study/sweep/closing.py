"""What happens when a sweep ends: the worker that closed it (or found it done) writes the report and registers
the recommended run. `freeze-study report` and `freeze-study register` call the same two functions on their own.

Imported on first use (`freeze_study.sweep.__getattr__`): the report and the registry bring plotting and the
model's code with them, which planning and training do not need.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow

from freeze_study.report import resolve_sweep, write_report
from freeze_study.serve import RegistrationError, register_sweep
from freeze_study.sweep.runner import SweepResult


def finish(result: SweepResult, report: bool, register: bool, model_name: str) -> None:
    """After this worker left the sweep: if it closed the sweep or found it complete (`result.reports`), write
    the report when `report` and a grid point finished, and register the recommended run as `model_name` when
    `register` and no point failed (a sweep that recommends nothing is said on stderr, not raised)."""
    if result.reports and result.finished and report:
        report_sweep(result.experiment, result.parent_run_id)
    if result.reports and not result.failures and register:
        register_choice(result.experiment, result.parent_run_id, model_name, quiet_refusal=True)


def report_sweep(experiment: str, sweep_id: str | None = None, out: str | None = None) -> Path:
    """Write the report of `sweep_id` (default: the experiment's newest sweep) to `out` (default:
    reports/<sweep id>/), say where, and return that folder. Raises ReportError for a sweep that is not there
    or has no finished run."""
    client = mlflow.MlflowClient()
    sweep_id = resolve_sweep(client, experiment, sweep_id)
    folder = write_report(client, sweep_id, Path(out) if out else Path("reports") / sweep_id)
    print(f"report for sweep {sweep_id}: {folder / 'report.md'} (also logged to the run under report/)")
    return folder


def register_choice(
    experiment: str, sweep_id: str | None, name: str, promote: bool = False, quiet_refusal: bool = False
) -> None:
    """Register the recommended run of `sweep_id` (default: the experiment's newest sweep) as `name` and say what
    happened. A sweep that recommends nothing raises RegistrationError, or with `quiet_refusal` only says so."""
    try:
        print(register_sweep(experiment, sweep_id, name, promote))
    except RegistrationError as exc:
        if not quiet_refusal:
            raise
        print(f"not registered: {exc}", file=sys.stderr)
