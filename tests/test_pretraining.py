"""Greedy layer-wise pretraining and its use inside the supervised estimators."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from deepstack import (
    DeepStackClassifier,
    DeepStackRegressor,
    StackedAutoencoder,
    _network,
    _pretraining,
    _trainer,
)
from tests.conftest import tiny

FAST = dict(pretrain_epochs=2, max_epochs=2, dropout=0.0)


@pytest.fixture
def unit_data():
    rng = np.random.RandomState(0)
    return rng.rand(120, 10).astype(np.float32)


def _capture(monkeypatch):
    """Record what ``pretrain_stack`` returns inside the estimators."""
    captured = []
    original = _pretraining.pretrain_stack

    def wrapper(*args, **kwargs):
        layers = original(*args, **kwargs)
        captured.append((args, kwargs, layers))
        return layers

    monkeypatch.setattr(_pretraining, "pretrain_stack", wrapper)
    return captured


# ------------------------------------------------------------ pretrain_stack


def test_stack_shapes_history_and_auto_loss(unit_data):
    layers = _pretraining.pretrain_stack(
        unit_data, (6, 4), activation="sigmoid", epochs=3, seed=0
    )
    assert [layer.kernel.shape for layer in layers] == [(10, 6), (6, 4)]
    assert [layer.decoder_bias.shape for layer in layers] == [(10,), (6,)]
    assert all(layer.decoder_kernel is None for layer in layers)
    # Sigmoid codes stay in [0, 1], so "auto" keeps the cross-entropy.
    assert [layer.loss for layer in layers] == ["cross_entropy", "cross_entropy"]
    first = layers[0].history
    assert first["layer"] == 1 and first["units"] == 6 and first["n_inputs"] == 10
    assert first["n_epochs"] == 3 == len(first["loss"]) == len(first["val_loss"])
    assert 0 <= first["best_epoch"] < 3


def test_relu_codes_switch_auto_loss_to_squared_error(unit_data):
    layers = _pretraining.pretrain_stack(
        unit_data * 4 - 2, (5, 3), activation="relu", epochs=1, seed=0
    )
    assert [layer.loss for layer in layers] == ["squared_error", "squared_error"]


def test_each_layer_trains_on_the_codes_below(unit_data, monkeypatch):
    seen = []
    original = _pretraining._autoencoder

    def spy(n_inputs, units, **kwargs):
        seen.append((n_inputs, units))
        return original(n_inputs, units, **kwargs)

    monkeypatch.setattr(_pretraining, "_autoencoder", spy)
    encoded = []
    encode = _pretraining.encode
    monkeypatch.setattr(
        _pretraining,
        "encode",
        lambda X, *a: encoded.append(X.shape) or encode(X, *a),
    )
    _pretraining.pretrain_stack(unit_data, (7, 5, 3), epochs=1, seed=0)
    # One small autoencoder per layer, sized by the layer below; the codes of
    # each layer are computed exactly once, from the codes below it.
    assert seen == [(10, 7), (7, 5), (5, 3)]
    assert encoded == [(120, 10), (120, 7), (120, 5)]


def test_training_lowers_the_reconstruction_loss(unit_data):
    (layer,) = _pretraining.pretrain_stack(
        unit_data, (8,), epochs=15, learning_rate=1e-2, early_stopping=False, seed=0
    )
    loss = layer.history["loss"]
    assert loss[-1] < loss[0]
    assert "val_loss" not in layer.history


def test_same_seed_same_weights(unit_data):
    kwargs = dict(epochs=2, corruption="mask", noise_level=0.3, seed=5)
    a = _pretraining.pretrain_stack(unit_data, (4,), **kwargs)[0]
    b = _pretraining.pretrain_stack(unit_data, (4,), **kwargs)[0]
    np.testing.assert_array_equal(a.kernel, b.kernel)


def test_gaussian_noise_and_untied_decoder(unit_data):
    (layer,) = _pretraining.pretrain_stack(
        unit_data,
        (4,),
        corruption="gaussian",
        noise_level=0.3,
        tied_weights=False,
        epochs=2,
        seed=0,
    )
    assert layer.decoder_kernel.shape == (4, 10)
    assert np.all(np.isfinite(layer.kernel))


def test_gaussian_noise_above_one_and_a_full_mask_refused_by_name(
    classification_data,
):
    X, y = classification_data
    y = y.copy()
    y[:150] = -1  # unlabeled rows for the pretraining
    clf = tiny(
        DeepStackClassifier,
        pretrain="denoising",
        pretrain_corruption="gaussian",
        pretrain_noise_level=2.0,
        pretrain_epochs=1,
        max_epochs=1,
    ).fit(X, y)
    assert len(clf.pretraining_history_) == 1
    codes = StackedAutoencoder((4,), corruption="gaussian", noise_level=1.5, epochs=1)
    assert codes.fit(X).transform(X).shape == (len(X), 4)

    message = (
        r"pretrain_noise_level=1\.0 with pretrain_corruption='mask' is the "
        r"fraction of the inputs zeroed, which must be in \[0, 1\)"
    )
    with pytest.raises(ValueError, match=message):
        clf.set_params(pretrain_corruption="mask", pretrain_noise_level=1.0).fit(X, y)
    with pytest.raises(ValueError, match=r"noise_level=1\.5 with corruption='mask'"):
        StackedAutoencoder((4,), corruption="mask", noise_level=1.5).fit(X)
    # Without denoising the level corrupts nothing, and is not checked.
    plain = clf.set_params(pretrain="autoencoder", pretrain_noise_level=1.0)
    assert len(plain.fit(X, y).pretraining_history_) == 1


def test_the_regressor_hint_for_nan_targets_names_what_would_use_them(
    regression_data,
):
    # pretrain='auto' was suggested for 10 NaN rows in 100, which "auto"
    # does not pretrain on (the same error followed).
    X, y = regression_data
    few = y.astype(float).copy()
    few[:10] = np.nan
    with pytest.raises(ValueError, match=r"set pretrain='denoising' to pretrain"):
        tiny(DeepStackRegressor).fit(X, few)
    many = y.astype(float).copy()
    many[: int(len(y) * 0.7)] = np.nan
    with pytest.raises(ValueError, match=r"set pretrain='auto' \(or 'denoising'\)"):
        tiny(DeepStackRegressor, reconstruction_weight=0.0).fit(X, many)


def test_a_regressor_with_every_target_nan_says_so(regression_data):
    X, _ = regression_data
    reg = tiny(DeepStackRegressor, pretrain="auto", **FAST)
    with pytest.raises(ValueError, match="the target is NaN in all 160 rows") as err:
        reg.fit(X, np.full(len(X), np.nan))
    assert "-1" not in str(err.value)


def test_cross_entropy_outside_unit_interval_is_an_error(unit_data):
    with pytest.raises(ValueError, match=r"cross_entropy.*\[0, 1\].*layer 1"):
        _pretraining.pretrain_stack(unit_data * 3, (4,), loss="cross_entropy")
    # Layer 2 sees unbounded ReLU codes: the message names it. Inputs of 0 or
    # 1 and 64 units make codes above 1 certain, whatever the seed.
    binary = (unit_data > 0.5).astype(np.float32)
    with pytest.raises(ValueError, match="layer 2"):
        _pretraining.pretrain_stack(
            binary,
            (64, 2),
            loss="cross_entropy",
            activation="relu",
            epochs=1,
            seed=0,
        )


def test_nan_and_zero_width_are_errors(unit_data):
    bad = unit_data.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*rows \[3\]"):
        _pretraining.pretrain_stack(bad, (4,))
    with pytest.raises(ValueError, match="positive integers"):
        _pretraining.pretrain_stack(unit_data, (4, 0))


# --------------------------------------------------- supervised estimators


def test_batch_norm_network_reproduces_the_pretrained_codes(
    classification_data, monkeypatch
):
    X, y = classification_data
    captured = _capture(monkeypatch)
    clf = tiny(
        DeepStackClassifier,
        hidden_layer_sizes=(12, 6),
        pretrain="autoencoder",
        **FAST,
    )
    clf.n_outputs_ = 3
    clf._resolve_regularization(X.shape[1])  # what fit does first
    model = clf._build_model(X, 0)
    histories = _pretraining.initialize_network(clf._pretrain_config(), model, X, 0)
    assert len(histories) == 2
    (args, _, layers) = captured[0]
    # Pretraining saw the inputs standardized as the network sees them.
    mean, variance = _network.input_statistics(X)
    np.testing.assert_allclose(
        args[0], (X - mean) / np.sqrt(variance), rtol=1e-4, atol=1e-5
    )
    codes = args[0]
    for layer in layers:
        codes = _pretraining.encode(codes, layer.kernel, layer.bias, "relu")
    import keras

    sub = keras.Model(model.input, model.get_layer("activation_2").output)
    np.testing.assert_allclose(sub(X, training=False), codes, rtol=1e-3, atol=1e-4)


def test_semi_supervised_classifier(classification_data, monkeypatch):
    X, y = classification_data
    y = y.copy()
    y[::2] = -1
    captured = _capture(monkeypatch)
    fine_tuning = []
    train = _trainer.train

    def spy(model, data, *args, **kwargs):
        if model.name == "deepstack":  # not a pretraining autoencoder
            fine_tuning.append(data)
        return train(model, data, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    clf = tiny(DeepStackClassifier, pretrain="denoising", **FAST)
    # sample_weight is given for every row; the unlabeled rows' are dropped.
    clf.fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    n_labeled = int((y != -1).sum())
    n_val = int(np.ceil(0.1 * n_labeled))
    # Pretraining: labeled training rows + every unlabeled row.
    assert captured[0][0][0].shape[0] == n_labeled - n_val + 100
    assert clf.pretraining_history_[0]["n_samples"] == n_labeled - n_val + 100
    assert captured[0][1]["corruption"] == "mask"
    # Fine-tuning saw the labeled training rows only, with their weights.
    ((X_fit, y_fit, w_fit),) = fine_tuning
    assert X_fit.shape[0] == y_fit.shape[0] == w_fit.shape[0] == n_labeled - n_val
    assert set(np.unique(y_fit)) <= {0, 1, 2}
    labeled = {row.tobytes() for row in X[y != -1]}
    assert all(row.tobytes() in labeled for row in X_fit)


def test_only_unlabeled_is_an_error(classification_data):
    X, _ = classification_data
    clf = tiny(DeepStackClassifier, pretrain="autoencoder", **FAST)
    with pytest.raises(ValueError, match="no labeled samples"):
        clf.fit(X, -np.ones(len(X), dtype=int))


def test_without_pretraining_minus_one_is_a_class(binary_data):
    X, y = binary_data
    y = np.where(y == 0, -1, 1)
    clf = tiny(DeepStackClassifier, max_epochs=1).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [-1, 1])
    assert clf.pretraining_history_ == []


def test_too_many_pretraining_layers_is_an_error(classification_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, pretrain="autoencoder", pretrain_layers=2)
    with pytest.raises(ValueError, match="pretrain_layers=2.*1 hidden"):
        clf.fit(X, y)


def test_pretrain_layers_limits_the_pretrained_depth(classification_data):
    X, y = classification_data
    clf = tiny(
        DeepStackClassifier,
        hidden_layer_sizes=(8, 4),
        pretrain="autoencoder",
        pretrain_layers=1,
        **FAST,
    ).fit(X, y)
    assert [h["units"] for h in clf.pretraining_history_] == [8]


@pytest.mark.parametrize("finetune", ["head", "all"])
def test_finetune_head_freezes_the_encoders(classification_data, monkeypatch, finetune):
    X, y = classification_data
    captured = _capture(monkeypatch)
    clf = tiny(
        DeepStackClassifier,
        pretrain="autoencoder",
        finetune=finetune,
        batch_norm=False,
        **FAST,
    ).fit(X, y)
    pretrained = captured[0][2][0].kernel
    kernel = np.asarray(clf.model_.get_layer("hidden_1").kernel)
    if finetune == "head":
        np.testing.assert_array_equal(kernel, pretrained)
        again = pickle.loads(pickle.dumps(clf))
        np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X))
        assert not again.model_.get_layer("hidden_1").trainable
    else:
        assert not np.allclose(kernel, pretrained)


def test_finetune_head_keeps_the_frozen_batch_norm_statistics(classification_data):
    # The head was trained on the frozen encoders' codes under their
    # pretraining statistics; the population statistics set after training
    # (over the labeled rows only) rewrote them, and changed the codes the
    # head sees at predict time.
    X, y = classification_data
    rng = np.random.RandomState(0)
    X_all = np.vstack([X[:60], rng.randn(200, X.shape[1]) * 3 + 8]).astype("float32")
    y_all = np.concatenate([y[:60], -np.ones(200, dtype=int)])
    fits = {
        statistics: tiny(
            DeepStackClassifier,
            pretrain="autoencoder",
            finetune="head",
            batch_norm=True,
            semi_supervised=None,
            batch_norm_statistics=statistics,
            random_state=0,
            **FAST,
        ).fit(X_all, y_all)
        for statistics in ("population", "moving")
    }
    frozen = [
        layer.name
        for layer in fits["population"].model_.layers
        if layer.name.startswith("batch_norm") and not layer.trainable
    ]
    assert frozen
    for name in frozen:
        kept, moving = (fits[s].model_.get_layer(name) for s in fits)
        np.testing.assert_array_equal(kept.moving_mean, moving.moving_mean)
        np.testing.assert_array_equal(kept.moving_variance, moving.moving_variance)
    np.testing.assert_allclose(
        fits["population"].predict_proba(X), fits["moving"].predict_proba(X), rtol=1e-5
    )


def test_regressor_pretrains_and_keeps_minus_one_targets(regression_data):
    X, y = regression_data
    y = y.copy()
    y[:10] = -1.0  # a number for a regressor, not "unlabeled"
    reg = tiny(DeepStackRegressor, pretrain="denoising", **FAST).fit(X, y)
    assert len(reg.pretraining_history_) == 1
    assert reg.pretraining_history_[0]["n_samples"] == 144
    assert np.all(np.isfinite(reg.predict(X)))


def test_new_parameters_clone():
    clf = DeepStackClassifier(pretrain="denoising", pretrain_noise_level=0.5)
    params = clone(clf).get_params()
    assert params["pretrain"] == "denoising"
    assert params["pretrain_noise_level"] == 0.5
    assert params["finetune"] == "all"
    assert params["pretrain_layers"] is None


def test_auto_reads_only_probability_like_inputs_as_such():
    # In [0, 1] with the largest 0.5 at least: cross-entropy; small values
    # in [0, 1] (all zero, or 0.01 at most) are no probabilities.
    rng = np.random.RandomState(0)
    pixels = rng.uniform(0, 1, size=(50, 4))
    for X, expected in (
        (pixels, "cross_entropy"),
        (pixels * 0.01, "squared_error"),
        (np.zeros((5, 3)), "squared_error"),
        (pixels - 0.5, "squared_error"),
    ):
        assert _pretraining.resolve_loss("auto", X) == expected
    # An explicit choice needs only the range.
    assert _pretraining.resolve_loss("cross_entropy", pixels * 0.01) == "cross_entropy"


def test_autoencoder_standardizes_small_values_in_the_unit_interval():
    # Unstandardized with a sigmoid reconstruction, inputs of 0.01 at most
    # came back with an error thousands of times their variance.
    rng = np.random.RandomState(0)
    codes = rng.normal(size=(600, 2))
    X = 0.01 / (1 + np.exp(-(codes @ rng.normal(size=(2, 10)))))
    sae = StackedAutoencoder((4,), epochs=30, random_state=0).fit(X)
    assert sae.standardize_
    assert sae.pretraining_history_[0]["loss_function"] == "squared_error"
    assert sae.reconstruction_error_ < 0.2 * X.var()
    assert not StackedAutoencoder((4,), epochs=1).fit(X * 100).standardize_
