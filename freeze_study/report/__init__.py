"""The report of a sweep: read it back from MLflow (`store`, `evidence`, `context`), choose a level on
validation (`selection`), summarise it with its uncertainty (`stats`, `summary`, `sentences`), draw it
(`figures`, `result_figures`) and write report.md / report.html (`render`, `page`); show it in the MLflow UI
and TensorBoard (`viewers`)."""

from freeze_study.report.render import write_report
from freeze_study.report.selection import Selection, rule_text, select_level
from freeze_study.report.store import ReportError, Sweep, latest_sweep, load_sweep, resolve_sweep
from freeze_study.report.summary import summarize
from freeze_study.report.viewers import download_event_files, tensorboard_command, ui_command, ui_pages

__all__ = [
    "ReportError",
    "Selection",
    "Sweep",
    "download_event_files",
    "latest_sweep",
    "load_sweep",
    "resolve_sweep",
    "rule_text",
    "select_level",
    "summarize",
    "tensorboard_command",
    "ui_command",
    "ui_pages",
    "write_report",
]
