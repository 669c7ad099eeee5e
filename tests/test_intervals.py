"""Paired bootstrap intervals, seed aggregates and verdicts on hand-made cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from comicdepth_tf import intervals
from comicdepth_tf.errors import ParameterError


def test_identical_scores_give_zero_and_a_constant_shift_gives_that_shift():
    rng = np.random.default_rng(0)
    b = rng.random((3, 40))
    same = intervals.paired_difference(b, b.copy())
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0) and not same.excludes_zero
    shifted = intervals.paired_difference(b + 0.1, b)
    assert shifted.estimate == pytest.approx(0.1) and shifted.low == pytest.approx(0.1)
    assert shifted.high == pytest.approx(0.1) and shifted.excludes_zero
    assert (shifted.n_seeds, shifted.n_items) == (3, 40)


def test_weights_make_the_pooled_accuracy():
    # Three panels: 3 of 4, 1 of 2 and 0 of 1 pairs right: pooled 4 / 7, panel mean 5 / 12.
    correct, pairs = np.array([3, 1, 0]), np.array([4, 2, 1])
    acc = correct / pairs
    assert intervals.weighted_mean(acc, pairs) == pytest.approx(4 / 7)
    assert intervals.weighted_mean(acc) == pytest.approx(5 / 12)
    diff = intervals.paired_difference(acc, np.zeros(3), pairs)
    assert diff.estimate == pytest.approx(4 / 7)


def test_two_items_give_the_known_bootstrap_distribution():
    # Item differences 0 and 1: a draw's mean is 0 (p 1/4), 0.5 (1/2) or 1 (1/4), so the 95 %
    # percentile interval is [0, 1] around the estimate 0.5, and it includes 0.
    iv = intervals.paired_difference([0.0, 1.0], [0.0, 0.0], n_boot=4000, seed=1)
    assert (iv.estimate, iv.low, iv.high) == (0.5, 0.0, 1.0) and not iv.excludes_zero


def test_seeds_are_resampled_together_with_items():
    # Seed 0 says +1 on every item, seed 1 says -1: items alone would give [0, 0].
    a = np.array([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]])
    iv = intervals.paired_difference(a, np.zeros_like(a), n_boot=2000, seed=0)
    assert iv.estimate == 0.0 and (iv.low, iv.high) == (-1.0, 1.0)


def test_verdicts_say_which_differences_are_significant():
    rng = np.random.default_rng(3)
    b = rng.random(200)
    better = intervals.paired_difference(b + 0.05 + rng.normal(0, 0.02, 200), b)
    assert better.excludes_zero and better.low > 0
    assert intervals.verdict(better, "simple", "no_batchnorm_trick", "inter_acc").startswith(
        "simple beats no_batchnorm_trick on inter_acc: +0.05")
    assert "is worse than" in intervals.verdict(better, "err_model", "baseline", "mse", higher_is_better=False)
    noise = intervals.paired_difference(np.tile([1.0, -1.0], 50), np.zeros(100))
    assert noise.estimate == 0.0 and not noise.excludes_zero
    assert "no measurable difference" in intervals.verdict(noise, "a", "b", "inter_acc")
    # Same inputs and seed, same interval.
    assert intervals.paired_difference(b, b + rng.random(200), seed=7) != intervals.paired_difference(b, b, seed=7)
    c = rng.random(200)
    assert intervals.paired_difference(b, c, seed=7) == intervals.paired_difference(b, c, seed=7)


def test_seed_aggregates_on_a_hand_made_table():
    rows = [{"configuration": "simple", "metric": "inter_acc", "seed": s, "value": v} for s, v in enumerate([0.7, 0.8])]
    rows.append({"configuration": "no_bn", "metric": "inter_acc", "seed": 0, "value": 0.6})
    table = intervals.aggregate_seeds(rows)
    simple = table[table["configuration"] == "simple"].iloc[0]
    assert simple["mean"] == pytest.approx(0.75) and simple["std"] == pytest.approx(math.sqrt(0.005))
    assert simple["n_seeds"] == 2
    single = table[table["configuration"] == "no_bn"].iloc[0]
    assert single["mean"] == pytest.approx(0.6) and math.isnan(single["std"]) and single["n_seeds"] == 1
    assert list(table["configuration"]) == ["simple", "no_bn"]


def test_bad_inputs_are_refused():
    with pytest.raises(ParameterError, match="same seeds and items"):
        intervals.paired_difference(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ParameterError, match="finite"):
        intervals.paired_difference([np.nan, 1.0], [0.0, 0.0])
    with pytest.raises(ParameterError, match="weights"):
        intervals.paired_difference([1.0, 0.0], [0.0, 0.0], weights=[-1, 1])
    with pytest.raises(ParameterError, match="shaped"):
        intervals.paired_difference([], [])
    with pytest.raises(ParameterError, match="lack"):
        intervals.aggregate_seeds([{"configuration": "a", "value": 1.0}])


def test_a_bound_that_is_zero_but_for_rounding_does_not_exclude_zero():
    # Seen in a real-page table: a lower bound of 6.881e-18, printed +0.000, was called significant.
    assert not intervals.Interval(0.082, 6.881e-18, 0.167, 0.95, 22, 3).excludes_zero
    assert not intervals.Interval(-0.2, -0.4, -3e-17, 0.95, 13, 3).excludes_zero
    assert intervals.Interval(0.082, 1e-6, 0.167, 0.95, 22, 3).excludes_zero
