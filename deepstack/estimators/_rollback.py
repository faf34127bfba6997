"""An interrupted or failed ``fit`` leaves the estimator exactly as it was before
the call."""

import copy
import functools

import keras

from deepstack.callbacks._state import restore, snapshot


def _models(estimator):
    return {k: v for k, v in vars(estimator).items() if isinstance(v, keras.Model)}


def _optimizer_variables(model):
    optimizer = getattr(model, "optimizer", None)
    return list(getattr(optimizer, "variables", None) or [])


# Attributes that a fit replaces, never changes in place, kept by reference:
# the fitted copies of callbacks (they hold the model), an ensemble's members
# and a search's best estimator (a fit clones new ones; copying would
# serialize every network) and a search's tuner (its oracle holds locks).
_REPLACED = frozenset({"callbacks_", "estimators_", "best_estimator_", "tuner_"})


def _save(estimator):
    models = _models(estimator)
    attributes = {
        k: v if k in models or k in _REPLACED else copy.deepcopy(v)
        for k, v in vars(estimator).items()
    }
    weights = {
        id(model): (
            snapshot(model.weights, on_device=False),
            snapshot(_optimizer_variables(model), on_device=False),
        )
        for model in models.values()
    }
    return attributes, weights


def _restore(estimator, saved):
    attributes, weights = saved
    estimator.__dict__.clear()
    estimator.__dict__.update(attributes)
    for model in _models(estimator).values():
        model_weights, optimizer_weights = weights[id(model)]
        restore(model.weights, model_weights)
        variables = _optimizer_variables(model)
        if len(variables) == len(optimizer_weights):
            restore(variables, optimizer_weights)


def rolls_back_on_exception(method):
    """Decorate ``fit`` / ``partial_fit``: where it raises, undo the call.

    Any exception: a ``KeyboardInterrupt`` (Ctrl-C, SIGTERM), a
    ``DivergenceError``, a callback's error, ``MemoryError``. A half-done
    fit would leave new ``classes_`` or ``n_features_in_`` beside the old
    network, or an untrained one that passes ``check_is_fitted``. The
    attributes are put back (deep copies taken at the start; Keras models,
    members and tuners by reference) and so are the weights and optimizer
    state of the models the estimator held, which a warm start trains in
    place. A fresh estimator is left unfitted.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = _save(self)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            _restore(self, saved)
            raise

    return wrapper
