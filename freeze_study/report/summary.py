"""What a sweep's runs say: one row per freeze level, and a few sentences computed from it."""

from __future__ import annotations

import pandas as pd

import freeze_study.names as N
from freeze_study.model.levels import level_name
from freeze_study.report.store import FREEZE, FROZEN_STAGES, RUN_ID

SUMMARY_METRICS = (N.FIT_TIME, N.EPOCHS_RUN, N.BEST_EPOCH, N.TRAIN_ACC, N.VAL_ACC, N.TEST_ACC)
WITHIN_PP = 1.0  # "as good as the best": mean test accuracy within this many percentage points
LARGE_GAP_PP = 5.0  # a train − validation accuracy gap worth pointing out


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per freeze level: stages, trainable params (and % of all), n seeds, mean and std of each result."""
    by_level = runs.groupby(FREEZE)
    out = by_level.agg(
        **{
            FROZEN_STAGES: (FROZEN_STAGES, "first"),
            N.TRAINABLE_PARAMS: (N.TRAINABLE_PARAMS, "first"),
            N.TOTAL_PARAMS: (N.TOTAL_PARAMS, "first"),
            "n": (RUN_ID, "size"),
        }
    )
    out["pct_trainable"] = out[N.TRAINABLE_PARAMS] / out[N.TOTAL_PARAMS] * 100
    for key in SUMMARY_METRICS:
        out[f"{key}_mean"] = by_level[key].mean()
        out[f"{key}_std"] = by_level[key].std(ddof=1).fillna(0.0)  # sample std; 0 with a single seed
    return out.reset_index()


def findings(summary: pd.DataFrame) -> list[str]:
    """A few sentences computed from the per-level summary: best level, cheapest near-best, time, overfitting."""
    s = summary.set_index(FREEZE)
    acc, n = s[f"{N.TEST_ACC}_mean"] * 100, s["n"]
    best = acc.idxmax()
    out = [f"The best mean test accuracy is {acc[best]:.1f}% (n={n[best]}), at {level_name(best)}."]
    if len(s) > 1:
        close = s[acc >= acc[best] - WITHIN_PP].sort_index(ascending=False)
        cheap = close[N.TRAINABLE_PARAMS].idxmin()
        fewer = s[s[N.TRAINABLE_PARAMS] < s.loc[best, N.TRAINABLE_PARAMS]]
        if cheap != best:
            out.append(
                f"{level_name(cheap)} comes within {WITHIN_PP:g} percentage point of the best "
                f"({acc[cheap]:.1f}% vs {acc[best]:.1f}%) while training only {_params(s.loc[cheap])}, "
                f"the fewest of any level that close."
            )
        elif fewer.empty:
            out.append(f"It also trains the fewest parameters of the levels run: {_params(s.loc[best])}.")
        else:
            near = acc[fewer.index].idxmax()
            out.append(
                f"No level that trains fewer parameters comes within {WITHIN_PP:g} percentage point of it; "
                f"the closest is {level_name(near)} at {acc[near]:.1f}% ({acc[best] - acc[near]:.1f} "
                f"points less), training {_params(s.loc[near])}."
            )
    fit, epochs = s[f"{N.FIT_TIME}_mean"], s[f"{N.EPOCHS_RUN}_mean"]
    fast, slow = fit.idxmin(), fit.idxmax()
    if fast != slow:
        out.append(
            f"{level_name(fast)} fits fastest ({fit[fast]:.0f} s, {epochs[fast]:.1f} epochs on average) and "
            f"{level_name(slow)} slowest ({fit[slow]:.0f} s, {epochs[slow]:.1f} epochs): "
            f"{fit[slow] / fit[fast]:.1f}× as long."
        )
    else:
        out.append(f"Mean fit time: {fit[fast]:.0f} s over {epochs[fast]:.1f} epochs.")
    gap = (s[f"{N.TRAIN_ACC}_mean"] - s[f"{N.VAL_ACC}_mean"]) * 100
    if gap.notna().any() and gap.max() <= 0:
        out.append("At the tested checkpoint, validation accuracy is at or above train accuracy at every level.")
    elif gap.notna().any():
        worst = gap.idxmax()
        large = gap.index[gap >= LARGE_GAP_PP]
        out.append(
            f"At the tested checkpoint, train accuracy exceeds validation accuracy most at {level_name(worst)} "
            f"({gap[worst]:.1f} points); "
            + (
                f"the gap is {LARGE_GAP_PP:g} points or more at {_levels(large)}."
                if len(large)
                else f"no level's gap reaches {LARGE_GAP_PP:g} points."
            )
        )
    single = n.index[n == 1]
    if len(single):
        out.append(f"{_levels(single)} ran with a single seed, so ± 0 there says nothing about seed-to-seed spread.")
    return out


def _levels(levels: pd.Index) -> str:
    return "freeze=" + ", ".join(str(k) for k in levels)


def pct_trainable(level: pd.Series) -> str:
    """The share of parameters a level trains, e.g. "75.1%" or "0.014%" (a summary row)."""
    pct = level["pct_trainable"]
    return f"{pct:.1f}%" if pct >= 1 else f"{pct:.2g}%"  # the classifier head alone is ~0.014%


def _params(level: pd.Series) -> str:
    return f"{level[N.TRAINABLE_PARAMS]:,.0f} parameters ({pct_trainable(level)} of the network)"
