"""Names that are a contract with MLflow, Optuna and users' saved queries, defined once.

Stage names, param, metric and tag names, run roles and run statuses: training,
sweep, report and tests import them from here, so a rename happens in one place.
Pure constants and string helpers: no imports beyond the standard library, no dataclasses, no environment
look-ups (the run statuses are spelled out; `tests/unit/test_layout.py` checks them against MLflow's).
"""

from __future__ import annotations

import re

# ResNet18's stages in forward order: the stem (conv1, bn1, relu, maxpool), then the four residual stages.
STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
MAX_FREEZE = len(STAGES) - 1
DEFAULT_EXPERIMENT = "freeze-study"
DEFAULT_DATA = "AI-Lab-Makerere/beans"
IMAGE_SIZE = 224  # pixels: torchvision's ImageNet evaluation size for ResNet18, the default of `image_size`
IMAGE_SIZE_KEY = "image_size"  # a logged network's metadata: the size its images are decoded to

# Params the sweep and the report read back (besides every TrainConfig field).
FREEZE_PARAM, SEED_PARAM, FROZEN_STAGES_PARAM = "freeze", "seed", "frozen_stages"
CLASSES_PARAM, PREPROCESSING_PARAM = "classes", "preprocessing"
RESOLVED_ACCELERATOR_PARAM, RESOLVED_PRECISION_PARAM = "resolved_accelerator", "resolved_precision"
# A precision's autocast dtype (torch's name; any other precision is fp32): what a run evaluates in, and what its
# served model runs in (the logged model's metadata holds RESOLVED_PRECISION_PARAM).
FP32_PRECISION, AUTOCAST_DTYPES = "32-true", {"16-mixed": "float16", "bf16-mixed": "bfloat16"}
RESOLVED_MEMORY_FORMAT_PARAM = "resolved_memory_format"  # channels_last or contiguous, as `memory_format=auto` chose
LEVELS_PARAM, SEEDS_PARAM, GRID_SIZE_PARAM = "levels", "seeds", "grid_size"  # on a sweep's parent run
WEIGHTS_PARAM, DATA_PARAM, EPOCHS_PARAM = "weights", "data", "epochs"  # TrainConfig fields the report reads
WEIGHTS_SHA256_PARAM = "weights_sha256"  # the starting weights file's SHA-256, when --weights is a file

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

# The tested checkpoint's per-image evidence, on the validation and the test split.
EVALUATED_SPLITS = {"validation": "val", "test": "test"}  # data split -> prefix of its metric names
MACRO_F1 = "macro_f1"  # f"{prefix}_macro_f1": val_macro_f1, test_macro_f1
CLASS_SCORES = ("precision", "recall", "f1")  # f"{prefix}_{score}_{class}": test_recall_bean_rust
EVALUATION_ARTIFACT = "evaluation"  # the folder of a run's predictions and confusion matrices
IMAGE_COL, TRUE_COL, PREDICTED_COL, PROB_PREFIX = "image", "true_class", "predicted_class", "prob_"

# What the feature cache records on a run (cache_build_s also on a sweep's parent: all levels' features in one pass).
CACHE_BYTES, CACHE_BUILD_TIME, CACHE_SPILLED = "cache_bytes", "cache_build_s", "cache_spilled_bytes"
FEATURE_CACHE_TAG, FEATURE_CACHE_REASON_TAG = "feature_cache", "feature_cache_reason"
# "shared": prefix outputs from the persistent store (seed-independent weights); "run": computed for this run only.
FEATURE_CACHE_SCOPE_TAG = "feature_cache_scope"
FEATURE_CACHE_SCOPE_REASON_TAG = "feature_cache_scope_reason"  # why a run's features are its own, not shared
FEATURE_CACHE_ENTRY_TAG = (
    "feature_cache_entry"  # the store key of the run's features, as `freeze-study cache list` shows
)
SHARED_SCOPE, RUN_SCOPE = "shared", "run"

# The fixed costs of a run, in seconds, besides cache_build_s and the epochs: where a run's time goes.
DATA_CHECK_TIME, DATA_DIGEST_TIME = "data_check_s", "data_digest_s"  # verifying the images; hashing the data
TEST_TIME, MODEL_LOG_TIME = "test_time_s", "model_log_s"  # the test split; logging the model
EVIDENCE_LOG_TIME = "evidence_log_s"  # logging the prediction tables, class scores and confusion matrices

# Tags.
ERROR_TAG = "error"  # the reason a run FAILED or was KILLED, on the run itself
ROLE_TAG = "freeze_study.role"  # SWEEP_ROLE on a sweep's parent run, TRIAL_ROLE on each child run
SWEEP_ROLE, TRIAL_ROLE = "sweep", "trial"
GRID_POINT_TAG = "freeze_study.grid_point"  # "freeze=2 seed=42" on each child
SWEEP_KEY_TAG = "freeze_study.sweep_key"  # hash of the grid and the shared training config
RESUMED_TAG = "freeze_study.resumed_sweep"  # on an `mlflow run -e sweep` run that resumed or joined another parent
STUDY_NAME_TAG = "optuna.study_name"  # on the parent and each child
STORAGE_TAG = "optuna.storage"  # on the parent: where the study lives (password hidden)
TRIAL_NUMBER_TAG = "optuna.trial_number"  # on each child
WORKER_TAG = "freeze_study.worker"  # "host:pid" of the process that trained a child
PARENT_RUN_TAG = "mlflow.parentRunId"  # set by MLflow on nested runs
RUN_NAME_TAG = "mlflow.runName"
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own tag; set from the package's checkout when MLflow did not

# Optuna study and trial user attributes.
PARENT_RUN_ATTR, EXPERIMENT_ID_ATTR = "mlflow_parent_run_id", "mlflow_experiment_id"  # on the study
SWEEP_CONFIG_ATTR = "freeze_study_config"  # on the study: the grid, the shared training config, coordination
TRACKING_URI_ATTR = "mlflow_tracking_uri"  # on the study, when it holds no password
RUN_ID_ATTR, FAIL_REASON_ATTR = "mlflow_run_id", "fail_reason"  # on a trial
GRID_POINT_ATTR = "grid_point"  # on a trial, from the moment it is queued (and on its retries)
# Optuna trial system attributes a worker keeps up to date while it holds a trial.
WORKER_ATTR, HEARTBEAT_ATTR = "freeze_study:worker", "freeze_study:last_heartbeat"  # "host:pid", ISO time (UTC)

# Metrics on a sweep's parent run.
WORKERS_METRIC = "workers"  # how many worker processes trained its children

# Temporary folders a run writes, named "<prefix><pid>@<host>-<random>" so that an orphan can be recognised.
FEATURES_SCRATCH, RUN_SCRATCH = "features-", "freeze-study-run-"

# A sweep's parent run: summary metrics a chart can show, logged at each grid point's step count.
POINTS_FINISHED = "points_finished"  # grid points with a FINISHED child
BEST_LEVEL = "best_level"  # the freeze level with the highest mean validation accuracy (chosen on validation)
# The level the report's selection rule recommends (`report.select_level`): the fewest trainable parameters among
# the best level and those within noise of it on validation; the level whose run is registered.
RECOMMENDED_LEVEL = "recommended_level"
BEST_LEVEL_VAL_ACC, BEST_LEVEL_TEST_ACC = "best_level_val_acc", "best_level_test_acc"  # its means over seeds
TOTAL_FIT_TIME = "total_fit_time_s"  # fit_time_s summed over the finished children
SWEEP_METRICS = (
    POINTS_FINISHED,
    BEST_LEVEL,
    RECOMMENDED_LEVEL,
    BEST_LEVEL_VAL_ACC,
    BEST_LEVEL_TEST_ACC,
    TOTAL_FIT_TIME,
)

# What the MLflow UI reads.
NOTE_TAG = "mlflow.note.content"  # a run's description (Markdown), shown on its page
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # the experiment's kind, as the UI's JS bundle spells it
MODEL_TRAINING_KIND = "custom_model_development"  # "Model training" (the UI's other kind is genai_development)

# TensorBoard: each run's event files, under this artifact folder; hparams metrics under this prefix.
TENSORBOARD_ARTIFACT = "tensorboard"
HPARAM_METRIC_PREFIX = "hp/"

# MLflow run statuses, as the store spells them (`mlflow.entities.RunStatus.to_string`).
FINISHED, RUNNING, FAILED, KILLED = "FINISHED", "RUNNING", "FAILED", "KILLED"

# The model each run logs, under this artifact path; the run's config and class names, exactly, beside it.
MODEL_ARTIFACT = "model"
CONFIG_ARTIFACT, CLASSES_ARTIFACT = "config.json", "classes.json"
GRID_ARTIFACT = "grid.json"  # on a sweep's parent: every level and seed, however many
# Config fields MLflow's Lightning autolog logs too, under the same name (Trainer.max_epochs, EarlyStopping).
AUTOLOG_PARAMS = ("epochs", "patience")
REPORT_ARTIFACT = "report"  # the report's folder on a sweep's parent run

# The Model Registry: the chosen run's classifier (image bytes -> class), registered under a name.
CLASSIFIER_ARTIFACT = "classifier"  # the pyfunc logged with the chosen run (an MLflow LoggedModel of that name)
NETWORK_ARTIFACT = "network"  # the torch network inside it, as a pt2 (torch.export) MLflow pytorch model
CHAMPION_ALIAS = "champion"  # the version applications load: models:/<name>@champion
CHALLENGER_ALIAS = "challenger"  # a newer choice that did not beat the champion on validation accuracy
REGISTERED_MODEL_SUFFIX = "-resnet18"  # the default registered name: <experiment>-resnet18
# Version tags (besides FREEZE_PARAM, SEED_PARAM, VAL_ACC and TEST_ACC).
SWEEP_ID_TAG = "sweep_id"  # the sweep's parent run id
SELECTION_RULE_TAG = "selection_rule"  # the report's rule that chose the level


def grid_point_name(freeze: int, seed: int) -> str:
    """'freeze=2 seed=42': a grid point's name, used as the child run's name and its grid-point tag."""
    return f"freeze={freeze} seed={seed}"


def registered_model_name(experiment: str) -> str:
    """'freeze-study-resnet18': the registered model's default name, derived from the experiment's name
    ('/' and ':', which registered names cannot hold, become '-')."""
    return experiment.replace("/", "-").replace(":", "-").strip("-") + REGISTERED_MODEL_SUFFIX


def split_metric(split: str, name: str) -> str:
    """'test_macro_f1': a metric of the tested checkpoint on a data split ("validation" or "test")."""
    return f"{EVALUATED_SPLITS[split]}_{name}"


def class_metric(split: str, score: str, class_name: str) -> str:
    """'test_recall_bean_rust': one class's precision, recall or F1 on a split (odd characters become '_')."""
    return split_metric(split, f"{score}_{re.sub(r'[^0-9A-Za-z_.-]', '_', class_name)}")


def predictions_artifact(split: str) -> str:
    """'evaluation/test_predictions.json': the split's per-image predictions, an MLflow table."""
    return f"{EVALUATION_ARTIFACT}/{split}_predictions.json"


def confusion_artifact(split: str, suffix: str = "csv") -> str:
    """'evaluation/test_confusion_matrix.csv' (counts, true class by row) or '.png' (the same, drawn)."""
    return f"{EVALUATION_ARTIFACT}/{split}_confusion_matrix.{suffix}"
