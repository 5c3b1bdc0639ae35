"""freeze_study: how much of a pretrained ResNet18 must be fine-tuned on Beans? Tracked in MLflow."""
