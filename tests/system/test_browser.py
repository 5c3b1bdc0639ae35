"""The MLflow UI as a person sees it: headless Chromium on a real `mlflow server` over a small sweep.

Opens the addresses the sweep printed and the experiment's page, asserts on the rendered
page, and saves screenshots: under the test's folder, or where the README links them
(`docs/`) with FREEZE_STUDY_SCREENSHOTS=docs (`make screenshots`). Chromium is Debian's
(`.ci/run` installs it), driven through Playwright; no browser is ever downloaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlencode

import freeze_study.names as N
from freeze_study import tracking
from freeze_study.cli import main
from tests.helpers import PROJECT, children, sweep_args, sweep_parents

SCREENSHOTS_ENV = "FREEZE_STUDY_SCREENSHOTS"


def screenshot_dir(tmp_path: Path) -> Path:
    given = os.environ.get(SCREENSHOTS_ENV)
    return PROJECT / given if given else tmp_path


def close_assistant(page) -> None:
    """Close MLflow's "Assistant" side panel, which a fresh profile opens beside every page."""
    close = page.get_by_role("button", name="Close", exact=True)
    if close.count():
        close.first.click()


def wait_for_charts(page, at_least: int, at_most: int | None = None) -> int:
    """Wait until the chart view's "Model metrics (N)" has at_least <= N <= at_most charts; returns N."""
    page.wait_for_function(
        """([lo, hi]) => {
            const m = document.body.innerText.match(/Model metrics\\s*\\((\\d+)\\)/);
            return m !== null && Number(m[1]) >= lo && (hi === null || Number(m[1]) <= hi);
        }""",
        arg=[at_least, at_most],
    )
    return int(re.search(r"Model metrics\s*\((\d+)\)", page.inner_text("body")).group(1))


def test_the_mlflow_ui_shows_the_sweep(mlflow_server, tiny_config, page, capsys, tmp_path):
    # Without system metrics: on a loaded machine the monitor's `system/*` rows push test_acc out of the compare
    # page's virtualised metrics table, and what the page shows would depend on the load.
    assert main([*sweep_args(tiny_config, "0,2,4", "1"), "--system-metrics", "off"]) == 0
    printed = capsys.readouterr().out
    charts_url, compare_url = re.findall(r"http://\S+", printed.split("MLflow UI")[-1])
    (parent,) = sweep_parents(mlflow_server)
    kids = sorted(r.info.run_name for r in children(mlflow_server, parent.info.run_id, N.FINISHED))
    assert kids == ["freeze=0 seed=1", "freeze=2 seed=1", "freeze=4 seed=1"]
    out = screenshot_dir(tmp_path)
    out.mkdir(parents=True, exist_ok=True)

    # The experiment's page opens on the training runs (not GenAI's traces), and its chart view draws the
    # parent's summary metrics.
    experiment = tracking.ui.experiment_url(parent.info.experiment_id)
    page.goto(experiment + "&" + urlencode({"compareRunsMode": "CHART"}))
    page.get_by_text(parent.info.run_name).first.wait_for()
    close_assistant(page)
    parent_metrics = mlflow_server.get_run(parent.info.run_id).data.metrics  # the summary and `workers`
    assert set(N.SWEEP_METRICS) <= set(parent_metrics)
    assert wait_for_charts(page, len(parent_metrics)) == len(parent_metrics)
    body = page.inner_text("body")
    assert N.BEST_LEVEL_TEST_ACC in body and "Detect issues" not in body and "Training runs" not in body
    page.screenshot(path=str(out / "mlflow-sweep-parent.png"))

    # The sweep's runs as charts, as the sweep printed the address: every child listed, charts drawn.
    page.goto(charts_url)
    for name in kids:
        page.get_by_text(name, exact=True).first.wait_for()
    assert wait_for_charts(page, len(N.EPOCH_METRICS) + len(N.ONCE_METRICS)) > 0
    page.get_by_placeholder("Search metric charts").fill("acc")
    assert wait_for_charts(page, 3, 3) == 3  # test_acc, train_acc, val_acc
    for name in (N.TEST_ACC, N.TRAIN_ACC, N.VAL_ACC):
        page.get_by_text(name, exact=True).first.wait_for()
    page.screenshot(path=str(out / "mlflow-sweep-charts.png"))

    # The compare page of the finished runs: each child, and test_acc in its metrics table and, once chosen, as
    # an axis of its parallel-coordinates plot.
    page.goto(compare_url)
    page.get_by_text(f"Comparing {len(kids)} Runs").first.wait_for()
    for name in kids:
        page.get_by_text(name, exact=True).first.wait_for()
    page.get_by_role("link", name=N.TEST_ACC, exact=True).first.wait_for(state="attached")  # a metrics table row
    close_assistant(page)
    metrics = page.locator("xpath=//div[normalize-space(text())='Metrics:']/following-sibling::div[1]")
    metrics.locator("[role=combobox]").focus()  # the select opens from the keyboard whatever else covers it
    page.keyboard.press("ArrowDown")
    page.keyboard.type(N.TEST_ACC)
    page.locator(f"[class*='select-item-option'][title='{N.TEST_ACC}']").first.click()
    page.keyboard.press("Escape")
    page.locator(".js-plotly-plot").get_by_text(N.TEST_ACC, exact=True).first.wait_for()
    page.screenshot(path=str(out / "mlflow-compare-runs.png"))
