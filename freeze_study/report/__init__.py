"""The report of a sweep: read it back from MLflow (`store`), summarise it (`summary`), draw it
(`figures`) and write report.md / report.html (`render`); show it in the MLflow UI and TensorBoard (`viewers`)."""

from freeze_study.report.render import write_report
from freeze_study.report.store import ReportError, latest_sweep, load_runs, resolve_sweep
from freeze_study.report.summary import findings, summarize
from freeze_study.report.viewers import download_event_files, tensorboard_command, ui_command, ui_pages

__all__ = [
    "ReportError",
    "download_event_files",
    "findings",
    "latest_sweep",
    "load_runs",
    "resolve_sweep",
    "summarize",
    "tensorboard_command",
    "ui_command",
    "ui_pages",
    "write_report",
]
