"""deepstack.callbacks on plain Keras models, with known answers."""

import copy
import json

import keras
import numpy as np
import pytest

from deepstack import _network
from deepstack.callbacks import (
    DivergenceError,
    DivergenceGuard,
    EarlyStopping,
    LearningRateDecay,
    LearningRateHalving,
    LearningRateRecorder,
    ValidationPass,
    set_population_statistics,
)
from deepstack.callbacks._monitor import get_learning_rate


def _linear_model(rate=0.1, use_bias=True):
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1, use_bias=use_bias)]
    )
    model.compile(keras.optimizers.SGD(rate), "mse")
    return model


def _drive(callback, model, values, key="val_loss", mark_weights=False):
    """Feed ``values`` as the logged ``key`` of successive epochs.

    With ``mark_weights`` the kernel holds the epoch number during each
    epoch, so the restored weights tell which epoch they came from.
    Returns the number of epochs run before the callback stopped training.
    """
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        if mark_weights:
            model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {key: value, "loss": 1.0})
        epochs += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return epochs


def test_early_stopping_stops_at_best_plus_patience_and_restores_best():
    model = _linear_model()
    # Best at epoch 2; epoch 5 improves by less than tol, so it does not count.
    values = [5.0, 4.0, 3.0, 3.5, 3.2, 3.0 - 5e-5, 1.0, 0.5]
    stopper = EarlyStopping(patience=3, tol=1e-4)
    epochs = _drive(stopper, model, values, mark_weights=True)
    assert stopper.best_epoch == 2
    assert stopper.stopped_epoch == 2 + 3
    assert epochs == 6
    assert stopper.best_value == pytest.approx(3.0)
    np.testing.assert_array_equal(model.get_weights()[0], 2.0)


def test_early_stopping_patience_grows_with_the_best_epoch():
    # Best at the 10th epoch: 50% of 10 is 5 epochs of patience, more than
    # the 3 given; an early best (the 2nd epoch) keeps the 3.
    falling = [10.0 - i for i in range(10)] + [1.0] * 10
    stopper = EarlyStopping(patience=3, growth=0.5, restore_best_weights=False)
    assert _drive(stopper, _linear_model(), falling) == 10 + 5
    assert stopper.best_epoch == 9 and stopper.current_patience() == 5
    early = [2.0, 1.0] + [1.0] * 10
    assert _drive(stopper, _linear_model(), early) == 2 + 3
    assert _drive(EarlyStopping(patience=3), _linear_model(), falling) == 10 + 3
    assert stopper.get_config()["growth"] == 0.5


def test_early_stopping_maximizes_accuracy():
    model = _linear_model()
    stopper = EarlyStopping(monitor="val_accuracy", patience=2, tol=0.0)
    epochs = _drive(stopper, model, [0.5, 0.7, 0.6, 0.65, 0.9], key="val_accuracy")
    assert stopper.best_epoch == 1
    assert epochs == 4


def test_halving_cuts_rate_after_patience_flat_epochs():
    model = _linear_model(rate=0.1)
    halving = LearningRateHalving(patience=2, factor=0.5)
    _drive(halving, model, [3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # Epoch 2 is the best; epochs 3 and 4 are flat -> cut at the end of 4,
    # then epochs 5 and 6 -> cut at the end of 6.
    assert halving.halvings == [4, 6]
    assert get_learning_rate(model) == pytest.approx(0.025)


def test_halving_stops_after_max_halvings_and_below_min_rate():
    model = _linear_model(rate=0.1)
    halving = LearningRateHalving(patience=1, max_halvings=2)
    epochs = _drive(halving, model, [1.0] * 10)
    assert halving.halvings == [1, 2]
    assert epochs == 4 and model.stop_training
    assert get_learning_rate(model) == pytest.approx(0.025)

    model = _linear_model(rate=0.1)
    halving = LearningRateHalving(patience=1, min_learning_rate=0.03)
    epochs = _drive(halving, model, [1.0] * 10)
    assert halving.halvings == [1]
    assert epochs == 3
    assert get_learning_rate(model) == pytest.approx(0.05)


def test_halving_and_recorder_in_model_fit_with_a_constant_loss():
    # Zero inputs and no bias: no gradient, so the loss never changes.
    model = _linear_model(rate=0.1, use_bias=False)
    X, y = np.zeros((8, 2), "float32"), np.ones(8, "float32")
    history = model.fit(
        X,
        y,
        epochs=6,
        batch_size=4,
        verbose=0,
        callbacks=[LearningRateRecorder(), LearningRateHalving("loss", patience=2)],
    )
    np.testing.assert_allclose(
        history.history["learning_rate"], [0.1, 0.1, 0.1, 0.05, 0.05, 0.025]
    )


def test_decay_divides_rate_by_decay_over_planned_epochs():
    model = _linear_model(rate=0.1)
    X, y = np.ones((8, 2), "float32"), np.ones(8, "float32")
    history = model.fit(
        X,
        y,
        epochs=5,
        batch_size=8,
        verbose=0,
        callbacks=[LearningRateRecorder(), LearningRateDecay(decay=100.0)],
    )
    expected = 0.1 * 100.0 ** (-np.arange(5) / 4)
    np.testing.assert_allclose(history.history["learning_rate"], expected, rtol=1e-5)


def test_guard_raises_on_nan_loss_with_remedy_and_keeps_finite_weights():
    model = _linear_model(rate=1e3)
    X = np.linspace(-5, 5, 64, dtype="float32").reshape(-1, 2)
    y = 3 * X[:, 0] - X[:, 1]
    with pytest.raises(
        DivergenceError,
        match=r"learning rate 1000 is probably too large; try 100 or "
        r"learning_rate='auto'",
    ):
        model.fit(
            X,
            y,
            epochs=30,
            batch_size=8,
            verbose=0,
            callbacks=[LearningRateRecorder(), DivergenceGuard()],
        )
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.isfinite(model.predict(X, verbose=0)).all()


def test_guard_detects_explosion_and_restores_last_good_epoch():
    model = _linear_model()
    model.optimizer = keras.optimizers.Adam(0.1)
    model.optimizer.build(model.trainable_variables)
    guard = DivergenceGuard(on_divergence="stop", max_increase=100.0)
    guard.set_model(model)
    guard.on_train_begin()
    for epoch, loss in enumerate([1.0, 50.0, 150.0]):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        for variable in model.optimizer.variables:
            variable.assign(np.full(variable.shape, epoch, variable.dtype))
        guard.on_epoch_end(epoch, {"loss": loss, "learning_rate": 5.0})
    assert guard.diverged_epoch == 2
    assert guard.restored_epoch == 1
    assert model.stop_training
    assert "exploded" in guard.message
    assert "learning rate 5 is probably too large; try 0.5" in guard.message
    # Epoch 1 (index 1) was the last good one: its weights and its
    # optimizer state (moments, step count, learning rate) are back.
    np.testing.assert_array_equal(model.get_weights()[0], 1.0)
    for variable in model.optimizer.variables:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), 1)
    guard.on_train_end()

    guard = DivergenceGuard(on_divergence="warn")
    guard.set_model(model)
    guard.on_train_begin()
    guard.on_epoch_end(0, {"loss": float("inf")})
    with pytest.warns(RuntimeWarning, match="the loss became inf"):
        guard.on_train_end()


def _numpy_bn(x, layer):
    gamma, beta, mean, var = (keras.ops.convert_to_numpy(w) for w in layer.weights)
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def test_population_statistics_equal_numpy_layer_by_layer():
    rng = np.random.RandomState(0)
    model = _network.build_network(
        5, 2, hidden_layer_sizes=(7, 4), batch_norm=True, seed=0
    )
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.assign(rng.uniform(0.5, 2.0, layer.gamma.shape))
            layer.beta.assign(rng.normal(size=layer.beta.shape))
    X = (rng.normal(size=(53, 5)) * 3 + 10).astype("float32")

    layers = set_population_statistics(model, X, batch_size=10)
    assert [layer.name for layer in layers] == ["batch_norm_1", "batch_norm_2"]

    x = X.astype(np.float64)
    for i, bn in enumerate(layers, start=1):
        kernel = keras.ops.convert_to_numpy(model.get_layer(f"hidden_{i}").kernel)
        z = x @ kernel
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(bn.moving_mean), z.mean(axis=0), rtol=1e-4
        )
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(bn.moving_variance),
            z.var(axis=0),
            rtol=1e-3,
        )
        x = np.maximum(_numpy_bn(z, bn), 0.0)


def _configured():
    return [
        EarlyStopping(monitor="val_accuracy", patience=3, tol=0.01, mode="max"),
        LearningRateHalving(patience=2, factor=0.25, max_halvings=3),
        LearningRateDecay(decay=10.0, epochs=7),
        DivergenceGuard(on_divergence="warn", max_increase=10.0),
        LearningRateRecorder(),
    ]


@pytest.mark.parametrize("callback", _configured(), ids=lambda cb: type(cb).__name__)
def test_config_round_trip_and_deepcopy(callback):
    config = callback.get_config()
    assert json.loads(json.dumps(config)) == config
    assert type(callback)(**config).get_config() == config
    assert copy.deepcopy(callback).get_config() == config


def test_run_state_is_fresh_at_each_fit():
    model = _linear_model(use_bias=False)
    X, y = np.zeros((8, 2), "float32"), np.ones(8, "float32")
    halving = LearningRateHalving("loss", patience=1)
    model.fit(X, y, epochs=3, verbose=0, callbacks=[halving])
    assert halving.halvings == [1, 2]
    model.fit(X, y, epochs=2, verbose=0, callbacks=[halving])
    assert halving.halvings == [1]


def _validation_problem():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6)).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype("int32") + (X[:, 2] > 1)
    w = rng.uniform(0.5, 2.0, size=300).astype("float32")
    return X[:200], y[:200], X[200:], y[200:], w[200:]


def _network_for_validation():
    model = _network.build_network(
        6,
        3,
        hidden_layer_sizes=(16, 8),
        output_activation="softmax",
        dropout=0.3,
        batch_norm=True,
        l2=1e-2,
        seed=0,
    )
    model.compile(
        keras.optimizers.Adam(1e-2),
        "sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        weighted_metrics=[],
    )
    return model


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_validation_pass_reports_what_keras_validation_reports(weighted):
    X, y, Xv, yv, wv = _validation_problem()
    wv = wv if weighted else None
    keras.utils.set_random_seed(0)
    reference = _network_for_validation()
    validation_data = (Xv, yv) if wv is None else (Xv, yv, wv)
    expected = reference.fit(
        X, y, batch_size=32, epochs=4, verbose=0, validation_data=validation_data
    ).history
    keras.utils.set_random_seed(0)
    model = _network_for_validation()
    metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    got = model.fit(
        X,
        y,
        batch_size=32,
        epochs=4,
        verbose=0,
        callbacks=[ValidationPass(Xv, yv, wv, metrics=[metric])],
    ).history
    assert sorted(got) == sorted(expected)
    for key in ("val_loss", "val_accuracy", "loss"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6)
    # The loss includes the L2 penalty, as Keras's does.
    assert got["val_loss"][0] > 0
    # No test step was traced, and the given metric was copied, not used.
    assert model.test_function is None
    assert float(metric.count) == 0.0


def test_validation_pass_needs_metric_objects():
    X, y, Xv, yv, _ = _validation_problem()
    with pytest.raises(TypeError, match="metric objects"):
        ValidationPass(Xv, yv, metrics=["accuracy"])


@pytest.mark.parametrize("on_device", [True, False], ids=["device", "host"])
def test_snapshots_survive_training_and_restore_exactly(on_device):
    # EarlyStopping and DivergenceGuard keep weights as backend copies on an
    # accelerator, as NumPy arrays on a CPU: later training (Model.fit, the
    # fused loop, in-place updates) must leave a snapshot unchanged.
    from deepstack import _trainer
    from deepstack.callbacks._state import all_finite, restore, snapshot

    rng = np.random.RandomState(0)
    X = rng.rand(64, 3).astype("float32")
    Y = rng.rand(64, 4).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    model.fit(X, Y, epochs=1, verbose=0)
    before = model.get_weights()
    saved = snapshot(model.weights, on_device=on_device)
    assert all(isinstance(v, np.ndarray) for v in saved) is not on_device
    model.fit(X, Y, epochs=2, verbose=0)
    _trainer.fit_epochs(model, X, Y, batch_size=16, epochs=2)
    model.weights[0].assign_add(model.weights[0])
    assert not np.allclose(model.get_weights()[0], before[0])
    for expected, value in zip(before, saved):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), expected)
    assert all_finite(saved)
    restore(model.weights, saved)
    for expected, value in zip(before, model.get_weights()):
        np.testing.assert_array_equal(value, expected)
    for bad in (np.nan, -np.inf):
        model.weights[1].assign(np.array([0.0, bad, 0.0, 0.0], "float32"))
        assert not all_finite(snapshot(model.weights, on_device=on_device))
