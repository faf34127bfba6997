"""Dropout whose rate is a variable, not a constant of the traced step."""

import keras


@keras.saving.register_keras_serializable(package="deepstack")
class RateDropout(keras.layers.Layer):
    """``keras.layers.Dropout`` with its rate held in a non-trainable weight.

    In training, each input is zeroed with probability ``rate`` and the kept
    ones are scaled by ``1 / (1 - rate)`` (at inference, the identity: the
    expectation), drawing the same random numbers as ``keras.layers.Dropout``
    with the same seed: on TensorFlow the same outputs bit for bit, compiled
    or not; on JAX the same outside ``jax.jit``, and inside it XLA may round
    the rescaling by a variable rate otherwise than by Keras's constant one
    in the last digits. The rate is a weight rather than a constant, as
    :class:`Standardize`'s statistics are: a compiled training function
    reads it at every step, so networks that differ only in their dropout
    rates share one compiled network and traced epoch (see
    :func:`deepstack.compile_cache`: a grid over dropout compiles once per
    architecture). It is saved with the weights and in the configuration.

    Parameters
    ----------
    rate : float
        The fraction of the inputs to drop, in [0, 1).
    seed : int, default=None
        The seed of the layer's random generator.
    **kwargs
        Passed to ``keras.layers.Layer``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepstack.layers import RateDropout
    >>> layer = RateDropout(0.5, seed=0)
    >>> x = np.ones((1, 6), dtype="float32")
    >>> sorted(set(np.asarray(layer(x, training=True)).ravel().tolist()))
    [0.0, 2.0]
    >>> layer.set_rate(0.0)
    >>> np.asarray(layer(x, training=True)).tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self._check(rate)
        self._rate = float(rate)  # (the configuration's, as given)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.rate = self.add_weight(
            name="rate",
            shape=(),
            # The rate in double precision where the backend has it, so that
            # 1 / (1 - rate) rounds as Keras's Python-float rate does (JAX
            # computes 1 - rate in single precision, as Keras does there).
            dtype="float32" if keras.backend.backend() == "jax" else "float64",
            initializer="zeros",
            trainable=False,
        )
        # Assigned, not a Constant initializer: that rounds through float32.
        self.rate.assign(self._rate)
        self.built = True

    @staticmethod
    def _check(rate):
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1); got {rate!r}.")

    def set_rate(self, rate):
        """Assign the dropout ``rate`` (a compiled step reads the new one)."""
        self._check(rate)
        self._rate = float(rate)
        self.rate.assign(self._rate)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return _dropout(inputs, self.rate, self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self._rate, "seed": self.seed}


def _dropout(inputs, rate, seed_generator):
    """Keras's own dropout arithmetic and random stream with a tensor
    ``rate`` (Keras's backends compare the rate with 0 and 1 in Python,
    which a traced variable cannot be)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        seed = seed_generator.next()
        if seed.dtype != tf.int32:
            # As Keras casts the generator's int64 state for TensorFlow's
            # stateless kernels (int32 under XLA).
            seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        # tf.nn.experimental.stateless_dropout's arithmetic for a number
        # rate (a tensor rate divides by 1 - rate instead, in single
        # precision): scale in double precision, keep where the uniform
        # draw is at least the rate.
        scale = tf.cast(1.0 / (1.0 - rate), inputs.dtype)
        uniform = tf.random.stateless_uniform(
            tf.shape(inputs), seed=seed, dtype=inputs.dtype, alg=None
        )
        keep = tf.cast(uniform >= tf.cast(rate, inputs.dtype), inputs.dtype)
        return inputs * scale * keep
    if backend == "jax":
        import jax

        keep = 1.0 - keras.ops.cast(rate, inputs.dtype)
        # (Times the reciprocal: in a jitted epoch, XLA then rounds as it
        # does Keras's division by a constant rate, where it can.)
        mask = jax.random.bernoulli(seed_generator.next(), p=keep, shape=inputs.shape)
        return jax.lax.select(mask, inputs * (1.0 / keep), jax.numpy.zeros_like(inputs))
    # Eager backends (PyTorch): the rate's value, as a number.
    value = float(keras.ops.convert_to_numpy(rate))
    return keras.random.dropout(inputs, value, seed=seed_generator)
