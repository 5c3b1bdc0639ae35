"""What a sweep is configured with: its grid, the training config every point shares, where its Optuna study
lives and how its workers coordinate; its key (its identity), and its round trip through the study's attributes.

Only the study's settings make up the key: a host's own settings (`Scope.HOST`), places
(`Scope.PLACE`) and coordination (`Scope.COORDINATION`) do not, so a worker with other
settings joins the same sweep, and a sweep started before resumes after.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from freeze_study.config.fields import (
    INT_MAX,
    MAX_STUDY_NAME,
    SEED_MAX,
    Scope,
    check,
    option,
    scoped,
    text_field,
    whole_field,
    whole_list,
)
from freeze_study.config.train import HOST_SETTINGS, KEYED_ONLY_OFF_DEFAULT, TrainConfig
from freeze_study.names import FREEZE_PARAM, MAX_FREEZE, SEED_PARAM

PLACE, COORDINATION = Scope.PLACE, Scope.COORDINATION


@dataclass(frozen=True)
class SweepConfig:
    """A grid of (freeze level, seed) over one shared training config."""

    levels: tuple[int, ...] = option(tuple(range(MAX_FREEZE + 1)), "freeze levels, comma-separated")
    seeds: tuple[int, ...] = option((42,), "seeds, comma-separated")
    train: TrainConfig = TrainConfig()  # its freeze and seed are replaced per grid point
    storage: str | None = option(
        None,
        "Optuna storage URL (default: optuna.db beside the SQLite MLflow store; "
        "SQLite is for one writer: use PostgreSQL or MySQL for many workers)",
        scope=PLACE,
    )
    study_name: str | None = option(
        None, "Optuna study name (default: freeze-study-<experiment id>-<sweep key>)", scope=PLACE
    )
    heartbeat_s: int = option(
        10, "seconds between a worker's heartbeats for the grid point it trains (PostgreSQL)", scope=COORDINATION
    )
    grace_period_s: int = option(
        60,
        "seconds without a heartbeat after which a grid point's worker counts as lost and the point is retried",
        scope=COORDINATION,
    )
    max_retries: int = option(
        2, "times a lost grid point is queued again before the sweep reports it FAILED", scope=COORDINATION
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", whole_list("levels", self.levels, 0, MAX_FREEZE))
        object.__setattr__(self, "seeds", whole_list("seeds", self.seeds, 0, SEED_MAX))
        text_field("storage", self.storage, "a storage URL", optional=True)
        text_field("study_name", self.study_name, "a study name", optional=True, limit=MAX_STUDY_NAME)
        whole_field(self, "heartbeat_s", 1, INT_MAX)
        whole_field(self, "grace_period_s", 1, INT_MAX)
        check(
            self.grace_period_s > self.heartbeat_s,
            "grace_period_s",
            self.grace_period_s,
            f"more than heartbeat_s ({self.heartbeat_s})",
        )
        whole_field(self, "max_retries", 0, INT_MAX)

    @property
    def grid(self) -> list[tuple[int, int]]:
        """(freeze, seed) points in run order."""
        return [(k, s) for k in self.levels for s in self.seeds]

    def shared_params(self) -> dict[str, str]:
        """The training config every grid point shares (freeze and seed vary, the experiment is a place)."""
        left_out = (FREEZE_PARAM, SEED_PARAM, *scoped(TrainConfig, PLACE))
        return {k: v for k, v in self.train.params().items() if k not in left_out}

    def to_attrs(self) -> dict[str, object]:
        """What every worker of the sweep trains with, as JSON for the Optuna study's user attributes.

        A local data folder is stored as its real path (as in the sweep key), so a worker started
        elsewhere finds the same folder; the storage and the study name are where it is read from.
        """
        train = {**dataclasses.asdict(self.train), "data": self.train.data_identity()}
        return {
            "levels": list(self.levels),
            "seeds": list(self.seeds),
            "train": train,
            **{k: getattr(self, k) for k in scoped(SweepConfig, COORDINATION)},
        }

    @classmethod
    def from_attrs(cls, attrs: dict, storage: str, study_name: str, **local: object) -> SweepConfig:
        """The config `to_attrs` stored, with this host's values (`local`, None: the stored one) of its own settings.

        Raises ConfigError if a `local` name is not a host's setting (`Scope.HOST` of TrainConfig).
        """
        wrong = sorted(set(local) - set(HOST_SETTINGS))
        check(not wrong, "local settings", wrong, f"among {', '.join(HOST_SETTINGS)}")
        train = TrainConfig(**{**attrs["train"], **{k: v for k, v in local.items() if v is not None}})
        coordination = {k: attrs[k] for k in scoped(SweepConfig, COORDINATION) if k in attrs}
        return cls(tuple(attrs["levels"]), tuple(attrs["seeds"]), train, storage, study_name, **coordination)

    def key(self) -> str:
        """Same grid and shared config, same key: running it again resumes that sweep.

        A host's own settings, which change neither the results nor what is measured, are left out.
        """
        shared = {k: v for k, v in self.shared_params().items() if k not in HOST_SETTINGS}
        shared["data"] = self.train.data_identity()
        for name, default in KEYED_ONLY_OFF_DEFAULT.items():
            if getattr(self.train, name) == default:
                del shared[name]
        text = repr((sorted(self.levels), sorted(self.seeds), sorted(shared.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class WorkerConfig:
    """A worker joining a running sweep: where its study is. What it trains is the config the study stores,
    with this host's own settings (`local`: names of `Scope.HOST` fields of TrainConfig; None: the sweep's)."""

    storage: str | None = option(
        None, "the sweep's Optuna storage URL, e.g. postgresql://USER@HOST/optuna", scope=PLACE
    )
    study: str | None = option(None, "the sweep's Optuna study name (default: the storage's only study)", scope=PLACE)
    local: dict[str, object] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        text_field("storage", self.storage, "a storage URL")
        text_field("study", self.study, "a study name", optional=True, limit=MAX_STUDY_NAME)
        wrong = sorted(set(self.local) - set(HOST_SETTINGS))
        check(not wrong, "local settings", wrong, f"among {', '.join(HOST_SETTINGS)}")
