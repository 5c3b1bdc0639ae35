"""The environments `make install` and `mlflow run .` build list the same dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]


def test_conda_env_matches_pyproject():
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    conda = yaml.safe_load((PROJECT / "conda.yaml").read_text())["dependencies"]
    pip = next(d["pip"] for d in conda if isinstance(d, dict))
    assert sorted(pip) == sorted(pyproject)


def test_mlproject_parameters_are_train_flags():
    from freeze_study.cli import build_parser

    project = yaml.safe_load((PROJECT / "MLproject").read_text())
    main = project["entry_points"]["main"]
    assert project["conda_env"] == "conda.yaml"
    for name in main["parameters"]:
        assert f"--{name.replace('_', '-')} {{{name}}}" in main["command"], name
    train = build_parser().parse_args(["train"])
    for name, spec in main["parameters"].items():
        assert _same(spec["default"], getattr(train, name)), name


def _same(a: object, b: object) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
