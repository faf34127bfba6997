"""The main job: a table in, a fitted and saved run out (``fit_table``).

The data climb down one way: file -> :class:`~deepstack.tables.TablePreprocessor`
(fitted on the training rows) -> a deepstack estimator, or a
:class:`~deepstack.tuning.DeepStackSearch` over one -> metrics on the test rows ->
a run folder written all at once (see :func:`~deepstack.runs.save_run`).
"""

import contextlib
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from deepstack._network import check_training_backend
from deepstack._warnings import user_stacklevel
from deepstack.runs import _files
from deepstack.runs._choices import resolve_bagging
from deepstack.runs._folder import write_run
from deepstack.runs._metrics import PRIMARY
from deepstack.runs._progress import RunProgress
from deepstack.runs._record import (
    run_config,
    search_summary,
    trials_frame,
    validation_metrics,
)
from deepstack.runs._rows import read_rows
from deepstack.runs._run import TableRun, source_name
from deepstack.runs._training import noted_reading, train_table
from deepstack.tables import ReadingWarning, TablePreprocessor
from deepstack.tables._reading import _sentence

TASKS = ("binary", "multiclass", "regression", "classification")
SEARCHES = ("random", "bayesian", "hyperband", "grid")
PRETRAIN = ("autoencoder", "denoising", "auto")


def parse_duration(value):
    """Seconds from ``90``, ``"90s"``, ``"20m"``, ``"1.5h"`` (None stays None).

    Parameters
    ----------
    value : float, int, str or None
        A number of seconds, or a number followed by ``s``, ``m`` or ``h``
        (no unit: seconds). Anything else, and a duration that is not
        positive, raises ``ValueError``.

    Returns
    -------
    float or None
    """
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
        A column of per-row weights (not a feature, nor the target): of the
        training loss, and of the test metrics of the run and of the
        baselines (``metrics["test"]["weighted_by"]`` names it). The column
        importance is unweighted.
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
        it cut the training short (a note says so too). A Ctrl-C that stops
        a single network at the end of an epoch is recorded the same way:
        the run is complete, with the best epoch so far,
        ``metrics["interrupted"]`` is True and a note says so (a second
        Ctrl-C, one before the first epoch ends, or one during a bag's or a
        search's training raises ``KeyboardInterrupt``, and nothing is
        written).
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
        The run folder to write. An existing folder is refused unless it is
        empty, or ``overwrite`` and it is a run folder; the working
        directory (or a folder above it) and a folder holding ``data``,
        ``test`` or ``unlabeled`` are refused: all before reading the data.
    overwrite : bool, default=False
        Replace ``out`` if it is a run folder (it holds ``config.json`` and
        nothing but the files a run writes), once the new run is complete.
        Any other folder or file is never replaced.
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
    if out is not None:  # before the data are read
        inputs = [("training", data), ("test", test), ("unlabeled", unlabeled)]
        _files.check_out(out, overwrite=overwrite, inputs=inputs)
    check_training_backend()  # before reading the table
    _check_choices(
        task=(task, TASKS), search=(search, SEARCHES), pretrain=(pretrain, PRETRAIN)
    )
    seconds = parse_duration(time_limit)
    resolve_bagging(bagging, 0, search, pretrain)  # bad values fail first
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
    if isinstance(data, pd.DataFrame) and not _files.has_string_names(data):
        warnings.warn(
            f"The table's column names ({_first_names(data.columns)}) are no "
            "strings; they are read as strings, as new rows' will be.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        target, weight_column, group_column = (
            None if name is None else str(name)
            for name in (target, weight_column, group_column)
        )
        drop, categorical = (
            None if names is None else [str(name) for name in names]
            for names in (drop, categorical)
        )
    table = read_rows(
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
    source = name or source_name(data)
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
            fitted = train_table(
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
        # (The test rows' reading is in the notes.)
        with noted_reading(), _after_training():
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
                test_size=None if test is not None else test_size,
                started=started,
            )
            if stage is not None:
                write_run(run, stage, table.test)
    if out is not None:
        run.path = Path(out)
    return run


def _check_choices(**choices):
    for name, (value, allowed) in choices.items():
        if value is not None and value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")


def _make_run(table, fitted, *, started, drop, seconds, **values):
    """The :class:`TableRun` of a fit: pipeline, config and test metrics."""
    estimator = fitted.estimator
    run = TableRun(
        Pipeline([("table", fitted.preprocessor), ("model", estimator)]), {}, {}
    )
    run.config = run_config(
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
    run.trials = trials_frame(fitted.searcher)
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
            warnings.warn(
                message, caught_warning.category, stacklevel=user_stacklevel()
            )
    run.metrics = {
        "task": table.task,
        "primary_metric": PRIMARY[table.task],
        "test": test_metrics,
        "validation": validation_metrics(estimator, table.task),
        "n_epochs": int(estimator.n_iter_),
        "best_epoch": estimator.best_epoch_,
        "search": search_summary(fitted.searcher),
        "time_limit_reached": fitted.time_limit_reached,
        "interrupted": fitted.interrupted,
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
def _after_training():
    """Errors after the training (scoring the test rows, writing the run
    folder) say that the training ended: what failed is in the error."""
    try:
        yield
    except Exception as error:
        error.add_note(
            "(The training ended, but scoring the test rows or writing the run "
            "folder failed; nothing was written.)"
        )
        raise


def _first_names(columns, shown=3):
    names = ", ".join(repr(name) for name in list(columns)[:shown])
    return names + (", ..." if len(columns) > shown else "")
