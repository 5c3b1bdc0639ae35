"""How sure the report can be: 95% intervals on accuracies and paired tests between two runs' predictions.

Every number comes from statsmodels: the Wilson score interval (`proportion_confint`,
method "wilson") for one run's accuracy on n images; Student's t interval on the mean of
the per-seed accuracies (`DescrStatsW.tconfint_mean`) across seeds; McNemar's exact test
(`mcnemar(exact=True)`: a two-sided binomial test on the discordant images) for two runs
scored on the same images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

CONFIDENCE = 0.95  # of every interval in the report
ALPHA = 0.05  # a paired test with p below this tells two levels apart


@dataclass(frozen=True)
class Interval:
    """An accuracy (0..1) with its 95% interval and how the interval was computed."""

    mean: float
    low: float
    high: float
    method: str  # "Wilson, 128 images" or "t over 3 seeds"


def wilson(correct: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of `correct` right out of `n` images (statsmodels `proportion_confint`)."""
    low, high = proportion_confint(correct, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def seed_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student's t interval (n − 1 degrees of freedom) on the mean of per-seed values; needs n ≥ 2.

    It covers seed-to-seed variation only, not the sampling of the test images.
    """
    if len(values) < 2:
        raise ValueError(f"a t interval over seeds needs at least 2 values, got {len(values)}")
    low, high = DescrStatsW(np.asarray(values, dtype=float)).tconfint_mean(alpha=1 - confidence)
    return float(low), float(high)


def accuracy_interval(accuracies: Sequence[float], correct: int | None = None, images: int | None = None) -> Interval:
    """A level's accuracy over its seeds with a 95% interval: the t interval on the seed means when there
    are 2 or more seeds (clipped to 0..1); with one seed, the Wilson interval of `correct` out of `images`
    (NaN bounds when the run's predictions are unknown)."""
    mean = float(np.mean(accuracies))
    if len(accuracies) >= 2:
        low, high = seed_interval(accuracies)  # can pass 0 or 1 with few seeds: an accuracy cannot
        return Interval(mean, max(low, 0.0), min(high, 1.0), f"t over {len(accuracies)} seeds")
    if correct is None or not images:
        return Interval(mean, math.nan, math.nan, "no per-image predictions")
    return Interval(mean, *wilson(correct, images), f"Wilson, {images} images")


@dataclass(frozen=True)
class Paired:
    """Two runs (or sets of runs) scored on the same images: how many each got right alone, and McNemar's p."""

    only_a: int  # images A got right and B wrong
    only_b: int  # images B got right and A wrong
    images: int  # images compared
    pvalue: float  # exact McNemar, two-sided

    @property
    def difference(self) -> int:
        """Images A got right more than B (negative: fewer)."""
        return self.only_a - self.only_b


def mcnemar_exact(only_a: int, only_b: int, images: int) -> Paired:
    """McNemar's exact test from the discordant counts (the concordant ones do not enter it)."""
    table = [[images - only_a - only_b, only_a], [only_b, 0]]  # [[both right or both wrong, A only], [B only, -]]
    return Paired(int(only_a), int(only_b), int(images), float(mcnemar(table, exact=True).pvalue))


def compare(a: Sequence[bool], b: Sequence[bool]) -> Paired:
    """McNemar's exact test of two runs' right/wrong on the same images, in the same order."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"paired predictions need the same images: {x.shape} vs {y.shape}")
    return mcnemar_exact(int((x & ~y).sum()), int((~x & y).sum()), len(x))


def pooled(pairs: Sequence[Paired]) -> Paired:
    """One exact McNemar test over several seeds' pairs, their discordant images summed (each seed's pair of
    runs scored the same images; every (seed, image) pair counts once)."""
    return mcnemar_exact(sum(p.only_a for p in pairs), sum(p.only_b for p in pairs), sum(p.images for p in pairs))
