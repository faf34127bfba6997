"""The keras-tuner ``Tuner`` that runs one deepstack estimator per trial.

The oracle (random, grid, Bayesian, Hyperband; local or a distributed chief
reached over gRPC) proposes hyperparameter values; ``run_trial`` turns them
into estimator parameters, fits a clone of the estimator on the training part
of each fold (:mod:`deepstack.tuning._fitting`) and returns its mean
validation score. keras-tuner's own Keras fitting path (its callbacks,
checkpoints and ``HyperModel.build``) is not used, so none of its callbacks
ever reaches the estimator or its pretraining.
"""

import contextlib
import io
import json
import os
import warnings

import keras_tuner
import numpy as np
from sklearn.base import clone

from deepstack import _io
from deepstack._warnings import user_stacklevel
from deepstack.callbacks import TimeLimit
from deepstack.tuning._fitting import (
    TrialPlan,
    TrialWorkers,
    fold_path,
    free_keras_memory,
    run_plan,
)
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
