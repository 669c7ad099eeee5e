"""Dense depth metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from comicdepth_tf.errors import ParameterError
from comicdepth_tf.metrics import DEPTH_METRIC_KEYS, depth_metrics, seed_protocol_metrics

LN2 = math.log(2.0)


def test_every_metric_on_three_pixels():
    m = depth_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 4.0]))
    # Ratios max(p/g, g/p) = 1, 2, 1: the middle pixel fails 1.25, 1.5625 and 1.953125.
    assert m["delta1"] == pytest.approx(2 / 3)
    assert m["delta2"] == pytest.approx(2 / 3)
    assert m["delta3"] == pytest.approx(2 / 3)
    assert m["abs_rel"] == pytest.approx(1 / 3)  # (0 + 1/1 + 0) / 3
    assert m["sq_rel"] == pytest.approx(1 / 3)  # (0 + 1²/1 + 0) / 3
    assert m["rmse"] == pytest.approx(math.sqrt(1 / 3))
    assert m["rmse_log"] == pytest.approx(LN2 / math.sqrt(3))
    assert m["log10"] == pytest.approx(math.log10(2) / 3)
    assert m["n_images"] == 1 and m["n_pixels"] == 3


def test_delta_thresholds_are_strict_and_distinct():
    gt = np.ones(4)
    pred = np.array([1.2, 1.5, 1.9, 2.5])  # ratios in (1,1.25), (1.25,1.5625), (1.5625,1.953), >1.953
    m = depth_metrics(pred, gt)
    assert (m["delta1"], m["delta2"], m["delta3"]) == pytest.approx((0.25, 0.5, 0.75))
    # Under-estimates count through g/p.
    m = depth_metrics(1.0 / pred, gt)
    assert (m["delta1"], m["delta2"], m["delta3"]) == pytest.approx((0.25, 0.5, 0.75))


def test_per_image_mean_versus_pooled():
    gt = np.array([[2.0, 2.0], [1.0, 1.0]])[:, None, :]  # two 1×2 images
    pred = np.array([[2.0, 2.0], [1.0, 3.0]])[:, None, :]
    per_image = depth_metrics(pred, gt)
    pooled = depth_metrics(pred, gt, reduce="pooled")
    # Image 0 is perfect; image 1 has abs_rel (0 + 2)/2 = 1 and rmse sqrt(4/2).
    assert per_image["abs_rel"] == pytest.approx((0 + 1) / 2)
    assert per_image["rmse"] == pytest.approx((0 + math.sqrt(2)) / 2)
    assert pooled["abs_rel"] == pytest.approx(2 / 4)
    assert pooled["rmse"] == pytest.approx(math.sqrt(4 / 4))
    assert per_image["n_images"] == 2 and per_image["n_pixels"] == 4


def test_invalid_pixels_are_ignored():
    gt = np.array([[1.0, 0.0, 4.0, np.nan, -1.0]])
    pred = np.array([[1.0, 123.0, 4.0, 9.0, 9.0]])
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == 0.0 and m["delta1"] == 1.0 and m["n_pixels"] == 2
    # An explicit mask and the depth range also exclude pixels.
    m = depth_metrics(np.array([1.0, 5.0, 3.0]), np.array([1.0, 1.0, 20.0]), valid=np.array([1, 0, 1]), max_depth=10)
    assert m["n_pixels"] == 1 and m["rmse"] == 0.0


def test_images_without_valid_pixels_are_skipped_and_all_invalid_gives_nan():
    gt = np.stack([np.zeros((2, 2)), np.full((2, 2), 2.0)])
    pred = np.full((2, 2, 2), 2.0)
    m = depth_metrics(pred, gt)
    assert m["n_images"] == 1 and m["abs_rel"] == 0.0
    m = depth_metrics(pred[:1], gt[:1])
    assert m["n_images"] == 0 and all(math.isnan(m[k]) for k in DEPTH_METRIC_KEYS)


def test_zero_and_negative_predictions_are_clipped_to_min_depth():
    m = depth_metrics(np.array([0.0, -3.0]), np.array([1.0, 1.0]), min_depth=0.5)
    # Both predictions become 0.5: abs_rel 0.5, ratio 2 (fails δ1, δ2, δ3), rmse_log ln 2.
    assert m["abs_rel"] == pytest.approx(0.5)
    assert m["delta3"] == 0.0
    assert m["rmse_log"] == pytest.approx(LN2)
    assert all(np.isfinite(m[k]) for k in DEPTH_METRIC_KEYS)
    # max_depth clips large predictions.
    m = depth_metrics(np.array([100.0]), np.array([5.0]), max_depth=10.0)
    assert m["rmse"] == pytest.approx(5.0)


def test_alignment_modes():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1.0, 8.0, size=(3, 5, 6))
    m = depth_metrics(2.0 * gt, gt)
    assert m["abs_rel"] == pytest.approx(1.0)  # unaligned: every pixel doubled
    for mode in ("median", "lstsq", "lstsq_shift"):
        m = depth_metrics(2.0 * gt, gt, align=mode)
        assert m["abs_rel"] == pytest.approx(0.0, abs=1e-12) and m["delta1"] == 1.0, mode
    # A shift needs lstsq_shift; scale-only alignment cannot undo it.
    m = depth_metrics(2.0 * gt + 1.0, gt, align="lstsq_shift")
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-10) and m["rmse"] == pytest.approx(0.0, abs=1e-10)
    assert depth_metrics(2.0 * gt + 1.0, gt, align="median")["abs_rel"] > 0.01
    # Alignment is per image: a different scale in each image is still perfect.
    scaled = gt * np.array([0.5, 2.0, 7.0])[:, None, None]
    assert depth_metrics(scaled, gt, align="median")["abs_rel"] == pytest.approx(0.0, abs=1e-12)


def test_median_alignment_by_hand():
    # median(gt) = 2, median(pred) = 4 → s = 0.5 → aligned pred [0.5, 2, 5].
    m = depth_metrics(np.array([1.0, 4.0, 10.0]), np.array([1.0, 2.0, 4.0]), align="median")
    assert m["abs_rel"] == pytest.approx((0.5 / 1 + 0 + 1 / 4) / 3)


def test_inverse_predictions_are_aligned_in_inverse_space():
    gt = np.array([[1.0, 2.0, 4.0, 5.0]])
    inverse = 3.0 / gt + 0.2  # scaled and shifted disparity
    m = depth_metrics(inverse, gt, align="lstsq_shift", pred_space="inverse")
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-10)


def test_channel_axis_and_shape_errors():
    gt = np.full((2, 3, 4, 1), 2.0)
    assert depth_metrics(gt, gt)["n_pixels"] == 24
    with pytest.raises(ParameterError):
        depth_metrics(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ParameterError):
        depth_metrics(gt, gt, align="mean")


def test_seed_protocol_by_hand():
    # gt normalises to [0, .5, 1] and pred to [0, .25, 1]; × 10 → [0, 5, 10] and [0, 2.5, 10].
    # The pixel at 0 is invalid (below min_depth): abs_rel = (0.5 + 0) / 2.
    m = seed_protocol_metrics(np.array([[1.0, 2.0, 5.0]]), np.array([[2.0, 4.0, 6.0]]))
    assert set(m) == {f"seed_{k}" for k in DEPTH_METRIC_KEYS} | {"seed_n_images", "seed_n_pixels"}
    assert m["seed_abs_rel"] == pytest.approx(0.25)
    assert m["seed_delta1"] == pytest.approx(0.5)
    assert m["seed_rmse"] == pytest.approx(math.sqrt(2.5**2 / 2))
    # Any affine change of the prediction leaves the protocol unchanged.
    m2 = seed_protocol_metrics(np.array([[1.0, 2.0, 5.0]]) * 7 + 3, np.array([[2.0, 4.0, 6.0]]))
    assert m2["seed_abs_rel"] == pytest.approx(0.25)


def test_keras_depth_metric_matches_numpy_and_serialises():
    keras = pytest.importorskip("keras")
    from comicdepth_tf import metrics as M

    rng = np.random.default_rng(1)
    gt = rng.uniform(0.5, 8.0, size=(6, 9, 7, 1)).astype(np.float32)
    gt[rng.random(gt.shape) < 0.25] = 0.0
    gt[5] = 0.0  # an image without valid pixels is not counted
    pred = (gt * rng.uniform(0.6, 1.5, size=gt.shape)).astype(np.float32)
    pred[0, 0, 0, 0] = -1.0  # clipped to min_depth, as in depth_metrics
    expected = depth_metrics(pred, gt)
    for metric in M.keras_depth_metrics(("delta1", "delta2", "abs_rel", "rmse")):
        # Two batches with rank-3 targets: the streaming mean is over images.
        metric.update_state(gt[:4, ..., 0], pred[:4])
        metric.update_state(gt[4:, ..., 0], pred[4:])
        assert float(metric.result()) == pytest.approx(expected[metric.kind], rel=1e-5), metric.kind
    again = keras.metrics.deserialize(keras.metrics.serialize(M.DepthMetric("abs_rel", min_depth=0.1)))
    assert (again.kind, again.min_depth, again.name) == ("abs_rel", 0.1, "abs_rel")
