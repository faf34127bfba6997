"""The main job: a table in, a fitted and saved run out (``fit_table``).

The data climb down one way: file -> :class:`~deepstack.tables.TablePreprocessor`
(fitted on the training rows) -> a deepstack estimator, or a
:class:`~deepstack.tuning.DeepStackSearch` over one -> metrics on the test rows ->
a run folder written all at once (see :func:`save_run`).
"""

import contextlib
import dataclasses
import math
import platform
import re
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.pipeline import Pipeline

from deepstack import _io, _pretraining
from deepstack._interrupt import checked_interrupts
from deepstack._network import auto_batch_size, check_training_backend
from deepstack._version import __version__
from deepstack.callbacks import TimeLimit
from deepstack.ensemble import bagging_for, is_bagging
from deepstack.runs import _files
from deepstack.runs._metrics import PRIMARY, task_metrics
from deepstack.runs._progress import ProgressCallback, RunProgress, row_progress
from deepstack.tables import ReadingWarning, TablePreprocessor, infer_task
from deepstack.tables._preprocess import (
    _as_numbers,
    _examples,
    _is_text_dtype,
    _label,
    _sentence,
    _to_numbers,
    merge_losses,
)

TASKS = ("binary", "multiclass", "regression", "classification")
SEARCHES = ("random", "bayesian", "hyperband", "grid")
PRETRAIN = ("autoencoder", "denoising", "auto")

_PREPROCESSOR = "preprocessor.skops"
# Present in the staging folder while the network trains.
_TRAINING = ".training"
_MODEL = "model"
# Modules whose classes a run's preprocessor may contain; anything else in a
# run folder is refused at load time (skops' trusted-types model).
_TRUSTED_MODULES = ("sklearn.", "skrub.", "numpy.", "scipy.", "deepstack.tables.")


def parse_duration(value):
    """Seconds from ``90``, ``"90s"``, ``"20m"``, ``"1.5h"`` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smh]?)\s*", str(value))
        if match is None:
            raise ValueError(
                f"time limit {value!r} is not a duration such as 90s, 20m or 1.5h."
            )
        seconds = float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    if not seconds > 0:
        raise ValueError(f"time limit must be positive; got {value!r}.")
    return seconds


def table_defaults(task, n_rows):
    """Estimator parameters the main job starts from, by task and data size.

    Chosen on validation splits of the bundled tables' training rows
    (``benchmarks/tabular.py`` reports test rows the choice never saw):

    - mini-batches follow the number of rows (32 up to 3,200 rows, doubling
      per doubling of the rows, at most 512), so an epoch of a large table is
      a few hundred steps rather than thousands; classifiers take
      ``batch_size="auto"``, whose learning rate follows the batch (times
      ``sqrt(batch / 32)``: 0.9 points more inner validation accuracy on the
      10,000-row diamonds table's single network,
      ``benchmarks/results/table_defaults_lr_sqrt.md``), regressors the same
      batch as a number at the given rate (a tie there);
    - no input dropout: table columns are few and informative;
    - classification: a validation split of 20% and a patience of 20 epochs
      (halving after 10), since small tables give noisy validation curves;
    - regression: no batch normalization (it cost R² on the regression
      tables), light dropout (0.1) and weight decay (``l2=1e-4``): with the
      bagged networks of :func:`table_bagging` these scored best on the
      inner validation rows (``benchmarks/results/table_defaults.md``); the
      estimator's validation split and patience.
    """
    params = {"input_dropout": 0.0}
    if task == "regression":
        params.update(batch_size=auto_batch_size(n_rows))
        params.update(batch_norm=False, dropout=0.1, l2=1e-4)
    else:
        params.update(batch_size="auto")
        params.update(validation_fraction=0.2, n_iter_no_change=20, lr_patience=10)
    return params


def table_bagging(n_rows):
    """Number of bagged networks (k-fold bagging) the main job fits by default.

    Five folds up to 20,000 training rows, three up to 100,000, a single
    network beyond (each member costs about one single fit), and below 10
    rows (a fold needs two). Chosen on
    validation splits of the bundled tables' training rows
    (``benchmarks/table_defaults.py``).
    """
    if n_rows < 10:
        return 1  # five folds need two rows each at least
    if n_rows <= 20_000:
        return 5
    if n_rows <= 100_000:
        return 3
    return 1


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
        return frame, self._features_of(frame, what, keep)

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
        X = _feature_rows(frame, expected, self.pipeline[0], what)
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
                stacklevel=4,
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
        self._check_proba(proba)
        keep = list(dict.fromkeys(keep or []))  # a column named twice, once
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
        self._check_proba(proba)
        keep = list(dict.fromkeys(keep or []))  # a column named twice, once
        # A Ctrl-C stops it between chunks, and the file is not written.
        counted = row_progress(
            progress,
            f"predicting {_source_name(data)}",
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
            n_rows, losses = 0, []
            for i, frame in enumerate(chunks):
                X = self._features_of(frame, "data", keep, warn_extra=i == 0)
                predictions, lost = self._predictions_of(frame, X, proba, keep)
                check()
                write(predictions)
                n_rows += len(predictions)
                losses += lost
                advance(len(predictions))
            check()
        _warn_losses(merge_losses(losses))
        return n_rows

    def _check_proba(self, proba):
        if proba and self.task == "regression":
            raise ValueError(
                "Probabilities (proba=True, --proba) need a classification run; "
                "this one is a regression."
            )

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
            for i, label in enumerate(self.classes):
                out[f"proba_{label}"] = probabilities[:, i]
        return out, losses

    def evaluate(self, data, *, chunk_rows=100_000):
        """Metrics of the run on labeled rows ``data`` (same as at fit).

        A file is read and predicted ``chunk_rows`` rows at a time, as by
        :meth:`write_predictions`: memory follows the chunk (and one label
        and prediction a row), not the file.
        """
        proba = self.task != "regression"
        chunks = _files.iter_table(
            data, chunk_rows=chunk_rows, text_columns=self._as_written()
        )
        truth, predicted, probabilities, losses = [], [], [], []
        with checked_interrupts() as check:
            for i, frame in enumerate(chunks):
                X, y = self._labeled_rows(frame, warn_extra=i == 0)
                if y.size == 0:
                    continue
                y_pred, p, lost = self._predicted(X, proba)
                check()
                truth.append(y)
                predicted.append(y_pred)
                probabilities.append(p)
                losses += lost
        if not truth:
            raise ValueError(f"Every value of the target {self.target!r} is missing.")
        _warn_losses(merge_losses(losses))
        return task_metrics(
            self.task,
            np.concatenate(truth),
            np.concatenate(predicted),
            np.concatenate(probabilities) if proba else None,
            self.classes,
        )

    def _labeled_rows(self, frame, warn_extra=True):
        """The feature rows of ``frame`` that have a target, and their
        targets read as the training rows' were."""
        X = self._features_of(frame, "data", warn_extra=warn_extra)
        if self.target not in frame.columns:
            raise ValueError(
                f"Target column {self.target!r} is not in the table; labeled rows "
                "are needed."
            )
        y = frame[self.target]
        if self.task == "regression":
            y = _regression_target(y)
        elif _is_text_dtype(y):
            y = _stripped_labels(y)  # as the training rows' were read
        keep = y.notna().to_numpy()
        y = y[keep].to_numpy()
        if self.task != "regression":
            y = _as_label_dtype(y, self.classes)
        return X[keep], y

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
        result = permutation_importance(
            blocks,
            row_numbers,
            y,
            scoring=PRIMARY[self.task],
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


def fit_table(
    data,
    target,
    *,
    task=None,
    test=None,
    test_size=None,
    unlabeled=None,
    drop=None,
    categorical=None,
    weight_column=None,
    group_column=None,
    preprocessor=None,
    params=None,
    search=None,
    max_trials=None,
    time_limit=None,
    search_space=None,
    pretrain=None,
    bagging="auto",
    baselines=True,
    out=None,
    overwrite=False,
    random_state=0,
    progress=None,
    name=None,
):
    """Fit a deep network on a table and (optionally) save the run folder.

    Parameters
    ----------
    data : pandas.DataFrame or path
        The training table (CSV, TSV, Parquet or Excel file, or a DataFrame).
    target : str
        The column to predict.
    task : {"binary", "multiclass", "classification", "regression"}, default=None
        Inferred from the target when None (see
        :func:`deepstack.tables.infer_task`).
    test : DataFrame or path, default=None
        Labeled rows to report test metrics on. When None, ``test_size`` of
        the rows are held out (stratified for classification, seeded).
    test_size : float, default=None
        The share of the rows held out when ``test`` is None (0.2 when
        None). Refused with ``test``, which it would not apply to.
    unlabeled : DataFrame or path, default=None
        Extra rows without a usable target, for pretraining. Rows of ``data``
        whose target is missing join them when pretraining is on; otherwise
        they are dropped with a warning.
    drop, categorical : list of str, default=None
        Columns to leave out / to treat as categorical.
    weight_column : str, default=None
        A column of per-row loss weights (not a feature).
    group_column : str, default=None
        A column of group labels (a patient, a user, a session; not a
        feature): the rows of a group are never split between training and
        the rows that score it. The test rows are whole groups
        (``GroupShuffleSplit``), and so are each bagged network's validation
        fold (``GroupKFold``, stratified by class where every class has
        enough groups) and a single network's or a search's validation rows.
        Without it, rows of one group on both sides make the test metrics
        optimistic.
    preprocessor : TablePreprocessor, default=None
        How columns are read, as a :class:`~deepstack.tables.TablePreprocessor`
        with the settings to use (it is cloned, not fitted in place), e.g.
        ``TablePreprocessor(log_skewed=False, text_components=50)``. None:
        the defaults. ``categorical`` adds to its columns, and a
        regression's target encoding is set to "continuous" when its
        ``target_type`` is "auto". Its parameters are in ``config.json``.
    params : dict, default=None
        Estimator parameters, over :func:`table_defaults`.
    search : {"random", "bayesian", "hyperband", "grid"}, default=None
        Search hyperparameters with :class:`~deepstack.tuning.DeepStackSearch`.
    max_trials : int, default=None
        Trials of the search (10 when None). Refused without ``search``, as
        is ``search_space``: neither would apply.
    time_limit : float or str, default=None
        Budget of training (seconds, or ``"20m"``). With a search, of the
        search (the refit is outside it); otherwise of the network, which
        stops at the end of the first epoch past it, keeping its best epoch
        (bagged networks, one after another, each get an equal share of the
        time left when they start). Reading, preprocessing, scoring and the
        report come on top. ``metrics["time_limit_reached"]`` says whether
        it cut the training short (a note says so too).
    search_space : dict, default=None
        The search space (the default space when None).
    pretrain : {"autoencoder", "denoising", "auto"}, default=None
        Greedy layer-wise pretraining of the hidden layers on the labeled and
        unlabeled rows. "auto": denoising pretraining when the unlabeled rows
        outnumber the labeled ones, none otherwise (the estimators' rule).
    bagging : "auto", int or None, default="auto"
        Fit a k-fold bagged ensemble
        (:class:`~deepstack.ensemble.DeepStackBaggingClassifier` /
        ``Regressor``): ``k`` networks, each trained on ``k - 1`` folds and
        early-stopped on its own fold, predictions averaged. ``"auto"``
        takes :func:`table_bagging`'s number of folds without a search and
        without pretraining (a single network otherwise); None or 1 fits a
        single network.
    baselines : bool, default=True
        Also fit scikit-learn's reference models on the same preprocessed
        training rows (``HistGradientBoostingClassifier`` / ``Regressor``
        with its defaults, and ``DummyClassifier`` / ``DummyRegressor``:
        the most frequent class's rate, the mean) and score them on the same
        test rows with the same metrics: ``metrics["baselines"]``, the
        report's summary and the command's last lines. They cost a fraction
        of the network's fit.
    out : path, default=None
        The run folder to write (refused if it exists, unless ``overwrite``).
    random_state : int, default=0
    progress : bool, default=None
        Progress bars on standard error (None: only on a terminal).
    name : str, default=None
        The data's name in the report (the file name by default).

    Returns
    -------
    TableRun
    """
    started = time.perf_counter()
    check_training_backend()  # before reading the table
    _check_choices(
        task=(task, TASKS), search=(search, SEARCHES), pretrain=(pretrain, PRETRAIN)
    )
    seconds = parse_duration(time_limit)
    _resolve_bagging(bagging, 0, search, pretrain)  # bad values fail first
    # An option that would not apply is refused, not silently ignored.
    if search is None:
        for given, option in (
            (max_trials, "max_trials (--max-trials)"),
            (search_space, "search_space"),
        ):
            if given is not None:
                raise ValueError(
                    f"{option} applies to a search; give search= (--search) too, "
                    "or leave it out."
                )
    max_trials = 10 if max_trials is None else max_trials
    if test is not None and test_size is not None:
        raise ValueError(
            "test_size (--test-size) sets the share of rows held out for testing; "
            "with test rows given (test=, --test) it would not apply: leave it out."
        )
    test_size = 0.2 if test_size is None else test_size
    if not isinstance(baselines, bool):
        raise ValueError(f"baselines must be True or False; got {baselines!r}.")
    if preprocessor is not None and not isinstance(preprocessor, TablePreprocessor):
        raise TypeError(
            "preprocessor must be a deepstack.tables.TablePreprocessor; got "
            f"{type(preprocessor).__name__}."
        )
    if random_state is not None and (
        isinstance(random_state, bool)
        or not isinstance(random_state, (int, np.integer))
        or not 0 <= random_state < 2**32
    ):
        raise ValueError(
            "random_state must be an integer from 0 to 2**32 - 1; "
            f"got {random_state!r}."
        )
    table = _read_data(
        data,
        target,
        task=task,
        test=test,
        test_size=test_size,
        unlabeled=unlabeled,
        drop=drop,
        categorical=categorical,
        weight_column=weight_column,
        group_column=group_column,
        pretrain=pretrain,
        random_state=random_state,
    )
    source = name or _source_name(data)
    # The run folder is built in a hidden folder beside ``out`` and renamed at
    # the end: an interrupted or failed fit leaves ``out`` as it was.
    staging = (
        _files.staged_folder(out, overwrite=overwrite)
        if out is not None
        else contextlib.nullcontext()
    )
    with staging as stage:
        display = RunProgress(
            progress, max_trials=max_trials if search else None, time_limit=seconds
        )
        with display:
            display.stage(
                f"{source}: {table.frame.shape[0]} rows, "
                f"{len(table.feature_columns)} feature columns, task {table.task} "
                f"on {target!r}"
            )
            fitted = _fit(
                table,
                display,
                stage,
                categorical=categorical,
                weight_column=weight_column,
                group_column=group_column,
                preprocessor=preprocessor,
                params=params,
                pretrain=pretrain,
                bagging=bagging,
                baselines=baselines,
                search=search,
                max_trials=max_trials,
                seconds=seconds,
                search_space=search_space,
                random_state=random_state,
            )
        with _noted_reading():  # the test rows' reading is in the notes
            run = _make_run(
                table,
                fitted,
                source=source,
                weight_column=weight_column,
                group_column=group_column,
                drop=drop,
                search=search,
                max_trials=max_trials,
                seconds=seconds,
                random_state=random_state,
                test_given=test is not None,
                test_size=test_size,
                started=started,
            )
            if stage is not None:
                _write_run(run, stage, table.test)
    if out is not None:
        run.path = Path(out)
    return run


@dataclasses.dataclass
class _Table:
    """The rows of one job, checked and split (plain data for the steps below)."""

    frame: pd.DataFrame  # every labeled row
    train: pd.DataFrame
    test: pd.DataFrame
    target: str
    task: str
    feature_columns: list
    unlabeled: list  # frames of rows used only by pretraining
    notes: list


@dataclasses.dataclass
class _Fitted:
    preprocessor: TablePreprocessor
    estimator: object
    searcher: object
    preprocess_time: float
    fit_time: float
    time_limit_reached: object  # bool, or None without a time limit
    baselines: dict  # {name: (fitted estimator, fit seconds)}


def _check_choices(**choices):
    for name, (value, allowed) in choices.items():
        if value is not None and value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")


def _read_data(
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
    _check_target_column(frame, target, weight_column, drop, categorical, group_column)
    target_notes = []
    if (numbers := _target_numbers(frame[target], task)) is not None:
        frame = frame.copy()  # the caller's DataFrame stays as it was
        frame[target] = numbers
        target_notes.append(
            f"the target {target!r} holds numbers written as text; they are read "
            "as numbers (a regression)"
        )
    elif _is_text_dtype(frame[target]):
        labels = _stripped_labels(frame[target])
        changed = frame[target].notna() & (labels != frame[target])
        if changed.any():
            target_notes.append(
                f"the target {target!r}: {int(changed.sum())} label(s) with "
                f"spaces around them ({_examples(frame.loc[changed, target])}) "
                "are read without them"
            )
            frame = frame.copy()
            frame[target] = labels
        target_notes += _case_note(labels, target)
    y_all = frame[target]
    labeled = y_all.notna().to_numpy()
    if not labeled.any():
        raise ValueError(f"Every value of the target {target!r} is missing.")
    task = _resolve_task(task, y_all[labeled])
    if task == "regression":
        _regression_target(y_all, "training")
    notes, unlabeled_frames = [], []
    for note in target_notes:
        notes.append(note)
        warnings.warn(_sentence(note), UserWarning, stacklevel=3)
    if not labeled.all():
        n_missing = int((~labeled).sum())
        if pretrain is not None:
            notes.append(
                f"{n_missing} row(s) without a target are used as unlabeled rows "
                "for pretraining"
            )
            unlabeled_frames.append(frame[~labeled])
        else:
            message = f"{n_missing} row(s) without a target were dropped"
            notes.append(message)
            warnings.warn(message + ".", UserWarning, stacklevel=3)
    if unlabeled is not None:
        if pretrain is None:
            raise ValueError(
                "Unlabeled rows are used by pretraining: pass pretrain "
                "('auto', 'denoising' or 'autoencoder') with them."
            )
        unlabeled_frames.append(_files.read_table(unlabeled, what="unlabeled"))
    frame = frame[labeled]
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
        if task == "regression":
            test_frame = test_frame.copy()
            test_frame[target] = _regression_target(test_frame[target], "test")
    else:
        groups = None if group_column is None else frame[group_column]
        train_frame, test_frame, single = _split(
            frame, target, task, test_size, random_state, groups
        )
        if single:
            message = (
                f"{len(single)} class(es) of the target have a single row "
                f"({_examples(single)}): kept in the training rows, so the test "
                "rows do not score them"
            )
            notes.append(message)
            warnings.warn(_sentence(message), UserWarning, stacklevel=3)
    if train_frame[target].nunique() < 2:
        value = str(train_frame[target].iloc[0])
        raise ValueError(
            f"The target {target!r} has a single value ({value!r}) in the training "
            "rows; a regression needs at least two."
            if task == "regression"
            else f"The target {target!r} has a single class ({value!r}) in the "
            "training rows; classification needs at least two."
        )
    return _Table(
        frame,
        train_frame,
        test_frame,
        target,
        task,
        feature_columns,
        unlabeled_frames,
        notes,
    )


def _fit(
    table,
    display,
    stage,
    *,
    categorical,
    weight_column,
    group_column,
    preprocessor,
    params,
    pretrain,
    bagging,
    baselines,
    search,
    max_trials,
    seconds,
    search_space,
    random_state,
):
    """Preprocess the training rows and train the estimator (or search), then
    the baselines."""
    y_train = table.train[table.target].to_numpy()
    if table.task == "regression":
        y_train = _numeric_target(y_train, table.target)
    t0 = time.perf_counter()
    # A regression's target is continuous, also where its values are whole
    # numbers (which the target encoding would otherwise take for classes).
    preprocessor = _preprocessor(preprocessor, categorical, table.task)
    X_train = preprocessor.fit_transform(table.train[table.feature_columns], y_train)
    preprocess_time = time.perf_counter() - t0
    # What the test and unlabeled rows lose when read as the training rows
    # were: once, as notes, rather than a warning at each of their
    # transforms below.
    notes = list(preprocessor.notes_)
    # Before training: a test or unlabeled file without a column the model
    # uses fails now, not after the fit.
    columns = table.feature_columns
    table.unlabeled = [
        _feature_rows(f, columns, preprocessor, "unlabeled") for f in table.unlabeled
    ]
    test_rows = _feature_rows(table.test, columns, preprocessor, "test")
    for rows, frames in (("test", [test_rows]), ("unlabeled", table.unlabeled)):
        if frames:
            read = preprocessor.reading_notes(pd.concat(frames))
            notes += [f"{rows} rows: {note}" for note in read]
    table.notes.extend(notes)
    for note in notes:
        # A warning, as for rows without a target: shown by the command in
        # every mode (its progress display is off without a terminal).
        warnings.warn(_sentence(note), UserWarning, stacklevel=4)
    sample_weight = None
    if weight_column is not None:
        sample_weight = _weights(table.train[weight_column], weight_column)
    if pretrain == "auto":
        pretrain = _resolve_auto_pretrain(table, len(y_train), display)
    labeled = (X_train, y_train, sample_weight)  # for the baselines
    groups = None
    if group_column is not None:
        groups = table.train[group_column].to_numpy()
    if table.unlabeled:
        with _noted_reading():
            X_extra = preprocessor.transform(pd.concat(table.unlabeled))
        X_train = np.concatenate([X_train, X_extra])
        # -1 marks an unlabeled row for the classifier's pretraining, NaN for
        # the regressor's.
        if table.task == "regression":
            y_train = np.concatenate([y_train, np.full(X_extra.shape[0], np.nan)])
        else:
            y_train = np.concatenate(
                [y_train.astype(object), np.full(X_extra.shape[0], -1, dtype=object)]
            )
        if sample_weight is not None:
            sample_weight = np.concatenate(
                [sample_weight, np.ones(X_extra.shape[0], np.float32)]
            )
    estimator = _make_estimator(
        table.task, X_train.shape[0], params, pretrain, random_state, display
    )
    folds = _resolve_bagging(bagging, X_train.shape[0], search, pretrain)
    if groups is not None and folds > 1:
        # A fold a group at least: as many folds as groups, when fewer.
        folds = min(folds, len(np.unique(groups)))
    if folds > 1:
        estimator = bagging_for(estimator, folds, random_state)
    t0 = time.perf_counter()
    if stage is not None:
        (stage / _TRAINING).touch()
    if pretrain is not None:
        display.stage(f"pretraining ({pretrain}), then fine-tuning")
    searcher = None
    if search is None:
        display.stage(
            f"training {_describe(estimator)}"
            + (f", time limit {seconds:.0f} s" if seconds else "")
        )
        _limit_training(estimator, seconds)
        rows, fit_kwargs = _grouped(
            estimator, X_train, y_train, sample_weight, groups, random_state, table.task
        )
        estimator.fit(*rows, **fit_kwargs)
        reached = _time_limit_reached(estimator, seconds, table)
    else:
        display.stage(
            f"{search} search, {max_trials} trials"
            + (f", time limit {seconds:.0f} s" if seconds else "")
        )
        searcher = _make_search(
            estimator, search, max_trials, seconds, search_space, random_state
        )
        rows, fit_kwargs = _grouped(
            searcher, X_train, y_train, sample_weight, groups, random_state, table.task
        )
        searcher.fit(*rows, **fit_kwargs)
        estimator = searcher.best_estimator_
        reached = searcher.time_limit_reached_ if seconds is not None else None
    # The progress display and the job's time limit are not part of the model.
    for network in _networks(estimator):
        network.set_params(callbacks=None)
    if is_bagging(estimator):
        estimator.set_params(time_limit=None)
    fit_time = time.perf_counter() - t0
    fitted_baselines = {}
    if baselines:
        display.stage("baselines: HistGradientBoosting, Dummy")
        fitted_baselines = _fit_baselines(table.task, *labeled, random_state)
    return _Fitted(
        preprocessor,
        estimator,
        searcher,
        preprocess_time,
        fit_time,
        reached,
        fitted_baselines,
    )


def _fit_baselines(task, X, y, sample_weight, random_state):
    """scikit-learn's reference models fitted on the network's training rows:
    ``{class name: (estimator, fit seconds)}``."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    if task == "regression":
        models = [
            HistGradientBoostingRegressor(random_state=random_state),
            DummyRegressor(),
        ]
    else:
        models = [
            HistGradientBoostingClassifier(random_state=random_state),
            DummyClassifier(),
        ]
    fitted = {}
    for model in models:
        started = time.perf_counter()
        model.fit(X, y, sample_weight=sample_weight)
        fitted[type(model).__name__] = (model, time.perf_counter() - started)
    return fitted


def _grouped(estimator, X, y, sample_weight, groups, seed, task):
    """``(X, y), fit keyword arguments`` of ``estimator`` (a network, a bag
    or a search) that keep every group on one side of its validation: a bag
    gets the groups for its folds; a network or a search, validation rows of
    whole groups as ``X_val, y_val`` (the rows after the groups' are
    unlabeled rows, for pretraining: training rows)."""
    if groups is None:
        return (X, y), {"sample_weight": sample_weight}
    if is_bagging(estimator):
        return (X, y), {"sample_weight": sample_weight, "groups": groups}
    params = estimator.get_params()
    if not params.get("early_stopping", True):
        return (X, y), {"sample_weight": sample_weight}
    splitter = GroupShuffleSplit(
        1, test_size=params["validation_fraction"], random_state=seed
    )
    train, val = next(splitter.split(np.zeros(len(groups)), groups=groups))
    if task != "regression":
        # A class whose groups all went to validation is no class of the
        # network's: its rows are left out of validation, as in a bag.
        val = val[np.isin(y[val], y[train])]
    train = np.concatenate([train, np.arange(len(groups), X.shape[0])])
    weights = None if sample_weight is None else sample_weight[train]
    return (X[train], y[train]), {
        "sample_weight": weights,
        "X_val": X[val],
        "y_val": y[val],
    }


def _limit_training(estimator, seconds):
    """Bound the training of ``estimator`` to ``seconds``: a bag shares them
    among its members, a single network stops at the first epoch end past
    them (best weights kept, as at early stopping)."""
    if seconds is None:
        return
    if is_bagging(estimator):
        estimator.set_params(time_limit=seconds)
        return
    own = estimator.get_params()["callbacks"] or []
    estimator.set_params(callbacks=[*own, TimeLimit(time.time() + seconds)])


def _time_limit_reached(estimator, seconds, table):
    """Whether the time limit cut the training short (said in a note and a
    warning), or None without a limit."""
    if seconds is None:
        return None
    if is_bagging(estimator):
        cut, n = sum(estimator.cut_short_), len(estimator.cut_short_)
    else:
        cut, n = int(TimeLimit.stopped(estimator)), 1
    if cut:
        which = f" ({cut} of {n} bagged networks)" if n > 1 else ""
        note = (
            f"time limit: the {seconds:g} s limit stopped training before early "
            f"stopping did{which}; each network keeps its best epoch, and a "
            "longer time limit may score better"
        )
        table.notes.append(note)
        warnings.warn(_sentence(note), UserWarning, stacklevel=4)
    return bool(cut)


def _preprocessor(given, categorical, task):
    """The run's unfitted TablePreprocessor: a clone of ``given`` (or the
    defaults) with ``categorical`` added and the target encoded as the run's
    task reads it (continuous for a regression; the task asked for may
    differ from the one the target's values suggest) unless ``given`` chose
    a target type."""
    preprocessor = TablePreprocessor() if given is None else clone(given)
    if categorical:
        own = list(preprocessor.categorical or [])
        preprocessor.set_params(
            categorical=own + [c for c in categorical if c not in own]
        )
    if preprocessor.target_type == "auto":
        preprocessor.set_params(
            target_type="continuous" if task == "regression" else task
        )
    return preprocessor


def _make_run(table, fitted, *, started, drop, seconds, **values):
    """The :class:`TableRun` of a fit: pipeline, config and test metrics."""
    estimator = fitted.estimator
    run = TableRun(
        Pipeline([("table", fitted.preprocessor), ("model", estimator)]), {}, {}
    )
    run.config = _config(
        run,
        frame=table.frame,
        target=table.target,
        task=table.task,
        feature_columns=table.feature_columns,
        dropped_columns=list(drop or []),
        preprocessor=fitted.preprocessor,
        notes=table.notes,
        time_limit=seconds,
        n_train=table.train.shape[0],
        n_unlabeled=sum(f.shape[0] for f in table.unlabeled),
        **values,
    )
    run.trials = _trials_frame(fitted.searcher)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        test_metrics = run.evaluate(table.test)
    for caught_warning in caught:
        # A metric the test rows cannot give: said, and kept in the notes
        # (the report shows them). Reading notes are in them already.
        if not issubclass(caught_warning.category, ReadingWarning):
            message = str(caught_warning.message)
            if issubclass(caught_warning.category, UserWarning):
                note = f"test rows: {message[0].lower()}{message[1:].rstrip('.')}"
                run.config["notes"].append(note)
                message = _sentence(note)
            warnings.warn(message, caught_warning.category, stacklevel=3)
    run.metrics = {
        "task": table.task,
        "primary_metric": PRIMARY[table.task],
        "test": test_metrics,
        "validation": _validation_metrics(estimator, table.task),
        "n_epochs": int(estimator.n_iter_),
        "best_epoch": estimator.best_epoch_,
        "search": _search_summary(fitted.searcher),
        "time_limit_reached": fitted.time_limit_reached,
        "baselines": _baseline_metrics(run, fitted.baselines, table.test),
        "times": {
            "preprocess_s": fitted.preprocess_time,
            "fit_s": fitted.fit_time,
            "total_s": time.perf_counter() - started,
        },
    }
    return run


def _baseline_metrics(run, baselines, test):
    """Each baseline's test metrics (and fit seconds), computed as the run's:
    the same preprocessor, test rows and metric functions."""
    scored = {}
    for name, (model, seconds) in baselines.items():
        twin = TableRun(
            Pipeline([("table", run.pipeline[0]), ("model", model)]), run.config, {}
        )
        with warnings.catch_warnings():
            # What the test rows cannot give was said for the network.
            warnings.simplefilter("ignore", UserWarning)
            scored[name] = {**twin.evaluate(test), "fit_s": seconds}
    return scored


@contextlib.contextmanager
def _noted_reading():
    """Silence :class:`~deepstack.tables.ReadingWarning` for rows whose
    reading the fit has put in its notes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReadingWarning)
        yield


def save_run(run, out, *, test_frame=None, overwrite=False):
    """Write ``run`` to the folder ``out`` all at once; returns its path.

    The folder holds ``model/`` (the estimator in deepstack's safe format),
    ``preprocessor.skops``, ``config.json``, ``metrics.json``,
    ``history.csv``, ``trials.csv`` (when searched), ``test_predictions.csv``,
    ``importance.csv`` (:meth:`TableRun.column_importance`) and
    ``findings.json`` (when test rows are given), and ``report.html``.
    """
    out = Path(out)
    with _files.staged_folder(out, overwrite=overwrite) as stage:
        _write_run(run, stage, test_frame)
    return out


def _write_run(run, stage, test_frame):
    import skops.io

    from deepstack.runs._report import findings_for, write_report

    (stage / _TRAINING).unlink(missing_ok=True)
    _io.save(run.estimator, stage / _MODEL)
    skops.io.dump(
        run.pipeline[0], stage / _PREPROCESSOR, compression=zipfile.ZIP_DEFLATED
    )
    _files.write_json(stage / "config.json", run.config)
    _files.write_json(stage / "metrics.json", run.metrics)
    pd.DataFrame(run.history).to_csv(stage / "history.csv", index_label="epoch")
    if run.trials is not None:
        run.trials.to_csv(stage / "trials.csv", index=False)
    findings = {}
    if test_frame is not None:
        _, X_test = run.features(test_frame, what="test")
        predictions = run.predictions_frame(X_test, proba=run.task != "regression")
        predictions.insert(0, run.target, test_frame[run.target].to_numpy())
        keep = predictions[run.target].notna().to_numpy()
        predictions[keep].to_csv(stage / "test_predictions.csv", index=False)
        findings = findings_for(run, X_test[keep])
        run.importance = run.column_importance(test_frame)
        run.importance.to_csv(stage / "importance.csv", index=False)
    _files.write_json(stage / "findings.json", findings)
    write_report(stage)


def load_run(path):
    """Load a run folder written by :func:`fit_table` / :func:`save_run`.

    Nothing in the folder can run code: the estimator is read with
    :func:`deepstack.load`, and the preprocessor with skops after checking
    that it only holds types from scikit-learn, skrub, NumPy, SciPy and
    ``deepstack.tables``.
    """
    import skops.io

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run folder not found: {str(path)!r}.")
    for name in ("config.json", "metrics.json", _PREPROCESSOR, _MODEL):
        if not (path / name).exists():
            raise ValueError(
                f"{str(path)!r} is not a complete deepstack run: {name} is missing."
            )
    untrusted = skops.io.get_untrusted_types(file=path / _PREPROCESSOR)
    refused = [t for t in untrusted if not t.startswith(_TRUSTED_MODULES)]
    if refused:
        raise ValueError(
            f"Refusing to load {str(path / _PREPROCESSOR)!r}: it holds types "
            f"outside the trusted libraries: {refused}."
        )
    preprocessor = skops.io.load(path / _PREPROCESSOR, trusted=untrusted)
    estimator = _io.load(path / _MODEL)
    pipeline = Pipeline([("table", preprocessor), ("model", estimator)])
    trials, importance = (
        pd.read_csv(path / name) if (path / name).exists() else None
        for name in ("trials.csv", "importance.csv")
    )
    return TableRun(
        pipeline,
        _files.read_json(path / "config.json"),
        _files.read_json(path / "metrics.json"),
        path=path,
        trials=trials,
        importance=importance,
    )


# ---------------------------------------------------------------- helpers


def _feature_blocks(preprocessor, columns):
    """For each of ``columns``, the positions of the preprocessor's output
    features that come from it (a missing-value indicator from the feature
    it marks)."""
    blocks = {column: [] for column in columns}
    for j, source in enumerate(preprocessor.get_feature_sources()):
        blocks[source].append(j)
    return [np.asarray(blocks[c], dtype=int) for c in columns]


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


def _warn_losses(losses):
    """A :class:`~deepstack.tables.ReadingWarning` for each loss in reading."""
    for loss in losses:
        warnings.warn(_sentence(str(loss)), ReadingWarning, stacklevel=3)


def _source_name(data):
    return "DataFrame" if isinstance(data, pd.DataFrame) else Path(data).name


def _feature_rows(frame, feature_columns, preprocessor, what):
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


def _check_target_column(
    frame, target, weight_column, drop, categorical, group_column=None
):
    columns = list(map(str, frame.columns))
    if target not in frame.columns:
        raise ValueError(
            f"Target column {target!r} is not in the table; its columns are {columns}."
        )
    for name, what in (
        (weight_column, "weight column"),
        (group_column, "group column"),
    ):
        if name is not None and name not in frame.columns:
            raise ValueError(
                f"{what} {name!r} is not in the table; its columns are {columns}."
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
                f"are {columns}."
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


def _resolve_task(task, y):
    if task is None:
        return infer_task(y)
    if task == "regression":
        return task
    n_classes = y.nunique()
    if task == "binary" and n_classes > 2:
        raise ValueError(f"task='binary' but the target has {n_classes} classes.")
    return "binary" if n_classes <= 2 else "multiclass"


def _resolve_auto_pretrain(table, n_labeled, display):
    """``pretrain="auto"`` as the estimators read it: denoising pretraining
    when the unlabeled rows outnumber the labeled training rows; otherwise
    none, and the unlabeled rows are left out (with a note)."""
    n_unlabeled = sum(f.shape[0] for f in table.unlabeled)
    if _pretraining.unlabeled_outnumber(n_unlabeled, n_labeled):
        note = (
            f"pretrain='auto': denoising pretraining on {n_unlabeled} unlabeled "
            f"and {n_labeled} labeled rows"
        )
        pretrain = "denoising"
    else:
        note = (
            f"pretrain='auto': no pretraining, the {n_unlabeled} unlabeled row(s) "
            f"do not outnumber the {n_labeled} labeled ones and are left out"
        )
        table.unlabeled.clear()
        pretrain = None
    table.notes.append(note)
    display.stage(note)
    return pretrain


def _target_numbers(y, task):
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


def _stripped_labels(y):
    """Class labels without the spaces around them: a CSV's ``" yes"`` is
    the class ``"yes"``."""
    return y.map(lambda v: v.strip() if isinstance(v, str) else v)


def _case_note(labels, target):
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


def _regression_target(y, what="labeled"):
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


def _numeric_target(y, target):
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"A regression needs a numeric target; {target!r} holds values such "
            f"as {y[0]!r}."
        ) from exc


def _weights(column, name):
    try:
        weights = np.asarray(column, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Weight column {name!r} is not numeric.") from exc
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(
            f"Weight column {name!r} must hold finite, non-negative numbers."
        )
    return weights


def _split(frame, target, task, test_size, seed, groups=None):
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1); got {test_size!r}.")
    if groups is not None:
        # Whole groups on either side (not stratified).
        splitter = GroupShuffleSplit(1, test_size=test_size, random_state=seed)
        train, test = next(splitter.split(frame, groups=groups))
        return frame.iloc[train], frame.iloc[test], []
    if task == "regression":
        train, test = train_test_split(frame, test_size=test_size, random_state=seed)
        return train, test, []
    # A class of one row goes to the training rows: in the test rows alone
    # it would be a class the model never saw.
    counts = frame[target].value_counts()
    single = counts.index[counts < 2]
    if len(single) == len(counts):
        raise ValueError(
            f"Every class of the target {target!r} has a single row ({len(counts)} "
            "classes): there is nothing to learn. Is it an identifier?"
        )
    alone = frame[target].isin(single).to_numpy()
    rest = frame[~alone]
    stratify = None
    if math.ceil(test_size * rest.shape[0]) >= len(counts) - len(single):
        stratify = rest[target]
    train, test = train_test_split(
        rest, test_size=test_size, random_state=seed, stratify=stratify
    )
    return pd.concat([train, frame[alone]]), test, [_label(c) for c in single]


def _make_estimator(task, n_rows, params, pretrain, random_state, display):
    from deepstack import DeepStackClassifier, DeepStackRegressor

    cls = DeepStackRegressor if task == "regression" else DeepStackClassifier
    settings = table_defaults(task, n_rows)
    if pretrain is not None:
        settings["pretrain"] = pretrain
    known = set(cls().get_params()) - {"random_state"}
    if "random_state" in (params or {}):
        raise ValueError(
            "The seed is not an estimator parameter here: set it with "
            "random_state= (--random-state)."
        )
    unknown = sorted(set(params or {}) - known)
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {unknown} of {cls.__name__}; its parameters "
            f"are {sorted(known)}."
        )
    settings.update(params or {})
    settings["random_state"] = random_state
    estimator = cls(**settings)
    callback = ProgressCallback(display, estimator.max_epochs)
    estimator.set_params(callbacks=[callback, *(estimator.callbacks or [])])
    return estimator


def _make_search(estimator, tuner, max_trials, seconds, space, seed):
    from deepstack import DeepStackSearch

    options = {}
    if seconds is not None:
        options["time_limit"] = seconds
    return DeepStackSearch(
        estimator,
        space,
        tuner=tuner,
        max_trials=max_trials,
        random_state=seed,
        **options,
    )


def _resolve_bagging(bagging, n_rows, search, pretrain):
    """The number of bagged networks (1: a single network)."""
    if bagging is None:
        return 1
    if bagging == "auto":
        return 1 if search or pretrain else table_bagging(n_rows)
    if isinstance(bagging, bool) or not isinstance(bagging, (int, np.integer)):
        raise ValueError(
            f"bagging must be 'auto', an integer or None; got {bagging!r}."
        )
    if bagging < 1:
        raise ValueError(f"bagging must be at least 1; got {bagging!r}.")
    if bagging > 1 and (search or pretrain):
        raise ValueError(
            "bagging applies to a single network's fit; it cannot be combined "
            "with a search or pretraining (use bagging=None)."
        )
    return int(bagging)


def _networks(estimator):
    """The deepstack networks of ``estimator``: itself, or a bag's template and
    members."""
    if not is_bagging(estimator):
        return [estimator]
    return [estimator.estimator, *getattr(estimator, "estimators_", [])]


def network_of(estimator):
    """The (first) network of a fitted estimator or bag, for its parameters and
    diagnostics."""
    networks = _networks(estimator)
    return networks[1] if len(networks) > 1 else networks[0]


def _describe(estimator):
    network = network_of(estimator)
    sizes = "-".join(str(s) for s in network.hidden_layer_sizes)
    what = f"{type(network).__name__} ({sizes}, batch {network.batch_size})"
    if is_bagging(estimator):
        what = f"{estimator.n_folds} bagged {what} (one per fold)"
    return what


def _as_label_dtype(y, classes):
    """Cast labels read from a file to the dtype of the fitted classes."""
    if classes is None:
        return y
    dtype = np.asarray(classes).dtype
    if dtype.kind in "US":
        # As long as the labels need: a fixed width would cut longer ones
        # (an unseen "Chinstrap_2" read as the class "Chinstrap").
        return np.asarray(y).astype(str)
    try:
        return np.asarray(y).astype(dtype)
    except (TypeError, ValueError):
        return np.asarray(y)


def _validation_metrics(estimator, task):
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


def _trials_frame(searcher):
    if searcher is None:
        return None
    rows = {k: v for k, v in searcher.results_.items() if k != "params"}
    return pd.DataFrame(rows)


def _search_summary(searcher):
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


def _config(run, *, frame, preprocessor, feature_columns, **values):
    estimator = run.estimator
    # A bag's template: the members' parameters but their derived seeds.
    network = estimator.estimator if is_bagging(estimator) else estimator
    params = {k: v for k, v in network.get_params().items() if k != "callbacks"}
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
            "bagging": estimator.n_folds if is_bagging(estimator) else None,
            "classes": getattr(estimator, "classes_", None),
            "n_network_inputs": int(estimator.n_features_in_),
            "columns": summary,
            "preprocessor": preprocessor.get_params(),
            "fingerprint": _files.fingerprint(frame),
            "versions": _versions(),
        }
    )
