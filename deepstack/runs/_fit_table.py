"""The main job: a table in, a fitted and saved run out (``fit_table``).

The data climb down one way: file -> :class:`~deepstack.tables.TablePreprocessor`
(fitted on the training rows) -> a deepstack estimator, or a
:class:`~deepstack.tuning.DeepStackSearch` over one -> metrics on the test rows ->
a run folder written all at once (see :func:`~deepstack.runs.save_run`).
"""

import contextlib
import dataclasses
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from deepstack._interrupt import watched_stops
from deepstack._network import check_training_backend
from deepstack._warnings import user_stacklevel
from deepstack.callbacks import TimeLimit
from deepstack.ensemble import bagging_for, is_bagging
from deepstack.runs import _files
from deepstack.runs._choices import (
    make_estimator,
    make_search,
    resolve_auto_pretrain,
    resolve_bagging,
)
from deepstack.runs._folder import TRAINING_MARKER, write_run
from deepstack.runs._metrics import PRIMARY
from deepstack.runs._progress import RunProgress
from deepstack.runs._record import (
    describe_network,
    networks_of,
    run_config,
    search_summary,
    trials_frame,
    validation_metrics,
)
from deepstack.runs._rows import read_rows
from deepstack.runs._run import TableRun, feature_rows, source_name
from deepstack.runs._target import (
    group_split,
    numeric_target,
    row_weights,
)
from deepstack.tables import ReadingWarning, TablePreprocessor
from deepstack.tables._reading import (
    _examples,
    _sentence,
)
from deepstack.tables._roles import column_names

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
        # (The test rows' reading is in the notes.)
        with _noted_reading(), _after_training():
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


@dataclasses.dataclass
class _Fitted:
    preprocessor: TablePreprocessor
    estimator: object
    searcher: object
    preprocess_time: float
    fit_time: float
    time_limit_reached: object  # bool, or None without a time limit
    interrupted: bool  # a Ctrl-C stopped the training at an epoch's end
    baselines: dict  # {name: (fitted estimator, fit seconds)}


def _check_choices(**choices):
    for name, (value, allowed) in choices.items():
        if value is not None and value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")


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
        y_train = numeric_target(y_train, table.target)
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
        feature_rows(f, columns, preprocessor, "unlabeled") for f in table.unlabeled
    ]
    test_rows = feature_rows(table.test, columns, preprocessor, "test")
    for rows, frames in (("test", [test_rows]), ("unlabeled", table.unlabeled)):
        if frames:
            read = preprocessor.reading_notes(pd.concat(frames))
            notes += [f"{rows} rows: {note}" for note in read]
    table.notes.extend(notes)
    for note in notes:
        # A warning, as for rows without a target: shown by the command in
        # every mode (its progress display is off without a terminal).
        warnings.warn(_sentence(note), UserWarning, stacklevel=user_stacklevel())
    sample_weight = None
    if weight_column is not None:
        sample_weight = row_weights(table.train[weight_column], weight_column)
    if pretrain == "auto":
        pretrain = resolve_auto_pretrain(table, len(y_train), display)
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
    estimator = make_estimator(
        table.task, X_train.shape[0], params, pretrain, random_state, display
    )
    folds = resolve_bagging(bagging, X_train.shape[0], search, pretrain)
    shrunk = None  # the note on a bag of fewer networks, once the rows pass
    if (
        groups is not None
        and folds > 1
        and (n_groups := len(pd.unique(groups))) < folds
    ):
        # A fold a group at least: as many folds as groups.
        shrunk = (
            f"bagging: the training rows hold {n_groups} group(s), fewer than the "
            f"{folds} folds of the bagging; "
            + (
                f"{n_groups} bagged networks are trained, a fold of whole groups each"
                if n_groups > 1
                else "a single network is trained"
            )
        )
        folds = n_groups
    _check_refit_on_all(estimator, folds, groups)
    if folds > 1:
        estimator = bagging_for(estimator, folds, random_state)
    t0 = time.perf_counter()
    if stage is not None:
        (stage / TRAINING_MARKER).touch()
    if pretrain is not None:
        display.stage(f"pretraining ({pretrain}), then fine-tuning")
    searcher = None
    if search is None:
        display.stage(
            f"training {describe_network(estimator)}"
            + (f", time limit {seconds:.0f} s" if seconds else "")
        )
        _limit_training(estimator, seconds)
        rows, fit_kwargs = _grouped(
            estimator, X_train, y_train, sample_weight, groups, random_state, table.task
        )
        _note_shrunk(shrunk, table)
        with watched_stops() as stops:
            estimator.fit(*rows, **fit_kwargs)
        reached = _time_limit_reached(estimator, seconds, table)
    else:
        display.stage(
            f"{search} search, {max_trials} trials"
            + (f", time limit {seconds:.0f} s" if seconds else "")
        )
        searcher = make_search(
            estimator, search, max_trials, seconds, search_space, random_state, params
        )
        rows, fit_kwargs = _grouped(
            searcher, X_train, y_train, sample_weight, groups, random_state, table.task
        )
        _note_shrunk(shrunk, table)
        with watched_stops() as stops:  # (the refit: a trial stops the search)
            searcher.fit(*rows, **fit_kwargs)
        estimator = searcher.best_estimator_
        reached = _search_limit_reached(searcher, seconds, max_trials, table)
    interrupted = _interrupted(stops, estimator, table)
    # The progress display and the job's time limit are not part of the model.
    for network in networks_of(estimator):
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
        interrupted,
        fitted_baselines,
    )


def _check_refit_on_all(network, folds, groups):
    """Refuse ``refit_on_all`` where the job gives the network its validation
    rows (the estimator would refuse it naming arguments the user never
    gave): bagged networks early-stop on their folds, and a group column's
    validation rows are whole groups."""
    params = network.get_params()
    if not params.get("refit_on_all") or not params.get("early_stopping"):
        return
    if folds > 1:
        raise ValueError(
            "refit_on_all (--param refit_on_all=true) does not fit bagged "
            "networks: each early-stops on its own fold, and together they train "
            "on every row. Leave it out, or give bagging=None (--bagging 1) with it."
        )
    if groups is not None:
        raise ValueError(
            "refit_on_all (--param refit_on_all=true) needs the network's own "
            "validation split, and with a group column (--group-col) the "
            "validation rows are whole groups chosen for it: leave it out."
        )


def _note_shrunk(note, table):
    if note is not None:
        table.notes.append(note)
        warnings.warn(_sentence(note), UserWarning, stacklevel=user_stacklevel())


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
    if len(present := pd.unique(groups)) < 2:
        raise ValueError(
            f"The training rows hold a single group ({_examples(present)}): "
            "validation rows of whole groups, apart from the training ones, need "
            "two groups at least. Give more groups, or turn early stopping off "
            "(--param early_stopping=false; params={'early_stopping': False})."
        )
    labels = None if task == "regression" else y[: len(groups)]
    fraction = params["validation_fraction"]
    try:
        # A draw whose training rows hold every class, when one does.
        train, val = group_split(groups, labels, fraction, seed)
    except ValueError:
        train, val = group_split(groups, None, fraction, seed)
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
        warnings.warn(_sentence(note), UserWarning, stacklevel=user_stacklevel())
    return bool(cut)


def _search_limit_reached(searcher, seconds, max_trials, table):
    """Whether the time limit ended the search (or cut a trial short; said in
    a note and a warning), or None without a limit."""
    if seconds is None:
        return None
    if not searcher.time_limit_reached_:
        return False
    results = searcher.results_
    done = sum(status == "COMPLETED" for status in results["status"])
    cut = sum(results["cut_short"])
    parts = [f"{cut} of them cut short at an epoch's end"] if cut else []
    if searcher.refit_cut_short_:  # (only with refit_in_budget)
        parts.append("the refit too")
    note = (
        f"time limit: the {seconds:g} s limit ended the search after {done} of "
        f"{max_trials} trials"
        + (f" ({'; '.join(parts)})" if parts else "")
        + "; a longer time limit may find better parameters"
    )
    table.notes.append(note)
    warnings.warn(_sentence(note), UserWarning, stacklevel=user_stacklevel())
    return True


def _interrupted(stops, estimator, table):
    """Whether a Ctrl-C stopped the training at an epoch's end (the fit then
    ends normally, with its best epoch so far): said in a note, as a time
    limit is (the estimator warned already)."""
    if not stops:
        return False
    table.notes.append(
        f"interrupted: Ctrl-C stopped the training at the end of epoch "
        f"{estimator.n_iter_}, before early stopping or max_epochs did; the "
        "network keeps its best epoch so far, and a fit run to its end may "
        "score better"
    )
    return True


def _preprocessor(given, categorical, task):
    """The run's unfitted TablePreprocessor: a clone of ``given`` (or the
    defaults) with ``categorical`` added and the target encoded as the run's
    task reads it (continuous for a regression; the task asked for may
    differ from the one the target's values suggest) unless ``given`` chose
    a target type."""
    preprocessor = TablePreprocessor() if given is None else clone(given)
    if categorical:
        own = column_names(preprocessor.categorical)
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


@contextlib.contextmanager
def _noted_reading():
    """Silence :class:`~deepstack.tables.ReadingWarning` for rows whose
    reading the fit has put in its notes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReadingWarning)
        yield


def _first_names(columns, shown=3):
    names = ", ".join(repr(name) for name in list(columns)[:shown])
    return names + (", ..." if len(columns) > shown else "")
