"""The freeze grid run by any number of workers: the entry points (`runner`), planning the queue once
(`planner`), taking and training points (`worker`), noticing lost workers (`heartbeat`), where the
study lives and who may change it (`storage`), and the coordination benchmark (`bench`)."""

from freeze_study.sweep.runner import SweepResult, run_sweep, run_worker
from freeze_study.sweep.storage import StorageError

__all__ = ["StorageError", "SweepResult", "run_sweep", "run_worker"]
