"""The tested weights' evidence on a split: per-image predictions, per-class scores, confusion matrix.

`split_predictions` names the probabilities of a pass the run already made (the best
epoch's validation, the test); `scores` and `confusion` are scikit-learn's. What is
recorded, and how, is `tracking.record.evaluation`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from freeze_study.data import Data
from freeze_study.names import (
    CLASS_SCORES,
    IMAGE_COL,
    MACRO_F1,
    PREDICTED_COL,
    PROB_PREFIX,
    TRUE_COL,
    class_metric,
    split_metric,
)
from freeze_study.training.module import Outputs


@dataclass(frozen=True)
class Predictions:
    """One split's predictions: N stable image ids, N true labels, N x C class probabilities (softmax)."""

    split: str  # "validation" or "test"
    images: list[str]
    labels: np.ndarray  # int, N
    probs: np.ndarray  # float32, N x C; rows sum to 1

    @property
    def predicted(self) -> np.ndarray:
        """The predicted class index per image (argmax of the probabilities; first on ties)."""
        return self.probs.argmax(axis=1)

    def table(self, classes: tuple[str, ...]) -> pd.DataFrame:
        """image, true_class, predicted_class, prob_<class>...: one row per image, in the split's order."""
        names = np.asarray(classes, dtype=object)
        return pd.DataFrame(
            {
                IMAGE_COL: self.images,
                TRUE_COL: names[self.labels],
                PREDICTED_COL: names[self.predicted],
                **{f"{PROB_PREFIX}{c}": self.probs[:, i].astype(float) for i, c in enumerate(classes)},
            }
        )


def image_ids(data: Data, split: str) -> list[str]:
    """Stable names of a split's images: the file path relative to the data folder ('test/healthy/x.jpg'),
    or '<dataset id>:<split>[i]' for a Hugging Face dataset. They do not depend on where the data lies."""
    names = data.splits[split].names
    if not Path(data.spec).is_dir():
        return list(names)
    root = Path(data.spec)
    return [Path(n).relative_to(root).as_posix() for n in names]


def split_predictions(outputs: Outputs, data: Data, split: str) -> Predictions:
    """A validation or test pass's class probabilities (`FreezeClassifier.val_outputs` at the best epoch, or
    its `test_outputs`) as the split's predictions, named by image. The pass's loader must keep the split's
    order (the validation and test loaders do); RuntimeError if its labels disagree with the split's."""
    labels = outputs.labels.numpy()
    expected = np.asarray(data.splits[split].labels)
    if not np.array_equal(labels, expected):
        raise RuntimeError(f"the {split} loader's order differs from the split's; predictions would be misnamed")
    return Predictions(split, image_ids(data, split), labels, outputs.probs.float().numpy())


def scores(pred: Predictions, classes: tuple[str, ...]) -> dict[str, float]:
    """Per-class precision, recall and F1 and the macro-F1 (unweighted mean of the class F1s), by metric
    name (`test_f1_healthy`, `test_macro_f1`). scikit-learn's; a class never predicted scores 0, not NaN."""
    labels = list(range(len(classes)))
    precision, recall, f1, _ = precision_recall_fscore_support(
        pred.labels, pred.predicted, labels=labels, zero_division=0.0
    )
    out = {
        class_metric(pred.split, score, c): float(values[i])
        for score, values in zip(CLASS_SCORES, (precision, recall, f1), strict=True)
        for i, c in enumerate(classes)
    }
    out[split_metric(pred.split, MACRO_F1)] = float(
        f1_score(pred.labels, pred.predicted, labels=labels, average="macro", zero_division=0.0)
    )
    return out


def confusion(pred: Predictions, classes: tuple[str, ...]) -> pd.DataFrame:
    """Counts: one row per true class, one column per predicted class (scikit-learn's confusion_matrix)."""
    counts = confusion_matrix(pred.labels, pred.predicted, labels=list(range(len(classes))))
    return pd.DataFrame(counts, index=pd.Index(classes, name=TRUE_COL), columns=list(classes))
