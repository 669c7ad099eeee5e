"""Comics depth models (notebook ``40_comics_depth``): approach 2 and the batch-norm baselines.

**Approach 2** (seed 001 B.IV, C.IV.c–d). A natural image is translated to comics by a trained
natural→comics generator (notebook ``30_cyclegan``); the pair (fake comics, depth of the natural
image) trains a comics depth model. The target is the natural set's ground-truth depth when it
has one (the embedded NYU set), else the natural depth model's prediction (pseudo ground
truth). Variants (:data:`VARIANTS`):

* ``simple`` — the ``simple`` CycleGAN's generator;
* ``add_text`` — the ``without_text`` generator, then the add-text GAN pastes the text areas of
  a real comics panel (with its text mask) onto the fake;
* ``add_text_ignoretext`` — as ``add_text``, and the loss ignores the pixels inside those text
  areas (their targets are set to 0, which every loss of :mod:`comicdepth_tf.losses` masks);
* ``exact_comics`` — no translation: the embedded comics panels themselves with their exact
  depth (``depth_gt/``), the last seventh of them held out for validation. Only a synthetic set
  has such pairs, so this is an upper reference no method for real comics can have
  (:data:`REFERENCE_VARIANTS`), never picked as the best variant.

The comics model has the natural model's architecture, initialised from its weights
(``init="natural"``) or from scratch (``init="scratch"``). The learning rate comes from a short
search over a grid (:func:`lr_search`, best by validation loss; seed ``--optimize_lr``).
Training pairs are flipped at random, fake comics and target together (:func:`augment_config`).

**Baselines.** ``no_batchnorm_trick`` is the natural model applied to comics as is;
``batchnorm_trick`` re-estimates its batch-norm statistics on comics images
(:func:`comicdepth_tf.adapt.batchnorm_trick`).

**Depth maps for evaluation.** :func:`write_depth_maps` predicts every image of an evaluation
set ("upper-bound" resize for the network, back to the original size, via
:func:`comicdepth_tf.inference.predict_depth`) and saves them with the run, following the
discovery contract of :mod:`comicdepth_tf.evaluation`
(``<run_dir>/depth_maps/panels_<split>/<stem>.npy`` + ``evaluation.json``).

Missing runs: when the natural model or a generator cannot be found, a
:class:`~comicdepth_tf.errors.DataFormatError` names the run expected and the notebook that
makes it (``10_depth_irv2``, ``30_cyclegan``); nothing is silently replaced.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from comicdepth_tf import runs
from comicdepth_tf.data.augment import AugmentConfig, augment_dataset
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.runs import NATURAL_MODEL_NAME
from comicdepth_tf.sizes import size_hw

VARIANTS = ("simple", "add_text", "add_text_ignoretext", "exact_comics")
#: Variants trained on labels only the embedded world has: references, not candidates.
REFERENCE_VARIANTS = ("exact_comics",)
INITS = ("natural", "scratch")
#: Folder of the approach-2 runs and of the baseline runs under ``saved_models/``.
MODEL_NAME = "comics_depth"
GENERATOR_FILE = "generator_natural2comics.keras"
ADD_TEXT_FILE = "generator_add_text.keras"
#: Which generator run each variant needs (CycleGAN variant of notebook 30).
GENERATOR_VARIANT = {"simple": "simple", "add_text": "without_text", "add_text_ignoretext": "without_text"}
#: The network file of each notebook-30 run used here.
GAN_FILES = {"simple": GENERATOR_FILE, "without_text": GENERATOR_FILE, "add_text": ADD_TEXT_FILE}


def gan_model_name(gan_variant: str) -> str:
    """The ``saved_models/`` folder of notebook 30's runs of a GAN variant: ``cyclegan_<variant>``."""
    return f"cyclegan_{gan_variant}"


# --------------------------------------------------------------------------- loading runs


def find_gan_run(gan_variant: str, run: str | os.PathLike = "", profile: str = "") -> Path:
    """The run folder of a notebook-30 GAN (``simple``, ``without_text`` or ``add_text``).

    Args:
        gan_variant: the GAN variant.
        run: a run folder, a path under ``saved_models/``, a run id under
            ``saved_models/cyclegan_<variant>/`` or ``latest-<profile>``
            (:func:`comicdepth_tf.runs.resolve_run`).
        profile: with an empty ``run``: the newest run of this profile (never a run of another
            profile that happens to be newer).

    Raises:
        DataFormatError: no such run (names notebook 30).
        ParameterError: neither ``run`` nor ``profile``.
    """
    from comicdepth_tf.runs import LATEST_PREFIX, resolve_run

    if gan_variant not in GAN_FILES:
        raise ParameterError(f"GAN variant must be one of {tuple(GAN_FILES)}, got {gan_variant!r}")
    if not run and not profile:
        raise ParameterError(f"the {gan_variant} GAN run: pass a run, or the profile whose newest run to use")
    return resolve_run(run or f"{LATEST_PREFIX}{profile}", gan_model_name(gan_variant), files=(GAN_FILES[gan_variant],))


def load_generator(run: str | os.PathLike = "", gan_variant: str = "simple", profile: str = ""):
    """Load a generator saved by notebook ``30_cyclegan``.

    Args:
        run, profile: see :func:`find_gan_run` (empty ``run``: the newest run of ``profile``).
        gan_variant: ``simple`` / ``without_text`` (natural→comics generators) or ``add_text``.

    Returns:
        ``(generator, run_dir)``.

    Raises:
        DataFormatError: no such run (names notebook 30).
    """
    import comicdepth_tf.models.cyclegan  # noqa: F401  (registers the generator's layers)
    from comicdepth_tf.models.registry import load_model

    run_dir = find_gan_run(gan_variant, run, profile)
    return load_model(run_dir, file=GAN_FILES[gan_variant]), run_dir


def load_natural_model(run: str | os.PathLike):
    """The natural depth model of notebook ``10_depth_irv2`` and its run config.

    Args:
        run: a run folder, run id or pointer (``latest-<profile>``), see
            :func:`comicdepth_tf.runs.resolve_run`.

    Raises:
        DataFormatError: no such run (names notebook 10).
    """
    from comicdepth_tf.inference import load_depth_model

    try:
        return load_depth_model(run, NATURAL_MODEL_NAME)
    except DataFormatError as exc:
        raise DataFormatError(exc.args[0] if exc.args else run, "run",
                              "the natural depth model of notebook 10_depth_irv2 (run it first, or pass its run id)",
                              str(run)) from exc


def output_convention(model) -> str:
    """The depth model's output convention (``metric``, ``inverse``, ``relative``)."""
    from comicdepth_tf.models.registry import model_info

    return model_info(model).get("output", "metric")


def copy_model(model, init: str = "natural"):
    """A new model with ``model``'s architecture: its weights (``natural``) or fresh ones (``scratch``)."""
    import keras

    if init not in INITS:
        raise ParameterError(f"init must be one of {INITS}, got {init!r}")
    clone = keras.models.clone_model(model)
    if init == "natural":
        clone.set_weights(model.get_weights())
    return clone


# --------------------------------------------------------------------------- data


def load_natural(
    records: Sequence, size: int | Sequence[int], limit: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Natural images (and their depth when the records have it) resized to ``size``.

    Args:
        records: RGB-D records (``rgb_path``, ``depth_path``, ``codec``; e.g. the NYU loader's) or
            image paths (no depth: the pseudo ground truth will be predicted).
        size: side in pixels (square) or ``(H, W)``; the natural model's own input size keeps
            the images' aspect, so the comics model does not learn from squashed scenes.
        limit: use the first ``limit`` records.

    Returns:
        ``(images (N, H, W, 3) in [0, 1], depth (N, H, W, 1) metres or None)``.
    """
    from comicdepth_tf.data.pipelines import make_dataset, to_numpy

    records = list(records)[: limit or None]
    if not records:
        raise ParameterError("load_natural: no natural images")
    with_depth = all(getattr(r, "depth_path", None) for r in records)
    if with_depth:
        samples = [r.to_sample() if hasattr(r, "to_sample") else r for r in records]
        keys = {"image": "image", "depth": "depth"}
    else:
        samples = [{"image": str(getattr(r, "rgb_path", r))} for r in records]
        keys = {"image": "image"}
    arrays = to_numpy(make_dataset(samples, keys=keys, size=size_hw(size), batch_size=16), len(samples))
    return arrays["image"], (arrays["depth"] if with_depth else None)


def load_comics_with_text(panels_dir: str | os.PathLike, size: int | Sequence[int],
                          limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Real comics panels and their text masks (``images/`` + ``text_masks/``) at ``size`` (side or ``(H, W)``)."""
    from comicdepth_tf.data.formats.ordering import load_ordering_set, to_samples
    from comicdepth_tf.data.pipelines import make_dataset, to_numpy

    samples = [s for s in to_samples(load_ordering_set(panels_dir)) if "text_mask" in s][: limit or None]
    if not samples:
        raise DataFormatError(panels_dir, "text_masks", "panels with text masks (text_masks/<panel>.png)")
    arrays = to_numpy(
        make_dataset(
            samples, keys={"image": "image", "text_mask": "mask"}, size=size_hw(size), batch_size=16, same_size=True
        ),
        len(samples),
    )
    return arrays["image"], arrays["text_mask"]


def load_exact_comics(panels_dir: str | os.PathLike, size: int | Sequence[int], limit: int | None = None,
                      val_share: float = 1 / 7) -> tuple["Pairs", "Pairs"]:
    """``(train, val)`` pairs of the ``exact_comics`` variant: comics panels and their exact depth.

    Args:
        panels_dir: a panels split folder with ``images/`` and ``depth_gt/`` (the embedded
            ``panels/train``).
        size: side of square pairs or ``(H, W)``.
        limit: use the first ``limit`` panels (None: all).
        val_share: the last share of the panels (in file order, so whole pages stay together
            apart from one at the cut) validates.

    Raises:
        DataFormatError: no panel has a ``depth_gt/`` file (real comics sets have none).
    """
    from comicdepth_tf.data.formats.ordering import load_ordering_set, to_samples
    from comicdepth_tf.data.pipelines import make_dataset, to_numpy

    samples = [s for s in to_samples(load_ordering_set(panels_dir)) if "depth" in s][: limit or None]
    if len(samples) < 2:
        raise DataFormatError(panels_dir, "depth_gt",
                              "at least 2 panels with exact depth (depth_gt/<panel>.png, as the embedded set has)")
    arrays = to_numpy(make_dataset(samples, keys={"image": "image", "depth": "depth"}, size=size_hw(size),
                                   batch_size=16, same_size=True), len(samples))
    cut = len(samples) - max(1, int(round(len(samples) * val_share)))
    return (Pairs(arrays["image"][:cut], arrays["depth"][:cut]),
            Pairs(arrays["image"][cut:], arrays["depth"][cut:]))


def load_images(paths: Sequence, size: int | Sequence[int]) -> np.ndarray:
    """Images resized to ``size`` (side or ``(H, W)``), ``(N, H, W, 3)`` in [0, 1]."""
    from comicdepth_tf.data.pipelines import make_dataset, to_numpy

    samples = [{"image": str(p)} for p in paths]
    return to_numpy(make_dataset(samples, keys={"image": "image"}, size=size_hw(size), batch_size=16), len(samples))[
        "image"
    ]


@dataclass
class Pairs:
    """Training pairs of approach 2.

    Attributes:
        image: fake comics ``(N, S, S, 3)`` in [0, 1].
        depth: targets ``(N, S, S, 1)`` in metres, 0 = ignored (invalid or, with
            ``ignore_text``, inside text areas).
        text_mask: ``(N, S, S, 1)`` text areas added (``add_text`` variants), else None.
        pseudo_gt: the targets are the natural model's predictions.
    """

    image: np.ndarray
    depth: np.ndarray
    text_mask: np.ndarray | None = None
    pseudo_gt: bool = False

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def subset(self, limit: int, seed: int = 0) -> "Pairs":
        """At most ``limit`` pairs, drawn without replacement with ``seed``.

        All of them when ``limit`` ≤ 0 or ≥ len.
        """
        if limit <= 0 or limit >= len(self):
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self), size=int(limit), replace=False))
        mask = None if self.text_mask is None else self.text_mask[keep]
        return Pairs(self.image[keep], self.depth[keep], mask, self.pseudo_gt)

    def dataset(self, batch_size: int, shuffle: bool = False, seed: int = 0, augment: AugmentConfig | None = None):
        """``(image, depth)`` batches for ``fit``.

        Args:
            batch_size: pairs per batch.
            shuffle: a new order every epoch (see :func:`comicdepth_tf.data.pipelines.array_stream`).
            seed: shuffling and augmentation seed.
            augment: paired augmentation (the fake comics and its target are flipped together;
                colour changes touch the image only), or None.
        """
        import tensorflow as tf

        from comicdepth_tf.data.pipelines import array_stream

        ds = array_stream({"image": self.image, "depth": self.depth}, batch_size=batch_size, shuffle=shuffle, seed=seed)
        if augment is not None:
            ds = augment_dataset(ds, {"image": "image", "depth": "depth"}, augment, seed)
        else:
            ds = ds.map(lambda p, e: e)
        ds = ds.map(lambda e: (e["image"], e["depth"]))
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def augment_config(enabled: bool = True) -> AugmentConfig | None:
    """Augmentation of approach-2 training pairs: horizontal flips only (None when disabled).

    A flipped scene is as plausible as the original and its depth flips with it. No zoom (it
    would change the apparent scale the natural model learnt) and no colour change (the fake
    comics' palette is what the generator learnt to make comics look like).
    """
    return AugmentConfig.geometric_only(flip_prob=0.5, scale_prob=0.0, scale_range=(1.0, 1.0)) if enabled else None


def _predict(model, inputs, batch_size: int):
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), np.float32)


def make_pairs(
    natural_images: np.ndarray,
    natural_depth: np.ndarray | None,
    generator,
    variant: str = "simple",
    *,
    natural_model=None,
    add_text_generator=None,
    comics: np.ndarray | None = None,
    comics_text_masks: np.ndarray | None = None,
    batch_size: int = 8,
    seed: int = 0,
) -> Pairs:
    """Translate natural images to comics and attach their depth targets.

    Args:
        natural_images: ``(N, S, S, 3)`` in [0, 1].
        natural_depth: their ground-truth depth ``(N, S, S, 1)`` (metres, 0 = invalid), or None
            to use ``natural_model``'s predictions as pseudo ground truth.
        generator: natural→comics generator (``simple`` or ``without_text``).
        variant: one of :data:`VARIANTS`.
        natural_model: the natural depth model (needed when ``natural_depth`` is None; must output
            metric depth for the targets to be metres).
        add_text_generator: the add-text generator (``add_text`` variants).
        comics, comics_text_masks: real comics panels with their text masks, ``(M, S, S, 3|1)``;
            each fake gets the text of a panel drawn at random (seeded).
        batch_size: batch of the forward passes.
        seed: the panel draw.
    """
    if variant not in VARIANTS:
        raise ParameterError(f"variant must be one of {VARIANTS}, got {variant!r}")
    pseudo = natural_depth is None
    if pseudo:
        if natural_model is None:
            raise ParameterError(
                "make_pairs: the natural set has no depth, so natural_model is needed for pseudo ground truth"
            )
        natural_depth = _predict(natural_model, natural_images, batch_size)
    fake = np.clip(_predict(generator, natural_images, batch_size), 0.0, 1.0)
    depth = np.array(natural_depth, np.float32, copy=True)
    mask = None
    if variant != "simple":
        if add_text_generator is None or comics is None or comics_text_masks is None:
            raise ParameterError(f"variant {variant!r} needs add_text_generator, comics and comics_text_masks")
        pick = np.random.default_rng(seed).integers(0, len(comics), len(fake))
        mask = (comics_text_masks[pick] > 0.5).astype(np.float32)
        fake = np.clip(_predict(add_text_generator, [comics[pick], mask, fake], batch_size), 0.0, 1.0)
    pairs = Pairs(fake, depth, mask, pseudo)
    return ignore_text(pairs) if variant == "add_text_ignoretext" else pairs


def ignore_text(pairs: Pairs) -> Pairs:
    """The ``add_text_ignoretext`` form of ``add_text`` pairs: depth 0 (masked by every depth loss) inside the text."""
    if pairs.text_mask is None:
        raise ParameterError("ignore_text needs pairs with text masks (the add_text variants)")
    depth = np.array(pairs.depth, copy=True)
    depth[pairs.text_mask > 0] = 0.0
    return Pairs(pairs.image, depth, pairs.text_mask, pairs.pseudo_gt)


# --------------------------------------------------------------------------- training


@dataclass
class LRSearch:
    """Result of :func:`lr_search`: the best rate and one row per rate tried."""

    best: float
    rows: list[dict] = field(default_factory=list)


#: Written into the search's ``run_root`` when every rate is done; a rerun with the same settings reads it.
SEARCH_FILE = "search.json"


def lr_search(base_model, train: Pairs, val: Pairs, grid: Sequence[float], *, epochs: int, batch_size: int,
              run_root: str | os.PathLike, init: str = "natural", loss: Any = "depth", augment: bool = True,
              seed: int = 0, limit: int = 0, upstream: dict[str, str] | None = None) -> LRSearch:
    """Short runs over a learning-rate grid; the best by validation loss (seed ``--optimize_lr``).

    Each rate trains a fresh copy of ``base_model`` for ``epochs`` epochs into
    ``<run_root>/lr_<rate>`` (resumable, like any :func:`~comicdepth_tf.training.fit` run),
    with the augmentation of :func:`augment_config` when ``augment``. A rate whose training
    diverges (NaN or infinite losses) is not chosen; its row has ``diverged_epoch``.

    When every rate is done, the rows go to ``<run_root>/search.json`` and each rate's
    ``last.keras`` (the resume file, two thirds of it optimizer state: 719 MB for the IRv2 model)
    is deleted; histories and ``best.keras`` stay. A rerun with the same settings returns the
    recorded search without training; other settings search again.

    ``limit`` > 0 trains each rate on a seeded subset of that many pairs (:meth:`Pairs.subset`):
    the search only has to rank the rates, and a quarter of the pairs ranks them for a quarter
    of the time. Validation always uses every pair of ``val``.

    ``base_model``'s weights and ``upstream`` (digests of the networks the pairs come from, see
    :func:`train_variant`) are part of the settings: a search recorded from other networks is
    not reused, nor are its rates' checkpoints resumed.
    """
    from comicdepth_tf.errors import TrainingDivergedError
    from comicdepth_tf.fileio import atomic_write_json, read_json
    from comicdepth_tf.training import LAST_FILE, fit

    if not grid:
        raise ParameterError("lr_search: the grid is empty")
    run_root = Path(run_root)
    train = train.subset(limit, seed)
    settings = {"grid": [float(lr) for lr in grid], "epochs": int(epochs),
                **_run_identity(base_model, train, val, batch_size=batch_size, init=init, loss=loss,
                                augment=augment, seed=seed, upstream=upstream)}
    record = run_root / SEARCH_FILE
    if record.exists():
        done = read_json(record)
        if done.get("settings") == settings:
            return LRSearch(done["best"], done["rows"])
    rows = []
    for lr in grid:
        gc.collect()  # the previous rate's model: Keras models hold reference cycles, so only the collector frees them
        train_ds = train.dataset(batch_size, True, seed, augment_config(augment))
        try:
            result = fit(copy_model(base_model, init), train_ds, val.dataset(batch_size),
                         run_dir=_rate_dir(run_root, lr), epochs=epochs, learning_rate=float(lr), loss=loss,
                         metrics=(), lr_schedule="constant", seed=seed,
                         identity={**settings, "learning_rate": float(lr)})
        except TrainingDivergedError as err:
            rows.append({"learning_rate": float(lr), "best_val_loss": None, "best_epoch": None,
                         "diverged_epoch": err.epoch})
            continue
        rows.append({"learning_rate": float(lr), "best_val_loss": result.best_value, "best_epoch": result.best_epoch})
        del result
    finite = [r for r in rows if r["best_val_loss"] is not None and np.isfinite(r["best_val_loss"])]
    if not finite:
        raise ParameterError("lr_search: no rate gave a finite validation loss")
    best = min(finite, key=lambda r: r["best_val_loss"])["learning_rate"]
    atomic_write_json(record, {"settings": settings, "best": best, "rows": rows})
    for lr in grid:
        (_rate_dir(run_root, lr) / LAST_FILE).unlink(missing_ok=True)
    return LRSearch(best, rows)


def _rate_dir(run_root: Path, lr: float) -> Path:
    return run_root / f"lr_{lr:g}"


def _run_identity(base_model, train: Pairs, val: Pairs, *, batch_size: int, init: str, loss: Any, augment: bool,
                  seed: int, upstream: dict[str, str] | None) -> dict[str, Any]:
    """What an approach-2 fit is made from besides its folder: the base and upstream networks'
    digests, the pair counts and the settings (compared as a dict: the order does not matter)."""
    from comicdepth_tf.models.registry import model_digest

    return {"batch_size": int(batch_size), "init": init, "loss": loss if isinstance(loss, str) else type(loss).__name__,
            "augment": bool(augment), "seed": int(seed), "train_pairs": len(train), "val_pairs": len(val),
            "upstream": upstream or {}, "base": model_digest(base_model)}


def train_variant(
    base_model,
    train: Pairs,
    val: Pairs,
    *,
    run_dir: str | os.PathLike,
    learning_rate: float,
    epochs: int,
    batch_size: int,
    init: str = "natural",
    loss: Any = "depth",
    augment: bool = True,
    seed: int = 0,
    upstream: dict[str, str] | None = None,
):
    """Train one approach-2 model into ``run_dir`` (best epoch by validation loss; resumable).

    Training batches get :func:`augment_config` when ``augment``; validation batches never do.
    ``upstream``: digests of the networks the pairs come from
    (:func:`~comicdepth_tf.models.registry.model_digest`); with the settings they are the run's
    identity, so a checkpoint made from other networks or settings is trained again, not resumed.
    """
    from comicdepth_tf.training import fit

    identity = {"learning_rate": float(learning_rate),
                **_run_identity(base_model, train, val, batch_size=batch_size, init=init, loss=loss,
                                augment=augment, seed=seed, upstream=upstream)}
    train_ds = train.dataset(batch_size, True, seed, augment_config(augment))
    return fit(copy_model(base_model, init), train_ds, val.dataset(batch_size), run_dir=run_dir, epochs=epochs,
               learning_rate=float(learning_rate), loss=loss, metrics=("delta1", "abs_rel"), seed=seed,
               identity=identity)


def batchnorm_trick_model(natural_model, comics_images: np.ndarray, batch_size: int, momentum: float = 0.002):
    """A copy of the natural model with batch-norm statistics re-estimated on comics images."""
    import tensorflow as tf

    from comicdepth_tf.adapt import batchnorm_trick

    model = copy_model(natural_model, "natural")
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(comics_images, np.float32)).batch(batch_size)
    return batchnorm_trick(model, ds, momentum=momentum)


# --------------------------------------------------------------------------- depth maps and scores


def write_depth_maps(model, run_dir: str | os.PathLike, eval_set, *, size: int, configuration: str, profile: str,
                     batch_size: int = 8, seed: int | None = None, primary: bool = True) -> Path:
    """Predict every image of an evaluation set at its original size and save the maps with the run.

    Args:
        model: the depth model.
        run_dir: its saved run folder.
        eval_set: an :class:`comicdepth_tf.evaluation.EvalSet` (e.g. ``panels_val``).
        size: network size (longer side, "upper-bound" resize).
        configuration: the configuration name of :mod:`comicdepth_tf.evaluation` (e.g.
            ``approach2_simple``); the run is registered for it.
        profile: the parameter profile.
        seed, primary: the run's training seed and whether it is the single-seed path's run
            (see :func:`comicdepth_tf.runs.register_configuration`).

    Returns:
        The maps' folder ``<run_dir>/depth_maps/<set>``.
    """
    from comicdepth_tf.inference import predict_depth

    maps = predict_depth(model, [item.image for item in eval_set.items], size=size, batch_size=batch_size)
    folder = runs.save_depth_maps(run_dir, eval_set.name, {item.stem: m for item, m in zip(eval_set.items, maps)})
    runs.register_configuration(
        run_dir,
        configuration,
        profile,
        convention=output_convention(model),
        image_size=size,
        seed=seed,
        primary=primary,
    )
    return folder


def read_depth_maps(run_dir: str | os.PathLike, eval_set) -> dict[str, np.ndarray]:
    """The maps :func:`write_depth_maps` saved, by stem."""
    from comicdepth_tf.runs import DEPTH_MAPS_DIR

    folder = Path(run_dir) / DEPTH_MAPS_DIR / eval_set.name
    out = {}
    for item in eval_set.items:
        path = folder / f"{item.stem}.npy"
        if not path.is_file():
            raise DataFormatError(path, "", f"the depth map of {item.stem} (write_depth_maps)")
        out[item.stem] = np.load(path, allow_pickle=False)
    return out


def ordering_row(name: str, run_dir: str | os.PathLike, eval_set, convention: str) -> dict[str, Any]:
    """Mean inter-/intra-object ordering accuracy of a run's saved maps on ``eval_set``."""
    from comicdepth_tf.metrics import ordering_accuracy, ordering_scores

    maps = read_depth_maps(run_dir, eval_set)
    conv = "inverse" if convention == "inverse" else "depth"
    results = [ordering_accuracy(maps[item.stem], item.points, conv) for item in eval_set.items]
    scores = ordering_scores(results)
    return {
        "model": name,
        "run": Path(run_dir).name,
        "inter_acc": scores["inter_mean"],
        "intra_acc": scores["intra_mean"],
        "images": len(results),
    }
