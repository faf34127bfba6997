"""Training-curve analysis: divergence, bouncing, over- and under-fitting, collapse."""

import math

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from deepstack.diagnostics._findings import Finding

ADVICE_DIVERGING = [
    "Lower the learning rate (divide it by 10).",
    "Check the gradients (deepstack.diagnostics.check_gradients).",
    "Standardize the inputs (standardize=True) and consider gradient clipping.",
]
ADVICE_BOUNCING = [
    "Lower the learning rate (e.g. halve it) or use lr_schedule='halving'.",
    "Increase batch_size to reduce gradient noise.",
]
# For a run that already halves its rate after lr_patience flat epochs.
ADVICE_BOUNCING_HALVING = [
    "Lower the learning rate (e.g. halve it), or lower lr_patience so that "
    "lr_schedule='halving' cuts it sooner.",
    ADVICE_BOUNCING[1],
]
ADVICE_OVERFITTING = [
    "Regularize more: dropout, l2 weight decay, input dropout.",
    "Get more training data or augment it.",
    "Keep early stopping on; try a smaller network.",
]
ADVICE_UNDERFITTING = [
    "Use a larger network (more units or layers).",
    "Fix the optimization: tune the learning rate, train longer, standardize the "
    "inputs, use batch normalization.",
    "Check that a small subset can be overfit "
    "(deepstack.diagnostics.overfit_small_subset).",
]
ADVICE_COLLAPSE = [
    "The network predicts one class: check the labels and class balance "
    "(class_weight='balanced').",
    "Check for saturated or dead units at initialization and lower the learning rate.",
]

_METRICS = ("accuracy", "acc", "binary_accuracy", "sparse_categorical_accuracy")


def _series(history, key):
    values = history.get(key)
    if values is None or len(values) == 0:
        return None
    return np.asarray(values, dtype=np.float64)


def _metric_key(history):
    for key in _METRICS:
        if key in history:
            return key
    return None


def bouncing_fraction(loss, rel_tol=0.01):
    """Fraction of epoch-to-epoch steps where the loss rose by more than ``rel_tol``."""
    loss = np.asarray(loss, dtype=np.float64)
    if loss.size < 2:
        return 0.0
    prev, nxt = loss[:-1], loss[1:]
    rises = nxt > prev + rel_tol * np.abs(prev)
    return float(rises.mean())


def analyze_curves(
    history,
    *,
    chance_accuracy=None,
    bounce_threshold=0.3,
    overfit_ratio=1.5,
    underfit_ratio=0.7,
    min_epochs=4,
):
    """Read a training history and say what went wrong.

    Losses can be negative (Keras's poisson loss): the factors below are
    read as differences relative to the magnitude (``overfit_ratio``: the
    validation loss above the training loss by ``overfit_ratio - 1`` times
    ``|training loss|``), which for positive losses are the ratios.
    Likewise "diverging" is a final loss above the first by more than
    ``|first loss|`` (twice a positive one) or a peak 9 ``|first loss|``
    above it.

    Parameters
    ----------
    history : dict of str to list of float, or a fitted estimator
        Per-epoch logs (``loss``, optionally ``val_loss``, ``accuracy``,
        ``val_accuracy``), e.g. an estimator's ``history_``. An estimator's
        ``lr_schedule`` tailors the advice (a run that already halves its
        rate is not told to).
    chance_accuracy : float, default=None
        Accuracy of always predicting the majority class; enables the
        collapse check.
    bounce_threshold : float, default=0.3
        Flag bouncing when the training loss rose (by more than 1%) on at least
        this fraction of the epochs, and fell on at least a fifth of them.
    overfit_ratio : float, default=1.5
        Flag over-fitting when the final validation loss exceeds the training
        loss by this factor, or has risen by 20% from its minimum.
    underfit_ratio : float, default=0.7
        Flag under-fitting when the final training loss is still above this
        fraction of the first epoch's loss (or the training accuracy is under
        0.9) and validation is close to training.

    min_epochs : int, default=4
        Shape checks (bouncing, fitting) need at least this many epochs.

    Returns
    -------
    list of Finding
        Empty when the curves look healthy. Codes: ``"diverging"``,
        ``"bouncing"``, ``"overfitting"``, ``"underfitting"``, ``"collapse"``,
        and, for an estimator whose fit used up ``max_epochs`` while its
        validation loss was still at its lowest in the last epochs,
        ``"still_improving"`` (info).

    Examples
    --------
    >>> from deepstack.diagnostics import analyze_curves
    >>> [f.code for f in analyze_curves({"loss": [1.0, 1.5, 0.9, 1.4, 0.8, 1.3]})]
    ['bouncing']
    """
    refuse_unfitted(history, "history_", "analyze_curves")
    schedule = _lr_schedule(history)
    budget = _still_improving(history)
    if hasattr(history, "history_"):
        history = history.history_
    loss = _series(history, "loss")
    if loss is None:
        return []
    if not np.isfinite(loss).all():
        return [_non_finite(loss)]
    findings = _diverging(loss) + _bouncing(
        loss, min_epochs, bounce_threshold, schedule
    )
    if findings:
        # Over- or under-fitting cannot be judged while the optimization is
        # unstable: fix that first.
        return findings + _collapse(loss, history, chance_accuracy)
    val = _series(history, "val_loss")
    findings = _overfitting(loss, val, min_epochs, overfit_ratio)
    if not findings:
        findings = _underfitting(loss, val, history, min_epochs, underfit_ratio)
    collapse = _collapse(loss, history, chance_accuracy)
    if collapse:
        # At chance, "both errors high" is the symptom, not the diagnosis.
        findings = [f for f in findings if f.code != "underfitting"]
    return findings + collapse + budget


def _still_improving(estimator, last=3):
    """ "still_improving": a fit that ran all its ``max_epochs`` with the
    validation loss at its lowest in the ``last`` epochs (early stopping
    never had the chance to stop it): more epochs would likely help."""
    params = estimator.get_params() if hasattr(estimator, "get_params") else {}
    budget = params.get("max_epochs")
    history = getattr(estimator, "history_", None) or {}
    val = _series(history, "val_loss")
    epochs = getattr(estimator, "n_iter_", None)
    if not isinstance(budget, int) or val is None or epochs is None:
        return []
    if epochs < budget or val.size < last or not np.isfinite(val[-last:]).any():
        return []
    best = int(np.nanargmin(val))
    if best < val.size - last:
        return []
    return [
        Finding(
            "still_improving",
            "info",
            f"Training used all max_epochs={budget} epochs while the validation "
            f"loss was still falling (lowest at epoch {best + 1} of {val.size}).",
            {"max_epochs": budget, "best_epoch": best + 1, "epochs": int(val.size)},
            [
                "Raise max_epochs: early stopping ends training once the "
                "validation loss stops improving."
            ],
        )
    ]


def refuse_unfitted(obj, attribute, what):
    """Refuse an estimator without ``attribute`` by name (not fitted, or
    fitted without one, as a search): ``what`` reads its ``attribute``;
    anything else is read as logs."""
    if not hasattr(obj, "get_params") or hasattr(obj, attribute):
        return
    name = type(obj).__name__
    try:
        check_is_fitted(obj)
    except NotFittedError:
        raise NotFittedError(
            f"This {name} is not fitted yet: {what} reads its {attribute}. "
            "Call 'fit' first."
        ) from None
    hint = " (pass its best_estimator_)" if hasattr(obj, "best_estimator_") else ""
    raise TypeError(f"{name} has no {attribute}, which {what} reads{hint}.")


def _lr_schedule(history):
    """The ``lr_schedule`` of an estimator passed as ``history`` (else None)."""
    if hasattr(history, "history_") and hasattr(history, "get_params"):
        return history.get_params().get("lr_schedule")
    return None


def _scale(value):
    """``|value|``, kept off 0: the unit of a loss's relative changes.

    Losses can be negative (Keras's poisson loss leaves out a term of the
    targets), so changes are measured as differences relative to the
    magnitude, not as ratios (a ratio of negative losses reads a fall as a
    rise).
    """
    return max(abs(float(value)), 1e-12)


def _non_finite(loss):
    """ "diverging": the training loss became NaN or infinite."""
    # 1-based, as the estimator's DivergenceError counts epochs.
    epoch = int(np.argmin(np.isfinite(loss))) + 1
    return Finding(
        "diverging",
        "error",
        f"The training loss became non-finite at epoch {epoch}.",
        {"epoch": epoch, "last_finite_loss": _last_finite(loss)},
        ADVICE_DIVERGING,
    )


def _diverging(loss):
    """ "diverging": the loss ends above its start by more than the start's
    magnitude (twice a positive start) or peaks 9 magnitudes above it (10
    times a positive start)."""
    n = loss.size
    start = _scale(loss[0])
    if n >= 2 and (loss[-1] - loss[0] > start or loss.max() - loss[0] > 9.0 * start):
        return [
            Finding(
                "diverging",
                "error",
                "The training loss grew instead of falling.",
                {"first_loss": loss[0], "max_loss": loss.max(), "final_loss": loss[-1]},
                ADVICE_DIVERGING,
            )
        ]
    return []


def _bouncing(loss, min_epochs, bounce_threshold, schedule=None):
    """ "bouncing": the loss goes up *and* down (a steady climb is divergence)."""
    bounce = bouncing_fraction(loss)
    falls = bouncing_fraction(-loss)
    if loss.size >= min_epochs and bounce >= bounce_threshold and falls >= 0.2:
        return [
            Finding(
                "bouncing",
                "warning",
                f"The training loss went up on {bounce:.0%} of the epochs.",
                {
                    "rising_fraction": bounce,
                    "min_loss": float(loss.min()),
                    "final_loss": loss[-1],
                },
                ADVICE_BOUNCING_HALVING if schedule == "halving" else ADVICE_BOUNCING,
            )
        ]
    return []


def _overfitting(loss, val, min_epochs, overfit_ratio):
    """ "overfitting": validation far above training, or rising from its best."""
    n = loss.size
    if val is None or val.size != n or n < min_epochs or not np.isfinite(val).all():
        return []
    val_min = float(val.min())
    # val > overfit_ratio * loss and val > 1.2 * val_min for positive losses.
    gap = val[-1] - loss[-1] > (overfit_ratio - 1.0) * _scale(loss[-1])
    rise = val[-1] - val_min > 0.2 * _scale(val_min)
    if (gap and val[-1] - loss[-1] > 0.05 * abs(val[-1])) or (
        rise and loss[-1] < loss[int(np.argmin(val))]
    ):
        return [
            Finding(
                "overfitting",
                "warning",
                "The validation loss is far above the training loss.",
                {
                    "train_loss": loss[-1],
                    "val_loss": val[-1],
                    "min_val_loss": val_min,
                    "best_val_epoch": int(np.argmin(val)),
                },
                ADVICE_OVERFITTING,
            )
        ]
    return []


def _underfitting(loss, val, history, min_epochs, underfit_ratio):
    """ "underfitting": training and validation errors both high and close."""
    if loss.size < min_epochs:
        return []
    metric = _metric_key(history)
    acc = _series(history, metric) if metric else None
    val_acc = _series(history, "val_" + metric) if metric else None
    close = val is None or abs(val[-1] - loss[-1]) <= 0.25 * _scale(loss[-1])
    if acc is not None:
        high = acc[-1] < 0.9
        if val_acc is not None:
            close = abs(val_acc[-1] - acc[-1]) <= 0.05
    else:
        # Fell by less than (1 - underfit_ratio) of the first loss.
        high = loss[0] - loss[-1] < (1.0 - underfit_ratio) * _scale(loss[0])
    if not (high and close):
        return []
    evidence = {"first_loss": loss[0], "final_loss": loss[-1]}
    if val is not None:
        evidence["final_val_loss"] = val[-1]
    if acc is not None:
        evidence[f"final_{metric}"] = acc[-1]
    return [
        Finding(
            "underfitting",
            "warning",
            "Training and validation errors are both high.",
            evidence,
            ADVICE_UNDERFITTING,
        )
    ]


def _collapse(loss, history, chance_accuracy):
    metric = _metric_key(history)
    acc = _series(history, metric) if metric else None
    if chance_accuracy is None or acc is None or loss.size < 2:
        return []
    drop = (loss[0] - loss[-1]) / _scale(loss[0])
    if not (drop > 0.1 and acc.max() <= chance_accuracy + 0.02):
        return []
    return [
        Finding(
            "collapse",
            "error",
            "The loss falls but the accuracy stays at chance.",
            {
                "loss_drop": drop,
                "best_accuracy": acc.max(),
                "chance_accuracy": chance_accuracy,
            },
            ADVICE_COLLAPSE,
        )
    ]


def _last_finite(values):
    finite = [v for v in values if math.isfinite(v)]
    return finite[-1] if finite else float("nan")


def learning_rate_halvings(history):
    """0-based epochs at whose end the learning rate was cut (``learning_rate``).

    Parameters
    ----------
    history : dict of str to sequence, DataFrame or fitted estimator
        Per-epoch logs, e.g. an estimator's ``history_``.

    Returns
    -------
    list of int
        Empty for a rate that decays rather than being cut: an estimator's
        ``lr_schedule="decay"``, or logs whose rate falls on every epoch by
        the same factor.
    """
    refuse_unfitted(history, "history_", "learning_rate_halvings")
    schedule = _lr_schedule(history)
    if hasattr(history, "history_"):
        history = history.history_
    if history is None or schedule == "decay":
        return []
    rates = history.get("learning_rate")
    if rates is None or len(rates) == 0:
        return []
    rates = np.asarray(rates, dtype=np.float64)
    cuts = np.flatnonzero(rates[1:] < rates[:-1] * (1 - 1e-6))
    if schedule is None and _steady_decay(rates, cuts):
        return []
    return [int(i) for i in cuts]


def _steady_decay(rates, cuts):
    """Whether ``rates`` fall on every epoch by one factor (a decay schedule)."""
    if len(cuts) < 2 or len(cuts) != rates.size - 1:
        return False
    factors = rates[1:] / rates[:-1]
    return bool(np.allclose(factors, factors[0], rtol=1e-3))
