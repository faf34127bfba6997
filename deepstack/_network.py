"""Build the Keras network of a deepstack estimator from plain parameters.

Pure Keras (``import keras`` only): the same code runs on every Keras backend.
The layer names are part of the contract: pretraining, diagnostics and the
batch-norm statistics pass find the hidden layers by name.
"""

import math
import warnings
import weakref
from numbers import Integral

import keras
import numpy as np
import scipy.sparse as sp

from deepstack._warnings import user_stacklevel
from deepstack.layers import RateDropout, Reconstruction, Standardize

HIDDEN = "hidden_{}"
BATCH_NORM = "batch_norm_{}"
ACTIVATION = "activation_{}"
DROPOUT = "dropout_{}"
OUTPUT = "output"
LOGITS = "logits"
STANDARDIZE = "standardize"
RECONSTRUCTION = "reconstruction"

OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "linear")

# Rows per call for every pass over data outside training (prediction,
# validation, encoding, batch-norm statistics): bounds the memory of one
# forward pass without paying a call per mini-batch.
CHUNK_ROWS = 4096


# Most values of one densified chunk of a sparse matrix (16 MB in float32;
# the first layers hold a few copies of it).
SPARSE_CHUNK_VALUES = 2**22


def chunk_rows(X, rows=None):
    """Rows per chunk of a pass over ``X``: ``rows`` (:data:`CHUNK_ROWS` by
    default), fewer for a wide sparse matrix, whose chunks are densified (at
    most :data:`SPARSE_CHUNK_VALUES` values each)."""
    rows = CHUNK_ROWS if rows is None else rows
    if not sp.issparse(X):
        return rows
    return max(1, min(rows, SPARSE_CHUNK_VALUES // max(X.shape[1], 1)))


def densify(X):
    """``X`` as a dense array: a scipy sparse matrix is converted, other
    arrays are returned as they are. Called on one mini-batch or chunk of
    rows at a time, so that a sparse ``X`` is never densified whole."""
    return X.toarray() if sp.issparse(X) else X


def check_hidden_layer_sizes(sizes, *, allow_empty=True, what="hidden_layer_sizes"):
    """Return ``sizes`` as a tuple of positive ints or raise ``ValueError``."""
    given = sizes
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = None
    if (
        sizes is None
        or (not sizes and not allow_empty)
        or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1
            for s in sizes
        )
    ):
        kind = "sequence" if allow_empty else "non-empty sequence"
        raise ValueError(
            f"{what} must be a {kind} of positive integers, e.g. (256, 128); "
            f"got {given!r}."
        )
    return tuple(int(s) for s in sizes)


def glorot_uniform(seed):
    """Glorot-uniform initializer: U[-b, b] with b = sqrt(6 / (fan_in + fan_out))."""
    return keras.initializers.GlorotUniform(seed=seed)


def _regularizer(l1, l2):
    if not l1 and not l2:
        return None
    return keras.regularizers.L1L2(l1=float(l1 or 0.0), l2=float(l2 or 0.0))


def input_statistics(X, names=None):
    """Mean and variance of the training inputs, with constant columns left unscaled.

    Computed in float64 from start to end. A column whose variance is zero
    gets variance 1 (as in scikit-learn's ``StandardScaler``), so that unseen
    values at predict time stay finite. A column that varies on a scale the
    standardization layer cannot use raises a ``ValueError`` naming it: a
    variance beyond float32 (a standard deviation above about 1.8e19) would
    be stored as infinite, and a standard deviation below Keras's epsilon
    (1e-7) is clamped to it; either way the column would be standardized to
    a near-constant, silently.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
    names : sequence of str, default=None
        Column names for the error message (else column indices).
    """
    if sp.issparse(X):
        # From column sums: the matrix stays sparse.
        X = X.tocsr()
        n, d = X.shape
        values = X.data.astype(np.float64)
        mean = np.bincount(X.indices, weights=values, minlength=d) / n
        squares = np.bincount(X.indices, weights=values**2, minlength=d) / n
        variance = np.maximum(squares - mean**2, 0.0)
    else:
        X = np.asarray(X, dtype=np.float64)
        mean = X.mean(axis=0)
        variance = X.var(axis=0)
    varies = variance > 0
    # The Standardize layer divides by max(sqrt(variance), epsilon).
    smallest = float(keras.backend.epsilon()) ** 2
    bad = varies & ((variance > np.finfo(np.float32).max) | (variance < smallest))
    if np.any(bad):
        columns = np.flatnonzero(bad)
        described = ", ".join(
            f"{_column_name(j, names)} (standard deviation {np.sqrt(variance[j]):.3g})"
            for j in columns[:5]
        )
        more = f" and {len(columns) - 5} more" if len(columns) > 5 else ""
        raise ValueError(
            f"X has columns whose scale float32 cannot standardize: {described}"
            f"{more}. Rescale them (e.g. put sklearn.preprocessing.StandardScaler "
            "before the estimator) so that their standard deviation lies "
            f"between {np.sqrt(smallest):g} and 1e19."
        )
    variance[~varies] = 1.0
    return mean.astype("float32"), variance.astype("float32")


def _column_name(j, names):
    if names is not None:
        return f"column {str(names[j])!r}"
    return f"column {j}"


def build_network(
    n_features,
    n_outputs,
    *,
    hidden_layer_sizes=(256, 256),
    activation="relu",
    output_activation=None,
    dropout=0.0,
    input_dropout=0.0,
    batch_norm=False,
    l1=0.0,
    l2=0.0,
    input_mean=None,
    input_variance=None,
    seed=None,
    reconstruction_weight=0.0,
    reconstruction_loss="squared_error",
    name="deepstack",
):
    """Return an uncompiled functional ``keras.Model``.

    The network is ``[standardize] -> [input dropout] -> (Dense -> [BN] ->
    activation -> [dropout]) * L -> Dense(output)``. With ``batch_norm`` the
    hidden Dense layers carry no bias: batch normalization of the
    pre-activation makes it redundant (its ``beta`` plays that role).

    Parameters
    ----------
    n_features, n_outputs : int
        Input width and number of output units.
    hidden_layer_sizes : sequence of int
        Units of each hidden layer; empty for a linear / logistic model.
    activation : str
        Keras activation of the hidden layers.
    output_activation : str or None
        ``"softmax"``, ``"sigmoid"`` or None (linear).
    dropout, input_dropout : float
        Drop rates of hidden units and of inputs (inverted dropout, so test
        time uses the expectation with no rescaling).
    batch_norm : bool
        Normalize each hidden pre-activation.
    l1, l2 : float
        Weight decay on every kernel (biases are not penalized).
    input_mean, input_variance : array-like or None
        Standardize inputs inside the model with these training statistics.
    seed : int or None
        Seeds every initializer and dropout layer.
    reconstruction_weight : float
        When positive, a :class:`~deepstack.layers.Reconstruction` layer
        after the last hidden activation adds this times the loss of
        reconstructing the (standardized) inputs from the last hidden layer,
        through the transposed hidden kernels, to the training loss (the
        joint loss); it is the identity at inference. Needs a hidden layer.
    reconstruction_loss : {"squared_error", "cross_entropy"}
        That reconstruction's loss.
    """
    # Plain ints: Keras's Dense refuses NumPy integers (np.arange widths).
    hidden_layer_sizes = check_hidden_layer_sizes(hidden_layer_sizes)
    seeds = np.random.RandomState(seed).randint(0, 2**31 - 1, size=3 * 64 + 2)
    seeds = iter(int(s) for s in seeds)
    regularizer = _regularizer(l1, l2)

    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    if input_mean is not None:
        # Statistics in variables, not constants: a cached network reused
        # for another fold's data (deepstack._compile_cache) gets new ones.
        standardize = Standardize(name=STANDARDIZE)
        x = standardize(x)
        standardize.set_statistics(input_mean, input_variance)
    clean = x
    if input_dropout:
        x = RateDropout(input_dropout, seed=next(seeds), name="input_dropout")(x)
    encoders = []
    for i, units in enumerate(hidden_layer_sizes, start=1):
        dense = keras.layers.Dense(
            units,
            use_bias=not batch_norm,
            kernel_initializer=glorot_uniform(next(seeds)),
            bias_initializer="zeros",
            kernel_regularizer=regularizer,
            name=HIDDEN.format(i),
        )
        encoders.append(dense)
        x = dense(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=BATCH_NORM.format(i))(x)
        x = keras.layers.Activation(activation, name=ACTIVATION.format(i))(x)
        if reconstruction_weight and i == len(hidden_layer_sizes):
            # Before dropout: the decoder reads the codes the head reads at
            # inference, and reconstructs the inputs before input dropout.
            x = Reconstruction(
                encoders,
                [n_features, *hidden_layer_sizes[:-1]],
                weight=reconstruction_weight,
                activation=activation,
                loss=reconstruction_loss,
                name=RECONSTRUCTION,
            )([clean, x])
        if dropout:
            x = RateDropout(dropout, seed=next(seeds), name=DROPOUT.format(i))(x)
    outputs = keras.layers.Dense(
        n_outputs,
        kernel_initializer=glorot_uniform(next(seeds)),
        bias_initializer="zeros",
        kernel_regularizer=regularizer,
        name=LOGITS if output_activation else OUTPUT,
    )(x)
    if output_activation:
        outputs = keras.layers.Activation(output_activation, name=OUTPUT)(outputs)
    return keras.Model(inputs, outputs, name=name)


def hidden_layers(model):
    """The hidden ``Dense`` layers of a network built by :func:`build_network`."""
    layers, i = [], 1
    names = {layer.name for layer in model.layers}
    while HIDDEN.format(i) in names:
        layers.append(model.get_layer(HIDDEN.format(i)))
        i += 1
    return layers


def logits(model, X):
    """Pre-activation outputs of the network (the output layer's input to
    softmax / sigmoid), or the outputs themselves for a linear output."""
    return logits_model(model)(X, training=False)


# The views of a model (its logits, its last hidden layer), kept while the
# model lives: building a view costs more than a small prediction.
_VIEWS = weakref.WeakKeyDictionary()


def _view(model, kind, output):
    views = _VIEWS.setdefault(model, {})
    if kind not in views:
        views[kind] = keras.Model(model.input, output())
    return views[kind]


def logits_model(model):
    """A view of ``model`` that outputs its logits (``model`` itself if linear)."""
    names = {layer.name for layer in model.layers}
    if LOGITS not in names:
        return model
    return _view(model, "logits", lambda: model.get_layer(LOGITS).output)


def hidden_model(model):
    """A view of ``model`` that outputs its last hidden layer's activations
    (after batch norm and the activation function; dropout is off at
    inference); its inputs if it has no hidden layer."""
    layers = hidden_layers(model)
    if not layers:
        return _view(model, "inputs", lambda: model.input)
    name = ACTIVATION.format(len(layers))
    return _view(model, "hidden", lambda: model.get_layer(name).output)


def get_model(model_or_estimator):
    """The ``keras.Model`` of a fitted deepstack estimator, or the model itself."""
    if isinstance(model_or_estimator, keras.Model):
        return model_or_estimator
    model = getattr(model_or_estimator, "model_", None)
    if isinstance(model, keras.Model):
        return model
    if hasattr(model_or_estimator, "steps"):
        hint = (
            "For a Pipeline, pass its last step (pipeline[-1]) and X transformed "
            "by the steps before it (pipeline[:-1].transform(X))."
        )
    elif hasattr(model_or_estimator, "estimators_"):
        hint = "For an ensemble, pass one of its members (estimators_[0])."
    elif hasattr(model_or_estimator, "best_estimator_"):
        hint = "For a search, pass its best_estimator_."
    else:
        hint = "Fit the estimator first."
    raise TypeError(
        "Expected a keras.Model or a fitted deepstack estimator (with a model_ "
        f"attribute); got {type(model_or_estimator).__name__}. {hint}"
    )


def all_layers(model):
    """Every layer of ``model``, depth first, including those of nested models."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def forward(model, X):
    """``model(X)`` in inference mode as a float64 NumPy array, in chunks of
    :data:`CHUNK_ROWS` rows (densified one chunk at a time if ``X`` is a
    scipy sparse matrix)."""
    step = chunk_rows(X)
    chunks = [
        keras.ops.convert_to_numpy(model(densify(X[i : i + step]), training=False))
        for i in range(0, X.shape[0], step)
    ]
    out = np.concatenate(chunks, axis=0).astype(np.float64, copy=False)
    finite = np.isfinite(out).reshape(out.shape[0], -1).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        warnings.warn(
            f"The network's outputs are infinite or NaN for {rows.size} of "
            f"{out.shape[0]} rows (first: {rows[:5].tolist()}): their inputs lie "
            "so far outside the training data that float32 overflows inside the "
            "network. Check or clip those inputs.",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )
    return out


def reseed(model, seed):
    """Set every random layer's generator (dropout) to a state drawn from ``seed``.

    Keras does not save generator states with the weights, so deepstack
    reseeds them at the start of every fit call: the same seed and the same
    weights then give the same training run, also after pickling.
    """
    rng = np.random.RandomState(seed)
    for layer in all_layers(model):
        generator = getattr(layer, "seed_generator", None)
        if generator is None:
            continue
        state = generator.state
        value = np.array([rng.randint(0, 2**31 - 1), 0])
        state.assign(value.astype(keras.backend.standardize_dtype(state.dtype)))


def auto_batch_size(n_rows):
    """The mini-batch size ``batch_size="auto"`` gives ``n_rows`` training rows.

    32 up to 3,200 rows, then about ``n_rows / 100`` rounded to a power of
    two, at most 512 (so an epoch takes about 100 steps): per-step dispatch,
    not arithmetic, is the cost of a small network's step on a CPU
    (``benchmarks/medium_table.py``). The rule the main job's table defaults
    use.
    """
    if n_rows <= 3200:
        return 32
    return int(min(512, 2 ** round(math.log2(n_rows / 100))))


def auto_batch_learning_rate(learning_rate, batch_size):
    """The learning rate ``batch_size="auto"`` trains with at ``batch_size``.

    ``learning_rate`` is read as the rate for a batch of 32 and multiplied by
    ``sqrt(batch_size / 32)``, which keeps the noise of the updates about
    what it is at batch 32 (at 32 the rate is unchanged). Without it the
    larger batches of a large table lost accuracy on a one-hot table
    (``benchmarks/results/estimator_defaults_large_select_round2.md``).
    """
    return float(learning_rate) * math.sqrt(batch_size / 32)


def check_training_backend():
    """Raise ``ValueError`` when Keras's backend cannot train.

    Keras's NumPy backend computes predictions only (``deepstack predict``
    uses it); without this check a fit on it fails deep inside Keras with an
    error that does not name the cause.
    """
    backend = keras.backend.backend()
    if backend == "numpy":
        raise ValueError(
            "Keras is loaded with its numpy backend, which predicts but cannot "
            "train; set KERAS_BACKEND to tensorflow, jax or torch before Keras "
            "is imported."
        )


def jit_compile():
    """The ``jit_compile`` every deepstack model is compiled with.

    Chosen explicitly rather than left to Keras's ``"auto"``, which picks XLA
    on TensorFlow whenever a GPU is visible: the fused epoch loop
    (:mod:`deepstack._trainer`) runs TensorFlow as a graph ``tf.function``
    without XLA (an XLA-compiled epoch, tried, was far slower on a CPU: its
    batch slices have dynamic shapes), so "auto" sent every default TensorFlow fit on a
    GPU back to ``Model.fit``. JAX keeps "auto" (``jax.jit``, which its fused
    epoch needs).
    """
    return False if keras.backend.backend() == "tensorflow" else "auto"


def build_optimizer(model):
    """Create ``model``'s optimizer variables now, outside any traced function.

    Keras otherwise creates them inside the first traced training step, where
    TensorFlow wraps each initializer in a graph conditional that it never
    frees: about 2-3 MB per fit for the default network, and the bulk of the
    memory a long run of fits (a search, a grid search) would keep
    (``benchmarks/memory.py``).
    """
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def make_optimizer(
    name,
    learning_rate,
    *,
    momentum=0.9,
    nesterov=False,
    clipnorm=None,
):
    """A fresh Keras optimizer from its short name."""
    kwargs = {"learning_rate": float(learning_rate)}
    if clipnorm is not None:
        kwargs["clipnorm"] = float(clipnorm)
    if name == "sgd":
        return keras.optimizers.SGD(
            momentum=float(momentum), nesterov=bool(nesterov), **kwargs
        )
    if name == "adagrad":
        return keras.optimizers.Adagrad(**kwargs)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**kwargs)
    if name == "adam":
        return keras.optimizers.Adam(**kwargs)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {name!r}.")
