"""The seed's whole-page AI4VA regressor (seed 000), rebuilt as a baseline.

Seed 000 resizes the whole page to 128×128, runs two convolutions and a dense layer, and
regresses one ``(Interdepth, Intradepth)`` pair per page, which is then copied to every segment
of the page. It never sees where a segment is, so the best it can learn is each page's mean
level. Layout::

    page (128, 128, 3) in [0, 1] ─ conv3×3 ReLU ─ maxpool ─ conv3×3 ReLU ─ maxpool
        ─ flatten ─ dense ReLU ─ dropout ─┬─ dense(1) "interdepth"
                                          └─ dense(1) "intradepth"

Registered as ``"segment_head"`` (see :func:`comicdepth_tf.models.registry.build_model`).
"""

from __future__ import annotations

from comicdepth_tf.errors import ParameterError
from comicdepth_tf.models.registry import register_model

#: The seed's page side.
SEED_INPUT_SIZE = 128
OUTPUT_NAMES = ("interdepth", "intradepth")


@register_model("segment_head")
def build_segment_head(
    input_size: int = SEED_INPUT_SIZE,
    filters=(32, 64),
    dense_units: int = 128,
    dropout: float = 0.3,
    name: str = "segment_head",
):
    """Build the seed-style whole-page regressor.

    Args:
        input_size: side of the (square) resized page, in pixels (seed: 128).
        filters: widths of the two convolutions.
        dense_units: width of the hidden dense layer.
        dropout: dropout rate before the heads.
        name: model name.

    Returns:
        A functional ``keras.Model`` mapping ``(B, input_size, input_size, 3)`` pages in ``[0, 1]``
        to ``{"interdepth": (B, 1), "intradepth": (B, 1)}`` float32 levels.
    """
    import keras

    if len(tuple(filters)) != 2:
        raise ParameterError(f"segment_head: filters must hold two widths (two convolutions), got {filters!r}")
    inputs = keras.Input((int(input_size), int(input_size), 3), name="page")
    x = inputs
    for i, width in enumerate(filters, start=1):
        x = keras.layers.Conv2D(int(width), 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(int(dense_units), activation="relu", name="dense")(x)
    x = keras.layers.Dropout(float(dropout), name="dropout")(x)
    outputs = {key: keras.layers.Dense(1, dtype="float32", name=key)(x) for key in OUTPUT_NAMES}
    return keras.Model(inputs, outputs, name=name)
