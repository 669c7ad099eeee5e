"""The logic of notebook ``30_cyclegan``: domains, the natural depth model, variants, approach 1.

Seed 001 sections B.II–B.III and C.II–C.III: CycleGANs between natural images and comics
(``simple``, ``depth_aware``, ``without_text``), the ``add_text`` GAN on top of
``without_text``, and approach 1 (comics → natural with a CycleGAN, then the natural depth
model) evaluated on comics with exact depth.

Domains (:func:`load_domains`), embedded by default:

* natural: ``natural/images`` (the COCO val2017 stand-in) for training; validation uses the
  natural renders of the validation panels' scenes (``panels/val/natural``);
* comics: ``panels/train/images`` (+ ``text_masks``) for training, ``panels/val`` for validation;
* text-free comics (``without_text``): a folder of crops (the text detector's
  ``text_free_crops``), or, when none is given, square crops cut where the ground-truth text
  mask is empty (:func:`text_free_crops_from_masks`);
* evaluation: ``panels/val`` — panel crops with dense exact depth and ordering points.

Folders of real images replace each domain (COCO ``val2017``, DCM772 panel crops with predicted
text masks, text-free crops, a ComicsDepth ``dcm_cropped`` evaluation folder).

Metrics: :func:`mean_ordering_accuracy` (ComicsDepth inter/intra-object ordering, DESIGN §6,
per image with :func:`comicdepth_tf.metrics.ordering_accuracy`, then averaged), dense AbsRel
after per-image median alignment (:func:`comicdepth_tf.metrics.depth_metrics`), and the
Spearman rank correlation between the depth model's prediction on a natural→comics translation
and on its source (:func:`geometry_check`).

For notebook ``50_evaluate``, :func:`register_approach1` saves approach 1's maps of the
evaluation panels (original sizes) with the ``simple`` and ``depth_aware`` runs and registers
them as the configurations ``approach1_simple`` and ``approach1_depth_aware``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from comicdepth_tf import fileio, paths, runs
from comicdepth_tf.data.formats import coco_images, ordering
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.inference import load_depth_model
from comicdepth_tf.runs import APPROACH1_CONFIGURATIONS, NATURAL_MODEL_NAME
from comicdepth_tf.translate import (
    as_float_images,
    comics_to_depth,
    depth_output,
    predict_depth_maps,
    run_image_size,
    translate_images,
)

# isort: split
# Re-exported: the notebook imports its stage module only, and calls them as ``ce.<name>``.
from comicdepth_tf.gan_training import grid_epoch, sample_grids  # noqa: F401
from comicdepth_tf.metrics import spearman  # noqa: F401
from comicdepth_tf.runs import new_run_dir  # noqa: F401
from comicdepth_tf.training import use_devices  # noqa: F401

STAGE = "30_cyclegan"
CYCLEGAN_VARIANTS = ("simple", "depth_aware", "without_text")
VARIANTS = CYCLEGAN_VARIANTS + ("add_text",)
TINY_DEPTH_MODEL_NAME = "depth_tiny"
VAL_EVERY = 10  # a folder domain keeps every 10th image (sorted by name) for validation


def model_name(variant: str) -> str:
    """The ``saved_models/`` folder of a variant's runs: ``cyclegan_<variant>``."""
    return f"cyclegan_{variant}"


def parse_variants(text: str) -> list[str]:
    """``"simple,depth_aware"`` → ``["simple", "depth_aware"]`` in pipeline order (``add_text`` last)."""
    names = [v.strip() for v in str(text).split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ParameterError(f"unknown variants {unknown}; expected a comma-separated subset of {VARIANTS}")
    return [v for v in VARIANTS if v in names]


# --------------------------------------------------------------------------------------------
# Domains
# --------------------------------------------------------------------------------------------


@dataclass
class Domains:
    """Image samples of each domain (dicts for :func:`comicdepth_tf.gan_training.domain_dataset`).

    Attributes:
        natural_train, natural_val: ``{"name", "image"}``.
        comics_train, comics_val: ``{"name", "image", "text_mask"}`` (mask when known).
        text_free_train, text_free_val: text-free comics crops (empty until needed).
        eval_panels: panels with ordering points (and dense depth on embedded data).
        sources: where each domain came from.
        eval_set: the evaluation set's name for notebook ``50_evaluate``: ``panels_<split>``,
            ``<split>`` being the evaluation folder's name (``panels_val`` on embedded data).
    """

    natural_train: list[dict]
    natural_val: list[dict]
    comics_train: list[dict]
    comics_val: list[dict]
    text_free_train: list[dict] = field(default_factory=list)
    text_free_val: list[dict] = field(default_factory=list)
    eval_panels: list = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    eval_set: str = "panels_val"

    def counts(self) -> dict[str, int]:
        """Number of samples per domain."""
        names = ("natural_train", "natural_val", "comics_train", "comics_val", "text_free_train", "text_free_val",
                 "eval_panels")
        return {n: len(getattr(self, n)) for n in names}


def _split_folder(samples: list[dict]) -> tuple[list[dict], list[dict]]:
    val = samples[VAL_EVERY - 1 :: VAL_EVERY]
    names = {s["name"] for s in val}
    return [s for s in samples if s["name"] not in names], val


def _folder_samples(folder: str | os.PathLike) -> list[dict]:
    return coco_images.to_samples(coco_images.load_image_folder(folder))


def _with_masks(samples: list[dict], mask_dir: str | os.PathLike) -> list[dict]:
    """Attach ``text_mask`` files matched by stem; a missing mask is an error naming the image.

    A mask is ``<stem>.png`` (the text notebook's ``pred_text_masks``) or
    ``<stem>_text_mask.png`` (``comicdepth text-mask``); the first wins when both exist.
    """
    from comicdepth_tf.outputs import SUFFIXES

    suffix = Path(SUFFIXES["mask"]).stem
    files = fileio.list_images(mask_dir)
    masks = {p.stem[: -len(suffix)]: p for p in files if p.stem.endswith(suffix)}
    masks.update({p.stem: p for p in files})
    out = []
    for s in samples:
        stem = Path(s["image"]).stem
        if stem not in masks:
            raise DataFormatError(
                mask_dir, stem, f"a text mask <stem>.png or <stem>{SUFFIXES['mask']} for {s['image']}"
            )
        out.append({**s, "text_mask": str(masks[stem])})
    return out


def _panel_samples(split_dir: Path) -> list[dict]:
    images = fileio.list_images(split_dir / "images")
    if not images:
        raise DataFormatError(split_dir / "images", "", "comics panel images")
    masks = split_dir / "text_masks"
    samples = [{"name": p.stem, "image": str(p)} for p in images]
    return _with_masks(samples, masks) if masks.is_dir() else samples


def text_free_crops_from_masks(samples: Sequence[dict], out_dir: str | os.PathLike, *, min_size: int = 32,
                               tries_per_size: int = 20, seed: int = 0) -> list[dict]:
    """Square crops without text, cut where the text mask is empty (ground truth on embedded data).

    The crop rule is the text detector's (:func:`comicdepth_tf.text_detection.find_text_free_crop`:
    random positions, the side shrinking by one pixel every ``tries_per_size`` failures) with
    the binary mask as the "probability"; the search starts from the image's shorter side.

    Args:
        samples: dicts with ``image`` and ``text_mask``.
        out_dir: where the crops are written (``<stem>.png``).
        min_size: smallest crop side; panels without such a text-free square give no crop.
        tries_per_size, seed: the search's settings.

    Returns:
        Samples ``{"name", "image"}`` of the written crops.
    """
    from comicdepth_tf.text_detection import find_text_free_crop

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    crops = []
    for index, s in enumerate(samples):
        if "text_mask" not in s:
            raise ParameterError(f"sample {s.get('name', index)} has no text_mask: give text-free crops instead")
        image = fileio.read_image(s["image"])
        mask = fileio.read_mask(s["text_mask"]).astype(np.float32)
        if mask.shape != image.shape[:2]:
            raise DataFormatError(s["text_mask"], "size", f"the size of {s['image']} {image.shape[:2]}", mask.shape)
        rng = np.random.default_rng([int(seed), index])
        crop = find_text_free_crop(mask, size=min(mask.shape), max_prob=0.5, tries_per_size=tries_per_size,
                                   min_size=min_size, seed=rng)
        if crop is None:
            continue
        path = fileio.write_image(out_dir / f"{Path(s['image']).stem}.png",
                              image[crop.y : crop.y + crop.size, crop.x : crop.x + crop.size])
        crops.append({"name": path.stem, "image": str(path)})
    return crops


def load_domains(profile: str = "cpu", *, seed: int = 0, natural_dir: str = "", comics_dir: str = "",
                 text_mask_dir: str = "", text_free_dir: str = "", eval_dir: str = "", need_text_free: bool = False,
                 work_dir: str | os.PathLike | None = None, crop_min_size: int = 32,
                 data_root: str | os.PathLike | None = None) -> Domains:
    """Collect the image domains (embedded dataset of ``profile`` for every folder not given).

    Args:
        profile: embedded dataset profile (``smoke``, ``cpu``, ``full``).
        seed: embedded dataset seed and crop seed.
        natural_dir: folder of natural images (COCO val2017); every 10th image validates.
        comics_dir: folder of comics panel crops; every 10th validates.
        text_mask_dir: text masks of ``comics_dir`` (``<stem>.png``; e.g. the text detector's
            ``pred_text_masks``); needed by ``add_text`` with a comics folder.
        text_free_dir: folder of text-free comics crops (the text detector's run); empty: cut
            from the comics' text masks into ``work_dir``.
        eval_dir: a ComicsDepth split folder (``images/`` + ``depth/*.txt`` [+ ``depth_gt/``]);
            empty: the embedded ``panels/val``.
        need_text_free: collect the text-free domain (the ``without_text`` variant).
        work_dir: where cut text-free crops go (default ``<data>/cyclegan_text_free/<profile>``).
        crop_min_size: smallest text-free crop side.
        data_root: the embedded dataset folder (default: ``paths.embedded_dir(profile)``,
            generated when missing).
    """
    root = None
    if not (natural_dir and comics_dir and eval_dir):
        from comicdepth_tf.data import synthetic

        root = synthetic.ensure_dataset(profile, root=data_root, seed=seed)
    sources = {}
    if natural_dir:
        natural_train, natural_val = _split_folder(_folder_samples(natural_dir))
        sources["natural"] = str(natural_dir)
    else:
        natural_train = _folder_samples(root / "natural" / "images")
        natural_val = _folder_samples(root / "panels" / "val" / "natural")
        sources["natural"] = f"{root / 'natural' / 'images'} (val: {root / 'panels' / 'val' / 'natural'})"
    if comics_dir:
        comics = _folder_samples(comics_dir)
        if text_mask_dir:
            comics = _with_masks(comics, text_mask_dir)
        comics_train, comics_val = _split_folder(comics)
        sources["comics"] = str(comics_dir)
    else:
        comics_train = _panel_samples(root / "panels" / "train")
        comics_val = _panel_samples(root / "panels" / "val")
        sources["comics"] = str(root / "panels" / "{train,val}")
    domains = Domains(natural_train, natural_val, comics_train, comics_val, sources=sources)
    if need_text_free:
        if text_free_dir:
            domains.text_free_train, domains.text_free_val = _split_folder(_folder_samples(text_free_dir))
            sources["text_free"] = str(text_free_dir)
        else:
            work = Path(work_dir) if work_dir else paths.data_dir() / "cyclegan_text_free" / profile
            domains.text_free_train = text_free_crops_from_masks(comics_train, work / "train", min_size=crop_min_size,
                                                                 seed=seed)
            domains.text_free_val = text_free_crops_from_masks(comics_val, work / "val", min_size=crop_min_size,
                                                               seed=seed)
            sources["text_free"] = f"{work} (cut where the text mask is empty)"
        if not domains.text_free_train or not domains.text_free_val:
            raise DataFormatError(text_free_dir or work, "", "text-free crops for training and validation")
    eval_folder = Path(eval_dir) if eval_dir else root / "panels" / "val"
    domains.eval_panels = ordering.load_ordering_set(eval_folder)
    domains.eval_set = f"panels_{eval_folder.resolve().name}"
    sources["eval"] = str(eval_folder)
    return domains


# --------------------------------------------------------------------------------------------
# The natural depth model
# --------------------------------------------------------------------------------------------


@dataclass
class DepthSource:
    """The natural depth model used by the notebook.

    Attributes:
        model: the Keras model.
        run_dir: its run folder.
        size: the side it is run at.
        output: its convention (``metric``, ``inverse``, ``relative``).
        trained_here: trained by this notebook (no saved depth run was found).
        metrics: its validation metrics when trained here.
    """

    model: Any
    run_dir: Path
    size: int
    output: str
    trained_here: bool = False
    metrics: dict = field(default_factory=dict)


def train_tiny_depth(profile: str, *, run_dir: str | os.PathLike, size: int = 64, epochs: int = 6,
                     batch_size: int = 16, learning_rate: float = 3e-3, seed: int = 0, verbose: int = 0,
                     data_root: str | os.PathLike | None = None) -> DepthSource:
    """Train a small natural depth model (tiny encoder, metric output) on the embedded NYU-layout data.

    A stand-in for the depth notebook's model when no ``depth_irv2`` run exists, so this
    notebook runs on its own. The run is saved in ``run_dir`` (``model.keras`` + config +
    metrics on the natural validation split).
    """
    from comicdepth_tf import training
    from comicdepth_tf.data import pipelines, synthetic
    from comicdepth_tf.data.formats import nyu
    from comicdepth_tf.metrics import depth_metrics
    from comicdepth_tf.models.depth_unet import build_depth_unet
    from comicdepth_tf.models.registry import save_model

    root = synthetic.ensure_dataset(profile, root=data_root, seed=seed)
    sets = nyu.load_nyu(root / "nyu")
    common = dict(size=(size, size), batch_size=batch_size, cache=True)
    train_ds = pipelines.rgbd_dataset(sets["train"], shuffle=True, augment=True, seed=seed, **common)
    val_ds = pipelines.rgbd_dataset(sets["test"], **common)
    result = training.fit(lambda: build_depth_unet("tiny", output="metric", bn_momentum=0.9), train_ds, val_ds,
                          run_dir=run_dir, epochs=epochs, learning_rate=learning_rate, seed=seed,
                          verbose=verbose)
    images, depth = [], []
    for x, y in val_ds:
        images.append(x.numpy())
        depth.append(y.numpy())
    pred = result.model.predict(np.concatenate(images), verbose=0)
    metrics = depth_metrics(pred, np.concatenate(depth), max_depth=10.0)
    save_model(result.model, run_dir, {"model": TINY_DEPTH_MODEL_NAME, "image_size": size, "epochs": epochs,
                                       "profile": profile}, metrics)
    return DepthSource(result.model, Path(run_dir), size, "metric", trained_here=True, metrics=metrics)


def resolve_depth_model(depth_run: str = "", *, profile: str = "cpu", size: int = 64, epochs: int = 6,
                        run_id: str | None = None, seed: int = 0,
                        data_root: str | os.PathLike | None = None) -> DepthSource:
    """The natural depth model: ``depth_run``; else ``latest-<profile>`` of ``depth_irv2``; else a tiny one trained now.

    Args:
        depth_run: a depth run folder (or a path under ``saved_models/``); empty: search.
        profile, size, epochs, seed: settings of the tiny model trained when no run exists
            (saved under ``saved_models/depth_tiny/<run_id>``).
        size: also the side a loaded model runs at when its config records none.
        data_root: the embedded dataset folder for the tiny model (default: the profile's).
    """
    from comicdepth_tf.runs import LATEST_PREFIX, resolve_run

    try:
        run = resolve_run(depth_run or f"{LATEST_PREFIX}{profile}", NATURAL_MODEL_NAME)
    except DataFormatError:
        if depth_run:
            raise
        return train_tiny_depth(profile, run_dir=new_run_dir(TINY_DEPTH_MODEL_NAME, run_id), size=size,
                                epochs=epochs, seed=seed, data_root=data_root)
    model = load_depth_model(run)[0]
    return DepthSource(model, run, run_image_size(run, size), depth_output(model))


# --------------------------------------------------------------------------------------------
# Training the variants
# --------------------------------------------------------------------------------------------


def variant_datasets(variant: str, domains: Domains, *, size: int, batch_size: int, seed: int = 0,
                     val_limit: int = 0):
    """``(train_ds, val_ds)`` of a variant: ``(natural, comics[, mask])`` batches.

    ``simple`` and ``depth_aware`` use the comics panels, ``without_text`` the text-free crops,
    ``add_text`` the comics panels with their text masks. ``val_limit`` (> 0) keeps the first
    images of each validation domain (validation runs after every epoch).
    """
    from comicdepth_tf.gan_training import domain_dataset, unpaired_dataset

    if variant not in VARIANTS:
        raise ParameterError(f"variant must be one of {VARIANTS}, got {variant!r}")
    comics = {"without_text": (domains.text_free_train, domains.text_free_val)}.get(
        variant, (domains.comics_train, domains.comics_val))
    with_mask = variant == "add_text"
    if with_mask and any("text_mask" not in s for s in comics[0] + comics[1]):
        raise ParameterError("add_text needs text masks for the comics (give TEXT_MASK_DIR with a comics folder)")
    if not comics[0] or not comics[1]:
        raise ParameterError(f"{variant}: the comics domain is empty")

    def pair(natural, comic, train):
        # Validation pairs are made in order; training domains are shuffled with different seeds.
        return unpaired_dataset(
            domain_dataset(natural, size=size, batch_size=batch_size, train=train, seed=seed),
            domain_dataset(comic, size=size, batch_size=batch_size, train=train, seed=seed + 1, with_mask=with_mask))

    limit = slice(None, int(val_limit) or None)
    return pair(domains.natural_train, comics[0], True), pair(domains.natural_val[limit], comics[1][limit], False)


def build_variant(variant: str, *, image_size: int = 64, filters: int = 16, residual_blocks: int | None = None,
                  downsamplings: int = 2, disc_filters: int = 16, disc_layers: int = 3, pool_size: int = 50,
                  depth: DepthSource | None = None, base_generator=None, base_run: str = "",
                  cycle_weight: float | None = None, seed: int = 0):
    """The networks of one variant (:func:`comicdepth_tf.gan_training.build_gan`), seeded.

    Args:
        variant: one of :data:`VARIANTS`.
        image_size, filters, residual_blocks, downsamplings, disc_filters, disc_layers, pool_size: the networks
            (see :func:`comicdepth_tf.models.cyclegan.build_cyclegan`).
        depth: the natural depth model (``depth_aware``).
        base_generator, base_run: the ``without_text`` natural→comics generator and its run (``add_text``).
        cycle_weight: weight of the cycle L1 in the generator loss of the CycleGAN variants (None: the
            paper's :data:`~comicdepth_tf.models.cyclegan.CYCLE_WEIGHT`, 10); ``add_text`` has no cycle.
        seed: the initial weights and the image pools.
    """
    from comicdepth_tf.gan_training import build_gan
    from comicdepth_tf.models import cyclegan as cg

    nets = dict(image_size=image_size, filters=filters, residual_blocks=residual_blocks, downsamplings=downsamplings,
                disc_filters=disc_filters, disc_layers=disc_layers, pool_size=pool_size, seed=seed)
    if variant == "add_text":
        if base_generator is None and base_run:
            from comicdepth_tf.translate import load_generator

            base_generator = load_generator(base_run, "natural2comics")
        if base_generator is None:
            raise ParameterError("add_text needs the natural2comics generator of a without_text run (base_run)")
        builder = lambda: cg.build_add_text_gan(base_generator, **nets)  # noqa: E731
    else:
        if variant == "depth_aware" and depth is None:
            raise ParameterError("depth_aware needs the natural depth model")
        depth_kw = dict(depth_model=depth.model, depth_size=depth.size) if variant == "depth_aware" else {}
        cycle_weight = cg.CYCLE_WEIGHT if cycle_weight is None else float(cycle_weight)
        builder = lambda: cg.build_cyclegan(variant, **nets, **depth_kw, cycle_weight=cycle_weight)  # noqa: E731
    depth_aware = depth is not None and variant == "depth_aware"
    blocks = residual_blocks if residual_blocks is not None else cg.default_residual_blocks(image_size)
    settings = {"model": model_name(variant), "variant": variant, **nets, "residual_blocks": blocks,
                "depth_run": str(depth.run_dir) if depth_aware else "",
                "depth_size": depth.size if depth_aware else None, "base_run": str(base_run)}
    if variant != "add_text":
        settings["cycle_weight"] = cycle_weight
    return build_gan(builder, seed=seed, settings=settings)


def epoch_steps(variant: str, domains: Domains, batch_size: int, steps: int = 0) -> int:
    """``steps``, or (0) one pass over the larger training domain of ``variant`` in whole batches."""
    comics_n = len(domains.text_free_train if variant == "without_text" else domains.comics_train)
    return int(steps) or max(1, max(len(domains.natural_train), comics_n) // batch_size)


def compile_variant(gan, *, epochs: int, steps_per_epoch: int, learning_rate: float = 2e-4,
                    decay_epochs: int | None = None, run_eagerly: bool = False):
    """Compile a GAN of :func:`build_variant` (:func:`comicdepth_tf.gan_training.compile_gan`): Adam on each
    side, the rate constant, then decaying linearly to 0 over the last ``decay_epochs`` (capped at
    ``epochs``: one ``DECAY_EPOCHS`` serves variants trained for fewer epochs)."""
    from comicdepth_tf.gan_training import compile_gan

    decay = None if decay_epochs is None else min(int(decay_epochs), int(epochs))
    return compile_gan(gan, epochs=epochs, steps_per_epoch=steps_per_epoch, learning_rate=learning_rate,
                       decay_epochs=decay, run_eagerly=run_eagerly)


def fit_variant(gan, domains: Domains, *, run_dir: str | os.PathLike, epochs: int, batch_size: int = 4,
                seed: int = 0, val_limit: int = 0, n_samples: int = 4, validate_every: int = 1,
                checkpoint_every: int = 1, profile: str = "", extra_config: Mapping | None = None, verbose: int = 0):
    """Train (or resume) a compiled variant into ``run_dir``.

    Args:
        gan: from :func:`build_variant` and :func:`compile_variant`.
        domains: from :func:`load_domains`.
        run_dir: the run folder (an existing run resumes).
        epochs: epochs of the run.
        batch_size: images per domain and step.
        seed: shuffling and the pools' draws (the weights' seed is :func:`build_variant`'s).
        val_limit: validation images per domain (0: all).
        n_samples: images per row of the per-epoch sample grids.
        validate_every: validation after the first, every ``validate_every``-th and the last epoch.
        checkpoint_every: epochs between saved checkpoints (see
            :func:`comicdepth_tf.gan_training.fit_cyclegan`).
        profile: recorded in ``config.json``: later stages find the newest run of their profile.
        extra_config: more values for ``config.json``.
        verbose: see :func:`comicdepth_tf.gan_training.fit_cyclegan`.

    Returns:
        A :class:`~comicdepth_tf.gan_training.GANFitResult`.
    """
    from comicdepth_tf.gan_training import fit_cyclegan, take_batch
    from comicdepth_tf.training import recipe

    built = recipe(gan).get("build", {})
    variant = built.get("variant", "simple")
    train_ds, val_ds = variant_datasets(variant, domains, size=built.get("image_size", 64), batch_size=batch_size,
                                        seed=seed, val_limit=val_limit)
    # config.json keeps the order it always had: networks, batch size, upstream runs, sources, cycle weight last.
    upstream = ("depth_run", "depth_size", "base_run", "cycle_weight")
    config = {**{k: v for k, v in built.items() if k not in upstream}, "batch_size": batch_size,
              **{k: built[k] for k in upstream[:3] if k in built}, "sources": domains.sources, "profile": profile,
              **dict(extra_config or {})}
    if "cycle_weight" in built:
        config["cycle_weight"] = built["cycle_weight"]
    return fit_cyclegan(gan, train_ds, val_ds, run_dir=run_dir, epochs=epochs, config=config,
                        sample_batch=take_batch(val_ds), n_samples=n_samples, seed=seed, verbose=verbose,
                        validate_every=validate_every, checkpoint_every=checkpoint_every)


def train_variant(variant: str, domains: Domains, *, run_dir: str | os.PathLike, image_size: int = 64,
                  filters: int = 16, residual_blocks: int | None = None, downsamplings: int = 2,
                  disc_filters: int = 16, disc_layers: int = 3,
                  pool_size: int = 50, batch_size: int = 4, epochs: int = 5, steps_per_epoch: int = 0,
                  decay_epochs: int | None = None, learning_rate: float = 2e-4, depth: DepthSource | None = None,
                  base_generator=None, base_run: str = "", seed: int = 0, val_limit: int = 0, n_samples: int = 4,
                  run_eagerly: bool = False, verbose: int = 0, extra_config: Mapping | None = None,
                  validate_every: int = 1, profile: str = "", cycle_weight: float | None = None,
                  checkpoint_every: int = 1):
    """:func:`build_variant`, :func:`compile_variant` and :func:`fit_variant` in one call (the arguments are theirs)."""
    gan = build_variant(variant, image_size=image_size, filters=filters, residual_blocks=residual_blocks,
                        downsamplings=downsamplings, disc_filters=disc_filters, disc_layers=disc_layers,
                        pool_size=pool_size, depth=depth, base_generator=base_generator, base_run=base_run,
                        cycle_weight=cycle_weight, seed=seed)
    compile_variant(gan, epochs=epochs, steps_per_epoch=epoch_steps(variant, domains, batch_size, steps_per_epoch),
                    learning_rate=learning_rate, decay_epochs=decay_epochs, run_eagerly=run_eagerly)
    return fit_variant(gan, domains, run_dir=run_dir, epochs=epochs, batch_size=batch_size, seed=seed,
                       val_limit=val_limit, n_samples=n_samples, validate_every=validate_every,
                       checkpoint_every=checkpoint_every, profile=profile, extra_config=extra_config, verbose=verbose)


def run_name(run_id: str = "") -> str:
    """The run id shared by the variants of one notebook run: ``run_id``, or a timestamp."""
    import datetime as _dt

    return run_id or _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def add_text_base(results: Mapping[str, Any], profile: str) -> str:
    """The ``without_text`` run ``add_text`` builds on.

    The run trained in this notebook run, else the newest of ``profile``, else "".
    """
    if "without_text" in results:
        return str(results["without_text"].run_dir)
    from comicdepth_tf.models.cyclegan import CYCLEGAN_FILES
    from comicdepth_tf.runs import newest_profile_run

    found = newest_profile_run(paths.models_dir() / model_name("without_text"), profile,
                               (CYCLEGAN_FILES["natural2comics"],))
    return str(found) if found else ""


def comics2natural_generators(results: Mapping[str, Any]) -> dict[str, tuple[Any, int]]:
    """``{variant: (comics→natural generator, training side)}`` of the trained CycleGAN variants."""
    return {v: (r.model.comics2natural, r.model.image_size) for v, r in results.items() if v in CYCLEGAN_VARIANTS}


def flat_scores(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{"<method>_<measure>": value}`` for :func:`comicdepth_tf.chain.reporting.record_metrics`."""
    return {f"{m}_{k}": v for m, s in scores.items() for k, v in s.items()}


def cycle_summary(history: Mapping[str, Sequence[float]], untrained: Mapping[str, float] | None = None
                  ) -> dict[str, float]:
    """Validation cycle / identity L1 of a run: untrained, first and last epoch, and last-to-earlier ratios.

    Args:
        history: the run's history (``GANFitResult.history``).
        untrained: the scores of the untrained networks (``GANFitResult.untrained``), if known.

    Returns:
        ``val_<metric>_first`` / ``_last`` (and ``_untrained``) for the cycle and identity L1,
        ``val_cycle_l1_ratio`` (last / first epoch) and ``val_cycle_l1_untrained_ratio``
        (last / untrained).
    """
    out: dict[str, float] = {}
    for key in ("val_cycle_l1", "val_identity_l1"):
        values = list(history.get(key, []))
        if values:
            out[f"{key}_first"] = float(values[0])
            out[f"{key}_last"] = float(values[-1])
        if untrained and key in untrained:
            out[f"{key}_untrained"] = float(untrained[key])
    for base, ratio in (("first", "val_cycle_l1_ratio"), ("untrained", "val_cycle_l1_untrained_ratio")):
        if out.get(f"val_cycle_l1_{base}", 0) > 0 and "val_cycle_l1_last" in out:
            out[ratio] = out["val_cycle_l1_last"] / out[f"val_cycle_l1_{base}"]
    return out


# --------------------------------------------------------------------------------------------
# Metrics: ordering accuracy, dense depth, geometry
# --------------------------------------------------------------------------------------------


def mean_ordering_accuracy(preds: Sequence, panels: Sequence, larger_is_nearer: bool = True) -> dict[str, float]:
    """Per-image ordering accuracy (:func:`comicdepth_tf.metrics.ordering_accuracy`), averaged over the
    images that have pairs of each kind.

    Args:
        preds: ``(H, W)`` maps at each panel's size.
        panels: objects with ``points`` (ordering points).
        larger_is_nearer: ``True`` for inverse depth, ``False`` for (metric or relative) depth.
    """
    from comicdepth_tf.metrics import ordering_accuracy

    convention = "inverse" if larger_is_nearer else "depth"
    per = [ordering_accuracy(p, panel.points, convention) for p, panel in zip(preds, panels)]
    out = {}
    for name in ("inter", "intra"):
        values = [d[name] for d in per if not math.isnan(d[name])]
        out[name] = float(np.mean(values)) if values else math.nan
        out[f"{name}_images"] = len(values)
    return out


def dense_depth_scores(preds: Sequence, panels: Sequence, output: str) -> dict[str, float]:
    """AbsRel and δ1 after per-image median alignment, averaged over panels with dense depth."""
    from comicdepth_tf.data.formats.rgbd import decode_depth
    from comicdepth_tf.metrics import depth_metrics

    per = []
    for pred, panel in zip(preds, panels):
        if panel.depth_gt is None:
            continue
        gt = decode_depth(panel.depth_gt, "png16_mm")
        m = depth_metrics(pred, gt, align="median", pred_space="inverse" if output == "inverse" else "depth")
        if m["n_images"]:
            per.append(m)
    if not per:
        return {"abs_rel": math.nan, "delta1": math.nan, "dense_images": 0}
    return {"abs_rel": float(np.mean([m["abs_rel"] for m in per])),
            "delta1": float(np.mean([m["delta1"] for m in per])), "dense_images": len(per)}


def _read_panels(panels: Sequence) -> list[np.ndarray]:
    return [fileio.read_image(p.image) for p in panels]


def evaluate_approach1(panels: Sequence, depth: DepthSource, generators: Mapping[str, tuple[Any, int]], *,
                       batch_size: int = 8) -> tuple[dict[str, dict[str, float]], dict[str, list]]:
    """Approach 1 (comics → natural → depth) against the depth model applied to the raw comics.

    Args:
        panels: evaluation panels (ordering points; dense depth where available).
        depth: the natural depth model.
        generators: ``{name: (comics2natural generator, its side)}``.
        batch_size: images per model call.

    Returns:
        ``(scores, predictions)``: ``scores[method]`` holds ``abs_rel``, ``delta1``, ``inter``,
        ``intra`` (and counts) for ``raw_comics`` and ``approach1_<name>``; ``predictions``
        holds the depth maps per method and the translations per ``approach1_<name>``.
    """
    from comicdepth_tf.inference import make_predict_fn

    images = _read_panels(panels)
    forward = make_predict_fn(depth.model)  # one trace for every call below
    preds = {"raw_comics": predict_depth_maps(depth.model, images, depth.size, batch_size, predict_fn=forward)}
    translations = {}
    for name, (generator, size) in generators.items():
        preds[f"approach1_{name}"], translations[f"approach1_{name}"] = comics_to_depth(
            images, generator, depth.model, size=size, depth_size=depth.size, batch_size=batch_size,
            return_translations=True, predict_fn=forward)
    larger = depth.output == "inverse"
    scores = {}
    for method, maps in preds.items():
        scores[method] = {**dense_depth_scores(maps, panels, depth.output),
                          **mean_ordering_accuracy(maps, panels, larger)}
    return scores, {"images": images, "depth": preds, "translations": translations}


#: The approach-1 configurations of notebook ``50_evaluate``, by CycleGAN variant.


def register_approach1(results: Mapping[str, Any], predictions: Mapping[str, Any], panels: Sequence,
                       depth: DepthSource, *, profile: str, set_name: str = "panels_val") -> dict[str, Path]:
    """Save approach 1's depth maps with each CycleGAN run and register them for ``50_evaluate``.

    For each trained variant of :data:`APPROACH1_CONFIGURATIONS`, the maps that
    :func:`evaluate_approach1` predicted (comics → natural with the run's generator, then the
    natural depth model; one map per panel at its original size, in the depth model's
    convention) are written to ``<run>/depth_maps/<set_name>/<stem>.npy``
    (:func:`comicdepth_tf.runs.save_depth_maps`) and the run is registered as
    ``approach1_<variant>`` for ``profile`` (:func:`comicdepth_tf.runs.register_configuration`:
    ``evaluation.json`` in the run, pointer in ``saved_models/configurations/<profile>.json``).

    Args:
        results: ``{variant: GANFitResult}`` of the notebook's training.
        predictions: the second value returned by :func:`evaluate_approach1` on ``panels``.
        panels: the evaluation panels (their ``name`` is the map's stem).
        depth: the natural depth model that made the maps (its convention is recorded).
        profile: the parameter profile.
        set_name: the evaluation set (``Domains.eval_set``; ``panels_val`` on embedded data).

    Returns:
        ``{configuration: run folder}`` of the registered runs.
    """

    registered = {}
    for variant, name in APPROACH1_CONFIGURATIONS.items():
        maps = predictions.get("depth", {}).get(f"approach1_{variant}")
        if variant not in results or maps is None:
            continue
        if len(maps) != len(panels):
            raise ParameterError(f"approach1_{variant}: {len(maps)} depth maps for {len(panels)} panels")
        for panel, image, depth_map in zip(panels, predictions["images"], maps):
            if np.shape(depth_map) != image.shape[:2]:
                raise ParameterError(f"approach1_{variant}: the map of {panel.name} is {np.shape(depth_map)}, "
                                     f"not the panel's size {image.shape[:2]}")
        run_dir = Path(results[variant].run_dir)
        runs.save_depth_maps(run_dir, set_name, {p.name: m for p, m in zip(panels, maps)})
        runs.register_configuration(run_dir, name, profile, convention=depth.output)
        registered[name] = run_dir
    return registered


def winners(scores: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
    """The best method per measure: lowest ``abs_rel``, highest ``delta1``, ``inter``, ``intra``."""
    out = {}
    for key, better in (("abs_rel", min), ("delta1", max), ("inter", max), ("intra", max)):
        valid = {m: s[key] for m, s in scores.items() if not math.isnan(s.get(key, math.nan))}
        if valid:
            out[key] = better(valid, key=valid.get)
    return out


def geometry_check(generator, depth: DepthSource, natural_samples: Sequence[dict], *, size: int,
                   batch_size: int = 8, limit: int | None = None) -> dict[str, Any]:
    """Does natural → comics keep geometry? Spearman between depth on the translation and on the source.

    Each source image is resized to the generator's side, translated, and both are given to the
    depth model at its side; the two depth maps are compared by rank correlation per image.

    Returns:
        ``{"spearman_mean", "spearman_median", "spearman_min", "n_images", "per_image"}``.
    """
    from comicdepth_tf.inference import make_predict_fn
    from comicdepth_tf.translate import _resize

    samples = list(natural_samples)[:limit] if limit else list(natural_samples)
    sources = [_resize(im, size, size) for im in as_float_images([fileio.read_image(s["image"]) for s in samples])]
    translated = translate_images(generator, sources, size, batch_size, keep_size=False)
    forward = make_predict_fn(depth.model)
    d_src = predict_depth_maps(depth.model, sources, depth.size, batch_size, predict_fn=forward)
    d_tr = predict_depth_maps(depth.model, translated, depth.size, batch_size, predict_fn=forward)
    per = np.array([spearman(a, b) for a, b in zip(d_src, d_tr)])
    valid = per[~np.isnan(per)]
    return {"spearman_mean": float(valid.mean()) if valid.size else math.nan,
            "spearman_median": float(np.median(valid)) if valid.size else math.nan,
            "spearman_min": float(valid.min()) if valid.size else math.nan, "n_images": int(valid.size),
            "per_image": per.tolist(), "examples": (sources[:4], translated[:4], d_src[:4], d_tr[:4])}


# --------------------------------------------------------------------------------------------
# Figures and tables
# --------------------------------------------------------------------------------------------


def plot_cycle_history(histories: Mapping[str, Mapping[str, Sequence[float]]]):
    """Validation cycle and identity L1 per epoch, one line per variant."""
    from comicdepth_tf.viz import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key in zip(axes, ("cycle_l1", "identity_l1")):
        for name, history in histories.items():
            for prefix, style in (("val_", "-"), ("", ":")):
                values = history.get(prefix + key) or history.get(prefix + ("outside_l1" if key == "cycle_l1" else key))
                epochs = [e for e, v in enumerate(values or [], 1) if math.isfinite(v)]  # NA: not validated
                if epochs:
                    ax.plot(epochs, [values[e - 1] for e in epochs], style, marker="o" if prefix else None, ms=3,
                            label=f"{name} ({'val' if prefix else 'train'})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{key.replace('_', ' ')} (pixels in [0, 1])")
        ax.grid(alpha=0.3)
    axes[0].set_title("cycle L1 (add_text: L1 outside the text)")
    axes[1].set_title("identity L1")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def show_image_file(path: str | os.PathLike, title: str = "", width: float = 9.0):
    """Show a saved PNG (e.g. the last sample grid) as a figure."""
    from comicdepth_tf.viz import pyplot

    plt = pyplot()
    image = fileio.read_image(path)
    fig, ax = plt.subplots(figsize=(width, width * image.shape[0] / image.shape[1]))
    ax.imshow(image)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def approach1_figure(panels: Sequence, predictions: Mapping[str, Any], output: str, n: int = 4, size: float = 2.0):
    """Per panel: the comics, exact depth, raw-comics depth, each translation and its depth (near = bright)."""
    from comicdepth_tf.data.formats.rgbd import decode_depth
    from comicdepth_tf.viz import colorize_depth, pyplot

    plt = pyplot()
    cmap = "magma" if output == "inverse" else "magma_r"
    methods = list(predictions["depth"])
    cols = ["comics", "exact depth"] + [c for m in methods for c in ((m,) if m == "raw_comics" else (f"{m} image", m))]
    n = min(n, len(panels))
    fig, axes = plt.subplots(n, len(cols), figsize=(size * len(cols), size * n), squeeze=False)
    for r in range(n):
        cells = [predictions["images"][r]]
        gt = decode_depth(panels[r].depth_gt, "png16_mm") if panels[r].depth_gt is not None else None
        cells.append(colorize_depth(gt) if gt is not None else np.zeros((8, 8, 3), np.uint8))
        for m in methods:
            if m != "raw_comics":
                cells.append(predictions["translations"][m][r])
            cells.append(colorize_depth(predictions["depth"][m][r], cmap=cmap))
        for c, (ax, cell) in enumerate(zip(axes[r], cells)):
            ax.imshow(np.clip(cell, 0, 1) if cell.dtype != np.uint8 else cell)
            ax.axis("off")
            if r == 0:
                ax.set_title(cols[c].replace("approach1_", "A1 "), fontsize=8)
    fig.tight_layout()
    return fig


def geometry_figure(check: Mapping[str, Any], output: str, size: float = 2.0):
    """Natural sources, their comics translations and the depth predicted on each (near = bright)."""
    from comicdepth_tf.viz import colorize_depth, pyplot

    plt = pyplot()
    cmap = "magma" if output == "inverse" else "magma_r"
    sources, translated, d_src, d_tr = check["examples"]
    n = len(sources)
    fig, axes = plt.subplots(4, n, figsize=(size * n, size * 4), squeeze=False)
    rows = [
        ("natural", sources),
        ("→ comics", translated),
        ("depth(natural)", [colorize_depth(d, cmap=cmap) for d in d_src]),
        ("depth(comics)", [colorize_depth(d, cmap=cmap) for d in d_tr]),
    ]
    for r, (name, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c] if images[c].dtype == np.uint8 else np.clip(images[c], 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
            if r == 3:
                ax.set_xlabel(f"ρ = {check['per_image'][c]:.2f}", fontsize=8)
    fig.tight_layout()
    return fig


def scores_table(scores: Mapping[str, Mapping[str, float]]):
    """The approach-1 scores as a pandas DataFrame (one row per method)."""
    import pandas as pd

    columns = ["abs_rel", "delta1", "inter", "intra", "dense_images", "inter_images", "intra_images"]
    return pd.DataFrame([{"method": m, **{c: s.get(c) for c in columns}} for m, s in scores.items()]).set_index(
        "method"
    )


def timer() -> dict[str, float]:
    """Wall and process CPU time now (for the notebook's cost report)."""
    return {"wall": time.perf_counter(), "cpu": time.process_time()}


def elapsed(start: Mapping[str, float]) -> dict[str, float]:
    """Wall and CPU seconds since :func:`timer`."""
    now = timer()
    return {"wall_seconds": round(now["wall"] - start["wall"], 1), "cpu_seconds": round(now["cpu"] - start["cpu"], 1)}
