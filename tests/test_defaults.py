"""The "auto" regularization defaults: the rule's known answers and the estimators."""

import pickle

import numpy as np
import pytest
from keras import ops
from sklearn.base import clone

from deepstack import DeepStackClassifier, DeepStackRegressor, DeepStackSearch
from deepstack._defaults import regularization
from deepstack.estimators._base import BaseDeepStack
from deepstack.layers import RateDropout
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
    """The dropout rates of ``model``'s layers (each RateDropout's weight)."""
    return sorted(
        float(ops.convert_to_numpy(layer.rate))
        for layer in model.layers
        if isinstance(layer, RateDropout)
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


# ------------------------------------------------------------ refit_on_all


class _TrainRecorder:
    """Wraps ``BaseDeepStack._train``: the rows, epochs and validation of
    each training run."""

    def __init__(self, monkeypatch):
        self.calls = []
        original = BaseDeepStack._train

        def recording(estimator, model, train, validation, **kwargs):
            self.calls.append(
                (train[0].shape[0], kwargs["epochs"], validation is not None)
            )
            return original(estimator, model, train, validation, **kwargs)

        monkeypatch.setattr(BaseDeepStack, "_train", recording)


@pytest.mark.parametrize("refit", [False, True])
def test_refit_trains_on_all_rows_for_the_chosen_epochs(monkeypatch, refit):
    X, y = _data(120, 3)
    recorder = _TrainRecorder(monkeypatch)
    clf = DeepStackClassifier(
        (8,),
        max_epochs=6,
        n_iter_no_change=2,
        lr_patience=1,
        random_state=0,
        refit_on_all=refit,
    ).fit(X, y)
    assert clf.refit_on_all_ is refit
    first = (120 - 12, 6, True)  # 12 validation rows, 10% of 120
    if not refit:
        assert recorder.calls == [first]
        assert clf.refit_history_ == {}
        return
    epochs = clf.best_epoch_ + 1
    # The first run on the training split, then every row for the epochs
    # up to the kept one, without a validation set.
    assert recorder.calls == [first, (120, epochs, False)]
    assert len(clf.refit_history_["loss"]) == epochs
    # The recorded learning rates, replayed epoch by epoch.
    assert clf.refit_history_["learning_rate"] == pytest.approx(
        clf.history_["learning_rate"][:epochs]
    )
    assert clf.n_iter_ == len(clf.history_["loss"])


def test_refit_replays_halved_learning_rates():
    X, y = _data(120, 3)
    clf = DeepStackClassifier(
        (8,),
        max_epochs=12,
        learning_rate=0.5,  # plateaus at once: halving every other epoch
        lr_patience=1,
        n_iter_no_change=50,
        random_state=0,
        refit_on_all=True,
    ).fit(X, y)
    rates = clf.history_["learning_rate"]
    assert len(set(rates)) > 1  # the schedule did halve
    assert clf.refit_history_["learning_rate"] == pytest.approx(
        rates[: clf.best_epoch_ + 1]
    )


@pytest.mark.parametrize(
    ("params", "X_val", "reason"),
    [
        ({"early_stopping": False}, False, "early_stopping=True"),
        ({}, True, "no X_val"),
        ({"pretrain": "autoencoder", "pretrain_epochs": 1}, False, "pretrain"),
    ],
)
def test_refit_true_explains_what_it_needs(params, X_val, reason):
    X, y = _data(60, 3)
    clf = DeepStackClassifier((8,), max_epochs=2, refit_on_all=True, **params)
    given = {"X_val": X[:10], "y_val": y[:10]} if X_val else {}
    with pytest.raises(ValueError, match=reason):
        clf.fit(X, y, **given)


def test_refit_is_off_by_default_for_both_estimators():
    X, y = _data(60, 3)
    base = dict(max_epochs=2, random_state=0)
    fitted = [
        DeepStackClassifier((8,), **base).fit(X, y),
        DeepStackRegressor((8,), **base).fit(X, X[:, 0]),
    ]
    assert [est.get_params()["refit_on_all"] for est in fitted] == [False] * 2
    assert [est.refit_on_all_ for est in fitted] == [False] * 2
    with pytest.raises(ValueError, match="refit_on_all"):
        DeepStackClassifier((8,), refit_on_all="auto", **base).fit(X, y)


def test_refit_model_is_the_one_kept_and_survives_pickle_and_clone():
    X, y = _data(80, 3)
    clf = DeepStackClassifier(
        (8,), max_epochs=3, random_state=0, refit_on_all=True
    ).fit(X, y)
    assert clf.refit_on_all_ is True
    # model_ is the refit network: its input standardization saw every row.
    (standardize,) = [layer for layer in clf.model_.layers if hasattr(layer, "mean")]
    mean = np.ravel(ops.convert_to_numpy(standardize.mean))
    assert mean == pytest.approx(X.mean(axis=0), abs=1e-5)
    again = pickle.loads(pickle.dumps(clf))
    assert again.refit_on_all_ is True
    assert np.array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert clone(clf).get_params()["refit_on_all"] is True


def test_refit_on_tiny_separable_data_is_at_least_as_good():
    # 40 training rows, classes a margin apart: the 10% split keeps 4 of
    # them out of training and stops on 4 rows; the refit trains on all 40.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 4)).astype(np.float32)
    margin = X[:, 0] + 0.5 * X[:, 1]
    X = X[np.abs(margin) > 0.3][:240]
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    scores = {False: [], True: []}
    for seed in (0, 1):
        for refit in (False, True):
            clf = DeepStackClassifier(
                (16,),
                max_epochs=60,
                learning_rate=1e-2,
                random_state=seed,
                refit_on_all=refit,
            ).fit(X[:40], y[:40])
            scores[refit].append(clf.score(X[40:], y[40:]))
    # Measured: 0.995 and 0.995 with the refit, 0.99 and 0.905 without.
    assert min(scores[True]) >= 0.95
    assert np.mean(scores[True]) >= np.mean(scores[False])


def test_refit_on_all_in_a_grid_search():
    from sklearn.model_selection import GridSearchCV

    X, y = _data(60, 3)
    search = GridSearchCV(
        DeepStackClassifier((4,), max_epochs=2, random_state=0),
        {"refit_on_all": [False, True]},
        cv=2,
    ).fit(X, y)
    assert [p["refit_on_all"] for p in search.cv_results_["params"]] == [False, True]
    best = search.best_params_["refit_on_all"]
    assert search.best_estimator_.refit_on_all_ is best


def test_auto_batch_scales_the_learning_rate_by_the_root_of_the_batch():
    # 8,000 rows leave 7,200 to fit after the 10% early-stopping split:
    # batch_size="auto" makes that 2 ** round(log2(72)) = 64, and the
    # learning rate follows by sqrt(64 / 32).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8000, 4)).astype("float32")
    y = (X[:, 0] > 0).astype(int)
    params = dict(hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
    auto = DeepStackClassifier(batch_size="auto", learning_rate=2e-3, **params)
    auto.fit(X, y)
    assert auto._batch_size(7200) == 64
    assert auto.learning_rate_ == pytest.approx(2e-3 * np.sqrt(2.0), rel=1e-12)
    # An explicit batch size, or a batch that stays 32, keeps the rate as given.
    fixed = DeepStackClassifier(batch_size=64, learning_rate=2e-3, **params)
    assert fixed.fit(X, y).learning_rate_ == 2e-3
    small = DeepStackClassifier(batch_size="auto", learning_rate=2e-3, **params)
    assert small.fit(X[:3000], y[:3000]).learning_rate_ == 2e-3


def test_patience_rule_known_answers():
    from deepstack._defaults import patience

    assert patience(9_999) == (10, 0.0)
    assert patience(10_000) == (5, 0.25)
    assert patience(50_000, regression=True) == (10, 0.0)
    assert patience(50_000, n_iter_no_change=7, growth=0.0) == (7, 0.0)
    assert patience(100, n_iter_no_change=3) == (3, 0.0)


def test_auto_patience_follows_the_training_rows():
    # 12,000 rows, 10% held out: 10,800 training rows, the large-table rule.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12_000, 4)).astype("float32")
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = DeepStackClassifier((4,), max_epochs=1, random_state=0).fit(X, y)
    assert (clf.n_iter_no_change_, clf.patience_growth_) == (5, 0.25)
    (stopper,) = [cb for cb in clf.callbacks_ if type(cb).__name__ == "EarlyStopping"]
    assert (stopper.patience, stopper.growth) == (5, 0.25)
    small = DeepStackClassifier((4,), max_epochs=1, random_state=0).fit(
        X[:900], y[:900]
    )
    assert (small.n_iter_no_change_, small.patience_growth_) == (10, 0.0)
    # The regressor keeps its fixed patience; numbers pass through.
    assert DeepStackRegressor().get_params()["n_iter_no_change"] == 10
    fixed = DeepStackClassifier((4,), max_epochs=1, n_iter_no_change=3, random_state=0)
    assert fixed.fit(X, y).n_iter_no_change_ == 3 and fixed.patience_growth_ == 0.25
