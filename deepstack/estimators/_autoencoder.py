"""StackedAutoencoder: greedy layer-wise (denoising) autoencoders as a transformer."""

from numbers import Integral, Real

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from deepstack import _network, _pretraining, _random
from deepstack._compat import Interval, StrOptions
from deepstack.estimators._base import _ModelBytes
from deepstack.estimators._checks import validated
from deepstack.estimators._rollback import rolls_back_on_exception
from deepstack.layers import TiedDense, TiedModel

_DECODER = "decoder_{}"


class StackedAutoencoder(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Stacked (denoising, sparse) autoencoder trained greedily, layer by layer.

    Layer ``k`` is a one-hidden-layer autoencoder trained to reconstruct the
    codes of the frozen layers ``1..k-1``; each layer's codes are computed
    once and reused, so the cost grows linearly with the depth. Encoders have
    Glorot-uniform weights and zero biases; decoders use the transpose of
    their encoder's kernel (``tied_weights=True``) and a bias of their own.

    ``transform`` returns the codes of the top layer, ``inverse_transform``
    decodes codes back through every decoder to the input space and
    ``score`` is the negative mean squared reconstruction error.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Units of each encoder, bottom first. The last is the output width of
        ``transform``.
    activation : {"relu", "sigmoid", "tanh", "elu", "selu", "gelu", "linear"}, \
default="relu"
        Activation of the codes.
    corruption : {"mask", "gaussian"} or None, default=None
        Denoising: during training, zero a random fraction ``noise_level`` of
        each layer's inputs ("mask") or add Gaussian noise of standard
        deviation ``noise_level`` ("gaussian"). None: a plain autoencoder.
    noise_level : float >= 0, default=0.2
        Strength of the corruption: with "mask" a fraction in [0, 1) (1 is
        refused: nothing would be left to reconstruct from), with
        "gaussian" a standard deviation, any value (above 1 too: on
        standardized inputs, 1 is noise as large as the signal; inputs in
        [0, 1], which ``standardize="auto"`` leaves as they are, need less).
    sparsity : float >= 0, default=0.0
        L1 penalty on the codes (``sparsity`` times the per-sample L1 norm of
        the codes, averaged over the batch).
    tied_weights : bool, default=True
        Decode with the transpose of the encoder's kernel.
    loss : {"auto", "cross_entropy", "squared_error"}, default="auto"
        Reconstruction loss of each layer. "auto": a sigmoid reconstruction
        with binary cross-entropy when every input of the layer lies in
        [0, 1] and the largest is 0.5 at least, a linear one with squared
        error otherwise. "cross_entropy" on inputs outside [0, 1] raises
        ``ValueError``.
    optimizer : {"adam", "sgd", "adagrad", "rmsprop"}, default="adam"
        Optimizer of each layer.
    learning_rate : float > 0, default=1e-3
        Learning rate of each layer.
    batch_size : int, default=32
        Mini-batch size.
    epochs : int, default=50
        Most epochs per layer.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows (the same rows at every
        layer) and stop a layer after ``n_iter_no_change`` epochs without an
        improvement of its validation reconstruction loss by more than
        ``tol``, keeping its best weights.
    validation_fraction : float in (0, 1), default=0.1
        Share of the rows held out for early stopping.
    n_iter_no_change : int, default=5
        Patience of early stopping, in epochs.
    tol : float >= 0, default=1e-4
        Smallest improvement of the validation loss that counts.
    standardize : {"auto"} or bool, default="auto"
        Standardize the inputs (training mean and standard deviation) before
        the first layer. "auto" standardizes unless every input already lies
        in [0, 1] and the largest is 0.5 at least: such data (pixel
        intensities, proportions, one-hot features) keeps its scale so that
        the cross-entropy loss applies and masking noise sets inputs to
        "absent" (0); any other data, small values in [0, 1] too (all below
        0.5), is put on a common scale, which gradient training needs.
    random_state : int, RandomState instance or None, default=None
        Seeds the split, the weights and the noise.
    verbose : int, default=0
        Keras progress output.

    Attributes
    ----------
    autoencoder_ : keras.Model
        The full stack: [standardize] -> encoders ``hidden_1..L`` -> decoders
        ``decoder_L..1`` (in the standardized space when ``standardize_``).
    encoder_ : keras.Model
        Inputs to top codes (shares its layers with ``autoencoder_``).
    decoder_ : keras.Model
        Top codes to (standardized) reconstruction.
    standardize_ : bool
        Whether the inputs were standardized.
    mean_, scale_ : ndarray of shape (`n_features_in_`,)
        Standardization statistics (0 and 1 when not standardized).
    constant_columns_ : ndarray of int
        The columns constant at fit (standard deviation 0): they carry
        nothing to learn, and ``inverse_transform`` reconstructs each as its
        value there, exactly (``constant_values_``).
    constant_values_ : ndarray of float
        The value of each of ``constant_columns_`` at fit.
    pretraining_history_ : list of dict
        One dict per layer: per-epoch ``loss`` (and ``val_loss``), the
        ``loss_function`` used, ``n_epochs``, ``best_epoch``, ``fit_seconds``
        and ``encode_seconds``.
    reconstruction_error_ : float
        Mean squared reconstruction error of the training data (input units).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepstack import StackedAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> sae = StackedAutoencoder((32, 8), epochs=3, random_state=0).fit(X)
    >>> sae.transform(X[:5]).shape
    (5, 8)
    """

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(_network.ACTIVATIONS))],
        "corruption": [StrOptions(set(_pretraining.CORRUPTIONS)), None],
        "noise_level": [Interval(Real, 0.0, None, closed="left")],
        "sparsity": [Interval(Real, 0.0, None, closed="left")],
        "tied_weights": ["boolean"],
        "loss": [StrOptions(set(_pretraining.LOSSES))],
        "optimizer": [StrOptions(set(_network.OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0.0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "standardize": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        *,
        corruption=None,
        noise_level=0.2,
        sparsity=0.0,
        tied_weights=True,
        loss="auto",
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=32,
        epochs=50,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        standardize="auto",
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.corruption = corruption
        self.noise_level = noise_level
        self.sparsity = sparsity
        self.tied_weights = tied_weights
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose

    def _validate_params(self):
        # Besides the constraints: a noise level the corruption cannot apply
        # (also refused where a search checks its space's values).
        super()._validate_params()
        _pretraining.check_noise_level(self.corruption, self.noise_level)

    # ------------------------------------------------------------- public API

    @rolls_back_on_exception
    def fit(self, X, y=None):
        """Pretrain the stack greedily on ``X``.

        Ctrl-C (``KeyboardInterrupt``) leaves the estimator as it was before
        the call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : None
            Ignored (present for the Pipeline API).

        Returns
        -------
        self : object
        """
        self._validate_params()
        _network.check_training_backend()
        sizes = _network.check_hidden_layer_sizes(
            self.hidden_layer_sizes, allow_empty=False
        )
        X = self._validate_X(X, reset=True)
        self.constant_columns_ = np.flatnonzero(np.all(X == X[:1], axis=0))
        self.constant_values_ = X[0, self.constant_columns_].astype(np.float64)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        _random.seed_backend(seed)

        if self.standardize == "auto":
            self.standardize_ = not _pretraining.unit_scaled(X)
        else:
            self.standardize_ = bool(self.standardize)
        if self.standardize_:
            mean, variance = _network.input_statistics(
                X, getattr(self, "feature_names_in_", None)
            )
            self.mean_, self.scale_ = mean, np.sqrt(variance)
        else:
            self.mean_ = np.zeros(X.shape[1], dtype=np.float32)
            self.scale_ = np.ones(X.shape[1], dtype=np.float32)

        layers = _pretraining.pretrain_stack(
            (X - self.mean_) / self.scale_,
            sizes,
            activation=self.activation,
            corruption=self.corruption,
            noise_level=self.noise_level,
            sparsity=self.sparsity,
            tied_weights=self.tied_weights,
            loss=self.loss,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            epochs=self.epochs,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            patience=self.n_iter_no_change,
            tol=self.tol,
            seed=seed,
            verbose=self.verbose,
        )
        self.autoencoder_ = self._assemble(X.shape[1], layers)
        self._set_views()
        self.pretraining_history_ = [layer.history for layer in layers]
        self._n_features_out = sizes[-1]
        # From the validated array: ``score`` would validate it again and
        # warn that it lacks the feature names of a DataFrame.
        self.reconstruction_error_ = self._reconstruction_error(X)
        return self

    def transform(self, X):
        """Codes of the top layer, shape (n_samples, hidden_layer_sizes[-1])."""
        check_is_fitted(self, "autoencoder_")
        return _network.forward(self.encoder_, self._validate_X(X))

    def inverse_transform(self, X):
        """Decode top-layer codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, hidden_layer_sizes[-1])
            Codes, e.g. from ``transform``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, `n_features_in_`)
        """
        check_is_fitted(self, "autoencoder_")
        if sp.issparse(X):
            raise TypeError(
                "inverse_transform takes dense codes (transform returns a dense "
                "array); got a sparse matrix: pass X.toarray()."
            )
        try:
            codes = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            # NumPy's own words ("could not convert string to float", "setting
            # an array element with a sequence") name neither the method nor
            # what it takes.
            raise ValueError(
                "inverse_transform expects numeric codes of shape (n_samples, "
                f"{self._n_features_out}), e.g. from transform; they do not "
                f"convert to numbers: {exc}"
            ) from exc
        if codes.ndim != 2 or codes.shape[1] != self._n_features_out:
            raise ValueError(
                f"inverse_transform expects codes of shape (n_samples, "
                f"{self._n_features_out}); got shape {codes.shape}."
            )
        if codes.shape[0] == 0:
            # As transform (scikit-learn's check) refuses X of 0 rows.
            raise ValueError(
                f"inverse_transform got 0 rows of codes (shape {codes.shape}); "
                "a minimum of 1 is required, as for transform."
            )
        _pretraining.check_finite(
            codes,
            "inverse_transform's input",
            "codes from transform are finite: pass those, or impute the others",
        )
        return self._decoded(codes)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error of ``X`` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "autoencoder_")
        return -self._reconstruction_error(self._validate_X(X))

    # --------------------------------------------------------------- helpers

    def _validate_X(self, X, *, reset=False):
        X = validated(self, X, reset=reset)
        _pretraining.check_finite(X)
        return np.asarray(X)

    def _reconstruction_error(self, X):
        """Mean squared reconstruction error of a validated ``X``."""
        reconstruction = self._decoded(_network.forward(self.encoder_, X))
        return float(np.mean((X - reconstruction) ** 2))

    def _decoded(self, codes):
        """The reconstruction of ``codes`` in input units, the columns
        constant at fit set to their value there (the network's output for
        them is only near it; an autoencoder saved before has none)."""
        out = _network.forward(self.decoder_, codes) * self.scale_ + self.mean_
        constant = getattr(self, "constant_columns_", ())
        if len(constant):
            out[:, constant] = self.constant_values_
        return out

    def _assemble(self, n_features, layers):
        """The whole stack as one Keras model, weights from ``layers``."""
        inputs = keras.Input(shape=(n_features,), name="features")
        x = inputs
        if self.standardize_:
            x = keras.layers.Normalization(
                mean=self.mean_, variance=self.scale_**2, name=_network.STANDARDIZE
            )(x)
        encoders = []
        for i, layer in enumerate(layers, start=1):
            # Zeros, not Keras's unseeded default: the pretrained weights
            # replace them, and an unseeded initializer draws from the
            # user's process-wide ``random`` generator.
            dense = keras.layers.Dense(
                layer.kernel.shape[1],
                activation=self.activation,
                kernel_initializer="zeros",
                name=_network.HIDDEN.format(i),
            )
            x = dense(x)
            dense.set_weights([layer.kernel, layer.bias])
            encoders.append(dense)
        for i in range(len(layers), 0, -1):
            layer, encoder = layers[i - 1], encoders[i - 1]
            name = _DECODER.format(i)
            if layer.decoder_kernel is None:
                decoder = TiedDense(
                    encoder, activation=layer.output_activation, name=name
                )
                x = decoder(x)
                decoder.set_weights([layer.decoder_bias])
            else:
                decoder = keras.layers.Dense(
                    layer.decoder_kernel.shape[1],
                    activation=layer.output_activation,
                    kernel_initializer="zeros",
                    name=name,
                )
                x = decoder(x)
                decoder.set_weights([layer.decoder_kernel, layer.decoder_bias])
        return TiedModel(inputs, x, name="stacked_autoencoder")

    def _set_views(self):
        model = self.autoencoder_
        n_layers = len(_network.hidden_layers(model))
        top = model.get_layer(_network.HIDDEN.format(n_layers))
        self.encoder_ = keras.Model(model.input, top.output, name="encoder")
        codes = keras.Input(shape=(top.units,), name="codes")
        x = codes
        for i in range(n_layers, 0, -1):
            x = model.get_layer(_DECODER.format(i))(x)
        self.decoder_ = TiedModel(codes, x, name="decoder")

    # ------------------------------------------------------------- pickling

    def __getstate__(self):
        state = dict(super().__getstate__())
        if "autoencoder_" in state:
            state["autoencoder_"] = _ModelBytes.from_model(state["autoencoder_"])
        state.pop("encoder_", None)
        state.pop("decoder_", None)
        return state

    def __setstate__(self, state):
        model = state.get("autoencoder_")
        if isinstance(model, _ModelBytes):
            state["autoencoder_"] = model.to_model()
        super().__setstate__(state)
        if "autoencoder_" in state:
            self._set_views()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.non_deterministic = False
        return tags
