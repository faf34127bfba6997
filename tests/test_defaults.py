"""The "auto" regularization defaults: the rule's known answers and the estimators."""

import numpy as np
import pytest
from sklearn.base import clone

from deepstack import DeepStackClassifier, DeepStackRegressor, DeepStackSearch
from deepstack._defaults import regularization
from deepstack.tuning import Boolean, default_search_space


@pytest.mark.parametrize(
    ("n_features", "regression", "expected"),
    [
        (64, False, (0.3, 0.1, 1e-3)),  # digits: the former defaults
        (63, False, (0.3, 0.0, 1e-3)),
        (16, False, (0.3, 0.0, 1e-3)),
        (0, False, (0.3, 0.0, 1e-3)),
        (10, True, (0.3, 0.0, 1e-3)),  # diabetes (re-chosen by 5-fold CV)
        (1000, True, (0.3, 0.1, 1e-3)),
    ],
)
def test_rule_known_answers(n_features, regression, expected):
    resolved = regularization(n_features, regression=regression)
    assert (resolved["dropout"], resolved["input_dropout"], resolved["l2"]) == expected


@pytest.mark.parametrize("n_features", [0, 1, 10, 63, 64, 1000])
def test_rule_leaves_classifiers_as_before(n_features):
    # The regression rule touches regressors only: a classifier resolves to
    # the values it had before (batch normalization on, as the former
    # default batch_norm=True), so the classification benchmarks are the
    # same fits.
    assert regularization(n_features) == {
        "dropout": 0.3,
        "input_dropout": 0.1 if n_features >= 64 else 0.0,
        "l2": 1e-3,
        "batch_norm": True,
    }


@pytest.mark.parametrize(("regression", "expected"), [(False, True), (True, False)])
def test_rule_batch_norm_by_task(regression, expected):
    assert regularization(10, regression=regression)["batch_norm"] is expected
    # A bool passes through for either task.
    for value in (True, False):
        resolved = regularization(10, regression=regression, batch_norm=value)
        assert resolved["batch_norm"] is value


def test_rule_passes_numbers_through():
    assert regularization(
        100, dropout=0.5, input_dropout=0.2, l2=0, batch_norm=False
    ) == {
        "dropout": 0.5,
        "input_dropout": 0.2,
        "l2": 0.0,
        "batch_norm": False,
    }
    # One number, the others resolved.
    assert regularization(8, regression=True, l2=1e-2) == {
        "dropout": 0.3,
        "input_dropout": 0.0,
        "l2": 1e-2,
        "batch_norm": False,
    }


def _rates(model):
    return sorted(
        layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"
    )


def _n_batch_norm(model):
    return sum(
        layer.__class__.__name__ == "BatchNormalization" for layer in model.layers
    )


def _l2(model):
    (value,) = {
        layer.kernel_regularizer.get_config()["l2"]
        for layer in model.layers
        if getattr(layer, "kernel_regularizer", None) is not None
    }
    return value


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def test_auto_is_the_default_and_resolves_at_fit():
    clf = DeepStackClassifier((8,), max_epochs=1, random_state=0)
    params = clf.get_params()
    names = ("dropout", "input_dropout", "l2", "batch_norm")
    assert [params[k] for k in names] == ["auto"] * 4
    X, y = _data(100, 5)
    clf.fit(X, y)
    assert (clf.dropout_, clf.input_dropout_, clf.l2_) == (0.3, 0.0, 1e-3)
    assert clf.batch_norm_ is True and _n_batch_norm(clf.model_) == 1
    assert _rates(clf.model_) == [0.3]  # no input dropout layer
    assert _l2(clf.model_) == pytest.approx(1e-3)
    # The parameters stay "auto" (clone, grid search and get_params see them).
    assert clf.get_params()["dropout"] == "auto"
    assert clone(clf).get_params()["l2"] == "auto"

    X, y = _data(100, 64)
    clf.fit(X, y)
    assert (clf.dropout_, clf.input_dropout_, clf.l2_) == (0.3, 0.1, 1e-3)
    assert _rates(clf.model_) == [0.1, 0.3]


def test_auto_regressor_has_no_batch_norm():
    X, _ = _data(100, 3)
    reg = DeepStackRegressor((8,), max_epochs=1, random_state=0)
    reg.fit(X, X[:, 0] + X[:, 1])
    assert (reg.dropout_, reg.input_dropout_, reg.l2_) == (0.3, 0.0, 1e-3)
    assert _rates(reg.model_) == [0.3]
    assert _l2(reg.model_) == pytest.approx(1e-3)
    # No batch normalization: the hidden Dense layer keeps its bias.
    assert reg.batch_norm_ is False and _n_batch_norm(reg.model_) == 0
    (hidden,) = [layer for layer in reg.model_.layers if layer.name == "hidden_1"]
    assert hidden.use_bias
    reg.set_params(batch_norm=True).fit(X, X[:, 0])
    assert reg.batch_norm_ is True and _n_batch_norm(reg.model_) == 1


def test_numbers_win_over_auto():
    X, y = _data(100, 2)
    clf = DeepStackClassifier(
        (8,), dropout=0.25, input_dropout=0.05, l2=0.0, max_epochs=1, random_state=0
    ).fit(X, y)
    assert (clf.dropout_, clf.input_dropout_, clf.l2_) == (0.25, 0.05, 0.0)
    assert _rates(clf.model_) == [0.05, 0.25]


def test_partial_fit_resolves_on_the_first_call():
    X, y = _data(100, 2)
    reg = DeepStackRegressor((8,), random_state=0)
    reg.partial_fit(X, X[:, 0])
    assert (reg.dropout_, reg.input_dropout_, reg.l2_) == (0.3, 0.0, 1e-3)
    assert reg.batch_norm_ is False and _n_batch_norm(reg.model_) == 0


@pytest.mark.parametrize("name", ["dropout", "input_dropout", "l2", "batch_norm"])
def test_other_strings_are_rejected(name):
    X, y = _data(50, 2)
    with pytest.raises(ValueError, match=name):
        DeepStackClassifier((8,), max_epochs=1, **{name: "big"}).fit(X, y)


def test_search_space_is_centred_on_the_resolved_dropout():
    classifier = default_search_space(DeepStackClassifier())["dropout"]
    regressor = default_search_space(DeepStackRegressor())["dropout"]
    assert (classifier.low, classifier.high) == pytest.approx((0.1, 0.5))
    assert (regressor.low, regressor.high) == pytest.approx((0.1, 0.5))
    given = default_search_space(DeepStackRegressor(dropout=0.1))["dropout"]
    assert (given.low, given.high) == pytest.approx((0.0, 0.3))


def test_search_first_trial_starts_from_the_resolved_dropout():
    # The first trial is the estimator's own configuration: "auto" dropout
    # enters the range as the value fit would use.
    X, y = _data(60, 2)
    search = DeepStackSearch(
        DeepStackRegressor((4,), max_epochs=1),
        search_space={"dropout": [0.0, 0.1, 0.3]},
        tuner="grid",
        max_trials=1,
        random_state=0,
    ).fit(X, X[:, 0])
    assert search.best_params_["dropout"] == 0.3


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [(DeepStackRegressor, False), (DeepStackClassifier, True)],
)
def test_search_first_trial_starts_from_the_resolved_batch_norm(estimator, expected):
    X, y = _data(60, 2)
    search = DeepStackSearch(
        estimator((4,), max_epochs=1),
        search_space={"batch_norm": Boolean()},
        tuner="grid",
        max_trials=1,
        random_state=0,
    ).fit(X, y)
    assert search.best_params_["batch_norm"] is expected
