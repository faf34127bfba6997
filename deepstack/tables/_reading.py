"""Reading a column's values as a table holds them: numbers written as text
(``"$1,234.50"``, ``"45%"``; codes with leading zeros stay strings),
booleans, dates and missing-value markers, and what reading loses
(:class:`Loss`, :class:`ReadingWarning`)."""

import re
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format


def _is_string_like(series):
    return (
        pd.api.types.is_object_dtype(series)
        or pd.api.types.is_string_dtype(series)
        or isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(series)
    )


def _instances(series, types):
    """For an object column, whether each present value is an instance of
    ``types`` (a boolean Series, empty when no value is present); None for
    other columns."""
    if not pd.api.types.is_object_dtype(series):
        return None
    return series.dropna().map(lambda v: isinstance(v, types)).astype(bool)


def _holds_containers(series):
    """Whether ``series`` holds lists, arrays or mappings (a Parquet file's
    list and struct columns)."""
    found = _instances(series, (list, tuple, set, dict, np.ndarray))
    return found is not None and bool(found.any())


def _looks_like_text(series):
    """Free text rather than a label: several words per value on average."""
    values = series.dropna().astype(str)
    if values.empty:
        return False
    return float(values.str.count(r"\S+").mean()) >= 3.0  # words per value


def _is_text_dtype(series):
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


# Codes written with leading zeros (zip codes, account numbers) stay strings.
_LEADING_ZERO = r"^\s*[+-]?0\d"
# Numbers with a few other tokens ("?", "-", "unknown": markers of a missing
# value that the reader did not know) are numbers.
_MIN_NUMBER_SHARE = 0.9
_SAMPLE = 1000
_MAX_OTHER_TOKENS = 3


# A currency sign before a number (after its sign), a percent sign after it.
_DECORATION = r"^([+-]?)\s*[$€£¥]\s*|\s*%$"
# Thousands grouped by commas, or by spaces as French writes them (a space,
# a no-break space, a narrow no-break space): "1,234.5", "48 366".
_GROUP = "[ \u00a0\u202f]"
_THOUSANDS = rf"[+-]?\d{{1,3}}(?:(?:,\d{{3}})+|(?:{_GROUP}\d{{3}})+)(?:\.\d+)?"


def _to_numbers(series):
    """Strings read as numbers, as a spreadsheet writes them ("$1,234.50",
    "48 366", "-€5", "45%": a currency sign, thousands separators (commas or
    spaces) and a percent sign
    are read, the percent as the number before it); what is no number is
    missing."""
    text = series.astype(object).where(series.notna(), None).astype("string")
    text = text.str.strip().str.replace(_DECORATION, r"\1", regex=True)
    grouped = text.str.fullmatch(_THOUSANDS).fillna(False).astype(bool)
    text = text.where(~grouped, text.str.replace(f",|{_GROUP}", "", regex=True))
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _as_numbers(series):
    """``series`` as numbers when its strings are numbers but for a few
    other tokens (missing-value markers), else None."""
    if not _is_text_dtype(series):
        return None
    present = series.notna()
    if not present.any():
        return None
    if present.sum() > 2 * _SAMPLE:
        # A column of words is told from a sample first (reading a whole
        # column as numbers is the slow part of a large table's roles): a
        # seeded sample in which half the values are no numbers is a column
        # in which fewer than nine in ten are, but with odds below 1e-100.
        sample = series[present].sample(_SAMPLE, random_state=0)
        if _to_numbers(sample).notna().mean() < 0.5:
            return None
    if series[present].astype(str).str.match(_LEADING_ZERO).any():
        return None
    numbers = _to_numbers(series)
    if numbers[present].notna().mean() < _MIN_NUMBER_SHARE:
        return None
    if series[present & numbers.isna()].nunique() > _MAX_OTHER_TOKENS:
        return None
    # Whole numbers stay integers (an integer code with few values is a
    # category, as for an integer column).
    if numbers.notna().all() and (numbers % 1 == 0).all():
        return numbers.astype("int64")
    return numbers


_STRING_ROLES = ("categorical", "high_cardinality", "text")


class ReadingWarning(UserWarning):
    """New rows lost something when read as at fit: values that are no
    numbers, dates or booleans where the column held them (read as missing),
    or categories unseen at fit (encoded as no category)."""


def _kind(series):
    """What a column holds: "string", "number", "bool" or "date"."""
    if pd.api.types.is_bool_dtype(series) or _all_bools(series):
        return "bool"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    return "string"


def _bools_as_numbers(series):
    """Booleans where a column held numbers at fit, as 1 and 0, and the
    :class:`Loss` note that says so."""
    values = series.astype(object).map(_as_bool, na_action="ignore")
    present = series.dropna()
    return values.astype(float), Loss(
        series.name,
        len(present),
        _first(present.astype(str)),
        "that are booleans where the column held numbers at fit",
        "are read as 1 and 0",
    )


def _mixed(series):
    """Whether an object column holds strings and other values (numbers,
    booleans) mixed."""
    found = _instances(series, str)
    return found is not None and bool(found.any()) and not bool(found.all())


def _all_bools(series):
    """Whether an object column holds booleans and missing values only (a
    CSV's column of True and False with blank cells)."""
    found = _instances(series, (bool, np.bool_))
    return found is not None and not found.empty and bool(found.all())


def _label(value):
    """A category as text: ``2.0`` (an integer read as a float) is ``"2"``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _labels(series):
    """The categories present in ``series``, as text."""
    return set(series.dropna().map(_label))


def _as_strings(series):
    """``series`` as strings (missing values kept), as a CSV reader would have
    kept them: ``1.0``, read as a float for a blank cell, is ``"1"``."""
    return series.astype(object).map(_label, na_action="ignore").astype("str")


class Loss(NamedTuple):
    """Values of one column that reading lost: how many, the first three
    distinct ones (as text, in row order) and what became of them. Its
    text is the note (lower case, no full stop); :func:`merge_losses` adds
    up those of rows read a chunk at a time.

    Attributes
    ----------
    column : str
        The column's name.
    count : int
        How many values were lost.
    examples : tuple of str
        The first three distinct lost values, as text, in row order.
    problem : str
        What is wrong with them, e.g. "that are not numbers".
    outcome : str
        What became of them, e.g. "are treated as missing".
    """

    column: str
    count: int
    examples: tuple
    problem: str
    outcome: str

    def __str__(self):
        shown = ", ".join(repr(v) for v in self.examples)
        return (
            f"column {self.column!r}: {self.count} value(s) {self.problem} "
            f"({shown}) {self.outcome}"
        )


def merge_losses(losses):
    """The :class:`Loss` entries of ``losses`` (from consecutive chunks of
    rows, in order) added up: one a column and problem, counting every
    chunk's values, with the first three distinct examples of all.

    Parameters
    ----------
    losses : iterable of Loss
        Entries with the same ``column``, ``problem`` and ``outcome`` are
        merged.

    Returns
    -------
    list of Loss
        In the order each column and problem first appears.
    """
    merged = {}
    for loss in losses:
        key = (loss.column, loss.problem, loss.outcome)
        if key in merged:
            seen = merged[key]
            examples = tuple(dict.fromkeys(seen.examples + loss.examples))[:3]
            loss = seen._replace(count=seen.count + loss.count, examples=examples)
        merged[key] = loss
    return list(merged.values())


def _lost(series, parsed, what):
    """The :class:`Loss` of the values of ``series`` that ``parsed`` lost
    (present before, missing after), or None."""
    lost = series[series.notna().to_numpy() & pd.isna(parsed).to_numpy()]
    if lost.empty:
        return None
    return Loss(
        series.name,
        len(lost),
        _first(lost.astype(str)),
        f"that are not {what}",
        "are treated as missing",
    )


def _as_bool(value):
    """A boolean from a boolean or its text ("True", " false"); None for
    anything else."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return {"true": True, "false": False}.get(str(value).strip().lower())


def _plain_columns(X):
    """``X`` with the columns the encoders cannot take made plain, at fit and
    at transform alike: pyarrow-backed columns (``dtype_backend="pyarrow"``)
    as pandas reads the same data from Parquet by default (NumPy types, NaN
    or None for missing, categories for dictionaries, lists for lists),
    sparse columns dense, durations as seconds (numbers) and periods as
    their start (dates)."""
    changed = {}
    for name in X.columns:
        series = X[name]
        if isinstance(series.dtype, pd.ArrowDtype):
            changed[name] = _from_arrow(series)
        elif isinstance(series.dtype, pd.SparseDtype):
            changed[name] = series.sparse.to_dense()
        elif pd.api.types.is_timedelta64_dtype(series):
            changed[name] = series.dt.total_seconds()
        elif isinstance(series.dtype, pd.PeriodDtype):
            changed[name] = series.dt.to_timestamp()
    if not changed:
        return X
    X = X.copy()
    for name, series in changed.items():
        X[name] = series
    return X


def _from_arrow(series):
    import pyarrow as pa

    table = pa.Table.from_pandas(series.to_frame(name="v"), preserve_index=False)
    return table.to_pandas(ignore_metadata=True)["v"].set_axis(series.index)


def _nan_for_missing(series):
    """A string column whose missing values are NaN: pandas' nullable
    strings (a Parquet file's, as pandas writes them) and object columns mark
    them pd.NA or None, which the encoders take for a category or refuse."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.na_value is pd.NA:
        return series.astype("str")
    if pd.api.types.is_object_dtype(series):
        missing = series.isna()
        if missing.any():
            return series.where(~missing, np.nan)
    return series


def _infinite(X, name):
    """Make the infinite values of the column ``name`` of ``X`` missing (a
    spreadsheet's division by zero: no number to learn from), and those
    beyond float32's range (the network's inputs: they would be infinite
    there); their :class:`Loss` entries."""
    values = X[name]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return []
    finite = values.mask(values.isin([np.inf, -np.inf]))
    within = finite.mask(finite.abs() > np.finfo(np.float32).max)
    losses = [
        _lost(values, finite, "finite numbers"),
        _lost(finite, within, "numbers within float32's range (±3.4e38)"),
    ]
    losses = [loss for loss in losses if loss is not None]
    if losses:
        X[name] = within
    return losses


def _sentence(note):
    """A note (lower case, no full stop, as ``notes_`` and ``config.json``
    keep it) as the sentence of its warning."""
    return note[0].upper() + note[1:] + "."


def _first(values, n=3):
    """The first ``n`` distinct ``values``, as text."""
    return tuple(str(v) for v in pd.unique(pd.Series(values))[:n])


def _examples(values):
    """The first three distinct ``values``, quoted, for a note."""
    return ", ".join(repr(v) for v in _first(values))


# A column is dates when this share of its strings parse in one format.
_MIN_DATE_SHARE = 0.9


def _date_format(series, min_share=_MIN_DATE_SHARE):
    """The format, with a year in it, in which at least ``min_share`` of the
    strings of ``series`` are dates (pandas' guess from its first values,
    month-first or day-first, whichever parses more), or None. Digits alone
    are dates only as year, month and day (``"20240131"``), of years 1800 to
    2100: ``"0830"`` and ``"1311"`` are codes or times, not years."""
    if not _is_text_dtype(series):
        return None
    present = series.dropna().astype(str).str.strip()
    if present.empty:
        return None
    candidates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas' dayfirst hint
        for value in present.iloc[:20]:
            for dayfirst in (False, True):
                fmt = guess_datetime_format(value, dayfirst=dayfirst)
                has_year = fmt is not None and ("%Y" in fmt or "%y" in fmt)
                if has_year and fmt not in candidates and _dated(fmt):
                    candidates.append(fmt)
    best, best_share = None, min_share
    for fmt in candidates:  # month-first guesses come first and win ties
        dates = _to_dates(present, fmt)
        if _DIGITS_ONLY.fullmatch(fmt):
            dates = dates.where(dates.dt.year.between(*_YEARS))
        share = dates.notna().mean()
        if share > best_share or (best is None and share == best_share):
            best, best_share = fmt, share
    return best


# A format of digits alone, without a separator ("%Y": "0830", "1311")
# reads codes (industry codes, postcodes) and times of day as years: of
# those, only a year, a month and a day ("%Y%m%d": "20240131", a time after
# it perhaps) make dates, of years in _YEARS.
_DIGITS_ONLY = re.compile(r"(?:%[A-Za-z])+")
_YEARS = (1800, 2100)


def _dated(fmt):
    """Whether ``fmt`` (with a year in it) may be a date column's format."""
    return not _DIGITS_ONLY.fullmatch(fmt) or fmt.startswith("%Y%m%d")


def _swapped_order(fmt):
    """``fmt`` with its day and month swapped, or None without both."""
    if "%d" not in fmt or "%m" not in fmt:
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _either_order(series, fmt):
    """The :class:`Loss` note of the dates of ``series`` that ``fmt`` and
    ``fmt`` with day and month swapped read as different dates, when no value
    decides between them (a day above 12 that only one order reads) and the
    year does not come first; None otherwise."""
    other = _swapped_order(fmt)
    year = max(fmt.find("%Y"), fmt.find("%y"))
    if other is None or year < fmt.index("%m"):
        # Year first: ISO's order (year, month, day) is no guess.
        return None
    present = series.dropna()
    dates, swapped = _to_dates(present, fmt), _to_dates(present, other)
    if (dates.notna() & swapped.isna()).any():
        return None
    differ = (dates.notna() & (dates != swapped)).to_numpy()
    if not differ.any():
        return None
    first = "month" if fmt.index("%m") < fmt.index("%d") else "day"
    return Loss(
        series.name,
        int(differ.sum()),
        _first(present[differ].astype(str)),
        "that read as dates with the day and the month either way",
        f"are read {first} first ({fmt!r}); dates written as YYYY-MM-DD leave no doubt",
    )


def _unzoned(series, name):
    """The :class:`Loss` note of the dates of ``series`` (of column ``name``,
    whose times had time zones at fit) that have none, or None."""
    present = series.dropna()
    if present.empty:
        return None
    return Loss(
        name,
        len(present),
        _first(present.astype(str)),
        "that have no time zone (the column's times had one at fit)",
        "are read as UTC",
    )


def _to_dates(series, fmt):
    """``series`` parsed in ``fmt`` (what does not parse is missing), as
    times in UTC without a time zone: strings with different offsets make one
    column, and the saved preprocessor holds no time-zone objects (which its
    trusted loading would refuse)."""
    dates = pd.to_datetime(series, format=fmt, errors="coerce", utc=True)
    return dates.dt.tz_localize(None)
