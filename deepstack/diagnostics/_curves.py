"""Training-curve analysis: divergence, bouncing, over- and under-fitting, collapse."""

import math

import numpy as np

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

    Parameters
    ----------
    history : dict of str to list of float, or a fitted estimator
        Per-epoch logs (``loss``, optionally ``val_loss``, ``accuracy``,
        ``val_accuracy``), e.g. an estimator's ``history_``.
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
        ``"bouncing"``, ``"overfitting"``, ``"underfitting"``, ``"collapse"``.

    Examples
    --------
    >>> from deepstack.diagnostics import analyze_curves
    >>> [f.code for f in analyze_curves({"loss": [1.0, 1.5, 0.9, 1.4, 0.8, 1.3]})]
    ['bouncing']
    """
    if hasattr(history, "history_"):
        history = history.history_
    loss = _series(history, "loss")
    if loss is None:
        return []
    if not np.isfinite(loss).all():
        return [_non_finite(loss)]
    findings = _diverging(loss) + _bouncing(loss, min_epochs, bounce_threshold)
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
    return findings + collapse


def _non_finite(loss):
    """ "diverging": the training loss became NaN or infinite."""
    first_bad = int(np.argmin(np.isfinite(loss)))
    return Finding(
        "diverging",
        "error",
        f"The training loss became non-finite at epoch {first_bad}.",
        {"epoch": first_bad, "last_finite_loss": _last_finite(loss)},
        ADVICE_DIVERGING,
    )


def _diverging(loss):
    """ "diverging": the loss ends above twice its start or peaks at 10 times it."""
    n = loss.size
    if n >= 2 and (loss[-1] > 2.0 * loss[0] or loss.max() > 10.0 * max(loss[0], 1e-12)):
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


def _bouncing(loss, min_epochs, bounce_threshold):
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
                ADVICE_BOUNCING,
            )
        ]
    return []


def _overfitting(loss, val, min_epochs, overfit_ratio):
    """ "overfitting": validation far above training, or rising from its best."""
    n = loss.size
    if val is None or val.size != n or n < min_epochs or not np.isfinite(val).all():
        return []
    val_min = float(val.min())
    gap = val[-1] / max(loss[-1], 1e-12)
    rise = val[-1] / max(val_min, 1e-12)
    if (gap > overfit_ratio and val[-1] - loss[-1] > 0.05 * abs(val[-1])) or (
        rise > 1.2 and loss[-1] < loss[int(np.argmin(val))]
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
    close = val is None or abs(val[-1] - loss[-1]) <= 0.25 * max(loss[-1], 1e-12)
    if acc is not None:
        high = acc[-1] < 0.9
        if val_acc is not None:
            close = abs(val_acc[-1] - acc[-1]) <= 0.05
    else:
        high = loss[-1] > underfit_ratio * loss[0]
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
    falls = loss[-1] < 0.9 * loss[0]
    if not (falls and acc.max() <= chance_accuracy + 0.02):
        return []
    return [
        Finding(
            "collapse",
            "error",
            "The loss falls but the accuracy stays at chance.",
            {
                "loss_drop": 1.0 - loss[-1] / loss[0],
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
    """0-based epochs at whose end the learning rate was cut (``learning_rate``)."""
    rates = history.get("learning_rate") if history else None
    if not rates:
        return []
    rates = np.asarray(rates, dtype=np.float64)
    return [int(i) - 1 for i in np.flatnonzero(rates[1:] < rates[:-1] * (1 - 1e-6)) + 1]
