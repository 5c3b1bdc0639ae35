"""The report's figures of training: one function per figure, each drawing the tidy tables of
`store.load_sweep` on Axes (the evidence figures are in `evidence_figures`).

`draw_all` makes these five PNGs for the report. Figures are plain
`matplotlib.figure.Figure` objects, so no backend is ever selected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

import freeze_study.names as N
from freeze_study.levels import level_name
from freeze_study.report.columns import EPOCH, FREEZE, METRIC, RUN_ID, SEED, VALUE

DPI = 120
CONVERGED = 0.95  # "converged": first epoch at this fraction of the run's best validation accuracy
TRAIN_STYLE, VAL_STYLE = "--", "-"
MARKERS = "osD^v"  # per freeze level, where points of neighbouring levels overlap


def colour(freeze: int) -> tuple:
    """One colour per freeze level, the same in every figure (viridis, without its hard-to-see yellow end)."""
    return colormaps["viridis"](0.85 * freeze / N.MAX_FREEZE)


def per_epoch(history: pd.DataFrame) -> pd.DataFrame:
    """One row per run × epoch, one column per per-epoch metric."""
    wide = history.pivot_table(index=[RUN_ID, FREEZE, SEED, EPOCH], columns=METRIC, values=VALUE)
    return wide.reindex(columns=list(N.EPOCH_METRICS)).reset_index()


def seeds_per_level(table: pd.DataFrame) -> pd.Series:
    """Runs per freeze level (one per seed)."""
    return table.groupby(FREEZE)[RUN_ID].nunique()


def _level_legend(ax: Axes, seeds: pd.Series, extra: list | None = None, markers: bool = False) -> None:
    handles = [
        Line2D([], [], ls="", marker=MARKERS[k], color=colour(k), label=f"{level_name(k)}, n={n}")
        if markers
        else Patch(color=colour(k), label=f"{level_name(k)}, n={n}")
        for k, n in seeds.items()
    ]
    ax.legend(
        handles=handles + (extra or []),
        title="freeze level",
        loc="upper left",
        bbox_to_anchor=(1.02, 1),
        frameon=False,
        fontsize="small",
    )


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
    _level_legend(ax, seeds_per_level(wide), _SPLITS)


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
    _level_legend(ax, seeds_per_level(wide), _SPLITS)


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
    _level_legend(acc_ax, seeds_per_level(wide))


def epochs_to_converge(history: pd.DataFrame, fraction: float = CONVERGED) -> pd.Series:
    """Per run: the first epoch whose validation accuracy reaches `fraction` of that run's best."""
    wide = per_epoch(history).dropna(subset=[N.VAL_ACC])
    reached = wide[wide[N.VAL_ACC] >= fraction * wide.groupby(RUN_ID)[N.VAL_ACC].transform("max")]
    return reached.groupby(RUN_ID)[EPOCH].min()


def level_ticks(ax: Axes, levels: list[int], seeds: pd.Series, recommended: int | None = None) -> None:
    """One x tick per level: its name, its n and whether it is the recommended one."""
    ax.set_xticks(
        range(len(levels)),
        [
            f"{level_name(k)}\nn={seeds[k]}".replace(" (", "\n(") + ("\nrecommended" if k == recommended else "")
            for k in levels
        ],
    )
    pad = max(0.0, (3 - len(levels)) / 2)  # one or two levels keep the width of three, not one huge bar
    ax.set_xlim(-0.6 - pad, len(levels) - 0.4 + pad)


def bars_with_dots(ax: Axes, x: float, values: pd.Series, freeze: int, width: float, **bar) -> float:
    """A bar at the mean and one dot per seed; returns the mean."""
    mean = float(values.mean())
    ax.bar(x, mean, width, color=colour(freeze), edgecolor=colour(freeze), **bar)
    jitter = np.linspace(-width / 4, width / 4, len(values)) if len(values) > 1 else [0.0]
    ax.scatter(x + np.asarray(jitter), values, s=22, color="white", edgecolor="0.15", zorder=3)
    return mean


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
    _level_legend(ax, seeds_per_level(runs), markers=True)


def save(fig: Figure, path: Path) -> Path:
    """Save at a readable DPI and close (a pyplot figure is closed; a bare Figure just goes out of scope)."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    if fig.canvas.manager is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return Path(path)


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
