"""The orchestration of notebook ``40_comics_depth``: upstream runs, data, baselines, approach 2, AI4VA.

The building blocks are in :mod:`comicdepth_tf.approach2` (approach 2, batch-norm baseline,
depth maps), :mod:`comicdepth_tf.adapt` and :mod:`comicdepth_tf.ai4va_predictor`. This module
strings them together the way the notebook runs them, so that the notebook keeps to
parameters, narrative and short calls:

* :func:`load_upstream` — the natural depth model (notebook 10) and the GAN generators
  (notebook 30) the chosen variants need; a missing run raises a
  :class:`~comicdepth_tf.errors.DataFormatError` naming the run and the notebook that makes it.
* :func:`load_data` — natural images with depth (the embedded NYU layout: train for training
  pairs, test for validation pairs), real comics panels with their text masks (the add-text
  GAN's input and the batch-norm pass), the evaluation set ``panels_val``.
* :func:`run_baselines`, :func:`run_variant` — each model is saved under
  ``saved_models/comics_depth/<run_id>-<model>/``, reloaded from disk, its depth maps for
  ``panels_val`` written at the original sizes and registered for notebook ``50_evaluate``,
  and its ordering accuracy measured on those maps.
* :func:`run_ai4va` — the per-segment predictor on predicted and on exact depth, the seed-style
  whole-page baseline and the constant, with the val/test prediction tables saved and
  registered.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from comicdepth_tf import approach2 as cd
from comicdepth_tf import runs
from comicdepth_tf.approach2 import output_convention  # noqa: F401  (re-exported for the notebook)
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.sizes import size_hw

# isort: split
# Re-exported: the notebook imports its stage module only, and calls them as ``cx.<name>``.
from comicdepth_tf.comparisons import parse_seeds  # noqa: F401
from comicdepth_tf.training import use_devices  # noqa: F401

STAGE = "40_comics_depth"
BASELINES = ("no_batchnorm_trick", "batchnorm_trick")
SEGMENT_MODEL_NAME = "ai4va_segment"
PAGE_BASELINE_MODEL_NAME = "ai4va_seed_baseline"
REGRESSOR_FILE = "regressor.json"


def parse_variants(text: str) -> list[str]:
    """``"simple,add_text"`` → ``["simple", "add_text"]`` (checked against :data:`comics_depth.VARIANTS`)."""
    names = [v.strip() for v in str(text).split(",") if v.strip()]
    unknown = [v for v in names if v not in cd.VARIANTS]
    if unknown:
        raise ParameterError(f"unknown variants {unknown}; expected a comma-separated subset of {cd.VARIANTS}")
    return names


def parse_grid(text: str) -> list[float]:
    """``"3e-4,1e-3"`` → ``[3e-4, 1e-3]`` (positive learning rates)."""
    try:
        grid = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError as exc:
        raise ParameterError(f"LR_GRID must be comma-separated numbers, got {text!r}") from exc
    if not grid or any(v <= 0 for v in grid):
        raise ParameterError(f"LR_GRID must hold positive learning rates, got {text!r}")
    return grid


def default_run_id(profile: str, seed: int) -> str:
    """``<profile>-<seed>``: re-running the notebook resumes the same runs."""
    return f"{profile}-{seed}"


def seed_run_id(run_id: str, seed: int, primary_seed: int) -> str:
    """The run id of one training seed: ``run_id`` itself for the primary seed (``SEED``: the
    single-seed run, so that a single-seed chain's runs count as that seed), else
    ``<run_id>-seed<seed>``. The dataset is always the primary seed's: only training is re-seeded."""
    return run_id if int(seed) == int(primary_seed) else f"{run_id}-seed{int(seed)}"


@dataclass(frozen=True)
class Settings:
    """What trains the models of one seed (the notebook's parameters, see its parameters cell)."""

    variants: tuple[str, ...]
    grid: tuple[float, ...]
    search_epochs: int
    search_limit: int
    search_every_variant: bool
    epochs: int
    batch_size: int
    init: str
    loss: str
    augment: bool
    bn_momentum: float
    baseline_epochs: int
    alpha: float
    exact: bool


def settings_from(cfg, loss: str) -> Settings:
    """The :class:`Settings` of notebook 40's frozen config (``loss``: the resolved loss name)."""
    return Settings(tuple(cfg.VARIANT_LIST), tuple(cfg.GRID), cfg.LR_SEARCH_EPOCHS, cfg.LR_SEARCH_LIMIT,
                    cfg.SEARCH_EVERY_VARIANT, cfg.EPOCHS, cfg.BATCH_SIZE, cfg.INIT, loss, cfg.AUGMENT, cfg.BN_MOMENTUM,
                    cfg.BASELINE_EPOCHS, cfg.AI4VA_ALPHA, cfg.AI4VA_EXACT)


# --------------------------------------------------------------------------- upstream runs


@dataclass
class Upstream:
    """The runs this notebook builds on.

    Attributes:
        natural: the natural depth model (notebook 10).
        natural_run: its run folder.
        predict_size: the network size it predicts at (longer side).
        convention: its output convention (``metric``, ``inverse``, ``relative``).
        generators: GAN variant (``simple``, ``without_text``, ``add_text``) -> network.
        gan_runs: GAN variant -> run folder.
        digests: ``natural`` and GAN variant -> :func:`~comicdepth_tf.models.registry.model_digest`
            of the network (filled by :func:`upstream_identity`; a run folder retrained under
            the same name changes it).
        input_size: ``(H, W)`` it was trained at (the default size of the approach-2 pairs).
        loss: the loss it was trained with (the default loss of approach 2: fine-tuning with
            another loss would first undo what the natural model learnt).
    """

    natural: Any
    natural_run: Path
    predict_size: int
    convention: str
    generators: dict[str, Any] = field(default_factory=dict)
    gan_runs: dict[str, Path] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    input_size: tuple[int, int] = (256, 256)
    loss: str = "depth"


def gan_variants_needed(variants: Sequence[str]) -> list[str]:
    """The notebook-30 GANs the approach-2 variants need (``simple``; ``without_text`` + ``add_text``)."""
    need = []
    for v in variants:
        if v not in cd.GENERATOR_VARIANT:  # exact_comics: no translation
            continue
        for g in ((cd.GENERATOR_VARIANT[v],) + (("add_text",) if v != "simple" else ())):
            if g not in need:
                need.append(g)
    return need


def load_upstream(
    depth_run: str, profile: str, variants: Sequence[str], gan_runs: dict[str, str] | None = None
) -> Upstream:
    """Load the natural depth model and the generators the variants need.

    Args:
        depth_run: the natural model's run (folder, id or pointer); empty: ``latest-<profile>``.
        profile: the parameter profile.
        variants: approach-2 variants to train.
        gan_runs: GAN variant -> run (folder or id); missing/empty: the newest run of that GAN
            made with ``profile``.

    Raises:
        DataFormatError: a run is missing (the message names the notebook that makes it).
    """
    from comicdepth_tf.inference import default_size

    model, config = cd.load_natural_model(depth_run or f"{runs.LATEST_PREFIX}{profile}")
    size = default_size(config)
    size = int(max(size)) if isinstance(size, tuple) else int(size)
    trained_at = config.get("input_size") or (size, size)
    loss = config.get("LOSS") or (config.get("train") or {}).get("loss") or "depth"
    up = Upstream(model, Path(config["run_dir"]), size, cd.output_convention(model),
                  input_size=size_hw(trained_at), loss=str(loss))
    for gan in gan_variants_needed(variants):
        up.generators[gan], up.gan_runs[gan] = cd.load_generator((gan_runs or {}).get(gan, ""), gan, profile)
    return up


def upstream_identity(up: Upstream, variant: str | None = None) -> dict[str, str]:
    """The digests of the networks a run is made from: the natural model and a variant's GANs
    (None: every GAN loaded). Run ids name the variant only; these name what it was made from."""
    from comicdepth_tf.models.registry import model_digest

    names = ["natural", *(sorted(up.generators) if variant is None else gan_variants_needed([variant]))]
    for name in names:
        if name not in up.digests:
            up.digests[name] = model_digest(up.natural if name == "natural" else up.generators[name])
    return {name: up.digests[name] for name in names}


# --------------------------------------------------------------------------- data


@dataclass
class Data:
    """Everything the notebook trains and scores on.

    Attributes:
        root: the dataset root.
        natural_train, depth_train: natural training images and their depth ``(N, H, W, ·)``.
        natural_val, depth_val: natural validation images and depth.
        comics, comics_masks: real comics panels and text masks ``(M, H, W, ·)``.
        eval_set: the evaluation set (``panels_val``).
    """

    root: Path
    natural_train: np.ndarray
    depth_train: np.ndarray | None
    natural_val: np.ndarray
    depth_val: np.ndarray | None
    comics: np.ndarray
    comics_masks: np.ndarray
    eval_set: Any

    def counts(self) -> dict[str, int]:
        """Images per part."""
        return {"natural_train": len(self.natural_train), "natural_val": len(self.natural_val),
                "comics_train": len(self.comics), "eval_panels": len(self.eval_set)}


def load_data(data_dir: str, profile: str, *, size: int | Sequence[int], seed: int = 0, train_limit: int = 0,
              val_limit: int = 0, comics_limit: int = 0) -> Data:
    """Natural RGB-D pairs (NYU layout), comics panels with text masks, and ``panels_val``.

    Args:
        data_dir: dataset root holding ``nyu/`` and ``panels/``; empty: the embedded dataset of
            ``profile`` (generated when absent).
        profile: embedded dataset profile.
        size: side of square training images, or ``(H, W)`` (usually :attr:`Upstream.input_size`).
        seed: embedded dataset seed.
        train_limit, val_limit, comics_limit: use the first N images of each part (0: all).
    """
    from comicdepth_tf import evaluation, paths
    from comicdepth_tf.data import synthetic
    from comicdepth_tf.data.formats import nyu

    root = Path(data_dir).expanduser() if data_dir else synthetic.ensure_dataset(profile, seed=seed)
    if data_dir and not Path(root).is_absolute():
        root = paths.data_dir() / root
    sets = nyu.load_nyu(root / "nyu")
    if "train" not in sets or "test" not in sets:
        raise DataFormatError(root / "nyu", "csv", "nyu2_train.csv and nyu2_test.csv (NYU Kaggle layout)")
    train_images, train_depth = cd.load_natural(sets["train"], size, limit=train_limit or None)
    val_images, val_depth = cd.load_natural(sets["test"], size, limit=val_limit or None)
    comics, masks = cd.load_comics_with_text(root / "panels" / "train", size, limit=comics_limit or None)
    eval_sets = evaluation.load_eval_sets(root, "val")
    if "panels_val" not in eval_sets:
        raise DataFormatError(root / "panels" / "val", "images", "the evaluation panels panels/val/images")
    return Data(root, train_images, train_depth, val_images, val_depth, comics, masks, eval_sets["panels_val"])


# --------------------------------------------------------------------------- models


def _finish(model, name: str, run_dir: Path, data: Data, *, profile: str, size: int, convention: str,
            seed: int | None = None, primary: bool = True) -> dict[str, Any]:
    """Write a saved model's maps for ``panels_val``, register them, and score their ordering."""
    cd.write_depth_maps(model, run_dir, data.eval_set, size=size, configuration=_configuration(name), profile=profile,
                        seed=seed, primary=primary)
    return cd.ordering_row(name, run_dir, data.eval_set, convention)


def _configuration(name: str) -> str:
    return name if name in BASELINES else f"approach2_{name}"


def run_baselines(up: Upstream, data: Data, *, run_id: str, profile: str, batch_size: int = 8,
                  momentum: float = 0.002, seed: int | None = None, primary: bool = True) -> list[dict[str, Any]]:
    """``no_batchnorm_trick`` (the natural model as is) and ``batchnorm_trick`` (statistics re-estimated on comics).

    Each gets ``saved_models/comics_depth/<run_id>-<baseline>/`` with its depth maps of
    ``panels_val``; the batch-norm model is also saved (``model.keras``) and reloaded before
    predicting. The natural model's own run folder is left untouched. ``seed`` and ``primary``
    only register the runs (neither baseline is trained, so every seed gets the same maps).
    """
    from comicdepth_tf.models.registry import load_model, save_model

    rows = []
    started = time.perf_counter()
    plain_dir = runs.new_run_dir(cd.MODEL_NAME, f"{run_id}-no_batchnorm_trick")
    from comicdepth_tf import fileio

    fileio.atomic_write_json(plain_dir / "config.json",
                             {"model": "no_batchnorm_trick", "natural_run": str(up.natural_run),
                              "profile": profile, "predict_size": up.predict_size})
    rows.append({**_finish(up.natural, "no_batchnorm_trick", plain_dir, data, profile=profile, size=up.predict_size,
                           convention=up.convention, seed=seed, primary=primary),
                 "seconds": time.perf_counter() - started})
    started = time.perf_counter()
    trick_dir = runs.new_run_dir(cd.MODEL_NAME, f"{run_id}-batchnorm_trick")
    adapted = cd.batchnorm_trick_model(up.natural, data.comics, batch_size=batch_size, momentum=momentum)
    save_model(
        adapted,
        trick_dir,
        {
            "model": "batchnorm_trick",
            "natural_run": str(up.natural_run),
            "momentum": momentum,
            "comics_images": len(data.comics),
            "profile": profile,
            "predict_size": up.predict_size,
        },
    )
    reloaded = load_model(trick_dir)
    rows.append({**_finish(reloaded, "batchnorm_trick", trick_dir, data, profile=profile, size=up.predict_size,
                           convention=cd.output_convention(reloaded), seed=seed, primary=primary),
                 "seconds": time.perf_counter() - started})
    return rows


def make_variant_pairs(up: Upstream, data: Data, variant: str, *, batch_size: int = 8, seed: int = 0,
                       shared: dict | None = None):
    """``(train, val)`` :class:`~comicdepth_tf.approach2.Pairs` of a variant.

    The two ``add_text`` variants translate the same images the same way and differ only in the
    targets inside the text (:func:`~comicdepth_tf.approach2.ignore_text`): with a ``shared``
    dict, the first of them leaves its pairs there and the second takes them out, which saves
    two generator passes over every pair.
    """
    if variant == "simple":
        return _translated_pairs(up, data, variant, batch_size, seed)
    if variant not in cd.GENERATOR_VARIANT:
        return cd.load_exact_comics(data.root / "panels" / "train", data.comics.shape[1:3])
    key = (cd.GENERATOR_VARIANT[variant], seed)
    pairs = shared.pop(key, None) if shared is not None else None
    if pairs is None:
        pairs = _translated_pairs(up, data, "add_text", batch_size, seed)
        if shared is not None:
            shared[key] = pairs
    return pairs if variant == "add_text" else tuple(cd.ignore_text(p) for p in pairs)


def _translated_pairs(up: Upstream, data: Data, variant: str, batch_size: int, seed: int):
    gen = up.generators[cd.GENERATOR_VARIANT[variant]]
    kw = dict(natural_model=up.natural, batch_size=batch_size)
    if variant != "simple":
        kw.update(add_text_generator=up.generators["add_text"], comics=data.comics, comics_text_masks=data.comics_masks)
    train = cd.make_pairs(data.natural_train, data.depth_train, gen, variant, seed=seed, **kw)
    val = cd.make_pairs(data.natural_val, data.depth_val, gen, variant, seed=seed + 1, **kw)
    return train, val


@dataclass
class VariantResult:
    """One approach-2 variant: its ordering row, lr-search rows, run folder and a few pairs to show."""

    row: dict[str, Any]
    lr_rows: list[dict]
    run_dir: Path
    examples: dict[str, np.ndarray]


def run_variant(up: Upstream, data: Data, variant: str, *, run_id: str, profile: str, grid: Sequence[float],
                search_epochs: int, epochs: int, batch_size: int, init: str = "natural", loss: Any = "depth",
                augment: bool = True, learning_rate: float | None = None, seed: int = 0,
                search_limit: int = 0, primary: bool = True, shared: dict | None = None) -> VariantResult:
    """Pairs → learning-rate search (unless ``learning_rate`` is given) → full run → save → reload → maps → score.

    ``augment`` flips training pairs (:func:`~comicdepth_tf.approach2.augment_config`) in the
    search and the full run; ``search_limit`` > 0 searches on that many pairs (see
    :func:`~comicdepth_tf.approach2.lr_search`).

    The run is ``saved_models/comics_depth/<run_id>-<variant>/`` (the search runs under its
    ``lr_search/``); an existing run resumes. It is registered with ``seed`` (``primary``: also
    as the single-seed path's run).
    """
    from comicdepth_tf.models.registry import load_model, save_model

    started = time.perf_counter()
    train, val = make_variant_pairs(up, data, variant, batch_size=batch_size, seed=seed, shared=shared)
    run_dir = runs.new_run_dir(cd.MODEL_NAME, f"{run_id}-{variant}")
    # The run's id names the variant only: a retrained GAN or natural model must not be resumed.
    upstream = upstream_identity(up, variant)
    lr_rows: list[dict] = []
    if learning_rate is None:
        search = cd.lr_search(up.natural, train, val, grid, epochs=search_epochs, batch_size=batch_size,
                              run_root=run_dir / "lr_search", init=init, loss=loss, augment=augment, seed=seed,
                              limit=search_limit, upstream=upstream)
        learning_rate, lr_rows = search.best, [{"variant": variant, **r} for r in search.rows]
    gc.collect()  # the search's last model (reference cycles) before the full run's copy
    result = cd.train_variant(up.natural, train, val, run_dir=run_dir, learning_rate=learning_rate, epochs=epochs,
                              batch_size=batch_size, init=init, loss=loss, augment=augment, seed=seed,
                              upstream=upstream)
    config = {
        "model": cd.MODEL_NAME,
        "variant": variant,
        "init": init,
        "learning_rate": learning_rate,
        "epochs": epochs,
        "augment": bool(augment),
        "natural_run": str(up.natural_run),
        "gan_runs": {k: str(v) for k, v in up.gan_runs.items()},
        "upstream_digests": upstream,
        "pseudo_gt": train.pseudo_gt,
        "train_pairs": len(train),
        "val_pairs": len(val),
        "profile": profile,
        "predict_size": up.predict_size,
        "input_size": list(train.image.shape[1:3]),
    }
    save_model(result.model, run_dir, config, {"best_val_loss": result.best_value, "best_epoch": result.best_epoch})
    reloaded = load_model(run_dir)
    row = _finish(reloaded, variant, run_dir, data, profile=profile, size=up.predict_size,
                  convention=cd.output_convention(reloaded), seed=seed, primary=primary)
    row.update(learning_rate=learning_rate, best_val_loss=result.best_value, best_epoch=result.best_epoch,
               seconds=time.perf_counter() - started)
    k = min(4, len(train))
    # Copies: views would keep every variant's whole pair arrays alive for the rest of the notebook.
    source = train.image if variant in cd.REFERENCE_VARIANTS else data.natural_train
    examples = {"natural": source[:k].copy(), "fake": train.image[:k].copy(),
                "target": train.depth[:k].copy()}
    return VariantResult(row, lr_rows, run_dir, examples)


@dataclass
class VariantsResult:
    """Every approach-2 variant of one seed: ordering rows, lr-search rows, pairs to show, run folders."""

    rows: list[dict[str, Any]]
    lr_rows: list[dict]
    examples: dict[str, dict[str, np.ndarray]]
    run_dirs: dict[str, Path]


def run_variants(up: Upstream, data: Data, settings: Settings, *, run_id: str, profile: str, seed: int,
                 primary: bool = True, log=print) -> VariantsResult:
    """:func:`run_variant` for every variant of ``settings``; unless ``search_every_variant``, the
    first variant's searched rate is reused by the others."""
    out = VariantsResult([], [], {}, {})
    learning_rate = None
    shared: dict = {}  # the add_text variants' common translations
    for variant in settings.variants:
        result = run_variant(up, data, variant, run_id=run_id, profile=profile, grid=settings.grid,
                             search_epochs=settings.search_epochs, search_limit=settings.search_limit,
                             epochs=settings.epochs, batch_size=settings.batch_size, init=settings.init,
                             loss=settings.loss, augment=settings.augment, learning_rate=learning_rate, seed=seed,
                             primary=primary, shared=shared)
        out.rows.append(result.row)
        out.lr_rows += result.lr_rows
        out.examples[variant], out.run_dirs[variant] = result.examples, result.run_dir
        learning_rate = None if settings.search_every_variant else result.row["learning_rate"]
        log(f"{variant} (seed {seed}): lr {result.row['learning_rate']:g}, inter {result.row['inter_acc']:.3f}, "
            f"intra {result.row['intra_acc']:.3f}, {result.row['seconds']:.0f} s")
        gc.collect()  # this variant's models and pairs (reference cycles) before the next variant's
    return out


def ordering_frame(rows: Sequence[dict]):
    """The table of all models, sorted as run (baselines first)."""
    import pandas as pd

    cols = [
        "model",
        "inter_acc",
        "intra_acc",
        "images",
        "learning_rate",
        "best_val_loss",
        "best_epoch",
        "seconds",
        "run",
    ]
    df = pd.DataFrame(list(rows))
    return df[[c for c in cols if c in df.columns]]


def ordering_bar_chart(df, baseline: str = "no_batchnorm_trick", margin: float = 0.05):
    """Bar chart of inter-/intra-object ordering accuracy per model, with the target line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.3 * len(df) + 2.5, 3.2))
    x = np.arange(len(df))
    ax.bar(x - 0.2, df["inter_acc"], 0.4, label="inter-object")
    ax.bar(x + 0.2, df["intra_acc"], 0.4, label="intra-object")
    if baseline in set(df["model"]):
        ref = float(df.loc[df["model"] == baseline, "inter_acc"].iloc[0])
        ax.axhline(ref + margin, color="k", ls="--", lw=1, label=f"{baseline} + {margin:g}")
    ax.set_xticks(x, df["model"], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("ordering accuracy (panels_val)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def pairs_figure(examples: dict[str, dict[str, np.ndarray]], n: int = 3, size: float = 1.7):
    """Natural image, its depth target, and each variant's fake comics (rows: images)."""
    import matplotlib.pyplot as plt

    first = next(iter(examples.values()))
    n = min(n, len(first["natural"]))
    cols = ["natural", "target"] + list(examples)
    fig, axes = plt.subplots(n, len(cols), figsize=(size * len(cols), size * n), squeeze=False)
    for i in range(n):
        panels = [first["natural"][i], first["target"][i, ..., 0]] + [e["fake"][i] for e in examples.values()]
        for j, (title, img) in enumerate(zip(cols, panels)):
            ax = axes[i, j]
            ax.imshow(img, cmap="magma_r" if img.ndim == 2 else None)
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title if j < 2 else f"fake: {title}", fontsize=8)
    fig.tight_layout()
    return fig


def lr_frame(lr_rows: Sequence[dict]):
    """The learning-rate search table (empty when no search ran)."""
    import pandas as pd

    return pd.DataFrame(list(lr_rows), columns=["variant", "learning_rate", "best_val_loss", "best_epoch",
                                                "diverged_epoch"])


def best_variant(rows: Sequence[dict]) -> dict:
    """The approach-2 row with the highest inter-object accuracy; a reference variant
    (:data:`~comicdepth_tf.approach2.REFERENCE_VARIANTS`) only when nothing else was trained."""
    trained = [r for r in rows if r["model"] in cd.VARIANTS]
    candidates = [r for r in trained if r["model"] not in cd.REFERENCE_VARIANTS] or trained
    if not candidates:
        raise ParameterError("no approach-2 variant was trained")
    return max(candidates, key=lambda r: (r["inter_acc"], r["intra_acc"]))


def load_best(rows: Sequence[dict], run_dirs: dict[str, Path]):
    """``(row, model)`` of the best approach-2 variant, the model loaded from its saved run."""
    from comicdepth_tf.models.registry import load_model

    best = best_variant(rows)
    return best, load_model(run_dirs[best["model"]])


# --------------------------------------------------------------------------- AI4VA


def page_depth_maps(model, dataset, size: int, batch_size: int = 8) -> dict[int, np.ndarray]:
    """A depth model's maps of every page of an AI4VA split, at the page's size, by image id."""
    from comicdepth_tf.inference import predict_depth

    maps = predict_depth(model, [p.path for p in dataset.pages], size=size, batch_size=batch_size)
    return {p.image_id: m for p, m in zip(dataset.pages, maps)}


def run_ai4va(data_root: str | os.PathLike, depth_model, *, convention: str, size: int, run_id: str, profile: str,
              source_run: str | os.PathLike = "", baseline_epochs: int = 30, baseline_batch_size: int = 8,
              baseline_lr: float = 1e-3, alpha: float = 1.0, exact: bool = True, seed: int = 0,
              primary: bool = True) -> dict[str, Any]:
    """Per-segment predictor vs the seed-style whole-page baseline vs the constant, on AI4VA val.

    The realistic predictor uses ``depth_model``'s maps of the pages (its features on train fit
    the regressor; val and test are predicted from the same kind of maps). With ``exact`` (the
    embedded data's dense depth), the same predictor on exact depth is reported too. Val and
    test predictions of the realistic predictor and of the page baseline are saved and
    registered (``ai4va_segment``, ``ai4va_page_baseline``) with ``seed`` (``primary``: also as the
    single-seed path's runs).

    Returns:
        ``{"table": DataFrame (predictor × MSE), "metrics": {...}, "regressor": SegmentRegressor,
        "segment_run": Path, "page_run": Path}``.
    """
    import pandas as pd

    from comicdepth_tf import ai4va_predictor as ap
    from comicdepth_tf import fileio
    from comicdepth_tf.data.formats.ai4va import load_ai4va_splits
    from comicdepth_tf.models.registry import save_model

    splits = load_ai4va_splits(data_root)
    for split in ("train", "val", "test"):
        if split not in splits:
            raise DataFormatError(Path(data_root) / "ai4va", "annotations", f"the AI4VA {split} split")
    train, val, test = splits["train"], splits["val"], splits["test"]
    cats = sorted(train.categories)
    nearer = convention == "inverse"
    timings: dict[str, float] = {}

    t = time.perf_counter()
    maps = {s: page_depth_maps(depth_model, splits[s], size) for s in ("train", "val", "test")}
    timings["predict_pages_s"] = time.perf_counter() - t
    t = time.perf_counter()
    tables = {s: ap.build_feature_table(splits[s], maps[s], cats, larger_is_nearer=nearer) for s in maps}
    timings["features_s"] = time.perf_counter() - t
    regressor = ap.SegmentRegressor(alpha=alpha).fit(tables["train"])
    preds = {s: regressor.predict(tables[s], "per_segment_predicted") for s in ("val", "test")}
    rows = [{"predictor": "per_segment (predicted depth)", **ap.segment_mse(preds["val"], val)}]

    if exact:
        t = time.perf_counter()
        exact_tables = {s: ap.build_feature_table(splits[s], ap.exact_depth, cats) for s in ("train", "val")}
        exact_reg = ap.SegmentRegressor(alpha=alpha).fit(exact_tables["train"])
        rows.append({"predictor": "per_segment (exact depth)",
                     **ap.segment_mse(exact_reg.predict(exact_tables["val"], "per_segment_exact"), val)})
        timings["exact_features_s"] = time.perf_counter() - t

    t = time.perf_counter()
    page_run = runs.new_run_dir(PAGE_BASELINE_MODEL_NAME, run_id)
    fit = ap.train_seed_baseline(train, val, page_run, epochs=baseline_epochs, batch_size=baseline_batch_size,
                                 learning_rate=baseline_lr, seed=seed)
    save_model(fit.model, page_run, {"model": PAGE_BASELINE_MODEL_NAME, "epochs": baseline_epochs, "input_size": 128,
                                     "profile": profile}, {"best_val_loss": fit.best_value})
    page_preds = {s: ap.seed_baseline_predictions(fit.model, d) for s, d in (("val", val), ("test", test))}
    rows.append({"predictor": "seed whole-page baseline", **ap.segment_mse(page_preds["val"], val)})
    timings["page_baseline_s"] = time.perf_counter() - t

    constant = ap.ConstantPredictor().fit(train)
    rows.append({"predictor": "constant (training mean)", **ap.segment_mse(constant.predict(val), val)})

    segment_run = runs.new_run_dir(SEGMENT_MODEL_NAME, run_id)
    fileio.atomic_write_json(segment_run / REGRESSOR_FILE, regressor.to_dict())
    fileio.atomic_write_json(segment_run / "config.json", {"model": SEGMENT_MODEL_NAME, "depth_run": str(source_run),
                                                       "convention": convention, "predict_size": size, "alpha": alpha,
                                                       "profile": profile})
    for run_dir, name, predictions in (
        (segment_run, "ai4va_segment", preds),
        (page_run, "ai4va_page_baseline", page_preds),
    ):
        for split, data in (("val", val), ("test", test)):
            runs.save_ai4va_predictions(run_dir, split, ap.predictions_frame(predictions[split]), data)
        runs.register_configuration(run_dir, name, profile, seed=seed, primary=primary)

    table = pd.DataFrame(rows)
    by = {r["predictor"]: r["mse_overall"] for r in rows}
    seg, page, const = (
        by["per_segment (predicted depth)"],
        by["seed whole-page baseline"],
        by["constant (training mean)"],
    )
    metrics = {"ai4va_mse_segment": seg, "ai4va_mse_page_baseline": page, "ai4va_mse_constant": const,
               "ai4va_segment_over_page": seg / page if page else float("nan"),
               "ai4va_done_half_of_page": bool(seg <= 0.5 * page), "ai4va_done_below_constant": bool(seg < const),
               **({"ai4va_mse_segment_exact": by["per_segment (exact depth)"]} if exact else {}),
               **{f"ai4va_{k}": v for k, v in timings.items()}}
    return {
        "table": table,
        "metrics": metrics,
        "regressor": regressor,
        "segment_run": segment_run,
        "page_run": page_run,
    }


# --------------------------------------------------------------------------- several seeds

#: ``saved_models/seeds/<run_id>.json``: what one finished seed produced (next to ``stages/``).
SEEDS_DIR = "seeds"


def seed_record_path(run_id: str) -> Path:
    """Where :func:`run_seed` records a finished seed."""
    from comicdepth_tf import paths

    return paths.models_dir() / SEEDS_DIR / f"{run_id}.json"


def _seed_key(up: Upstream, settings: Settings, seed: int, profile: str) -> dict[str, Any]:
    import json

    from comicdepth_tf.env import source_digest

    key = {"settings": asdict(settings), "seed": int(seed), "profile": profile, "natural_run": str(up.natural_run),
           "gan_runs": {k: str(v) for k, v in sorted(up.gan_runs.items())}, "upstream": upstream_identity(up),
           "source": source_digest()}
    return json.loads(json.dumps(key))  # as read back from the record (tuples become lists)


def _reusable(record: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    from comicdepth_tf.fileio import read_json

    if not record.is_file():
        return None
    done = read_json(record)
    # Same settings and upstream runs, and every run folder still there: training again would
    # only reproduce it (training is deterministic).
    if done.get("key") != key or not all(Path(d).is_dir() for d in done.get("run_dirs", {}).values()):
        return None
    return done


def run_seed(up: Upstream, data: Data, settings: Settings, *, run_id: str, profile: str, seed: int,
             primary: bool = False, log=print) -> dict[str, Any]:
    """Every model of the notebook for one training seed: baselines, approach-2 variants, AI4VA.

    The models are saved under ``run_id`` (see :func:`seed_run_id`) and registered with ``seed``
    for notebook 50. When the seed finished before with the same settings and upstream runs (its
    record ``saved_models/seeds/<run_id>.json`` and run folders exist) nothing is trained or
    written again: the record is returned.

    Returns:
        ``{"key", "rows" (ordering rows of every model), "lr_rows", "run_dirs", "best",
        "ai4va_table" (records), "ai4va_metrics", "reused"}``.
    """
    from comicdepth_tf.fileio import atomic_write_json

    record = seed_record_path(run_id)
    key = _seed_key(up, settings, seed, profile)
    done = _reusable(record, key)
    if done is not None:
        log(f"seed {seed}: reused {record}")
        return {**done, "reused": True}
    rows = run_baselines(up, data, run_id=run_id, profile=profile, batch_size=settings.batch_size,
                         momentum=settings.bn_momentum, seed=seed, primary=primary)
    variants = run_variants(up, data, settings, run_id=run_id, profile=profile, seed=seed, primary=primary, log=log)
    rows += variants.rows
    best, best_model = load_best(rows, variants.run_dirs)
    ai4va = run_ai4va(data.root, best_model, convention=output_convention(best_model), size=up.predict_size,
                      run_id=run_id, profile=profile, source_run=variants.run_dirs[best["model"]],
                      baseline_epochs=settings.baseline_epochs, alpha=settings.alpha, exact=settings.exact, seed=seed,
                      primary=primary)
    out = {"key": key, "rows": rows, "lr_rows": variants.lr_rows, "best": best["model"],
           "run_dirs": {**{k: str(v) for k, v in variants.run_dirs.items()},
                        "ai4va_segment": str(ai4va["segment_run"]), "ai4va_page_baseline": str(ai4va["page_run"])},
           "ai4va_table": ai4va["table"].to_dict("records"), "ai4va_metrics": ai4va["metrics"]}
    atomic_write_json(record, out)
    return {**out, "reused": False}


def seeds_frame(results: dict[int, dict[str, Any]]):
    """Ordering rows and AI4VA MSE of every seed's models, one row per seed and model."""
    import pandas as pd

    frames = []
    for seed, result in results.items():
        df = ordering_frame(result["rows"]).assign(seed=seed)
        ai = result.get("ai4va_metrics", {})
        frames.append(df)
        frames.append(pd.DataFrame([{"model": name, "seed": seed, "ai4va_mse_overall": ai.get(f"ai4va_mse_{k}")}
                                    for name, k in (("ai4va_segment", "segment"),
                                                    ("ai4va_page_baseline", "page_baseline"),
                                                    ("ai4va_constant", "constant"))]))
    out = pd.concat(frames, ignore_index=True)
    return out[["seed"] + [c for c in out.columns if c != "seed"]]
