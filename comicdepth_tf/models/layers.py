"""Custom Keras layers shared by the models, each registered as serialisable.

Every layer here is decorated with ``keras.saving.register_keras_serializable(package="comicdepth")``
and implements ``get_config``, so a model saved as ``.keras`` loads back with
``keras.saving.load_model`` without ``custom_objects`` once this module is imported (the
registry's :func:`comicdepth_tf.models.registry.load_model` imports it for you).

The layers use ``tf.image.resize`` on dynamic shapes, so this module is TensorFlow-backend
only, like the rest of the package.
"""

from __future__ import annotations

import keras
import tensorflow as tf

#: Output conventions a depth head can produce (see :class:`DepthHead`).
OUTPUT_CONVENTIONS = ("metric", "inverse", "relative")

_PACKAGE = "comicdepth"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ResizeLike(keras.layers.Layer):
    """Resize ``x`` to the spatial size of ``reference`` (both NHWC), read at run time.

    The decoder uses it to bring an upsampled tensor to its skip connection's exact size:
    Inception-ResNet-v2 uses 'valid' padding, so feature sizes are not exact divisions of
    the input size and a fixed ×2 upsampling would not line up.

    Args:
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"`` or ``"area"``.

    Call args:
        inputs: ``[x, reference]``; only ``reference``'s height and width are used.
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation

    def call(self, inputs):
        x, reference = inputs
        size = tf.shape(reference)[1:3]
        resized = tf.image.resize(x, size, method=self.interpolation)
        # tf.image.resize returns float32 for most methods; keep the layer's compute dtype
        # so the model stays float16 end to end under mixed precision.
        return tf.cast(resized, x.dtype)

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"interpolation": self.interpolation})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AttentionGate(keras.layers.Layer):
    """Additive attention gate on a skip connection (Oktay et al., Attention U-Net, 2018).

    ``alpha = sigmoid(psi(relu(theta(skip) + phi(gate))))`` and the output is ``skip * alpha``:
    the coarser decoder state (``gate``) decides which skip pixels pass. Here the gating
    signal is expected already resized to the skip's spatial size (the decoder resizes it with
    :class:`ResizeLike`), which keeps the gate free of shape arithmetic for odd sizes.

    Args:
        inter_filters: channels of the intermediate (theta/phi) space.

    Call args:
        inputs: ``[skip, gate]`` with the same height and width.
    """

    def __init__(self, inter_filters: int, **kwargs):
        super().__init__(**kwargs)
        self.inter_filters = int(inter_filters)
        self.theta = keras.layers.Conv2D(self.inter_filters, 1, use_bias=False, name="theta")
        self.phi = keras.layers.Conv2D(self.inter_filters, 1, use_bias=True, name="phi")
        self.psi = keras.layers.Conv2D(1, 1, use_bias=True, name="psi")

    def build(self, input_shape):
        skip_shape, gate_shape = input_shape
        self.theta.build(skip_shape)
        self.phi.build(gate_shape)
        self.psi.build(tuple(skip_shape[:-1]) + (self.inter_filters,))
        self.built = True

    def call(self, inputs):
        skip, gate = inputs
        f = keras.ops.relu(self.theta(skip) + self.phi(gate))
        alpha = keras.ops.sigmoid(self.psi(f))
        return skip * alpha

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"inter_filters": self.inter_filters})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DepthHead(keras.layers.Layer):
    """Maps one-channel logits to the model's output convention; it stores that convention.

    The convention travels with the saved model in this layer's config, so
    :func:`comicdepth_tf.models.registry.model_info` can read it back from any saved run.

    * ``metric``: metres in ``(min_depth, max_depth)``, ``min_depth + (max_depth - min_depth) * sigmoid``.
      The bounded sigmoid keeps early training stable and never predicts zero (0 = invalid).
    * ``inverse``: ``softplus`` — a positive value where larger means nearer (disparity-like,
      unbounded; train against ``1 / depth`` targets).
    * ``relative``: ``sigmoid`` in ``(0, 1)``, with no metric scale; train it with a
      scale-and-shift invariant loss and evaluate after alignment.

    Create it with ``dtype="float32"`` (the builders do) so that under mixed precision the model
    output, the loss and the metrics stay in float32.

    Args:
        output: one of :data:`OUTPUT_CONVENTIONS`.
        max_depth: upper bound of ``metric`` outputs, in metres.
        min_depth: lower bound of ``metric`` outputs, in metres.
    """

    def __init__(self, output: str = "metric", max_depth: float = 10.0, min_depth: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if output not in OUTPUT_CONVENTIONS:
            raise ValueError(f"DepthHead: output must be one of {OUTPUT_CONVENTIONS}, got {output!r}")
        if not (0.0 <= min_depth < max_depth):
            raise ValueError(f"DepthHead: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}")
        self.output_convention = output
        self.max_depth = float(max_depth)
        self.min_depth = float(min_depth)

    def call(self, logits):
        logits = keras.ops.cast(logits, self.compute_dtype)
        if self.output_convention == "metric":
            return self.min_depth + (self.max_depth - self.min_depth) * keras.ops.sigmoid(logits)
        if self.output_convention == "inverse":
            return keras.ops.softplus(logits)
        return keras.ops.sigmoid(logits)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"output": self.output_convention, "max_depth": self.max_depth, "min_depth": self.min_depth}
        )
        return config


# --------------------------------------------------------------------------------------------
# Layer utilities
# --------------------------------------------------------------------------------------------


def walk_layers(model):
    """Yield every layer of ``model``, descending into nested models (e.g. the encoder)."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from walk_layers(layer)


def batchnorm_layers(model) -> list:
    """All ``BatchNormalization`` layers of ``model``, nested models included."""
    return [layer for layer in walk_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]


def set_batchnorm_momentum(model, momentum: float) -> int:
    """Set the moving-statistics momentum of every batch-norm layer; returns how many.

    The momentum is read at call time and saved in each layer's config, so this works on a
    built model and survives saving. Keras' default is 0.99 (statistics settle after a few
    hundred steps); short runs want ~0.9, and the batch-norm statistics adaptation uses a
    tiny value such as 0.002.
    """
    layers = batchnorm_layers(model)
    for layer in layers:
        layer.momentum = float(momentum)
    return len(layers)
