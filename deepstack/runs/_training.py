"""The main job's training stage (``train_table``): the training rows
preprocessed, then the network, bag or search trained on them under the job's
time limit, groups and Ctrl-C handling, then the baselines.
"""

import contextlib
import dataclasses
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone

from deepstack._interrupt import watched_stops
from deepstack._warnings import user_stacklevel
from deepstack.callbacks import TimeLimit
from deepstack.ensemble import bagging_for, is_bagging
from deepstack.runs._choices import (
    make_estimator,
    make_search,
    resolve_auto_pretrain,
    resolve_bagging,
)
from deepstack.runs._folder import TRAINING_MARKER
from deepstack.runs._record import describe_network, networks_of
from deepstack.runs._run import feature_rows
from deepstack.runs._target import (
    group_split,
    numeric_target,
    row_weights,
)
from deepstack.tables import ReadingWarning, TablePreprocessor
from deepstack.tables._reading import _examples, _sentence
from deepstack.tables._roles import column_names


@dataclasses.dataclass
class Fitted:
    preprocessor: TablePreprocessor
    estimator: object
    searcher: object
    preprocess_time: float
    fit_time: float
    time_limit_reached: object  # bool, or None without a time limit
    interrupted: bool  # a Ctrl-C stopped the training at an epoch's end
    baselines: dict  # {name: (fitted estimator, fit seconds)}


def train_table(
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
        with noted_reading():
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
    return Fitted(
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


@contextlib.contextmanager
def noted_reading():
    """Silence :class:`~deepstack.tables.ReadingWarning` for rows whose
    reading the fit has put in its notes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReadingWarning)
        yield
