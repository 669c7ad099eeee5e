"""Comics text-area detector: a U-Net giving a per-pixel text probability (seed 001 C.I).

Layout::

    image [0,1] ─ encoder ─ P1 … P5 ─ unet_decoder ─ conv3×3 ─ sigmoid ─ probability (B, H, W, 1)

"Text area" is the union of speech balloons and lettering (eBDtheque's Balloon ∪ Line
polygons; the embedded dataset's text masks). The head is a plain ``Activation("sigmoid")``
in float32, so the model loads without ``custom_objects`` and stays float32 at the output
under mixed precision. Train it with :class:`comicdepth_tf.losses.BceDiceLoss`.
"""

from __future__ import annotations

from comicdepth_tf.models.decoder import check_decoder_filters, unet_decoder
from comicdepth_tf.models.encoders import build_encoder, encoder_spec
from comicdepth_tf.models.registry import register_model

MODEL_NAME = "text_unet"


@register_model(MODEL_NAME)
def build_text_unet(
    encoder: str = "tiny",
    input_shape=(None, None, 3),
    weights=None,
    decoder_filters=None,
    attention: bool = True,
    bn_momentum: float = 0.99,
    name: str | None = None,
):
    """Build the text-area U-Net.

    Args:
        encoder: a registered encoder (``"tiny"`` for tests and CPU runs, ``"irv2"`` for GPU
            runs with ImageNet weights).
        input_shape: ``(H, W, 3)``; ``None`` sides accept any size ≥ the encoder's minimum.
        weights: encoder weights: ``None``, ``"imagenet"`` or a local file.
        decoder_filters: widths of the four decoder blocks (P4, P3, P2, P1); ``None`` uses the
            encoder's defaults.
        attention: attention gates on the skip connections.
        bn_momentum: momentum of every batch-norm layer (short runs want ~0.9).
        name: model name; default ``text_unet_<encoder>``.

    Returns:
        A functional ``keras.Model`` mapping ``(B, H, W, 3)`` RGB in ``[0, 1]`` to a
        ``(B, H, W, 1)`` float32 text probability.
    """
    import keras

    from comicdepth_tf.models.layers import set_batchnorm_momentum

    spec = encoder_spec(encoder)
    filters = check_decoder_filters(decoder_filters if decoder_filters is not None else spec.decoder_filters)
    backbone = build_encoder(encoder, input_shape=input_shape, weights=weights)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    features = unet_decoder(backbone(inputs), inputs, filters, attention=attention, prefix="dec")
    logits = keras.layers.Conv2D(1, 3, padding="same", dtype="float32", name="text_logits")(features)
    probability = keras.layers.Activation("sigmoid", dtype="float32", name="text_probability")(logits)
    model = keras.Model(inputs, probability, name=name or f"{MODEL_NAME}_{encoder}")
    set_batchnorm_momentum(model, bn_momentum)
    return model
