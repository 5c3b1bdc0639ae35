"""How a config field is declared and checked: its flag's help, its scope (the study's, a host's, a place, how
workers coordinate), and the checks that name the parameter and the value when they refuse it."""

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
from collections.abc import Callable
from typing import TypeVar

from freeze_study.errors import ExpectedError
from freeze_study.text import fits, shown

# What the libraries underneath accept: NumPy seeds are 0..2**32-1 (Lightning's seed_everything refuses
# others), torch stores integers as int64; MLflow's experiments table holds names up to 256 characters.
SEED_MAX = 2**32 - 1
INT_MAX = 2**63 - 1
MAX_EXPERIMENT_NAME = 256
MAX_STUDY_NAME = 512  # Optuna's RDB storage (MAX_INDEXED_STRING_LENGTH)

T = TypeVar("T")


class Scope(enum.Enum):
    """What a field is to a sweep: only the study's settings make up its identity (its key)."""

    STUDY = "study"  # changes the results or what is measured: in the sweep key
    HOST = "host"  # this machine's own (workers, cache folder, memory): each worker sets its own
    PLACE = "place"  # where things are recorded or found (experiment, storage, study name)
    COORDINATION = "coordination"  # how workers coordinate: stored with the sweep, not in its key


def option(default: T, help: str, aliases: tuple[str, ...] = (), scope: Scope = Scope.STUDY) -> T:
    """A config field with its command-line help (and older flag spellings that still work) and its scope."""
    # typed as its default, as dataclasses.field is, so `x: int = option(0, ...)` checks the default's type
    return dataclasses.field(default=default, metadata={"help": help, "aliases": aliases, "scope": scope})


def scoped(cls: type, scope: Scope) -> tuple[str, ...]:
    """The names of the fields of dataclass `cls` declared with `scope`, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("scope") == scope)


class ConfigError(ExpectedError, ValueError):
    """An invalid parameter value; the message names the parameter and the value."""


def check(ok: bool, name: str, value: object, expected: str) -> None:
    """Raise ConfigError 'invalid NAME=VALUE: must be EXPECTED' unless `ok`."""
    if not ok:
        raise ConfigError(f"invalid {name}={fits(shown(repr(value)), 80, '…')}: must be {expected}")


def whole_field(cfg: object, name: str, low: int, high: int) -> None:
    """Field `name` of `cfg` is a whole number in low..high (2.0 counts, True does not); stored as int."""
    value = getattr(cfg, name)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and float(value).is_integer() and low <= value <= high
    high_text = "" if high == INT_MAX else f"..{high}"
    check(ok, name, value, f"a whole number in {low}{high_text}" if high_text else f"a whole number, {low} or more")
    object.__setattr__(cfg, name, int(value))


def real_field(cfg: object, name: str, expected: str, ok: Callable[[float], bool]) -> None:
    """Field `name` of `cfg` is a finite number meeting `ok`; stored as float (1 and 1.0 record alike)."""
    value = getattr(cfg, name)
    number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    check(number and ok(float(value)), name, value, expected)
    object.__setattr__(cfg, name, float(value))


def text_field(name: str, value: str | None, expected: str, optional: bool = False, limit: int = 4096) -> None:
    """A non-empty string without NUL (which no file system or database takes), at most `limit` characters."""
    if value is None and optional:
        return
    ok = isinstance(value, str) and bool(value) and "\0" not in value and len(value) <= limit
    check(ok, name, value, f"{expected} (non-empty, at most {limit} characters, no NUL)")


def one_of(name: str, value: object, choices: tuple[str, ...]) -> None:
    """`value` is one of `choices` (ConfigError listing them)."""
    check(value in choices, name, value, f"one of {', '.join(choices)}")


def whole_list(name: str, values: tuple, low: int, high: int) -> tuple[int, ...]:
    """`values` as a non-empty tuple of ints in low..high without repeats (ConfigError naming the first bad one)."""
    text = ",".join(map(str, values))
    check(bool(values), name, text, f"a comma-separated list of integers in {low}..{high}")
    ints = []
    for v in values:
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and float(v).is_integer()
        check(ok and low <= v <= high, name, text, f"a comma-separated list of integers in {low}..{high}")
        ints.append(int(v))
    check(len(set(ints)) == len(ints), name, text, "without repeats")
    return tuple(ints)
