"""The command line documents every flag, and older flag spellings keep working."""

from __future__ import annotations

import argparse

import pytest

from freeze_study.cli import build_parser


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("command", ["train", "sweep", "report", "ui", "tensorboard", "bench"])
def test_every_flag_has_help(command):
    parser = subcommands()[command]
    undocumented = [a.option_strings for a in parser._actions if a.option_strings and not (a.help or "").strip()]
    assert not undocumented
    assert len([a for a in parser._actions if a.option_strings]) > 3


def test_help_comes_from_the_config_fields():
    from freeze_study.config import TrainConfig

    train = {a.dest: a for a in subcommands()["train"]._actions}
    for name, field in TrainConfig.__dataclass_fields__.items():
        assert train[name].help.startswith(field.metadata["help"]), name
        assert train[name].default == field.default, name


def test_old_spellings_of_renamed_flags_still_work():
    parse = build_parser().parse_args
    assert parse(["train", "--cache-memory-gb", "0.5"]).cache_memory_gib == 0.5
    assert parse(["train", "--cache_memory_gb", "0.25"]).cache_memory_gib == 0.25  # as `mlflow run -P` passes it
    assert parse(["sweep", "--study_name", "s", "--levels", "1,3"]).levels == (1, 3)
