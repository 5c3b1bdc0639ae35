"""Addresses in the MLflow UI that open on the study: an experiment's runs, a run, a sweep's runs, the compare page.

MLflow 3's UI opens an experiment in its GenAI view (traces) unless the address carries
`workflowType=machine_learning` or the browser remembers its "Model training" switch; the
`mlflow.experimentKind` tag alone does not change that. Every address the project prints
comes from here and carries it. The routes and query keys are those of the 3.x UI
(`#/experiments/<id>/runs`, `#/compare-runs?runs=[..]&experiments=[..]`, `compareRunsMode`,
`searchFilter`, `orderByKey`), as its JavaScript bundle spells them. The one command that serves a local
store in the UI is here too (`serve_command`), and the pages `freeze-study ui` lists (`ui_pages`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from urllib.parse import quote, urlencode

import mlflow

from freeze_study.names import FINISHED, FREEZE_PARAM, PARENT_RUN_TAG
from freeze_study.tracking.runs import child_runs
from freeze_study.tracking.store import StoreError, mark_model_training
from freeze_study.tracking.sweeps import latest_sweep

LOCAL_UI = "http://127.0.0.1:5000"  # where `mlflow ui` and `mlflow server` listen by default
SUPPRESS_MLFLOW_URLS_ENV = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"  # MLflow's own switch
MODEL_TRAINING = {"workflowType": "machine_learning"}  # the UI's "Model training" view, not GenAI


def print_only_model_training_addresses() -> None:
    """Stop MLflow printing "View run/experiment at" after each run on a tracking server: its addresses open
    the GenAI view. The command line prints model-training ones instead. A user's own setting wins."""
    os.environ.setdefault(SUPPRESS_MLFLOW_URLS_ENV, "true")


def is_server(tracking_uri: str | None = None) -> bool:
    """Whether the store is a tracking server (http or https), which serves the UI itself."""
    return (tracking_uri or mlflow.get_tracking_uri()).startswith(("http://", "https://"))


def base_url(tracking_uri: str | None = None) -> str:
    """The UI's address: the tracking server's, else where `mlflow ui` serves a local store."""
    uri = tracking_uri or mlflow.get_tracking_uri()
    return uri.rstrip("/") if is_server(uri) else LOCAL_UI


def serve_command(tracking_uri: str | None = None, port: int | None = None) -> list[str] | None:
    """The command that shows a local store in the UI, or None for a tracking server (it serves its own): as a
    user types it (`mlflow ui` at `LOCAL_UI`), or with `port` as `freeze-study ui` starts it (this environment's
    MLflow, on 127.0.0.1:`port`)."""
    uri = tracking_uri or mlflow.get_tracking_uri()
    if is_server(uri):
        return None
    if port is None:
        return ["mlflow", "ui", "--backend-store-uri", uri]
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def _address(route: str, query: dict[str, str], base: str | None) -> str:
    """`base` (default: `base_url()`) + the UI route and its query, in the model-training view."""
    return f"{base or base_url()}/#{route}?{urlencode({**query, **MODEL_TRAINING}, quote_via=quote)}"


def experiment_url(experiment_id: str, base: str | None = None) -> str:
    """The experiment's runs list, in the model-training view."""
    return _address(f"/experiments/{experiment_id}/runs", {}, base)


def run_url(run_id: str, experiment_id: str | None = None, base: str | None = None) -> str:
    """One run's page (params, metrics, artifacts, description); its experiment is looked up when not given."""
    experiment_id = experiment_id or mlflow.MlflowClient().get_run(run_id).info.experiment_id
    return _address(f"/experiments/{experiment_id}/runs/{run_id}", {}, base)


def children_url(experiment_id: str, parent_run_id: str, base: str | None = None) -> str:
    """A sweep's child runs as charts, listed flat and sorted by freeze level.

    The runs list nests children under their collapsed parent while it is sorted by date;
    a filter on the parent plus a sort by a param shows them as rows of their own.
    """
    query = {
        "compareRunsMode": "CHART",
        "searchFilter": f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'",
        "orderByKey": f"params.`{FREEZE_PARAM}`",
        "orderByAsc": "true",
    }
    return _address(f"/experiments/{experiment_id}/runs", query, base)


def compare_url(experiment_id: str, run_ids: Sequence[str], base: str | None = None) -> str:
    """MLflow's compare page of `run_ids`: params and metrics side by side, parallel coordinates, scatter plots."""
    compact = (",", ":")
    query = {
        "runs": json.dumps(list(run_ids), separators=compact),
        "experiments": json.dumps([experiment_id], separators=compact),
    }
    return _address("/compare-runs", query, base)


def in_page(url: str) -> str:
    """The address without the server ('#/...'): a link inside the UI's own pages, e.g. in a run's description."""
    return url[url.index("#") :]


def sweep_urls(parent_run_id: str, base: str | None = None) -> tuple[str, str]:
    """(its runs as charts, the compare page of its FINISHED children) for a sweep's parent run."""
    client = mlflow.MlflowClient()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    done = sorted(child_runs(client, parent_run_id, FINISHED), key=lambda r: r.info.run_name or "")
    return (
        children_url(experiment_id, parent_run_id, base),
        compare_url(experiment_id, [r.info.run_id for r in done], base),
    )


def ui_pages(client: mlflow.MlflowClient, experiment: str, base: str | None = None) -> list[tuple[str, str]]:
    """(name, address) of the experiment's runs and of its latest sweep's runs and compare page, in the
    model-training view; the experiment is tagged as model training. Raises StoreError when it does not exist."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise StoreError(f"no experiment '{experiment}' in {mlflow.get_tracking_uri()} (train or sweep first)")
    mark_model_training(found.experiment_id)
    pages = [("experiment", experiment_url(found.experiment_id, base))]
    if sweep := latest_sweep(client, experiment):
        charts, compare = sweep_urls(sweep, base)
        pages += [("latest sweep as charts", charts), ("compare its runs", compare)]
    return pages
