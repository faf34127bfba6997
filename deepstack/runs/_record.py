"""What a run folder records of a fit: the network, the search, the
validation metrics and the versions that made it (``config.json``)."""

import platform

import numpy as np
import pandas as pd

from deepstack._version import __version__
from deepstack.ensemble import is_bagging
from deepstack.runs import _files
from deepstack.runs._metrics import PRIMARY


def networks_of(estimator):
    """The deepstack networks of ``estimator``: itself, or a bag's template and
    members."""
    if not is_bagging(estimator):
        return [estimator]
    return [estimator.estimator, *getattr(estimator, "estimators_", [])]


def network_of(estimator):
    """The (first) network of a fitted estimator or bag, for its parameters and
    diagnostics."""
    networks = networks_of(estimator)
    return networks[1] if len(networks) > 1 else networks[0]


def describe_network(estimator):
    network = network_of(estimator)
    sizes = "-".join(str(s) for s in network.hidden_layer_sizes)
    what = f"{type(network).__name__} ({sizes}, batch {network.batch_size})"
    if is_bagging(estimator):
        what = f"{estimator.n_folds} bagged {what} (one per fold)"
    return what


def validation_metrics(estimator, task):
    if is_bagging(estimator):
        # The members' out-of-fold predictions cover every training row.
        return {f"out_of_fold_{PRIMARY[task]}": float(estimator.oof_score_)}
    history = estimator.history_
    best = estimator.best_epoch_
    if best is None:
        return {}
    return {
        key: float(values[best])
        for key, values in history.items()
        if key.startswith("val_") and best < len(values)
    }


def trials_frame(searcher):
    if searcher is None:
        return None
    rows = {k: v for k, v in searcher.results_.items() if k != "params"}
    return pd.DataFrame(rows)


def search_summary(searcher):
    if searcher is None:
        return None
    return {
        "best_params": _files.to_jsonable(searcher.best_params_),
        "best_score": float(searcher.best_score_),
        "n_trials": int(searcher.n_trials_),
    }


def _versions():
    import keras
    import sklearn
    import skrub

    versions = {
        "python": platform.python_version(),
        "deepstack": __version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "scikit-learn": sklearn.__version__,
        "skrub": skrub.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    if versions["backend"] == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions


def _distinct(column):
    """The number of distinct values of ``column`` (lists and mappings, which
    do not hash, compared as text)."""
    try:
        return int(column.nunique(dropna=True))
    except TypeError:
        return int(column.dropna().map(repr).nunique())


def run_config(run, *, frame, preprocessor, feature_columns, **values):
    estimator = run.estimator
    # A bag's template: the members' parameters but their derived seeds.
    network = estimator.estimator if is_bagging(estimator) else estimator
    params = {k: v for k, v in network.get_params().items() if k != "callbacks"}
    # What the "auto" parameters resolved to in the fit (a bag's first
    # member; the members resolve them alike).
    fitted = network_of(estimator)
    resolved = {
        name: getattr(fitted, f"{name}_")
        for name, value in params.items()
        if isinstance(value, str) and value == "auto" and hasattr(fitted, f"{name}_")
    }
    summary = []
    for name in feature_columns:
        column = frame[name]
        summary.append(
            {
                "column": str(name),
                "dtype": str(column.dtype),
                "role": preprocessor.roles_.get(name, "dropped"),
                "log_scale": preprocessor.log_scales_.get(name),
                "missing": int(column.isna().sum()),
                "unique": _distinct(column),
            }
        )
    return _files.to_jsonable(
        {
            **values,
            "feature_columns": feature_columns,
            "estimator": type(estimator).__name__,
            "params": params,
            "resolved": resolved,
            "bagging": estimator.n_folds if is_bagging(estimator) else None,
            "classes": getattr(estimator, "classes_", None),
            "n_network_inputs": int(estimator.n_features_in_),
            "columns": summary,
            "preprocessor": preprocessor.get_params(),
            "fingerprint": _files.fingerprint(frame),
            "versions": _versions(),
        }
    )
