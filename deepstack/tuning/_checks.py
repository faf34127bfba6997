"""A search's inputs, checked once before the first trial: its data and its
``tuner_options``.

Every trial would otherwise fail on the same bad data, keras-tuner would
print a traceback per trial, and the user would get "No trial of the search
completed" with the real error buried. The data checks are the estimator's
own, so the messages are those a direct ``fit`` gives.
"""

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import validate_data

from deepstack import _pretraining

# The oracle's arguments that the search sets, and where to give them.
_OWN_ORACLE_ARGUMENTS = {
    "max_trials": "use DeepStackSearch's max_trials",
    "objective": "use DeepStackSearch's objective",
    "seed": "use DeepStackSearch's random_state",
    "hyperparameters": "use search_space",
    "tune_new_entries": "the search space is fixed",
    "allow_new_entries": "the search space is fixed",
}


def check_tuner_options(options):
    """Refuse oracle arguments that the search sets from its own
    parameters (keras-tuner would get them twice, or lose the search's)."""
    options = options or {}
    given = [name for name in _OWN_ORACLE_ARGUMENTS if name in options]
    if given:
        instead = "; ".join(f"{k}: {_OWN_ORACLE_ARGUMENTS[k]}" for k in given)
        raise ValueError(
            f"tuner_options must not contain {given}: DeepStackSearch sets "
            f"them itself ({instead})."
        )


def check_search_data(estimator, X, y, sample_weight=None, X_val=None, y_val=None):
    """Raise the error ``estimator.fit`` would raise on this data, if any.

    Runs the estimator's input validation (features, target encoding,
    sample weights, validation data) on a clone, without training. Other
    estimators than deepstack's are left to their trials.
    """
    from deepstack.estimators import StackedAutoencoder
    from deepstack.estimators._base import BaseDeepStack
    from deepstack.estimators._checks import renamed_input_error, renamed_warnings
    from deepstack.estimators._preparation import (
        network_target,
        prepare_training,
        validate_features,
    )

    probe = clone(estimator)
    if isinstance(probe, StackedAutoencoder):
        X = validate_data(probe, X, reset=True, dtype=np.float32)
        _pretraining.check_finite(X)
        return
    if not isinstance(probe, BaseDeepStack):
        return
    # The estimator's own preparation step, short of splitting and building.
    prepare_training(probe, X, y, sample_weight, build=False, split=False)
    if X_val is not None and y_val is not None:
        try:
            with renamed_warnings("X_val", "y_val"):
                validate_features(probe, X_val)
                network_target(probe, y_val)
        except (ValueError, TypeError) as exc:
            # As the estimator's fit says it: of X_val, not of "Input X".
            raise renamed_input_error(exc, "X_val", "y_val") from exc
