"""The logic of notebook ``20_text_unet``: data, training, selection, evaluation, figures.

Seed 001 section C.I: train a U-Net text-area detector on per-panel text masks, keep the
epoch with the best validation IoU at 0.5, optimise the threshold on validation, report test
IoU at 0.5 and at that threshold, look at the predictions, and cut text-free crops from
single-panel images for the ``without_text`` CycleGAN.

Data (:func:`load_text_data`):

* ``source="panels"`` (default): the embedded dataset's panel crops ``panels/<split>/images``
  with ``panels/<split>/text_masks`` (or a folder with that layout);
* ``source="ebdtheque"``: an eBDtheque folder (``Pages/``, ``GT/``; the embedded one when no
  folder is given), exported once to per-panel crops and masks split 80/10/10
  (:func:`comicdepth_tf.data.formats.ebdtheque.export_text_mask_crops`).

Images are resized to ``image_size``² for training and validation (the seed trains on resized
crops). Pages are predicted by overlapping tiles of that size after rescaling by the run's
``page_scale``: the median factor by which training panels were resized, so lettering keeps
the pixel size the model learnt.

Typical use (what the notebook does)::

    from comicdepth_tf.stages import text as te

    data = te.load_text_data("", source="panels", profile="cpu", image_size=160)
    model = te.build_model(encoder="tiny", seed=0)
    te.compile_model(model, steps_per_epoch=te.steps_per_epoch(data, 16), epochs=30)
    result = te.fit(model, data, run_dir=run_dir, epochs=30, batch_size=16)
    metrics, val = te.evaluate(result.model, data)

:func:`train` does the three steps in one call.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from comicdepth_tf import fileio, paths
from comicdepth_tf import text_detection as td
from comicdepth_tf.data import pipelines
from comicdepth_tf.data.augment import AugmentConfig
from comicdepth_tf.data.formats import dcm, ebdtheque
from comicdepth_tf.errors import DataFormatError, ParameterError

# isort: split
# Re-exported: the notebook imports its stage module only, and calls them as ``te.<name>``.
from comicdepth_tf.runs import new_run_dir  # noqa: F401
from comicdepth_tf.text_detection import (  # noqa: F401
    IOU_KEY,
    MODEL_NAME,
    TextDetector,
    predict_text_masks,
    text_free_crops,
)
from comicdepth_tf.training import use_devices  # noqa: F401

STAGE = "20_text_unet"
SOURCES = ("panels", "ebdtheque")
SPLITS = ("train", "val", "test")
_KEYS = {"image": "image", "text_mask": "mask"}


# --------------------------------------------------------------------------- data


@dataclass
class TextData:
    """Samples of a text-mask dataset, per split.

    Attributes:
        source: ``panels`` or ``ebdtheque``.
        root: the dataset folder read (the embedded root for embedded data).
        samples: split -> ``{"name", "image", "text_mask"}`` dicts (file paths).
        image_size: side of the square training images.
        page_scale: median resize factor of the training images (see the module doc).
    """

    source: str
    root: Path
    samples: dict[str, list[dict]]
    image_size: int
    page_scale: float = 1.0

    def counts(self) -> dict[str, int]:
        """Number of images per split."""
        return {split: len(s) for split, s in self.samples.items()}


def _panel_samples(folder: Path) -> dict[str, list[dict]]:
    out = {split: ebdtheque.to_samples(folder, split) for split in SPLITS if (folder / split / "images").is_dir()}
    if not out.get("train") or not out.get("val"):
        raise DataFormatError(
            folder, "train/ and val/", "panel folders <split>/images + <split>/text_masks for train and val"
        )
    return out


def resize_scale(samples: Sequence[dict], image_size: int) -> float:
    """Median of ``image_size / sqrt(w·h)`` over the samples' images (the isotropic resize factor)."""
    factors = []
    for s in samples:
        w, h = fileio.image_size(s["image"])
        factors.append(image_size / np.sqrt(w * h))
    return float(np.median(factors)) if factors else 1.0


def load_text_data(data_dir: str | os.PathLike = "", *, source: str = "panels", profile: str = "cpu",
                   image_size: int = 160, seed: int = 0, export_dir: str | os.PathLike | None = None) -> TextData:
    """Text-mask samples for training and evaluation.

    Args:
        data_dir: empty for the embedded dataset of ``profile`` (generated when missing); else
            a panels folder (``<split>/images``, ``<split>/text_masks``) or an embedded root
            for ``panels``, an eBDtheque folder (``Pages/``, ``GT/``) for ``ebdtheque``.
        source: ``panels`` or ``ebdtheque``.
        profile: embedded dataset profile.
        image_size: side of the square training images, in pixels.
        seed: embedded dataset seed, and seed of the eBDtheque split.
        export_dir: where eBDtheque crops are exported (default
            ``<data>/ebdtheque_cropped/<folder name>``); reused when its manifest exists.

    Raises:
        ParameterError: unknown source.
        DataFormatError: folders missing or incomplete.
    """
    if source not in SOURCES:
        raise ParameterError(f"source must be one of {SOURCES}, got {source!r}")
    if data_dir:
        root = Path(data_dir).expanduser()
    else:
        from comicdepth_tf.data import synthetic

        root = synthetic.ensure_dataset(profile, seed=seed)
    if source == "panels":
        folder = root / "panels" if (root / "panels").is_dir() else root
        samples = _panel_samples(folder)
    else:
        ebd_root = root / "ebdtheque" if (root / "ebdtheque" / "GT").is_dir() else root
        out = Path(export_dir) if export_dir else paths.data_dir() / "ebdtheque_cropped" / root.resolve().name
        if not (out / "manifest.csv").is_file():
            ebdtheque.export_text_mask_crops(ebd_root, out, seed=seed)
        samples = _panel_samples(out)
    return TextData(source, root, samples, int(image_size), resize_scale(samples["train"], image_size))


def augment_config(enabled: bool = True) -> AugmentConfig | None:
    """Flip, zoom-crop up to 1.5× (scale robustness for pages) and mild colour changes."""
    if not enabled:
        return None
    return AugmentConfig(flip_prob=0.5, scale_prob=0.5, scale_range=(1.0, 1.5), brightness=0.1, contrast=0.2,
                         saturation=0.2, hue=0.02)


def make_datasets(data: TextData, split: str, *, batch_size: int = 16, training: bool = False,
                  augment: bool = True, seed: int = 0):
    """``(image, mask)`` batches of a split (shuffled, augmented and cached when ``training``)."""
    ds = pipelines.make_dataset(
        data.samples[split],
        keys=_KEYS,
        size=(data.image_size, data.image_size),
        batch_size=batch_size,
        shuffle=training,
        augment=augment_config(augment) if training else None,
        seed=seed,
        cache=True,
    )
    return ds.map(lambda e: (e["image"], e["text_mask"]))


def load_arrays(data: TextData, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, S, S, 3) float32, masks (N, S, S) bool)`` of a split at the training size."""
    n = len(data.samples[split]) if limit is None else min(limit, len(data.samples[split]))
    ds = pipelines.make_dataset(data.samples[split][:n], keys=_KEYS, size=(data.image_size, data.image_size),
                                batch_size=32)
    arrays = pipelines.to_numpy(ds, n)
    return arrays["image"], arrays["text_mask"][..., 0] > 0.5


# --------------------------------------------------------------------------- training


@dataclass
class TextTrainResult:
    """A finished training run.

    Attributes:
        model: the model with the weights of the best epoch (highest ``val_iou50``).
        history: per-epoch values (``loss``, ``iou50``, ``val_loss``, ``val_iou50``, ...).
        best_epoch: 1-based epoch kept.
        best_val_iou50: its validation IoU at 0.5.
        epochs: epochs run in total.
        run_dir: the run folder.
        seconds: wall time of this call.
    """

    model: Any
    history: dict[str, list[float]]
    best_epoch: int
    best_val_iou50: float
    epochs: int
    run_dir: Path
    seconds: float
    model_params: dict = field(default_factory=dict)


def build_model(*, encoder: str = "tiny", weights: str | None = None, decoder_filters: Sequence[int] | None = None,
                attention: bool = True, bn_momentum: float = 0.9, seed: int = 0):
    """The text U-Net (:func:`~comicdepth_tf.models.text_unet.build_text_unet`), seeded, under the
    devices :func:`use_devices` chose (:func:`comicdepth_tf.training.build`); any input size."""
    from comicdepth_tf import training
    from comicdepth_tf.models.text_unet import build_text_unet

    return training.build(build_text_unet, seed=seed, encoder=encoder, input_shape=(None, None, 3), weights=weights,
                          decoder_filters=None if decoder_filters is None else list(decoder_filters),
                          attention=attention, bn_momentum=bn_momentum)


def steps_per_epoch(data: TextData, batch_size: int) -> int:
    """Training steps of one epoch: every training panel once (the last batch may be smaller)."""
    return math.ceil(len(data.samples["train"]) / batch_size)


def compile_model(model, *, steps_per_epoch: int, epochs: int, learning_rate: float = 2e-3):
    """Compile the text U-Net: Adam with a cosine decay to 1 % over the run, BCE + Dice loss, IoU at 0.5 logged.

    Args:
        model: from :func:`build_model`.
        steps_per_epoch, epochs: the run's length (:func:`steps_per_epoch`), which the schedule spans.
        learning_rate: initial learning rate.
    """
    from comicdepth_tf import training

    training.compile_model(model, loss=td.bce_dice_loss(), metrics=[td.iou_metric()], optimizer="adam",
                           learning_rate=learning_rate, lr_schedule="cosine", steps_per_epoch=steps_per_epoch,
                           epochs=epochs, settings={"loss": "bce+dice", "learning_rate": float(learning_rate)})


def fit(model, data: TextData, *, run_dir: str | os.PathLike, epochs: int = 20, batch_size: int = 16,
        augment: bool = True, seed: int = 0, resume: bool = True, verbose: int = 0) -> TextTrainResult:
    """Train a compiled text U-Net; keep the epoch of highest validation IoU at 0.5.

    Every epoch records ``iou50`` and ``val_iou50`` in ``history.csv``; the best one is saved to
    ``best_iou50.keras`` (:func:`comicdepth_tf.text_detection.make_best_epoch_checkpoint`) and
    its weights are loaded into the returned model. The run resumes when ``run_dir`` holds an
    unfinished run (see :func:`comicdepth_tf.training.fit`).

    Args:
        model: from :func:`build_model` and :func:`compile_model`.
        data: the panels.
        run_dir: the run folder.
        epochs: epochs of the run.
        batch_size: panels per step.
        augment: flips and colour jitter.
        seed: shuffling and augmentation (the weights' seed is :func:`build_model`'s).
        resume: continue an unfinished run in ``run_dir``.
        verbose: Keras' progress output.
    """
    from comicdepth_tf import training

    steps = steps_per_epoch(data, batch_size)
    training.check_compiled_steps(model, steps, f"{len(data.samples['train'])} panels in batches of {batch_size}")
    t0 = time.perf_counter()
    train_ds = make_datasets(data, "train", batch_size=batch_size, training=True, augment=augment, seed=seed)
    val_ds = make_datasets(data, "val", batch_size=batch_size)
    with pipelines.data_errors():
        fitted = training.fit(
            model, train_ds, val_ds, run_dir=run_dir, epochs=epochs, monitor="val_loss",
            extra_callbacks=[td.make_best_epoch_checkpoint(run_dir)], restore_best=False, resume=resume, seed=seed,
            progress_monitor=td.MONITOR, verbose=verbose,
        )
    state = td.restore_best_epoch(fitted.model, run_dir)
    return TextTrainResult(fitted.model, fitted.history, int(state["best_epoch"]), float(state["best"]),
                           fitted.epochs_completed, Path(run_dir), time.perf_counter() - t0,
                           training.recipe(model).get("build", {}))


def train(data: TextData, *, run_dir: str | os.PathLike, encoder: str = "tiny", weights: str | None = None,
          decoder_filters: Sequence[int] | None = None, attention: bool = True, epochs: int = 20,
          batch_size: int = 16, learning_rate: float = 2e-3, augment: bool = True, bn_momentum: float = 0.9,
          seed: int = 0, resume: bool = True, verbose: int = 0) -> TextTrainResult:
    """:func:`build_model`, :func:`compile_model` and :func:`fit` in one call (the arguments are theirs)."""
    model = build_model(encoder=encoder, weights=weights, decoder_filters=decoder_filters, attention=attention,
                        bn_momentum=bn_momentum, seed=seed)
    compile_model(model, steps_per_epoch=steps_per_epoch(data, batch_size), epochs=epochs, learning_rate=learning_rate)
    return fit(model, data, run_dir=run_dir, epochs=epochs, batch_size=batch_size, augment=augment, seed=seed,
               resume=resume, verbose=verbose)


# --------------------------------------------------------------------------- evaluation


def predict_arrays(model, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(N, H, W) probabilities of a stack of images at their size."""
    out = [td.as_predict_fn(model)(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(out, axis=0)


@dataclass
class SplitPrediction:
    """Images, ground truth and predicted probabilities of one split at the training size."""

    split: str
    images: np.ndarray
    masks: np.ndarray
    probs: np.ndarray


def predict_split(model, data: TextData, split: str, limit: int | None = None) -> SplitPrediction:
    """Predict one split at the training size."""
    images, masks = load_arrays(data, split, limit)
    return SplitPrediction(split, images, masks, predict_arrays(model, images))


def evaluate(model, data: TextData, thresholds: Sequence[float] = td.DEFAULT_THRESHOLDS) -> tuple[dict, dict]:
    """Validation sweep, chosen threshold, test IoU at 0.5 and at it, trivial masks.

    Returns:
        ``(metrics, predictions)``: metrics ``threshold``, ``val_iou50``, ``val_iou_opt``,
        ``test_iou50``, ``test_iou_opt``, ``{split}_iou_all_text``, ``{split}_iou_no_text``,
        ``{split}_text_fraction``; predictions ``{"val": SplitPrediction, "test": …, "sweep": …}``.
    """
    val = predict_split(model, data, "val")
    sweep = td.sweep_thresholds(val.probs, val.masks, thresholds)
    threshold, val_opt = td.best_threshold(sweep)
    metrics = {"threshold": threshold, "val_iou50": td.iou(val.probs, val.masks, 0.5), "val_iou_opt": val_opt}
    preds = {"val": val, "sweep": sweep}
    splits = ["val"] + (["test"] if data.samples.get("test") else [])
    for split in splits:
        pred = val if split == "val" else predict_split(model, data, split)
        preds[split] = pred
        if split == "test":
            metrics["test_iou50"] = td.iou(pred.probs, pred.masks, 0.5)
            metrics["test_iou_opt"] = td.iou(pred.probs, pred.masks, threshold)
        trivial = td.trivial_ious(pred.masks)
        metrics[f"{split}_iou_all_text"] = trivial["all_text"]
        metrics[f"{split}_iou_no_text"] = trivial["no_text"]
        metrics[f"{split}_text_fraction"] = float(pred.masks.mean())
    return metrics, preds


def real_page_check(detector: td.TextDetector, real_dir: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """Predict the real page ``comics/006013.jpg`` and compare with its weak mask ``mask-006013.png``.

    The reference mask was made by another project's model, so the IoU is a sanity figure
    (reported, never a pass/fail threshold).

    Returns:
        ``{"image", "prob", "reference", "iou", "iou_all_text"}``, or None when the files are absent
        (a ``COMICDEPTH_REAL_DATA`` that names no folder is a ``ParameterError``).
    """
    folder = Path(real_dir) if real_dir is not None else paths.real_data_dir()
    if folder is None or not (folder / "comics" / "006013.jpg").is_file():
        return None
    image = fileio.read_image(folder / "comics" / "006013.jpg")
    prob = detector.probability(image)
    reference = None
    if (folder / "comics" / "mask-006013.png").is_file():
        reference = fileio.read_mask(folder / "comics" / "mask-006013.png")
        if reference.shape != prob.shape:
            import cv2

            reference = cv2.resize(reference.astype(np.uint8), prob.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    result = {"image": image, "prob": prob, "reference": reference, "iou": None, "iou_all_text": None}
    if reference is not None:
        result["iou"] = td.iou(prob, reference, detector.threshold)
        result["iou_all_text"] = td.trivial_ious(reference)["all_text"]
    return result


# --------------------------------------------------------------------------- text-free crops, masks


def single_panel_images(data_dir: str | os.PathLike = "", *, profile: str = "cpu", seed: int = 0,
                        out_dir: str | os.PathLike | None = None) -> Path:
    """A folder of single-panel images cut from DCM772 pages (the seed's source of text-free crops).

    Args:
        data_dir: a DCM772 folder (``images/``, ``groundtruth/``), an embedded root holding
            ``dcm772/``, or empty for the embedded dataset of ``profile``.
        out_dir: where the crops go (default ``<data>/dcm_cropped/<folder name>``); reused when
            its manifest exists.

    Returns:
        The folder holding ``images/``.
    """
    if data_dir:
        root = Path(data_dir).expanduser()
    else:
        from comicdepth_tf.data import synthetic

        root = synthetic.ensure_dataset(profile, seed=seed)
    dcm_root = root / "dcm772" if (root / "dcm772" / "groundtruth").is_dir() else root
    out = Path(out_dir) if out_dir else paths.data_dir() / "dcm_cropped" / root.resolve().name
    if not (out / "manifest.csv").is_file():
        dcm.export_panel_crops(dcm_root, out)
    return out


def save_run(model, run_dir: str | os.PathLike, cfg, metrics: dict, *, data: TextData, threshold: float,
             result: TextTrainResult | None = None, extra: dict | None = None) -> Path:
    """Save the run with what later stages need to use it (threshold, tile, page scale).

    ``config.json`` gets the notebook config plus ``model: "text_unet"``, ``threshold``,
    ``image_size`` (the tile), ``page_scale``, ``tile_overlap``, ``data_source``, the builder
    arguments and ``best_epoch``; later stages load it with
    :func:`comicdepth_tf.text_detection.load_text_detector` by run id.
    """
    from comicdepth_tf.models.registry import save_model

    config = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    config.update({"model": td.MODEL_NAME, "threshold": float(threshold), "image_size": int(data.image_size),
                   "page_scale": float(data.page_scale), "tile_overlap": 0.5, "data_source": data.source,
                   "data_root": str(data.root)})
    if result is not None:
        config.update({"builder": result.model_params, "best_epoch": result.best_epoch, "epochs_run": result.epochs})
    config.update(extra or {})
    return save_model(model, run_dir, config, metrics)


# --------------------------------------------------------------------------- figures


def plot_sweep(sweep: dict, threshold: float, trivial: dict[str, float] | None = None):
    """Validation IoU against threshold, the chosen threshold and the trivial masks."""
    from comicdepth_tf.viz import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(sweep["threshold"], sweep["iou"], label="U-Net")
    ax.axvline(threshold, color="k", ls=":", lw=0.8, label=f"chosen {threshold:.2f}")
    for name, value in (trivial or {}).items():
        ax.axhline(
            value, ls="--", lw=0.8, color="grey" if name == "no_text" else "tab:red", label=f"{name} {value:.3f}"
        )
    ax.set_xlabel("threshold")
    ax.set_ylabel("validation IoU")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def overlay_grid(pred: SplitPrediction, threshold: float, n: int = 6, size: float = 2.6):
    """Per image: ground truth (green), prediction ≥ threshold (red), probability map."""
    from comicdepth_tf import viz

    images, titles = [], []
    order = np.argsort(-pred.masks.reshape(len(pred.masks), -1).mean(1))[:n]  # the most textual first
    for i in order:
        image = pred.images[i]
        hit = pred.probs[i] >= threshold
        images += [viz.overlay_mask(image, pred.masks[i], (0, 200, 0)), viz.overlay_mask(image, hit, (255, 0, 0)),
                   pred.probs[i]]
        titles += ["truth", f"IoU {td.iou(pred.probs[i], pred.masks[i], threshold):.2f}", "probability"]
    return viz.show_images(images, titles, ncols=6, size=size)


def page_figure(check: dict, threshold: float, size: float = 4.0):
    """Real page: prediction overlay, probability, weak reference mask."""
    from comicdepth_tf import viz

    images = [viz.overlay_mask(check["image"], check["prob"] >= threshold, (255, 0, 0)), check["prob"]]
    titles = [f"prediction ≥ {threshold:.2f}", "probability"]
    if check["reference"] is not None:
        images.append(viz.overlay_mask(check["image"], check["reference"], (0, 120, 255)))
        titles.append(f"weak reference (IoU {check['iou']:.2f})")
    return viz.show_images(images, titles, ncols=len(images), size=size)


def crops_figure(rows: list[dict], out_dir: str | os.PathLike, n: int = 8, size: float = 2.2):
    """The first text-free crops with their side and maximum probability."""
    from comicdepth_tf import viz

    rows = rows[:n]
    if not rows:
        return None
    images = [fileio.read_image(Path(out_dir) / r["file"]) for r in rows]
    return viz.show_images(images, [f"{r['size']} px, max {r['max_prob']:.3f}" for r in rows], ncols=min(4, len(rows)),
                           size=size)
