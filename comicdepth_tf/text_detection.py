"""Comics text-area detection: loss, IoU, epoch and threshold selection, tiling, text-free crops.

The model is :mod:`comicdepth_tf.models.text_unet` (a U-Net giving a per-pixel probability that
a pixel belongs to a speech balloon or lettering). This module holds everything around it
(seed 001, section C.I):

* **Loss** — :func:`bce_dice_loss`: per image, binary cross-entropy + (1 − soft Dice), a
  serialisable Keras loss.
* **IoU** — :func:`iou` (NumPy): ``|pred ∩ truth| / |pred ∪ truth|`` with ``pred = prob ≥ t``,
  counted over *all pixels of the set* (not averaged per image, so panels without text do not
  dominate); an empty union scores 1. :func:`iou_metric` is the same measure at 0.5 as a
  Keras metric (``BinaryIoU``), so ``iou50`` / ``val_iou50`` land in ``history.csv`` every epoch.
* **Epoch selection** (C.I.1.b) — :func:`make_best_epoch_checkpoint` keeps the epoch with the
  highest ``val_iou50`` in ``best_iou50.keras`` (not the last epoch); its state survives a
  resumed run. :func:`select_best_epoch` reads the same choice from a history.
* **Threshold** (C.I.1.c) — :func:`sweep_thresholds` and :func:`best_threshold` on validation.
* **Tiling** — :func:`predict_tiled` runs the model on overlapping tiles of the training size
  and blends them with a smooth, strictly positive window (no seams, no squashing);
  :func:`predict_page` adds an optional rescaling so text has its training-time pixel size.
* **Text-free crops** (C.I.2.a) — :func:`find_text_free_crop`: random square crops whose
  maximum text probability stays below 3 %; after every 20 failed tries the side shrinks by
  one pixel. :func:`text_free_crops` writes them with a ``manifest.csv``.
* **Masks for later stages** — :func:`predict_text_masks` (the "ignore text" loss:
  ``pred_text_masks/<stem>.png``, matched by stem) and the ``comicdepth text-mask INPUT… --run RUN
  --out DIR`` command (:func:`cli_main`; ``<name>_text_mask.png``, see :mod:`comicdepth_tf.outputs`).

A saved run (``saved_models/text_unet/<run_id>/``) holds the model and, in ``config.json``,
``threshold`` (the optimised one), ``image_size`` (the tile) and ``page_scale``;
:func:`load_text_detector` reads them back by run folder, run id or ``latest-<profile>``.

TensorFlow is imported only inside the functions that need it.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from comicdepth_tf import fileio
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.outputs import (
    SUFFIXES,
    Report,
    add_command_arguments,
    each_image,
    expand_inputs,
    manifest_path,
    previous_manifest,
    run_command,
    run_record,
    write_manifest,
)
from comicdepth_tf.training import is_better

MODEL_NAME = "text_unet"
#: Key of the per-epoch IoU at threshold 0.5 (``val_`` prefixed on validation).
IOU_KEY = "iou50"
MONITOR = f"val_{IOU_KEY}"
BEST_FILE = "best_iou50.keras"
BEST_STATE_FILE = "best_iou50.json"
#: The seed's rule for "no text in this crop": maximum predicted probability below 3 %.
TEXT_FREE_MAX_PROB = 0.03
DEFAULT_THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.01), 2).tolist())
MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ("file", "source", "x", "y", "size", "max_prob", "attempts")
#: Files :func:`predict_text_masks` writes per input by default (``str.format`` patterns of its output name).
MASK_FILE = "{}.png"
PROB_FILE = "prob/{}.png"


# --------------------------------------------------------------------------- IoU (NumPy)


def _as_prob(a) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float32)
    return arr[..., 0] if arr.ndim >= 3 and arr.shape[-1] == 1 else arr


def _as_truth(a) -> np.ndarray:
    arr = np.asarray(a)
    arr = arr[..., 0] if arr.ndim >= 3 and arr.shape[-1] == 1 else arr
    return arr.astype(bool) if arr.dtype == bool else arr > 0.5


def iou_counts(prob, truth, threshold: float = 0.5) -> tuple[int, int]:
    """``(intersection, union)`` pixel counts of ``prob ≥ threshold`` against ``truth``.

    Args:
        prob: probabilities, any shape (a trailing channel of 1 is dropped).
        truth: the reference mask, same shape; bool, or numbers where > 0.5 means text.
        threshold: probabilities at or above it count as text.
    """
    p, t = _as_prob(prob), _as_truth(truth)
    if p.shape != t.shape:
        raise ParameterError(f"prob {p.shape} and truth {t.shape} must have the same shape")
    pred = p >= np.float32(threshold)  # float32 like the probabilities, whatever the type of threshold
    return int(np.count_nonzero(pred & t)), int(np.count_nonzero(pred | t))


def iou(prob, truth, threshold: float = 0.5) -> float:
    """Intersection over union of ``prob ≥ threshold`` and ``truth``, over all pixels given.

    Stacks of images are pooled (one intersection and one union over the set). Both masks
    empty scores 1.0.
    """
    inter, union = iou_counts(prob, truth, threshold)
    return 1.0 if union == 0 else inter / union


def trivial_ious(truth) -> dict[str, float]:
    """IoU of the two trivial predictions: every pixel text (``all_text``), none (``no_text``)."""
    t = _as_truth(truth)
    n_text = int(np.count_nonzero(t))
    return {"all_text": n_text / t.size if t.size else 1.0, "no_text": 1.0 if n_text == 0 else 0.0}


def sweep_thresholds(prob, truth, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, np.ndarray]:
    """IoU at each threshold (pooled over the set), computed exactly from sorted probabilities.

    Returns:
        ``{"threshold": (T,), "iou": (T,)}``.
    """
    p, t = _as_prob(prob), _as_truth(truth)
    if p.shape != t.shape:
        raise ParameterError(f"prob {p.shape} and truth {t.shape} must have the same shape")
    th = np.asarray(thresholds, dtype=np.float64)
    if th.ndim != 1 or th.size == 0:
        raise ParameterError(f"thresholds must be a non-empty list of numbers, got {thresholds!r}")
    # Compare in float32, as iou() does (probabilities are float32), so both agree at every threshold.
    pos, neg, th32 = np.sort(p[t]), np.sort(p[~t]), th.astype(np.float32)
    # Pixels at or above t: n - (number strictly below t).
    tp = pos.size - np.searchsorted(pos, th32, side="left")
    fp = neg.size - np.searchsorted(neg, th32, side="left")
    union = pos.size + fp
    scores = np.where(union > 0, tp / np.maximum(union, 1), 1.0)
    return {"threshold": th, "iou": scores}


def best_threshold(sweep: Mapping[str, Sequence[float]]) -> tuple[float, float]:
    """``(threshold, iou)`` with the highest IoU of a :func:`sweep_thresholds` result.

    Ties go to the threshold closest to 0.5 (then the lower one), so a flat optimum does not
    drift to an extreme.
    """
    th = np.asarray(sweep["threshold"], dtype=np.float64)
    scores = np.asarray(sweep["iou"], dtype=np.float64)
    best = np.nanmax(scores)
    candidates = np.flatnonzero(scores >= best - 1e-12)
    i = min(candidates, key=lambda k: (abs(th[k] - 0.5), th[k]))
    return float(th[i]), float(scores[i])


# --------------------------------------------------------------------------- Keras loss and metric


def bce_dice_loss(w_bce: float = 1.0, w_dice: float = 1.0, smooth: float = 1.0):
    """The BCE + Dice loss object (:class:`comicdepth_tf.losses.BceDiceLoss`) for ``compile`` /
    :func:`comicdepth_tf.training.fit`."""
    from comicdepth_tf.losses import BceDiceLoss

    return BceDiceLoss(w_bce=w_bce, w_dice=w_dice, smooth=smooth)


def iou_metric(threshold: float = 0.5, name: str = IOU_KEY):
    """Keras ``BinaryIoU`` of the text class at ``threshold`` (pooled over the epoch's pixels)."""
    import keras

    return keras.metrics.BinaryIoU(target_class_ids=[1], threshold=threshold, name=name)


# --------------------------------------------------------------------------- epoch selection


def select_best_epoch(
    history: Mapping[str, Sequence[float]], key: str = MONITOR, mode: str = "max"
) -> tuple[int, float]:
    """The 1-based epoch with the best ``history[key]`` (first one on ties; NaN ignored).

    Args:
        history: ``{column: per-epoch values}``, e.g. :func:`comicdepth_tf.training.read_history`.
        key: the column to judge by.
        mode: ``"max"`` or ``"min"``.

    Raises:
        ParameterError: no such column, or no finite value in it.
    """
    if mode not in ("max", "min"):
        raise ParameterError(f"mode must be 'max' or 'min', got {mode!r}")
    if key not in history:
        raise ParameterError(f"history has no column {key!r}; it has {sorted(history)}")
    best, best_epoch = None, None
    for i, value in enumerate(history[key]):
        value = None if value is None else float(value)
        if is_better(value, best, mode):
            best, best_epoch = value, i + 1
    if best_epoch is None:
        raise ParameterError(f"history column {key!r} has no finite value")
    return best_epoch, best


def best_epoch_state(run_dir: str | os.PathLike) -> dict:
    """``best_iou50.json`` of a run: ``monitor``, ``mode``, ``best``, ``best_epoch`` ({} when absent)."""
    path = Path(run_dir) / BEST_STATE_FILE
    return fileio.read_json(path) if path.exists() else {}


def make_best_epoch_checkpoint(run_dir: str | os.PathLike, monitor: str = MONITOR, mode: str = "max"):
    """A Keras callback saving the model of the best epoch by ``monitor`` into ``best_iou50.keras``.

    :func:`comicdepth_tf.training.fit` keeps the best ``val_loss`` epoch; the seed keeps the
    epoch of highest validation IoU at 0.5, which this callback does (pass it in
    ``extra_callbacks``). Writes are atomic; ``best_iou50.json`` records the value and epoch,
    and is read back when the run resumes, so the best of earlier epochs is not forgotten.
    """
    import keras

    from comicdepth_tf.models.registry import WeightsOnlyWriter

    if mode not in ("max", "min"):
        raise ParameterError(f"mode must be 'max' or 'min', got {mode!r}")
    run_dir = Path(run_dir)
    previous = best_epoch_state(run_dir)

    class BestEpochCheckpoint(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.monitor, self.mode = monitor, mode
            same = previous.get("monitor") == monitor and (run_dir / BEST_FILE).exists()
            self.best = previous.get("best") if same else None
            self.best_epoch = previous.get("best_epoch") if same else None
            self.best_writer = WeightsOnlyWriter()

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(self.monitor)
            value = None if value is None else float(value)
            if is_better(value, self.best, self.mode):
                self.best, self.best_epoch = value, epoch + 1
                self.best_writer.save(self.model, run_dir / BEST_FILE)  # read for weights only
                fileio.atomic_write_json(run_dir / BEST_STATE_FILE, {"monitor": self.monitor, "mode": self.mode,
                                                                  "best": self.best, "best_epoch": self.best_epoch})

    return BestEpochCheckpoint()


def restore_best_epoch(model, run_dir: str | os.PathLike) -> dict:
    """Load the weights of ``best_iou50.keras`` into ``model``; returns the best-epoch state."""
    from comicdepth_tf.models.registry import load_model

    path = Path(run_dir) / BEST_FILE
    if not path.is_file():
        raise DataFormatError(path, "", f"the best-epoch checkpoint (no epoch reported {MONITOR})")
    model.set_weights(load_model(path).get_weights())
    return best_epoch_state(run_dir)


# --------------------------------------------------------------------------- tiled inference


def as_predict_fn(model) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``(N, h, w, 3) float32 → (N, h, w)`` from a Keras model or such a function."""
    # A Keras model exists only once keras is imported: plain functions never pay for the import.
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return lambda batch: _as_prob(np.asarray(model(batch, training=False)))
    if callable(model):
        return lambda batch: _as_prob(np.asarray(model(batch)))
    raise ParameterError(f"expected a Keras model or a function of image batches, got {type(model).__name__}")


def tile_starts(length: int, tile: int, overlap: float = 0.5) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``[0, length)``, evenly spread.

    Neighbours overlap by at least ``overlap × tile``; the first tile starts at 0 and the last
    ends at ``length`` (``length ≥ tile``).
    """
    if tile <= 0 or length < tile:
        raise ParameterError(f"need 0 < tile <= length, got tile={tile}, length={length}")
    if not 0.0 <= overlap < 1.0:
        raise ParameterError(f"overlap must be in [0, 1), got {overlap}")
    if length == tile:
        return [0]
    stride = max(1, int(tile * (1.0 - overlap)))
    n = math.ceil((length - tile) / stride) + 1
    return [int(round(v)) for v in np.linspace(0, length - tile, n)]


def blend_window(tile: int) -> np.ndarray:
    """A ``(tile, tile)`` weight, ``sin(π (i + ½) / tile)`` along each axis.

    Smooth (tile borders, where a network sees the least context, weigh least) and strictly
    positive (every pixel covered by one tile only still gets its value).
    """
    ramp = np.sin(np.pi * (np.arange(tile) + 0.5) / tile).astype(np.float32)
    return np.outer(ramp, ramp)


def _to_float_image(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ParameterError(f"expected an RGB image (H, W, 3), got shape {arr.shape}")
    return arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)


def predict_tiled(
    model, image, tile: int, overlap: float = 0.5, batch_size: int = 8, pad_value: float = 1.0
) -> np.ndarray:
    """Full-size probability map of ``image`` from overlapping ``tile × tile`` predictions.

    Each tile's output is weighted by :func:`blend_window` and the weighted sum is divided by
    the summed weights. An image smaller than a tile is padded with ``pad_value`` (white
    paper) and the result cropped back.

    Args:
        model: a Keras model or a function ``(N, tile, tile, 3) → (N, tile, tile[, 1])``.
        image: RGB, uint8 or float in [0, 1], (H, W, 3).
        tile: tile side in pixels (the training size).
        overlap: minimum overlap of neighbouring tiles, as a fraction of the tile.
        batch_size: tiles per model call.
        pad_value: fill of the padding of small images.

    Returns:
        (H, W) float32 probabilities.
    """
    predict = as_predict_fn(model)
    img = _to_float_image(image)
    height, width = img.shape[:2]
    ph, pw = max(height, tile), max(width, tile)
    if (ph, pw) != (height, width):
        padded = np.full((ph, pw, 3), pad_value, dtype=np.float32)
        padded[:height, :width] = img
        img = padded
    window = blend_window(tile)
    total = np.zeros((ph, pw), dtype=np.float32)
    weight = np.zeros((ph, pw), dtype=np.float32)
    boxes = [(y, x) for y in tile_starts(ph, tile, overlap) for x in tile_starts(pw, tile, overlap)]
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i : i + batch_size]
        batch = np.stack([img[y : y + tile, x : x + tile] for y, x in chunk])
        out = predict(batch)
        if out.shape != (len(chunk), tile, tile):
            raise ParameterError(f"the model must keep the tile size: got {out.shape} for {batch.shape}")
        for (y, x), prob in zip(chunk, out):
            total[y : y + tile, x : x + tile] += prob * window
            weight[y : y + tile, x : x + tile] += window
    return (total / weight)[:height, :width]


def predict_page(model, image, tile: int, overlap: float = 0.5, scale: float = 1.0, batch_size: int = 8) -> np.ndarray:
    """Text probability of a page or panel of any size, at the image's own size.

    The image is first resized by ``scale`` (so lettering has the pixel size the model was
    trained on; a run stores it as ``page_scale``), predicted by overlapping tiles
    (:func:`predict_tiled`), and the map is resized back.

    Returns:
        (H, W) float32 probabilities.
    """
    img = _to_float_image(image)
    height, width = img.shape[:2]
    if scale <= 0:
        raise ParameterError(f"scale must be positive, got {scale}")
    if abs(scale - 1.0) > 1e-6:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    prob = predict_tiled(model, img, tile, overlap=overlap, batch_size=batch_size)
    if prob.shape != (height, width):
        prob = cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(prob, 0.0, 1.0)


# --------------------------------------------------------------------------- saved detector


@dataclass
class TextDetector:
    """A trained text-area model with its run settings.

    Attributes:
        model: the Keras model (or any function of image batches, for tests).
        threshold: probability at or above which a pixel is text (the optimised one).
        tile: tile side in pixels (the training size).
        scale: page rescaling before tiling (see :func:`predict_page`).
        overlap: tile overlap.
        run_dir: the saved run, when loaded from one.
        config: the run's ``config.json``.
    """

    model: Any
    threshold: float = 0.5
    tile: int = 128
    scale: float = 1.0
    overlap: float = 0.5
    run_dir: Path | None = None
    config: dict = field(default_factory=dict)

    def probability(self, image) -> np.ndarray:
        """(H, W) text probability of an RGB image of any size."""
        return predict_page(self.model, image, self.tile, overlap=self.overlap, scale=self.scale)

    def mask(self, image) -> np.ndarray:
        """(H, W) bool text mask (probability ≥ threshold)."""
        return self.probability(image) >= self.threshold


def load_text_detector(run: str | os.PathLike, root: str | os.PathLike | None = None) -> TextDetector:
    """Load a saved text detector: a run folder, a run id under ``saved_models/text_unet`` or
    ``latest-<profile>`` (see :func:`comicdepth_tf.runs.resolve_run`)."""
    from comicdepth_tf.models.registry import load_model, read_run
    from comicdepth_tf.runs import resolve_run

    run_dir = resolve_run(run, MODEL_NAME, root)
    config = read_run(run_dir)["config"]
    model = load_model(run_dir)
    tile = config.get("image_size") or (model.input_shape[1] if model.input_shape[1] else 128)
    return TextDetector(model=model, threshold=float(config.get("threshold", 0.5)), tile=int(tile),
                        scale=float(config.get("page_scale", 1.0)), overlap=float(config.get("tile_overlap", 0.5)),
                        run_dir=run_dir, config=config)


# --------------------------------------------------------------------------- text-free crops


@dataclass(frozen=True)
class Crop:
    """A square crop found by :func:`find_text_free_crop`.

    Attributes:
        x, y: top-left corner (column, row).
        size: side in pixels.
        max_prob: the largest text probability inside.
        attempts: tries made, the successful one included.
    """

    x: int
    y: int
    size: int
    max_prob: float
    attempts: int


def find_text_free_crop(prob, size: int = 384, max_prob: float = TEXT_FREE_MAX_PROB, tries_per_size: int = 20,
                        min_size: int = 32, seed: int | np.random.Generator = 0) -> Crop | None:
    """A random square crop whose maximum text probability is below ``max_prob`` (seed C.I.2.a).

    Tries uniformly random positions of a ``size`` square (or the largest square fitting the
    image); after every ``tries_per_size`` failed tries the side shrinks by one pixel, down to
    ``min_size``. Try ``k`` (from 0) uses side ``start − k // tries_per_size``.

    Args:
        prob: (H, W) text probability.
        size: starting side in pixels.
        max_prob: a crop is text-free when its maximum probability is strictly below this.
        tries_per_size: failed tries before the side shrinks by one pixel.
        min_size: smallest side tried.
        seed: seed or NumPy generator of the positions.

    Returns:
        The :class:`Crop`, or None when no side down to ``min_size`` succeeded.
    """
    p = _as_prob(prob)
    if p.ndim != 2:
        raise ParameterError(f"prob must be (H, W), got {p.shape}")
    if tries_per_size < 1 or min_size < 1:
        raise ParameterError("tries_per_size and min_size must be positive")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    height, width = p.shape
    start = min(int(size), height, width)
    # Integral image of "too textual" pixels: a window is text-free when it holds none (O(1) per try).
    bad = np.pad((p >= max_prob).astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    attempts = 0
    for side in range(start, min_size - 1, -1):
        for _ in range(tries_per_size):
            attempts += 1
            y = int(rng.integers(0, height - side + 1))
            x = int(rng.integers(0, width - side + 1))
            count = bad[y + side, x + side] - bad[y, x + side] - bad[y + side, x] + bad[y, x]
            if count == 0:
                return Crop(x, y, side, float(p[y : y + side, x : x + side].max()), attempts)
    return None


def _detector(model, tile: int | None, scale: float, overlap: float, threshold: float | None) -> TextDetector:
    if isinstance(model, TextDetector):
        return TextDetector(model.model, model.threshold if threshold is None else float(threshold),
                            tile or model.tile, model.scale if scale is None else scale, model.overlap,
                            model.run_dir, model.config)
    if tile is None:
        shape = getattr(model, "input_shape", None)
        tile = shape[1] if shape and shape[1] else None
        if tile is None:
            raise ParameterError("give the tile size (the model's training size)")
    return TextDetector(model, 0.5 if threshold is None else float(threshold), int(tile),
                        1.0 if scale is None else scale, overlap)


def _csv_text(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def text_free_crops(model, inputs, out_dir: str | os.PathLike, *, size: int = 384,
                    max_prob: float = TEXT_FREE_MAX_PROB, tries_per_size: int = 20, min_size: int = 32,
                    crops_per_image: int = 1, seed: int = 0, tile: int | None = None, scale: float | None = None,
                    overlap: float = 0.5) -> dict[str, Any]:
    """Cut text-free square crops from images with the text detector (seed C.I.2.a).

    Each image's text probability is predicted at full size (:func:`predict_page`), then
    :func:`find_text_free_crop` is run ``crops_per_image`` times with a generator seeded by
    ``(seed, image index)``. Crops are written as ``out_dir/<stem>_<k>.png`` and listed in
    ``out_dir/manifest.csv`` (file, source, x, y, size, max_prob, attempts).

    Args:
        model: a :class:`TextDetector`, a Keras model or a function of image batches.
        inputs: image files, folders or globs.
        out_dir: destination folder.
        size, max_prob, tries_per_size, min_size: the crop rule (see :func:`find_text_free_crop`).
        crops_per_image: crops searched per image.
        seed: seed of the positions.
        tile, scale, overlap: tiling settings (default: the detector's).

    Returns:
        ``{"manifest": path, "rows": [dict…], "skipped": [(path, reason)…]}``; an image that
        cannot be read, or with no text-free crop down to ``min_size``, is skipped.
    """
    det = _detector(model, tile, scale, overlap, None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    found, skipped = expand_inputs(inputs)
    files = [path for path, _ in found]
    rows = []
    for index, path in enumerate(_progress(files, "text-free crops")):
        try:
            image = fileio.read_image(path)
        except DataFormatError as exc:
            skipped.append((str(path), str(exc)))
            continue
        prob = det.probability(image)
        rng = np.random.default_rng([int(seed), index])
        found = 0
        for k in range(crops_per_image):
            crop = find_text_free_crop(prob, size, max_prob, tries_per_size, min_size, rng)
            if crop is None:
                break
            name = f"{path.stem}_{k + 1}.png"
            fileio.write_image(out_dir / name, image[crop.y : crop.y + crop.size, crop.x : crop.x + crop.size])
            rows.append({"file": name, "source": str(path), "x": crop.x, "y": crop.y, "size": crop.size,
                         "max_prob": round(crop.max_prob, 6), "attempts": crop.attempts})
            found += 1
        if found == 0:
            skipped.append((str(path), f"no square of {min_size}-{size} px with text probability < {max_prob}"))
    manifest = fileio.atomic_write_text(out_dir / MANIFEST_FILE,
                                    _csv_text([[r[c] for c in MANIFEST_COLUMNS] for r in rows], MANIFEST_COLUMNS))
    return {"manifest": manifest, "rows": rows, "skipped": skipped}


def _progress(items, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return items
    return tqdm(items, desc=desc, disable=len(items) < 5 or not sys.stderr.isatty(), leave=False)


# --------------------------------------------------------------------------- masks for later stages


def default_mask_dir(image_path: str | os.PathLike) -> Path:
    """Where predicted masks go by default: ``pred_text_masks/`` beside the image's folder.

    ``panels/val/images/x.png`` → ``panels/val/pred_text_masks/x.png`` (mirroring the
    ground-truth ``text_masks/`` folder, without overwriting it).
    """
    return Path(image_path).resolve().parent.parent / "pred_text_masks"


#: What :func:`predict_text_masks` did (the report every per-input command gives).
MaskReport = Report


def predict_text_masks(model, inputs, out_dir: str | os.PathLike | None = None, *, threshold: float | None = None,
                       tile: int | None = None, scale: float | None = None, overlap: float = 0.5,
                       probabilities: bool = False, overwrite: bool = False, recursive: bool = False,
                       patterns: dict[str, str] | None = None, report: Report | None = None) -> Report:
    """Predict and save the text mask of every image (for the "ignore text" depth loss).

    Masks are ``<out_dir>/<stem>.png``, uint8 0/255 at the image's size; with
    ``probabilities`` also ``<out_dir>/prob/<stem>.png`` (probability × 255). Unreadable files
    are reported in the result and skipped; the others are still processed. Output names follow
    :mod:`comicdepth_tf.outputs`: two inputs of one stem get ``<stem>.png`` and ``<stem>-2.png``,
    an input file is never overwritten, and an existing file only with ``overwrite``.

    Args:
        model: a :class:`TextDetector` (threshold and tiling from its run), a Keras model or a
            function of image batches.
        inputs: image files, folders or glob patterns.
        out_dir: destination; None puts each mask in :func:`default_mask_dir` of its image.
        threshold: text when probability ≥ threshold (default: the detector's, else 0.5).
        tile, scale, overlap: tiling settings (default: the detector's).
        probabilities: also save the probability maps.
        overwrite: replace files that existed before the call (input files never are).
        recursive: look into sub-folders of folder inputs.
        patterns: the file names by role (``mask``, ``probability``), ``str.format`` patterns
            of the output name (default :data:`MASK_FILE`, :data:`PROB_FILE`).
        report: where each input's result goes (default: a new, quiet one).

    Returns:
        The :class:`~comicdepth_tf.outputs.Report`: ``written`` (name → mask), ``failed``.
    """
    det = _detector(model, tile, scale, overlap, threshold)
    patterns = patterns or {"mask": MASK_FILE, "probability": PROB_FILE}
    roles = ["mask"] + (["probability"] if probabilities else [])
    found, problems = expand_inputs(inputs, recursive)
    folders = [Path(out_dir) if out_dir is not None else default_mask_dir(path) for path, _ in found]
    report = report if report is not None else Report("text-mask", Path(out_dir) if out_dir is not None else None)
    plan = report.plan(found, problems, folders, [patterns[role] for role in roles], overwrite)

    def write(image: np.ndarray, files: dict[str, Path]) -> dict:
        prob = det.probability(image)
        mask = prob >= det.threshold
        fileio.write_image(files["mask"], mask.astype(np.uint8) * 255)
        if "probability" in files:
            fileio.write_image(files["probability"], np.round(prob * 255).astype(np.uint8))
        return {"height": int(mask.shape[0]), "width": int(mask.shape[1]), "text_fraction": float(mask.mean())}

    each_image(report, found, plan, roles, write)
    return report


# --------------------------------------------------------------------------- command line

#: Files of ``comicdepth text-mask`` per input, by role.
CLI_PATTERNS = {role: "{}" + SUFFIXES[role] for role in ("mask", "probability")}


def cli_add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``comicdepth text-mask``."""
    add_command_arguments(parser, f"saved text detector run (saved_models/{MODEL_NAME})")
    parser.add_argument("--threshold", type=float, default=None, help="text probability threshold (default: the run's)")
    parser.add_argument("--tile", type=int, default=None, help="tile side in px (default: the run's training size)")
    parser.add_argument(
        "--scale", type=float, default=None, help="resize pages by this before tiling (default: the run's)"
    )
    parser.add_argument("--probabilities", action="store_true",
                        help="also write <name>_text_prob.png (probability x 255)")


def _mask_command(args: argparse.Namespace) -> Report:
    from comicdepth_tf.runs import resolve_run

    manifest = manifest_path(args.out, "text-mask")
    previous = previous_manifest(manifest, args.overwrite)
    run_dir = resolve_run(args.run, MODEL_NAME)
    detector = load_text_detector(run_dir)
    threshold = detector.threshold if args.threshold is None else args.threshold
    report = Report("text-mask", Path(args.out), quiet=args.quiet)
    t0 = time.perf_counter()
    predict_text_masks(detector, args.inputs, args.out, threshold=threshold, tile=args.tile, scale=args.scale,
                       probabilities=args.probabilities, overwrite=args.overwrite, recursive=args.recursive,
                       patterns=CLI_PATTERNS, report=report)
    report.seconds = time.perf_counter() - t0
    record = report.manifest_record(args.inputs, run_record(args.run, run_dir), threshold=threshold)
    report.manifest = write_manifest(manifest, record, previous, ("tool", "run", "threshold"))
    return report


def cli_main(args: argparse.Namespace) -> int:
    """Run ``comicdepth text-mask``: 0 when every input got its mask, 1 when any failed, 2 on bad arguments."""
    return run_command("text-mask", args.out, lambda: _mask_command(args))
