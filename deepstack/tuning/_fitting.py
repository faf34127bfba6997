"""Fitting one trial's estimator on each fold and scoring it, here or in a
worker process.

Plain data in (a :class:`TrialPlan`, the search's :class:`TrialData` and
scorer), plain values out (the trial's scores, fit time and epochs):
:class:`~deepstack.tuning._tuner.DeepStackTuner` reports them to the oracle.
A :class:`TrialWorkers` runs the same :func:`run_plan` in a process of its
own, replaced every few trials so that the memory TensorFlow keeps after
each fit goes back to the system.
"""

import gc
import inspect
import os
import threading
import time
from dataclasses import dataclass, field

import keras
import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from deepstack import _interrupt, _io
from deepstack._compat import safe_indexing
from deepstack.callbacks import TimeLimit
from deepstack.estimators._checks import renamed_warnings


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
        # (scikit-learn's warnings of reading them say "X" and "y".)
        with renamed_warnings("X_val", "y_val"):
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
