"""The freeze grid run by any number of workers: the entry points (`runner`), planning the queue once
(`planner`), taking and training points (`worker`), noticing lost workers (`heartbeat`), where the
study lives and who may change it (`storage`), what its parent run shows when it ends (`summary`), and what
happens then: the report and the registration (`closing`).

`run_sweep`, `run_worker`, `SweepResult`, `summarize_parent` and `closing`'s functions are imported on first use:
planning needs no training stack (torch, Lightning), so a process that only plans starts in a second.
"""

from freeze_study.sweep.storage import StorageError

__all__ = [
    "StorageError",
    "SweepResult",
    "finish",
    "register_choice",
    "report_sweep",
    "run_sweep",
    "run_worker",
    "summarize_parent",
]


def __getattr__(name: str):
    if name in ("SweepResult", "run_sweep", "run_worker"):
        from freeze_study.sweep import runner

        return getattr(runner, name)
    if name in ("finish", "register_choice", "report_sweep"):
        from freeze_study.sweep import closing

        return getattr(closing, name)
    if name == "summarize_parent":
        from freeze_study.sweep.summary import summarize_parent

        return summarize_parent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
