"""Using the study's model: the image classifier MLflow serves (`classifier`), registering a chosen run
(`publish`) and predicting on image files (`predict`)."""

from freeze_study.serve import predict
from freeze_study.serve.classifier import ImageClassifier, Prediction, decode
from freeze_study.serve.publish import RegistrationError, register_run, register_sweep

__all__ = ["ImageClassifier", "Prediction", "RegistrationError", "decode", "predict", "register_run", "register_sweep"]
