"""What the main job fits: the estimator's parameters by task and size,
the bagging, the search and the pretraining it chooses."""

import warnings

import numpy as np

from deepstack import _pretraining
from deepstack._network import auto_batch_size
from deepstack._warnings import user_stacklevel
from deepstack.runs._progress import ProgressCallback


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

    Parameters
    ----------
    task : {"binary", "multiclass", "classification", "regression"}
        Any task but "regression" gets the classifier's parameters.
    n_rows : int
        The number of training rows: sets a regressor's batch size (a
        classifier's ``batch_size="auto"`` counts them at fit).

    Returns
    -------
    dict
        Parameters of :class:`~deepstack.DeepStackClassifier` or
        :class:`~deepstack.DeepStackRegressor`.
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

    Parameters
    ----------
    n_rows : int
        The number of training rows.

    Returns
    -------
    int
        The number of folds, 1 for a single network.
    """
    if n_rows < 10:
        return 1  # five folds need two rows each at least
    if n_rows <= 20_000:
        return 5
    if n_rows <= 100_000:
        return 3
    return 1


def resolve_auto_pretrain(table, n_labeled, display):
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
        # Rows the user gave that no step uses: said, as other left-out rows.
        warnings.warn(
            note[0].upper() + note[1:] + ".", UserWarning, stacklevel=user_stacklevel()
        )
    table.notes.append(note)
    display.stage(note)
    return pretrain


def make_estimator(task, n_rows, params, pretrain, random_state, display):
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
    sizes = settings.get("hidden_layer_sizes")
    # (Refused by the estimator's fit too, after the progress display has
    # failed to describe the network.)
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        raise ValueError(
            f"hidden_layer_sizes is a list of layer widths, not a number ({sizes}): "
            f"[{sizes}] for one layer of {sizes} (--param "
            f"hidden_layer_sizes=[{sizes}])."
        )
    estimator = cls(**settings)
    callback = ProgressCallback(display, estimator.max_epochs)
    estimator.set_params(callbacks=[callback, *(estimator.callbacks or [])])
    return estimator


# The estimator parameters that a search-space entry sets, where it is
# not one of them itself.
_SETS = {
    "n_layers": ("hidden_layer_sizes",),
    "units": ("hidden_layer_sizes",),
    "pretrain_epochs": ("pretrain_epochs", "pretrain"),
}


def make_search(estimator, tuner, max_trials, seconds, space, seed, fixed=()):
    """The search of the main job. The parameters the user set (``fixed``:
    their ``params``) stay as set: left out of the default space, with a
    note (a given ``space`` is searched as given, over them)."""
    from deepstack import DeepStackSearch
    from deepstack.tuning import default_search_space

    # (Built here only when parameters are fixed; else the search builds it.)
    default = default_search_space(estimator) if space is None and fixed else {}
    clash = [n for n in default if set(fixed) & set(_SETS.get(n, (n,)))]
    if clash:
        space = {name: r for name, r in default.items() if name not in clash}
        if not space:
            raise ValueError(
                "The parameters fix every parameter the default search space "
                f"searches ({clash}): give a search space, or no search."
            )
        warnings.warn(
            f"The search leaves out {clash}, which the parameters fix.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
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


def resolve_bagging(bagging, n_rows, search, pretrain):
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
            "bagging (--bagging) applies to a single network's fit; it cannot be "
            "combined with a search or pretraining: leave it out, or give "
            "--bagging 1 (bagging=None)."
        )
    return int(bagging)
