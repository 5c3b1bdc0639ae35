"""The report: figures, report.md and a self-contained report.html, logged to the sweep's parent run.

Run it with `freeze-study report` (the newest sweep in the experiment) or give a sweep's
parent run id; the folder is logged back as artifacts of the parent, under `report/`.
The order is the reviewer's: what was run, the results with their uncertainty, the level
chosen on validation and why, which differences this test set can see, per-class errors.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

import freeze_study.names as N
from freeze_study.report import figures, result_figures, sentences, stats
from freeze_study.report.columns import CLASS, FREEZE, FROZEN_STAGES, REASON, RUN_ID, SCORE, SEED, SPLIT, VALUE
from freeze_study.report.evidence import MACRO
from freeze_study.report.page import Block, markdown, page
from freeze_study.report.selection import Selection, select_level
from freeze_study.report.store import ReportError, Sweep, load_sweep
from freeze_study.report.summary import compare_on_test, interval_text, pct_trainable, summarize

CELLS_NOTE = (
    "Cells are mean ± sample standard deviation over seeds with n the number of seeds (one seed: the value "
    "and n=1, there is no spread to show). Validation accuracy is at the best epoch (lowest validation loss), "
    "whose checkpoint was tested. Test accuracy is the mean with its 95% interval: with two or more seeds, "
    "Student's t interval on the seed means (it covers seed-to-seed variation, not the sampling of the test "
    "images: the paired tests below do that); with one seed, the Wilson score interval over the test images."
)


def _cell(level: pd.Series, key: str, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    """'93.8 ± 1.1% (n=3)', or '93.8% (n=1)' for a single seed."""
    mean, std = level[f"{key}_mean"] * scale, level[f"{key}_std"] * scale
    if level["n"] < 2 or pd.isna(std):
        return f"{mean:.{digits}f}{unit} (n={level['n']})"
    return f"{mean:.{digits}f} ± {std:.{digits}f}{unit} (n={level['n']})"


def _test_cell(level: pd.Series) -> str:
    interval = interval_text(level["test_acc_low"], level["test_acc_high"])
    if not interval:
        return f"{level['test_acc_mean'] * 100:.1f}% (n={level['n']}; no interval: {level['test_acc_interval']})"
    return f"{level['test_acc_mean'] * 100:.1f}% {interval} (n={level['n']})"


def _macro_f1(scores: pd.DataFrame, freeze: int) -> str:
    values = scores[(scores[FREEZE] == freeze) & (scores[SPLIT] == "test") & (scores[CLASS] == MACRO)][VALUE]
    if values.empty:
        return "not recorded"
    return f"{values.mean():.3f}" + (f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else "") + f" (n={len(values)})"


def level_table(summary: pd.DataFrame, scores: pd.DataFrame, recommended: int | None) -> Block:
    """The per-level results table."""
    header = [
        "freeze",
        "frozen stages",
        "trainable parameters",
        "fit time",
        "epochs run",
        "best epoch (0-based)",
        "validation accuracy",
        "test accuracy, mean [95% interval]",
        "test macro-F1",
    ]
    rows = [
        [
            f"{level[FREEZE]}" + (" (recommended)" if level[FREEZE] == recommended else ""),
            str(level[FROZEN_STAGES]).replace(",", ", "),
            f"{level[N.TRAINABLE_PARAMS]:,.0f} ({pct_trainable(level)})",
            _cell(level, N.FIT_TIME, unit=" s"),
            _cell(level, N.EPOCHS_RUN),
            _cell(level, N.BEST_EPOCH),
            _cell(level, N.VAL_ACC, 100, unit="%"),
            _test_cell(level),
            _macro_f1(scores, level[FREEZE]),
        ]
        for _, level in summary.iterrows()
    ]
    return Block("table", header=header, rows=rows)


def selection_table(selection: Selection) -> Block:
    """The evidence of the selection rule, one row per level (validation split only)."""
    header = [
        "freeze",
        "runs",
        "mean validation accuracy",
        "trainable parameters",
        "paired seeds",
        "validation images right only here / only at the best level",
        "exact McNemar p",
        "verdict",
    ]
    rows = []
    for r in selection.evidence.itertuples():
        compared = r.seeds_paired > 0
        rows.append(
            [
                f"{r.freeze}" + (" (recommended)" if r.recommended else ""),
                str(r.runs),
                "—" if pd.isna(r.val_acc_mean) else f"{r.val_acc_mean * 100:.1f}%",
                f"{r.trainable_params:,}",
                str(r.seeds_paired) if compared else "—",
                f"{r.only_this} / {r.only_best} of {r.images}" if compared else "—",
                f"{r.pvalue:.3g}" if compared else "—",
                r.verdict,
            ]
        )
    return Block("table", header=header, rows=rows)


def comparison_table(comparisons: pd.DataFrame, reference: int) -> Block:
    """Each level against the recommended one on the same test images."""
    header = [
        "freeze",
        "paired seeds",
        f"per seed: test images right only here / only at freeze={reference}, p",
        "pooled exact McNemar p",
        f"verdict against freeze={reference}",
    ]
    rows = []
    for r in comparisons.itertuples():
        if r.pooled is None:
            rows.append([str(r.freeze), "0", "—", "—", "not compared: no seed on the same test images"])
            continue
        per_seed = "; ".join(
            f"seed {s}: {p.only_a} / {p.only_b}, p={p.pvalue:.3g}" for s, p in zip(r.seeds, r.per_seed, strict=True)
        )
        verdict = "within noise" if r.pooled.pvalue >= stats.ALPHA else "differs"
        rows.append([str(r.freeze), str(len(r.seeds)), per_seed, f"{r.pooled.pvalue:.3g}", verdict])
    return Block("table", header=header, rows=rows)


def class_table(scores: pd.DataFrame) -> Block | None:
    """Precision, recall and F1 per class on the test split, mean over seeds, per level."""
    test = scores[(scores[SPLIT] == "test") & (scores[CLASS] != MACRO)]
    if test.empty:
        return None
    wide = test.groupby([FREEZE, CLASS, SCORE])[VALUE].agg(["mean", "size"]).reset_index()
    rows = []
    for (freeze, name), cell in wide.groupby([FREEZE, CLASS], sort=True):
        by = cell.set_index(SCORE)
        rows.append([str(freeze), name, *(f"{by.loc[s, 'mean']:.3f}" for s in N.CLASS_SCORES), str(by["size"].iloc[0])])
    return Block("table", header=["freeze", "class", *N.CLASS_SCORES, "n"], rows=rows)


def excluded_table(excluded: pd.DataFrame) -> Block:
    """The FINISHED runs left out of every mean, and why."""
    rows = [[r[RUN_ID], N.grid_point_name(r[FREEZE], r[SEED]), r[REASON]] for _, r in excluded.iterrows()]
    return Block("table", header=["run", "grid point", "why it is left out"], rows=rows)


def build(title: str, intro: str, sweep: Sweep, out_dir: Path) -> list[Block]:
    """The report's blocks, drawing the figures into `out_dir`."""
    blocks = [Block("h1", title), Block("p", intro)]
    if sweep.context.note:
        blocks.append(Block("note", sweep.context.note))
    blocks += [
        Block("h2", "What was run"),
        Block("table", header=["", ""], rows=[list(line) for line in sweep.context.lines], css="context"),
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
    left_out = f"; {len(sweep.excluded)} more FINISHED runs are left out (listed below)" if len(sweep.excluded) else ""
    intro = (
        f"Experiment '{experiment}', sweep run '{parent.info.run_name}': {len(sweep.runs)} finished runs over "
        f"{sweep.runs[FREEZE].nunique()} freeze levels{left_out}."
    )
    blocks = build(title, intro, sweep, out_dir)
    (out_dir / "report.md").write_text(markdown(blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(page(title, blocks, out_dir), encoding="utf-8")
    client.log_artifacts(sweep_run_id, str(out_dir), artifact_path=N.REPORT_ARTIFACT)
    return out_dir
