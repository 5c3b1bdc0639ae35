"""What was run, for the top of the report: weights, data, device and precision, seeds, epochs, recipe, code.

Read from the runs' params, dataset inputs and tags (every child records them), so a
reader can tell transfer learning from random initialisation before reading a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import freeze_study.names as N

RANDOM_INIT_NOTE = (
    "The network started from random initialisation (--weights none), not from ImageNet weights: "
    "these accuracies do not measure transfer from ImageNet."
)
_RECIPE = (("batch_size", "batch size"), ("lr", "learning rate"), ("patience", "early-stopping patience"))


@dataclass(frozen=True)
class Context:
    """One line per fact, as (label, text) pairs in report order, and whether every run was random init."""

    lines: list[tuple[str, str]]
    random_init: bool

    @property
    def note(self) -> str | None:
        """The sentence the report must say before any number, or None."""
        return RANDOM_INIT_NOTE if self.random_init else None


def _values(runs: list, read) -> list[str]:
    """The distinct non-empty values `read(run)` gives over `runs`, in first-seen order."""
    return list(dict.fromkeys(v for run in runs if (v := read(run))))


def _one_or_all(values: list[str], unknown: str = "not recorded") -> str:
    if not values:
        return unknown
    return values[0] if len(values) == 1 else f"differs between runs: {'; '.join(values)}"


def weights_text(weights: str, sha256: str | None) -> str:
    """'none (random initialisation)', 'imagenet (torchvision ResNet18 IMAGENET1K_V1)' or the file and digest."""
    if weights == "none":
        return "none (random initialisation)"
    if weights == "imagenet":
        return "imagenet (torchvision ResNet18_Weights.IMAGENET1K_V1)"
    return f"file {weights} (SHA-256 {sha256})" if sha256 else f"file {weights} (SHA-256 not recorded)"


def _weights(run) -> str:
    params = run.data.params
    return (
        weights_text(params[N.WEIGHTS_PARAM], params.get(N.WEIGHTS_SHA256_PARAM)) if N.WEIGHTS_PARAM in params else ""
    )


def _data(run) -> str:
    data = run.data.params.get(N.DATA_PARAM)
    if not data:
        return ""
    digests = sorted({i.dataset.digest for i in run.inputs.dataset_inputs}) if run.inputs else []
    return f"{data} (content digest {', '.join(digests) or 'not recorded'})"


def _device(run) -> str:
    params = run.data.params
    return " ".join(params.get(k, "") for k in (N.RESOLVED_ACCELERATOR_PARAM, N.RESOLVED_PRECISION_PARAM)).strip()


def describe(parent, runs: list) -> Context:
    """The context of a sweep from its parent run and its FINISHED child runs (MLflow `Run` objects);
    the parent's params (the shared config) stand in when there are no children."""
    some = runs or [parent]
    weights = _values(some, _weights)
    seeds = sorted({int(r.data.params[N.SEED_PARAM]) for r in runs if N.SEED_PARAM in r.data.params})
    epochs_run = sorted({int(r.data.metrics[N.EPOCHS_RUN]) for r in runs if N.EPOCHS_RUN in r.data.metrics})
    ran = f"; the runs trained {epochs_run[0]}–{epochs_run[-1]} epochs" if epochs_run else ""
    if len(epochs_run) == 1:
        ran = f"; every run trained {epochs_run[0]} epoch{'' if epochs_run[0] == 1 else 's'}"
    recipe = [(label, _one_or_all(_values(some, lambda r, k=k: r.data.params.get(k, "")))) for k, label in _RECIPE]
    commits = _values(runs, lambda r: r.data.tags.get(N.GIT_COMMIT_TAG, ""))
    lines = [
        ("Weights", _one_or_all(weights)),
        ("Data", _one_or_all(_values(some, _data))),
        ("Device and precision", _one_or_all(_values(runs, _device))),
        ("Seeds", ", ".join(map(str, seeds)) or "not recorded"),
        (
            "Epochs",
            f"at most {_one_or_all(_values(some, lambda r: r.data.params.get(N.EPOCHS_PARAM, '')))}"
            f" (early stopping on val_loss){ran}",
        ),
        ("Recipe", ", ".join(f"{label} {value}" for label, value in recipe)),
        (
            "Code",
            f"git commit {_one_or_all(commits)}" if commits else "git commit unknown (not run from a git checkout)",
        ),
    ]
    return Context(lines, random_init=bool(weights) and all(w.startswith("none") for w in weights))
