"""Greedy layer-wise pretraining of a stack of autoencoders.

Layer ``k`` is a one-hidden-layer autoencoder (Glorot-uniform encoder with a
zero bias, tied or free decoder) trained to reconstruct the codes of the
frozen layers ``1..k-1``. Those codes are computed once per layer, as NumPy
arrays, and reused for every epoch of the layer above: the lower stack never
runs inside the training loop, so pretraining ``L`` layers costs ``L`` times
the cost of one layer (for equal widths), not ``L (L + 1) / 2``.

This module is pure Keras plus NumPy. ``StackedAutoencoder`` and the
supervised estimators (``pretrain=...``) both use :func:`pretrain_stack`.
"""

import time
from dataclasses import dataclass, field

import keras
import numpy as np

from deepstack import _network, _random, _split, _trainer
from deepstack.callbacks import EarlyStopping, TimeLimit
from deepstack.layers import GaussianNoise, MaskingNoise, TiedDense, TiedModel

LOSSES = ("auto", "cross_entropy", "squared_error")
CORRUPTIONS = ("mask", "gaussian")
PRETRAIN = ("autoencoder", "denoising")
FINETUNE = ("all", "head")


def check_noise_level(corruption, noise_level, *, names=("corruption", "noise_level")):
    """Raise ``ValueError`` for a noise level the corruption cannot apply.

    ``names``: the parameters as the caller's user spells them (an
    estimator's ``pretrain_corruption``, ``pretrain_noise_level``). With
    "mask" the level is the fraction of inputs zeroed, below 1 (1 would zero
    every input and leave nothing to reconstruct from); with "gaussian" it is
    a standard deviation, any value >= 0.
    """
    corruption_name, level_name = names
    if corruption == "mask" and noise_level >= 1.0:
        raise ValueError(
            f"{level_name}={noise_level!r} with {corruption_name}='mask' is the "
            "fraction of the inputs zeroed, which must be in [0, 1) (1 zeroes "
            f"every input): lower {level_name}, or set {corruption_name}="
            "'gaussian', where it is the standard deviation of added noise."
        )


@dataclass
class PretrainedLayer:
    """Weights and training record of one pretrained autoencoder.

    ``kernel`` has shape ``(n_inputs, units)``; ``decoder_kernel`` is None for
    tied weights (the decoder then uses ``kernel.T``). ``preactivation_mean``
    and ``preactivation_var`` are the statistics of ``inputs @ kernel`` over
    the pretraining rows, used to initialize a batch-normalized network so
    that it computes the pretrained codes exactly.
    """

    kernel: np.ndarray
    bias: np.ndarray
    decoder_kernel: np.ndarray | None
    decoder_bias: np.ndarray
    loss: str
    preactivation_mean: np.ndarray
    preactivation_var: np.ndarray
    history: dict = field(default_factory=dict)

    @property
    def output_activation(self):
        """Activation of the reconstruction: sigmoid for cross-entropy."""
        return "sigmoid" if self.loss == "cross_entropy" else None


# ------------------------------------------------------------------ checks


def check_finite(
    X,
    what="X",
    advice="impute them first, e.g. with sklearn.impute.SimpleImputer",
):
    """Raise ``ValueError`` naming the rows if ``X`` holds NaN or infinite
    values; ``what`` names ``X`` and ``advice`` says what to do."""
    if not np.all(np.isfinite(X)):
        bad = np.flatnonzero(~np.all(np.isfinite(X), axis=1))
        raise ValueError(
            f"{what} holds NaN or infinite values (rows {bad[:10].tolist()}"
            f"{'...' if bad.size > 10 else ''}); {advice}."
        )


def in_unit_interval(X):
    """Whether every value of ``X`` lies in [0, 1]."""
    return bool(X.size) and float(np.min(X)) >= 0.0 and float(np.max(X)) <= 1.0


def unit_scaled(X):
    """The rule of every "auto" that reads ``X`` as probability-like (a
    sigmoid reconstruction with cross-entropy, no standardization): every
    value lies in [0, 1] and the largest is 0.5 at least.

    Values in [0, 1] that all stay small (frequencies of 0.01 at most, a
    column of zeros and tiny values) are no such scale: left unstandardized
    with a sigmoid output, an autoencoder reconstructed them with an error
    thousands of times their variance; standardized, as other data.
    """
    return in_unit_interval(X) and float(np.max(X)) >= 0.5


def resolve_loss(loss, X, layer=1):
    """The reconstruction loss of one layer: "cross_entropy" or "squared_error".

    "auto" picks cross-entropy (with a sigmoid reconstruction) when the
    layer's inputs are probability-like (:func:`unit_scaled`: every value in
    [0, 1], the largest 0.5 at least) and squared error (with a linear
    reconstruction) otherwise. An explicit "cross_entropy" on inputs outside
    [0, 1] is an error: the sigmoid output could never reach them.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}.")
    if loss == "auto":
        return "cross_entropy" if unit_scaled(X) else "squared_error"
    unit = in_unit_interval(X)
    if loss == "cross_entropy" and not unit:
        source = "X" if layer == 1 else f"the codes of layer {layer - 1}"
        raise ValueError(
            f"loss='cross_entropy' needs inputs in [0, 1], but the inputs of "
            f"layer {layer} ({source}) range over [{float(np.min(X)):.4g}, "
            f"{float(np.max(X)):.4g}]. Scale X to [0, 1] (e.g. MinMaxScaler, "
            "and standardize=False), use a sigmoid activation for the layers "
            "below, or use loss='auto' / 'squared_error'."
        )
    return loss


# --------------------------------------------------------------- training


def _autoencoder(
    n_inputs,
    units,
    *,
    activation,
    corruption,
    noise_level,
    sparsity,
    tied_weights,
    seed,
):
    """One autoencoder for training (linear reconstruction: the sigmoid of
    cross-entropy lives in the loss, ``from_logits=True``, for stability)."""
    seeds = np.random.RandomState(seed).randint(0, 2**31 - 1, size=3)
    inputs = keras.Input(shape=(n_inputs,), name="codes_below")
    x = inputs
    if corruption == "mask" and noise_level > 0:
        x = MaskingNoise(noise_level, seed=int(seeds[0]), name="corrupt")(x)
    elif corruption == "gaussian" and noise_level > 0:
        # deepstack's layer: Keras's refuses a standard deviation above 1.
        x = GaussianNoise(noise_level, seed=int(seeds[0]), name="corrupt")(x)
    encoder = keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=_network.glorot_uniform(int(seeds[1])),
        bias_initializer="zeros",
        name="encoder",
    )
    codes = encoder(x)
    if sparsity:
        codes = keras.layers.ActivityRegularization(
            l1=float(sparsity), name="sparsity"
        )(codes)
    if tied_weights:
        decoder = TiedDense(encoder, name="decoder")
    else:
        decoder = keras.layers.Dense(
            n_inputs,
            kernel_initializer=_network.glorot_uniform(int(seeds[2])),
            bias_initializer="zeros",
            name="decoder",
        )
    outputs = decoder(codes)
    return TiedModel(inputs, outputs, name="autoencoder"), encoder, decoder


def _keras_loss(loss):
    if loss == "cross_entropy":
        return keras.losses.BinaryCrossentropy(from_logits=True)
    return keras.losses.MeanSquaredError()


def encode(X, kernel, bias, activation):
    """Codes ``activation(X @ kernel + bias)`` as float32 NumPy, in chunks."""
    act = keras.activations.get(activation)
    chunks = []
    for i in range(0, X.shape[0], _network.CHUNK_ROWS):
        z = X[i : i + _network.CHUNK_ROWS] @ kernel + bias
        chunks.append(keras.ops.convert_to_numpy(act(keras.ops.convert_to_tensor(z))))
    return np.concatenate(chunks, axis=0).astype(np.float32, copy=False)


def pretrain_stack(
    X,
    hidden_layer_sizes,
    *,
    activation="relu",
    corruption=None,
    noise_level=0.0,
    sparsity=0.0,
    tied_weights=True,
    loss="auto",
    optimizer="adam",
    learning_rate=1e-3,
    batch_size=32,
    epochs=20,
    early_stopping=True,
    validation_fraction=0.1,
    patience=5,
    tol=1e-4,
    seed=None,
    verbose=0,
    callbacks=(),
    deadline=None,
):
    """Greedily train one autoencoder per entry of ``hidden_layer_sizes``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs of the first layer (already scaled as the network will see
        them).
    hidden_layer_sizes : sequence of int
        Units of each layer, bottom first.
    activation : str
        Keras activation of the codes.
    corruption : {"mask", "gaussian"} or None
        Denoising corruption of each layer's input during training: zero a
        fraction ``noise_level`` of the inputs, or add Gaussian noise of
        standard deviation ``noise_level``.
    noise_level : float
        Strength of the corruption.
    sparsity : float
        L1 penalty on the codes (``sparsity`` times the per-sample L1 norm of
        the codes, averaged over the batch).
    tied_weights : bool
        Decode with the transpose of the encoder's kernel.
    loss : {"auto", "cross_entropy", "squared_error"}
        Reconstruction loss, chosen per layer (see :func:`resolve_loss`).
    optimizer, learning_rate, batch_size, epochs : see ``StackedAutoencoder``
        Per-layer training settings.
    early_stopping : bool
        Hold out ``validation_fraction`` of the rows (the same rows at every
        layer), stop after ``patience`` epochs without an improvement of the
        validation reconstruction loss by more than ``tol``, keep the best
        weights.
    seed : int or None
        Seeds the split, the initial weights and the corruption.
    verbose : int
        Keras progress output.
    callbacks : sequence of keras.callbacks.Callback
        Follow each layer's training (epoch-level hooks keep the fused loop).
        Before layer ``k`` of ``n`` starts, a callback that has a method
        ``on_pretrain_layer_begin(k, n, epochs)`` is told.
    deadline : float or None
        A ``time.time()`` past which pretraining stops: the layer in training
        stops at the end of its epoch (its history's ``cut_short`` is True)
        and the layers above it are not pretrained (fewer layers returned).

    Returns
    -------
    layers : list of PretrainedLayer
    """
    sizes = _network.check_hidden_layer_sizes(hidden_layer_sizes, allow_empty=False)
    if corruption is not None and corruption not in CORRUPTIONS:
        raise ValueError(
            f"corruption must be one of {CORRUPTIONS} or None; got {corruption!r}."
        )
    X = np.asarray(X, dtype=np.float32)
    check_finite(X)
    rng = np.random.RandomState(seed)
    if seed is not None:
        # Seeds the shuffling of ``fit`` (the backend's global generator).
        _random.seed_backend(int(rng.randint(0, 2**31 - 1)))
    split_seed, *layer_seeds = (
        int(s) for s in rng.randint(0, 2**31 - 1, size=len(sizes) + 1)
    )
    val_rows = _held_out_rows(
        X.shape[0], early_stopping, validation_fraction, split_seed
    )
    settings = dict(
        activation=activation,
        corruption=corruption,
        noise_level=float(noise_level),
        sparsity=float(sparsity),
        tied_weights=tied_weights,
        loss=loss,
        optimizer=optimizer,
        learning_rate=learning_rate,
        batch_size=batch_size,
        epochs=epochs,
        patience=patience,
        tol=tol,
        verbose=verbose,
        deadline=deadline,
    )
    layers, inputs = [], X
    for k, (units, layer_seed) in enumerate(zip(sizes, layer_seeds), start=1):
        if k > 1 and deadline is not None and time.time() >= deadline:
            break
        for callback in callbacks:
            if hasattr(callback, "on_pretrain_layer_begin"):
                callback.on_pretrain_layer_begin(k, len(sizes), epochs)
        layer, inputs = _pretrain_layer(
            inputs,
            units,
            k,
            val_rows=val_rows,
            seed=layer_seed,
            followers=list(callbacks),
            **settings,
        )
        layers.append(layer)
    return layers


def _held_out_rows(n, early_stopping, validation_fraction, seed):
    """``(train rows, validation rows)`` shared by every layer, or
    ``(None, None)`` without early stopping or with too few rows."""
    n_val = _split.n_validation(n, validation_fraction)
    if not early_stopping or n < 2 or n - n_val < 1:
        return None, None
    train, val = _split.train_validation_split(np.arange(n), n_val=n_val, seed=seed)
    return train[0], val[0]


def _pretrain_layer(
    inputs,
    units,
    k,
    *,
    val_rows,
    seed,
    activation,
    corruption,
    noise_level,
    sparsity,
    tied_weights,
    loss,
    optimizer,
    learning_rate,
    batch_size,
    epochs,
    patience,
    tol,
    verbose,
    followers,
    deadline,
):
    """Train layer ``k`` on ``inputs`` (the codes of the layers below);
    return its :class:`PretrainedLayer` and its codes (the next inputs)."""
    started = time.perf_counter()
    layer_loss = resolve_loss(loss, inputs, layer=k)
    model, encoder, decoder = _autoencoder(
        inputs.shape[1],
        units,
        activation=activation,
        corruption=corruption,
        noise_level=noise_level,
        sparsity=sparsity,
        tied_weights=tied_weights,
        seed=seed,
    )
    model.compile(
        optimizer=_network.make_optimizer(optimizer, learning_rate),
        loss=_keras_loss(layer_loss),
        jit_compile=_network.jit_compile(),
    )
    train_rows, held_out_rows = val_rows
    callbacks, validation, train = [], None, inputs
    if held_out_rows is not None:
        train = inputs[train_rows]
        held_out = inputs[held_out_rows]
        validation = (held_out, held_out, None)
        callbacks.append(
            EarlyStopping(
                monitor="val_loss",
                patience=patience,
                tol=tol,
                restore_best_weights=True,
            )
        )
    limit = [] if deadline is None else [TimeLimit(deadline)]
    history = _trainer.train(
        model,
        (train, train, None),
        validation,
        batch_size=batch_size,
        epochs=epochs,
        callbacks=[*callbacks, *limit, *followers],
        verbose=verbose,
        seed=seed,
    )
    fitted = time.perf_counter()
    layer, codes = _extract_layer(
        inputs, encoder, decoder, layer_loss, activation, tied_weights, k
    )
    encoded = time.perf_counter()
    record = {key: [float(v) for v in values] for key, values in history.items()}
    monitor = record.get("val_loss", record.get("loss", []))
    best = callbacks[0].best_epoch if callbacks else len(monitor) - 1
    record.update(
        layer=k,
        units=int(units),
        n_inputs=int(inputs.shape[1]),
        n_samples=int(inputs.shape[0]),
        loss_function=layer_loss,
        n_epochs=len(record.get("loss", [])),
        best_epoch=int(best),
        fit_seconds=fitted - started,
        encode_seconds=encoded - fitted,
        cut_short=bool(limit and limit[0].stopped_epoch >= 0),
    )
    layer.history = record
    return layer, codes


def _extract_layer(inputs, encoder, decoder, loss, activation, tied_weights, k):
    """The trained weights as a :class:`PretrainedLayer`, and the codes of
    ``inputs`` (checked finite)."""
    kernel = keras.ops.convert_to_numpy(encoder.kernel)
    bias = keras.ops.convert_to_numpy(encoder.bias)
    decoder_kernel = (
        None if tied_weights else keras.ops.convert_to_numpy(decoder.kernel)
    )
    preactivation = inputs @ kernel
    codes = encode(inputs, kernel, bias, activation)
    if not np.all(np.isfinite(codes)):
        raise FloatingPointError(
            f"Pretraining layer {k} diverged (non-finite codes); lower the "
            "pretraining learning rate."
        )
    layer = PretrainedLayer(
        kernel=kernel,
        bias=bias,
        decoder_kernel=decoder_kernel,
        decoder_bias=keras.ops.convert_to_numpy(decoder.bias),
        loss=loss,
        preactivation_mean=preactivation.mean(axis=0),
        preactivation_var=preactivation.var(axis=0),
    )
    return layer, codes


# ------------------------------------------------ supervised estimators


def unlabeled_outnumber(n_unlabeled, n_labeled):
    """The rule of ``pretrain="auto"`` (and of the classifier's
    ``semi_supervised="auto"``, and of the main job): learn from the
    unlabeled rows when they outnumber the labeled ones.

    >>> unlabeled_outnumber(300, 113), unlabeled_outnumber(50, 50)
    (True, False)
    """
    return n_unlabeled > n_labeled


def split_unlabeled(mask, X, y, sample_weight):
    """Separate the unlabeled rows (``mask`` True) from the labeled ones.

    ``mask`` is None when every row is labeled; the caller refuses a
    ``mask`` of all rows (its message names how its targets mark them).
    Returns ``X, y, sample_weight`` of the labeled rows and the unlabeled
    inputs (None when every row is labeled). Unlabeled rows only feed the
    pretraining; fine-tuning, the validation split and scores use the rest.
    """
    if mask is None or not np.any(mask):
        return X, y, sample_weight, None
    keep = ~mask
    if sample_weight is not None and np.ndim(sample_weight) == 1:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.shape[0] == mask.shape[0]:
            sample_weight = sample_weight[keep]
    return X[keep], y[keep], sample_weight, X[mask]


def _network_inputs(model, X):
    """``X`` as the first hidden layer sees it (after the network's
    in-model standardization, if any)."""
    names = {layer.name for layer in model.layers}
    if _network.STANDARDIZE not in names:
        return np.asarray(X, dtype=np.float32)
    layer = model.get_layer(_network.STANDARDIZE)
    out = [
        keras.ops.convert_to_numpy(layer(X[i : i + _network.CHUNK_ROWS]))
        for i in range(0, X.shape[0], _network.CHUNK_ROWS)
    ]
    return np.concatenate(out, axis=0).astype(np.float32, copy=False)


@dataclass(frozen=True)
class PretrainConfig:
    """The pretraining settings of a supervised estimator, as plain values.

    ``kind`` is "autoencoder" or "denoising"; ``n_layers`` None pretrains
    every hidden layer. The other fields are :func:`pretrain_stack`'s
    arguments (``patience`` is the estimator's ``n_iter_no_change``;
    ``deadline`` the earliest of the estimator's ``TimeLimit`` callbacks) and
    ``finetune`` ("all" or "head") says which layers fine-tuning trains.
    """

    kind: str
    n_layers: int | None = None
    activation: str = "relu"
    corruption: str = "mask"
    noise_level: float = 0.2
    sparsity: float = 0.0
    tied_weights: bool = True
    loss: str = "auto"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    batch_size: int = 32
    epochs: int = 20
    early_stopping: bool = True
    validation_fraction: float = 0.1
    patience: int = 10
    tol: float = 1e-4
    verbose: int = 0
    finetune: str = "all"
    deadline: float | None = None


def initialize_network(config, model, X, seed, callbacks=()):
    """Pretrain ``model``'s hidden layers on ``X`` and copy the weights in.

    ``config`` is a :class:`PretrainConfig`. Returns the per-layer pretraining
    histories. With batch normalization the hidden ``Dense`` layers have no
    bias; the batch-norm layer is then set so that, at inference, it adds
    exactly the pretrained bias (moving statistics = those of the pretrained
    pre-activations, ``gamma`` = their standard deviation, ``beta`` = mean +
    bias): the initialized network computes the pretrained codes. With
    ``config.finetune == "head"`` the pretrained layers are frozen; Keras
    reads ``trainable`` at compile time, so the caller compiles ``model``
    again. ``callbacks`` follow each layer's training (see
    :func:`pretrain_stack`).
    """
    hidden = _network.hidden_layers(model)
    n_layers = config.n_layers or len(hidden)
    layers = pretrain_stack(
        _network_inputs(model, X),
        [dense.units for dense in hidden[:n_layers]],
        activation=config.activation,
        corruption=config.corruption if config.kind == "denoising" else None,
        noise_level=config.noise_level,
        sparsity=config.sparsity,
        tied_weights=config.tied_weights,
        loss=config.loss,
        optimizer=config.optimizer,
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        epochs=config.epochs,
        early_stopping=config.early_stopping,
        validation_fraction=config.validation_fraction,
        patience=config.patience,
        tol=config.tol,
        seed=seed,
        verbose=config.verbose,
        callbacks=callbacks,
        deadline=config.deadline,
    )
    names = {layer.name for layer in model.layers}
    for i, (dense, pre) in enumerate(zip(hidden, layers), start=1):
        _copy_pretrained(model, names, i, dense, pre)
    if config.finetune == "head":
        for i in range(1, len(layers) + 1):
            for name in (_network.HIDDEN.format(i), _network.BATCH_NORM.format(i)):
                if name in names:
                    model.get_layer(name).trainable = False
    return [layer.history for layer in layers]


def _copy_pretrained(model, names, i, dense, pre):
    """Set hidden layer ``i`` (and its batch normalization) from ``pre``."""
    dense.kernel.assign(pre.kernel)
    if dense.use_bias:
        dense.bias.assign(pre.bias)
    if _network.BATCH_NORM.format(i) not in names:
        return
    bn = model.get_layer(_network.BATCH_NORM.format(i))
    std = np.sqrt(pre.preactivation_var + bn.epsilon)
    bn.moving_mean.assign(pre.preactivation_mean)
    bn.moving_variance.assign(pre.preactivation_var)
    if bn.scale:
        bn.gamma.assign(std)
    else:
        bn.moving_variance.assign(np.ones_like(std) - bn.epsilon)
    if bn.center:
        bn.beta.assign(pre.preactivation_mean + pre.bias)
