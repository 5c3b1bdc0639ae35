"""Names that are a contract with MLflow, Optuna and users' saved queries, defined once.

Stage names, param, metric and tag names, run roles and run statuses: training,
sweep, report and tests import them from here, so a rename happens in one place.
Pure constants: no dataclasses, no environment look-ups.
"""

from __future__ import annotations

from mlflow.entities import RunStatus

# ResNet18's stages in forward order: the stem (conv1, bn1, relu, maxpool), then the four residual stages.
STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
MAX_FREEZE = len(STAGES) - 1
DEFAULT_EXPERIMENT = "freeze-study"
DEFAULT_DATA = "AI-Lab-Makerere/beans"

# Params the sweep and the report read back (besides every TrainConfig field).
FREEZE_PARAM, SEED_PARAM, FROZEN_STAGES_PARAM = "freeze", "seed", "frozen_stages"
CLASSES_PARAM, PREPROCESSING_PARAM = "classes", "preprocessing"
RESOLVED_ACCELERATOR_PARAM, RESOLVED_PRECISION_PARAM = "resolved_accelerator", "resolved_precision"
LEVELS_PARAM, SEEDS_PARAM, GRID_SIZE_PARAM = "levels", "seeds", "grid_size"  # on a sweep's parent run
EXPERIMENT_FIELD = "experiment"  # a TrainConfig field that is a place, not a setting: never in the sweep key

# Metric names.
TRAIN_LOSS, TRAIN_ACC = "train_loss", "train_acc"
VAL_LOSS, VAL_ACC = "val_loss", "val_acc"
TEST_LOSS, TEST_ACC = "test_loss", "test_acc"
EPOCH_TIME = "epoch_time_s"
FIT_TIME = "fit_time_s"
TRAINABLE_PARAMS, TOTAL_PARAMS = "trainable_params", "total_params"
BEST_EPOCH, EPOCHS_RUN = "best_epoch", "epochs_run"
EPOCH_METRICS = (TRAIN_LOSS, TRAIN_ACC, VAL_LOSS, VAL_ACC, EPOCH_TIME)
ONCE_METRICS = (TRAINABLE_PARAMS, TOTAL_PARAMS, TEST_LOSS, TEST_ACC, FIT_TIME, BEST_EPOCH, EPOCHS_RUN)
# (loss, accuracy) per data split, as the LightningModule logs them.
SPLIT_METRICS = {"train": (TRAIN_LOSS, TRAIN_ACC), "val": (VAL_LOSS, VAL_ACC), "test": (TEST_LOSS, TEST_ACC)}

# What the feature cache records on a run.
CACHE_BYTES, CACHE_BUILD_TIME, CACHE_SPILLED = "cache_bytes", "cache_build_s", "cache_spilled_bytes"
FEATURE_CACHE_TAG, FEATURE_CACHE_REASON_TAG = "feature_cache", "feature_cache_reason"

# Tags.
ERROR_TAG = "error"  # the reason a run FAILED or was KILLED, on the run itself
ROLE_TAG = "freeze_study.role"  # SWEEP_ROLE on a sweep's parent run, TRIAL_ROLE on each child run
SWEEP_ROLE, TRIAL_ROLE = "sweep", "trial"
GRID_POINT_TAG = "freeze_study.grid_point"  # "freeze=2 seed=42" on each child
SWEEP_KEY_TAG = "freeze_study.sweep_key"  # hash of the grid and the shared training config
RESUMED_TAG = "freeze_study.resumed_sweep"  # on an `mlflow run -e sweep` run that resumed an older parent
STUDY_NAME_TAG = "optuna.study_name"  # on the parent and each child
STORAGE_TAG = "optuna.storage"  # on the parent: where the study lives (password hidden)
TRIAL_NUMBER_TAG = "optuna.trial_number"  # on each child
PARENT_RUN_TAG = "mlflow.parentRunId"  # set by MLflow on nested runs
RUN_NAME_TAG = "mlflow.runName"

# Optuna study and trial user attributes.
PARENT_RUN_ATTR, EXPERIMENT_ID_ATTR = "mlflow_parent_run_id", "mlflow_experiment_id"  # on the study
RUN_ID_ATTR, FAIL_REASON_ATTR = "mlflow_run_id", "fail_reason"  # on a trial

# A sweep's parent run: summary metrics a chart can show, logged at each grid point's step count.
POINTS_FINISHED = "points_finished"  # grid points with a FINISHED child
BEST_LEVEL = "best_level"  # the freeze level with the highest mean validation accuracy (chosen on validation)
BEST_LEVEL_VAL_ACC, BEST_LEVEL_TEST_ACC = "best_level_val_acc", "best_level_test_acc"  # its means over seeds
TOTAL_FIT_TIME = "total_fit_time_s"  # fit_time_s summed over the finished children
SWEEP_METRICS = (POINTS_FINISHED, BEST_LEVEL, BEST_LEVEL_VAL_ACC, BEST_LEVEL_TEST_ACC, TOTAL_FIT_TIME)

# What the MLflow UI reads.
NOTE_TAG = "mlflow.note.content"  # a run's description (Markdown), shown on its page
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # the experiment's kind, as the UI's JS bundle spells it
MODEL_TRAINING_KIND = "custom_model_development"  # "Model training" (the UI's other kind is genai_development)
SYSTEM_METRICS_PREFIX = "system/"  # MLflow's system metrics: system/cpu_utilization_percentage, ...

# TensorBoard: each run's event files, under this artifact folder; hparams metrics under this prefix.
TENSORBOARD_ARTIFACT = "tensorboard"
HPARAM_METRIC_PREFIX = "hp/"

# MLflow run statuses, as the store spells them.
FINISHED = RunStatus.to_string(RunStatus.FINISHED)
RUNNING = RunStatus.to_string(RunStatus.RUNNING)
FAILED = RunStatus.to_string(RunStatus.FAILED)
KILLED = RunStatus.to_string(RunStatus.KILLED)

# The model each run logs, under this artifact path.
MODEL_ARTIFACT = "model"
REPORT_ARTIFACT = "report"  # the report's folder on a sweep's parent run


def grid_point_name(freeze: int, seed: int) -> str:
    """'freeze=2 seed=42': a grid point's name, used as the child run's name and its grid-point tag."""
    return f"freeze={freeze} seed={seed}"
