"""Shared model checks (keras-hub style): build, output size, save → load → same output, tf.data.

Use from any model test::

    from model_checks import check_model
    check_model(model, batch, tmp_path)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _as_list(outputs):
    if isinstance(outputs, dict):
        return [np.asarray(outputs[k]) for k in sorted(outputs)]
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


def check_model(
    model, input_batch, tmp_path: str | Path, same_size: bool = True, atol: float = 1e-6, eager_predict: bool = False
):
    """Check one model on one input batch; returns the model's outputs as a list of arrays.

    Verifies that the model runs on ``input_batch``; that each output keeps the input's batch
    and spatial size (when ``same_size``); that saving to ``.keras`` and loading back **without
    custom_objects** gives the same outputs within ``atol``; and that ``predict`` on a
    ``tf.data.Dataset`` gives the same outputs as a direct call.

    Args:
        model: a built Keras model with a single image input.
        input_batch: ``(B, H, W, C)`` float32 array.
        tmp_path: a folder for the saved file.
        same_size: outputs must have the input's height and width.
        atol: tolerance of the save/load and tf.data comparisons.
        eager_predict: run ``predict`` eagerly (``run_eagerly``), which skips tracing the graph;
            for very large models whose layers graph mode is checked elsewhere.
    """
    import keras
    import tensorflow as tf

    outputs = _as_list(model(input_batch, training=False))
    for out in outputs:
        assert out.shape[0] == input_batch.shape[0], f"batch size {out.shape} vs {input_batch.shape}"
        if same_size:
            assert out.shape[1:3] == input_batch.shape[1:3], f"spatial size {out.shape} vs {input_batch.shape}"
        assert np.all(np.isfinite(out)), "non-finite outputs"

    path = Path(tmp_path) / f"{model.name}_check.keras"
    model.save(path)
    # Deliberately keras.saving.load_model, not our registry: registered layers must be enough.
    reloaded = keras.saving.load_model(path, compile=False)
    for before, after in zip(outputs, _as_list(reloaded(input_batch, training=False))):
        np.testing.assert_allclose(after, before, atol=atol, rtol=0)

    ds = tf.data.Dataset.from_tensor_slices(input_batch).batch(max(1, len(input_batch) // 2))
    if eager_predict:
        reloaded.compile(run_eagerly=True)
    predicted = _as_list(reloaded.predict(ds, verbose=0))
    for before, after in zip(outputs, predicted):
        np.testing.assert_allclose(after, before, atol=1e-5, rtol=1e-5)
    return outputs
