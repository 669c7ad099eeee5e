"""comicdepth_tf: depth estimation in comics images with TensorFlow/Keras.

The package holds all logic; the numbered notebooks in ``notebooks/`` call into it.
Heavy modules (TensorFlow models, training) are imported lazily by their users so that
``import comicdepth_tf`` stays fast. It registers the project's Keras classes once Keras is
imported (:mod:`comicdepth_tf.keras_objects`), so plain ``keras.saving.load_model`` loads every
model file the project saves.
"""

__version__ = "0.1.0"

from comicdepth_tf.errors import DataFormatError, ParameterError  # noqa: F401
from comicdepth_tf.keras_objects import register_when_keras_loads as _register_when_keras_loads

_register_when_keras_loads()
