"""Image sizes given either as one side (a square) or as ``(height, width)``."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from comicdepth_tf.errors import ParameterError


def size_hw(size: int | Sequence[int], *, min_side: int = 1, name: str = "size") -> tuple[int, int]:
    """``(height, width)`` of a size given as a side or as ``(height, width)``.

    Args:
        size: a positive side, or a pair of positive sides.
        min_side: the smallest side accepted.
        name: the parameter's name in the error message.

    Raises:
        ParameterError: not a side or a pair, or a side below ``min_side``.
    """
    if isinstance(size, (int, np.integer)):
        hw = (int(size), int(size))
    else:
        try:
            hw = tuple(int(v) for v in size)
        except (TypeError, ValueError):
            hw = ()
    if len(hw) != 2 or min(hw) < min_side:
        raise ParameterError(f"{name} must be a side or (height, width) of at least {min_side} px, got {size!r}")
    return hw
