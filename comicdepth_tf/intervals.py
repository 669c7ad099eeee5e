"""Error bars for comparisons: paired bootstrap intervals over items and seeds, seed aggregates, verdicts.

A comparison of two configurations (a model and its baseline) is made on the same items (panels,
segments, images) and the same seeds. Its uncertainty has two sources: which items the
evaluation set happens to hold, and which seed trained the models. :func:`paired_difference`
resamples both together: each bootstrap draw picks seeds with replacement and, independently,
items with replacement, and recomputes the weighted mean difference on that draw. The
percentile interval of the draws is reported with the estimate on all the data; a difference is
called significant only when the interval excludes 0.

Scores are arrays ``(seeds, items)`` (a 1-D array is one seed). ``weights`` make the statistic a
pooled one: per-panel ordering accuracies weighted by each panel's number of pairs give the
pooled accuracy (``sum(correct) / sum(pairs)``) exactly.

Everything is NumPy with a seeded generator: the same inputs and ``seed`` give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from comicdepth_tf.errors import ParameterError

#: Bootstrap draws and confidence level of every interval unless a caller says otherwise.
N_BOOT = 2000
CONFIDENCE = 0.95
#: A bound within this of 0 counts as 0: a percentile of resampled sums that is 0 in exact arithmetic
#: comes out as about 1e-17 in floating point, and must not decide "significant".
ZERO_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Interval:
    """An estimate with its bootstrap confidence interval.

    Attributes:
        estimate: the statistic on all items and seeds.
        low, high: the percentile interval.
        confidence: its level (0.95).
        n_items, n_seeds: what it was computed over.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_items: int
    n_seeds: int

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely above or entirely below 0 (by more than :data:`ZERO_TOLERANCE`)."""
        return self.low > ZERO_TOLERANCE or self.high < -ZERO_TOLERANCE

    def text(self, digits: int = 3) -> str:
        """``+0.048 [+0.012, +0.083]``."""
        f = f"{{:+.{digits}f}}"
        return f"{f.format(self.estimate)} [{f.format(self.low)}, {f.format(self.high)}]"


def _as_2d(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ParameterError(f"{name}: expected scores shaped (seeds, items) or (items,), got shape {arr.shape}")
    return arr


def _weights(weights, shape: tuple[int, int]) -> np.ndarray:
    if weights is None:
        return np.ones(shape)
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), shape)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ParameterError("weights: expected finite, non-negative weights with a positive sum")
    return np.array(w)


def weighted_mean(scores, weights=None) -> float:
    """Mean over seeds of the weighted mean over items (items with weight 0 do not count)."""
    s = _as_2d(scores, "scores")
    w = _weights(weights, s.shape)
    return float(np.mean(np.sum(s * w, axis=1) / np.sum(w, axis=1)))


def paired_difference(a, b, weights=None, *, n_boot: int = N_BOOT, confidence: float = CONFIDENCE,
                      seed: int = 0) -> Interval:
    """The mean paired difference ``a − b`` with a bootstrap interval over items and seeds.

    Args:
        a: scores of the configuration, ``(seeds, items)`` or ``(items,)``.
        b: scores of its baseline on the same items and seeds.
        weights: per-item weights, ``(items,)`` or ``(seeds, items)`` (e.g. pairs per panel for a
            pooled accuracy); None weighs items equally.
        n_boot: bootstrap draws.
        confidence: level of the percentile interval.
        seed: seed of the draws.

    Returns:
        An :class:`Interval` of ``weighted_mean(a) − weighted_mean(b)``.

    Raises:
        ParameterError: shapes differ, non-finite scores, bad weights or settings.
    """
    a2, b2 = _as_2d(a, "a"), _as_2d(b, "b")
    if a2.shape != b2.shape:
        raise ParameterError(f"paired_difference: a {a2.shape} and b {b2.shape} must cover the same seeds and items")
    if not (np.all(np.isfinite(a2)) and np.all(np.isfinite(b2))):
        raise ParameterError("paired_difference: scores must be finite")
    if n_boot < 1 or not 0.0 < confidence < 1.0:
        raise ParameterError(f"paired_difference: need n_boot ≥ 1 and 0 < confidence < 1, got {n_boot}, {confidence}")
    d = a2 - b2
    w = _weights(weights, d.shape)
    n_seeds, n_items = d.shape
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    items = rng.integers(0, n_items, size=(n_boot, n_items))
    draws = np.empty(n_boot)
    for k in range(n_boot):
        dd, ww = d[np.ix_(seeds[k], items[k])], w[np.ix_(seeds[k], items[k])]
        total = ww.sum(axis=1)
        ok = total > 0  # a draw of only zero-weight items says nothing about that seed
        draws[k] = np.mean((dd * ww).sum(axis=1)[ok] / total[ok]) if ok.any() else np.nan
    draws = draws[np.isfinite(draws)]
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    estimate = weighted_mean(a2, w) - weighted_mean(b2, w)
    # Percentiles of identical draws can differ from the estimate by rounding: keep low ≤ est ≤ high.
    return Interval(float(estimate), float(min(low, estimate)), float(max(high, estimate)), float(confidence),
                    int(n_items), int(n_seeds))


def aggregate_seeds(rows: Sequence[dict], by: Sequence[str] = ("configuration", "metric"), value: str = "value"):
    """Mean, standard deviation (n − 1) and number of seeds of ``value`` for each ``by`` group.

    Args:
        rows: records such as ``{"configuration": "simple", "metric": "inter_acc", "seed": 0, "value": 0.75}``.
        by: the grouping keys.
        value: the key of the number.

    Returns:
        A ``pandas.DataFrame`` with the ``by`` columns, ``mean``, ``std`` (NaN for one seed) and
        ``n_seeds``, in the order the groups first appear.
    """
    import pandas as pd

    if not rows:
        raise ParameterError("aggregate_seeds: no rows")
    df = pd.DataFrame(list(rows))
    missing = [k for k in (*by, value) if k not in df.columns]
    if missing:
        raise ParameterError(f"aggregate_seeds: rows lack {missing}")
    grouped = df.groupby(list(by), sort=False)[value]
    out = grouped.agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"),
                      n_seeds="count")
    return out.reset_index()


def verdict(interval: Interval, name: str, baseline: str, metric: str, higher_is_better: bool = True) -> str:
    """The comparison in words: which is better when the interval excludes 0, else no measurable difference."""
    pct = f"{interval.confidence:.0%}"
    where = f"{interval.n_items} items × {interval.n_seeds} seed{'s' if interval.n_seeds != 1 else ''}"
    if not interval.excludes_zero:
        return (f"{name} vs {baseline}, {metric}: no measurable difference, {interval.text()} "
                f"({pct} interval includes 0; {where})")
    better = (interval.estimate > 0) == higher_is_better
    return (f"{name} {'beats' if better else 'is worse than'} {baseline} on {metric}: {interval.text()} "
            f"({pct} interval excludes 0; {where})")
