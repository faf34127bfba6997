"""Faults a hostile or careless user runs into: nothing silent, nothing lost."""

import random
import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import deepstack._network
import deepstack.tuning._tuner
from deepstack import (
    DeepStackClassifier,
    DeepStackRegressor,
    DeepStackSearch,
    Float,
    StackedAutoencoder,
)
from deepstack.callbacks import DivergenceError
from tests.conftest import BatchHook, tiny


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_divergence_is_judged_against_the_loss_before_training(binary_data, optimizer):
    # Adam at 1e4 makes the first epoch's loss huge (1e8) and then "improves"
    # it; against that first epoch nothing looked wrong.
    X, y = binary_data
    clf = tiny(
        DeepStackClassifier, optimizer=optimizer, learning_rate=1e4, max_epochs=4
    )
    with pytest.raises(DivergenceError, match="before training"):
        clf.fit(X, y)


def test_a_normal_fit_is_not_taken_for_divergence(binary_data):
    X, y = binary_data
    clf = tiny(DeepStackClassifier, l2=1.0, max_epochs=4).fit(X, y)
    assert clf.n_iter_ == 4


def _draws():
    return random.random(), np.random.rand()  # noqa: NPY002


@pytest.mark.parametrize(
    "make",
    [
        lambda: tiny(DeepStackClassifier, max_epochs=2),
        lambda: tiny(DeepStackClassifier, max_epochs=1, callbacks=[BatchHook()]),
        lambda: tiny(
            DeepStackClassifier, max_epochs=1, pretrain="autoencoder", pretrain_epochs=1
        ),
        lambda: StackedAutoencoder((3,), epochs=1, random_state=0),
    ],
    ids=["fused", "model.fit", "pretrain", "autoencoder"],
)
def test_fit_leaves_the_global_random_generators_alone(binary_data, make):
    X, y = binary_data
    models = []
    for user_seed in (1, 2):
        random.seed(user_seed)
        np.random.seed(user_seed)  # noqa: NPY002
        expected = _draws()
        random.seed(user_seed)
        np.random.seed(user_seed)  # noqa: NPY002
        est = make().fit(X, y)
        # The user's next draws are those they would have got without a fit.
        assert _draws() == expected
        models.append(est)
    # ... and the model does not depend on the user's global state.
    first, second = models
    if isinstance(first, StackedAutoencoder):
        np.testing.assert_array_equal(first.transform(X), second.transform(X))
    else:
        np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


@pytest.mark.parametrize("scale", [1e20, 1e-9, 1e-25])
def test_scales_float32_cannot_standardize_are_rejected_by_name(binary_data, scale):
    X, y = binary_data
    X = X.copy()
    X[:, 2] *= scale
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    for est in (
        tiny(DeepStackClassifier, max_epochs=1),
        StackedAutoencoder((3,), epochs=1, random_state=0),
    ):
        with pytest.raises(ValueError, match="column 'f2' \\(standard deviation"):
            est.fit(frame, y)
    with pytest.raises(ValueError, match="column 2 "):
        tiny(DeepStackRegressor, max_epochs=1).fit(X, y)


def test_large_but_representable_scales_train_as_at_scale_one(binary_data):
    X, y = binary_data
    scores = [
        tiny(DeepStackClassifier, max_epochs=5).fit(X * scale, y).score(X * scale, y)
        for scale in (1.0, 1e15, 1e-5)
    ]
    assert scores[0] > 0.8
    np.testing.assert_allclose(scores[1:], scores[0], atol=0.02)


def test_constant_columns_are_still_accepted(binary_data):
    X, y = binary_data
    X = X.copy()
    X[:, 0] = 3e30
    X[:, 1] = 0.0
    clf = tiny(DeepStackClassifier, max_epochs=2).fit(X, y)
    assert np.all(np.isfinite(clf.predict_proba(X)))


def test_every_prediction_method_is_batched(classification_data, monkeypatch):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, max_epochs=1).fit(X, y)
    expected = {
        name: getattr(clf, name)(X)
        for name in ("predict", "predict_proba", "predict_log_proba")
    }
    expected["decision_function"] = clf.decision_function(X)
    monkeypatch.setattr(deepstack._network, "CHUNK_ROWS", 16)
    rows = []
    call = keras.Model.__call__

    def recording(self, inputs, *args, **kwargs):
        rows.append(int(inputs.shape[0]))
        return call(self, inputs, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "__call__", recording)
    for name, values in expected.items():
        rows.clear()
        np.testing.assert_allclose(getattr(clf, name)(X), values, rtol=1e-6)
        assert rows and max(rows) <= 16, (name, rows)
        assert sum(rows) == X.shape[0]


def test_warm_start_honours_a_new_learning_rate(binary_data):
    X, y = binary_data
    clf = tiny(DeepStackClassifier, learning_rate=1e-3, lr_schedule="constant")
    clf.set_params(max_epochs=2).fit(X, y)
    clf.set_params(warm_start=True).fit(X, y)
    assert clf.learning_rate_ == pytest.approx(1e-3)
    clf.set_params(learning_rate=0.05).fit(X, y)
    assert clf.learning_rate_ == pytest.approx(0.05)
    np.testing.assert_allclose(clf.history_["learning_rate"][:4], 1e-3, rtol=1e-6)
    np.testing.assert_allclose(clf.history_["learning_rate"][4:], 0.05, rtol=1e-6)
    assert clf.n_iter_ == 6


def _bad_inputs(X, y):
    nan_X = X.copy()
    nan_X[3, 1] = np.nan
    text_X = X.astype(object)
    text_X[5, 2] = "abc"
    nan_y = y.astype(float)
    nan_y[7] = np.nan
    return {
        "nan X": (nan_X, y),
        "text X": (text_X, y),
        "3-D X": (X.reshape(X.shape[0], 2, -1), y),
        "nan y": (X, nan_y),
        "continuous y": (X, y + 0.5 * np.arange(len(y)) / len(y)),
        "one class": (X, np.zeros_like(y)),
        "no y": (X, None),
    }


@pytest.mark.parametrize(
    "case",
    [
        "nan X",
        "text X",
        "3-D X",
        "nan y",
        "continuous y",
        "one class",
        "no y",
    ],
)
def test_search_checks_its_data_once_with_the_estimators_messages(
    classification_data, case, capfd, monkeypatch
):
    X, y = _bad_inputs(*classification_data)[case]
    estimator = tiny(DeepStackClassifier, max_epochs=1)
    with pytest.raises((ValueError, TypeError)) as direct:
        clone(estimator).fit(X, y)
    trials = []
    monkeypatch.setattr(
        deepstack.tuning._tuner.DeepStackTuner,
        "run_trial",
        lambda self, trial, *a, **k: trials.append(trial),
    )
    capfd.readouterr()
    search = DeepStackSearch(
        estimator, {"learning_rate": Float(1e-3, 1e-1)}, max_trials=3, verbose=0
    )
    with pytest.raises(direct.type) as searched:
        search.fit(X, y)
    assert str(searched.value) == str(direct.value)
    assert trials == []
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def test_autoencoder_on_text_columns_points_to_one_hot_encoding():
    frame = pd.DataFrame(
        {"a": np.arange(40.0), "colour": ["red", "blue"] * 20, "b": np.ones(40)}
    )
    with pytest.raises(ValueError, match=r"columns \['colour'\].*OneHotEncoder"):
        StackedAutoencoder((2,), epochs=1).fit(frame)


def test_autoencoder_fit_on_a_frame_does_not_warn_about_its_own_names():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names.*")
        ae = StackedAutoencoder((2,), epochs=1, random_state=0).fit(frame)
        score = ae.score(frame)
    assert score == pytest.approx(-ae.reconstruction_error_)


def test_bool_and_categorical_text_columns_name_the_text_column(binary_data):
    X, y = binary_data
    frame = pd.DataFrame(
        {
            "flag": X[:, 0] > 0,
            "kind": pd.Categorical(np.where(X[:, 1] > 0, "x", "y")),
            "v": X[:, 2],
        }
    )
    with pytest.raises(ValueError, match=r"columns \['kind'\].*OneHotEncoder"):
        tiny(DeepStackClassifier, max_epochs=1).fit(frame, y)


def test_predictions_that_overflow_are_not_silent(binary_data):
    X, y = binary_data
    huge = np.full((3, X.shape[1]), 3e38, dtype=np.float32)
    huge[0] = X[0]
    reg = tiny(DeepStackRegressor, hidden_layer_sizes=(8,), max_epochs=1)
    reg.fit(X, X[:, 0])
    with pytest.warns(RuntimeWarning, match=r"infinite or NaN for 2 of 3 rows"):
        out = reg.predict(huge)
    assert np.isfinite(out[0])
    clf = tiny(DeepStackClassifier, hidden_layer_sizes=(8,), max_epochs=1).fit(X, y)
    with pytest.warns(RuntimeWarning, match=r"first: \[1, 2\]"):
        clf.predict_proba(huge)


def test_a_quiet_search_prints_nothing_when_resumed(
    classification_data, tmp_path, capfd
):
    X, y = classification_data
    for _ in range(2):  # the second run reloads the first one's tuner
        DeepStackSearch(
            tiny(DeepStackClassifier, hidden_layer_sizes=(4,), max_epochs=1),
            {"learning_rate": Float(1e-3, 1e-1, log=True)},
            tuner="random",
            max_trials=6,
            directory=tmp_path,
            overwrite=False,
            random_state=0,
            verbose=0,
        ).fit(X, y)
    out, err = capfd.readouterr()
    assert "Reloading Tuner" not in out + err
    assert "retracing" not in out + err
