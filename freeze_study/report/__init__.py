"""The report of a sweep: read it back from MLflow (`store`), summarise it (`summary`), draw it
(`figures`) and write report.md / report.html (`render`)."""

from freeze_study.report.render import write_report
from freeze_study.report.store import ReportError, latest_sweep, load_runs, resolve_sweep
from freeze_study.report.summary import findings, summarize

__all__ = ["ReportError", "findings", "latest_sweep", "load_runs", "resolve_sweep", "summarize", "write_report"]
