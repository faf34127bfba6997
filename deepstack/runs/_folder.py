"""A run folder on disk: :func:`save_run` writes a :class:`~deepstack.runs.TableRun`
all at once, :func:`load_run` reads it back without running code from it."""

import functools
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import is_regressor
from sklearn.pipeline import Pipeline

from deepstack import _io
from deepstack._warnings import user_stacklevel
from deepstack.runs import _files
from deepstack.runs._checked import (
    IMPORTANCE,
    check_config,
    damaged,
    read_optional_csv,
    run_json,
)
from deepstack.runs._metrics import PRIMARY
from deepstack.runs._run import TableRun
from deepstack.runs._target import regression_target
from deepstack.tables import TablePreprocessor

_PREPROCESSOR = "preprocessor.skops"
# Present in the staging folder while the network trains.
TRAINING_MARKER = ".training"
_MODEL = "model"
# The types beyond skops' own trusted ones that a run's preprocessor holds:
# skrub's table vectorizer, its steps and column selectors (runs of earlier
# versions hold the selectors' predicate functions), scikit-learn's folds of
# target encoding. Exact names, not modules: a library's other functions and
# classes (numpy.memmap writes files, numpy.testing runs strings as code)
# would let a tampered folder act at load or predict time.
_TRUSTED_TYPES = frozenset(
    {
        "deepstack.tables._preprocess.TablePreprocessor",
        "numpy.dtype",
        "sklearn.model_selection._split.KFold",
        "skrub._apply_to_each_col.ApplyToEachCol",
        "skrub._check_input.CheckInputDataFrame",
        "skrub._clean_categories.CleanCategories",
        "skrub._clean_null_strings.CleanNullStrings",
        "skrub._dataframe._common.is_any_date",
        "skrub._dataframe._common.is_categorical",
        "skrub._dataframe._common.is_numeric",
        "skrub._datetime_encoder.DatetimeEncoder",
        "skrub._drop_uninformative.DropUninformative",
        "skrub._duration_to_float.DurationToFloat",
        "skrub._string_encoder.StringEncoder",
        "skrub._table_vectorizer.PassThrough",
        "skrub._table_vectorizer.ShortReprDict",
        "skrub._table_vectorizer.TableVectorizer",
        "skrub._table_vectorizer._created_by_predicate",
        "skrub._to_datetime.ToDatetime",
        "skrub._to_float.ToFloat",
        "skrub._to_str.ToStr",
        "skrub.selectors._base.All",
        "skrub.selectors._base.And",
        "skrub.selectors._base.Cols",
        "skrub.selectors._base.Filter",
        "skrub.selectors._base.Sub",
        "skrub.selectors._selectors._cardinality_below",
    }
)


def save_run(run, out, *, test_frame=None, overwrite=False):
    """Write ``run`` to the folder ``out`` all at once; returns its path.

    The folder holds ``model/`` (the estimator in deepstack's safe format),
    ``preprocessor.skops``, ``config.json``, ``metrics.json``,
    ``history.csv``, ``trials.csv`` (when searched), ``test_predictions.csv``,
    ``importance.csv`` (:meth:`TableRun.column_importance`) and
    ``findings.json`` (when test rows are given), and ``report.html``.

    Parameters
    ----------
    run : TableRun
        The fitted run, as :func:`fit_table` or :func:`load_run` returns it.
    out : path
        The run folder to write. It is written beside ``out`` first and
        renamed to ``out`` once complete, so a failure or Ctrl-C leaves
        ``out`` as it was. An existing folder is refused unless it is empty,
        or ``overwrite`` and it is a run folder.
    test_frame : pandas.DataFrame, default=None
        Labeled test rows (with the target column): their predictions, the
        column importance and the diagnostic findings are written from them
        (rows without a target are left out). None: no predictions or
        importance, and no findings.
    overwrite : bool, default=False
        Replace ``out`` if it is a run folder (it holds ``config.json`` and
        nothing but the files a run writes), once the new one is complete.
        Any other folder or file is never replaced.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    out = Path(out)
    with _files.staged_folder(out, overwrite=overwrite) as stage:
        write_run(run, stage, test_frame)
    return out


def write_run(run, stage, test_frame):
    import skops.io

    from deepstack.runs._report import findings_for, write_report

    (stage / TRAINING_MARKER).unlink(missing_ok=True)
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
        with warnings.catch_warnings():
            # The test rows' extra columns were noted when they were scored.
            warnings.filterwarnings(
                "ignore", r"Column\(s\) .* were not seen at fit", UserWarning
            )
            _, X_test = run.features(test_frame, what="test")
            predictions = run.predictions_frame(X_test, proba=run.task != "regression")
            # (As a Series: nullable integer labels stay integers, "2".)
            labels = test_frame[run.target].reset_index(drop=True)
            if run.task == "regression":
                labels = regression_target(labels)  # as the metrics read it
            predictions.insert(0, run.target, labels)
            keep = predictions[run.target].notna().to_numpy()
            predictions[keep].to_csv(stage / "test_predictions.csv", index=False)
            findings = findings_for(run, X_test[keep])
            # No drop to measure where the test rows cannot give the primary
            # metric (R² of one row): said in the notes already.
            run.importance = None
            if PRIMARY[run.task] in run.metrics.get("test", {PRIMARY[run.task]: 0}):
                run.importance = run.column_importance(test_frame)
        if run.importance is not None:
            run.importance.to_csv(stage / "importance.csv", index=False)
    _files.write_json(stage / "findings.json", findings)
    try:
        write_report(stage)
    except Exception as error:  # noqa: BLE001 (the run is kept without its page)
        # The model, metrics and predictions are written: a page that fails
        # to draw must not lose them.
        warnings.warn(
            f"report.html could not be written ({type(error).__name__}: {error}); "
            "the run folder holds everything else. `deepstack report RUN` "
            "(TableRun.write_report) tries again.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def load_run(path):
    """Load a run folder written by :func:`fit_table` / :func:`save_run`.

    Nothing in the folder can run code: the estimator is read with
    :func:`deepstack.load`, and the preprocessor with skops after checking
    that every type it holds beyond skops' trusted ones is one that a
    deepstack preprocessor holds (named one by one, not by library).

    Parameters
    ----------
    path : path
        The run folder. A missing folder raises ``FileNotFoundError``; one
        without ``config.json``, ``metrics.json``, ``preprocessor.skops`` or
        ``model/``, or whose files do not agree, raises ``ValueError``.

    Returns
    -------
    TableRun
        The preprocessing and the model as one pipeline, with the run's
        config, metrics, trials (None when not searched) and column
        importance (None when not measured); its ``path`` is ``path``.
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
    config = run_json(path, "config.json")
    metrics = run_json(path, "metrics.json")
    check_config(path, config)
    _check_archive(path, _PREPROCESSOR)
    untrusted = skops.io.get_untrusted_types(file=path / _PREPROCESSOR)
    refused = [t for t in untrusted if t not in _TRUSTED_TYPES]
    if refused:
        refused = [t for t in refused if t not in _preprocessor_types()]
    if refused:
        raise ValueError(
            f"Refusing to load {str(path / _PREPROCESSOR)!r}: it holds types "
            f"that no deepstack preprocessor holds: {refused}."
        )
    preprocessor = skops.io.load(path / _PREPROCESSOR, trusted=untrusted)
    _check_columns(path, config["feature_columns"], preprocessor)
    estimator = _io.load(path / _MODEL)
    if (config["task"] == "regression") != is_regressor(estimator):
        raise damaged(
            path,
            f"config.json's task {config['task']!r} is not the task of the model "
            f"in {_MODEL}/ (a {type(estimator).__name__})",
        )
    pipeline = Pipeline([("table", preprocessor), ("model", estimator)])
    # Predicting needs neither: a damaged one is said, and left out.
    trials, importance = (
        _loaded_csv(path, name, needs)
        for name, needs in (("trials.csv", ()), ("importance.csv", IMPORTANCE))
    )
    return TableRun(
        pipeline,
        config,
        metrics,
        path=path,
        trials=trials,
        importance=importance,
    )


@functools.cache
def _preprocessor_types():
    """The types beyond skops' trusted ones that a preprocessor fitted by
    this install holds (every column role, classes and numbers as targets):
    a run written after an update of skrub or scikit-learn renamed or added
    one of :data:`_TRUSTED_TYPES` loads, and still nothing else does."""
    import skops.io

    n = 60
    rows = np.arange(n)
    table = pd.DataFrame(
        {
            "number": rows * 0.5,
            "skewed": np.exp(rows % 17),
            "category": np.where(rows % 3 == 0, "a", "b"),
            "identifier": [f"id{i % 50}" for i in rows],
            "text": [f"words and more words about item {i} of the table" for i in rows],
            "date": pd.date_range("2020-01-01", periods=n).strftime("%Y-%m-%d"),
            "flag": rows % 2 == 0,
        }
    )
    types = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y in (rows % 3, rows * 1.5):
            fitted = TablePreprocessor().fit(table, y)
            types.update(skops.io.get_untrusted_types(data=skops.io.dumps(fitted)))
    return frozenset(types)


def _loaded_csv(path, name, needs):
    """:func:`read_optional_csv`, None with a warning where it raises."""
    try:
        return read_optional_csv(path, name, needs)
    except ValueError as error:
        warnings.warn(str(error), UserWarning, stacklevel=user_stacklevel())
        return None


def _check_columns(path, columns, preprocessor):
    """Raise unless ``columns`` (config.json's ``feature_columns``, which
    predicting selects from a table) are the preprocessor's input columns,
    in order: an edited list fails later, far from its cause."""
    fitted = [str(c) for c in getattr(preprocessor, "feature_names_in_", ())]
    if columns == fitted:
        return
    missing = [c for c in fitted if c not in columns]
    extra = [c for c in columns if c not in fitted]
    differs = (
        f"it lacks {missing[:5]}"
        if missing
        else f"it adds {extra[:5]}"
        if extra
        else "their order differs"
    )
    raise damaged(
        path,
        f"config.json's 'feature_columns' are not the {len(fitted)} columns "
        f"{_PREPROCESSOR} was fitted on ({differs})",
    )


def _check_archive(path, name):
    """Raise if the ZIP archive ``name`` (a skops file) is cut short or
    corrupt: skops would raise ``BadZipFile`` or worse from inside."""
    try:
        with zipfile.ZipFile(path / name) as archive:
            corrupt = archive.testzip()
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise damaged(
            path, f"{name} is not a readable skops archive, cut short? ({error})"
        ) from error
    if corrupt is not None:
        raise damaged(path, f"{name} is corrupt (its part {corrupt!r})")
