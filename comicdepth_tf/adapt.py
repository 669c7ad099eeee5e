"""Domain adaptation of batch-norm statistics: the ``batchnorm_trick`` baseline (seed 001 C.IV.e).

A depth model trained on natural images keeps, in every batch-norm layer, the moving mean and
variance of *natural* activations. On comics those statistics are wrong, and inference mode
uses them as they are. The trick: set every batch-norm momentum to a tiny value (0.002),
run one pass over comics images **in training mode** with no loss and no weight update, then use
the model in inference mode. Keras updates ``moving = moving · momentum + batch · (1 − momentum)``,
so with a small momentum the statistics follow the comics batches (the last batches weigh most)
and after one pass they describe comics, not natural images.
Only the ``moving_mean`` / ``moving_variance`` variables change; kernels, biases, gammas and
betas stay byte-identical.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from comicdepth_tf.errors import ParameterError

#: The seed's momentum for the statistics pass.
DEFAULT_MOMENTUM = 0.002


def moving_statistics(model) -> dict[str, np.ndarray]:
    """Copies of every batch-norm moving mean and variance, keyed by variable path."""
    from comicdepth_tf.models.layers import batchnorm_layers

    out = {}
    for layer in batchnorm_layers(model):
        for var in (layer.moving_mean, layer.moving_variance):
            out[var.path] = np.array(var.numpy(), copy=True)
    return out


def _images_only(element):
    """The image tensor of a dataset element (a tensor, a tuple ``(image, …)`` or a dict with ``image``)."""
    if isinstance(element, dict):
        if "image" not in element:
            raise ParameterError(
                f"batchnorm_trick: dataset elements are dicts without an 'image' key: {sorted(element)}"
            )
        return element["image"]
    if isinstance(element, (tuple, list)):
        return element[0]
    return element


def batchnorm_trick(model, images_dataset: Iterable, momentum: float = DEFAULT_MOMENTUM, restore_momentum: bool = True):
    """Re-estimate a model's batch-norm statistics on another domain, in place.

    Args:
        model: a built Keras model (nested models such as the encoder are included).
        images_dataset: batches of images ``(B, H, W, 3)`` in the model's input range: a
            ``tf.data.Dataset`` (elements may be tensors, ``(image, …)`` tuples or dicts with
            ``image``) or any iterable of arrays. One pass is made.
        momentum: batch-norm momentum during the pass (seed: 0.002).
        restore_momentum: put each layer's original momentum back afterwards (the saved model
            then trains as before); False leaves ``momentum`` set.

    Returns:
        The same model, whose moving statistics now describe ``images_dataset``. Use it in
        inference mode (``model(x)`` / ``predict``).

    Raises:
        ParameterError: no batch-norm layer, a bad momentum, or an empty dataset.
    """
    import tensorflow as tf

    from comicdepth_tf.models.layers import batchnorm_layers

    if not 0.0 <= float(momentum) < 1.0:
        raise ParameterError(f"batchnorm_trick: momentum must be in [0, 1), got {momentum!r}")
    layers = batchnorm_layers(model)
    if not layers:
        raise ParameterError(f"batchnorm_trick: model {model.name!r} has no BatchNormalization layer")
    previous = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = float(momentum)

    # A fresh function each call: a step traced earlier would have the old momentum baked in.
    @tf.function(reduce_retracing=True)
    def statistics_step(images):
        model(images, training=True)

    batches = 0
    try:
        for element in images_dataset:
            images = tf.convert_to_tensor(_images_only(element), dtype=tf.float32)
            statistics_step(images)
            batches += 1
    finally:
        if restore_momentum:
            for layer, m in zip(layers, previous):
                layer.momentum = m
    if batches == 0:
        raise ParameterError("batchnorm_trick: the images dataset is empty")
    return model
