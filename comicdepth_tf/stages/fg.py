"""The logic of notebook ``60_fg_mask_depth``: data, training, evaluation, baseline and figures.

The notebook trains :mod:`comicdepth_tf.models.fg_mask_depth` on MODEST-style pairs (the
embedded set by default, or a MODEST folder) and compares it with the *copy the background's
depth* baseline: predict, for the composite, the depth of the background scene alone, which
is right everywhere except on the foreground. MODEST stores no background depth, so it is
rebuilt from the composites of the same background (:func:`background_depth_maps`): outside
its foreground mask every composite shows the background's depth, so the per-pixel median over
the composites where the pixel is uncovered is the background depth; pixels covered in every
composite take the value of the nearest uncovered pixel.

Typical use (what the notebook does)::

    from comicdepth_tf.stages import fg as fx

    data = fx.load_data(cfg.DATA_DIR, profile=cfg.PROFILE, image_size=(128, 128))
    model = fx.build_model(data, variant="depthnet", seed=0)
    fx.compile_model(model, steps_per_epoch=fx.steps_per_epoch(data), epochs=10, losses="bce+rmse")
    result = fx.fit(model, data, run_dir=run_dir, epochs=10)
    metrics = fx.evaluate(result.model, data)

:func:`train` does the three steps in one call (the loss comparison trains that way).
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from comicdepth_tf.data import pipelines
from comicdepth_tf.data.augment import AugmentConfig
from comicdepth_tf.data.formats import modest
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.sizes import size_hw

# isort: split
# Re-exported: the notebook imports its stage module only, and calls them as ``fx.<name>``.
from comicdepth_tf.runs import new_run_dir  # noqa: F401
from comicdepth_tf.training import use_devices  # noqa: F401

STAGE = "60_fg_mask_depth"
#: Registered model name of each variant (also the folder under ``saved_models/``).
MODEL_NAMES = {"depthnet": "fg_depthnet", "masknet": "fg_masknet"}
SPLITS = ("random", "background")
#: The embedded MODEST set's far plane (``modest_png8``: v / 255 * 10 m); losses divide depth by it.
MAX_DEPTH = 10.0
#: Bound of the model's depth head, above the far plane so the sky (10 m) is reachable.
HEAD_MAX_DEPTH = 1.25 * MAX_DEPTH
_KEYS = {"bg": "image", "bg_fg": "image", "mask": "mask", "depth": "depth"}


# --------------------------------------------------------------------------- data


def modest_root(data_dir: str | os.PathLike = "", profile: str = "cpu", seed: int = 0) -> Path:
    """The MODEST folder to read: ``data_dir`` (or its ``modest/`` sub-folder), else the embedded set.

    Args:
        data_dir: a MODEST folder holding ``file_map.txt``, or a folder with a ``modest/`` inside
            (the embedded dataset root); empty: the embedded dataset of ``profile``, generated
            when missing.
        profile: embedded dataset profile (``smoke``, ``cpu``, ``full``).
        seed: embedded dataset seed.

    Raises:
        DataFormatError: ``data_dir`` given but holds no ``file_map.txt``.
    """
    if not data_dir:
        from comicdepth_tf.data import synthetic

        return synthetic.ensure_dataset(profile, seed=seed) / "modest"
    root = Path(data_dir).expanduser()
    for candidate in (root, root / "modest"):
        if (candidate / "file_map.txt").is_file():
            return candidate
    raise DataFormatError(root / "file_map.txt", "", "a MODEST folder (file_map.txt, bg/, bg_fg/, bg_fg_mask/, "
                          "bg_fg_depth_map/) or a folder with one in modest/")


def split_records(records: Sequence[modest.ModestRecord], val_fraction: float = 0.2, by: str = "random",
                  seed: int = 0) -> tuple[list, list]:
    """Split records into train and validation.

    Args:
        records: the dataset.
        val_fraction: share of records (``random``) or of backgrounds (``background``) for validation.
        by: ``random`` (the seeds' protocol: a background may appear in both splits) or
            ``background`` (validation backgrounds are never seen in training).
        seed: the shuffle seed.

    Raises:
        ParameterError: bad fraction or split name, or too few records/backgrounds for two splits.
    """
    if by not in SPLITS:
        raise ParameterError(f"split must be one of {', '.join(SPLITS)}, got {by!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ParameterError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    rng = random.Random(seed)
    if by == "random":
        order = list(range(len(records)))
        rng.shuffle(order)
        n_val = max(1, round(len(records) * val_fraction))
        if n_val >= len(records):
            raise ParameterError(f"{len(records)} records are too few for a train/validation split")
        val_idx = set(order[:n_val])
    else:
        groups = sorted({str(r.bg) for r in records})
        if len(groups) < 2:
            raise ParameterError(f"split='background' needs at least 2 backgrounds, found {len(groups)}")
        rng.shuffle(groups)
        n_val = min(len(groups) - 1, max(1, round(len(groups) * val_fraction)))
        val_bgs = set(groups[:n_val])
        val_idx = {i for i, r in enumerate(records) if str(r.bg) in val_bgs}
    train = [r for i, r in enumerate(records) if i not in val_idx]
    val = [r for i, r in enumerate(records) if i in val_idx]
    return train, val


def augment_config(enabled: bool = True, flip: bool = True) -> AugmentConfig | None:
    """Photometric changes (hue/saturation/value, brightness/contrast) on the two inputs only.

    ``bg`` and ``bg_fg`` get the *same* colour change (see :mod:`comicdepth_tf.data.augment`), so
    their difference still comes from the foreground; masks and depth never change colour. A
    horizontal flip, applied to inputs and targets together, is the only geometric change.
    """
    if not enabled:
        return None
    return AugmentConfig.photometric_only(flip_prob=0.5 if flip else 0.0, brightness=0.1, contrast=0.2,
                                          saturation=0.2, hue=0.03)


def to_model_io(example: dict, variant: str = "depthnet") -> tuple[dict, dict]:
    """Split a pipeline example into the model's inputs and targets (masknet: no depth target)."""
    inputs = {"bg": example["bg"], "bg_fg": example["bg_fg"]}
    targets = {"mask": example["mask"]}
    if variant != "masknet":
        targets["depth"] = example["depth"]
    return inputs, targets


@dataclasses.dataclass
class FgData:
    """Train/validation records of a MODEST folder and how to feed them to a model.

    Attributes:
        root: the MODEST folder.
        train, val: the records of each split.
        stats: ``{"bg": {"mean", "std"}, "bg_fg": {...}}`` of the training images (for the model's
            ``Normalization`` layers).
        image_size: (H, W) of the model inputs.
        batch_size: examples per batch.
        augment: augmentation of training batches (None: none).
        seed: shuffling and augmentation seed.
    """

    root: Path
    train: list
    val: list
    stats: dict
    image_size: tuple[int, int]
    batch_size: int = 16
    augment: AugmentConfig | None = None
    seed: int = 0
    _val_cache: dict | None = dataclasses.field(default=None, repr=False)

    def dataset(self, split: str = "train", variant: str = "depthnet", *, training: bool | None = None,
                cache: bool = True):
        """``(inputs, targets)`` batches of a split; ``training`` (default: split is train) shuffles and augments."""
        records = self.train if split == "train" else self.val
        training = split == "train" if training is None else training
        ds = pipelines.make_dataset(modest.to_samples(records), keys=_KEYS, size=self.image_size,
                                    batch_size=self.batch_size, shuffle=training,
                                    augment=self.augment if training else None, seed=self.seed, cache=cache)
        return ds.map(lambda e: to_model_io(e, variant))

    def arrays(self, split: str = "val", n: int | None = None) -> dict[str, np.ndarray]:
        """The first ``n`` examples of a split (no augmentation) as NumPy arrays ``bg, bg_fg, mask, depth``."""
        records = self.train if split == "train" else self.val
        n = len(records) if n is None else min(n, len(records))
        if split == "val" and n == len(records) and self._val_cache is not None:
            return self._val_cache
        ds = pipelines.make_dataset(modest.to_samples(records[:n]), keys=_KEYS, size=self.image_size,
                                    batch_size=self.batch_size)
        out = pipelines.to_numpy(ds, n)
        out.pop("valid", None)
        if split == "val" and n == len(records):
            self._val_cache = out
        return out

    def with_size(self, image_size: int | Sequence[int]) -> "FgData":
        """The same records, statistics and settings at another input size."""
        size = size_hw(image_size, name="image_size")
        return dataclasses.replace(self, image_size=size, _val_cache=None) if size != self.image_size else self

    def summary(self) -> dict[str, Any]:
        """Counts and settings, for display and the metrics record."""
        return {"root": str(self.root), "n_train": len(self.train), "n_val": len(self.val),
                "n_backgrounds": len({str(r.bg) for r in self.train + self.val}),
                "image_size": list(self.image_size), "stats": self.stats}


def load_data(data_dir: str | os.PathLike = "", *, profile: str = "cpu", image_size: int | Sequence[int] = 128,
              batch_size: int = 16, val_fraction: float = 0.2, split: str = "random", limit: int | None = None,
              stats_samples: int = 100, augment: bool = True, seed: int = 0) -> FgData:
    """Read a MODEST folder's records, split them and measure the input statistics.

    Args:
        data_dir: see :func:`modest_root` (empty: the embedded set of ``profile``).
        profile: embedded dataset profile.
        image_size: model input size, ``S`` or ``(H, W)``.
        batch_size: examples per batch.
        val_fraction: validation share (see :func:`split_records`).
        split: ``random`` or ``background``.
        limit: read only the first ``limit`` records of ``file_map.txt`` (0 or None: all).
        stats_samples: training records sampled for the per-channel mean/std.
        augment: photometric (+ flip) augmentation of training batches.
        seed: split, statistics, shuffling and augmentation seed.
    """
    size = size_hw(image_size, name="image_size")
    root = modest_root(data_dir, profile, seed)
    records = modest.load_modest(root, limit=limit or None)
    if len(records) < 2:
        raise DataFormatError(root / "file_map.txt", "", "at least 2 composites (train and validation)", len(records))
    train, val = split_records(records, val_fraction, split, seed)
    stats = modest.channel_statistics(train, n=stats_samples, seed=seed)
    return FgData(root, train, val, stats, size, batch_size, augment_config(augment), seed)


# --------------------------------------------------------------------------- training


def build_model(data: FgData, *, variant: str = "depthnet", base_filters: int = 16, l2: float = 1e-8, seed: int = 0,
                precision: str | None = None):
    """A fresh model for ``data`` (its input size and normalisation statistics), seeded, built with
    :func:`comicdepth_tf.training.build`.

    Args:
        data: from :func:`load_data`.
        variant: ``depthnet`` or ``masknet``.
        base_filters: model width.
        l2: L2 factor on the kernels (the seed's 1e-8).
        seed: initial weights seed.
        precision: ``""`` (float32), ``mixed_bfloat16`` (CPUs with AVX512-BF16/AMX),
            ``mixed_float16`` (GPUs) or ``auto`` (see :func:`comicdepth_tf.training.resolve_precision`);
            None: the process's (:func:`comicdepth_tf.training.use_devices`).
    """
    from comicdepth_tf import training
    from comicdepth_tf.models.fg_mask_depth import build_fg_mask_depth

    mixed = None if precision is None else (training.resolve_precision(precision) or False)
    return training.build(build_fg_mask_depth, seed=seed, mixed_precision=mixed, image_size=data.image_size,
                          variant=variant, base_filters=base_filters, max_depth=HEAD_MAX_DEPTH, l2=l2,
                          bg_stats=data.stats["bg"], bg_fg_stats=data.stats["bg_fg"])


def steps_per_epoch(data: FgData) -> int:
    """Training steps of one epoch: every training pair once (the last batch may be smaller)."""
    return math.ceil(len(data.train) / data.batch_size)


def compile_model(model, *, steps_per_epoch: int, epochs: int, losses: str = "bce+rmse", optimizer: str = "adam",
                  learning_rate: float = 1e-3, lr_schedule: str = "cosine"):
    """Compile a model of :func:`build_model` with its losses, optimizer and learning-rate schedule.

    Args:
        model: from :func:`build_model`.
        steps_per_epoch, epochs: the run's length (:func:`steps_per_epoch`), which the schedule spans.
        losses: loss spec (see :func:`comicdepth_tf.models.fg_mask_depth.parse_loss_spec`).
        optimizer: ``adam`` or ``sgd`` (momentum 0.9; the seed used learning rate 0.1).
        learning_rate: initial learning rate.
        lr_schedule: ``constant``, ``cosine`` or ``step`` (see :func:`comicdepth_tf.training.make_lr_schedule`).
    """
    from comicdepth_tf import training
    from comicdepth_tf.models.fg_mask_depth import make_losses

    variant = training.recipe(model).get("build", {}).get("variant", "depthnet")
    training.compile_model(model, loss=make_losses(losses, variant, MAX_DEPTH), metrics=(),
                           optimizer=optimizer, learning_rate=learning_rate, lr_schedule=lr_schedule,
                           steps_per_epoch=steps_per_epoch, epochs=epochs)


def fit(model, data: FgData, *, run_dir: str | os.PathLike, epochs: int = 10, resume: bool = True,
        verbose: int | str = 0):
    """Train a compiled model with :func:`comicdepth_tf.training.fit` (checkpoints, resume, history).

    Args:
        model: from :func:`build_model` and :func:`compile_model`.
        data: from :func:`load_data`.
        run_dir: the run folder (``best.keras``, ``last.keras``, ``history.csv``, …).
        epochs: epochs of training.
        resume: continue an interrupted run in ``run_dir``.
        verbose: Keras progress output.

    Returns:
        :class:`comicdepth_tf.training.FitResult` (``model`` holds the best validation epoch), with
        ``train_seconds`` and ``precision`` (the policy the model computes in) added to ``state``.
    """
    from comicdepth_tf import training

    variant = training.recipe(model).get("build", {}).get("variant", "depthnet")
    start = time.perf_counter()
    with pipelines.data_errors():
        result = training.fit(model, data.dataset("train", variant), data.dataset("val", variant), run_dir=run_dir,
                              epochs=epochs, resume=resume, verbose=verbose)
    result.state["train_seconds"] = time.perf_counter() - start
    result.state["precision"] = training.model_precision(model) or "float32"
    return result


def train(data: FgData, *, run_dir: str | os.PathLike, variant: str = "depthnet", losses: str = "bce+rmse",
          optimizer: str = "adam", learning_rate: float = 1e-3, lr_schedule: str = "cosine", epochs: int = 10,
          base_filters: int = 16, l2: float = 1e-8, seed: int = 0, precision: str | None = None, resume: bool = True,
          verbose: int | str = 0):
    """:func:`build_model`, :func:`compile_model` and :func:`fit` in one call (the arguments are theirs)."""
    from comicdepth_tf.models.fg_mask_depth import make_losses

    make_losses(losses, variant, MAX_DEPTH)  # fails fast on a bad spec, before building
    model = build_model(data, variant=variant, base_filters=base_filters, l2=l2, seed=seed, precision=precision)
    compile_model(model, steps_per_epoch=steps_per_epoch(data), epochs=epochs, losses=losses, optimizer=optimizer,
                  learning_rate=learning_rate, lr_schedule=lr_schedule)
    return fit(model, data, run_dir=run_dir, epochs=epochs, resume=resume, verbose=verbose)


# --------------------------------------------------------------------------- prediction and metrics


def predict(model, arrays: dict[str, np.ndarray], batch_size: int = 16) -> dict[str, np.ndarray]:
    """Model outputs on NumPy inputs: ``mask_logits`` and ``mask_prob`` (B, H, W), ``depth`` (B, H, W) if any."""
    from comicdepth_tf.models.fg_mask_depth import sigmoid

    out = model.predict({"bg": arrays["bg"], "bg_fg": arrays["bg_fg"]}, batch_size=batch_size, verbose=0)
    pred = {"mask_logits": np.asarray(out["mask"])[..., 0]}
    pred["mask_prob"] = sigmoid(pred["mask_logits"])
    if "depth" in out:
        pred["depth"] = np.asarray(out["depth"])[..., 0]
    return pred


def background_depth_maps(records: Sequence[modest.ModestRecord], image_size: Sequence[int],
                          max_per_background: int = 32, codec: str = modest.DEPTH_CODEC) -> dict[str, np.ndarray]:
    """Depth of each background scene alone, rebuilt from its composites (MODEST has no bg depth).

    Outside its foreground mask a composite's depth is the background's, so each pixel takes the
    median over the composites (at most ``max_per_background`` per background) where it is
    uncovered; pixels covered in all of them take the value of the nearest uncovered pixel.

    Args:
        records: every record available (train and validation: the baseline is allowed to know
            the background's depth, that is its premise).
        image_size: (H, W) at which the maps are built (the evaluation size).
        max_per_background: composites read per background.
        codec: depth codec of the records' depth maps.

    Returns:
        ``{str(bg path): (H, W) float32 metres}``.
    """
    height, width = int(image_size[0]), int(image_size[1])
    groups: dict[str, list] = defaultdict(list)
    for r in records:
        if len(groups[str(r.bg)]) < max_per_background:
            groups[str(r.bg)].append(r)
    maps = {}
    for bg, group in groups.items():
        stack = np.full((len(group), height, width), np.nan, np.float32)
        for i, r in enumerate(group):
            depth, mask = pipelines.load_example([str(r.depth), str(r.mask)], ["depth", "mask"], [codec, ""],
                                                 (height, width))
            stack[i] = np.where(mask[..., 0] > 0.5, np.nan, depth[..., 0])
        stack[stack <= 0] = np.nan  # invalid depth never votes
        covered = np.isnan(stack).all(axis=0)
        with np.errstate(all="ignore"):
            depth = np.nanmedian(np.where(covered[None], 0.0, stack), axis=0).astype(np.float32)
        if covered.any() and not covered.all():
            # Pixels hidden in every composite take the value of the nearest uncovered pixel.
            _, (rows, cols) = ndimage.distance_transform_edt(covered, return_indices=True)
            depth = depth[rows, cols]
        maps[bg] = depth
    return maps


def baseline_depth(records: Sequence[modest.ModestRecord], bg_maps: dict[str, np.ndarray]) -> np.ndarray:
    """The *copy the background's depth* prediction for each record: (N, H, W)."""
    return np.stack([bg_maps[str(r.bg)] for r in records])


def mask_and_depth_metrics(pred: dict[str, np.ndarray], arrays: dict[str, np.ndarray],
                           threshold: float = 0.5) -> dict[str, float]:
    """Mask IoU and Dice, and (when predicted) depth RMSE and δ1, overall and on the foreground."""
    from comicdepth_tf.models import fg_mask_depth as fmd

    gt_mask = arrays["mask"][..., 0] > 0.5
    out = {"mask_iou": fmd.mask_iou(pred["mask_prob"], gt_mask, threshold),
           "mask_dice": fmd.mask_dice(pred["mask_prob"], gt_mask, threshold)}
    if "depth" in pred:
        gt = arrays["depth"][..., 0]
        out.update(depth_rmse=fmd.depth_rmse(pred["depth"], gt), depth_delta1=fmd.depth_delta1(pred["depth"], gt),
                   depth_rmse_fg=fmd.depth_rmse(pred["depth"], gt, gt_mask))
    return out


def evaluate(model, data: FgData, baseline: bool = True, threshold: float = 0.5) -> dict[str, float]:
    """Validation metrics of ``model`` and of the baselines.

    Returns:
        ``mask_iou``, ``mask_dice`` (threshold on the sigmoid), ``depth_rmse``, ``depth_delta1``,
        ``depth_rmse_fg`` (on foreground pixels), the same depth numbers prefixed ``baseline_``
        for *copy the background's depth*, ``trivial_mask_iou`` (all background: 0 when any
        foreground exists) and ``n_val``.
    """
    from comicdepth_tf.models import fg_mask_depth as fmd

    arrays = data.arrays("val")
    pred = predict(model, arrays, data.batch_size)
    out = mask_and_depth_metrics(pred, arrays, threshold)
    gt_mask = arrays["mask"][..., 0] > 0.5
    out["trivial_mask_iou"] = fmd.mask_iou(np.zeros_like(gt_mask), gt_mask)
    if baseline:
        base = baseline_depth(data.val, background_depth_maps(data.train + data.val, data.image_size))
        gt = arrays["depth"][..., 0]
        out.update(baseline_depth_rmse=fmd.depth_rmse(base, gt), baseline_depth_delta1=fmd.depth_delta1(base, gt),
                   baseline_depth_rmse_fg=fmd.depth_rmse(base, gt, gt_mask))
    out["n_val"] = len(data.val)
    return out


def compare_losses(data: FgData, specs: str | Sequence[str], *, run_root: str | os.PathLike, epochs: int,
                   variant: str = "depthnet", **train_kwargs):
    """Train one model per loss combination and tabulate their validation metrics.

    Args:
        data: from :func:`load_data`.
        specs: loss specs, a list or a comma-separated string of ``+``-joined terms
            (``"bce+rmse,ssim+dice"``).
        run_root: folder receiving one run folder per combination.
        epochs: epochs per combination.
        variant: model variant.
        **train_kwargs: more arguments of :func:`train` (optimizer, learning_rate, …).

    Returns:
        A pandas DataFrame, one row per combination: ``losses``, the model metrics of
        :func:`evaluate` and ``train_s``.
    """
    import pandas as pd

    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",") if s.strip()]
    if not specs:
        raise ParameterError("compare_losses needs at least one loss spec")
    rows = []
    for spec in specs:
        result = train(data, run_dir=Path(run_root) / _slug(spec), variant=variant, losses=spec, epochs=epochs,
                       **train_kwargs)
        metrics = evaluate(result.model, data, baseline=False)
        rows.append({"losses": spec, **{k: v for k, v in metrics.items() if k not in ("n_val", "trivial_mask_iou")},
                     "train_s": round(result.state["train_seconds"], 1)})
    return pd.DataFrame(rows)


def _slug(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", spec).strip("-") or "loss"


def save_run(model, run_dir: str | os.PathLike, cfg, metrics: dict) -> Path:
    """Save the model, its config and metrics into ``run_dir``.

    See :func:`comicdepth_tf.models.registry.save_model`.
    """
    from comicdepth_tf.models import registry

    config = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    return registry.save_model(model, run_dir, config, metrics)


def load_model(run_dir, *args, **kwargs):
    """:func:`comicdepth_tf.models.registry.load_model`, same arguments (the notebook's reload check).

    Imported on the first call, not with this module: the registry brings TensorFlow.
    """
    from comicdepth_tf.models import registry

    return registry.load_model(run_dir, *args, **kwargs)


def same_outputs(model_a, model_b, arrays: dict[str, np.ndarray], atol: float = 1e-5) -> bool:
    """Whether two models give the same outputs on ``arrays`` (a save → load check)."""
    a = model_a.predict({"bg": arrays["bg"], "bg_fg": arrays["bg_fg"]}, verbose=0)
    b = model_b.predict({"bg": arrays["bg"], "bg_fg": arrays["bg_fg"]}, verbose=0)
    return set(a) == set(b) and all(np.allclose(a[k], b[k], atol=atol) for k in a)


# --------------------------------------------------------------------------- figures


def show_samples(arrays: dict[str, np.ndarray], n: int = 4):
    """Grid of background, composite, foreground mask (over the composite) and depth."""
    from comicdepth_tf import viz

    rows = []
    for i in range(min(n, len(arrays["bg"]))):
        rows.append({"bg": arrays["bg"][i], "bg+fg": arrays["bg_fg"][i],
                     "mask": viz.overlay_mask(arrays["bg_fg"][i], arrays["mask"][i, ..., 0] > 0.5),
                     "depth": arrays["depth"][i, ..., 0]})
    return viz.depth_grid(rows)


def prediction_grid(arrays: dict[str, np.ndarray], pred: dict[str, np.ndarray], baseline: np.ndarray | None = None,
                    n: int = 4, threshold: float = 0.5):
    """Grid per sample: composite, mask (truth, prediction), depth (truth, prediction, baseline, error)."""
    from comicdepth_tf import viz

    rows = []
    for i in range(min(n, len(arrays["bg"]))):
        row = {"bg+fg": arrays["bg_fg"][i],
               "mask (truth)": viz.overlay_mask(arrays["bg_fg"][i], arrays["mask"][i, ..., 0] > 0.5),
               "mask (predicted)": viz.overlay_mask(arrays["bg_fg"][i], pred["mask_prob"][i] >= threshold,
                                                    color=(0, 200, 255))}
        if "depth" in pred:
            gt = arrays["depth"][i, ..., 0]
            row.update({"depth (truth)": gt, "depth (predicted)": pred["depth"][i]})
            if baseline is not None:
                row["depth (copy bg)"] = baseline[i]
            row["abs error"] = np.abs(pred["depth"][i] - gt)
        rows.append(row)
    return viz.depth_grid(rows)
