"""Encoder-decoder depth model: U-Net decoder with attention gates over a feature pyramid.

Layout (seed 002: Inception-ResNet-v2 encoder, decoder with skip connections and attention)::

    image [0,1] ─ encoder ─ P1 … P5 ─ unet_decoder ─ conv3×3 ─ DepthHead ─ depth (B, H, W, 1)

The decoder (:func:`comicdepth_tf.models.decoder.unet_decoder`, shared with the text U-Net)
climbs P4 → P1 with skip connections and attention gates, resizing each upsampled tensor to its
skip's run-time shape, so any input ≥ the encoder's minimum works and the output has the
input's size. The head's float32 convolution and :class:`~comicdepth_tf.models.layers.DepthHead`
keep the output float32 under mixed precision. The output convention (``metric``, ``inverse``,
``relative``) is stored in the :class:`~comicdepth_tf.models.layers.DepthHead` config.
"""

from __future__ import annotations

from comicdepth_tf.models.decoder import check_decoder_filters, unet_decoder
from comicdepth_tf.models.encoders import build_encoder, encoder_spec


def build_depth_unet(
    encoder: str = "irv2",
    input_shape=(None, None, 3),
    weights=None,
    decoder_filters=None,
    attention: bool = True,
    output: str = "metric",
    max_depth: float = 10.0,
    min_depth: float = 1e-3,
    bn_momentum: float = 0.99,
    name: str | None = None,
):
    """Build the depth model.

    Args:
        encoder: a registered encoder name (``"irv2"``, ``"tiny"``).
        input_shape: ``(H, W, 3)``; ``None`` sides accept any size ≥ the encoder's minimum
            (75 px for IRv2).
        weights: encoder weights: ``None``, ``"imagenet"`` or a local file (see
            :func:`~comicdepth_tf.models.encoders.build_encoder`).
        decoder_filters: widths of the four decoder blocks (levels P4, P3, P2, P1); ``None``
            uses the encoder's default (IRv2: 256, 128, 64, 32; tiny: 32, 24, 16, 8).
        attention: put attention gates on the skip connections.
        output: ``"metric"`` (metres in (min_depth, max_depth)), ``"inverse"`` (larger = nearer)
            or ``"relative"`` ((0, 1), no scale).
        max_depth: upper bound of metric outputs, in metres.
        min_depth: lower bound of metric outputs, in metres.
        bn_momentum: momentum of every batch-norm layer (encoder's included). Keras' 0.99 suits
            long runs; short CPU/smoke runs want ~0.9 so the moving statistics settle.
        name: model name; default ``depth_unet_<encoder>``.

    Returns:
        A functional ``keras.Model`` mapping ``(B, H, W, 3)`` in ``[0, 1]`` to ``(B, H, W, 1)``
        float32.
    """
    import keras

    from comicdepth_tf.models.layers import DepthHead, set_batchnorm_momentum

    spec = encoder_spec(encoder)
    filters = check_decoder_filters(decoder_filters if decoder_filters is not None else spec.decoder_filters)
    backbone = build_encoder(encoder, input_shape=input_shape, weights=weights)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = unet_decoder(backbone(inputs), inputs, filters, attention=attention, prefix="dec")
    logits = keras.layers.Conv2D(1, 3, padding="same", dtype="float32", name="logits")(x)
    depth = DepthHead(output=output, max_depth=max_depth, min_depth=min_depth, dtype="float32", name="depth_head")(
        logits
    )
    model = keras.Model(inputs, depth, name=name or f"depth_unet_{encoder}")
    set_batchnorm_momentum(model, bn_momentum)
    return model
