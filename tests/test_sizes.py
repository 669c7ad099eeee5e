"""Sizes given as a side or as (height, width)."""

from __future__ import annotations

import numpy as np
import pytest

from comicdepth_tf.errors import ParameterError
from comicdepth_tf.sizes import size_hw


def test_a_side_is_a_square_and_a_pair_is_height_then_width():
    assert size_hw(32) == (32, 32)
    assert size_hw(np.int64(8)) == (8, 8)
    assert size_hw([24, 32]) == (24, 32) and size_hw((96, 128)) == (96, 128)


@pytest.mark.parametrize("bad", [0, (0, 32), (24,), (1, 2, 3), "big", ("a", "b"), None])
def test_anything_else_names_the_parameter(bad):
    with pytest.raises(ParameterError, match=r"image_size must be a side or \(height, width\)"):
        size_hw(bad, name="image_size")


def test_min_side():
    assert size_hw((8, 9), min_side=8) == (8, 9)
    with pytest.raises(ParameterError, match="at least 8 px, got \\(7, 9\\)"):
        size_hw((7, 9), min_side=8)
