"""The report as a person sees it: report.html opened in a real headless Chromium, every figure loaded, the
tables there, nothing wider than the window; a full-page screenshot is kept in the test's folder."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import numpy as np
from PIL import Image

import freeze_study.names as N
from freeze_study.report import write_report
from tests.helpers import N_TEST, N_VAL, log_child, new_parent

WIDTH = 1280  # CSS pixels, a laptop's window
IMAGES = """Promise.all([...document.images].map(i => i.decode().catch(() => null))).then(() =>
    [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})))"""
TABLES = """[...document.querySelectorAll('table')].map(t => ({
    after: t.previousElementSibling ? t.previousElementSibling.textContent : '',
    rows: t.rows.length, columns: t.rows[0].cells.length}))"""


def test_report_page_in_a_real_browser(store: mlflow.MlflowClient, page, tmp_path: Path) -> None:
    exp_id = store.create_experiment(N.DEFAULT_EXPERIMENT)
    parent = new_parent(store, exp_id, start=1_000)
    rng = np.random.default_rng(0)
    for freeze, acc, fit in ((0, 0.85, 300.0), (3, 0.83, 120.0), (4, 0.6, 40.0)):
        for seed in (1, 2):
            val, test = rng.random(N_VAL) < acc, rng.random(N_TEST) < acc
            log_child(
                store,
                exp_id,
                parent,
                freeze,
                seed,
                test.mean(),
                fit + seed,
                1,
                val.mean() - 0.05,
                val_correct=val,
                test_correct=test,
                params={N.WEIGHTS_PARAM: "none"},
            )
    out = write_report(store, parent, tmp_path / "report")
    figures = len(list(out.glob("*.png")))
    broken = tmp_path / "broken.html"  # the same page with one figure's bytes damaged: the check must see it
    html = (out / "report.html").read_text()
    broken.write_text(re.sub(r"base64,iVBORw0KGgo[A-Za-z0-9+/]{40}", "base64,AAAAAAAAAAAA", html, count=1))

    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto((out / "report.html").as_uri())
    images = page.evaluate(IMAGES)
    tables = page.evaluate(TABLES)
    overflow = page.evaluate("document.documentElement.scrollWidth")
    note = page.evaluate("document.querySelector('.note') && document.querySelector('.note').textContent")
    title = page.title()
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    page.goto(broken.as_uri())
    damaged = page.evaluate(IMAGES)

    assert len(images) == figures == 8
    assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in images), images
    assert sum(i["width"] == 0 for i in damaged) == 1  # the check sees a broken figure
    results = next(t for t in tables if t["after"].startswith("Cells are mean"))
    assert (results["rows"], results["columns"]) == (1 + 3, 10)  # header + one row per level
    assert len(tables) >= 5 and overflow <= WIDTH, (tables, overflow)
    assert title == f"Freeze study: sweep {parent}" and "do not measure transfer from ImageNet" in note
    with Image.open(shot) as png:
        assert WIDTH - 20 <= png.width <= WIDTH and png.height > 3000  # the whole page
