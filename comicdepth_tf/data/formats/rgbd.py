"""Sensor RGB-D formats: depth codecs, camera intrinsics and RGB + depth pairs.

Every depth codec turns one file into ``float32`` metres of shape (H, W) where ``0`` marks an
invalid pixel (no sensor return, out of range). Codecs are looked up by name in
:data:`CODECS`, so datasets only store the codec's name next to the depth path:

=================  ==========================================================================
``png16_mm``       uint16 PNG, millimetres (NYU Kaggle test depth, our embedded dense depth)
``nyu_png8_10m``   8-bit PNG, metres = v / 255 * 10 (NYU Kaggle train depth)
``nyu_raw_pgm``    NYU Depth v2 raw Kinect frame: a ``P5`` PGM header whose payload is
                   *little-endian* uint16 disparity; metres = 351.3 / (1092.5 - raw),
                   raw 2047 = no return
``sun_png``        SUN RGB-D uint16 PNG whose bits are rotated: mm = (v >> 3) | (v << 13)
``tum_png``        TUM RGB-D uint16 PNG, metres = v / 5000
``modest_png8``    MODEST 8-bit depth map, brighter = farther, metres = v / 255 * 10
=================  ==========================================================================

``modest_png8`` is *relative* depth: the real MODEST maps are predictions of a monocular
network, not measurements, so the 10 m scale is only our embedded dataset's convention (its
toy world's far plane is 10 m). A value of 0 decodes to 0 m and therefore counts as invalid,
which the embedded generator never writes for a valid pixel.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from comicdepth_tf import fileio
from comicdepth_tf.errors import DataFormatError

#: Kinect v1 disparity-to-depth constants used by the NYU Depth v2 toolbox.
NYU_RAW_BASELINE = 351.3
NYU_RAW_OFFSET = 1092.5
NYU_RAW_INVALID = 2047
#: Beyond this the Kinect v1 does not measure (the NYU toolbox clips there); farther = invalid.
NYU_RAW_MAX_DEPTH_M = 10.0
#: The metric range of the 8-bit encodings (NYU Kaggle train, embedded MODEST).
PNG8_MAX_DEPTH_M = 10.0


@dataclass(frozen=True)
class Codec:
    """A depth codec: a decoding function and a one-line description."""

    name: str
    decode: Callable[[Path], np.ndarray]
    description: str


#: Registered depth codecs, by name.
CODECS: dict[str, Codec] = {}


def register_codec(name: str, decode: Callable[[Path], np.ndarray], description: str) -> None:
    """Register a depth codec (``decode(path) -> float32 metres, 0 = invalid``) under ``name``."""
    CODECS[name] = Codec(name, decode, description)


def decode_depth(path: str | os.PathLike, codec: str) -> np.ndarray:
    """Decode a depth file to metres.

    Args:
        path: the depth file.
        codec: a name registered in :data:`CODECS` (see the module docstring).

    Returns:
        ``float32`` depth in metres, shape (H, W); 0 marks invalid pixels.

    Raises:
        DataFormatError: unknown codec, missing or unreadable file, or a file whose bit depth or
            channels contradict the codec.
    """
    if codec not in CODECS:
        raise DataFormatError(path, "codec", f"one of {sorted(CODECS)}", codec)
    return CODECS[codec].decode(Path(path))


def _single_channel(raw: np.ndarray, path: Path, codec: str) -> np.ndarray:
    """Gray files saved as 3 identical channels are accepted; real colour is an error."""
    if raw.ndim == 2:
        return raw
    if raw.ndim == 3 and raw.shape[2] in (3, 4):
        first = raw[..., 0]
        if np.array_equal(first, raw[..., 1]) and np.array_equal(first, raw[..., 2]):
            return first
    raise DataFormatError(path, "channels", f"a single-channel depth image for codec '{codec}'", f"shape {raw.shape}")


def _read_typed(path: Path, dtype: type, codec: str) -> np.ndarray:
    raw = fileio.read_raw(path)
    if raw.dtype != dtype:
        bits = {np.uint8: 8, np.uint16: 16}
        hint = {8: "nyu_png8_10m or modest_png8", 16: "png16_mm, sun_png or tum_png"}.get(raw.dtype.itemsize * 8, "")
        raise DataFormatError(
            path,
            "bit depth",
            f"a {bits[dtype]}-bit depth image for codec '{codec}'"
            + (f" (a {raw.dtype.itemsize * 8}-bit file needs {hint})" if hint else ""),
            str(raw.dtype),
        )
    return _single_channel(raw, path, codec)


def _decode_png16_mm(path: Path) -> np.ndarray:
    return _read_typed(path, np.uint16, "png16_mm").astype(np.float32) / np.float32(1000.0)


def _decode_png8_10m(path: Path, codec: str) -> np.ndarray:
    raw = _read_typed(path, np.uint8, codec)
    return raw.astype(np.float32) * np.float32(PNG8_MAX_DEPTH_M / 255.0)


def _decode_sun(path: Path) -> np.ndarray:
    raw = _read_typed(path, np.uint16, "sun_png")
    # SUN RGB-D stores millimetres rotated left by 3 bits inside 16 bits; undo the rotation.
    mm = (raw >> np.uint16(3)) | (raw << np.uint16(13))
    return mm.astype(np.float32) / np.float32(1000.0)


def _decode_tum(path: Path) -> np.ndarray:
    return _read_typed(path, np.uint16, "tum_png").astype(np.float32) / np.float32(5000.0)


_PNM_TOKEN = re.compile(rb"\s*(?:#[^\n]*\n\s*)*(\S+)")


def read_pgm_header(data: bytes, path: Path) -> tuple[int, int, int, int]:
    """Parse a binary PGM (``P5``) header.

    Args:
        data: the file's bytes.
        path: the file (named in errors).

    Returns:
        ``(width, height, maxval, payload_offset)``.
    """
    tokens: list[bytes] = []
    pos = 0
    for _ in range(4):
        match = _PNM_TOKEN.match(data, pos)
        if match is None:
            raise DataFormatError(path, "header", "a PGM header 'P5 <width> <height> <maxval>'", data[:40])
        tokens.append(match.group(1))
        pos = match.end()
    if tokens[0] != b"P5":
        raise DataFormatError(path, "magic", "a binary PGM starting with 'P5'", data[:2])
    try:
        width, height, maxval = (int(t) for t in tokens[1:])
    except ValueError:
        raise DataFormatError(path, "header", "integer width, height and maxval", b" ".join(tokens[1:])) from None
    if width <= 0 or height <= 0 or not 0 < maxval < 65536:
        raise DataFormatError(
            path, "header", "positive width and height and 0 < maxval < 65536", (width, height, maxval)
        )
    # Exactly one whitespace byte separates maxval from the payload.
    return width, height, maxval, pos + 1


def _decode_nyu_raw(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, "", "an existing NYU raw depth PGM") from None
    width, height, maxval, offset = read_pgm_header(data, path)
    if maxval < 256:
        raise DataFormatError(path, "maxval", "a 16-bit PGM (maxval > 255) holding Kinect disparity", maxval)
    needed = width * height * 2
    payload = data[offset : offset + needed]
    if len(payload) < needed:
        raise DataFormatError(
            path,
            "pixels",
            f"{needed} bytes of uint16 disparity for {width}x{height}",
            f"{len(payload)} bytes (truncated)",
        )
    # The NYU toolbox writes the payload little-endian although PGM says big-endian, so OpenCV's
    # reader would swap the bytes; read it ourselves.
    raw = np.frombuffer(payload, dtype="<u2").reshape(height, width).astype(np.float64)
    with np.errstate(divide="ignore"):
        depth = NYU_RAW_BASELINE / (NYU_RAW_OFFSET - raw)
    bad = (raw >= NYU_RAW_INVALID) | ~np.isfinite(depth) | (depth <= 0) | (depth > NYU_RAW_MAX_DEPTH_M)
    depth[bad] = 0.0
    return depth.astype(np.float32)


register_codec("png16_mm", _decode_png16_mm, "uint16 PNG, millimetres")
register_codec(
    "nyu_png8_10m", lambda p: _decode_png8_10m(p, "nyu_png8_10m"), "8-bit PNG, v/255*10 m (NYU Kaggle train)"
)
register_codec("nyu_raw_pgm", _decode_nyu_raw, "NYU raw Kinect disparity, P5 header, little-endian uint16")
register_codec("sun_png", _decode_sun, "SUN RGB-D uint16 PNG, bits rotated by 3, millimetres")
register_codec("tum_png", _decode_tum, "TUM RGB-D uint16 PNG, v/5000 m")
register_codec(
    "modest_png8",
    lambda p: _decode_png8_10m(p, "modest_png8"),
    "MODEST 8-bit, brighter = farther, relative (v/255*10 m)",
)


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera intrinsics in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int | None = None
    height: int | None = None

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def load_intrinsics(path: str | os.PathLike) -> Intrinsics:
    """Read an Open3D-style ``camera_*.json`` (``intrinsic_matrix`` stored column-major).

    Args:
        path: the JSON file with ``width``, ``height`` and a 9-number ``intrinsic_matrix``.

    Returns:
        The intrinsics.
    """
    obj = fileio.read_json(path)
    values = obj.get("intrinsic_matrix") if isinstance(obj, dict) else None
    if not isinstance(values, list) or len(values) != 9 or not all(isinstance(v, (int, float)) for v in values):
        raise DataFormatError(path, "intrinsic_matrix", "a list of 9 numbers (column-major 3x3)", values)
    k = np.asarray(values, dtype=np.float64).reshape(3, 3).T
    if not np.allclose(k[2], [0.0, 0.0, 1.0]) or k[1, 0] != 0 or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise DataFormatError(
            path, "intrinsic_matrix", "a pinhole matrix [[fx,0,cx],[0,fy,cy],[0,0,1]] stored column-major", values
        )
    size = {key: obj.get(key) for key in ("width", "height")}
    for key, value in size.items():
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise DataFormatError(path, key, "a positive integer", value)
    return Intrinsics(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), size["width"], size["height"])


@dataclass(frozen=True)
class RGBDRecord:
    """One RGB image and its depth map, with the codec that decodes the depth."""

    rgb_path: Path
    depth_path: Path
    codec: str
    name: str

    def to_sample(self) -> dict[str, str]:
        """The plain dict the tf.data pipelines read (keys ``image``, ``depth``, ``depth_codec``, ``name``)."""
        return {
            "image": str(self.rgb_path),
            "depth": str(self.depth_path),
            "depth_codec": self.codec,
            "name": self.name,
        }


def to_samples(records: list[RGBDRecord]) -> list[dict[str, str]]:
    """Samples for :func:`comicdepth_tf.data.pipelines.make_dataset` (keys ``image``, ``depth``)."""
    return [r.to_sample() for r in records]


def check_same_size(
    rgb_path: str | os.PathLike, rgb_shape: tuple, depth_path: str | os.PathLike, depth_shape: tuple
) -> None:
    """Raise a DataFormatError naming both files when RGB and depth sizes differ."""
    if tuple(rgb_shape[:2]) != tuple(depth_shape[:2]):
        h, w = rgb_shape[:2]
        dh, dw = depth_shape[:2]
        raise DataFormatError(
            depth_path, "size", f"the size of the RGB image {os.fspath(rgb_path)} ({w}x{h})", f"{dw}x{dh}"
        )


def load_rgbd_pair(record: RGBDRecord) -> tuple[np.ndarray, np.ndarray]:
    """Read one RGB-D pair.

    Returns:
        ``(rgb uint8 (H, W, 3), depth float32 metres (H, W))``.

    Raises:
        DataFormatError: unreadable files or different RGB and depth sizes.
    """
    rgb = fileio.read_image(record.rgb_path)
    depth = decode_depth(record.depth_path, record.codec)
    check_same_size(record.rgb_path, rgb.shape, record.depth_path, depth.shape)
    return rgb, depth


#: The sensor pairs shipped in ``shared/data/real/rgbd``: name -> (rgb file, depth file, codec).
REAL_RGBD_PAIRS = {
    "NYU": ("NYU_color.ppm", "NYU_depth.pgm", "nyu_raw_pgm"),
    "SUN": ("SUN_color.jpg", "SUN_depth.png", "sun_png"),
    "TUM": ("TUM_color.png", "TUM_depth.png", "tum_png"),
}


def real_rgbd_records(real_dir: str | os.PathLike) -> list[RGBDRecord]:
    """The three real sensor pairs (NYU raw, SUN RGB-D, TUM) of the shared check folder.

    Args:
        real_dir: ``shared/data/real`` or its ``rgbd`` sub-folder.
    """
    folder = Path(real_dir)
    if (folder / "rgbd").is_dir():
        folder = folder / "rgbd"
    records = []
    for name, (rgb, depth, codec) in REAL_RGBD_PAIRS.items():
        for file in (rgb, depth):
            if not (folder / file).is_file():
                raise DataFormatError(folder / file, "", f"the {name} sensor file of the real RGB-D check folder")
        records.append(RGBDRecord(folder / rgb, folder / depth, codec, name))
    return records


def depth_statistics(depth: np.ndarray) -> dict[str, float]:
    """Summary of a decoded depth map: valid share and min/median/max of valid metres."""
    valid = depth > 0
    values = depth[valid]
    if values.size == 0:
        return {"valid_fraction": 0.0, "min": 0.0, "median": 0.0, "max": 0.0}
    return {
        "valid_fraction": float(valid.mean()),
        "min": float(values.min()),
        "median": float(np.median(values)),
        "max": float(values.max()),
    }

