"""Column roles and preprocessing for pandas DataFrames, built on skrub.

:class:`TablePreprocessor` decides once, at ``fit``, what each column is
(numeric, categorical, high-cardinality, free text, datetime, or dropped, and
why), then hands the work to skrub's ``TableVectorizer`` configured for a
neural network: numbers imputed with a missing-value indicator and
standardized, categories one-hot encoded with infrequent ones grouped and
unknown ones ignored at predict time, high-cardinality categories
target-encoded, free text embedded by skrub's ``StringEncoder``.
"""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from sklearn.utils.validation import check_is_fitted

ROLES = (
    "numeric",
    "categorical",
    "high_cardinality",
    "text",
    "datetime",
    "dropped",
)


def _is_string_like(series):
    return (
        pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(series)
    )


def _looks_like_text(series):
    """Free text rather than a label: several words per value on average."""
    values = series.dropna().astype(str)
    if values.empty:
        return False
    return float(values.str.split().str.len().mean()) >= 3.0


def _looks_like_dates(series):
    """Strings that skrub's ``ToDatetime`` parses as dates (a CSV's dates),
    the same test ``TableVectorizer`` applies when it cleans the column."""
    import skrub

    if not (
        pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)
    ):
        return False
    if series.dropna().empty:
        return False
    try:
        skrub.ToDatetime().fit_transform(series)
    except ValueError:  # skrub's RejectColumn: no date format fits
        return False
    return True


class TablePreprocessor(TransformerMixin, BaseEstimator):
    """Turn a DataFrame with mixed columns into a float32 matrix.

    Roles are inferred at ``fit`` from the training frame:

    - ``numeric``: numbers, imputed with the median plus a missing-value
      indicator column, then standardized;
    - ``categorical``: strings, categories and booleans with fewer than
      ``cardinality_threshold`` distinct values, and integer columns with at
      most ``max_integer_categories`` distinct values; one-hot encoded,
      categories seen fewer than ``min_frequency`` times grouped, unknown
      categories at predict time encoded as all zeros, missing values a
      category of their own;
    - ``high_cardinality``: other string columns, target-encoded (cross-fitted
      on the training rows, so the encoding does not leak the target);
    - ``text``: string columns with three or more words per value on average,
      embedded with skrub's ``StringEncoder`` (tf-idf + truncated SVD);
    - ``datetime``: dates (datetime columns, and strings that skrub parses
      as dates, as a CSV's dates are), split into numeric features by skrub
      (year, month, day, hour where there is one, day of the week, and the
      time since the epoch);
    - ``dropped``: all-missing, constant and identifier-like columns (every
      value distinct, strings or integers), and those named in ``drop``;
      each with a note in ``notes_``.

    Parameters
    ----------
    categorical : list of str, default=None
        Columns to treat as categorical whatever their dtype.
    drop : list of str, default=None
        Columns to leave out.
    cardinality_threshold : int, default=40
        String columns with at least this many distinct values are
        high-cardinality.
    max_integer_categories : int, default=10
        Integer columns with at most this many distinct values are categorical.
    min_frequency : int, default=5
        One-hot categories seen fewer times are grouped as infrequent.
    text_components : int, default=30
        Dimensions of the text embedding.

    Attributes
    ----------
    roles_ : dict of str to str
        The role of each input column (see above).
    notes_ : list of str
        One line per decision a user should know about (dropped columns).
    vectorizer_ : skrub.TableVectorizer
        The fitted vectorizer doing the work.
    feature_names_in_ : ndarray of str
        The columns seen at ``fit``.
    n_features_in_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> from deepstack.tables import TablePreprocessor
    >>> df = pd.DataFrame({"size": [1.0, 2.0, None, 4.0],
    ...                    "color": ["red", "blue", "red", "blue"]})
    >>> pre = TablePreprocessor(min_frequency=1).fit(df, [0, 1, 0, 1])
    >>> pre.roles_
    {'size': 'numeric', 'color': 'categorical'}
    >>> list(pre.get_feature_names_out())
    ['size', 'color_blue', 'color_red', 'missingindicator_size']
    >>> pre.transform(df).shape
    (4, 4)
    """

    def __init__(
        self,
        *,
        categorical=None,
        drop=None,
        cardinality_threshold=40,
        max_integer_categories=10,
        min_frequency=5,
        text_components=30,
    ):
        self.categorical = categorical
        self.drop = drop
        self.cardinality_threshold = cardinality_threshold
        self.max_integer_categories = max_integer_categories
        self.min_frequency = min_frequency
        self.text_components = text_components

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        X = self._check_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.roles_, self.notes_ = self._infer_roles(X)
        kept = [c for c, role in self.roles_.items() if role != "dropped"]
        if not kept:
            raise ValueError(
                "No usable feature column is left: "
                + "; ".join(self.notes_ or ["the table has no feature columns"])
                + "."
            )
        needs_target = any(r == "high_cardinality" for r in self.roles_.values())
        if needs_target and y is None:
            raise ValueError(
                "High-cardinality columns are target-encoded, which needs y at fit."
            )
        self.vectorizer_ = self._make_vectorizer()
        out = self.vectorizer_.fit_transform(X[kept], self._target_for_encoding(y))
        # Imputation and scaling over the whole matrix at once: one object
        # each, rather than one per column inside the vectorizer (which
        # makes the saved preprocessor many times larger).
        self.imputer_ = SimpleImputer(strategy="median", add_indicator=True)
        self.scaler_ = StandardScaler()
        out = self.imputer_.fit_transform(self._as_float(out))
        return self._as_float(self.scaler_.fit_transform(out))

    def transform(self, X):
        check_is_fitted(self, "vectorizer_")
        X = self._check_frame(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(
                f"Column(s) {missing} were present at fit and are missing now."
            )
        kept = [c for c, role in self.roles_.items() if role != "dropped"]
        out = self._as_float(self.vectorizer_.transform(X[kept]))
        return self._as_float(self.scaler_.transform(self.imputer_.transform(out)))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "vectorizer_")
        names = self.vectorizer_.get_feature_names_out()
        return np.asarray(self.imputer_.get_feature_names_out(names), dtype=object)

    # ---------------------------------------------------------------- steps

    @staticmethod
    def _check_frame(X):
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"TablePreprocessor needs a pandas DataFrame; got {type(X).__name__}."
            )
        if X.shape[0] == 0:
            raise ValueError("The table has no rows.")
        duplicated = X.columns[X.columns.duplicated()].tolist()
        if duplicated:
            raise ValueError(f"The table has duplicated column names: {duplicated}.")
        return X

    def _infer_roles(self, X):
        drop = set(self.drop or ())
        categorical = set(self.categorical or ())
        unknown = sorted((drop | categorical) - set(X.columns))
        if unknown:
            raise ValueError(
                f"Column(s) {unknown} named in drop / categorical are not in the "
                f"table; its columns are {list(X.columns)}."
            )
        roles, notes = {}, []
        n_rows = X.shape[0]
        for name in X.columns:
            series = X[name]
            n_unique = series.nunique(dropna=True)
            reason = None
            if name in drop:
                reason = "dropped as asked"
            elif series.isna().all():
                reason = "every value is missing"
            elif n_unique <= 1 and not series.isna().any():
                reason = "it is constant"
            elif name not in categorical and _looks_like_dates(series):
                # Dates written as strings (a CSV's): split into numbers by
                # skrub, never an identifier (one row a day) or a category
                # (which would know no date after the training rows).
                roles[name] = "datetime"
                continue
            elif (
                name not in categorical
                and n_rows >= 20
                and n_unique == n_rows
                and (
                    pd.api.types.is_integer_dtype(series)
                    or (_is_string_like(series) and not _looks_like_text(series))
                )
            ):
                reason = "every value is distinct (an identifier?)"
            if reason is not None:
                roles[name] = "dropped"
                if name not in drop:
                    notes.append(f"column {name!r} dropped: {reason}")
                continue
            roles[name] = self._role(series, n_unique, name in categorical)
        return roles, notes

    def _role(self, series, n_unique, forced_categorical):
        if forced_categorical:
            return "categorical"
        if pd.api.types.is_datetime64_any_dtype(series):
            return "datetime"
        if pd.api.types.is_bool_dtype(series):
            return "categorical"
        if pd.api.types.is_numeric_dtype(series):
            if (
                pd.api.types.is_integer_dtype(series)
                and n_unique <= self.max_integer_categories
            ):
                return "categorical"
            return "numeric"
        if _looks_like_text(series):
            return "text"
        if n_unique >= self.cardinality_threshold:
            return "high_cardinality"
        return "categorical"

    def _columns(self, role):
        return [c for c, r in self.roles_.items() if r == role]

    def _make_vectorizer(self):
        import skrub

        one_hot = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=self.min_frequency,
            sparse_output=False,
            dtype=np.float32,
        )
        specific = []
        # skrub treats numbers as numeric and strings by cardinality; the
        # roles decided above override it column by column.
        for role, transformer in (
            ("categorical", one_hot),
            ("high_cardinality", _target_encoder()),
            ("text", skrub.StringEncoder(self.text_components, random_state=0)),
        ):
            columns = self._columns(role)
            if columns:
                specific.append((transformer, columns))
        return skrub.TableVectorizer(
            low_cardinality=one_hot,
            high_cardinality=_target_encoder(),
            datetime=skrub.DatetimeEncoder(add_weekday=True),
            specific_transformers=specific,
        )

    @staticmethod
    def _target_for_encoding(y):
        if y is None:
            return None
        y = np.asarray(y)
        if y.dtype.kind in "fc" or y.dtype.kind in "iu":
            return y
        # TargetEncoder infers binary / multiclass from the labels themselves.
        return y.astype(str)

    @staticmethod
    def _as_float(out):
        if hasattr(out, "to_numpy"):
            out = out.to_numpy(dtype=np.float32, na_value=np.nan)
        out = np.asarray(out, dtype=np.float32)
        if np.isinf(out).any():
            raise ValueError(
                "Preprocessing produced non-finite values; check the table for "
                "values too large for float32."
            )
        return out


def _target_encoder():
    """A seeded TargetEncoder (its cross-fitting shuffles the rows)."""
    import sklearn

    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 9):
        # 1.9 deprecates random_state in favour of a splitter.
        return TargetEncoder(cv=KFold(5, shuffle=True, random_state=0))
    return TargetEncoder(random_state=0)


def infer_task(y):
    """``"binary"``, ``"multiclass"`` or ``"regression"`` for the target ``y``.

    Strings, categories and booleans are classes; floats with a fractional
    part are a regression; integers are classes when there are at most 20
    distinct values (and fewer than half the rows), a regression otherwise.
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
