"""The logic of notebook ``10_depth_irv2``: natural RGB-D data, training, evaluation, figures, saving.

Seed 002: an Inception-ResNet-v2 encoder with a U-Net decoder (skip connections, attention
gates) trained on natural RGB-D images, scored with δ1/δ2/δ3, AbsRel, RMSE, log10. The trained
model is also seed 001's natural-image depth estimator, which later stages use as pseudo
ground truth; they find it through ``saved_models/depth_irv2/latest-<profile>.json``.

Data (:func:`load_depth_data`): the embedded dataset's ``nyu/`` folder (the natural RGB-D set of
a profile), or a NYU Depth v2 folder in the Kaggle layout. ``nyu2_train.csv`` is the training
split and ``nyu2_test.csv`` the **validation** split (the seed's usage; NYU has no separate
validation list).

Evaluation (:func:`evaluate`), on the validation split at the training size:

* ``val_*``: the standard metrics on the raw prediction (metric and inverse-depth outputs);
* ``val_median_*``: after per-image median alignment (scale-free quality);
* ``seed_*``: the seed's protocol (per-image min-max normalised, one fixed scale);
* ``baseline_mean_*``: predicting the training set's mean depth everywhere, the floor any model
  must beat; ``abs_rel_vs_baseline`` is the model's AbsRel divided by the baseline's.

The three real sensor pairs (:func:`evaluate_real`) are scored after median alignment only: a
model trained on the toy world has no metric scale for real rooms.

Typical use (what the notebook does)::

    from comicdepth_tf.stages import depth as de

    data = de.load_depth_data("", profile="cpu")
    model = de.build_model(encoder="mobilenetv2", seed=0)
    de.compile_model(model, steps_per_epoch=de.steps_per_epoch(data, 8), epochs=8, loss="log_depth")
    result = de.fit(model, data, run_dir=run_dir, size=(96, 128), epochs=8, batch_size=8)
    metrics, arrays = de.evaluate(result.model, data, size=(96, 128))

:func:`train` does the three steps in one call.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from comicdepth_tf import paths
from comicdepth_tf.data import pipelines
from comicdepth_tf.data.augment import AugmentConfig
from comicdepth_tf.data.formats import nyu, rgbd
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.inference import MODEL_NAME

# isort: split
# Re-exported: the notebook imports its stage module only, and calls them as ``de.<name>``.
from comicdepth_tf.inference import make_predict_fn, predict_files  # noqa: F401
from comicdepth_tf.runs import new_run_dir  # noqa: F401
from comicdepth_tf.training import use_devices  # noqa: F401

STAGE = "10_depth_irv2"
#: Metrics monitored by the training run (Keras' ``val_`` prefix is added for validation).
TRAIN_METRICS = ("delta1", "abs_rel", "rmse")


# --------------------------------------------------------------------------- data


@dataclass
class DepthData:
    """Natural RGB-D records per split.

    Attributes:
        source: ``embedded`` or ``nyu`` (a NYU Kaggle folder).
        root: the folder read.
        train: training records (``nyu2_train.csv``).
        val: validation records (``nyu2_test.csv``).
    """

    source: str
    root: Path
    train: list
    val: list

    def counts(self) -> dict[str, int]:
        """Number of images per split."""
        return {"train": len(self.train), "val": len(self.val)}


def _subset(records: list, limit: int, seed: int) -> list:
    """At most ``limit`` records (0 = all), drawn evenly by a seeded permutation, in file order."""
    if not limit or limit >= len(records):
        return list(records)
    keep = np.sort(np.random.default_rng(seed).permutation(len(records))[:limit])
    return [records[i] for i in keep]


def load_depth_data(data_dir: str | os.PathLike = "", *, profile: str = "cpu", seed: int = 0,
                    max_train: int = 0, max_val: int = 0) -> DepthData:
    """Training and validation records of a natural RGB-D set.

    Args:
        data_dir: a NYU Depth v2 folder in the Kaggle layout (``nyu_data/`` or the folder holding
            ``data/nyu2_train.csv``; a relative path that does not exist from the working folder
            is looked up under :func:`comicdepth_tf.paths.data_dir`); empty for the embedded
            dataset of ``profile`` (generated when missing).
        profile: embedded dataset profile.
        seed: embedded dataset seed; also draws the subsets.
        max_train: keep at most this many training images (0 = all).
        max_val: keep at most this many validation images (0 = all).

    Raises:
        DataFormatError: no NYU CSVs, or a split missing.
    """
    if data_dir:
        root, source = Path(data_dir).expanduser(), "nyu"
        if not root.is_absolute() and not root.exists() and (paths.data_dir() / root).exists():
            root = paths.data_dir() / root  # profiles name folders relative to data/ (e.g. nyu_data)
    else:
        from comicdepth_tf.data import synthetic

        root, source = synthetic.ensure_dataset(profile, seed=seed) / "nyu", "embedded"
    splits = nyu.load_nyu(root)
    for split, csv_name in (("train", "nyu2_train.csv"), ("test", "nyu2_test.csv")):
        if not splits.get(split):
            role = "validation" if split == "test" else "training"
            raise DataFormatError(root, csv_name, f"a non-empty {csv_name} (the {role} split)")
    return DepthData(source, root, _subset(splits["train"], max_train, seed), _subset(splits["test"], max_val, seed))


def augment_config(enabled: bool = True) -> AugmentConfig | None:
    """Horizontal flips and mild colour jitter; no zoom (a zoom would change the apparent
    distance without changing the depth targets)."""
    if not enabled:
        return None
    return AugmentConfig(flip_prob=0.5, scale_prob=0.0, brightness=0.08, contrast=0.15, saturation=0.15, hue=0.02)


def make_dataset(records: Sequence, *, size: Sequence[int], batch_size: int, training: bool = False,
                 augment: bool = True, cache: bool = True, seed: int = 0, output: str = "metric"):
    """``(image, target)`` batches of records at ``size`` (shuffled and augmented when ``training``).

    Decoded, resized examples are cached in memory when ``cache`` (the embedded set is small;
    pass ``cache=False`` for the full NYU set). Targets follow the model's ``output`` convention
    (:func:`comicdepth_tf.training.targets_for_output`).
    """
    from comicdepth_tf.training import targets_for_output

    ds = pipelines.rgbd_dataset(records, size=tuple(size), batch_size=batch_size, shuffle=training,
                                augment=augment_config(augment) if training else None, seed=seed, cache=cache,
                                drop_remainder=training)
    return targets_for_output(ds, output)


def load_arrays(records: Sequence, size: Sequence[int], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, H, W, 3) float32 in [0, 1], depth (N, H, W) metres)`` at ``size``."""
    ds = pipelines.rgbd_dataset(records, size=tuple(size), batch_size=batch_size)
    images, depth = pipelines.to_numpy(ds, len(records))
    return images, depth[..., 0]


def _batches(records: Sequence, size: Sequence[int], batch_size: int = 32):
    """``(images, depth (B, H, W))`` NumPy batches at ``size``, in record order, decoding errors as DataFormatError."""
    ds = pipelines.rgbd_dataset(records, size=tuple(size), batch_size=batch_size)
    with pipelines.data_errors():
        for images, depth in ds:
            yield images.numpy(), depth.numpy()[..., 0]


def train_mean_depth(records: Sequence, size: Sequence[int], limit: int = 2000, seed: int = 0) -> float:
    """Mean valid depth (metres) over the training images (a seeded sample of ``limit`` at most), streamed."""
    total, count = 0.0, 0
    for _, depth in _batches(_subset(list(records), limit, seed), size):
        valid = depth > 0
        total += float(depth[valid].sum(dtype=np.float64))
        count += int(valid.sum())
    return total / count if count else float("nan")


# --------------------------------------------------------------------------- losses

#: The loss the cpu profile trains with (:class:`comicdepth_tf.losses.LogDepthLoss`).
LOG_DEPTH_LOSS = "log_depth"


def make_loss(name: str, **kwargs):
    """A training loss by name (:func:`comicdepth_tf.losses.get_loss`); ``kwargs`` override its weights."""
    from comicdepth_tf.losses import get_loss

    return get_loss(name, **kwargs)


# --------------------------------------------------------------------------- training


@dataclass
class DepthTrainResult:
    """A finished training run.

    Attributes:
        model: the model with the best epoch's weights (lowest ``val_abs_rel``).
        history: per-epoch values from ``history.csv``.
        best_epoch: 1-based epoch kept.
        epochs: epochs run in total (resumed ones included).
        run_dir: the run folder.
        seconds: wall time of this call (only the reload when the run had already finished).
        cpu_seconds: process CPU time of this call (all threads): the budget measure on shared machines.
        builder: the arguments of :func:`~comicdepth_tf.models.depth_unet.build_depth_unet`.
        train: the training settings.
    """

    model: Any
    history: dict[str, list[float]]
    best_epoch: int | None
    epochs: int
    run_dir: Path
    seconds: float
    cpu_seconds: float
    builder: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)


def build_model(*, encoder: str = "irv2", weights: str | None = None, decoder_filters: Sequence[int] | None = None,
                attention: bool = True, output: str = "metric", max_depth: float = 10.0, bn_momentum: float = 0.9,
                seed: int = 0):
    """The depth U-Net (:func:`~comicdepth_tf.models.depth_unet.build_depth_unet`), seeded, under the
    devices :func:`use_devices` chose (:func:`comicdepth_tf.training.build`); any input size."""
    from comicdepth_tf import training
    from comicdepth_tf.models.depth_unet import build_depth_unet

    return training.build(build_depth_unet, seed=seed, encoder=encoder, input_shape=[None, None, 3], weights=weights,
                          decoder_filters=None if not decoder_filters else [int(f) for f in decoder_filters],
                          attention=bool(attention), output=output, max_depth=float(max_depth),
                          bn_momentum=float(bn_momentum))


def steps_per_epoch(data: DepthData, batch_size: int) -> int:
    """Training steps of one epoch (whole batches).

    Raises:
        ParameterError: ``batch_size`` is larger than the training set.
    """
    steps = len(data.train) // batch_size
    if steps < 1:
        raise ParameterError(f"batch_size {batch_size} is larger than the {len(data.train)} training images")
    return steps


def compile_model(model, *, steps_per_epoch: int, epochs: int, learning_rate: float = 1e-3,
                  warmup_epochs: float = 0.0, loss: str = "depth", loss_args: dict | None = None):
    """Compile the depth U-Net: Adam with a cosine decay to 1 % over the run (after a linear warm-up
    of ``warmup_epochs``), the named loss (:func:`make_loss`), δ1, AbsRel and RMSE as metrics.

    Args:
        model: from :func:`build_model`.
        steps_per_epoch, epochs: the run's length (:func:`steps_per_epoch`), which the schedule spans.
        learning_rate: peak learning rate.
        warmup_epochs: linear warm-up length, in epochs (fractions allowed).
        loss: ``depth`` (the seed's SSIM + edge + L1 on metres, weights 1, 1, 0.3), ``log_depth``
            (the same on ``log(1 + depth)``), ``l1`` or ``ssi``.
        loss_args: the loss's keyword arguments (e.g. ``{"w_l1": 1.0}``).
    """
    from comicdepth_tf import training

    settings = dict(learning_rate=float(learning_rate), warmup_epochs=float(warmup_epochs), loss=loss,
                    loss_args=dict(loss_args or {}), steps_per_epoch=int(steps_per_epoch))
    training.compile_model(model, loss=make_loss(loss, **(loss_args or {})), metrics=TRAIN_METRICS,
                           optimizer="adam", learning_rate=learning_rate, lr_schedule="cosine",
                           steps_per_epoch=steps_per_epoch, epochs=epochs,
                           warmup_steps=int(round(warmup_epochs * steps_per_epoch)), settings=settings)


def fit(model, data: DepthData, *, run_dir: str | os.PathLike, size: Sequence[int] = (96, 128), epochs: int = 8,
        batch_size: int = 8, augment: bool = True, cache: bool = True, early_stopping_patience: int | None = None,
        seed: int = 0, resume: bool = True, verbose: int = 0) -> DepthTrainResult:
    """Train a compiled depth U-Net with :func:`comicdepth_tf.training.fit`; keep the epoch of lowest validation AbsRel.

    Args:
        model: from :func:`build_model` and :func:`compile_model`.
        data: the records.
        run_dir: the run folder (an unfinished run there resumes when ``resume``, if it was made
            from the same model, compilation, settings and records: :func:`run_identity`).
        size: training ``(height, width)``.
        epochs: epochs of the run.
        batch_size: images per step.
        augment: flips and colour jitter.
        cache: cache decoded examples in memory.
        early_stopping_patience: epochs without a better ``val_abs_rel`` before stopping.
        seed: shuffling and augmentation (the weights' seed is :func:`build_model`'s).
        resume: continue an unfinished run in ``run_dir``.
        verbose: Keras' progress output.
    """
    from comicdepth_tf import training

    recipe = training.recipe(model)
    builder, compiled = recipe.get("build", {}), recipe.get("compile", {})
    output = builder.get("output", "metric")
    steps = steps_per_epoch(data, batch_size)
    training.check_compiled_steps(model, steps, f"{len(data.train)} images in batches of {batch_size}")
    settings = dict(size=[int(v) for v in size], epochs=int(epochs), batch_size=int(batch_size),
                    learning_rate=compiled.get("learning_rate"), warmup_epochs=compiled.get("warmup_epochs"),
                    loss=compiled.get("loss"), loss_args=compiled.get("loss_args", {}), augment=bool(augment),
                    cache=bool(cache), mixed_precision=training.model_precision(model), seed=int(seed),
                    steps_per_epoch=steps)
    train_ds = make_dataset(data.train, size=size, batch_size=batch_size, training=True, augment=augment, cache=cache,
                            seed=seed, output=output)
    val_ds = make_dataset(data.val, size=size, batch_size=batch_size, cache=cache, output=output)
    t0, c0 = time.perf_counter(), time.process_time()
    with pipelines.data_errors():
        fitted = training.fit(model, train_ds, val_ds, run_dir=run_dir, epochs=epochs, monitor="val_abs_rel",
                              early_stopping_patience=early_stopping_patience, resume=resume, seed=seed,
                              verbose=verbose, identity=run_identity(data, builder, settings))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return DepthTrainResult(fitted.model, fitted.history, fitted.best_epoch, fitted.epochs_completed, Path(run_dir),
                            seconds, cpu, builder, settings)


def train(data: DepthData, *, run_dir: str | os.PathLike, encoder: str = "irv2", weights: str | None = None,
          decoder_filters: Sequence[int] | None = None, attention: bool = True, output: str = "metric",
          max_depth: float = 10.0, size: Sequence[int] = (96, 128), epochs: int = 8, batch_size: int = 8,
          learning_rate: float = 1e-3, warmup_epochs: float = 0.0, loss: str = "depth", loss_args: dict | None = None,
          bn_momentum: float = 0.9, augment: bool = True, cache: bool = True,
          early_stopping_patience: int | None = None, seed: int = 0, resume: bool = True,
          verbose: int = 0) -> DepthTrainResult:
    """:func:`build_model`, :func:`compile_model` and :func:`fit` in one call (the arguments are theirs)."""
    model = build_model(encoder=encoder, weights=weights, decoder_filters=decoder_filters, attention=attention,
                        output=output, max_depth=max_depth, bn_momentum=bn_momentum, seed=seed)
    compile_model(model, steps_per_epoch=steps_per_epoch(data, batch_size), epochs=epochs,
                  learning_rate=learning_rate, warmup_epochs=warmup_epochs, loss=loss, loss_args=loss_args)
    return fit(model, data, run_dir=run_dir, size=size, epochs=epochs, batch_size=batch_size, augment=augment,
               cache=cache, early_stopping_patience=early_stopping_patience, seed=seed, resume=resume, verbose=verbose)


def run_identity(data: DepthData, builder: dict, settings: dict) -> dict[str, Any]:
    """What a run of :func:`train` is made from besides its folder: the model, the settings but
    ``epochs`` (a finished run may be continued), and which records it reads (by name: a data
    folder may move). A run folder whose checkpoint has another identity trains again instead
    of resuming."""
    names = [f"{r.name}:{r.codec}" for r in data.train] + ["--"] + [f"{r.name}:{r.codec}" for r in data.val]
    return {"builder": builder, "settings": {k: v for k, v in settings.items() if k != "epochs"},
            "data": {"source": data.source, "records": hashlib.sha256("\n".join(names).encode()).hexdigest()}}


# --------------------------------------------------------------------------- evaluation


def _pred_space(output: str) -> str:
    return "inverse" if output == "inverse" else "depth"


def prefixed(metrics: dict, prefix: str) -> dict:
    """``{prefix + key: value}`` without the pixel/image counts."""
    return {f"{prefix}{k}": v for k, v in metrics.items() if k not in ("n_images", "n_pixels")}


def _families(pred: np.ndarray, gt: np.ndarray, output: str, max_depth: float | None) -> dict[str, dict]:
    """Metric families of one batch by key prefix, each with its ``n_images`` (for averaging batches)."""
    from comicdepth_tf.metrics import depth_metrics, seed_protocol_metrics

    space = _pred_space(output)
    out: dict[str, dict] = {}
    if output in ("metric", "inverse"):  # both carry a metric scale; relative outputs do not
        out["val_"] = depth_metrics(pred, gt, max_depth=max_depth, pred_space=space)
    out["val_median_"] = depth_metrics(pred, gt, align="median", max_depth=max_depth, pred_space=space)
    seed_pred = pred if space == "depth" else -pred  # min-max normalisation needs larger = farther
    seed = seed_protocol_metrics(seed_pred, gt, scale=max_depth or 10.0)
    out["seed_"] = {k[len("seed_"):]: v for k, v in seed.items()}
    return out


def _average(parts: list[dict]) -> dict:
    """Per-image metrics of several batches averaged over all their images (weights ``n_images``)."""
    weights = np.array([p["n_images"] for p in parts], dtype=np.float64)
    out = {}
    for key in parts[0]:
        if key in ("n_images", "n_pixels"):
            out[key] = int(sum(p[key] for p in parts))
        elif weights.sum() > 0:
            values = np.array([p[key] if w > 0 else 0.0 for p, w in zip(parts, weights)], dtype=np.float64)
            out[key] = float((values * weights).sum() / weights.sum())
        else:
            out[key] = float("nan")
    return out


def score(pred: np.ndarray, gt: np.ndarray, output: str = "metric", max_depth: float | None = None) -> dict[str, float]:
    """Raw (metric and inverse outputs), median-aligned and seed-protocol metrics of predictions vs ground truth.

    Returns:
        ``val_*``, ``val_median_*`` and ``seed_*`` metrics (see :func:`comicdepth_tf.metrics.depth_metrics`).
    """
    out: dict[str, float] = {}
    for prefix, metrics in _families(pred, gt, output, max_depth).items():
        out.update(prefixed(metrics, prefix))
    return out


def evaluate(model, data: DepthData, *, size: Sequence[int], train_mean: float | None = None, batch_size: int = 16,
             predict_fn=None, keep: int = 32) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Score the model on the validation split at ``size``, next to the mean-depth baseline.

    The split is streamed batch by batch (per-image metrics averaged over all images), so a
    large validation set never has to fit in memory.

    Args:
        model: a trained depth model.
        data: the records (``data.val`` is scored; ``data.train`` gives the baseline's mean).
        size: ``(height, width)`` the images and ground truth are resized to (ground truth by
            nearest neighbour).
        train_mean: the training set's mean depth; computed when None.
        batch_size: images per forward pass.
        predict_fn: a traced function from :func:`comicdepth_tf.inference.make_predict_fn`.
        keep: how many of the first validation images are returned as arrays (for figures).

    Returns:
        ``(metrics, arrays)``: the metrics listed in the module doc plus ``train_mean_depth`` and
        ``val_images``; arrays ``images``, ``gt``, ``pred`` of the first ``keep`` images.
    """
    from comicdepth_tf.inference import head_info
    from comicdepth_tf.metrics import depth_metrics

    head = head_info(model)
    max_depth = head.get("max_depth") if head["output"] == "metric" else None
    mean = train_mean_depth(data.train, size) if train_mean is None else float(train_mean)
    forward = predict_fn or make_predict_fn(model)
    parts: dict[str, list[dict]] = {}
    kept: dict[str, list[np.ndarray]] = {"images": [], "gt": [], "pred": []}
    n_kept = 0
    for images, gt in _batches(data.val, size, batch_size):
        pred = forward(images)
        families = _families(pred, gt, head["output"], max_depth)
        families["baseline_mean_"] = depth_metrics(np.full_like(gt, mean), gt, max_depth=max_depth)
        for prefix, metrics in families.items():
            parts.setdefault(prefix, []).append(metrics)
        if n_kept < keep:
            take = keep - n_kept
            for key, value in (("images", images), ("gt", gt), ("pred", pred)):
                kept[key].append(value[:take])
            n_kept += min(take, len(images))
    metrics: dict[str, Any] = {}
    for prefix, batches in parts.items():
        metrics.update(prefixed(_average(batches), prefix))
    metrics["train_mean_depth"] = mean
    metrics["val_images"] = len(data.val)
    if "val_abs_rel" in metrics and metrics["baseline_mean_abs_rel"] > 0:
        metrics["abs_rel_vs_baseline"] = metrics["val_abs_rel"] / metrics["baseline_mean_abs_rel"]
    return metrics, {key: np.concatenate(value, axis=0) for key, value in kept.items()}


def evaluate_real(model, size: int | Sequence[int], real_dir: str | os.PathLike | None = None, predict_fn=None,
                  max_depth: float | None = 10.0) -> tuple[dict[str, float], list[dict[str, np.ndarray]]] | None:
    """Score the three real sensor pairs (NYU raw, SUN RGB-D, TUM) after per-image median alignment.

    Predictions are made at ``size`` (:func:`comicdepth_tf.inference.predict_depth`) and compared
    at the sensor's 640×480. ``real_const_*`` is a constant prediction under the same alignment
    (every pixel the median of the ground truth): the floor for a scale-free model.

    Returns:
        ``(metrics, rows)`` with ``real_<name>_<metric>`` and ``real_mean_<metric>`` (mean over the
        pairs), and per pair ``{"input", "ground truth", "prediction (median aligned)", "abs error"}``
        for :func:`comicdepth_tf.viz.depth_grid`; None when the check files are absent
        (a ``COMICDEPTH_REAL_DATA`` that names no folder is a ``ParameterError``).
    """
    from comicdepth_tf.inference import head_info, predict_depth
    from comicdepth_tf.metrics import depth_metrics

    folder = Path(real_dir) if real_dir is not None else paths.real_data_dir()
    if folder is None or not ((folder / "rgbd").is_dir() or (folder / "NYU_color.ppm").is_file()):
        return None
    records = rgbd.real_rgbd_records(folder)
    space = _pred_space(head_info(model)["output"])
    pairs = [rgbd.load_rgbd_pair(r) for r in records]
    preds = predict_depth(model, [rgb for rgb, _ in pairs], size=size, batch_size=len(pairs), predict_fn=predict_fn)
    metrics: dict[str, float] = {}
    per_pair, const, rows = [], [], []
    for record, (rgb, gt), pred in zip(records, pairs, preds):
        m = depth_metrics(pred, gt, align="median", max_depth=max_depth, pred_space=space)
        c = depth_metrics(np.ones_like(gt), gt, align="median", max_depth=max_depth)
        metrics.update(prefixed(m, f"real_{record.name.lower()}_"))
        per_pair.append(m)
        const.append(c)
        valid = (gt > 0) & (gt <= (max_depth or np.inf))
        depth_like = pred if space == "depth" else 1.0 / np.maximum(pred, 1e-6)
        # The same per-image scale as depth_metrics(align="median"): median(gt) / median(pred).
        median_pred = float(np.median(depth_like[valid])) if valid.any() else 0.0
        aligned = depth_like * (float(np.median(gt[valid])) / median_pred) if median_pred > 0 else depth_like
        rows.append({"input": rgb, "ground truth": gt, "prediction (median aligned)": aligned,
                     "abs error": np.where(valid, np.abs(aligned - gt), np.nan)})
    for key in ("delta1", "abs_rel", "rmse", "log10"):
        metrics[f"real_mean_{key}"] = float(np.mean([m[key] for m in per_pair]))
        metrics[f"real_const_{key}"] = float(np.mean([c[key] for c in const]))
    return metrics, rows


# --------------------------------------------------------------------------- figures


def prediction_grid(arrays: dict[str, np.ndarray], n: int = 4, seed: int = 0):
    """Input / ground truth / prediction / absolute error for ``n`` validation images (seeded pick)."""
    from comicdepth_tf import viz

    count = len(arrays["images"])
    picks = np.sort(np.random.default_rng(seed).permutation(count)[: min(n, count)])
    rows = []
    for i in picks:
        gt, pred = arrays["gt"][i], arrays["pred"][i]
        rows.append({"input": arrays["images"][i], "ground truth": gt, "prediction": pred,
                     "abs error": np.where(gt > 0, np.abs(pred - gt), np.nan)})
    return viz.depth_grid(rows, size=2.6)


def metrics_table(metrics: dict[str, float]) -> "Any":
    """A DataFrame comparing the model (raw and median-aligned) with the mean-depth baseline."""
    import pandas as pd

    from comicdepth_tf.metrics import DEPTH_METRIC_KEYS

    rows = {}
    for label, prefix in (("model", "val_"), ("model, median aligned", "val_median_"), ("seed protocol", "seed_"),
                          ("training-mean baseline", "baseline_mean_")):
        if any(f"{prefix}{k}" in metrics for k in DEPTH_METRIC_KEYS):
            rows[label] = {k: metrics.get(f"{prefix}{k}") for k in DEPTH_METRIC_KEYS}
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------- saving


def default_run_id(profile: str, seed: int = 0) -> str:
    """The predictable run id of a profile: ``<profile>-<seed>``."""
    return f"{profile}-{seed}"


def save_run(model, run_dir: str | os.PathLike, cfg, metrics: dict, *, data: DepthData, result: DepthTrainResult,
             profile: str, pointer: bool = True) -> Path:
    """Save the run (``model.keras``, ``config.json``, ``metrics.json``) and point ``latest-<profile>.json`` at it.

    ``config.json`` holds the notebook config plus ``model`` (``depth_irv2``), ``input_size``
    ``[h, w]``, ``predict_size`` (the longer training side, the network size
    ``comicdepth predict`` uses by default), the builder arguments, the training settings, the
    data source and ``best_epoch``. ``history.csv`` is already in the run folder (written by
    :func:`comicdepth_tf.training.fit`).
    """
    from comicdepth_tf.models.registry import save_model
    from comicdepth_tf.runs import write_latest_pointer

    config = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    size = result.train.get("size")
    config.update({"model": MODEL_NAME, "input_size": size, "predict_size": int(max(size)) if size else None,
                   "builder": result.builder, "train": result.train, "best_epoch": result.best_epoch,
                   "epochs_run": result.epochs, "data_source": data.source, "data_root": str(data.root),
                   "data_counts": data.counts()})
    path = save_model(model, run_dir, config, metrics)
    if pointer:
        write_latest_pointer(path, profile)
    return path
