"""The report's findings: sentences computed from the summary, the selection and the paired test comparisons.

The first says which level is recommended and why (validation only), then its test accuracy
with the interval; then, for every other level, whether this test set can tell it apart
from the recommended one; then cost and overfitting.
"""

from __future__ import annotations

import pandas as pd

import freeze_study.names as N
from freeze_study.levels import level_name
from freeze_study.report import stats
from freeze_study.report.columns import FREEZE
from freeze_study.report.selection import WITHIN_NOISE, Selection
from freeze_study.report.summary import interval_text, params_text
from freeze_study.text import counted

LARGE_GAP_PP = 5.0  # a train − validation accuracy gap worth pointing out


def _p(p: float) -> str:
    return f"p = {p:.2g}" if p < 0.001 else f"p = {p:.3f}".rstrip("0").rstrip(".")


def recommendation(summary: pd.DataFrame, selection: Selection) -> list[str]:
    """Why the recommended level was chosen (on validation), then its test accuracy and interval."""
    if selection.level is None or selection.best_level is None:  # select_level sets both or neither
        return [f"No level is recommended: {selection.reason}."]
    s, ev = summary.set_index(FREEZE), selection.evidence.set_index(FREEZE)
    k, best = selection.level, selection.best_level
    val = ev["val_acc_mean"] * 100
    out = []
    if k == best:
        cheaper = ev[(ev[N.TRAINABLE_PARAMS] < ev.loc[k, N.TRAINABLE_PARAMS]) & ev["verdict"].str.startswith("worse")]
        why = f"{level_name(k)} has the highest mean validation accuracy ({val[k]:.1f}%, n={ev.loc[k, 'runs']})"
        if len(cheaper):
            why += (
                "; every level that trains fewer parameters is worse on the same validation images ("
                + ", ".join(
                    f"freeze={j}: {val[j]:.1f}%, exact McNemar {_p(ev.loc[j, 'pvalue'])}" for j in cheaper.index
                )
                + ")"
            )
    else:
        r = ev.loc[k]
        relation = "within noise of" if r["verdict"] == WITHIN_NOISE else "better than"
        seeds = counted(r["seeds_paired"], "paired seed")
        why = (
            f"{level_name(k)} is {relation} {level_name(best)}, the level with the best mean validation accuracy "
            f"({val[k]:.1f}% vs {val[best]:.1f}%; over {seeds} of {r['images'] // r['seeds_paired']} images, "
            f"{r['only_this']} were right only at freeze={k} and {r['only_best']} only at freeze={best}: exact "
            f"McNemar {_p(r['pvalue'])}), and it trains the fewest parameters of the levels within noise of the best"
        )
    row = s.loc[k]
    out.append(
        f"Recommended: {level_name(k)}, training {params_text(row)}. Chosen on validation: {why}. "
        f"Only then its test accuracy: {row['test_acc_mean'] * 100:.1f}% "
        + (
            f"(95% interval {interval_text(row['test_acc_low'], row['test_acc_high'])}, {row['test_acc_interval']}). "
            if pd.notna(row["test_acc_low"])
            else f"(n={row['n']}; no interval: {row['test_acc_interval']}). "
        )
        + f"Model to register: run {selection.run_id} (seed {selection.seed}), the level's best validation run."
    )
    skipped = ev[ev["verdict"].str.startswith("not assessed")]
    out += [
        f"{level_name(j)} was not compared: {ev.loc[j, 'verdict'][len('not assessed: ') :]}." for j in skipped.index
    ]
    return out


def noise(summary: pd.DataFrame, comparisons: pd.DataFrame, selection: Selection) -> list[str]:
    """For each level: can this test set tell it apart from the recommended level (paired, exact McNemar)?"""
    out, k = [], selection.level
    acc = summary.set_index(FREEZE)["test_acc_mean"] * 100
    for row in comparisons.itertuples():
        if row.pooled is None:
            out.append(f"{level_name(row.freeze)} shares no seed and test images with freeze={k}: not compared.")
            continue
        n = len(row.per_seed)
        seeds = counted(n, "seed")
        per_seed = ", ".join(_p(p.pvalue).removeprefix("p = ") for p in row.per_seed)
        diff = row.pooled.difference / n  # images right, per seed, this level minus the reference
        head = (
            f"{level_name(row.freeze)} vs freeze={k} on the same {row.images} test images: {acc[row.freeze]:.1f}% vs "
            f"{acc[k]:.1f}%, {abs(diff):.1f} images {'more' if diff >= 0 else 'fewer'} right"
            + (" per seed on average" if n > 1 else "")
            + (
                f" (exact McNemar per seed p = {per_seed}; pooled over {seeds} {_p(row.pooled.pvalue)})"
                if n > 1
                else f" (exact McNemar {_p(row.pooled.pvalue)})"
            )
        )
        if row.pooled.pvalue >= stats.ALPHA:
            out.append(
                f"{head}: within noise. With {row.images} test images, a difference of "
                f"{counted(abs(row.pooled.difference), 'image')} over {seeds} cannot be told from chance."
            )
        else:
            out.append(
                f"{head}: a real difference on this test set (freeze={row.freeze} is "
                f"{'better' if diff > 0 else 'worse'})."
            )
    return out


def costs(summary: pd.DataFrame) -> list[str]:
    """Fit time, and the train − validation gap at the tested checkpoint."""
    s = summary.set_index(FREEZE)
    fit, epochs = s[f"{N.FIT_TIME}_mean"], s[f"{N.EPOCHS_RUN}_mean"]
    fast, slow = fit.idxmin(), fit.idxmax()
    if fast != slow:
        out = [
            f"{level_name(fast)} fits fastest ({fit[fast]:.0f} s, {epochs[fast]:.1f} epochs on average) and "
            f"{level_name(slow)} slowest ({fit[slow]:.0f} s, {epochs[slow]:.1f} epochs): "
            f"{fit[slow] / fit[fast]:.1f}× as long."
        ]
    else:
        out = [f"Mean fit time: {fit[fast]:.0f} s over {epochs[fast]:.1f} epochs."]
    gap = (s[f"{N.TRAIN_ACC}_mean"] - s[f"{N.VAL_ACC}_mean"]) * 100
    if gap.notna().any() and gap.max() <= 0:
        out.append("At the tested checkpoint, validation accuracy is at or above train accuracy at every level.")
    elif gap.notna().any():
        worst, large = gap.idxmax(), gap.index[gap >= LARGE_GAP_PP]
        out.append(
            f"At the tested checkpoint, train accuracy exceeds validation accuracy most at {level_name(worst)} "
            f"({gap[worst]:.1f} points); "
            + (
                f"the gap is {LARGE_GAP_PP:g} points or more at freeze={', '.join(map(str, large))}."
                if len(large)
                else f"no level's gap reaches {LARGE_GAP_PP:g} points."
            )
        )
    single = s.index[s["n"] == 1]
    if len(single):
        out.append(
            f"freeze={', '.join(map(str, single))} ran with a single seed: nothing is known about seed-to-seed "
            "spread there, and the interval covers only the sampling of the test images (Wilson)."
        )
    return out
