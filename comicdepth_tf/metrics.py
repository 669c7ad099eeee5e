"""Evaluation metrics, one section per family.

Sections:

1. Dense depth metrics (NumPy, float64): :func:`depth_metrics`, :func:`seed_protocol_metrics`,
   :func:`align_prediction`.
2. Keras training metrics for dense depth (masked δ1 / AbsRel / RMSE): :func:`keras_depth_metrics`,
   ``DepthMetric`` (built lazily so that importing this module does not import TensorFlow).

Later sections (AI4VA per-segment scores, ordering accuracy) go below, each under its own header.

Conventions for dense depth:

* Depth in metres, arrays of shape ``(H, W)``, ``(N, H, W)`` or ``(N, H, W, 1)``; a 1-D array is
  one image. ``gt ≤ 0`` or non-finite is invalid (sensor holes), and so are ground-truth values
  outside ``[min_depth, max_depth]`` (the usual evaluation crop).
* Predictions are clipped to ``[min_depth, max_depth]`` (``max_depth=None``: no upper clip)
  **after** alignment, so zero or negative predictions get the error of ``min_depth`` instead
  of breaking the ratios and logarithms.
* Each metric is computed per image over its valid pixels, then averaged over the images that
  have at least one valid pixel (``reduce="images"``, the default: every image weighs the
  same); ``reduce="pooled"`` treats all valid pixels of all images as one set.
"""

from __future__ import annotations

import numpy as np

from comicdepth_tf.errors import ParameterError

# --------------------------------------------------------------------------------------------
# 1. Dense depth metrics (NumPy)
# --------------------------------------------------------------------------------------------

#: Keys returned by :func:`depth_metrics` (besides ``n_images`` and ``n_pixels``).
DEPTH_METRIC_KEYS = ("delta1", "delta2", "delta3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10")
#: Metrics where higher is better (the others: lower is better).
HIGHER_IS_BETTER = ("delta1", "delta2", "delta3")
ALIGN_MODES = (None, "median", "lstsq", "lstsq_shift")
DELTA_BASE = 1.25


def _as_images(a, what: str) -> np.ndarray:
    """``(N, P)`` float64 view of one image, a stack, or a stack with one channel."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 4:
        if a.shape[-1] != 1:
            raise ParameterError(f"{what}: expected one channel, got shape {a.shape}")
        a = a[..., 0]
    if a.ndim <= 2:
        return a.reshape(1, -1)
    if a.ndim == 3:
        return a.reshape(a.shape[0], -1)
    raise ParameterError(f"{what}: expected (H, W), (N, H, W) or (N, H, W, 1), got shape {a.shape}")


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as ``(N, P)``; their shapes must agree (up to a trailing channel of 1)."""
    p, g = np.asarray(pred), np.asarray(gt)
    ps = p.shape[:-1] if p.ndim == 4 else p.shape
    gs = g.shape[:-1] if g.ndim == 4 else g.shape
    if ps != gs:
        raise ParameterError(f"pred shape {p.shape} does not match gt shape {g.shape}")
    return _as_images(p, "pred"), _as_images(g, "gt")


def _valid_mask(gt, valid, min_depth, max_depth):
    mask = np.isfinite(gt) & (gt > 0) & (gt >= min_depth)
    if max_depth is not None:
        mask &= gt <= max_depth
    if valid is not None:
        v = _as_images(valid, "valid").astype(bool)
        if v.shape != gt.shape:
            raise ParameterError(f"valid: shape {np.shape(valid)} does not match the ground truth")
        mask &= v
    return mask


def align_prediction(pred, gt, mode: str | None):
    """Align one image's valid predictions to its ground truth (1-D arrays of equal length).

    Args:
        pred: predictions at the valid pixels.
        gt: ground truth at the same pixels.
        mode: ``None`` (unchanged), ``"median"`` (``s = median(gt) / median(pred)``; ``s = 1``
            when the prediction's median is not positive), ``"lstsq"`` (scale only,
            ``s = Σ p·g / Σ p²``) or ``"lstsq_shift"`` (scale and shift by least squares).

    Returns:
        The aligned predictions.
    """
    if mode is None:
        return pred
    if mode == "median":
        m = np.median(pred)
        return pred * (np.median(gt) / m) if m > 0 else pred
    if mode == "lstsq":
        den = float(np.dot(pred, pred))
        return pred * (float(np.dot(pred, gt)) / den) if den > 0 else pred
    if mode == "lstsq_shift":
        a = np.stack([pred, np.ones_like(pred)], axis=1)
        (s, t), *_ = np.linalg.lstsq(a, gt, rcond=None)
        return s * pred + t
    raise ParameterError(f"align must be one of {ALIGN_MODES}, got {mode!r}")


def _image_errors(p, g) -> dict[str, np.ndarray]:
    """Per-pixel error terms whose means give the metrics (rmse and rmse_log take a sqrt)."""
    ratio = np.maximum(p / g, g / p)
    out = {f"delta{k}": (ratio < DELTA_BASE**k).astype(np.float64) for k in (1, 2, 3)}
    out["abs_rel"] = np.abs(p - g) / g
    out["sq_rel"] = (p - g) ** 2 / g
    out["rmse"] = (p - g) ** 2
    out["rmse_log"] = (np.log(p) - np.log(g)) ** 2
    out["log10"] = np.abs(np.log10(p) - np.log10(g))
    return out


def _finish(means: dict[str, float]) -> dict[str, float]:
    means = dict(means)
    means["rmse"] = float(np.sqrt(means["rmse"]))
    means["rmse_log"] = float(np.sqrt(means["rmse_log"]))
    return means


def depth_metrics(
    pred,
    gt,
    valid=None,
    align: str | None = None,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
    pred_space: str = "depth",
    reduce: str = "images",
) -> dict[str, float]:
    """Standard dense depth metrics over valid pixels.

    ``delta_k`` = share of pixels with ``max(p/g, g/p) < 1.25^k``; ``abs_rel`` = mean ``|p−g|/g``;
    ``sq_rel`` = mean ``(p−g)²/g``; ``rmse`` = ``sqrt(mean (p−g)²)``; ``rmse_log`` =
    ``sqrt(mean (ln p − ln g)²)``; ``log10`` = mean ``|log10 p − log10 g|``.

    Args:
        pred: predictions, same shape as ``gt`` (depth in metres, or inverse depth with
            ``pred_space="inverse"``).
        gt: ground-truth depth in metres (``≤ 0`` = invalid).
        valid: optional extra boolean mask (e.g. an evaluation crop).
        align: per-image alignment before the metrics (see :func:`align_prediction`); use it
            for predictions without metric scale.
        min_depth: ground truth below it is invalid; predictions are clipped up to it.
        max_depth: ground truth above it is invalid; predictions are clipped down to it.
        pred_space: ``"depth"`` or ``"inverse"`` (larger = nearer): inverse predictions are
            aligned to ``1/gt`` and then inverted; non-positive inverse values become the
            farthest depth (``max_depth``, or a huge value when it is None).
        reduce: ``"images"`` (per-image means averaged over images) or ``"pooled"``.

    Returns:
        ``{delta1, delta2, delta3, abs_rel, sq_rel, rmse, rmse_log, log10, n_images, n_pixels}``
        as Python floats/ints; metrics are NaN when no pixel is valid.
    """
    if pred_space not in ("depth", "inverse"):
        raise ParameterError(f"pred_space must be 'depth' or 'inverse', got {pred_space!r}")
    if reduce not in ("images", "pooled"):
        raise ParameterError(f"reduce must be 'images' or 'pooled', got {reduce!r}")
    if align not in ALIGN_MODES:
        raise ParameterError(f"align must be one of {ALIGN_MODES}, got {align!r}")
    p_all, g_all = _pair(pred, gt)
    mask = _valid_mask(g_all, valid, min_depth, max_depth)
    upper = np.inf if max_depth is None else max_depth

    per_image, pooled, n_pixels = [], {k: [] for k in DEPTH_METRIC_KEYS}, 0
    for p, g, m in zip(p_all, g_all, mask):
        if not m.any():
            continue
        p, g = p[m], g[m]
        if pred_space == "inverse":
            p = align_prediction(p, 1.0 / g, align)
            p = 1.0 / np.maximum(p, 1.0 / upper if np.isfinite(upper) else 1e-12)
        else:
            p = align_prediction(p, g, align)
        p = np.clip(p, min_depth, upper)
        errors = _image_errors(p, g)
        per_image.append({k: float(v.mean()) for k, v in errors.items()})
        for k, v in errors.items():
            pooled[k].append(v)
        n_pixels += int(m.sum())

    if not per_image:
        out = {k: float("nan") for k in DEPTH_METRIC_KEYS}
    elif reduce == "pooled":
        out = _finish({k: float(np.concatenate(v).mean()) for k, v in pooled.items()})
    else:
        finished = [_finish(d) for d in per_image]
        out = {k: float(np.mean([d[k] for d in finished])) for k in DEPTH_METRIC_KEYS}
    out["n_images"] = len(per_image)
    out["n_pixels"] = n_pixels
    return out


def minmax_normalise(values, mask) -> np.ndarray | None:
    """``(v − min) / (max − min)`` over ``mask`` (1-D); None when the range is empty or zero."""
    v = values[mask]
    if v.size == 0:
        return None
    lo, hi = float(v.min()), float(v.max())
    if not hi > lo:
        return None
    out = np.zeros_like(values)
    out[mask] = (v - lo) / (hi - lo)
    return out


def seed_protocol_metrics(pred, gt, valid=None, scale: float = 10.0, min_depth: float = 1e-3) -> dict[str, float]:
    """Seed 002's protocol, reported under ``seed_``-prefixed keys so it is never mistaken.

    Per image, targets and predictions are min-max normalised to ``[0, 1]`` over the valid
    pixels, both are multiplied by one fixed global ``scale`` (default 10 m, NYU's depth cap),
    and :func:`depth_metrics` is applied without alignment. Ratio metrics (δ, AbsRel, log) do
    not depend on ``scale``; RMSE and SqRel do. Each image's nearest valid pixels normalise to 0
    and drop out as invalid (below ``min_depth``). Images whose target or prediction is constant
    are skipped. These numbers reward matching the *layout* of depth and are not comparable with
    metric-depth results; they exist to compare with the seed's reported δ1/δ2/δ3.

    Returns:
        ``{"seed_delta1": …, …, "seed_n_images": …, "seed_n_pixels": …}``.
    """
    p_all, g_all = _pair(pred, gt)
    mask = _valid_mask(g_all, valid, 0.0, None)
    preds, gts = [], []
    for p, g, m in zip(p_all, g_all, mask):
        p_n, g_n = minmax_normalise(p, m), minmax_normalise(g, m)
        if p_n is None or g_n is None:
            continue
        preds.append(p_n * scale)
        gts.append(np.where(m, g_n * scale, 0.0))
    if not preds:
        result = depth_metrics(np.zeros((1, 1)), np.zeros((1, 1)), min_depth=min_depth)
    else:
        result = depth_metrics(np.stack(preds), np.stack(gts), min_depth=min_depth)
    return {f"seed_{k}": v for k, v in result.items()}


# --------------------------------------------------------------------------------------------
# 2. Keras training metrics for dense depth (masked; TensorFlow imported on first use)
# --------------------------------------------------------------------------------------------

#: Kinds accepted by ``DepthMetric``.
KERAS_METRIC_KINDS = ("delta1", "delta2", "delta3", "abs_rel", "rmse")
_KERAS_CLASSES: dict[str, type] = {}


def _depth_metric_class():
    """Define (once) and return the serialisable ``DepthMetric`` Keras metric."""
    if "DepthMetric" in _KERAS_CLASSES:
        return _KERAS_CLASSES["DepthMetric"]
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="comicdepth", name="DepthMetric")
    class DepthMetric(keras.metrics.Metric):
        """Masked per-image depth metric averaged over the images seen (a streaming mean).

        Same definitions as :func:`depth_metrics` with ``reduce="images"``, no alignment: target
        pixels ``≤ min_depth`` are ignored, predictions are clipped to ``min_depth``; images
        without a valid pixel are not counted. Compares the model output with the target as
        they are, so use it with metric-depth models (or targets in the model's convention).

        Args:
            kind: one of ``delta1``, ``delta2``, ``delta3``, ``abs_rel``, ``rmse``.
            min_depth: validity threshold and prediction floor.
            name: default ``kind``.
        """

        def __init__(self, kind: str = "delta1", min_depth: float = 1e-3, name: str | None = None, dtype=None):
            if kind not in KERAS_METRIC_KINDS:
                raise ParameterError(f"DepthMetric kind must be one of {KERAS_METRIC_KINDS}, got {kind!r}")
            super().__init__(name=name or kind, dtype=dtype)
            self.kind = kind
            self.min_depth = float(min_depth)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = tf.cast(y_true, tf.float32)
            y_pred = tf.cast(y_pred, tf.float32)
            if y_true.shape.rank == 3:
                y_true = y_true[..., None]
            batch = tf.shape(y_true)[0]
            g = tf.reshape(y_true, [batch, -1])
            p = tf.maximum(tf.reshape(y_pred, [batch, -1]), self.min_depth)
            m = tf.cast(g >= self.min_depth, tf.float32) * tf.cast(g > 0, tf.float32)
            g = tf.where(m > 0, g, 1.0)
            if self.kind.startswith("delta"):
                k = int(self.kind[-1])
                err = tf.cast(tf.maximum(p / g, g / p) < DELTA_BASE**k, tf.float32)
            elif self.kind == "abs_rel":
                err = tf.abs(p - g) / g
            else:
                err = tf.square(p - g)
            n = tf.reduce_sum(m, axis=1)
            per_image = tf.reduce_sum(err * m, axis=1) / tf.maximum(n, 1.0)
            if self.kind == "rmse":
                per_image = tf.sqrt(per_image)
            has = tf.cast(n > 0, tf.float32)
            self.total.assign_add(tf.reduce_sum(per_image * has))
            self.count.assign_add(tf.reduce_sum(has))

        def result(self):
            return self.total / tf.maximum(self.count, 1.0)

        def reset_state(self):
            self.total.assign(0.0)
            self.count.assign(0.0)

        def get_config(self):
            config = super().get_config()
            config.update({"kind": self.kind, "min_depth": self.min_depth})
            return config

    _KERAS_CLASSES["DepthMetric"] = DepthMetric
    return DepthMetric


def register_serialisables() -> None:
    """Register the Keras metric classes (the model registry calls it before loading)."""
    _depth_metric_class()


def keras_depth_metrics(kinds=("delta1", "abs_rel"), min_depth: float = 1e-3) -> list:
    """Keras metrics for ``model.compile(metrics=…)``, one ``DepthMetric`` per kind."""
    cls = _depth_metric_class()
    return [cls(kind, min_depth=min_depth) for kind in kinds]


def __getattr__(name: str):
    if name == "DepthMetric":
        return _depth_metric_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
