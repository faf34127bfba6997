"""Checks of the estimators' parameters, and errors that explain bad inputs.

The checks that scikit-learn's ``_parameter_constraints`` cannot express
(structured values, combinations of parameters), what a continued fit must
keep (:data:`BUILT_WITH`), and the conversions of NumPy's and scikit-learn's
input errors into messages that say what to do.
"""

import difflib
import re
import warnings

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import get_scorer_names
from sklearn.utils.validation import validate_data

from deepstack import _network, _pretraining
from deepstack._warnings import user_stacklevel


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
    check_scoring_name(estimator)
    weight = estimator.reconstruction_weight
    if weight != "auto" and weight > 0 and not tuple(estimator.hidden_layer_sizes):
        raise ValueError(
            "reconstruction_weight needs at least one hidden layer to decode "
            "from; hidden_layer_sizes is empty (set reconstruction_weight=0)."
        )


def warn_of_a_second_early_stopping(estimator):
    """An early-stopping callback that restores its best weights, given with
    ``early_stopping=True``, restores them after deepstack's own stopper
    (the user's callbacks run last): the weights kept may be another
    epoch's than ``best_epoch_``."""
    from deepstack.callbacks import EarlyStopping

    if not getattr(estimator, "early_stopping", False):
        return
    restoring = [
        type(cb).__name__
        for cb in estimator.callbacks or []
        if isinstance(cb, (keras.callbacks.EarlyStopping, EarlyStopping))
        and getattr(cb, "restore_best_weights", False)
    ]
    if restoring:
        warnings.warn(
            f"callbacks holds {restoring[0]}(restore_best_weights=True) and "
            f"early_stopping=True: {type(estimator).__name__}'s own early "
            "stopping restores best_epoch_'s weights, then the callback, run "
            "after it, restores its own best epoch's, so the weights kept may "
            "not be best_epoch_'s. Set early_stopping=False to stop with the "
            "callback alone, or drop it and set n_iter_no_change and tol.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def validated(estimator, X, *y, reset, **options):
    """scikit-learn's ``validate_data(estimator, X[, y])`` into float32, with
    errors that say what to do: dates refused by name, NumPy's and
    scikit-learn's conversion errors explained
    (:func:`explain_input_error`, :func:`explain_sparse_error`), and on
    ``reset`` the columns float32 rounds warned of
    (:func:`warn_float32_precision`). ``options`` go to ``validate_data``.
    """
    refuse_dates(X)
    try:
        # A value beyond float32 is refused with its column named
        # (explain_input_error): NumPy's "overflow encountered in cast"
        # warning of the cast would only repeat it.
        with np.errstate(over="ignore"):
            result = validate_data(
                estimator, X, *y, reset=reset, dtype=np.float32, **options
            )
    except ValueError as exc:
        raise explain_input_error(exc, X) from exc
    except TypeError as exc:
        raise explain_sparse_error(exc) from exc
    if reset:
        warn_float32_precision(X)
    return result


def check_scoring_name(estimator, parameter="scoring"):
    """A ``scoring`` string (or the scorer named by ``parameter``, a search's
    ``objective``) must name a scikit-learn scorer: checked with the
    parameters, as the scorer is made only when training reaches validation
    (after pretraining and the learning-rate finder)."""
    scoring = getattr(estimator, parameter)
    if not isinstance(scoring, str) or scoring in get_scorer_names():
        return
    close = difflib.get_close_matches(scoring, get_scorer_names(), n=3)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    raise ValueError(
        f"{parameter}={scoring!r} of {type(estimator).__name__} is not a "
        f"scikit-learn scorer name{hint}; sklearn.metrics.get_scorer_names() "
        "lists them. Pass one, a callable scorer(estimator, X, y) or None."
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
    if isinstance(value, np.ndarray):
        value = value.tolist()
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


def explain_input_error(exc, X=None):
    """scikit-learn's or NumPy's error on reading ``X``, said so that the
    user knows what to do (the columns named where they can be)."""
    exc = explain_non_finite_error(exc, X)
    return explain_conversion_error(exc, X)


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
    contains NaN" or "X has 3 features" of any array they check (and "The
    feature names should match" of none), and a user who passed ``X_val``
    would look for the problem in ``X``."""
    message = renamed_message(str(exc), x_name, y_name)
    try:
        return type(exc)(message)
    except TypeError:  # an error type of other arguments
        return ValueError(message)


def renamed_message(message, x_name, y_name):
    """``message`` of scikit-learn's about ``X``/``y`` naming ``x_name`` /
    ``y_name`` instead (see :func:`renamed_input_error`)."""
    message = re.sub(r"(?<![\w.])(?:Input )?X(?=[ ,.:)]|$)", x_name, message)
    message = re.sub(r"(?<![\w.])(?:Input )?y(?=[ ,.:)]|$)", y_name, message)
    # (Its feature-name check names no array at all.)
    return message.replace(
        "The feature names should", f"The feature names of {x_name} should", 1
    )


class renamed_warnings:
    """Re-issue the warnings of validating ``X``/``y`` inside the block as of
    ``x_name`` / ``y_name`` ("X does not have valid feature names" of
    ``X_val``), from the user's line.

    (A class: a ``contextlib`` generator would add a frame outside
    deepstack, which ``user_stacklevel`` would take for the user's.)
    """

    def __init__(self, x_name, y_name):
        self.names = (x_name, y_name)

    def __enter__(self):
        self._catching = warnings.catch_warnings(record=True)
        self._caught = self._catching.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc_info):
        self._catching.__exit__(*exc_info)
        for w in self._caught:
            warnings.warn(
                renamed_message(str(w.message), *self.names),
                w.category,
                stacklevel=user_stacklevel(),
            )


def _non_numeric_columns(X):
    """Names of a DataFrame's columns that are neither numbers nor booleans."""
    return _columns_of_kinds(X, lambda kind: kind not in "biuf")


def _columns_of_kinds(X, wanted):
    """Names of a DataFrame's columns whose dtype kind is ``wanted``
    (a predicate on NumPy's kind letter; no DataFrame, no columns)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    return [
        name for name, dtype in dtypes.items() if wanted(getattr(dtype, "kind", "O"))
    ]


def refuse_missing_labels(y):
    """Raise a ``ValueError`` naming the rows of a classifier's ``y`` that
    hold no label (None, NaN, pd.NA): scikit-learn says "Input contains
    NaN" of them, or fails sorting None among strings."""
    if y is None or sp.issparse(y):
        return
    if hasattr(y, "isna"):  # pandas: its own missing values (pd.NA, NaN)
        missing = np.asarray(y.isna())
    else:
        values = np.asarray(y)
        if values.dtype.kind in "biu":
            return
        missing = pd.isna(values)  # (elementwise for objects: None, NaN)
    if missing.ndim == 2:
        missing = missing.any(axis=1)
    rows = np.flatnonzero(missing)
    if rows.size:
        raise ValueError(
            f"y has no label in {rows.size} rows (None or NaN; first: "
            f"{rows[:5].tolist()}). Drop those rows, or set them to -1 to "
            "learn from them as unlabeled rows (semi_supervised, pretrain)."
        )


def explain_sparse_error(exc):
    message = str(exc)
    if "sparse" in message.lower():
        return TypeError(
            message + " deepstack trains dense networks; convert with X.toarray() "
            "(if it fits in memory) or reduce it first, e.g. with TruncatedSVD."
        )
    return exc


def refuse_dates(X):
    """Raise a ``TypeError`` naming the date or duration columns of ``X``.

    NumPy casts ``datetime64`` and ``timedelta64`` values to float silently
    (as counts of the unit the dtype chose, since 1970 for dates), and a
    DataFrame holding them fails with an error about dtype promotion:
    either way the user learns nothing useful.
    """
    dtype = getattr(X, "dtype", None)
    if isinstance(X, np.ndarray) and dtype.kind in "mM":
        where = f"X is an array of dates or durations (dtype {dtype})"
        how = "e.g. dates to seconds since a reference date with (X - "
        how += "np.datetime64('2000-01-01')) / np.timedelta64(1, 's')"
    else:
        columns = _date_columns(X)
        if not columns:
            return
        where = f"X has date or duration columns {_shown(columns)}"
        how = "e.g. dates to seconds since a reference date with (X[col] - "
        how += "pd.Timestamp('2000-01-01')).dt.total_seconds(), durations with "
        how += "X[col].dt.total_seconds()"
    raise TypeError(
        f"{where}; deepstack estimators take numbers. Convert them first, "
        f"{how}, or fit the table with deepstack.tables.TablePreprocessor "
        "(or `deepstack fit`), which splits dates into numeric features."
    )


def _date_columns(X):
    """Names of a DataFrame's date and duration columns."""
    return _columns_of_kinds(X, lambda kind: kind in "mM")


def _shown(columns, limit=10):
    """``columns`` (names or indices) for a message, the first ``limit``."""
    shown = ", ".join(
        repr(c) if isinstance(c, str) else str(c) for c in columns[:limit]
    )
    more = f" and {len(columns) - limit} more" if len(columns) > limit else ""
    return f"[{shown}{more}]"


def explain_non_finite_error(exc, X):
    """scikit-learn's "Input X contains NaN" error, with the columns named."""
    message = str(exc)
    if not message.startswith("Input X contains"):
        return exc
    columns = _non_finite_columns(X)
    if not columns:
        return exc
    first, _, rest = message.partition("\n")
    return ValueError(
        f"{first} Columns with NaN, infinite or float32-overflowing values: "
        f"{_shown(columns)}. Impute them (e.g. with sklearn.impute.SimpleImputer), "
        "drop those rows, or rescale the columns." + (f"\n{rest}" if rest else "")
    )


def _non_finite_columns(X):
    """Names (a DataFrame) or indices of the columns of ``X`` that hold NaN,
    infinite values or values beyond float32; [] where they cannot be read."""
    limit = np.finfo(np.float32).max
    if sp.issparse(X):
        X = X.tocsc()
        # The column of each stored value, from the column pointers.
        at = np.flatnonzero(~(np.abs(X.data) <= limit))
        return sorted({int(j) for j in np.searchsorted(X.indptr, at, "right") - 1})
    names = None
    try:
        if hasattr(X, "columns") and hasattr(X, "iloc"):
            names = list(X.columns)  # (as written: 1, not '1')
            values = X.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return []
    if values.ndim != 2:
        return []
    # (NaN compares False: ``not <=`` finds it along with the rest.)
    bad = np.flatnonzero((~(np.abs(values) <= limit)).any(axis=0))
    return [names[j] if names else int(j) for j in bad]


# float32 keeps 24 significant bits (about 7 decimal digits): a column whose
# standard deviation is below this fraction of its largest magnitude keeps
# few distinct steps once cast (values 1e9 + [0, 1) keep none).
FLOAT32_SPREAD = 1e-6

# Blocks of this many values when reading the columns' spread, so that the
# check never holds a float64 copy of a large X.
_BLOCK_VALUES = 2**20


def warn_float32_precision(X):
    """Warn when a column of ``X`` (as given, before deepstack casts it to
    float32) varies too little for its magnitude for float32 to keep it.

    A column whose standard deviation is below :data:`FLOAT32_SPREAD` times
    its largest absolute value (Unix times in nanoseconds over a minute, or
    1e9 + a value in [0, 1]) loses most of its variation in the cast, before
    any standardization could save it: a ``DataConversionWarning`` names
    the columns (fit still runs).
    """
    columns = _imprecise_columns(X)
    if not columns:
        return
    shown = "; ".join(
        f"{name} (mean {mean:.6g}, standard deviation {std:.3g}, float32 "
        f"steps of {step:.3g})"
        for name, mean, std, step in columns[:5]
    )
    more = f"; and {len(columns) - 5} more" if len(columns) > 5 else ""
    warnings.warn(
        f"X has columns whose variation float32 cannot hold at their "
        f"magnitude: {shown}{more}. deepstack computes in float32, so most of "
        "their information is lost before standardization. Subtract an offset "
        "first (e.g. the column's minimum or a reference date), or put "
        "sklearn.preprocessing.StandardScaler (which computes in float64) "
        "before the estimator.",
        DataConversionWarning,
        stacklevel=user_stacklevel(),
    )


def _imprecise_columns(X):
    """``(name, mean, std, float32 step)`` of each column of ``X`` that
    :func:`warn_float32_precision` warns about."""
    if sp.issparse(X):
        return []  # (counts and one-hot columns: no large offsets)
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        names = [f"column {str(c)!r}" for c in X.columns]
        kinds = [getattr(dtype, "kind", "O") for dtype in X.dtypes]
        sizes = [getattr(dtype, "itemsize", 8) for dtype in X.dtypes]
        wide = [
            j
            for j, (kind, size) in enumerate(zip(kinds, sizes))
            if _rounded_by_float32(kind, size)
        ]
        if not wide:
            return []
        columns = X.iloc[:, wide]
        try:
            values = columns.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            return []
        names = [names[j] for j in wide]
    else:
        if not isinstance(X, (np.ndarray, list, tuple)):
            return []
        values = np.asarray(X)
        kind, size = values.dtype.kind, values.dtype.itemsize
        if values.ndim != 2 or not _rounded_by_float32(kind, size):
            return []
        names = [f"column {j}" for j in range(values.shape[1])]
    n, d = values.shape
    if n < 2:
        return []
    found = []
    step = max(1, _BLOCK_VALUES // n)
    for start in range(0, d, step):
        block = np.asarray(values[:, start : start + step], dtype=np.float64)
        std = block.std(axis=0)
        size = np.abs(block).max(axis=0)
        mean = block.mean(axis=0)
        for j in np.flatnonzero((std > 0) & (std < FLOAT32_SPREAD * size)):
            ulp = float(np.spacing(np.float32(size[j])))
            found.append((names[start + j], mean[j], std[j], ulp))
    return found


def _rounded_by_float32(kind, size):
    """Whether float32 can round values of the NumPy dtype ``kind`` / byte
    ``size``: floats wider than float32, integers wider than 16 bits."""
    return (kind == "f" and size > 4) or (kind in "iu" and size > 2)
