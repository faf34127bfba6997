"""Stop a diverging run, put the last good weights back and say why."""

import math
import warnings

import keras
import numpy as np

from deepstack._network import densify
from deepstack._warnings import user_stacklevel
from deepstack.callbacks._monitor import get_learning_rate
from deepstack.callbacks._state import all_finite, restore, snapshot


class DivergenceError(FloatingPointError):
    """Training diverged: the loss became NaN / infinite or exploded."""


class DivergenceGuard(keras.callbacks.Callback):
    """Stop training when the loss diverges and restore the last good state.

    At the end of each epoch the guard checks the logged training loss and
    the weights. The epoch diverged when the loss is NaN or infinite, when it
    exceeds ``max_increase`` times the smaller of ``reference`` and the first
    epoch's loss, or when a weight is not finite. The first epoch alone is
    no reference: a learning rate far too large makes it huge already (Adam
    at 1e4 logs 1e8 and then "improves"); ``reference``, the loss of the
    weights before the first step (see :func:`initial_loss`), cannot be
    poisoned so. Then training stops, the weights (and the optimizer's
    state) of the last good epoch -- or of the start -- are put back, and at
    the end of training the guard raises :class:`DivergenceError` or warns,
    with a message that names the learning rate as the likely cause.

    Parameters
    ----------
    on_divergence : {"raise", "warn", "stop"}, default="raise"
        What to do at the end of a diverged run: raise
        :class:`DivergenceError`, emit a ``RuntimeWarning``, or only stop
        (the caller reads ``message``).
    monitor : str, default="loss"
        Logged training quantity to check.
    max_increase : float, default=100.0
        The loss diverged when it exceeds this multiple of the reference.
    reference : float or None, default=None
        The loss before training (e.g. :func:`initial_loss`); None judges
        against the first epoch's loss only.

    Attributes
    ----------
    diverged_epoch : int
        0-based epoch at which the run diverged, or -1.
    restored_epoch : int
        0-based epoch whose weights were restored (-1: the initial ones).
    message : str or None
        Why the run was stopped and what to try, or None.

    Examples
    --------
    >>> import keras, numpy as np
    >>> from deepstack.callbacks import DivergenceGuard
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(1e3), "mse")
    >>> guard = DivergenceGuard(on_divergence="stop")
    >>> X = np.linspace(-5, 5, 64).reshape(-1, 1)
    >>> _ = model.fit(X, 3 * X, epochs=20, verbose=0, callbacks=[guard])
    >>> guard.diverged_epoch >= 0
    True
    >>> all(np.isfinite(w).all() for w in model.get_weights())
    True
    """

    def __init__(
        self, on_divergence="raise", monitor="loss", max_increase=100.0, reference=None
    ):
        super().__init__()
        self.on_divergence = on_divergence
        self.monitor = monitor
        self.max_increase = max_increase
        self.reference = reference

    def on_train_begin(self, logs=None):
        if self.on_divergence not in ("raise", "warn", "stop"):
            raise ValueError(
                "on_divergence must be 'raise', 'warn' or 'stop'; got "
                f"{self.on_divergence!r}."
            )
        self.diverged_epoch = -1
        self.restored_epoch = -1
        self.cause = self.rate = self.message = None
        self._start = None
        if self.reference is not None and math.isfinite(self.reference):
            self._start = float(self.reference)
        self._first = True
        self._good_epoch = -1
        self._keep(self._snapshot())

    def _optimizer_variables(self):
        optimizer = getattr(self.model, "optimizer", None)
        return list(getattr(optimizer, "variables", None) or [])

    def _snapshot(self):
        """``(weights, optimizer state)``: copies taken together (one read
        of every variable; on a GPU kept there)."""
        weights = self.model.weights
        values = snapshot([*weights, *self._optimizer_variables()])
        return values[: len(weights)], values[len(weights) :]

    def _keep(self, state):
        self._good_weights, self._good_optimizer = state

    def _restore(self):
        restore(self.model.weights, self._good_weights)
        variables = self._optimizer_variables()
        if len(variables) == len(self._good_optimizer):
            restore(variables, self._good_optimizer)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss = logs.get(self.monitor)
        loss = math.nan if loss is None else float(loss)
        cause = None
        if not math.isfinite(loss):
            cause = f"the {self.monitor} became {loss}"
        elif self._start is not None and loss > float(self.max_increase) * max(
            self._start, np.finfo(np.float32).tiny
        ):
            since = "first epoch" if self.reference is None else "before training"
            cause = (
                f"the {self.monitor} exploded from {self._start:.4g} "
                f"({since}) to {loss:.4g}"
            )
        if cause is None:
            state = self._snapshot()
            if all_finite(state[0]):
                if self._first:
                    self._first = False
                    start = self._start
                    self._start = loss if start is None else min(start, loss)
                self._keep(state)
                self._good_epoch = epoch
                return
            cause = "some weights became NaN or infinite"
        rate = logs.get("learning_rate")
        if rate is None and getattr(self.model, "optimizer", None) is not None:
            rate = get_learning_rate(self.model)
        self.diverged_epoch = epoch
        self.restored_epoch = self._good_epoch
        self.cause, self.rate = cause, rate
        self.message = divergence_message(cause, epoch, rate)
        self._restore()
        self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._good_weights = self._good_optimizer = None
        if self.message is None or self.on_divergence == "stop":
            return
        if self.on_divergence == "warn":
            warnings.warn(self.message, RuntimeWarning, stacklevel=user_stacklevel())
            return
        raise DivergenceError(self.message)

    def get_config(self):
        return {
            "on_divergence": self.on_divergence,
            "monitor": self.monitor,
            "max_increase": self.max_increase,
            "reference": self.reference,
        }


def initial_loss(model, X, y, sample_weight=None, max_rows=1024):
    """The compiled loss (with regularization) of ``model``'s current weights.

    Measured on at most ``max_rows`` evenly spaced rows, in inference mode,
    before any training step: the reference of :class:`DivergenceGuard`.
    Returns None when it cannot be measured (not a finite number).

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        The training inputs (a sparse matrix is densified after the rows
        are taken).
    y : ndarray of shape (n_samples, ...)
        The training targets, encoded as the model's loss expects them.
    sample_weight : ndarray of shape (n_samples,), default=None
        Per-row weights of the loss.
    max_rows : int, default=1024
        Every ``ceil(n_samples / max_rows)``-th row is used.

    Returns
    -------
    float or None
        The loss, or None when it is not finite.
    """
    step = max(1, -(-X.shape[0] // max_rows))
    X, y = X[::step], y[::step]
    if sample_weight is not None:
        sample_weight = sample_weight[::step]
    X = densify(X)
    y_pred = model(X, training=False)
    loss = model.compute_loss(x=X, y=y, y_pred=y_pred, sample_weight=sample_weight)
    loss = float(keras.ops.convert_to_numpy(loss))
    return loss if math.isfinite(loss) else None


def divergence_message(cause, epoch, rate, *, chosen_by_finder=False):
    """The user-facing explanation of a diverged run.

    ``chosen_by_finder``: the rate came from ``learning_rate="auto"``, so
    the advice is a smaller fixed rate, not the finder again.
    """
    if chosen_by_finder:
        advice = "the rate that learning_rate='auto' chose" + (
            "" if rate is None else f" ({float(rate):g})"
        )
        advice += (
            " is probably too large for this data; set a smaller learning_rate"
            + ("" if rate is None else f" (e.g. {float(rate) / 10:g})")
            + " or clipnorm"
        )
    elif rate is None:
        advice = "lower the learning rate or use learning_rate='auto'"
    else:
        advice = (
            f"learning rate {float(rate):g} is probably too large; try "
            f"{float(rate) / 10:g} or learning_rate='auto'"
        )
    return (
        f"Training diverged at epoch {epoch + 1} ({cause}): {advice}. Training "
        "was stopped and the last finite weights were restored."
    )
