"""The fit machinery shared by deepstack's supervised estimators.

``BaseDeepStack`` owns the public ``fit`` / ``partial_fit`` / ``predict``
template; subclasses fill the private hooks (``_encode_target``,
``_output_spec``, ``_decode_output``). Training goes through one seam,
``_train``, which today calls ``keras.Model.fit``.
"""

import copy
import functools
import math
import os
import tempfile
import warnings
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from deepstack import _lr_finder, _network, _pretraining, _trainer
from deepstack.callbacks import (
    DivergenceError,
    DivergenceGuard,
    EarlyStopping,
    EpochTensorBoard,
    LearningRateDecay,
    LearningRateHalving,
    LearningRateRecorder,
    ValidationScore,
    set_population_statistics,
)
from deepstack.callbacks._monitor import set_learning_rate

_PREDICT_BATCH_SIZE = 4096


def _check_structured_params(estimator):
    """Checks that scikit-learn's constraint strings cannot express."""
    sizes = estimator.hidden_layer_sizes
    try:
        sizes = list(sizes)
    except TypeError:
        sizes = None
    if sizes is None or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise ValueError(
            "hidden_layer_sizes must be a sequence of positive integers, e.g. "
            f"(256, 256); got {estimator.hidden_layer_sizes!r}."
        )
    if estimator.monitor not in estimator._monitors:
        raise ValueError(
            f"monitor must be one of {estimator._monitors} for "
            f"{type(estimator).__name__}; got {estimator.monitor!r}."
        )
    callbacks = estimator.callbacks
    if callbacks is not None and not all(
        isinstance(cb, keras.callbacks.Callback) for cb in callbacks
    ):
        raise TypeError(
            "callbacks must be None or a list of keras.callbacks.Callback "
            f"instances; got {callbacks!r}."
        )


class BaseDeepStack(BaseEstimator):
    """Common parameters and the fit template of deepstack's estimators.

    Not meant to be used directly; see ``DeepStackClassifier`` and
    ``DeepStackRegressor`` for the parameter documentation.
    """

    # Validation quantities the subclass logs and ``monitor`` may name.
    _monitors = ("val_loss",)

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [
            StrOptions({"relu", "tanh", "sigmoid", "elu", "selu", "gelu", "linear"})
        ],
        "dropout": [Interval(Real, 0.0, 1.0, closed="left")],
        "input_dropout": [Interval(Real, 0.0, 1.0, closed="left")],
        "batch_norm": ["boolean"],
        "l1": [Interval(Real, 0.0, None, closed="left")],
        "l2": [Interval(Real, 0.0, None, closed="left")],
        "optimizer": [StrOptions(set(_network.OPTIMIZERS))],
        "learning_rate": [
            Interval(Real, 0.0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "momentum": [Interval(Real, 0.0, 1.0, closed="left")],
        "nesterov": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "lr_schedule": [StrOptions({"halving", "decay", "constant"})],
        "lr_patience": [Interval(Integral, 1, None, closed="left")],
        "lr_factor": [Interval(Real, 0.0, 1.0, closed="neither")],
        "monitor": [StrOptions({"val_loss", "val_accuracy", "val_r2"})],
        "scoring": [str, callable, None],
        "max_halvings": [Interval(Integral, 0, None, closed="left"), None],
        "min_learning_rate": [Interval(Real, 0.0, None, closed="left")],
        "clipnorm": [Interval(Real, 0.0, None, closed="neither"), None],
        "on_divergence": [StrOptions({"raise", "warn"})],
        "batch_norm_statistics": [StrOptions({"population", "moving"})],
        "standardize": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
        "log_dir": [str, os.PathLike, None],
        "warm_start": ["boolean"],
        "pretrain": [StrOptions(set(_pretraining.PRETRAIN)), None],
        "pretrain_epochs": [Interval(Integral, 1, None, closed="left")],
        "pretrain_layers": [Interval(Integral, 1, None, closed="left"), None],
        "pretrain_corruption": [StrOptions(set(_pretraining.CORRUPTIONS))],
        "pretrain_noise_level": [Interval(Real, 0.0, None, closed="left")],
        "pretrain_sparsity": [Interval(Real, 0.0, None, closed="left")],
        "pretrain_tied_weights": ["boolean"],
        "pretrain_loss": [StrOptions(set(_pretraining.LOSSES))],
        "pretrain_optimizer": [StrOptions(set(_network.OPTIMIZERS))],
        "pretrain_learning_rate": [Interval(Real, 0.0, None, closed="neither")],
        "pretrain_batch_size": [Interval(Integral, 1, None, closed="left")],
        "finetune": [StrOptions(set(_pretraining.FINETUNE))],
    }

    def __init__(
        self,
        hidden_layer_sizes=(256, 256),
        activation="relu",
        *,
        dropout=0.3,
        input_dropout=0.1,
        batch_norm=True,
        l1=0.0,
        l2=1e-3,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=0.9,
        nesterov=False,
        batch_size=32,
        max_epochs=200,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        lr_schedule="halving",
        lr_patience=5,
        lr_factor=0.5,
        monitor="val_loss",
        scoring=None,
        max_halvings=None,
        min_learning_rate=1e-6,
        clipnorm=None,
        on_divergence="raise",
        batch_norm_statistics="population",
        standardize=True,
        random_state=None,
        verbose=0,
        callbacks=None,
        log_dir=None,
        warm_start=False,
        pretrain=None,
        pretrain_epochs=20,
        pretrain_layers=None,
        pretrain_corruption="mask",
        pretrain_noise_level=0.2,
        pretrain_sparsity=0.0,
        pretrain_tied_weights=True,
        pretrain_loss="auto",
        pretrain_optimizer="adam",
        pretrain_learning_rate=1e-3,
        pretrain_batch_size=32,
        finetune="all",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.batch_norm = batch_norm
        self.l1 = l1
        self.l2 = l2
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.lr_schedule = lr_schedule
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.monitor = monitor
        self.scoring = scoring
        self.max_halvings = max_halvings
        self.min_learning_rate = min_learning_rate
        self.clipnorm = clipnorm
        self.on_divergence = on_divergence
        self.batch_norm_statistics = batch_norm_statistics
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.log_dir = log_dir
        self.warm_start = warm_start
        self.pretrain = pretrain
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_layers = pretrain_layers
        self.pretrain_corruption = pretrain_corruption
        self.pretrain_noise_level = pretrain_noise_level
        self.pretrain_sparsity = pretrain_sparsity
        self.pretrain_tied_weights = pretrain_tied_weights
        self.pretrain_loss = pretrain_loss
        self.pretrain_optimizer = pretrain_optimizer
        self.pretrain_learning_rate = pretrain_learning_rate
        self.pretrain_batch_size = pretrain_batch_size
        self.finetune = finetune

    def _check_params(self):
        self._validate_params()
        _check_structured_params(self)
        _pretraining.check_estimator_params(self)

    # ------------------------------------------------------------------ hooks
    # Subclasses implement these.

    def _encode_target(self, y, *, reset):
        """Validate ``y`` and return the array the network trains on."""
        raise NotImplementedError

    def _output_spec(self):
        """``(n_outputs, output_activation, loss, metrics)`` for the network."""
        raise NotImplementedError

    def _decode_output(self, raw):
        """Turn network outputs into predictions in the user's target space."""
        raise NotImplementedError

    def _decode_target(self, y_encoded):
        """Targets in the user's space from the network's (for ``scoring``)."""
        return self._decode_output(y_encoded)

    def _sample_weight_from_target(self, y_encoded, sample_weight):
        """Extra per-sample weights (class weights for the classifier)."""
        return sample_weight

    def _stratify(self, y_encoded):
        """Labels to stratify the validation split on, or None."""
        return None

    def _unlabeled_mask(self, y):
        """Boolean mask of the rows of ``y`` that carry no label, or None."""
        return None

    # ------------------------------------------------------------- public API

    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None):
        """Train the network on ``X, y``, watching a validation set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (numeric; pandas DataFrames keep their column names).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample loss weights.
        X_val, y_val : array-like, default=None
            A validation set that replaces the internal split drawn with
            ``validation_fraction``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        continuing = self.warm_start and hasattr(self, "model_")
        X, y = self._validate_training_data(X, y, reset=not continuing)
        X, y, sample_weight, X_unlabeled = _pretraining.split_unlabeled(
            self, X, y, sample_weight
        )
        y_enc = self._encode_target(y, reset=not continuing)
        sample_weight = self._sample_weights(X, y_enc, sample_weight)
        seed = self._seed()
        train, validation = self._split(X, y_enc, sample_weight, X_val, y_val, seed)
        if not continuing:
            self._reset_fit_state()
            X_inputs = train[0]
            if X_unlabeled is not None:
                X_inputs = np.concatenate([X_inputs, X_unlabeled])
            self.model_ = self._build_model(X_inputs, seed)
            self.pretraining_history_ = _pretraining.initialize_network(
                self, self.model_, X_inputs, seed
            )
        self._fit_network(train, validation, epochs=self.max_epochs, seed=seed)
        return self

    def partial_fit(self, X, y, sample_weight=None, **kwargs):
        """Train for exactly one epoch on ``X, y``, continuing from the last call.

        The first call builds the network; later calls keep its weights and
        optimizer state (also across pickling). No validation split is drawn.

        Returns
        -------
        self : object
        """
        first = not hasattr(self, "model_")
        if first:
            self._check_params()
        X, y = self._validate_training_data(X, y, reset=first)
        y_enc = self._encode_partial_target(y, first=first, **kwargs)
        sample_weight = self._sample_weights(X, y_enc, sample_weight)
        seed = self._seed()
        if first:
            self._reset_fit_state()
            self.model_ = self._build_model(X, seed)
        self._fit_network(
            (X, y_enc, sample_weight), None, epochs=1, seed=seed, partial=True
        )
        return self

    def _encode_partial_target(self, y, *, first):
        return self._encode_target(y, reset=first)

    def _predict_raw(self, X):
        check_is_fitted(self, "model_")
        X = self._validate_X(X)
        return self._forward(self.model_, X)

    @staticmethod
    def _forward(model, X):
        n = X.shape[0]
        if n <= _PREDICT_BATCH_SIZE:
            out = model(X, training=False)
            return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)
        chunks = [
            BaseDeepStack._forward(model, X[i : i + _PREDICT_BATCH_SIZE])
            for i in range(0, n, _PREDICT_BATCH_SIZE)
        ]
        return np.concatenate(chunks, axis=0)

    # --------------------------------------------------------------- helpers

    def _validate_X(self, X, *, reset=False):
        try:
            return validate_data(
                self,
                X,
                reset=reset,
                dtype=np.float32,
                accept_sparse=False,
                ensure_min_samples=1,
            )
        except ValueError as exc:
            raise _explain_conversion_error(exc) from exc
        except TypeError as exc:
            raise _explain_sparse_error(exc) from exc

    def _validate_training_data(self, X, y, *, reset):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        try:
            X, y = validate_data(
                self,
                X,
                y,
                reset=reset,
                dtype=np.float32,
                accept_sparse=False,
                multi_output=True,
                y_numeric=False,
            )
        except ValueError as exc:
            raise _explain_conversion_error(exc) from exc
        except TypeError as exc:
            raise _explain_sparse_error(exc) from exc
        return X, y

    def _sample_weights(self, X, y_enc, sample_weight):
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
            if np.any(sample_weight < 0):
                raise ValueError("sample_weight must be non-negative.")
        sample_weight = self._sample_weight_from_target(y_enc, sample_weight)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float32)
        return sample_weight

    def _seed(self):
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        # The backend's global generator drives shuffling; initializers and
        # dropout layers get their own seeds derived from the same number.
        keras.utils.set_random_seed(seed)
        return seed

    def _split(self, X, y, sample_weight, X_val, y_val, seed):
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")
        if X_val is not None:
            X_val = self._validate_X(X_val)
            y_val = self._encode_target(
                np.asarray(y_val) if not hasattr(y_val, "iloc") else y_val,
                reset=False,
            )
            if X_val.shape[0] != y_val.shape[0]:
                raise ValueError(
                    f"X_val and y_val have different numbers of samples: "
                    f"{X_val.shape[0]} and {y_val.shape[0]}."
                )
            return (X, y, sample_weight), (X_val, y_val, None)
        if not self.early_stopping:
            return (X, y, sample_weight), None
        n = X.shape[0]
        n_val = math.ceil(self.validation_fraction * n)
        if n < 2 or n - n_val < 1:
            raise ValueError(
                f"Cannot draw a validation split from n_samples={n}; give more "
                "samples, pass X_val and y_val, or set early_stopping=False."
            )
        stratify = self._stratify(y)
        if stratify is not None:
            counts = np.bincount(stratify)
            if counts[counts > 0].min() < 2 or n_val < np.count_nonzero(counts):
                stratify = None
        arrays = [X, y] + ([sample_weight] if sample_weight is not None else [])
        parts = train_test_split(
            *arrays, test_size=n_val, random_state=seed, stratify=stratify
        )
        train, val = parts[0::2], parts[1::2]
        if sample_weight is None:
            train.append(None)
            val.append(None)
        return tuple(train), tuple(val)

    def _reset_fit_state(self):
        self.history_ = {}
        self.n_iter_ = 0
        self.best_epoch_ = None
        self.pretraining_history_ = []
        self.learning_rate_ = None

    def _build_model(self, X, seed):
        n_outputs, output_activation, loss, metrics = self._output_spec()
        mean = variance = None
        if self.standardize:
            mean, variance = _network.input_statistics(X)
        model = _network.build_network(
            X.shape[1],
            n_outputs,
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            activation=self.activation,
            output_activation=output_activation,
            dropout=self.dropout,
            input_dropout=self.input_dropout,
            batch_norm=self.batch_norm,
            l1=self.l1,
            l2=self.l2,
            input_mean=mean,
            input_variance=variance,
            seed=seed,
        )
        model.compile(
            optimizer=self._make_optimizer(),
            loss=loss,
            metrics=metrics,
            weighted_metrics=[],
        )
        return model

    def _make_optimizer(self):
        # With "auto" the rate is a placeholder until the search sets it.
        rate = 1e-3 if isinstance(self.learning_rate, str) else self.learning_rate
        return _network.make_optimizer(
            self.optimizer,
            rate,
            momentum=self.momentum,
            nesterov=self.nesterov,
            clipnorm=self.clipnorm,
        )

    def _initial_learning_rate(self, train, seed):
        """The starting rate: the parameter, or the finder's choice for "auto"."""
        if not isinstance(self.learning_rate, str):
            return float(self.learning_rate)
        X, y, w = _lr_finder.subset(*train, 1024, seed)
        result = _lr_finder.search_learning_rate(
            self.model_,
            X,
            y,
            w,
            batch_size=min(self.batch_size, X.shape[0]),
            seed=seed,
        )
        return result.learning_rate

    def _default_callbacks(self, monitor, partial):
        callbacks = [LearningRateRecorder()]
        if partial:
            return callbacks + [DivergenceGuard(on_divergence="stop")]
        if self.early_stopping and monitor.startswith("val_"):
            callbacks.append(
                EarlyStopping(
                    monitor=monitor,
                    patience=self.n_iter_no_change,
                    tol=self.tol,
                    restore_best_weights=True,
                )
            )
        if self.lr_schedule == "halving":
            callbacks.append(
                LearningRateHalving(
                    monitor=monitor,
                    patience=self.lr_patience,
                    factor=self.lr_factor,
                    max_halvings=self.max_halvings,
                    min_learning_rate=self.min_learning_rate,
                    tol=self.tol,
                )
            )
        elif self.lr_schedule == "decay":
            callbacks.append(LearningRateDecay(decay=100.0))
        # "stop": the estimator reports the divergence itself, after the
        # history is recorded (see ``_fit_network``).
        callbacks.append(DivergenceGuard(on_divergence="stop"))
        return callbacks

    def _scoring_callbacks(self, validation, partial):
        """``[ValidationScore]`` logging ``val_score`` for ``scoring``, or []."""
        if self.scoring is None or validation is None or partial:
            return []
        scorer = check_scoring(self, scoring=self.scoring)
        X_val, y_val, _ = validation
        score = functools.partial(
            _validation_score, scorer, self, X_val, self._decode_target(y_val)
        )
        return [ValidationScore(score)]

    def _fit_network(self, train, validation, *, epochs, seed, partial=False):
        scoring = self._scoring_callbacks(validation, partial)
        # Without a validation set, the same quantity on the training data.
        monitor = "val_score" if scoring else self.monitor
        if validation is None:
            monitor = monitor.removeprefix("val_")
        if getattr(self, "learning_rate_", None) is None:
            self.learning_rate_ = self._initial_learning_rate(train, seed)
            set_learning_rate(self.model_, self.learning_rate_)
        _network.reseed(self.model_, seed + self.n_iter_)
        user = [copy.deepcopy(cb) for cb in (self.callbacks or [])]
        board = []
        if self.log_dir is not None and not partial:
            board = [EpochTensorBoard(self.log_dir)]
        self.callbacks_ = (
            scoring + self._default_callbacks(monitor, partial) + board + user
        )
        history = self._train(
            self.model_,
            train,
            validation,
            callbacks=self.callbacks_,
            epochs=epochs,
            initial_epoch=0,
            seed=seed + self.n_iter_,
        )
        self._record_history(history)
        if (
            not partial
            and self.batch_norm
            and self.batch_norm_statistics == "population"
        ):
            # Partial fits see one chunk at a time: its statistics would
            # replace the moving averages over the whole stream.
            set_population_statistics(
                self.model_, train[0], batch_size=max(self.batch_size, 4096)
            )
        self._report_divergence()
        return history

    def _report_divergence(self):
        guard = next(
            (cb for cb in self.callbacks_ if isinstance(cb, DivergenceGuard)), None
        )
        if guard is None or guard.message is None:
            return
        stopper = next(
            (cb for cb in self.callbacks_ if isinstance(cb, EarlyStopping)), None
        )
        if stopper is None or stopper.best_epoch < 0:
            # The guard's restored weights are the ones kept.
            first = self.n_iter_ - (guard.diverged_epoch + 1)
            restored = first + guard.restored_epoch
            self.best_epoch_ = restored if restored >= 0 else None
        if self.on_divergence == "raise":
            raise DivergenceError(guard.message)
        warnings.warn(guard.message, RuntimeWarning, stacklevel=3)

    def _train(
        self, model, train, validation, *, callbacks, epochs, initial_epoch, seed
    ):
        """The training seam: run ``epochs`` epochs and return the logs per epoch.

        Today :func:`deepstack._trainer.train`: the fused epoch loop (one
        compiled call per epoch, validation inside it) where it applies, else
        ``Model.fit`` with an eager validation pass at each epoch end.
        """
        *_, metrics = self._output_spec()
        return _trainer.train(
            model,
            train,
            validation,
            batch_size=self.batch_size,
            epochs=initial_epoch + epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            metrics=metrics,
            verbose=self.verbose,
            seed=seed,
        )

    def _record_history(self, history):
        offset = self.n_iter_
        n_epochs = len(next(iter(history.values()), []))
        for key, values in history.items():
            self.history_.setdefault(key, []).extend(float(v) for v in values)
        self.n_iter_ = offset + n_epochs
        stopper = next(
            (cb for cb in self.callbacks_ if isinstance(cb, EarlyStopping)), None
        )
        if stopper is not None and stopper.best_epoch >= 0:
            self.best_epoch_ = offset + stopper.best_epoch
        else:
            self.best_epoch_ = self.n_iter_ - 1

    # ------------------------------------------------------------- pickling

    def __getstate__(self):
        # A copy: on Python >= 3.11 the inherited __getstate__ returns the
        # instance's own __dict__, which the lines below must not mutate.
        state = dict(super().__getstate__())
        if "model_" in state:
            state["model_"] = _ModelBytes.from_model(state["model_"])
        if "callbacks_" in state:
            state["callbacks_"] = [_detached(cb) for cb in state["callbacks_"]]
        return state

    def __setstate__(self, state):
        model = state.get("model_")
        if isinstance(model, _ModelBytes):
            state["model_"] = model.to_model()
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.non_deterministic = False
        return tags


class _ModelBytes:
    """A Keras model serialized in the ``.keras`` format (weights and optimizer)."""

    def __init__(self, payload):
        self.payload = payload

    @classmethod
    def from_model(cls, model):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            keras.saving.save_model(model, path)
            with open(path, "rb") as handle:
                return cls(handle.read())

    def to_model(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            with open(path, "wb") as handle:
                handle.write(self.payload)
            return keras.saving.load_model(path, compile=True)


def _validation_score(scorer, estimator, X, y):
    """``scorer`` of the network being trained, on validated rows ``X``."""
    with warnings.catch_warnings():
        # X is the validated array: no column names, whatever fit was given.
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        return scorer(estimator, X, y)


def _detached(callback):
    """A shallow copy of ``callback`` without its reference to the model."""
    callback = copy.copy(callback)
    callback._model = None
    return callback


def _explain_conversion_error(exc):
    message = str(exc)
    if "could not convert" in message or "convert" in message and "float" in message:
        return ValueError(
            "X contains non-numeric features (" + message + "). deepstack networks "
            "need numbers: encode categorical columns first, e.g. with "
            "sklearn.preprocessing.OneHotEncoder in a ColumnTransformer."
        )
    return exc


def _explain_sparse_error(exc):
    message = str(exc)
    if "sparse" in message.lower():
        return TypeError(
            message + " deepstack trains dense networks; convert with X.toarray() "
            "(if it fits in memory) or reduce it first, e.g. with TruncatedSVD."
        )
    return exc
