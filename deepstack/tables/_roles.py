"""What each column of a table is: its role, read once at ``fit``.

:func:`infer_roles` gives each column of a training frame its role (numeric,
categorical, high-cardinality, free text, datetime, or dropped, and why) for
:class:`~deepstack.tables.TablePreprocessor`; :func:`infer_task` reads the
target column as the main job does (binary, multiclass or regression).
"""

import re

import numpy as np
import pandas as pd

from deepstack.tables._reading import (
    _as_numbers,
    _date_format,
    _either_order,
    _holds_containers,
    _is_string_like,
    _looks_like_text,
)

ROLES = (
    "numeric",
    "categorical",
    "high_cardinality",
    "text",
    "datetime",
    "dropped",
)


def infer_roles(X, *, drop, categorical, cardinality_threshold, max_integer_categories):
    """The role of each column of the frame ``X`` (one of :data:`ROLES`, as
    :class:`~deepstack.tables.TablePreprocessor` describes them), a note for
    each decision a user should know about (dropped columns, a guessed
    order of day and month), and the format of each date column written as
    strings.

    Parameters
    ----------
    X : DataFrame
    drop, categorical : list of str or str or None
        Columns to leave out, and to treat as categorical whatever their
        dtype (the preprocessor's parameters).
    cardinality_threshold, max_integer_categories : int
        The preprocessor's parameters.

    Returns
    -------
    roles : dict of str to str
    notes : list of str
    date_formats : dict of str to str
    """
    drop, categorical = (set(column_names(n)) for n in (drop, categorical))
    unknown = sorted((drop | categorical) - set(X.columns))
    if unknown:
        raise ValueError(
            f"Column(s) {unknown} named in drop / categorical are not in the "
            f"table; its columns are {list(X.columns)}."
        )
    roles, notes, date_formats = {}, [], {}
    n_rows = X.shape[0]
    for name in X.columns:
        series = X[name]
        if _holds_containers(series):
            # A Parquet list or struct column: no number, category or text.
            roles[name] = "dropped"
            notes.append(
                f"column {name!r} dropped: its values are lists or mappings, "
                "which the network cannot read"
            )
            continue
        numbers = None if name in categorical else _as_numbers(series)
        if numbers is not None:
            # Roles follow the numbers (an integer code with few values
            # stays categorical); fit notes the values lost in reading.
            series = numbers
        n_unique = series.nunique(dropna=True)
        reason = None
        if name in drop:
            reason = "dropped as asked"
        elif series.isna().all():
            reason = "every value is missing"
        elif n_unique <= 1 and not series.isna().any():
            reason = "it is constant"
        elif name not in categorical and (fmt := _date_format(series)):
            # Dates written as strings (a CSV's): split into numbers by
            # skrub, never an identifier (one row a day) or a category
            # (which would know no date after the training rows).
            roles[name] = "datetime"
            date_formats[name] = fmt
            if (note := _either_order(series, fmt)) is not None:
                notes.append(str(note))
            continue
        elif (
            name not in categorical
            and n_rows >= 20
            and n_unique == n_rows
            and (
                _numbers_rows(series, name)
                or (_is_string_like(series) and not _looks_like_text(series))
            )
        ):
            reason = "every value is distinct (an identifier?)"
        if reason is not None:
            roles[name] = "dropped"
            if name not in drop:
                notes.append(f"column {name!r} dropped: {reason}")
            continue
        roles[name] = _role(
            series,
            n_unique,
            name in categorical,
            cardinality_threshold=cardinality_threshold,
            max_integer_categories=max_integer_categories,
        )
    return roles, notes, date_formats


def _role(
    series,
    n_unique,
    forced_categorical,
    *,
    cardinality_threshold,
    max_integer_categories,
):
    """The role of a kept column of ``n_unique`` distinct values."""
    if forced_categorical:
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_bool_dtype(series):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series):
        if (
            pd.api.types.is_integer_dtype(series)
            and n_unique <= max_integer_categories
            # With a missing value NumPy's reader makes the column floats
            # (numeric): pandas' nullable and pyarrow integers alike.
            and not series.isna().any()
        ):
            return "categorical"
        return "numeric"
    if _looks_like_text(series):
        return "text"
    if n_unique >= cardinality_threshold:
        return "high_cardinality"
    return "categorical"


# Names of identifier columns: "id", "row_index", "PassengerId", "customerID",
# "PID", "user_key", "uuid".
_ID_NAME = re.compile(
    r"(?i:(^|[^a-z])(id|ids|idx|index|key|uuid|uid|no))$|(Id|ID|Key|Index)$"
)


# Names of times and periods ("year", "fiscal_year", "YearBuilt", "month",
# "decade"): consecutive integers of such a column are no row numbers.
_TIME_NAME = re.compile(
    r"(?i:year|yr|decade|quarter|month|week|day|date|hour|minute|period|epoch)"
)


def _numbers_rows(series, name):
    """Whether an integer column of distinct values numbers the rows: its name
    says so (``id``, ``PassengerId``, ``row_key``), or its values are
    nearly consecutive (row numbers, of the rows kept after a split too) and
    its name is no time's (``year``: a yearly series' years are a feature).
    Distinct counts or measurements (a population, a price in cents) are
    numbers, not identifiers."""
    if not pd.api.types.is_integer_dtype(series):
        return False
    if _ID_NAME.search(str(name).strip()):
        return True
    if _TIME_NAME.search(str(name)):
        # One row a year (a yearly series): consecutive, and a feature.
        return False
    values = series.dropna()
    span = float(values.max()) - float(values.min()) + 1
    return span <= 2 * len(values)


def infer_task(y):
    """``"binary"``, ``"multiclass"`` or ``"regression"`` for the target ``y``.

    Strings, categories and booleans are classes; floats with a fractional
    part are a regression; integers are classes when there are at most 20
    distinct values (and fewer than half the rows), a regression otherwise.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The target column; missing values are left out. A target with no
        values raises ``ValueError``.

    Returns
    -------
    {"binary", "multiclass", "regression"}
        Classes are "binary" when there are at most two.
    """
    y = pd.Series(y).dropna()
    if y.empty:
        raise ValueError("The target column has no values.")
    n_unique = y.nunique()
    if _is_string_like(y):
        kind = "classification"
    elif pd.api.types.is_float_dtype(y) and not np.all(np.mod(y, 1) == 0):
        kind = "regression"
    elif n_unique <= 20 and n_unique < max(0.5 * len(y), 3):
        kind = "classification"
    else:
        kind = "regression"
    if kind == "regression":
        return "regression"
    return "binary" if n_unique <= 2 else "multiclass"


def column_names(names):
    """``drop`` or ``categorical`` as a list: one name (a str) or several."""
    return [names] if isinstance(names, str) else list(names or ())
