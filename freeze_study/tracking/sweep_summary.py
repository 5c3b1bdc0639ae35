"""What a sweep's parent run shows in the MLflow UI: summary metrics a chart can draw, and a description.

`summarize_parent(parent_id)` reads the FINISHED children back from the store, so whichever
process ends a sweep (or resumes it later) writes the same numbers. The metrics are logged at
step 0, so the UI's chart view draws them as bars with their values. To add a metric, add it
to `summary_metrics` and its name to `names.SWEEP_METRICS`.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import mlflow
from mlflow.entities import Metric

import freeze_study.names as N
from freeze_study.tracking import ui
from freeze_study.tracking.runs import child_runs


@dataclass(frozen=True)
class Point:
    """One FINISHED grid point, as its child run recorded it."""

    run_id: str
    freeze: int
    seed: int
    val_acc: float  # at the tested checkpoint (epoch `best_epoch`)
    test_acc: float
    fit_time_s: float


@dataclass(frozen=True)
class Level:
    """One freeze level's means over its seeds."""

    n: int
    val_acc: float
    test_acc: float
    fit_time_s: float


def finished_points(client: mlflow.MlflowClient, parent_id: str) -> list[Point]:
    """The sweep's FINISHED children, sorted by (freeze, seed)."""
    points = []
    for run in child_runs(client, parent_id, N.FINISHED):
        metrics, params = run.data.metrics, run.data.params
        points.append(
            Point(
                run.info.run_id,
                int(float(params[N.FREEZE_PARAM])),
                int(float(params[N.SEED_PARAM])),
                _val_acc_at_best(client, run),
                metrics.get(N.TEST_ACC, math.nan),
                metrics.get(N.FIT_TIME, math.nan),
            )
        )
    return sorted(points, key=lambda p: (p.freeze, p.seed))


def _val_acc_at_best(client: mlflow.MlflowClient, run) -> float:
    """val_acc at the epoch whose checkpoint was tested; the latest val_acc when the history lacks it."""
    best = run.data.metrics.get(N.BEST_EPOCH)
    if best is not None:
        at = [m.value for m in client.get_metric_history(run.info.run_id, N.VAL_ACC) if m.step == int(best)]
        if at:
            return at[-1]
    return run.data.metrics.get(N.VAL_ACC, math.nan)


def by_level(points: list[Point]) -> dict[int, Level]:
    """Each level's means over its seeds (NaN where a seed has no value)."""
    levels = sorted({p.freeze for p in points})
    out = {}
    for k in levels:
        at = [p for p in points if p.freeze == k]
        out[k] = Level(
            len(at),
            statistics.fmean(p.val_acc for p in at),
            statistics.fmean(p.test_acc for p in at),
            statistics.fmean(p.fit_time_s for p in at),
        )
    return out


def summary_metrics(points: list[Point]) -> dict[str, float]:
    """The parent's summary metrics: points finished, total fit time (s), and the level chosen on validation.

    `best_level` is the level with the highest mean validation accuracy (a tie goes to the
    higher level, which trains fewer parameters); its test accuracy is reported, never used
    to choose. No best level while no finished point has a validation accuracy.
    """
    out = {N.POINTS_FINISHED: float(len(points)), N.TOTAL_FIT_TIME: math.fsum(p.fit_time_s for p in points)}
    levels = {k: v for k, v in by_level(points).items() if not math.isnan(v.val_acc)}
    if levels:
        best = max(levels, key=lambda k: (levels[k].val_acc, k))
        out |= {
            N.BEST_LEVEL: float(best),
            N.BEST_LEVEL_VAL_ACC: levels[best].val_acc,
            N.BEST_LEVEL_TEST_ACC: levels[best].test_acc,
        }
    return {k: v for k, v in out.items() if not math.isnan(v)}


def summarize_parent(parent_id: str) -> dict[str, float]:
    """Log the summary metrics on the parent run and (re)write its description; returns the metrics."""
    client = mlflow.MlflowClient()
    parent = client.get_run(parent_id)
    points = finished_points(client, parent_id)
    metrics = summary_metrics(points)
    now = int(time.time() * 1000)
    client.log_batch(parent_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    client.set_tag(parent_id, N.NOTE_TAG, describe(parent, points, metrics))
    return metrics


def describe(parent, points: list[Point], metrics: dict[str, float]) -> str:
    """The parent run's description (Markdown): the grid, how to read it, links to its children, the results."""
    params, experiment_id = parent.data.params, parent.info.experiment_id
    get = params.get
    weights = get("weights", "?")
    caveat = " (random init: these accuracies do not measure transfer from ImageNet)" if weights == "none" else ""
    children = ui.in_page(ui.children_url(experiment_id, parent.info.run_id))
    compare = ui.in_page(ui.compare_url(experiment_id, [p.run_id for p in points]))
    lines = [
        f"### Freeze study: ResNet18, freeze levels {get(N.LEVELS_PARAM, '?')} × seeds {get(N.SEEDS_PARAM, '?')} "
        f"({get(N.GRID_SIZE_PARAM, '?')} grid points)",
        "",
        f"Data `{get('data', '?')}`, weights `{weights}`{caveat}; epochs per grid point: at most "
        f"{get('epochs', '?')}, early stopping on `{N.VAL_LOSS}` (patience {get('patience', '?')}).",
        "",
        "**Reading it.** Each child run is one grid point, named `freeze=K seed=S`: the stem and the first K "
        "residual stages are frozen (0 trains everything, 4 only the classifier head). The runs list nests the "
        "children under this run: click **+** beside its name, or **Expand rows**. "
        f"[Its runs as charts]({children}) lists them on their own; [the compare page]({compare}) puts their "
        "params and metrics side by side. **Group by** → `freeze` shows each level's mean over seeds.",
        "",
        f"Choose on validation, report on test: `{N.VAL_ACC}` is measured each epoch on the validation split, "
        f"`{N.TEST_ACC}` once on the test split with the checkpoint of the lowest `{N.VAL_LOSS}` "
        f"(epoch `{N.BEST_EPOCH}`). This run's metrics: `{N.POINTS_FINISHED}`, "
        f"`{N.BEST_LEVEL}` (the level with the highest mean validation accuracy), `{N.BEST_LEVEL_VAL_ACC}` and "
        f"`{N.BEST_LEVEL_TEST_ACC}` (its means over seeds), `{N.TOTAL_FIT_TIME}` (the children's "
        f"`{N.FIT_TIME}` summed).",
        "",
        f"| freeze | runs | mean {N.VAL_ACC} | mean {N.TEST_ACC} | mean {N.FIT_TIME} |",
        "|---|---|---|---|---|",
        *(
            f"| {k}{' (best on validation)' if metrics.get(N.BEST_LEVEL) == k else ''} | {v.n} | {v.val_acc:.3f} "
            f"| {v.test_acc:.3f} | {v.fit_time_s:.1f} |"
            for k, v in by_level(points).items()
        ),
    ]
    if not points:
        lines.append("| (no grid point finished yet) | | | | |")
    return "\n".join(lines)
