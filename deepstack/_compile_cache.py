"""Reuse a compiled network across fits that share its configuration.

A grid search fits the same architecture many times: every fold of a
candidate, every candidate that differs only in its learning rate or its
dropout rates, and the refit. Each fit builds its own Keras model, and the
fused epoch loop traces a new compiled epoch for it: about a second of graph
building per small fit, a third of its time
(``benchmarks/gridsearch_speed.py``). This cache keeps, per configuration, a
*worker*: a compiled model with its validation metrics and its traced epoch
function. A fit then builds its own model as before (cheap, and the same
initial weights as ever), copies its whole state into the worker (weights,
batch-norm statistics, input statistics, dropout rates and generator
states, optimizer variables including the learning rate: the rates are
variables of the compiled step, not traced constants), trains the worker,
and copies the state back. The estimator keeps its own model: no two fits
share a model object, and a fit with the cache gives bit for bit the result
of one without it (``tests/test_compile_cache.py``).

The key is everything a traced epoch depends on: the backend, the model's
configuration without its initializers (they only ran at build) and its
dropout rates, the compile configuration without a constant learning rate,
the batch size, the dtypes and feature shapes of the training and validation
arrays (any number of rows), and the validation metrics. Only networks made
of the layers :func:`deepstack._network.build_network` uses are cached; a
Keras distribution turns the cache off.

The cache holds at most :data:`MAXSIZE` workers (8: a grid of a few network
shapes is one configuration a shape), and at most :data:`MAX_BYTES` (256 MB)
of their variables, least recently used first out. A worker is checked out
while it trains (a concurrent fit with the same key builds its own), so
threads never share one.
"""

import collections
import contextlib
import json
import math
import threading

import keras
import numpy as np

from deepstack import _network
from deepstack.layers import RateDropout, Reconstruction, Standardize, tie_layers

MAXSIZE = 8
# The most bytes of variables (weights, optimizer and other state) that the
# workers hold together: small networks fill every slot, a few large ones
# keep only the most recent (always one).
MAX_BYTES = 256 * 2**20

_CACHEABLE = (
    keras.layers.InputLayer,
    keras.layers.Dense,
    keras.layers.BatchNormalization,
    keras.layers.Activation,
    keras.layers.Dropout,
    RateDropout,
    Standardize,
    Reconstruction,
)

_lock = threading.Lock()
_entries = collections.OrderedDict()
_settings = {"maxsize": MAXSIZE}
_counts = {"hits": 0, "misses": 0}


class Entry:
    """A cached worker: the compiled ``model``, and the traced epoch
    ``function`` with its validation ``metrics`` (None until the first fit
    has traced them; see :func:`deepstack._trainer.fit_epochs`)."""

    def __init__(self, model):
        self.model = model
        self.function = None
        self.metrics = None
        self.nbytes = sum(
            math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in _state(model)
        )


@contextlib.contextmanager
def compile_cache(enabled=True, *, maxsize=None):
    """Turn the reuse of compiled networks across fits on or off, in a block.

    Fits that share a network configuration, optimizer, batch size and data
    shapes (the folds of a cross-validation, the candidates of a grid that
    differ only in their learning rate or dropout rates, the refit) reuse one
    compiled network and its traced training function, with the weights,
    optimizer state and random generators set from each fit's own seed: the
    results are bit for bit those of a fit without the cache, several times
    faster for small fits. The cache is on by default and holds the last
    ``maxsize`` (8) configurations of the process, and of the last ones no
    more than 256 MB of variables (weights and optimizer state; the most
    recent is always kept).

    Parameters
    ----------
    enabled : bool, default=True
        False: every fit in the block builds and traces its own (as without
        a cache; for debugging and comparisons).
    maxsize : int or None, default=None
        Configurations kept in the block (None: unchanged; the least
        recently used beyond it are dropped). When the block is left, the
        previous size is restored.

    Examples
    --------
    >>> import numpy as np
    >>> from deepstack import DeepStackClassifier, compile_cache
    >>> X = np.random.RandomState(0).normal(size=(60, 3)).astype("float32")
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = DeepStackClassifier((4,), max_epochs=2, random_state=0)
    >>> with compile_cache(enabled=False):
    ...     proba = clf.fit(X, y).predict_proba(X)
    >>> np.array_equal(proba, clf.fit(X, y).predict_proba(X))
    True
    """
    previous = _settings["maxsize"]
    if not enabled:
        size = 0
    elif maxsize is None:
        # Inside an enabled=False block the previous size is 0: enabling
        # again means the default size.
        size = previous or MAXSIZE
    else:
        size = int(maxsize)
    if size < 0:
        raise ValueError(f"maxsize must be non-negative; got {maxsize!r}.")
    with _lock:
        _settings["maxsize"] = size
        _trim()
    try:
        yield
    finally:
        _settings["maxsize"] = previous
        with _lock:
            _trim()


def _trim():
    """Drop the least recently used workers beyond ``maxsize``, and beyond
    :data:`MAX_BYTES` of their variables (the most recent one stays)."""
    while len(_entries) > _settings["maxsize"] or (
        len(_entries) > 1
        and sum(entry.nbytes for entry in _entries.values()) > MAX_BYTES
    ):
        _entries.popitem(last=False)


def clear():
    """Empty the cache (the counters of :func:`info` are kept)."""
    with _lock:
        _entries.clear()


def info():
    """``{"hits", "misses", "size", "maxsize"}`` of the process-wide cache."""
    with _lock:
        return {**_counts, "size": len(_entries), "maxsize": _settings["maxsize"]}


def key(model, batch_size, train, validation, metrics):
    """The cache key of training ``model`` on these data, or None when the
    network cannot be cached (a layer of another kind, a distribution)."""
    if keras.distribution.distribution() is not None:
        return None
    if not all(isinstance(layer, _CACHEABLE) for layer in model.layers):
        return None
    compile_config = model.get_compile_config()
    optimizer = dict(compile_config["optimizer"]["config"])
    optimizer.pop("name", None)  # "adam", "adam_1", ...: unique per process
    if isinstance(optimizer.get("learning_rate"), float):
        # A variable of the compiled step, copied with the optimizer state.
        optimizer.pop("learning_rate")
    compile_config = {**compile_config, "optimizer": optimizer}
    return json.dumps(
        [
            keras.backend.backend(),
            _without_initializers(model.get_config()),
            compile_config,
            int(batch_size),
            [_layout(train), None if validation is None else _layout(validation)],
            [[type(m).__name__, m.get_config()] for m in metrics],
        ],
        sort_keys=True,
        default=repr,
    )


def _without_initializers(config):
    """``config`` without what a traced epoch does not depend on: the
    initializers and seeds (they only ran at build) and the dropout rates
    (variables of the compiled step, copied with the weights)."""
    if isinstance(config, dict):
        if config.get("class_name") == RateDropout.__name__:
            layer = {k: v for k, v in config["config"].items() if k != "rate"}
            config = {**config, "config": layer}
        return {
            k: _without_initializers(v)
            for k, v in config.items()
            if not k.endswith("initializer") and k != "seed"
        }
    if isinstance(config, (list, tuple)):
        return [_without_initializers(v) for v in config]
    return config


def _layout(arrays):
    return [None if a is None else [str(a.dtype), list(a.shape[1:])] for a in arrays]


@contextlib.contextmanager
def lease(model, key):
    """Yield ``(worker, entry)`` holding ``model``'s state, for training.

    ``key`` (:func:`key`) None, or the cache turned off: ``(model, None)``,
    nothing is copied. Otherwise the worker of ``key`` (a compiled copy of
    ``model`` made on a miss) gets every variable of ``model`` and of its
    optimizer, and on leaving, whether training ended or raised, ``model``
    gets the worker's back; the worker returns to the cache.
    """
    if key is None or _settings["maxsize"] == 0:
        yield model, None
        return
    _network.build_optimizer(model)
    with _lock:
        entry = _entries.pop(key, None)
        _counts["hits" if entry is not None else "misses"] += 1
    if entry is None:
        try:
            entry = Entry(_compiled_copy(model))
        except Exception:  # e.g. a custom loss Keras cannot deserialize
            entry = None
    if entry is None or not _same_layout(model, entry.model):
        # (A model whose optimizer is not built yet has fewer variables.)
        if entry is not None:
            _put(key, entry)
        yield model, None
        return
    copy_state(model, entry.model)
    try:
        yield entry.model, entry
    finally:
        copy_state(entry.model, model)
        _put(key, entry)


def _put(key, entry):
    with _lock:
        _entries[key] = entry
        _entries.move_to_end(key)
        _trim()


def _compiled_copy(model):
    """A new model of ``model``'s configuration, compiled as it is."""
    # A joint loss's decoder knows its encoders by name in a config.
    worker = tie_layers(keras.Model.from_config(model.get_config()))
    worker.compile_from_config(model.get_compile_config())
    _network.build_optimizer(worker)
    return worker


def _state(model):
    return [*model.variables, *model.optimizer.variables]


def _same_layout(a, b):
    va, vb = _state(a), _state(b)
    return len(va) == len(vb) and all(
        tuple(u.shape) == tuple(v.shape) and u.dtype == v.dtype for u, v in zip(va, vb)
    )


def copy_state(source, target):
    """Assign every variable of ``source`` and of its optimizer to ``target``'s
    (same configuration, same order: see :func:`_same_layout`)."""
    for s, t in zip(_state(source), _state(target), strict=True):
        t.assign(s.value)
