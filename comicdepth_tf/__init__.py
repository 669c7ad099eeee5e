"""comicdepth_tf: depth estimation in comics images with TensorFlow/Keras.

The package holds all logic; the numbered notebooks in ``notebooks/`` call into it.
Heavy modules (TensorFlow models, training) are imported lazily by their users so that
``import comicdepth_tf`` stays fast.
"""

__version__ = "0.1.0"

from comicdepth_tf.errors import DataFormatError, ParameterError  # noqa: F401
