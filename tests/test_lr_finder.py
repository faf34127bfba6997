"""The learning-rate finder on a quadratic problem whose stability limit is known."""

import re

import numpy as np
import pytest

from deepstack import DeepStackRegressor, find_learning_rate


def _quadratic_problem(threshold=0.35, n=64, seed=0):
    """Linear least squares whose largest stable gradient-descent rate is known.

    The loss mean((A theta - y) ** 2), A = [X, 1], has the Hessian
    H = 2 / n A^T A; gradient descent converges iff rate < 2 / lambda_max(H).
    X is scaled so that this limit is ``threshold``, half-way (on a log scale)
    between two of the finder's rates, 0.25 and 0.5.
    """
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 0.5, 0.2]
    X -= X.mean(axis=0)
    A = np.column_stack([X, np.ones(n)])
    lam = np.linalg.eigvalsh(2.0 / n * A.T @ A).max()
    X *= np.sqrt((2.0 / threshold) / lam)
    A = np.column_stack([X, np.ones(n)])
    limit = 2.0 / np.linalg.eigvalsh(2.0 / n * A.T @ A).max()
    y = X @ [1.0, -2.0, 0.5] + 0.3 + 0.1 * rng.normal(size=n)
    return X.astype(np.float32), y, limit


def _linear_sgd(**params):
    # A linear model trained by plain full-batch gradient descent on the MSE.
    return DeepStackRegressor(
        (),
        optimizer="sgd",
        momentum=0.0,
        input_dropout=0.0,  # plain least squares: no noise, no weight decay
        l2=0.0,
        standardize=False,
        batch_size=1000,
        early_stopping=False,
        random_state=0,
        **params,
    )


def test_finder_returns_rate_under_the_divergence_threshold():
    X, y, limit = _quadratic_problem()
    assert limit == pytest.approx(0.35)
    result = find_learning_rate(_linear_sgd(), X, y, epochs=20, n_extra=1)

    # Rates halve from 1.0: 1, 0.5 diverge (above the limit), 0.25 is stable.
    np.testing.assert_allclose(result.learning_rates, [1.0, 0.5, 0.25, 0.125])
    np.testing.assert_array_equal(result.diverged, [True, True, False, False])
    assert result.max_stable_rate < limit < 2 * result.max_stable_rate
    assert result.learning_rate == pytest.approx(0.5 * result.max_stable_rate)
    assert np.isfinite(result.initial_loss)
    assert np.all(result.losses[~result.diverged] < result.initial_loss)
    assert len(result.losses) == len(result.learning_rates)


def test_finder_tracks_the_threshold_when_it_moves():
    X, y, limit = _quadratic_problem(threshold=0.09)
    result = find_learning_rate(_linear_sgd(), X, y, epochs=20, n_extra=0)
    assert result.max_stable_rate < limit < 2 * result.max_stable_rate
    assert result.max_stable_rate == pytest.approx(0.0625)
    assert not result.diverged[-1] and result.diverged[:-1].all()


def test_auto_learning_rate_trains_under_the_threshold():
    X, y, limit = _quadratic_problem()
    reg = _linear_sgd(learning_rate="auto", max_epochs=30, lr_schedule="constant")
    reg.fit(X, y)
    assert 0 < reg.learning_rate_ < limit
    assert reg.history_["learning_rate"][0] == pytest.approx(reg.learning_rate_)
    assert reg.history_["loss"][-1] < 0.1 * reg.history_["loss"][0]
    assert reg.score(X, y) > 0.95
    # The parameter keeps its value; only the fitted attribute holds the rate.
    assert reg.get_params()["learning_rate"] == "auto"


def test_finder_trains_through_the_library_training_path(monkeypatch):
    import keras

    from deepstack import _trainer

    calls = []
    original = _trainer.train

    def counting(*args, **kwargs):
        calls.append(kwargs["epochs"])
        return original(*args, **kwargs)

    def no_fit(*args, **kwargs):
        raise AssertionError("the finder called keras.Model.fit")

    monkeypatch.setattr(_trainer, "train", counting)
    monkeypatch.setattr(keras.Model, "fit", no_fit)
    X, y, _ = _quadratic_problem()
    result = find_learning_rate(_linear_sgd(), X, y, epochs=20, n_extra=1)
    # One short run of ``epochs`` epochs per rate tried.
    assert calls == [20] * len(result.learning_rates)
    assert result.max_stable_rate == pytest.approx(0.25)


def test_the_finder_probes_at_the_batch_size_fit_uses(monkeypatch):
    # batch_size="auto" follows the training rows (here 5,400 after the
    # validation split: a batch of 54), not the 1,024 the finder samples.
    from deepstack import DeepStackClassifier, _lr_finder

    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    batches = []
    search = _lr_finder.search_learning_rate

    def spy(*args, **kwargs):
        batches.append(kwargs["batch_size"])
        return search(*args, **kwargs)

    monkeypatch.setattr(_lr_finder, "search_learning_rate", spy)
    params = dict(hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
    find_learning_rate(DeepStackClassifier(**params), X, y, n_extra=0)
    DeepStackClassifier(**params, learning_rate="auto").fit(X, y)
    assert batches[0] == batches[1] == DeepStackClassifier()._batch_size(5400)
    assert batches[0] > 32


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("max_samples", 0, "max_samples must be an integer >= 1; got 0"),
        ("epochs", 0, "epochs must be an integer >= 1; got 0"),
        ("factor", 1.0, "factor must be a number in (0, 1); got 1.0"),
        ("safety", 0.0, "safety must be a number in (0, 1]; got 0.0"),
        ("n_extra", -1, "n_extra must be an integer >= 0; got -1"),
        ("start", True, "start must be a number > 0; got True"),
    ],
)
def test_finder_settings_out_of_range_are_named(setting, value, message):
    X, y = _quadratic_problem()[:2]
    with pytest.raises(ValueError, match=re.escape(message)):
        find_learning_rate(DeepStackRegressor((4,)), X, y, **{setting: value})


def test_the_finder_names_an_estimator_it_cannot_probe():
    # A Pipeline or scikit-learn's MLP failed on a private method of ours
    # ("'Pipeline' object has no attribute '_prepare'").
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _quadratic_problem()[:2]
    pipe = make_pipeline(StandardScaler(), DeepStackRegressor((4,)))
    with pytest.raises(TypeError, match=r"got Pipeline\. .*pipe\[:-1\]"):
        find_learning_rate(pipe, X, y)
    with pytest.raises(TypeError, match="DeepStackRegressor; got MLPRegressor"):
        find_learning_rate(MLPRegressor(), X, y)
