"""The keras-tuner ``Tuner`` that runs one deepstack estimator per trial.

The oracle (random, grid, Bayesian, Hyperband; local or a distributed chief
reached over gRPC) proposes hyperparameter values; ``run_trial`` turns them
into estimator parameters, fits a clone of the estimator on the training part
of each fold and returns its mean validation score. keras-tuner's own Keras
fitting path (its callbacks, checkpoints and ``HyperModel.build``) is not
used, so none of its callbacks ever reaches the estimator or its pretraining.
"""

import contextlib
import gc
import inspect
import io
import json
import os
import threading
import time
import warnings
from dataclasses import dataclass, field

import keras
import keras_tuner
import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from deepstack import _interrupt, _io
from deepstack._compat import safe_indexing
from deepstack._warnings import user_stacklevel
from deepstack.callbacks import TimeLimit
from deepstack.tuning._kt_compat import controlled_oracle, quiet_failed_trials, serve
from deepstack.tuning._space import HYPERBAND_PAST_TRIAL

OBJECTIVE = "score"
# Numbers each trial reports besides its score (``fold_<k>`` per fold too).
TRIAL_METRICS = ("score_std", "n_epochs", "fit_time", "cut_short")
# A directory in deepstack's safe format, never a pickle: anyone who can write
# to the search directory could otherwise run code in every worker.
_CHECKPOINT = "estimator"


def make_oracle(
    kind,
    *,
    max_trials,
    hyperparameters,
    seed,
    max_epochs,
    options,
    first_values=None,
    deadline=None,
):
    """The keras-tuner oracle behind ``tuner=kind``, maximizing ``score``.

    ``first_values``: hyperparameter values of the first trial (random,
    Bayesian and Hyperband; grid search starts from the ranges' defaults
    anyway). ``deadline``: a ``time.time()`` after which no trial starts.
    """
    objective = keras_tuner.Objective(OBJECTIVE, direction="max")
    kwargs = dict(
        objective=objective,
        hyperparameters=hyperparameters,
        seed=seed,
        tune_new_entries=False,
        allow_new_entries=False,
    )
    kwargs.update(options or {})
    if kind == "bayesian" and max_trials and "num_initial_points" not in kwargs:
        # keras-tuner starts with 3 random points per hyperparameter: 21 for
        # the default space, more than a 20-trial search. Keep half the
        # budget for the Gaussian process.
        dims = len(hyperparameters.space)
        kwargs["num_initial_points"] = max(3, min(3 * dims, max_trials // 2))
    if kind == "hyperband":
        kwargs.setdefault("max_epochs", max_epochs)
    oracle = controlled_oracle(kind, max_trials=max_trials, **kwargs)
    oracle.first_values = first_values
    oracle.deadline = deadline
    return oracle


def fit_arguments(estimator, sample_weight, X_val, y_val):
    """Keyword arguments for ``estimator.fit``: those it accepts among these.

    The validation data go to the estimator's early stopping when its ``fit``
    takes ``X_val, y_val`` (deepstack's supervised estimators); others (e.g.
    ``StackedAutoencoder``) train on the training part only.
    """
    accepted = inspect.signature(estimator.fit).parameters
    kwargs = {}
    if sample_weight is not None:
        kwargs["sample_weight"] = sample_weight
    if X_val is not None and "X_val" in accepted and "y_val" in accepted:
        kwargs.update(X_val=X_val, y_val=y_val)
    return kwargs


def is_distributed():
    return "KERASTUNER_ORACLE_IP" in os.environ


def is_chief():
    return is_distributed() and "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")


# Where an estimator keeps its epoch budget, which Hyperband sets per trial:
# deepstack's supervised estimators, then StackedAutoencoder (per layer).
EPOCH_PARAMETERS = ("max_epochs", "epochs")


def epoch_parameter(estimator):
    """The parameter of ``estimator`` that holds its epoch budget.

    ``max_epochs`` or ``epochs`` of the estimator itself, else the one nested
    parameter of those names (``<step>__max_epochs`` in a ``Pipeline``,
    ``estimator__max_epochs`` in a bagged ensemble). Raises ``ValueError``
    when there is none, or several to choose from.
    """
    own = estimator.get_params(deep=False)
    for name in EPOCH_PARAMETERS:
        if name in own:
            return name
    nested = estimator.get_params(deep=True)
    for name in EPOCH_PARAMETERS:
        found = sorted(key for key in nested if key.endswith(f"__{name}"))
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(
                f"tuner='hyperband' sets one epoch budget per trial, and "
                f"{type(estimator).__name__} has several epoch parameters: "
                f"{found}. Use another tuner, or search a single estimator."
            )
    raise ValueError(
        f"tuner='hyperband' sets each trial's epoch budget, and "
        f"{type(estimator).__name__} has no max_epochs or epochs parameter "
        "(nested ones included). Use another tuner."
    )


def seed_parameters(estimator):
    """The ``random_state`` parameters of ``estimator`` that a search seeds
    when they are None: its own, else the nested ones
    (``<step>__random_state`` in a ``Pipeline``), so that all trials of a
    Pipeline start from one seed too."""
    params = estimator.get_params(deep=True)
    return [
        name
        for name in _own_or_nested(estimator, "random_state")
        if params[name] is None
    ]


def callbacks_parameter(estimator):
    """The parameter that holds the callbacks of ``estimator``'s network:
    ``callbacks``, else the one nested ``<step>__callbacks`` (a Pipeline's
    last step, a bagged ensemble's template), else None (none, or several
    to choose from)."""
    names = _own_or_nested(estimator, "callbacks")
    return names[0] if len(names) == 1 else None


def _own_or_nested(estimator, name):
    """``[name]`` when ``estimator`` has that parameter, else its nested
    ``<step>__name`` parameters (a Pipeline's steps, an ensemble's
    template), sorted."""
    if name in estimator.get_params(deep=False):
        return [name]
    return sorted(k for k in estimator.get_params(deep=True) if k.endswith(f"__{name}"))


def with_time_limit(estimator, deadline, limit=None):
    """``{<callbacks parameter>: its callbacks + [TimeLimit(deadline)]}``
    for ``estimator``, or ``{}`` without a deadline or such a parameter.
    ``limit``: the :class:`TimeLimit` to add (a new one by default)."""
    name = callbacks_parameter(estimator)
    if deadline is None or name is None:
        return {}
    own = list(estimator.get_params(deep=True)[name] or [])
    return {name: own + [limit or TimeLimit(deadline)]}


def can_continue(estimator):
    """Whether a Hyperband promotion can continue the saved estimator of the
    trial it promotes: a deepstack estimator (the safe format saves it) with
    ``warm_start``. Others train the promoted budget from scratch."""
    return (
        "warm_start" in estimator.get_params(deep=False)
        and _io._base_class(type(estimator)) is not None
    )


class TrialRunner:
    """What one trial needs besides its hyperparameters and data (plain values).

    ``seed``: the ``random_state`` of every trial's estimator, or None to keep
    the estimator's own.

    ``hyperband``: whether the oracle is Hyperband, which sets each trial's
    epoch budget on ``epochs_param`` (see :func:`epoch_parameter`).

    ``deadline``: a ``time.time()`` at which a running trial stops at its
    next epoch boundary (a :class:`~deepstack.callbacks.TimeLimit` callback),
    or None. ``log_dir``: the search's TensorBoard folder, or None.
    """

    def __init__(
        self,
        estimator,
        space,
        scorer,
        seed,
        hyperband,
        deadline=None,
        log_dir=None,
        epochs_param="max_epochs",
    ):
        self.estimator = estimator
        self.space = space
        self.scorer = scorer
        self.seed = seed
        self.hyperband = hyperband
        self.epochs_param = epochs_param
        # A promoted trial continues its predecessor's saved estimator, else
        # it trains its whole budget afresh (nothing is saved for it).
        self.continues = bool(hyperband) and can_continue(estimator)
        self.deadline = deadline
        # TensorBoard: each trial writes into log_dir/trial_<id>.
        self.log_dir = log_dir

    def callbacks(self):
        """``{<callbacks parameter>: [...]}`` with the time limit added, or
        ``{}`` (see :func:`callbacks_parameter`)."""
        return with_time_limit(self.estimator, self.deadline)

    def unsaved_params(self):
        """The estimator's parameters that a trial's saved estimator does not
        keep, for its continuation: ``callbacks`` (code; with the time
        limit) and a ``distribution`` object (the devices of a process);
        the continuation trains with the search's own again."""
        own = self.estimator.get_params(deep=False)
        params = {
            name: own[name]
            for name in ("callbacks", "distribution")
            if own.get(name) is not None
        }
        return {**params, **self.callbacks()}


@dataclass
class TrialData:
    """The rows of the search: training data and how they split into folds.

    ``splits`` is a list of ``(train indices, validation indices)`` into
    ``X, y, sample_weight`` (one for a validation split, ``k`` for
    cross-validation); with ``splits=None``, ``X_val, y_val`` score the
    trials.
    """

    X: object
    y: object = None
    sample_weight: object = None
    splits: list = None
    X_val: object = None
    y_val: object = None

    @property
    def n_folds(self):
        return 1 if self.splits is None else len(self.splits)

    def folds(self):
        """``((X, y, sample_weight), (X_val, y_val))`` for each fold."""
        if self.splits is None:
            yield (self.X, self.y, self.sample_weight), (self.X_val, self.y_val)
            return
        for train, val in self.splits:
            w = _take(self.sample_weight, train)
            yield (
                (_take(self.X, train), _take(self.y, train), w),
                (_take(self.X, val), _take(self.y, val)),
            )


def _take(rows, indices):
    return None if rows is None else safe_indexing(rows, indices)


def fold_path(path, fold, n_folds):
    """The checkpoint of one fold: ``path`` itself when there is one fold."""
    if path is None or n_folds == 1:
        return path
    root, ext = os.path.splitext(path)
    return f"{root}_fold{fold}{ext}"


@dataclass
class TrialPlan:
    """One trial's estimator: unfitted, or a saved one (per fold) to continue.

    Plain data (no Keras state), so that it can be built in the search's
    process and fitted in another.
    """

    estimator: object = None
    resume_from: str = None
    resume_params: dict = field(default_factory=dict)
    # The trial's TensorBoard folder (a sub-folder per fold), or None.
    log_dir: str = None

    trusted: tuple = ()

    def make_estimator(self, fold=0, n_folds=1):
        if self.resume_from is None:
            estimator = clone(self.estimator)
        else:
            path = fold_path(self.resume_from, fold, n_folds)
            estimator = _io.load(path, trusted=self.trusted)
            estimator.set_params(**self.resume_params)
        if self.log_dir is not None and "log_dir" in estimator.get_params():
            folder = self.log_dir
            if n_folds > 1:
                folder = os.path.join(folder, f"fold_{fold}")
            estimator.set_params(log_dir=folder)
        return estimator


def free_keras_memory():
    """Clear Keras's global state, then collect garbage once.

    ``keras.backend.clear_session()`` runs ``gc.collect()`` itself since it
    took ``free_memory`` (default True); a second collection finds nothing
    and costs as much again (0.4 s of CPU with TensorFlow loaded), once per
    trial and fold. Older Keras releases get the explicit one.
    """
    if "free_memory" in inspect.signature(keras.backend.clear_session).parameters:
        keras.backend.clear_session(free_memory=True)
    else:
        keras.backend.clear_session()
        gc.collect()


def run_plan(plan, data, scorer, save_to=None):
    """Fit the plan's estimator on each fold, score it, maybe save each one.

    Returns the mean score over the folds (``score``), each fold's score
    (``fold_scores``), their standard deviation, the summed fit time, the
    mean number of epochs and whether a time limit cut any fold short.
    """
    scores, fit_time, epochs, cut_short = [], 0.0, [], False
    for fold, (train, validation) in enumerate(data.folds()):
        if fold:
            free_keras_memory()
        estimator = plan.make_estimator(fold, data.n_folds)
        X, y, w = train
        X_val, y_val = validation
        fit_kwargs = fit_arguments(estimator, w, X_val, y_val)
        start = time.perf_counter()
        # Ctrl-C stops the search, not just this trial's epochs.
        with _interrupt.hard_interrupts():
            estimator.fit(X, y, **fit_kwargs)
        fit_time += time.perf_counter() - start
        scores.append(float(scorer(estimator, X_val, y_val)))
        path = fold_path(save_to, fold, data.n_folds)
        if path is not None:
            # Callbacks are code, which the safe format does not store: the
            # continuation gets them again from the search's estimator.
            _io._save(estimator, path, overwrite=True, drop_callbacks=True)
        n_epochs = getattr(_final_step(estimator), "n_iter_", None)
        if n_epochs is not None:
            epochs.append(n_epochs)
        cut_short = cut_short or trained_step_cut_short(estimator)
    return {
        "score": float(np.mean(scores)),
        "fold_scores": scores,
        "score_std": float(np.std(scores)),
        "fit_time": fit_time,
        "n_epochs": float(np.mean(epochs)) if epochs else None,
        "cut_short": cut_short,
    }


def _final_step(estimator):
    """The estimator that trained: a Pipeline's last step (its epochs and
    time limit are the trial's), or ``estimator`` itself."""
    while isinstance(estimator, Pipeline):
        estimator = estimator[-1]
    return estimator


def trained_step_cut_short(estimator):
    """Whether a time limit stopped the fit of ``estimator``'s network (a
    Pipeline's last step; a bagged ensemble records its members')."""
    network = _final_step(estimator)
    return TimeLimit.stopped(network) or any(getattr(network, "cut_short_", None) or ())


def write_session(log_dir, hparams, metrics):
    """One trial for TensorBoard's HParams dashboard: its values and scores."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    from deepstack.callbacks._tensorboard import plain_hparams

    writer = tf.summary.create_file_writer(os.fspath(log_dir))
    with writer.as_default():
        hparams_api.hparams(plain_hparams(hparams))
        for name, value in metrics.items():
            if np.isfinite(value):
                tf.summary.scalar(name, float(value), step=0)
    writer.close()


# The data of the trials, set once per worker process by its initializer.
_WORKER_DATA = {}


def _init_worker(data, scorer, threads=None, cpus=None):
    if cpus is not None and hasattr(os, "sched_setaffinity"):
        # Before the backend starts its thread pools, which inherit it: the
        # limit that holds for any backend (XLA under JAX has no thread-count
        # setting; TensorFlow's is set below too).
        os.sched_setaffinity(0, cpus)
    if threads is not None:
        _limit_threads(threads)
    _WORKER_DATA.update(data=data, scorer=scorer)
    _exit_with_parent()


def _limit_threads(threads):
    """Keep this worker process to ``threads`` CPU threads (before any op)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _exit_with_parent(poll_seconds=0.5):
    """End this worker when the process that started it dies.

    A search killed with SIGKILL cannot shut its worker down, and loky's
    worker would wait for its next task forever, holding its memory (870 MB
    after a trial). When the parent dies the worker is handed to another
    parent, so its parent pid changes: a daemon thread watches for that and
    exits the process, even in the middle of a trial.
    """
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            stop.wait(poll_seconds)
        os._exit(1)

    stop = threading.Event()
    threading.Thread(target=watch, name="deepstack-parent-watch", daemon=True).start()


def _run_in_worker(plan, save_to):
    free_keras_memory()
    data = _WORKER_DATA
    return run_plan(plan, data["data"], data["scorer"], save_to)


class TrialWorkers:
    """Runs trials one at a time in a worker process, replaced every few trials.

    TensorFlow keeps some memory after every fit, whatever is cleared; a
    worker that exits returns it to the system, so a long search stays
    within the memory of ``trials_per_process`` fits. The worker is started
    with loky (joblib's process executor): functions defined in a notebook
    or a script's ``__main__`` (a scorer, a callback) reach it by value.
    ``n_jobs`` parallel trials use one of these per slot.

    Parameters
    ----------
    trials_per_process : int or None
        Trials a worker runs before it is replaced (None: never).
    data : TrialData
    scorer : callable
        The search's data and scorer, sent once to each worker.
    threads : int or None, default=None
        CPU threads the worker's TensorFlow may use (None: its default).
    device : str or None, default=None
        The accelerator the worker may see (its ``CUDA_VISIBLE_DEVICES``),
        or None to leave that alone.
    cpus : list of int or None, default=None
        The CPU cores the worker may run on (``os.sched_setaffinity``, where
        the system has it), whatever the backend; None leaves them alone.
    """

    def __init__(
        self, trials_per_process, data, scorer, threads=None, device=None, cpus=None
    ):
        self.trials_per_process = trials_per_process
        self.threads = threads
        self.device = device
        self.cpus = cpus
        self._initargs = (data, scorer, threads, cpus)
        self._executor = None
        self._done = 0

    def submit(self, plan, save_to):
        """Start the trial in the worker; returns its future."""
        if self._executor is None:
            self._start()
        return self._executor.submit(_run_in_worker, plan, save_to)

    def collect(self, future):
        """The outcome of a trial :meth:`submit` started (waits for it)."""
        from joblib.externals.loky.process_executor import BrokenProcessPool

        try:
            outcome = future.result()
        except BrokenProcessPool as error:
            self.close()
            raise RuntimeError(
                "The worker process running the trial died (out of memory?); "
                "see its output above."
            ) from error
        self._done += 1
        if self.trials_per_process is not None and (
            self._done >= self.trials_per_process
        ):
            self.close()
        return outcome

    def run(self, plan, save_to):
        return self.collect(self.submit(plan, save_to))

    def _start(self):
        from joblib.externals.loky import ProcessPoolExecutor

        env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        if self.threads is not None:
            threads = str(self.threads)
            env.update(
                OMP_NUM_THREADS=threads,
                TF_NUM_INTRAOP_THREADS=threads,
                TF_NUM_INTEROP_THREADS=threads,
            )
        if self.device is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(self.device)
        self._executor = ProcessPoolExecutor(
            max_workers=1,
            initializer=_init_worker,
            initargs=self._initargs,
            env=env,
        )
        self._done = 0

    def close(self):
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class DeepStackTuner(keras_tuner.Tuner):
    """Runs each trial as ``clone(estimator).set_params(...).fit(...)``.

    Parameters
    ----------
    oracle : keras_tuner.Oracle
    runner : TrialRunner
    workers : TrialWorkers, list of TrialWorkers or None
        Worker processes that run the trials: one, or one per parallel trial
        (``n_jobs``); None runs them here.
    verbose : int, default=1
        0 silences what keras-tuner prints while the tuner is built (its
        "Reloading Tuner from ..." when a search resumes). The search's own
        output is set by the ``verbose`` of its ``search``.
    **kwargs
        ``directory``, ``project_name``, ``overwrite`` for ``keras_tuner.Tuner``.
    """

    def __init__(self, oracle, runner, workers=None, verbose=1, **kwargs):
        self.runner = runner
        if isinstance(workers, TrialWorkers):
            workers = [workers]
        # TrialWorkers slots, or None to run trials in this process.
        self.workers = workers
        # Rows of the trials this process ran (a distributed worker only
        # knows its own; the chief's oracle knows them all).
        self.local_trials = []
        # keras-tuner prints "Reloading Tuner from ..." when it resumes.
        quiet = contextlib.redirect_stdout(io.StringIO()) if not verbose else None
        with quiet or contextlib.nullcontext():
            super().__init__(oracle, hypermodel=None, **kwargs)

    def reload(self):
        # keras-tuner reads its state files (which a search stopped while
        # writing them leaves cut short) with a bare JSONDecodeError.
        try:
            super().reload()
        except json.JSONDecodeError as error:
            files = [
                self._get_tuner_fname(),
                self.oracle._get_oracle_fname(),
                *sorted(
                    os.path.join(self.project_dir, name, "trial.json")
                    for name in os.listdir(self.project_dir)
                    if name.startswith("trial_")
                ),
            ]
            broken = next((f for f in files if not _reads_as_json(f)), "a file")
            raise ValueError(
                f"Cannot resume the search in {self.project_dir!r}: keras-tuner's "
                f"{broken!r} is damaged ({error}). Pass overwrite=True to start "
                "afresh (or delete the folder)."
            ) from error

    def search(self, data, verbose=0):
        if is_chief():
            self.oracle.verbose = verbose
            self.save()
            serve(self.oracle)
            return
        with quiet_failed_trials():
            if self.workers is not None and len(self.workers) > 1:
                self.oracle.verbose = verbose
                self._search_parallel(data)
                return
            super().search(data, verbose=verbose)

    def _search_parallel(self, data):
        """Keep one trial running in each worker slot until the oracle stops.

        Trials are created in the same order as in a sequential search (the
        same ids and, for random and grid search, the same values); each
        slot asks the oracle under its own tuner id, so that it may hold one
        ongoing trial per slot.
        """
        import concurrent.futures

        self.on_search_begin()
        running = {}
        free = list(range(len(self.workers)))
        stopped = False
        try:
            while True:
                while free and not stopped:
                    slot = free[0]
                    trial = self.oracle.create_trial(f"{self.tuner_id}-{slot}")
                    if trial.status == keras_tuner.engine.trial.TrialStatus.STOPPED:
                        stopped = True
                    elif trial.status == keras_tuner.engine.trial.TrialStatus.IDLE:
                        break  # e.g. Hyperband waits for a round to finish
                    else:
                        free.pop(0)
                        self.on_trial_begin(trial)
                        plan, save_to = self._prepare(trial)
                        future = self.workers[slot].submit(plan, save_to)
                        running[future] = (slot, trial, plan)
                if not running:
                    break
                done, _ = concurrent.futures.wait(
                    list(running), return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in sorted(done, key=lambda f: running[f][1].trial_id):
                    slot, trial, plan = running.pop(future)
                    self._try_finish(trial, plan, self.workers[slot], future)
                    self.on_trial_end(trial)
                    free.append(slot)
                free.sort()
        finally:
            for future in running:
                future.cancel()
        self.on_search_end()

    def _try_finish(self, trial, plan, worker, future):
        """As keras-tuner's ``_try_run_and_update_trial``, for a worker's trial."""
        import traceback

        try:
            metrics = self._finish(trial, plan, worker.collect(future))
            self.oracle.update_trial(trial.trial_id, metrics)
            trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
        except keras_tuner.errors.FailedTrialError:
            trial.status = keras_tuner.engine.trial.TrialStatus.FAILED
            trial.message = traceback.format_exc()
        except Exception:
            trial.status = keras_tuner.engine.trial.TrialStatus.INVALID
            trial.message = traceback.format_exc()

    def run_trial(self, trial, data, **kwargs):
        plan, save_to = self._prepare(trial)
        if self.workers is None:
            # Free the graphs and weights of the previous trials.
            free_keras_memory()
            outcome = run_plan(plan, data, self.runner.scorer, save_to)
        else:
            outcome = self.workers[0].run(plan, save_to)
        return self._finish(trial, plan, outcome)

    def _prepare(self, trial):
        """The trial's plan (what to fit) and where to save its estimator."""
        runner = self.runner
        values = trial.hyperparameters.values
        params = {**runner.space.params(values), **runner.callbacks()}
        if runner.seed is not None:
            # keras-tuner's seed does not reach the weights: seed the estimator.
            for name in seed_parameters(runner.estimator):
                params.setdefault(name, runner.seed)
        plan = self._plan(values, params)
        if runner.log_dir is not None:
            plan.log_dir = os.path.join(runner.log_dir, f"trial_{trial.trial_id}")
        save_to = self._checkpoint(trial.trial_id) if runner.continues else None
        return plan, save_to

    def _finish(self, trial, plan, outcome):
        """The trial's metrics for the oracle; raises if it did not score."""
        values = trial.hyperparameters.values
        score = outcome["score"]
        metrics = {
            OBJECTIVE: score,
            "score_std": outcome["score_std"],
            "fit_time": outcome["fit_time"],
            "cut_short": float(outcome["cut_short"]),
        }
        for fold, fold_score in enumerate(outcome["fold_scores"]):
            metrics[f"fold_{fold}"] = fold_score
        if outcome["n_epochs"] is not None:
            metrics["n_epochs"] = float(outcome["n_epochs"])
        if self.runner.log_dir is not None:
            hparams = self.runner.space.params(values)
            for name in ("tuner/epochs", HYPERBAND_PAST_TRIAL):
                if name in values:
                    hparams[name] = values[name]
            write_session(
                os.path.join(self.runner.log_dir, f"trial_{trial.trial_id}"),
                hparams,
                metrics,
            )
        self.local_trials.append(
            {
                "trial_id": trial.trial_id,
                "status": "COMPLETED" if np.isfinite(score) else "FAILED",
                "values": dict(values),
                "metrics": dict(metrics),
                "continued": plan.resume_from is not None,
            }
        )
        if not np.isfinite(score):
            raise keras_tuner.errors.FailedTrialError(
                f"Trial {trial.trial_id} scored {score} (the network diverged?)."
            )
        return metrics

    def _plan(self, values, params):
        """What to fit: a fresh clone, or Hyperband's continuation of a trial."""
        if not self.runner.hyperband:
            return TrialPlan(clone(self.runner.estimator).set_params(**params))
        epochs = int(values["tuner/epochs"])
        initial = int(values.get("tuner/initial_epoch", 0))
        past = values.get(HYPERBAND_PAST_TRIAL)
        if past is not None and initial > 0 and self.runner.continues:
            path = self._checkpoint(past, create=False)
            if os.path.exists(path) or os.path.exists(fold_path(path, 0, 2)):
                # Continue from the saved weights and optimizer state (of
                # each fold): a warm start builds no new network, so it
                # neither re-initializes nor pretrains again; only the
                # remaining epochs run.
                return TrialPlan(
                    resume_from=path,
                    resume_params={
                        "warm_start": True,
                        self.runner.epochs_param: epochs - initial,
                        **self.runner.unsaved_params(),
                    },
                    trusted=self._trusted(),
                )
            warnings.warn(
                f"Hyperband trial {past}'s saved estimator is not in "
                f"{os.path.dirname(path)} (distributed workers need a shared "
                f"directory to continue each other's trials); training "
                f"{epochs} epochs from scratch instead.",
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )
        params = {**params, self.runner.epochs_param: epochs}
        return TrialPlan(clone(self.runner.estimator).set_params(**params))

    def _checkpoint(self, trial_id, create=True):
        if create:
            return os.path.join(self.get_trial_dir(trial_id), _CHECKPOINT)
        return os.path.join(str(self.project_dir), f"trial_{trial_id}", _CHECKPOINT)

    # keras-tuner calls these for its own Keras-model path only.
    def save_model(self, trial_id, model, step=0):
        pass

    def load_model(self, trial):
        path = self._checkpoint(trial.trial_id, create=False)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No saved estimator for trial {trial.trial_id}: only Hyperband "
                "keeps the fitted estimator of each trial."
            )
        return _io.load(path, trusted=self._trusted())

    def _trusted(self):
        """The search's own estimator class, which its checkpoints may name."""
        cls = type(self.runner.estimator)
        return (cls,) if _io._base_class(cls) is not None else ()


def _reads_as_json(path):
    """Whether the file at ``path`` is missing or holds valid JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            json.load(handle)
    except FileNotFoundError:
        return True
    except ValueError:  # (JSONDecodeError, UnicodeDecodeError)
        return False
    return True
