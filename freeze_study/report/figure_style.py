"""What every figure of the report shares: one colour and marker per freeze level, the level legend and
ticks with each level's n, bars with a dot per seed, and the one helper that saves (`figures`,
`result_figures` draw with them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import freeze_study.names as N
from freeze_study.levels import level_name
from freeze_study.report.columns import FREEZE, RUN_ID

DPI = 120
MARKERS = "osD^v"  # per freeze level, where points of neighbouring levels overlap


def colour(freeze: int) -> tuple:
    """One colour per freeze level, the same in every figure (viridis, without its hard-to-see yellow end)."""
    return colormaps["viridis"](0.85 * freeze / N.MAX_FREEZE)


def seeds_per_level(table: pd.DataFrame) -> pd.Series:
    """Runs per freeze level (one per seed)."""
    return table.groupby(FREEZE)[RUN_ID].nunique()


def level_legend(ax: Axes, seeds: pd.Series, extra: list | None = None, markers: bool = False) -> None:
    """A legend of the freeze levels (colour, or marker and colour) with each level's n, beside the Axes."""
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


def save(fig: Figure, path: Path) -> Path:
    """Save at a readable DPI and close (a pyplot figure is closed; a bare Figure just goes out of scope)."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    if fig.canvas.manager is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return Path(path)
