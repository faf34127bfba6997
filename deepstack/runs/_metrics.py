"""The metrics a run reports, by task."""

import numpy as np
from sklearn import metrics

PRIMARY = {"binary": "accuracy", "multiclass": "accuracy", "regression": "r2"}


def classification_metrics(y_true, y_pred, proba, classes):
    """Accuracy, balanced accuracy, macro F1, log loss and ROC AUC."""
    y_true = np.asarray(y_true)
    result = {
        "accuracy": metrics.accuracy_score(y_true, y_pred),
        "balanced_accuracy": metrics.balanced_accuracy_score(y_true, y_pred),
        "f1_macro": metrics.f1_score(y_true, y_pred, average="macro", zero_division=0),
        "n_samples": int(y_true.shape[0]),
    }
    present = np.isin(y_true, classes)
    if proba is not None and present.all():
        result["log_loss"] = metrics.log_loss(y_true, proba, labels=classes)
        if len(np.unique(y_true)) >= 2:
            if len(classes) == 2:
                result["roc_auc"] = metrics.roc_auc_score(
                    y_true == classes[1], proba[:, 1]
                )
            elif len(np.unique(y_true)) == len(classes):
                result["roc_auc"] = metrics.roc_auc_score(
                    y_true, proba, multi_class="ovr", labels=classes
                )
    return {k: float(v) if k != "n_samples" else v for k, v in result.items()}


def regression_metrics(y_true, y_pred):
    """R², RMSE and mean absolute error."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    return {
        "r2": float(metrics.r2_score(y_true, y_pred)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, y_pred))),
        "mae": float(metrics.mean_absolute_error(y_true, y_pred)),
        "n_samples": int(y_true.shape[0]),
    }


def task_metrics(task, y_true, y_pred, proba=None, classes=None):
    if task == "regression":
        return regression_metrics(y_true, y_pred)
    return classification_metrics(y_true, y_pred, proba, classes)
