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
