"""Depth inference: images of any size in, depth maps of the same size out.

Two entry points share one engine:

* :func:`predict_depth` (library): images or image files → one float32 ``(H, W)`` map per input,
  at the input's original size, in the model's output convention (see
  :class:`~comicdepth_tf.models.layers.DepthHead`: metres, inverse depth or relative depth).
  Later stages (comics depth, evaluation) use it.
* :func:`predict_files` / ``comicdepth predict`` (files): images, folders or globs → for each
  image ``<name>_depth.png`` (16-bit), ``<name>_depth_color.png`` (colour-mapped, near = bright)
  and optionally ``<name>_depth.npy`` (float32), plus ``depth_manifest.json`` in the output
  folder recording how to decode the PNGs.

**Network size ("upper-bound" resize).** Each image is scaled, keeping its aspect ratio, so that
it fits inside the network size: ``size=S`` bounds the longer side by ``S`` px, ``size=(H, W)``
fits the image inside an ``H × W`` box. If the shorter side would then fall below the encoder's
minimum (75 px for Inception-ResNet-v2), the image is scaled up until it reaches it (the
image then covers the minimum). Sides are rounded to multiples of ``multiple`` (default 8, at
least the minimum) so that images of similar shapes share one network size and one batch.
The prediction is resized back to the original size (bilinear).

**Batching and overlap.** Images are grouped by network size and batched within each group.
A ``tf.data`` pipeline decodes and resizes batches in parallel (``num_parallel_calls=AUTOTUNE``,
prefetched) while the model runs; results are resized back, encoded and written by a pool of
writer threads (OpenCV releases the GIL), so decoding and writing overlap with the forward
pass. The model runs through one ``tf.function`` with a dynamic input shape: one trace serves
every network size.

**16-bit PNG encoding.** ``value = round(prediction × scale)`` clipped to ``[1, 65535]``; 0 is
never written (it means "no value", as in the sensor formats). Decode with
``prediction = value / scale`` (:func:`read_depth_prediction` does it). The scale is fixed per
run for bounded conventions — ``metric``: 1000 (millimetres) when ``max_depth ≤ 65.535 m``,
``relative``: 65535 — and chosen per file for ``inverse`` (``65535 / max``). The manifest holds
the convention, the unit and every file's scale; quantisation error is at most ``0.5 / scale``.

**Errors.** Unreadable files (missing, truncated, not an image, too many pixels) are reported
and skipped; the others are still processed. :class:`PredictSummary` lists them, and the command
exits with 1 when any input failed.

**Output files** follow the rule of :mod:`comicdepth_tf.outputs`: names unique within a run
(``-2``, ``-3``… appended), input files never overwritten, files that existed before the run
kept unless ``--overwrite`` (an input refused this way is reported like an unreadable one).
"""

from __future__ import annotations

import argparse
import glob
import io as _pyio
import math
import os
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from comicdepth_tf import io
from comicdepth_tf.errors import DataFormatError, OutputConflictError, ParameterError
from comicdepth_tf.outputs import NOT_EXISTING, add_overwrite_argument, out_dir_refused, plan_outputs

#: Folder of the natural depth model under ``saved_models/``.
MODEL_NAME = "depth_irv2"
MANIFEST_FILE = "depth_manifest.json"
MANIFEST_FORMAT = "comicdepth depth predictions"
DEPTH_SUFFIX = "_depth.png"
COLOR_SUFFIX = "_depth_color.png"
NPY_SUFFIX = "_depth.npy"
DEFAULT_SIZE = 256
DEFAULT_MULTIPLE = 8
DEFAULT_MIN_INPUT = 75
UINT16_MAX = 65535
#: Unit of each output convention.
UNITS = {"metric": "m", "inverse": "1/m (model units)", "relative": "relative (0-1, no scale)"}


# --------------------------------------------------------------------------- sizes


def network_size(
    height: int,
    width: int,
    size: int | Sequence[int],
    min_side: int = DEFAULT_MIN_INPUT,
    multiple: int = DEFAULT_MULTIPLE,
) -> tuple[int, int]:
    """Network input size of an image ("upper-bound" resize, aspect ratio kept).

    Args:
        height, width: the image's size in pixels.
        size: an int bounds the longer side; ``(H, W)`` is a box the image must fit in.
        min_side: smallest side the encoder accepts (75 for IRv2); shorter results are scaled up.
        multiple: sides are rounded to multiples of it (and to at least ``min_side``).

    Returns:
        ``(network height, network width)``.
    """
    if height <= 0 or width <= 0:
        raise ParameterError(f"image size must be positive, got {height}x{width}")
    if isinstance(size, (int, np.integer)):
        if size <= 0:
            raise ParameterError(f"size must be positive, got {size}")
        scale = float(size) / max(height, width)
    else:
        box_h, box_w = (int(v) for v in size)
        if box_h <= 0 or box_w <= 0:
            raise ParameterError(f"size must be positive, got {tuple(size)}")
        scale = min(box_h / height, box_w / width)
    h, w = height * scale, width * scale
    if min(h, w) < min_side:
        grow = min_side / min(h, w)
        h, w = h * grow, w * grow
    floor = int(math.ceil(min_side / multiple) * multiple)
    return tuple(max(floor, int(round(v / multiple)) * multiple) for v in (h, w))  # type: ignore[return-value]


def encoder_min_input(model) -> int:
    """Smallest input side of the model's encoder (registered encoders; 75 px when unknown)."""
    from comicdepth_tf.models import encoders
    from comicdepth_tf.models.registry import model_info

    name = model_info(model).get("encoder")
    if name in encoders.encoder_names():
        return encoders.encoder_spec(name).min_input
    return DEFAULT_MIN_INPUT


def _resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    if array.shape[:2] == (height, width):
        return array
    shrinking = array.shape[0] >= height and array.shape[1] >= width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(array, (width, height), interpolation=interpolation)


# --------------------------------------------------------------------------- model


def head_info(model) -> dict[str, Any]:
    """``{"output", "max_depth", "min_depth"}`` of a depth model (metric when it has no DepthHead)."""
    from comicdepth_tf.models.registry import model_info

    info = model_info(model)
    return {"output": info.get("output", "metric"), "max_depth": info.get("max_depth"),
            "min_depth": info.get("min_depth")}


def make_predict_fn(model) -> Callable[[np.ndarray], np.ndarray]:
    """``f(batch (B, H, W, 3) float32 in [0, 1]) -> (B, H, W) float32``, traced once for all sizes."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)], reduce_retracing=True)
    def forward(images):
        out = model(images, training=False)
        return tf.cast(out[..., 0], tf.float32)

    return lambda batch: forward(tf.convert_to_tensor(batch, tf.float32)).numpy()


# --------------------------------------------------------------------------- engine


@dataclass
class _Plan:
    """Sources grouped into batches of one network size each."""

    batches: list[list[int]]
    shapes: list[tuple[int, int]]


def _plan(sizes: dict[int, tuple[int, int]], size, batch_size: int, min_side: int, multiple: int) -> _Plan:
    groups: dict[tuple[int, int], list[int]] = {}
    for index in sorted(sizes):
        h, w = sizes[index]
        groups.setdefault(network_size(h, w, size, min_side, multiple), []).append(index)
    batches, shapes = [], []
    for shape, members in groups.items():
        for start in range(0, len(members), batch_size):
            batches.append(members[start : start + batch_size])
            shapes.append(shape)
    return _Plan(batches, shapes)


def _source_size(source) -> tuple[int, int]:
    """(height, width) of an array or an image file (header only)."""
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3) or source.shape[0] == 0 or source.shape[1] == 0:
            raise ParameterError(f"an image array must be (H, W) or (H, W, C), got shape {source.shape}")
        return int(source.shape[0]), int(source.shape[1])
    width, height = io.image_size(source)
    return height, width


def _source_pixels(source) -> np.ndarray:
    """RGB float32 in [0, 1] of an array (uint8 0-255, or float 0-1) or a file."""
    if not isinstance(source, np.ndarray):
        return io.read_image(source).astype(np.float32) * np.float32(1.0 / 255.0)
    image = source
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    image = image[..., :3]
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1.0 / 255.0)
    return np.clip(image.astype(np.float32), 0.0, 1.0)


@dataclass
class _Run:
    """Book-keeping shared by the loader (tf.data threads) and the writer threads."""

    failures: dict[int, str] = field(default_factory=dict)
    shapes: dict[int, tuple[int, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, index: int, message: str) -> None:
        with self.lock:
            self.failures[index] = message


def _batch_dataset(sources: Sequence, plan: _Plan, run: _Run):
    """tf.data pipeline of ``(images (B, h, w, 3), ok (B,))``, one element per planned batch."""
    import tensorflow as tf

    def load(batch_index) -> tuple[np.ndarray, np.ndarray]:
        members = plan.batches[int(batch_index)]
        height, width = plan.shapes[int(batch_index)]
        images = np.zeros((len(members), height, width, 3), np.float32)
        ok = np.zeros(len(members), bool)
        for j, index in enumerate(members):
            try:
                pixels = _source_pixels(sources[index])
            except DataFormatError as exc:
                run.fail(index, str(exc))
                continue
            except Exception as exc:  # a decoder crash must not stop the other files
                run.fail(index, f"{sources[index]}: expected a readable image ({type(exc).__name__}: {exc})")
                continue
            with run.lock:
                run.shapes[index] = pixels.shape[:2]
            images[j] = _resize(pixels, height, width)
            ok[j] = True
        return images, ok

    def decode(batch_index):
        images, ok = tf.numpy_function(load, [batch_index], [tf.float32, tf.bool], stateful=False)
        images.set_shape([None, None, None, 3])
        ok.set_shape([None])
        return images, ok

    ds = tf.data.Dataset.range(len(plan.batches))
    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def run_predictions(
    model,
    sources: Sequence,
    sink: Callable[[int, np.ndarray], None],
    *,
    size: int | Sequence[int] = DEFAULT_SIZE,
    batch_size: int = 8,
    multiple: int = DEFAULT_MULTIPLE,
    writers: int = 2,
    progress: bool = False,
    predict_fn: Callable | None = None,
) -> dict[int, str]:
    """Predict every source and hand each map, at its original size, to ``sink(index, depth)``.

    ``sink`` runs in writer threads (at most ``writers`` at once; ``writers=0`` runs it in the
    calling thread). The sources are arrays or image files; unreadable ones are skipped.

    Args:
        model: a depth model (a ``keras.Model`` taking RGB in [0, 1]).
        sources: images (``(H, W[, C])`` uint8, or float in [0, 1]) or image paths.
        sink: called once per readable source with its float32 ``(H, W)`` prediction.
        size: network size (see :func:`network_size`).
        batch_size: images per forward pass.
        multiple: network sides are multiples of it.
        writers: writer threads.
        progress: show a tqdm progress bar.
        predict_fn: a function from :func:`make_predict_fn` to reuse (tracing costs seconds).

    Returns:
        ``{index: error message}`` of the sources that could not be read.
    """
    if batch_size <= 0:
        raise ParameterError(f"batch_size must be positive, got {batch_size}")
    run = _Run()
    sizes: dict[int, tuple[int, int]] = {}
    for index, source in enumerate(sources):
        try:
            sizes[index] = _source_size(source)
        except DataFormatError as exc:
            run.fail(index, str(exc))
    if not sizes:
        return run.failures
    plan = _plan(sizes, size, batch_size, encoder_min_input(model), multiple)
    forward = predict_fn or make_predict_fn(model)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(sources), desc="depth", unit="img", disable=not progress)
    bar.update(len(sources) - len(sizes))
    pool = ThreadPoolExecutor(max_workers=writers) if writers > 0 else None
    pending: deque[Future] = deque()

    def finish(index: int, pred: np.ndarray) -> None:
        height, width = run.shapes[index]
        if pred.shape != (height, width):
            pred = cv2.resize(pred, (width, height), interpolation=cv2.INTER_LINEAR)
        sink(index, pred)

    try:
        for (images, ok), members in zip(_batch_dataset(sources, plan, run), plan.batches):
            ok = ok.numpy()
            preds = forward(images) if ok.any() else None
            for j, index in enumerate(members):
                if not ok[j]:
                    bar.update(1)
                    continue
                pred = np.ascontiguousarray(preds[j])
                if pool is None:
                    finish(index, pred)
                    bar.update(1)
                    continue
                future = pool.submit(finish, index, pred)
                future.add_done_callback(lambda _f: bar.update(1))
                pending.append(future)
            # Bounded queue: the writers may lag a few batches behind, not the whole run.
            while len(pending) > max(4 * batch_size, 2 * writers):
                pending.popleft().result()
        while pending:
            pending.popleft().result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        bar.close()
    return dict(sorted(run.failures.items()))


def predict_depth(
    model,
    images_or_paths: Sequence,
    size: int | Sequence[int] = DEFAULT_SIZE,
    batch_size: int = 8,
    *,
    errors: str = "raise",
    multiple: int = DEFAULT_MULTIPLE,
    predict_fn: Callable | None = None,
) -> list[np.ndarray | None]:
    """Depth maps of images of any size, each at its original size.

    Args:
        model: a depth model, or a run folder / run id (loaded with :func:`load_depth_model`).
        images_or_paths: RGB arrays (uint8, or float in [0, 1]; gray accepted) and/or image paths.
        size: network size: the longer side in px, or an ``(H, W)`` box (see :func:`network_size`).
        batch_size: images per forward pass.
        errors: ``"raise"`` (an unreadable file raises its DataFormatError) or ``"skip"``
            (its entry is None).
        multiple: network sides are multiples of it.
        predict_fn: a traced function from :func:`make_predict_fn` to reuse across calls.

    Returns:
        One float32 ``(H, W)`` map per input, in the model's output convention (metric models:
        metres).
    """
    if errors not in ("raise", "skip"):
        raise ParameterError(f"errors must be 'raise' or 'skip', got {errors!r}")
    if isinstance(model, (str, os.PathLike)):
        model = load_depth_model(model)[0]
    sources = list(images_or_paths)
    out: list[np.ndarray | None] = [None] * len(sources)

    def keep(index: int, depth: np.ndarray) -> None:
        out[index] = depth.astype(np.float32, copy=False)

    failures = run_predictions(model, sources, keep, size=size, batch_size=batch_size, multiple=multiple, writers=2,
                               predict_fn=predict_fn)
    if failures and errors == "raise":
        index, message = next(iter(failures.items()))
        source = sources[index]
        raise DataFormatError(source if not isinstance(source, np.ndarray) else f"<array {index}>", "",
                              "a readable image", message)
    return out


# --------------------------------------------------------------------------- encoding


def png_scale(output: str, max_depth: float | None = None, values: np.ndarray | None = None) -> float:
    """The factor turning predictions into 16-bit PNG values (see the module doc).

    Args:
        output: the model's convention (``metric``, ``inverse``, ``relative``).
        max_depth: the metric head's upper bound, in metres.
        values: the prediction (needed for ``inverse``, whose scale is per file).
    """
    if output == "metric":
        top = float(max_depth) if max_depth else 65.535
        return 1000.0 if top <= 65.535 else float(math.floor(UINT16_MAX / top))
    if output == "relative":
        return float(UINT16_MAX)
    if output == "inverse":
        peak = float(np.max(values)) if values is not None and np.size(values) else 0.0
        return float(UINT16_MAX) / peak if peak > 0 else 1.0
    raise ParameterError(f"output must be one of {tuple(UNITS)}, got {output!r}")


def encode_png16(depth: np.ndarray, scale: float) -> np.ndarray:
    """``uint16`` values ``round(depth × scale)`` clipped to ``[1, 65535]`` (0 stays "no value")."""
    values = np.nan_to_num(np.asarray(depth, np.float64) * scale, nan=0.0, posinf=UINT16_MAX, neginf=0.0)
    return np.clip(np.round(values), 1, UINT16_MAX).astype(np.uint16)


_LUTS: dict[str, np.ndarray] = {}


def _colormap_lut(name: str) -> np.ndarray:
    """A 256 × 3 uint8 table of a Matplotlib colormap (a table lookup is ~20× faster per image)."""
    if name not in _LUTS:
        import matplotlib

        try:
            cmap = matplotlib.colormaps[name]
        except KeyError:
            raise ParameterError(f"unknown colormap {name!r}; use a Matplotlib colormap name such as magma_r") from None
        _LUTS[name] = (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)
    return _LUTS[name]


def colorize(depth: np.ndarray, colormap: str = "magma_r", nearer_is_larger: bool = False) -> np.ndarray:
    """RGB uint8 rendering of a prediction with 2–98 % percentile limits.

    With the default ``magma_r``, small depth is bright; pass ``nearer_is_larger=True`` for
    inverse-depth predictions so near stays bright.
    """
    d = np.asarray(depth, np.float32)
    sample = d[:: max(1, d.shape[0] // 128), :: max(1, d.shape[1] // 128)]
    lo, hi = np.percentile(sample, (2.0, 98.0))
    if nearer_is_larger:
        lo, hi = hi, lo
    span = float(hi - lo) if hi != lo else 1e-6
    t = np.clip((d - lo) * (255.0 / span), 0.0, 255.0).astype(np.uint8)
    return _colormap_lut(colormap)[t]


def read_depth_prediction(path: str | os.PathLike, manifest: dict | None = None) -> np.ndarray:
    """Decode a ``*_depth.png`` written by :func:`predict_files` back to float32 predictions.

    Args:
        path: the 16-bit PNG.
        manifest: its folder's manifest (read from ``depth_manifest.json`` beside it by default).

    Returns:
        ``(H, W)`` float32 in the model's convention; 0 where the PNG holds 0.
    """
    path = Path(path)
    if manifest is None:
        manifest = io.read_json(path.parent / MANIFEST_FILE)
    key = path.name
    files = manifest.get("files", {}) if isinstance(manifest, dict) else {}
    if key not in files or "scale" not in files[key]:
        raise DataFormatError(path.parent / MANIFEST_FILE, f"files.{key}.scale", "the scale of this depth PNG")
    raw = io.read_raw(path)
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise DataFormatError(path, "pixels", "a single-channel 16-bit depth PNG",
                              f"{raw.dtype} with shape {raw.shape}")
    return raw.astype(np.float32) / np.float32(files[key]["scale"])


# --------------------------------------------------------------------------- files


def expand_inputs(
    inputs: Sequence[str | os.PathLike], recursive: bool = False
) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """Image files named by files, folders or glob patterns, with their output names.

    Files inside a folder input keep their path relative to that folder in the output name;
    other files use their stem. Names may repeat: :func:`~comicdepth_tf.outputs.plan_outputs`
    makes them unique.

    Returns:
        ``(files, problems)``: ``[(path, output name)]`` in input order (duplicates dropped) and
        ``[(input, reason)]`` for inputs that named nothing.
    """
    found: list[tuple[Path, str]] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir():
            files = [(p, p.relative_to(path).with_suffix("").as_posix()) for p in io.list_images(path, recursive)]
            if not files:
                problems.append((text, "no images in folder"))
        elif path.is_file():
            files = [(path, path.stem)]
        elif glob.has_magic(text):
            files = []
            for match in sorted(glob.glob(os.path.expanduser(text), recursive=True)):
                p = Path(match)
                if p.is_file():
                    files.append((p, p.stem))
                elif p.is_dir():
                    files.extend((q, q.stem) for q in io.list_images(p))
            if not files:
                problems.append((text, "no file matches the pattern"))
        else:
            files = []
            problems.append((text, "no such file or folder"))
        found.extend(files)
    seen: set[Path] = set()
    unique = []
    for path, name in found:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append((path, name))
    return unique, problems


@dataclass
class PredictSummary:
    """What :func:`predict_files` did.

    Attributes:
        written: output name → the 16-bit PNG written.
        failed: ``[(input, reason)]`` for unreadable files and inputs that named nothing.
        out_dir: the output folder.
        manifest: path of ``depth_manifest.json``.
        seconds: wall time of the predictions (model loading excluded).
    """

    written: dict[str, Path] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    out_dir: Path | None = None
    manifest: Path | None = None
    seconds: float = 0.0

    @property
    def n_failed(self) -> int:
        """How many inputs failed."""
        return len(self.failed)

    def text(self) -> str:
        """A short summary for the terminal."""
        lines = [f"wrote {len(self.written)} depth map(s) to {self.out_dir} in {self.seconds:.1f} s; "
                 f"{self.n_failed} failed"]
        lines += [f"  failed: {source}: {reason}" for source, reason in self.failed]
        return "\n".join(lines)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = _pyio.BytesIO()
    np.save(buffer, array.astype(np.float32, copy=False))
    return buffer.getvalue()


def _read_manifest(path: Path, overwrite: bool) -> dict:
    """The manifest of an earlier run into the folder, ``{}`` when there is none.

    Raises:
        OutputConflictError: a file of that name that is not a depth manifest, unless ``overwrite``.
    """
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        data = io.read_json(path)
    except DataFormatError:
        data = None
    if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT:
        return data
    if not overwrite:  # someone else's file: merging into it would replace it
        raise OutputConflictError(path, "this run", f"a {MANIFEST_FORMAT} manifest, or {NOT_EXISTING}")
    return {}


def _output_patterns(color: bool, npy: bool) -> list[str]:
    """The files of one input (``str.format`` patterns of its name); the 16-bit PNG first."""
    return ["{}" + DEPTH_SUFFIX] + (["{}" + COLOR_SUFFIX] if color else []) + (["{}" + NPY_SUFFIX] if npy else [])


def _failure(source: str, message: str) -> tuple[str, str]:
    """``(input, reason)`` without the input repeated at the start of the reason."""
    return source, message[len(source) + 2 :] if message.startswith(source + ": ") else message


def predict_files(
    model,
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    size: int | Sequence[int] = DEFAULT_SIZE,
    batch_size: int = 8,
    npy: bool = False,
    colormap: str = "magma_r",
    color: bool = True,
    recursive: bool = False,
    writers: int = 2,
    progress: bool = False,
    run_info: dict | None = None,
    predict_fn: Callable | None = None,
    overwrite: bool = False,
) -> PredictSummary:
    """Predict depth for image files and write PNG / colour PNG / ``.npy`` at their original size.

    Args:
        model: a depth model.
        inputs: image files, folders (their images) or glob patterns.
        out_dir: output folder (created).
        size: network size (see :func:`network_size`).
        batch_size: images per forward pass.
        npy: also write float32 ``<name>_depth.npy``.
        colormap: Matplotlib colormap of ``<name>_depth_color.png`` (near = bright by default).
        color: write the colour-mapped PNG.
        recursive: look into sub-folders of folder inputs.
        writers: writer threads.
        progress: show a progress bar.
        run_info: recorded in the manifest under ``model`` (e.g. the run folder).
        predict_fn: a traced function from :func:`make_predict_fn` to reuse.
        overwrite: replace output files that existed before the call (input files never are;
            see :mod:`comicdepth_tf.outputs`).

    Returns:
        A :class:`PredictSummary`; ``depth_manifest.json`` is (re)written atomically in
        ``out_dir``, merged with the entries of an earlier run into the same folder.

    Raises:
        OutputConflictError: ``out_dir`` holds a ``depth_manifest.json`` that is not a depth
            manifest (and not ``overwrite``); nothing is written.
    """
    _colormap_lut(colormap)  # an unknown colormap fails before any work
    out = Path(out_dir)
    manifest_path = out / MANIFEST_FILE
    previous = _read_manifest(manifest_path, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    found, problems = expand_inputs(inputs, recursive)
    plan = plan_outputs([p for p, _ in found], [n for _, n in found], out, _output_patterns(color, npy),
                        overwrite=overwrite)
    problems += [_failure(str(found[i][0]), str(err)) for i, err in plan.errors.items()]
    files = [(path, plan.names[i]) for i, (path, _) in enumerate(found) if i not in plan.errors]
    head = head_info(model)
    output = head["output"]
    fixed_scale = None if output == "inverse" else png_scale(output, head["max_depth"])
    entries: dict[str, dict] = {}
    lock = threading.Lock()
    summary = PredictSummary(out_dir=out)

    def write(index: int, depth: np.ndarray) -> None:
        path, name = files[index]
        scale = fixed_scale if fixed_scale is not None else png_scale(output, values=depth)
        target = out / f"{name}{DEPTH_SUFFIX}"
        io.write_image(target, encode_png16(depth, scale))
        if color:
            rgb = colorize(depth, colormap, nearer_is_larger=output == "inverse")
            io.write_image(out / f"{name}{COLOR_SUFFIX}", rgb)
        if npy:
            io.atomic_write_bytes(out / f"{name}{NPY_SUFFIX}", _npy_bytes(depth))
        entry = {"source": str(path), "height": int(depth.shape[0]), "width": int(depth.shape[1]), "scale": scale,
                 "min": float(depth.min()), "max": float(depth.max())}
        with lock:
            entries[f"{name}{DEPTH_SUFFIX}"] = entry
            summary.written[name] = target

    t0 = time.perf_counter()
    failures = run_predictions(model, [p for p, _ in files], write, size=size, batch_size=batch_size, writers=writers,
                               progress=progress, predict_fn=predict_fn) if files else {}
    summary.seconds = time.perf_counter() - t0
    summary.failed = problems + [_failure(str(files[index][0]), message) for index, message in failures.items()]
    same = previous.get("convention") == output and previous.get("png", {}).get("scale") == fixed_scale
    merged_files = {**(previous.get("files", {}) if same else {}), **dict(sorted(entries.items()))}
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "model": {**(run_info or {}), **head, "name": model.name},
        "convention": output,
        "unit": UNITS[output],
        "png": {"dtype": "uint16", "decode": "prediction = value / scale", "zero": "no value",
                "scale": fixed_scale, "scale_per_file": fixed_scale is None},
        "colormap": colormap,
        "network_size": list(size) if not isinstance(size, (int, np.integer)) else int(size),
        "files": merged_files,
        "errors": [{"source": s, "error": r} for s, r in summary.failed],
    }
    summary.manifest = io.atomic_write_json(manifest_path, manifest)
    return summary


# --------------------------------------------------------------------------- saved runs


def latest_pointer(profile: str, model_name: str = MODEL_NAME, root: str | os.PathLike | None = None) -> Path:
    """``<models>/<model_name>/latest-<profile>.json``: which run a profile last saved."""
    from comicdepth_tf import paths

    base = Path(root) if root is not None else paths.models_dir()
    return base / model_name / f"latest-{profile}.json"


def write_latest_pointer(run_dir: str | os.PathLike, profile: str, model_name: str = MODEL_NAME,
                         root: str | os.PathLike | None = None) -> Path:
    """Point ``latest-<profile>.json`` at ``run_dir`` (atomic). The run id is stored, not the
    absolute path, so the saved-models folder can move."""
    run_dir = Path(run_dir)
    record = {"run_id": run_dir.name, "model": model_name, "profile": profile,
              "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return io.atomic_write_json(latest_pointer(profile, model_name, root), record)


def resolve_run(run: str | os.PathLike, model_name: str = MODEL_NAME, root: str | os.PathLike | None = None) -> Path:
    """Find a saved run: a folder or ``.keras`` file, a run id, or a pointer name.

    Looked up in order: ``run`` as a path; ``<models>/<run>``; ``<models>/<model_name>/<run>``;
    the pointer ``<models>/<model_name>/<run>.json`` (e.g. ``latest-cpu``).

    Raises:
        DataFormatError: nothing found (the message lists where it looked).
    """
    from comicdepth_tf import paths
    from comicdepth_tf.models.registry import MODEL_FILE

    base = Path(root) if root is not None else paths.models_dir()
    text = os.fspath(run)
    candidates = [Path(text).expanduser(), base / text, base / model_name / text]
    for candidate in candidates:
        if candidate.is_file() and candidate.suffix == ".keras":
            return candidate
        if (candidate / MODEL_FILE).is_file():
            return candidate
    pointer = base / model_name / f"{text}.json"
    if pointer.is_file():
        record = io.read_json(pointer)
        run_id = record.get("run_id") if isinstance(record, dict) else None
        if not isinstance(run_id, str) or not (base / model_name / run_id / MODEL_FILE).is_file():
            raise DataFormatError(pointer, "run_id", f"the id of a saved run under {base / model_name}", run_id)
        return base / model_name / run_id
    raise DataFormatError(text, "", f"a saved run (a folder with {MODEL_FILE}, a .keras file, a run id or a pointer "
                                    f"such as latest-cpu under {base / model_name})",
                          f"nothing at {[str(c) for c in candidates] + [str(pointer)]}")


def load_depth_model(run: str | os.PathLike, model_name: str = MODEL_NAME) -> tuple[Any, dict]:
    """Load a saved depth model and its run configuration.

    Returns:
        ``(model, config)``; ``config`` is ``{}`` for a bare ``.keras`` file.
    """
    from comicdepth_tf.models.registry import load_model, read_run

    path = resolve_run(run, model_name)
    config = read_run(path)["config"] if path.is_dir() else {}
    config = {**config, "run_dir": str(path)}
    return load_model(path), config


def recorded_size(config: dict) -> int | tuple[int, int] | None:
    """The network size a run's config records: its ``predict_size``, else its longer training side, else None."""
    if config.get("predict_size"):
        value = config["predict_size"]
        return int(value) if isinstance(value, (int, float)) else tuple(int(v) for v in value)
    if config.get("input_size"):
        return int(max(config["input_size"]))
    return None


def default_size(config: dict) -> int | tuple[int, int]:
    """The network size a run predicts at: :func:`recorded_size`, else 256."""
    return recorded_size(config) or DEFAULT_SIZE


# --------------------------------------------------------------------------- command line


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth predict``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("--run", required=True,
                        help="saved depth run: folder, .keras file, run id under saved_models/depth_irv2, "
                             "or latest-<profile>")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument("--size", type=int, default=None,
                        help="network size: longer side in px (default: the run's predict size)")
    parser.add_argument("--npy", action="store_true", help="also write float32 <name>_depth.npy")
    parser.add_argument("--colormap", default="magma_r", help="Matplotlib colormap of the colour PNG (default magma_r)")
    parser.add_argument("--recursive", action="store_true", help="look into sub-folders of folder inputs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overwrite_argument(parser)


def cli_main(args: argparse.Namespace) -> int:
    """Run ``comicdepth predict``: 0 when every input was written, 1 when any failed, 2 on bad arguments."""
    if out_dir_refused("predict", args.out):
        return 2
    try:
        _colormap_lut(args.colormap)
        if args.batch_size <= 0 or (args.size is not None and args.size <= 0):
            raise ParameterError("--batch-size and --size must be positive")
        model, config = load_depth_model(args.run)
    except (DataFormatError, ParameterError) as exc:
        print(f"predict: {exc}", file=sys.stderr)
        return 2
    size = args.size or default_size(config)
    try:
        summary = predict_files(model, args.inputs, args.out, size=size, batch_size=args.batch_size, npy=args.npy,
                                colormap=args.colormap, recursive=args.recursive, progress=not args.no_progress,
                                run_info={"run_dir": config["run_dir"]}, overwrite=args.overwrite)
    except OutputConflictError as exc:
        print(f"predict: {exc}", file=sys.stderr)
        return 2
    print(summary.text())
    return 1 if summary.failed else 0
