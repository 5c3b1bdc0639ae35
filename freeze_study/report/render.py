"""The report: figures, report.md and a self-contained report.html, logged to the sweep's parent run.

Run it with `freeze-study report` (the newest sweep in the experiment) or give a sweep's
parent run id; the folder is logged back as artifacts of the parent, under `report/`.
The order is the reviewer's: what was run, the results with their uncertainty, the level
chosen on validation and why, which differences this test set can see, per-class errors.
"""

from __future__ import annotations

from pathlib import Path

import mlflow

import freeze_study.names as N
from freeze_study.report import figures, result_figures, sentences, stats
from freeze_study.report.columns import FREEZE
from freeze_study.report.page import Block, markdown, page
from freeze_study.report.selection import select_level
from freeze_study.report.store import ReportError, Sweep, load_sweep
from freeze_study.report.summary import compare_on_test, summarize
from freeze_study.report.tables import (
    CELLS_NOTE,
    class_table,
    comparison_table,
    context_table,
    excluded_table,
    level_table,
    selection_table,
)
from freeze_study.text import counted


def build(title: str, intro: str, sweep: Sweep, out_dir: Path) -> list[Block]:
    """The report's blocks, drawing the figures into `out_dir`."""
    blocks = [Block("h1", title), Block("p", intro)]
    if sweep.context.note:
        blocks.append(Block("note", sweep.context.note))
    blocks += [
        Block("h2", "What was run"),
        context_table(sweep.context),
    ]
    if sweep.runs.empty:
        return blocks + [Block("h2", "Runs left out"), excluded_table(sweep.excluded)]
    summary = summarize(sweep.runs, sweep.predictions)
    selection = select_level(sweep.runs, sweep.predictions)
    k = selection.level
    blocks += [
        Block("h2", "Results per freeze level"),
        Block("p", CELLS_NOTE),
        level_table(summary, sweep.class_scores, k),
    ]
    blocks += [
        Block("h2", "Recommended level, chosen on validation"),
        Block("p", selection.rule),
        selection_table(selection),
        Block("ul", items=sentences.recommendation(summary, selection)),
    ]
    if k is not None and sweep.runs[FREEZE].nunique() > 1:
        comparisons = compare_on_test(sweep.runs, sweep.predictions, k)
        blocks += [
            Block("h2", f"Can this test set tell the levels apart from freeze={k}?"),
            Block(
                "p",
                "Each level's runs are paired with the recommended level's runs of the same seed and scored "
                "on the same test images; McNemar's exact test (statsmodels) uses only the images one of the "
                f"two got right and the other wrong. p ≥ {stats.ALPHA:g}: within noise.",
            ),
            comparison_table(comparisons, k),
            Block("ul", items=sentences.noise(summary, comparisons, selection)),
        ]
    if (table := class_table(sweep.class_scores)) is not None:
        blocks += [Block("h2", "Per class, on the test split (mean over seeds)"), table]
    blocks += [Block("h2", "Cost and overfitting"), Block("ul", items=sentences.costs(summary))]
    if not sweep.excluded.empty:
        blocks += [Block("h2", "Runs left out of every mean"), excluded_table(sweep.excluded)]
    drawn = result_figures.draw_all(sweep.runs, summary, sweep.predictions, k, out_dir)
    drawn += figures.draw_all(sweep.runs, sweep.history, out_dir)
    blocks.append(Block("h2", "Figures"))
    blocks += [Block("figure", caption, image=name) for name, caption in drawn]
    return blocks


def write_report(client: mlflow.MlflowClient, sweep_run_id: str, out_dir: Path) -> Path:
    """Write the figures, report.md and report.html to `out_dir` and log them to the sweep's parent run."""
    sweep = load_sweep(client, sweep_run_id)
    if sweep.runs.empty and sweep.excluded.empty:
        raise ReportError(f"sweep '{sweep_run_id}' has no FINISHED child runs yet: nothing to report")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parent = client.get_run(sweep_run_id)
    experiment = client.get_experiment(parent.info.experiment_id).name
    title = f"Freeze study: sweep {sweep_run_id}"
    used, left = len(sweep.runs), len(sweep.excluded)
    intro = (
        f"Experiment '{experiment}', sweep run '{parent.info.run_name}': {counted(used, 'finished run')} "
        f"over {counted(sweep.runs[FREEZE].nunique(), 'freeze level')}"
        + (f"; {left} more FINISHED run{'s are' if left != 1 else ' is'} left out (listed below)." if left else ".")
    )
    blocks = build(title, intro, sweep, out_dir)
    (out_dir / "report.md").write_text(markdown(blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(page(title, blocks, out_dir), encoding="utf-8")
    client.log_artifacts(sweep_run_id, str(out_dir), artifact_path=N.REPORT_ARTIFACT)
    return out_dir
