"""``find_learning_rate``: the learning-rate finder on a deepstack estimator."""

from numbers import Integral, Real

from sklearn.base import clone
from sklearn.pipeline import Pipeline

from deepstack import _lr_finder
from deepstack.estimators._base import BaseDeepStack
from deepstack.estimators._preparation import prepare_training


def find_learning_rate(
    estimator,
    X,
    y,
    sample_weight=None,
    *,
    start=1.0,
    factor=0.5,
    min_learning_rate=1e-6,
    epochs=2,
    max_samples=1024,
    safety=0.5,
    n_extra=2,
):
    """Largest learning rate that does not diverge on a short run, and the curve.

    The estimator is cloned (it is not fitted nor changed); its network,
    optimizer, batch size and loss are used as they would be in ``fit``.

    Parameters
    ----------
    estimator : DeepStackClassifier or DeepStackRegressor
        The (unfitted) estimator whose training to probe.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), default=None
    start : float, default=1.0
        First (largest) rate tried.
    factor : float in (0, 1), default=0.5
        Multiplier between consecutive rates.
    min_learning_rate : float, default=1e-6
        Smallest rate tried.
    epochs : int, default=2
        Length of each short run.
    max_samples : int, default=1024
        Size of the random subset the runs train on.
    safety : float in (0, 1], default=0.5
        The chosen rate is ``safety`` times the largest stable one: a short
        run on a subset is more forgiving than a long one.
    n_extra : int, default=2
        Rates tried below the first stable one, for the curve.

    Returns
    -------
    result : LearningRateFinderResult

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from deepstack import DeepStackClassifier, find_learning_rate
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = DeepStackClassifier((8,), optimizer="sgd", random_state=0)
    >>> result = find_learning_rate(clf, X, y, n_extra=0)
    >>> 0 < result.learning_rate <= 0.5
    True
    """
    _check_settings(
        start=start,
        factor=factor,
        min_learning_rate=min_learning_rate,
        epochs=epochs,
        max_samples=max_samples,
        safety=safety,
        n_extra=n_extra,
    )
    if not isinstance(estimator, BaseDeepStack):
        # (A Pipeline's network trains on what its earlier steps make of X.)
        how = (
            " Probe its last step on the data its other steps make: "
            "find_learning_rate(pipe[-1], pipe[:-1].fit_transform(X, y), y)."
            if isinstance(estimator, Pipeline)
            else ""
        )
        raise TypeError(
            "find_learning_rate probes a DeepStackClassifier or "
            f"DeepStackRegressor; got {type(estimator).__name__}.{how}"
        )
    est = clone(estimator)
    # The batch of fit: sized from the rows fit trains on (after its
    # validation split), not from the sample the search runs on.
    n_train = prepare_training(est, X, y, sample_weight, build=False).train[0].shape[0]
    run = prepare_training(
        est, X, y, sample_weight, split=False, max_samples=max_samples
    )
    X, y_enc, weights = run.train
    return _lr_finder.search_learning_rate(
        run.model,
        X,
        y_enc,
        weights,
        batch_size=min(est._batch_size(n_train), X.shape[0]),
        start=start,
        factor=factor,
        min_learning_rate=min_learning_rate,
        epochs=epochs,
        safety=safety,
        n_extra=n_extra,
        seed=run.seed,
    )


def _check_settings(**settings):
    """Raise ``ValueError`` naming a setting of the finder out of its range."""
    ranges = {
        "start": (Real, 0, None, "a number > 0"),
        "min_learning_rate": (Real, 0, None, "a number > 0"),
        "factor": (Real, 0, 1, "a number in (0, 1)"),
        "safety": (Real, 0, 1, "a number in (0, 1]"),
        "epochs": (Integral, 0, None, "an integer >= 1"),
        "max_samples": (Integral, 0, None, "an integer >= 1"),
        "n_extra": (Integral, -1, None, "an integer >= 0"),
    }
    for name, value in settings.items():
        kind, low, high, shown = ranges[name]
        inside = (
            isinstance(value, kind)
            and not isinstance(value, bool)
            and value > low
            and (high is None or value < high or (name == "safety" and value == 1))
        )
        if not inside:
            raise ValueError(
                f"find_learning_rate's {name} must be {shown}; got {value!r}."
            )
