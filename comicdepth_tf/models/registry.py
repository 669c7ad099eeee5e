"""Model registry and what a saved run holds.

Builders are registered by name (:func:`register_model`) and built with :func:`build_model`.
A saved run is a folder ``saved_models/<model>/<run_id>/`` (made by
:func:`comicdepth_tf.runs.new_run_dir`, found again by :func:`comicdepth_tf.runs.resolve_run`) holding:

* ``model.keras`` — the model (Keras 3 format; ``keras.saving.load_model`` loads it after
  ``import comicdepth_tf``, without ``custom_objects``; no optimizer
  state: training resumes from ``last.keras``),
* ``config.json`` — the run's configuration (plus ``model_info``),
* ``metrics.json`` — the recorded metrics,
* ``MODEL_CARD.md`` — input, output convention and units, training data, metrics, how to load,
* training files written by :func:`comicdepth_tf.training.fit` (``history.csv``,
  ``best.keras``, ``last.keras``, ``state.json``, ``logs/``).

Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np

from comicdepth_tf import keras_objects
from comicdepth_tf.errors import DataFormatError, ParameterError
from comicdepth_tf.fileio import atomic_target, atomic_write_json, read_json
from comicdepth_tf.model_card import write_model_card

#: Builders defined in package modules, imported on first use so that importing the registry
#: stays cheap. Later model modules add their ``name: "module:function"`` here.
_BUILTIN: dict[str, str] = {
    "depth_unet": "comicdepth_tf.models.depth_unet:build_depth_unet",
    "text_unet": "comicdepth_tf.models.text_unet:build_text_unet",
    "segment_head": "comicdepth_tf.models.segment_head:build_segment_head",
    "fg_depthnet": "comicdepth_tf.models.fg_mask_depth:build_fg_depthnet",
    "fg_masknet": "comicdepth_tf.models.fg_mask_depth:build_fg_masknet",
}
_REGISTRY: dict[str, Callable] = {}


MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
EXTRA_PREFIX = "comicdepth/"


def register_model(name: str):
    """Decorator registering ``builder(**kwargs) -> keras.Model`` under ``name``."""

    def wrap(builder: Callable) -> Callable:
        _REGISTRY[name] = builder
        return builder

    return wrap


def model_names() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def get_builder(name: str) -> Callable:
    """The builder registered under ``name``; unknown names raise :class:`ParameterError`."""
    if name not in _REGISTRY and name in _BUILTIN:
        module, func = _BUILTIN[name].split(":")
        _REGISTRY[name] = getattr(importlib.import_module(module), func)
    if name not in _REGISTRY:
        raise ParameterError(f"unknown model {name!r}; expected one of {model_names()}")
    return _REGISTRY[name]


def build_model(name: str, **kwargs):
    """Build the registered model ``name`` with the builder's keyword arguments."""
    return get_builder(name)(**kwargs)


def atomic_save_keras(model, path: str | os.PathLike, *, include_optimizer: bool = True,
                      extra: Mapping[str, Any] | None = None) -> Path:
    """``model.save(path)`` through a temporary ``.keras`` file in the same folder and a rename.

    Args:
        model: the Keras model.
        path: the ``.keras`` file to write.
        include_optimizer: keep the compile state and the optimizer's variables (needed to
            resume training). False writes the architecture and weights only: for Adam that is
            a third of the file (IRv2 depth model: 242 MB instead of 719 MB), for files read
            for inference or for their weights.
        extra: JSON documents stored in the archive as ``comicdepth/<name>`` (Keras ignores
            them): what must change together with the weights, e.g. a training checkpoint's
            state, is then written in the same rename.
    """
    path = Path(path)
    if not include_optimizer:
        model = uncompiled_copy(model)
    with atomic_target(path, suffix=".tmp.keras") as tmp:
        model.save(tmp)
        if extra:
            with zipfile.ZipFile(tmp, "a") as archive:
                for name, value in extra.items():
                    archive.writestr(f"{EXTRA_PREFIX}{name}", json.dumps(value, indent=2))
    return path


def read_keras_extra(path: str | os.PathLike, name: str) -> Any:
    """A JSON document stored by :func:`atomic_save_keras` ``extra`` (None when the file has none).

    Raises:
        DataFormatError: the file is not a readable ``.keras`` archive or the document is not JSON.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if f"{EXTRA_PREFIX}{name}" not in archive.namelist():
                return None
            return json.loads(archive.read(f"{EXTRA_PREFIX}{name}"))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataFormatError(path, f"{EXTRA_PREFIX}{name}", "a .keras archive with a JSON document", str(exc)) from exc


def model_digest(model) -> str:
    """SHA-256 of a model's weights (shapes, dtypes and values, in order): equal for equal models.

    What a run built on another run records of it: a run folder can be trained again under the
    same name, its weights cannot change without changing this.
    """
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(f"{weight.dtype}{weight.shape}".encode())
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def uncompiled_copy(model):
    """The same architecture and weights without compile state (the model itself when uncompiled).

    Functional and Sequential models are rebuilt from their config; a subclassed model without
    ``from_config`` support is returned as is (it is then saved with its optimizer).
    """
    if getattr(model, "optimizer", None) is None:
        return model
    try:
        copy = model.__class__.from_config(model.get_config())
    except (NotImplementedError, TypeError):
        return model
    copy.set_weights(model.get_weights())
    return copy


class WeightsOnlyWriter:
    """Writes a training model's weights (no optimizer) to ``.keras`` files again and again.

    :func:`atomic_save_keras` with ``include_optimizer=False`` rebuilds an uncompiled copy for
    every write (0.5 s of a 0.8 s write for the MobileNetV2 depth model); this keeps one copy and
    refreshes its weights. The files are the same; the price is a second copy of the weights in
    memory for as long as the writer lives (15 MB for that model, 240 MB for IRv2).
    """

    def __init__(self):
        self.copy = None

    def save(self, model, path: str | os.PathLike) -> Path:
        """Write ``model``'s architecture and current weights to ``path`` atomically."""
        if self.copy is None:
            self.copy = uncompiled_copy(model)
        elif self.copy is not model:
            self.copy.set_weights(model.get_weights())
        return atomic_save_keras(self.copy, path, include_optimizer=False)


def save_model(model, run_dir: str | os.PathLike, config: dict, metrics: dict | None = None) -> Path:
    """Write ``model.keras``, ``config.json`` and ``metrics.json`` into ``run_dir`` atomically.

    Args:
        model: the Keras model.
        run_dir: the run folder (see :func:`comicdepth_tf.runs.new_run_dir`).
        config: JSON-serialisable run configuration; ``model_info`` is added when absent.
        metrics: JSON-serialisable metrics; ``None`` keeps an existing ``metrics.json`` (or
            writes ``{}`` when there is none).

    Returns:
        ``run_dir`` as a Path.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_save_keras(model, run_dir / MODEL_FILE, include_optimizer=False)
    record = dict(config)
    record.setdefault("model_info", model_info(model))
    atomic_write_json(run_dir / CONFIG_FILE, record)
    if metrics is not None or not (run_dir / METRICS_FILE).exists():
        atomic_write_json(run_dir / METRICS_FILE, metrics or {})
    write_model_card(run_dir, record, read_json(run_dir / METRICS_FILE))
    return run_dir


def load_model(run_dir: str | os.PathLike, file: str = MODEL_FILE, compile: bool = False):
    """Load a saved model without ``custom_objects``.

    Args:
        run_dir: a run folder, or a ``.keras`` file.
        file: which model file of the run folder (``model.keras``, ``best.keras``, ``last.keras``).
        compile: also restore the loss, metrics and optimizer state (needed to resume training).

    Raises:
        DataFormatError: the file is missing, is not a zip archive, or Keras cannot read it.
    """
    import keras

    keras_objects.register_all()
    path = Path(run_dir)
    if path.is_dir():
        path = path / file
    if not path.is_file():
        raise DataFormatError(path, "", "a saved Keras model (.keras file)")
    # Keras says "File not found" for a file that is there but not a zip archive.
    if not zipfile.is_zipfile(path):
        raise DataFormatError(path, "", "a .keras model archive (a zip file written by Keras)", "not a zip archive")
    try:
        return keras.saving.load_model(path, compile=compile)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # a damaged archive or member
        raise DataFormatError(path, "", "a .keras model archive (a zip file written by Keras)",
                              str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``{"config": …, "metrics": …}`` of a saved run (missing files give empty dicts)."""
    run_dir = Path(run_dir)
    out = {}
    for key, name in (("config", CONFIG_FILE), ("metrics", METRICS_FILE)):
        out[key] = read_json(run_dir / name) if (run_dir / name).exists() else {}
    return out


def model_info(model) -> dict[str, Any]:
    """What a model predicts and how it was built, read from the model itself.

    Returns:
        ``name``, ``params``, ``input_shape``, ``encoder`` (the nested ``<name>_encoder`` model,
        or None) and, for depth models, ``output`` (convention), ``max_depth``, ``min_depth``.
    """
    from comicdepth_tf.models.layers import DepthHead, walk_layers

    info: dict[str, Any] = {
        "name": model.name,
        "params": int(model.count_params()),
        "input_shape": list(model.input_shape) if not isinstance(model.input_shape, list) else model.input_shape,
        "encoder": None,
    }
    for layer in walk_layers(model):
        if layer.name.endswith("_encoder") and info["encoder"] is None:
            info["encoder"] = layer.name[: -len("_encoder")]
        if isinstance(layer, DepthHead):
            info.update(
                {"output": layer.output_convention, "max_depth": layer.max_depth, "min_depth": layer.min_depth}
            )
    return info
