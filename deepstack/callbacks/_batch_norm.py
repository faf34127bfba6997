"""Set batch-normalization statistics to their exact values on the training data."""

import keras
import numpy as np
import scipy.sparse as sp

from deepstack._network import CHUNK_ROWS, chunk_rows, densify


def batch_norm_layers(model):
    """The ``BatchNormalization`` layers of a functional model, first to last."""
    return [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def input_moments(model, layer, X, batch_size=CHUNK_ROWS):
    """Exact mean and (biased) variance of ``layer``'s inputs over ``X``.

    The layers below ``layer`` run in inference mode. Sums are accumulated in
    float64 around the first chunk's mean, so the variance stays accurate
    when the mean is large.

    Returns
    -------
    mean, variance : ndarray of shape (n_features_of_layer,)
    """
    batch_size = chunk_rows(X, max(int(batch_size), 1))
    # A single input stays a single tensor, so that plain arrays are accepted.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    sub = keras.Model(inputs, layer.input)
    axis = layer.axis
    shift = total = total_sq = None
    count = 0
    for start in range(0, X.shape[0], batch_size):
        chunk = keras.ops.convert_to_numpy(
            sub(densify(X[start : start + batch_size]), training=False)
        )
        chunk = np.moveaxis(np.asarray(chunk, dtype=np.float64), axis, -1)
        chunk = chunk.reshape(-1, chunk.shape[-1])
        if shift is None:
            shift = chunk.mean(axis=0)
            total = np.zeros_like(shift)
            total_sq = np.zeros_like(shift)
        centered = chunk - shift
        total += centered.sum(axis=0)
        total_sq += np.square(centered).sum(axis=0)
        count += chunk.shape[0]
    offset = total / count
    return shift + offset, np.maximum(total_sq / count - np.square(offset), 0.0)


def set_population_statistics(model, X, batch_size=CHUNK_ROWS):
    """Replace the moving averages of every BN layer by the population statistics.

    Layer by layer, from the first batch-normalization layer to the last,
    the mean and variance of the layer's inputs over all of ``X`` are
    computed (the layers below in inference mode, so with the statistics
    just set) and written into ``moving_mean`` / ``moving_variance``.
    The variance is the biased one (divided by ``n``), as in ``np.var``.
    After training, this replaces moving averages taken over weights that
    kept changing with the statistics of the final network. A frozen layer
    (``trainable=False``, e.g. a pretrained encoder's under
    ``finetune="head"``) keeps its statistics: Keras runs it in inference
    mode, so the layers above were trained on what it computes with them.

    Parameters
    ----------
    model : keras.Model
        A functional model; only its top-level BN layers are updated.
    X : array-like or scipy sparse matrix of shape (n_samples, n_features)
        The training inputs (one pass, in chunks of ``batch_size``, each
        densified on its own).
    batch_size : int, default=4096
        Rows per forward pass; it does not change the result.

    Returns
    -------
    layers : list of keras.layers.BatchNormalization
        The layers whose statistics were set (the trainable ones).

    Examples
    --------
    >>> import keras, numpy as np
    >>> from deepstack.callbacks import set_population_statistics
    >>> inputs = keras.Input((3,))
    >>> outputs = keras.layers.BatchNormalization()(inputs)
    >>> model = keras.Model(inputs, outputs)
    >>> X = np.arange(12, dtype="float32").reshape(4, 3)
    >>> _ = set_population_statistics(model, X)
    >>> mean = keras.ops.convert_to_numpy(model.layers[-1].moving_mean)
    >>> np.allclose(mean, X.mean(axis=0))
    True
    """
    if not sp.issparse(X):
        X = np.asarray(X, dtype=np.float32)
    layers = [layer for layer in batch_norm_layers(model) if layer.trainable]
    for layer in layers:
        mean, variance = input_moments(model, layer, X, batch_size)
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    return layers
