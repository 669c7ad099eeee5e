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

from typing import Any

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


# --------------------------------------------------------------------------------------------
# 3. AI4VA per-segment scores (NumPy)
# --------------------------------------------------------------------------------------------
#
# Predictions are rows in the submission's form: a pandas DataFrame (or a list of dicts) with
# the columns ``annotation_id``, ``img_id`` (``image_id`` is accepted too), ``category_id``,
# ``pred_Interdepth`` and ``pred_Intradepth``. Ground truth is an
# :class:`~comicdepth_tf.data.formats.ai4va.AI4VADataset` or an iterable of its ``Segment``
# records (``annotation_id, image_id, category_id, interdepth, intradepth``).
#
# Two matching modes:
#
# * ``"segment"`` (default): one prediction per ground-truth segment, matched by
#   ``annotation_id``. A segment whose level is None (missing in the labels) is left out of
#   that level's MSE and counted in ``n_interdepth`` / ``n_intradepth``.
# * ``"official"``: what the organisers' ``evaluate_model.py`` does, for numbers comparable with
#   the challenge. Ground truth is a dict keyed by ``(image id, category id)`` filled in file
#   order, so **a later segment of the same category on a page overwrites the earlier ones**:
#   only the last segment of each (page, category) is ever scored, and every prediction row
#   of that (page, category) is compared with it. A missing level counts as 0 (their
#   ``attributes.get(name, 0)``). ``annotation_id`` is not used.
#
# In both modes a ground-truth key without prediction ("missing") and a prediction without
# ground truth ("extra") are errors that list them: a score over a silently truncated set
# is not comparable. In ``segment`` mode duplicate annotation ids are errors too.

AI4VA_MODES = ("segment", "official")
#: Columns of a per-segment prediction table (the AI4VA submission CSV).
PRED_COLUMNS = ("img_id", "category_id", "pred_Intradepth", "pred_Interdepth", "annotation_id")
_MAX_LISTED = 20


def _listed(values) -> str:
    values = sorted(values)
    text = ", ".join(str(v) for v in values[:_MAX_LISTED])
    return text + (f", … ({len(values)} in all)" if len(values) > _MAX_LISTED else "")


def prediction_table(predictions):
    """Per-segment predictions as a DataFrame with the columns of :data:`PRED_COLUMNS`.

    Args:
        predictions: a DataFrame or a list of row dicts; ``image_id`` is renamed ``img_id``.
            ``annotation_id`` may be absent (then only ``official`` scoring works).

    Raises:
        ParameterError: a required column is missing or a predicted level is not finite.
    """
    import pandas as pd

    df = predictions.copy() if isinstance(predictions, pd.DataFrame) else pd.DataFrame(list(predictions))
    if "img_id" not in df.columns and "image_id" in df.columns:
        df = df.rename(columns={"image_id": "img_id"})
    need = [c for c in PRED_COLUMNS if c != "annotation_id"]
    absent = [c for c in need if c not in df.columns]
    if absent:
        raise ParameterError(f"predictions: missing columns {absent}; expected {list(PRED_COLUMNS)}")
    for col in ("pred_Interdepth", "pred_Intradepth"):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            where = df["annotation_id"][bad] if "annotation_id" in df.columns else df.index[bad]
            raise ParameterError(f"predictions: {col} is not a finite number for {_listed(where.tolist())}")
        df[col] = values
    return df


def _segments(ground_truth) -> list:
    return list(getattr(ground_truth, "segments", ground_truth))


def _mse_pair(pred_inter, true_inter, pred_intra, true_intra) -> dict[str, float]:
    def mse(p, t):
        p, t = np.asarray(p, dtype=np.float64), np.asarray(t, dtype=np.float64)
        return float(np.mean((p - t) ** 2)) if p.size else float("nan")

    inter, intra = mse(pred_inter, true_inter), mse(pred_intra, true_intra)
    return {"mse_interdepth": inter, "mse_intradepth": intra, "mse_overall": (inter + intra) / 2.0,
            "n_interdepth": len(true_inter), "n_intradepth": len(true_intra)}


def ai4va_mse(predictions, ground_truth, mode: str = "segment") -> dict[str, float]:
    """AI4VA depth score: MSE of Interdepth, of Intradepth, and their mean (lower is better).

    Args:
        predictions: per-segment prediction rows (see :func:`prediction_table`).
        ground_truth: an ``AI4VADataset`` or its segments.
        mode: ``"segment"`` (match by ``annotation_id``) or ``"official"`` (the organisers'
            ``(image id, category id)`` matching, later segments overwriting earlier ones;
            see the section comment above).

    Returns:
        ``{"mse_interdepth", "mse_intradepth", "mse_overall", "n_interdepth", "n_intradepth"}``;
        the counts are the ground-truth values scored.

    Raises:
        ParameterError: unknown mode, missing columns, non-finite predictions, duplicate
            annotation ids, or missing / extra predictions (listed).
    """
    if mode not in AI4VA_MODES:
        raise ParameterError(f"mode must be one of {AI4VA_MODES}, got {mode!r}")
    df = prediction_table(predictions)
    segments = _segments(ground_truth)
    if mode == "segment":
        return _mse_by_segment(df, segments)
    return _mse_official(df, segments)


def _matched_segments(df, segments) -> list[tuple[Any, float, float]]:
    """``(segment, pred_Interdepth, pred_Intradepth)`` per prediction row, matched by annotation id."""
    if "annotation_id" not in df.columns:
        raise ParameterError("predictions: segment mode needs an annotation_id column (or use mode='official')")
    ids = df["annotation_id"].astype(np.int64).to_numpy()
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ParameterError(f"predictions: duplicate annotation ids {_listed(uniq[counts > 1].tolist())}")
    truth = {s.annotation_id: s for s in segments}
    missing = set(truth) - set(ids.tolist())
    extra = set(ids.tolist()) - set(truth)
    if missing or extra:
        raise ParameterError(f"predictions do not match the ground-truth segments: missing annotation ids "
                             f"[{_listed(missing)}]; extra annotation ids [{_listed(extra)}]")
    return [(truth[int(aid)], float(pi), float(pa))
            for aid, pi, pa in zip(ids, df["pred_Interdepth"], df["pred_Intradepth"])]


def _mse_by_segment(df, segments) -> dict[str, float]:
    p_inter, t_inter, p_intra, t_intra = [], [], [], []
    for s, pi, pa in _matched_segments(df, segments):
        if s.interdepth is not None:
            p_inter.append(pi)
            t_inter.append(s.interdepth)
        if s.intradepth is not None:
            p_intra.append(pa)
            t_intra.append(s.intradepth)
    return _mse_pair(p_inter, t_inter, p_intra, t_intra)


def ai4va_squared_errors(predictions, ground_truth):
    """Per-segment squared errors behind :func:`ai4va_mse` (``segment`` matching).

    Returns:
        A ``pandas.DataFrame`` with ``annotation_id``, ``image_id``, ``category_id``, ``se_inter``
        and ``se_intra`` (NaN where the segment has no such label), one row per prediction, in
        the predictions' order: the mean of the finite ``se_inter`` is ``mse_interdepth``, of
        ``se_intra`` ``mse_intradepth``.

    Raises:
        ParameterError: as :func:`ai4va_mse`.
    """
    import pandas as pd

    rows = []
    for s, pi, pa in _matched_segments(prediction_table(predictions), _segments(ground_truth)):
        rows.append({"annotation_id": int(s.annotation_id), "image_id": int(s.image_id),
                     "category_id": int(s.category_id),
                     "se_inter": (pi - s.interdepth) ** 2 if s.interdepth is not None else float("nan"),
                     "se_intra": (pa - s.intradepth) ** 2 if s.intradepth is not None else float("nan")})
    return pd.DataFrame(rows, columns=["annotation_id", "image_id", "category_id", "se_inter", "se_intra"])


def official_ground_truth(segments) -> dict[tuple[int, int], tuple[float, float]]:
    """The organisers' ground-truth lookup: ``(image id, category id) -> (Interdepth, Intradepth)``.

    Filled in file order, so the last segment of each (page, category) wins; a missing
    level is 0.
    """
    table: dict[tuple[int, int], tuple[float, float]] = {}
    for s in _segments(segments):
        table[(int(s.image_id), int(s.category_id))] = (s.interdepth or 0, s.intradepth or 0)
    return table


def _mse_official(df, segments) -> dict[str, float]:
    truth = official_ground_truth(segments)
    keys = list(zip(df["img_id"].astype(np.int64).tolist(), df["category_id"].astype(np.int64).tolist()))
    missing = set(truth) - set(keys)
    extra = set(keys) - set(truth)
    if missing or extra:
        raise ParameterError(f"predictions do not match the ground truth keyed by (image id, category id): "
                             f"missing [{_listed(missing)}]; extra [{_listed(extra)}]")
    t = np.asarray([truth[k] for k in keys], dtype=np.float64).reshape(-1, 2)
    return _mse_pair(df["pred_Interdepth"].to_numpy(), t[:, 0], df["pred_Intradepth"].to_numpy(), t[:, 1])


# --------------------------------------------------------------------------------------------
# 4. ComicsDepth ordering accuracy (NumPy)
# --------------------------------------------------------------------------------------------
#
# Ordering files list points ``l1 l2 x y`` (object level, intra-object level, 1-based,
# smaller = nearer). Over the pairs of distinct points of one image:
#
# * inter-object accuracy: pairs with different ``l1``; correct when the point with the
#   smaller ``l1`` has the **strictly** larger predicted value;
# * intra-object accuracy: pairs with the same ``l1`` and different ``l2``; same rule on ``l2``.
#
# Predictions are compared in the "larger = nearer" convention (inverse depth, disparity, as
# ComicsDepth's MiDaS outputs): ``convention="depth"`` (metric or relative depth, larger =
# farther) negates the map first. Ties (equal values) and NaN values count as wrong: a
# constant map scores 0, never 0.5. Pairs of identical points (same level and position)
# with different levels are possible in hand-made files and count like any other pair.
# Images without such pairs give NaN for that accuracy and are left out of the means.

ORDERING_CONVENTIONS = ("inverse", "depth")
#: Floor and cap of :func:`relative_db` when one accuracy is zero (±30 dB = a ratio of 1000).
DB_FLOOR = -30.0
DB_CAP = 30.0


def _ordering_values(pred_map, points, convention: str) -> np.ndarray:
    if convention not in ORDERING_CONVENTIONS:
        raise ParameterError(f"convention must be one of {ORDERING_CONVENTIONS}, got {convention!r}")
    pred = np.asarray(pred_map, dtype=np.float64)
    if pred.ndim == 3 and pred.shape[-1] == 1:
        pred = pred[..., 0]
    if pred.ndim != 2:
        raise ParameterError(f"pred_map: expected (H, W) or (H, W, 1), got shape {pred.shape}")
    h, w = pred.shape
    x, y = np.asarray(points.x), np.asarray(points.y)
    outside = (x < 0) | (x >= w) | (y < 0) | (y >= h)
    if outside.any():
        i = int(np.argmax(outside))
        raise ParameterError(f"ordering point {i} (x={x[i]}, y={y[i]}) lies outside the {w}x{h} prediction; "
                             "compare predictions at the original image size")
    values = pred[y, x]
    return -values if convention == "depth" else values


def ordering_accuracy(pred_map, points, convention: str = "inverse", chunk: int = 512) -> dict[str, float]:
    """Inter- and intra-object ordering accuracy of one prediction (see the section comment).

    Args:
        pred_map: the prediction at the image's original size, ``(H, W)``.
        points: :class:`~comicdepth_tf.data.formats.ordering.OrderingPoints` (``l1, l2, x, y``).
        convention: ``"inverse"`` (larger = nearer) or ``"depth"`` (larger = farther; negated).
        chunk: rows of the pair matrix compared at once (memory: a few ``chunk × n`` boolean
            matrices).

    Returns:
        ``{"inter": acc or nan, "intra": acc or nan, "inter_pairs": n, "intra_pairs": n}``.
    """
    v = _ordering_values(pred_map, points, convention)
    l1, l2 = np.asarray(points.l1), np.asarray(points.l2)
    n = v.shape[0]
    good = {"inter": 0, "intra": 0}
    pairs = {"inter": 0, "intra": 0}
    cols = np.arange(n)
    for start in range(0, n, max(int(chunk), 1)):
        rows = np.arange(start, min(start + chunk, n))
        upper = cols[None, :] > rows[:, None]  # each unordered pair once
        # Boolean matrices (1 byte per pair): a pair is right when the nearer point (smaller
        # level) has the strictly larger value; ties and NaN make both comparisons False.
        v_row_larger = v[rows, None] > v[None, :]
        v_row_smaller = v[rows, None] < v[None, :]
        a1, b1 = l1[rows, None], l1[None, :]
        inter = upper & (a1 != b1)
        right_inter = inter & (((a1 < b1) & v_row_larger) | ((a1 > b1) & v_row_smaller))
        a2, b2 = l2[rows, None], l2[None, :]
        intra = upper & (a1 == b1) & (a2 != b2)
        right_intra = intra & (((a2 < b2) & v_row_larger) | ((a2 > b2) & v_row_smaller))
        pairs["inter"] += int(inter.sum())
        pairs["intra"] += int(intra.sum())
        good["inter"] += int(right_inter.sum())
        good["intra"] += int(right_intra.sum())
    acc = {k: good[k] / pairs[k] if pairs[k] else float("nan") for k in good}
    return {"inter": acc["inter"], "intra": acc["intra"],
            "inter_pairs": pairs["inter"], "intra_pairs": pairs["intra"]}


def spearman(a, b) -> float:
    """Spearman rank correlation of two maps (flattened); NaN when either is constant."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def summarise(values) -> dict[str, float]:
    """Mean, quartiles, standard deviation and count of the finite values.

    Quartiles use the ``weibull`` (``p·(n+1)``) rule, which is Python's
    ``statistics.quantiles`` default that ComicsDepth's evaluation prints; ``std`` is the
    sample standard deviation (``ddof=1``, ``statistics.stdev``), NaN below two values.
    """
    a = np.asarray([x for x in values if x is not None], dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        nan = float("nan")
        return {"mean": nan, "q1": nan, "median": nan, "q3": nan, "std": nan, "count": 0}
    q1, med, q3 = np.quantile(a, [0.25, 0.5, 0.75], method="weibull")
    return {"mean": float(a.mean()), "q1": float(q1), "median": float(med), "q3": float(q3),
            "std": float(a.std(ddof=1)) if a.size > 1 else float("nan"), "count": int(a.size)}


def ordering_scores(per_image_results) -> dict[str, float]:
    """Summary of per-image :func:`ordering_accuracy` results.

    Returns:
        ``inter_mean, inter_q1, inter_median, inter_q3, inter_std, inter_count`` and the same
        for ``intra``, plus ``inter_pairs`` / ``intra_pairs`` (all pairs of all images). Images
        with NaN accuracy (no such pairs) are not counted.
    """
    results = list(per_image_results)
    out: dict[str, float] = {}
    for kind in ("inter", "intra"):
        for k, v in summarise([r[kind] for r in results]).items():
            out[f"{kind}_{k}"] = v
        out[f"{kind}_pairs"] = int(sum(r.get(f"{kind}_pairs", 0) for r in results))
    return out


def relative_db(acc, baseline_acc, floor: float = DB_FLOOR, cap: float = DB_CAP):
    """Per-image accuracy relative to a baseline, ``10·log10(acc / baseline)`` in dB.

    Zero ratios are decided explicitly (ComicsDepth skipped a zero baseline and would crash
    on a zero model accuracy):

    * both zero → 0 dB (equally wrong);
    * model zero, baseline positive → ``-inf``, reported as ``floor`` (default -30 dB);
    * baseline zero, model positive → ``+inf``, reported as ``cap`` (default +30 dB);
    * either NaN (no pairs in that image) → NaN (left out of means).

    :func:`relative_db_scores` counts how many images hit the floor and the cap.

    Args:
        acc: model accuracies (scalar or array, per image).
        baseline_acc: baseline accuracies of the same images.

    Returns:
        A float for scalar input, else a float64 array.
    """
    a, b = np.asarray(acc, dtype=np.float64), np.asarray(baseline_acc, dtype=np.float64)
    if a.shape != b.shape:
        raise ParameterError(f"relative_db: shapes differ {a.shape} vs {b.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * np.log10(a / b)
    db = np.where((a == 0) & (b == 0), 0.0, db)
    db = np.where((a == 0) & (b > 0), floor, db)
    db = np.where((a > 0) & (b == 0), cap, db)
    db = np.where(np.isnan(a) | np.isnan(b), np.nan, db)
    return float(db) if db.ndim == 0 else db


def relative_db_scores(acc, baseline_acc, floor: float = DB_FLOOR, cap: float = DB_CAP) -> dict[str, float]:
    """:func:`summarise` of :func:`relative_db`, plus ``floored`` and ``capped`` image counts."""
    a, b = np.asarray(acc, dtype=np.float64), np.asarray(baseline_acc, dtype=np.float64)
    db = np.atleast_1d(relative_db(a, b, floor, cap))
    out = summarise(db)
    out["floored"] = int(np.sum((np.atleast_1d(a) == 0) & (np.atleast_1d(b) > 0)))
    out["capped"] = int(np.sum((np.atleast_1d(a) > 0) & (np.atleast_1d(b) == 0)))
    return out
