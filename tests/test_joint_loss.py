"""The joint loss (``reconstruction_weight``): supervised + weight x reconstruction."""

import os
import pickle
import warnings

import keras
import numpy as np
import pytest
from sklearn.base import clone

from deepstack import (
    DeepStackClassifier,
    DeepStackRegressor,
    _defaults,
    _network,
    _trainer,
    compile_cache,
    load,
    save,
)
from deepstack.layers import Reconstruction, tie_layers
from tests.conftest import tiny

# Three rows, two features, one hidden layer of two ReLU units, one linear
# output: every quantity below is small enough to check by hand.
X3 = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -2.0]], dtype=np.float32)
Y3 = np.array([[1.0], [0.0], [2.0]], dtype=np.float32)
KERNEL = np.array([[1.0, 0.5], [0.0, 1.0]], dtype=np.float32)
BIAS = np.array([0.5, 0.0], dtype=np.float32)
HEAD = np.array([[1.0], [-1.0]], dtype=np.float32)
HEAD_BIAS = np.array([0.25], dtype=np.float32)
DECODER_BIAS = np.array([0.1, -0.2], dtype=np.float32)


def hand_network(weight):
    """The 2-2-1 network with the weights above (no standardization)."""
    model = _network.build_network(
        2,
        1,
        hidden_layer_sizes=(2,),
        activation="relu",
        seed=0,
        reconstruction_weight=weight,
    )
    model.get_layer("hidden_1").kernel.assign(KERNEL)
    model.get_layer("hidden_1").bias.assign(BIAS)
    model.get_layer("output").kernel.assign(HEAD)
    model.get_layer("output").bias.assign(HEAD_BIAS)
    if weight:
        model.get_layer("reconstruction").biases[0].assign(DECODER_BIAS)
    model.compile(optimizer="sgd", loss="mean_squared_error")
    return model


def numpy_terms(X, y, sample_weight=None):
    """Per-row supervised squared errors and reconstruction errors."""
    X, y = X.astype(np.float64), y.astype(np.float64)
    h = np.maximum(X @ KERNEL + BIAS, 0.0)
    supervised = ((h @ HEAD + HEAD_BIAS - y) ** 2)[:, 0]
    if sample_weight is not None:
        supervised = supervised * sample_weight
    reconstruction = ((h @ KERNEL.T + DECODER_BIAS - X) ** 2).mean(axis=1)
    return supervised, reconstruction


def loss_of(model, X, y, sample_weight=None, training=True):
    y_pred = model(X, training=training)
    loss = model.compute_loss(
        x=X, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
    )
    return float(keras.ops.convert_to_numpy(loss))


def test_joint_loss_is_supervised_plus_weighted_reconstruction():
    supervised, reconstruction = numpy_terms(X3, Y3)
    # By hand, row 1: h = relu([1, 2.5] + [0.5, 0]) = [1.5, 2.5]; output
    # 1.5 - 2.5 + 0.25 = -0.75, squared error (1.75)**2.
    assert supervised[0] == pytest.approx(1.75**2)
    expected = supervised.mean() + 0.5 * reconstruction.mean()
    assert loss_of(hand_network(0.5), X3, Y3) == pytest.approx(expected, rel=1e-6)
    # Weight 0: no decoder; the loss is the supervised one alone.
    assert loss_of(hand_network(0.0), X3, Y3) == pytest.approx(
        supervised.mean(), rel=1e-6
    )


def test_the_reconstruction_is_training_only():
    model = hand_network(2.0)
    supervised, _ = numpy_terms(X3, Y3)
    # Inference (validation losses, prediction): the supervised loss only,
    # and the same outputs as the network without a decoder.
    assert loss_of(model, X3, Y3, training=False) == pytest.approx(
        supervised.mean(), rel=1e-6
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(X3, training=False)),
        keras.ops.convert_to_numpy(hand_network(0.0)(X3, training=False)),
    )


def test_unlabeled_rows_change_only_the_reconstruction_term():
    est = DeepStackRegressor((2,), reconstruction_weight=0.5)
    X_unlabeled = np.array([[2.0, -1.0], [0.5, 0.5]], dtype=np.float32)
    X, y, w = est._joint_rows((X3, Y3, None), X_unlabeled)
    assert X.shape == (5, 2) and y.shape == (5, 1)
    # Labeled rows weigh all rows / labeled rows, unlabeled rows nothing.
    np.testing.assert_allclose(w, [5 / 3] * 3 + [0.0, 0.0])
    supervised, _ = numpy_terms(X3, Y3)
    _, reconstruction = numpy_terms(X, y)
    model = hand_network(0.5)
    # The supervised term is still the labeled rows' mean; the
    # reconstruction is the mean over all five rows.
    expected = supervised.mean() + 0.5 * reconstruction.mean()
    assert loss_of(model, X, y, w) == pytest.approx(expected, rel=1e-6)
    assert loss_of(model, X, y, w, training=False) == pytest.approx(
        supervised.mean(), rel=1e-6
    )
    # Whatever the placeholder targets of the unlabeled rows.
    y_other = y.copy()
    y_other[3:] = 100.0
    assert loss_of(model, X, y_other, w) == pytest.approx(expected, rel=1e-6)
    # Nothing to add without unlabeled rows or without the joint loss.
    assert est._joint_rows((X3, Y3, None), None) == (X3, Y3, None)
    est0 = DeepStackRegressor((2,))
    assert est0._joint_rows((X3, Y3, None), X_unlabeled) == (X3, Y3, None)


def gradients(model):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        y_pred = model(X3, training=True)
        loss = model.compute_loss(x=X3, y=Y3, y_pred=y_pred, training=True)
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    return {v.path: keras.ops.convert_to_numpy(g) for v, g in zip(variables, grads)}


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="GradientTape: TensorFlow only"
)
def test_the_reconstruction_gradient_reaches_the_encoder_not_the_head():
    joint, alone = gradients(hand_network(0.5)), gradients(hand_network(0.0))
    head = [p for p in alone if p.startswith("output/")]
    assert head
    for path in head:
        np.testing.assert_allclose(joint[path], alone[path], rtol=1e-6)
    kernel = "hidden_1/kernel"
    assert np.abs(joint[kernel] - alone[kernel]).max() > 1e-3
    # The decoder's own bias: d/dc of 0.5 * mean((h W.T + c - x)**2).
    X = X3.astype(np.float64)
    h = np.maximum(X @ KERNEL + BIAS, 0.0)
    residual = h @ KERNEL.T + DECODER_BIAS - X
    expected = 0.5 * 2 * residual.sum(axis=0) / residual.size
    (bias,) = [p for p in joint if p.startswith("reconstruction/")]
    np.testing.assert_allclose(joint[bias], expected, rtol=1e-5)


def test_weight_zero_is_bit_identical_to_no_parameter(classification_data):
    X, y = classification_data
    plain = tiny(DeepStackClassifier, max_epochs=3).fit(X, y)
    zero = tiny(DeepStackClassifier, max_epochs=3, reconstruction_weight=0.0).fit(X, y)
    np.testing.assert_array_equal(plain.predict_proba(X), zero.predict_proba(X))
    assert plain.history_ == zero.history_
    names = [layer.name for layer in zero.model_.layers]
    assert names == [layer.name for layer in plain.model_.layers]
    assert _network.RECONSTRUCTION not in names


def test_joint_fit_changes_the_encoder_and_keeps_predict_cheap(classification_data):
    X, y = classification_data
    params = dict(max_epochs=2, dropout=0.0)
    plain = tiny(DeepStackClassifier, **params).fit(X, y)
    joint = tiny(DeepStackClassifier, reconstruction_weight=1.0, **params).fit(X, y)
    kernel = [
        keras.ops.convert_to_numpy(m.model_.get_layer("hidden_1").kernel)
        for m in (plain, joint)
    ]
    assert np.abs(kernel[0] - kernel[1]).max() > 1e-4
    # The estimator built the decoder with its weight (that only training
    # computes it is test_the_reconstruction_is_training_only).
    layer = joint.model_.get_layer(_network.RECONSTRUCTION)
    assert isinstance(layer, Reconstruction) and layer.weight == 1.0
    proba = joint.predict_proba(X)
    assert proba.shape == (200, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_unlabeled_rows_train_the_reconstruction(classification_data):
    X, y = classification_data
    y = y.copy()
    y[40:] = -1  # 160 unlabeled rows, 40 labeled
    with warnings.catch_warnings():
        # No "-1 is fitted as a class" warning.
        warnings.simplefilter("error", UserWarning)
        clf = tiny(
            DeepStackClassifier, semi_supervised=None, reconstruction_weight=0.5
        ).fit(X, y)
    assert clf.classes_.tolist() == [0, 1, 2]
    # The batch-norm statistics are those of the training rows, unlabeled
    # ones included (196 of the 200 rows: 4 labeled rows are the validation
    # split), not of the 36 labeled training rows alone.
    mean = keras.ops.convert_to_numpy(clf.model_.get_layer("batch_norm_1").moving_mean)
    codes = _network.forward(
        keras.Model(clf.model_.input, clf.model_.get_layer("hidden_1").output), X
    )
    off_all = np.abs(mean - codes.mean(axis=0)).max()
    off_labeled = np.abs(mean - codes[:40].mean(axis=0)).max()
    assert off_all < 0.1 * off_labeled


def test_regressor_learns_from_nan_targets_with_the_joint_loss(regression_data):
    X, y = regression_data
    y = y.astype(np.float64).copy()
    y[30:] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tiny(DeepStackRegressor, reconstruction_weight=0.0).fit(X, y)
    reg = tiny(DeepStackRegressor, reconstruction_weight=0.5).fit(X, y)
    assert reg.reconstruction_weight_ == 0.5
    assert np.all(np.isfinite(reg.predict(X)))


def test_clone_get_params_and_bad_values(binary_data):
    clf = DeepStackClassifier(reconstruction_weight=0.3)
    assert clf.get_params()["reconstruction_weight"] == 0.3
    assert clone(clf).reconstruction_weight == 0.3
    assert DeepStackRegressor().reconstruction_weight == "auto"
    X, y = binary_data
    with pytest.raises(ValueError, match="reconstruction_weight.*range"):
        DeepStackClassifier(reconstruction_weight=-0.1).fit(X, y)
    with pytest.raises(ValueError, match="reconstruction_weight needs at least one"):
        DeepStackClassifier((), reconstruction_weight=0.1).fit(X, y)


def test_save_load_pickle_and_export_round_trips(binary_data, tmp_path):
    X, y = binary_data
    clf = tiny(DeepStackClassifier, reconstruction_weight=0.5).fit(X, y)
    proba = clf.predict_proba(X)
    save(clf, tmp_path / "saved")
    for copy in (pickle.loads(pickle.dumps(clf)), load(tmp_path / "saved")):
        np.testing.assert_array_equal(copy.predict_proba(X), proba)
        layer = copy.model_.get_layer(_network.RECONSTRUCTION)
        assert layer.is_tied
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(layer.biases[0]),
            keras.ops.convert_to_numpy(
                clf.model_.get_layer(_network.RECONSTRUCTION).biases[0]
            ),
        )
        # Training goes on (the decoder is tied to the loaded encoder).
        copy.set_params(warm_start=True, max_epochs=1).fit(X, y)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        path = clf.export(os.fspath(tmp_path / "exported"))
        served = tf.saved_model.load(path)
        out = served.serve(X).get("probabilities")
        np.testing.assert_allclose(out.numpy(), proba, atol=1e-5)
        names = [v.name for v in served.variables]
        assert names and not any("reconstruction" in n for n in names)
        # The decoder and the dropout rates (identity at inference) stay out.
        left_out = [_network.RECONSTRUCTION, _network.DROPOUT.format(1)]
        n_left_out = sum(
            v.shape.num_elements()
            for name in left_out
            for v in clf.model_.get_layer(name).weights
        )
        assert n_left_out == X.shape[1] + 1  # (the decoder's biases, a rate)
        assert sum(v.shape.num_elements() for v in served.variables) == (
            clf.model_.count_params() - n_left_out
        )


def test_compile_cache_reuses_the_joint_network_bit_for_bit(binary_data):
    X, y = binary_data
    y = y.copy()
    y[50:] = -1
    params = dict(semi_supervised=None, reconstruction_weight=0.3, max_epochs=2)
    with compile_cache(enabled=False):
        alone = tiny(DeepStackClassifier, **params).fit(X, y).predict_proba(X)
    first = tiny(DeepStackClassifier, **params).fit(X, y).predict_proba(X)
    second = tiny(DeepStackClassifier, **params).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, alone)
    np.testing.assert_array_equal(second, alone)


def test_a_loaded_config_ties_the_decoder_by_name():
    model = hand_network(0.5)
    copy = tie_layers(keras.Model.from_config(model.get_config()))
    layer = copy.get_layer(_network.RECONSTRUCTION)
    assert layer.tied_names == ["hidden_1"] and layer.is_tied
    assert layer._encoders.target[0] is copy.get_layer("hidden_1")
    untied = Reconstruction(["hidden_1"], [2])
    with pytest.raises(ValueError, match="tie_layers"):
        untied.decode(keras.ops.ones((1, 2)))


class _Crash(Exception):
    pass


class _CrashAtEpoch1(keras.callbacks.Callback):
    armed = False

    def on_epoch_end(self, epoch, logs=None):
        if _CrashAtEpoch1.armed and epoch == 1:
            raise _Crash


def test_checkpoint_resume_keeps_the_decoder(binary_data, tmp_path):
    X, y = binary_data
    y = y.copy()
    y[60:] = -1
    params = dict(
        semi_supervised=None,
        reconstruction_weight=0.5,
        max_epochs=4,
        early_stopping=False,
        callbacks=[_CrashAtEpoch1()],
    )
    full = tiny(DeepStackClassifier, **params).fit(X, y)
    folder = str(tmp_path / "run")
    _CrashAtEpoch1.armed = True
    try:
        with pytest.raises(_Crash):
            tiny(DeepStackClassifier, checkpoint=folder, **params).fit(X, y)
    finally:
        _CrashAtEpoch1.armed = False
    resumed = tiny(DeepStackClassifier, checkpoint=folder, **params).fit(X, y)
    # The decoder's biases were saved and restored with the other variables.
    assert resumed.history_ == full.history_
    for a, b in zip(resumed.model_.get_weights(), full.model_.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_auto_weight_engages_for_a_regressor_with_mostly_nan_targets(
    regression_data, monkeypatch
):
    X, y = regression_data
    y = y.astype(np.float64).copy()
    y[30:] = np.nan  # 30 labeled rows, the rest unlabeled
    fitted = []
    train = _trainer.train

    def spy(model, data, *args, **kwargs):
        fitted.append((model, data))
        return train(model, data, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    reg = tiny(DeepStackRegressor).fit(X, y)
    assert reg.reconstruction_weight == "auto"
    assert reg.reconstruction_weight_ == _defaults.JOINT_WEIGHT == 0.1
    layer = reg.model_.get_layer(_network.RECONSTRUCTION)
    assert layer.weight == 0.1
    # Every row trains (the unlabeled ones for the reconstruction alone, at
    # weight 0), the 3 validation rows aside.
    ((_, (X_fit, _, weights)),) = fitted
    n_val = 3
    assert X_fit.shape[0] == len(y) - n_val
    assert np.sum(weights == 0) == len(y) - 30
    # Fewer unlabeled than labeled rows: "auto" stays 0 and they are an error.
    y[:] = regression_data[1]
    y[:5] = np.nan
    with pytest.raises(ValueError, match="only when they outnumber"):
        tiny(DeepStackRegressor).fit(X, y)
    # Another step uses them (pretraining, target propagation): "auto" is 0.
    y[30:] = np.nan
    for params in ({"pretrain": "auto"}, {"semi_supervised": "label_propagation"}):
        assert tiny(DeepStackRegressor, **params).fit(X, y).reconstruction_weight_ == 0
    # Fully labeled rows, and the classifier: 0, no decoder.
    reg = tiny(DeepStackRegressor).fit(X, regression_data[1])
    assert reg.reconstruction_weight_ == 0.0
    assert _network.RECONSTRUCTION not in [layer.name for layer in reg.model_.layers]


def test_auto_weight_is_zero_for_the_classifier(classification_data):
    X, y = classification_data
    y = np.asarray(y).copy()
    y[40:] = -1
    # Label propagation (semi_supervised="auto") uses the unlabeled rows;
    # the joint loss did not improve on it.
    clf = tiny(DeepStackClassifier, self_training_rounds=1).fit(X, y)
    assert clf.n_pseudo_labeled_ and clf.reconstruction_weight_ == 0.0
    names = [layer.name for layer in clf.model_.layers]
    assert _network.RECONSTRUCTION not in names
    assert (
        tiny(DeepStackClassifier)
        .partial_fit(X[:40], y[:40], classes=np.unique(y[:40]))
        .reconstruction_weight_
        == 0.0
    )
