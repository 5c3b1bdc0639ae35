"""The report's figures of training: one function per figure, each drawing the tidy tables of
`store.load_sweep` on Axes (the results' figures are in `result_figures`, what both share in `figure_style`).

`draw_all` makes these five PNGs for the report. Figures are plain
`matplotlib.figure.Figure` objects, so no backend is ever selected.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

import freeze_study.names as N
from freeze_study.report.columns import EPOCH, FREEZE, METRIC, RUN_ID, SEED, VALUE
from freeze_study.report.figure_style import (
    MARKERS,
    bars_with_dots,
    colour,
    level_legend,
    level_ticks,
    save,
    seeds_per_level,
)

CONVERGED = 0.95  # "converged": first epoch at this fraction of the run's best validation accuracy
TRAIN_STYLE, VAL_STYLE = "--", "-"


def per_epoch(history: pd.DataFrame) -> pd.DataFrame:
    """One row per run × epoch, one column per per-epoch metric."""
    wide = history.pivot_table(index=[RUN_ID, FREEZE, SEED, EPOCH], columns=METRIC, values=VALUE)
    return wide.reindex(columns=list(N.EPOCH_METRICS)).reset_index()


def _curve(ax: Axes, wide: pd.DataFrame, values: pd.Series, style: str) -> None:
    """Mean over seeds per epoch, with a min–max band when there is more than one seed; a single epoch
    is drawn as markers with an error bar (a line needs two points), on integer epoch ticks."""
    for freeze, rows in wide.assign(y=values).groupby(FREEZE):
        stats = rows.groupby(EPOCH)["y"].agg(["mean", "min", "max"]).dropna()
        single = len(stats) == 1
        ax.plot(
            stats.index, stats["mean"], style, color=colour(freeze), lw=1.8, marker=MARKERS[freeze] if single else None
        )
        if rows[RUN_ID].nunique() > 1 and single:
            ax.vlines(stats.index, stats["min"], stats["max"], color=colour(freeze), alpha=0.5, lw=3)
        elif rows[RUN_ID].nunique() > 1:
            ax.fill_between(stats.index, stats["min"], stats["max"], color=colour(freeze), alpha=0.15, lw=0)
    epochs = sorted(wide[EPOCH].unique())
    if len(epochs) == 1:  # autoscaling one point gives fractional ticks around it
        ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


_SPLITS = [
    Line2D([], [], color="0.3", ls=TRAIN_STYLE, label="train"),
    Line2D([], [], color="0.3", ls=VAL_STYLE, label="validation"),
]


def accuracies(history: pd.DataFrame, ax: Axes) -> None:
    """Train (dashed) and validation (solid) accuracy per epoch, one colour per freeze level."""
    wide = per_epoch(history)
    _curve(ax, wide, wide[N.TRAIN_ACC] * 100, TRAIN_STYLE)
    _curve(ax, wide, wide[N.VAL_ACC] * 100, VAL_STYLE)
    ax.set(
        title="Accuracy per epoch (mean over seeds, band = min–max)", xlabel="epoch (0-based)", ylabel="accuracy (%)"
    )
    level_legend(ax, seeds_per_level(wide), _SPLITS)


def loss_progress(history: pd.DataFrame, ax: Axes) -> None:
    """Train (dashed) and validation (solid) loss per epoch, one colour per freeze level."""
    wide = per_epoch(history)
    _curve(ax, wide, wide[N.TRAIN_LOSS], TRAIN_STYLE)
    _curve(ax, wide, wide[N.VAL_LOSS], VAL_STYLE)
    ax.set(
        title="Loss per epoch (mean over seeds, band = min–max)",
        xlabel="epoch (0-based)",
        ylabel="cross-entropy loss (nats)",
    )
    level_legend(ax, seeds_per_level(wide), _SPLITS)


def overfitting_analysis(history: pd.DataFrame, fig: Figure) -> None:
    """Two panels: validation − train loss and train − validation accuracy per epoch (above 0 = overfitting)."""
    wide = per_epoch(history)
    loss_ax, acc_ax = fig.subplots(1, 2, sharex=True)
    _curve(loss_ax, wide, wide[N.VAL_LOSS] - wide[N.TRAIN_LOSS], VAL_STYLE)
    _curve(acc_ax, wide, (wide[N.TRAIN_ACC] - wide[N.VAL_ACC]) * 100, VAL_STYLE)
    for ax in (loss_ax, acc_ax):
        ax.axhline(0, color="0.4", lw=0.8)
    loss_ax.set(title="Loss gap: validation − train", xlabel="epoch (0-based)", ylabel="loss difference (nats)")
    acc_ax.set(
        title="Accuracy gap: train − validation",
        xlabel="epoch (0-based)",
        ylabel="accuracy difference (percentage points)",
    )
    fig.suptitle("Overfitting per freeze level (mean over seeds, band = min–max; above 0 = fits train better)")
    level_legend(acc_ax, seeds_per_level(wide))


def epochs_to_converge(history: pd.DataFrame, fraction: float = CONVERGED) -> pd.Series:
    """Per run: the first epoch whose validation accuracy reaches `fraction` of that run's best."""
    wide = per_epoch(history).dropna(subset=[N.VAL_ACC])
    reached = wide[wide[N.VAL_ACC] >= fraction * wide.groupby(RUN_ID)[N.VAL_ACC].transform("max")]
    return reached.groupby(RUN_ID)[EPOCH].min()


def convergence_analysis(runs: pd.DataFrame, history: pd.DataFrame, ax: Axes) -> None:
    """Per level: epoch at which validation accuracy first reaches 95% of the run's best, and the best epoch."""
    table = runs.assign(converged=runs[RUN_ID].map(epochs_to_converge(history)))
    levels, seeds, width = sorted(table[FREEZE].unique()), seeds_per_level(table), 0.38
    for i, freeze in enumerate(levels):
        rows = table[table[FREEZE] == freeze]
        bars_with_dots(ax, i - width / 2, rows["converged"].dropna(), freeze, width)
        bars_with_dots(ax, i + width / 2, rows[N.BEST_EPOCH], freeze, width, alpha=0.45, hatch="//")
    level_ticks(ax, levels, seeds)
    ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))  # epochs from 0; a one-epoch sweep still gets ticks 0 and 1
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    ax.set(title="Convergence per freeze level (bar = mean, dot = one seed)", ylabel="epoch (0-based)")
    ax.legend(
        handles=[
            Patch(color="0.45", label=f"first epoch at {CONVERGED:.0%} of the run's best val. accuracy"),
            Patch(facecolor="0.45", alpha=0.45, hatch="//", label="best epoch (lowest val. loss, tested)"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.02, 1),
        frameon=False,
        fontsize="small",
    )


def params_vs_time(runs: pd.DataFrame, ax: Axes) -> None:
    """Trainable parameters (log x) against fit time, one point per run, coloured and labelled by level."""
    for freeze, rows in runs.groupby(FREEZE):
        ax.scatter(
            rows[N.TRAINABLE_PARAMS],
            rows[N.FIT_TIME],
            s=40,
            marker=MARKERS[freeze],
            color=colour(freeze),
            edgecolor="white",
            zorder=3,
        )
        side = 1 if freeze % 2 == 0 else -1  # alternate sides: levels 0..3 share one column of points
        ax.annotate(
            f"freeze={freeze}",
            (rows[N.TRAINABLE_PARAMS].iloc[0], rows[N.FIT_TIME].mean()),
            xytext=(10 * side, 0),
            textcoords="offset points",
            va="center",
            ha="left" if side > 0 else "right",
            fontsize="small",
            color=colour(freeze),
        )
    ax.set_xscale("log")
    ax.margins(x=0.2, y=0.15)
    ax.grid(alpha=0.3)
    ax.set(
        title="Trainable parameters vs fit time (one point per run)",
        xlabel="trainable parameters (count, log scale)",
        ylabel="fit time (s)",
    )
    level_legend(ax, seeds_per_level(runs), markers=True)


def draw_all(runs: pd.DataFrame, history: pd.DataFrame, out_dir: Path) -> list[tuple[str, str]]:
    """Draw the five figures of training into `out_dir`; returns (file name, caption) pairs in report order."""
    drawn = []
    for name, size, draw, caption in (
        (
            "accuracies.png",
            (9, 4.8),
            lambda f: accuracies(history, f.subplots()),
            "Train (dashed) and validation (solid) accuracy per epoch.",
        ),
        (
            "loss_progress.png",
            (9, 4.8),
            lambda f: loss_progress(history, f.subplots()),
            "Train (dashed) and validation (solid) loss per epoch.",
        ),
        (
            "overfitting_analysis.png",
            (13, 4.8),
            lambda f: overfitting_analysis(history, f),
            "Overfitting per epoch: validation − train loss, train − validation accuracy "
            "(above 0 = fits train better).",
        ),
        (
            "convergence_analysis.png",
            (9, 4.8),
            lambda f: convergence_analysis(runs, history, f.subplots()),
            f"How fast each level converges: first epoch at {CONVERGED:.0%} of the best validation accuracy, "
            "and the best epoch.",
        ),
        (
            "params_vs_time.png",
            (9, 4.8),
            lambda f: params_vs_time(runs, f.subplots()),
            "Trainable parameters against fit time, one point per run.",
        ),
    ):
        fig = Figure(figsize=size)
        draw(fig)
        save(fig, out_dir / name)
        drawn.append((name, caption))
    return drawn
