"""ComicsDepth ordering accuracy: brute-force agreement, hand cases, summaries, relative dB."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from comicdepth_tf.data.formats.ordering import OrderingPoints, read_ordering, write_ordering
from comicdepth_tf.errors import ParameterError
from comicdepth_tf.metrics import (
    DB_CAP,
    DB_FLOOR,
    ordering_accuracy,
    ordering_scores,
    relative_db,
    relative_db_scores,
    summarise,
)


def brute_force(prediction, path):
    """ComicsDepth's evaluation loop, read straight from the file (larger = nearer)."""
    rows = [tuple(int(v) for v in line.split()) for line in open(path) if line.strip()]
    good1 = all1 = good2 = all2 = 0
    for i1, (l1, l2, x, y) in enumerate(rows):
        for i2 in range(i1):
            l1_, l2_, x_, y_ = rows[i2]
            if l1 < l1_:
                good1 += int(prediction[y][x] > prediction[y_][x_])
                all1 += 1
            elif l1_ < l1:
                good1 += int(prediction[y_][x_] > prediction[y][x])
                all1 += 1
            elif l2 < l2_:
                good2 += int(prediction[y][x] > prediction[y_][x_])
                all2 += 1
            elif l2_ < l2:
                good2 += int(prediction[y_][x_] > prediction[y][x])
                all2 += 1
    return (good1 / all1 if all1 else math.nan, good2 / all2 if all2 else math.nan, all1, all2)


def _points(*rows):
    a = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    return OrderingPoints(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


@pytest.mark.parametrize("seed", range(12))
def test_agrees_exactly_with_brute_force_on_random_files(tmp_path, seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(5, 40, size=2)
    n = int(rng.integers(0, 120))
    pts = OrderingPoints(rng.integers(1, 5, n), rng.integers(1, 4, n), rng.integers(0, w, n), rng.integers(0, h, n))
    path = write_ordering(tmp_path / f"img{seed}.txt", pts)
    # Few distinct values, so ties are common; some maps hold NaN (always wrong).
    pred = rng.integers(0, 6, (h, w)).astype(np.float64) if seed % 2 else rng.normal(size=(h, w))
    if seed % 3 == 0:
        pred[rng.random((h, w)) < 0.1] = np.nan
    inter, intra, n1, n2 = brute_force(pred, path)
    for chunk in (1, 7, 1024):
        got = ordering_accuracy(pred, read_ordering(path), chunk=chunk)
        assert (got["inter_pairs"], got["intra_pairs"]) == (n1, n2)
        for key, want in (("inter", inter), ("intra", intra)):
            assert (math.isnan(got[key]) and math.isnan(want)) or got[key] == want


def test_hand_computed_inter_and_intra():
    # Object 1 (nearest) has two parts; object 2 one point. Prediction in inverse depth.
    pts = _points((1, 1, 0, 0), (1, 2, 1, 0), (2, 1, 2, 0))
    pred = np.array([[5.0, 3.0, 4.0]])
    # Inter pairs: (p0, p2) 5 > 4 right; (p1, p2) 3 > 4 wrong. Intra pair: (p0, p1) 5 > 3 right.
    assert ordering_accuracy(pred, pts) == {"inter": 0.5, "intra": 1.0, "inter_pairs": 2, "intra_pairs": 1}
    # The same values as metric depth (larger = farther): every comparison flips.
    assert ordering_accuracy(pred, pts, convention="depth") == {"inter": 0.5, "intra": 0.0,
                                                               "inter_pairs": 2, "intra_pairs": 1}
    assert ordering_accuracy(-pred, pts, convention="depth") == ordering_accuracy(pred, pts)


def test_ties_count_wrong_and_missing_pairs_give_nan():
    pts = _points((1, 1, 0, 0), (2, 1, 1, 0), (3, 1, 2, 0))
    flat = np.ones((1, 3))
    out = ordering_accuracy(flat, pts)
    assert out["inter"] == 0.0 and out["inter_pairs"] == 3
    assert math.isnan(out["intra"]) and out["intra_pairs"] == 0
    # Same object, same part: no pair at all.
    same = ordering_accuracy(np.arange(2.0)[None], _points((1, 1, 0, 0), (1, 1, 1, 0)))
    assert math.isnan(same["inter"]) and math.isnan(same["intra"])
    assert ordering_accuracy(np.zeros((2, 2, 1)), _points())["inter_pairs"] == 0


def test_points_outside_the_prediction_and_bad_arguments_are_errors():
    pts = _points((1, 1, 4, 0), (2, 1, 0, 0))
    with pytest.raises(ParameterError, match=r"x=4, y=0.*4x1 prediction.*original image size"):
        ordering_accuracy(np.zeros((1, 4)), pts)
    with pytest.raises(ParameterError, match="convention"):
        ordering_accuracy(np.zeros((1, 5)), pts, convention="disparity")
    with pytest.raises(ParameterError, match=r"\(H, W\)"):
        ordering_accuracy(np.zeros((2, 1, 5)), pts)


def test_summarise_matches_python_statistics_as_comicsdepth_prints_them():
    values = [0.2, 0.9, 0.5, 0.7, 0.65, 0.1, 1.0]
    got = summarise(values + [math.nan, None])
    q1, med, q3 = statistics.quantiles(values)
    assert got["count"] == 7
    assert got["mean"] == pytest.approx(statistics.mean(values))
    assert (got["q1"], got["median"], got["q3"]) == pytest.approx((q1, med, q3))
    assert got["std"] == pytest.approx(statistics.stdev(values))
    assert summarise([0.5])["std"] != summarise([0.5])["std"]  # NaN below two values
    assert summarise([])["count"] == 0


def test_ordering_scores_skips_images_without_pairs():
    per_image = [{"inter": 1.0, "intra": math.nan, "inter_pairs": 4, "intra_pairs": 0},
                 {"inter": 0.5, "intra": 0.25, "inter_pairs": 2, "intra_pairs": 4}]
    out = ordering_scores(per_image)
    assert out["inter_mean"] == 0.75 and out["inter_count"] == 2 and out["inter_pairs"] == 6
    assert out["intra_mean"] == 0.25 and out["intra_count"] == 1 and out["intra_pairs"] == 4


def test_relative_db_hand_values_and_zero_rules():
    assert relative_db(0.5, 0.25) == pytest.approx(10 * math.log10(2))
    assert relative_db(0.8, 0.8) == 0.0
    assert relative_db(0.0, 0.0) == 0.0  # both zero: equal
    assert relative_db(0.0, 0.5) == DB_FLOOR  # model zero: -inf reported as the floor
    assert relative_db(0.5, 0.0) == DB_CAP  # baseline zero: +inf capped
    assert math.isnan(relative_db(math.nan, 0.5))
    db = relative_db([0.0, 0.5, 0.3], [0.5, 0.0, 0.3], floor=-20, cap=20)
    assert db.tolist() == [-20.0, 20.0, 0.0]
    scores = relative_db_scores([0.0, 0.5, 0.3, math.nan], [0.5, 0.0, 0.3, 0.2])
    assert (scores["floored"], scores["capped"], scores["count"]) == (1, 1, 3)
    assert scores["mean"] == pytest.approx((DB_FLOOR + DB_CAP + 0.0) / 3)
    with pytest.raises(ParameterError):
        relative_db([0.1, 0.2], [0.1])
