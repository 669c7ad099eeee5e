"""Hostile input files built in the test itself (nothing large is ever written or decoded).

Use from any test::

    from hostile_files import write_png_bomb
    write_png_bomb(tmp_path / "bomb.png", 20000, 20000)
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_bomb(path: str | Path, width: int, height: int) -> Path:
    """A valid PNG header declaring ``width × height`` RGB pixels, with two rows of data and no end.

    The file is a few hundred bytes; a decoder that trusts the header allocates
    ``width × height × 3`` bytes before finding the body truncated.
    """
    path = Path(path)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    rows = zlib.compress(b"\x00" * (2 * (1 + 3 * width)), 9)  # filter byte + zero pixels, two rows
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows))
    return path
