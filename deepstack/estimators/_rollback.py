"""An interrupted ``fit`` leaves the estimator exactly as it was before the call."""

import copy
import functools

import keras

from deepstack.callbacks._state import restore, snapshot


def _models(estimator):
    return {k: v for k, v in vars(estimator).items() if isinstance(v, keras.Model)}


def _optimizer_variables(model):
    optimizer = getattr(model, "optimizer", None)
    return list(getattr(optimizer, "variables", None) or [])


def _save(estimator):
    models = _models(estimator)
    attributes = {
        # Fitted copies of callbacks hold the model: the list is replaced by
        # a fit, never mutated, so the reference is enough.
        k: v if k in models or k == "callbacks_" else copy.deepcopy(v)
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


def rolls_back_on_interrupt(method):
    """Decorate ``fit`` / ``partial_fit``: on ``KeyboardInterrupt``, undo the call.

    The attributes are put back (deep copies taken at the start; Keras
    models by reference) and so are the weights and optimizer state of the
    models the estimator held, which a warm start trains in place. A fresh
    estimator is left unfitted.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = _save(self)
        try:
            return method(self, *args, **kwargs)
        except KeyboardInterrupt:
            _restore(self, saved)
            raise

    return wrapper
