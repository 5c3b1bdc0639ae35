"""How a sweep worker talks to a shared `mlflow server`: finding it, and riding out a restart of a few minutes.

MLflow's client retries failed HTTP requests with exponential backoff (urllib3: no wait
before the first retry, then `backoff_factor * 2**(n-1)` seconds, at most 120 s, plus up to
`jitter` s). A worker sets the defaults below where the user has not set the variable:
10 retries with a factor of 1 wait 0, 2, 4, ... 64, 120, 120, 120 s, so a request keeps
trying for about 8 minutes (MLflow's own default, 7 retries with a factor of 2, gives up
after about 4), and a hung request is abandoned for a retry after 60 s instead of 120.
Lightning autolog's per-epoch metrics go through the same client, synchronously, so they
wait for the server instead of being dropped.
"""

from __future__ import annotations

import os

import mlflow

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
WORKER_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "10",  # MLflow caps it at 10
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "1.0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def use_worker_http_defaults() -> dict[str, str]:
    """Set the HTTP retry variables a worker needs where the user has not; returns the values in force."""
    for name, value in WORKER_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in WORKER_HTTP_DEFAULTS}


def use_tracking_uri(uri: str | None) -> str:
    """Track to `uri` (where a sweep's runs are, as its study records) unless MLFLOW_TRACKING_URI says otherwise."""
    if uri and not os.environ.get(TRACKING_URI_ENV):
        mlflow.set_tracking_uri(uri)
    return mlflow.get_tracking_uri()
