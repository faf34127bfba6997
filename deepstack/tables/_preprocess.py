"""Column roles and preprocessing for pandas DataFrames, built on skrub.

:class:`TablePreprocessor` decides once, at ``fit``, what each column is
(numeric, categorical, high-cardinality, free text, datetime, or dropped, and
why), then encodes the columns that are not numbers with skrub's
``TableVectorizer`` configured for a neural network: categories one-hot
encoded with infrequent ones grouped and unknown ones ignored at predict
time, high-cardinality categories target-encoded, free text embedded by
skrub's ``StringEncoder``, dates split into numbers. Numbers, and
everything the vectorizer made, are then imputed with a missing-value
indicator and standardized, over the whole matrix at once.

The roles are read by :func:`deepstack.tables._roles.infer_roles`; the
vectorizer is configured, and written compactly when saved, by
``_vectorizer.py``.
"""

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from deepstack._compat import Interval, StrOptions
from deepstack._warnings import user_stacklevel
from deepstack.tables._reading import (
    _STRING_ROLES,
    Loss,
    ReadingWarning,
    _as_bool,
    _as_strings,
    _bools_as_numbers,
    _date_format,
    _either_order,
    _first,
    _infinite,
    _is_text_dtype,
    _kind,
    _label,
    _labels,
    _lost,
    _mixed,
    _nan_for_missing,
    _plain_columns,
    _sentence,
    _to_dates,
    _to_numbers,
    _unzoned,
)
from deepstack.tables._roles import infer_roles, infer_task
from deepstack.tables._vectorizer import (
    make_vectorizer,
    restore_vectorizer,
    saved_vectorizer,
)

# A long right tail (``TablePreprocessor(log_skewed=True)``): skewness above
# this, and a largest value at least this many times the median positive one,
# over more than this many distinct values.
_TAIL_SKEW = 2.0
_TAIL_RATIO = 10.0
_TAIL_DISTINCT = 10


def _long_tail_scale(series):
    """The median of the positive values of a numeric column with a long
    right tail (all values zero or more), or None for other columns."""
    x = pd.to_numeric(series, errors="coerce").dropna().astype("float64")
    if x.empty or x.min() < 0 or x.nunique() <= _TAIL_DISTINCT:
        return None
    scale = float(x[x > 0].median())
    if x.skew() <= _TAIL_SKEW or x.max() < _TAIL_RATIO * scale:
        return None
    return scale


class TablePreprocessor(TransformerMixin, BaseEstimator):
    """Turn a DataFrame with mixed columns into a float32 matrix.

    Roles are inferred at ``fit`` from the training frame:

    - ``numeric``: numbers (durations as seconds), imputed with the median
      plus a missing-value indicator column, then standardized (a column
      with a long right tail first read on a log scale, see
      ``log_skewed``); string
      columns of numbers too (written as spreadsheets write them as well:
      "$1,234.50", "45%"), when nine in ten values at least are numbers and
      the others are at most three tokens ("?", "-": missing-value
      markers), unless a value has a leading zero (a code); what is no
      number is missing, with a note at ``fit`` and a warning at
      ``transform``, and so are infinite values (a spreadsheet's division
      by zero);
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
    - ``datetime``: dates (datetime and period columns, and string columns
      whose values are dates in one format with a year, nine in ten at
      least, as a CSV's dates are), split into numeric features by skrub
      (year, month, day, hour where there is one, day of the week, and the
      time since the epoch); a string that is no date is missing, with a
      note at ``fit`` and a warning at ``transform``;
    - ``dropped``: all-missing, constant and identifier-like columns (every
      value distinct: strings, and integers named as identifiers, ``id``,
      ``PassengerId``, ``row_key``, or nearly consecutive, as row numbers
      are, unless named as a time; distinct counts such as a population,
      and a yearly series' ``year``, stay numbers), columns of
      lists or mappings (a
      Parquet file's nested columns), and those named in ``drop``; each with
      a note in ``notes_``.

    Parameters
    ----------
    categorical : list of str or str, default=None
        Columns to treat as categorical whatever their dtype (a string: one
        column).
    drop : list of str or str, default=None
        Columns to leave out (a string: one column).
    cardinality_threshold : int, default=40
        String columns with at least this many distinct values are
        high-cardinality.
    max_integer_categories : int, default=10
        Integer columns with at most this many distinct values are categorical.
    min_frequency : int, default=5
        One-hot categories seen fewer times are grouped as infrequent.
    text_components : int, default=30
        Dimensions of the text embedding.
    log_skewed : bool, default=True
        Read numeric columns with a long right tail (counts, populations,
        prices, areas) as ``log(1 + x / m)``, ``m`` the median of their
        positive values, before imputation and standardization. A column
        has a long right tail when its values at fit are all zero or more,
        more than 10 of them are distinct, their skewness is above 2 and
        the largest is at least 10 times ``m``. Standardized as they are,
        such a column's few largest rows sit far out and the others in a
        narrow band. A new row's value below zero
        is read as ``-log(1 + |x| / m)``. See ``log_scales_``.
    target_type : {"auto", "continuous", "binary", "multiclass"}, default="auto"
        The target's type for the target encoding of high-cardinality columns
        (``TargetEncoder``'s ``target_type``). "auto" reads the target as the
        main job does (:func:`deepstack.tables.infer_task`): a numeric target
        of more than 20 distinct whole numbers (prices, counts) is
        continuous, where scikit-learn's own "auto" would read it as classes
        and make one column per distinct target value. "binary" needs a
        target of exactly 2 distinct values, "multiclass" 3 or more; another
        target is refused. See ``target_type_``.

    Attributes
    ----------
    roles_ : dict of str to str
        The role of each input column (see above).
    notes_ : list of str
        One line per decision a user should know about (dropped columns,
        values that are no numbers or dates).
    date_formats_ : dict of str to str
        The format of each date column written as strings.
    zoned_dates_ : list of str
        The date columns whose times had time zones at ``fit`` (all read in
        UTC): new times without a zone are read as UTC, with a note.
    categories_ : dict of str to list of str
        The categories of each categorical column at ``fit``, as text: a
        value unseen at ``fit`` is encoded as no category (or as the
        infrequent ones), with a warning at ``transform``.
    kinds_ : dict of str to str
        What each kept column held at ``fit`` ("string", "number", "bool" or
        "date"; booleans with missing values are "bool" too): at
        ``transform``, new rows read as another type (a CSV column of blank
        cells is a float; one with a typo, strings) are read as at ``fit``,
        and a value that cannot be is missing, with a warning.
    target_type_ : str or None
        The target's type the high-cardinality columns were encoded with
        ("continuous", "binary" or "multiclass"; None without such columns).
    numeric_columns_ : list of str
        The numeric columns: they bypass the vectorizer (read as float64,
        then imputed and standardized with the rest, and cast to float32
        after the scaler, so that large values varying little, such as
        times in seconds, keep their variation).
    log_scales_ : dict of str to float
        The numeric columns read on a log scale (``log_skewed``), each with
        its ``m``.
    vectorizer_ : skrub.TableVectorizer or None
        The fitted vectorizer encoding the other kept columns (None when
        every kept column is numeric).
    feature_sources_ : list of tuple
        ``(feature name, input column, vectorizer output or None)`` of each
        feature before the missing-value indicators, in output order (see
        :meth:`get_feature_sources`).
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

    _parameter_constraints = {
        "categorical": [list, tuple, set, str, None],
        "drop": [list, tuple, set, str, None],
        "cardinality_threshold": [Interval(Integral, 2, None, closed="left")],
        "max_integer_categories": [Interval(Integral, 0, None, closed="left")],
        "min_frequency": [Interval(Integral, 1, None, closed="left")],
        "text_components": [Interval(Integral, 1, None, closed="left")],
        "log_skewed": ["boolean"],
        "target_type": [StrOptions({"auto", "continuous", "binary", "multiclass"})],
    }

    def __init__(
        self,
        *,
        categorical=None,
        drop=None,
        cardinality_threshold=40,
        max_integer_categories=10,
        min_frequency=5,
        text_components=30,
        log_skewed=True,
        target_type="auto",
    ):
        self.categorical = categorical
        self.drop = drop
        self.cardinality_threshold = cardinality_threshold
        self.max_integer_categories = max_integer_categories
        self.min_frequency = min_frequency
        self.text_components = text_components
        self.log_skewed = log_skewed
        self.target_type = target_type

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        self._validate_params()  # (a parameter named in its error)
        X = self._check_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.roles_, self.notes_, self.date_formats_ = infer_roles(
            X,
            drop=self.drop,
            categorical=self.categorical,
            cardinality_threshold=self.cardinality_threshold,
            max_integer_categories=self.max_integer_categories,
        )
        kept = [c for c, role in self.roles_.items() if role != "dropped"]
        if not kept:
            reasons = self.notes_ or [
                f"all {X.shape[1]} columns are named in drop"
                if self.drop
                else "the table has no feature columns"
            ]
            raise ValueError(
                "No usable feature column is left: " + "; ".join(reasons) + "."
            )
        needs_target = any(r == "high_cardinality" for r in self.roles_.values())
        if needs_target and y is None:
            raise ValueError(
                "High-cardinality columns are target-encoded, which needs y at fit."
            )
        if needs_target and pd.isna(pd.Series(np.ravel(y), dtype=object)).any():
            # A missing label would be encoded as a class of its own.
            raise ValueError(
                "y has missing values; the target encoding of high-cardinality "
                f"columns ({self._columns('high_cardinality')}) needs a target "
                "on every row: drop the rows without one."
            )
        self.target_type_ = self._resolved_target_type(y) if needs_target else None
        # What each column was, so that new rows read otherwise (a CSV
        # column of one blank cell is a float) are read as at fit.
        self.kinds_ = {c: _kind(X[c]) for c in kept}
        # Dates read in UTC whose new rows' times without a zone are noted.
        self.zoned_dates_ = [
            c
            for c in kept
            if self.roles_[c] == "datetime"
            and (
                isinstance(X[c].dtype, pd.DatetimeTZDtype)
                or "%z" in self.date_formats_.get(c, "")
            )
        ]
        X, lost = self._parsed(X[kept])
        self.notes_ += [str(loss) for loss in lost]
        self.categories_ = {
            c: sorted(_labels(X[c])) for c in kept if self.roles_[c] == "categorical"
        }
        # Numbers need no encoder: they go straight to the imputer and the
        # scaler, and only the other columns to skrub, whose per-column
        # steps would make a saved table of a thousand numeric columns
        # hundreds of MB and slow to read.
        self.numeric_columns_ = self._columns("numeric")
        self.log_scales_ = {}
        if self.log_skewed:
            for name in self.numeric_columns_:
                scale = _long_tail_scale(X[name])
                if scale is not None:
                    self.log_scales_[name] = scale
        encoded = [c for c in kept if c not in set(self.numeric_columns_)]
        self.vectorizer_ = None
        if encoded:
            self.vectorizer_ = make_vectorizer(
                self.roles_,
                self.target_type_ or self.target_type,
                min_frequency=self.min_frequency,
                text_components=self.text_components,
            )
        if self.vectorizer_ is not None:
            encoded_out = self.vectorizer_.fit_transform(
                X[encoded], self._target_for_encoding(y)
            )
        else:
            encoded_out = None
        self.feature_sources_ = self._layout(kept)
        out = self._assembled(X, encoded_out)
        # Imputation and scaling over the whole matrix at once: one object
        # each, rather than one per column inside the vectorizer (which
        # makes the saved preprocessor many times larger).
        self.imputer_ = SimpleImputer(strategy="median", add_indicator=True)
        self.scaler_ = StandardScaler()
        out = self.imputer_.fit_transform(out)
        return self._as_float(self.scaler_.fit_transform(out))

    def __getstate__(self):
        # (A copy: BaseEstimator's state may be the instance's own dict.)
        state = dict(super().__getstate__())
        if state.get("vectorizer_") is not None:
            state["vectorizer_"] = saved_vectorizer(state["vectorizer_"])
        return state

    def __setstate__(self, state):
        if state.get("vectorizer_") is not None:
            restore_vectorizer(state["vectorizer_"])
        super().__setstate__(state)

    def transform(self, X):
        out, losses = self.transform_noted(X)
        for loss in losses:
            warnings.warn(
                _sentence(str(loss)), ReadingWarning, stacklevel=user_stacklevel()
            )
        return out

    def transform_noted(self, X):
        """``transform`` without its warnings: the matrix and what reading
        ``X`` lost, as :class:`Loss` entries (for rows read a chunk at a
        time, whose losses :func:`merge_losses` adds up).

        Returns
        -------
        out : ndarray of shape (n_samples, n_features_out)
        losses : list of Loss
        """
        check_is_fitted(self, "vectorizer_")
        X, losses = self._read(X)
        if not hasattr(self, "numeric_columns_"):
            # Saved before numbers bypassed the vectorizer: all went through it.
            out = self._as_float(self.vectorizer_.transform(X))
        else:
            encoded = None
            if self.vectorizer_ is not None:
                numeric = set(self.numeric_columns_)
                encoded = self.vectorizer_.transform(
                    X[[c for c in X.columns if c not in numeric]]
                )
            out = self._assembled(X, encoded)
        out = self.scaler_.transform(self.imputer_.transform(out))
        return self._as_float(out), losses

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "vectorizer_")
        if hasattr(self, "feature_sources_"):
            names = [name for name, *_ in self.feature_sources_]
        else:
            names = self.vectorizer_.get_feature_names_out()
        return np.asarray(self.imputer_.get_feature_names_out(names), dtype=object)

    def get_feature_sources(self):
        """The input column each output feature comes from (a missing-value
        indicator from the column whose values it marks), in the order of
        ``get_feature_names_out()``.

        Returns
        -------
        sources : ndarray of str
        """
        check_is_fitted(self, "vectorizer_")
        if hasattr(self, "feature_sources_"):
            sources = [source for _, source, _ in self.feature_sources_]
        else:
            links = self.vectorizer_.output_to_input_
            sources = [links[n] for n in self.vectorizer_.get_feature_names_out()]
        indicator = self.imputer_.indicator_
        if indicator is not None:
            sources += [sources[j] for j in indicator.features_]
        return np.asarray(sources, dtype=object)

    # ---------------------------------------------------------------- steps

    @staticmethod
    def _check_frame(X):
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"TablePreprocessor needs a pandas DataFrame; got {type(X).__name__}."
            )
        if X.shape[0] == 0:
            raise ValueError("The table has no rows.")
        duplicated = list(dict.fromkeys(X.columns[X.columns.duplicated()]))
        if duplicated:
            raise ValueError(f"The table has duplicated column names: {duplicated}.")
        named = [c for c in X.columns if not isinstance(c, str)]
        if named:
            # (skrub's vectorizer refuses them, naming a setting of its own.)
            raise ValueError(
                f"TablePreprocessor needs column names that are strings; got "
                f"{named[:3]!r} ({type(named[0]).__name__}): name the columns, "
                "e.g. X.columns = X.columns.astype(str)."
            )
        return _plain_columns(X)

    def reading_notes(self, X):
        """What reading the rows ``X`` as at ``fit`` would lose, one sentence
        a column: values that are no numbers, dates or booleans where the
        column held them (read as missing), and categories unseen at fit
        (encoded as no category). ``transform`` gives each as a
        :class:`ReadingWarning`.

        Parameters
        ----------
        X : DataFrame
            Rows with the columns seen at ``fit``.

        Returns
        -------
        notes : list of str
        """
        check_is_fitted(self, "vectorizer_")
        return [str(loss) for loss in self._read(X)[1]]

    def _read(self, X):
        """The kept columns of ``X`` read as at fit, and the :class:`Loss`
        of each column that lost values in reading."""
        X = self._check_frame(X)
        # A column dropped at fit (empty, constant, an identifier) is not
        # needed: new rows may come without it.
        kept = [c for c, role in self.roles_.items() if role != "dropped"]
        missing = [c for c in kept if c not in X.columns]
        if missing:
            raise ValueError(
                f"Column(s) {missing} were present at fit and are missing now."
            )
        X, losses = self._parsed(X[kept])
        return X, losses + self._unknown_categories(X)

    def _unknown_categories(self, X):
        """A :class:`Loss` for each categorical column with values unseen at
        fit (encoded as no category, or as the infrequent ones)."""
        losses = []
        # (A preprocessor saved before categories were kept has none.)
        for name, seen in getattr(self, "categories_", {}).items():
            labels = X[name].map(_label, na_action="ignore").dropna()
            unknown = labels[~labels.isin(set(seen))]
            if not unknown.empty:
                losses.append(
                    Loss(
                        name,
                        len(unknown),
                        _first(unknown),
                        "not seen at fit",
                        "are encoded as an unknown category",
                    )
                )
        return losses

    def _dates(self, series):
        """A date column written as strings, parsed in the format found at
        fit (or, for a column that was dates at fit, the format its own
        strings show), and the notes of its reading (a guessed order of day
        and month; no time zone where the column had them at fit); None and
        no notes for other columns."""
        if not _is_text_dtype(series):
            return None, []
        # (A preprocessor saved before date strings were dates has none.)
        fmt = getattr(self, "date_formats_", {}).get(series.name)
        notes = []
        if fmt is None:
            fmt = _date_format(series, min_share=0.0)
            if fmt is None:
                return None, []
            notes.append(_either_order(series, fmt))
        dates = _to_dates(series, fmt)
        if dates.isna().any() and fmt != "ISO8601":
            # ISO 8601 leaves no doubt: "2020-01-05T10:00" is a date in a
            # column whose dates were "2020-01-05" (or "05/01/2020").
            dates = dates.fillna(_to_dates(series, "ISO8601"))
        if "%z" not in fmt and series.name in getattr(self, "zoned_dates_", ()):
            notes.append(_unzoned(series[dates.notna().to_numpy()], series.name))
        return dates, [note for note in notes if note is not None]

    def _parsed(self, X):
        """``X`` with each column read as at fit: numbers and dates written
        as strings parsed (what does not parse is missing), dates in UTC
        without a time zone, string columns that arrive as other types made
        strings; and the :class:`Loss` of each column that lost values."""
        X, losses = X.copy(), []
        # (A preprocessor saved before kinds were kept has none.)
        kinds = getattr(self, "kinds_", {})
        for name in X.columns:
            role = self.roles_[name]
            X[name] = series = _nan_for_missing(X[name])
            kind, text = kinds.get(name), _is_text_dtype(series)
            loss = None
            if (
                role in _STRING_ROLES
                and kind == "string"
                and (not text or _mixed(series))
            ):
                # A column of numbers where strings were, or numbers among
                # strings (a DataFrame's object column): all text.
                X[name] = _as_strings(series)
            elif text and (role == "numeric" or kind == "number"):
                X[name] = _to_numbers(series)
                loss = _lost(series, X[name], "numbers")
            elif kind in ("number", "bool") and _kind(series) == "date":
                # Dates (a Parquet timestamp, a DataFrame's datetime64) where
                # the column held numbers: not their nanoseconds since 1970.
                # (Missing booleans are NaN in an object column, as below.)
                dtype = float if kind == "number" else object
                X[name] = pd.Series(np.nan, index=series.index, dtype=dtype)
                present = series.dropna()
                held = "numbers" if kind == "number" else "booleans"
                loss = Loss(
                    name,
                    len(present),
                    _first(present.astype(str)),
                    f"that are dates where the column held {held} at fit",
                    "are treated as missing",
                )
            elif kind == "number" and _kind(series) == "bool":
                X[name], loss = _bools_as_numbers(series)
            elif kind == "bool":
                # One form whatever the reader made of them (bool, pandas'
                # nullable boolean, an object column, text): True, False, NaN.
                values = series.astype(object)
                values = values.where(values.notna(), np.nan)
                X[name] = values.map(_as_bool, na_action="ignore").astype(object)
                loss = _lost(series, X[name], "booleans")
            elif role == "datetime" and isinstance(series.dtype, pd.DatetimeTZDtype):
                # No time-zone object in the saved preprocessor.
                X[name] = series.dt.tz_convert("UTC").dt.tz_localize(None)
            elif role == "datetime" and pd.api.types.is_datetime64_any_dtype(series):
                if name in getattr(self, "zoned_dates_", ()):
                    loss = _unzoned(series, name)  # (None: no time at all)
            elif role == "datetime":
                dates, notes = self._dates(series)
                if dates is None:  # numbers, or a column of blank cells
                    dates = pd.Series(pd.NaT, index=series.index, dtype="M8[ns]")
                X[name] = dates
                loss = _lost(series, dates, "dates")
                losses += notes
            if loss is not None:
                losses.append(loss)
            if role == "numeric":
                losses += _infinite(X, name)
        return X, losses

    def _columns(self, role):
        return [c for c, r in self.roles_.items() if r == role]

    def _layout(self, kept):
        """``(name, source column, vectorizer output or None)`` of each
        feature before imputation: the kept columns in order, a number as
        itself, another column as the vectorizer's outputs of it."""
        numeric = set(self.numeric_columns_)
        outputs = {}
        if self.vectorizer_ is not None:
            links = self.vectorizer_.output_to_input_
            for name in self.vectorizer_.get_feature_names_out():
                outputs.setdefault(links[name], []).append(str(name))
        taken = set(numeric)
        layout = []
        for column in kept:
            if column in numeric:
                layout.append((column, column, None))
                continue
            for output in outputs.get(column, []):
                # An encoded feature named as a numeric column ("color_red"
                # both ways) is renamed: names stay distinct.
                name = output
                while name in taken:
                    name = f"{name}_encoded"
                taken.add(name)
                layout.append((name, column, output))
        return layout

    def _assembled(self, X, encoded):
        """The features before imputation, in the order of
        ``feature_sources_``: the numeric columns of ``X`` as they are and
        the vectorizer's output ``encoded`` (or None) for the others."""
        # In float64 until after the scaler: a column of large values that
        # vary little (1e9 + a fraction, times in seconds) cast to float32
        # first would lose its variation before standardization could keep it.
        out = np.empty((X.shape[0], len(self.feature_sources_)), dtype=np.float64)
        is_encoded = np.array([o is not None for *_, o in self.feature_sources_])
        if self.numeric_columns_:
            numbers = self._as_float(X[self.numeric_columns_], np.float64)
            position = {name: j for j, name in enumerate(self.numeric_columns_)}
            for name, scale in self.log_scales_.items():
                x = numbers[:, position[name]]
                numbers[:, position[name]] = np.sign(x) * np.log1p(
                    np.abs(x) / float(scale)
                )
            out[:, ~is_encoded] = numbers
        if is_encoded.any():
            order = [o for *_, o in self.feature_sources_ if o is not None]
            out[:, is_encoded] = self._as_float(encoded[order], np.float64)
            self._exact_seconds(X, out)
        return out

    def _exact_seconds(self, X, out):
        """Replace skrub's float32 ``total_seconds`` of each date column in
        ``out`` by the seconds in float64: float32 steps are 128 s at
        today's dates, so times minutes apart became equal."""
        for j, (_, source, output) in enumerate(self.feature_sources_):
            if (
                output != f"{source}_total_seconds"
                or self.roles_.get(source) != "datetime"
                or not pd.api.types.is_datetime64_dtype(X[source])
            ):
                continue
            since = X[source] - pd.Timestamp("1970-01-01")
            out[:, j] = (since / pd.Timedelta(1, "s")).to_numpy(
                dtype=np.float64, na_value=np.nan
            )

    def _resolved_target_type(self, y):
        if self.target_type == "auto":
            task = infer_task(np.ravel(y))
            return "continuous" if task == "regression" else task
        if self.target_type != "continuous":
            # TargetEncoder fails on a binary y read as multiclass (an
            # IndexError), and encodes the mean of label codes 0, 1, 2, ...
            # for a y of more classes read as binary.
            n_classes = len(pd.unique(pd.Series(np.ravel(y), dtype=object)))
            if (self.target_type == "binary") != (n_classes == 2):
                raise ValueError(
                    f"target_type={self.target_type!r} does not fit y, which "
                    f"holds {n_classes} distinct value(s): 'binary' needs "
                    "exactly 2, 'multiclass' 3 or more ('auto' reads y's kind)."
                )
        return self.target_type

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
    def _as_float(out, dtype=np.float32):
        if hasattr(out, "to_numpy"):
            out = out.to_numpy(dtype=dtype, na_value=np.nan)
        out = np.asarray(out, dtype=dtype)
        if np.isinf(out).any():
            raise ValueError(
                "Preprocessing produced non-finite values; check the table for "
                "values too large for float32."
            )
        return out
