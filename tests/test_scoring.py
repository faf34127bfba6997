"""``scoring=``: a scikit-learn scorer drives early stopping and the search."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_absolute_error

from deepstack import (
    DeepStackClassifier,
    DeepStackRegressor,
    DeepStackSearch,
    Float,
    _trainer,
)
from deepstack.callbacks import EarlyStopping, LearningRateHalving, ValidationScore
from tests.conftest import tiny


def test_scorer_drives_early_stopping_and_halving(classification_data):
    X, y = classification_data
    clf = tiny(
        DeepStackClassifier,
        max_epochs=12,
        n_iter_no_change=3,
        lr_patience=2,
        tol=0.0,
        batch_norm=False,
        learning_rate=0.05,
        scoring="neg_log_loss",
    ).fit(X[:150], y[:150], X_val=X[150:], y_val=y[150:])
    scores = clf.history_["val_score"]
    assert len(scores) == clf.n_iter_
    assert isinstance(clf.callbacks_[0], ValidationScore)
    stopper = next(cb for cb in clf.callbacks_ if isinstance(cb, EarlyStopping))
    halving = next(cb for cb in clf.callbacks_ if isinstance(cb, LearningRateHalving))
    assert stopper.monitor == halving.monitor == "val_score"
    # The kept epoch is the best by the scorer (greater is better), and the
    # kept network scores what was logged for it.
    assert clf.best_epoch_ == int(np.argmax(scores))
    kept = -log_loss(y[150:], clf.predict_proba(X[150:]), labels=clf.classes_)
    assert kept == pytest.approx(scores[clf.best_epoch_], rel=1e-5)
    # Only epoch-level callbacks: the fused loop trains.
    assert _trainer.supported(clf.model_, clf.callbacks_)
    # The scorer's data are released after training: the estimator pickles.
    assert clf.callbacks_[0].score is None


def test_regressor_scorer_and_search_objective(regression_data):
    X, y = regression_data
    reg = tiny(
        DeepStackRegressor,
        max_epochs=3,
        batch_norm=False,
        scoring="neg_mean_absolute_error",
    ).fit(X[:120], y[:120], X_val=X[120:], y_val=y[120:])
    last = -mean_absolute_error(y[120:], reg.predict(X[120:]))
    assert reg.history_["val_score"][reg.best_epoch_] == pytest.approx(last, rel=1e-4)
    # The search scores its trials with the estimator's scorer by default.
    search = DeepStackSearch(
        tiny(DeepStackRegressor, max_epochs=2, scoring="neg_mean_absolute_error"),
        {"learning_rate": Float(1e-3, 1e-1, log=True)},
        tuner="random",
        max_trials=1,
        random_state=0,
    ).fit(X[:120], y[:120], X_val=X[120:], y_val=y[120:])
    best = search.best_estimator_
    expected = -mean_absolute_error(y[120:], best.predict(X[120:]))
    assert search.results_["score"][0] == pytest.approx(expected, rel=1e-4)
    assert search.score(X[120:], y[120:]) == pytest.approx(expected, rel=1e-4)


def test_scoring_is_ignored_without_validation(binary_data):
    X, y = binary_data
    clf = tiny(
        DeepStackClassifier, max_epochs=2, early_stopping=False, scoring="roc_auc"
    ).fit(X, y)
    assert "val_score" not in clf.history_
    assert not any(isinstance(cb, ValidationScore) for cb in clf.callbacks_)


def test_a_scoring_that_cannot_score_the_validation_rows_is_named(
    classification_data,
):
    X, y = classification_data  # three classes: "roc_auc" is binary
    clf = tiny(DeepStackClassifier, max_epochs=2, scoring="roc_auc")
    with pytest.raises(
        ValueError,
        match=r"scoring='roc_auc' cannot score the validation rows: multi_class",
    ):
        clf.fit(X, y)
    assert tiny(DeepStackClassifier, max_epochs=2, scoring="roc_auc_ovr").fit(X, y)


def test_a_scoring_that_is_nan_on_the_validation_rows_is_said_once(binary_data):
    # roc_auc of a validation split that holds one class: NaN every epoch,
    # which early stopping never sees improve.
    X, y = binary_data
    y = np.r_[np.zeros(18), np.ones(2), np.zeros(len(y) - 20)].astype(int)
    clf = tiny(
        DeepStackClassifier,
        max_epochs=4,
        scoring="roc_auc",
        validation_fraction=0.05,
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X[:20], y[:20])
    said = [w for w in caught if "val_score is NaN" in str(w.message)]
    assert np.isnan(clf.history_["val_score"]).all()
    assert len(said) == 1 and "at epoch 1" in str(said[0].message)
