"""What coordinating W workers costs: W = 1, 2, 4, 8 `freeze-study sweep` processes on one grid of near-instant points.

    make server      # the local stack; then, with the variables it prints:
    MLFLOW_TRACKING_URI=http://127.0.0.1:5000 PGPASSFILE=.stack/pgpass \\
        .venv/bin/python -m freeze_study.bench.workers --storage postgresql://freeze_study@127.0.0.1:5432/optuna

Each W runs a new sweep of `--points` grid points at freeze=4 (cached features, a tiny
generated image folder, one epoch, random init) and reads back from the stores: the time
from the first trial's start to the last one's end, each worker's time between one child
run's end and its next one's start (taking a trial, telling Optuna, settling the parent:
coordination), the worker-seconds per point spent outside child runs (wall x W minus
training, the idle tail included), duplicates (FINISHED children beyond one per point,
plus points without one: must be 0) and the most connections the Optuna database held
(pg_stat_activity, sampled every 0.2 s). A benchmark, not a test: on a shared machine
compare the rows of one run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import mlflow
import numpy as np
import optuna
import sqlalchemy
from PIL import Image
from sqlalchemy.engine import make_url

import freeze_study.names as N


def tiny_image_folder(root: Path, per_class: int = 3) -> Path:
    """DIR/{train,validation,test}/<class>/*.png: three classes of small random images."""
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for c in range(3):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)
                pixels[..., c] = 200
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def run_one(workers: int, points: int, storage: str, data: Path, tag: str) -> dict:
    """Run `workers` sweep processes on a new `points`-point sweep; what the stores say about it."""
    experiment = f"bench-workers-{tag}-w{workers}"
    seeds = ",".join(map(str, range(points)))
    argv = [sys.executable, "-m", "freeze_study", "sweep", "--levels", "4", "--seeds", seeds]
    argv += ["--data", str(data), "--weights", "none", "--epochs", "1", "--batch-size", "4", "--num-workers", "0"]
    argv += ["--storage", storage, "--experiment", experiment, "--accelerator", "cpu", "--precision", "32-true"]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}  # W workers share the cores
    sampler = _ConnectionSampler(storage)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="bench-workers-logs-") as logs:
        procs = [
            subprocess.Popen(argv, stdout=open(Path(logs, f"{i}.log"), "w"), stderr=subprocess.STDOUT, env=env)
            for i in range(workers)
        ]
        codes = [p.wait() for p in procs]
        failed = [Path(logs, f"{i}.log").read_text()[-2000:] for i, c in enumerate(codes) if c]
    sampler.stop()
    if failed:
        raise RuntimeError(f"a worker failed:\n{failed[0]}")
    return _measure(experiment, storage, workers, points, sampler.most)


def _measure(experiment: str, storage: str, workers: int, points: int, connections: int) -> dict:
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise RuntimeError(f"the workers made no experiment {experiment!r}: no sweep ran")
    runs = client.search_runs([exp.experiment_id], max_results=10000)
    parent = next(r for r in runs if r.data.tags.get(N.ROLE_TAG) == N.SWEEP_ROLE)
    kids = [r for r in runs if r.data.tags.get(N.PARENT_RUN_TAG) == parent.info.run_id]
    finished = Counter(r.data.tags[N.GRID_POINT_TAG] for r in kids if r.info.status == N.FINISHED)
    duplicates = sum(n - 1 for n in finished.values()) + (points - len(finished))
    study = optuna.load_study(study_name=parent.data.tags[N.STUDY_NAME_TAG], storage=storage)
    times = [(t.datetime_start, t.datetime_complete) for t in study.trials if t.datetime_start and t.datetime_complete]
    span = (max(end for _, end in times) - min(start for start, _ in times)).total_seconds()
    training = sum((r.info.end_time - r.info.start_time) / 1000 for r in kids)
    by_worker = defaultdict(list)
    for r in kids:
        by_worker[r.data.tags[N.WORKER_TAG]].append((r.info.start_time, r.info.end_time))
    gaps = [(b[0] - a[1]) / 1000 for spans in by_worker.values() for a, b in itertools.pairwise(sorted(spans))]
    return {
        "workers": workers,
        "points": points,
        "wall_s": round(span, 1),
        "points_per_min": round(60 * points / span, 1),
        "train_s_per_point": round(training / len(kids), 2),
        "gap_s_per_point": round(statistics.median(gaps), 3) if gaps else None,
        "outside_runs_s_per_point": round((workers * span - training) / points, 2),
        "duplicates": duplicates,
        "db_connections_max": connections,
        "workers_that_trained": len(by_worker),
    }


class _ConnectionSampler:
    """The most connections to the storage's database at once, from pg_stat_activity, sampled until stopped."""

    def __init__(self, storage: str):
        self.database = make_url(storage).database
        # AUTOCOMMIT: inside one transaction pg_stat_activity keeps showing its first snapshot
        self.engine = sqlalchemy.create_engine(
            storage, poolclass=sqlalchemy.pool.NullPool, isolation_level="AUTOCOMMIT"
        )
        self.most, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()

    def _run(self) -> None:
        query = sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()")
        with self.engine.connect() as conn:
            while not self._stop.wait(0.2):
                self.most = max(self.most, conn.execute(query, {"db": self.database}).scalar_one())


COLUMNS = (
    ("workers", "W"),
    ("wall_s", "wall (s)"),
    ("points_per_min", "points/min"),
    ("train_s_per_point", "training s/point"),
    ("gap_s_per_point", "between runs s/point (median)"),
    ("outside_runs_s_per_point", "worker-s outside runs/point"),
    ("duplicates", "duplicates"),
    ("db_connections_max", "Optuna DB connections (max)"),
    ("workers_that_trained", "workers that trained"),
)


def format_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[key]) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for each W, print the table, write the rows as JSON."""
    parser = argparse.ArgumentParser(prog="python -m freeze_study.bench.workers", description=__doc__.splitlines()[0])
    parser.add_argument("--storage", required=True, help="a PostgreSQL Optuna storage URL (the local stack's)")
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts, comma-separated (default: 1,2,4,8)")
    parser.add_argument("--points", type=int, default=40, help="grid points per sweep (default: 40)")
    parser.add_argument("--out", default="reports/bench_workers.json", help="where the rows go (JSON)")
    args = parser.parse_args(argv)
    tag = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        data = tiny_image_folder(Path(folder) / "images")
        for workers in (int(w) for w in args.workers.split(",")):
            rows.append(run_one(workers, args.points, args.storage, data, tag))
            print(json.dumps(rows[-1]), flush=True)
    print(format_table(rows))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
