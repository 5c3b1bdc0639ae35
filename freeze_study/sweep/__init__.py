"""The freeze grid: which (freeze level, seed) points run, in which order, resumed after a stop (`runner`)."""

from freeze_study.sweep.runner import SweepResult, run_sweep

__all__ = ["SweepResult", "run_sweep"]
