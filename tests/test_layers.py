"""deepstack.layers: the tied-weight decoder, masking noise, standardization."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepstack.layers import MaskingNoise, Standardize, TiedDense


def _tied_model(n_in=6, n_hidden=3, seed=0):
    inputs = keras.Input(shape=(n_in,), name="x")
    encoder = keras.layers.Dense(
        n_hidden,
        activation="sigmoid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="encoder",
    )
    decoder = TiedDense(encoder, activation="sigmoid", name="decoder")
    return keras.Model(inputs, decoder(encoder(inputs))), encoder, decoder


def test_decoder_uses_the_transposed_encoder_kernel():
    model, encoder, decoder = _tied_model()
    # Only the decoder's own bias is new: 6*3 + 3 (encoder) + 6.
    assert model.count_params() == 6 * 3 + 3 + 6
    assert [w.path for w in decoder.weights] == ["decoder/bias"]
    decoder.bias.assign(np.linspace(-1, 1, 6).astype("float32"))
    X = np.random.RandomState(0).rand(5, 6).astype("float32")
    W = keras.ops.convert_to_numpy(encoder.kernel)
    b = keras.ops.convert_to_numpy(encoder.bias)
    codes = 1 / (1 + np.exp(-(X @ W + b)))
    expected = 1 / (1 + np.exp(-(codes @ W.T + np.linspace(-1, 1, 6))))
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5)
    assert decoder.compute_output_shape((None, 3)) == (None, 6)


def test_training_moves_the_shared_kernel():
    model, encoder, decoder = _tied_model()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mean_squared_error")
    X = np.random.RandomState(1).rand(32, 6).astype("float32")
    before = keras.ops.convert_to_numpy(encoder.kernel).copy()
    model.fit(X, X, epochs=2, batch_size=8, verbose=0)
    after = keras.ops.convert_to_numpy(encoder.kernel)
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(decoder.kernel), after.T)


def test_save_load_round_trip(tmp_path):
    model, _, _ = _tied_model()
    model.compile(optimizer="adam", loss="mean_squared_error")
    X = np.random.RandomState(2).rand(40, 6).astype("float32")
    model.fit(X, X, epochs=2, batch_size=8, verbose=0)
    path = os.path.join(tmp_path, "tied.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6
    )
    decoder, encoder = loaded.get_layer("decoder"), loaded.get_layer("encoder")
    assert isinstance(decoder, TiedDense)
    assert decoder.get_config()["tied_to"] == "encoder"
    # Still tied after loading: training the loaded model keeps W_dec = W_enc.T.
    loaded.fit(X, X, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(decoder.kernel),
        keras.ops.convert_to_numpy(encoder.kernel).T,
    )
    assert len(loaded.trainable_weights) == 3


def test_gradients_match_central_finite_differences():
    # float64 throughout so that the finite differences are accurate.
    rng = np.random.RandomState(3)
    inputs = keras.Input(shape=(4,), dtype="float64")
    encoder = keras.layers.Dense(3, activation="tanh", dtype="float64")
    decoder = TiedDense(encoder, activation="sigmoid", dtype="float64")
    model = keras.Model(inputs, decoder(encoder(inputs)))
    decoder.bias.assign(rng.normal(size=4))
    encoder.bias.assign(rng.normal(size=3))
    X = tf.constant(rng.rand(5, 4))
    target = tf.constant(rng.rand(5, 4))

    def loss():
        return tf.reduce_sum((model(X) - target) ** 2)

    # The Keras-3 backend here is TensorFlow, so the analytic gradient comes
    # from a tf.GradientTape (a test-only, backend-specific helper).
    variables = [encoder.kernel, encoder.bias, decoder.bias]
    with tf.GradientTape() as tape:
        value = loss()
    analytic = tape.gradient(value, [v.value for v in variables])
    eps = 1e-6
    for variable, grad in zip(variables, analytic):
        base = keras.ops.convert_to_numpy(variable).copy()
        numeric = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            for sign in (1, -1):
                shifted = base.copy()
                shifted[index] += sign * eps
                variable.assign(shifted)
                numeric[index] += sign * float(loss()) / (2 * eps)
            variable.assign(base)
        np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-6, atol=1e-8)
        assert np.abs(numeric).max() > 1e-3  # the check is not vacuous


def test_tied_to_must_be_a_dense_layer():
    with pytest.raises(TypeError, match="tied_to"):
        TiedDense(keras.layers.ReLU())


def test_unresolved_name_is_a_clear_error():
    decoder = TiedDense("missing")
    with pytest.raises(ValueError, match="missing"):
        decoder(keras.Input(shape=(3,)))


def test_masking_noise_zeroes_a_fraction_without_rescaling():
    layer = MaskingNoise(0.3, seed=0)
    X = np.ones((200, 50), dtype="float32")
    out = keras.ops.convert_to_numpy(layer(X, training=True))
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert abs((out == 0).mean() - 0.3) < 0.03
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(X, training=False)), X
    )
    assert MaskingNoise.from_config(layer.get_config()).rate == 0.3
    with pytest.raises(ValueError, match="rate"):
        MaskingNoise(1.0)


def test_standardize_matches_keras_normalization_and_saves_its_statistics(tmp_path):
    rng = np.random.RandomState(3)
    X = (rng.normal(size=(50, 4)) * [1.0, 10.0, 1e-3, 0.0]).astype("float32")
    mean, variance = X.mean(axis=0), X.var(axis=0)
    variance[variance == 0] = 1.0
    reference = keras.layers.Normalization(mean=mean, variance=variance)
    layer = Standardize(name="standardize")
    layer.set_statistics(mean, variance)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(X)), keras.ops.convert_to_numpy(reference(X))
    )
    # The statistics are non-trainable weights, not part of the configuration.
    assert [w.name for w in layer.non_trainable_weights] == ["mean", "variance"]
    assert not layer.trainable_weights and "mean" not in layer.get_config()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
    path = os.path.join(tmp_path, "standardize.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(X)), keras.ops.convert_to_numpy(model(X))
    )
    layer.set_statistics(mean + 1.0, variance)  # read at every call
    assert not np.array_equal(
        keras.ops.convert_to_numpy(loaded(X)), keras.ops.convert_to_numpy(model(X))
    )
