"""Reading a sweep back from MLflow into tidy tables: which sweep, its FINISHED child runs, their histories.

Everything is read through `MlflowClient`, so it works the same against a local SQLite
store or a remote `mlflow server`.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.errors import ExpectedError

# Columns of the tidy tables; the first three are the param names that training logs.
FREEZE, SEED, FROZEN_STAGES = N.FREEZE_PARAM, N.SEED_PARAM, N.FROZEN_STAGES_PARAM
RUN_ID, EPOCH, METRIC, VALUE = "run_id", "epoch", "metric", "value"


class ReportError(ExpectedError, ValueError):
    """No sweep to report on, or a sweep with nothing finished; the message says which."""


def latest_sweep(client: mlflow.MlflowClient, experiment_name: str) -> str | None:
    """The id of the newest sweep parent run (by start time) in the experiment, or None."""
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        f"tags.`{N.ROLE_TAG}` = '{N.SWEEP_ROLE}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def resolve_sweep(client: mlflow.MlflowClient, experiment_name: str, sweep_id: str | None = None) -> str:
    """The sweep to report on: `sweep_id` checked to be a sweep parent, else the experiment's newest."""
    if sweep_id is None:
        found = latest_sweep(client, experiment_name)
        if found is None:
            raise ReportError(f"no sweep runs in experiment '{experiment_name}' (run `freeze-study sweep` first)")
        return found
    try:
        run = client.get_run(sweep_id)
    except mlflow.exceptions.MlflowException:
        raise ReportError(f"no run with id '{sweep_id}' in the tracking store") from None
    role = run.data.tags.get(N.ROLE_TAG)
    if role != N.SWEEP_ROLE:
        raise ReportError(
            f"run '{sweep_id}' is not a sweep parent run (tag {N.ROLE_TAG}={role!r}, expected '{N.SWEEP_ROLE}')"
        )
    return sweep_id


def _history(client: mlflow.MlflowClient, run_id: str, key: str) -> pd.Series:
    """value by epoch; a step logged twice keeps its latest value."""
    points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
    return pd.Series({m.step: m.value for m in points}, dtype=float)


def _at(series: pd.Series, epoch: float) -> float:
    """The value at `epoch`, else the series' best (max), else NaN."""
    if not np.isnan(epoch) and int(epoch) in series.index:
        return float(series[int(epoch)])
    return float(series.max()) if len(series) else float("nan")


def load_runs(client: mlflow.MlflowClient, sweep_run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, history) of the sweep's FINISHED child runs: one row per run, and one row per run × epoch × metric."""
    rows, long = [], []
    for run in tracking.child_runs(client, sweep_run_id, N.FINISHED):
        params, metrics, run_id = run.data.params, run.data.metrics, run.info.run_id
        freeze, seed = int(params[FREEZE]), int(params[SEED])
        curves = {key: _history(client, run_id, key) for key in N.EPOCH_METRICS}
        best = metrics.get(N.BEST_EPOCH, float("nan"))
        rows.append(
            {
                RUN_ID: run_id,
                FREEZE: freeze,
                SEED: seed,
                FROZEN_STAGES: params.get(FROZEN_STAGES, ""),
                **{key: metrics.get(key, float("nan")) for key in N.ONCE_METRICS},
                N.TRAIN_ACC: _at(curves[N.TRAIN_ACC], best),  # at the checkpoint that was tested
                N.VAL_ACC: _at(curves[N.VAL_ACC], best),
            }
        )
        long += [
            (run_id, freeze, seed, int(step), key, value)
            for key, curve in curves.items()
            for step, value in curve.items()
        ]
    columns = [
        RUN_ID,
        FREEZE,
        SEED,
        FROZEN_STAGES,
        N.TRAINABLE_PARAMS,
        N.TOTAL_PARAMS,
        N.FIT_TIME,
        N.EPOCHS_RUN,
        N.BEST_EPOCH,
        N.TRAIN_ACC,
        N.VAL_ACC,
        N.TEST_ACC,
        N.TEST_LOSS,
    ]
    runs = pd.DataFrame(rows, columns=columns).sort_values([FREEZE, SEED], ignore_index=True)
    for key in (N.TRAINABLE_PARAMS, N.TOTAL_PARAMS, N.EPOCHS_RUN, N.BEST_EPOCH):
        if runs[key].notna().all():  # counts read back as floats; keep them ints when every run has them
            runs[key] = runs[key].astype(int)
    history = pd.DataFrame(long, columns=[RUN_ID, FREEZE, SEED, EPOCH, METRIC, VALUE])
    return runs, history.sort_values([FREEZE, SEED, METRIC, EPOCH], ignore_index=True)
