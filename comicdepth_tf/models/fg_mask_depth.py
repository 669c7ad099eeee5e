"""Dual-input foreground mask + depth network (MODEST background / background+foreground pairs).

The network sees the background alone (``bg``) and the same background with a foreground
pasted in (``bg_fg``). Each input goes through its own first ResNet blocks, the two feature
maps are concatenated and encoded further, and two U-net decoders with skip connections
predict the foreground mask (logits) and the composite's depth. The mask decoder's features
at every scale are fed into the depth decoder, so depth knows where the foreground is. The
full-resolution skip also carries the pixel difference ``bg_fg - bg`` (``difference_skip``),
since the two inputs otherwise meet only at a quarter of the input size.

``variant="masknet"`` is the lighter mask-only network: one merged encoder block fewer and
no depth decoder. Both variants take raw RGB in [0, 1] and normalise inside the model
(``Normalization`` layers holding the dataset statistics), so a saved model needs nothing
but images.

This module also holds the combinable mask/depth losses (BCE-with-logits, Dice, SSIM,
RMSE) and NumPy metrics (mask IoU and Dice, depth RMSE and δ1). The optimiser comes from
:func:`comicdepth_tf.training.make_optimizer` (``sgd``: momentum 0.9; ``adam``); the seed's L2
factor (1e-8) is the builder's ``l2`` argument, a kernel regulariser, so it works with either.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from comicdepth_tf.errors import ParameterError
from comicdepth_tf.models import layers as custom_layers
from comicdepth_tf.models.registry import register_model
from comicdepth_tf.sizes import size_hw

#: Names of the model inputs and outputs (also the dataset keys).
INPUTS = ("bg", "bg_fg")
OUTPUTS = ("mask", "depth")
VARIANTS = ("depthnet", "masknet")
#: Batch-norm moving-average momentum. Keras' 0.99 needs a few hundred steps before the
#: inference statistics match the training ones; small runs (the smoke set: a few dozen steps)
#: then predict with nearly untouched statistics, so the default here is 0.9.
BN_MOMENTUM = 0.9

# --------------------------------------------------------------------------- model


def _conv(filters: int, kernel: int, name: str, l2: float, strides: int = 1, **kwargs):
    regulariser = keras.regularizers.L2(l2) if l2 else None
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                               kernel_regularizer=regulariser, name=name, **kwargs)


def _bn(name: str, momentum: float):
    return keras.layers.BatchNormalization(momentum=momentum, name=name)


def _res_block(x, filters: int, stride: int, name: str, l2: float = 0.0, bn_momentum: float = BN_MOMENTUM):
    """ResNet basic block: two 3x3 convolutions with batch norm and an identity/projection shortcut."""
    y = _conv(filters, 3, f"{name}_conv1", l2, strides=stride)(x)
    y = _bn(f"{name}_bn1", bn_momentum)(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(filters, 3, f"{name}_conv2", l2)(y)
    y = _bn(f"{name}_bn2", bn_momentum)(y)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, f"{name}_proj", l2, strides=stride)(x)
        shortcut = _bn(f"{name}_proj_bn", bn_momentum)(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _stem(image, mean, std, filters: int, prefix: str, l2: float, bn_momentum: float = BN_MOMENTUM) -> list:
    """One input's own encoder: normalise, full-resolution conv, then two strided ResNet blocks.

    Returns:
        The normalised image, then feature maps at 1, 1/2 and 1/4 of the input size (the skips
        of that input).
    """
    variance = None if std is None else [float(s) ** 2 for s in std]
    x = keras.layers.Normalization(axis=-1, mean=mean, variance=variance, name=f"{prefix}_normalize")(image)
    normalised = x
    x = _conv(filters, 3, f"{prefix}_stem_conv", l2)(x)
    x = _bn(f"{prefix}_stem_bn", bn_momentum)(x)
    s0 = keras.layers.ReLU(name=f"{prefix}_stem_out")(x)
    s1 = _res_block(s0, filters, 2, f"{prefix}_enc1", l2, bn_momentum)
    s2 = _res_block(s1, 2 * filters, 2, f"{prefix}_enc2", l2, bn_momentum)
    return [normalised, s0, s1, s2]


def _up_block(x, skips: Sequence, filters: int, name: str, l2: float, bn_momentum: float = BN_MOMENTUM):
    """Upsample ``x`` to the size of ``skips[0]``, concatenate the skips, refine with a ResNet block."""
    x = custom_layers.ResizeLike(interpolation="bilinear", name=f"{name}_resize")([x, skips[0]])
    x = keras.layers.Concatenate(name=f"{name}_concat")([x, *skips])
    return _res_block(x, filters, 1, name, l2, bn_momentum)


def build_fg_mask_depth(
    image_size: int | Sequence[int] | None = None,
    *,
    variant: str = "depthnet",
    base_filters: int = 16,
    max_depth: float = 10.0,
    l2: float = 1e-8,
    difference_skip: bool = True,
    bn_momentum: float = BN_MOMENTUM,
    bg_stats: Mapping[str, Sequence[float]] | None = None,
    bg_fg_stats: Mapping[str, Sequence[float]] | None = None,
    name: str | None = None,
) -> keras.Model:
    """Build the dual-input foreground mask (+ depth) network.

    Args:
        image_size: ``H`` or ``(H, W)`` of the inputs; ``None`` builds a model for any size.
            Outputs always have the input's size (decoders resize to their skips).
        variant: ``"depthnet"`` (mask and depth decoders, the mask decoder feeding the depth
            decoder) or ``"masknet"`` (lighter, mask only).
        base_filters: channels of the first blocks; deeper blocks use 2x, 4x, 8x.
        max_depth: upper bound of the depth head (a ``DepthHead``, ``metric``: a scaled sigmoid).
            Keep it above the data's far plane: a sigmoid reaches its bound only at infinite
            logits, so a bound equal to the far plane (sky) makes those pixels learn slowly.
        l2: L2 factor on every convolution kernel (the seed's 1e-8; 0 disables it). Keras adds
            ``l2 * sum(w**2)`` to the loss.
        difference_skip: add ``bg_fg - bg`` (normalised inputs) to the decoders' full-resolution
            skip; the two inputs otherwise meet only at 1/4 of the input size.
        bn_momentum: momentum of every batch-norm layer's moving statistics (see ``BN_MOMENTUM``).
        bg_stats: ``{"mean": [r, g, b], "std": [r, g, b]}`` of background images in [0, 1]
            (``comicdepth_tf.data.formats.modest.channel_statistics``); default: no shift, unit std.
        bg_fg_stats: the same for the composites.
        name: model name (default ``fg_<variant>``).

    Returns:
        A functional model taking ``{"bg": (B, H, W, 3), "bg_fg": (B, H, W, 3)}`` RGB in [0, 1] and
        returning ``{"mask": logits (B, H, W, 1), "depth": metres (B, H, W, 1)}`` (masknet: mask only).

    Raises:
        ParameterError: unknown variant or invalid sizes.
    """
    if variant not in VARIANTS:
        raise ParameterError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    if base_filters < 1:
        raise ParameterError(f"base_filters must be >= 1, got {base_filters}")
    if max_depth <= 0:
        raise ParameterError(f"max_depth must be > 0, got {max_depth}")
    if not 0.0 <= bn_momentum < 1.0:
        raise ParameterError(f"bn_momentum must be in [0, 1), got {bn_momentum}")
    height, width = (None, None) if image_size is None else size_hw(image_size, min_side=8, name="image_size")
    f, bm = int(base_filters), float(bn_momentum)
    inputs = {k: keras.Input((height, width, 3), name=k) for k in INPUTS}
    stats = {"bg": bg_stats, "bg_fg": bg_fg_stats}
    skips, normalised = {}, {}
    for key in INPUTS:
        st = stats[key] or {}
        normalised[key], *skips[key] = _stem(inputs[key], st.get("mean", [0.0] * 3), st.get("std", [1.0] * 3),
                                             f, key, l2, bm)
    merged = keras.layers.Concatenate(name="merge")([skips["bg"][2], skips["bg_fg"][2]])
    e3 = _res_block(merged, 4 * f, 2, "enc3", l2, bm)

    # The full-resolution skip also carries the pixel difference of the two inputs, so the
    # decoders can place the foreground's edge exactly (the merge happens only at 1/4 size).
    difference = (keras.layers.Subtract(name="difference")([normalised["bg_fg"], normalised["bg"]])
                  if difference_skip else None)

    def pair(level: int) -> list:
        extra = [difference] if level == 0 and difference is not None else []
        return [skips["bg"][level], skips["bg_fg"][level], *extra]

    def mask_head(x):
        return keras.layers.Conv2D(1, 1, dtype="float32", name="mask")(x)

    outputs = {}
    if variant == "masknet":
        # Masks need little context: stop encoding at 1/8 and decode straight back.
        m2 = _up_block(e3, pair(2), 2 * f, "mask_dec2", l2, bm)
        m1 = _up_block(m2, pair(1), f, "mask_dec1", l2, bm)
        m0 = _up_block(m1, pair(0), f, "mask_dec0", l2, bm)
        outputs["mask"] = mask_head(m0)
    else:
        e4 = _res_block(e3, 8 * f, 2, "enc4", l2, bm)
        m3 = _up_block(e4, [e3], 4 * f, "mask_dec3", l2, bm)
        m2 = _up_block(m3, pair(2), 2 * f, "mask_dec2", l2, bm)
        m1 = _up_block(m2, pair(1), f, "mask_dec1", l2, bm)
        m0 = _up_block(m1, pair(0), f, "mask_dec0", l2, bm)
        outputs["mask"] = mask_head(m0)
        # The depth decoder also reads the mask decoder's features at each scale.
        d3 = _up_block(e4, [e3, m3], 4 * f, "depth_dec3", l2, bm)
        d2 = _up_block(d3, [*pair(2), m2], 2 * f, "depth_dec2", l2, bm)
        d1 = _up_block(d2, [*pair(1), m1], f, "depth_dec1", l2, bm)
        d0 = _up_block(d1, [*pair(0), m0], f, "depth_dec0", l2, bm)
        logits = keras.layers.Conv2D(1, 3, padding="same", name="depth_logits")(d0)
        outputs["depth"] = custom_layers.DepthHead("metric", max_depth=max_depth, dtype="float32", name="depth")(logits)
    return keras.Model(inputs=inputs, outputs=outputs, name=name or f"fg_{variant}")


@register_model("fg_depthnet")
def build_fg_depthnet(image_size=None, **kwargs) -> keras.Model:
    """Registered builder: :func:`build_fg_mask_depth` with ``variant="depthnet"``."""
    return build_fg_mask_depth(image_size, variant="depthnet", **kwargs)


@register_model("fg_masknet")
def build_fg_masknet(image_size=None, **kwargs) -> keras.Model:
    """Registered builder: :func:`build_fg_mask_depth` with ``variant="masknet"``."""
    return build_fg_mask_depth(image_size, variant="masknet", **kwargs)


# --------------------------------------------------------------------------- losses

#: Loss term -> the output it applies to when a spec does not say.
LOSS_TERMS = {"bce": "mask", "dice": "mask", "ssim": "depth", "rmse": "depth"}
_TERM_RE = re.compile(r"^(?:(?P<weight>\d+(?:\.\d*)?|\.\d+)\s*\*\s*)?(?P<name>[a-z]+)$")


def parse_loss_spec(
    spec: str | Mapping[str, Any], outputs: Sequence[str] = OUTPUTS
) -> dict[str, list[tuple[str, float]]]:
    """Turn a loss specification into ``{output: [(term, weight), …]}``.

    Accepted forms:

    * ``"bce+rmse"``: terms joined by ``+``, each sent to its natural output (``bce``, ``dice``
      -> mask; ``ssim``, ``rmse`` -> depth); a term may carry a weight, ``"0.5*ssim"``;
    * ``"mask:bce+dice,depth:ssim"``: explicit terms per output;
    * ``{"mask": ["bce"], "depth": ["rmse", "0.5*ssim"]}`` (a mapping; values are lists or
      ``+``-joined strings).

    Args:
        spec: the specification.
        outputs: the model's outputs; each needs at least one term and no other output may
            get one (masknet: ``("mask",)``).

    Raises:
        ParameterError: an unknown term (the message lists the known ones), a term for an output
            the model does not have, an output without a term, a malformed weight.
    """
    per_output: dict[str, list[tuple[str, float]]] = {}
    if isinstance(spec, Mapping):
        items = [(str(k), v) for k, v in spec.items()]
    elif isinstance(spec, str) and ":" in spec:
        items = []
        for part in spec.split(","):
            out, sep, terms = part.partition(":")
            if not sep:
                raise ParameterError(f"loss spec {spec!r}: expected 'output:term+term' parts separated by commas")
            items.append((out.strip(), terms))
    elif isinstance(spec, str):
        items = [(None, spec)]
    else:
        raise ParameterError(f"loss spec must be a string or a mapping, got {type(spec).__name__}")
    for out, terms in items:
        if isinstance(terms, str):
            terms = terms.split("+")
        for text in terms:
            name, weight = _parse_term(str(text), spec)
            target = out or LOSS_TERMS[name]
            if target not in OUTPUTS:
                raise ParameterError(f"loss spec {spec!r}: unknown output {target!r}; known: {', '.join(OUTPUTS)}")
            per_output.setdefault(target, []).append((name, weight))
    extra = sorted(set(per_output) - set(outputs))
    if extra:
        raise ParameterError(f"loss spec {spec!r}: the model has no {', '.join(extra)} output "
                             f"(outputs: {', '.join(outputs)})")
    missing = [o for o in outputs if o not in per_output]
    if missing:
        raise ParameterError(f"loss spec {spec!r}: no loss term for output(s) {', '.join(missing)}; "
                             f"add e.g. {'bce' if 'mask' in missing else 'rmse'}")
    return {o: per_output[o] for o in outputs}


def _parse_term(text: str, spec) -> tuple[str, float]:
    match = _TERM_RE.match(text.strip().lower())
    if not match:
        raise ParameterError(f"loss spec {spec!r}: cannot read term {text.strip()!r}; expected NAME or WEIGHT*NAME")
    name = match["name"]
    if name not in LOSS_TERMS:
        raise ParameterError(f"loss spec {spec!r}: unknown loss {name!r}; known: {', '.join(LOSS_TERMS)}")
    weight = float(match["weight"]) if match["weight"] else 1.0
    return name, weight


def _per_sample_mean(x):
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def _bce(y_true, prob, logits):
    if logits is not None:
        return _per_sample_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits))
    prob = tf.clip_by_value(prob, 1e-7, 1.0 - 1e-7)
    return _per_sample_mean(-(y_true * tf.math.log(prob) + (1.0 - y_true) * tf.math.log(1.0 - prob)))


def _dice(y_true, prob, logits, smooth: float = 1.0):
    axes = [1, 2, 3]
    inter = tf.reduce_sum(y_true * prob, axis=axes)
    total = tf.reduce_sum(y_true, axis=axes) + tf.reduce_sum(prob, axis=axes)
    return 1.0 - (2.0 * inter + smooth) / (total + smooth)


def _rmse(y_true, prob, logits):
    return tf.sqrt(_per_sample_mean(tf.square(prob - y_true)) + 1e-12)


def _ssim(y_true, prob, logits):
    # The window shrinks for tiny images so the smoke profile (and tests) can use SSIM too.
    height, width = y_true.shape[1], y_true.shape[2]
    filter_size = 11 if height is None or width is None else max(1, min(11, height, width))
    return 1.0 - tf.image.ssim(y_true, prob, max_val=1.0, filter_size=filter_size)


_TERM_FUNCTIONS = {"bce": _bce, "dice": _dice, "ssim": _ssim, "rmse": _rmse}


@keras.saving.register_keras_serializable(package="comicdepth_tf")
class MaskDepthLoss(keras.losses.Loss):
    """A weighted sum of loss terms on one output (mask logits or depth in metres).

    Every term compares maps in [0, 1]: the mask output is a logit map (``sigmoid`` gives the
    probability; ``bce`` uses the logits directly, which is numerically stable); the depth
    output is divided by ``max_depth``. Per-sample values: BCE is the mean over pixels, Dice is
    ``1 - (2|A∩B| + 1) / (|A| + |B| + 1)`` with soft sets, SSIM is ``1 - SSIM`` (Gaussian window 11,
    smaller for tiny images), RMSE is ``sqrt(mean squared error)``.

    Args:
        target: ``"mask"`` or ``"depth"``.
        terms: ``[(name, weight), …]`` from :func:`parse_loss_spec`.
        max_depth: the far plane (depth normalisation).
    """

    def __init__(self, target: str = "mask", terms=(("bce", 1.0),), max_depth: float = 10.0, name=None, **kwargs):
        super().__init__(name=name or f"{target}_loss", **kwargs)
        if target not in OUTPUTS:
            raise ParameterError(f"loss target must be one of {', '.join(OUTPUTS)}, got {target!r}")
        self.target = target
        self.terms = [(str(n), float(w)) for n, w in terms]
        for n, _ in self.terms:
            if n not in _TERM_FUNCTIONS:
                raise ParameterError(f"unknown loss {n!r}; known: {', '.join(_TERM_FUNCTIONS)}")
        self.max_depth = float(max_depth)

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        if self.target == "mask":
            logits, prob = y_pred, tf.sigmoid(y_pred)
        else:
            logits, prob = None, y_pred / self.max_depth
            y_true = y_true / self.max_depth
        total = 0.0
        for n, w in self.terms:
            total = total + w * _TERM_FUNCTIONS[n](y_true, prob, logits)
        return total

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(target=self.target, terms=[list(t) for t in self.terms], max_depth=self.max_depth)
        return config


def make_losses(
    spec: str | Mapping[str, Any], variant: str = "depthnet", max_depth: float = 10.0
) -> dict[str, MaskDepthLoss]:
    """Keras losses per output for ``model.compile(loss=…)`` from a loss spec (see :func:`parse_loss_spec`)."""
    outputs = ("mask",) if variant == "masknet" else OUTPUTS
    parsed = parse_loss_spec(spec, outputs)
    return {o: MaskDepthLoss(o, terms, max_depth=max_depth) for o, terms in parsed.items()}


# --------------------------------------------------------------------------- metrics (NumPy)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (NumPy)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))


def _binarise(pred_prob, gt, threshold: float):
    pred = np.asarray(pred_prob) >= threshold if np.asarray(pred_prob).dtype != bool else np.asarray(pred_prob)
    gt = np.asarray(gt)
    gt = gt if gt.dtype == bool else gt >= 0.5
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    return pred, gt


def mask_iou(pred_prob: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of the thresholded prediction and the ground-truth mask.

    Pixels of every image given are pooled (total intersection / total union).

    Args:
        pred_prob: foreground probabilities (apply :func:`sigmoid` to logits first) or a bool mask.
        gt: ground-truth mask (bool, or values >= 0.5 mean foreground).
        threshold: probability at or above which a pixel is foreground.

    Returns:
        IoU in [0, 1]; 1.0 when both masks are empty.
    """
    pred, gt = _binarise(pred_prob, gt, threshold)
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def mask_dice(pred_prob: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """Dice coefficient ``2|P∩G| / (|P| + |G|)`` of the thresholded prediction (pooled; 1.0 when both empty)."""
    pred, gt = _binarise(pred_prob, gt, threshold)
    total = pred.sum() + gt.sum()
    return 1.0 if total == 0 else float(2.0 * np.logical_and(pred, gt).sum() / total)


def _valid_depth(pred, gt, valid):
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    keep = np.isfinite(gt) & (gt > 0)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool)
    return pred[keep], gt[keep]


def depth_rmse(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Root mean squared depth error over valid pixels (gt > 0 and finite, and ``valid``); NaN if none."""
    p, g = _valid_depth(pred, gt, valid)
    return float(np.sqrt(np.mean((p - g) ** 2))) if g.size else math.nan


def depth_delta1(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, base: float = 1.25) -> float:
    """Share of valid pixels with ``max(pred/gt, gt/pred) < 1.25``; non-positive predictions count as wrong."""
    p, g = _valid_depth(pred, gt, valid)
    if not g.size:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(p / g, g / p)
    return float(np.mean((p > 0) & (ratio < base)))


def fg_metrics(mask_logits: np.ndarray, mask_gt: np.ndarray, depth_pred: np.ndarray | None = None,
               depth_gt: np.ndarray | None = None, threshold: float = 0.5) -> dict[str, float]:
    """Mask IoU and Dice (threshold on the sigmoid), and depth RMSE and δ1 when depth is given."""
    prob = sigmoid(mask_logits)
    out = {"mask_iou": mask_iou(prob, mask_gt, threshold), "mask_dice": mask_dice(prob, mask_gt, threshold)}
    if depth_pred is not None and depth_gt is not None:
        out["depth_rmse"] = depth_rmse(depth_pred, depth_gt)
        out["depth_delta1"] = depth_delta1(depth_pred, depth_gt)
    return out
