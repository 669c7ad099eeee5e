"""Model builders, layers and the registry of saved runs.

Importing this package makes TensorFlow's graph execution reproducible for every model it builds
or loads (:func:`comicdepth_tf.training.configure_determinism`): the same weights and inputs
give the same outputs in every process, not only the same training run.
"""

from comicdepth_tf.training import configure_determinism as _configure_determinism

_configure_determinism(True, ops=False)  # op determinism is training's choice (it raises on unseeded ops)
