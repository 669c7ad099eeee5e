"""File I/O shared by every module: atomic writes and image reading with clear errors.

Images are read with OpenCV and returned as RGB ``uint8`` arrays of shape (H, W, 3);
grayscale, RGBA, palette and 16-bit files are converted. Depth maps keep their raw
integer values so each format's decoder can apply its own scale.

**Pixel limit.** A small file can declare a huge size (a "decompression bomb": a 1 kB PNG
declaring 20000 × 20000 would take 1.2 GB to decode). Every image read first takes the size
from the file header (Pillow reads only the header) and refuses, before decoding, an image of
more than :data:`MAX_PIXELS` pixels (50 megapixels: a 600 dpi A4 scan is 35); the environment
variable ``COMICDEPTH_MAX_PIXELS`` overrides it. Pillow itself refuses headers above
``2 × PIL.Image.MAX_IMAGE_PIXELS`` (about 179 megapixels), so a limit above that also needs
Pillow's raised. Formats Pillow cannot read are checked once OpenCV has decoded them (OpenCV
caps its own decodes at 2^30 pixels).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from comicdepth_tf.errors import DataFormatError, ParameterError

_UMASK = os.umask(0)
os.umask(_UMASK)

#: Extensions recognised as images when scanning folders.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
#: Largest image read, in pixels (width × height); see the module doc.
MAX_PIXELS = 50_000_000
#: Environment variable overriding :data:`MAX_PIXELS`.
MAX_PIXELS_ENV = "COMICDEPTH_MAX_PIXELS"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Python refuses to convert integers of more digits (``sys.get_int_max_str_digits``); JSON numbers too.
_JSON_MAX_DIGITS = 4300


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` to write in the block; renamed onto ``path`` when the
    block succeeds, deleted when it fails.

    A crash mid-write leaves either the old file or the new one, never a truncated file. The
    result gets the mode a plain ``open()`` would give it (the temporary file is made 0600).

    Args:
        path: destination file; its parent folders are created.
        suffix: ending of the temporary name, for writers that check it (``.tmp.keras``); it
            keeps ``.tmp`` so :func:`~comicdepth_tf.training.clean_temporary_files` finds leftovers.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename (:func:`atomic_target`).

    Returns:
        The destination path.
    """
    with atomic_target(path) as tmp, os.fdopen(os.open(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically; NumPy scalars and arrays are converted."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | os.PathLike) -> Any:
    """Read a UTF-8 JSON file.

    Raises:
        DataFormatError: the file is missing, is not UTF-8 (field ``byte N``), is malformed
            (field ``line L column C``), holds an integer of more than 4300 digits (which Python
            refuses to convert) or nests deeper than the parser's recursion limit.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, "", "an existing JSON file") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            path, f"byte {exc.start}", "UTF-8 encoded JSON", exc.object[exc.start : exc.start + 8]
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, f"line {exc.lineno} column {exc.colno}", f"valid JSON ({exc.msg})") from None
    except RecursionError:
        raise DataFormatError(path, "", "JSON nested less deeply than Python's recursion limit") from None
    except ValueError as exc:  # the only other ValueError of json.loads: an integer too long to convert
        raise DataFormatError(path, _long_number_position(text), f"numbers of at most {_JSON_MAX_DIGITS} digits",
                              str(exc).split(";")[0]) from None


def _long_number_position(text: str) -> str:
    """``line L column C`` of the first run of more than :data:`_JSON_MAX_DIGITS` digits ("" when none)."""
    match = re.search(r"\d{%d,}" % (_JSON_MAX_DIGITS + 1), text)
    if match is None:
        return ""
    line = text.count("\n", 0, match.start()) + 1
    return f"line {line} column {match.start() - (text.rfind(chr(10), 0, match.start()) + 1) + 1}"


def max_pixels() -> int:
    """The pixel limit of image reads: ``$COMICDEPTH_MAX_PIXELS`` when set, else :data:`MAX_PIXELS`.

    Raises:
        ParameterError: when the variable is not a positive integer.
    """
    value = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not value:
        return MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ParameterError(f"{MAX_PIXELS_ENV} must be a positive integer number of pixels, got {value!r}")
    return limit


def _check_pixels(path: Path, width: int, height: int, where: str) -> None:
    limit = max_pixels()
    if width * height > limit:
        raise DataFormatError(path, "pixels", f"an image of at most {limit} pixels (width x height; "
                                              f"{MAX_PIXELS_ENV} raises the limit)",
                              f"{width}x{height} = {width * height} pixels {where}")


def _header_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the file header, or None when Pillow does not know the format.

    Raises:
        DataFormatError: when Pillow refuses the header as a decompression bomb or as malformed.
        OSError: when the file cannot be read.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except UnidentifiedImageError:
        # Pillow refuses a PNG cut after its header, but the header still declares the size to check.
        return _png_header_size(path)
    except Image.DecompressionBombError as exc:
        size = _png_header_size(path)
        if size is not None:
            _check_pixels(path, *size, "declared in the header")  # the exact numbers rather than Pillow's text
        raise DataFormatError(path, "pixels", f"an image of at most {max_pixels()} pixels (width x height)",
                              str(exc)) from None
    except (ValueError, EOFError, struct.error) as exc:  # Pillow lets these out for a malformed header
        raise DataFormatError(path, "header", "a readable image header", f"{type(exc).__name__}: {exc}") from None


def _png_header_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk (the first 24 bytes), or None for another format."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if len(head) == 24 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    return None


def _imdecode(path: Path, flags: int) -> np.ndarray:
    try:
        size = _header_size(path)
    except OSError:
        size = None  # unreadable header: the read below names the problem
    if size is not None:
        _check_pixels(path, *size, "declared in the header")  # before a single pixel is decoded
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataFormatError(path, "", "an existing image file") from None
    except OSError as exc:
        raise DataFormatError(path, "", f"a readable image file ({exc})") from None
    image = cv2.imdecode(raw, flags) if raw.size else None
    if image is None:
        raise DataFormatError(path, "pixels", "an image OpenCV can decode (file empty, truncated or not an image)")
    if size is None:  # a format Pillow does not read: checked once decoded (OpenCV caps decodes itself)
        _check_pixels(path, image.shape[1], image.shape[0], "decoded")
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB ``uint8`` (H, W, 3).

    Grayscale is replicated to three channels, alpha is composited over white (comics
    pages are printed on white), and 16-bit images are scaled down to 8 bits.

    Args:
        path: an image file in any format OpenCV reads.

    Returns:
        The RGB image.

    Raises:
        DataFormatError: when the file is missing, empty, truncated or not an image, or declares
            more than :func:`max_pixels` pixels (field ``pixels``; refused before decoding).
    """
    path = Path(path)
    image = _imdecode(path, cv2.IMREAD_UNCHANGED)
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2RGB)
    if channels == 4:
        bgr = image[..., :3].astype(np.float32)
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        image = (bgr * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)


def read_raw(path: str | os.PathLike) -> np.ndarray:
    """Read an image with its stored bit depth and channels (for depth maps and masks)."""
    return _imdecode(Path(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)


def read_mask(path: str | os.PathLike, threshold: int = 127) -> np.ndarray:
    """Read a binary mask image as ``bool`` (H, W); any channel above ``threshold`` counts."""
    raw = read_raw(path)
    if raw.ndim == 3:
        raw = raw[..., :3].max(axis=2)
    if raw.dtype == np.uint16:
        threshold = threshold * 257
    return raw > threshold


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height of an image file, read from its header only.

    Pillow opens files lazily (header only), which keeps size checks cheap on full-size
    pages; files Pillow does not know fall back to a full OpenCV decode.

    Args:
        path: an image file.

    Returns:
        ``(width, height)`` in pixels.

    Raises:
        DataFormatError: when the file is missing or is not an image, or when Pillow refuses
            its header as a decompression bomb (the size itself is not checked here).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "", "an existing image file")
    try:
        size = _header_size(path)
    except OSError as exc:
        raise DataFormatError(path, "header", f"a readable image header ({exc})") from None
    if size is None:
        raw = read_raw(path)  # raises DataFormatError when OpenCV cannot decode it either
        size = int(raw.shape[1]), int(raw.shape[0])
    return size


def write_image(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB (or grayscale, or 16-bit single-channel) array atomically.

    The format follows the extension; JPEG uses ``quality``.
    """
    path = Path(path)
    arr = np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    params: list[int] = []
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    ok, buf = cv2.imencode(ext or ".png", arr, params)
    if not ok:
        raise DataFormatError(path, "extension", "an image extension OpenCV can encode", ext)
    return atomic_write_bytes(path, buf.tobytes())


def write_depth_png16(path: str | os.PathLike, depth_m: np.ndarray, scale: float = 1000.0) -> Path:
    """Write metric depth as a 16-bit PNG of ``depth * scale`` (default millimetres); 0 = invalid."""
    depth = np.nan_to_num(np.asarray(depth_m, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    values = np.clip(np.round(depth * scale), 0, 65535).astype(np.uint16)
    return write_image(Path(path).with_suffix(".png"), values)


def read_depth_png16(path: str | os.PathLike, scale: float = 1000.0) -> np.ndarray:
    """Read a 16-bit depth PNG written by :func:`write_depth_png16` as float32 metres (0 = invalid)."""
    raw = read_raw(path)
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise DataFormatError(
            path, "pixels", "a single-channel 16-bit depth PNG", f"{raw.dtype} with shape {raw.shape}"
        )
    return raw.astype(np.float32) / float(scale)


def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as float32 ``.npy`` atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.float32))
    return atomic_write_bytes(path, buffer.getvalue())


def write_pfm(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a float map as PFM, the format of MiDaS and the Middlebury stereo sets, atomically.

    The header is ``Pf`` (one channel) or ``PF`` (three), then ``<width> <height>``, then
    ``-1.0`` (the negative scale means little-endian); float32 rows follow, bottom row first.

    Args:
        path: the ``.pfm`` file.
        array: ``(H, W)`` or ``(H, W, 3)`` values (NaN and infinities are kept).

    Raises:
        ParameterError: another shape.
    """
    data = np.asarray(array, dtype="<f4")
    if not (data.ndim == 2 or (data.ndim == 3 and data.shape[2] == 3)) or data.size == 0:
        raise ParameterError(f"{path}: a PFM holds a non-empty (H, W) or (H, W, 3) map, got shape {data.shape}")
    kind = "Pf" if data.ndim == 2 else "PF"
    header = f"{kind}\n{data.shape[1]} {data.shape[0]}\n-1.0\n".encode("ascii")
    return atomic_write_bytes(path, header + np.ascontiguousarray(data[::-1]).tobytes())


def _pfm_header(path: Path, raw: bytes) -> tuple[int, int, int, str, int]:
    """``(channels, width, height, byte order, data offset)`` of a PFM file's three header lines."""
    lines = raw.split(b"\n", 3)
    if len(lines) < 4 or lines[0].strip() not in (b"Pf", b"PF"):
        raise DataFormatError(path, "header line 1", "'Pf' (one channel) or 'PF' (three channels)", lines[0][:16])
    try:
        width, height = (int(v) for v in lines[1].split())
        scale = float(lines[2])
    except ValueError:
        raise DataFormatError(path, "header lines 2-3", "'<width> <height>' then a non-zero scale",
                              b"\n".join(lines[1:3])[:40]) from None
    if width <= 0 or height <= 0 or scale == 0:
        raise DataFormatError(path, "header lines 2-3", "a positive width and height and a non-zero scale",
                              f"{width} {height} {scale}")
    offset = len(raw) - len(lines[3])
    return (1 if lines[0].strip() == b"Pf" else 3), width, height, ("<" if scale < 0 else ">"), offset


def read_pfm(path: str | os.PathLike) -> np.ndarray:
    """Read a PFM file (see :func:`write_pfm`; big-endian files too) as float32, top row first.

    Returns:
        ``(H, W)`` for ``Pf``, ``(H, W, 3)`` for ``PF``.

    Raises:
        DataFormatError: a missing file, a bad header, or a data size that does not match it.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, "", "an existing PFM file") from None
    channels, width, height, order, offset = _pfm_header(path, raw)
    expected = width * height * channels * 4
    if len(raw) - offset != expected:
        raise DataFormatError(path, "data", f"{expected} bytes of float32 for {width}x{height}x{channels}",
                              f"{len(raw) - offset} bytes")
    values = np.frombuffer(raw, dtype=f"{order}f4", offset=offset).astype(np.float32)
    shape = (height, width) if channels == 1 else (height, width, 3)
    return values.reshape(shape)[::-1].copy()


def list_images(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Sorted image files of ``folder`` (by extension, case-insensitive)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(folder, "", "an existing folder of images")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def safe_join(root: str | os.PathLike, relative: str, source: str | os.PathLike, field: str) -> Path:
    """Join ``relative`` under ``root`` and reject paths that escape it.

    Args:
        root: the dataset folder.
        relative: a path read from an annotation file.
        source: the annotation file (named in the error).
        field: the field that held ``relative`` (named in the error).

    Raises:
        DataFormatError: when ``relative`` is absolute, holds a NUL byte or climbs out of ``root``.
    """
    root = Path(root).resolve()
    if not isinstance(relative, str) or not relative:
        raise DataFormatError(source, field, "a non-empty relative path", relative)
    if "\x00" in relative:  # the OS cannot name such a file; pathlib raises a bare ValueError
        raise DataFormatError(source, field, "a relative path without NUL bytes", relative)
    try:
        candidate = (root / relative).resolve()
        candidate.exists()  # stat() raises for a name longer than the file system allows; resolve() does not
    except OSError as exc:  # that, or a symlink loop
        raise DataFormatError(
            source, field, "a path the file system can resolve", f"{relative[:60]}... ({exc.strerror})"
        ) from None
    if Path(relative).is_absolute() or (candidate != root and root not in candidate.parents):
        raise DataFormatError(source, field, f"a path inside the dataset folder {root}", relative)
    return candidate


def check_inside(path: str | os.PathLike, root: str | os.PathLike) -> Path:
    """Refuse a dataset file that leads, through a symlink, outside the dataset folder.

    A dataset folder may itself be a symlink (it is resolved too); links inside it may point
    anywhere inside it. A link out of it would let a dataset read any file of the machine.

    Args:
        path: a file found in the dataset folder.
        root: the dataset folder.

    Returns:
        ``path`` unchanged.

    Raises:
        DataFormatError: naming ``path`` (field ``symlink``) and where it leads.
    """
    path, root = Path(path), Path(root).resolve()
    target = path.resolve()
    if target != root and root not in target.parents:
        raise DataFormatError(path, "symlink", f"a file inside the dataset folder {root}", str(target))
    return path
