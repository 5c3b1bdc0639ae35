"""Reading a sweep back from MLflow into tidy tables: which sweep, its FINISHED child runs, their histories,
their per-image evidence, and the FINISHED runs that cannot enter the means (with the reason).

Everything is read through `MlflowClient`, so it works the same against a local SQLite
store or a remote `mlflow server`.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.errors import ExpectedError
from freeze_study.report import evidence
from freeze_study.report.columns import EPOCH, FREEZE, FROZEN_STAGES, METRIC, REASON, RUN_ID, SEED, VALUE
from freeze_study.report.context import Context, describe


class ReportError(ExpectedError, ValueError):
    """No sweep to report on, or a sweep with nothing finished; the message says which."""


def resolve_sweep(client: mlflow.MlflowClient, experiment_name: str, sweep_id: str | None = None) -> str:
    """The sweep to report on: `sweep_id` checked to be a sweep parent, else the experiment's newest."""
    if sweep_id is None:
        found = tracking.sweeps.latest_sweep(client, experiment_name)
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


def _at(series: pd.Series, epoch: float, best: str = "max") -> float:
    """The value at `epoch`, else the series' best ("max" or "min"), else NaN."""
    if not np.isnan(epoch) and int(epoch) in series.index:
        return float(series[int(epoch)])
    return float(series.agg(best)) if len(series) else float("nan")


def unusable(metrics: dict[str, float], curves: dict[str, pd.Series]) -> str | None:
    """Why a FINISHED run cannot enter the means (no per-epoch history, a missing or non-finite result,
    e.g. a diverged run), or None when it can. Every reason found is named."""
    reasons = []
    if not any(len(c) for c in curves.values()):
        reasons.append("no per-epoch history")
    else:
        empty = [k for k in (N.VAL_LOSS, N.VAL_ACC) if not len(curves[k])]
        if empty:
            reasons.append(f"no per-epoch {' or '.join(empty)}")
    missing = [k for k in N.ONCE_METRICS if k not in metrics]
    if missing:
        reasons.append(f"missing {', '.join(missing)}")
    bad = [f"{k}={metrics[k]}" for k in N.ONCE_METRICS if k in metrics and not np.isfinite(metrics[k])]
    for key, curve in curves.items():
        epochs = curve.index[~np.isfinite(curve.to_numpy())]
        if len(epochs):
            bad.append(f"{key} at epoch {', '.join(map(str, epochs))}")
    if bad:
        reasons.append(f"non-finite {'; '.join(bad)} (diverged?)")
    return "; ".join(reasons) or None


@dataclass(frozen=True)
class Sweep:
    """A sweep read back: its usable FINISHED child runs, their histories and per-image evidence, the
    FINISHED runs left out of every mean (with the reason) and what was run (`context`)."""

    runs: pd.DataFrame  # one row per usable run: RUN_COLUMNS
    history: pd.DataFrame  # one row per run x epoch x metric: run_id, freeze, seed, epoch, metric, value
    predictions: pd.DataFrame  # one row per run x split x image (see evidence.PREDICTION_COLUMNS)
    class_scores: pd.DataFrame  # one row per run x split x class x score (see evidence.SCORE_COLUMNS)
    excluded: pd.DataFrame  # EXCLUDED_COLUMNS
    context: Context


RUN_COLUMNS = [
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
    N.VAL_LOSS,
    N.TEST_ACC,
    N.TEST_LOSS,
]


EXCLUDED_COLUMNS = [RUN_ID, FREEZE, SEED, REASON, N.FIT_TIME]  # fit_time_s: NaN where the run logged none


def load_sweep(client: mlflow.MlflowClient, sweep_run_id: str) -> Sweep:
    """Read the sweep's FINISHED child runs: usable ones into tidy tables, the others listed with the reason.
    Each run's val_acc, val_loss and train_acc are read here at its tested epoch (`best_epoch`), for the report,
    the selection and the sweep's parent alike.

    A grid point finished twice (two workers on one sweep) is used once: its first run.
    """
    rows, long, excluded, usable = [], [], [], []
    used: dict[tuple[int, int], str] = {}  # grid point -> the run used for it
    finished = sorted(tracking.child_runs(client, sweep_run_id, N.FINISHED), key=lambda r: r.info.start_time)
    for run in finished:
        params, metrics, run_id = run.data.params, run.data.metrics, run.info.run_id
        freeze, seed = tracking.sweeps.grid_point(run)
        curves = {key: _history(client, run_id, key) for key in N.EPOCH_METRICS}
        reason = unusable(metrics, curves)
        if not reason and (freeze, seed) in used:
            reason = f"grid point finished twice; the first run, {used[(freeze, seed)]}, is used"
        if reason:
            excluded.append(
                {RUN_ID: run_id, FREEZE: freeze, SEED: seed, REASON: reason, N.FIT_TIME: metrics.get(N.FIT_TIME)}
            )
            continue
        used[(freeze, seed)] = run_id
        usable.append(run)
        best = metrics[N.BEST_EPOCH]
        rows.append(
            {
                RUN_ID: run_id,
                FREEZE: freeze,
                SEED: seed,
                FROZEN_STAGES: params.get(FROZEN_STAGES, ""),
                **{key: metrics[key] for key in N.ONCE_METRICS},
                N.TRAIN_ACC: _at(curves[N.TRAIN_ACC], best),  # at the checkpoint that was tested
                N.VAL_ACC: _at(curves[N.VAL_ACC], best),
                N.VAL_LOSS: _at(curves[N.VAL_LOSS], best, "min"),
            }
        )
        long += [
            (run_id, freeze, seed, int(step), key, value)
            for key, curve in curves.items()
            for step, value in curve.items()
        ]
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS).sort_values([FREEZE, SEED], ignore_index=True)
    for key in (N.TRAINABLE_PARAMS, N.TOTAL_PARAMS, N.EPOCHS_RUN, N.BEST_EPOCH):
        runs[key] = runs[key].astype(int)  # counts read back as floats
    history = pd.DataFrame(long, columns=[RUN_ID, FREEZE, SEED, EPOCH, METRIC, VALUE])
    return Sweep(
        runs,
        history.sort_values([FREEZE, SEED, METRIC, EPOCH], ignore_index=True),
        evidence.predictions(client, usable),
        evidence.class_scores(usable),
        pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS).sort_values([FREEZE, SEED], ignore_index=True),
        describe(client.get_run(sweep_run_id), finished),
    )
