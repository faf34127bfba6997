"""The fit machinery shared by deepstack's supervised estimators.

``BaseDeepStack`` owns the public ``fit`` / ``partial_fit`` / ``predict``
template; subclasses fill the private hooks (``_encode_target``,
``_output_spec``, ``_decode_output``). Every training run starts with one
preparation step, ``_prepare`` (validated arrays, encoded targets, the
validation split, the built and compiled network), and trains through one
seam, ``_train``, which calls :func:`deepstack._trainer.train` (the fused
epoch loop). :func:`prepare_training` and :func:`train_network` give the
learning-rate finder and the keras-tuner HyperModel the same two steps
without reaching into the estimator's private methods.
"""

import contextlib
import copy
import functools
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone, is_regressor
from sklearn.metrics import check_scoring
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from deepstack import (
    _checkpoint,
    _compile_cache,
    _defaults,
    _export,
    _interrupt,
    _losses,
    _lr_finder,
    _network,
    _pretraining,
    _random,
    _self_training,
    _trainer,
)
from deepstack._compat import HasMethods, Interval, StrOptions, check_sample_weight
from deepstack._split import n_validation, train_validation_split
from deepstack.callbacks import (
    DivergenceError,
    DivergenceGuard,
    EarlyStopping,
    EpochTensorBoard,
    LearningRateDecay,
    LearningRateHalving,
    LearningRateRecorder,
    TimeLimit,
    ValidationScore,
    initial_loss,
    set_population_statistics,
)
from deepstack.callbacks._divergence import divergence_message
from deepstack.callbacks._monitor import set_learning_rate
from deepstack.estimators import _refit
from deepstack.estimators._rollback import rolls_back_on_interrupt
from deepstack.layers._tied_dense import load_model as load_tied_model


def _check_structured_params(estimator):
    """Checks that scikit-learn's constraint strings cannot express."""
    _network.check_hidden_layer_sizes(estimator.hidden_layer_sizes)
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
    _check_pretrain_params(estimator)
    weight = estimator.reconstruction_weight
    if weight != "auto" and weight > 0 and not tuple(estimator.hidden_layer_sizes):
        raise ValueError(
            "reconstruction_weight needs at least one hidden layer to decode "
            "from; hidden_layer_sizes is empty (set reconstruction_weight=0)."
        )


# What the network was built and compiled with: a warm-started fit, or a
# later partial_fit, continues that network and cannot change them (the
# learning rate, the epochs and the stopping rule apply to each call).
_BUILT_WITH = (
    "hidden_layer_sizes",
    "activation",
    "dropout",
    "input_dropout",
    "batch_norm",
    "l1",
    "l2",
    "loss",
    "focal_gamma",
    "huber_delta",
    "optimizer",
    "momentum",
    "nesterov",
    "clipnorm",
    "standardize",
    # Whether the network has a reconstruction layer, and its weight.
    "reconstruction_weight",
    # The pretrained layers' trainable flags (only with pretraining).
    "finetune",
)


def _plain(value):
    """A parameter's value to compare (a saved tuple loads as a list)."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _check_pretrain_params(estimator):
    """The ``pretrain_*`` parameters against ``hidden_layer_sizes`` and each
    other."""
    if estimator.pretrain in ("denoising", "auto"):
        # Only denoising corrupts (as StackedAutoencoder(corruption=None)
        # takes any noise level).
        _pretraining.check_noise_level(
            estimator.pretrain_corruption,
            estimator.pretrain_noise_level,
            names=("pretrain_corruption", "pretrain_noise_level"),
        )
    if estimator.pretrain is None:
        return
    n_hidden = len(tuple(estimator.hidden_layer_sizes))
    if n_hidden == 0 and estimator.pretrain != "auto":
        raise ValueError(
            "pretrain needs at least one hidden layer; hidden_layer_sizes is empty."
        )
    n = estimator.pretrain_layers
    if n is not None and n > n_hidden:
        raise ValueError(
            f"pretrain_layers={n} is more than the {n_hidden} hidden layers of "
            f"hidden_layer_sizes={tuple(estimator.hidden_layer_sizes)}."
        )


@dataclass(frozen=True)
class Preparation:
    """What every training run starts from (see ``BaseDeepStack._prepare``).

    Attributes
    ----------
    train : tuple (X, y_encoded, sample_weight or None)
        The rows to train on.
    validation : tuple (X, y_encoded, None) or None
        The held-out rows (the internal split or ``X_val, y_val``).
    X_unlabeled : ndarray or None
        Rows without a label (semi-supervised pretraining only).
    seed : int
        Drawn from ``random_state`` for this run.
    model : keras.Model or None
        The built and compiled network (None when not asked for).
    validation_given : bool
        ``validation`` is the caller's ``X_val, y_val``.
    """

    train: tuple
    validation: tuple | None
    X_unlabeled: object
    seed: int
    model: object
    validation_given: bool = False

    @property
    def network_inputs(self):
        """The rows the network's standardization and pretraining see."""
        if self.X_unlabeled is None:
            return self.train[0]
        if sp.issparse(self.train[0]):
            return sp.vstack([self.train[0], self.X_unlabeled], format="csr")
        return np.concatenate([self.train[0], self.X_unlabeled])


class BaseDeepStack(BaseEstimator):
    """Common parameters and the fit template of deepstack's estimators.

    Not meant to be used directly; see ``DeepStackClassifier`` and
    ``DeepStackRegressor`` for the parameter documentation.
    """

    # Validation quantities the subclass logs and ``monitor`` may name.
    _monitors = ("val_loss",)

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(_network.ACTIVATIONS))],
        "dropout": [Interval(Real, 0.0, 1.0, closed="left"), StrOptions({"auto"})],
        "input_dropout": [
            Interval(Real, 0.0, 1.0, closed="left"),
            StrOptions({"auto"}),
        ],
        "batch_norm": ["boolean", StrOptions({"auto"})],
        "l1": [Interval(Real, 0.0, None, closed="left")],
        "l2": [Interval(Real, 0.0, None, closed="left"), StrOptions({"auto"})],
        "loss": [
            StrOptions({"auto", *_losses.CLASSIFIER_LOSSES, *_losses.REGRESSOR_LOSSES})
        ],
        "focal_gamma": [Interval(Real, 0.0, None, closed="left")],
        "huber_delta": [Interval(Real, 0.0, None, closed="neither")],
        "optimizer": [StrOptions(set(_network.OPTIMIZERS))],
        "learning_rate": [
            Interval(Real, 0.0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "momentum": [Interval(Real, 0.0, 1.0, closed="left")],
        "nesterov": ["boolean"],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0.0, 1.0, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "patience_growth": [
            Interval(Real, 0.0, None, closed="left"),
            StrOptions({"auto"}),
        ],
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
        "deterministic": ["boolean"],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
        "log_dir": [str, os.PathLike, None],
        "checkpoint": [str, os.PathLike, None],
        "warm_start": ["boolean"],
        "pretrain": [StrOptions({*_pretraining.PRETRAIN, "auto"}), None],
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
        "distribution": [
            None,
            StrOptions({"auto"}),
            HasMethods(["scope", "get_data_layout"]),
        ],
        "reconstruction_weight": [
            Interval(Real, 0.0, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "refit_on_all": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(256, 256),
        activation="relu",
        *,
        dropout="auto",
        input_dropout="auto",
        batch_norm="auto",
        l1=0.0,
        l2="auto",
        loss="auto",
        focal_gamma=2.0,
        huber_delta=1.0,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=0.9,
        nesterov=False,
        batch_size=32,
        max_epochs=200,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        patience_growth=0.0,
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
        deterministic=False,
        verbose=0,
        callbacks=None,
        log_dir=None,
        checkpoint=None,
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
        distribution=None,
        reconstruction_weight="auto",
        refit_on_all=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.batch_norm = batch_norm
        self.l1 = l1
        self.l2 = l2
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.huber_delta = huber_delta
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.patience_growth = patience_growth
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
        self.deterministic = deterministic
        self.verbose = verbose
        self.callbacks = callbacks
        self.log_dir = log_dir
        self.checkpoint = checkpoint
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
        self.distribution = distribution
        self.reconstruction_weight = reconstruction_weight
        self.refit_on_all = refit_on_all

    def _check_params(self):
        self._validate_params()
        _check_structured_params(self)

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
        """Boolean mask of the rows of ``y`` marked as unlabeled (the
        target's convention, e.g. -1 for classes), or None."""
        return None

    def _learns_from_unlabeled(self):
        """Whether fine-tuning itself uses unlabeled rows (self-training)."""
        return False

    def _keeps_unlabeled(self):
        """Whether a step of ``fit`` uses the unlabeled rows (besides
        pretraining): ``_learns_from_unlabeled`` or the joint loss."""
        return (
            self._learns_from_unlabeled() or self._resolved_reconstruction_weight() > 0
        )

    def _resolved_reconstruction_weight(self):
        """``reconstruction_weight`` with "auto" resolved by the last ``fit``."""
        if self.reconstruction_weight != "auto":
            return float(self.reconstruction_weight)
        return getattr(self, "_auto_reconstruction_weight", 0.0)

    def _joint_rows(self, train, X_unlabeled):
        """``train`` plus the rows ``X_unlabeled`` for the joint loss alone.

        With ``reconstruction_weight > 0`` the unlabeled rows join with a
        placeholder target and weight 0 (the reconstruction, which the
        network adds for every row, is all they contribute), and the labeled
        rows' weights are multiplied by (all rows / labeled rows): Keras
        divides a batch's weighted supervised loss by its number of rows, so
        the supervised term stays the labeled rows' mean (in expectation over
        the batches; exactly for one full batch). ``train`` as it is
        otherwise.
        """
        if (
            self._resolved_reconstruction_weight() <= 0
            or X_unlabeled is None
            or X_unlabeled.shape[0] == 0
        ):
            return train
        X, y, weights = train
        n_labeled, n_unlabeled = X.shape[0], X_unlabeled.shape[0]
        scale = (n_labeled + n_unlabeled) / n_labeled
        base = np.ones(n_labeled) if weights is None else np.asarray(weights)
        placeholder = np.zeros((n_unlabeled, *np.shape(y)[1:]), dtype=y.dtype)
        return (
            _self_training.stack_rows(X, X_unlabeled),
            np.concatenate([y, placeholder]),
            np.concatenate([base * scale, np.zeros(n_unlabeled)]).astype(np.float32),
        )

    def _ignored_unlabeled(self, y, mask):
        """Called when ``y`` marks rows as unlabeled that no step will use."""

    def _no_labeled_rows_message(self, n_rows):
        """The error for a ``y`` that marks all its ``n_rows`` rows unlabeled
        (each target says how it marks them)."""
        return (
            f"y holds no labeled samples: all {n_rows} rows are marked "
            "unlabeled. Label some samples."
        )

    def _fit_unlabeled(self, run):
        """More training that uses ``run.X_unlabeled`` (after fine-tuning)."""

    def _many_unlabeled(self, y, mask):
        """Whether the rows ``mask`` marks unlabeled outnumber the labeled
        ones (what the "auto" choices engage on)."""
        if mask is None:
            return False
        n_unlabeled = int(np.sum(mask))
        return _pretraining.unlabeled_outnumber(n_unlabeled, len(mask) - n_unlabeled)

    def _resolved_pretrain(self):
        """``pretrain`` with "auto" resolved by the last ``fit``."""
        if self.pretrain != "auto":
            return self.pretrain
        return getattr(self, "_auto_pretrain", None)

    def _resolve_unlabeled(self, y, *, reset, sparse=False):
        """The unlabeled rows to set aside (None: every row is a labeled row).

        Resolves ``pretrain="auto"`` (on ``reset``): denoising pretraining
        when ``y`` marks more rows unlabeled than labeled and ``X`` is dense
        (``sparse``: pretraining takes no sparse ``X``); then
        ``reconstruction_weight="auto"`` (:func:`deepstack._defaults.
        reconstruction_weight`). Rows marked
        unlabeled are set aside only when pretraining or self-training uses
        them; otherwise ``_ignored_unlabeled`` is told (the classifier warns).
        """
        mask = self._unlabeled_mask(y)
        n_unlabeled = 0 if mask is None else int(np.sum(mask))
        many = self._many_unlabeled(y, mask)
        deep = len(tuple(self.hidden_layer_sizes)) > 0
        if reset and self.pretrain == "auto":
            pretrain = many and deep and not sparse
            self._auto_pretrain = "denoising" if pretrain else None
        if reset:
            unused = self._resolved_pretrain() is None and not (
                self._learns_from_unlabeled()
            )
            self._auto_reconstruction_weight = _defaults.reconstruction_weight(
                regression=is_regressor(self),
                unlabeled_unused=bool(n_unlabeled) and unused and deep,
                many_unlabeled=many,
            )
        if not n_unlabeled:
            return None
        if self._resolved_pretrain() is None and not self._keeps_unlabeled():
            self._ignored_unlabeled(y, mask)
            return None
        return mask

    # ------------------------------------------------------------- public API

    @rolls_back_on_interrupt
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None):
        """Train the network on ``X, y``, watching a validation set.

        Ctrl-C (SIGINT) during the epochs stops training at the end of the
        current epoch, with a ``RuntimeWarning``: the best weights so far are
        kept and every fitted attribute describes them. A Ctrl-C before the
        first epoch of the call has ended, or a second one, raises
        ``KeyboardInterrupt`` and leaves the estimator as it was before.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (numeric; pandas DataFrames keep their column names).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample loss weights; only their ratios count (scaled to mean
            1, with ``class_weight``, as scikit-learn's MLP divides by their
            sum).
        X_val, y_val : array-like, default=None
            A validation set that replaces the internal split drawn with
            ``validation_fraction``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        _network.check_training_backend()
        with self._distribution_scope():
            continuing = self.warm_start and hasattr(self, "model_")
            if continuing:
                self._check_built_with("warm_start=True")
            resume = None
            if self.checkpoint is not None and not continuing:
                self._check_params()
                resume = _checkpoint.read(self.checkpoint)
            run = self._prepare(
                X,
                y,
                sample_weight,
                X_val=X_val,
                y_val=y_val,
                reset=not continuing,
                build=not continuing,
                seed=None if resume is None else resume.seed,
            )
            saving = None
            if self.checkpoint is not None and not continuing:
                saving = self._checkpoint_identity(run)
                if resume is not None:
                    resume.check(saving["params"], saving["data"])
            if not continuing:
                self._reset_fit_state()
                self.refit_on_all_ = self._checked_refit_on_all(run)
                self.model_ = run.model
                self.pretraining_history_ = self._pretrain_network(
                    self.model_, run.network_inputs, run.seed
                )
            self._fit_network(
                self._joint_rows(run.train, run.X_unlabeled),
                run.validation,
                epochs=self.max_epochs,
                seed=run.seed,
                saving=saving,
                resume=resume,
            )
            # An interrupted or diverged first run keeps what it has.
            if self.refit_on_all_ and not continuing and self.best_epoch_ is not None:
                self._refit_on_all(run)
            elif self.refit_on_all_:
                self.refit_on_all_ = False  # (model_ is no refit)
            if run.X_unlabeled is not None and self._learns_from_unlabeled():
                self._fit_unlabeled(run)
        return self

    def _checkpoint_identity(self, run):
        """What a checkpoint of this fit must match to be resumed by it."""
        params = self.get_params(deep=False)
        params.pop("checkpoint")
        validation = run.validation or (None, None, None)
        return {
            "params": _checkpoint.parameters(params),
            "data": _checkpoint.data_fingerprint(
                [*run.train, *validation, run.X_unlabeled]
            ),
            "seed": int(run.seed),
        }

    def _distribution_scope(self):
        """The scope of ``distribution``, resolved (a null context for one
        device). Model building and training run inside it, so the
        variables are laid out across the devices and the fused loop shards
        each batch (:mod:`deepstack._trainer_jax`)."""
        self._check_params()
        distribution = self.distribution
        if distribution is None:
            return contextlib.nullcontext()
        backend = keras.backend.backend()
        if distribution == "auto":
            devices = keras.distribution.list_devices() if backend == "jax" else []
            if len(devices) < 2:
                return contextlib.nullcontext()
            distribution = keras.distribution.DataParallel(devices=devices)
        elif backend != "jax":
            raise ValueError(
                f"distribution={distribution!r} needs the JAX backend "
                f"(KERAS_BACKEND=jax); with {backend}, deepstack trains on one "
                'device: set distribution=None (or "auto", which is one '
                "device on backends other than JAX)."
            )
        return distribution.scope()

    def _prepare(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_val=None,
        y_val=None,
        reset=True,
        build=True,
        split=True,
        max_samples=None,
        seed=None,
    ):
        """The first steps of every training run, as a :class:`Preparation`.

        Checks the parameters, validates ``X, y``, sets the unlabeled rows
        aside, encodes the targets (``reset``: fit the encoding, e.g.
        ``classes_``), computes the sample weights, draws the run's seed,
        keeps a random subset of ``max_samples`` rows (the learning-rate
        finder), draws the validation split (``split``) and builds and
        compiles the network on the training rows (``build``). ``seed``
        replaces the drawn seed (a resumed checkpoint's).
        """
        self._check_params()
        X, y = self._validate_training_data(X, y, reset=reset)
        unlabeled = self._resolve_unlabeled(y, reset=reset, sparse=sp.issparse(X))
        if unlabeled is not None and np.all(unlabeled):
            raise ValueError(self._no_labeled_rows_message(len(unlabeled)))
        X, y, sample_weight, X_unlabeled = _pretraining.split_unlabeled(
            unlabeled, X, y, sample_weight
        )
        n_features = X.shape[1]
        y_enc = self._encode_target(y, reset=reset)
        sample_weight = self._sample_weights(X, y_enc, sample_weight)
        seed = self._seed(seed)
        train, validation = (X, y_enc, sample_weight), None
        if max_samples is not None:
            train = _lr_finder.subset(*train, max_samples, seed)
        if split:
            train, validation = self._split(*train, X_val, y_val, seed)
        given = X_val is not None
        run = Preparation(train, validation, X_unlabeled, seed, None, given)
        if build:
            self._resolve_regularization(n_features)
            model = self._build_model(run.network_inputs, seed)
            run = Preparation(train, validation, X_unlabeled, seed, model, given)
        return run

    @rolls_back_on_interrupt
    def partial_fit(self, X, y, sample_weight=None, **kwargs):
        """Train for exactly one epoch on ``X, y``, continuing from the last call.

        The first call builds the network; later calls keep its weights and
        optimizer state (also across pickling). No validation split is drawn.

        Returns
        -------
        self : object
        """
        _network.check_training_backend()
        first = not hasattr(self, "model_")
        if first:
            self._check_params()
        else:
            self._check_built_with("partial_fit")
        X, y = self._validate_training_data(X, y, reset=first)
        y_enc = self._encode_partial_target(y, first=first, **kwargs)
        sample_weight = self._sample_weights(X, y_enc, sample_weight)
        seed = self._seed()
        with self._distribution_scope():
            if first:
                self._reset_fit_state()
                # partial_fit takes no unlabeled rows: no joint loss by "auto".
                self._auto_reconstruction_weight = 0.0
                self._resolve_regularization(X.shape[1])
                self.model_ = self._build_model(X, seed)
            self._fit_network(
                (X, y_enc, sample_weight), None, epochs=1, seed=seed, partial=True
            )
        return self

    def export(self, path, format="tf_saved_model", *, overwrite=False):
        """Write the whole prediction path, for serving without deepstack.

        ``format="tf_saved_model"`` writes a TensorFlow SavedModel (needs
        the TensorFlow backend) to the folder ``path``: its ``serve``
        endpoint (``tf.saved_model.load(path).serve(X)``) takes float32 rows
        of the ``n_features_in_`` raw features (standardization is inside the
        network) and returns a dict of tensors, named in ``labels.json``
        beside it. The classifier's are ``probabilities`` (as
        ``predict_proba``) and ``class_index`` (``classes`` in
        ``labels.json`` gives the label; multilabel: ``labels``, the 0/1
        matrix of ``predict``); the regressor's is ``predictions``, in the
        target's units (column 0 is ``predict``'s output for a 1-D target).
        Outputs match ``predict_proba`` / ``predict`` to float32 rounding.
        ``format="onnx"`` writes the same path as ``model.onnx`` (converted
        by tf2onnx; needs the TensorFlow backend and ``pip install
        'deepstack[onnx]'``) beside ``labels.json``: one input ``X`` and the
        same named outputs, e.g. ``onnxruntime.InferenceSession(path +
        "/model.onnx").run(["probabilities"], {"X": X})``.

        Parameters
        ----------
        path : str or os.PathLike
            A folder to create.
        format : {"tf_saved_model", "onnx"}, default="tf_saved_model"
        overwrite : bool, default=False
            Replace an earlier export at ``path`` (written beside it, then
            renamed into place). A folder that is no export (and not empty)
            is never replaced, nor the working directory.

        Returns
        -------
        path : str
        """
        check_is_fitted(self, "model_")
        names = getattr(self, "feature_names_in_", None)
        metadata = {
            "estimator": type(self).__name__,
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(n) for n in names],
            **self._export_metadata(),
        }
        return _export.export(
            self.model_,
            path,
            serve=self._serving_outputs,
            n_features=self.n_features_in_,
            metadata=metadata,
            format=format,
            overwrite=overwrite,
        )

    def _serving_outputs(self, x):
        """The exported endpoint: named output tensors of a batch ``x``."""
        raise NotImplementedError

    def _export_metadata(self):
        """What ``labels.json`` says about the outputs."""
        raise NotImplementedError

    def _encode_partial_target(self, y, *, first):
        return self._encode_target(y, reset=first)

    def _predict_raw(self, X):
        check_is_fitted(self, "model_")
        if self.deterministic:
            _random.enable_determinism()
        X = self._validate_X(X)
        return _network.forward(self.model_, X)

    # --------------------------------------------------------------- helpers

    def _validate_X(self, X, *, reset=False):
        try:
            return validate_data(
                self,
                X,
                reset=reset,
                dtype=np.float32,
                accept_sparse="csr",
                ensure_min_samples=1,
            )
        except ValueError as exc:
            raise _explain_conversion_error(exc, X) from exc
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
                accept_sparse="csr",
                multi_output=True,
                y_numeric=False,
            )
        except ValueError as exc:
            raise _explain_conversion_error(exc, X) from exc
        except TypeError as exc:
            raise _explain_sparse_error(exc) from exc
        return X, y

    def _encode_rows(self, X, y, names=("X", "y")):
        """Validate ``X`` and encode ``y`` with the fitted target encoding."""
        X = self._validate_X(X)
        if not (hasattr(y, "iloc") or sp.issparse(y)):
            y = np.asarray(y)
        y = self._encode_target(y, reset=False)
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"{names[0]} and {names[1]} have different numbers of samples: "
                f"{X.shape[0]} and {y.shape[0]}."
            )
        return X, y

    def _sample_weights(self, X, y_enc, sample_weight):
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X, dtype=np.float32)
            if np.any(sample_weight < 0):
                raise ValueError("sample_weight must be non-negative.")
        sample_weight = self._sample_weight_from_target(y_enc, sample_weight)
        if sample_weight is not None:
            # Scaled to mean 1: only the weights' ratios count, as in
            # scikit-learn's MLP (which divides by their sum). Keras divides
            # the weighted loss by the batch's rows, so a common factor
            # acted as a learning-rate multiplier (with SGD) and shifted the
            # balance against the weight penalty.
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            total = sample_weight.sum()
            if total > 0:
                sample_weight = sample_weight * (len(sample_weight) / total)
            sample_weight = sample_weight.astype(np.float32)
        return sample_weight

    def _seed(self, seed=None):
        if self.deterministic:
            _random.enable_determinism()
        if seed is None:
            seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        # The backend's global generator drives shuffling; initializers and
        # dropout layers get their own seeds derived from the same number.
        _random.seed_backend(seed)
        return seed

    def _split(self, X, y, sample_weight, X_val, y_val, seed):
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")
        if X_val is not None:
            X_val, y_val = self._encode_rows(X_val, y_val, ("X_val", "y_val"))
            return (X, y, sample_weight), (X_val, y_val, None)
        if not self.early_stopping:
            return (X, y, sample_weight), None
        n = X.shape[0]
        n_val = n_validation(n, self.validation_fraction)
        if n < 2 or n - n_val < 1:
            raise ValueError(
                f"Cannot draw a validation split from n_samples={n}; give more "
                "samples, pass X_val and y_val, or set early_stopping=False."
            )
        train, val = train_validation_split(
            X, y, sample_weight, n_val=n_val, seed=seed, stratify=self._stratify(y)
        )
        return tuple(train), tuple(val)

    def _check_built_with(self, how):
        """Raise if a parameter the fitted network was built with has changed
        since (``how``: the call that would continue it)."""
        built = dict(getattr(self, "_built_with", None) or {})
        if self._resolved_pretrain() is None:
            built.pop("finetune", None)
        changed = [
            f"{name}={built[name]!r} (now {getattr(self, name)!r})"
            for name in _BUILT_WITH
            if name in built and _plain(built[name]) != _plain(getattr(self, name))
        ]
        if changed:
            raise ValueError(
                f"{how} continues the fitted network, which was built with "
                + ", ".join(changed)
                + ". Set them back, or fit a new network (warm_start=False)."
            )

    def _reset_fit_state(self):
        self._built_with = {name: getattr(self, name) for name in _BUILT_WITH}
        self.history_ = {}
        self.n_iter_ = 0
        self.best_epoch_ = None
        self.refit_on_all_ = False
        self.refit_history_ = {}
        self.pretraining_history_ = []
        self.learning_rate_ = None

    def _resolve_regularization(self, n_features):
        """Set ``dropout_``, ``input_dropout_``, ``l2_`` and ``batch_norm_``
        ("auto" resolved by :func:`deepstack._defaults.regularization`), and
        ``reconstruction_weight_`` (resolved with the unlabeled rows)."""
        resolved = _defaults.regularization(
            n_features,
            regression=is_regressor(self),
            dropout=self.dropout,
            input_dropout=self.input_dropout,
            l2=self.l2,
            batch_norm=self.batch_norm,
        )
        self.dropout_ = resolved["dropout"]
        self.input_dropout_ = resolved["input_dropout"]
        self.l2_ = resolved["l2"]
        self.batch_norm_ = resolved["batch_norm"]
        self.reconstruction_weight_ = self._resolved_reconstruction_weight()

    def _checked_refit_on_all(self, run):
        """``refit_on_all`` for this fit; ``ValueError`` where it cannot run."""
        if not self.refit_on_all:
            return False
        if run.validation is None or run.validation_given:
            raise ValueError(
                "refit_on_all=True trains again on the training and validation "
                "rows for the epochs that early stopping chose on the internal "
                "split: it needs early_stopping=True and no X_val, y_val. Set "
                "refit_on_all=False."
            )
        # The refit trains the final network alone: steps that depend on the
        # first network's run are not repeated for it.
        others = [
            name
            for name, used in (
                ("pretrain", self._resolved_pretrain() is not None),
                ("checkpoint", self.checkpoint is not None),
                ("rows without a label", run.X_unlabeled is not None),
            )
            if used
        ]
        if others:
            raise ValueError(
                f"refit_on_all=True does not combine with {', '.join(others)}; "
                "set refit_on_all=False."
            )
        return True

    def _refit_on_all(self, run):
        """Train a fresh network (same seed, so the same initialization) on
        the training and validation rows together for the epochs up to
        ``best_epoch_``, replaying the learning rates recorded for them;
        it replaces ``model_``. A Ctrl-C during the refit keeps the first
        network (``refit_on_all_`` False)."""
        epochs = self.best_epoch_ + 1
        rates = self.history_["learning_rate"][:epochs]
        X, y, w = _refit.all_rows(run.train, run.validation)
        model = self._build_model(X, run.seed)
        set_learning_rate(model, rates[0])
        _network.reseed(model, run.seed)
        # The replay first: the recorder logs the rate each epoch trains with.
        replay = keras.callbacks.LearningRateScheduler(
            lambda epoch, rate: rates[min(epoch, len(rates) - 1)]
        )
        callbacks = [replay, LearningRateRecorder()]
        with _interrupt.stop_at_epoch_end() as stopper:
            history = self._train(
                model,
                (X, y, w),
                None,
                callbacks=callbacks + [stopper],
                epochs=epochs,
                initial_epoch=0,
                seed=run.seed,
            )
        if stopper.interrupted:
            self.refit_on_all_ = False
            warnings.warn(
                "fit was interrupted (Ctrl-C) during the refit on all rows: the "
                "network trained on the training split is kept.",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        self._set_population_statistics(model, X)
        self.model_ = model
        self.refit_history_ = {
            key: [float(v) for v in values] for key, values in history.items()
        }

    def _build_model(self, X, seed):
        n_outputs, output_activation, _, _ = self._output_spec()
        mean = variance = None
        if self.standardize:
            mean, variance = _network.input_statistics(
                X, getattr(self, "feature_names_in_", None)
            )
        model = _network.build_network(
            X.shape[1],
            n_outputs,
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            activation=self.activation,
            output_activation=output_activation,
            dropout=self.dropout_,
            input_dropout=self.input_dropout_,
            batch_norm=self.batch_norm_,
            l1=self.l1,
            l2=self.l2_,
            input_mean=mean,
            input_variance=variance,
            seed=seed,
            reconstruction_weight=self.reconstruction_weight_,
            reconstruction_loss=self._reconstruction_loss(X),
        )
        self._compile(model)
        return model

    def _reconstruction_loss(self, X):
        """The joint loss's reconstruction loss for the inputs ``X``: the
        rule of ``pretrain_loss="auto"`` on what the first layer reads."""
        if self.reconstruction_weight_ <= 0 or self.standardize or sp.issparse(X):
            return "squared_error"
        return _pretraining.resolve_loss("auto", X)

    def _compile(self, model):
        """Compile ``model`` with the loss, metrics and a fresh optimizer."""
        _, _, loss, metrics = self._output_spec()
        model.compile(
            optimizer=self._make_optimizer(),
            loss=loss,
            metrics=metrics,
            weighted_metrics=[],
            jit_compile=_network.jit_compile(),
        )

    def _pretrain_config(self):
        """The ``pretrain_*`` parameters as a plain :class:`PretrainConfig`."""
        return _pretraining.PretrainConfig(
            kind=self._resolved_pretrain(),
            n_layers=self.pretrain_layers,
            activation=self.activation,
            corruption=self.pretrain_corruption,
            noise_level=self.pretrain_noise_level,
            sparsity=self.pretrain_sparsity,
            tied_weights=self.pretrain_tied_weights,
            loss=self.pretrain_loss,
            optimizer=self.pretrain_optimizer,
            learning_rate=self.pretrain_learning_rate,
            batch_size=self.pretrain_batch_size,
            epochs=self.pretrain_epochs,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            # "auto" follows the rows of the supervised fit only.
            patience=_defaults.PATIENCE
            if self.n_iter_no_change == "auto"
            else self.n_iter_no_change,
            tol=self.tol,
            verbose=self.verbose,
            finetune=self.finetune,
            # A TimeLimit among the callbacks (a search's time_limit) stops
            # pretraining too, at its next epoch boundary.
            deadline=min(
                (
                    cb.deadline
                    for cb in self.callbacks or ()
                    if isinstance(cb, TimeLimit)
                ),
                default=None,
            ),
        )

    def _pretrain_network(self, model, X, seed):
        """Greedy layer-wise pretraining of ``model`` on ``X`` when ``pretrain``
        is set; the per-layer histories (``[]`` otherwise)."""
        if self._resolved_pretrain() is None:
            return []
        if sp.issparse(X):
            raise TypeError(
                "pretrain does not take sparse X yet; convert with X.toarray() "
                "(if it fits in memory) or set pretrain=None."
            )
        config = self._pretrain_config()
        # Callbacks that say so (``pretraining = True``, e.g. the main job's
        # progress display) also follow each layer's pretraining.
        followers = [
            copy.deepcopy(cb)
            for cb in (self.callbacks or [])
            if getattr(cb, "pretraining", False)
        ]
        histories = _pretraining.initialize_network(
            config, model, X, seed, callbacks=followers
        )
        if config.finetune == "head":
            # The frozen layers take effect at compile time.
            self._compile(model)
        return histories

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

    def _initial_learning_rate(self, model, train, seed, batch_size=None):
        """The starting rate: the parameter (scaled to the batch when
        ``batch_size="auto"`` and no ``batch_size`` overrides it), or the
        finder's choice for "auto"."""
        if not isinstance(self.learning_rate, str):
            if self.batch_size == "auto" and batch_size is None:
                batch = self._batch_size(train[0].shape[0])
                return _network.auto_batch_learning_rate(self.learning_rate, batch)
            return float(self.learning_rate)
        X, y, w = _lr_finder.subset(*train, 1024, seed)
        result = _lr_finder.search_learning_rate(
            model,
            X,
            y,
            w,
            batch_size=min(self._batch_size(train[0].shape[0]), X.shape[0]),
            seed=seed,
        )
        return result.learning_rate

    def _resolve_patience(self, n_rows):
        """Set ``n_iter_no_change_`` and ``patience_growth_`` for a fit on
        ``n_rows`` training rows ("auto": :func:`deepstack._defaults.
        patience`)."""
        self.n_iter_no_change_, self.patience_growth_ = _defaults.patience(
            n_rows,
            regression=is_regressor(self),
            n_iter_no_change=self.n_iter_no_change,
            growth=self.patience_growth,
        )

    def _default_callbacks(self, monitor, partial, reference=None):
        # The guard first: an epoch that diverges has its last good weights
        # back before early stopping reads it (else a first epoch that
        # exploded became the best, and its weights came back at the end).
        guard = DivergenceGuard(on_divergence="stop", reference=reference)
        callbacks = [LearningRateRecorder(), guard]
        if partial:
            return callbacks
        if self.early_stopping and monitor.startswith("val_"):
            callbacks.append(
                EarlyStopping(
                    monitor=monitor,
                    patience=self.n_iter_no_change_,
                    tol=self.tol,
                    restore_best_weights=True,
                    growth=self.patience_growth_,
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
        # (The guard's "stop": the estimator reports the divergence itself,
        # after the history is recorded; see ``_fit_network``.)
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

    def _fit_network(
        self,
        train,
        validation,
        *,
        epochs,
        seed,
        partial=False,
        saving=None,
        resume=None,
    ):
        """Train ``self.model_``; ``saving`` (see ``_checkpoint_identity``)
        writes checkpoints into ``checkpoint``, ``resume`` continues one."""
        scoring = self._scoring_callbacks(validation, partial)
        # Without a validation set, the same quantity on the training data.
        monitor = "val_score" if scoring else self.monitor
        if validation is None:
            monitor = monitor.removeprefix("val_")
        # A warm start keeps the current rate (halved on plateaus), unless
        # the learning_rate parameter was changed since it was set.
        last = getattr(self, "_learning_rate_param", self.learning_rate)
        if resume is not None:
            # The finder's choice (learning_rate="auto") is in the checkpoint.
            self.learning_rate_ = float(resume.state["learning_rate"])
            set_learning_rate(self.model_, self.learning_rate_)
        elif (
            getattr(self, "learning_rate_", None) is None or last != self.learning_rate
        ):
            self.learning_rate_ = self._initial_learning_rate(self.model_, train, seed)
            set_learning_rate(self.model_, self.learning_rate_)
        self._learning_rate_param = self.learning_rate
        _network.reseed(self.model_, seed + self.n_iter_)
        user = [copy.deepcopy(cb) for cb in (self.callbacks or [])]
        board = []
        if self.log_dir is not None and not partial:
            board = [EpochTensorBoard(self.log_dir)]
        # Divergence is judged against the loss before the first step, which
        # a far too large learning rate cannot inflate as it does epoch 1's.
        reference = initial_loss(self.model_, *train)
        self._resolve_patience(train[0].shape[0])
        self.callbacks_ = (
            scoring
            + self._default_callbacks(monitor, partial, reference)
            + board
            + user
        )
        saver, initial_epoch = [], 0
        if saving is not None:
            # Last: it restores the others' state after their on_train_begin
            # and saves it after their on_epoch_end.
            state = {**saving, "learning_rate": float(self.learning_rate_)}
            saver = [
                _checkpoint.EpochCheckpoint(
                    self.checkpoint, self.callbacks_, state, resume=resume
                )
            ]
        if resume is not None:
            initial_epoch = resume.epochs_done
            # A run that had stopped only ends (best weights put back).
            epochs = initial_epoch if resume.stopped else epochs
        with _interrupt.stop_at_epoch_end() as stopper:
            history = self._train(
                self.model_,
                train,
                validation,
                callbacks=self.callbacks_ + [stopper] + saver,
                epochs=epochs - initial_epoch,
                initial_epoch=initial_epoch,
                seed=seed + self.n_iter_,
            )
        if saving is not None:
            history = saver[0].history
            _checkpoint.remove(self.checkpoint)
        self._record_history(history)
        if stopper.interrupted:
            self.refit_on_all_ = False
            warnings.warn(
                f"fit was interrupted (Ctrl-C): training stopped after epoch "
                f"{self.n_iter_}; the weights of epoch {self.best_epoch_ + 1} "
                "are kept and the fitted attributes describe them.",
                RuntimeWarning,
                stacklevel=3,
            )
        if not partial:
            # Partial fits see one chunk at a time: its statistics would
            # replace the moving averages over the whole stream.
            self._set_population_statistics(self.model_, train[0])
        self._report_divergence()
        return history

    def _set_population_statistics(self, model, X):
        """Batch normalization's global statistics of the rows ``X`` into
        ``model`` (``batch_norm_statistics="population"``; else nothing)."""
        if self.batch_norm_ and self.batch_norm_statistics == "population":
            set_population_statistics(
                model, X, batch_size=max(self._batch_size(X.shape[0]), 4096)
            )

    def _batch_size(self, n_rows):
        """The mini-batch size for ``n_rows`` training rows (``batch_size``
        resolved: see :func:`deepstack._network.auto_batch_size`)."""
        if self.batch_size == "auto":
            return _network.auto_batch_size(n_rows)
        return self.batch_size

    def _report_divergence(self):
        guard = next(
            (cb for cb in self.callbacks_ if isinstance(cb, DivergenceGuard)), None
        )
        if guard is None or guard.message is None:
            return
        stopper = next(
            (cb for cb in self.callbacks_ if isinstance(cb, EarlyStopping)), None
        )
        if (
            stopper is None
            or stopper.best_epoch < 0
            or stopper.best_epoch >= guard.diverged_epoch
        ):
            # The guard's restored weights are the ones kept (also where the
            # diverged epoch scored best: it saw them restored).
            first = self.n_iter_ - (guard.diverged_epoch + 1)
            restored = first + guard.restored_epoch
            self.best_epoch_ = restored if restored >= 0 else None
        message = guard.message
        if self.learning_rate == "auto":
            message = divergence_message(
                guard.cause, guard.diverged_epoch, guard.rate, chosen_by_finder=True
            )
        if self.on_divergence == "raise":
            raise DivergenceError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)

    def _train(
        self,
        model,
        train,
        validation,
        *,
        callbacks,
        epochs,
        initial_epoch,
        seed,
        batch_size=None,
        verbose=None,
    ):
        """The training seam: run ``epochs`` epochs and return the logs per epoch.

        :func:`deepstack._trainer.train`: the fused epoch loop (one compiled
        call per epoch, validation inside it) where it applies, else
        ``Model.fit`` with an eager validation pass at each epoch end.
        ``batch_size`` and ``verbose`` default to the parameters.
        """
        *_, metrics = self._output_spec()
        batch_size = (
            self._batch_size(train[0].shape[0]) if batch_size is None else batch_size
        )
        verbose = self.verbose if verbose is None else verbose
        key = None
        if _trainer.fused(model, train[0], callbacks, verbose):
            key = _compile_cache.key(
                model, min(batch_size, train[0].shape[0]), train, validation, metrics
            )
        with _compile_cache.lease(model, key) as (worker, compiled):
            # The network being trained is the worker: callbacks that score
            # the estimator (scoring=) must predict with it.
            swapped = worker is not model and self.__dict__.get("model_") is model
            if swapped:
                self.model_ = worker
            try:
                return _trainer.train(
                    worker,
                    train,
                    validation,
                    batch_size=batch_size,
                    epochs=initial_epoch + epochs,
                    initial_epoch=initial_epoch,
                    callbacks=callbacks,
                    metrics=metrics,
                    verbose=verbose,
                    seed=seed,
                    compiled=compiled,
                )
            finally:
                if swapped:
                    self.model_ = model
                if worker is not model:
                    for callback in callbacks:
                        _point_at(callback, model)

    def _record_history(self, history):
        offset = self.n_iter_
        n_epochs = len(next(iter(history.values()), []))
        # One entry an epoch in every list: a quantity this call did not log
        # (validation after a partial_fit, which has none) is NaN for its
        # epochs, one new here NaN for the earlier ones.
        for key in self.history_.keys() - history.keys():
            self.history_[key].extend([math.nan] * n_epochs)
        for key, values in history.items():
            logged = self.history_.setdefault(key, [math.nan] * offset)
            logged.extend(float(v) for v in values)
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
        # Pretraining takes no sparse X ("auto" leaves sparse X alone).
        tags.input_tags.sparse = self.pretrain in (None, "auto")
        tags.non_deterministic = False
        return tags


def distribution_scope(estimator):
    """The context ``estimator``'s ``distribution`` trains in (a null context
    for one device): for :class:`~deepstack.DeepStackHyperModel`, which builds
    and trains the estimator's network outside ``fit``."""
    return estimator._distribution_scope()


def prepare_training(estimator, X, y, sample_weight=None, **options):
    """``estimator``'s preparation step (``BaseDeepStack._prepare``) for the
    code that trains its network outside ``fit``: the learning-rate finder
    and :class:`~deepstack.DeepStackHyperModel`. ``options`` are ``_prepare``'s
    (``build``, ``split``, ``max_samples``, ``X_val``, ``y_val``)."""
    return estimator._prepare(X, y, sample_weight, **options)


def network_target(estimator, y):
    """``y`` encoded as the fitted ``estimator``'s network trains on it."""
    return estimator._encode_target(np.asarray(y), reset=False)


def unlabeled_target_rows(estimator, y):
    """Boolean mask of the rows of ``y`` that carry no target for
    ``estimator`` (None when every row does): NaN targets of a regressor,
    -1 labels of a classifier unless -1 is one of its classes (of a fitted
    classifier's ``classes_``; for an unfitted one, as ``fit`` would read
    them, see :func:`unlabeled_rows`). None for another library's estimator.
    """
    if not isinstance(estimator, BaseDeepStack):
        return None
    y = np.asarray(y)
    mask = estimator._unlabeled_mask(y)
    if mask is None or not np.any(mask):
        return None
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        # A fitted classifier: -1 is unlabeled unless it was fit as a class.
        return None if any(bool(label == -1) for label in classes) else mask
    if is_regressor(estimator):
        return mask  # NaN is never a target
    with warnings.catch_warnings():
        # ``fit`` itself warns when -1 stays a class label.
        warnings.simplefilter("ignore")
        mask, _ = unlabeled_rows(estimator, y)
    return mask


def check_parameters(estimator):
    """Raise as ``fit`` would for a parameter value ``estimator`` refuses (its
    constraints, and the checks they cannot express), before any data is
    seen; another library's estimator against its scikit-learn constraints."""
    if isinstance(estimator, BaseDeepStack):
        estimator._check_params()
    elif hasattr(estimator, "_validate_params"):
        estimator._validate_params()


def unlabeled_rows(estimator, y, *, sparse=False):
    """How ``estimator.fit`` would read the rows of ``y`` marked unlabeled.

    Returns ``(mask, params)``: the rows ``fit`` sets aside as unlabeled (None
    when it fits every row as labeled), and the values that ``y`` resolves
    for the estimator's "auto" parameters that depend on them (``pretrain``,
    ``semi_supervised``, ``reconstruction_weight``). Fits on parts of ``y``
    (an ensemble's folds) given these ``params`` read the rows alike, however
    the parts' counts fall. ``(None, {})`` for another library's estimator.
    """
    if not isinstance(estimator, BaseDeepStack):
        return None, {}
    probe = clone(estimator)
    mask = probe._resolve_unlabeled(np.asarray(y), reset=True, sparse=sparse)
    resolved = {
        "pretrain": probe._resolved_pretrain,
        "semi_supervised": getattr(probe, "_resolved_semi_supervised", None),
        "reconstruction_weight": probe._resolved_reconstruction_weight,
    }
    params = {
        name: value()
        for name, value in resolved.items()
        if value is not None and estimator.get_params().get(name) == "auto"
    }
    return mask, params


def validate_features(estimator, X):
    """``X`` checked against what ``estimator`` was prepared or fitted on."""
    return estimator._validate_X(X)


def train_network(
    estimator,
    model,
    X,
    y,
    *,
    validation_data=None,
    callbacks=(),
    epochs=None,
    initial_epoch=0,
    batch_size=None,
    verbose=None,
    pretrain=True,
):
    """Train ``model``, a network that ``estimator`` built, as ``fit`` would.

    For :class:`~deepstack.DeepStackHyperModel`: ``estimator`` has been
    prepared (its target encoding is fitted); ``X, y`` and
    ``validation_data`` are raw inputs and targets. Encodes them, pretrains
    (``pretrain``), sets the starting learning rate (the finder's with
    ``learning_rate="auto"``), adds the estimator's default callbacks before
    ``callbacks`` and trains through the estimator's training seam up to
    epoch ``epochs`` (default ``max_epochs``), starting at
    ``initial_epoch``.

    Returns
    -------
    keras.callbacks.History
    """
    X, y = estimator._encode_rows(X, y)
    validation = None
    if validation_data is not None:
        validation = (*estimator._encode_rows(*validation_data[:2]), None)
    seed = estimator._seed()
    train = (X, y, None)
    if pretrain:
        estimator._pretrain_network(model, X, seed)
    rate = estimator._initial_learning_rate(model, train, seed, batch_size)
    set_learning_rate(model, rate)
    monitor = "val_loss" if validation is not None else "loss"
    estimator._resolve_patience(X.shape[0])
    callbacks = estimator._default_callbacks(monitor, False) + list(callbacks)
    epochs = estimator.max_epochs if epochs is None else epochs
    logs = estimator._train(
        model,
        train,
        validation,
        callbacks=callbacks,
        epochs=epochs - initial_epoch,
        initial_epoch=initial_epoch,
        seed=seed,
        batch_size=batch_size,
        verbose=verbose,
    )
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = logs
    history.epoch = list(
        range(initial_epoch, initial_epoch + len(logs.get("loss", [])))
    )
    return history


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
            return load_tied_model(path, compile=True)


def _validation_score(scorer, estimator, X, y):
    """``scorer`` of the network being trained, on validated rows ``X``."""
    with warnings.catch_warnings():
        # X is the validated array: no column names, whatever fit was given.
        warnings.filterwarnings("ignore", "X does not have valid feature names")
        try:
            return scorer(estimator, X, y)
        except ValueError as exc:  # e.g. "roc_auc" on three classes
            raise ValueError(
                f"scoring={estimator.scoring!r} cannot score the validation rows: {exc}"
            ) from exc


def _detached(callback):
    """A shallow copy of ``callback`` without its reference to the model."""
    callback = copy.copy(callback)
    _point_at(callback, None)
    return callback


def _point_at(callback, model):
    """Set ``callback.model`` alone: Keras's base ``set_model``, not an
    override's (``TensorBoard.set_model`` opens new event files and writes
    the model's summary again)."""
    keras.callbacks.Callback.set_model(callback, model)


def _explain_conversion_error(exc, X=None):
    message = str(exc)
    lowered = message.lower()
    if (
        "could not convert" in lowered
        or ("convert" in lowered and "float" in lowered)
        or ("cannot cast" in lowered and ("str" in lowered or "object" in lowered))
    ):
        columns = _non_numeric_columns(X)
        named = f" in columns {columns}" if columns else ""
        return ValueError(
            f"X contains non-numeric features{named} ({message}). deepstack "
            "networks need numbers: encode categorical columns first, e.g. with "
            "sklearn.preprocessing.OneHotEncoder in a ColumnTransformer."
        )
    return exc


def _non_numeric_columns(X):
    """Names of a DataFrame's columns that are neither numbers nor booleans."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    return [
        str(name)
        for name, dtype in dtypes.items()
        if getattr(dtype, "kind", "O") not in "biuf"
    ]


def _explain_sparse_error(exc):
    message = str(exc)
    if "sparse" in message.lower():
        return TypeError(
            message + " deepstack trains dense networks; convert with X.toarray() "
            "(if it fits in memory) or reduce it first, e.g. with TruncatedSVD."
        )
    return exc
