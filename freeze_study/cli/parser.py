"""The flags of every sub-command, built from config dataclass fields: one `--flag` per field, typed and
defaulted from it, with the field's help text; a usage error is a ConfigError like any invalid parameter."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from freeze_study.config import ConfigError, Scope, TrainConfig

MODEL_NAME_HELP = "registered model name (default: <experiment>-resnet18, e.g. freeze-study-resnet18)"


def _number(text: str) -> float:
    """Any spelling of a number ('1e-4', '0.0001', ' 1E-04'): the config checks its range and records it once."""
    return float(text)


def _whole(text: str) -> int | float:
    """'2', '2.0', '2e0', '+2' -> 2; a fraction is passed on for the config to refuse by name."""
    try:
        return int(text)
    except ValueError:
        value = float(text)
        return int(value) if value.is_integer() else value


_number.__name__, _whole.__name__ = "float", "int"  # argparse says "invalid int value: 'two'"


def _int_list(text: str) -> tuple[int | float, ...]:
    try:
        return tuple(_whole(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


_TYPES = {"int": _whole, "float": _number, "tuple[int, ...]": _int_list}


class Parser(argparse.ArgumentParser):
    """Usage errors become ConfigError, so `main` reports them like any invalid parameter."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message}")


def add_fields(
    parser: argparse.ArgumentParser,
    cls: type,
    skip: tuple[str, ...] = (),
    only: tuple[str, ...] | None = None,
    scope: Scope | None = None,
    inherit: str | None = None,
    required: tuple[str, ...] = (),
) -> None:
    """One --flag per field of the dataclass `cls` (also spelled --snake_case, as `mlflow run -P` passes
    them), typed and defaulted from the field, with the field's help text; a bool field is a switch.

    `skip` leaves fields out; `only` or `scope`, when given, keep just those fields. With `inherit`, every
    flag defaults to None, said as '(default: <inherit>)' (a worker's own settings: else the sweep's).
    `required` fields must be given.
    """
    for f in dataclasses.fields(cls):
        if f.name in skip or "help" not in f.metadata or (only is not None and f.name not in only):
            continue
        if scope is not None and f.metadata.get("scope") != scope:
            continue
        names = (f.name, *f.metadata.get("aliases", ()))
        flags = [flag for n in names for flag in dict.fromkeys([f"--{n.replace('_', '-')}", f"--{n}"])]
        if str(f.type) == "bool":
            parser.add_argument(*flags, dest=f.name, action="store_true", help=f.metadata["help"])
            continue
        default = None if inherit else f.default
        shown = inherit or (",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default)
        said = not inherit and (default is None or "default" in f.metadata["help"])  # the help text says it already
        parser.add_argument(
            *flags,
            dest=f.name,
            type=_TYPES.get(str(f.type), str),
            default=default,
            required=f.name in required,
            help=f.metadata["help"] + ("" if said else f" (default: {shown})"),
        )


def fields_of(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The parsed values of the fields of dataclass `cls`."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def train_config(args: argparse.Namespace, **changes: Any) -> TrainConfig:
    """The TrainConfig named by the parsed flags."""
    return TrainConfig(**{**fields_of(TrainConfig, args), **changes})


def add_experiment(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    """--experiment, and with `sweep` --sweep: which experiment, and which of its sweeps."""
    if sweep:
        p.add_argument("--sweep", default=None, help="parent run id of the sweep (default: the latest)")
    p.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else freeze-study)"
    )
