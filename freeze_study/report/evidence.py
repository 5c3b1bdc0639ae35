"""Each run's per-image evidence read back: its prediction tables and its per-class scores.

Training logs them for the validation and test splits (`tracking.record.evaluation`); runs
logged before that have none, and the report then says what it cannot compute without them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.report.columns import CLASS, CORRECT, FREEZE, RUN_ID, SCORE, SEED, SPLIT, VALUE

PREDICTION_COLUMNS = [RUN_ID, FREEZE, SEED, SPLIT, N.IMAGE_COL, N.TRUE_COL, N.PREDICTED_COL, CORRECT]
SCORE_COLUMNS = [RUN_ID, FREEZE, SEED, SPLIT, CLASS, SCORE, VALUE]
MACRO = "macro"  # the CLASS of a run's macro-F1 row


def predictions(client: mlflow.MlflowClient, runs: list) -> pd.DataFrame:
    """One row per run x split x image: the image id, true and predicted class, and whether it was right.

    Runs (MLflow `Run` objects) without a readable prediction table for a split have no rows for it.
    """
    frames = []
    with tracking.quiet_downloads(), tempfile.TemporaryDirectory(prefix="freeze-study-report-") as tmp:
        for run in runs:
            run_id = run.info.run_id
            present = {a.path for a in client.list_artifacts(run_id, N.EVALUATION_ARTIFACT)}
            for split in N.EVALUATED_SPLITS:
                path = N.predictions_artifact(split)
                if path not in present:
                    continue
                local = client.download_artifacts(run_id, path, str(Path(tmp, run_id)))
                try:
                    table = pd.read_json(local, orient="split", dtype=False, convert_dates=False)
                    table = table[[N.IMAGE_COL, N.TRUE_COL, N.PREDICTED_COL]]
                except (ValueError, KeyError):  # not a prediction table: as if there were none
                    continue
                freeze, seed = tracking.sweeps.grid_point(run)
                frames.append(
                    table.assign(
                        **{
                            RUN_ID: run_id,
                            FREEZE: freeze,
                            SEED: seed,
                            SPLIT: split,
                            CORRECT: table[N.TRUE_COL] == table[N.PREDICTED_COL],
                        }
                    )
                )
    if not frames:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PREDICTION_COLUMNS]


def class_scores(runs: list) -> pd.DataFrame:
    """One row per run x split x class x score (precision, recall, f1; class "macro" for the macro-F1),
    from the metrics each run logged; classes from its `classes` param."""
    rows = []
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        key = (run.info.run_id, int(params[FREEZE]), int(params[SEED]))
        classes = [c for c in params.get(N.CLASSES_PARAM, "").split(",") if c]
        for split in N.EVALUATED_SPLITS:
            rows += [
                (*key, split, c, score, metrics[name])
                for c in classes
                for score in N.CLASS_SCORES
                if (name := N.class_metric(split, score, c)) in metrics
            ]
            if (name := N.split_metric(split, N.MACRO_F1)) in metrics:
                rows.append((*key, split, MACRO, "f1", metrics[name]))
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def paired(predictions: pd.DataFrame, split: str, run_a: str, run_b: str) -> pd.DataFrame | None:
    """Two runs' right/wrong on the same images of `split`: columns a, b (bool), one row per image; None
    when either run has no table for the split or the two tables name different images."""
    a = predictions[(predictions[RUN_ID] == run_a) & (predictions[SPLIT] == split)].set_index(N.IMAGE_COL)
    b = predictions[(predictions[RUN_ID] == run_b) & (predictions[SPLIT] == split)].set_index(N.IMAGE_COL)
    if a.empty or b.empty or set(a.index) != set(b.index):
        return None
    return pd.DataFrame({"a": a[CORRECT].astype(bool), "b": b[CORRECT].reindex(a.index).astype(bool)})
