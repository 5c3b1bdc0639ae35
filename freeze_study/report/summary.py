"""What a sweep's runs say per freeze level: means and spreads, test accuracy with its 95% interval, and
each level's paired comparison with the recommended one on the same test images."""

from __future__ import annotations

import math

import pandas as pd

import freeze_study.names as N
from freeze_study.report import evidence, stats
from freeze_study.report.columns import CORRECT, FREEZE, FROZEN_STAGES, RUN_ID, SEED, SPLIT

SUMMARY_METRICS = (N.FIT_TIME, N.EPOCHS_RUN, N.BEST_EPOCH, N.TRAIN_ACC, N.VAL_ACC, N.TEST_ACC)
TEST = "test"


def summarize(runs: pd.DataFrame, predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per freeze level: stages, trainable params (and % of all), n seeds, mean and std of each
    result (std NaN with one seed: there is no spread to show), and the test accuracy's 95% interval
    (`test_acc_low`, `test_acc_high`, `test_acc_interval`: how it was computed; see `stats.accuracy_interval`)."""
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
        out[f"{key}_std"] = by_level[key].std(ddof=1)  # sample std; NaN with a single seed
    test = _test_predictions(predictions)
    intervals = {}
    for freeze, level in by_level:
        rows = test[test[RUN_ID].isin(level[RUN_ID])] if len(level) == 1 else test.iloc[:0]
        intervals[freeze] = stats.accuracy_interval(
            level[N.TEST_ACC].tolist(), int(rows[CORRECT].sum()) if len(rows) else None, len(rows) or None
        )
    out["test_acc_low"] = [intervals[k].low for k in out.index]
    out["test_acc_high"] = [intervals[k].high for k in out.index]
    out["test_acc_interval"] = [intervals[k].method for k in out.index]
    out["test_images"] = [_images(test, level[RUN_ID]) for _, level in by_level]
    return out.reset_index()


def _test_predictions(predictions: pd.DataFrame | None) -> pd.DataFrame:
    if predictions is None:
        return pd.DataFrame(columns=evidence.PREDICTION_COLUMNS)
    return predictions[predictions[SPLIT] == TEST]


def _images(test: pd.DataFrame, run_ids: pd.Series) -> int:
    """Test images per run of a level (0 when its runs have no predictions)."""
    counts = test[test[RUN_ID].isin(run_ids)].groupby(RUN_ID).size()
    return int(counts.max()) if len(counts) else 0


def compare_on_test(runs: pd.DataFrame, predictions: pd.DataFrame, reference: int) -> pd.DataFrame:
    """Each other level against the `reference` (recommended) level on the same test images, seed by seed.

    One row per level: `seeds` (paired), `per_seed` (a list of `stats.Paired`, this level as A), `pooled`
    (one exact McNemar over the summed discordant images) and `images` per seed. Levels with no seed on
    the same test images as the reference have `pooled` None.
    """
    ref = runs[runs[FREEZE] == reference].set_index(SEED)[RUN_ID]
    rows = []
    for freeze, level in runs[runs[FREEZE] != reference].groupby(FREEZE):
        mine = level.set_index(SEED)[RUN_ID]
        seeds, pairs = [], []
        for seed in sorted(set(mine.index) & set(ref.index)):
            p = evidence.paired(predictions, TEST, mine[seed], ref[seed])
            if p is not None:
                seeds.append(seed)
                pairs.append(stats.compare(p["a"], p["b"]))
        rows.append(
            {
                FREEZE: int(freeze),
                "seeds": seeds,
                "per_seed": pairs,
                "pooled": stats.pooled(pairs) if pairs else None,
                "images": pairs[0].images if pairs else 0,
            }
        )
    return pd.DataFrame(rows, columns=[FREEZE, "seeds", "per_seed", "pooled", "images"])


def pct_trainable(level: pd.Series) -> str:
    """The share of parameters a level trains, e.g. "75.1%" or "0.014%" (a summary row)."""
    pct = level["pct_trainable"]
    return f"{pct:.1f}%" if pct >= 1 else f"{pct:.2g}%"  # the classifier head alone is ~0.014%


def params_text(level: pd.Series) -> str:
    """'8,395,267 parameters (75.1% of the network)'."""
    return f"{level[N.TRAINABLE_PARAMS]:,.0f} parameters ({pct_trainable(level)} of the network)"


def interval_text(low: float, high: float, scale: float = 100) -> str:
    """'[79.1, 88.9]', or '' when the interval is unknown."""
    return "" if math.isnan(low) else f"[{low * scale:.1f}, {high * scale:.1f}]"
