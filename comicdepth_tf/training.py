"""Training with ``keras.Model.fit``: checkpoints, resume, logs, schedules, precision, devices.

:func:`fit` trains a model into a run folder (see :mod:`comicdepth_tf.models.registry`)::

    run_dir/
      best.keras     model of the best validation epoch (no optimizer state)
      last.keras     model after the last finished epoch, optimizer state included
      state.json     {"epoch": epochs finished, "best": …, "best_epoch": …, early-stopping state}
      history.csv    one row per epoch (loss, val_loss, metrics, learning_rate)
      tensorboard/   TensorBoard event files (tensorboard --logdir saved_models/)

All three model/state files are written atomically at the end of every epoch, and the state
is also stored inside ``last.keras``, so weights, optimizer and state change in one rename: an
interrupted run (crash, kill at any point, Colab disconnect) resumes with ``fit(...,
resume=True)`` from the last finished epoch, whose model, optimizer and state come from
``last.keras``; the rows of ``history.csv`` after that epoch are dropped, temporary files of an
interrupted write are deleted, and new rows are appended.

Reproducibility: an epoch's batches, augmentations and in-step random draws are functions of
``seed`` and the epoch alone (:func:`make_epoch_clock`, :mod:`comicdepth_tf.data.clock`), and
``seed`` sets the initial weights; so the same call gives bitwise-identical weights whatever ran
earlier in the process, and a resumed run ends where the uninterrupted one does. The
learning-rate schedule lives in the optimizer, so the resumed run follows the
schedule planned at the start (a different ``epochs`` on resume does not re-plan it).
Keras' ``ModelCheckpoint`` is not used because it writes in place (a crash mid-write leaves a
truncated file) and forgets the best value between runs; :class:`RunCheckpoint` does both jobs.

Devices: :func:`use_devices` sets the strategy (``none``, ``mirrored``, ``multi_worker``,
``tpu``: see :func:`get_strategy`) and the precision of every later training in the process; the
notebooks' ``STRATEGY`` and ``MIXED_PRECISION`` parameters go there and nowhere else. A model
must be created inside the strategy's scope and under the precision policy: :func:`build` and
:func:`compile_model` do both, so a notebook reads build → compile → fit as Keras examples do::

    model = training.build(build_depth_unet, seed=0, encoder="mobilenetv2")
    training.compile_model(model, loss="depth", metrics=["delta1"], steps_per_epoch=100, epochs=8)
    result = training.fit(model, train_ds, val_ds, run_dir=run_dir, epochs=8, seed=0)

:func:`fit` also takes a *builder* (a function returning an uncompiled model), which it calls
there; an uncompiled built model is copied into the scope and keeps its precision.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from comicdepth_tf.errors import ParameterError, TrainingDivergedError
from comicdepth_tf.fileio import atomic_write_json, atomic_write_text, read_json
from comicdepth_tf.progress import make_progress

BEST_FILE = "best.keras"
LAST_FILE = "last.keras"
STATE_FILE = "state.json"
HISTORY_FILE = "history.csv"
#: What a run was made from (see :func:`fit`'s ``identity``): a checkpoint of other inputs is not resumed.
IDENTITY_FILE = "identity.json"
LOG_DIR = "tensorboard"

LR_SCHEDULES = ("constant", "cosine", "step")


# --------------------------------------------------------------------------------------------
# Devices and precision
# --------------------------------------------------------------------------------------------


def configure_logical_cpus(n: int) -> list[str]:
    """Split the first physical CPU into ``n`` logical devices (for MirroredStrategy on a CPU).

    Must be called **before TensorFlow initialises its devices**, i.e. before any tensor is
    created or any model is built in the process (in a notebook: the first cell that touches
    TensorFlow; in tests: a fresh subprocess). Calling it again with the same ``n`` is a no-op.

    Returns:
        The logical CPU device names, e.g. ``["/device:CPU:0", "/device:CPU:1"]``.

    Raises:
        RuntimeError: TensorFlow already initialised its devices with a different split.
    """
    import tensorflow as tf

    if n < 1:
        raise ParameterError(f"configure_logical_cpus: n must be >= 1, got {n}")
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as exc:
        logical = tf.config.list_logical_devices("CPU")
        if len(logical) == n:
            return [d.name for d in logical]
        raise RuntimeError(
            f"configure_logical_cpus({n}) must run before TensorFlow initialises its devices "
            f"(it already has {len(logical)} logical CPU(s)); call it first in a fresh process"
        ) from exc
    return [d.name for d in tf.config.list_logical_devices("CPU")]


#: The ``STRATEGY`` parameter of the training notebooks.
STRATEGIES = ("none", "mirrored", "multi_worker", "tpu")
#: The ``MIXED_PRECISION`` parameter: "" (float32), ``auto`` (see :func:`resolve_precision`) or a policy.
PRECISIONS = ("", "auto", "mixed_float16", "mixed_bfloat16")
#: What :func:`use_devices` set for this process: every later :func:`fit` and GAN fit uses it.
_DEVICES: dict[str, Any] = {"strategy": "none", "precision": "", "object": None}


def get_strategy(strategy=None):
    """Resolve the ``strategy`` parameter of :func:`fit`.

    Args:
        strategy: ``None`` or ``"none"`` (no strategy scope), ``"default"`` (TensorFlow's default
            strategy), ``"mirrored"`` (``MirroredStrategy`` over every GPU, or over every logical
            CPU when there is no GPU), ``"multi_worker"`` (``MultiWorkerMirroredStrategy``: the
            cluster comes from ``TF_CONFIG``, one process per worker; without ``TF_CONFIG`` it is
            one local worker), ``"tpu"`` (``TPUStrategy`` on the TPU the runtime offers), or a
            ``tf.distribute.Strategy``.

    Raises:
        ParameterError: an unknown name, or ``tpu`` where no TPU can be reached.
    """
    import tensorflow as tf

    if strategy is None or strategy == "none" or isinstance(strategy, tf.distribute.Strategy):
        return None if strategy == "none" else strategy
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        # NCCL all-reduce is GPU only; CPUs reduce through one device.
        return tf.distribute.MirroredStrategy(devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if strategy == "tpu":
        return _tpu_strategy()
    raise ParameterError(
        f"strategy must be one of {STRATEGIES}, 'default' or a tf.distribute.Strategy, got {strategy!r}"
    )


def _tpu_strategy():
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        raise ParameterError(f"STRATEGY=tpu: no TPU could be reached ({type(exc).__name__}: {exc}); "
                             "use a TPU runtime, or STRATEGY=none | mirrored | multi_worker") from exc
    return tf.distribute.TPUStrategy(resolver)


def use_devices(strategy: str = "none", mixed_precision: str = "") -> dict[str, Any]:
    """Set the distribution strategy and precision of every later training in this process.

    The one place the ``STRATEGY`` and ``MIXED_PRECISION`` parameters of the training notebooks
    go: :func:`fit` and :func:`comicdepth_tf.gan_training.fit_cyclegan` read them when their own
    ``strategy`` / ``mixed_precision`` arguments are left at ``None``. The strategy object is
    made here, once (``MultiWorkerMirroredStrategy`` must exist before other TensorFlow work).

    Args:
        strategy: one of :data:`STRATEGIES`.
        mixed_precision: one of :data:`PRECISIONS` (``auto``: bfloat16 on a CPU with bfloat16
            units and no GPU, else float32).

    Returns:
        ``{"strategy", "precision", "replicas"}``: what is now in effect.
    """
    if strategy not in STRATEGIES:
        raise ParameterError(f"STRATEGY must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if mixed_precision not in PRECISIONS:
        raise ParameterError(f"MIXED_PRECISION must be one of {', '.join(repr(p) for p in PRECISIONS)}; "
                             f"got {mixed_precision!r}")
    if strategy != _DEVICES["strategy"] or _DEVICES["object"] is None:
        _DEVICES.update(strategy=strategy, object=get_strategy(strategy))
    _DEVICES["precision"] = resolve_precision(mixed_precision)
    replicas = _DEVICES["object"].num_replicas_in_sync if _DEVICES["object"] is not None else 1
    return {"strategy": strategy, "precision": _DEVICES["precision"] or "float32", "replicas": int(replicas)}


@contextlib.contextmanager
def multi_worker_fixes(model, strategy):
    """Let ``model.fit`` / ``evaluate`` run under ``MultiWorkerMirroredStrategy`` inside the block.

    Keras 3.15 cannot (keras-team/keras#20585); under any other strategy nothing changes. Two
    defects are worked around, for the duration of the block only:

    * Keras builds a model's metrics from the first distributed batch reduced with
      ``strategy.reduce``, which fails for an ``(x, y)`` batch ("Attempt to convert a value
      (PerReplica…)"). The build needs shapes only: this model builds from the local replica's
      part of the batch instead, taken as Keras takes it.
    * Keras reduces each step's logs across workers with ``strategy.reduce("MEAN", v, axis=0)``,
      which fails for scalars ("Invalid reduction dimension 0"): they are reduced with
      ``axis=None``, the mean over replicas (each holds an equal share of the global batch).

    ``tests/test_training.py::test_two_worker_processes_train_like_one`` fails when a Keras
    release changes what is patched here.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy_, reduction="auto"):
        if reduction not in ("auto", "mean"):
            return original(values, strategy_, reduction)
        return tf.nest.map_structure(lambda v: strategy_.reduce("MEAN", v, axis=None), values)

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], next(it))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    model._maybe_symbolic_build = symbolic_build
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original
        del model._maybe_symbolic_build


def build_before_tracing(model, train_ds) -> None:
    """Create every variable a compiled model's first train step would create, before it is traced.

    Variables made inside a ``tf.function``'s first trace make TensorFlow trace it a second time.
    Without a distribution strategy Keras creates the optimizer's slots and a multi-output loss's
    per-output trackers there (its ``_maybe_symbolic_build`` returns early); building them here from
    the dataset's element spec (no batch is read) saves one trace of the train step per fit
    (``bench/bench_first_fit.py``). They start at zero either way: the weights trained are the same.
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    if getattr(model, "_distribute_strategy", None) is None:
        model._symbolic_build(data_batch=train_ds.element_spec)


def _copy_in_scope(model):
    """The same architecture and weights, created in the current strategy scope."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def process_devices(strategy=None, mixed_precision=None) -> tuple[Any, bool | str]:
    """``(strategy, mixed_precision)`` for one training: the arguments given, else :func:`use_devices`'."""
    if strategy is None:
        strategy = _DEVICES["object"]
    if mixed_precision is None:
        mixed_precision = _DEVICES["precision"] or False
    return get_strategy(strategy), mixed_precision


def configure_determinism(enabled: bool = True, ops: bool = True) -> dict[str, bool]:
    """Make TensorFlow's graph execution reproducible (process-wide; call before training).

    Measured here: the same CycleGAN step, traced twice in one process on the same batches,
    gave different weights with Grappler's graph rewrites on, even single-threaded and with
    ``enable_op_determinism``; with the Grappler meta-optimizer off it gave identical weights,
    in one process and across processes (``bench/bench_determinism.py`` measures the cost).
    On a GPU, op determinism (deterministic cuDNN/atomic kernels) is enabled too.

    Args:
        enabled: True turns the graph rewrites off (and op determinism on, with GPUs and
            ``ops``); False turns the rewrites back on. Op determinism, once on, stays on for
            the process, and makes TensorFlow raise for random ops without a seed.
        ops: allow turning op determinism on (training does; importing the models does not).

    Returns:
        ``{"grappler": on?, "op_determinism": on?}``.
    """
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": bool(enabled)})
    if enabled and ops and tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()
    return {"grappler": not enabled, "op_determinism": bool(tf_config.is_op_determinism_enabled())}


def cpu_has_bfloat16() -> bool:
    """Whether this machine's CPU has bfloat16 units (AVX512-BF16 or AMX-BF16; read from Linux's /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def resolve_precision(name: str) -> str:
    """A precision parameter as a policy name: ``auto`` becomes ``mixed_bfloat16`` on a CPU-only machine
    whose CPU has bfloat16 units (:func:`cpu_has_bfloat16`), else ``""`` (float32); other values pass through.
    """
    if name != "auto":
        return name
    import tensorflow as tf

    return "mixed_bfloat16" if cpu_has_bfloat16() and not tf.config.list_physical_devices("GPU") else ""


@contextlib.contextmanager
def precision_policy(mixed: bool | str):
    """Set a mixed-precision policy as Keras' global policy inside the block, then restore the previous one.

    ``mixed``: False (float32: nothing changes), True (``mixed_float16``) or a Keras policy name.
    ``mixed_float16`` speeds up GPUs with float16 units (compute capability ≥ 7) and on a CPU is
    slower than float32. ``mixed_bfloat16`` uses the bfloat16 units of CPUs with AVX512-BF16 or
    AMX (and of TPUs): ``bench/bench_precision.py`` measures each model family here. Models built
    inside the block compute in the low precision and keep float32 weights; our depth heads output
    float32, and ``compile`` wraps the optimizer in a ``LossScaleOptimizer`` for float16.
    """
    import keras

    if not mixed:
        yield
        return
    policy = "mixed_float16" if mixed is True else str(mixed)
    if policy not in ("mixed_float16", "mixed_bfloat16"):
        raise ParameterError(f"mixed precision: expected mixed_float16 or mixed_bfloat16, got {mixed!r}")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


# --------------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------------


def make_lr_schedule(
    kind: str,
    learning_rate: float,
    total_steps: int | None,
    steps_per_epoch: int | None = None,
    step_epochs: int = 10,
    gamma: float = 0.1,
    final_fraction: float = 0.01,
    warmup_steps: int = 0,
):
    """A learning rate or a ``keras.optimizers.schedules`` schedule (saved with the optimizer).

    Args:
        kind: ``"constant"``, ``"cosine"`` (from ``learning_rate`` down to
            ``final_fraction × learning_rate`` over ``total_steps``) or ``"step"`` (× ``gamma``
            every ``step_epochs`` epochs).
        learning_rate: the initial (peak, with a warm-up) rate.
        total_steps: training steps of the whole run (cosine).
        steps_per_epoch: steps in one epoch (step).
        warmup_steps: cosine only: a linear warm-up from 1 % of ``learning_rate`` over these
            first steps (at most ``total_steps - 1``), then the decay over the rest.
    """
    import keras

    if kind == "constant":
        return float(learning_rate)
    if kind == "cosine":
        if not total_steps:
            raise ParameterError("lr_schedule='cosine' needs a known number of steps (pass steps_per_epoch)")
        warmup = int(min(max(warmup_steps, 0), max(total_steps - 1, 0)))
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                float(learning_rate) * 0.01, max(int(total_steps) - warmup, 1), alpha=final_fraction,
                warmup_target=float(learning_rate), warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(float(learning_rate), int(total_steps), alpha=final_fraction)
    if kind == "step":
        if not steps_per_epoch:
            raise ParameterError("lr_schedule='step' needs a known number of steps per epoch (pass steps_per_epoch)")
        return keras.optimizers.schedules.ExponentialDecay(
            float(learning_rate), int(step_epochs * steps_per_epoch), gamma, staircase=True
        )
    raise ParameterError(f"lr_schedule must be one of {LR_SCHEDULES}, got {kind!r}")


def make_optimizer(name, learning_rate):
    """``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9) with a rate or schedule.

    A ``keras.optimizers.Optimizer`` instance is returned as is (it keeps its own rate).
    """
    import keras

    if isinstance(name, keras.optimizers.Optimizer):
        return name
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    raise ParameterError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {name!r}")


def resolve_metrics(metrics):
    """Metric names (``delta1``, ``abs_rel``, ``rmse``, …) become masked ``DepthMetric`` objects.

    Other entries (Keras metric objects or Keras' own names) pass through; a dict (one list per
    output of a multi-output model) is resolved value by value.
    """
    from comicdepth_tf.metrics import KERAS_METRIC_KINDS, keras_depth_metrics

    if isinstance(metrics, dict):
        return {k: resolve_metrics(v) for k, v in metrics.items()}
    out = []
    for m in metrics or ():
        if isinstance(m, str) and m in KERAS_METRIC_KINDS:
            out.extend(keras_depth_metrics([m]))
        else:
            out.append(m)
    return out


def resolve_loss(loss):
    """Our loss names (``depth``, ``l1``, ``ssi``: see :func:`comicdepth_tf.losses.get_loss`) become
    loss objects; anything else (Keras names, loss objects, a dict per output) passes through."""
    from comicdepth_tf.losses import LOSSES, get_loss

    if isinstance(loss, dict):
        return {k: resolve_loss(v) for k, v in loss.items()}
    return get_loss(loss) if isinstance(loss, str) and loss in LOSSES else loss


def targets_for_output(ds, output: str):
    """Map a ``(image, depth)`` dataset's targets to a model's output convention.

    ``metric`` and ``relative`` keep metric depth (relative models train with the
    scale-and-shift invariant loss, which aligns them per image); ``inverse`` uses
    ``1 / depth``. Invalid pixels stay 0.
    """
    import tensorflow as tf

    if output in ("metric", "relative"):
        return ds
    if output != "inverse":
        raise ParameterError(f"output must be 'metric', 'inverse' or 'relative', got {output!r}")

    def to_inverse(image, depth):
        valid = depth > 0
        return image, tf.where(valid, 1.0 / tf.where(valid, depth, 1.0), tf.zeros_like(depth))

    return ds.map(to_inverse, num_parallel_calls=tf.data.AUTOTUNE)


# --------------------------------------------------------------------------------------------
# Build and compile (the steps a notebook shows before fit)
# --------------------------------------------------------------------------------------------

#: What :func:`build` and :func:`compile_model` made each model from, by model (weak keys: an
#: entry goes with its model). A stage writes it into the run's identity (see :func:`fit`).
_RECIPES: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def model_scope(strategy=None, mixed_precision=None):
    """Where a model is built and compiled: under the precision policy and inside the strategy's scope.

    Args:
        strategy, mixed_precision: as for :func:`fit`; None: what :func:`use_devices` set.

    Yields:
        The strategy (None without one).
    """
    dist, precision = process_devices(strategy, mixed_precision)
    with precision_policy(precision), (dist.scope() if dist is not None else contextlib.nullcontext()):
        yield dist


def build(builder, *, seed: int | None = None, strategy=None, mixed_precision=None, deterministic: bool = True,
          **arguments: Any):
    """Build a model for :func:`fit`: ``builder(**arguments)``, seeded, in :func:`model_scope`.

    The same ``seed`` and arguments give the same initial weights whatever ran earlier in the
    process (:func:`configure_determinism` first). ``arguments`` are remembered with the model
    (:func:`recipe`); a stage that writes them into a run's identity keeps them JSON-serialisable.
    """
    import keras

    configure_determinism(deterministic)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    with model_scope(strategy, mixed_precision):
        model = builder(**arguments)
    remember(model, "build", arguments)
    return model


def compile_model(model, *, loss: Any, metrics: Sequence = (), optimizer: Any = "adam", learning_rate: float = 1e-3,
                  lr_schedule: str = "cosine", steps_per_epoch: int | None = None, epochs: int | None = None,
                  warmup_steps: int = 0, lr_step_epochs: int = 10, lr_gamma: float = 0.1, strategy=None,
                  mixed_precision=None,
                  settings: dict[str, Any] | None = None):
    """Compile ``model`` for :func:`fit` (in the strategy's scope): optimizer, learning-rate schedule, loss, metrics.

    Args:
        model: a model from :func:`build` (or any uncompiled ``keras.Model`` built in the scope).
        loss, metrics, optimizer, learning_rate, lr_schedule, lr_step_epochs, lr_gamma: as for
            :func:`fit` (an optimizer object keeps its own rate and must be made in :func:`model_scope`).
        steps_per_epoch, epochs: the run's length, which the cosine and step schedules are planned over.
        warmup_steps: the cosine schedule's linear warm-up (see :func:`make_lr_schedule`).
        strategy, mixed_precision: as for :func:`fit`; None: what :func:`use_devices` set.
        settings: what the compilation is made from, JSON-serialisable, remembered with the model
            (:func:`recipe`); default: the names and numbers given here.

    Returns:
        ``model``, compiled.
    """
    schedule = make_lr_schedule(lr_schedule, learning_rate,
                                total_steps=steps_per_epoch * epochs if steps_per_epoch and epochs else None,
                                steps_per_epoch=steps_per_epoch, step_epochs=lr_step_epochs, gamma=lr_gamma,
                                warmup_steps=warmup_steps)
    with model_scope(strategy, mixed_precision):
        model.compile(optimizer=make_optimizer(optimizer, schedule), loss=resolve_loss(loss),
                      metrics=resolve_metrics(metrics))
    if settings is None:
        given = dict(loss=loss, optimizer=optimizer, learning_rate=learning_rate, lr_schedule=lr_schedule,
                     steps_per_epoch=steps_per_epoch, epochs=epochs)
        settings = {k: v for k, v in given.items() if v is None or isinstance(v, (str, int, float))}
    remember(model, "compile", settings)
    return model


def remember(model, step: str, settings: Mapping[str, Any]) -> None:
    """Record what ``step`` (``build``, ``compile``) made ``model`` from (:func:`recipe` gives it back)."""
    _RECIPES.setdefault(model, {})[step] = dict(settings)


def check_compiled_steps(model, steps: int, detail: str) -> None:
    """Refuse to train ``model`` for ``steps`` per epoch when :func:`compile_model` planned its schedule
    over another number (``detail`` says where ``steps`` comes from, e.g. ``"24 images in batches of 4"``).

    Raises:
        ParameterError: naming both numbers.
    """
    planned = recipe(model).get("compile", {}).get("steps_per_epoch")
    if planned not in (None, steps):
        raise ParameterError(f"the model was compiled for {planned} steps per epoch; {detail} make {steps}")


def model_precision(model) -> str | bool:
    """The mixed-precision policy ``model`` computes in (``mixed_bfloat16``, ``mixed_float16``), False for float32."""
    name = model.dtype_policy.name
    return name if name.startswith("mixed_") else False


def recipe(model) -> dict[str, Any]:
    """``{"build": arguments, "compile": settings}``: what :func:`build` and :func:`compile_model` made
    ``model`` from (the parts they did; empty for a model they did not make)."""
    return dict(_RECIPES.get(model, {}))


# --------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------


#: Monitored log keys containing one of these are better when larger (accuracies, overlaps).
HIGHER_IS_BETTER = ("delta", "iou", "acc", "dice", "auc", "precision", "recall")


def monitor_mode(monitor: str) -> str:
    """``"max"`` for keys that improve upward (:data:`HIGHER_IS_BETTER`), else ``"min"``."""
    return "max" if any(word in monitor.lower() for word in HIGHER_IS_BETTER) else "min"


def is_better(value, best, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` (None: nothing yet) in ``mode``; NaN never does."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def stop_if_diverged(callback, epoch: int, logs) -> bool:
    """In a checkpoint callback's ``on_epoch_end``: stop training when the epoch's logs are not finite.

    Sets ``callback.diverged`` to ``(epoch + 1, non-finite keys)`` and the model's
    ``stop_training``; the caller then skips saving, since NaN weights must not replace the
    last finite checkpoint. :func:`raise_if_diverged` ends the run after ``fit``.

    Returns:
        Whether the epoch diverged.
    """
    import numpy as np

    bad = sorted(k for k, v in (logs or {}).items() if np.ndim(v) == 0 and not np.isfinite(float(v)))
    if bad:
        callback.diverged = (epoch + 1, bad)
        callback.model.stop_training = True
    return bool(bad)


def raise_if_diverged(checkpoint, run_dir: Path) -> None:
    """After ``fit``: if ``checkpoint`` saw a diverged epoch, drop its history rows and raise.

    Raises:
        TrainingDivergedError: naming the epoch, its non-finite logs and the epoch kept on disk.
    """
    if checkpoint.diverged is None:
        return
    kept = int(read_json(run_dir / STATE_FILE)["epoch"]) if (run_dir / STATE_FILE).exists() else 0
    truncate_history(run_dir, kept)
    raise TrainingDivergedError(run_dir, *checkpoint.diverged, kept)


def _callback_base():
    import keras

    return keras.callbacks.Callback


def _early_stopping_base():
    import keras

    return keras.callbacks.EarlyStopping


def make_run_checkpoint(run_dir, monitor: str, epochs: int, state: dict | None, early_stopping=None):
    """A callback saving ``best.keras``, ``last.keras`` and ``state.json`` atomically every epoch.

    Args:
        run_dir: the run folder.
        monitor: the log key deciding the best epoch (``val_loss``; ``*delta*`` keys maximise).
        epochs: the run's planned number of epochs (recorded in the state).
        state: the state read on resume (best value carries over), or None.
        early_stopping: the run's early-stopping callback, whose counters are saved too.
    """
    from comicdepth_tf.models.registry import WeightsOnlyWriter, atomic_save_keras

    base = _callback_base()
    run_dir = Path(run_dir)

    class RunCheckpoint(base):
        diverged: tuple[int, list[str]] | None = None

        def __init__(self):
            super().__init__()
            self.monitor = monitor
            self.mode = monitor_mode(monitor)
            self.best = (state or {}).get("best")
            self.best_epoch = (state or {}).get("best_epoch")
            self.best_writer = WeightsOnlyWriter()

        def on_epoch_end(self, epoch, logs=None):
            if stop_if_diverged(self, epoch, logs):
                return  # NaN weights would overwrite last.keras, and a resume would go on from them
            logs = logs or {}
            value = logs.get(self.monitor)
            value = None if value is None else float(value)
            if is_better(value, self.best, self.mode):
                self.best, self.best_epoch = value, epoch + 1
                self.best_writer.save(self.model, run_dir / BEST_FILE)  # read for weights only
            record = {
                "epoch": epoch + 1,
                "epochs": epochs,
                "monitor": self.monitor,
                "mode": self.mode,
                "best": self.best,
                "best_epoch": self.best_epoch,
                "stopped_early": bool(getattr(self.model, "stop_training", False)),
            }
            if early_stopping is not None:
                record["early_stopping"] = {
                    "wait": int(early_stopping.wait),
                    "best": None if early_stopping.best is None else float(early_stopping.best),
                    "best_epoch": int(early_stopping.best_epoch),
                }
            # The state travels inside last.keras, so one rename commits weights, optimizer and
            # state together; state.json is its readable copy (see read_checkpoint_state).
            atomic_save_keras(self.model, run_dir / LAST_FILE, extra={STATE_FILE: record})
            atomic_write_json(run_dir / STATE_FILE, record)

    return RunCheckpoint()


def clean_temporary_files(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted atomic write left in ``run_dir`` (``.<name>.*.tmp*``).

    Returns:
        The deleted paths.
    """
    removed = []
    for path in Path(run_dir).glob(".*.tmp*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def same_identity(run_dir: str | os.PathLike, identity: dict[str, Any]) -> bool:
    """Whether ``run_dir/identity.json`` records ``identity`` (compared as JSON reads it back)."""
    path = Path(run_dir) / IDENTITY_FILE
    return path.is_file() and read_json(path) == json.loads(json.dumps(identity))


def read_checkpoint_state(run_dir: str | os.PathLike) -> dict | None:
    """The state of the checkpoint a run resumes from, or None when there is none.

    ``last.keras`` carries its own state (written in the same rename as the weights); a kill
    between that rename and ``state.json`` leaves ``state.json`` one epoch behind, so the state
    inside ``last.keras`` wins and ``state.json`` is rewritten from it. A ``last.keras`` written
    before this rule (no state inside) pairs with ``state.json``.
    """
    from comicdepth_tf.models.registry import read_keras_extra

    run_dir = Path(run_dir)
    if not (run_dir / LAST_FILE).exists():
        return None
    state = read_keras_extra(run_dir / LAST_FILE, STATE_FILE)
    if state is None:
        return read_json(run_dir / STATE_FILE) if (run_dir / STATE_FILE).exists() else None
    if not (run_dir / STATE_FILE).exists() or read_json(run_dir / STATE_FILE) != state:
        atomic_write_json(run_dir / STATE_FILE, state)
    return state


def make_early_stopping(monitor: str, patience: int, state: dict | None):
    """``keras.callbacks.EarlyStopping`` that restores its counters from a resumed run's state."""
    base = _early_stopping_base()
    saved = (state or {}).get("early_stopping")

    class ResumableEarlyStopping(base):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if saved:
                self.wait, self.best, self.best_epoch = saved["wait"], saved["best"], saved["best_epoch"]

    return ResumableEarlyStopping(monitor=monitor, patience=patience, mode=monitor_mode(monitor))


def rekey_seed_generators(model, seed: int, epoch: int) -> int:
    """Set the state of every ``keras.random.SeedGenerator`` in ``model`` from ``(seed, epoch)``.

    Dropout masks, GAN image-pool draws and other in-step randomness then depend on the run's
    seed, the epoch and the step within it, never on what ran before in the process, and a run
    resumed at an epoch draws what the uninterrupted run drew (Keras does not save these states).

    Returns:
        The number of generators re-keyed.
    """
    import numpy as np

    generators = [g for layer in model._flatten_layers(include_self=True)  # noqa: SLF001 (Keras has no public walk)
                  for g in getattr(layer, "_seed_generators", ())]
    for k, generator in enumerate(generators):
        key = int(np.random.SeedSequence([int(seed), int(epoch), k]).generate_state(1)[0] >> 1)
        generator.state.assign(np.asarray([key, 0], dtype=generator.state.dtype))
    return len(generators)


def make_epoch_clock(seed: int | None, steps_per_epoch: int | None):
    """A callback announcing each epoch to the data pipelines and re-keying in-step randomness.

    At the start of epoch ``e`` it sets the training position ``(e, e × steps_per_epoch)``
    (:mod:`comicdepth_tf.data.clock`) and calls :func:`rekey_seed_generators`; at the end of
    training it resets the position. This is what makes an epoch's batches and draws a function
    of the seed and the epoch alone, so reruns are identical and a resumed run is exact.
    """
    from comicdepth_tf.data import clock

    base = _callback_base()

    class EpochClock(base):
        def on_epoch_begin(self, epoch, logs=None):
            clock.set_position(epoch, epoch * int(steps_per_epoch or 0))
            rekey_seed_generators(self.model, 0 if seed is None else seed, epoch)

        def on_train_end(self, logs=None):
            clock.reset()

    return EpochClock()


@contextlib.contextmanager
def training_position(epoch: int, steps_per_epoch: int | None):
    """Hold the training position at ``epoch`` around ``Model.fit`` and reset it afterwards.

    Keras takes one batch to build a model under a distribution strategy before the first
    ``on_epoch_begin``; setting the position first makes that batch the epoch's own.
    """
    from comicdepth_tf.data import clock

    clock.set_position(epoch, epoch * int(steps_per_epoch or 0))
    try:
        yield
    finally:
        clock.reset()


def make_lr_logger():
    """Adds the optimizer's current ``learning_rate`` to the epoch logs (so history.csv has it)."""
    import keras

    base = _callback_base()

    class LearningRateLogger(base):
        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    return LearningRateLogger()


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


def read_history(run_dir) -> dict[str, list[float]]:
    """``history.csv`` as ``{column: [values…]}`` (empty when absent)."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = rows[0].keys() if rows else []
    # CSVLogger writes "NA" for a value missing in an epoch (e.g. validation skipped).
    return {c: [float(r[c]) if r[c] not in ("", "NA", None) else math.nan for r in rows] for c in columns}


def history_logger(path: Path, append: bool):
    """A ``CSVLogger`` whose columns are those of the existing file when it appends.

    Keras's logger takes its columns from the first epoch it logs; a resumed run whose first
    epoch is not validated would otherwise write rows without the validation columns under a
    header that has them.
    """
    import keras

    class HistoryLogger(keras.callbacks.CSVLogger):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            if append and path.exists() and path.stat().st_size:
                with open(path, newline="") as fh:
                    header = next(csv.reader(fh), [])
                self.keys = [k for k in header if k != "epoch"] or None

    return HistoryLogger(str(path), append=append)


def truncate_history(run_dir: Path, epochs_kept: int) -> None:
    """Keep the rows of epochs ``< epochs_kept`` (a crash can leave a row past the checkpoint)."""
    path = run_dir / HISTORY_FILE
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    body = [r for r in body if r and int(float(r[0])) < epochs_kept]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(body)
    atomic_write_text(path, buffer.getvalue())


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (best epoch's weights when ``restore_best``).
        history: every epoch of the run so far, resumed parts included (from ``history.csv``).
        run_dir: the run folder.
        initial_epoch: the epoch this call started from (0 for a fresh run).
        epochs_completed: epochs finished in total.
        best_epoch: 1-based epoch with the best monitored value (None when never evaluated).
        best_value: that value.
        stopped_early: early stopping ended the run.
    """

    model: Any
    history: dict[str, list[float]]
    run_dir: Path
    initial_epoch: int
    epochs_completed: int
    best_epoch: int | None
    best_value: float | None
    stopped_early: bool
    state: dict = field(default_factory=dict)


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package (needed by Keras' TensorBoard callback) is installed."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def make_tensorboard(run_dir: str | os.PathLike):
    """Keras' TensorBoard callback writing ``run_dir/tensorboard``, at its cheapest.

    One scalar write per epoch and nothing else (no histograms, graph or profile), so it costs
    no measurable time; the event files never take part in resume or reuse (the checkpoint and
    ``state.json`` do), and a resumed run writes a new event file beside the old ones.
    """
    import keras

    return keras.callbacks.TensorBoard(str(Path(run_dir) / LOG_DIR), update_freq="epoch", histogram_freq=0,
                                       write_graph=False, profile_batch=0)


def run_name(run_dir: str | os.PathLike) -> str:
    """``model/run`` of a run folder ``saved_models/<model>/<run>`` (what the progress lines name)."""
    run_dir = Path(run_dir)
    return f"{run_dir.parent.name}/{run_dir.name}"


def use_tensorboard(requested: bool | None) -> bool:
    """Whether a training writes TensorBoard logs: ``None`` when the package is installed.

    Raises:
        ParameterError: ``True`` without the ``tensorboard`` package.
    """
    if requested is None:
        return tensorboard_available()
    if requested and not tensorboard_available():
        raise ParameterError("tensorboard=True needs the 'tensorboard' package (pip install tensorboard)")
    return bool(requested)


def _steps_per_epoch(ds, given: int | None) -> int | None:
    if given:
        return int(given)
    n = int(ds.cardinality())
    return n if n > 0 else None  # -1 infinite, -2 unknown


def fit(
    model: Any,
    train_ds,
    val_ds=None,
    *,
    run_dir: str | os.PathLike,
    epochs: int,
    learning_rate: float = 1e-3,
    loss: Any = "depth",
    metrics: Sequence = ("delta1", "abs_rel"),
    optimizer: Any = "adam",
    lr_schedule: str = "cosine",
    lr_step_epochs: int = 10,
    lr_gamma: float = 0.1,
    steps_per_epoch: int | None = None,
    monitor: str | None = None,
    early_stopping_patience: int | None = None,
    mixed_precision: bool | str | None = None,
    strategy: Any = None,
    resume: bool = True,
    restore_best: bool = True,
    seed: int | None = None,
    tensorboard: bool | None = None,
    extra_callbacks: Sequence = (),
    verbose: int | str = 0,
    deterministic: bool = True,
    progress_monitor: str | None = None,
    identity: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` with ``keras.Model.fit`` into ``run_dir`` (resumable).

    Args:
        model: a model from :func:`build` and :func:`compile_model` (then ``loss``, ``metrics``,
            ``optimizer`` and the schedule's arguments are not used), an uncompiled ``keras.Model``,
            or a builder ``() -> keras.Model``. An uncompiled built model is copied into the
            strategy's scope when there is one, and keeps its own precision (its layers' dtypes
            are fixed): mixed precision needs a builder, or :func:`build`.
        train_ds: ``tf.data.Dataset`` of ``(image, depth)`` batches (the global batch).
        val_ds: validation dataset, or None (then the best epoch is chosen by ``loss``).
        run_dir: the run folder (created).
        epochs: total epochs of the run (a resumed run counts the finished ones).
        learning_rate: initial learning rate.
        loss: a loss name (``depth``, ``l1``, ``ssi``) or a Keras loss.
        metrics: metric names (``delta1``, ``abs_rel``, ``rmse``…) or Keras metrics.
        optimizer: ``adam``, ``adamw``, ``sgd``, or a Keras optimizer (then ``learning_rate`` and
            ``lr_schedule`` are not used).
        lr_schedule: ``constant``, ``cosine`` (over the whole run) or ``step`` (× ``lr_gamma`` every
            ``lr_step_epochs`` epochs).
        steps_per_epoch: steps of one epoch; default the dataset's cardinality (needed by the
            schedules when the dataset has no known length). With a finite dataset it must be
            its length: an epoch is a whole pass (what makes resumed epochs exact).
        monitor: log key for the best checkpoint and early stopping; default ``val_loss``
            (``loss`` without ``val_ds``).
        early_stopping_patience: epochs without improvement before stopping; None disables it.
        mixed_precision: build and train under ``mixed_float16`` (True; GPUs, slow on CPUs) or
            the policy named (``"mixed_bfloat16"``: CPUs with AVX512-BF16/AMX); see
            :func:`precision_policy`. False: float32. None: what :func:`use_devices` set
            (applied to builders only).
        strategy: a name of :func:`get_strategy` or a ``tf.distribute.Strategy``; None: what
            :func:`use_devices` set (no strategy unless it set one).
        resume: continue from ``last.keras`` / ``state.json`` when ``run_dir`` has them (the
            saved model, loss, metrics and optimizer are used; ``model`` is not called);
            ``False`` starts over (and overwrites the history).
        restore_best: after training, load the best epoch's weights into the returned model.
        seed: ``keras.utils.set_random_seed(seed)`` before building (initial weights, shuffles;
            a compiled model was seeded by :func:`build`), and the key of each epoch's draws.
        tensorboard: write TensorBoard logs to ``run_dir/tensorboard`` (:func:`make_tensorboard`);
            ``None`` (default) does when the ``tensorboard`` package is installed (Keras' callback
            needs it; it is a dependency), ``True`` requires it.
        extra_callbacks: more Keras callbacks (run after the checkpoint of each epoch).
        verbose: passed to ``Model.fit``; the one line per epoch of
            :func:`comicdepth_tf.progress.make_progress` is printed whatever it is.
        deterministic: :func:`configure_determinism` first (bitwise-identical reruns).
        progress_monitor: the key the progress line reports as picking the best epoch, when an
            extra callback picks it rather than ``monitor`` (the text U-net's IoU); default ``monitor``.
        identity: what the run is made from that ``run_dir`` alone does not name (upstream
            models' digests, data, settings), JSON-serialisable. It is written to
            ``identity.json`` with the package's :func:`comicdepth_tf.env.source_digest`; a
            checkpoint there whose identity differs (other inputs or other code, or none) is not
            resumed: the run trains again from epoch 0. None: no check (a run folder per run).

    Returns:
        A :class:`FitResult`.

    Raises:
        TrainingDivergedError: an epoch's logs were NaN or infinite; ``last.keras``, ``best.keras``,
            ``state.json`` and ``history.csv`` stay those of the last finite epoch.
    """
    import keras

    from comicdepth_tf.models.registry import load_model

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    is_model = isinstance(model, keras.Model)
    if mixed_precision and is_model:
        raise ParameterError("mixed_precision needs a builder function: a built model's layers keep their dtypes")
    if mixed_precision is None and is_model:
        mixed_precision = False  # the process's precision applies to models built here
    if not is_model and not callable(model):
        raise ParameterError(f"model must be a keras.Model or a builder function, got {type(model).__name__}")
    monitor = monitor or ("val_loss" if val_ds is not None else "loss")
    length = int(train_ds.cardinality())
    if steps_per_epoch and length > 0 and int(steps_per_epoch) != length:
        # Keras then keeps one iterator across epochs, which a resumed run cannot re-enter.
        raise ParameterError(f"steps_per_epoch={steps_per_epoch} with a finite training dataset of {length} batches: "
                             "an epoch must be the whole dataset (omit steps_per_epoch) or the dataset must repeat")

    clean_temporary_files(run_dir)
    if identity is not None:
        from comicdepth_tf.env import source_digest

        # A checkpoint of other code is neither resumed nor returned as finished: a stage rerun
        # after a change to the package must train again, not report the old model.
        identity = {**identity, "source": source_digest()}
    state = read_checkpoint_state(run_dir) if resume else None
    if state and identity is not None and not same_identity(run_dir, identity):
        print(f"{run_name(run_dir)}: its checkpoint was made from other inputs or code than these "
              f"({IDENTITY_FILE} differs); training again from epoch 0", flush=True)
        state = None
    initial_epoch = int(state["epoch"]) if state else 0
    if not state:
        # A fresh start: stale files of an earlier run must not be resumed from later.
        for stale in (STATE_FILE, LAST_FILE, BEST_FILE, IDENTITY_FILE):
            (run_dir / stale).unlink(missing_ok=True)
        if identity is not None:
            atomic_write_json(run_dir / IDENTITY_FILE, identity)

    configure_determinism(deterministic)
    if seed is not None and not (is_model and model.compiled):  # a compiled model was seeded by build()
        keras.utils.set_random_seed(seed)
    dist, mixed_precision = process_devices(strategy, mixed_precision)
    scope = dist.scope() if dist is not None else contextlib.nullcontext()
    with precision_policy(mixed_precision), scope:
        if state:
            net = load_model(run_dir / LAST_FILE, compile=True)
        else:
            net = model() if not is_model else model if (dist is None or model.compiled) else _copy_in_scope(model)
            if not net.compiled:
                compile_model(net, loss=loss, metrics=metrics, optimizer=optimizer, learning_rate=learning_rate,
                              lr_schedule=lr_schedule, steps_per_epoch=_steps_per_epoch(train_ds, steps_per_epoch),
                              epochs=epochs, lr_step_epochs=lr_step_epochs, lr_gamma=lr_gamma, strategy=dist,
                              mixed_precision=mixed_precision)
        build_before_tracing(net, train_ds)

        finished = bool(state) and (initial_epoch >= epochs or state.get("stopped_early", False))
        if not finished:
            if state:
                truncate_history(run_dir, initial_epoch)
            early = None
            if early_stopping_patience is not None:
                early = make_early_stopping(monitor, early_stopping_patience, state)
            spe = _steps_per_epoch(train_ds, steps_per_epoch)
            callbacks = [make_epoch_clock(seed, spe), make_lr_logger()]
            callbacks += [early] if early is not None else []
            callbacks.append(history_logger(run_dir / HISTORY_FILE, append=bool(state)))
            if use_tensorboard(tensorboard):
                callbacks.append(make_tensorboard(run_dir))
            checkpoint = make_run_checkpoint(run_dir, monitor, epochs, state, early)
            callbacks.append(checkpoint)
            # After the checkpoint: an epoch's time includes its saving.
            if progress_monitor in (None, monitor):
                callbacks.append(make_progress(run_name(run_dir), monitor, best=(state or {}).get("best")))
            else:  # its best of earlier epochs lives with the extra callback: '*' restarts on resume
                callbacks.append(make_progress(run_name(run_dir), progress_monitor))
            callbacks.extend(extra_callbacks)
            with training_position(initial_epoch, spe), multi_worker_fixes(net, dist):
                net.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                        steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose,
                        shuffle=False)  # shuffling is the tf.data pipeline's job
            raise_if_diverged(checkpoint, run_dir)
        final_state = read_json(run_dir / STATE_FILE) if (run_dir / STATE_FILE).exists() else {}
        if restore_best and (run_dir / BEST_FILE).exists():
            net.set_weights(load_model(run_dir / BEST_FILE).get_weights())

    return FitResult(
        model=net,
        history=read_history(run_dir),
        run_dir=run_dir,
        initial_epoch=initial_epoch,
        epochs_completed=int(final_state.get("epoch", initial_epoch)),
        best_epoch=final_state.get("best_epoch"),
        best_value=final_state.get("best"),
        stopped_early=bool(final_state.get("stopped_early", False)),
        state=final_state,
    )
