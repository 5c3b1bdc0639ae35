"""The report's figures of results: test accuracy with intervals, confusion matrices per level, the cost frontier.

One function per figure, drawing the tidy tables of `store.load_sweep` and the per-level
summary on Axes or a Figure; `draw_all` makes the three PNGs. The recommended level
(chosen on validation, `selection`) is marked in each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import freeze_study.names as N
from freeze_study.levels import level_name
from freeze_study.report.columns import FREEZE, RUN_ID, SPLIT
from freeze_study.report.figure_style import MARKERS, bars_with_dots, colour, level_ticks, save, seeds_per_level

TEST = "test"


def accuracy_on_test(
    runs: pd.DataFrame, ax: Axes, summary: pd.DataFrame | None = None, recommended: int | None = None
) -> None:
    """Test accuracy per level: bar = mean, dot = one seed, black bar beside it = the 95% interval of `summary`
    (t over seeds, or Wilson with one seed), value label; the recommended level named; the y axis zoomed."""
    levels, seeds = sorted(runs[FREEZE].unique()), seeds_per_level(runs)
    acc = runs[N.TEST_ACC] * 100
    bounds = summary.set_index(FREEZE)[["test_acc_low", "test_acc_high"]] * 100 if summary is not None else None
    top, bottom = acc.max(), acc.min()
    for i, freeze in enumerate(levels):
        mean = bars_with_dots(ax, i, acc[runs[FREEZE] == freeze], freeze, 0.6)
        label_at = acc[runs[FREEZE] == freeze].max()
        if bounds is not None and bounds.loc[freeze].notna().all():
            low, high = bounds.loc[freeze]
            ax.errorbar(i + 0.38, mean, [[mean - low], [high - mean]], fmt="none", ecolor="0.1", capsize=4, lw=1.4)
            top, bottom = max(top, high), min(bottom, low)
        ax.annotate(
            f"{mean:.1f}%",
            (i, label_at),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontweight="bold" if freeze == recommended else "normal",
        )
    pad = max(2.0, 0.2 * (top - bottom))
    ax.set_ylim(max(0.0, bottom - pad), min(100.0, top + 1.5 * pad))
    level_ticks(ax, levels, seeds, recommended)
    ax.grid(axis="y", alpha=0.3)
    ax.set(
        title="Test accuracy per freeze level (bar = mean, dot = one seed, black = 95% interval)",
        ylabel="test accuracy (%)",
    )


def confusion_counts(predictions: pd.DataFrame, split: str = TEST) -> dict[int, pd.DataFrame]:
    """Per level: counts of (true class, predicted class) on `split`, summed over the level's seeds
    (rows true, columns predicted, every class of the split in both, sorted by name)."""
    rows = predictions[predictions[SPLIT] == split]
    classes = sorted(set(rows[N.TRUE_COL]) | set(rows[N.PREDICTED_COL]))
    return {
        int(freeze): pd.crosstab(level[N.TRUE_COL], level[N.PREDICTED_COL]).reindex(
            index=classes, columns=classes, fill_value=0
        )
        for freeze, level in rows.groupby(FREEZE)
    }


def confusion_matrices(predictions: pd.DataFrame, fig: Figure, recommended: int | None = None) -> None:
    """One panel per level: test images by true class (rows) and predicted class (columns), summed over
    seeds; colour = share of the row (recall on the diagonal), text = the count."""
    counts = confusion_counts(predictions)
    seeds = predictions[predictions[SPLIT] == TEST].groupby(FREEZE)[RUN_ID].nunique()
    axes = np.atleast_1d(fig.subplots(1, len(counts), sharey=True))
    image = None
    for ax, (freeze, table) in zip(axes, counts.items(), strict=True):
        share = table.div(table.sum(axis=1).replace(0, 1), axis=0)
        image = ax.imshow(share.to_numpy(), cmap="Blues", vmin=0, vmax=1)
        for (i, j), n in np.ndenumerate(table.to_numpy()):
            ax.text(j, i, f"{n}", ha="center", va="center", color="white" if share.iat[i, j] > 0.6 else "0.1")
        names = [c.replace("_", "\n") for c in table.columns]
        ax.set_xticks(range(len(names)), names, fontsize="small")
        ax.set_yticks(range(len(names)), names, fontsize="small")
        per_run = int(table.to_numpy().sum() / max(seeds.get(freeze, 1), 1))
        mark = ", recommended" if freeze == recommended else ""
        ax.set_title(f"{level_name(freeze)}{mark}\nn={seeds.get(freeze, 0)} × {per_run} images", fontsize="medium")
        ax.set_xlabel("predicted class")
    axes[0].set_ylabel("true class")
    if image is None:  # fig.subplots refuses zero panels before this
        raise ValueError("no test predictions to draw confusion matrices of")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="share of the true class (row)")
    fig.suptitle("Test confusion matrices (counts summed over seeds)")


def non_dominated(cost: pd.Series, accuracy: pd.Series) -> list:
    """The labels of the points no other point beats on both: one is dominated when another costs no more
    and is at least as accurate, and strictly better on one of the two. Sorted by cost."""
    keep = [
        k
        for k in cost.index
        if not any(
            cost[j] <= cost[k] and accuracy[j] >= accuracy[k] and (cost[j] < cost[k] or accuracy[j] > accuracy[k])
            for j in cost.index
        )
    ]
    return sorted(keep, key=lambda k: (cost[k], -accuracy[k]))


def _frontier_panel(ax: Axes, summary: pd.DataFrame, cost: str, recommended: int | None) -> None:
    s = summary.set_index(FREEZE)
    acc, low, high = s[f"{N.TEST_ACC}_mean"] * 100, s["test_acc_low"] * 100, s["test_acc_high"] * 100
    x = s[cost]
    front = non_dominated(x, acc)
    ax.plot(x[front], acc[front], "-", color="0.55", lw=1.2, zorder=1)
    for k in s.index:
        bars = None if np.isnan(low[k]) else [[acc[k] - low[k]], [high[k] - acc[k]]]
        ax.errorbar(x[k], acc[k], bars, fmt=MARKERS[k], color=colour(k), ms=8, capsize=4, zorder=3)
        side = 1 if k % 2 == 0 else -1  # alternate sides: levels 0..3 train similar numbers of parameters
        ax.annotate(
            f"freeze={k}",
            (x[k], acc[k]),
            xytext=(9 * side, 6),
            textcoords="offset points",
            ha="left" if side > 0 else "right",
            fontsize="small",
            color=colour(k),
        )
    if recommended in s.index:
        ax.scatter(x[recommended], acc[recommended], s=380, facecolor="none", edgecolor="crimson", lw=2, zorder=4)
    ax.margins(x=0.15, y=0.15)
    ax.grid(alpha=0.3)
    ax.set_ylabel("test accuracy (%), mean and 95% interval")


def cost_frontier(summary: pd.DataFrame, fig: Figure, recommended: int | None = None) -> None:
    """Test accuracy (mean, 95% interval) against mean fit time and against trainable parameters; the
    non-dominated levels (cheaper or more accurate than every other) joined; the recommended level ringed."""
    time_ax, params_ax = fig.subplots(1, 2, sharey=True)
    _frontier_panel(time_ax, summary, f"{N.FIT_TIME}_mean", recommended)
    _frontier_panel(params_ax, summary, N.TRAINABLE_PARAMS, recommended)
    time_ax.set_xlabel("fit time (s), mean over seeds")
    params_ax.set_xlabel("trainable parameters (count, log scale)")
    params_ax.set_xscale("log")
    params_ax.set_ylabel("")
    params_ax.legend(
        handles=[
            Line2D([], [], color="0.55", label="non-dominated levels"),
            Line2D([], [], ls="", marker="o", ms=14, mfc="none", mec="crimson", mew=2, label="recommended"),
        ],
        loc="lower right",
        fontsize="small",
    )
    fig.suptitle("Cost frontier: test accuracy against fit time and trainable parameters")


def draw_all(
    runs: pd.DataFrame, summary: pd.DataFrame, predictions: pd.DataFrame, recommended: int | None, out_dir: Path
) -> list[tuple[str, str]]:
    """Draw the results figures into `out_dir`: (file name, caption) pairs in report order. Without test
    predictions there are no confusion matrices."""
    figures = [
        (
            "test_results.png",
            (8, 4.8),
            lambda f: accuracy_on_test(runs, f.subplots(), summary, recommended),
            "Test accuracy of the tested (best-validation-loss) checkpoint per freeze level, with its 95% interval "
            "(t over the seed means; Wilson over the test images with one seed).",
        ),
        (
            "cost_frontier.png",
            (12, 4.8),
            lambda f: cost_frontier(summary, f, recommended),
            "Cost frontier: mean test accuracy with its 95% interval against fit time and trainable parameters; "
            "the line joins the non-dominated levels; the ring marks the level recommended on validation.",
        ),
    ]
    if (predictions[SPLIT] == TEST).any():
        n = predictions.loc[predictions[SPLIT] == TEST, FREEZE].nunique()
        figures.insert(
            1,
            (
                "confusion_matrices.png",
                (3.6 * n + 1.5, 4.2),
                lambda f: confusion_matrices(predictions, f, recommended),
                "Test confusion matrices per freeze level: rows are the true class, columns the predicted one; "
                "colour is the share of the row, the number the count, summed over seeds.",
            ),
        )
    drawn = []
    for name, size, draw, caption in figures:
        fig = Figure(figsize=size, layout="constrained")
        draw(fig)
        save(fig, out_dir / name)
        drawn.append((name, caption))
    return drawn
