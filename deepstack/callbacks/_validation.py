"""Validation at the end of each epoch by an eager inference pass."""

import keras

from deepstack._network import CHUNK_ROWS, chunk_rows, densify


def inference_loss(model, X, y, sample_weight=None, chunk=CHUNK_ROWS):
    """The compiled loss (with regularization) of ``model`` on ``X``, in inference
    mode, computed eagerly in chunks.

    Equals the ``loss`` that ``model.evaluate`` reports (the batch-size
    weighted mean of per-batch losses is the mean over all rows), without
    tracing a test step.
    """
    loss, _ = _evaluate(model, X, y, sample_weight, (), chunk)
    return loss


def _evaluate(model, X, y, sample_weight, metrics, chunk):
    n = X.shape[0]
    chunk = chunk_rows(X, chunk)
    total = 0.0
    for metric in metrics:
        metric.reset_state()
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        w = None if sample_weight is None else sample_weight[rows]
        x = densify(X[rows])
        y_pred = model(x, training=False)
        value = model.compute_loss(
            x=x, y=y[rows], y_pred=y_pred, sample_weight=w, training=False
        )
        total += float(keras.ops.convert_to_numpy(value)) * (x.shape[0] / n)
        for metric in metrics:
            metric.update_state(y[rows], y_pred)
    values = {m.name: float(keras.ops.convert_to_numpy(m.result())) for m in metrics}
    return total, values


class ValidationPass(keras.callbacks.Callback):
    """Adds ``val_loss`` and ``val_<metric>`` to the logs of every epoch.

    The same numbers as ``Model.fit(validation_data=...)`` (inference mode,
    the compiled loss with its regularization terms, the given metrics), but
    computed by calling the model eagerly on the validation data, in chunks
    of 4096 rows, instead of through ``Model.evaluate``: no test step is
    traced and no evaluation loop is set up every epoch. For the small
    validation sets of small fits that is most of their validation cost
    (``benchmarks/gridsearch_speed.py``); for large ones the eager pass costs
    about what ``evaluate`` does.

    Put it before the callbacks that read the validation logs (early
    stopping, learning-rate schedules); Keras's ``History`` runs last and
    records them.

    Parameters
    ----------
    X, y : array-like
        Validation inputs and targets, as ``Model.fit`` would take them.
    sample_weight : array-like of shape (n_samples,), default=None
    metrics : list of keras.metrics.Metric, default=()
        Metrics to report as ``val_<name>``, unweighted like the ``metrics``
        of ``Model.compile`` (``sample_weight`` weights the loss only).
        Fresh copies are used; the compiled (training) metrics are left
        alone.

    Examples
    --------
    >>> import keras, numpy as np
    >>> from deepstack.callbacks import ValidationPass
    >>> X = np.random.RandomState(0).normal(size=(64, 3)).astype("float32")
    >>> y = (X[:, 0] > 0).astype("float32")
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(X, y, epochs=2, verbose=0,
    ...                     callbacks=[ValidationPass(X[:16], y[:16])])
    >>> sorted(history.history)
    ['loss', 'val_loss']
    """

    def __init__(self, X, y, sample_weight=None, metrics=()):
        super().__init__()
        self.X = X
        self.y = y
        self.sample_weight = sample_weight
        self.metrics = [_fresh(m) for m in metrics]

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        loss, values = _evaluate(
            self.model, self.X, self.y, self.sample_weight, self.metrics, CHUNK_ROWS
        )
        logs["val_loss"] = loss
        for name, value in values.items():
            logs[f"val_{name}"] = value


def _fresh(metric):
    if isinstance(metric, str):
        raise TypeError(
            f"ValidationPass needs metric objects, e.g. "
            f"keras.metrics.SparseCategoricalAccuracy(name='accuracy'); got {metric!r}."
        )
    return type(metric).from_config(metric.get_config())
