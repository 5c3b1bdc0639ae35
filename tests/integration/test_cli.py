"""The command line: every flag documented, older spellings kept, every spelling of a number one value,
every failure one line with the right exit code."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

import freeze_study.names as N
from freeze_study.cli import build_parser, main
from tests.helpers import runs_of, sweep_args


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


# Parameters: every spelling of a number is one value; what the libraries underneath refuse is refused first.
def test_every_spelling_of_a_number_is_one_config():
    from freeze_study.cli import train_config

    parse = build_parser().parse_args
    a = train_config(parse(["train", "--lr", "1e-4", "--epochs", "2.0", "--seed", "4.2e1"]))
    b = train_config(parse(["train", "--lr", "0.0001", "--epochs", "2", "--seed", "42"]))
    assert a == b and a.params() == b.params() and a.params()["lr"] == "0.0001" and a.params()["epochs"] == "2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "inf"], "invalid lr=inf: must be a finite number greater than 0"),
        (["--lr", "nan"], "invalid lr=nan: must be a finite number greater than 0"),
        (["--seed", "4294967296"], "invalid seed=4294967296: must be a whole number in 0..4294967295"),
        (["--epochs", "2.5"], "invalid epochs=2.5: must be a whole number, 1 or more"),
        (["--cache-memory-gib", "inf"], "invalid cache_memory_gib=inf: must be a finite number of GiB"),
        (["--experiment", "x" * 300], "invalid experiment='xxxxxxxx"),
        (["--precision", "16-mixed", "--accelerator", "cpu"], "invalid precision='16-mixed' on the CPU"),
    ],
)
def test_values_the_libraries_refuse_are_refused_by_name_before_a_run(store, tiny_config, capsys, args, message):
    assert main(["train", "--data", tiny_config.data, "--weights", "none", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"freeze-study: error: {message}") and err.count("\n") == 1  # no run: no MLflow lines
    assert runs_of(store) == []


def test_cuda_without_a_gpu_is_refused(store, tiny_config, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert main(["train", "--data", tiny_config.data, "--accelerator", "cuda"]) == 2
    assert "invalid accelerator='cuda': torch sees no CUDA device here" in capsys.readouterr().err


def test_sweep_seeds_numpy_cannot_take_are_refused(store, tiny_config, capsys):
    args = sweep_args(tiny_config, "4", "1")
    args[args.index("--seeds") + 1] = "1,4294967296"
    assert main(args) == 2
    assert "invalid seeds='1,4294967296': must be a comma-separated list of integers in 0..4294967295" in (
        capsys.readouterr().err
    )


# Failures: expected ones in one line, a bug in one line with its traceback kept.
def test_a_bug_is_one_line_with_the_traceback_in_the_run_and_with_debug(store, tiny_config, capsys, monkeypatch):
    train_module = importlib.import_module("freeze_study.training.train")  # the module, not the function

    def broken(*args, **kwargs):
        return {}["no such key"]  # a bug in our own code, past the checks

    monkeypatch.setattr(train_module, "prepare", broken)
    args = ["train", "--data", tiny_config.data, "--weights", "none", "--num-workers", "0"]
    assert main(args) == 1
    err = capsys.readouterr().err.splitlines()[-1]  # after MLflow's own log lines
    assert err == (
        "freeze-study: internal error: KeyError: 'no such key' (a bug: its traceback is in the run's `error` tag, "
        "or run again with --debug)"
    )
    (run,) = runs_of(store)
    tag = run.data.tags[N.ERROR_TAG]
    assert run.info.status == N.FAILED and tag.startswith("KeyError: 'no such key'\n\nTraceback (most recent")
    assert "in broken" in tag
    assert main([*args, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.endswith("or run again with --debug)\n")


def test_a_bad_file_with_a_non_utf8_name_is_one_line_on_the_terminal_and_in_the_run(store, tiny_config, capsys):
    import os

    folder = os.fsencode(Path(tiny_config.data) / "test" / "healthy")
    Path(os.fsdecode(folder + b"/r\xe9colte.jpg")).write_bytes(b"not a jpeg")
    assert main(["train", "--data", tiny_config.data, "--weights", "none", "--num-workers", "0"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("freeze-study: error: cannot decode image ") and "/r\\xe9colte.jpg: cannot identify" in err
    (run,) = runs_of(store)
    assert run.info.status == N.FAILED and "r\\xe9colte.jpg" in run.data.tags[N.ERROR_TAG]


def test_an_interrupt_is_one_line_exit_130_and_the_run_killed(store, tiny_config, capsys, monkeypatch):
    train_module = importlib.import_module("freeze_study.training.train")
    monkeypatch.setattr(train_module, "prepare", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt("signal 15")))
    assert main(["train", "--data", tiny_config.data, "--weights", "none"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "freeze-study: interrupted (signal 15)"
    (run,) = runs_of(store)
    assert run.info.status == N.KILLED and run.data.tags[N.ERROR_TAG] == "KeyboardInterrupt: signal 15"


def test_an_interrupt_during_fit_is_one_line_exit_130_too(store, tiny_config, capsys, monkeypatch):
    """Lightning catches the interrupt, shuts down and exits with 1: still an interrupt to the user."""
    from freeze_study.training.module import FreezeClassifier

    def interrupted(self, batch, batch_idx):
        raise KeyboardInterrupt("signal 15")

    monkeypatch.setattr(FreezeClassifier, "training_step", interrupted)
    args = ["train", "--data", tiny_config.data, "--weights", "none", "--epochs", "1", "--num-workers", "0"]
    assert main([*args, "--image-size", str(tiny_config.image_size)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "freeze-study: interrupted (signal 15)"
    (run,) = runs_of(store)
    assert run.info.status == N.KILLED and run.data.tags[N.ERROR_TAG] == "KeyboardInterrupt: signal 15"


def test_a_file_system_error_naming_its_file_is_expected_in_the_exit_code_and_in_the_runs_tag(capsys):
    """One definition (`errors.is_expected`): exit 2 on the terminal, and no traceback in the run's `error` tag."""
    from freeze_study.cli.exits import EXPECTED, failed
    from freeze_study.tracking.runs import error_tag

    exc = FileNotFoundError(2, "No such file or directory", "/data/missing.jpg")
    assert failed(exc, None, debug=False) == EXPECTED == 2
    assert capsys.readouterr().err == "freeze-study: error: [Errno 2] No such file or directory: '/data/missing.jpg'\n"
    assert error_tag(exc) == "FileNotFoundError: [Errno 2] No such file or directory: '/data/missing.jpg'"
    nameless = OSError("something went wrong")  # names no file: a bug, its traceback kept
    assert failed(nameless, None, debug=False) == 1 and error_tag(nameless).startswith(
        "OSError: something went wrong\n\n"
    )


def test_train_and_worker_take_every_spelling_of_a_whole_number_alike():
    """A worker's own settings are flags built from the same config fields as `train`'s: '2.0' is 2 for both,
    and a fraction is refused by name by both."""
    from freeze_study.cli import train_config, worker_config
    from freeze_study.config import ConfigError, SweepConfig

    parse = build_parser().parse_args
    train = train_config(parse(["train", "--num-workers", "2.0"]))
    worker = worker_config(parse(["worker", "--storage", "sqlite:///x.db", "--num-workers", "2.0"]))
    joined = SweepConfig.from_attrs(SweepConfig().to_attrs(), worker.storage, "s", **worker.local)
    assert train.num_workers == joined.train.num_workers == 2 and type(joined.train.num_workers) is int
    assert worker.local["cache_dir"] is None  # not given: the sweep's
    message = "invalid num_workers=2.5: must be a whole number, 0 or more"
    with pytest.raises(ConfigError, match=message):
        train_config(parse(["train", "--num-workers", "2.5"]))
    worker = worker_config(parse(["worker", "--storage", "sqlite:///x.db", "--num-workers", "2.5"]))
    with pytest.raises(ConfigError, match=message):
        SweepConfig.from_attrs(SweepConfig().to_attrs(), worker.storage, "s", **worker.local)


def test_the_worker_needs_its_storage_and_says_its_settings_default_to_the_sweeps():
    worker = subcommands()["worker"]
    flags = {a.dest: a for a in worker._actions}
    assert flags["storage"].required and flags["study"].option_strings == ["--study"]
    assert flags["num_workers"].default is None and flags["num_workers"].help.endswith("(default: the sweep's)")
    assert "epochs" not in flags  # the sweep's, read from its study
    with pytest.raises(Exception, match="the following arguments are required: --storage"):
        build_parser().parse_args(["worker"])
