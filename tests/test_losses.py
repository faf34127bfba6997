"""The ``loss`` parameter: each loss against a hand computation, and the
validation loss of a fit against the loss of its own predictions."""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from deepstack import DeepStackClassifier, DeepStackRegressor
from deepstack._losses import SparseFocalCrossentropy
from tests.conftest import tiny

# No dropout, batch norm or weight decay: the logged validation loss is then
# exactly the loss of the predictions of the kept weights.
_PLAIN = dict(dropout=0.0, batch_norm=False, l2=0.0, max_epochs=4)


def test_sparse_focal_loss_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], dtype="float32")
    y = np.array([0, 2])
    expected = -(0.3**2 * np.log(0.7) + 0.7**2 * np.log(0.3)) / 2
    loss = float(SparseFocalCrossentropy(gamma=2.0)(y, p))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert loss == pytest.approx(0.311024, abs=1e-6)
    # gamma=0 is the cross-entropy.
    ce = float(SparseFocalCrossentropy(gamma=0.0)(y, p))
    assert ce == pytest.approx(-(np.log(0.7) + np.log(0.3)) / 2, rel=1e-5)


def _validation_rows(X, y):
    return X[:40], y[:40], X[40:], y[40:]


def _best_val_loss(est):
    return est.history_["val_loss"][est.best_epoch_]


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_classifier_focal_validation_loss_matches_its_predictions(
    classification_data, gamma
):
    X, y = classification_data
    Xv, yv, Xt, yt = _validation_rows(X, y)
    clf = tiny(DeepStackClassifier, loss="focal", focal_gamma=gamma, **_PLAIN)
    clf.fit(Xt, yt, X_val=Xv, y_val=yv)
    p = clf.predict_proba(Xv)[np.arange(len(yv)), np.searchsorted(clf.classes_, yv)]
    expected = np.mean(-((1 - p) ** gamma) * np.log(p))
    assert _best_val_loss(clf) == pytest.approx(expected, rel=1e-4)


def test_binary_focal_validation_loss_matches_its_predictions(binary_data):
    X, y = binary_data
    Xv, yv, Xt, yt = _validation_rows(X, y)
    clf = tiny(DeepStackClassifier, loss="focal", focal_gamma=2.0, **_PLAIN)
    clf.fit(Xt, yt, X_val=Xv, y_val=yv)
    p = clf.predict_proba(Xv)[np.arange(len(yv)), yv]
    assert _best_val_loss(clf) == pytest.approx(
        np.mean(-((1 - p) ** 2) * np.log(p)), rel=1e-4
    )


def _huber(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


@pytest.mark.parametrize(
    "loss, per_sample",
    [
        ("squared_error", lambda r: r**2),
        ("absolute_error", np.abs),
        ("huber", lambda r: _huber(r, 0.5)),
    ],
)
def test_regressor_validation_loss_matches_its_predictions(
    regression_data, loss, per_sample
):
    X, y = regression_data
    Xv, yv, Xt, yt = _validation_rows(X, y)
    reg = tiny(DeepStackRegressor, loss=loss, huber_delta=0.5, **_PLAIN)
    reg.fit(Xt, yt, X_val=Xv, y_val=yv)
    # The losses see standardized targets.
    residual = (yv - reg.predict(Xv)) / reg.target_scale_[0]
    assert _best_val_loss(reg) == pytest.approx(np.mean(per_sample(residual)), rel=1e-4)


def test_huber_by_hand():
    # delta=1: 0.5 * 0.5**2 = 0.125 and 1 * (3 - 0.5) = 2.5.
    assert _huber(np.array([0.5, -3.0]), 1.0).tolist() == [0.125, 2.5]
    from deepstack._losses import regressor_loss

    _, huber = regressor_loss("huber", huber_delta=1.0)
    y_true = np.array([[0.0], [0.0]], dtype="float32")
    y_pred = np.array([[0.5], [-3.0]], dtype="float32")
    assert float(huber(y_true, y_pred)) == pytest.approx((0.125 + 2.5) / 2)


def test_poisson_regressor(regression_data):
    X, _ = regression_data
    rng = np.random.RandomState(0)
    y = rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)
    Xv, yv, Xt, yt = _validation_rows(X, y)
    reg = tiny(DeepStackRegressor, loss="poisson", **_PLAIN)
    reg.fit(Xt, yt, X_val=Xv, y_val=yv)
    assert reg.target_mean_.tolist() == [0.0]
    assert reg.target_scale_[0] == pytest.approx(yt.mean())
    mu = reg.predict(Xv)
    assert np.all(mu > 0)
    # Keras's Poisson loss on the scaled targets: mean(mu - y * log(mu)).
    s = reg.target_scale_[0]
    expected = np.mean(mu / s - yv / s * np.log(mu / s + 1e-7))
    assert _best_val_loss(reg) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="loss='poisson' needs non-negative"):
        tiny(DeepStackRegressor, loss="poisson").fit(Xt, yt - 1)


def test_losses_belong_to_their_estimator(classification_data, regression_data):
    X, y = classification_data
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        tiny(DeepStackClassifier, loss="huber").fit(X, y)
    X, y = regression_data
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        tiny(DeepStackRegressor, loss="focal").fit(X, y)


def test_auto_is_the_usual_loss(classification_data, regression_data):
    X, y = classification_data
    auto = tiny(DeepStackClassifier, max_epochs=2).fit(X, y)
    log_loss = tiny(DeepStackClassifier, max_epochs=2, loss="log_loss").fit(X, y)
    np.testing.assert_array_equal(auto.predict_proba(X), log_loss.predict_proba(X))
    X, y = regression_data
    auto = tiny(DeepStackRegressor, max_epochs=2).fit(X, y)
    mse = tiny(DeepStackRegressor, max_epochs=2, loss="squared_error").fit(X, y)
    np.testing.assert_array_equal(auto.predict(X), mse.predict(X))


@pytest.mark.parametrize(
    "estimator, loss", [(DeepStackClassifier, "focal"), (DeepStackRegressor, "huber")]
)
def test_safe_save_load_keeps_the_loss(tmp_path, classification_data, estimator, loss):
    import pickle

    from deepstack import load, save

    X, y = classification_data
    est = tiny(estimator, loss=loss, focal_gamma=1.5, huber_delta=0.5, max_epochs=2)
    est.fit(X, y)
    save(est, tmp_path / "model")
    for copy in (load(tmp_path / "model"), pickle.loads(pickle.dumps(est))):
        assert copy.get_params() == est.get_params()
        np.testing.assert_array_equal(copy.predict(X), est.predict(X))
        # The compiled loss came back with its parameter: partial_fit goes on.
        config = copy.model_.loss.get_config()
        assert config.get("gamma", config.get("delta")) in (1.5, 0.5)
        copy.partial_fit(X, y)
