"""Helpers shared by the diagnostics: find the network, its hidden layers, the loss."""

import warnings

import keras
import numpy as np
import scipy.sparse as sp

from deepstack._compat import safe_indexing
from deepstack._network import get_model
from deepstack.estimators import _base, _preparation
from deepstack.estimators._unlabeled import unlabeled_target_rows
from deepstack.layers import Reconstruction, Standardize, TiedDense

# Names the network builder gives to its output layers (see deepstack._network).
_OUTPUT_NAMES = ("output", "logits")
_LINEAR = ("linear", "identity", None)


def fit_through_divergence(estimator, X, y):
    """Fit ``estimator`` and return the message of its divergence, or None.

    A fit that raises ``DivergenceError`` is undone (a fresh estimator is
    left unfitted), so the fit runs with ``on_divergence="warn"`` wherever
    the estimator (or a Pipeline's step, or an ensemble's member) says
    "raise": a diverged network then keeps its last finite weights, which
    the checks diagnose. Its divergence warning becomes the returned message;
    other warnings are emitted as usual.
    """
    params = estimator.get_params()
    raising = [
        key
        for key, value in params.items()
        if key.rsplit("__", 1)[-1] == "on_divergence" and value == "raise"
    ]
    estimator.set_params(**dict.fromkeys(raising, "warn"))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            estimator.fit(X, y)
    finally:
        estimator.set_params(**dict.fromkeys(raising, "raise"))
    message = None
    for warning in caught:
        # (The wording of deepstack.callbacks._divergence.divergence_message.)
        text = str(warning.message)
        if (
            raising
            and issubclass(warning.category, RuntimeWarning)
            and text.startswith("Training diverged")
        ):
            message = message or text
            continue
        warnings.warn_explicit(
            warning.message, warning.category, warning.filename, warning.lineno
        )
    return message


def is_estimator(obj):
    return not isinstance(obj, keras.Model) and hasattr(obj, "get_params")


def as_float_array(X, dtype=np.float32, *, max_rows=None):
    """``X`` (its first ``max_rows`` rows) as a dense 2-D float array.

    A scipy sparse matrix is sliced before it is densified, so that only the
    rows used are.
    """
    if max_rows is not None:
        X = X[:max_rows]
    if sp.issparse(X):
        X = X.toarray()
    X = np.asarray(X, dtype=dtype)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    return X


def network_input(model, X, dtype=np.float32, *, max_rows=None):
    """``X`` as :func:`as_float_array` makes it, refused by its width when
    ``model`` takes another: Keras's error comes from deep in the network
    (a TensorFlow graph traceback, or a layer named ``functional_3``)."""
    X = as_float_array(X, dtype, max_rows=max_rows)
    if len(model.inputs) == 1:
        width = model.inputs[0].shape[-1]
        if width is not None and X.shape[1] != width:
            raise ValueError(
                f"X has {X.shape[1]} features, but the network takes {width} as input."
            )
    return X


def activation_name(layer):
    """Short name of a layer's activation function, or None when it has none.

    Keras's activation layers (``ReLU``, ``LeakyReLU``, ``ELU``, ``PReLU``)
    carry no ``activation`` attribute: they are named by what they compute.
    """
    if isinstance(layer, keras.layers.ReLU):
        return "leaky_relu" if float(layer.negative_slope or 0.0) else "relu"
    if isinstance(layer, keras.layers.LeakyReLU):
        return "leaky_relu"
    if isinstance(layer, keras.layers.ELU):
        return "elu"
    if isinstance(layer, keras.layers.PReLU):
        return "prelu"
    fn = getattr(layer, "activation", None)
    if fn is None:
        return None
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return name.lower()


def hidden_activation_layers(model):
    """Layers whose outputs are hidden representations (after a nonlinearity).

    ``Activation`` layers, Keras's activation layers (``ReLU``,
    ``LeakyReLU``, ``ELU``, ``PReLU``) and layers with a non-linear
    ``activation`` (e.g. ``Dense(..., activation="tanh")``), except the
    output layers and the decoders: the joint loss's ``Reconstruction``
    layer (the identity at inference, its output the last hidden layer's)
    and tied decoders (``TiedDense``, reconstructions of the inputs). Works
    for networks built by deepstack (``activation_i`` layers) and for plain
    Keras models.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.Model)]
    last = layers[-1] if layers else None
    found = []
    for layer in layers:
        if layer is last or layer.name in _OUTPUT_NAMES:
            continue
        if isinstance(layer, Reconstruction | TiedDense):
            continue
        if activation_name(layer) in _LINEAR:
            continue
        found.append(layer)
    return found


def hidden_activations(model_or_estimator, X, *, max_samples=None):
    """Outputs of every hidden layer on ``X``, as ``{layer name: 2-D array}``.

    Parameters
    ----------
    model_or_estimator : keras.Model or fitted deepstack estimator
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    max_samples : int or None
        Use only the first ``max_samples`` rows of ``X`` (a sparse ``X`` is
        densified after they are taken).

    Returns
    -------
    dict of str to ndarray of shape (n_samples, n_units)
        Computed in inference mode (dropout off, batch norm with its
        population statistics). Outputs with more than two dimensions are
        flattened per sample.
    """
    model = get_model(model_or_estimator)
    X = network_input(model, X, max_rows=max_samples)
    layers = hidden_activation_layers(model)
    if not layers:
        return {}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.output for layer in layers])
    outputs = probe(X, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    result = {}
    for layer, out in zip(layers, outputs):
        array = np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)
        result[layer.name] = array.reshape(array.shape[0], -1)
    return result


def model_loss(model, loss=None):
    """A callable ``loss(y_true, y_pred) -> scalar`` for the model's training loss."""
    if loss is None:
        loss = getattr(model, "loss", None)
    if loss is None:
        loss = "mean_squared_error"
    fn = keras.losses.get(loss) if isinstance(loss, str) else loss

    def mean_loss(y_true, y_pred):
        return keras.ops.mean(fn(y_true, y_pred))

    return mean_loss


def check_deepstack_estimator(estimator, what, *, wrapped=False):
    """Refuse, before any training, an estimator that ``what`` cannot take.

    ``wrapped``: a Pipeline ending in a deepstack estimator, or a bagging
    ensemble of them, is taken too (unwrapped by the caller).
    """
    from sklearn.pipeline import Pipeline

    from deepstack.ensemble import is_bagging

    inner = estimator
    while wrapped:
        if isinstance(inner, Pipeline):
            inner = inner[-1]
        elif is_bagging(inner):
            if inner.estimator is None:
                return  # the default member is a deepstack estimator
            inner = inner.estimator
        else:
            break
    if isinstance(inner, _base.BaseDeepStack):
        return
    name = type(estimator).__name__
    if isinstance(estimator, Pipeline):
        hint = (
            "pass its last step (pipeline[-1]) and X transformed by the steps "
            "before it (pipeline[:-1].transform(X))"
        )
    elif is_bagging(estimator):
        hint = "pass one of its fitted members (estimators_[0]) or its estimator"
    else:
        hint = "e.g. a DeepStackClassifier or DeepStackRegressor"
    raise TypeError(f"{what} takes a deepstack estimator, not a {name}: {hint}.")


def as_float_matrix(X, dtype=np.float32):
    """``X`` as a 2-D float array, or as a CSR matrix when it is sparse."""
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=dtype)
    return as_float_array(X, dtype)


def labeled_rows(estimator, X, y):
    """``X, y`` without the rows whose target marks them unlabeled.

    -1 labels of a classifier (unless -1 is one of its classes) and NaN
    targets of a regressor mark rows without a target, which semi-supervised
    fits take; the checks that compare predictions with targets leave them
    out. A bare model's ``X, y`` are returned as they are.
    """
    mask = unlabeled_target_rows(estimator, y)
    if mask is None:
        return X, y
    keep = np.flatnonzero(~mask)
    if keep.size == 0:
        raise ValueError(
            f"y marks all its {mask.size} rows unlabeled (-1 labels or NaN "
            "targets): this check compares predictions with targets and needs "
            "labeled rows."
        )
    return safe_indexing(X, keep), np.asarray(y)[keep]


def network_target(estimator, y):
    """``y`` encoded as the estimator's network trains on it (labels -> indices)."""
    if not is_estimator(estimator):
        return np.asarray(y)
    return _preparation.network_target(estimator, y)


def fresh_copy(model):
    """The same architecture with freshly initialized weights (its initial state).

    Deepstack seeds every initializer, so this reproduces the weights the
    network had before training. The input standardization is part of that
    state: its statistics are set from the data before the first epoch (and
    never trained), so they are copied, not re-initialized.
    """
    copy = keras.models.clone_model(model)
    _copy_input_statistics(model, copy)
    return copy


def _copy_input_statistics(source, target):
    """Give ``target``'s input statistics layers ``source``'s values.

    ``clone_model`` builds each layer again from its configuration, which
    holds no statistics: a ``Standardize`` layer came back with mean 0 and
    variance 1, so the "initial" network saw unstandardized inputs (every
    tanh unit saturated on features in the hundreds). Batch normalization's
    moving statistics are learned during training and stay re-initialized.
    """
    for original, copied in zip(source.layers, target.layers, strict=True):
        if isinstance(original, keras.Model):
            _copy_input_statistics(original, copied)
        elif isinstance(original, Standardize | keras.layers.Normalization):
            copied.set_weights(original.get_weights())
