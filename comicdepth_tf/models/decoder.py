"""The U-Net decoder shared by the dense-prediction models (depth, text areas).

It reads an encoder's ``pyramid_outputs`` dict by key (``P1`` … ``P5``, see
:mod:`comicdepth_tf.models.encoders`) and climbs back to the input resolution::

    x = conv1×1-BN-ReLU(P5)                                   {prefix}_bottleneck
    for level in P4, P3, P2, P1:
        up   = ResizeLike(x → level's size)                   {prefix}_up_{level}
        skip = AttentionGate(level, gate=up)  (if attention)  {prefix}_attention_{level}
        x    = concat(up, skip)                               {prefix}_concat_{level}
        x    = 2 × conv3×3-BN-ReLU(x)                         {prefix}_{level}_a, {prefix}_{level}_b
    x = ResizeLike(x → input size)                            {prefix}_up_full

Every layer name starts with ``prefix`` (conv blocks add ``_conv``, ``_bn``, ``_relu``), so one
model can hold several decoders (one per head). Upsampled tensors are resized to their skip
connection's run-time shape rather than ×2, because Inception-ResNet-v2's 'valid' padding
gives feature sizes that are not exact divisions of the input size; the output therefore
always has the input's height and width.
The head (a final convolution and activation) is left to each model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from comicdepth_tf.errors import ParameterError
from comicdepth_tf.models.encoders import conv_bn_relu

#: Decoder levels, deep to shallow; ``P5`` is the bottleneck.
DECODER_LEVELS = ("P4", "P3", "P2", "P1")


def check_decoder_filters(filters: Sequence[int]) -> tuple[int, ...]:
    """``filters`` as a tuple of one positive width per level of :data:`DECODER_LEVELS`.

    Raises:
        ParameterError: wrong length or a non-positive width.
    """
    try:
        widths = tuple(int(f) for f in filters)
    except (TypeError, ValueError):
        raise ParameterError(f"decoder_filters must be {len(DECODER_LEVELS)} positive ints, got {filters!r}") from None
    if len(widths) != len(DECODER_LEVELS) or min(widths) < 1:
        raise ParameterError(f"decoder_filters must be {len(DECODER_LEVELS)} positive ints, got {filters!r}")
    return widths


def unet_decoder(pyramid: Mapping, inputs, filters: Sequence[int], attention: bool = True, prefix: str = "dec"):
    """Decode a feature pyramid into a full-resolution feature map (functional Keras).

    Args:
        pyramid: symbolic tensors keyed ``P1`` … ``P5`` (an encoder's output dict).
        inputs: the model's input tensor; only its height and width are used (the output is
            resized to them).
        filters: widths of the four decoder blocks, for levels P4, P3, P2, P1; the bottleneck
            uses the first width.
        attention: put additive attention gates on the skip connections.
        prefix: start of every layer name (unique per decoder within one model).

    Returns:
        A ``(B, H, W, filters[-1])`` tensor at the input's size.

    Raises:
        ParameterError: bad ``filters`` or a pyramid without the keys P1 … P5.
    """
    import keras

    from comicdepth_tf.models.layers import AttentionGate, ResizeLike

    widths = check_decoder_filters(filters)
    missing = [k for k in ("P5",) + DECODER_LEVELS if k not in pyramid]
    if missing:
        raise ParameterError(f"unet_decoder: the pyramid lacks {missing}; it has {sorted(pyramid)}")

    x = conv_bn_relu(pyramid["P5"], widths[0], kernel_size=1, name=f"{prefix}_bottleneck")
    for level, width in zip(DECODER_LEVELS, widths):
        skip = pyramid[level]
        up = ResizeLike(name=f"{prefix}_up_{level}")([x, skip])
        if attention:
            skip = AttentionGate(max(width // 2, 1), name=f"{prefix}_attention_{level}")([skip, up])
        x = keras.layers.Concatenate(name=f"{prefix}_concat_{level}")([up, skip])
        x = conv_bn_relu(x, width, name=f"{prefix}_{level}_a")
        x = conv_bn_relu(x, width, name=f"{prefix}_{level}_b")
    return ResizeLike(name=f"{prefix}_up_full")([x, inputs])
