"""Standardization of the inputs with statistics held in variables."""

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="deepstack")
class Standardize(keras.layers.Layer):
    """``(x - mean) / max(sqrt(variance), epsilon)``, feature by feature.

    The arithmetic of ``keras.layers.Normalization`` with given ``mean`` and
    ``variance``, but the statistics are non-trainable weights rather than
    constants: a compiled training function reads them at every call, so a
    network (and the functions traced for it) can be reused for data with
    other statistics by assigning new values (see
    :func:`deepstack.compile_cache`). They are saved with the weights, not in
    the configuration.

    Parameters
    ----------
    **kwargs
        Passed to ``keras.layers.Layer``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepstack.layers import Standardize
    >>> layer = Standardize()
    >>> layer.set_statistics([1.0, 2.0], [4.0, 1.0])
    >>> np.asarray(layer(np.array([[3.0, 2.0]], dtype="float32")))
    array([[1., 0.]], dtype=float32)
    """

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.mean = self.add_weight(
            name="mean", shape=shape, initializer="zeros", trainable=False
        )
        self.variance = self.add_weight(
            name="variance", shape=shape, initializer="ones", trainable=False
        )

    def set_statistics(self, mean, variance):
        """Assign the ``mean`` and ``variance`` of each feature (building the
        layer for their width if needed)."""
        mean = np.asarray(mean, dtype="float32")
        if not self.built:
            self.build((None, mean.shape[0]))
            self.built = True
        self.mean.assign(mean)
        self.variance.assign(np.asarray(variance, dtype="float32"))

    def call(self, inputs):
        ops = keras.ops
        inputs = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        return ops.divide(
            ops.subtract(inputs, self.mean),
            ops.maximum(ops.sqrt(self.variance), keras.backend.epsilon()),
        )

    def compute_output_shape(self, input_shape):
        return input_shape
