"""Integer fields of the line-based text formats (ComicsDepth ordering files, DCM772 boxes)."""

from __future__ import annotations

import os
import re

from comicdepth_tf.errors import DataFormatError

#: Longest integer accepted: 18 digits always fit int64 (NumPy arrays of points and boxes).
MAX_DIGITS = 18
# ASCII digits only: int() also reads "1_0" as 10 and other scripts' digits ("٣" as 3).
_INTEGER = re.compile(r"[+-]?[0-9]{1,%d}" % MAX_DIGITS)


def parse_int(text: str, path: str | os.PathLike, field: str, expected: str = "an integer") -> int:
    """Read one whitespace-separated integer field.

    Args:
        text: the field as written in the file.
        path: the file (named in the error).
        field: the line and field (named in the error).
        expected: what the field holds, for the message.

    Returns:
        The integer.

    Raises:
        DataFormatError: anything but an optional sign and 1 to 18 ASCII digits.
    """
    if not _INTEGER.fullmatch(text):
        raise DataFormatError(path, field, f"{expected} (ASCII digits, at most {MAX_DIGITS} digits)", text)
    return int(text)
