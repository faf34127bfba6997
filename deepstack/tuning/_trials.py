"""Running a search's trials: their data, their worker processes and
keras-tuner's search in its directory.

Plain values in (the arrays, the search's settings), plain values out: the
trials' :class:`TrialData`, the :class:`TrialWorkers`, and the tuner with
its trials as rows for :mod:`deepstack.tuning._results`.
"""

import os
import tempfile
import warnings

import numpy as np
from sklearn.model_selection import check_cv
from sklearn.utils import indexable
from sklearn.utils.validation import check_consistent_length

from deepstack._split import n_validation, train_validation_split
from deepstack._warnings import user_stacklevel
from deepstack.tuning import _identity
from deepstack.tuning._fitting import TrialData, TrialWorkers
from deepstack.tuning._tuner import (
    OBJECTIVE,
    TRIAL_METRICS,
    DeepStackTuner,
    is_chief,
    is_distributed,
)

# keras-tuner's oracle ends a search with a RuntimeError of these words after
# ``max_consecutive_failed_trials`` (3) failed trials in a row.
_FAILURES_IN_A_ROW = "Number of consecutive failures exceeded the limit"


def trial_data(
    X,
    y,
    sample_weight,
    X_val,
    y_val,
    *,
    cv,
    validation_fraction,
    classifier,
    seed,
    groups=None,
):
    """The trials' data: a validation split of ``X`` (stratified for a
    ``classifier``), ``X_val, y_val`` or ``cv`` folds (drawn with
    ``groups``)."""
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together.")
    if groups is not None and cv is None:
        raise ValueError(
            "groups is for a group splitter given as cv (e.g. "
            "cv=GroupKFold(5)); with cv=None the validation split does not "
            "follow groups. Give cv, or X_val, y_val split by group."
        )
    arrays = [X] + ([y] if y is not None else [])
    if sample_weight is not None:
        arrays.append(sample_weight)
    arrays = indexable(*arrays)
    X, y = arrays[0], arrays[1] if y is not None else None
    w = arrays[-1] if sample_weight is not None else None
    if X_val is not None:
        if cv is not None:
            raise ValueError(
                "Give either cv or X_val, y_val: cross-validation draws its "
                "validation folds from X."
            )
        return TrialData(X, y, w, X_val=X_val, y_val=y_val)
    n = _num_samples(X)
    if cv is not None:
        splitter = check_cv(cv, y, classifier=y is not None and classifier)
        if groups is not None:
            (groups,) = indexable(groups)
            check_consistent_length(X, groups)
        return TrialData(X, y, w, splits=list(splitter.split(X, y, groups)))
    n_val = n_validation(n, validation_fraction)
    if n_val < 1 or n - n_val < 1:
        raise ValueError(
            f"Cannot hold out validation_fraction={validation_fraction} "
            f"of n_samples={n}; give more samples or X_val, y_val."
        )
    stratify = y if y is not None and classifier else None
    # The same rows as splitting the arrays themselves would give.
    (train,), (val,) = train_validation_split(
        np.arange(n), n_val=n_val, seed=seed, stratify=stratify
    )
    return TrialData(X, y, w, splits=[(train, val)])


def _num_samples(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def make_workers(trials_per_process, n_jobs, devices, data, scorer):
    """The worker processes that run the trials, or None to run them here
    (the search's ``trials_per_process``, ``n_jobs`` and ``devices``)."""
    devices = list(devices or [])
    n_jobs = n_jobs or len(devices) or 1
    in_workers = trials_per_process is not None or n_jobs > 1 or devices
    if not in_workers or is_chief():
        return None
    threads, cpus = None, [None] * n_jobs
    if n_jobs > 1:
        # Each worker gets its share of the cores: more threads per
        # process than cores makes the processes fight for them.
        threads = max(1, (os.cpu_count() or 1) // n_jobs)
        cpus = _cpu_shares(n_jobs, threads)
    return [
        TrialWorkers(
            trials_per_process,
            data,
            scorer,
            threads,
            devices[i % len(devices)] if devices else None,
            cpus=cpus[i],
        )
        for i in range(n_jobs)
    ]


def _cpu_shares(n_jobs, threads):
    """``threads`` distinct cores of this process's for each of ``n_jobs``
    workers, or ``[None] * n_jobs`` where that is not possible."""
    if not hasattr(os, "sched_getaffinity"):
        return [None] * n_jobs
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < n_jobs * threads:
        return [None] * n_jobs
    return [allowed[i * threads : (i + 1) * threads] for i in range(n_jobs)]


def run_search(
    oracle,
    runner,
    data,
    workers=None,
    *,
    directory,
    project_name,
    overwrite,
    verbose,
    identity=None,
):
    """Run keras-tuner's search; ``(tuner, trials, role)``.

    ``directory`` None uses a temporary one, removed after the search. With
    a ``directory``, ``identity`` is checked against the one stored there
    before keras-tuner reloads its trials (``overwrite=False``), then
    stored. ``workers`` (:func:`make_workers`) are closed at the end.
    ``role`` is ``"single"``, or ``"chief"`` or ``"worker"`` in keras-tuner's
    distributed mode; ``trials`` are the rows of all the trials, or of those
    a distributed worker ran.
    """
    scratch = None
    if directory is None:
        scratch = tempfile.TemporaryDirectory(prefix="deepstack-search-")
        directory = scratch.name
    project_dir = os.path.join(os.fspath(directory), project_name)
    try:
        if identity is not None and not overwrite:
            _identity.check(project_dir, identity)
        tuner = DeepStackTuner(
            oracle,
            runner,
            workers=workers,
            directory=os.fspath(directory),
            project_name=project_name,
            overwrite=overwrite,
            verbose=verbose,
        )
        if identity is not None:
            _identity.write(project_dir, identity)
        try:
            tuner.search(data, verbose=verbose)
        except RuntimeError as error:
            if not str(error).startswith(_FAILURES_IN_A_ROW):
                raise
            # The trials so far are kept: a search of some completed
            # trials refits the best of them, one of none says why.
            failed = getattr(tuner.oracle, "max_consecutive_failed_trials", 3)
            warnings.warn(
                f"The search stopped after {failed} failed trials in a row "
                "(keras-tuner's limit); the trials before them are kept.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        role = "chief" if is_chief() else "worker" if is_distributed() else "single"
        trials = (
            tuner.local_trials if role == "worker" else _oracle_trials(tuner.oracle)
        )
    finally:
        for worker in workers or ():
            worker.close()
        if scratch is not None:
            scratch.cleanup()
    return tuner, trials, role


def _oracle_trials(oracle):
    """The oracle's trials as plain rows (same shape as the tuner's own)."""
    rows = []
    for trial_id, trial in oracle.trials.items():
        metrics = {}
        names = [OBJECTIVE, *TRIAL_METRICS]
        names += [n for n in trial.metrics.metrics if n.startswith("fold_")]
        for name in names:
            if trial.metrics.exists(name):
                metrics[name] = float(trial.metrics.get_last_value(name))
        rows.append(
            {
                "trial_id": trial_id,
                "status": str(trial.status),
                "values": dict(trial.hyperparameters.values),
                "metrics": metrics,
                "message": trial.message,
            }
        )
    return rows
