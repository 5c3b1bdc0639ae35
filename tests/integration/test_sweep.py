"""The sweep: one parent, one FINISHED child per grid point, resumable, failures retried."""

from __future__ import annotations

from pathlib import Path

import pytest

import freeze_study.names as N
from freeze_study.cli import main
from freeze_study.config import SweepConfig, TrainConfig
from tests.helpers import children, runs_of, sweep_args, sweep_parents


def test_one_point_sweep(store, tiny_config):
    assert main(sweep_args(tiny_config, "4", "5")) == 0
    (parent,) = sweep_parents(store)
    assert [r.info.run_name for r in children(store, parent.info.run_id, N.FINISHED)] == ["freeze=4 seed=5"]


def test_changed_training_config_is_a_new_sweep():
    base = SweepConfig(levels=(0, 1), train=TrainConfig(epochs=3))
    assert base.key() == SweepConfig(levels=(1, 0), train=TrainConfig(epochs=3, experiment="x")).key()
    assert base.key() == SweepConfig(levels=(0, 1), train=TrainConfig(epochs=3, num_workers=1)).key()
    assert base.key() != SweepConfig(levels=(0, 1), train=TrainConfig(epochs=4)).key()
    assert base.key() != SweepConfig(levels=(0, 1, 2), train=TrainConfig(epochs=3)).key()
    assert base.key() != SweepConfig(levels=(0, 1), train=TrainConfig(epochs=3, image_size=64)).key()


@pytest.mark.parametrize(
    ("flag", "value", "message"), [("--levels", "0,5", "invalid levels=0,5"), ("--seeds", "1,1", "invalid seeds")]
)
def test_invalid_grid_is_named(store, tiny_config, capsys, flag, value, message):
    args = sweep_args(tiny_config, "0", "1")
    args[args.index(flag) + 1] = value
    assert main(args) == 2
    assert message in capsys.readouterr().err.replace("'", "")
    assert runs_of(store) == []


def test_report_without_a_sweep_says_so(store, capsys):
    assert main(["report"]) == 2
    assert "no sweep runs in experiment 'freeze-study'" in capsys.readouterr().err


def test_a_cut_image_stops_the_sweep_in_one_line_that_names_it(store, tiny_config, capsys):
    good = Path(tiny_config.data) / "test" / "healthy" / "healthy_0.jpg"
    cut = good.with_name("cut.jpg")
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # passes Image.verify()
    assert main(sweep_args(tiny_config, "0,4", "1,2")) == 2  # data every point shares: the sweep stops
    out, err = capsys.readouterr()
    progress = [line for line in out.splitlines() if line.startswith("[")]
    said = f"cannot decode image {cut}: image file is truncated ("  # "(31 bytes not processed)"
    assert len(progress) == 1 and progress[0].startswith(f"[0/4] freeze=0 seed=1 FAILED: DataError: {said}")
    assert err.splitlines()[-1].startswith(f"freeze-study: error: {said}")
    (parent,) = sweep_parents(store)
    assert parent.info.status == N.FAILED and parent.data.tags[N.ERROR_TAG].startswith(f"DataError: {said}")
    assert "\n" not in parent.data.tags[N.ERROR_TAG]
    (child,) = children(store, parent.info.run_id)  # not four: the other points would fail the same way
    assert child.info.status == N.FAILED and str(cut) in child.data.tags[N.ERROR_TAG]
    assert N.TRAIN_LOSS not in child.data.metrics
