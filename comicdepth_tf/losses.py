"""Depth losses with invalid-pixel masking (TensorFlow backend).

Targets follow the data pipeline's convention: ``(B, H, W, 1)`` or ``(B, H, W)`` float32, with
**0 (or any value ≤ 0) marking an invalid pixel** (sensor holes, sky). Every term below ignores
invalid pixels. Predictions are ``(B, H, W, 1)``; they are cast to float32 so the losses are safe
under mixed precision. Each loss returns one value per image; Keras averages over the batch.

* :class:`DepthLoss` — the seed's SSIM + edge + L1 combination (DenseDepth, Alhashim & Wonka
  2018, which seed 002 follows): ``w_ssim·(1 − SSIM)/2 + w_edge·edge + w_l1·L1``. The default
  weights 1, 1, 0.3 are seed 002's (DenseDepth itself weights L1 by 0.1).
* :class:`ScaleShiftInvariantLoss` — MiDaS-style (Ranftl et al. 2020): per image, the prediction
  is aligned to the target by least squares (scale and shift, over valid pixels) and the mean
  absolute residual is the loss; for relative-depth outputs and for mixing datasets.
* :class:`LogDepthLoss` — :class:`DepthLoss` on ``log(1 + depth)``, which weighs near pixels
  like the relative metrics do (the ``cpu`` profile of notebook 10 needs it).
* :class:`RankedLogDepthLoss` (``log_depth_rank``) — :class:`LogDepthLoss` plus a pairwise
  ordinal term (:func:`masked_rank`), which trains what the ordering benchmarks score.

And for masks: :class:`BceDiceLoss` (the text U-net of notebook 20, seed 001 C.I.1).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from comicdepth_tf.errors import ParameterError

_PACKAGE = "comicdepth"


def _nhwc(y):
    y = tf.convert_to_tensor(y)
    y = tf.cast(y, tf.float32)
    if y.shape.rank == 3:
        y = y[..., None]
    return y


def _safe_div(num, den):
    return num / tf.maximum(den, 1.0)


def masked_l1(y_true, y_pred, mask):
    """Per-image mean ``|pred − true|`` over valid pixels (0 for an image with none)."""
    return _safe_div(tf.reduce_sum(tf.abs(y_pred - y_true) * mask, [1, 2, 3]), tf.reduce_sum(mask, [1, 2, 3]))


def masked_edge(y_true, y_pred, mask):
    """Per-image gradient (edge) L1: ``(Σ|Δy p − Δy t| + Σ|Δx p − Δx t|) / n_valid``.

    ``Δ`` are forward differences between neighbouring pixels; a difference counts only when
    both of its pixels are valid. With every pixel valid this equals DenseDepth's
    ``mean(|dy_p − dy_t| + |dx_p − dx_t|)`` from ``tf.image.image_gradients`` (whose padded last
    row/column contribute zero), i.e. the sum is divided by the number of pixels.
    """
    diff = y_pred - y_true
    dy = tf.abs(diff[:, 1:] - diff[:, :-1]) * (mask[:, 1:] * mask[:, :-1])
    dx = tf.abs(diff[:, :, 1:] - diff[:, :, :-1]) * (mask[:, :, 1:] * mask[:, :, :-1])
    total = tf.reduce_sum(dy, [1, 2, 3]) + tf.reduce_sum(dx, [1, 2, 3])
    return _safe_div(total, tf.reduce_sum(mask, [1, 2, 3]))


def masked_ssim_term(y_true, y_pred, mask, max_val: float, filter_size: int = 11):
    """Per-image ``clip((1 − SSIM)/2, 0, 1)`` with invalid target pixels filled by the prediction.

    SSIM compares local windows, so invalid pixels cannot simply be dropped. Filling them with
    the prediction makes them agree exactly with it: they add no error of their own (windows
    made only of invalid pixels have SSIM 1), though they still take part in the local means
    and variances of windows that straddle a hole. Images must be at least ``filter_size``
    pixels on each side (``tf.image.ssim`` uses 'valid' windows).
    """
    filled = tf.where(mask > 0, y_true, y_pred)
    ssim = tf.image.ssim(filled, y_pred, max_val=max_val, filter_size=filter_size)
    return tf.clip_by_value((1.0 - ssim) * 0.5, 0.0, 1.0)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DepthLoss(keras.losses.Loss):
    """``w_ssim·(1 − SSIM)/2 + w_edge·edge + w_l1·L1`` over valid pixels (target > 0).

    Args:
        w_ssim: weight of the structural term (seed: 1.0).
        w_edge: weight of the gradient term (seed: 1.0).
        w_l1: weight of the point-wise L1 term (seed 002: 0.3; DenseDepth: 0.1).
        max_val: SSIM's dynamic range, in target units (metres: the dataset's maximum depth).
        ssim_filter_size: SSIM window side in pixels.
        name, reduction, dtype: as for any ``keras.losses.Loss``.
    """

    def __init__(
        self,
        w_ssim: float = 1.0,
        w_edge: float = 1.0,
        w_l1: float = 0.3,
        max_val: float = 10.0,
        ssim_filter_size: int = 11,
        name: str = "depth_loss",
        reduction: str = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.w_ssim = float(w_ssim)
        self.w_edge = float(w_edge)
        self.w_l1 = float(w_l1)
        self.max_val = float(max_val)
        self.ssim_filter_size = int(ssim_filter_size)

    def call(self, y_true, y_pred):
        y_true, y_pred = _nhwc(y_true), _nhwc(y_pred)
        mask = tf.cast(y_true > 0, tf.float32)
        # Zero-weight terms are skipped, so tiny test images need not fit the SSIM window.
        total = tf.zeros(tf.shape(y_true)[:1], tf.float32)
        if self.w_l1:
            total += self.w_l1 * masked_l1(y_true, y_pred, mask)
        if self.w_edge:
            total += self.w_edge * masked_edge(y_true, y_pred, mask)
        if self.w_ssim:
            total += self.w_ssim * masked_ssim_term(y_true, y_pred, mask, self.max_val, self.ssim_filter_size)
        return total

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "w_ssim": self.w_ssim,
                "w_edge": self.w_edge,
                "w_l1": self.w_l1,
                "max_val": self.max_val,
                "ssim_filter_size": self.ssim_filter_size,
            }
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LogDepthLoss(DepthLoss):
    """The seed's SSIM + edge + L1 loss computed on ``log(1 + depth)`` instead of metres.

    In metres, an error of 0.5 m costs the same at 2 m and at 9 m, so training neglects
    near pixels, where the relative metrics (AbsRel, δ) are most sensitive. On
    ``log(1 + d)`` an error costs about ``Δd / (1 + d)``: close to the relative error over
    the 1–10 m range, while invalid pixels (0) stay 0. ``max_val`` (SSIM's range) defaults
    to ``log(1 + 10 m)``.
    """

    def __init__(self, w_ssim: float = 1.0, w_edge: float = 1.0, w_l1: float = 0.3,
                 max_val: float = float(math.log1p(10.0)), ssim_filter_size: int = 11, name: str = "log_depth_loss",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(w_ssim=w_ssim, w_edge=w_edge, w_l1=w_l1, max_val=max_val,
                         ssim_filter_size=ssim_filter_size, name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return super().call(*log_depth(y_true, y_pred))


def masked_rank(y_true, y_pred, mask, pairs, margin: float):
    """Per-image pairwise ordinal loss (Chen et al. 2016, "Single-image depth perception in the wild").

    For each pair ``(a, b)`` of pixels whose targets differ by more than ``margin``, with
    ``r = sign(true_a − true_b)``: ``log(1 + exp(−r·(pred_a − pred_b)))``, the logistic loss of
    ordering the two as the target does; the mean over the image's ordered valid pairs (0 when
    it has none). Only the order of the targets counts (not by how much they differ); a
    prediction lowers the loss by ordering the pair rightly and by separating it further.

    Args:
        y_true, y_pred, mask: ``(B, H, W, 1)``.
        pairs: ``(P, 4)`` float32 ``(row_a, col_a, row_b, col_b)`` as shares of the height and
            width in ``[0, 1)``: the same places in every image, whatever its size.
        margin: the smallest target difference that orders a pair.
    """
    shape = tf.shape(y_true)
    h, w = shape[1], shape[2]
    pairs = tf.constant(pairs, tf.float32)
    # A share that float32 rounded up to 1.0 would index one past the last row or column.
    rows = tf.minimum(tf.cast(pairs[:, 0::2] * tf.cast(h, tf.float32), tf.int32), h - 1)
    cols = tf.minimum(tf.cast(pairs[:, 1::2] * tf.cast(w, tf.float32), tf.int32), w - 1)
    flat = rows * w + cols  # (P, 2)

    def pick(y):
        y = tf.reshape(y, [shape[0], -1])
        return tf.gather(y, flat[:, 0], axis=1), tf.gather(y, flat[:, 1], axis=1)

    (ta, tb), (pa, pb), (ma, mb) = pick(y_true), pick(y_pred), pick(mask)
    order = tf.sign(ta - tb) * tf.cast(tf.abs(ta - tb) > margin, tf.float32) * ma * mb
    used = tf.abs(order)
    loss = tf.math.softplus(-order * (pa - pb)) * used
    return _safe_div(tf.reduce_sum(loss, 1), tf.reduce_sum(used, 1))


def log_depth(y_true, y_pred):
    """``(log(1 + true), log(1 + pred))`` as float32, invalid targets (≤ 0) kept at 0."""
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    valid = y_true > 0
    log_true = tf.where(valid, tf.math.log1p(tf.maximum(y_true, 0.0)), tf.zeros_like(y_true))
    return log_true, tf.math.log1p(tf.maximum(y_pred, 0.0))


def align_scale_shift(y_true, y_pred, mask, eps: float = 1e-6):
    """Per-image least-squares ``(s, t)`` minimising ``Σ mask·(s·pred + t − true)²``.

    Solved on centred values (``s = Σ p̃·g̃ / Σ p̃²``, ``t = ḡ − s·p̄``), which stays accurate in
    float32 where the raw normal equations cancel badly. Returns ``(scale, shift)`` of shape
    ``(B, 1, 1, 1)``. When the prediction is constant over the valid pixels the scale is 0 and
    the shift is the target's mean.
    """
    axes = [1, 2, 3]
    n = tf.reduce_sum(mask, axes, keepdims=True)
    p_mean = _safe_div(tf.reduce_sum(mask * y_pred, axes, keepdims=True), n)
    g_mean = _safe_div(tf.reduce_sum(mask * y_true, axes, keepdims=True), n)
    p_c = (y_pred - p_mean) * mask
    g_c = (y_true - g_mean) * mask
    var = tf.reduce_sum(p_c * p_c, axes, keepdims=True)
    ok = var > eps * tf.maximum(tf.reduce_sum(mask * y_pred * y_pred, axes, keepdims=True), 1e-12)
    scale = tf.where(ok, tf.reduce_sum(p_c * g_c, axes, keepdims=True) / tf.where(ok, var, 1.0), 0.0)
    return scale, g_mean - scale * p_mean


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaleShiftInvariantLoss(keras.losses.Loss):
    """Mean absolute residual after per-image least-squares scale-and-shift alignment.

    The loss is unchanged when the prediction is replaced by ``a·pred + b`` (``a ≠ 0``), so it
    trains relative-depth outputs. The closed-form alignment is differentiated through.

    Args:
        target_space: ``"depth"`` aligns to the target as given; ``"inverse"`` aligns to
            ``1 / target`` (MiDaS aligns in disparity space, which weights near pixels more).
        name, reduction, dtype: as for any ``keras.losses.Loss``.
    """

    def __init__(
        self, target_space: str = "depth", name: str = "ssi_loss", reduction: str = "sum_over_batch_size", dtype=None
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if target_space not in ("depth", "inverse"):
            raise ParameterError(f"target_space must be 'depth' or 'inverse', got {target_space!r}")
        self.target_space = target_space

    def call(self, y_true, y_pred):
        y_true, y_pred = _nhwc(y_true), _nhwc(y_pred)
        mask = tf.cast(y_true > 0, tf.float32)
        if self.target_space == "inverse":
            y_true = tf.where(mask > 0, 1.0 / tf.where(mask > 0, y_true, 1.0), 0.0)
        scale, shift = align_scale_shift(y_true, y_pred, mask)
        return masked_l1(y_true, scale * y_pred + shift, mask)

    def get_config(self):
        config = super().get_config()
        config.update({"target_space": self.target_space})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RankedLogDepthLoss(LogDepthLoss):
    """:class:`LogDepthLoss` plus ``w_rank`` × :func:`masked_rank` on ``log(1 + depth)``.

    The ordinal term scores what the ordering benchmarks score (which of two places is
    nearer), over ``n_pairs`` pixel pairs drawn once from ``pair_seed`` (so training stays
    deterministic) at the same relative places in every image.

    Args:
        w_rank: weight of the ordinal term.
        n_pairs: pixel pairs per image.
        margin: smallest ``log(1 + depth)`` difference that orders a pair (0.05: about 5 %).
        pair_seed: seed of the pairs' places.
        other arguments: as for :class:`LogDepthLoss`.
    """

    def __init__(self, w_rank: float = 1.0, n_pairs: int = 2048, margin: float = 0.05, pair_seed: int = 0,
                 name: str = "log_depth_rank_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.w_rank, self.n_pairs = float(w_rank), int(n_pairs)
        self.margin, self.pair_seed = float(margin), int(pair_seed)
        self.pairs = np.random.default_rng(self.pair_seed).random((self.n_pairs, 4)).astype("float32")

    def call(self, y_true, y_pred):
        log_true, log_pred = log_depth(_nhwc(y_true), _nhwc(y_pred))
        mask = tf.cast(log_true > 0, tf.float32)  # log(1 + d) > 0 exactly where d > 0
        # DepthLoss on the log values is LogDepthLoss's own call, without taking the logs twice.
        return DepthLoss.call(self, log_true, log_pred) + self.w_rank * masked_rank(
            log_true, log_pred, mask, self.pairs, self.margin)

    def get_config(self):
        config = super().get_config()
        config.update({"w_rank": self.w_rank, "n_pairs": self.n_pairs, "margin": self.margin,
                       "pair_seed": self.pair_seed})
        return config


#: Loss names accepted by :func:`get_loss` and their default arguments.
LOSSES = {
    "depth": (DepthLoss, {}),
    "log_depth": (LogDepthLoss, {}),
    "ssim_edge_l1": (DepthLoss, {}),
    "l1": (DepthLoss, {"w_ssim": 0.0, "w_edge": 0.0, "w_l1": 1.0, "name": "l1_loss"}),
    "ssi": (ScaleShiftInvariantLoss, {}),
    "log_depth_rank": (RankedLogDepthLoss, {}),
}


@keras.saving.register_keras_serializable(package=_PACKAGE, name="BceDiceLoss")
class BceDiceLoss(keras.losses.Loss):
    """Per image: ``w_bce · BCE + w_dice · (1 − Dice)`` of a probability mask.

    ``BCE`` is the mean binary cross-entropy over the image's pixels (probabilities clipped
    to ``[eps, 1 − eps]``); ``Dice = (2 Σ p·t + smooth) / (Σ p + Σ t + smooth)`` is the
    soft Dice of the image (``smooth`` keeps a text-free image's Dice at 1 when nothing is
    predicted). Dice counters the class imbalance (text is a few percent of a panel);
    BCE keeps the gradients well-behaved early on.

    Args:
        w_bce: weight of the cross-entropy term.
        w_dice: weight of the Dice term.
        smooth: additive smoothing of the Dice ratio, in pixels.
        eps: probability clipping for the logarithms.
    """

    def __init__(self, w_bce: float = 1.0, w_dice: float = 1.0, smooth: float = 1.0, eps: float = 1e-7,
                 name: str = "bce_dice", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.w_bce, self.w_dice = float(w_bce), float(w_dice)
        self.smooth, self.eps = float(smooth), float(eps)

    def call(self, y_true, y_pred):
        t = tf.cast(y_true, tf.float32)
        p = tf.cast(y_pred, tf.float32)
        if t.shape.rank == 3:
            t = t[..., None]
        batch = tf.shape(p)[0]
        t = tf.reshape(t, [batch, -1])
        p = tf.clip_by_value(tf.reshape(p, [batch, -1]), self.eps, 1.0 - self.eps)
        bce = -tf.reduce_mean(t * tf.math.log(p) + (1.0 - t) * tf.math.log(1.0 - p), axis=1)
        inter = tf.reduce_sum(p * t, axis=1)
        dice = (2.0 * inter + self.smooth) / (tf.reduce_sum(p, axis=1) + tf.reduce_sum(t, axis=1) + self.smooth)
        return self.w_bce * bce + self.w_dice * (1.0 - dice)

    def get_config(self):
        config = super().get_config()
        config.update({"w_bce": self.w_bce, "w_dice": self.w_dice, "smooth": self.smooth, "eps": self.eps})
        return config


def get_loss(name: str, **kwargs) -> keras.losses.Loss:
    """A loss by name (``depth`` = ``ssim_edge_l1``, ``log_depth``, ``l1``, ``ssi``, ``log_depth_rank``);
    ``kwargs`` override defaults."""
    if name not in LOSSES:
        raise ParameterError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    cls, defaults = LOSSES[name]
    return cls(**{**defaults, **kwargs})
