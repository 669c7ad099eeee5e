"""Training loop of the GAN models (:class:`~comicdepth_tf.models.cyclegan.CycleGAN`, ``AddTextGAN``).

:func:`fit_cyclegan` trains into a run folder, resumable like the depth model
(:mod:`comicdepth_tf.training`)::

    run_dir/
      config.json                     the run's configuration (written at the start of a fresh run)
      checkpoint.weights.h5           every network, both optimizers, the image pools and the
                                      epoch counter, after the last finished epoch
      state.json                      {"epoch": epochs finished, "epochs", "steps_per_epoch", …}
      generator_*.keras, discriminator_*.keras   the networks after the last finished epoch
                                      (load with keras.saving.load_model after import comicdepth_tf)
      history.csv                     one row per epoch (losses, val_cycle_l1, val_identity_l1, lr)
      MODEL_CARD.md                   what the networks take and return, and how to load them
      untrained.json                  the validation scores of the networks as built, before the
                                      first step: the baseline every epoch is compared with
      tensorboard/                    TensorBoard event files (one scalar write per epoch)
      samples/epoch_XXX.png           sample grids (input, translation, reconstruction): the first
                                      epoch, every ``SAMPLE_GRIDS``-th of the run, and the last

Every file is written atomically at the end of each checkpointed epoch (every epoch, or every
``checkpoint_every``-th and the last; ``history.csv`` gets every epoch and a resume cuts it back to
the checkpoint's). The checkpoint holds its own epoch
counter, so even a crash between the checkpoint and ``state.json`` resumes from the epoch the
weights belong to. The model is rebuilt from a *builder* and the checkpoint loaded into it; the
learning-rate schedule is the one planned at the start of the run (``state.json`` keeps the plan).

:func:`unpaired_dataset` zips independently shuffled domains into the ``(natural, comics[,
mask])`` batches the models train on.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from comicdepth_tf.errors import ParameterError
from comicdepth_tf.fileio import atomic_write_json, read_json
from comicdepth_tf.model_card import write_model_card
from comicdepth_tf.progress import make_progress
from comicdepth_tf.training import (
    HISTORY_FILE,
    STATE_FILE,
    build,
    clean_temporary_files,
    configure_determinism,
    history_logger,
    make_epoch_clock,
    make_tensorboard,
    model_precision,
    precision_policy,
    process_devices,
    raise_if_diverged,
    read_history,
    recipe,
    remember,
    run_name,
    stop_if_diverged,
    training_position,
    truncate_history,
    use_tensorboard,
)

CHECKPOINT_FILE = "checkpoint.weights.h5"
#: The logs of an epoch line (those a model logs, in this order): the generators' and the
#: discriminators' losses and the validation L1 every epoch is compared with.
PROGRESS_KEYS = ("g_loss", "d_natural_loss", "d_comics_loss", "d_loss", "val_cycle_l1", "val_outside_l1",
                 "val_inside_l1", "val_identity_l1")
CONFIG_FILE = "config.json"
GAN_OUTPUT = ("generators: an image of the other domain, RGB in [0, 1], same size as the input; "
              "discriminators: one realness logit per patch")
UNTRAINED_FILE = "untrained.json"
SAMPLES_DIR = "samples"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def domain_dataset(samples: Sequence[Mapping[str, Any]], *, size: int, batch_size: int, train: bool, seed: int = 0,
                   with_mask: bool = False, cache: bool | None = None):
    """One image domain as a ``tf.data.Dataset`` of ``(B, size, size, 3)`` batches in ``[0, 1]``.

    Built on :func:`comicdepth_tf.data.pipelines.make_dataset` (images are resized to the square
    training size). Training sets are shuffled, repeated and jittered (horizontal flip and
    zoom-crop up to 1.12×, the paper's "resize to 286, crop 256"); batches keep a static size.

    Args:
        samples: dicts with ``image`` (and ``text_mask`` when ``with_mask``).
        size: side in pixels.
        batch_size: images per batch.
        train: training pipeline (shuffle, repeat, jitter) or evaluation (in order, once).
        seed: seed of shuffling and jitter.
        with_mask: also yield the ``text_mask`` as ``(B, size, size, 1)``: elements become pairs.
        cache: keep decoded, resized images in memory (default: for training sets, which repeat).
    """
    from comicdepth_tf.data.augment import AugmentConfig
    from comicdepth_tf.data.pipelines import make_dataset

    keys = {"image": "image", "text_mask": "mask"} if with_mask else {"image": "image"}
    augment = AugmentConfig.geometric_only(scale_prob=1.0, scale_range=(1.0, 1.12)) if train else None
    ds = make_dataset(list(samples), keys=keys, size=(size, size), batch_size=batch_size, shuffle=train,
                      augment=augment, seed=seed, cache=train if cache is None else cache, repeat=train,
                      drop_remainder=True)
    if with_mask:
        return ds.map(lambda e: (e["image"], e["text_mask"]))
    return ds.map(lambda e: e["image"])


def unpaired_dataset(*domains):
    """Zip domain datasets into tuples ``(natural, comics)`` or ``(natural, comics, mask)``.

    Each argument is a dataset from :func:`domain_dataset`; a dataset of ``(image, mask)``
    pairs contributes both. Training domains repeat, so the zip never ends (give
    ``steps_per_epoch``); evaluation domains stop at the shortest one.
    """
    import tensorflow as tf

    def flatten(*parts):
        out = []
        for part in parts:
            out.extend(part if isinstance(part, tuple) else (part,))
        return tuple(out)

    return tf.data.Dataset.zip(tuple(domains)).map(flatten)


def take_batch(dataset) -> tuple:
    """The first element of a dataset as a tuple of NumPy arrays (the per-epoch sample batch)."""
    import tensorflow as tf

    from comicdepth_tf.data.pipelines import data_errors

    with data_errors():
        for element in dataset.take(1):
            return tuple(np.asarray(t) for t in tf.nest.flatten(element))
    raise ParameterError("the dataset is empty")


# --------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------


def save_networks(model, run_dir: str | os.PathLike) -> dict[str, Path]:
    """Save each network of a GAN as ``<run_dir>/<file>.keras`` (atomic); returns the paths."""
    from comicdepth_tf.models.cyclegan import network_files
    from comicdepth_tf.models.registry import atomic_save_keras

    run_dir = Path(run_dir)
    networks = model.networks()
    return {name: atomic_save_keras(networks[name], run_dir / file) for name, file in network_files(model).items()}


def _atomic_save_weights(model, path: Path) -> Path:
    from comicdepth_tf.fileio import atomic_target

    with atomic_target(path, suffix=".tmp.weights.h5") as tmp:
        model.save_weights(tmp)
    return path


def make_gan_checkpoint(run_dir, plan: Mapping[str, Any], every: int = 1):
    """A callback saving the checkpoint, the networks and ``state.json`` after every ``every``-th epoch and the last.

    An epoch whose logged losses are not finite is not saved: training stops, the files of the
    last saved epoch stay, and the callback's ``diverged`` holds ``(epoch, keys)`` (1-based).

    Args:
        run_dir: the run folder.
        plan: the run's plan (epochs, steps per epoch, schedule), recorded in ``state.json``.
        every: epochs between checkpoints (a kill loses at most ``every − 1`` epochs; the resumed
            run still ends where the uninterrupted one does).
    """
    import keras

    if int(every) < 1:
        raise ParameterError(f"checkpoint_every must be ≥ 1, got {every}")
    run_dir = Path(run_dir)

    class GANCheckpoint(keras.callbacks.Callback):
        diverged: tuple[int, list[str]] | None = None

        def on_epoch_end(self, epoch, logs=None):
            if stop_if_diverged(self, epoch, logs):
                return  # NaN weights would overwrite the last good checkpoint and feed every later stage
            if (epoch + 1) % int(every) and epoch + 1 != int(plan["epochs"]):
                return
            self.model.epochs_done.assign(epoch + 1)
            _atomic_save_weights(self.model, run_dir / CHECKPOINT_FILE)
            save_networks(self.model, run_dir)
            logs = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
            atomic_write_json(run_dir / STATE_FILE, {"epoch": epoch + 1, **plan, "logs": logs})

    return GANCheckpoint()


def validation_epochs(epochs: int, every: int) -> list[int]:
    """The 1-based epochs validated: the first, every ``every``-th and the last (Keras's ``validation_freq``)."""
    if int(every) < 1:
        raise ParameterError(f"validate_every must be ≥ 1, got {every}")
    return sorted({1, int(epochs), *range(int(every), int(epochs) + 1, int(every))})


def make_lr_logger():
    """Adds the generators' learning rate to the epoch logs (so ``history.csv`` has it)."""
    import keras

    class GANLearningRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                opt = self.model.generator_optimizer
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(opt.learning_rate))

    return GANLearningRate()


def sample_grid_image(rows: Sequence[tuple[str, Any]], n: int | None = None, scale: int | None = None,
                      label_width: int = 120):
    """A mosaic with one row per ``(name, images)`` pair, one column per image, names on the left.

    Drawn with NumPy and OpenCV (not Matplotlib): it runs after every epoch.

    Args:
        rows: ``(row title, (B, H, W, 3|1) in [0, 1])`` pairs with equal H and W.
        n: columns drawn (default: the whole batch).
        scale: nearest-neighbour magnification of each image; default: to at least 128 px.
        label_width: pixels of the title strip.

    Returns:
        RGB uint8 image.
    """
    import cv2

    arrays = [(name, np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)) for name, images in rows]
    cols = min(a.shape[0] for _, a in arrays)
    cols = cols if n is None else min(n, cols)
    scale = max(1, 128 // arrays[0][1].shape[1]) if scale is None else int(scale)
    pad = 2
    strips = []
    for name, images in arrays:
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        cells = [np.kron(images[c], np.ones((scale, scale, 1), np.float32)) for c in range(cols)]
        h = cells[0].shape[0]
        row = np.full((h + 2 * pad, label_width + cols * (cells[0].shape[1] + pad) + pad, 3), 255, np.uint8)
        cv2.putText(row, name, (4, h // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for c, cell in enumerate(cells):
            x = label_width + pad + c * (cell.shape[1] + pad)
            row[pad : pad + h, x : x + cell.shape[1]] = (cell * 255.0).round().astype(np.uint8)
        strips.append(row)
    return np.concatenate(strips, axis=0)


#: About this many sample grids per run (a grid costs about as much as 10 training steps on the
#: cpu profile, and 120 near-identical grids show no more than 12).
SAMPLE_GRIDS = 12
#: A sample grid's file name in ``samples/``, by epoch (1-based).
GRID_NAME = "epoch_{:03d}.png"


def make_sample_grids(run_dir, batch: tuple, n: int = 4, every: int = 1):
    """A callback writing :meth:`sample_rows` of a fixed batch to ``samples/epoch_XXX.png``.

    Written after the first epoch, every ``every``-th epoch and the run's last epoch.
    """
    import keras
    import tensorflow as tf

    from comicdepth_tf.fileio import write_image

    out = Path(run_dir) / SAMPLES_DIR
    tensors = tuple(tf.convert_to_tensor(part) for part in batch)

    class SampleGrids(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            last = epoch + 1 == (self.params or {}).get("epochs")
            if epoch and (epoch + 1) % every and not last:
                return
            rows = self.model.sample_rows(tensors)
            write_image(out / GRID_NAME.format(epoch + 1), sample_grid_image(rows, n=n))

    return SampleGrids()


def sample_grids(run_dir) -> list[Path]:
    """The per-epoch sample grids of a run, in epoch order."""
    return sorted((Path(run_dir) / SAMPLES_DIR).glob("epoch_*.png"))


def grid_epoch(path: str | os.PathLike) -> int:
    """The epoch (1-based) a sample grid was drawn after, from its name (``epoch_070.png`` -> 70)."""
    return int(Path(path).stem.removeprefix("epoch_"))


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------


def gan_precision(strategy=None, mixed_precision=None, where: str = "") -> bool | str:
    """The precision a GAN trains in: ``mixed_precision`` (None: the process's), checked.

    Raises:
        ParameterError: a distribution strategy (the image pools' scatter update has no
            cross-replica form), or ``mixed_float16`` (the GANs' train steps do no loss scaling).
    """
    dist, precision = process_devices(strategy, mixed_precision)
    prefix = f"{where}: " if where else ""
    if dist is not None:
        raise ParameterError(
            f"{prefix}the GAN stage trains without a distribution strategy (its image pools have no "
            f"cross-replica form); got STRATEGY={type(dist).__name__}"
        )
    if precision is True or precision == "mixed_float16":
        # float16 needs loss scaling, which the GANs' own train steps do not do; bfloat16 does not.
        raise ParameterError(f"{prefix}the GAN stage trains in float32 or mixed_bfloat16; got MIXED_PRECISION="
                             "mixed_float16 (its train steps do no loss scaling)")
    return precision


def build_gan(builder: Callable[[], Any], *, seed: int | None = None, strategy: Any = None,
              mixed_precision: bool | str | None = None, deterministic: bool = True, settings: Mapping | None = None):
    """An uncompiled GAN (CycleGAN or AddTextGAN) from ``builder()``, seeded, in its precision.

    Args:
        builder: ``() -> model`` (e.g. ``lambda: build_cyclegan("simple", …)``).
        seed: ``keras.utils.set_random_seed`` first (the initial weights).
        strategy, mixed_precision: see :func:`gan_precision`.
        deterministic: :func:`comicdepth_tf.training.configure_determinism` first.
        settings: what the networks are made from (JSON-serialisable; the run's ``config.json``),
            remembered with the model (:func:`comicdepth_tf.training.recipe`).
    """
    precision = gan_precision(strategy, mixed_precision)
    model = build(builder, seed=seed, strategy="none", mixed_precision=precision, deterministic=deterministic)
    remember(model, "build", settings or {})
    return model


def compile_gan(model, *, epochs: int, steps_per_epoch: int, learning_rate: float = 2e-4, beta_1: float = 0.5,
                decay_epochs: int | None = None, run_eagerly: bool = False):
    """Compile a GAN of :func:`build_gan`: one Adam per side, constant for the first epochs, then a
    linear decay to 0 over the last ``decay_epochs`` (the CycleGAN paper's schedule).

    Args:
        model: from :func:`build_gan`.
        epochs, steps_per_epoch: the run's length, which the schedule spans (its *plan*).
        learning_rate: initial Adam rate of both optimizers (2e-4).
        beta_1: Adam's beta_1 (0.5).
        decay_epochs: final epochs of linear decay to 0; default ``epochs // 2``.
        run_eagerly: run the steps eagerly: no graph tracing (seconds per model), slower
            steps; for tests and debugging.
    """
    plan = {"epochs": int(epochs), "steps_per_epoch": int(steps_per_epoch), "learning_rate": float(learning_rate),
            "beta_1": float(beta_1), "decay_epochs": int(epochs // 2 if decay_epochs is None else decay_epochs)}
    return _compile_plan(model, plan, run_eagerly)


def _compile_plan(model, plan: Mapping[str, Any], run_eagerly: bool):
    import keras

    from comicdepth_tf.models.cyclegan import make_gan_schedule

    def adam():
        schedule = make_gan_schedule(plan["learning_rate"], plan["epochs"], plan["steps_per_epoch"],
                                     plan["decay_epochs"])
        return keras.optimizers.Adam(schedule, beta_1=plan["beta_1"])

    with precision_policy(model_precision(model)):
        model.compile(generator_optimizer=adam(), discriminator_optimizer=adam(), run_eagerly=run_eagerly)
    remember(model, "compile", {**plan, "run_eagerly": bool(run_eagerly)})
    return model


@dataclass
class GANFitResult:
    """What :func:`fit_cyclegan` returns.

    Attributes:
        model: the trained GAN (last epoch).
        history: every epoch of the run so far (from ``history.csv``).
        run_dir: the run folder.
        initial_epoch: the epoch this call started from (0 for a fresh run).
        epochs_completed: epochs finished in total.
        seconds: wall time of this call's training.
        state: ``state.json``.
        untrained: validation scores of the untrained networks (``untrained.json``, ``val_``
            keys like the history's; empty without validation data).
    """

    model: Any
    history: dict[str, list[float]]
    run_dir: Path
    initial_epoch: int
    epochs_completed: int
    seconds: float
    state: dict = field(default_factory=dict)
    untrained: dict = field(default_factory=dict)


def fit_cyclegan(
    model: Any,
    train_ds,
    val_ds=None,
    *,
    run_dir: str | os.PathLike,
    epochs: int,
    steps_per_epoch: int | None = None,
    learning_rate: float = 2e-4,
    beta_1: float = 0.5,
    decay_epochs: int | None = None,
    config: Mapping[str, Any] | None = None,
    sample_batch: tuple | None = None,
    n_samples: int = 4,
    resume: bool = True,
    seed: int | None = None,
    run_eagerly: bool = False,
    extra_callbacks: Sequence = (),
    verbose: int | str = 0,
    deterministic: bool = True,
    strategy: Any = None,
    mixed_precision: bool | str | None = None,
    validate_every: int = 1,
    tensorboard: bool | None = None,
    checkpoint_every: int = 1,
) -> GANFitResult:
    """Train a GAN model (CycleGAN or AddTextGAN) into ``run_dir``, resumable.

    Args:
        model: a GAN of :func:`build_gan` and :func:`compile_gan` (then ``steps_per_epoch``,
            ``learning_rate``, ``beta_1``, ``decay_epochs`` and ``run_eagerly`` are its compile
            plan's, and what it was built from is the default ``config``), or a builder
            ``() -> model`` of an uncompiled GAN (e.g. ``lambda: build_cyclegan("simple", …)``).
            A resumed run loads its checkpoint into it (recompiled with the plan of its start).
        train_ds: repeated training batches (see :func:`unpaired_dataset`), static batch size.
        val_ds: finite validation batches, or None.
        run_dir: the run folder (created).
        epochs: total epochs of the run (a resumed run counts the finished ones).
        steps_per_epoch: steps per epoch (the training dataset repeats forever).
        learning_rate: initial Adam rate of both optimizers (2e-4).
        beta_1: Adam's beta_1 (0.5).
        decay_epochs: final epochs of linear decay to 0; default ``epochs // 2``.
        config: JSON-serialisable run configuration, written to ``config.json`` on a fresh start.
        sample_batch: a fixed batch (tuple of arrays) drawn after each epoch, or None.
        n_samples: images per sample-grid row.
        resume: continue from ``checkpoint.weights.h5`` when the run has one; ``False`` starts
            over (and overwrites the history).
        seed: ``keras.utils.set_random_seed`` before building (a compiled GAN was seeded by
            :func:`build_gan`), and the key of each epoch's draws.
        run_eagerly: run the steps eagerly: no graph tracing (seconds per model), slower
            steps; for tests and debugging.
        extra_callbacks: more Keras callbacks (run after the checkpoint of each epoch).
        verbose: passed to ``Model.fit``.
        deterministic: :func:`comicdepth_tf.training.configure_determinism` first.
        strategy, mixed_precision: as :func:`comicdepth_tf.training.fit`; None: what
            :func:`comicdepth_tf.training.use_devices` set for the process. No strategy, and
            float32 or ``mixed_bfloat16`` (the generators' heads and the image pools stay float32);
            anything else is a ``ParameterError``.
        validate_every: score ``val_ds`` after the first epoch, every ``validate_every``-th
            epoch and the last one (``history.csv`` says ``NA`` in between). Validation does not
            touch the weights or the streams, so training is the same for every value.
        tensorboard: as :func:`comicdepth_tf.training.fit`: ``run_dir/tensorboard`` when the
            package is installed (None, default), required (True) or not written (False).
        checkpoint_every: save the checkpoint, the networks and ``state.json`` after every
            ``checkpoint_every``-th epoch and the last (each save writes every network twice:
            about a second per epoch for the ``cpu`` profile's CycleGAN).

    Returns:
        A :class:`GANFitResult`.

    Raises:
        TrainingDivergedError: an epoch's losses were NaN or infinite; the run folder keeps the
            last finite epoch (checkpoint, networks, ``state.json``, ``history.csv``).
    """
    import keras

    from comicdepth_tf.data.pipelines import data_errors

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    clean_temporary_files(run_dir)
    compiled = recipe(model).get("compile") if isinstance(model, keras.Model) and model.compiled else None
    if compiled is None and not callable(model):
        raise ParameterError("model must be a GAN of build_gan and compile_gan, or a function returning an "
                             "uncompiled GAN model")
    if compiled is not None:
        epochs, steps_per_epoch = int(epochs or compiled["epochs"]), compiled["steps_per_epoch"]
        learning_rate, beta_1, decay_epochs = compiled["learning_rate"], compiled["beta_1"], compiled["decay_epochs"]
        run_eagerly = compiled["run_eagerly"]
        config = recipe(model).get("build") if config is None else config
    state = None
    if resume and (run_dir / CHECKPOINT_FILE).exists() and (run_dir / STATE_FILE).exists():
        state = read_json(run_dir / STATE_FILE)
    if state is None:
        for stale in (STATE_FILE, CHECKPOINT_FILE, HISTORY_FILE, UNTRAINED_FILE):
            (run_dir / stale).unlink(missing_ok=True)
        plan = {"epochs": int(epochs), "steps_per_epoch": int(steps_per_epoch), "learning_rate": float(learning_rate),
                "beta_1": float(beta_1), "decay_epochs": int(epochs // 2 if decay_epochs is None else decay_epochs)}
        if config is not None:
            atomic_write_json(run_dir / CONFIG_FILE, {**dict(config), "plan": plan})
        # The plan is on disk before the first checkpoint, so a kill at any later point resumes.
        atomic_write_json(run_dir / STATE_FILE, {"epoch": 0, **plan, "logs": {}})
    else:
        plan = {k: state[k] for k in ("epochs", "steps_per_epoch", "learning_rate", "beta_1", "decay_epochs")}
        if epochs > plan["epochs"] and plan["decay_epochs"] > 0:
            warnings.warn(f"{run_dir}: resuming to {epochs} epochs, but the learning rate planned at the start "
                          f"decays to 0 after epoch {plan['epochs']}: later epochs do not learn", stacklevel=2)

    if compiled is None:
        precision = gan_precision(strategy, mixed_precision, str(run_dir))
        model = build_gan(model, seed=seed, mixed_precision=precision, deterministic=deterministic)
        _compile_plan(model, plan, run_eagerly)
    else:
        gan_precision(strategy, None, str(run_dir))
        configure_determinism(deterministic)  # seeded by build_gan
        if {k: compiled[k] for k in plan} != plan:  # a resumed run keeps the schedule planned at its start
            _compile_plan(model, plan, run_eagerly)
    initial_epoch = 0
    if state is not None:
        model.load_weights(run_dir / CHECKPOINT_FILE)
        initial_epoch = int(keras.ops.convert_to_numpy(model.epochs_done))
        if int(state["epoch"]) != initial_epoch:
            # Killed between the checkpoint and the files after it: bring them to its epoch.
            save_networks(model, run_dir)
            rows = read_history(run_dir)
            logs = {k: v[initial_epoch - 1] for k, v in rows.items() if k != "epoch" and len(v) >= initial_epoch}
            atomic_write_json(run_dir / STATE_FILE, {"epoch": initial_epoch, **plan, "logs": logs})
    elif val_ds is not None:
        with data_errors():
            score_untrained(model, val_ds, run_dir)

    started = time.perf_counter()
    if initial_epoch < epochs:
        if state is not None:
            truncate_history(run_dir, initial_epoch)
        checkpoint = make_gan_checkpoint(run_dir, plan, checkpoint_every)
        steps = plan["steps_per_epoch"]  # a resumed run's stream positions are the plan's
        callbacks = [make_epoch_clock(seed, steps), make_lr_logger(),
                     history_logger(run_dir / HISTORY_FILE, append=state is not None), checkpoint]
        if sample_batch is not None:
            every = max(1, plan["epochs"] // SAMPLE_GRIDS)
            callbacks.append(make_sample_grids(run_dir, sample_batch, n_samples, every))
        if use_tensorboard(tensorboard):
            callbacks.append(make_tensorboard(run_dir))
        # No epoch is "best" here (the last one is kept): the line shows the losses that matter.
        callbacks.append(make_progress(run_name(run_dir), keys=PROGRESS_KEYS))
        callbacks.extend(extra_callbacks)
        with data_errors(), training_position(initial_epoch, steps):
            model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                      validation_freq=validation_epochs(epochs, validate_every),
                      steps_per_epoch=steps, callbacks=callbacks, verbose=verbose,
                      shuffle=False)  # shuffling is the tf.data pipeline's job (Keras ignores it for datasets)
        raise_if_diverged(checkpoint, run_dir)
    seconds = time.perf_counter() - started
    final = read_json(run_dir / STATE_FILE) if (run_dir / STATE_FILE).exists() else {}
    write_model_card(run_dir, load_run_config(run_dir), final.get("logs", {}), output=GAN_OUTPUT)
    untrained = read_json(run_dir / UNTRAINED_FILE) if (run_dir / UNTRAINED_FILE).exists() else {}
    return GANFitResult(model=model, history=read_history(run_dir), run_dir=run_dir, initial_epoch=initial_epoch,
                        epochs_completed=int(final.get("epoch", initial_epoch)), seconds=seconds, state=final,
                        untrained=untrained)


def score_untrained(model, val_ds, run_dir: str | os.PathLike) -> dict[str, float]:
    """Score the networks as built on the validation data; write ``untrained.json`` into ``run_dir``.

    The first epoch already learns most of what a short run learns, so an untrained baseline is
    what shows how much training did at all (see ``cycle_summary`` of the CycleGAN experiment).

    Returns:
        ``{"val_<metric>": value}``, the keys of the history's validation columns.
    """
    scores = model.evaluate(val_ds, verbose=0, return_dict=True)
    out = {f"val_{k}": float(v) for k, v in scores.items()}
    atomic_write_json(Path(run_dir) / UNTRAINED_FILE, out)
    return out


def load_run_config(run_dir: str | os.PathLike) -> dict:
    """``config.json`` of a GAN run (``{}`` when absent)."""
    path = Path(run_dir) / CONFIG_FILE
    return read_json(path) if path.exists() else {}
