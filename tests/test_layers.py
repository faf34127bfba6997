"""deepstack.layers: the tied-weight decoder, masking noise, standardization."""

import os
import pathlib
import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.initializers import GlorotUniform

import deepstack
from deepstack.layers import (
    GaussianNoise,
    MaskingNoise,
    RateDropout,
    Standardize,
    TiedDense,
    TiedModel,
    tie_layers,
)

LEGACY = pathlib.Path(__file__).parent / "data" / "legacy_tied"


def _tied_model(n_in=6, n_hidden=3, seed=0):
    inputs = keras.Input(shape=(n_in,), name="x")
    encoder = keras.layers.Dense(
        n_hidden,
        activation="sigmoid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        name="encoder",
    )
    decoder = TiedDense(encoder, activation="sigmoid", name="decoder")
    return TiedModel(inputs, decoder(encoder(inputs))), encoder, decoder


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
    assert decoder.get_config()["units"] == 6
    assert isinstance(loaded, TiedModel) and decoder.is_tied
    # Still tied after loading: training the loaded model keeps W_dec = W_enc.T.
    loaded.fit(X, X, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(decoder.kernel),
        keras.ops.convert_to_numpy(encoder.kernel).T,
    )
    assert len(loaded.trainable_weights) == 3


def test_a_plain_functional_model_is_tied_by_tie_layers(tmp_path):
    inputs = keras.Input(shape=(6,))
    encoder = keras.layers.Dense(3, name="encoder")
    model = keras.Model(inputs, TiedDense(encoder, name="decoder")(encoder(inputs)))
    path = os.path.join(tmp_path, "plain.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    X = np.random.RandomState(4).rand(5, 6).astype("float32")
    # A plain keras.Model has no hook to find the encoder: a clear error ...
    with pytest.raises(ValueError, match="tie_layers"):
        loaded.predict(X, verbose=0)
    # ... until tie_layers finds it by name.
    tie_layers(loaded)
    assert loaded.get_layer("decoder").is_tied
    np.testing.assert_allclose(
        loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6
    )


def test_tie_checks_the_name_and_the_width():
    decoder = TiedDense("encoder", units=4)
    encoder = keras.layers.Dense(2, name="encoder")
    encoder.build((None, 5))
    with pytest.raises(ValueError, match="4 units but its encoder 'encoder' has 5"):
        decoder.tie(encoder)
    with pytest.raises(ValueError, match="not 'other'"):
        decoder.tie(keras.layers.Dense(2, name="other"))


def test_models_saved_before_units_existed_load_tied():
    # Written by the code before TiedModel (see data/legacy_tied/README.md):
    # plain functional models whose decoder configs lack ``units``.
    X = np.load(LEGACY / "X.npy")
    model = deepstack.layers._tied_dense.load_model(LEGACY / "tied_model.keras")
    assert model.get_layer("decoder").is_tied
    np.testing.assert_allclose(
        model.predict(X, verbose=0), np.load(LEGACY / "tied_pred.npy"), rtol=1e-6
    )
    expected = np.load(LEGACY / "sae_transform.npy")
    sae = deepstack.load(LEGACY / "sae")
    np.testing.assert_allclose(sae.transform(X), expected, rtol=1e-6)
    with open(LEGACY / "sae.pkl", "rb") as handle:
        unpickled = pickle.load(handle)
    np.testing.assert_allclose(unpickled.transform(X), expected, rtol=1e-6)
    decoders = [
        layer for layer in sae.autoencoder_.layers if isinstance(layer, TiedDense)
    ]
    assert [d.is_tied for d in decoders] == [True, True]
    # Still tied: W_dec is the transpose of W_enc after more training.
    sae.autoencoder_.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    before = keras.ops.convert_to_numpy(decoders[0].bias).copy()
    sae.autoencoder_.fit(X, X, epochs=1, verbose=0)
    assert not np.allclose(before, keras.ops.convert_to_numpy(decoders[0].bias))
    for decoder in decoders:
        encoder = sae.autoencoder_.get_layer(decoder.tied_name)
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(decoder.kernel),
            keras.ops.convert_to_numpy(encoder.kernel).T,
        )


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
    with pytest.raises(ValueError, match="name of its encoder 'missing'"):
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


def test_gaussian_noise_takes_any_std_with_the_draws_of_keras_layer(tmp_path):
    X = np.zeros((400, 25), dtype="float32")
    # Below 1, the same noise as keras.layers.GaussianNoise with that seed,
    # so pretraining gives the weights it gave with Keras's layer.
    ours = keras.ops.convert_to_numpy(GaussianNoise(0.5, seed=3)(X, training=True))
    theirs = keras.layers.GaussianNoise(0.5, seed=3)(X, training=True)
    np.testing.assert_array_equal(ours, keras.ops.convert_to_numpy(theirs))
    # Above 1, which Keras's layer refuses.
    layer = GaussianNoise(2.0, seed=0)
    noise = keras.ops.convert_to_numpy(layer(X, training=True))
    assert abs(noise.std() - 2.0) < 0.05 and abs(noise.mean()) < 0.05
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(X, training=False)), X
    )
    with pytest.raises(ValueError, match="stddev must be >= 0"):
        GaussianNoise(-1.0)
    inputs = keras.Input((25,))
    model = keras.Model(inputs, GaussianNoise(2.0, seed=0, name="noise")(inputs))
    path = os.path.join(tmp_path, "noise.keras")
    model.save(path)
    loaded = keras.saving.load_model(path).get_layer("noise")
    assert isinstance(loaded, GaussianNoise)
    assert (loaded.stddev, loaded.seed) == (2.0, 0)


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


def test_rate_dropout_draws_what_keras_dropout_draws(tmp_path):
    """The same zeros and scaled values as keras.layers.Dropout with the same
    seed, call after call (so networks train as they did with Keras's
    layer); the rate is a weight that a compiled function reads."""
    X = np.random.RandomState(0).normal(size=(64, 33)).astype("float32")
    for rate in (0.05, 0.1, 0.3, 0.37, 0.5):
        ours, theirs = RateDropout(rate, seed=5), keras.layers.Dropout(rate, seed=5)
        for _ in range(3):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(ours(X, training=True)),
                keras.ops.convert_to_numpy(theirs(X, training=True)),
            )
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(ours(X, training=False)), X
        )
    layer = RateDropout(0.25, seed=0, name="drop")
    assert [w.name for w in layer.non_trainable_weights] == ["rate"]
    assert not layer.trainable_weights
    assert layer.get_config()["rate"] == 0.25
    ones = np.ones((2000, 10), dtype="float32")
    if keras.backend.backend() == "tensorflow":
        call = tf.function(lambda x: layer(x, training=True))
    else:
        import jax

        # (Stateless: the generator's state is passed in and out.)
        def call(x):
            values = [v.value for v in layer.non_trainable_variables]
            out, _ = jax.jit(
                lambda v, x: layer.stateless_call([], v, x, training=True)
            )(values, x)
            return out

    for rate in (0.25, 0.6):  # the traced function reads the new rate
        layer.set_rate(rate)
        out = keras.ops.convert_to_numpy(call(ones))
        assert abs((out == 0).mean() - rate) < 0.02
        np.testing.assert_allclose(out[out != 0], 1 / (1 - rate), rtol=1e-6)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
            RateDropout(bad)
    # Trained in a compiled step: the same weights on TensorFlow; on JAX,
    # XLA rounds the rescaling by a constant rate (Keras's) and by a
    # variable one differently in the last digits.
    trained = []
    for kind in (RateDropout, keras.layers.Dropout):
        dense = [
            keras.layers.Dense(units, kernel_initializer=GlorotUniform(seed))
            for units, seed in ((8, 2), (1, 3))
        ]
        net = keras.Sequential([keras.Input((33,)), dense[0], kind(0.3, seed=1)])
        net.add(dense[1])
        net.compile("adam", "mse")
        net.fit(X, X[:, :1], batch_size=16, epochs=2, verbose=0, shuffle=False)
        trained.append([w.numpy() for layer in dense for w in layer.weights])
    exact = keras.backend.backend() == "tensorflow"
    for ours, theirs in zip(*trained, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0 if exact else 1e-5)
    inputs = keras.Input((10,))
    model = keras.Model(inputs, layer(inputs))
    path = os.path.join(tmp_path, "dropout.keras")
    model.save(path)
    loaded = keras.saving.load_model(path).get_layer("drop")
    assert isinstance(loaded, RateDropout)
    assert (loaded.get_config()["rate"], loaded.seed) == (0.6, 0)
