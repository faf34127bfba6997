"""The fit machinery shared by deepstack's supervised estimators.

``BaseDeepStack`` owns the public ``fit`` / ``partial_fit`` / ``predict``
template; subclasses fill the private hooks (``_encode_target``,
``_output_spec``, ``_decode_output``). Every training run starts with one
preparation step, ``_prepare`` (validated arrays, encoded targets, the
validation split, the built and compiled network), and trains through one
seam, ``_train``, which calls :func:`deepstack._trainer.train` (the fused
epoch loop). :func:`deepstack.estimators._preparation.prepare_training` and
:func:`deepstack.estimators._training.train_network` give the learning-rate
finder and the keras-tuner HyperModel the same two steps without reaching
into the estimator's private methods.

The parts live beside it: the parameter checks and input errors in
``_checks.py``, the rows without a target in ``_unlabeled.py``
(``UnlabeledRowsMixin``), the preparation step in ``_preparation.py``
(``PreparationMixin``), pretraining, the training seam and its callbacks
in ``_training.py`` (``TrainingMixin``).
"""

import os
import tempfile
import warnings
from numbers import Integral, Real

import keras
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from deepstack import _checkpoint, _export, _losses, _network, _pretraining, _random
from deepstack._compat import HasMethods, Interval, StrOptions
from deepstack._warnings import user_stacklevel
from deepstack.estimators._checks import BUILT_WITH, check_structured_params, plain
from deepstack.estimators._preparation import PreparationMixin
from deepstack.estimators._rollback import rolls_back_on_exception
from deepstack.estimators._training import TrainingMixin, detached
from deepstack.estimators._unlabeled import UnlabeledRowsMixin
from deepstack.layers._tied_dense import load_model as load_tied_model


class BaseDeepStack(UnlabeledRowsMixin, PreparationMixin, TrainingMixin, BaseEstimator):
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
        check_structured_params(self)

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

    # ------------------------------------------------------------- public API

    @rolls_back_on_exception
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
            1 in float64, with ``class_weight``, as scikit-learn's MLP divides
            by their sum, so any scale works). Non-negative, not all zero.
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
                # The semi-supervised results describe this fit's rows (a
                # label-propagation graph of the last fit's rows went on
                # mixing into predictions after a fit on labeled rows alone).
                self._drop_unlabeled_results()
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
            unlabeled_next = run.X_unlabeled is not None and (
                self._learns_from_unlabeled()
            )
            interrupted = self._fit_network(
                self._joint_rows(run.train, run.X_unlabeled),
                run.validation,
                epochs=self.max_epochs,
                seed=run.seed,
                saving=saving,
                resume=resume,
                after_interrupt="The semi-supervised rounds that follow are skipped."
                if unlabeled_next
                else "",
            )
            # An interrupted or diverged first run keeps what it has.
            if self.refit_on_all_ and not continuing and self.best_epoch_ is not None:
                self._refit_on_all(run)
            elif self.refit_on_all_:
                self.refit_on_all_ = False  # (model_ is no refit)
            # A Ctrl-C stops the whole fit, not only the training it landed in.
            if unlabeled_next and not interrupted:
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

    @rolls_back_on_exception
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
        matrix of ``predict``); the regressor's is ``predictions``, float64
        in the target's units, decoded in float64 as ``predict`` decodes
        (column 0 is ``predict``'s output for a 1-D target).
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

    def _check_built_with(self, how):
        """Raise if a parameter the fitted network was built with has changed
        since (``how``: the call that would continue it)."""
        built = dict(getattr(self, "_built_with", None) or {})
        if self._resolved_pretrain() is None:
            built.pop("finetune", None)
        changed = [
            f"{name}={built[name]!r} (now {getattr(self, name)!r})"
            for name in BUILT_WITH
            if name in built and plain(built[name]) != plain(getattr(self, name))
        ]
        if changed:
            raise ValueError(
                f"{how} continues the fitted network, which was built with "
                + ", ".join(changed)
                + ". Set them back, or fit a new network (warm_start=False)."
            )

    def _reset_fit_state(self):
        self._built_with = {name: getattr(self, name) for name in BUILT_WITH}
        self.history_ = {}
        self.n_iter_ = 0
        self.best_epoch_ = None
        self.refit_on_all_ = False
        self.refit_history_ = {}
        self.pretraining_history_ = []
        self.learning_rate_ = None
        self._drop_unlabeled_results()

    # ------------------------------------------------------------- pickling

    def __getstate__(self):
        # A copy: on Python >= 3.11 the inherited __getstate__ returns the
        # instance's own __dict__, which the lines below must not mutate.
        state = dict(super().__getstate__())
        distribution = state.get("distribution")
        if distribution is not None and not isinstance(distribution, str):
            # A Keras distribution names the devices of this process (and
            # holds JAX device objects once used, which do not pickle); the
            # process that loads the estimator may have other devices, or
            # one. Prediction needs none.
            state["distribution"] = None
            warnings.warn(
                f"{type(self).__name__} is pickled with distribution=None: "
                f"its distribution={distribution!r} holds this process's "
                "devices, which another process may not have. After loading, "
                "set_params(distribution=...) to train data-parallel again, or "
                'use distribution="auto" (a string, kept: all local devices '
                "of the process that trains).",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        if "model_" in state:
            state["model_"] = _ModelBytes.from_model(state["model_"])
        if "callbacks_" in state:
            state["callbacks_"] = [detached(cb) for cb in state["callbacks_"]]
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


def check_parameters(estimator):
    """Raise as ``fit`` would for a parameter value ``estimator`` refuses (its
    constraints, and the checks they cannot express), before any data is
    seen; another library's estimator against its scikit-learn constraints."""
    if isinstance(estimator, BaseDeepStack):
        estimator._check_params()
    elif hasattr(estimator, "_validate_params"):
        estimator._validate_params()


# (Pickled estimators name it by this module: tests/data/legacy_tied/sae.pkl.)
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
