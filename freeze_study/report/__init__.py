"""The report of a sweep: read it back from MLflow (`store`, `evidence`, `context`), choose a level on
validation (`selection`), summarise it with its uncertainty (`stats`, `summary`, `sentences`), draw it
(`figures`, `result_figures`, `figure_style`) and write report.md / report.html (`render`, `page`); show it
in TensorBoard (`tensorboard`). The MLflow UI's pages and the command that serves them are `tracking.ui`'s."""

from freeze_study.report.columns import RUN_ID
from freeze_study.report.render import write_report
from freeze_study.report.selection import Selection, rule_text, select_level
from freeze_study.report.store import ReportError, Sweep, load_sweep, resolve_sweep
from freeze_study.report.summary import summarize
from freeze_study.report.tensorboard import download_event_files, tensorboard_command

__all__ = [
    "RUN_ID",
    "ReportError",
    "Selection",
    "Sweep",
    "download_event_files",
    "load_sweep",
    "resolve_sweep",
    "rule_text",
    "select_level",
    "summarize",
    "tensorboard_command",
    "write_report",
]
