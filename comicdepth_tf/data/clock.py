"""The training position that training datasets read when an iterator starts: (epoch, step).

A training pipeline from :func:`comicdepth_tf.data.pipelines.make_dataset` is a pure function of
its seed and of this position: epoch ``e`` of a finite dataset is the stream positions
``[e·n, (e+1)·n)``, and a repeated dataset starts at the example ``step × batch_size``. The
loops (:func:`comicdepth_tf.training.fit`, :func:`comicdepth_tf.gan_training.fit_cyclegan`) set
it before each epoch and reset it to ``(0, 0)`` at the end, so

* an epoch's batches are the same whatever ran earlier in the process (no global seed is read),
* a run resumed at epoch ``k`` sees exactly the batches the uninterrupted run saw from ``k`` on.

Outside training the position is ``(0, 0)``: iterating a training dataset by hand gives its
first epoch.
"""

from __future__ import annotations

import threading

import numpy as np

_LOCK = threading.Lock()
_POSITION = [0, 0]


def set_position(epoch: int, step: int) -> None:
    """Announce the training position: ``epoch`` (0-based) and the global ``step`` it starts at."""
    with _LOCK:
        _POSITION[:] = [int(epoch), int(step)]


def reset() -> None:
    """Back to ``(0, 0)`` (the end of a training run)."""
    set_position(0, 0)


def position() -> tuple[int, int]:
    """The current ``(epoch, step)``."""
    with _LOCK:
        return _POSITION[0], _POSITION[1]


def position_tensor():
    """``(epoch, step)`` as an int64 tensor, read when the enclosing tf.data function runs.

    Used inside a ``flat_map`` so that the value is read when an iterator starts, not when the
    dataset is built.
    """
    import tensorflow as tf

    value = tf.numpy_function(lambda: np.asarray(position(), np.int64), [], tf.int64, stateful=True)
    value.set_shape([2])
    return value
