"""The reuse of compiled networks across fits (deepstack._compile_cache).

Runs on TensorFlow here and again on JAX (tests/test_backends.py).
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_val_score

from deepstack import (
    DeepStackClassifier,
    DeepStackRegressor,
    _compile_cache,
    _trainer,
    compile_cache,
)
from tests.conftest import tiny


@pytest.fixture(autouse=True)
def empty_cache():
    _compile_cache.clear()
    yield
    _compile_cache.clear()


def _weights(estimator):
    return estimator.model_.get_weights()


def _same_fit(a, b):
    assert np.array_equal(a.predict_proba(a._X), b.predict_proba(a._X))
    wa, wb = _weights(a), _weights(b)
    assert len(wa) == len(wb)
    assert all(np.array_equal(u, v) for u, v in zip(wa, wb))
    assert a.history_ == b.history_


def _fit(X, y, **params):
    estimator = tiny(DeepStackClassifier, **params).fit(X, y)
    estimator._X = X
    return estimator


@pytest.mark.parametrize(
    "params",
    [
        {},
        # Batch-norm statistics, dropout generators, no input standardization,
        # learning-rate halving (the rate is a variable of the compiled step).
        {"batch_norm": True, "standardize": False, "lr_patience": 1, "tol": 0.5},
        {"optimizer": "sgd", "scoring": "accuracy", "l2": 1e-3},
        # Other dropout rates (variables of the compiled step too) on the
        # second fit: a hit, with that fit's rates.
        {"input_dropout": 0.1, "other": {"dropout": 0.45, "input_dropout": 0.3}},
    ],
)
def test_cached_fit_is_bit_identical_to_an_uncached_one(classification_data, params):
    X, y = classification_data
    X2, y2 = X[::-1] * 2.0 + 1.0, y[::-1]
    params = dict(params)
    other = {**params, "learning_rate": 3e-3, **params.pop("other", {})}
    other.pop("other", None)
    with compile_cache(enabled=False):
        first = _fit(X, y, random_state=0, **params)
        second = _fit(X2, y2, random_state=3, **other)
        assert _compile_cache.info()["size"] == 0
    before = _compile_cache.info()
    # A miss on other data, seed and rate, then hits that must forget them.
    _fit(X2[:150], y2[:150], random_state=7, **params)
    first_cached = _fit(X, y, random_state=0, **params)
    second_cached = _fit(X2, y2, random_state=3, **other)
    after = _compile_cache.info()
    assert after["misses"] - before["misses"] == 1
    assert after["hits"] - before["hits"] == 2
    _same_fit(first, first_cached)
    _same_fit(second, second_cached)
    if "lr_patience" in params:
        assert len(set(first.history_["learning_rate"])) > 1  # it was halved


def test_one_trace_across_the_folds_of_a_cross_validation(classification_data):
    X, y = classification_data
    X, y = X[:150], y[:150]
    folds = KFold(3)  # folds of equal size: JAX does not retrace either
    estimator = tiny(DeepStackClassifier, max_epochs=2)
    traces, before = _trainer.trace_count(), _compile_cache.info()
    cached = cross_val_score(estimator, X, y, cv=folds)
    assert _trainer.trace_count() - traces == 1
    after = _compile_cache.info()
    assert (after["misses"] - before["misses"], after["hits"] - before["hits"]) == (
        1,
        2,
    )
    # Another architecture misses and traces again.
    traces = _trainer.trace_count()
    cross_val_score(clone(estimator).set_params(hidden_layer_sizes=(8,)), X, y, cv=3)
    assert _trainer.trace_count() - traces == 1
    assert _compile_cache.info()["misses"] - after["misses"] == 1
    # Without the cache, every fold traces its own, with the same scores.
    traces = _trainer.trace_count()
    with compile_cache(enabled=False):
        uncached = cross_val_score(estimator, X, y, cv=folds)
    assert _trainer.trace_count() - traces == 3
    assert np.array_equal(cached, uncached)


def test_fitted_estimators_do_not_share_a_model(binary_data):
    X, y = binary_data
    a = _fit(X, y, random_state=0)
    kept = _weights(a)
    b = _fit(X[:100], y[:100], random_state=1)
    assert a.model_ is not b.model_
    assert all(np.array_equal(u, v) for u, v in zip(kept, _weights(a)))
    # The estimator's own model holds the trained weights and optimizer
    # state: a warm start continues from them, and pickling keeps them.
    restored = pickle.loads(pickle.dumps(a))
    assert np.array_equal(restored.predict_proba(X), a.predict_proba(X))
    assert int(a.model_.optimizer.iterations.numpy()) > 0
    assert all(cb.model is a.model_ for cb in a.callbacks_)


def test_warm_start_and_partial_fit_match_the_uncached_run(regression_data):
    X, y = regression_data
    runs = []
    for enabled in (False, True):
        with compile_cache(enabled=enabled):
            warm = tiny(DeepStackRegressor, warm_start=True, max_epochs=3)
            warm.fit(X, y).fit(X, y)
            partial = tiny(DeepStackRegressor)
            for _ in range(3):
                partial.partial_fit(X, y)
            runs.append((warm.predict(X), partial.predict(X)))
    assert all(np.array_equal(u, v) for u, v in zip(*runs))


def test_the_cache_is_bounded_and_can_be_turned_off(binary_data):
    X, y = binary_data
    with compile_cache(maxsize=2):
        for width in (2, 3, 4, 5):
            _fit(X, y, hidden_layer_sizes=(width,), max_epochs=1)
        assert _compile_cache.info()["size"] == 2
    assert _compile_cache.info()["size"] == 2  # kept after the block
    with compile_cache(maxsize=1):
        assert _compile_cache.info()["size"] == 1
    assert _compile_cache.info()["size"] == 1
    assert _compile_cache.info()["maxsize"] == _compile_cache.MAXSIZE
    with compile_cache(enabled=False):
        misses = _compile_cache.info()["misses"]
        _fit(X, y, max_epochs=1)
        assert _compile_cache.info()["misses"] == misses
    with pytest.raises(ValueError, match="maxsize"):
        with compile_cache(maxsize=-1):
            pass
    # Enabled again inside a disabled block: the default size, not 0.
    with compile_cache(enabled=False), compile_cache(enabled=True):
        assert _compile_cache.info()["maxsize"] == _compile_cache.MAXSIZE


def test_the_cache_holds_a_bounded_number_of_bytes(binary_data, monkeypatch):
    """Workers beyond MAX_BYTES of variables are dropped, least recently used
    first; the most recent one stays, however large."""
    X, y = binary_data
    _fit(X, y, hidden_layer_sizes=(4,), max_epochs=1)
    ((first,),) = [list(_compile_cache._entries.values())]
    # Weights, batch norm, optimizer state: 8 features x 4 units and more,
    # 4 bytes each.
    n_weights = sum(int(np.prod(w.shape)) for w in first.model.weights)
    assert first.nbytes > 4 * n_weights
    monkeypatch.setattr(_compile_cache, "MAX_BYTES", 2 * first.nbytes + 1)
    _fit(X, y, hidden_layer_sizes=(4,), learning_rate=0.02, max_epochs=1)
    assert _compile_cache.info()["size"] == 1  # (a hit: the same worker)
    _fit(X, y, hidden_layer_sizes=(3,), max_epochs=1)
    assert _widths() == [4, 3]  # (smaller: both within the bound)
    _fit(X, y, hidden_layer_sizes=(9,), max_epochs=1)
    assert _widths() == [9]  # (with it the bound is passed: the older go)
    monkeypatch.setattr(_compile_cache, "MAX_BYTES", 1)
    _fit(X, y, hidden_layer_sizes=(6,), max_epochs=1)
    assert _widths() == [6]


def _widths():
    """The first hidden layer's width of each cached worker, oldest first."""
    return [
        entry.model.get_layer("hidden_1").units
        for entry in _compile_cache._entries.values()
    ]


def test_pretrained_and_frozen_networks_match_the_uncached_run(binary_data):
    X, y = binary_data
    params = {"pretrain": "autoencoder", "pretrain_epochs": 1, "max_epochs": 2}
    with compile_cache(enabled=False):
        uncached = [_fit(X, y, finetune=f, **params) for f in ("all", "head")]
    misses = _compile_cache.info()["misses"]
    cached = [_fit(X, y, finetune=f, **params) for f in ("all", "head")]
    # The autoencoders train outside the estimator's seam; the frozen
    # network is another configuration.
    assert _compile_cache.info()["misses"] - misses == 2
    for a, b in zip(uncached, cached):
        _same_fit(a, b)
