"""Masking noise: the corruption of denoising autoencoders."""

import keras


@keras.saving.register_keras_serializable(package="deepstack")
class MaskingNoise(keras.layers.Layer):
    """Set a random fraction ``rate`` of the inputs to zero during training.

    Unlike ``keras.layers.Dropout`` the kept inputs are not rescaled: a
    denoising autoencoder must learn to fill in the missing values, not to
    undo a change of scale. At inference the layer is the identity.

    Parameters
    ----------
    rate : float in [0, 1)
        Probability that each input is zeroed.
    seed : int or None, default=None
        Seed of the noise.
    **kwargs
        Passed to ``keras.layers.Layer``.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"rate must be in [0, 1); got {rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        keep = keras.random.uniform(
            keras.ops.shape(inputs), seed=self.seed_generator, dtype=inputs.dtype
        )
        keep = keras.ops.cast(keep >= self.rate, inputs.dtype)
        return inputs * keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="deepstack")
class GaussianNoise(keras.layers.Layer):
    """Add zero-centred Gaussian noise of standard deviation ``stddev`` during
    training.

    ``keras.layers.GaussianNoise`` with the same draws (the same seed gives
    the same noise), but any standard deviation: Keras's layer refuses one
    above 1, which a denoising autoencoder on standardized inputs may well
    want (noise larger than the signal). At inference the layer is the
    identity.

    Parameters
    ----------
    stddev : float >= 0
        Standard deviation of the noise.
    seed : int or None, default=None
        Seed of the noise.
    **kwargs
        Passed to ``keras.layers.Layer``.

    Examples
    --------
    >>> import numpy as np
    >>> from deepstack.layers import GaussianNoise
    >>> layer = GaussianNoise(2.0, seed=0)
    >>> noise = np.asarray(layer(np.zeros((1000, 10), "float32"), training=True))
    >>> round(float(noise.std()), 1)
    2.0
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not float(stddev) >= 0.0:
            raise ValueError(f"stddev must be >= 0; got {stddev!r}.")
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.stddev == 0.0:
            return inputs
        return inputs + keras.random.normal(
            keras.ops.shape(inputs),
            mean=0.0,
            stddev=self.stddev,
            dtype=self.compute_dtype,
            seed=self.seed_generator,
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
