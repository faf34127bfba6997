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

from deepstack import _network, _trainer
from deepstack._warnings import user_stacklevel
from deepstack.callbacks import set_population_statistics
from deepstack.callbacks._batch_norm import batch_norm_layers
from deepstack.callbacks._monitor import set_learning_rate
from deepstack.callbacks._validation import inference_loss


@dataclass(frozen=True)
class LearningRateFinderResult:
    """What :func:`~deepstack.find_learning_rate` tried and what it chose.

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
    """Run the search on a compiled Keras model; see
    :func:`deepstack.find_learning_rate`.

    ``X`` is the (small) subset to probe on. Every rate trains through the
    library's training path (:func:`deepstack._trainer.train`) on the same
    sequence of mini-batches (``epochs`` permutations of ``X`` seeded by
    ``seed``). The loss is then computed on ``X`` in inference mode,
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

    initial_loss = loss_on_subset()
    rates, losses, diverged = [], [], []
    stable, extra = None, 0
    rate = float(start)
    while rate >= min_learning_rate * (1 - 1e-9):
        restore()
        set_learning_rate(model, rate)
        history = _trainer.train(
            model,
            (X, y, sample_weight),
            batch_size=batch_size,
            epochs=epochs,
            seed=seed,
        )
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
            stacklevel=user_stacklevel(),
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
