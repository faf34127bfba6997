"""Checks of the estimators' parameters, and errors that explain bad inputs.

The checks that scikit-learn's ``_parameter_constraints`` cannot express
(structured values, combinations of parameters), what a continued fit must
keep (:data:`BUILT_WITH`), and the conversions of NumPy's and scikit-learn's
input errors into messages that say what to do.
"""

import re

import keras

from deepstack import _network, _pretraining


def check_structured_params(estimator):
    """Checks that scikit-learn's constraint strings cannot express."""
    _network.check_hidden_layer_sizes(estimator.hidden_layer_sizes)
    if estimator.monitor not in estimator._monitors:
        raise ValueError(
            f"monitor must be one of {estimator._monitors} for "
            f"{type(estimator).__name__}; got {estimator.monitor!r}."
        )
    callbacks = estimator.callbacks
    if callbacks is not None and not all(
        isinstance(cb, keras.callbacks.Callback) for cb in callbacks
    ):
        raise TypeError(
            "callbacks must be None or a list of keras.callbacks.Callback "
            f"instances; got {callbacks!r}."
        )
    check_pretrain_params(estimator)
    weight = estimator.reconstruction_weight
    if weight != "auto" and weight > 0 and not tuple(estimator.hidden_layer_sizes):
        raise ValueError(
            "reconstruction_weight needs at least one hidden layer to decode "
            "from; hidden_layer_sizes is empty (set reconstruction_weight=0)."
        )


# What the network was built and compiled with: a warm-started fit, or a
# later partial_fit, continues that network and cannot change them (the
# learning rate, the epochs and the stopping rule apply to each call).
BUILT_WITH = (
    "hidden_layer_sizes",
    "activation",
    "dropout",
    "input_dropout",
    "batch_norm",
    "l1",
    "l2",
    "loss",
    "focal_gamma",
    "huber_delta",
    "optimizer",
    "momentum",
    "nesterov",
    "clipnorm",
    "standardize",
    # Whether the network has a reconstruction layer, and its weight.
    "reconstruction_weight",
    # The pretrained layers' trainable flags (only with pretraining).
    "finetune",
)


def plain(value):
    """A parameter's value to compare (a saved tuple loads as a list)."""
    if isinstance(value, (list, tuple)):
        return tuple(plain(v) for v in value)
    return value


def check_pretrain_params(estimator):
    """The ``pretrain_*`` parameters against ``hidden_layer_sizes`` and each
    other."""
    if estimator.pretrain in ("denoising", "auto"):
        # Only denoising corrupts (as StackedAutoencoder(corruption=None)
        # takes any noise level).
        _pretraining.check_noise_level(
            estimator.pretrain_corruption,
            estimator.pretrain_noise_level,
            names=("pretrain_corruption", "pretrain_noise_level"),
        )
    if estimator.pretrain is None:
        return
    n_hidden = len(tuple(estimator.hidden_layer_sizes))
    if n_hidden == 0 and estimator.pretrain != "auto":
        raise ValueError(
            "pretrain needs at least one hidden layer; hidden_layer_sizes is empty."
        )
    n = estimator.pretrain_layers
    if n is not None and n > n_hidden:
        raise ValueError(
            f"pretrain_layers={n} is more than the {n_hidden} hidden layers of "
            f"hidden_layer_sizes={tuple(estimator.hidden_layer_sizes)}."
        )


def explain_conversion_error(exc, X=None):
    message = str(exc)
    lowered = message.lower()
    if (
        "could not convert" in lowered
        or ("convert" in lowered and "float" in lowered)
        or ("cannot cast" in lowered and ("str" in lowered or "object" in lowered))
    ):
        columns = _non_numeric_columns(X)
        named = f" in columns {columns}" if columns else ""
        return ValueError(
            f"X contains non-numeric features{named} ({message}). deepstack "
            "networks need numbers: encode categorical columns first, e.g. with "
            "sklearn.preprocessing.OneHotEncoder in a ColumnTransformer."
        )
    return exc


def renamed_input_error(exc, x_name, y_name):
    """``exc`` (an error of validating ``X``/``y``) with its message naming
    ``x_name`` / ``y_name`` instead: scikit-learn's checks say "Input X
    contains NaN" or "X has 3 features" of any array they check, and a user
    who passed ``X_val`` would look for the problem in ``X``."""
    message = re.sub(r"(?<![\w.])(?:Input )?X(?=[ ,.:)]|$)", x_name, str(exc))
    message = re.sub(r"(?<![\w.])(?:Input )?y(?=[ ,.:)]|$)", y_name, message)
    try:
        return type(exc)(message)
    except TypeError:  # an error type of other arguments
        return ValueError(message)


def _non_numeric_columns(X):
    """Names of a DataFrame's columns that are neither numbers nor booleans."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    return [
        str(name)
        for name, dtype in dtypes.items()
        if getattr(dtype, "kind", "O") not in "biuf"
    ]


def explain_sparse_error(exc):
    message = str(exc)
    if "sparse" in message.lower():
        return TypeError(
            message + " deepstack trains dense networks; convert with X.toarray() "
            "(if it fits in memory) or reduce it first, e.g. with TruncatedSVD."
        )
    return exc
