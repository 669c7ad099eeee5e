"""Every Keras class the project saves, registered so that plain ``keras.saving.load_model`` works.

A saved ``.keras`` file names its custom layers, losses, metrics and models as
``comicdepth>ClassName``; Keras resolves such names only from its registry, and it imports a
class's module on its own only for Keras's own packages. So the modules defining them must be
imported before a model is loaded.

``import comicdepth_tf`` must stay fast (the CLI and the runner do not need TensorFlow), so it
does not import them itself: :func:`register_when_keras_loads` registers them as soon as both
Keras and TensorFlow have finished importing (at once when they already have). After
``import comicdepth_tf`` alone, in any order with ``import keras`` / ``import tensorflow``,
``keras.saving.load_model("…/model.keras")`` loads every file the project writes.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys

#: Modules defining serialisable layers, losses, metrics and models.
SERIALISABLE_MODULES = (
    "comicdepth_tf.models.layers",
    "comicdepth_tf.losses",
    "comicdepth_tf.metrics",
    "comicdepth_tf.models.fg_mask_depth",
    "comicdepth_tf.models.cyclegan",
)
#: Both must be fully imported first: TensorFlow imports Keras during its own import and Keras
#: (TensorFlow backend) imports TensorFlow, and our modules need both complete.
_TRIGGERS = ("keras", "tensorflow")
_state = {"registered": False}


def register_all() -> None:
    """Import every module of :data:`SERIALISABLE_MODULES` (registering its Keras classes)."""
    for name in SERIALISABLE_MODULES:
        module = importlib.import_module(name)
        # Modules that define their Keras classes lazily expose a hook to define them now.
        if hasattr(module, "register_serialisables"):
            module.register_serialisables()
    _state["registered"] = True


def _initialising(name: str) -> bool:
    module = sys.modules.get(name)
    return module is None or bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _register_if_ready(just_finished: str = "") -> None:
    if _state["registered"]:
        return
    if all(name == just_finished or not _initialising(name) for name in _TRIGGERS):
        register_all()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; makes the real loaders of Keras and TensorFlow call back when done."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _TRIGGERS or _state["registered"]:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_then_register(module):
            original(module)
            _register_if_ready(just_finished=fullname)

        # Patched on the loader instance (not a wrapper loader) so that the module's
        # ``__loader__`` stays the real one, which resource lookups rely on.
        loader.exec_module = exec_then_register
        return spec


def register_when_keras_loads() -> None:
    """Register the project's Keras classes now if Keras and TensorFlow are loaded, else once they are."""
    if all(name in sys.modules for name in _TRIGGERS):
        _register_if_ready()
        return
    if not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
