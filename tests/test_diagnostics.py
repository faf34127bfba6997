"""Tests of deepstack.diagnostics: each check must catch what it claims to."""

import re
import warnings
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepstack import DeepStackClassifier, DeepStackRegressor
from deepstack.diagnostics import (
    Finding,
    GradientCheckResult,
    analyze_curves,
    capacity,
    check_gradients,
    diagnose,
    hidden_activations,
    learning_rate_halvings,
    overfit_small_subset,
    unit_health,
)
from deepstack.diagnostics._common import fresh_copy
from deepstack.diagnostics._report import _curve_findings, _gradient_finding
from deepstack.diagnostics._units import LayerHealth
from deepstack.layers import TiedDense


class HalfStoppedDense(keras.layers.Layer):
    """A dense layer whose backward pass is deliberately wrong.

    Its value is ``2 x W`` but half of it goes through ``stop_gradient``, so
    backpropagation sees ``x W`` only: the gradient is off by a factor 2.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.units), initializer="ones"
        )

    def call(self, inputs):
        z = keras.ops.matmul(inputs, self.kernel)
        return z + keras.ops.stop_gradient(z)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class InitialWeights(keras.callbacks.Callback):
    """Record the weights the network starts training from."""

    def on_train_begin(self, logs=None):
        self.weights = [np.array(w) for w in self.model.get_weights()]


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=300, n_features=16, n_informative=8, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return DeepStackClassifier(
        (16, 12),
        dropout=0.5,
        batch_norm=True,
        max_epochs=4,
        learning_rate=1e-2,
        random_state=0,
        callbacks=[InitialWeights()],
    ).fit(X, y)


# ------------------------------------------------------------ gradient check

# Keras computes float64 as float32 except on TensorFlow; there the check's
# defaults (epsilon=tol=1e-2) still separate a correct gradient (errors of
# 1e-4 to 3e-3 over unseeded initial weights) from a wrong one (1/3).
# tests/test_backends.py runs these under JAX.
FLOAT64 = keras.backend.backend() == "tensorflow"
CORRECT = 1e-6 if FLOAT64 else 1e-2


def test_check_gradients_catches_a_wrong_backward_pass():
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 4), rng.randn(40, 1)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            HalfStoppedDense(5, name="wrong"),
            keras.layers.Dense(6, activation="tanh", name="above"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The gradient check runs in float32")
        result = check_gradients(model, X, y)
    assert not result.passed
    assert result.failed_layers == ["wrong"]
    assert result.suspect_layer == "wrong"
    # Backprop sees half of the function: relative error (2g - g) / (2g + g).
    assert result.layer_errors["wrong"] == pytest.approx(1 / 3, rel=1e-3)
    assert result.layer_errors["above"] < CORRECT
    assert result.layer_errors["out"] < CORRECT
    assert result.dtype == ("float64" if FLOAT64 else "float32")
    assert (result.epsilon, result.tol) == ((1e-4, 1e-4) if FLOAT64 else (1e-2, 1e-2))
    assert "FAILED" in str(result)


def test_check_gradients_passes_estimator_with_dropout_and_batch_norm(fitted, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The gradient check runs in float32")
        result = check_gradients(fitted, X, y, n_params=5, n_samples=32)
    assert result.passed, str(result)
    layers = set(result.layer_errors)
    assert {"hidden_1", "batch_norm_1", "hidden_2", "logits"} <= layers
    assert max(result.layer_errors.values()) < CORRECT


def test_check_gradients_covers_tied_decoder():
    rng = np.random.RandomState(1)
    X = rng.rand(30, 6)
    inputs = keras.Input((6,))
    encoder = keras.layers.Dense(3, activation="sigmoid", name="encoder")
    outputs = TiedDense(encoder, activation="sigmoid", name="decoder")(encoder(inputs))
    model = keras.Model(inputs, outputs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The gradient check runs in float32")
        result = check_gradients(model, X, X, loss="mean_squared_error")
    assert result.passed, str(result)
    assert set(result.layer_errors) == {"encoder", "decoder"}
    assert max(result.layer_errors.values()) < CORRECT


# --------------------------------------------------------------- unit health


def _network(activation, initializer, bias="zeros", units=(20, 20)):
    layers = [keras.Input((10,))]
    for n in units:
        layers.append(
            keras.layers.Dense(
                n,
                activation=activation,
                kernel_initializer=initializer,
                bias_initializer=bias,
            )
        )
    layers.append(keras.layers.Dense(1))
    return keras.Sequential(layers)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_saturation_high_with_huge_weights_low_with_glorot(activation):
    X = np.random.RandomState(0).randn(200, 10)
    huge = unit_health(
        _network(activation, keras.initializers.RandomNormal(0, 10, 0)), X
    )
    glorot = unit_health(_network(activation, keras.initializers.GlorotUniform(0)), X)
    assert len(huge) == len(glorot) == 2
    for layer in huge:
        assert layer.saturation > 0.8
        assert layer.dead_units is None
    for layer in glorot:
        assert layer.saturation < 0.1
    assert huge.max_saturation > 0.8 > 0.1 > glorot.max_saturation


def test_dead_relus_sparsity_correlation_and_variance():
    X = np.random.RandomState(0).randn(150, 10)
    dead = unit_health(
        _network("relu", "glorot_uniform", bias=keras.initializers.Constant(-1000.0)), X
    )
    assert dead[0].dead_units == 1.0
    assert dead[0].sparsity == 1.0
    healthy_model = _network("relu", keras.initializers.GlorotUniform(0))
    healthy = unit_health(healthy_model, X)
    assert healthy[0].dead_units < 0.2
    assert 0.2 < healthy[0].sparsity < 0.8
    assert healthy[0].saturation is None
    # Hand computation from the activations themselves.
    acts = hidden_activations(healthy_model, X)
    first = next(iter(acts.values()))
    assert healthy[0].variance == pytest.approx(first.var(axis=0).mean())
    assert healthy[0].sparsity == pytest.approx((first == 0).mean())
    # Identical units (constant weights) are perfectly correlated.
    copies = unit_health(_network("tanh", keras.initializers.Constant(0.1)), X)
    assert copies[0].correlation == pytest.approx(1.0)
    assert healthy[0].correlation < 0.5


def test_unit_health_before_training_uses_initial_weights(fitted, data):
    X, _ = data
    initial = fitted.callbacks_[-1].weights
    fresh = fresh_copy(fitted.model_)
    kernel = fresh.get_layer("hidden_1").get_weights()[0]
    index = [w.shape for w in initial].index(kernel.shape)
    np.testing.assert_allclose(kernel, initial[index])
    trained = fitted.model_.get_layer("hidden_1").get_weights()[0]
    assert not np.allclose(kernel, trained)
    before = unit_health(fitted, X, initial=True)
    after = unit_health(fitted, X)
    assert [x.name for x in before] == ["activation_1", "activation_2"]
    assert [x.name for x in after] == ["activation_1", "activation_2"]
    assert before[0].variance != pytest.approx(after[0].variance)


def test_an_X_of_other_width_than_the_network_is_refused_by_name(fitted, data):
    # check_gradients raised TensorFlow's graph traceback ("in user code:
    # ... Standardize ..."), the others Keras's error of layer 'functional_n'.
    X, y = data
    narrow = X[:, :5]
    match = r"X has 5 features, but the network takes 16 as input"
    with pytest.raises(ValueError, match=match):
        check_gradients(fitted, narrow, y)
    with pytest.raises(ValueError, match=match):
        hidden_activations(fitted, narrow)
    for initial in (False, True):
        with pytest.raises(ValueError, match=match):
            unit_health(fitted.model_, narrow, initial=initial)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_unit_health_before_training_keeps_the_input_standardization(data, batch_norm):
    # Features in the hundreds, which the estimator standardizes itself.
    X, y = data
    X = X * 50.0 + 200.0
    est = DeepStackClassifier(
        (16,),
        activation="tanh",
        batch_norm=batch_norm,
        dropout=0.0,
        input_dropout=0.0,
        max_epochs=2,
        random_state=0,
        callbacks=[InitialWeights()],
    ).fit(X, y)
    # The network the first training step ran: its initial weights (the
    # Standardize statistics among them), in training mode on all the rows,
    # so batch normalization uses their statistics.
    network = keras.models.clone_model(est.model_)
    network.set_weights(est.callbacks_[-1].weights)
    layer = network.get_layer("activation_1")
    probe = keras.Model(network.inputs, layer.output)
    seen = np.asarray(probe(X, training=True), dtype=np.float64)
    expected = LayerHealth("activation_1", "tanh", seen).saturation

    before = unit_health(est, X, initial=True)
    # A copy without the statistics saw raw inputs: 0.99 of it saturated.
    assert before[0].saturation == pytest.approx(expected, abs=1e-6)
    assert before[0].saturation < 0.1
    # The estimator's own network is left as it was.
    assert est.model_.get_layer("standardize").get_weights()[0].mean() > 100
    report = diagnose(est, X, y, gradients=False, overfit=False, figures=False)
    assert "saturated_units_initial" not in report.codes
    assert report.unit_health_initial[0].saturation == before[0].saturation


def _joint_fit(X, y):
    """A fitted network with the joint loss's reconstruction decoder."""
    return DeepStackClassifier(
        (6, 4),
        batch_norm=False,
        reconstruction_weight=0.5,
        max_epochs=1,
        random_state=0,
    ).fit(X, y)


def test_unit_health_leaves_out_the_decoders(data):
    X, y = data
    est = _joint_fit(X, y)
    # The joint loss's reconstruction layer returns the last hidden layer's
    # codes at inference: it is no hidden layer of its own.
    names = ["activation_1", "activation_2"]
    assert [x.name for x in unit_health(est, X)] == names
    assert list(hidden_activations(est, X)) == names
    inputs = keras.Input((10,))
    encoder = keras.layers.Dense(4, activation="relu", name="encoder")
    decoded = TiedDense(encoder, activation="sigmoid", name="decoder")(encoder(inputs))
    outputs = keras.layers.Dense(1, name="out")(decoded)
    model = keras.Model(inputs, outputs)
    assert [x.name for x in unit_health(model, X[:, :10])] == ["encoder"]


def test_unit_health_reads_keras_activation_layers():
    X = np.random.RandomState(0).randn(100, 10)
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(5, bias_initializer=keras.initializers.Constant(-1e3)),
            keras.layers.ReLU(name="relu"),
            keras.layers.Dense(5),
            keras.layers.LeakyReLU(name="leaky"),
            keras.layers.Dense(5),
            keras.layers.ELU(name="elu"),
            keras.layers.Dense(1),
        ]
    )
    health = unit_health(model, X)
    assert [(x.name, x.activation) for x in health] == [
        ("relu", "relu"),
        ("leaky", "leaky_relu"),
        ("elu", "elu"),
    ]
    assert health["relu"].dead_units == 1.0
    assert health["elu"].dead_units is None


# ----------------------------------------------------------- training curves


def _codes(history, **kwargs):
    return [f.code for f in analyze_curves(history, **kwargs)]


def test_curves_flag_bouncing_and_divergence():
    bouncing = {"loss": [1.0, 1.4, 0.9, 1.5, 0.8, 1.6, 0.9, 1.3]}
    assert "bouncing" in _codes(bouncing)
    assert _codes({"loss": [1.0, 2.0, 5.0, 30.0]}) == ["diverging"]
    nan = analyze_curves({"loss": [1.0, 0.8, float("nan")]})
    assert [f.code for f in nan] == ["diverging"]
    # 1-based, as the estimator's DivergenceError counts: the third epoch.
    assert nan[0].evidence["epoch"] == 3
    assert "at epoch 3" in nan[0].message
    assert any("learning rate" in a for a in nan[0].advice)


def test_curves_overfitting_vs_underfitting():
    epochs = np.arange(12)
    overfit = {
        "loss": list(1.0 * 0.6**epochs),
        "val_loss": [1.0, 0.8, 0.7, 0.65, 0.66, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3],
    }
    assert _codes(overfit) == ["overfitting"]
    underfit = {
        "loss": list(1.0 - 0.01 * epochs),
        "val_loss": list(1.02 - 0.01 * epochs),
    }
    assert _codes(underfit) == ["underfitting"]
    healthy = {
        "loss": list(1.0 * 0.7**epochs),
        "val_loss": list(1.05 * 0.7**epochs),
        "accuracy": list(np.linspace(0.5, 0.99, 12)),
        "val_accuracy": list(np.linspace(0.5, 0.97, 12)),
    }
    assert _codes(healthy) == []


def test_curves_collapse_at_chance():
    history = {
        "loss": [2.3, 2.0, 1.8, 1.7, 1.6, 1.55],
        "accuracy": [0.11, 0.1, 0.11, 0.11, 0.1, 0.11],
    }
    assert _codes(history, chance_accuracy=0.11) == ["collapse"]
    history["accuracy"] = [0.2, 0.4, 0.6, 0.8, 0.95, 0.97]
    assert "collapse" not in _codes(history, chance_accuracy=0.11)


def test_bouncing_advice_knows_the_schedule():
    bouncing = {"loss": [1.0, 1.4, 0.9, 1.5, 0.8, 1.6, 0.9, 1.3]}

    def advice(schedule):
        est = SimpleNamespace(
            history_=bouncing, get_params=lambda: {"lr_schedule": schedule}
        )
        (finding,) = analyze_curves(est)
        return " ".join(finding.advice)

    assert "use lr_schedule='halving'" in advice("constant")
    assert "use lr_schedule='halving'" not in advice("halving")
    assert "lr_patience" in advice("halving")


def test_a_fit_cut_short_by_max_epochs_is_said_to_be_still_improving(
    classification_data,
):
    # The run report said "the learning curves show no problem" for a fit
    # that ended at max_epochs with the validation loss still falling.
    X, y = classification_data
    short = DeepStackClassifier((16,), max_epochs=4, random_state=0).fit(X, y)
    assert short.n_iter_ == 4
    (finding,) = [f for f in analyze_curves(short) if f.code == "still_improving"]
    assert finding.severity == "info"
    assert finding.evidence == {"max_epochs": 4, "best_epoch": 4, "epochs": 4}
    assert "max_epochs" in finding.advice[0]
    # Stopped by early stopping, or given only its history: nothing said.
    stopped = DeepStackClassifier((16,), max_epochs=200, n_iter_no_change=2)
    stopped.set_params(random_state=0, learning_rate=0.05).fit(X, y)
    assert stopped.n_iter_ < 200
    assert "still_improving" not in _codes(stopped)
    assert "still_improving" not in _codes(short.history_)


def test_curves_of_negative_losses():
    # Keras's poisson loss goes below 0: falling is falling.
    falling = [-0.5, -0.6, -0.7, -0.8, -0.9]
    assert _codes({"loss": falling}) == []
    assert _codes({"loss": falling, "val_loss": [v + 0.01 for v in falling]}) == []
    assert _codes({"loss": [-0.5, -0.4, 0.3, 0.6]}) == ["diverging"]
    overfit = {
        "loss": [-0.1, -0.4, -0.7, -1.0, -1.3],
        "val_loss": [-0.1, -0.3, -0.4, -0.35, -0.2],
    }
    assert _codes(overfit) == ["overfitting"]
    underfit = {"loss": [-1.0, -1.02, -1.04, -1.06], "val_loss": [-1.0] * 4}
    assert _codes(underfit) == ["underfitting"]


def test_learning_rate_halvings_from_history():
    assert learning_rate_halvings({"learning_rate": [1, 1, 0.5, 0.5, 0.25]}) == [1, 3]
    assert learning_rate_halvings({}) == []
    rates = np.array([1, 1, 0.5, 0.5, 0.25])
    assert learning_rate_halvings({"learning_rate": rates}) == [1, 3]
    frame = pd.DataFrame({"loss": np.ones(5), "learning_rate": rates})
    assert learning_rate_halvings(frame) == [1, 3]


def test_curve_readers_name_an_unfitted_estimator():
    # They said "'DeepStackClassifier' object has no attribute 'get'".
    from sklearn.exceptions import NotFittedError

    for read in (analyze_curves, learning_rate_halvings):
        with pytest.raises(
            NotFittedError,
            match=rf"DeepStackClassifier is not fitted yet: {read.__name__} reads "
            "its history_",
        ):
            read(DeepStackClassifier())


def test_a_decaying_learning_rate_has_no_halvings():
    decay = {"learning_rate": list(1e-3 * 100.0 ** -(np.arange(5) / 4))}
    assert learning_rate_halvings(decay) == []

    def fitted(schedule, rates):
        return SimpleNamespace(
            history_={"learning_rate": rates},
            get_params=lambda: {"lr_schedule": schedule},
        )

    # A warm-started decay restarts its rate: still no halvings.
    restarted = decay["learning_rate"] * 2
    assert learning_rate_halvings(fitted("decay", restarted)) == []
    # Halving on every epoch (lr_patience=0) is halving all the same.
    assert learning_rate_halvings(fitted("halving", [1, 0.5, 0.25])) == [0, 1]


def test_real_run_with_learning_rate_10_is_flagged(data):
    X, y = data
    est = DeepStackClassifier(
        (16,),
        optimizer="sgd",
        learning_rate=10.0,
        max_epochs=6,
        early_stopping=False,
        on_divergence="warn",  # keep the run to diagnose (raising undoes it)
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    codes = _codes(est.history_)
    assert {"bouncing", "diverging"} & set(codes), est.history_
    report = diagnose(est, X, y, gradients=False, overfit=False, figures=False)
    flagged = [f for f in report.findings if f.code in ("bouncing", "diverging")]
    assert flagged and flagged[0].severity in ("error", "warning")
    assert any("learning rate" in a.lower() for f in flagged for a in f.advice)
    assert not report.ok


# ------------------------------------------------------------------ capacity


def test_capacity_matches_hand_count():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(3),
        ]
    )
    cap = capacity(model)
    assert cap.params == (4 * 8 + 8) + 4 * 8 + (8 * 3 + 3)
    assert cap.trainable_params == (4 * 8 + 8) + 2 * 8 + (8 * 3 + 3)
    forward = (2 * 4 * 8 + 8) + 4 * 8 + (2 * 8 * 3 + 3)
    assert cap.forward_flops == forward
    assert cap.training_flops == 3 * forward
    assert cap.epoch_flops(10) == 30 * forward


def test_capacity_of_estimator(fitted):
    cap = capacity(fitted)
    # hidden Dense layers carry no bias with batch norm; logits have one.
    forward = 2 * 16 * 16 + 4 * 16 + 2 * 16 * 12 + 4 * 12 + 2 * 12 * 3 + 3
    assert cap.forward_flops == forward
    assert cap.params == fitted.model_.count_params()


def test_capacity_counts_the_reconstruction_decoder_in_training_only(data):
    X, y = data
    est = _joint_fit(X, y)
    cap = capacity(est)
    # Prediction: 16 -> 6 -> 4 -> 3 logits; the decoder is the identity.
    forward = (2 * 16 * 6 + 6) + (2 * 6 * 4 + 4) + (2 * 4 * 3 + 3)
    # Training decodes the codes 4 -> 6 -> 16 through the tied kernels, each
    # step with a bias of its output width.
    decoder = (2 * 4 * 6 + 6) + (2 * 6 * 16 + 16)
    assert cap.forward_flops == forward == 277
    assert cap.training_flops == 3 * (forward + decoder) == 1617
    (row,) = [r for r in cap.layers if r["name"] == "reconstruction"]
    assert (row["flops"], row["training_flops"]) == (0, 3 * decoder)
    assert "786 per training step" in str(cap)


def test_capacity_counts_the_matrix_multiply_of_a_tied_decoder():
    inputs = keras.Input((6,))
    encoder = keras.layers.Dense(3, activation="sigmoid", name="encoder")
    outputs = TiedDense(encoder, activation="sigmoid", name="decoder")(encoder(inputs))
    cap = capacity(keras.Model(inputs, outputs))
    # The decoder owns only its bias (6) but multiplies by the 3x6 transpose.
    rows = {row["name"]: row for row in cap.layers}
    assert rows["decoder"]["params"] == 6
    assert rows["decoder"]["flops"] == 2 * 3 * 6 + 6
    assert cap.forward_flops == (2 * 6 * 3 + 3) + (2 * 3 * 6 + 6) == 81
    assert cap.training_flops == 3 * 81


# ------------------------------------------------------ small-subset overfit


def test_overfit_small_subset_succeeds_and_leaves_estimator_alone(data):
    X, y = data
    est = DeepStackClassifier(
        (64,),
        dropout=0.5,
        l2=0.1,
        batch_norm=False,
        learning_rate=3e-2,
        batch_size=64,
        random_state=0,
    )
    result = overfit_small_subset(est, X, y, n_samples=200, max_epochs=60)
    assert result.passed, str(result)
    assert result.training_error <= 0.01
    assert result.n_samples == 200
    assert result.estimator.dropout == 0.0 and result.estimator.l2 == 0.0
    assert result.estimator.early_stopping is False
    assert est.dropout == 0.5 and not hasattr(est, "model_")


def test_overfit_small_subset_passes_at_exactly_tol():
    # Two identical rows with different labels: at best 1 of the 100 rows is
    # wrong, an error of 1 - 0.99 = 0.010000000000000009 in floats.
    rng = np.random.RandomState(0)
    X = rng.randn(100, 2).astype(np.float32)
    X[:, 0] += np.where(X[:, 0] > 0, 2.0, -2.0)
    y = (X[:, 0] > 0).astype(int)
    X[1], y[1] = X[0], 1 - y[0]
    est = DeepStackClassifier(
        (16,), batch_norm=False, learning_rate=5e-2, batch_size=100, random_state=0
    )
    result = overfit_small_subset(est, X, y, n_samples=100, max_epochs=40, tol=0.01)
    assert result.training_error == pytest.approx(0.01)
    assert result.passed, str(result)


def test_overfit_small_subset_clone_writes_no_logs_or_checkpoint(data, tmp_path):
    X, y = data
    est = DeepStackClassifier(
        (8,),
        max_epochs=1,
        random_state=0,
        verbose=1,
        log_dir=str(tmp_path / "logs"),
        checkpoint=str(tmp_path / "model.ckpt"),
    )
    result = overfit_small_subset(est, X, y, n_samples=50, max_epochs=1)
    assert list(tmp_path.iterdir()) == []
    fitted = result.estimator
    assert (fitted.log_dir, fitted.checkpoint, fitted.verbose) == (None, None, 0)
    assert est.log_dir == str(tmp_path / "logs")


@pytest.mark.parametrize("on_divergence", ["raise", "warn"])
def test_overfit_small_subset_diagnoses_a_diverging_network(data, on_divergence):
    # A fit that raises DivergenceError is undone: the check fits its clone
    # with on_divergence="warn" to keep the diverged network to measure.
    X, y = data
    est = DeepStackClassifier(
        (16,),
        optimizer="sgd",
        learning_rate=50,
        random_state=0,
        on_divergence=on_divergence,
    )
    if on_divergence == "raise":
        result = overfit_small_subset(est, X, y, n_samples=100, max_epochs=5)
        assert "learning rate 50 is probably too large" in result.evidence["diverged"]
    else:  # the user's own warning, as before
        with pytest.warns(RuntimeWarning, match="learning rate 50"):
            result = overfit_small_subset(est, X, y, n_samples=100, max_epochs=5)
        assert "diverged" not in result.evidence
    assert not result.passed and 0 < result.training_error <= 1
    assert result.estimator.on_divergence == on_divergence
    assert hasattr(result.estimator, "model_")


def test_diagnostics_take_sparse_input():
    rng = np.random.RandomState(0)
    dense = (rng.randn(120, 6) * (rng.rand(120, 6) > 0.5)).astype(np.float32)
    y = (dense[:, 0] > 0).astype(int)
    X = sp.csr_matrix(dense)
    est = DeepStackClassifier((8,), max_epochs=2, random_state=0).fit(X, y)
    acts = hidden_activations(est, X, max_samples=50)["activation_1"]
    assert acts.shape == (50, 8)
    np.testing.assert_allclose(
        acts, hidden_activations(est, dense, max_samples=50)["activation_1"]
    )
    assert unit_health(est, X, initial=True)[0].variance == pytest.approx(
        unit_health(est, dense, initial=True)[0].variance
    )
    grad = check_gradients(est, X, y, n_params=3)
    assert grad.layer_errors == check_gradients(est, dense, y, n_params=3).layer_errors
    result = overfit_small_subset(est, X, y, n_samples=40, max_epochs=1)
    assert result.n_samples == 40 and result.estimator.n_features_in_ == 6
    report = diagnose(est, X, y, overfit=False, figures=False)
    assert report.capacity.forward_flops == capacity(est).forward_flops
    assert report["gradient_check"].severity == "info"


def test_diagnostics_leave_out_unlabeled_rows():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 4).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    unlabeled = rng.rand(200) < 0.6
    labeled = np.flatnonzero(~unlabeled)
    y_semi = np.where(unlabeled, -1, y)
    clf = DeepStackClassifier(
        (8,), reconstruction_weight=0.5, max_epochs=2, random_state=0
    ).fit(X, y_semi)
    grad = check_gradients(clf, X, y_semi, n_params=3)
    expected = check_gradients(clf, X[labeled], y[labeled], n_params=3)
    assert grad.layer_errors == expected.layer_errors
    result = overfit_small_subset(clf, X, y_semi, n_samples=500, max_epochs=1)
    assert result.n_samples == labeled.size
    # NaN targets of a regressor.
    target = np.where(unlabeled, np.nan, X[:, 0])
    reg = DeepStackRegressor(
        (8,), reconstruction_weight=0.5, max_epochs=2, random_state=0
    ).fit(X, target)
    grad = check_gradients(reg, X, target, n_params=3)
    assert grad.layer_errors == (
        check_gradients(reg, X[labeled], target[labeled], n_params=3).layer_errors
    )
    result = overfit_small_subset(reg, X, target, n_samples=500, max_epochs=1)
    assert result.n_samples == labeled.size and np.isfinite(result.training_error)
    report = diagnose(reg, X, target, overfit=False, figures=False)
    assert report["gradient_check"].severity == "info"


def _flat_accuracy(accuracy):
    """A history whose loss falls while the accuracy stays at ``accuracy``."""
    return {"loss": [1.0, 0.9, 0.8, 0.7, 0.6], "accuracy": [accuracy] * 5}


def test_chance_accuracy_over_the_known_labels_only():
    clf = DeepStackClassifier()
    clf.classes_ = np.array([0, 1])
    # 70% of the rows unlabeled (-1), the labeled ones balanced: chance 0.5,
    # so an accuracy of 0.6 is above it (-1 counted as a class made it 0.7).
    y = np.array([-1] * 70 + [0] * 15 + [1] * 15)
    findings = _curve_findings(clf, y, _flat_accuracy(0.6), [])
    assert "collapse" not in [f.code for f in findings]
    (collapse,) = _curve_findings(clf, y, _flat_accuracy(0.5), [])
    assert collapse.evidence["chance_accuracy"] == 0.5


def test_chance_accuracy_of_multilabel_targets_is_per_label():
    # Label frequencies 0.5, 0.1, 0.9: predicting each label's majority is
    # right on (0.5 + 0.9 + 0.9) / 3 of the entries.
    Y = np.zeros((10, 3), dtype=int)
    Y[:5, 0] = 1
    Y[:1, 1] = 1
    Y[:9, 2] = 1
    (collapse,) = _curve_findings(DeepStackClassifier(), Y, _flat_accuracy(0.75), [])
    assert collapse.code == "collapse"
    assert collapse.evidence["chance_accuracy"] == pytest.approx(2.3 / 3)


def test_diagnose_a_pipeline_or_ensemble_through_its_network(data):
    from deepstack.ensemble import DeepStackBaggingClassifier

    X, y = data
    member = DeepStackClassifier((8,), max_epochs=1, random_state=0)
    pipe = make_pipeline(StandardScaler(), member).fit(X, y)
    report = diagnose(pipe, X, y, overfit=False, figures=False)
    assert report.estimator_name == "Pipeline (DeepStackClassifier)"
    assert "fitted_clone" not in report.codes  # not trained again
    assert report.capacity.params == pipe[-1].model_.count_params()
    bagging = DeepStackBaggingClassifier(member, n_folds=2, random_state=0).fit(X, y)
    report = diagnose(bagging, X, y, gradients=False, overfit=False, figures=False)
    assert report.history == bagging.estimators_[0].history_
    with pytest.raises(TypeError, match=r"pipeline\[-1\]"):
        overfit_small_subset(pipe, X, y)
    # Refused before anything is trained.
    other = make_pipeline(StandardScaler(), LogisticRegression())
    with pytest.raises(TypeError, match="not a Pipeline"):
        diagnose(other, X, y)
    assert not hasattr(other[-1], "coef_")


# -------------------------------------------------------------------- report


def test_diagnose_report_text_and_html(fitted, data, tmp_path):
    X, y = data
    report = diagnose(fitted, X, y, overfit=False)
    assert "capacity" in report.codes
    assert report["gradient_check"].severity == "info"
    assert report.codes[0] in {f.code for f in report.findings}
    severities = [f.severity for f in report.findings]
    order = {"error": 0, "warning": 1, "info": 2}
    assert severities == sorted(severities, key=order.get)
    assert report.overfit is None
    text = str(report)
    for heading in (
        "Findings",
        "Capacity",
        "Hidden units before training",
        "Gradient check",
    ):
        assert heading in text
    assert f"{report.capacity.params:,} parameters" in text
    assert set(report.figures) >= {"learning_curves", "activations", "weights"}
    # 16 features: 4x4 "images", so the first-layer filters are drawn too.
    assert "filters" in report.figures

    path = report.save(tmp_path / "report", dpi=40)
    html = open(path, encoding="utf-8").read()
    images = re.findall(r"<img src='([^']+)'", html)
    assert len(images) == len(report.figures)
    for name in images:
        png = tmp_path / "report" / name
        assert png.exists()
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Gradient check" in html and "capacity" in html


def test_diagnose_unfitted_estimator_that_cannot_overfit(data):
    X, _ = data
    X_raw = X * 1000.0 + 5000.0
    y_random = np.random.RandomState(0).randint(0, 3, len(X))
    est = DeepStackClassifier(
        (2,),
        activation="tanh",
        standardize=False,
        batch_norm=False,
        early_stopping=False,
        max_epochs=2,
        random_state=0,
    )
    report = diagnose(
        est,
        X_raw,
        y_random,
        gradients=False,
        figures=False,
        n_overfit_samples=200,
        overfit_max_epochs=3,
    )
    assert not hasattr(est, "model_")  # a clone was fitted
    assert "fitted_clone" in report.codes
    assert report.overfit is not None and not report.overfit.passed
    assert report.overfit.training_error > 0.2
    finding = report["cannot_overfit"]
    assert finding.severity == "warning"
    text = " ".join(finding.advice)
    assert "Un-normalized" in text
    assert "Saturated" in text
    assert finding.evidence["initial_saturation"] > 0.5
    assert report.unit_health_initial.max_saturation > 0.5
    assert "saturated_units_initial" in report.codes
    assert "Small-subset overfitting" in str(report)


def test_finding_validates_severity_and_prints_evidence():
    finding = Finding("x", "warning", "msg", {"a": 0.123456}, ["do this"])
    assert "[WARNING] x: msg" in str(finding)
    assert "a=0.1235" in str(finding)
    with pytest.raises(ValueError, match="severity"):
        Finding("x", "fatal", "msg")


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="fitted deepstack estimator"):
        unit_health(DeepStackClassifier(), np.zeros((3, 2)))


@pytest.mark.parametrize(
    "relu",
    [
        lambda: [keras.layers.Activation("relu", name="act")],
        lambda: [keras.layers.ReLU(name="act")],
        lambda: [keras.layers.LeakyReLU(0.1, name="act")],
        lambda: [],  # Dense(..., activation="relu")
    ],
    ids=["Activation", "ReLU", "LeakyReLU", "Dense-activation"],
)
def test_check_gradients_leaves_out_steps_across_a_relu_kink(relu):
    # Row 0 puts the hidden unit's input at 1e-6: a step of 1e-4 on the
    # first two kernel entries (inputs 1 and -1) switches the ReLU on and
    # off, so their finite differences are not derivatives. The third
    # entry (input 0 on that row) is an ordinary one.
    after = relu()
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                1, use_bias=False, activation=None if after else "relu", name="h"
            ),
            *after,
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.get_layer("h").kernel.assign(np.ones((3, 1)))
    model.get_layer("out").kernel.assign([[2.0]])
    X = np.array([[1.0, -1.0 + 1e-6, 0.0], [0.5, 1.0, 2.0]])
    y = np.array([[1.0], [3.0]])
    result = check_gradients(model, X, y, n_params=3)
    (kernel,) = [row for row in result.details if row["variable"] == "h/kernel"]
    assert kernel["n_kinks"] == 2 and kernel["n_checked"] == 1
    assert kernel["error"] < 1e-8
    assert result.passed, str(result)
    assert "2 at a ReLU kink left out" in str(result)


def test_check_gradients_shows_a_variable_with_only_kinks_as_not_checked():
    # Row 0 puts the unit's input at 1e-6 and every input at magnitude >= 1:
    # each kernel entry's step crosses the kink.
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(1, use_bias=False, activation="relu", name="h"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.get_layer("h").kernel.assign(np.ones((3, 1)))
    X = np.array([[1.0, -2.0 + 1e-6, 1.0], [0.5, 1.0, 2.0]])
    y = np.array([[1.0], [3.0]])
    result = check_gradients(model, X, y, n_params=3)
    (kernel,) = [row for row in result.details if row["variable"] == "h/kernel"]
    assert (kernel["checked"], kernel["n_checked"], kernel["n_kinks"]) == (False, 0, 3)
    assert "h" not in result.layer_errors and set(result.layer_errors) == {"out"}
    assert result.passed
    assert "h/kernel" in str(result) and "not checked" in str(result)
    with pytest.raises(ValueError, match="n_params must be an integer >= 1"):
        check_gradients(model, X, y, n_params=0)


def test_a_failed_float32_gradient_check_is_a_warning():
    row = {
        "layer": "dense",
        "variable": "dense/kernel",
        "n_checked": 3,
        "n_kinks": 0,
        "checked": True,
        "error": 1e-2,
        "max_entry_error": 1e-2,
        "passed": False,
    }
    finding = _gradient_finding(
        GradientCheckResult([row], tol=1e-4, epsilon=1e-4, dtype="float32")
    )
    assert finding.severity == "warning" and "float32" in finding.message
    finding = _gradient_finding(
        GradientCheckResult([row], tol=1e-4, epsilon=1e-4, dtype="float64")
    )
    assert finding.severity == "error"


def test_diagnose_reports_a_diverging_fit_instead_of_raising(data):
    X, y = data
    est = DeepStackClassifier(
        (16,), optimizer="sgd", learning_rate=50, max_epochs=10, random_state=0
    )
    # The estimator alone raises: that is what diagnose has to survive.
    with pytest.raises(FloatingPointError, match="diverged"):
        clone(est).fit(X, y)
    report = diagnose(
        est,
        X,
        y,
        n_overfit_samples=100,
        overfit_max_epochs=3,
        figures=False,
    )
    first = report.findings[0]
    assert first.code == "diverging" and first.severity == "error"
    assert "learning rate 50" in first.message
    assert first.evidence["learning_rate"] == 50
    assert first.advice[0].startswith("Lower the learning rate")
    # Reported once, with the curves' own divergence finding left out.
    assert report.codes.count("diverging") == 1
    assert "fitted_clone" in report.codes and not report.ok
    # The other checks ran on the clone's last finite weights.
    assert report.gradient_check is not None and report.overfit is not None
    assert report.unit_health_final is not None
    assert not hasattr(est, "model_")
