"""The classifier as MLflow logs and loads it from code (models-from-code): MLflow runs this file when it
loads the model; the package never imports it."""

import mlflow

from freeze_study.serve.classifier import ImageClassifier

mlflow.models.set_model(ImageClassifier())
