"""Warnings raised inside a fit point at the user's line (deepstack/_warnings.py)."""

import warnings

import keras
import numpy as np
import pytest
from sklearn.model_selection import cross_validate

from deepstack import DeepStackClassifier, DeepStackRegressor, DeepStackSearch, Float
from deepstack._warnings import user_stacklevel
from deepstack.callbacks import EarlyStopping
from deepstack.ensemble import DeepStackBaggingClassifier
from tests.conftest import tiny

X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
# -1 in a few rows: the classifier warns that it fits -1 as a class.
Y = np.where(np.arange(60) < 10, -1, np.arange(60) % 2)


def caught(fit):
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        fit()
    return [r for r in records if "contains -1" in str(r.message)]


def test_user_stacklevel_skips_the_frames_of_the_packages_a_fit_runs_through():
    def warn():
        warnings.warn("here", UserWarning, stacklevel=user_stacklevel())

    with pytest.warns(UserWarning, match="here") as records:
        warn()
    # warn() is in this file, outside deepstack: it is the warning's line.
    assert records[0].filename == __file__
    assert records[0].lineno == warn.__code__.co_firstlineno + 1


@pytest.mark.parametrize(
    "fit",
    [
        lambda: tiny(DeepStackClassifier, max_epochs=1).fit(X, Y),
        lambda: DeepStackBaggingClassifier(
            tiny(DeepStackClassifier, max_epochs=1), n_folds=2, random_state=0
        ).fit(X, Y),
        lambda: DeepStackSearch(
            tiny(DeepStackClassifier, max_epochs=1),
            {"learning_rate": Float(1e-3, 1e-1, log=True)},
            tuner="random",
            max_trials=1,
            random_state=0,
        ).fit(X, Y),
        lambda: cross_validate(tiny(DeepStackClassifier, max_epochs=1), X, Y, cv=2),
    ],
    ids=["estimator", "bagging", "search", "cross_validate"],
)
def test_a_warning_in_fit_names_the_line_that_called_it(fit):
    # (The rollback wrapper, the members, the trials and scikit-learn's
    # cross-validation each put frames between the two: a fixed stacklevel
    # pointed into deepstack's or scikit-learn's files.)
    records = caught(fit)
    assert records
    assert {r.filename for r in records} == {__file__}


def test_a_callbacks_warning_names_the_line_that_called_fit():
    # The divergence guard warns from inside Keras's callback list.
    y = np.random.default_rng(0).normal(size=60).astype(np.float32)
    reg = tiny(
        DeepStackRegressor,
        optimizer="sgd",
        learning_rate=1e6,
        max_epochs=3,
        on_divergence="warn",
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        reg.fit(X, y)
    diverged = [r for r in records if "diverg" in str(r.message).lower()]
    assert diverged
    assert {r.filename for r in diverged} == {__file__}


def test_no_warning_in_the_package_has_a_fixed_stacklevel():
    import pathlib
    import re

    import deepstack

    package = pathlib.Path(deepstack.__file__).parent
    fixed = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"stacklevel=\d", line)
    ]
    assert fixed == []


@pytest.mark.parametrize(
    "callback, early_stopping, warns",
    [
        (lambda: keras.callbacks.EarlyStopping(restore_best_weights=True), True, True),
        (lambda: EarlyStopping(restore_best_weights=True), True, True),
        (lambda: keras.callbacks.EarlyStopping(), True, False),
        (
            lambda: keras.callbacks.EarlyStopping(restore_best_weights=True),
            False,
            False,
        ),
    ],
    ids=["keras", "deepstack", "not-restoring", "own-stopping-off"],
)
def test_a_second_early_stopping_that_restores_weights_is_said(
    callback, early_stopping, warns
):
    # Run after deepstack's own stopper, it restored another epoch's weights
    # than best_epoch_, silently.
    clf = tiny(
        DeepStackClassifier,
        max_epochs=2,
        early_stopping=early_stopping,
        callbacks=[callback()],
    )
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        clf.fit(X, np.arange(60) % 2)
    said = [r for r in records if "restore_best_weights=True" in str(r.message)]
    assert len(said) == warns
    if warns:
        assert "weights kept may not be best_epoch_'s" in str(said[0].message)
        assert said[0].filename == __file__
