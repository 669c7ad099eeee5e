"""Depth losses: hand-computed terms, masking, invariances, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from comicdepth_tf.errors import ParameterError  # noqa: E402
from comicdepth_tf.losses import DepthLoss, ScaleShiftInvariantLoss, get_loss  # noqa: E402


def _img(rows):
    return np.asarray(rows, np.float32)[None, :, :, None]


def _value(loss, y_true, y_pred):
    return float(loss(tf.constant(y_true), tf.constant(y_pred)))


def _random_depth(seed, shape=(2, 24, 20, 1)):
    return np.random.default_rng(seed).uniform(0.5, 9.0, size=shape).astype(np.float32)


def test_l1_and_edge_terms_by_hand():
    t, p = _img([[1, 2], [3, 4]]), _img([[1, 3], [3, 3]])
    # diff = p − t = [[0, 1], [0, −1]]: L1 = 2/4; vertical |−2| + horizontal |1| + |−1| = 4, / 4 pixels.
    assert _value(get_loss("l1"), t, p) == pytest.approx(0.5)
    assert _value(DepthLoss(w_ssim=0, w_edge=1, w_l1=0), t, p) == pytest.approx(1.0)
    assert _value(DepthLoss(w_ssim=0), t, p) == pytest.approx(0.3 * 0.5 + 1.0)  # seed weights 1, 1, 0.3


def test_edge_term_matches_densedepth_image_gradients_when_all_valid():
    t, p = _random_depth(0), _random_depth(1)
    dy_p, dx_p = tf.image.image_gradients(tf.constant(p))
    dy_t, dx_t = tf.image.image_gradients(tf.constant(t))
    expected = float(tf.reduce_mean(tf.abs(dy_p - dy_t) + tf.abs(dx_p - dx_t)))
    assert _value(DepthLoss(w_ssim=0, w_edge=1, w_l1=0), t, p) == pytest.approx(expected, rel=1e-5)


def test_terms_by_hand_with_an_invalid_pixel():
    t, p = _img([[1, 2], [0, 4]]), _img([[1, 3], [3, 3]])
    # Valid: 3 pixels. L1 = (0 + 1 + 1) / 3. Edges with both ends valid: one vertical (|−1 − 1| = 2)
    # and one horizontal (|1 − 0| = 1): 3 / 3.
    assert _value(get_loss("l1"), t, p) == pytest.approx(2 / 3)
    assert _value(DepthLoss(w_ssim=0, w_edge=1, w_l1=0), t, p) == pytest.approx(1.0)


def test_perfect_prediction_gives_zero_loss():
    t = _random_depth(2)
    assert _value(DepthLoss(), t, t) == pytest.approx(0.0, abs=1e-6)
    assert _value(ScaleShiftInvariantLoss(), t, t) == pytest.approx(0.0, abs=1e-5)


def test_masked_pixels_do_not_change_the_loss():
    rng = np.random.default_rng(3)
    t = _random_depth(4)
    invalid = rng.random(t.shape) < 0.3
    t[invalid] = 0.0
    p1 = _random_depth(5)
    p2 = p1.copy()
    p2[invalid] = rng.uniform(-50, 50, size=int(invalid.sum()))
    for loss in (DepthLoss(w_ssim=0), get_loss("l1"), ScaleShiftInvariantLoss()):
        assert _value(loss, t, p1) == pytest.approx(_value(loss, t, p2), rel=1e-6)
    # SSIM: a prediction exact on the valid pixels has zero loss whatever it says elsewhere.
    exact = np.where(invalid, p2, t)
    assert _value(DepthLoss(), t, exact) == pytest.approx(0.0, abs=1e-6)
    assert _value(DepthLoss(), t, p1) > 0.1


def test_image_without_valid_pixels_contributes_zero():
    t = np.zeros((1, 16, 16, 1), np.float32)
    assert _value(DepthLoss(), t, _random_depth(6, (1, 16, 16, 1))) == pytest.approx(0.0, abs=1e-6)


def test_scale_shift_invariant_loss_ignores_affine_changes():
    t = _random_depth(7)
    t[:, :3] = 0.0
    p = _random_depth(8)
    loss = ScaleShiftInvariantLoss()
    base = _value(loss, t, p)
    assert base > 0.1
    for a, b in ((3.0, 0.5), (0.2, -4.0), (-1.5, 2.0)):
        assert _value(loss, t, a * p + b) == pytest.approx(base, rel=1e-4)
    assert _value(loss, t, 0.1 * t + 7.0) == pytest.approx(0.0, abs=1e-4)
    # A constant prediction aligns to the target's mean: loss = mean |t − mean(t)|.
    t1 = _img([[1, 3], [5, 0]])
    assert _value(loss, t1, np.ones_like(t1)) == pytest.approx((2 + 0 + 2) / 3)


def test_rank3_targets_and_float16_predictions():
    t, p = _random_depth(9), _random_depth(10)
    loss = DepthLoss()
    assert _value(loss, t[..., 0], p) == pytest.approx(_value(loss, t, p), rel=1e-6)
    assert _value(loss, t, p.astype(np.float16)) == pytest.approx(_value(loss, t, p), rel=1e-3)


def test_serialisation_and_names():
    loss = DepthLoss(w_ssim=0.5, w_edge=2.0, w_l1=0.1, max_val=20.0)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, DepthLoss)
    assert (again.w_ssim, again.w_edge, again.w_l1, again.max_val) == (0.5, 2.0, 0.1, 20.0)
    ssi = keras.losses.deserialize(keras.losses.serialize(ScaleShiftInvariantLoss(target_space="inverse")))
    assert ssi.target_space == "inverse"
    assert isinstance(get_loss("ssi"), ScaleShiftInvariantLoss)
    assert get_loss("depth", w_l1=1.0).w_l1 == 1.0
    with pytest.raises(ParameterError):
        get_loss("mse")


def test_the_ordinal_term_by_hand():
    from comicdepth_tf.losses import masked_rank

    t = _img([[1.0, 2.0, 0.0, 1.02]])
    mask = tf.cast(tf.constant(t) > 0, tf.float32)
    # (row, col) shares of a 1 x 4 image: cols 0.1 -> 0, 0.3 -> 1, 0.6 -> 2, 0.9 -> 3.
    ordered = np.array([[0.0, 0.1, 0.0, 0.3]], np.float32)  # true 1 vs 2: the first is nearer (r = -1)
    invalid = np.array([[0.0, 0.1, 0.0, 0.6]], np.float32)  # the second pixel has no depth
    close = np.array([[0.0, 0.1, 0.0, 0.9]], np.float32)  # 1 vs 1.02: under the margin
    pairs = np.concatenate([ordered, invalid, close])

    def rank(pred):
        return float(masked_rank(tf.constant(t), tf.constant(_img([pred])), mask, pairs, 0.05)[0])

    assert rank([0, 0, 0, 0]) == pytest.approx(np.log(2.0))  # undecided: log 2, one pair counted
    assert rank([0, 3, 0, 0]) == pytest.approx(np.log1p(np.exp(-3.0)), rel=1e-5)  # right order
    assert rank([3, 0, 9, -9]) == pytest.approx(np.log1p(np.exp(3.0)), rel=1e-5)  # wrong; others ignored
    assert float(masked_rank(tf.constant(t), tf.constant(t), mask, close, 0.05)[0]) == 0.0  # no ordered pair


def test_ranked_log_depth_loss_adds_the_ordinal_term_and_round_trips():
    t, p = _random_depth(0), _random_depth(1)
    ranked, plain = get_loss("log_depth_rank", w_rank=0.5, n_pairs=512), get_loss("log_depth")
    from comicdepth_tf.losses import masked_rank

    mask = tf.cast(tf.constant(t) > 0, tf.float32)
    term = masked_rank(tf.math.log1p(tf.constant(t)), tf.math.log1p(tf.constant(p)), mask, ranked.pairs, 0.05)
    assert _value(ranked, t, p) == pytest.approx(_value(plain, t, p) + 0.5 * float(tf.reduce_mean(term)), rel=1e-5)
    # A prediction ordered like the target everywhere scores a lower ordinal term than its reverse.
    def ordinal(pred):
        return _value(ranked, t, pred) - _value(plain, t, pred)

    assert ordinal(t * 2.0) < 0.5 * np.log(2.0) < ordinal(10.0 - t)  # log 2: the undecided pair
    again = keras.losses.deserialize(keras.losses.serialize(ranked))
    assert type(again).__name__ == "RankedLogDepthLoss" and again.n_pairs == 512
    np.testing.assert_array_equal(again.pairs, ranked.pairs)
    assert _value(again, t, p) == pytest.approx(_value(ranked, t, p))
