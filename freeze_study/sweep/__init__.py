"""The freeze grid run by any number of workers: the entry points (`runner`), planning the queue once
(`planner`), taking and training points (`worker`), noticing lost workers (`heartbeat`), where the
study lives and who may change it (`storage`), and what happens when it ends: the report and the
registration (`closing`).

`run_sweep`, `run_worker`, `SweepResult` and `closing`'s functions are imported on first use:
planning needs no training stack (torch, Lightning), so a process that only plans starts in a second.
"""

from freeze_study.sweep.storage import StorageError

__all__ = ["StorageError", "SweepResult", "finish", "register_choice", "report_sweep", "run_sweep", "run_worker"]


def __getattr__(name: str):
    if name in ("SweepResult", "run_sweep", "run_worker"):
        from freeze_study.sweep import runner

        return getattr(runner, name)
    if name in ("finish", "register_choice", "report_sweep"):
        from freeze_study.sweep import closing

        return getattr(closing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
