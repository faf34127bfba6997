"""Find a learning rate that does not diverge: start large and halve.

The search trains the same initial network for a short run on a subset of
the data at ``start``, ``start * factor``, ... and keeps the largest rate
after whose run the loss is finite and below the loss of the untrained
network. That rate is at the edge of stability (on a quadratic it lies
within a factor ``1 / factor`` of the largest stable rate, ``2 / lambda_max``
for gradient descent), so the rate handed to training is ``safety`` times it.
"""

import math
import warnings
from dataclasses import dataclass

import keras
import numpy as np
from sklearn.base import clone

from deepstack import _network
from deepstack.callbacks import set_population_statistics
from deepstack.callbacks._batch_norm import batch_norm_layers
from deepstack.callbacks._monitor import set_learning_rate
from deepstack.callbacks._validation import inference_loss


@dataclass(frozen=True)
class LearningRateFinderResult:
    """What :func:`find_learning_rate` tried and what it chose.

    Attributes
    ----------
    learning_rate : float
        The rate to train with: ``safety * max_stable_rate``.
    max_stable_rate : float
        The largest rate tried whose short run did not diverge.
    learning_rates : ndarray of shape (n_tried,)
        The rates tried, from the largest down.
    losses : ndarray of shape (n_tried,)
        Loss on the subset after the short run at each rate (``inf`` when
        it became NaN or infinite); plot it against ``learning_rates`` on a
        log axis.
    diverged : ndarray of shape (n_tried,) of bool
        Whether each run diverged (loss not finite or not below
        ``initial_loss``).
    initial_loss : float
        Loss of the untrained network on the subset.
    """

    learning_rate: float
    max_stable_rate: float
    learning_rates: np.ndarray
    losses: np.ndarray
    diverged: np.ndarray
    initial_loss: float


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
    est = clone(estimator)
    est._check_params()
    X, y = est._validate_training_data(X, y, reset=True)
    y_enc = est._encode_target(y, reset=True)
    weights = est._sample_weights(X, y_enc, sample_weight)
    seed = est._seed()
    X, y_enc, weights = subset(X, y_enc, weights, max_samples, seed)
    model = est._build_model(X, seed)
    return search_learning_rate(
        model,
        X,
        y_enc,
        weights,
        batch_size=min(est.batch_size, X.shape[0]),
        start=start,
        factor=factor,
        min_learning_rate=min_learning_rate,
        epochs=epochs,
        safety=safety,
        n_extra=n_extra,
        seed=seed,
    )


def subset(X, y, sample_weight, max_samples, seed):
    """At most ``max_samples`` rows drawn at random (all rows, in order, if fewer)."""
    n = X.shape[0]
    if n <= max_samples:
        return X, y, sample_weight
    rows = np.sort(np.random.RandomState(seed).choice(n, max_samples, replace=False))
    weights = None if sample_weight is None else sample_weight[rows]
    return X[rows], y[rows], weights


def search_learning_rate(
    model,
    X,
    y,
    sample_weight=None,
    *,
    batch_size=32,
    start=1.0,
    factor=0.5,
    min_learning_rate=1e-6,
    epochs=2,
    safety=0.5,
    n_extra=0,
    seed=0,
):
    """Run the search on a compiled Keras model; see :func:`find_learning_rate`.

    ``X`` is the (small) subset to probe on. Every rate trains on the same
    sequence of mini-batches: ``epochs`` seeded permutations of ``X`` run as
    one call to ``fit``. The loss is then computed on ``X`` in inference mode,
    after setting batch-normalization layers to their population statistics
    (moving averages after a short run would say little). The model's weights
    and optimizer state are put back as they were when the search ends (its
    learning rate is left at the chosen rate), so the caller can train it
    from the same start. When no rate down to ``min_learning_rate`` reduces
    the loss, a warning is emitted and the smallest rate tried is returned.
    """
    if not 0.0 < factor < 1.0:
        raise ValueError(f"factor must be in (0, 1); got {factor!r}.")
    if not 0.0 < safety <= 1.0:
        raise ValueError(f"safety must be in (0, 1]; got {safety!r}.")
    if not start >= min_learning_rate > 0.0:
        raise ValueError(
            "start and min_learning_rate must satisfy start >= min_learning_rate "
            f"> 0; got start={start!r}, min_learning_rate={min_learning_rate!r}."
        )
    optimizer = model.optimizer
    _network.build_optimizer(model)
    initial_weights = model.get_weights()
    initial_state = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]

    def restore():
        model.set_weights(initial_weights)
        for variable, value in zip(optimizer.variables, initial_state):
            variable.assign(value)

    def loss_on_subset():
        if batch_norm_layers(model):
            set_population_statistics(model, X)
        loss = inference_loss(model, X, y, sample_weight)
        return loss if math.isfinite(loss) else math.inf

    # One fit call over the repeated data: Keras's per-epoch overhead
    # would otherwise dominate such short runs.
    rng = np.random.RandomState(seed)
    order = np.concatenate([rng.permutation(X.shape[0]) for _ in range(epochs)])
    X_run, y_run = X[order], y[order]
    w_run = None if sample_weight is None else sample_weight[order]

    initial_loss = loss_on_subset()
    rates, losses, diverged = [], [], []
    stable, extra = None, 0
    rate = float(start)
    while rate >= min_learning_rate * (1 - 1e-9):
        restore()
        set_learning_rate(model, rate)
        history = model.fit(
            X_run,
            y_run,
            sample_weight=w_run,
            batch_size=batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
        ).history
        if all(math.isfinite(v) for v in history.get("loss", [math.nan])):
            loss = loss_on_subset()
        else:
            loss = math.inf
        rates.append(rate)
        losses.append(loss)
        diverged.append(not loss < initial_loss)
        if stable is None and not diverged[-1]:
            stable = rate
        elif stable is not None:
            extra += 1
        if stable is not None and extra >= n_extra:
            break
        rate *= factor
    restore()
    if stable is None:
        warnings.warn(
            f"No learning rate from {start:g} down to {min_learning_rate:g} "
            f"reduced the training loss ({initial_loss:.4g}) within {epochs} "
            "epochs; using the smallest.",
            RuntimeWarning,
            stacklevel=2,
        )
        stable = rates[-1]
        chosen = stable
    else:
        chosen = stable * float(safety)
    set_learning_rate(model, chosen)
    return LearningRateFinderResult(
        learning_rate=chosen,
        max_stable_rate=stable,
        learning_rates=np.asarray(rates),
        losses=np.asarray(losses),
        diverged=np.asarray(diverged, dtype=bool),
        initial_loss=initial_loss,
    )
