"""A search's record of its trials (``results_``) and the choice of the best.

Plain functions over plain values: the trials as rows (``trial_id``,
``status``, ``values``, ``metrics`` and ``message``, as keras-tuner keeps
them), the resolved search space and the search's settings.
:class:`~deepstack.DeepStackSearch` sets its fitted attributes from what
they return.
"""

import warnings

import numpy as np

from deepstack._warnings import user_stacklevel
from deepstack.tuning._space import HYPERBAND_PAST_TRIAL
from deepstack.tuning._tuner import OBJECTIVE


class NoTrialCompletedError(RuntimeError):
    """No trial of a :class:`DeepStackSearch` completed: the time limit ended
    the search before one did, or every trial failed (diverged, say).

    Parameters
    ----------
    message : str
        The error's text.
    last_error : str, default=None
        See Attributes.

    Attributes
    ----------
    last_error : str or None
        The traceback of the last failed trial, when one failed.
    """

    def __init__(self, message, last_error=None):
        super().__init__(message)
        self.last_error = last_error


def trial_table(trials, space, epochs_param=None):
    """``(results_, tracebacks)``: one row per trial, in the order of the
    trial numbers, and the failed trials' tracebacks in that order.

    ``epochs_param`` is where Hyperband set each trial's budget (None for
    the other tuners): its trials' ``params`` hold their ``tuner/epochs``
    there, and the table gains ``budget`` and ``continued_from``.
    """
    hyperband = epochs_param is not None
    names = list(space.ranges)
    rows = {
        "trial_id": [],
        "status": [],
        "score": [],
        "score_std": [],
        "fold_scores": [],
        "cut_short": [],
        "n_epochs": [],
        "fit_time": [],
        "error": [],
        "params": [],
        **{f"param_{name}": [] for name in names},
    }
    if hyperband:
        rows.update(budget=[], continued_from=[])
    tracebacks = []
    # By number: keras-tuner pads the ids to the width of max_trials, which
    # a resumed search may have raised ("1", then "02").
    for trial in sorted(trials, key=lambda t: _trial_number(t["trial_id"])):
        values = trial["values"]
        metrics = trial["metrics"]
        rows["trial_id"].append(trial["trial_id"])
        rows["status"].append(trial["status"])
        rows["score"].append(metrics.get(OBJECTIVE, np.nan))
        rows["score_std"].append(metrics.get("score_std", np.nan))
        folds = sorted(
            (int(k.removeprefix("fold_")), v)
            for k, v in metrics.items()
            if k.startswith("fold_")
        )
        rows["fold_scores"].append([v for _, v in folds])
        rows["cut_short"].append(bool(metrics.get("cut_short", 0.0)))
        rows["n_epochs"].append(metrics.get("n_epochs", np.nan))
        rows["fit_time"].append(metrics.get("fit_time", np.nan))
        params = space.params(values)
        if hyperband and "tuner/epochs" in values:
            params[epochs_param] = int(values["tuner/epochs"])
        rows["params"].append(params)
        decoded = _decoded(space, values)
        for name in names:
            rows[f"param_{name}"].append(decoded.get(name))
        if hyperband:
            rows["budget"].append(values.get("tuner/epochs"))
            rows["continued_from"].append(values.get(HYPERBAND_PAST_TRIAL))
        error = None
        if trial.get("message"):
            tracebacks.append(trial["message"])
            kind, what = _exception_of(trial["message"])
            error = f"{kind}: {what}" if what else kind
        rows["error"].append(error)
    return rows, tracebacks


def completed_scores(results):
    """Each trial's score, NaN for a trial that did not complete."""
    return np.array(
        [
            s if status == "COMPLETED" else np.nan
            for s, status in zip(results["score"], results["status"])
        ],
        dtype=float,
    )


def no_trial_completed(n_trials, tracebacks, time_limit, out_of_time):
    """The :class:`NoTrialCompletedError` of a search without a completed
    trial, saying why: the time limit (``out_of_time``: it refused a trial
    or cut one short), or the last trial's error."""
    n = n_trials
    said = f"No trial of the search completed ({n} trial{'s' * (n != 1)})"
    last = tracebacks[-1] if tracebacks else None
    if out_of_time:
        said += (
            f": the time limit ({time_limit:g} s) ended the search "
            "before any trial completed; give a longer time limit."
        )
    elif last:
        kind, what = _exception_of(last)
        said += f": every trial failed; the last with {kind}"
        said += f": {what}" if what else "."
    else:
        said += "."
    return NoTrialCompletedError(said, last_error=last)


def warn_of_failed_trials(errors):
    """One warning for the failed trials among ``results_["error"]``, if any."""
    failed = [e for e in errors if e is not None]
    if failed:
        # keras-tuner's printed tracebacks are silenced: say it once.
        warnings.warn(
            f"{len(failed)} of {len(errors)} trials failed, the last with "
            f"{failed[-1].splitlines()[0]} (results_['error'] holds each "
            "trial's error); the best of the completed trials is chosen.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def choose(scores, fold_scores, min_improvement):
    """``(row, margin)``: the row of the chosen trial, the best unless it
    beats the first trial (the estimator as given) by no more than
    ``margin``, and that margin.

    ``min_improvement`` is the search's parameter (``"auto"``: the paired
    standard error of the two trials' fold scores), or None for no such
    rule (the best, margin 0).
    """
    best = int(np.nanargmax(scores))
    if min_improvement is None:
        return best, 0.0
    margin = min_improvement
    if margin == "auto":
        margin = _paired_standard_error(fold_scores[best], fold_scores[0])
    margin = float(margin)
    if best == 0 or not np.isfinite(scores[0]):
        return best, margin
    return (best if scores[best] - scores[0] > margin else 0), margin


def _paired_standard_error(scores, reference):
    """Standard error of the mean of per-fold differences (0 with one fold)."""
    d = np.asarray(scores, dtype=float) - np.asarray(reference, dtype=float)
    if d.size < 2 or not np.isfinite(d).all():
        return 0.0
    return float(d.std(ddof=1) / np.sqrt(d.size))


def _exception_of(traceback_text):
    """``(type name, message)`` of the exception a formatted traceback ends
    with (keras-tuner keeps a failed trial's ``traceback.format_exc()``).

    The exception's text starts at the first line after the last
    ``Traceback`` header that is not an indented frame line, and runs to the
    end: its message may have several lines.
    """
    lines = traceback_text.rstrip().splitlines()
    header = max(
        (i for i, line in enumerate(lines) if line.startswith("Traceback ")),
        default=None,
    )
    start = len(lines) - 1
    if header is not None:
        start = next(
            (
                i
                for i in range(header + 1, len(lines))
                if lines[i].strip() and not lines[i][0].isspace()
            ),
            start,
        )
    first, _, what = lines[start].partition(": ")
    what = "\n".join([what, *lines[start + 1 :]]).strip()
    return first.split(".")[-1], what


def _trial_number(trial_id):
    """A keras-tuner trial id ("07") as the number it is, for sorting."""
    return (0, int(trial_id)) if str(trial_id).isdigit() else (1, str(trial_id))


def _decoded(space, values):
    """Hyperparameter values as the user wrote them (tuples back from reprs)."""
    out = {}
    for name, spec in space.ranges.items():
        if name in values:
            value = values[name]
            out[name] = spec.decode(value) if hasattr(spec, "decode") else value
    return out
