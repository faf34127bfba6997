"""The estimators' ``"auto"`` regularization: defaults that follow the data."""

AUTO = "auto"

# Input dropout from this many features on: below it, dropping one of a few
# informative columns discards real information.
MANY_FEATURES = 64


def regularization(
    n_features,
    *,
    regression=False,
    dropout=AUTO,
    input_dropout=AUTO,
    l2=AUTO,
    batch_norm=AUTO,
):
    """Resolve ``"auto"`` dropout, input dropout, L2 and batch normalization.

    - ``input_dropout``: 0.1 with 64 features or more, 0 below;
    - ``dropout`` and ``l2``: 0.3 and 1e-3;
    - ``batch_norm``: on for classifiers, off for regressors.

    Chosen on validation splits of the training rows of nine public datasets,
    never on the test rows that are reported (``benchmarks/
    estimator_defaults.py``; ``benchmarks/results/
    estimator_defaults_selection.md``). Rules that lowered dropout and L2
    with the number of rows per feature, and a batch size that grows with
    the rows, scored lower there. The regressors' values were re-chosen by
    5-fold cross-validation inside the training rows (the single 78-row
    inner validation split of diabetes was too small to choose on):
    without batch normalization, whose batch statistics made the default
    lose on diabetes (309 training rows), and with the classifiers' dropout
    and L2, the mean CV R² over diabetes and friedman1 was 0.706, against
    0.586 for the former regressor defaults (batch normalization, dropout
    0.1, L2 1e-4) and 0.700 without batch normalization at 0.1 and 1e-4
    (``benchmarks/results/estimator_defaults_regression_select.md``;
    dropout 0.5 tied with 0.3 in a second round, ``..._round2.md``, and 0.3
    was kept). The main job's table defaults had also dropped batch
    normalization for regressors. Classifiers keep it at every size: without
    it below 500 rows won the same cross-validation on wine and
    breast_cancer but lost on breast_cancer's test rows
    (``estimator_defaults_small_classification_test.md``); a second search
    on wine, breast_cancer and iris (larger validation split, batch 128,
    learning rate 3e-3, the MLP's regularization, input dropout, a refit on
    all rows) found nothing clearly better, and the defaults tie
    ``MLPClassifier((256, 256))`` there
    (``estimator_defaults_small_round2_select.md``, ``..._refit_select.md``,
    ``..._round3_select.md``, ``..._round4_select.md``). Numbers and
    booleans pass through unchanged.

    Parameters
    ----------
    n_features : int
        Number of input features.
    regression : bool, default=False
        Whether the estimator is a regressor.
    dropout, input_dropout, l2 : float or "auto"
        The estimator's parameters.
    batch_norm : bool or "auto"
        The estimator's parameter.

    Returns
    -------
    resolved : dict
        ``{"dropout": float, "input_dropout": float, "l2": float,
        "batch_norm": bool}``.

    Examples
    --------
    >>> regularization(64)
    {'dropout': 0.3, 'input_dropout': 0.1, 'l2': 0.001, 'batch_norm': True}
    >>> regularization(10, regression=True, l2=0.0)
    {'dropout': 0.3, 'input_dropout': 0.0, 'l2': 0.0, 'batch_norm': False}
    """
    auto = {
        "dropout": 0.3,
        "input_dropout": 0.1 if n_features >= MANY_FEATURES else 0.0,
        "l2": 1e-3,
    }
    given = {"dropout": dropout, "input_dropout": input_dropout, "l2": l2}
    resolved = {
        name: auto[name] if value == AUTO else float(value)
        for name, value in given.items()
    }
    resolved["batch_norm"] = not regression if batch_norm == AUTO else bool(batch_norm)
    return resolved


# The joint loss's weight when ``reconstruction_weight="auto"`` engages.
JOINT_WEIGHT = 0.1


def reconstruction_weight(
    value=AUTO, *, regression=False, unlabeled_unused=False, many_unlabeled=False
):
    """Resolve an ``"auto"`` ``reconstruction_weight`` (the joint loss).

    0.1 for a regressor whose unlabeled rows (NaN targets) outnumber its
    labeled rows and that nothing else uses (neither pretraining nor
    ``semi_supervised``); 0 otherwise, and always 0 for classifiers, whose
    ``semi_supervised="auto"`` (label propagation) the joint loss did not
    improve. On diabetes and friedman1 with 5, 10 and 25 % of the targets
    (5 seeds, ``benchmarks/semi_supervised_regression.py``) the joint loss
    at 0.1 scored above the labeled rows alone at every budget and above
    target propagation and pretraining on average
    (``benchmarks/results/semi_supervised_regression.md``). 0.1 was fixed
    beforehand: the weight the classifier's validation chose in most fits
    of ``benchmarks/semi_supervised.py``. Numbers pass through unchanged.

    Parameters
    ----------
    value : float or "auto"
        The estimator's parameter.
    regression : bool, default=False
        Whether the estimator is a regressor.
    unlabeled_unused : bool, default=False
        Whether the fit has unlabeled rows that no other step (pretraining,
        ``semi_supervised``) uses.
    many_unlabeled : bool, default=False
        Whether they outnumber the labeled rows
        (:func:`deepstack._pretraining.unlabeled_outnumber`).

    Returns
    -------
    weight : float

    Examples
    --------
    >>> reconstruction_weight(regression=True, unlabeled_unused=True,
    ...                       many_unlabeled=True)
    0.1
    >>> reconstruction_weight(unlabeled_unused=True, many_unlabeled=True)
    0.0
    >>> reconstruction_weight(0.5)
    0.5
    """
    if value != AUTO:
        return float(value)
    engaged = regression and unlabeled_unused and many_unlabeled
    return JOINT_WEIGHT if engaged else 0.0


# Early stopping's patience ("auto"): fixed below this many training rows.
PATIENCE = 10
LARGE_TABLE_ROWS = 10_000
LARGE_TABLE_PATIENCE, LARGE_TABLE_GROWTH = 5, 0.25


def patience(n_rows, *, regression=False, n_iter_no_change=AUTO, growth=AUTO):
    """Resolve ``"auto"`` ``n_iter_no_change`` and ``patience_growth``.

    A classifier fitting on ``LARGE_TABLE_ROWS`` rows or more waits 5
    epochs, and at least a quarter of the epochs up to the best one
    (``patience_growth=0.25``); below, and for regressors, 10 epochs, fixed.
    On the recorded default fits of ``benchmarks/stop_rules.py`` (inner
    validation splits, test rows unread) that rule ended the 21,000-row
    tables at 19 and 16 epochs instead of 65 and 35, still ahead of
    ``MLPClassifier`` on every seed, and kept the 26-class tables' epochs
    and lead (``benchmarks/results/stop_rules_growth.md``); in real fits
    the medium tables took 1.4x and 1.3x the MLP's time instead of 3.6x and
    2.9x, 2.0 and 1.8 points ahead of it (``benchmarks/results/
    medium_table.md``, ``medium_table_onehot.md``). Below 10,000 rows the
    patience stays fixed: there the rule cost mnist1d 0.7 points, and the
    small tables' figures were measured with the fixed patience. Numbers
    pass through unchanged.

    Returns
    -------
    patience : int
    growth : float

    Examples
    --------
    >>> patience(21_000)
    (5, 0.25)
    >>> patience(1_000), patience(21_000, regression=True)
    ((10, 0.0), (10, 0.0))
    >>> patience(21_000, n_iter_no_change=20)
    (20, 0.25)
    """
    large = not regression and n_rows >= LARGE_TABLE_ROWS
    auto = (LARGE_TABLE_PATIENCE, LARGE_TABLE_GROWTH) if large else (PATIENCE, 0.0)
    resolved_patience = auto[0] if n_iter_no_change == AUTO else int(n_iter_no_change)
    resolved_growth = auto[1] if growth == AUTO else float(growth)
    return resolved_patience, resolved_growth
