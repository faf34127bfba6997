"""Estimator defaults that follow the data: chosen on inner validation, reported once.

Suite (all offline): scikit-learn's digits, breast_cancer and wine (70/30
stratified split per seed); mnist1d (``deepstack.datasets.make_mnist1d``, its
standard 4,000/1,000 split; ``mnist1d_1k`` trains on a seeded stratified 1,000
of the 4,000 training rows); ``classes26``, ``make_classification`` with 16
features (12 informative), 26 classes, one cluster per class; ``onehot``, a
generated table of 4 numeric and 6 categorical columns (one-hot encoded to
103 columns) whose binary label comes from a nonlinear rule plus 10% flipped
labels; regression: diabetes and ``make_friedman1`` (2,000 rows, noise 1)
(70/30 split per seed). Every method runs behind ``StandardScaler``;
regression anchors get standardized targets (deepstack standardizes its own).

Shrunk to fit one shared CPU core: ``classes26`` has 10,000 rows (8,000
training rows; the issue's table has 20,000) and ``onehot`` 12,000 rows
(9,600 training rows; the issue's census table has 30,000).

Two phases:

``--phase select`` draws each seed's outer split, throws the test rows away
unseen, splits the training rows 75/25 (stratified for classes, seeded) and
scores every candidate default rule (``CANDIDATES``) on the inner 25%.
A candidate whose resolved parameters equal an earlier candidate's on a
dataset is not fitted again (its score is the same fit's). With ``--cv K`` the
single inner split is replaced by K-fold cross-validation inside the training
rows (shuffled, ``random_state`` 1000 + seed, stratified for classes); a
candidate's score is the mean over the K folds, its parameters resolved from
each fold's training rows.

``--phase test`` reports each outer test split once: the old defaults
(dropout 0.3, input dropout 0.1, L2 1e-3, batch 32, batch normalization), the
estimators' current defaults (whatever ``DeepStackClassifier()`` /
``DeepStackRegressor()`` resolve to) and ``MLPClassifier((256, 256))`` /
``MLPRegressor((256, 256))``; on the regression sets also Keras's own
``keras.wrappers.SKLearnRegressor`` (built as ``benchmarks/accuracy.py``
builds it) and ``HistGradientBoostingRegressor`` as a reference
(``--methods``).

    .venv/bin/python benchmarks/estimator_defaults.py --phase select --seeds 0 1 2
    .venv/bin/python benchmarks/estimator_defaults.py --phase select --cv 5 \
        --datasets diabetes friedman1 --candidates input_by_features \
        by_features_and_task --name estimator_defaults_regression_cv
    .venv/bin/python benchmarks/estimator_defaults.py --phase test --seeds 0 1 2 3 4
    .venv/bin/python benchmarks/estimator_defaults.py --phase select --cv 5 \
        --datasets diabetes friedman1 --candidates by_features_and_task \
        regression_no_batch_norm regression_no_batch_norm_heavier \
        regression_no_batch_norm_l2 --name estimator_defaults_regression_select
    .venv/bin/python benchmarks/estimator_defaults.py --phase test \
        --datasets diabetes friedman1 --seeds 0 1 2 3 4 \
        --methods old new mlp keras hgb --name estimator_defaults_regression_test
    .venv/bin/python benchmarks/estimator_defaults.py --phase select --cv 5 \
        --datasets digits mnist1d_1k --seeds 0 1 2 --candidates \
        by_features_and_task patience5 tol1e3 patience5_tol1e3 batch256_lr3e3 \
        --name estimator_defaults_speed_select
    .venv/bin/python benchmarks/estimator_defaults.py --phase select --cv 5 \
        --datasets wine breast_cancer iris --seeds 0 1 2 3 4 --candidates \
        small_lr3e3 small_no_batch_norm_lr3e3 small_mlp_like --with-mlp \
        --name estimator_defaults_small_round3_select
    .venv/bin/python benchmarks/estimator_defaults.py --phase select --cv 5 \
        --datasets wine breast_cancer iris --seeds 0 1 2 3 4 --candidates \
        small_input_dropout small_no_batch_norm_input_dropout \
        --name estimator_defaults_small_round4_select

``iris`` (105 training rows) is a selection-only set of the small
classification rounds; ``--with-mlp`` scores the MLP on the same CV folds.

The large-table round (issue 12, medium tables' speed) runs only when named:
``classes26_20k`` and ``onehot_30k`` are ``classes26`` and ``onehot`` at the
issue's sizes (20,000 and 30,000 rows); candidates ``current`` (the
defaults before this round: batch 32), ``batch_auto`` and ``batch_auto_lr_sqrt``:

    .venv/bin/python benchmarks/estimator_defaults.py --phase select \
        --datasets onehot_30k classes26_20k --seeds 0 1 2 --candidates \
        current batch_auto --name estimator_defaults_large_select
    .venv/bin/python benchmarks/estimator_defaults.py --phase select \
        --datasets onehot_30k classes26_20k --seeds 0 1 2 --candidates \
        current batch_auto batch_auto_lr_sqrt --reuse \
        benchmarks/results/estimator_defaults_large_select.json \
        --name estimator_defaults_large_select_round2
    .venv/bin/python benchmarks/estimator_defaults.py --phase select \
        --datasets classes26 onehot --seeds 0 1 2 --candidates current \
        batch_auto_lr_sqrt --name estimator_defaults_large_select_round3

The large-table patience (the classifier's default from 10,000 training
rows), against the fixed patience it replaced:

    .venv/bin/python benchmarks/estimator_defaults.py --phase select \
        --datasets onehot_30k classes26_20k --seeds 0 1 2 --candidates \
        defaults fixed_patience --name estimator_defaults_large_patience
"""

import json
import math
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import numpy as np  # noqa: E402

CLASSIFICATION = (
    "digits",
    "breast_cancer",
    "wine",
    "mnist1d_1k",
    "mnist1d",
    "classes26",
    "onehot",
    "iris",
)
REGRESSION = ("diabetes", "friedman1")
# Issue 12 item 4 (medium tables): the full sizes, run only when named.
LARGE = ("classes26_20k", "onehot_30k")
DATASETS = CLASSIFICATION + REGRESSION + LARGE

OLD = {
    "dropout": 0.3,
    "input_dropout": 0.1,
    "l2": 1e-3,
    "batch_size": 32,
    "batch_norm": True,
    "refit_on_all": False,
}
METHODS = ("new", "old", "mlp", "keras", "hgb")
# Anchors measured on the regression sets only.
REGRESSION_ONLY = ("keras", "hgb")


# ---------------------------------------------------------------------- data


def load(name, seed):
    """``(X_train, X_test, y_train, y_test, task)`` of one dataset and seed."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    task = "regression" if name in REGRESSION else "classification"
    if name in ("mnist1d", "mnist1d_1k"):
        from deepstack.datasets import make_mnist1d

        X_train, X_test, y_train, y_test = make_mnist1d()
        if name == "mnist1d_1k":
            X_train, _, y_train, _ = train_test_split(
                X_train, y_train, train_size=1000, stratify=y_train, random_state=seed
            )
        return X_train, X_test, y_train, y_test, task
    if name in ("classes26", "classes26_20k"):
        X, y = datasets.make_classification(
            n_samples=20_000 if name == "classes26_20k" else 10_000,
            n_features=16,
            n_informative=12,
            n_redundant=2,
            n_classes=26,
            n_clusters_per_class=1,
            random_state=0,
        )
    elif name in ("onehot", "onehot_30k"):
        X, y = _common.onehot_table(30_000 if name == "onehot_30k" else 12_000)
    elif name == "friedman1":
        X, y = datasets.make_friedman1(n_samples=2000, noise=1.0, random_state=0)
    else:
        loader = getattr(datasets, f"load_{name}")
        X, y = loader(return_X_y=True)
    stratify = y if task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=0.3 if len(y) < 5000 else 0.2,
        stratify=stratify,
        random_state=seed,
    )
    return X_train, X_test, y_train, y_test, task


def inner_split(X, y, task, seed):
    """The 75/25 split of the training rows that selection scores on."""
    from sklearn.model_selection import train_test_split

    stratify = y if task == "classification" else None
    return train_test_split(
        X, y, test_size=0.25, stratify=stratify, random_state=1000 + seed
    )


def cv_folds(X, y, task, seed, k):
    """``(train_index, validation_index)`` of K folds of the training rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = StratifiedKFold if task == "classification" else KFold
    return list(
        splitter(n_splits=k, shuffle=True, random_state=1000 + seed).split(X, y)
    )


# ---------------------------------------------------------------- candidates


def _old(n, d, task):
    return dict(OLD)


def _old_batch_auto(n, d, task):
    return {**OLD, "batch_size": "auto"}


def _input_by_features(n, d, task):
    # Input dropout discards real information when there are few features.
    return {**OLD, "input_dropout": 0.1 if d >= 64 else 0.0, "batch_size": "auto"}


def _by_rows_per_feature(n, d, task):
    # The old regularization up to 100 rows per feature, a tenth of the L2 and
    # a third of the dropout from 1,000, log-linear in between.
    t = min(max(math.log10(n / d) - 2.0, 0.0), 1.0)
    return {
        "dropout": round(0.3 - 0.2 * t, 3),
        "input_dropout": 0.1 if d >= 64 else 0.0,
        "l2": float(f"{10 ** (-3.0 - t):.3g}"),
        "batch_size": "auto",
    }


def _input_by_rows(n, d, task):
    # Input dropout only below 200 rows per feature: with more, every
    # column's information is already well sampled (after the first
    # selection round: input dropout won on mnist1d, r = 75, and lost on
    # classes26, r = 375).
    return {**OLD, "input_dropout": 0.1 if n / d < 200 else 0.0}


def _for_task(base, task_name, when=None, **changes):
    """The rule ``base`` with ``changes`` for the estimators of one task (and,
    given ``when``, only at the numbers of training rows ``n`` where
    ``when(n)`` holds)."""

    def rule(n, d, task):
        params = base(n, d, task)
        if task == task_name and (when is None or when(n)):
            params.update(changes)
        return params

    return rule


# The main job's table defaults for regressors (benchmarks/table_defaults.py).
_light_regression = _for_task(_by_rows_per_feature, "regression", dropout=0.1, l2=1e-4)
_input_by_rows_light_regression = _for_task(
    _input_by_rows, "regression", dropout=0.1, l2=1e-4
)


def _by_features_and_task(n, d, task):
    # The rule chosen after the first round: input dropout by the number of
    # features, lighter regularization for regressors, batch size 32.
    params = {**OLD, "input_dropout": 0.1 if d >= 64 else 0.0}
    if task == "regression":
        params.update(dropout=0.1, l2=1e-4)
    return params


# After the diabetes measurement: batch normalization's batch
# statistics are noisy on a few hundred rows and a real-valued target (the
# main job's table defaults already train regressors without it).
_regression_no_batch_norm = _for_task(
    _by_features_and_task, "regression", batch_norm=False
)
_regression_no_batch_norm_heavier = _for_task(
    _regression_no_batch_norm, "regression", dropout=0.3, l2=1e-3
)
_regression_no_batch_norm_l2 = _for_task(
    _regression_no_batch_norm, "regression", l2=1e-3
)
_regression_no_batch_norm_dropout05 = _for_task(
    _regression_no_batch_norm_heavier, "regression", dropout=0.5
)
_regression_no_batch_norm_l2_1e2 = _for_task(
    _regression_no_batch_norm_heavier, "regression", l2=1e-2
)


# Classification "small" below this many training rows (wine, breast_cancer;
# not digits or mnist1d_1k): set before the scores were seen.
FEW_ROWS = 500


def _few_rows(n):
    return n < FEW_ROWS


# The chosen regression rule; classifiers on few rows without batch
# normalization too (its batch statistics are noisy there).
_small_no_batch_norm = _for_task(
    _regression_no_batch_norm_heavier, "classification", _few_rows, batch_norm=False
)
_small_no_batch_norm_light = _for_task(
    _small_no_batch_norm, "classification", _few_rows, dropout=0.1, l2=1e-4
)


# Issue 12 item 3 (small fits' speed): larger batches for classifiers from
# 500 training rows (fewer steps per epoch), optionally a larger learning rate.
SPEED_ROWS = 500


def _classifier_from(rows, **changes):
    """``by_features_and_task`` with ``changes`` for classifiers from ``rows``."""
    return _for_task(
        _by_features_and_task, "classification", lambda n: n >= rows, **changes
    )


def _classifier_batch(batch_size, learning_rate=None):
    lr = {} if learning_rate is None else {"learning_rate": learning_rate}
    return _classifier_from(SPEED_ROWS, batch_size=batch_size, **lr)


# Small classification tables, second round (issue 16, "never lose to
# MLPClassifier" on wine): the same FEW_ROWS gate, set before any score.
def _no_refit(n, d, task):
    return {**_regression_no_batch_norm_heavier(n, d, task), "refit_on_all": False}


def _small(**changes):
    """``_regression_no_batch_norm_heavier`` (the rule before this round)
    with ``changes`` for classifiers below ``FEW_ROWS`` training rows;
    ``refit_on_all`` False unless ``changes`` set it."""
    return _for_task(_no_refit, "classification", _few_rows, **changes)


# The rule before this round, with refit_on_all spelled out.
_small_before = _small()


# A fifth of a few hundred rows to stop on, and more patience for its noise.
_small_patient = _small(validation_fraction=0.2, n_iter_no_change=20)
_small_no_batch_norm_patient = _small(
    batch_norm=False, validation_fraction=0.2, n_iter_no_change=20
)
# Fewer, less noisy steps, closer to MLPClassifier's batch of min(200, n).
_small_no_batch_norm_batch128 = _small(batch_norm=False, batch_size=128)
# Early stopping picks the epoch count, then a refit on all training rows.
_small_refit = _small(refit_on_all=True)
_small_no_batch_norm_refit = _small(batch_norm=False, refit_on_all=True)
_small_patient_refit = _small(
    validation_fraction=0.2, n_iter_no_change=20, refit_on_all=True
)
# Third round: many folds of wine ran all 200 epochs, the validation loss
# still falling; a larger step, and the MLP's own regularization.
_small_lr3e3 = _small(learning_rate=3e-3)
_small_no_batch_norm_lr3e3 = _small(batch_norm=False, learning_rate=3e-3)
_small_mlp_like = _small(batch_norm=False, dropout=0.0, l2=1e-4)
# Fourth round: input dropout at any number of features (the old defaults had
# it on wine's 13, and scored higher on its test rows than without it).
_small_input_dropout = _small(input_dropout=0.1)
_small_no_batch_norm_input_dropout = _small(batch_norm=False, input_dropout=0.1)

SMALL_CANDIDATES = {
    "small_before": _small_before,
    "small_patient": _small_patient,
    "small_no_batch_norm_patient": _small_no_batch_norm_patient,
    "small_no_batch_norm_batch128": _small_no_batch_norm_batch128,
    "small_refit": _small_refit,
    "small_no_batch_norm_refit": _small_no_batch_norm_refit,
    "small_patient_refit": _small_patient_refit,
    "small_lr3e3": _small_lr3e3,
    "small_no_batch_norm_lr3e3": _small_no_batch_norm_lr3e3,
    "small_mlp_like": _small_mlp_like,
    "small_input_dropout": _small_input_dropout,
    "small_no_batch_norm_input_dropout": _small_no_batch_norm_input_dropout,
}
SMALL_DESCRIPTIONS = {
    "small_before": "the rule before this round (`regression_no_batch_norm_heavier`),"
    " refit_on_all False",
    "small_patient": "`small_before`, and classifiers below 500 training rows "
    "validation_fraction 0.2, n_iter_no_change 20 (second small round)",
    "small_no_batch_norm_patient": "`small_patient` without batch normalization",
    "small_no_batch_norm_batch128": "`small_before`, and classifiers below 500 "
    "training rows without batch normalization, batch_size 128",
    "small_refit": "`small_before`, and classifiers below 500 training rows "
    "refit_on_all True (early stopping's epoch count, then a refit on all rows)",
    "small_no_batch_norm_refit": "`small_refit` without batch normalization",
    "small_patient_refit": "`small_patient` with refit_on_all True",
    "small_lr3e3": "`small_before`, and classifiers below 500 training rows "
    "learning_rate 3e-3 (third round)",
    "small_no_batch_norm_lr3e3": "`small_lr3e3` without batch normalization",
    "small_mlp_like": "`small_before`, and classifiers below 500 training rows "
    "without batch normalization, dropout 0, l2 1e-4 (MLPClassifier's alpha)",
    "small_input_dropout": "`small_before`, and classifiers below 500 training "
    "rows input_dropout 0.1 (fourth round)",
    "small_no_batch_norm_input_dropout": "`small_input_dropout` without batch "
    "normalization",
    "mlp": "MLPClassifier / MLPRegressor((256, 256)) on the same folds, "
    "scikit-learn's other defaults (a reference, not a candidate; --with-mlp)",
}


def _batch_auto_lr_sqrt(n, d, task):
    from deepstack._network import auto_batch_learning_rate, auto_batch_size

    batch = auto_batch_size(_common.training_rows(n))
    return {"batch_size": batch, "learning_rate": auto_batch_learning_rate(1e-3, batch)}


CANDIDATES = {
    "old": _old,
    "old_batch_auto": _old_batch_auto,
    "input_by_features": _input_by_features,
    "by_rows_per_feature": _by_rows_per_feature,
    "light_regression": _light_regression,
    "input_by_rows": _input_by_rows,
    "input_by_rows_light_regression": _input_by_rows_light_regression,
    "by_features_and_task": _by_features_and_task,
    "regression_no_batch_norm": _regression_no_batch_norm,
    "regression_no_batch_norm_heavier": _regression_no_batch_norm_heavier,
    "regression_no_batch_norm_l2": _regression_no_batch_norm_l2,
    "regression_no_batch_norm_dropout05": _regression_no_batch_norm_dropout05,
    "regression_no_batch_norm_l2_1e2": _regression_no_batch_norm_l2_1e2,
    "small_no_batch_norm": _small_no_batch_norm,
    "small_no_batch_norm_light": _small_no_batch_norm_light,
    # Issue 12 item 3 (speed): one block, keep together.
    "batch64": _classifier_batch(64),
    "batch128": _classifier_batch(128),
    "batch128_lr2e3": _classifier_batch(128, 2e-3),
    "batch256_lr3e3": _classifier_batch(256, 3e-3),
    "patience5": _classifier_from(SPEED_ROWS, n_iter_no_change=5, lr_patience=3),
    "tol1e3": _classifier_from(SPEED_ROWS, tol=1e-3),
    "patience5_tol1e3": _classifier_from(
        SPEED_ROWS, n_iter_no_change=5, lr_patience=3, tol=1e-3
    ),
    "patience7": _classifier_from(SPEED_ROWS, n_iter_no_change=7, lr_patience=3),
    "lr_patience3": _classifier_from(SPEED_ROWS, lr_patience=3),
    "tol3e3": _classifier_from(SPEED_ROWS, tol=3e-3),
    "tol1e2": _classifier_from(SPEED_ROWS, tol=1e-2),
    "monitor_accuracy": _classifier_from(SPEED_ROWS, monitor="val_accuracy"),
    "monitor_log_loss": _classifier_from(SPEED_ROWS, scoring="neg_log_loss"),
    **SMALL_CANDIDATES,
    # Issue 12 item 4 (medium tables' speed): one block, keep together.
    # Recorded as params {} in the round's results: batch 32 was the
    # default then.
    "current": lambda n, d, task: {"batch_size": 32},
    "batch_auto": lambda n, d, task: {"batch_size": "auto"},
    "batch_auto_lr_sqrt": _batch_auto_lr_sqrt,
    # Issue 12 item 4, the large-table patience: the defaults against the
    # fixed patience they replaced from 10,000 training rows.
    "defaults": lambda n, d, task: {},
    "fixed_patience": lambda n, d, task: {
        "n_iter_no_change": 10,
        "patience_growth": 0.0,
    },
}


DESCRIPTIONS = {
    "old": "dropout 0.3, input_dropout 0.1, l2 1e-3, batch_size 32",
    "old_batch_auto": "`old` with batch_size 'auto'",
    "input_by_features": "`old_batch_auto` without input dropout below 64 features",
    "by_rows_per_feature": "`input_by_features`, and with r = rows per feature, "
    "dropout 0.3 and l2 1e-3 up to r = 100, 0.1 and 1e-4 from r = 1000, "
    "log-linear in between",
    "light_regression": "`by_rows_per_feature`, regressors dropout 0.1, l2 1e-4",
    "input_by_rows": "`old` without input dropout from 200 rows per feature "
    "(added after the first round)",
    "input_by_rows_light_regression": "`input_by_rows`, regressors dropout 0.1, "
    "l2 1e-4 (added after the first round)",
    "by_features_and_task": "`old` without input dropout below 64 features; "
    "regressors dropout 0.1, l2 1e-4 (batch_size 32; the chosen rule, added "
    "after the first round)",
    "regression_no_batch_norm": "`by_features_and_task`, regressors without "
    "batch normalization (added for the issue's regression item)",
    "regression_no_batch_norm_heavier": "`regression_no_batch_norm`, regressors "
    "dropout 0.3, l2 1e-3",
    "regression_no_batch_norm_l2": "`regression_no_batch_norm`, regressors "
    "dropout 0.1, l2 1e-3",
    "regression_no_batch_norm_dropout05": "`regression_no_batch_norm`, "
    "regressors dropout 0.5, l2 1e-3 (second round)",
    "regression_no_batch_norm_l2_1e2": "`regression_no_batch_norm`, regressors "
    "dropout 0.3, l2 1e-2 (second round)",
    "small_no_batch_norm": "`regression_no_batch_norm_heavier` (the chosen "
    "regression rule), and classifiers without batch normalization below 500 "
    "training rows",
    "small_no_batch_norm_light": "`small_no_batch_norm`, and those classifiers "
    "dropout 0.1, l2 1e-4",
    # Issue 12 item 3 (speed): one block, keep together.
    "batch64": "`by_features_and_task`, classifiers batch_size 64 from 500 "
    "training rows",
    "batch128": "`by_features_and_task`, classifiers batch_size 128 from 500 "
    "training rows",
    "batch128_lr2e3": "`batch128` with learning_rate 2e-3",
    "batch256_lr3e3": "`by_features_and_task`, classifiers batch_size 256 and "
    "learning_rate 3e-3 from 500 training rows",
    "patience5": "`by_features_and_task`, classifiers n_iter_no_change 5 and "
    "lr_patience 3 from 500 training rows",
    "tol1e3": "`by_features_and_task`, classifiers tol 1e-3 from 500 training rows",
    "patience5_tol1e3": "`patience5` with tol 1e-3",
    "patience7": "`by_features_and_task`, classifiers n_iter_no_change 7 and "
    "lr_patience 3 from 500 training rows",
    "lr_patience3": "`by_features_and_task`, classifiers lr_patience 3 from 500 "
    "training rows",
    "tol3e3": "`by_features_and_task`, classifiers tol 3e-3 from 500 training rows",
    "tol1e2": "`by_features_and_task`, classifiers tol 1e-2 from 500 training rows",
    "monitor_accuracy": "`by_features_and_task`, classifiers monitor "
    "'val_accuracy' from 500 training rows",
    "monitor_log_loss": "`by_features_and_task`, classifiers stop and halve on "
    "the validation log loss without the weight penalty (scoring='neg_log_loss') "
    "from 500 training rows",
    **SMALL_DESCRIPTIONS,
    "current": "the estimators' defaults before the large-table round (batch_size 32)",
    "batch_auto": "the estimators' defaults with batch_size 'auto' (the "
    "batch follows the training rows; 32 up to 3,200)",
    "batch_auto_lr_sqrt": "`batch_auto` with the learning rate 1e-3 scaled by "
    "the square root of batch / 32 (the gradient noise of batch 32 kept)",
    "defaults": "the estimators' defaults (classifiers from 10,000 training rows: "
    "patience 5 growing to a quarter of the epochs up to the best)",
    "fixed_patience": "the defaults with n_iter_no_change 10 and patience_growth 0 "
    "(the classifier's fixed patience before the large-table patience)",
}


def _as_fitted(params, n_rows):
    # batch_size="auto" is 32 up to 3,200 fitting rows (those left after
    # the early-stopping split), so those fits are the same as batch 32's.
    if params.get("batch_size") == "auto" and _common.training_rows(n_rows) <= 3200:
        return {**params, "batch_size": 32}
    return params


# ------------------------------------------------------------------- methods


def _deepstack(task, params, seed, max_epochs):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from deepstack import DeepStackClassifier, DeepStackRegressor

    cls = DeepStackClassifier if task == "classification" else DeepStackRegressor
    extra = {} if max_epochs is None else {"max_epochs": max_epochs}
    return make_pipeline(StandardScaler(), cls(random_state=seed, **params, **extra))


def _mlp(task, seed, max_epochs):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    extra = {} if max_epochs is None else {"max_iter": max_epochs}
    if task == "classification":
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(256, 256), random_state=seed, **extra),
        )
    return make_pipeline(
        StandardScaler(),
        TransformedTargetRegressor(
            MLPRegressor(hidden_layer_sizes=(256, 256), random_state=seed, **extra),
            transformer=StandardScaler(),
        ),
    )


def _keras(seed, max_epochs):
    """``keras.wrappers.SKLearnRegressor`` as ``benchmarks/accuracy.py`` builds it."""
    import accuracy
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        accuracy._scaled_target(
            accuracy._keras_regressor(
                model=accuracy._keras_regressor_model,
                model_kwargs={"seed": seed},
                fit_kwargs=accuracy._keras_fit_kwargs(max_epochs or 200),
            )
        ),
    )


def _hgb(seed):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), HistGradientBoostingRegressor(random_state=seed)
    )


def _fit_score(model, X_train, y_train, X_eval, y_eval):
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    final = model[-1]
    final = getattr(final, "regressor_", final)
    epochs = getattr(final, "n_iter_", None)
    resolved = None
    if hasattr(final, "dropout_"):
        resolved = _as_fitted(
            {
                "dropout": final.dropout_,
                "input_dropout": final.input_dropout_,
                "l2": final.l2_,
                "batch_size": final.batch_size,
                "batch_norm": final.batch_norm_,
                "refit_on_all": getattr(final, "refit_on_all_", False),
            },
            X_train.shape[0],
        )
    return float(model.score(X_eval, y_eval)), seconds, epochs, resolved


# ---------------------------------------------------------------------- runs


def _earlier_fits(path):
    """Records of an earlier selection run (``--reuse``), by dataset and seed."""
    if path is None:
        return {}
    with open(path) as handle:
        payload = json.load(handle)
    fits = {}
    for record in payload["records"]:
        fits.setdefault((record["dataset"], record["seed"]), []).append(record)
    return fits


def _run_select_cv(args, log):
    """``--cv K``: every candidate scored by K-fold CV inside the training rows."""
    records = []
    for name in args.datasets:
        for seed in args.seeds:
            X_train, _unseen, y_train, _unseen_y, task = load(name, seed)
            if args.quick:
                X_train, y_train = X_train[:150], y_train[:150]
            folds = cv_folds(X_train, y_train, task, seed, args.cv)
            done = {}
            for candidate in args.candidates:
                rule = CANDIDATES[candidate]
                fold_params = [
                    _as_fitted(rule(len(fit), X_train.shape[1], task), len(fit))
                    for fit, _ in folds
                ]
                key = json.dumps(fold_params, sort_keys=True)
                if key in done:
                    record = {**done[key], "candidate": candidate, "reused": True}
                else:
                    scores, seconds, epochs = [], [], []
                    for (fit, val), params in zip(folds, fold_params):
                        model = _deepstack(task, params, seed, args.max_epochs)
                        value, fit_s, n_epochs, _ = _fit_score(
                            model,
                            X_train[fit],
                            y_train[fit],
                            X_train[val],
                            y_train[val],
                        )
                        scores.append(value)
                        seconds.append(fit_s)
                        epochs.append(n_epochs)
                    record = {
                        "dataset": name,
                        "seed": seed,
                        "candidate": candidate,
                        "params": rule(len(folds[0][0]), X_train.shape[1], task),
                        "inner_val": float(np.mean(scores)),
                        "fold_scores": scores,
                        "fit_s": float(np.mean(seconds)),
                        "epochs": epochs,
                        "reused": False,
                    }
                    done[key] = record
                records.append(record)
                log(record)
            if args.with_mlp:
                record = _mlp_cv(X_train, y_train, task, seed, folds, args.max_epochs)
                records.append({"dataset": name, **record})
                log(records[-1])
    return records


def _mlp_cv(X, y, task, seed, folds, max_epochs):
    """``--with-mlp``: the MLP anchor scored on the same folds (a reference)."""
    scores, seconds = [], []
    for fit, val in folds:
        value, fit_s, _, _ = _fit_score(
            _mlp(task, seed, max_epochs), X[fit], y[fit], X[val], y[val]
        )
        scores.append(value)
        seconds.append(fit_s)
    return {
        "seed": seed,
        "candidate": "mlp",
        "params": None,
        "inner_val": float(np.mean(scores)),
        "fold_scores": scores,
        "fit_s": float(np.mean(seconds)),
        "epochs": None,
        "reused": False,
    }


def _run_select(args, log):
    if args.cv is not None:
        return _run_select_cv(args, log)
    records = []
    earlier = _earlier_fits(args.reuse)
    for name in args.datasets:
        for seed in args.seeds:
            X_train, _unseen, y_train, _unseen_y, task = load(name, seed)
            X_in, X_val, y_in, y_val = inner_split(X_train, y_train, task, seed)
            if args.quick:
                X_in, y_in = X_in[:150], y_in[:150]
            done = {}
            for record in earlier.get((name, seed), []):
                key = _as_fitted(record["params"], X_in.shape[0])
                done.setdefault(json.dumps(key, sort_keys=True), record)
            for candidate in args.candidates:
                params = CANDIDATES[candidate](X_in.shape[0], X_in.shape[1], task)
                key = json.dumps(_as_fitted(params, X_in.shape[0]), sort_keys=True)
                if key in done:
                    record = {**done[key], "candidate": candidate, "reused": True}
                else:
                    model = _deepstack(task, params, seed, args.max_epochs)
                    value, seconds, epochs, _ = _fit_score(
                        model, X_in, y_in, X_val, y_val
                    )
                    record = {
                        "dataset": name,
                        "seed": seed,
                        "candidate": candidate,
                        "params": params,
                        "inner_val": value,
                        "fit_s": seconds,
                        "epochs": epochs,
                        "reused": False,
                    }
                    done[key] = record
                records.append(record)
                log(record)
    return records


def _run_test(args, log, save):
    records = []
    for name in args.datasets:
        if records:
            save(records)  # a partial result survives an interrupted run
        for seed in args.seeds:
            X_train, X_test, y_train, y_test, task = load(name, seed)
            if args.quick:
                X_train, y_train = X_train[:150], y_train[:150]
            new = None
            # "new" first: where it resolves to the old values, "old" is the
            # same fit and is not run again.
            for method in sorted(args.methods, key=METHODS.index):
                if method in REGRESSION_ONLY and task != "regression":
                    continue
                if method == "old" and new is not None and new["resolved"] == OLD:
                    record = {**new, "method": "old", "reused": True}
                    records.append(record)
                    log(record)
                    continue
                if method == "mlp":
                    model = _mlp(task, seed, args.max_epochs)
                elif method == "keras":
                    model = _keras(seed, args.max_epochs)
                elif method == "hgb":
                    model = _hgb(seed)
                else:
                    params = OLD if method == "old" else {}
                    model = _deepstack(task, params, seed, args.max_epochs)
                value, seconds, epochs, resolved = _fit_score(
                    model, X_train, y_train, X_test, y_test
                )
                record = {
                    "dataset": name,
                    "seed": seed,
                    "method": method,
                    "test": value,
                    "fit_s": seconds,
                    "epochs": epochs,
                    "resolved": resolved,
                    "reused": False,
                }
                if method == "new":
                    new = record
                records.append(record)
                log(record)
    return records


def _markdown(records, column, value, names):
    """A score table (with the mean over datasets) and a seconds table."""
    table = {}
    for r in records:
        table.setdefault(r["dataset"], {}).setdefault(r[column], []).append(r)
    scores, seconds, means = [], [], {n: [] for n in names}
    for dataset, by_name in table.items():
        score_row, seconds_row = {"dataset": dataset}, {"dataset": dataset}
        for n in names:
            runs = by_name.get(n, [])
            if not runs:
                score_row[n] = seconds_row[n] = "-"
                continue
            mean, std = _common.mean_std([r[value] for r in runs])
            means[n].append(mean)
            score_row[n] = f"{mean:.4f} ± {std:.4f}"
            seconds_row[n] = f"{_common.mean_std([r['fit_s'] for r in runs])[0]:.1f}"
        scores.append(score_row)
        seconds.append(seconds_row)
    scores.append(
        {
            "dataset": "mean over datasets",
            **{
                n: f"{_common.mean_std(m)[0]:.4f}" if m else "-"
                for n, m in means.items()
            },
        }
    )
    columns = ["dataset", *names]
    return (
        _common.markdown_table(columns, scores)
        + "\n\nMean seconds per fit (a reused fit counts its own time):\n\n"
        + _common.markdown_table(columns, seconds)
    )


def _render(path, out):
    """Write the Markdown of an earlier run's JSON again (same command)."""
    with open(path) as handle:
        payload = json.load(handle)
    phase = payload["phase"]
    column = "candidate" if phase == "select" else "method"
    names = list(dict.fromkeys(r[column] for r in payload["records"]))
    markdown = _describe(phase, payload["seeds"], names, payload.get("cv")) + "\n\n"
    markdown += _markdown(
        payload["records"], column, "inner_val" if phase == "select" else "test", names
    )
    print(markdown)
    keep = ("phase", "cv", "seeds", "datasets", "records")
    _common.write_results(
        os.path.splitext(os.path.basename(path))[0],
        {k: payload[k] for k in keep if k in payload},
        markdown,
        out=out,
        command=payload["command"],
    )
    return payload["records"]


def _describe(phase, seeds, names, cv=None):
    if phase == "select" and cv is not None:
        return (
            f"{cv}-fold cross-validation score (accuracy or R²) inside each seed's "
            f"training rows (shuffled folds, the test rows are never read): the "
            f"mean over the folds, then mean ± std over seeds {seeds}. Candidates "
            "(resolved from each fold's training rows): "
            + "; ".join(f"`{c}`: {DESCRIPTIONS[c]}" for c in names)
            + "."
        )
    if phase == "select":
        return (
            f"Inner validation score (accuracy or R²) on 25% of each seed's "
            f"training rows (the test rows are never read), mean ± std over seeds "
            f"{seeds}. Candidates (resolved from the inner training rows' shape): "
            + "; ".join(f"`{c}`: {DESCRIPTIONS[c]}" for c in names)
            + "."
        )
    return (
        f"Test score (accuracy or R²), each test split read once, mean ± std "
        f"over seeds {seeds}. `old`: dropout 0.3, input_dropout 0.1, l2 1e-3, "
        "batch_size 32, batch_norm True (the former defaults); `new`: the "
        "estimators' defaults (dropout, input_dropout, l2 and batch_norm "
        '"auto"); `mlp`: MLPClassifier / MLPRegressor((256, 256)), '
        "scikit-learn's other defaults; regression only: `keras`: "
        "keras.wrappers.SKLearnRegressor around the former default network in "
        "plain Keras, as benchmarks/accuracy.py builds it (standardized target, "
        "EarlyStopping and ReduceLROnPlateau on a 10% validation split); `hgb`: "
        "HistGradientBoostingRegressor() (a reference, not an anchor). Where "
        "`new` resolves to the old values (digits), `old` is the same fit."
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("select", "test"), default="select")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--candidates", nargs="+", choices=sorted(CANDIDATES), default=None
    )
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument(
        "--reuse",
        default=None,
        help="JSON of an earlier selection run: fits with the same resolved "
        "parameters (same dataset and seed) are taken from it, not run again",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=None,
        help="select phase: score each candidate by K-fold CV inside the "
        "training rows instead of one 75/25 inner split",
    )
    parser.add_argument(
        "--with-mlp",
        action="store_true",
        help="select phase with --cv: also score MLPClassifier / "
        "MLPRegressor((256, 256)) on the same folds, as a reference",
    )
    parser.add_argument("--name", default=None)
    parser.add_argument(
        "--render",
        default=None,
        help="only write the Markdown of this earlier run's JSON again",
    )
    args = parser.parse_args(argv)
    if args.cv is not None and (args.phase != "select" or args.reuse or args.cv < 2):
        parser.error("--cv K (K >= 2) is for --phase select, without --reuse")
    if args.with_mlp and args.cv is None:
        parser.error("--with-mlp needs --cv K")
    if args.render is not None:
        return _render(args.render, args.out)
    _common.quiet_warnings()
    warnings.filterwarnings("ignore", category=UserWarning)
    args.datasets = args.datasets or (
        ["wine"] if args.quick else [d for d in DATASETS if d not in LARGE]
    )
    args.candidates = args.candidates or list(CANDIDATES)
    args.methods = args.methods or ["old", "new", "mlp"]
    if args.quick:
        args.seeds = args.seeds[:1]
    name = args.name or (
        "estimator_defaults_selection"
        if args.phase == "select"
        else "estimator_defaults"
    )

    def log(record):
        shown = {k: v for k, v in record.items() if k not in ("params", "resolved")}
        print(json.dumps(shown, default=str), flush=True)

    def save(records):
        column = "candidate" if args.phase == "select" else "method"
        names = args.candidates if args.phase == "select" else args.methods
        if args.with_mlp:
            names = [*names, "mlp"]
        value = "inner_val" if args.phase == "select" else "test"
        markdown = (
            _describe(args.phase, args.seeds, names, args.cv)
            + "\n\n"
            + _markdown(records, column, value, names)
        )
        _common.write_results(
            name,
            {
                "phase": args.phase,
                **({} if args.cv is None else {"cv": args.cv}),
                "seeds": args.seeds,
                "datasets": sorted({r["dataset"] for r in records}, key=DATASETS.index),
                "records": records,
            },
            markdown,
            out=args.out,
            command=_common.command_line("estimator_defaults", argv),
        )
        return markdown

    if args.phase == "select":
        records = _run_select(args, log)
    else:
        records = _run_test(args, log, save)
    print(save(records))
    return records


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
