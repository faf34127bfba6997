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
import pickle
import time
import warnings

import keras
import keras_tuner
import numpy as np
from sklearn.base import clone

from deepstack.tuning._space import HYPERBAND_PAST_TRIAL

OBJECTIVE = "score"
ORACLES = {
    "random": keras_tuner.oracles.RandomSearchOracle,
    "grid": keras_tuner.oracles.GridSearchOracle,
    "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
    "hyperband": keras_tuner.oracles.HyperbandOracle,
}
_CHECKPOINT = "estimator.pkl"
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


class DeepStackTuner(keras_tuner.Tuner):
    """Runs each trial as ``clone(estimator).set_params(...).fit(...)``.

    Parameters
    ----------
    oracle : keras_tuner.Oracle
    runner : TrialRunner
    **kwargs
        ``directory``, ``project_name``, ``overwrite`` for ``keras_tuner.Tuner``.
    """

    def __init__(self, oracle, runner, **kwargs):
        self.runner = runner
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
        # Free the graphs and weights of the previous trials.
        keras.backend.clear_session()
        gc.collect()
        estimator, continued = self._trial_estimator(values, params)
        X, y, w = train
        X_val, y_val = validation
        fit_kwargs = fit_arguments(estimator, w, X_val, y_val)
        start = time.perf_counter()
        estimator.fit(X, y, **fit_kwargs)
        fit_time = time.perf_counter() - start
        score = float(runner.scorer(estimator, X_val, y_val))
        if runner.hyperband:
            with open(self._checkpoint(trial.trial_id), "wb") as handle:
                pickle.dump(estimator, handle)
        metrics = {OBJECTIVE: score, "fit_time": fit_time}
        if hasattr(estimator, "n_iter_"):
            metrics["n_epochs"] = float(estimator.n_iter_)
        self.local_trials.append(
            {
                "trial_id": trial.trial_id,
                "status": "COMPLETED" if np.isfinite(score) else "FAILED",
                "values": dict(values),
                "metrics": dict(metrics),
                "continued": continued,
            }
        )
        del estimator
        if not np.isfinite(score):
            raise keras_tuner.errors.FailedTrialError(
                f"Trial {trial.trial_id} scored {score} (the network diverged?)."
            )
        return metrics

    def _trial_estimator(self, values, params):
        """A fresh clone, or Hyperband's continuation of an earlier trial."""
        if not self.runner.hyperband:
            return clone(self.runner.estimator).set_params(**params), False
        epochs = int(values["tuner/epochs"])
        initial = int(values.get("tuner/initial_epoch", 0))
        past = values.get(HYPERBAND_PAST_TRIAL)
        if past is not None and initial > 0:
            path = self._checkpoint(past, create=False)
            if os.path.exists(path):
                with open(path, "rb") as handle:
                    estimator = pickle.load(handle)
                # Continue from the saved weights and optimizer state: a warm
                # start builds no new network, so it neither re-initializes
                # nor pretrains again; only the remaining epochs run.
                estimator.set_params(warm_start=True, max_epochs=epochs - initial)
                return estimator, True
            warnings.warn(
                f"Hyperband trial {past}'s saved estimator is not in "
                f"{os.path.dirname(path)} (distributed workers need a shared "
                f"directory to continue each other's trials); training "
                f"{epochs} epochs from scratch instead.",
                RuntimeWarning,
                stacklevel=2,
            )
        params = {**params, "max_epochs": epochs}
        return clone(self.runner.estimator).set_params(**params), False

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
        with open(path, "rb") as handle:
            return pickle.load(handle)


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
