"""Column names of the report's tidy tables, defined once; the first three are the params training logs."""

from __future__ import annotations

import freeze_study.names as N

FREEZE, SEED, FROZEN_STAGES = N.FREEZE_PARAM, N.SEED_PARAM, N.FROZEN_STAGES_PARAM
RUN_ID, EPOCH, METRIC, VALUE = "run_id", "epoch", "metric", "value"
REASON = "reason"  # why a FINISHED run is left out of the means
SPLIT, CORRECT = "split", "correct"  # a prediction's data split; whether its predicted class is the true one
CLASS, SCORE = "class", "score"  # a per-class score's class name and kind (precision, recall, f1)
