"""Depth inference: images of any size in, depth maps of the same size out.

Two entry points share one engine:

* :func:`predict_depth` (library): images or image files → one float32 ``(H, W)`` map per input,
  at the input's original size, in the model's output convention (see
  :class:`~comicdepth_tf.models.layers.DepthHead`: metres, inverse depth or relative depth).
  Later stages (comics depth, evaluation) use it.
* :func:`predict_files` / ``comicdepth predict`` (files): images, folders or globs → for each
  image ``<name>_depth.png`` (16-bit), ``<name>_depth_color.png`` (colour-mapped, near = bright)
  and optionally ``<name>_depth.npy`` / ``<name>_depth.pfm`` (float32; PFM as MiDaS writes it)
  and ``<name>_side_by_side.png`` (the image, its colour depth and a colour bar), plus
  ``depth_manifest.json`` in the output folder recording how to decode the PNGs. The command
  shares its arguments, run resolution (:func:`resolve_run`), progress, manifest schema and exit
  status with ``text-mask`` and ``translate`` (:mod:`comicdepth_tf.outputs`).

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
import math
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from comicdepth_tf import fileio
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.outputs import (  # noqa: F401 (expand_inputs: API)
    SUFFIXES,
    Report,
    add_command_arguments,
    expand_inputs,
    manifest_path,
    previous_manifest,
    run_command,
    run_record,
    write_manifest,
)
from comicdepth_tf.runs import DEPTH_FILES, NATURAL_MODEL_NAME, resolve_run
from comicdepth_tf.viz import colorize_depth, colormap_lut, depth_limits

#: Folder of the natural depth model under ``saved_models/``.
MODEL_NAME = NATURAL_MODEL_NAME
MANIFEST_FILE = "depth_manifest.json"
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
    width, height = fileio.image_size(source)
    return height, width


def _source_pixels(source) -> np.ndarray:
    """RGB float32 in [0, 1] of an array (uint8 0-255, or float 0-1) or a file."""
    if not isinstance(source, np.ndarray):
        return fileio.read_image(source).astype(np.float32) * np.float32(1.0 / 255.0)
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


def _manifest_entry(path: Path, manifest: dict) -> dict | None:
    """The entry of ``path`` (a 16-bit depth PNG) in a manifest of ``predict`` or ``translate``."""
    for entry in (manifest.get("outputs") or {}).values() if isinstance(manifest, dict) else ():
        if isinstance(entry, dict) and (entry.get("files") or {}).get("depth") == path.name:
            return entry
    legacy = manifest.get("files", {}) if isinstance(manifest, dict) else {}  # manifests before 0.1.0's CLI rework
    return legacy.get(path.name) if isinstance(legacy, dict) else None


def read_depth_prediction(path: str | os.PathLike, manifest: dict | None = None) -> np.ndarray:
    """Decode a ``*_depth.png`` written by ``predict`` or ``translate`` back to float32 predictions.

    Args:
        path: the 16-bit PNG.
        manifest: its folder's manifest (default: ``depth_manifest.json`` beside it, else
            ``translate_manifest.json``).

    Returns:
        ``(H, W)`` float32 in the model's convention; 0 where the PNG holds 0.
    """
    path = Path(path)
    candidates = [manifest] if manifest is not None else [
        fileio.read_json(m) for m in (manifest_path(path.parent, t) for t in ("predict", "translate")) if m.is_file()]
    entry = next((e for e in (_manifest_entry(path, m) for m in candidates) if e), None)
    if not entry or "scale" not in entry:
        raise DataFormatError(manifest_path(path.parent, "predict"), f"outputs.*.files.depth = {path.name}",
                              "the entry, with its scale, of this depth PNG (in this or translate_manifest.json)")
    raw = fileio.read_raw(path)
    if raw.ndim != 2 or raw.dtype != np.uint16:
        raise DataFormatError(path, "pixels", "a single-channel 16-bit depth PNG",
                              f"{raw.dtype} with shape {raw.shape}")
    return raw.astype(np.float32) / np.float32(entry["scale"])


# --------------------------------------------------------------------------- files

#: The report of :func:`predict_files` (one class for every per-input command).
PredictSummary = Report
FLOAT_FORMATS = ("npy", "pfm")


def depth_roles(color: bool = True, floats: Sequence[str] = (), side_by_side: bool = False) -> list[str]:
    """The files of one input, by role (see :data:`comicdepth_tf.outputs.SUFFIXES`); the 16-bit PNG first."""
    unknown = sorted(set(floats) - set(FLOAT_FORMATS))
    if unknown:
        raise ParameterError(f"float formats must be among {FLOAT_FORMATS}, got {unknown}")
    return (["depth"] + (["color"] if color else []) + [f for f in FLOAT_FORMATS if f in floats]
            + (["side_by_side"] if side_by_side else []))


@dataclass
class DepthWriter:
    """Writes one prediction's files, the same way for ``predict`` and ``translate --depth-run``.

    Attributes:
        head: :func:`head_info` of the model (its convention fixes the PNG scale).
        colormap: Matplotlib colormap of the colour files.
    """

    head: dict
    colormap: str = "magma_r"

    @property
    def output(self) -> str:
        """The model's convention."""
        return self.head["output"]

    @property
    def fixed_scale(self) -> float | None:
        """The PNG scale of every file (None for ``inverse``: one per file)."""
        return None if self.output == "inverse" else png_scale(self.output, self.head["max_depth"])

    def write(self, depth: np.ndarray, files: dict[str, Path], image=None) -> dict:
        """Write the files of ``depth`` by role; ``image`` (array or file) is needed for ``side_by_side``.

        Returns:
            The manifest values of the input: size, PNG scale, range.
        """
        scale = self.fixed_scale or png_scale(self.output, values=depth)
        fileio.write_image(files["depth"], encode_png16(depth, scale))
        # 2-98 % of a ~128 × 128 sample; swapped for inverse outputs, so near stays bright.
        sample = depth[:: max(1, depth.shape[0] // 128), :: max(1, depth.shape[1] // 128)]
        limits = depth_limits(sample, signed=True)
        limits = limits[::-1] if self.output == "inverse" else limits
        coloured = {"color", "side_by_side"} & set(files)
        rgb = colorize_depth(depth, *limits, cmap=self.colormap, invalid_color=None) if coloured else None
        if "color" in files:
            fileio.write_image(files["color"], rgb)
        if "npy" in files:
            fileio.write_npy(files["npy"], depth)
        if "pfm" in files:
            fileio.write_pfm(files["pfm"], depth)
        if "side_by_side" in files:
            from comicdepth_tf.viz import side_by_side

            picture = fileio.read_image(image) if isinstance(image, (str, os.PathLike)) else image
            fileio.write_image(files["side_by_side"], side_by_side(picture, rgb, limits, self.colormap,
                                                               f"depth, {UNITS[self.output]}"))
        return {"height": int(depth.shape[0]), "width": int(depth.shape[1]), "scale": scale,
                "min": float(depth.min()), "max": float(depth.max())}

    def manifest_values(self, model_name: str = "") -> dict:
        """The manifest keys that decode the files: convention, unit, PNG encoding, colormap."""
        return {"model": {**self.head, "name": model_name}, "convention": self.output, "unit": UNITS[self.output],
                "png": {"dtype": "uint16", "decode": "prediction = value / scale", "zero": "no value",
                        "scale": self.fixed_scale, "scale_per_file": self.fixed_scale is None},
                "colormap": self.colormap}


#: Manifest keys that must match for an earlier run's outputs to stay in the manifest.
DEPTH_SAME = ("tool", "run", "convention", "png")


def predict_files(
    model,
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    size: int | Sequence[int] = DEFAULT_SIZE,
    batch_size: int = 8,
    npy: bool = False,
    floats: Sequence[str] = (),
    side_by_side: bool = False,
    colormap: str = "magma_r",
    color: bool = True,
    recursive: bool = False,
    writers: int = 2,
    progress: bool = False,
    run_info: dict | None = None,
    predict_fn: Callable | None = None,
    overwrite: bool = False,
) -> Report:
    """Predict depth for image files and write their files at their original size.

    Args:
        model: a depth model.
        inputs: image files, folders (their images) or glob patterns.
        out_dir: output folder (created).
        size: network size (see :func:`network_size`).
        batch_size: images per forward pass.
        npy: also write float32 ``<name>_depth.npy`` (same as ``floats=("npy",)``).
        floats: float32 files to write: ``npy`` and/or ``pfm`` (``<name>_depth.pfm``).
        side_by_side: also write ``<name>_side_by_side.png`` (input, colour depth, colour bar).
        colormap: Matplotlib colormap of the colour files (near = bright by default).
        color: write the colour-mapped ``<name>_depth_color.png``.
        recursive: look into sub-folders of folder inputs.
        writers: writer threads.
        progress: print one line per input on stderr.
        run_info: the manifest's ``run`` (e.g. the run argument and folder).
        predict_fn: a traced function from :func:`make_predict_fn` to reuse.
        overwrite: replace output files that existed before the call (input files never are;
            see :mod:`comicdepth_tf.outputs`).

    Returns:
        A :class:`~comicdepth_tf.outputs.Report`; ``depth_manifest.json`` is (re)written
        atomically in ``out_dir``, after the entries of an earlier run of the same model.

    Raises:
        OutputConflictError: ``out_dir`` holds a ``depth_manifest.json`` that is not one of ours
            (and not ``overwrite``); nothing is written.
    """
    colormap_lut(colormap)  # an unknown colormap fails before any work
    roles = depth_roles(color, tuple(floats) + (("npy",) if npy else ()), side_by_side)
    out = Path(out_dir)
    manifest_file = manifest_path(out, "predict")
    previous = previous_manifest(manifest_file, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    report = Report("predict", out, quiet=not progress)
    found, problems = expand_inputs(inputs, recursive)
    plan = report.plan(found, problems, out, ["{}" + SUFFIXES[r] for r in roles], overwrite)
    keep = [i for i in range(len(found)) if i not in plan.errors]
    writer = DepthWriter(head_info(model), colormap)

    def write(k: int, depth: np.ndarray) -> None:
        index = keep[k]
        files = dict(zip(roles, plan.files[index]))
        report.done(plan.names[index], found[index][0], files, **writer.write(depth, files, found[index][0]))

    t0 = time.perf_counter()
    failures = run_predictions(model, [found[i][0] for i in keep], write, size=size, batch_size=batch_size,
                               writers=writers, predict_fn=predict_fn) if keep else {}
    for k, message in failures.items():
        report.fail(found[keep[k]][0], message)
    report.seconds = time.perf_counter() - t0
    network = list(size) if not isinstance(size, (int, np.integer)) else int(size)
    record = report.manifest_record(inputs, run_info or {}, **writer.manifest_values(model.name), network_size=network)
    report.manifest = write_manifest(manifest_file, record, previous, DEPTH_SAME)
    return report


def load_depth_model(run: str | os.PathLike, model_name: str = MODEL_NAME) -> tuple[Any, dict]:
    """Load a saved depth model and its run configuration: the one loader of depth runs.

    Args:
        run: a run folder, run id or ``latest-<profile>`` (:func:`comicdepth_tf.runs.resolve_run`),
            or a ``.keras`` file. A run's ``model.keras`` is loaded, else ``best.keras``, else
            ``last.keras`` (:data:`comicdepth_tf.runs.DEPTH_FILES`).
        model_name: the ``saved_models/`` folder run ids are looked up in.

    Returns:
        ``(model, config)``; ``config`` is ``{}`` for a bare ``.keras`` file (plus ``run_dir``).
    """
    from comicdepth_tf.models.registry import load_model, read_run

    path = resolve_run(run, model_name, files=DEPTH_FILES)
    if path.is_file():
        return load_model(path), {"run_dir": str(path)}
    config = {**read_run(path)["config"], "run_dir": str(path)}
    return load_model(path, file=next(name for name in DEPTH_FILES if (path / name).is_file())), config


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
    add_command_arguments(parser, f"saved depth run (saved_models/{MODEL_NAME}, or a .keras file)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument("--size", type=int, default=None,
                        help="network size: longer side in px (default: the run's predict size)")
    parser.add_argument("--float", dest="floats", action="append", choices=FLOAT_FORMATS, default=[],
                        help="also write the float32 depth: npy (<name>_depth.npy) or pfm (<name>_depth.pfm, "
                             "the MiDaS format); repeat for both")
    parser.add_argument("--npy", dest="floats", action="append_const", const="npy", help="same as --float npy")
    parser.add_argument("--side-by-side", action="store_true",
                        help="also write <name>_side_by_side.png: the input beside its colour depth, with a colour bar")
    parser.add_argument(
        "--colormap", default="magma_r", help="Matplotlib colormap of the colour PNGs (default magma_r)"
    )
    parser.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)  # old --quiet


def _predict_command(args: argparse.Namespace) -> Report:
    colormap_lut(args.colormap)
    if args.batch_size <= 0 or (args.size is not None and args.size <= 0):
        raise ParameterError("--batch-size and --size must be positive")
    run_dir = resolve_run(args.run)
    model, config = load_depth_model(run_dir)
    return predict_files(model, args.inputs, args.out, size=args.size or default_size(config),
                         batch_size=args.batch_size, floats=args.floats, side_by_side=args.side_by_side,
                         colormap=args.colormap, recursive=args.recursive, progress=not args.quiet,
                         run_info=run_record(args.run, run_dir), overwrite=args.overwrite)


def cli_main(args: argparse.Namespace) -> int:
    """Run ``comicdepth predict``: 0 when every input was written, 1 when any failed, 2 on bad arguments."""
    return run_command("predict", args.out, lambda: _predict_command(args))
