"""Helpers shared by the tests: generated data, reading the store back, runs logged by hand, and the shared
stack (PostgreSQL + `mlflow server`, as `make server` starts it) with worker processes started together.

`python -m tests.helpers READY_DIR N I ARGS...` runs `freeze-study ARGS...` once N such processes are
ready (imports done), so that they start at the same instant; `--plan` as the first of ARGS only plans
(`freeze_study.sweep.planner.plan`) and prints what it did as JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from mlflow.entities import Metric, Param
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from PIL import Image

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.config import TrainConfig
from freeze_study.data import load_data
from freeze_study.levels import frozen_stages_param
from freeze_study.tracking import record
from freeze_study.training.evaluate import Predictions, confusion, scores

PROJECT = Path(__file__).resolve().parents[1]
CLASSES = ("angular_leaf_spot", "bean_rust", "healthy")
TINY_IMAGE_SIZE = 64  # pixels: the smallest the study takes (12x less work than 224); tests that need 224 say so
# Cached and uncached runs agree to float precision only where a convolution's result does not depend on the batch
# it is computed in: at 224 pixels oneDNN's CPU convolutions give the same bits for an image alone or in any batch;
# at 64 they differ by up to 3e-6 (the cache's one pass and training batch images differently).
EXACT_IMAGE_SIZE = 224


def make_image_folder(root: Path, per_class: int = 3, classes: tuple[str, ...] = CLASSES) -> Path:
    """DIR/{train,validation,test}/<class>/*: mixed sizes, one PNG, one grayscale, one RGBA."""
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                size = (40 + 8 * i, 32 + 4 * c)
                pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                pixels[..., c] = 200  # a class signal a network can pick up
                img = Image.fromarray(pixels)
                if i == 1 and c == 0:
                    img.convert("L").save(folder / f"{name}_{i}.jpg")
                elif i == 2 and c == 1:
                    img.convert("RGBA").save(folder / f"{name}_{i}.png")
                else:
                    img.save(folder / f"{name}_{i}.jpg")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runs_of(client: mlflow.MlflowClient, experiment: str = N.DEFAULT_EXPERIMENT) -> list:
    """Every run of the experiment (none if it does not exist)."""
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id]) if exp else []


def sweep_parents(client: mlflow.MlflowClient, experiment: str = N.DEFAULT_EXPERIMENT) -> list:
    return [r for r in runs_of(client, experiment) if r.data.tags.get(N.ROLE_TAG) == N.SWEEP_ROLE]


def children(
    client: mlflow.MlflowClient, parent_id: str, status: str | None = None, experiment: str = N.DEFAULT_EXPERIMENT
) -> list:
    runs = [r for r in runs_of(client, experiment) if r.data.tags.get(N.PARENT_RUN_TAG) == parent_id]
    return [r for r in runs if status is None or r.info.status == status]


def assert_no_leaked_runs(client: mlflow.MlflowClient) -> None:
    """Fail if a run is still active in this process or left RUNNING in the store; end them, autolog off."""
    leaked = mlflow.active_run()
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.pytorch.autolog(disable=True)
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, f"attributes.status = '{N.RUNNING}'") if experiments else []
    assert leaked is None, f"an MLflow run leaked: {leaked.info.run_id}"
    assert not running, f"runs left RUNNING: {[r.info.run_name for r in running]}"


# The fixed costs of a run, in seconds, each logged once (besides the epochs).
FIXED_TIME_METRICS = (
    N.DATA_CHECK_TIME,
    N.DATA_DIGEST_TIME,
    N.CACHE_BUILD_TIME,
    N.TEST_TIME,
    N.EVIDENCE_LOG_TIME,
    N.MODEL_LOG_TIME,
)


def assert_complete_run(client: mlflow.MlflowClient, run_id: str, cfg: TrainConfig, epochs: int) -> None:
    """Every param and metric of the contract is in the store, per-epoch ones once per epoch."""
    run = client.get_run(run_id)
    assert run.info.status == N.FINISHED
    params = run.data.params
    for f in dataclasses.fields(cfg):
        if getattr(cfg, f.name) is not None:
            assert params[f.name] == str(getattr(cfg, f.name)), f.name
    assert params[N.RESOLVED_PRECISION_PARAM] == "32-true" and params[N.RESOLVED_ACCELERATOR_PARAM] == "cpu"
    layout = "channels_last" if cfg.memory_format == "auto" else cfg.memory_format  # auto: channels-last on CPUs
    assert params[N.RESOLVED_MEMORY_FORMAT_PARAM] == layout
    assert params[N.FROZEN_STAGES_PARAM] == (",".join(N.STAGES[: cfg.freeze + 1]) if cfg.freeze else "none")
    assert params[N.CLASSES_PARAM] == ",".join(CLASSES)
    for name in N.EPOCH_METRICS:
        history = client.get_metric_history(run_id, name)
        assert [m.step for m in history] == list(range(epochs)), name
    for name in (*N.ONCE_METRICS, *FIXED_TIME_METRICS):
        assert len(client.get_metric_history(run_id, name)) == 1, name
    metrics = run.data.metrics
    assert metrics[N.EPOCHS_RUN] == epochs and 0 <= metrics[N.BEST_EPOCH] < epochs
    assert 0 <= metrics[N.TEST_ACC] <= 1 and metrics[N.FIT_TIME] > 0
    assert all(metrics[name] >= 0 for name in FIXED_TIME_METRICS)
    assert metrics[N.TEST_TIME] > 0 and metrics[N.MODEL_LOG_TIME] > 0 and metrics[N.DATA_CHECK_TIME] > 0
    assert metrics[N.EVIDENCE_LOG_TIME] > 0
    assert all(m.value > 0 for m in client.get_metric_history(run_id, N.EPOCH_TIME))
    inputs = run.inputs.dataset_inputs
    digest = load_data(cfg.data).digest[:16]
    contexts = sorted(t.value for i in inputs for t in i.tags if t.key == MLFLOW_DATASET_CONTEXT)
    assert contexts == ["testing", "training", "validation"]
    assert [i.dataset.digest for i in inputs] == [digest] * 3  # the data's content, the same for each split


def assert_evidence(client: mlflow.MlflowClient, run_id: str, data: str) -> None:
    """The run holds, for the validation and test splits, a prediction table naming every image of the split
    (relative to the data folder) with its true class, the argmax of its probabilities, and the metrics and
    confusion matrix that scikit-learn computes from that table."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    loaded = load_data(data)
    metrics = client.get_run(run_id).data.metrics
    for split in N.EVALUATED_SPLITS:
        local = client.download_artifacts(run_id, N.predictions_artifact(split))
        table = pd.read_json(local, orient="split", dtype=False)
        names = [Path(n).relative_to(data).as_posix() for n in loaded.splits[split].names]
        assert list(table[N.IMAGE_COL]) == names and names[0].startswith(f"{split}/")
        assert list(table[N.TRUE_COL]) == [CLASSES[i] for i in loaded.splits[split].labels]
        probs = table[[f"{N.PROB_PREFIX}{c}" for c in CLASSES]].to_numpy()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert list(table[N.PREDICTED_COL]) == [CLASSES[i] for i in probs.argmax(axis=1)]
        accuracy = (table[N.TRUE_COL] == table[N.PREDICTED_COL]).mean()  # the tested checkpoint's
        best = int(metrics[N.BEST_EPOCH])
        logged = metrics[N.TEST_ACC] if split == "test" else client.get_metric_history(run_id, N.VAL_ACC)[best].value
        assert accuracy == pytest.approx(logged, abs=1e-6)
        precision, recall, f1, _ = precision_recall_fscore_support(
            table[N.TRUE_COL], table[N.PREDICTED_COL], labels=list(CLASSES), zero_division=0.0
        )
        for i, c in enumerate(CLASSES):
            assert metrics[N.class_metric(split, "precision", c)] == pytest.approx(precision[i])
            assert metrics[N.class_metric(split, "recall", c)] == pytest.approx(recall[i])
            assert metrics[N.class_metric(split, "f1", c)] == pytest.approx(f1[i])
        macro = f1_score(
            table[N.TRUE_COL], table[N.PREDICTED_COL], labels=list(CLASSES), average="macro", zero_division=0.0
        )
        assert metrics[N.split_metric(split, N.MACRO_F1)] == pytest.approx(macro)
        counts = pd.read_csv(client.download_artifacts(run_id, N.confusion_artifact(split)), index_col=0)
        expected = confusion_matrix(table[N.TRUE_COL], table[N.PREDICTED_COL], labels=list(CLASSES))
        assert list(counts.index) == list(CLASSES) and (counts.to_numpy() == expected).all()
        assert client.download_artifacts(run_id, N.confusion_artifact(split, "png"))


def history(client: mlflow.MlflowClient, run_id: str, name: str) -> list[float]:
    """A metric's values in step order."""
    return [m.value for m in client.get_metric_history(run_id, name)]


def assert_same_numbers(client: mlflow.MlflowClient, a: str, b: str) -> None:
    """The prefix's outputs are the same numbers either way, so the runs match to float precision."""
    for name in (N.TRAIN_LOSS, N.VAL_LOSS, N.VAL_ACC, N.TRAIN_ACC):
        assert history(client, a, name) == pytest.approx(history(client, b, name), rel=1e-6, abs=1e-7), name
    test_a, test_b = (client.get_run(r).data.metrics for r in (a, b))
    assert test_a[N.TEST_LOSS] == pytest.approx(test_b[N.TEST_LOSS], rel=1e-6)
    assert test_a[N.TEST_ACC] == test_b[N.TEST_ACC]


def mlflow_run(*params: str, cwd: Path, entry: str = "main") -> subprocess.CompletedProcess:
    """`mlflow run <project> -e entry --env-manager local -P ...` in `cwd`, with this interpreter first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = [
        sys.executable,
        "-m",
        "mlflow",
        "run",
        str(PROJECT),
        "-e",
        entry,
        "--env-manager",
        "local",
        "--experiment-name",
        N.DEFAULT_EXPERIMENT,
    ]
    for p in params:
        args += ["-P", p]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def sweep_args(cfg: TrainConfig, levels: str, seeds: str) -> list[str]:
    """`freeze-study sweep` arguments for a quick sweep on `cfg`'s data (random init, one epoch)."""
    return [
        "sweep",
        "--levels",
        levels,
        "--seeds",
        seeds,
        "--data",
        cfg.data,
        "--weights",
        "none",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--image-size",
        str(TINY_IMAGE_SIZE),
        "--num-workers",
        "0",
    ]


# Runs logged by hand with known values, for the report's tests.
EPOCHS = 5
TOTAL = 11_178_051
TRAINABLE = {0: TOTAL, 1: 11_020_547, 2: 10_494_979, 3: 8_395_267, 4: 1_539}


def curve(key: str, epoch: int, v0: float) -> float:
    """The per-epoch value logged for `key` (val_acc peaks after best_epoch, so 'at best_epoch' != max)."""
    return {
        N.TRAIN_LOSS: 1.0 - 0.15 * epoch,
        N.VAL_LOSS: 1.1 - 0.1 * epoch,
        N.TRAIN_ACC: v0 + 0.08 * epoch,
        N.VAL_ACC: v0 + 0.05 * epoch,
        N.EPOCH_TIME: 4.0 + epoch,
    }[key]


def new_parent(client: mlflow.MlflowClient, exp_id: str, start: int, name: str = "sweep") -> str:
    """A FINISHED sweep parent run started at `start` (ms)."""
    run = client.create_run(exp_id, start_time=start, run_name=name, tags={N.ROLE_TAG: N.SWEEP_ROLE})
    client.set_terminated(run.info.run_id, N.FINISHED)
    return run.info.run_id


N_VAL, N_TEST = 200, 500  # images per split in the runs logged by hand


def first_right(n: int, accuracy: float) -> np.ndarray:
    """A right/wrong mask of n images: the first round(accuracy * n) right."""
    return np.arange(n) < round(accuracy * n)


def known_predictions(split: str, correct: np.ndarray | list[bool]) -> Predictions:
    """Predictions on len(correct) images cycling through CLASSES: a right one is its class (p=0.8), a wrong
    one the next class; image ids look like training's ('test/healthy/img_0002.jpg')."""
    correct = np.asarray(correct, dtype=bool)
    labels = np.arange(len(correct)) % len(CLASSES)
    predicted = np.where(correct, labels, (labels + 1) % len(CLASSES))
    probs = np.full((len(correct), len(CLASSES)), 0.1, dtype=np.float32)
    probs[np.arange(len(correct)), predicted] = 0.8
    images = [f"{split}/{CLASSES[c]}/img_{i:04d}.jpg" for i, c in enumerate(labels)]
    return Predictions(split, images, labels, probs)


def log_evidence(run_id: str, *predictions: Predictions) -> None:
    """Record predictions on a run exactly as training does (`tracking.record.evaluation`)."""
    with mlflow.start_run(run_id=run_id):
        for pred in predictions:
            tracking.record.evaluation(pred.split, pred.table(CLASSES), scores(pred, CLASSES), confusion(pred, CLASSES))


def log_child(
    client: mlflow.MlflowClient,
    exp_id: str,
    parent: str,
    freeze: int,
    seed: int,
    test_acc: float,
    fit: float,
    best: int,
    v0: float,
    status: str = N.FINISHED,
    epochs: int = EPOCHS,
    val_correct: np.ndarray | None = None,
    test_correct: np.ndarray | None = None,
    evidence: bool = True,
    once: dict[str, float | None] | None = None,
    params: dict[str, str] | None = None,
) -> str:
    """A child run as `freeze-study sweep` leaves it: params, tags, per-epoch histories, once-logged results
    and (`evidence`) the validation and test predictions: by default the first images right, as many as the
    accuracies say (val_acc at `best`, `test_acc`), of N_VAL and N_TEST. `once` overrides once-logged
    metrics (None leaves one out), `params` the logged params."""
    name = N.grid_point_name(freeze, seed)
    run = client.create_run(
        exp_id, run_name=name, tags={N.PARENT_RUN_TAG: parent, N.ROLE_TAG: N.TRIAL_ROLE, N.GRID_POINT_TAG: name}
    )
    params = {
        **TrainConfig(freeze=freeze, seed=seed).params(),
        N.FROZEN_STAGES_PARAM: frozen_stages_param(freeze),
        N.CLASSES_PARAM: ",".join(CLASSES),
        **(params or {}),
    }
    now = int(time.time() * 1000)
    metrics = [Metric(key, curve(key, e, v0), now + e, e) for key in N.EPOCH_METRICS for e in range(epochs)]
    values = {
        N.TRAINABLE_PARAMS: TRAINABLE[freeze],
        N.TOTAL_PARAMS: TOTAL,
        N.TEST_ACC: test_acc,
        N.TEST_LOSS: 1 - test_acc,
        N.FIT_TIME: fit,
        N.BEST_EPOCH: best,
        N.EPOCHS_RUN: epochs,
        **(once or {}),
    }
    metrics += [Metric(key, value, now, 0) for key, value in values.items() if value is not None]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    if evidence:
        val = first_right(N_VAL, curve(N.VAL_ACC, best, v0)) if val_correct is None else val_correct
        test = first_right(N_TEST, test_acc) if test_correct is None else test_correct
        log_evidence(run.info.run_id, known_predictions("validation", val), known_predictions("test", test))
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def bare_trainer(**limits) -> pl.Trainer:
    """A CPU Trainer with nothing besides the loop: no logger, checkpoints, progress bar or model summary."""
    return pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **limits,
    )


def tiny_network(classes: int = len(CLASSES), seed: int = 0) -> torch.nn.Module:
    """A small stand-in for ResNet18 (N x 3 x 224 x 224 -> N x classes logits): quick to log and export."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(1),
        torch.nn.Linear(8, classes),
    )
    return net.eval()


def log_model(run_id: str, seed: int = 0, precision: str | None = None) -> None:
    """Log a `model` into the run as training logs it: a tiny network, the class names in its metadata, and the
    precision the run evaluated in (None: none recorded, as models were logged before it was)."""
    metadata = {N.CLASSES_PARAM: list(CLASSES)} | ({N.RESOLVED_PRECISION_PARAM: precision} if precision else {})
    with mlflow.start_run(run_id=run_id):
        record.model(tiny_network(seed=seed), np.zeros((1, 3, 224, 224), np.float32), metadata)


def log_model_run(experiment: str = N.DEFAULT_EXPERIMENT, seed: int = 0, precision: str | None = None) -> str:
    """A FINISHED run holding only a `model` (`log_model`); returns its id."""
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"model seed={seed}") as run:
        pass
    log_model(run.info.run_id, seed, precision)
    return run.info.run_id


@contextlib.contextmanager
def scoring_server(model_uri: str, log: Path) -> Iterator[str]:
    """`mlflow models serve -m model_uri --env-manager local` on 127.0.0.1 and a free port, as the README runs
    it (the venv's bin first on PATH, for uvicorn); yields its URL and stops it (its process group) after."""
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*args, "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(
            f"{url}/ping", proc, 180, lambda: f"the scoring server did not start: {log.read_text()[-3000:]}"
        )
        yield url
    finally:
        stop_group(proc, signal.SIGTERM, 20)


def wait_until_answers(url: str, proc: subprocess.Popen, seconds: float, failure: Callable[[], str]) -> None:
    """Poll `url` until it answers; RuntimeError(failure()) if `proc` exits first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(failure()) from None
            time.sleep(0.5)


def stop_group(proc: subprocess.Popen, sig: int, seconds: float) -> None:
    """Send `sig` to the process group of `proc` (started with start_new_session=True); SIGKILL after `seconds`."""
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def post_json(url: str, body: object) -> tuple[int, dict]:
    """POST `body` as JSON; (HTTP status, decoded JSON answer), for error statuses too."""
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def md_table(md: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule left out) of the first table after `## heading` in report.md."""
    lines = md.split(f"## {heading}\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append([c.strip() for c in line.strip()[1:-1].split(" | ")])
    return rows


# The shared stack and its workers.
class Stack:
    """PostgreSQL and an `mlflow server` on it, run by `scripts/stack` (what `make server` runs) in `folder`."""

    def __init__(self, folder: Path):
        self.folder, self.pg_port, self.mlflow_port = folder, free_port(), free_port()
        self.uri = f"http://127.0.0.1:{self.mlflow_port}"
        self.temp = tempfile.gettempdir()  # the session's: a server a test restarts outlives the test's own

    def env(self) -> dict[str, str]:
        """What a worker process on this host needs to reach the stack."""
        return {"MLFLOW_TRACKING_URI": self.uri, "PGPASSFILE": str(self.folder / "pgpass")}

    def script(self, command: str) -> None:
        env = {
            **os.environ,
            "STACK_DIR": str(self.folder),
            "PG_PORT": str(self.pg_port),
            "MLFLOW_PORT": str(self.mlflow_port),
            "MLFLOW": str(Path(sys.executable).parent / "mlflow"),
            "MLFLOW_WORKERS": "1",
            "TMPDIR": self.temp,
        }
        done = subprocess.run(
            [str(PROJECT / "scripts" / "stack"), command], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def kill_mlflow(self) -> None:
        """SIGKILL the mlflow server (its process group), as a crash would."""
        os.killpg(int((self.folder / "mlflow.pid").read_text()), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # gone when the port refuses (a zombie may outlive its pid)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.mlflow_port)) != 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the mlflow server still answers after SIGKILL")

    def password(self) -> str:
        return (self.folder / "pgpass").read_text().strip().rsplit(":", 1)[1]

    def storage(self, database: str) -> str:
        return f"postgresql://freeze_study@127.0.0.1:{self.pg_port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database on the cluster (PGPASSFILE must point at the stack's); its storage URL."""
        import sqlalchemy

        name = f"optuna_{uuid.uuid4().hex[:8]}"
        engine = sqlalchemy.create_engine(self.storage("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
        engine.dispose()
        return self.storage(name)


def start_together(argvs: list[list[str]], env: dict[str, str], folder: Path) -> list[subprocess.Popen]:
    """One process per argv (`freeze-study` arguments), all released at the same instant once every one
    has imported what it needs; stdout+stderr to folder/worker-<i>.log."""
    ready = folder / "ready"
    ready.mkdir()
    procs = []
    for i, argv in enumerate(argvs):
        log = open(folder / f"worker-{i}.log", "w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.helpers", str(ready), str(len(argvs)), str(i), *argv],
                cwd=folder,
                env={**os.environ, **env, "PYTHONPATH": str(PROJECT)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return procs


def finish(procs: list[subprocess.Popen], timeout: float = 600) -> list[int]:
    """Wait for every process (killing the rest if one overruns); their exit codes."""
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _together(ready: Path, n: int, i: int, argv: list[str]) -> int:
    planning = argv[0] == "--plan"
    if planning:  # planning alone needs no training stack
        from freeze_study.config import SweepConfig
        from freeze_study.sweep import planner
    else:
        import freeze_study.sweep.runner  # noqa: F401 - the heavy imports (torch, Lightning), before the barrier
        from freeze_study.cli import main
    (ready / f"{i}").touch()
    while len(list(ready.iterdir())) < n:
        time.sleep(0.002)
    if not planning:
        return main(argv)
    plan = planner.plan(SweepConfig.from_attrs(json.loads(argv[1]), argv[2], None), say=lambda line: None)
    plan.storage.close()
    print(json.dumps({"parent": plan.parent_id, "created": plan.created, "queued": plan.queued}))
    return 0


if __name__ == "__main__":
    sys.exit(_together(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]))
