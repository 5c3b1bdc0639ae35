"""The config: a sweep's key and its stored form do not change under a refactoring, so a sweep started before
resumes after; a host's own settings are not part of the sweep's identity."""

from __future__ import annotations

import json

from freeze_study.config import SweepConfig, TrainConfig

# Computed with the code before the config became a package (commit 06e442c): the same inputs must keep these.
DEFAULT_KEY = "5e3a5366fa84"
GIVEN_KEY = "4ffae64292aa"
STORED = json.loads(
    '{"grace_period_s": 30, "heartbeat_s": 5, "levels": [2, 0], "max_retries": 1, "seeds": [7, 3], "train": '
    '{"accelerator": "auto", "augment": "none", "batch_size": 16, "cache_dir": "/tmp/c", "cache_disk_gib": 10.0, '
    '"cache_memory_gib": 4.0, "data": "AI-Lab-Makerere/beans", "epochs": 3, "experiment": "x", "feature_cache": "on", '
    '"freeze": 0, "log_every_n_steps": 10, "lr": 0.001, "memory_format": "auto", "num_workers": 1, "patience": 10, '
    '"precision": "auto", "seed": 42, "system_metrics": "off", "weights": "imagenet"}}'
)


def given() -> SweepConfig:
    train = TrainConfig(epochs=3, lr=1e-3, num_workers=1, experiment="x", cache_dir="/tmp/c", system_metrics="off")
    return SweepConfig(
        levels=(2, 0),
        seeds=(7, 3),
        train=train,
        heartbeat_s=5,
        grace_period_s=30,
        max_retries=1,
        storage="sqlite:///o.db",
        study_name="s",
    )


def test_sweep_keys_are_the_ones_existing_sweeps_were_started_with():
    assert SweepConfig().key() == DEFAULT_KEY
    assert given().key() == GIVEN_KEY


def test_the_stored_config_is_the_one_existing_studies_hold():
    """A study stored before a setting existed (`image_size`) reads back with that setting's default."""
    stored = {**STORED, "train": {**STORED["train"], "image_size": 224}}  # what studies store since
    assert json.loads(json.dumps(given().to_attrs())) == stored
    assert SweepConfig.from_attrs(stored, "sqlite:///o.db", "s") == given()
    back = SweepConfig.from_attrs(STORED, "sqlite:///o.db", "s")
    assert back == given() and back.key() == GIVEN_KEY


def test_a_hosts_own_settings_are_declared_on_their_fields_and_logged_flat():
    from freeze_study.config import HOST_SETTINGS, Scope, scoped

    assert HOST_SETTINGS == (
        "num_workers",
        "log_every_n_steps",
        "cache_memory_gib",
        "cache_disk_gib",
        "cache_dir",
        "system_metrics",
    )
    assert scoped(TrainConfig, Scope.HOST) == HOST_SETTINGS
    assert scoped(SweepConfig, Scope.COORDINATION) == ("heartbeat_s", "grace_period_s", "max_retries")
    params = TrainConfig(num_workers=2, cache_dir="/c", experiment="e").params()
    assert params["num_workers"] == "2" and params["cache_dir"] == "/c"  # the same MLflow param names as before
    assert set(params) == set(TrainConfig.__dataclass_fields__)
    changed = SweepConfig(train=TrainConfig(**{"num_workers": 0, "cache_dir": "/c", "log_every_n_steps": 1}))
    assert changed.key() == DEFAULT_KEY  # a host's settings are not the sweep's identity
