"""The metrics a run reports, by task."""

import warnings

import numpy as np
from sklearn import metrics

from deepstack._warnings import user_stacklevel
from deepstack.tables._reading import _sentence

PRIMARY = {"binary": "accuracy", "multiclass": "accuracy", "regression": "r2"}


def classification_metrics(y_true, y_pred, proba, classes, sample_weight=None):
    """Accuracy, balanced accuracy, macro F1, log loss and ROC AUC, each
    weighted by ``sample_weight`` when given.

    A metric the rows cannot give is left out with a warning: log loss and
    ROC AUC when some rows hold a class unseen at fit (those rows count as
    errors in the others), ROC AUC when the rows hold a single class, or (of
    several) not every class.
    """
    y_true = np.asarray(y_true)
    w = sample_weight
    unseen = _unseen(y_true, classes)
    if unseen.any():
        # Compared as text: a label no class reads (text where the classes
        # are numbers or booleans) is an error, not a mix of label types
        # that scikit-learn refuses.
        y_true, y_pred = y_true.astype(str), np.asarray(y_pred).astype(str)
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": said below, in words.
        warnings.simplefilter("ignore", UserWarning)
        result = {
            "accuracy": metrics.accuracy_score(y_true, y_pred, sample_weight=w),
            "balanced_accuracy": metrics.balanced_accuracy_score(
                y_true, y_pred, sample_weight=w
            ),
            "f1_macro": metrics.f1_score(
                y_true, y_pred, average="macro", zero_division=0, sample_weight=w
            ),
            "n_samples": int(y_true.shape[0]),
        }
    if proba is None:
        return _floats(result)
    if unseen.any():
        examples = ", ".join(repr(str(c)) for c in np.unique(y_true[unseen])[:3])
        _left_out(
            f"{int(unseen.sum())} row(s) hold classes not seen at fit ({examples}); "
            "they count as errors, and log loss and ROC AUC are left out"
        )
        return _floats(result)
    result["log_loss"] = metrics.log_loss(
        y_true, proba, labels=classes, sample_weight=w
    )
    n_present = len(np.unique(y_true))
    if n_present < 2:
        _left_out(
            f"the rows hold a single class ({str(y_true[0])!r}); ROC AUC needs "
            "two and is left out"
        )
    elif len(classes) == 2:
        result["roc_auc"] = metrics.roc_auc_score(
            y_true == classes[1], proba[:, 1], sample_weight=w
        )
    elif n_present == len(classes):
        result["roc_auc"] = metrics.roc_auc_score(
            y_true, proba, multi_class="ovr", labels=classes, sample_weight=w
        )
    else:
        _left_out(
            f"the rows hold {n_present} of the {len(classes)} classes; ROC AUC "
            "(one class against the rest) needs every class and is left out"
        )
    return _floats(result)


def _unseen(y_true, classes):
    """Which labels are no class seen at fit (each looked up: labels read
    from a file may mix text and numbers, which numpy cannot sort)."""
    if classes is None:
        return np.zeros(y_true.shape[0], dtype=bool)
    if y_true.dtype != object:
        return ~np.isin(y_true, classes)
    known = set(np.asarray(classes).tolist())
    return np.array([label not in known for label in y_true.tolist()], dtype=bool)


def _floats(result):
    return {k: float(v) if k != "n_samples" else v for k, v in result.items()}


def _left_out(note):
    warnings.warn(_sentence(note), UserWarning, stacklevel=user_stacklevel())


def regression_metrics(y_true, y_pred, sample_weight=None):
    """R², RMSE and mean absolute error, each weighted by ``sample_weight``
    when given. R² is left out with a warning for a single row."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    w = sample_weight
    result = {}
    if y_true.shape[0] < 2:
        # (scikit-learn warns and gives NaN.)
        _left_out("a single row: R² needs two and is left out")
    else:
        result["r2"] = float(metrics.r2_score(y_true, y_pred, sample_weight=w))
    return {
        **result,
        "rmse": float(
            np.sqrt(metrics.mean_squared_error(y_true, y_pred, sample_weight=w))
        ),
        "mae": float(metrics.mean_absolute_error(y_true, y_pred, sample_weight=w)),
        "n_samples": int(y_true.shape[0]),
    }


def task_metrics(task, y_true, y_pred, proba=None, classes=None, sample_weight=None):
    if task == "regression":
        return regression_metrics(y_true, y_pred, sample_weight)
    return classification_metrics(y_true, y_pred, proba, classes, sample_weight)
