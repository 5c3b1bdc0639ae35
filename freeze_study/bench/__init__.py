"""Benchmarks of the feature cache: seconds per epoch per level with and without it (`epochs`), and a whole
sweep with and without every cache against this machine's compute limit (`sweep`, one phase of it `sweep_phase`,
`limits`), and what coordinating W sweep workers costs (`workers`: `python -m freeze_study.bench.workers`, run on
its own). Each measurement runs in a fresh process (`fresh`)."""

from freeze_study.bench.epochs import format_table, measure, run_bench
from freeze_study.bench.sweep import format_sweep, run_sweep_bench

__all__ = ["format_sweep", "format_table", "measure", "run_bench", "run_sweep_bench"]
