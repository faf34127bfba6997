"""The keras-tuner ``Tuner`` that runs one deepstack estimator per trial.

The oracle (random, grid, Bayesian, Hyperband; local or a distributed chief
reached over gRPC) proposes hyperparameter values; ``run_trial`` turns them
into estimator parameters, fits a clone of the estimator on the training part
and returns its validation score. keras-tuner's own Keras fitting path (its
callbacks, checkpoints and ``HyperModel.build``) is not used, so none of its
callbacks ever reaches the estimator or its pretraining.
"""

import gc
import inspect
import os
import threading
import time
import warnings
from dataclasses import dataclass, field

import keras
import keras_tuner
import numpy as np
from sklearn.base import clone

from deepstack import _interrupt, _io
from deepstack.tuning._space import HYPERBAND_PAST_TRIAL

OBJECTIVE = "score"
ORACLES = {
    "random": keras_tuner.oracles.RandomSearchOracle,
    "grid": keras_tuner.oracles.GridSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
}
# A directory in deepstack's safe format, never a pickle: anyone who can write
# to the search directory could otherwise run code in every worker.
_CHECKPOINT = "estimator"
_POLL_SECONDS = 0.2


def make_oracle(kind, *, max_trials, hyperparameters, seed, max_epochs, options):
    """The keras-tuner oracle behind ``tuner=kind``, maximizing ``score``."""
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
        oracle = ORACLES[kind](**kwargs)
        # HyperbandOracle takes no max_trials, but the base Oracle honours it.
        oracle.max_trials = max_trials
        return oracle
    return ORACLES[kind](max_trials=max_trials, **kwargs)


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


class TrialRunner:
    """What one trial needs besides its hyperparameters (plain data)."""

    def __init__(self, estimator, space, scorer, seed, hyperband):
        self.estimator = estimator
        self.space = space
        self.scorer = scorer
        self.seed = seed
        self.hyperband = hyperband


@dataclass
class TrialPlan:
    """One trial's estimator: unfitted, or a saved one to continue.

    Plain data (no Keras state), so that it can be built in the search's
    process and fitted in another.
    """

    estimator: object = None
    resume_from: str = None
    resume_params: dict = field(default_factory=dict)

    trusted: tuple = ()

    def make_estimator(self):
        if self.resume_from is None:
            return self.estimator
        estimator = _io.load(self.resume_from, trusted=self.trusted)
        return estimator.set_params(**self.resume_params)


def run_plan(plan, train, validation, scorer, save_to=None):
    """Fit the plan's estimator, score it on ``validation``, maybe save it."""
    estimator = plan.make_estimator()
    X, y, w = train
    X_val, y_val = validation
    fit_kwargs = fit_arguments(estimator, w, X_val, y_val)
    start = time.perf_counter()
    # Ctrl-C stops the search, not just this trial's epochs.
    with _interrupt.hard_interrupts():
        estimator.fit(X, y, **fit_kwargs)
    fit_time = time.perf_counter() - start
    score = float(scorer(estimator, X_val, y_val))
    if save_to is not None:
        # Callbacks are code, which the safe format does not store: the
        # continuation gets them again from the search's estimator.
        _io._save(estimator, save_to, overwrite=True, drop_callbacks=True)
    n_epochs = getattr(estimator, "n_iter_", None)
    return {"score": score, "fit_time": fit_time, "n_epochs": n_epochs}


# The data of the trials, set once per worker process by its initializer.
_WORKER_DATA = {}


def _init_worker(train, validation, scorer):
    _WORKER_DATA.update(train=train, validation=validation, scorer=scorer)
    _exit_with_parent()


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
    keras.backend.clear_session()
    gc.collect()
    data = _WORKER_DATA
    return run_plan(plan, data["train"], data["validation"], data["scorer"], save_to)


class TrialWorkers:
    """Runs trials one at a time in a worker process, replaced every few trials.

    TensorFlow keeps some memory after every fit, whatever is cleared; a
    worker that exits returns it to the system, so a long search stays
    within the memory of ``trials_per_process`` fits. The worker is started
    with loky (joblib's process executor): functions defined in a notebook
    or a script's ``__main__`` (a scorer, a callback) reach it by value.

    Parameters
    ----------
    trials_per_process : int
        Trials a worker runs before it is replaced.
    train, validation, scorer
        The search's data and scorer, sent once to each worker.
    """

    def __init__(self, trials_per_process, train, validation, scorer):
        self.trials_per_process = trials_per_process
        self._initargs = (train, validation, scorer)
        self._executor = None
        self._done = 0

    def run(self, plan, save_to):
        from joblib.externals.loky.process_executor import BrokenProcessPool

        if self._executor is None:
            self._start()
        try:
            outcome = self._executor.submit(_run_in_worker, plan, save_to).result()
        except BrokenProcessPool as error:
            self.close()
            raise RuntimeError(
                "The worker process running the trial died (out of memory?); "
                "see its output above."
            ) from error
        self._done += 1
        if self._done >= self.trials_per_process:
            self.close()
        return outcome

    def _start(self):
        from joblib.externals.loky import ProcessPoolExecutor

        self._executor = ProcessPoolExecutor(
            max_workers=1,
            initializer=_init_worker,
            initargs=self._initargs,
            env={"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
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
    workers : TrialWorkers or None
        Worker processes that run the trials; None runs them here.
    **kwargs
        ``directory``, ``project_name``, ``overwrite`` for ``keras_tuner.Tuner``.
    """

    def __init__(self, oracle, runner, workers=None, **kwargs):
        self.runner = runner
        # A TrialWorkers pool, or None to run trials in this process.
        self.workers = workers
        # Rows of the trials this process ran (a distributed worker only
        # knows its own; the chief's oracle knows them all).
        self.local_trials = []
        super().__init__(oracle, hypermodel=None, **kwargs)

    def search(self, *fit_args, **fit_kwargs):
        if is_chief():
            if "verbose" in fit_kwargs:
                self.oracle.verbose = fit_kwargs["verbose"]
            self.save()
            _serve(self.oracle)
            return
        super().search(*fit_args, **fit_kwargs)

    def run_trial(self, trial, train, validation, **kwargs):
        runner = self.runner
        values = trial.hyperparameters.values
        params = runner.space.params(values)
        if "random_state" in runner.space.estimator_params:
            # keras-tuner's seed does not reach the weights: seed the estimator.
            params.setdefault("random_state", runner.seed)
        plan = self._plan(values, params)
        save_to = self._checkpoint(trial.trial_id) if runner.hyperband else None
        if self.workers is None:
            # Free the graphs and weights of the previous trials.
            keras.backend.clear_session()
            gc.collect()
            outcome = run_plan(plan, train, validation, runner.scorer, save_to)
        else:
            outcome = self.workers.run(plan, save_to)
        score = outcome["score"]
        metrics = {OBJECTIVE: score, "fit_time": outcome["fit_time"]}
        if outcome["n_epochs"] is not None:
            metrics["n_epochs"] = float(outcome["n_epochs"])
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
        if past is not None and initial > 0:
            path = self._checkpoint(past, create=False)
            if os.path.exists(path):
                # Continue from the saved weights and optimizer state: a warm
                # start builds no new network, so it neither re-initializes
                # nor pretrains again; only the remaining epochs run.
                resume = {"warm_start": True, "max_epochs": epochs - initial}
                if "callbacks" in self.runner.space.estimator_params:
                    resume["callbacks"] = clone(self.runner.estimator).callbacks
                return TrialPlan(
                    resume_from=path,
                    resume_params=resume,
                    trusted=self._trusted(),
                )
            warnings.warn(
                f"Hyperband trial {past}'s saved estimator is not in "
                f"{os.path.dirname(path)} (distributed workers need a shared "
                f"directory to continue each other's trials); training "
                f"{epochs} epochs from scratch instead.",
                RuntimeWarning,
                stacklevel=2,
            )
        params = {**params, "max_epochs": epochs}
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


def _serve(oracle):
    """Serve ``oracle`` to the workers until the search is over.

    keras-tuner's own chief loop polls every 20 seconds once the search is
    exhausted; this one polls every fraction of a second, so the chief returns
    as soon as the last worker has reported.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    ip_addr = os.environ["KERASTUNER_ORACLE_IP"]
    port = os.environ["KERASTUNER_ORACLE_PORT"]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(f"{ip_addr}:{port}")
    server.start()
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(_POLL_SECONDS)
    finally:
        # Let the last worker's reply go out before the port closes.
        server.stop(grace=1.0).wait()
