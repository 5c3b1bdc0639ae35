"""What a sweep's parent run shows in the MLflow UI: summary metrics a chart can draw, and a description.

`summarize_parent(parent_id)` reads the sweep back as the report does (`report.load_sweep`) and
asks the report's selection rule (`report.select_level`, the one the registry follows) for the
best and the recommended level, so the parent, the report and the registered model never disagree.
Whichever process ends a sweep (or resumes it later) writes the same numbers, at step 0, so the UI's
chart view draws them as bars. To add a metric, add it to `summary_metrics` and to `names.SWEEP_METRICS`.
"""

from __future__ import annotations

import math

import mlflow
import pandas as pd

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.report import Selection, Sweep, load_sweep, select_level
from freeze_study.tracking import ui

FREEZE = N.FREEZE_PARAM


def summarize_parent(parent_id: str) -> dict[str, float]:
    """Log the summary metrics on the parent run and (re)write its description; returns the metrics."""
    client = mlflow.MlflowClient()
    sweep = load_sweep(client, parent_id)
    selection = select_level(sweep.runs, sweep.predictions)
    metrics = summary_metrics(sweep, selection)
    tracking.sweeps.log_summary(parent_id, metrics, describe(client.get_run(parent_id), sweep, selection))
    return metrics


def by_level(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per freeze level: its runs and their mean val_acc (at the tested epoch), test_acc and fit_time_s."""
    return runs.groupby(FREEZE).agg(
        n=(N.VAL_ACC, "size"),
        val_acc=(N.VAL_ACC, "mean"),
        test_acc=(N.TEST_ACC, "mean"),
        fit_time_s=(N.FIT_TIME, "mean"),
    )


def summary_metrics(sweep: Sweep, selection: Selection) -> dict[str, float]:
    """The parent's summary metrics: grid points finished, total fit time (s), and the best and the recommended
    level as the selection rule names them (its test accuracy is reported, never used to choose). No level
    while no finished run has validation predictions."""
    finished = pd.concat([sweep.runs[[FREEZE, N.SEED_PARAM]], sweep.excluded[[FREEZE, N.SEED_PARAM]]])
    fit_times = pd.concat([sweep.runs[N.FIT_TIME], sweep.excluded[N.FIT_TIME]]).dropna()
    out = {
        N.POINTS_FINISHED: float(len(finished.drop_duplicates())),
        N.TOTAL_FIT_TIME: math.fsum(fit_times.astype(float)),  # every FINISHED child's, used in the means or not
    }
    if selection.best_level is not None:
        best = by_level(sweep.runs).loc[selection.best_level]
        out |= {
            N.BEST_LEVEL: float(selection.best_level),
            N.BEST_LEVEL_VAL_ACC: float(best.val_acc),
            N.BEST_LEVEL_TEST_ACC: float(best.test_acc),
        }
    if selection.level is not None:
        out[N.RECOMMENDED_LEVEL] = float(selection.level)
    return {k: v for k, v in out.items() if not math.isnan(v)}


def choice_text(selection: Selection) -> str:
    """Which level is best on validation, which one is recommended, and why they differ (Markdown)."""
    if selection.level is None:
        return f"No level is recommended yet: {selection.reason}."
    best, k = selection.best_level, selection.level
    said = (
        f"`{N.BEST_LEVEL}` = {best}: the level with the highest mean validation accuracy. "
        f"`{N.RECOMMENDED_LEVEL}` = {k}: the level with the fewest trainable parameters among the best and "
        "the levels within noise of it (McNemar's exact test on the paired validation predictions), the level "
        "whose run `freeze-study register` registers and the report recommends."
    )
    if k == best:
        return f"{said} They agree: no level with fewer trainable parameters is within noise of freeze={best}."
    rows = selection.evidence.set_index(FREEZE)
    row, params = rows.loc[k], rows[N.TRAINABLE_PARAMS]
    return (
        f"{said} They differ: freeze={k} is {row['verdict']} (p = {row['pvalue']:.3g} over "
        f"{int(row['images'])} paired validation images) and trains {int(params[k]):,} parameters to "
        f"freeze={best}'s {int(params[best]):,}, so the rule prefers it."
    )


def describe(parent, sweep: Sweep, selection: Selection) -> str:
    """The parent run's description (Markdown): the grid, how to read it, links to its children, the results."""
    params, experiment_id = parent.data.params, parent.info.experiment_id
    get = params.get
    weights = get(N.WEIGHTS_PARAM, "?")
    caveat = " (random init: these accuracies do not measure transfer from ImageNet)" if weights == "none" else ""
    children = ui.in_page(ui.children_url(experiment_id, parent.info.run_id))
    compare = ui.in_page(ui.compare_url(experiment_id, [*sweep.runs.run_id, *sweep.excluded.run_id]))
    marks = {selection.best_level: ["best on validation"]}
    marks.setdefault(selection.level, []).append("recommended")
    lines = [
        f"### Freeze study: ResNet18, freeze levels {get(N.LEVELS_PARAM, '?')} × seeds {get(N.SEEDS_PARAM, '?')} "
        f"({get(N.GRID_SIZE_PARAM, '?')} grid points)",
        "",
        f"Data `{get(N.DATA_PARAM, '?')}`, weights `{weights}`{caveat}; epochs per grid point: at most "
        f"{get(N.EPOCHS_PARAM, '?')}, early stopping on `{N.VAL_LOSS}` (patience {get('patience', '?')}).",
        "",
        "**Reading it.** Each child run is one grid point, named `freeze=K seed=S`: the stem and the first K "
        "residual stages are frozen (0 trains everything, 4 only the classifier head). The runs list nests the "
        "children under this run: click **+** beside its name, or **Expand rows**. "
        f"[Its runs as charts]({children}) lists them on their own; [the compare page]({compare}) puts their "
        "params and metrics side by side. **Group by** → `freeze` shows each level's mean over seeds.",
        "",
        f"Choose on validation, report on test: `{N.VAL_ACC}` is measured each epoch on the validation split, "
        f"`{N.TEST_ACC}` once on the test split with the checkpoint of the lowest `{N.VAL_LOSS}` "
        f"(epoch `{N.BEST_EPOCH}`). This run's metrics: `{N.POINTS_FINISHED}`, `{N.BEST_LEVEL}`, "
        f"`{N.RECOMMENDED_LEVEL}`, `{N.BEST_LEVEL_VAL_ACC}` and `{N.BEST_LEVEL_TEST_ACC}` (the best level's means "
        f"over seeds), `{N.TOTAL_FIT_TIME}` (the children's `{N.FIT_TIME}` summed).",
        "",
        f"**Best and recommended.** {choice_text(selection)}",
        "",
        f"| freeze | runs | mean {N.VAL_ACC} | mean {N.TEST_ACC} | mean {N.FIT_TIME} |",
        "|---|---|---|---|---|",
        *(
            f"| {v.Index}{' (' + ', '.join(marks[v.Index]) + ')' if v.Index in marks else ''} | {v.n} "
            f"| {v.val_acc:.3f} | {v.test_acc:.3f} | {v.fit_time_s:.1f} |"
            for v in by_level(sweep.runs).itertuples()
        ),
    ]
    if sweep.runs.empty:
        none = "no grid point finished yet" if sweep.excluded.empty else "no finished grid point enters the means"
        lines.append(f"| ({none}) | | | | |")
    return "\n".join(lines)
