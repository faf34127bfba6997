"""DeepStackSearch: hyperparameter search driven by a keras-tuner oracle."""

import copy
import os
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from deepstack._compat import HasMethods, Interval, StrOptions
from deepstack._warnings import user_stacklevel
from deepstack.callbacks import TimeLimit
from deepstack.estimators._checks import check_scoring_name
from deepstack.estimators._rollback import rolls_back_on_exception
from deepstack.tuning import _identity
from deepstack.tuning._checks import check_search_data, check_tuner_options
from deepstack.tuning._fitting import fit_arguments, trained_step_cut_short
from deepstack.tuning._kt_compat import ORACLES
from deepstack.tuning._results import (
    choose,
    completed_scores,
    no_trial_completed,
    trial_table,
    warn_of_failed_trials,
)
from deepstack.tuning._space import ResolvedSpace
from deepstack.tuning._trials import make_workers, run_search, trial_data
from deepstack.tuning._tuner import (
    TrialRunner,
    callbacks_parameter,
    epoch_parameter,
    is_distributed,
    make_oracle,
    seed_parameters,
    with_time_limit,
)


def _estimator_has(attr):
    """Delegate ``attr`` to ``best_estimator_`` once fitted, else to ``estimator``."""

    def check(self):
        owner = getattr(self, "best_estimator_", None)
        getattr(self.estimator if owner is None else owner, attr)
        return True

    return check


class DeepStackSearch(MetaEstimatorMixin, BaseEstimator):
    """Hyperparameter search for a deepstack estimator, run by keras-tuner.

    A keras-tuner oracle (random search, grid search, Bayesian optimization or
    Hyperband) proposes parameter values; each trial clones ``estimator``,
    sets them, fits it on the training part of the data and scores it on the
    validation part (or on ``X_val, y_val`` given to :meth:`fit`). The best
    parameters are then refit.

    Parameters
    ----------
    estimator : estimator
        The estimator to tune, e.g. ``DeepStackClassifier()``; its own
        parameters are the starting point of every trial.
    search_space : dict, "wide" or None, default=None
        ``{parameter name: range}``. A range is :class:`Int`, :class:`Float`,
        :class:`Choice`, :class:`Boolean`, a list (a choice among its values,
        which may be tuples, e.g. ``hidden_layer_sizes=[(64,), (128, 64)]``)
        or any other value (a constant set on every trial). The pseudo
        parameters ``n_layers`` and ``units`` set ``hidden_layer_sizes =
        (units,) * n_layers``. None searches :func:`default_search_space`
        (learning rate, dropout, depth, width, batch norm, optimizer and,
        when the estimator pretrains, pretraining epochs), centred on the
        estimator's own configuration; ``"wide"`` searches its broad ranges
        (``default_search_space(estimator, wide=True)``). A ``Pipeline`` has
        no default space: give its step's parameters (``"<step>__dropout"``).
        Every value (each choice, each range's bounds as a trial gets them,
        e.g. floats from :class:`Float`, each constant) is checked against
        the estimator's own checks before the first trial: one it refuses
        raises a ``ValueError`` naming it, as does a space with no range to
        search.
    tuner : {"random", "grid", "bayesian", "hyperband"}, default="bayesian"
        The keras-tuner oracle: ``RandomSearchOracle``, ``GridSearchOracle``,
        ``BayesianOptimizationOracle`` or ``HyperbandOracle``. Bayesian
        optimization never repeats a trial (a proposal already tried is
        replaced by a random draw). Hyperband's epoch budget is the
        estimator's ``max_epochs`` (``epochs`` for a
        :class:`~deepstack.StackedAutoencoder`, the one nested
        ``<step>__max_epochs`` in a ``Pipeline``; an estimator with none
        raises a ``ValueError``), or ``tuner_options["max_epochs"]``: a
        trial trains ``tuner/epochs`` epochs, and a promoted trial continues
        from the saved estimator of the earlier one (weights and optimizer
        state, no second pretraining) for the remaining epochs. Estimators
        without ``warm_start`` (``StackedAutoencoder``, a ``Pipeline``)
        train a promoted trial's budget from scratch. The refit trains the
        full budget, whatever the chosen trial's round budget.
    max_trials : int or None, default=20
        Number of trials (parameter settings) at most. None runs a grid to
        exhaustion or Hyperband to the end of its brackets.
    objective : str, callable or None, default=None
        How a trial is scored on the validation data, greater is better.
        None uses the estimator's ``scoring`` when it has one set (so that
        the search and the networks' early stopping optimize the same
        thing), else its ``score`` (accuracy for classifiers, R^2 for
        regressors); a string names a scikit-learn scorer (e.g.
        ``"neg_log_loss"``); a callable is a scorer ``f(estimator, X, y)``.
    validation_fraction : float in (0, 1), default=0.2
        Share of ``X`` held out to score the trials (stratified for
        classifiers, shuffled with ``random_state``). Ignored when ``fit``
        gets ``X_val, y_val``. The trials' networks also use these data for
        their early stopping.
    refit : bool, default=True
        Refit ``estimator`` with ``best_params_`` on all of ``X`` (training
        and validation parts, as scikit-learn's ``GridSearchCV`` does; the
        refit estimator draws its own early-stopping split from it). With
        ``X_val, y_val`` given, the refit trains on ``X`` and watches
        ``X_val`` exactly as the trials did.
    directory : str or None, default=None
        Where keras-tuner keeps the trials. None uses a fresh temporary
        directory, removed after ``fit``.
    project_name : str, default="deepstack_search"
        Sub-directory of ``directory`` for this search.
    overwrite : bool, default=True
        Start afresh. With a ``directory`` and ``overwrite=False``, a search
        that was interrupted resumes: finished trials are kept, not rerun.
        Only the same search resumes: the directory records the estimator's
        kind and parameters, the search space, the settings that change
        what a trial is (``tuner``, ``objective``, ``validation_fraction``,
        ``cv``, ``tuner_options``, ``start_from_estimator``,
        ``random_state``) and a digest of the data given to :meth:`fit`
        (``deepstack_search.json``). A directory holding another search's
        trials raises a ``ValueError`` naming what differs, before any
        trial runs (``max_trials``, ``time_limit`` and the like may change:
        a larger ``max_trials`` extends the search).
    tuner_options : dict or None, default=None
        Extra keyword arguments for the oracle, e.g. ``{"factor": 3,
        "hyperband_iterations": 2}`` for Hyperband or
        ``{"num_initial_points": 5}`` for Bayesian optimization (default:
        3 random points per hyperparameter as in keras-tuner, but at most half
        of ``max_trials`` and at least 3, so that the Gaussian process guides
        the rest of the search). The oracle's ``max_trials``, ``objective``,
        ``seed`` and ``hyperparameters`` are this search's own parameters
        (``max_trials``, ``objective``, ``random_state``, ``search_space``):
        giving them here raises a ``ValueError``.
    trials_per_process : int or None, default=None
        None fits every trial in this process. An int runs the trials in a
        separate worker process (one trial at a time), replaced by a fresh
        one after that many trials. TensorFlow keeps a little memory after
        every fit (``benchmarks/search_memory.py``); a replaced worker gives
        it back, so the memory of a long search stays bounded, at the cost
        of starting a worker (importing TensorFlow: a few seconds) every
        ``trials_per_process`` trials. The data are sent to each worker
        once; a scorer or callbacks defined in ``__main__`` or a notebook
        reach it by value (loky, joblib's process executor).
    cv : int, cross-validation generator, iterable or None, default=None
        None scores each trial on one validation split (see
        ``validation_fraction``). Otherwise, as in scikit-learn's
        ``GridSearchCV``: an int is the number of folds (``StratifiedKFold``
        for classifiers, ``KFold`` otherwise, not shuffled), or give a
        splitter (a group splitter such as ``GroupKFold`` gets ``groups``
        from :meth:`fit`). Each trial fits one network per fold and scores the mean
        over the folds; ``results_`` keeps every fold's score and their
        standard deviation. With Hyperband, a promoted trial continues each
        fold's saved network. Not with ``X_val, y_val``.
    n_jobs : int or None, default=None
        Trials run at the same time, each in a worker process of its own (the
        ``trials_per_process`` workers; each is limited to ``cpu_count() //
        n_jobs`` TensorFlow threads). None or 1: one at a time. Random and
        grid search run the same trials with the same scores whatever
        ``n_jobs`` (the trials are drawn in the same order, each seeded the
        same way). On Linux each worker is also pinned to its own
        ``cpu_count() // n_jobs`` cores (``os.sched_setaffinity``), which
        limits it under any backend (XLA under JAX has no thread-count
        setting). Bayesian optimization proposes a trial from the trials
        finished when it is asked, so with several running it sees fewer of
        them; Hyperband promotes a round's best only once enough of the
        round has finished, so workers may wait.
    devices : list of str or None, default=None
        Accelerators for the worker processes, e.g. ``["0", "1"]``: worker
        ``i`` sees only ``devices[i % len(devices)]`` (its
        ``CUDA_VISIBLE_DEVICES``). ``n_jobs=None`` then runs one worker per
        device.
    time_limit : float or None, default=None
        A budget in seconds for the search, counted from the start of
        ``fit``: no trial starts after it, and a running trial stops at the
        end of its first epoch past it (with early stopping, its best
        epoch's weights are scored), marked in ``results_["cut_short"]``.
        The refit of the best parameters comes after and is not counted
        (``refit_time_``) unless ``refit_in_budget=True``. Greedy pretraining
        stops at its next epoch boundary too (the layers above are then not
        pretrained). A Pipeline's network gets the limit through its one
        nested ``<step>__callbacks``; estimators without a ``callbacks``
        parameter (``StackedAutoencoder``) are not cut mid-way.
    refit_in_budget : bool, default=False
        Count the refit against ``time_limit``: the refit estimator gets the
        same deadline (a :class:`~deepstack.callbacks.TimeLimit` callback),
        so it stops at the end of its first epoch past it, at least one
        epoch in (``refit_cut_short_``). False refits in full after the
        budget.
    start_from_estimator : bool, default=True
        The first trial is the estimator's own configuration (its values of
        the searched parameters, as Optuna's ``enqueue_trial`` would), so the
        best trial is never worse on the validation data than no search at
        all. With the default space (``search_space=None`` or ``"wide"``) it
        is the estimator exactly as given, also where a range cannot hold
        its value (``learning_rate="auto"``, ``hidden_layer_sizes=(128,
        64)``): its ``results_["params"]`` are the estimator's own (the
        ``param_<name>`` columns show the ranges' defaults that the oracle
        recorded for it). In a search space you give, where an estimator's
        value lies outside its range, that range's default is used. Random
        search and Bayesian optimization (among its initial random points)
        run it first; Hyperband as the first candidate of its first
        bracket, with that bracket's epoch budget; grid search always starts
        from the ranges' defaults (the estimator's values where they are
        grid points).
    min_improvement : float or "auto", default="auto"
        How much a trial's score must exceed the first trial's (the
        estimator's own configuration, see ``start_from_estimator``) for the
        search to choose it instead: a difference within the noise of the
        validation score is no reason to leave the estimator as given.
        ``"auto"``: with ``cv``, one standard error of the per-fold
        differences between the two trials (the folds are shared, so the
        differences are paired: ``std(d, ddof=1) / sqrt(n_folds)``); with
        one validation split, which gives no estimate of that noise, 0 (the
        best score wins; use ``cv`` on small data). A float is used as
        given; 0.0 always takes the best score. Ignored with
        ``start_from_estimator=False``.
    log_dir : str, os.PathLike or None, default=None
        TensorBoard folder of the search (``tensorboard --logdir <folder>``):
        ``trial_<id>/`` holds each trial's parameters and scores for the
        HParams dashboard and, for estimators with a ``log_dir`` parameter,
        the per-epoch curves of its network (``trial_<id>/fold_<k>/`` with
        ``cv``). The estimator's own ``log_dir`` is replaced in the trials.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split, the oracle and, when the estimator's own
        ``random_state`` is None (a Pipeline's nested
        ``<step>__random_state``), every trial's estimator and the refit (an
        estimator with a ``random_state`` keeps it). Either way all trials
        get the same seed, so they differ only in their parameters
        (keras-tuner's own seed does not seed network weights).
        Give it in distributed mode, so that every process draws the same
        validation split.
    verbose : int, default=0
        keras-tuner's progress display (0: silent).

    Attributes
    ----------
    best_params_ : dict
        Estimator parameters of the best trial (``hidden_layer_sizes`` for
        ``n_layers`` / ``units``; with Hyperband, ``max_epochs`` (or the
        estimator's epoch parameter, see ``tuner``) is the search's full
        epoch budget, which the refit trains, not the chosen trial's round
        budget, kept in ``results_["budget"]``).
    best_score_ : float
        Validation score of the chosen trial: the best one, or the first when
        the best does not beat it by more than ``min_improvement_``.
    best_index_ : int
        Row of the chosen trial in ``results_``.
    min_improvement_ : float
        The margin the best trial had to beat the first trial by (0.0 with
        ``start_from_estimator=False`` and on a distributed worker).
    best_estimator_ : estimator
        ``estimator`` refit with ``best_params_`` (only with ``refit=True``
        and not on a distributed worker).
    results_ : dict of lists
        One entry per trial, in the order they started, ready for
        ``pandas.DataFrame(results_)``: ``trial_id``, ``status``,
        ``score`` (the mean over the folds), ``score_std`` and
        ``fold_scores`` (each fold's score; one with ``cv=None``),
        ``cut_short`` (stopped by ``time_limit``), ``n_epochs`` (epochs run,
        mean over the folds; a Pipeline's are its last step's), ``fit_time``
        (seconds, all folds), ``error`` (a failed trial's exception,
        ``"RuntimeError: ..."``; None), ``params`` (the estimator parameters),
        ``param_<name>`` per searched hyperparameter and, with Hyperband,
        ``budget`` (``tuner/epochs``, also the ``max_epochs``, or other epoch
        parameter, of the trial's ``params``) and ``continued_from``.
    n_trials_ : int
        Number of trials in ``results_``.
    search_time_ : float
        Seconds spent in the search (without the refit).
    time_limit_reached_ : bool
        Whether ``time_limit`` ended the search (a trial was refused or cut
        short).
    refit_time_ : float
        Seconds spent refitting ``best_estimator_``.
    refit_cut_short_ : bool
        Whether ``time_limit`` stopped the refit (``refit_in_budget=True``).
    role_ : {"single", "chief", "worker"}
        ``"single"`` for an ordinary search; in keras-tuner's distributed mode
        the chief holds the results of all trials and refits, a worker holds
        only the trials it ran and does not refit.
    tuner_ : DeepStackTuner
        The keras-tuner ``Tuner`` (its ``oracle`` holds the trials). Not kept
        by pickling.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, when it has string column names.

    See Also
    --------
    DeepStackHyperModel : the same estimators as a ``keras_tuner.HyperModel``.
    default_search_space : the space searched with ``search_space=None``.

    Notes
    -----
    **Distributed search.** keras-tuner runs one search across processes or
    machines: a *chief* process serves the oracle over gRPC and *workers* ask
    it for trials. Start the same script in every process with
    ``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT`` (the chief's
    address) and ``KERASTUNER_TUNER_ID`` (``"chief"`` for the chief, a
    distinct name such as ``"tuner0"``, ``"tuner1"`` per worker) set, and the
    same ``random_state``. The chief's ``fit`` returns when the workers have
    run ``max_trials`` trials and then refits the best. For Hyperband, give
    every process the same ``directory`` on a shared file system and
    ``overwrite=False``, so that workers can continue each other's trials.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from deepstack import DeepStackClassifier, DeepStackSearch, Float
    >>> X, y = load_iris(return_X_y=True)
    >>> search = DeepStackSearch(
    ...     DeepStackClassifier((8,), max_epochs=5),
    ...     {"learning_rate": Float(1e-3, 1e-1, log=True), "dropout": [0.0, 0.2]},
    ...     tuner="random",
    ...     max_trials=2,
    ...     random_state=0,
    ... ).fit(X, y)
    >>> sorted(search.best_params_)
    ['dropout', 'learning_rate']
    >>> len(search.results_["score"])
    2
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "get_params", "set_params"])],
        "search_space": [dict, StrOptions({"wide"}), None],
        "tuner": [StrOptions(set(ORACLES))],
        "max_trials": [Interval(Integral, 1, None, closed="left"), None],
        "objective": [str, callable, None],
        "validation_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
        "refit": ["boolean"],
        "directory": [str, os.PathLike, None],
        "project_name": [str],
        "overwrite": ["boolean"],
        "tuner_options": [dict, None],
        "trials_per_process": [Interval(Integral, 1, None, closed="left"), None],
        "cv": ["cv_object", None],
        "n_jobs": [Interval(Integral, 1, None, closed="left"), None],
        "devices": [list, tuple, None],
        "time_limit": [Interval(Real, 0, None, closed="neither"), None],
        "refit_in_budget": ["boolean"],
        "start_from_estimator": ["boolean"],
        "min_improvement": [
            Interval(Real, 0, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "log_dir": [str, os.PathLike, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator,
        search_space=None,
        tuner="bayesian",
        max_trials=20,
        *,
        objective=None,
        validation_fraction=0.2,
        refit=True,
        directory=None,
        project_name="deepstack_search",
        overwrite=True,
        tuner_options=None,
        trials_per_process=None,
        cv=None,
        n_jobs=None,
        devices=None,
        time_limit=None,
        refit_in_budget=False,
        start_from_estimator=True,
        min_improvement="auto",
        log_dir=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.search_space = search_space
        self.tuner = tuner
        self.max_trials = max_trials
        self.objective = objective
        self.validation_fraction = validation_fraction
        self.refit = refit
        self.directory = directory
        self.project_name = project_name
        self.overwrite = overwrite
        self.tuner_options = tuner_options
        self.trials_per_process = trials_per_process
        self.cv = cv
        self.n_jobs = n_jobs
        self.devices = devices
        self.time_limit = time_limit
        self.refit_in_budget = refit_in_budget
        self.start_from_estimator = start_from_estimator
        self.min_improvement = min_improvement
        self.log_dir = log_dir
        self.random_state = random_state
        self.verbose = verbose

    @rolls_back_on_exception
    def fit(
        self, X, y=None, sample_weight=None, *, X_val=None, y_val=None, groups=None
    ):
        """Search the space, then refit the best parameters.

        Ctrl-C, or an error, during the trials or the refit leaves the search
        as it was before the call (with a ``directory``, the finished trials
        stay in it).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, passed to every trial's ``fit``.
        X_val, y_val : array-like, default=None
            Validation data that score the trials, instead of a split of
            ``X`` drawn with ``validation_fraction``.
        groups : array-like of shape (n_samples,), default=None
            Group labels of the rows, for a group splitter given as ``cv``
            (e.g. ``GroupKFold``), as in scikit-learn's ``GridSearchCV``.
            Only with ``cv``.

        Returns
        -------
        self : object
            The fitted search.
        """
        self._validate_params()
        # Before the data checks, and named by the parameter: scikit-learn's
        # check_scoring names its own and lists every scorer.
        check_scoring_name(self, "objective")
        if self.objective is None and "scoring" in self.estimator.get_params():
            check_scoring_name(self.estimator)
        check_tuner_options(self.tuner_options)
        check_search_data(self.estimator, X, y, sample_weight, X_val, y_val)
        if self.refit_in_budget and callbacks_parameter(self.estimator) is None:
            raise ValueError(
                "refit_in_budget=True needs an estimator with a callbacks "
                f"parameter (or one nested); {type(self.estimator).__name__} has "
                "none."
            )
        # The budget counts from here (the refit only with refit_in_budget).
        deadline = None if self.time_limit is None else time.time() + self.time_limit
        hyperband = self.tuner == "hyperband"
        epochs_param = epoch_parameter(self.estimator) if hyperband else None
        space = ResolvedSpace(
            self.search_space,
            self.estimator,
            reserved=(epochs_param,) if hyperband else (),
        )
        scorer = check_scoring(self.estimator, scoring=self._objective())
        seed, oracle_seed, trial_seed = self._seeds()
        if is_distributed() and self.random_state is None and X_val is None:
            warnings.warn(
                "Distributed search with random_state=None: every process draws "
                "its own validation split. Give the same random_state (or "
                "X_val, y_val) to all of them.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        data = trial_data(
            X,
            y,
            sample_weight,
            X_val,
            y_val,
            cv=self.cv,
            validation_fraction=self.validation_fraction,
            classifier=is_classifier(self.estimator),
            seed=seed,
            groups=groups,
        )
        self._set_feature_names(X)
        oracle = self._make_oracle(space, oracle_seed, deadline, epochs_param)
        runner = TrialRunner(
            self.estimator,
            space,
            scorer,
            trial_seed,
            hyperband,
            deadline,
            log_dir=None if self.log_dir is None else os.fspath(self.log_dir),
            epochs_param=epochs_param,
        )
        given = [X, y, sample_weight, X_val, y_val]
        if groups is not None:
            # They change the folds; a search without them keeps its digest.
            given.append(groups)
        identity = self._identity(space, given)
        self.tuner_, trials = self._run_trials(oracle, runner, data, scorer, identity)
        self._record(
            trials,
            space,
            epochs_param,
            deadline_reached=getattr(self.tuner_.oracle, "deadline_reached", False),
        )
        # The oracle refused a trial, or a trial was cut (on a distributed
        # worker the oracle is the chief's, so only the latter is known).
        self.time_limit_reached_ = bool(
            getattr(self.tuner_.oracle, "deadline_reached", False)
            or any(self.results_["cut_short"])
        )
        self._refit(X, y, sample_weight, X_val, y_val, space, trial_seed, deadline)
        return self

    # ------------------------------------------------------- steps of fit

    def _seeds(self):
        """``(split seed, oracle seed, trial seed or None)`` from ``random_state``."""
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(0, 2**31 - 1))
        oracle_seed = int(rng.randint(1, 2**31 - 1))
        # The trials (and the refit) keep the estimator's own random_state
        # when it has one; else they all get the search's seed.
        trial_seed = seed if seed_parameters(self.estimator) else None
        return seed, oracle_seed, trial_seed

    def _set_feature_names(self, X):
        """``n_features_in_`` and, for string columns, ``feature_names_in_``."""
        validate_data(self, X, skip_check_array=True, reset=True)
        self.__dict__.pop("feature_names_in_", None)
        if hasattr(X, "columns"):
            columns = np.asarray(X.columns, dtype=object)
            if all(isinstance(c, str) for c in columns):
                self.feature_names_in_ = columns

    def _full_budget(self, epochs_param):
        """Hyperband's largest epoch budget: ``tuner_options["max_epochs"]``,
        else the estimator's ``epochs_param`` (as the oracle is given it)."""
        options = self.tuner_options or {}
        if "max_epochs" in options:
            return int(options["max_epochs"])
        return int(self.estimator.get_params()[epochs_param])

    def _make_oracle(self, space, oracle_seed, deadline, epochs_param=None):
        """The keras-tuner oracle over ``space``, first trial the estimator's
        (``epochs_param``: where Hyperband's budget is, None for the others)."""
        hyperparameters = space.hyperparameters()
        return make_oracle(
            self.tuner,
            max_trials=self.max_trials,
            hyperparameters=hyperparameters,
            seed=oracle_seed,
            max_epochs=(
                None if epochs_param is None else self._full_budget(epochs_param)
            ),
            options=self.tuner_options,
            # The ranges' defaults are the estimator's own values where they
            # lie in the ranges: the first trial is the estimator as given.
            first_values=(
                dict(hyperparameters.values) if self.start_from_estimator else None
            ),
            deadline=deadline,
        )

    def _identity(self, space, data):
        """What this search is, as stored in its directory (None without one:
        a temporary directory has nothing to resume)."""
        if self.directory is None:
            return None
        params = self.get_params(deep=False)
        return _identity.search_identity(
            get_tags(self.estimator).estimator_type,
            self.estimator.get_params(deep=False),
            space,
            {name: params[name] for name in _identity.SEARCH_KEYS},
            data,
        )

    def _run_trials(self, oracle, runner, data, scorer, identity=None):
        """Run the search; ``(tuner, trials)``, sets ``role_``, ``search_time_``
        (``identity``: see :func:`~deepstack.tuning._trials.run_search`)."""
        workers = make_workers(
            self.trials_per_process, self.n_jobs, self.devices, data, scorer
        )
        start = time.perf_counter()
        tuner, trials, self.role_ = run_search(
            oracle,
            runner,
            data,
            workers,
            directory=self.directory,
            project_name=self.project_name,
            overwrite=self.overwrite,
            verbose=self.verbose,
            identity=identity,
        )
        self.search_time_ = time.perf_counter() - start
        return tuner, trials

    def _refit(self, X, y, sample_weight, X_val, y_val, space, trial_seed, deadline):
        """``best_estimator_``: the estimator with ``best_params_`` on all of X
        (stopped at ``deadline`` with ``refit_in_budget``)."""
        self.refit_time_ = 0.0
        self.refit_cut_short_ = False
        self.__dict__.pop("best_estimator_", None)  # never keep a stale refit
        if not self.refit or self.role_ == "worker":
            return
        start = time.perf_counter()
        params = dict(self.best_params_)
        if trial_seed is not None:
            for name in seed_parameters(self.estimator):
                params.setdefault(name, trial_seed)
        limit = None
        if self.refit_in_budget and deadline is not None:
            limit = TimeLimit(deadline)
            params.update(with_time_limit(self.estimator, deadline, limit))
        self.best_estimator_ = clone(self.estimator).set_params(**params)
        fit_kwargs = fit_arguments(self.best_estimator_, sample_weight, X_val, y_val)
        self.best_estimator_.fit(X, y, **fit_kwargs)
        self.refit_time_ = time.perf_counter() - start
        if limit is not None:
            # The deadline has passed: a later fit of best_estimator_ must not
            # inherit it. Its own callbacks are the estimator's again.
            name = callbacks_parameter(self.estimator)
            if name is not None:
                self.best_estimator_.set_params(
                    **{name: self.estimator.get_params(deep=True)[name]}
                )
            self.refit_cut_short_ = trained_step_cut_short(self.best_estimator_)
            self.time_limit_reached_ = self.time_limit_reached_ or (
                self.refit_cut_short_
            )

    def _objective(self):
        """The search's scorer: ``objective``, else the estimator's ``scoring``."""
        if self.objective is not None:
            return self.objective
        return self.estimator.get_params().get("scoring")

    def _record(self, trials, space, epochs_param=None, deadline_reached=False):
        """``results_`` and the chosen trial; ``epochs_param`` is where
        Hyperband set each trial's budget (None for the other tuners)."""
        self.results_, tracebacks = trial_table(trials, space, epochs_param)
        self.n_trials_ = len(self.results_["trial_id"])
        scores = completed_scores(self.results_)
        if not np.isfinite(scores).any():
            raise no_trial_completed(
                self.n_trials_,
                tracebacks,
                self.time_limit,
                out_of_time=deadline_reached or any(self.results_["cut_short"]),
            )
        warn_of_failed_trials(self.results_["error"])
        self.best_index_ = self._choose(scores, self.results_["fold_scores"])
        self.best_score_ = float(scores[self.best_index_])
        self.best_params_ = dict(self.results_["params"][self.best_index_])
        if epochs_param is not None:
            # The chosen trial's budget is a round's share of the epochs (the
            # search may end before any promotion, at 3 of 8): the refit
            # trains the full budget, as a promoted trial would.
            self.best_params_[epochs_param] = self._full_budget(epochs_param)

    def _choose(self, scores, fold_scores):
        """Row of the chosen trial: the best, unless it beats the first trial
        (the estimator as given) by no more than ``min_improvement``; sets
        ``min_improvement_``."""
        # A distributed worker holds only the trials it ran: its first need
        # not be the estimator's (the chief applies the rule to all of them).
        keep_first = self.start_from_estimator and self.role_ != "worker"
        best, self.min_improvement_ = choose(
            scores, fold_scores, self.min_improvement if keep_first else None
        )
        return best

    # ---------------------------------------------------------- delegation

    def _best(self):
        check_is_fitted(self, "results_")
        if not hasattr(self, "best_estimator_"):
            raise AttributeError(
                "This DeepStackSearch has no best_estimator_ (refit=False, or a "
                "distributed worker): fit estimator.set_params(**best_params_) "
                "yourself."
            )
        return self.best_estimator_

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """``best_estimator_.predict(X)``."""
        return self._best().predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """``best_estimator_.predict_proba(X)``."""
        return self._best().predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """``best_estimator_.predict_log_proba(X)``."""
        return self._best().predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """``best_estimator_.decision_function(X)``."""
        return self._best().decision_function(X)

    @available_if(_estimator_has("transform"))
    def transform(self, X):
        """``best_estimator_.transform(X)``."""
        return self._best().transform(X)

    @available_if(_estimator_has("inverse_transform"))
    def inverse_transform(self, X):
        """``best_estimator_.inverse_transform(X)``."""
        return self._best().inverse_transform(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y=None, sample_weight=None):
        """Score of ``best_estimator_`` on ``X, y`` with the search's objective.

        The ``objective`` scorer, else the estimator's ``scoring``, else
        ``best_estimator_.score``.
        """
        best = self._best()
        objective = self._objective()
        if objective is None:
            if sample_weight is None:
                return best.score(X, y)
            return best.score(X, y, sample_weight=sample_weight)
        scorer = check_scoring(best, scoring=objective)
        if sample_weight is not None:
            return scorer(best, X, y, sample_weight=sample_weight)
        return scorer(best, X, y)

    @property
    def classes_(self):
        """Class labels of ``best_estimator_`` (classifiers only)."""
        return self._best().classes_

    # ----------------------------------------------------------- plumbing

    def __getstate__(self):
        state = super().__getstate__()
        # The tuner holds an oracle with thread locks (and, on a distributed
        # worker, a gRPC channel): keep the plain results only.
        state.pop("tuner_", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = copy.deepcopy(inner.classifier_tags)
        tags.regressor_tags = copy.deepcopy(inner.regressor_tags)
        tags.transformer_tags = copy.deepcopy(inner.transformer_tags)
        tags.input_tags = copy.deepcopy(inner.input_tags)
        tags.target_tags = copy.deepcopy(inner.target_tags)
        tags.non_deterministic = inner.non_deterministic
        return tags
