"""The target column of a table: its task, its labels or numbers, the
weights, and the train / test split of the main job."""

import difflib
import math
import unicodedata

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from deepstack.tables import infer_task
from deepstack.tables._reading import (
    _as_numbers,
    _examples,
    _is_text_dtype,
    _label,
    _to_numbers,
)


def check_target_column(
    frame, target, weight_column, drop, categorical, group_column=None
):
    columns = list(map(str, frame.columns))
    if target not in frame.columns:
        raise ValueError(
            f"Target column {target!r} is not in the table; its columns are {columns}."
            + _closest(target, columns)
        )
    repeated = frame.attrs.get("repeated_names", {})
    for name, what in (
        (target, "target"),
        (weight_column, "weight column"),
        (group_column, "group column"),
    ):
        if name in repeated:
            raise ValueError(
                f"The {what} {name!r} names {len(repeated[name])} columns of the "
                f"file (read as {repeated[name]}); rename all but one."
            )
        if name is not None and (count := int((frame.columns == name).sum())) > 1:
            raise ValueError(
                f"The {what} {name!r} names {count} columns of the table; rename "
                "all but one."
            )
    for name, what in (
        (weight_column, "weight column"),
        (group_column, "group column"),
    ):
        if name is not None and name not in frame.columns:
            raise ValueError(
                f"{what} {name!r} is not in the table; its columns are {columns}."
                + _closest(name, columns)
            )
    if weight_column is not None and weight_column == target:
        raise ValueError(
            f"The weight column {weight_column!r} must be another column than the "
            "target."
        )
    if group_column is not None:
        if group_column in (target, weight_column):
            raise ValueError(
                f"The group column {group_column!r} must be another column than the "
                "target and the weight column."
            )
        missing = int(frame[group_column].isna().sum())
        if missing:
            raise ValueError(
                f"The group column {group_column!r} has {missing} missing value(s); "
                "every row needs a group."
            )
        if frame[group_column].nunique() < 2:
            raise ValueError(
                f"The group column {group_column!r} holds a single group; splitting "
                "by groups needs two at least."
            )
    for names, what in ((drop, "to drop"), (categorical, "to treat as categorical")):
        unknown = [c for c in names or () if c not in frame.columns]
        if unknown:
            raise ValueError(
                f"Column(s) {unknown} {what} are not in the table; its columns "
                f"are {columns}." + "".join(_closest(c, columns) for c in unknown)
            )
    if target in (drop or ()):
        raise ValueError(f"The target {target!r} cannot be dropped.")
    if {target, weight_column, group_column} & set(categorical or ()) - {None}:
        raise ValueError(
            "Only feature columns can be categorical; the target's classes follow "
            "task= (--task), the weight column holds numbers and the group column "
            "labels."
        )
    both = sorted(set(drop or ()) & set(categorical or ()))
    if both:
        raise ValueError(f"Column(s) {both} are both dropped and categorical.")


def _closest(name, columns):
    """A hint naming the column that ``name`` was likely meant for: one equal
    to it but for letter case, spaces around it or the Unicode form of its
    accents (a file's "é" may be "e" and a combining accent, which a shell
    never types), else a close spelling; or ""."""

    def key(text):
        return unicodedata.normalize("NFC", str(text)).strip().casefold()

    same = [c for c in columns if key(c) == key(name)]
    if len(same) == 1:
        column = same[0]
        if unicodedata.normalize("NFC", column) == unicodedata.normalize("NFC", name):
            return (
                f" The column {column!r} looks the same but writes its accented "
                f"letters with other Unicode characters ({ascii(column)} against "
                f"{ascii(name)}): rename it in the file, or give its name as the "
                "file writes it."
            )
        return f" Did you mean {column!r}?"
    close = difflib.get_close_matches(str(name), columns, n=1, cutoff=0.8)
    return f" Did you mean {close[0]!r}?" if close else ""


def resolve_task(task, y):
    if task is None:
        return infer_task(y)
    if task == "regression":
        return task
    n_classes = y.nunique()
    if task == "binary" and n_classes > 2:
        raise ValueError(f"task='binary' but the target has {n_classes} classes.")
    return "binary" if n_classes <= 2 else "multiclass"


def target_numbers(y, task):
    """The target as numbers when it holds numbers written as text (a
    spreadsheet's "$250,000") and is a regression (asked, or inferred from
    the numbers); else None. Text of a few integers stays classes."""
    if task not in (None, "regression"):
        return None
    numbers = _as_numbers(y)
    if numbers is None or numbers.isna().all():
        return None
    if task is None and infer_task(numbers.dropna()) != "regression":
        return None
    return numbers


def stripped_labels(y):
    """Class labels without the spaces around them: a CSV's ``" yes"`` is
    the class ``"yes"``, and a label of spaces alone is missing."""
    return y.map(lambda v: (v.strip() or np.nan) if isinstance(v, str) else v)


def spaced_note(target, count, examples):
    """The note on ``count`` labels of ``target`` read without the spaces
    around them (``examples``: some of them, as written)."""
    return (
        f"the target {target!r}: {count} label(s) with spaces around them "
        f"({_examples(examples)}) are read without them"
    )


def case_note(labels, target):
    """A note (in a list) when classes differ only in case ("Yes", "yes"):
    they stay apart, but a user should know."""
    strings = pd.Series([v for v in labels.dropna().unique() if isinstance(v, str)])
    twins = strings[strings.str.lower().duplicated(keep=False)]
    if twins.empty:
        return []
    twins = sorted(twins, key=lambda v: (v.lower(), v))  # each pair together
    return [
        f"the target {target!r} has classes that differ only in case "
        f"({_examples(twins)}); they are kept apart"
    ]


def regression_target(y, what="labeled"):
    """A regression target read as numbers: text as the training rows' was
    (what is no number is missing, so the row has no target). Infinite
    values raise a ``ValueError``: no metric can score them."""
    y = _to_numbers(y) if _is_text_dtype(y) else y
    if pd.api.types.is_numeric_dtype(y) and (infinite := np.isinf(y).sum()):
        raise ValueError(
            f"The target {y.name!r} holds {int(infinite)} infinite value(s) in "
            f"the {what} rows; a regression needs finite numbers."
        )
    return y


def numeric_target(y, target):
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"A regression needs a numeric target; {target!r} holds values such "
            f"as {y[0]!r}."
        ) from exc


def row_weights(column, name):
    try:
        weights = np.asarray(column, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        text = pd.Series(column)
        odd = text[pd.to_numeric(text, errors="coerce").isna() & text.notna()]
        raise ValueError(
            f"Weight column {name!r} is not numeric: it holds {len(odd)} value(s) "
            f"that are no numbers ({_examples(odd)})."
        ) from exc
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise ValueError(
            f"Weight column {name!r} must hold finite, non-negative numbers; "
            f"{int(bad.sum())} value(s) are not "
            f"({_examples(pd.Series(column)[bad].tolist())})."
        )
    return weights


def split_rows(frame, target, task, test_size, seed, groups=None):
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1); got {test_size!r}.")
    if groups is not None:
        # Whole groups on either side (not stratified; a draw that keeps every
        # class in the training rows, where one does).
        y = None if task == "regression" else frame[target].to_numpy()
        _check_training_side(len(pd.unique(groups)), test_size, "groups")
        train, test = group_split(groups, y, test_size, seed)
        return frame.iloc[train], frame.iloc[test], []
    if task == "regression":
        _check_training_side(frame.shape[0], test_size, "rows")
        train, test = train_test_split(frame, test_size=test_size, random_state=seed)
        return train, test, []
    # A class of one row goes to the training rows: in the test rows alone
    # it would be a class the model never saw.
    counts = frame[target].value_counts()
    counts = counts[counts > 0]  # (a categorical's unused categories)
    single = counts.index[counts < 2]
    if len(single) == len(counts):
        raise ValueError(
            f"Every class of the target {target!r} has a single row ({len(counts)} "
            "classes): there is nothing to learn. Is it an identifier?"
        )
    alone = frame[target].isin(single).to_numpy()
    rest = frame[~alone]
    _check_training_side(rest.shape[0], test_size, "rows")
    stratify = None
    n_test, n_classes = math.ceil(test_size * rest.shape[0]), len(counts) - len(single)
    if n_test >= n_classes and rest.shape[0] - n_test >= n_classes:
        stratify = rest[target]
    train, test = train_test_split(
        rest, test_size=test_size, random_state=seed, stratify=stratify
    )
    return pd.concat([train, frame[alone]]), test, [_label(c) for c in single]


def _check_training_side(n, test_size, unit):
    """Refuse a test share that leaves no training rows (or groups), as the
    split would, naming the option rather than scikit-learn's train_size."""
    if n - math.ceil(test_size * n) < 1:
        raise ValueError(
            f"test_size (--test-size) {test_size!r} holds out all of the {n} "
            f"{unit} that can be split, leaving none to train on: give a smaller "
            "share (0.2 by default), or test rows (test=, --test)."
        )


# Draws of whole-group splits tried for one whose training side holds every
# class (the first draw is the seed's own split, as with a single draw).
_GROUP_DRAWS = 200


def group_split(groups, y, test_size, seed):
    """``(train, test)`` row positions of a split of whole groups
    (``GroupShuffleSplit``, ``test_size`` of the groups to test). With class
    labels ``y``, the first of the seed's draws whose training rows hold
    every class: a class whose groups all land on the test side would be a
    class the model never saw. A ``ValueError`` when no draw keeps every
    class (a class's groups cannot all stay in training), naming them."""
    groups = np.asarray(groups)
    splitter = GroupShuffleSplit(
        1 if y is None else _GROUP_DRAWS, test_size=test_size, random_state=seed
    )
    draws = splitter.split(np.zeros(len(groups)), groups=groups)
    if y is None:
        return next(draws)
    y = np.asarray(y)
    classes = pd.unique(y)
    fewest = None
    for train, test in draws:
        missing = classes[~pd.Series(classes).isin(y[train]).to_numpy()]
        if not len(missing):
            return train, test
        if fewest is None or len(missing) < len(fewest):
            fewest = missing
    shown = _examples([_label(c) for c in fewest])
    raise ValueError(
        f"No split of whole groups keeps every class in the training rows "
        f"({_GROUP_DRAWS} draws): class(es) {shown} always have all "
        "their groups on the held-out side. Give test rows, a smaller test "
        "share, or more groups of these classes."
    )


def as_label_dtype(y, classes):
    """Cast labels read from a file to the dtype of the fitted classes; a
    label that no class reads exactly stays as it is (an unseen class)."""
    if classes is None:
        return y
    classes = np.asarray(classes)
    dtype = classes.dtype
    if dtype.kind in "US" or all(isinstance(c, str) for c in classes):
        # (Booleans where the classes are text: "True", a class unseen at
        # fit, not a mix that scikit-learn's metrics refuse.)
        # As long as the labels need: a fixed width would cut longer ones
        # (an unseen "Chinstrap_2" read as the class "Chinstrap").
        return np.asarray(y).astype(str)
    y = np.asarray(y)
    if y.dtype.kind in "biuf" and dtype.kind in "biuf":
        cast = y.astype(dtype)
        if np.array_equal(cast, y):
            return cast
    # Label by label: numpy would read any text but "" as True and 1.5 as
    # the class 1. A label that no class reads exactly stays itself (an
    # object array then), a class unseen at fit.
    read = [_class_value(value, dtype) for value in y.tolist()]
    if any(value is None for value in read):
        return np.array(
            [v if r is None else r for v, r in zip(y.tolist(), read)], dtype=object
        )
    return np.array(read, dtype=dtype)


_BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _class_value(value, dtype):
    """``value`` as a class of ``dtype``, or None where no class reads it
    exactly: booleans are True and False, 1 and 0, and their text as a CSV
    reader reads it ("true", "0"); numbers are the same number, or its
    text."""
    if dtype.kind == "b":
        if isinstance(value, str):
            return _BOOLEAN_TEXT.get(value.lower())
        if isinstance(value, (bool, np.bool_, int, np.integer, float)) and value in (
            0,
            1,
        ):
            return bool(value)
        return None
    try:
        read = np.asarray(value).astype(dtype).item()
    except (TypeError, ValueError, OverflowError):
        return None
    same = _label(read) == value if isinstance(value, str) else read == value
    return read if same else None
