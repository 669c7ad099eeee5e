"""Batch-norm statistics adaptation: only moving statistics change, and they follow the new domain."""

from __future__ import annotations

import numpy as np
import pytest

from comicdepth_tf.adapt import batchnorm_trick, moving_statistics
from comicdepth_tf.errors import ParameterError


def _tiny_depth_model():
    from comicdepth_tf.models.depth_unet import build_depth_unet

    return build_depth_unet("tiny", input_shape=(None, None, 3), decoder_filters=[8, 8, 8, 8])


def _non_statistics(model) -> dict[str, bytes]:
    stats = set(moving_statistics(model))
    return {v.path: v.numpy().tobytes() for v in model.weights if v.path not in stats}


def test_only_moving_statistics_change():
    import tensorflow as tf

    model = _tiny_depth_model()
    before_other = _non_statistics(model)
    before_stats = moving_statistics(model)
    from comicdepth_tf.models.layers import batchnorm_layers

    momenta = {layer.name: layer.momentum for layer in batchnorm_layers(model)}
    rng = np.random.default_rng(0)
    images = rng.uniform(0.6, 1.0, size=(6, 32, 32, 3)).astype("float32")  # bright, comics-like
    ds = tf.data.Dataset.from_tensor_slices((images, np.zeros((6, 32, 32, 1), "float32"))).batch(3)

    out = batchnorm_trick(model, ds, momentum=0.002)

    assert out is model
    after_other = _non_statistics(model)
    assert after_other.keys() == before_other.keys() and len(after_other) > 10
    assert all(after_other[k] == before_other[k] for k in before_other), "a non-statistics weight changed"
    after_stats = moving_statistics(model)
    changed = [k for k in before_stats if not np.array_equal(before_stats[k], after_stats[k])]
    assert len(changed) == len(before_stats) > 0
    # The original momentum is back, so the saved model trains as before.
    assert {layer.name: layer.momentum for layer in batchnorm_layers(model)} == momenta


def test_statistics_follow_the_new_domain():
    """With momentum 0, one batch sets the first BN's moving mean to that batch's channel means."""
    import keras

    inputs = keras.Input((4, 4, 2))
    bn = keras.layers.BatchNormalization(name="bn")
    model = keras.Model(inputs, bn(inputs))
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(5, 4, 4, 2)).astype("float32")
    batchnorm_trick(model, [x], momentum=0.0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var(axis=(0, 1, 2)), rtol=1e-4)
    # A small momentum moves the statistics 99.8 % of the way from (0, 1).
    bn.moving_mean.assign(np.zeros(2, "float32"))
    bn.moving_variance.assign(np.ones(2, "float32"))
    batchnorm_trick(model, [x], momentum=0.002)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.998 * x.mean(axis=(0, 1, 2)), rtol=1e-5)


def test_errors():
    import keras

    inputs = keras.Input((4, 4, 2))
    no_bn = keras.Model(inputs, keras.layers.Conv2D(1, 1)(inputs))
    with pytest.raises(ParameterError, match="no BatchNormalization"):
        batchnorm_trick(no_bn, [np.zeros((1, 4, 4, 2), "float32")])
    model = keras.Model(inputs, keras.layers.BatchNormalization()(inputs))
    with pytest.raises(ParameterError, match="empty"):
        batchnorm_trick(model, [])
    with pytest.raises(ParameterError, match="momentum"):
        batchnorm_trick(model, [np.zeros((1, 4, 4, 2), "float32")], momentum=1.5)
