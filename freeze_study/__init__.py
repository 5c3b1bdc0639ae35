"""freeze_study: how much of a pretrained ResNet18 must be fine-tuned on Beans? Tracked in MLflow.

One folder per concern (the README's "Code layout"); the order in which they may import each other is written
once, as the layer table `LAYERS` in `tests/unit/test_layout.py`.
"""
