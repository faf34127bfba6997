"""A fitted table model: :class:`TableRun` (fitting is
:func:`~deepstack.runs.fit_table`, in ``_fit_table.py``; its folder on disk is
written and read in ``_folder.py``)."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from deepstack._folders import check_file_out
from deepstack._interrupt import checked_interrupts
from deepstack._warnings import user_stacklevel
from deepstack.runs import _files
from deepstack.runs._metrics import PRIMARY, task_metrics
from deepstack.runs._progress import row_progress
from deepstack.runs._target import (
    as_label_dtype,
    regression_target,
    row_weights,
    spaced_note,
    stripped_labels,
)
from deepstack.tables import ReadingWarning
from deepstack.tables._reading import _examples, _is_text_dtype, _sentence, merge_losses


class TableRun:
    """A fitted table model: the pipeline, its metrics, and its run folder.

    Returned by :func:`fit_table` and :func:`load_run`.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        ``TablePreprocessor`` then the fitted deepstack estimator (a
        :mod:`deepstack.ensemble` bag of networks when bagged).
    config : dict
        Resolved parameters, seed, versions, data fingerprint, column roles.
    metrics : dict
        ``validation`` and ``test`` metrics, epochs and times.
    path : pathlib.Path or None
        The run folder, when the run was saved.
    history : dict
        The estimator's per-epoch logs.
    trials : pandas.DataFrame or None
        One row per search trial, when searched.
    importance : pandas.DataFrame or None
        :meth:`column_importance` on the test rows, for a saved run.
    """

    def __init__(
        self, pipeline, config, metrics, *, path=None, trials=None, importance=None
    ):
        self.pipeline = pipeline
        self.config = config
        self.metrics = metrics
        self.path = None if path is None else Path(path)
        self.trials = trials
        self.importance = importance

    @property
    def estimator(self):
        return self.pipeline[-1]

    @property
    def history(self):
        return dict(self.estimator.history_)

    @property
    def task(self):
        return self.config["task"]

    @property
    def target(self):
        return self.config["target"]

    def __repr__(self):
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"TableRun(task={self.task!r}, target={self.target!r}{where})"

    def features(self, data, *, what="data", keep=()):
        """The feature columns of ``data`` in training order.

        Missing columns raise a ``ValueError`` naming them, but for those
        the preprocessor dropped at fit (empty, constant, identifiers: the
        model does not use them); extra columns (the target among them) are
        left out with a warning, but for those named in ``keep``.
        """
        frame = _files.read_table(data, what=what, text_columns=self._as_written(keep))
        X = self._features_of(frame, what, keep)
        present = _Present(self.pipeline[0])
        present.add(X)
        present.warn()
        return frame, X

    def _as_written(self, keep=()):
        """The columns a CSV is read with as written: those that held
        strings at fit (``007`` stays a category of its own, whatever the
        other rows of a chunk hold) and those kept beside the predictions
        (an identifier is copied as the file writes it), but for the
        features read as numbers, booleans or dates."""
        kinds = getattr(self.pipeline[0], "kinds_", {})
        kept = [c for c in keep if kinds.get(c, "string") == "string"]
        return [c for c, kind in kinds.items() if kind == "string"] + kept

    def _features_of(self, frame, what, keep=(), warn_extra=True):
        expected = self.config["feature_columns"]
        _check_unique(frame, [*expected, *keep], what)
        X = feature_rows(frame, expected, self.pipeline[0], what)
        ignored = {
            self.target,
            self.config.get("weight_column"),
            self.config.get("group_column"),
            *self.config.get("dropped_columns", []),
            *keep,
        }
        extra = [c for c in frame.columns if c not in expected and c not in ignored]
        if extra and warn_extra:
            warnings.warn(
                f"Column(s) {extra} were not seen at fit and are ignored.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return X

    def predict(self, data):
        """Predictions for the rows of ``data`` (a DataFrame or a file path)."""
        _, X = self.features(data)
        return self.pipeline.predict(X)

    def predict_proba(self, data):
        """Class probabilities, one column per entry of ``classes``."""
        if self.task == "regression":
            raise ValueError("predict_proba needs a classification run.")
        _, X = self.features(data)
        return self.pipeline.predict_proba(X)

    @property
    def classes(self):
        return getattr(self.estimator, "classes_", None)

    def _predicted(self, X, proba):
        """Predictions (and probabilities, or None) for the feature rows
        ``X``, and what reading them lost (:class:`~deepstack.tables.Loss`
        entries)."""
        Z, losses = self.pipeline[0].transform_noted(X)
        model = self.pipeline[-1]
        return model.predict(Z), model.predict_proba(Z) if proba else None, losses

    def predictions_frame(self, data, *, proba=False, keep=None):
        """A DataFrame with the prediction (and probabilities) for ``data``,
        row for row; the columns of ``data`` named in ``keep`` (an
        identifier, say) come first."""
        keep = self._checked_keep(keep, proba)
        frame, X = self.features(data, keep=keep)
        out, losses = self._predictions_of(frame, X, proba, keep)
        _warn_losses(losses)
        return out

    def write_predictions(
        self, data, out, *, proba=False, keep=None, chunk_rows=100_000, progress=None
    ):
        """Write the predictions for ``data`` to ``out``, as
        :meth:`predictions_frame` makes them, ``chunk_rows`` rows at a time:
        a CSV, TSV or Parquet file is read a chunk at a time too, so a file
        larger than memory can be predicted.

        ``out`` is a path, CSV (or TSV; either compressed for .gz, .bz2,
        .xz) or Parquet (.parquet, .pq) by its suffix, written to a
        temporary file beside it, then renamed (never half-written; the
        folders above it are made), or a text stream (standard output, say)
        for CSV. What reading the rows lost is said once for the whole
        file, a warning a column, after the last chunk. ``progress``: a line
        counting the rows on standard error (None: only on a terminal).
        Returns the number of rows written.
        """
        keep = self._checked_keep(keep, proba)
        if not hasattr(out, "write"):
            check_file_out(out, overwrite=True, data=data)
        # A Ctrl-C stops it between chunks, and the file is not written.
        counted = row_progress(
            progress,
            f"predicting {source_name(data)}",
            lambda: _files.count_rows(data),  # (a Parquet folder's parts' footers)
        )
        with (
            _files.table_writer(out) as write,
            checked_interrupts() as check,
            counted as advance,
        ):
            chunks = _files.iter_table(
                data, chunk_rows=chunk_rows, text_columns=self._as_written(keep)
            )
            n_rows, losses, present = 0, [], _Present(self.pipeline[0])
            for i, frame in enumerate(chunks):
                X = self._features_of(frame, "data", keep, warn_extra=i == 0)
                present.add(X)
                predictions, lost = self._predictions_of(frame, X, proba, keep)
                check()
                write(predictions)
                n_rows += len(predictions)
                losses += lost
                advance(len(predictions))
            check()
        _warn_losses(merge_losses(losses))
        present.warn()
        return n_rows

    def _check_proba(self, proba):
        if proba and self.task == "regression":
            raise ValueError(
                "Probabilities (proba=True, --proba) need a classification run; "
                "this one is a regression."
            )

    def _checked_keep(self, keep, proba):
        """``keep`` without repeats, checked against ``proba`` and the
        prediction columns' names (a kept column of the same name would be
        overwritten)."""
        self._check_proba(proba)
        keep = list(dict.fromkeys(keep or []))  # a column named twice, once
        outputs = [f"predicted_{self.target}"]
        if proba:
            outputs += [f"proba_{label}" for label in self.classes]
        clashes = [c for c in keep if str(c) in outputs]
        if clashes:
            raise ValueError(
                f"Column(s) {clashes} to keep have the name of a prediction "
                "column; rename them in the data table."
            )
        return keep

    def _predictions_of(self, frame, X, proba, keep):
        """The predictions frame of the rows ``frame`` (features ``X``) and
        what reading them lost."""
        missing = [c for c in keep if c not in frame.columns]
        if missing:
            raise ValueError(
                f"Column(s) {missing} to keep are not in the data table; its "
                f"columns are {list(map(str, frame.columns))}."
            )
        predicted, probabilities, losses = self._predicted(X, proba)
        out = frame[keep].reset_index(drop=True)
        out[f"predicted_{self.target}"] = predicted
        if proba:
            # One frame of every class's column: inserted one at a time, a
            # hundred classes make pandas warn that the frame is fragmented.
            columns = [f"proba_{label}" for label in self.classes]
            out = pd.concat([out, pd.DataFrame(probabilities, columns=columns)], axis=1)
        return out, losses

    def evaluate(self, data, *, chunk_rows=100_000):
        """Metrics of the run on labeled rows ``data`` (same as at fit).

        A run fitted with a weight column weights the metrics by the rows'
        column of that name (``"weighted_by"`` names it); rows without it
        are scored unweighted, with a warning (``"weighted_by"`` is None).

        A file is read and predicted ``chunk_rows`` rows at a time, as by
        :meth:`write_predictions`: memory follows the chunk (and one label
        and prediction a row), not the file.
        """
        proba = self.task != "regression"
        chunks = _files.iter_table(
            data, chunk_rows=chunk_rows, text_columns=self._as_written()
        )
        truth, predicted, probabilities, losses = [], [], [], []
        weights, weight_column = [], self.config.get("weight_column")
        left_out, present = {}, _Present(self.pipeline[0])
        with checked_interrupts() as check:
            for i, frame in enumerate(chunks):
                if i == 0 and weight_column not in frame.columns:
                    weight_column = None  # (said below, when the run has one)
                X, y, w = self._labeled_rows(
                    frame,
                    warn_extra=i == 0,
                    left_out=left_out,
                    weight_column=weight_column,
                )
                if y.size == 0:
                    continue
                present.add(X)
                y_pred, p, lost = self._predicted(X, proba)
                check()
                truth.append(y)
                predicted.append(y_pred)
                probabilities.append(p)
                weights.append(w)
                losses += lost
        if not truth:
            raise ValueError(f"Every value of the target {self.target!r} is missing.")
        _warn_losses(merge_losses(losses))
        present.warn()
        for message in self._left_out_notes(left_out):
            warnings.warn(message, UserWarning, stacklevel=user_stacklevel())
        fitted_with = self.config.get("weight_column")
        if fitted_with is not None and weight_column is None:
            warnings.warn(
                f"The rows have no weight column {fitted_with!r} (the run's): the "
                "metrics are unweighted.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        weights = None if weight_column is None else np.concatenate(weights)
        if weights is not None and not weights.sum() > 0:
            raise ValueError(
                f"The weights of the rows (column {weight_column!r}) are all zero: "
                "no metric can weight them."
            )
        result = task_metrics(
            self.task,
            np.concatenate(truth),
            np.concatenate(predicted),
            np.concatenate(probabilities) if proba else None,
            self.classes,
            weights,
        )
        if fitted_with is not None:
            result["weighted_by"] = weight_column
        return result

    def _labeled_rows(self, frame, warn_extra=True, left_out=None, weight_column=False):
        """The feature rows of ``frame`` that have a target, and their
        targets read as the training rows' were. ``left_out`` (a dict)
        gathers, over chunks, the rows without a target, those whose target
        is no number (a regression) and the labels read without spaces,
        for :meth:`_left_out_notes`. With ``weight_column`` (a name, or None
        for no weights) the rows' weights come third (or None)."""
        X = self._features_of(frame, "data", warn_extra=warn_extra)
        if self.target not in frame.columns:
            raise ValueError(
                f"Target column {self.target!r} is not in the table; labeled rows "
                "are needed."
            )
        _check_unique(frame, [self.target, weight_column or None], "data")
        written = frame[self.target]
        y = written
        if self.task == "regression":
            y = regression_target(y)
        elif _is_text_dtype(y):
            y = stripped_labels(y)  # as the training rows' were read
        keep = y.notna().to_numpy()
        if left_out is not None:
            unread = np.zeros_like(keep)
            spaced = np.zeros_like(keep)
            if self.task == "regression":
                unread = ~keep & written.notna().to_numpy()
            elif _is_text_dtype(written):
                # (A label of spaces alone is missing: no label.)
                spaced = keep & (y != written).to_numpy()
            for reason, rows in (
                ("missing", ~keep & ~unread),
                ("no number", unread),
                ("spaces", spaced),
            ):
                count, examples = left_out.get(reason, (0, []))
                examples = examples + written[rows].head(3).tolist()
                left_out[reason] = (count + int(rows.sum()), examples[:3])
        y = y[keep].to_numpy()
        if self.task != "regression":
            y = as_label_dtype(y, self.classes)
        if weight_column is False:
            return X[keep], y
        weights = None
        if weight_column is not None:
            weights = row_weights(frame[weight_column][keep], weight_column)
        return X[keep], y, weights

    def _left_out_notes(self, left_out):
        """What :meth:`evaluate` did not score, or read otherwise than the
        file writes it, a sentence each (as ``fit`` says it)."""
        notes = []
        count, _ = left_out.get("missing", (0, []))
        if count:
            notes.append(
                f"{count} row(s) without a target are left out of the metrics."
            )
        count, examples = left_out.get("no number", (0, []))
        if count:
            notes.append(
                f"{count} row(s) whose target is no number ({_examples(examples)}) "
                "are left out of the metrics."
            )
        count, examples = left_out.get("spaces", (0, []))
        if count:
            notes.append(_sentence(spaced_note(self.target, count, examples)))
        return notes

    def column_importance(
        self,
        data,
        *,
        n_repeats="auto",
        max_rows=2000,
        random_state=0,
        chunk_rows=100_000,
    ):
        """How much the model leans on each feature column: the drop in the
        run's primary metric (accuracy, or R² for a regression) on the
        labeled rows ``data`` when the column's values are shuffled.

        scikit-learn's ``permutation_importance`` on the table's columns,
        so that a column's one-hot or text features (and its missing-value
        indicator) are shuffled together, as shuffling the column in the
        table before the pipeline would (the rows are preprocessed once);
        ``n_repeats`` shuffles a column ("auto": 5 up to 100 columns, fewer
        beyond, 500 shuffles in all and one a column at least, since each
        shuffle is a prediction of the rows), on at most ``max_rows`` rows (a
        seeded sample, drawn as a file is read ``chunk_rows`` rows at a
        time: memory follows the chunk). A column can matter
        less than its shuffles' spread (``std``), or below zero: then the
        model does not need it on these rows. What reading the rows loses
        is said once, as by :meth:`evaluate`.

        Returns
        -------
        importance : DataFrame
            ``column``, ``role`` (see :class:`~deepstack.tables.TablePreprocessor`),
            ``importance`` (the mean drop) and ``std``, one row a column the
            model uses, the most important first.
        """
        from sklearn.inspection import permutation_importance

        X, y = self._labeled_sample(data, max_rows, random_state, chunk_rows)
        pre, roles = self.pipeline[0], self.pipeline[0].roles_
        X = X[[c for c in X.columns if roles.get(c) != "dropped"]]
        if n_repeats == "auto":
            n_repeats = max(1, min(5, 500 // X.shape[1]))
        # The rows are preprocessed once: every step is row by row, so that
        # shuffling a column's values is shuffling the rows of the features
        # it became (its one-hot or text block, its missing-value
        # indicator). scikit-learn shuffles a matrix of row numbers, a
        # column a table column, as it would shuffle the table.
        Z, losses = pre.transform_noted(X)
        _warn_losses(losses)
        blocks = _Blocks(self.pipeline[-1], Z, _feature_blocks(pre, X.columns))
        row_numbers = np.repeat(np.arange(len(X))[:, None], X.shape[1], axis=1)
        scoring = PRIMARY[self.task]
        if y.dtype == object and self.task != "regression":
            # Labels that no class reads (text where the classes are numbers
            # or booleans, unseen at fit): compared as text, as evaluate does.
            y, scoring = y.astype(str), _text_accuracy
        result = permutation_importance(
            blocks,
            row_numbers,
            y,
            scoring=scoring,
            n_repeats=n_repeats,
            random_state=random_state,
        )
        importance = pd.DataFrame(
            {
                "column": list(X.columns),
                "role": [roles[c] for c in X.columns],
                "importance": result.importances_mean,
                "std": result.importances_std,
            }
        )
        importance = importance.sort_values(
            "importance", ascending=False, kind="stable"
        )
        return importance.reset_index(drop=True)

    def _labeled_sample(self, data, max_rows, random_state, chunk_rows):
        """At most ``max_rows`` labeled rows of ``data`` (features and
        targets, in file order), a uniform sample drawn as the file is read
        a chunk at a time: each labeled row draws a key from the seeded
        generator, in file order, and the rows of the smallest keys are
        kept. The sample does not depend on the chunks' size."""
        if not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
            raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}.")
        rng = np.random.default_rng(random_state)
        chunks = _files.iter_table(
            data, chunk_rows=chunk_rows, text_columns=self._as_written()
        )
        keys, X, y = np.empty(0), None, None
        for i, frame in enumerate(chunks):
            X_new, y_new = self._labeled_rows(frame, warn_extra=i == 0)
            keys = np.concatenate([keys, rng.random(len(y_new))])
            X = X_new if X is None else pd.concat([X, X_new])
            y = y_new if y is None else np.concatenate([y, y_new])
            if len(y) > max_rows:
                kept = np.sort(np.argpartition(keys, max_rows - 1)[:max_rows])
                keys, X, y = keys[kept], X.iloc[kept], y[kept]
        if y.size == 0:
            raise ValueError(f"Every value of the target {self.target!r} is missing.")
        return X, y

    def write_report(self):
        """(Re)write ``report.html`` in the run folder; returns its path."""
        from deepstack.runs._report import write_report

        if self.path is None:
            raise ValueError("This run has no folder; fit it with out=... first.")
        return write_report(self.path)


def _feature_blocks(preprocessor, columns):
    """For each of ``columns``, the positions of the preprocessor's output
    features that come from it (a missing-value indicator from the feature
    it marks)."""
    blocks = {column: [] for column in columns}
    for j, source in enumerate(preprocessor.get_feature_sources()):
        blocks[source].append(j)
    return [np.asarray(blocks[c], dtype=int) for c in columns]


def _text_accuracy(estimator, X, y):
    """Accuracy with the predictions compared as text (``y`` is text)."""
    return float(np.mean(np.asarray(estimator.predict(X)).astype(str) == y))


class _Blocks(BaseEstimator):
    """The model on row numbers: column c of ``X`` says, row by row, whose
    features the table's column c gives (``Z``'s rows, in the positions of
    ``blocks[c]``). Row numbers in order give ``Z`` itself."""

    def __init__(self, model, Z, blocks):
        self.model, self.Z, self.blocks = model, Z, blocks

    def fit(self, X, y=None):  # (permutation_importance checks for it)
        return self

    def predict(self, X):
        X = np.asarray(X)
        Z = self.Z.copy()
        # Only the columns whose row numbers are not in order (the one being
        # shuffled) change: a table of a thousand columns is a thousand
        # shuffles of one column each.
        in_order = np.arange(len(X))[:, None]
        for c in np.flatnonzero((X != in_order).any(axis=0)):
            block = self.blocks[c]
            Z[:, block] = self.Z[np.ix_(X[:, c], block)]
        return self.model.predict(Z)


class _Present:
    """The values of each feature column the model uses, counted over the
    chunks of new rows: :meth:`warn` names, once after the last chunk, the
    columns without any (a blank column, a source that lacks the feature),
    whose value every row then gets as a missing value: imputed."""

    def __init__(self, preprocessor):
        self.columns = [c for c, r in preprocessor.roles_.items() if r != "dropped"]
        self.counts = pd.Series(0, index=self.columns)
        self.rows = 0

    def add(self, X):
        self.counts += X[self.columns].notna().sum()
        self.rows += len(X)

    def warn(self):
        empty = [c for c in self.columns if self.rows and not self.counts[c]]
        if empty:
            warnings.warn(
                f"Column(s) {empty} have no value in the {self.rows} row(s): each "
                "is read as missing, as the training rows' missing values were "
                "(imputed).",
                ReadingWarning,
                stacklevel=user_stacklevel(),
            )


def _warn_losses(losses):
    """A :class:`~deepstack.tables.ReadingWarning` for each loss in reading."""
    for loss in losses:
        warnings.warn(
            _sentence(str(loss)), ReadingWarning, stacklevel=user_stacklevel()
        )


def source_name(data):
    return "DataFrame" if isinstance(data, pd.DataFrame) else Path(data).name


def _check_unique(frame, names, what):
    """Raise naming the columns among ``names`` that ``frame`` holds more
    than once (a DataFrame may; a file's are renamed as it is read)."""
    duplicated = frame.columns[frame.columns.duplicated()]
    twice = [c for c in dict.fromkeys(names) if c in set(duplicated)]
    if twice:
        raise ValueError(
            f"The {what} table has more than one column named {twice}: the run "
            "reads its columns by name; rename or drop all but one of each."
        )


def feature_rows(frame, feature_columns, preprocessor, what):
    """The feature columns of ``frame`` in training order; a column the
    preprocessor dropped at fit may be absent, any other raises a
    ``ValueError`` naming it."""
    used = [c for c in feature_columns if preprocessor.roles_.get(c) != "dropped"]
    missing = [c for c in used if c not in frame.columns]
    if missing:
        raise ValueError(
            f"Column(s) {missing} were present at fit and are missing from the "
            f"{what} table; its columns are {list(map(str, frame.columns))}."
        )
    return frame[[c for c in feature_columns if c in frame.columns]]
