"""Encoders that expose a named feature pyramid (keras-hub's ``pyramid_outputs`` convention).

Every encoder is a functional ``keras.Model`` taking RGB float images in ``[0, 1]`` (its own
preprocessing is inside the model) and returning a dict keyed by stride:

====  ======  =====================================================================
key   stride  meaning
====  ======  =====================================================================
P1    2       highest-resolution features
P2    4
P3    8
P4    16
P5    32      deepest features (the decoder's bottleneck)
====  ======  =====================================================================

**Inception-ResNet-v2** (``"irv2"``, ``keras.applications.InceptionResNetV2``): features are
taken from stable names, never from auto-generated ones such as ``activation_74``:

* ``P1`` (64 channels): the tensor entering the stem's first ``MaxPooling2D`` (the third stem
  convolution). The stem's layers have no given names, so they are found by position: the
  first two ``MaxPooling2D`` layers of the model, both before ``mixed_5b``.
* ``P2`` (192 channels): the tensor entering the stem's second ``MaxPooling2D``.
* ``P3`` (320 channels): ``block35_10_ac``, the last block at stride 8 (after ``mixed_5b``).
* ``P4`` (1088 channels): ``block17_20_ac``, the last block at stride 16 (after ``mixed_6a``).
* ``P5`` (1536 channels): ``conv_7b_ac``, the last layer at stride 32 (after ``mixed_7a``).

IRv2 uses 'valid' padding, so sizes are not exact divisions. With ``c(n) = (n - 3) // 2 + 1``
(a 3×3 stride-2 valid convolution or pool), for an input side ``n``:
``P1 = c(n) - 2``, ``P2 = c(P1) - 2``, ``P3 = c(P2)``, ``P4 = c(P3)``, ``P5 = c(P4)``.
E.g. 75 → 35, 15, 7, 3, 1; 128 → 61, 28, 13, 6, 2; 299 → 147, 71, 35, 17, 8. The minimum input
side is 75 px. :func:`irv2_feature_sizes` computes them.

**MobileNetV2** (``"mobilenetv2"``, ``keras.applications.MobileNetV2``, alpha 1): the expansion
activations ``block_1/3/6/13_expand_relu`` (96, 144, 192, 576 channels; strides 2 to 16, the
skips of the keras-io U-net examples) and ``out_relu`` (1280, stride 32). The stem pads 'same'
(``P1 = ceil(n / 2)``); each later stride-2 block halves with floor (97 → 49, 24, 12, 6, 3).
With the default decoder it has 3.8M parameters against IRv2's
60M, and one training step of the cpu profile (96×128, batch 8) takes about a third of IRv2's
time on two CPU cores; the ``cpu`` profile uses it, the ``full`` profile keeps the seeds' IRv2.

**Tiny** (``"tiny"``): five stride-2 convolution blocks (conv, batch norm, ReLU; 'same'
padding, so sizes are ``ceil(n / stride)``) with 8, 16, 24, 32, 48 channels. It serves unit
tests and the ``smoke`` profile, and has batch-norm layers so the batch-norm statistics
adaptation applies to it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from comicdepth_tf.errors import DataFormatError, ParameterError

#: Pyramid keys, shallow to deep, and their strides.
PYRAMID_KEYS = ("P1", "P2", "P3", "P4", "P5")
PYRAMID_STRIDES = {"P1": 2, "P2": 4, "P3": 8, "P4": 16, "P5": 32}

#: Named IRv2 layers used for the deeper pyramid levels.
IRV2_NAMED_LEVELS = {"P3": "block35_10_ac", "P4": "block17_20_ac", "P5": "conv_7b_ac"}

#: MobileNetV2 layers of each pyramid level: the expansion activations that open the first block
#: at the next stride (the U-Net skips of the keras-io segmentation examples), and the last layer.
MOBILENETV2_LEVELS = {"P1": "block_1_expand_relu", "P2": "block_3_expand_relu", "P3": "block_6_expand_relu",
                      "P4": "block_13_expand_relu", "P5": "out_relu"}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be fetched or read."""


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder in the registry.

    Attributes:
        builder: ``builder(input_shape, weights, name) -> keras.Model`` with a pyramid dict output.
        decoder_filters: default decoder widths for levels P4, P3, P2, P1.
        min_input: smallest supported input side, in pixels.
        description: one line for listings.
    """

    builder: Callable
    decoder_filters: tuple[int, int, int, int]
    min_input: int
    description: str


_ENCODERS: dict[str, EncoderSpec] = {}


def register_encoder(name: str, decoder_filters, min_input: int, description: str = ""):
    """Decorator adding an encoder builder to the registry under ``name``."""

    def wrap(builder):
        _ENCODERS[name] = EncoderSpec(builder, tuple(decoder_filters), int(min_input), description)
        return builder

    return wrap


def encoder_names() -> list[str]:
    """Names accepted by :func:`build_encoder`."""
    return sorted(_ENCODERS)


def encoder_spec(name: str) -> EncoderSpec:
    """The registry entry of ``name``; unknown names raise :class:`ParameterError`."""
    try:
        return _ENCODERS[name]
    except KeyError:
        raise ParameterError(f"unknown encoder {name!r}; expected one of {encoder_names()}") from None


def build_encoder(name: str, input_shape=(None, None, 3), weights: str | os.PathLike | None = None):
    """Build an encoder whose output is the ``pyramid_outputs`` dict ``{"P1": …, "P5": …}``.

    Args:
        name: a registered encoder (``"irv2"``, ``"tiny"``).
        input_shape: ``(H, W, 3)``; ``None`` sides accept any size (at least the encoder's
            ``min_input``).
        weights: ``None`` (random initialisation), ``"imagenet"`` (downloaded by Keras, or read
            from ``~/.keras/models`` when already there), or a path to a local ``.h5`` /
            ``.weights.h5`` file.

    Returns:
        A ``keras.Model`` named ``<name>_encoder`` taking RGB in ``[0, 1]``.

    Raises:
        ParameterError: unknown encoder, or weights given for an encoder that has none.
        WeightsUnavailableError: ImageNet weights could not be downloaded.
        DataFormatError: a local weights file is missing or unreadable.
    """
    spec = encoder_spec(name)
    return spec.builder(tuple(input_shape), weights, f"{name}_encoder")


def conv_feature_size(n: int) -> int:
    """Output side of a 3×3 stride-2 'valid' convolution or pooling on a side of ``n``."""
    return (n - 3) // 2 + 1


def irv2_feature_sizes(n: int) -> dict[str, int]:
    """Spatial side of each IRv2 pyramid level for an input side ``n`` (see the module doc)."""
    p1 = conv_feature_size(n) - 2
    p2 = conv_feature_size(p1) - 2
    p3 = conv_feature_size(p2)
    p4 = conv_feature_size(p3)
    p5 = conv_feature_size(p4)
    return {"P1": p1, "P2": p2, "P3": p3, "P4": p4, "P5": p5}


def _check_input_shape(input_shape, min_input: int, name: str):
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ParameterError(f"{name}: input_shape must be (H, W, 3), got {input_shape}")
    for side in input_shape[:2]:
        if side is not None and side < min_input:
            raise ParameterError(f"{name}: input sides must be at least {min_input} px, got {input_shape}")


def _preprocess(inputs, name: str):
    """[0, 1] RGB → [-1, 1], the scaling IRv2 (and our tiny encoder) expect."""
    import keras

    return keras.layers.Rescaling(2.0, offset=-1.0, name=f"{name}_to_pm1")(inputs)


@register_encoder(
    "irv2",
    decoder_filters=(256, 128, 64, 32),
    min_input=75,
    description="keras.applications.InceptionResNetV2 (54M parameters), features P1-P5",
)
def _build_irv2(input_shape, weights, name):
    import keras

    _check_input_shape(input_shape, 75, "irv2")
    inputs = keras.Input(shape=input_shape, name="image")
    x = _preprocess(inputs, "irv2")
    backbone = _applications_backbone(keras.applications.InceptionResNetV2, "InceptionResNetV2",
                                      "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                                      x, weights)
    pools = [layer for layer in backbone.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    names = [layer.name for layer in backbone.layers]
    if len(pools) < 2 or names.index(pools[1].name) > names.index("mixed_5b"):
        raise RuntimeError("InceptionResNetV2 stem changed: expected two max-pools before 'mixed_5b'")
    pyramid = {"P1": pools[0].input, "P2": pools[1].input}
    pyramid.update({key: backbone.get_layer(layer).output for key, layer in IRV2_NAMED_LEVELS.items()})
    return keras.Model(inputs, pyramid, name=name)


@register_encoder(
    "mobilenetv2",
    decoder_filters=(128, 64, 32, 16),
    min_input=32,
    description="keras.applications.MobileNetV2 (2.3M parameters), features P1-P5; the cpu profile's encoder",
)
def _build_mobilenetv2(input_shape, weights, name):
    import keras

    _check_input_shape(input_shape, 32, "mobilenetv2")
    inputs = keras.Input(shape=input_shape, name="image")
    x = _preprocess(inputs, "mobilenetv2")
    backbone = _applications_backbone(keras.applications.MobileNetV2, "MobileNetV2",
                                      "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
                                      x, weights)
    pyramid = {key: backbone.get_layer(layer).output for key, layer in MOBILENETV2_LEVELS.items()}
    return keras.Model(inputs, pyramid, name=name)


def _applications_backbone(application, label: str, weights_file: str, input_tensor, weights):
    """A ``keras.applications`` backbone without top on ``input_tensor``, with clear errors for weights."""
    local = None
    if weights not in (None, "imagenet"):
        local = Path(weights)
        if not local.is_file():
            raise DataFormatError(local, "weights", "an existing Keras weights file (.h5 or .weights.h5)")
    try:
        backbone = application(include_top=False, weights=None if local else weights, input_tensor=input_tensor)
    except Exception as exc:  # keras.utils.get_file raises plain Exception subclasses on network errors
        if weights == "imagenet":
            raise WeightsUnavailableError(
                f"could not fetch the ImageNet weights of {label} "
                f"({type(exc).__name__}: {exc}). Without internet, download "
                f"'{weights_file}' elsewhere and either "
                "put it in ~/.keras/models/ or pass its path as weights=..., or use weights=None."
            ) from exc
        raise
    if local is not None:
        try:
            backbone.load_weights(str(local))
        except Exception as exc:
            raise DataFormatError(
                local, "weights", f"{label} (no top) weights in .h5 or .weights.h5 format", str(exc)
            ) from exc
    return backbone


@register_encoder(
    "tiny",
    decoder_filters=(32, 24, 16, 8),
    min_input=8,
    description="five conv+BN+ReLU stride-2 blocks, for tests and the smoke profile",
)
def _build_tiny(input_shape, weights, name):
    import keras

    if weights is not None:
        raise ParameterError("tiny encoder: there are no pretrained weights; use weights=None")
    _check_input_shape(input_shape, 8, "tiny")
    inputs = keras.Input(shape=input_shape, name="image")
    x = _preprocess(inputs, "tiny")
    pyramid = {}
    for key, filters in zip(PYRAMID_KEYS, (8, 16, 24, 32, 48)):
        x = conv_bn_relu(x, filters, strides=2, name=f"tiny_{key}_down")
        x = conv_bn_relu(x, filters, name=f"tiny_{key}_conv")
        pyramid[key] = x
    return keras.Model(inputs, pyramid, name=name)


def conv_bn_relu(x, filters: int, kernel_size: int = 3, strides: int = 1, name: str = "block"):
    """Conv2D ('same') → BatchNormalization → ReLU, the building block of our own layers.

    Batch norm is ``synchronized=True``: identical to plain batch norm on one device, and under a
    ``tf.distribute`` strategy it averages statistics over replicas, so a mirrored run matches
    a single-device run with the same global batch.
    """
    import keras

    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(
        x
    )
    x = keras.layers.BatchNormalization(synchronized=True, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)
