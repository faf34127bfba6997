"""A fused training loop: one compiled call per epoch, data placed once.

``keras.Model.fit`` builds a data pipeline, creates an iterator every epoch
and runs its generic epoch loop around the compiled steps. For the small fits
scikit-learn users run by the hundred (a grid search on digits), that
bookkeeping costs more than the training steps themselves; on a GPU it leaves
the device waiting between steps. This loop keeps the data on the device,
shuffles with a seeded NumPy permutation, and runs a whole epoch (Keras's own
``train_step`` for every batch: loss, regularization, metrics, optimizer,
batch-norm updates, dropout) as one compiled call. Callbacks run at epoch
level exactly as under ``Model.fit`` (``on_train_begin``, ``on_epoch_begin``,
``on_epoch_end`` with the epoch's logs, ``stop_training``), with Keras's
``History`` last.

Two backends: TensorFlow (a ``tf.function`` with a ``tf.while_loop`` over the
batches) and JAX (a ``jax.jit`` with ``lax.scan`` over the batches, threading
Keras's stateless training state). :func:`supported` says when it applies, and
the estimators fall back to ``Model.fit`` otherwise (other backends,
TensorFlow with XLA, JAX without ``jit``, callbacks with per-batch hooks);
Keras's progress bar (``verbose > 0``) is drawn at epoch level. A scipy
sparse ``X`` takes ``Model.fit`` with :class:`SparseBatches`, which densifies
one mini-batch at a time, unless its dense copy is no larger than one such
chunk (:func:`densify_if_small`).
"""

import contextlib
import logging

import keras
import numpy as np
import scipy.sparse as sp

from deepstack import _compat, _network
from deepstack.callbacks import ValidationPass

_BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
)


def has_batch_hooks(callbacks):
    """Whether any callback overrides a per-batch hook (it must see batches).

    Keras's ``TensorBoard`` in its epoch-only mode does not count (see
    :func:`deepstack.callbacks._tensorboard.epoch_only`).
    """
    from deepstack.callbacks._tensorboard import epoch_only

    return any(
        _overrides(cb, hook)
        for cb in callbacks
        if not epoch_only(cb)
        for hook in _BATCH_HOOKS
    )


def _overrides(callback, hook):
    """Whether ``callback`` has its own ``hook``: in its class, or set on the
    instance (``LambdaCallback(on_train_batch_end=...)`` does so)."""
    base = getattr(keras.callbacks.Callback, hook)
    return hook in vars(callback) or getattr(type(callback), hook) is not base


def supported(model, callbacks):
    """Whether :func:`fit_epochs` can train ``model`` with these callbacks.

    Progress output does not decide it: the fused loop draws Keras's
    progress bar at epoch level (:func:`fit_epochs`).
    """
    backend = keras.backend.backend()
    compiled = (backend == "tensorflow" and not model.jit_compile) or (
        backend == "jax" and bool(model.jit_compile)
    )
    return compiled and not has_batch_hooks(callbacks)


def fused(model, X, callbacks):
    """Whether :func:`train` takes the fused epoch loop for these arguments."""
    return not _streamed(X) and supported(model, list(callbacks))


def _streamed(X):
    """Whether ``X`` is a scipy sparse matrix too large to densify at once."""
    return sp.issparse(X) and X.shape[0] * X.shape[1] > _network.SPARSE_CHUNK_VALUES


def densify_if_small(X):
    """``X`` as a dense array when it is a scipy sparse matrix whose dense copy
    holds at most ``_network.SPARSE_CHUNK_VALUES`` values (16 MiB of float32,
    the size of one chunk that is densified anyway); otherwise ``X`` itself.

    Small sparse inputs (one-hot encodings, scikit-learn's estimator checks)
    then take the fused loop and the compile cache: densifying them once costs
    less than densifying every mini-batch of every epoch.
    """
    if sp.issparse(X) and not _streamed(X):
        return X.toarray()
    return X


def train(
    model,
    train,
    validation=None,
    *,
    batch_size,
    epochs,
    initial_epoch=0,
    callbacks=(),
    metrics=(),
    verbose=0,
    seed=0,
    compiled=None,
):
    """Train a compiled ``model``; the logs of each epoch, as ``History.history``.

    The one training path of the library (the estimators' ``_train`` seam and
    greedy pretraining). Optimizer variables are created eagerly, then
    :func:`fit_epochs` trains when :func:`supported` (validation inside each
    epoch's compiled call), else ``Model.fit`` with up to 256 batches per
    compiled call (one per call when a callback has per-batch hooks: it must
    see every batch) and a :class:`ValidationPass` first among the callbacks,
    fed by :class:`SparseBatches` (the fused loop's seeded batches); a scipy
    sparse ``X`` larger than :func:`densify_if_small` allows takes
    ``Model.fit``. Under a JAX distribution the variables are laid out on
    its devices first (a network built outside it kept them on one), and
    ``Model.fit`` places batches that do not split over the devices whole
    on each (:func:`deepstack._trainer_jax.fit_layout`).
    Either way the validation logs are ``val_loss`` and ``val_<metric>`` for
    ``metrics``.

    Parameters
    ----------
    model : keras.Model
    train : tuple (X, y, sample_weight or None)
    validation : tuple (X, y, sample_weight or None) or None
    batch_size, epochs, initial_epoch : int
        As in ``Model.fit``; the batch size is capped at the number of rows.
    callbacks : list of keras.callbacks.Callback
    metrics : list of keras.metrics.Metric
        Metrics to report on the validation data.
    verbose : int
        Keras's progress output: 0 silent, 1 a progress bar, 2 one line per
        epoch. The fused loop draws the bar once per epoch, complete, at the
        epoch's end; ``Model.fit`` updates it after every call.
    seed : int
        Seeds the shuffling: epoch ``e`` draws the permutation of
        ``(seed, e)`` on either path.
    compiled : object or None
        The compiled epoch to reuse in the fused loop (see
        :func:`fit_epochs`).
    """
    _network.check_training_backend()
    X, y, w = train
    X = densify_if_small(X)
    if validation is not None:
        validation = (densify_if_small(validation[0]), *validation[1:])
    callbacks = list(callbacks)
    _network.build_optimizer(model)
    _lay_out_variables(model)
    batch_size = min(batch_size, X.shape[0])
    sparse = sp.issparse(X) or (validation is not None and sp.issparse(validation[0]))
    if not sparse and supported(model, callbacks):
        history = fit_epochs(
            model,
            X,
            y,
            w,
            batch_size=batch_size,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            validation=validation,
            metrics=metrics,
            verbose=verbose,
            seed=seed,
            compiled=compiled,
        )
        return history.history
    if validation is not None:
        callbacks.insert(0, ValidationPass(*validation, metrics=metrics))
    # At most an epoch's steps a call: Keras's progress bar counts the steps
    # of each call, and showed 256/6 for an epoch of six.
    steps = -(-X.shape[0] // batch_size)
    steps_per_execution = 1 if has_batch_hooks(callbacks) else min(256, steps)
    if model.steps_per_execution != steps_per_execution:
        model.steps_per_execution = steps_per_execution
        _compat.reset_compiled_functions(model)
    # The fused loop's seeded permutation of each epoch, whatever the
    # backend: Keras's own shuffle draws from NumPy's global generator on
    # JAX, so ``random_state`` did not decide the batches (the user's
    # ``np.random.seed`` did), and ``verbose`` changed them everywhere. A
    # sparse matrix is densified one mini-batch at a time.
    batches = SparseBatches(X, y, w, batch_size, seed=seed, epoch=initial_epoch)
    with _fit_data_layout(X.shape[0], batch_size):
        history = model.fit(
            batches,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=[_DrawEpoch(batches), *callbacks],
            verbose=verbose,
            # The batches are drawn shuffled; Keras would shuffle their order
            # again with Python's unseeded global generator.
            shuffle=False,
        )
    return history.history


def _lay_out_variables(model):
    """Under a JAX distribution, ``model``'s variables laid out as it says
    (see :func:`deepstack._trainer_jax.lay_out`)."""
    distribution = keras.distribution.distribution()
    if distribution is not None and keras.backend.backend() == "jax":
        from deepstack import _trainer_jax

        _trainer_jax.lay_out(model, distribution)


def _fit_data_layout(n_rows, batch_size):
    """The context ``Model.fit`` runs in: under a JAX distribution whose
    devices cannot split every batch evenly, one that places each batch
    whole on every device (see :func:`deepstack._trainer_jax.fit_layout`)."""
    distribution = keras.distribution.distribution()
    if distribution is None or keras.backend.backend() != "jax":
        return contextlib.nullcontext()
    from deepstack import _trainer_jax

    return _trainer_jax.fit_layout(distribution, n_rows, batch_size)


class SparseBatches(keras.utils.PyDataset):
    """``Model.fit``'s shuffled mini-batches: epoch ``e`` (set by
    :meth:`set_epoch`) draws the fused loop's seeded permutation of ``e``.

    A scipy sparse ``X`` is densified one batch at a time: peak memory is
    that of the sparse matrix plus one dense batch, not of the dense matrix.
    A dense ``X`` is batched the same way (rows in order within a batch).
    """

    def __init__(self, X, y, sample_weight, batch_size, *, seed, epoch=0):
        super().__init__()
        self.X = X.tocsr() if sp.issparse(X) else X
        self.y = y
        self.sample_weight = sample_weight
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.set_epoch(epoch)

    def set_epoch(self, epoch):
        """Draw the batches of ``epoch`` next."""
        self.epoch = int(epoch)
        self._order = self._permutation()

    def _permutation(self):
        n = self.X.shape[0]
        return np.random.RandomState([self.seed % 2**32, self.epoch]).permutation(n)

    def __len__(self):
        return -(-self.X.shape[0] // self.batch_size)

    def __getitem__(self, index):
        rows = np.sort(
            self._order[index * self.batch_size : (index + 1) * self.batch_size]
        )
        x = self.X[rows]
        x = x.toarray() if sp.issparse(x) else x
        if self.sample_weight is None:
            return x, self.y[rows]
        return x, self.y[rows], self.sample_weight[rows]


class _DrawEpoch(keras.callbacks.Callback):
    """Has ``batches`` (:class:`SparseBatches`) draw each epoch's own
    permutation. Told the epoch, not counting the dataset's epoch hooks:
    Keras reads batches for their shapes (or a first build) before the
    first epoch and calls those hooks around them, a number of times that
    depends on the backend."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


def fit_epochs(
    model,
    X,
    y,
    sample_weight=None,
    *,
    batch_size,
    epochs,
    initial_epoch=0,
    callbacks=(),
    validation=None,
    metrics=(),
    verbose=0,
    seed=0,
    compiled=None,
):
    """Train ``model`` for epochs ``initial_epoch .. epochs - 1``, like ``fit``.

    Parameters
    ----------
    model : keras.Model
        Compiled, with its optimizer variables built.
    X, y : ndarray
        Training inputs and targets (all rows; mini-batches are drawn here).
    sample_weight : ndarray of shape (n_samples,) or None
    batch_size, epochs, initial_epoch : int
        As in ``Model.fit`` (``epochs`` is the index of the last epoch + 1).
    callbacks : list of keras.callbacks.Callback
        Epoch-level callbacks.
    validation : tuple (X, y, sample_weight or None) or None
        Evaluated at the end of every epoch, inside the same compiled call,
        as :class:`~deepstack.callbacks.ValidationPass` would: ``val_loss``
        (the compiled loss with its regularization terms, inference mode,
        sample-weighted) and ``val_<name>`` for ``metrics`` (unweighted).
    metrics : list of keras.metrics.Metric
        Validation metrics; fresh copies are used.
    verbose : int
        As in ``Model.fit``: 0 silent, 1 a progress bar, 2 one line per
        epoch. Keras's own ``ProgbarLogger`` draws it at epoch level: an
        epoch is one compiled call, so the bar is shown complete, with the
        epoch's logs, when the call returns.
    seed : int
        Seeds the per-epoch shuffling (epoch ``e`` uses its own permutation,
        so a continued run draws the batches an uninterrupted one would).
    compiled : object or None
        A holder of the compiled epoch reused across fits (a
        :class:`deepstack._compile_cache.Entry`, whose ``function`` and
        ``metrics`` are None the first time): when it holds a function,
        that function (traced for this ``model``, batch size and data
        layout) and its validation metrics are reused instead of tracing
        anew; otherwise the new ones are stored in it.

    Returns
    -------
    keras.callbacks.History
    """
    n = X.shape[0]
    batch_size = int(min(batch_size, n))
    n_batches = -(-n // batch_size)
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callbacks, history],
        add_progbar=bool(verbose),
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=n_batches,
    )
    function = None if compiled is None else compiled.function
    # Fresh metrics to start from; the compiled epoch resets them itself at
    # each epoch (no eager op per metric variable between epochs).
    model.reset_metrics()
    if function is None:
        metrics = [type(m).from_config(m.get_config()) for m in metrics]
        _build_compiled_state(model, X[:batch_size], y[:batch_size], metrics)
    else:
        # The compiled state and the validation metrics exist already.
        metrics = compiled.metrics
    function, run_epoch = _epoch_runner(
        model, batch_size, (X, y, sample_weight), validation, metrics, function
    )
    if compiled is not None:
        compiled.function, compiled.metrics = function, metrics

    model.stop_training = False
    callback_list.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        order = np.random.RandomState([seed % 2**32, epoch]).permutation(n)
        outputs = run_epoch(order.astype("int32"))
        logs = {k: float(v) for k, v in outputs.items()}
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return history


def _build_compiled_state(model, X, y, metrics=()):
    """Create the compiled loss's and metrics' state, and that of the
    validation ``metrics`` (some, like R2Score, make their variables at the
    first update), eagerly, as ``fit`` does symbolically before its first
    step: variables made inside a traced epoch would leave graph
    conditionals behind, and JAX's stateless epoch needs them beforehand."""
    y_pred = model(X, training=False)
    model.compute_loss(x=X, y=y, y_pred=y_pred, training=False)
    model.compute_metrics(X, y, y_pred, sample_weight=None)
    model.reset_metrics()
    for metric in metrics:
        metric.update_state(y, y_pred)
        metric.reset_state()


_TRACES = 0


def trace_count():
    """How many compiled epochs (of either backend) this process has traced."""
    return _TRACES


def _count_trace():
    global _TRACES
    _TRACES += 1


def _epoch_runner(model, batch_size, train, validation, metrics, function=None):
    """The backend's compiled epoch and ``run(order) -> logs`` bound to the
    data; ``function``: a compiled epoch made earlier for ``model`` and the
    same data layout, reused (else a new one)."""
    if keras.backend.backend() == "jax":
        # Imported here: JAX is an optional dependency. The JAX runner does
        # not import this module (no cycle).
        from deepstack import _trainer_jax

        return _trainer_jax.epoch_runner(
            model, batch_size, train, validation, metrics, function, _count_trace
        )
    return _tf_epoch_runner(model, batch_size, train, validation, metrics, function)


def _tf_epoch_runner(model, batch_size, train, validation, metrics, function=None):
    """``(run_epoch, run(order) -> logs)`` for TensorFlow: the data become
    tensors once."""
    import tensorflow as tf

    def tensors(arrays):
        return [None if a is None else tf.convert_to_tensor(a) for a in arrays]

    train = tensors(train)
    if validation is not None:
        validation = tensors(validation)
    data = [t for t in train if t is not None]
    if validation is not None:
        data += [t for t in validation if t is not None]
    if function is None:
        # Any number of rows: the folds of a cross-validation (and a refit)
        # share one trace.
        signature = [tf.TensorSpec([None], tf.int32)] + [
            tf.TensorSpec([None, *t.shape[1:]], t.dtype) for t in data
        ]
        function = _epoch_function(
            model,
            batch_size,
            weighted=train[2] is not None,
            validated=validation is not None,
            val_weighted=validation is not None and validation[2] is not None,
            metrics=metrics,
            signature=signature,
        )
    return function, lambda order: function(tf.constant(order), *data)


class _RetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warnings.

    Each fit compiles functions of its own for its own model, by design (the
    data are arguments, the model is not), so a search or a grid of fits
    "retraces" at every fit; TensorFlow's advice for that case does not
    apply, and the warning would be printed even at ``verbose=0``.
    """

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


_RETRACING_FILTER = _RetracingFilter()


def _epoch_function(
    model, batch_size, *, weighted, validated, val_weighted, metrics, signature
):
    """The compiled epoch, ``run_epoch(order, X, y[, w][, Xv, yv[, wv]]) -> logs``.

    ``signature``: the ``tf.TensorSpec`` of each argument.

    The data are arguments, not captured tensors: TensorFlow keeps each traced
    graph after the fit (a few MB, ``benchmarks/memory.py``), and a graph that
    captured the training data would keep the data too.
    """
    import tensorflow as tf

    tf_logger = logging.getLogger("tensorflow")
    if _RETRACING_FILTER not in tf_logger.filters:
        tf_logger.addFilter(_RETRACING_FILTER)

    def unpack(data):
        data = list(data)
        X, y = data.pop(0), data.pop(0)
        w = data.pop(0) if weighted else None
        if not validated:
            return (X, y, w), None
        Xv, yv = data.pop(0), data.pop(0)
        wv = data.pop(0) if val_weighted else None
        return (X, y, w), (Xv, yv, wv)

    # Keras's train_step in a function of its own, called by the epoch's
    # loop: TensorFlow never frees a traced graph that contains train_step
    # (about 2.5 MB per fit), and nesting keeps that to the step's graph
    # rather than the whole epoch's (measured with benchmarks/memory.py).
    @tf.function(autograph=False, reduce_retracing=True)
    def train_batch(X, y, w):
        return model.train_step((X, y, w))

    def step(train, order, i):
        X, y, w = train
        n = tf.shape(order)[0]
        rows = order[i * batch_size : tf.minimum((i + 1) * batch_size, n)]
        return train_batch(
            tf.gather(X, rows),
            tf.gather(y, rows),
            None if w is None else tf.gather(w, rows),
        )

    def validate(Xv, yv, wv, metrics):
        n = tf.shape(Xv)[0]
        chunk_rows = _network.CHUNK_ROWS
        n_chunks = (n + chunk_rows - 1) // chunk_rows
        for metric in metrics:
            metric.reset_state()

        def chunk(i, total):
            start = i * chunk_rows
            end = tf.minimum(start + chunk_rows, n)
            x, target = Xv[start:end], yv[start:end]
            y_pred = model(x, training=False)
            loss = model.compute_loss(
                x=x,
                y=target,
                y_pred=y_pred,
                sample_weight=None if wv is None else wv[start:end],
                training=False,
            )
            for metric in metrics:
                metric.update_state(target, y_pred)
            share = tf.cast(end - start, loss.dtype) / tf.cast(n, loss.dtype)
            return i + 1, total + loss * share

        _, total = tf.while_loop(
            lambda i, total: i < n_chunks, chunk, (tf.constant(0), tf.constant(0.0))
        )
        return {"val_loss": total, **{f"val_{m.name}": m.result() for m in metrics}}

    @tf.function(autograph=False, input_signature=signature)
    def run_epoch(order, *data):
        _count_trace()
        model.reset_metrics()
        train, held_out = unpack(data)
        n_batches = (tf.shape(order)[0] + batch_size - 1) // batch_size
        # The loop carries the logs; start from the metrics' current values
        # (same structure and dtypes as what ``train_step`` returns).
        _, logs = tf.while_loop(
            lambda i, logs: i < n_batches,
            lambda i, logs: (i + 1, step(train, order, i)),
            (tf.constant(0), model.get_metrics_result()),
        )
        if held_out is not None:
            logs = {**logs, **validate(*held_out, metrics)}
        return logs

    return run_epoch
