"""Training control through the estimators' parameters."""

import pickle

import keras
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

from deepstack import DeepStackClassifier, DeepStackRegressor
from deepstack.callbacks import (
    DivergenceError,
    DivergenceGuard,
    EarlyStopping,
    LearningRateDecay,
    LearningRateHalving,
)
from tests.conftest import tiny


def _callback(estimator, cls):
    return next(cb for cb in estimator.callbacks_ if isinstance(cb, cls))


def _all_finite(model):
    return all(np.isfinite(w).all() for w in model.get_weights())


def test_early_stopping_stops_at_best_plus_patience_and_keeps_best_weights(
    regression_data,
):
    X, y = regression_data
    X_train, y_train, X_val, y_val = X[:120], y[:120], X[120:], y[120:]
    # With a huge tol only the first epoch counts as an improvement, so the
    # best epoch (0) and the stopping epoch (0 + patience) are known.
    reg = tiny(
        DeepStackRegressor,
        batch_norm=False,
        dropout=0.0,
        tol=1e9,
        n_iter_no_change=3,
        lr_schedule="constant",
        max_epochs=20,
    ).fit(X_train, y_train, X_val=X_val, y_val=y_val)
    assert reg.best_epoch_ == 0
    assert reg.n_iter_ == 0 + 3 + 1
    assert _callback(reg, EarlyStopping).stopped_epoch == 3
    # The kept weights are those of epoch 0: their validation loss is the
    # one logged at epoch 0, not the last epoch's.
    z = (reg.predict(X_val) - y_val) / reg.target_scale_[0]
    np.testing.assert_allclose(np.mean(z**2), reg.history_["val_loss"][0], rtol=1e-4)
    assert reg.history_["val_loss"][0] != pytest.approx(reg.history_["val_loss"][-1])


def test_monitor_selects_the_watched_quantity(classification_data, regression_data):
    X, y = classification_data
    clf = tiny(DeepStackClassifier, monitor="val_accuracy", max_epochs=3).fit(X, y)
    assert _callback(clf, EarlyStopping).monitor == "val_accuracy"
    assert _callback(clf, LearningRateHalving).monitor == "val_accuracy"
    assert len(clf.history_["val_accuracy"]) == clf.n_iter_

    X, y = regression_data
    reg = tiny(DeepStackRegressor, monitor="val_r2", max_epochs=3).fit(X, y)
    assert _callback(reg, EarlyStopping).monitor == "val_r2"
    assert len(reg.history_["val_r2"]) == reg.n_iter_
    best = reg.best_epoch_
    assert reg.history_["val_r2"][best] == max(reg.history_["val_r2"])
    # The R2 metric survives pickling (the model is saved in .keras format).
    assert pickle.loads(pickle.dumps(reg)).predict(X[:2]).shape == (2,)

    with pytest.raises(ValueError, match="monitor must be one of"):
        tiny(DeepStackClassifier, monitor="val_r2").fit(*classification_data)
    with pytest.raises(ValueError, match="monitor must be one of"):
        tiny(DeepStackRegressor, monitor="val_accuracy").fit(X, y)


def test_halving_stops_after_max_halvings(regression_data):
    # tol=1e9: only epoch 0 improves, so with lr_patience=1 the rate is cut
    # at the end of epochs 1 and 2, and training stops at the end of 3.
    reg = tiny(
        DeepStackRegressor,
        tol=1e9,
        lr_patience=1,
        max_halvings=2,
        min_learning_rate=1e-4,
        max_epochs=20,
    ).fit(*regression_data)
    np.testing.assert_allclose(
        reg.history_["learning_rate"], [1e-2, 1e-2, 5e-3, 2.5e-3], rtol=1e-6
    )
    assert reg.n_iter_ == 4
    halving = _callback(reg, LearningRateHalving)
    assert halving.halvings == [1, 2]
    assert halving.min_learning_rate == 1e-4
    # (Stopping below min_learning_rate is tested on the callback itself.)


def test_decay_schedule_divides_rate_by_100(regression_data):
    reg = tiny(
        DeepStackRegressor, lr_schedule="decay", early_stopping=False, max_epochs=5
    ).fit(*regression_data)
    rates = np.asarray(reg.history_["learning_rate"])
    np.testing.assert_allclose(rates, 1e-2 * 100.0 ** (-np.arange(5) / 4), rtol=1e-5)
    assert any(isinstance(cb, LearningRateDecay) for cb in reg.callbacks_)
    assert not any(isinstance(cb, LearningRateHalving) for cb in reg.callbacks_)


def test_clipnorm_reaches_the_optimizer(binary_data):
    clf = tiny(
        DeepStackClassifier, optimizer="sgd", nesterov=True, clipnorm=0.5, max_epochs=1
    ).fit(*binary_data)
    optimizer = clf.model_.optimizer
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.clipnorm == pytest.approx(0.5)
    assert optimizer.nesterov and optimizer.momentum == pytest.approx(0.9)


def test_huge_learning_rate_raises_with_remedy_and_undoes_the_fit(regression_data):
    X, y = regression_data
    reg = tiny(DeepStackRegressor, optimizer="sgd", learning_rate=1e3, max_epochs=20)
    with pytest.raises(
        DivergenceError,
        match=r"learning rate 1000 is probably too large; try 100 or "
        r"learning_rate='auto'.*as it was before the call; on_divergence='warn'",
    ):
        reg.fit(X, y)
    # A fresh estimator stays unfitted: its network was never trained.
    assert not hasattr(reg, "model_") and not hasattr(reg, "n_iter_")
    with pytest.raises(NotFittedError):
        reg.predict(X)


def test_a_diverging_warm_start_leaves_the_fitted_estimator_as_it_was(
    regression_data,
):
    X, y = regression_data
    reg = tiny(DeepStackRegressor, optimizer="sgd", max_epochs=3).fit(X, y)
    before = reg.predict(X)
    weights = [w.copy() for w in reg.model_.get_weights()]
    n_iter, history = reg.n_iter_, {k: list(v) for k, v in reg.history_.items()}
    reg.set_params(warm_start=True, learning_rate=1e3, max_epochs=20)
    with pytest.raises(DivergenceError, match="probably too large"):
        reg.fit(X, y)
    assert reg.n_iter_ == n_iter and reg.history_ == history
    for kept, saved in zip(reg.model_.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(kept, saved)
    np.testing.assert_array_equal(reg.predict(X), before)


def test_on_divergence_warn_returns_a_finite_model(regression_data):
    X, y = regression_data
    reg = tiny(
        DeepStackRegressor,
        optimizer="sgd",
        learning_rate=1e3,
        on_divergence="warn",
        early_stopping=False,
        max_epochs=20,
    )
    with pytest.warns(RuntimeWarning, match="probably too large"):
        reg.fit(X, y)
    assert _all_finite(reg.model_)
    assert np.isfinite(reg.predict(X)).all()
    # best_epoch_ names the epoch whose weights the guard put back.
    guard = _callback(reg, DivergenceGuard)
    assert guard.diverged_epoch == reg.n_iter_ - 1
    restored = guard.restored_epoch
    assert reg.best_epoch_ == (restored if restored >= 0 else None)


@pytest.mark.parametrize("refit_on_all", [False, True])
def test_a_first_epoch_that_diverges_keeps_the_initial_weights(
    binary_data, refit_on_all
):
    # With early stopping, the exploded first epoch was its best: its weights
    # came back at the end although the warning said they were restored.
    X, y = binary_data

    class Initial(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = [w.copy() for w in self.model.get_weights()]

    clf = tiny(
        DeepStackClassifier,
        learning_rate=1e4,
        on_divergence="warn",
        max_epochs=5,
        batch_norm=False,  # (whose statistics are recomputed at the end)
        refit_on_all=refit_on_all,
        callbacks=[Initial()],
    )
    with pytest.warns(RuntimeWarning, match="diverged at epoch 1"):
        clf.fit(X, y)
    assert clf.best_epoch_ is None and clf.n_iter_ == 1
    (initial,) = [cb for cb in clf.callbacks_ if isinstance(cb, Initial)]
    for kept, start in zip(clf.model_.get_weights(), initial.start):
        np.testing.assert_array_equal(kept, start)
    # No refit from a run that kept no epoch.
    assert clf.refit_on_all_ is False


def test_history_keeps_one_entry_an_epoch_across_partial_fit_and_warm_start(
    binary_data,
):
    X, y = binary_data
    clf = tiny(DeepStackClassifier, max_epochs=3, warm_start=True).fit(X, y)
    first = {k: list(v) for k, v in clf.history_.items()}
    clf.partial_fit(X, y)  # no validation: val_* NaN for its epoch
    clf.fit(X, y)
    lengths = {key: len(values) for key, values in clf.history_.items()}
    assert set(lengths.values()) == {clf.n_iter_}
    n = len(first["loss"])
    assert clf.history_["val_loss"][:n] == first["val_loss"]
    assert np.isnan(clf.history_["val_loss"][n])
    assert np.isfinite(clf.history_["val_loss"][n + 1 :]).all()
    assert np.isfinite(clf.history_["val_loss"][clf.best_epoch_])


def test_partial_fit_is_guarded_too(regression_data):
    X, y = regression_data
    reg = tiny(DeepStackRegressor, optimizer="sgd", learning_rate=1e3)
    with pytest.raises(DivergenceError, match="probably too large"):
        reg.partial_fit(X, y)
    assert not hasattr(reg, "model_")  # undone: no first epoch was kept


def test_population_statistics_after_fit(classification_data):
    X, y = classification_data

    def first_bn_input_and_layer(clf):
        model = clf.model_
        sub = keras.Model(model.inputs[0], model.get_layer("hidden_1").output)
        z = keras.ops.convert_to_numpy(sub(X, training=False))
        return z.astype(np.float64), model.get_layer("batch_norm_1")

    params = dict(early_stopping=False, dropout=0.0, max_epochs=2)
    clf = tiny(DeepStackClassifier, **params).fit(X, y)
    z, bn = first_bn_input_and_layer(clf)
    mean = keras.ops.convert_to_numpy(bn.moving_mean)
    np.testing.assert_allclose(mean, z.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_variance), z.var(axis=0), rtol=1e-3
    )

    moving = tiny(DeepStackClassifier, batch_norm_statistics="moving", **params).fit(
        X, y
    )
    z, bn = first_bn_input_and_layer(moving)
    # Keras's moving averages (momentum 0.99) are still near their start.
    assert not np.allclose(keras.ops.convert_to_numpy(bn.moving_mean), z.mean(axis=0))


def test_grid_search_tunes_a_callback_parameter(binary_data):
    X, y = binary_data
    one_split = [(np.arange(120), np.arange(120, len(y)))]
    search = GridSearchCV(
        tiny(DeepStackClassifier, max_epochs=2),
        {"lr_patience": [1, 3], "max_halvings": [2]},
        cv=one_split,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    halving = _callback(search.best_estimator_, LearningRateHalving)
    assert halving.patience == search.best_params_["lr_patience"]
    assert halving.max_halvings == 2


def test_divergence_after_the_finder_advises_a_smaller_fixed_rate(
    regression_data, monkeypatch
):
    # learning_rate="auto" chose the rate: advising "auto" again is no help.
    from types import SimpleNamespace

    from deepstack import _lr_finder

    monkeypatch.setattr(
        _lr_finder,
        "search_learning_rate",
        lambda *args, **kwargs: SimpleNamespace(learning_rate=1e3),
    )
    X, y = regression_data
    reg = tiny(DeepStackRegressor, optimizer="sgd", learning_rate="auto", max_epochs=20)
    with pytest.raises(DivergenceError) as caught:
        reg.fit(X, y)
    message = str(caught.value)
    assert "the rate that learning_rate='auto' chose (1000)" in message
    assert "set a smaller learning_rate (e.g. 100) or clipnorm" in message
    assert "or learning_rate='auto'" not in message
    assert not hasattr(reg, "model_")  # the fit was undone
