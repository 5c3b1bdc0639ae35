"""Which freeze level the study recommends, chosen on the validation split only: the one definition.

`select_level(runs, predictions)` applies `rule_text()` to a sweep's tidy tables
(`store.load_sweep`). Everything that names a chosen level calls it: the report states the rule and
the evidence, the sweep's parent run records `best_level` and `recommended_level` from it
(`sweep.summary`), and the model registry registers `Selection.run_id`. Test results are never
read here: they are reported for the level chosen, afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

import freeze_study.names as N
from freeze_study.report import evidence, stats
from freeze_study.report.columns import FREEZE, RUN_ID, SEED, SPLIT

VALIDATION = "validation"
BEST, WITHIN_NOISE, WORSE, BETTER = "best", "within noise of the best", "worse than the best", "better than the best"
EVIDENCE_COLUMNS = [
    FREEZE,
    "runs",  # runs with validation predictions
    "val_acc_mean",  # their mean validation accuracy at the tested (best) epoch
    N.TRAINABLE_PARAMS,
    "seeds_paired",  # seeds run at both this level and the best level (one pair of runs each)
    "only_this",  # validation images this level got right and the best level wrong, summed over paired seeds
    "only_best",  # ... and the reverse
    "images",  # validation images compared, summed over paired seeds
    "pvalue",  # exact McNemar on the summed discordant images
    "verdict",  # BEST, WITHIN_NOISE, WORSE, BETTER or "not assessed: <reason>"
    "recommended",
]


def rule_text(alpha: float = stats.ALPHA) -> str:
    """The selection rule, precisely, as the report states it."""
    return (
        "The level is chosen on the validation split only; no test result is consulted. "
        "(1) For each freeze level, take the mean validation accuracy, over its seeds, of the tested checkpoint "
        "(the epoch with the lowest validation loss). (2) The best level has the highest mean (ties: fewer "
        "trainable parameters). (3) Every other level is compared with the best on the same validation images: "
        "the runs of the two levels with the same seed are paired, the images only one of the two got right are "
        "summed over the paired seeds, and McNemar's exact test (statsmodels) is applied to those sums; with "
        f"p ≥ {alpha:g} the level is within noise of the best. (4) The recommended level is the one with the "
        "fewest trainable parameters among the best level and the levels within noise of it (or better than it "
        "on the paired seeds). (5) The run to register is the recommended level's run with the highest "
        "validation accuracy (ties: lower validation loss, then lower seed)."
    )


@dataclass(frozen=True)
class Selection:
    """The recommended level, the run to register, and the evidence for them."""

    level: int | None  # the recommended freeze level; None when no level could be assessed
    run_id: str | None  # the recommended level's best run on validation: the model to register
    seed: int | None  # that run's seed
    best_level: int | None  # the level with the highest mean validation accuracy
    evidence: pd.DataFrame  # one row per level: EVIDENCE_COLUMNS
    rule: str  # rule_text(alpha)
    reason: str | None = None  # why there is no recommendation (level None)


def select_level(runs: pd.DataFrame, predictions: pd.DataFrame, alpha: float = stats.ALPHA) -> Selection:
    """Apply the rule to a sweep's usable runs (one row each: run_id, freeze, seed, trainable_params, val_acc,
    val_loss) and their per-image predictions (run_id, split, image, correct); only the validation split is
    read. A level whose runs have no validation predictions is listed as not assessed and never chosen."""
    has_val = set(predictions.loc[predictions[SPLIT] == VALIDATION, RUN_ID])
    scored = runs[runs[RUN_ID].isin(has_val)]
    rows = {
        int(k): {
            FREEZE: int(k),
            "runs": 0,
            "val_acc_mean": float("nan"),
            N.TRAINABLE_PARAMS: int(level[N.TRAINABLE_PARAMS].iloc[0]),
            "seeds_paired": 0,
            "only_this": 0,
            "only_best": 0,
            "images": 0,
            "pvalue": float("nan"),
            "verdict": "not assessed: no validation predictions",
            "recommended": False,
        }
        for k, level in runs.groupby(FREEZE)
    }
    if scored.empty:
        return Selection(None, None, None, None, _table(rows), rule_text(alpha), "no run has validation predictions")
    means = scored.groupby(FREEZE)[N.VAL_ACC].agg(["mean", "size"])
    params = scored.groupby(FREEZE)[N.TRAINABLE_PARAMS].first()
    best = min(means.index, key=lambda k: (-means.loc[k, "mean"], params[k], k))
    for k in means.index:
        rows[k].update(runs=int(means.loc[k, "size"]), val_acc_mean=float(means.loc[k, "mean"]))
    rows[best]["verdict"] = BEST
    best_runs = scored[scored[FREEZE] == best].set_index(SEED)[RUN_ID]
    for k in means.index.drop(best):
        mine = scored[scored[FREEZE] == k].set_index(SEED)[RUN_ID]
        pairs = [
            stats.compare(p["a"], p["b"])
            for seed in sorted(set(mine.index) & set(best_runs.index))
            if (p := evidence.paired(predictions, VALIDATION, mine[seed], best_runs[seed])) is not None
        ]
        if not pairs:
            rows[k]["verdict"] = "not assessed: no seed run on the same validation images as the best level"
            continue
        test = stats.pooled(pairs)
        verdict = WITHIN_NOISE if test.pvalue >= alpha else BETTER if test.difference > 0 else WORSE
        rows[k].update(
            seeds_paired=len(pairs),
            only_this=test.only_a,
            only_best=test.only_b,
            images=test.images,
            pvalue=test.pvalue,
            verdict=verdict,
        )
    eligible = [k for k, row in rows.items() if row["verdict"] in (BEST, WITHIN_NOISE, BETTER)]
    level = min(eligible, key=lambda k: (params[k], -means.loc[k, "mean"], k))
    rows[level]["recommended"] = True
    chosen = scored[scored[FREEZE] == level].sort_values([N.VAL_ACC, N.VAL_LOSS, SEED], ascending=[False, True, True])
    top = chosen.iloc[0]
    return Selection(level, str(top[RUN_ID]), int(top[SEED]), best, _table(rows), rule_text(alpha))


def _table(rows: dict[int, dict]) -> pd.DataFrame:
    return pd.DataFrame([rows[k] for k in sorted(rows)], columns=EVIDENCE_COLUMNS)
