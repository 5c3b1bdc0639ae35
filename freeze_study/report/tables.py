"""The report's tables, as page blocks: what was run, results per level, the selection's evidence, the paired
test comparisons, per-class scores and the runs left out. Cells carry a spread only where there is one."""

from __future__ import annotations

import pandas as pd

import freeze_study.names as N
from freeze_study.report import stats
from freeze_study.report.columns import CLASS, FREEZE, FROZEN_STAGES, REASON, RUN_ID, SCORE, SEED, SPLIT, VALUE
from freeze_study.report.context import Context
from freeze_study.report.evidence import MACRO
from freeze_study.report.page import Block
from freeze_study.report.selection import Selection
from freeze_study.report.summary import interval_text, pct_trainable

CELLS_NOTE = (
    "Cells are mean ± sample standard deviation over the level's seeds (n in the fourth column); a cell marked "
    "(n=1) comes from a single seed and has no spread to show. Validation accuracy is at the best epoch (lowest "
    "validation loss), whose checkpoint was tested. Test accuracy is the mean with its 95% interval: with two or "
    "more seeds, Student's t interval on the seed means (it covers seed-to-seed variation, not the sampling of "
    "the test images: the paired tests below do that); with one seed, the Wilson score interval over the test "
    "images."
)


def cell(mean: float, std: float, n: int, digits: int = 1) -> str:
    """'93.8 ± 1.1', or '93.8 (n=1)' for a single seed (no '± 0.0': one value has no spread)."""
    if n < 2 or pd.isna(std):
        return f"{mean:.{digits}f} (n={n})"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _level_cell(level: pd.Series, key: str, scale: float = 1.0, digits: int = 1) -> str:
    return cell(level[f"{key}_mean"] * scale, level[f"{key}_std"] * scale, level["n"], digits)


def _test_cell(level: pd.Series) -> str:
    single = " (n=1)" if level["n"] == 1 else ""
    interval = interval_text(level["test_acc_low"], level["test_acc_high"])
    if not interval:
        return f"{level['test_acc_mean'] * 100:.1f}{single} (no interval: {level['test_acc_interval']})"
    return f"{level['test_acc_mean'] * 100:.1f} {interval}{single}"


def _macro_f1(scores: pd.DataFrame, freeze: int) -> str:
    values = scores[(scores[FREEZE] == freeze) & (scores[SPLIT] == "test") & (scores[CLASS] == MACRO)][VALUE]
    if values.empty:
        return "not recorded"
    return cell(values.mean(), values.std(ddof=1), len(values), digits=3)


def context_table(context: Context) -> Block:
    """What was run: one row per fact, no header."""
    return Block("table", header=["", ""], rows=[list(line) for line in context.lines], align="ll", css="context")


def level_table(summary: pd.DataFrame, scores: pd.DataFrame, recommended: int | None) -> Block:
    """The per-level results table."""
    header = [
        "freeze",
        "frozen stages",
        "trainable parameters",
        "seeds (n)",
        "fit time (s)",
        "epochs run",
        "best epoch (0-based)",
        "validation accuracy (%)",
        "test accuracy (%), mean [95% interval]",
        "test macro-F1",
    ]
    rows = [
        [
            f"{level[FREEZE]}" + (" (recommended)" if level[FREEZE] == recommended else ""),
            str(level[FROZEN_STAGES]).replace(",", ", "),
            f"{level[N.TRAINABLE_PARAMS]:,.0f} ({pct_trainable(level)})",
            str(level["n"]),
            _level_cell(level, N.FIT_TIME, digits=0),
            _level_cell(level, N.EPOCHS_RUN),
            _level_cell(level, N.BEST_EPOCH),
            _level_cell(level, N.VAL_ACC, 100),
            _test_cell(level),
            _macro_f1(scores, level[FREEZE]),
        ]
        for _, level in summary.iterrows()
    ]
    return Block("table", header=header, rows=rows, align="ll" + "r" * 8)


def selection_table(selection: Selection) -> Block:
    """The evidence of the selection rule, one row per level (validation split only)."""
    header = [
        "freeze",
        "runs",
        "mean validation accuracy (%)",
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
                "—" if pd.isna(r.val_acc_mean) else f"{r.val_acc_mean * 100:.1f}",
                f"{r.trainable_params:,}",
                str(r.seeds_paired) if compared else "—",
                f"{r.only_this} / {r.only_best} of {r.images}" if compared else "—",
                f"{r.pvalue:.3g}" if compared else "—",
                r.verdict,
            ]
        )
    return Block("table", header=header, rows=rows, align="l" + "r" * 6 + "l")


def comparison_table(comparisons: pd.DataFrame, reference: int) -> Block:
    """Each level against the recommended one on the same test images."""
    header = [
        "freeze",
        "paired seeds",
        f"per seed: test images right only here / only at freeze={reference}, exact McNemar p",
        "pooled p",
        f"against freeze={reference}",
    ]
    rows = []
    for r in comparisons.itertuples():
        if r.pooled is None:
            rows.append([str(r.freeze), "0", "—", "—", "not compared: no seed on the same test images"])
            continue
        per_seed = "; ".join(
            f"seed {s}: {p.only_a} / {p.only_b}, p = {p.pvalue:.3g}" for s, p in zip(r.seeds, r.per_seed, strict=True)
        )
        verdict = "within noise" if r.pooled.pvalue >= stats.ALPHA else "differs"
        rows.append([str(r.freeze), str(len(r.seeds)), per_seed, f"{r.pooled.pvalue:.3g}", verdict])
    return Block("table", header=header, rows=rows, align="lrlrl")


def class_table(scores: pd.DataFrame) -> Block | None:
    """Precision, recall and F1 per class on the test split, mean over seeds, per level."""
    test = scores[(scores[SPLIT] == "test") & (scores[CLASS] != MACRO)]
    if test.empty:
        return None
    wide = test.groupby([FREEZE, CLASS, SCORE])[VALUE].agg(["mean", "size"]).reset_index()
    rows = []
    for (freeze, name), group in wide.groupby([FREEZE, CLASS], sort=True):
        by = group.set_index(SCORE)
        rows.append([str(freeze), name, *(f"{by.loc[s, 'mean']:.3f}" for s in N.CLASS_SCORES), str(by["size"].iloc[0])])
    header = ["freeze", "class", "precision", "recall", "F1", "seeds (n)"]
    return Block("table", header=header, rows=rows, align="llrrrr")


def excluded_table(excluded: pd.DataFrame) -> Block:
    """The FINISHED runs left out of every mean, and why."""
    rows = [[r[RUN_ID], N.grid_point_name(r[FREEZE], r[SEED]), r[REASON]] for _, r in excluded.iterrows()]
    return Block("table", header=["run", "grid point", "why it is left out"], rows=rows, align="lll")
