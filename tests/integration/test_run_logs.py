"""What a run logs besides its MLflow metrics: TensorBoard event files (as the original study had) and
MLflow's system metrics; and `freeze-study tensorboard`, which brings a sweep's event files to TensorBoard."""

from __future__ import annotations

import pytest

from freeze_study.cli import main
from freeze_study.config import ConfigError, SweepConfig, TrainConfig


def test_system_metrics_switch_is_checked_and_does_not_change_the_sweep():
    with pytest.raises(ConfigError, match="invalid system_metrics='maybe'"):
        TrainConfig(system_metrics="maybe")
    on, off = (SweepConfig(train=TrainConfig(system_metrics=v)) for v in ("on", "off"))
    assert on.key() == off.key()  # watching the machine changes neither the results nor what is measured
    assert main(["train", "--system-metrics", "nope"]) == 2
