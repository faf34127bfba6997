"""The main job's rows: read, checked and split before anything trains.

:func:`read_rows` reads the training file (and the test and unlabeled
files), cleans the target (numbers written as text, padded or differently
cased labels, blank cells), resolves the task, sets rows without a target
aside (for pretraining) or drops them with a note, and splits the test rows
(stratified, or by group). What it noticed is in the returned
:class:`Table`'s ``notes`` and said as warnings.
"""

import dataclasses
import warnings

import numpy as np
import pandas as pd

from deepstack._warnings import user_stacklevel
from deepstack.runs import _files
from deepstack.runs._target import (
    case_note,
    check_target_column,
    regression_target,
    resolve_task,
    row_weights,
    spaced_note,
    split_rows,
    stripped_labels,
    target_numbers,
)
from deepstack.tables._reading import (
    _all_bools,
    _examples,
    _is_text_dtype,
    _sentence,
)


@dataclasses.dataclass
class Table:
    """The rows of one job, checked and split (plain data for the steps below)."""

    frame: pd.DataFrame  # every labeled row
    train: pd.DataFrame
    test: pd.DataFrame
    target: str
    task: str
    feature_columns: list
    unlabeled: list  # frames of rows used only by pretraining
    notes: list


def read_rows(
    data,
    target,
    *,
    task,
    test,
    test_size,
    unlabeled,
    drop,
    categorical,
    weight_column,
    group_column,
    pretrain,
    random_state,
):
    """Read, check and split the rows; nothing is trained here."""
    frame = _files.read_table(data, what="training")
    check_target_column(frame, target, weight_column, drop, categorical, group_column)
    read_missing = frame[target].isna().to_numpy()  # (before "?" is no number)
    target_notes = []
    no_number = np.zeros(len(frame), dtype=bool)
    if (numbers := target_numbers(frame[target], task)) is not None:
        written_target = frame[target]
        no_number = (written_target.notna() & numbers.isna()).to_numpy()
        frame = frame.copy()  # the caller's DataFrame stays as it was
        frame[target] = numbers
        target_notes.append(
            f"the target {target!r} holds numbers written as text; they are read "
            "as numbers (a regression)"
        )
    elif _is_text_dtype(frame[target]):
        labels = stripped_labels(frame[target])
        changed = labels.notna() & (labels != frame[target])
        if changed.any():
            target_notes.append(
                spaced_note(target, int(changed.sum()), frame.loc[changed, target])
            )
        if changed.any() or (labels.isna() & frame[target].notna()).any():
            # (A label of spaces alone is missing: its row has no target.)
            frame = frame.copy()
            frame[target] = labels
        target_notes += case_note(labels, target)
        if _all_bools(labels):
            # True / False with blank cells: pandas leaves Python objects,
            # which scikit-learn takes for no kind of label.
            frame = frame.copy()
            frame[target] = labels.astype("boolean")
    y_all = frame[target]
    labeled = y_all.notna().to_numpy()
    if not labeled.any():
        raise ValueError(f"Every value of the target {target!r} is missing.")
    task = resolve_task(task, y_all[labeled])
    if task == "regression":
        regression_target(y_all, "training")
    notes, unlabeled_frames = [], []
    for note in target_notes:
        notes.append(note)
        warnings.warn(_sentence(note), UserWarning, stacklevel=user_stacklevel())
    if not labeled.all():
        # (Said apart, as evaluate says them: a typo in a regression's
        # target is no missing value.)
        kinds = []
        if n_missing := int((~labeled & ~no_number).sum()):
            written = written_as_missing(data, target, read_missing)
            kinds.append(f"{n_missing} row(s) without a target{written}")
        if no_number.any():
            kinds.append(
                f"{int(no_number.sum())} row(s) whose target is no number "
                f"({_examples(written_target[no_number])})"
            )
        for kind in kinds:
            if pretrain is not None:
                notes.append(f"{kind} are used as unlabeled rows for pretraining")
            else:
                notes.append(f"{kind} were dropped")
                warnings.warn(
                    notes[-1] + ".", UserWarning, stacklevel=user_stacklevel()
                )
        if pretrain is not None:
            unlabeled_frames.append(frame[~labeled])
    if unlabeled is not None:
        if pretrain is None:
            raise ValueError(
                "Unlabeled rows are used by pretraining: pass pretrain "
                "('auto', 'denoising' or 'autoencoder') with them."
            )
        unlabeled_frames.append(_files.read_table(unlabeled, what="unlabeled"))
    frame = frame[labeled]
    if weight_column is not None:
        # Every labeled row's: the split's test rows are weighted too, and
        # are scored only after the training.
        row_weights(frame[weight_column], weight_column)
    if task != "regression":
        frame = integer_labels(frame, target)
    if pretrain is not None and task != "regression" and (frame[target] == -1).any():
        raise ValueError(
            f"The target {target!r} has a class -1, which marks unlabeled rows "
            "when pretraining is on; relabel that class."
        )
    not_features = {target, weight_column, group_column, *(drop or ())}
    feature_columns = [c for c in frame.columns if c not in not_features]
    if not feature_columns:
        raise ValueError(f"The table has no feature columns besides {target!r}.")
    if test is not None:
        train_frame, test_frame = frame, _files.read_table(test, what="test")
        if target not in test_frame.columns:
            raise ValueError(
                f"The test table has no target column {target!r}; test rows must "
                f"be labeled. Its columns are {list(map(str, test_frame.columns))}."
            )
        written = test_frame[target]
        if task == "regression":
            # Checked now, read when scored: what is no number is named then.
            labels = regression_target(written, "test")
        else:
            test_frame = integer_labels(test_frame, target)
            labels = stripped_labels(written) if _is_text_dtype(written) else written
        labeled_test = labels.notna()
        if not labeled_test.any():
            # (The rows to predict, given as test rows: found now, not when
            # they are scored after the training.)
            what = "is missing in every row"
            if written.notna().any():
                what = f"holds no number ({_examples(written.dropna())})"
            raise ValueError(
                f"The test table has no labeled row: its target {target!r} {what}; "
                "test rows must be labeled."
            )
        if weight_column in test_frame.columns:
            # They weight the test metrics: checked before the training.
            row_weights(test_frame.loc[labeled_test, weight_column], weight_column)
    else:
        groups = None if group_column is None else frame[group_column]
        train_frame, test_frame, single = split_rows(
            frame, target, task, test_size, random_state, groups
        )
        if single:
            message = (
                f"{len(single)} class(es) of the target have a single row "
                f"({_examples(single)}): kept in the training rows, so the test "
                "rows do not score them"
            )
            notes.append(message)
            warnings.warn(_sentence(message), UserWarning, stacklevel=user_stacklevel())
    if train_frame[target].nunique() < 2:
        value = str(train_frame[target].iloc[0])
        raise ValueError(
            f"The target {target!r} has a single value ({value!r}) in the training "
            "rows; a regression needs at least two."
            if task == "regression"
            else f"The target {target!r} has a single class ({value!r}) in the "
            "training rows; classification needs at least two."
        )
    return Table(
        frame,
        train_frame,
        test_frame,
        target,
        task,
        feature_columns,
        unlabeled_frames,
        notes,
    )


def written_as_missing(data, target, missing):
    """How the file writes the missing targets that are no empty cells
    ("NA": North America, or a missing value?), for the note that drops
    them."""
    markers = _files.missing_markers(data, target, np.flatnonzero(missing))
    if not markers:
        return ""
    written = ", ".join(f"{n} {text!r}" for text, n in markers.items())
    return f" ({written}: text that pandas reads as a missing value)"


def integer_labels(frame, target):
    """``frame`` with integer class labels that blank cells made floats
    (pandas reads ``1``, ``2`` and a blank as 1.0, 2.0, NaN) as integers
    again: predicted and written as ``2``, not ``2.0``."""
    y = frame[target]
    present = y.dropna()
    if not pd.api.types.is_float_dtype(y) or present.empty:
        return frame
    if not (present % 1 == 0).all():
        return frame
    frame = frame.copy()
    frame[target] = y.astype("Int64")
    return frame
