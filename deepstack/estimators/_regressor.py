"""DeepStackRegressor: a deep feed-forward regressor with a scikit-learn API."""

from numbers import Integral

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.base import RegressorMixin

from deepstack import _losses, _metrics, _pretraining, _self_training
from deepstack._compat import Interval, StrOptions
from deepstack.estimators import _docs
from deepstack.estimators._base import BaseDeepStack
from deepstack.estimators._semi_supervised import warn_neighbors_capped


class DeepStackRegressor(RegressorMixin, BaseDeepStack):
    __doc__ = f"""Deep feed-forward network regressor (dropout, batch norm, Keras 3).

    A linear output layer (one unit per target; multi-output ``y`` is
    supported; an exponential one with ``loss="poisson"``) over
    ``hidden_layer_sizes`` Dense layers, trained on the squared error (or
    ``loss``) of standardized targets, with early stopping and learning-rate
    halving on a shuffled validation split. Predictions are returned in the
    original target units. Rows whose target is NaN (every output NaN) are
    unlabeled (semi-supervised regression): pretraining uses them (``pretrain``
    set; ``pretrain="auto"`` pretrains when they outnumber the labeled rows),
    and so do ``semi_supervised="label_propagation"`` and the joint loss
    (``reconstruction_weight``, whose default "auto" engages when they
    outnumber the labeled rows and nothing else uses them); when no step
    uses them, NaN targets are a ``ValueError`` (they are never dropped
    silently).

    Parameters
    ----------
{_docs.COMMON_PARAMETERS}
    semi_supervised : {{"label_propagation"}} or None, default=None
        Learn from the unlabeled (NaN-target) rows during fine-tuning too:
        after fine-tuning on the labeled rows, each of
        ``self_training_rounds`` rounds spreads the targets over a
        k-nearest-neighbour graph of all training rows (the first on the
        inputs as given, later ones on the last hidden layer's activations;
        Gaussian edge weights, Zhou et al. 2004), gives every unlabeled row
        that a labeled row reaches a weighted mean of the labeled targets
        and continues training on labeled plus these rows. The internal
        validation split's rows join the labeled ones and each round draws
        its split anew from labeled plus propagated rows, so early stopping
        also weighs agreement with the propagated targets (a given ``X_val``
        stays). Combines with
        ``pretrain``.
    self_training_rounds : int, default=3
        Rounds of target propagation.
    propagation_neighbors : int, default=10
        Neighbours of each row in the propagation graph, the row itself not
        counted (capped at the other training rows, with a warning).

    Attributes
    ----------
{_docs.COMMON_ATTRIBUTES}
    target_mean_, target_scale_ : ndarray of shape (`n_outputs_`,)
        Statistics used to standardize the targets (0 and 1 with
        ``standardize=False``).
    n_pseudo_labeled_ : list of int
        With ``semi_supervised`` (and unlabeled rows): how many unlabeled
        rows each propagation round gave a target.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from deepstack import DeepStackRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = DeepStackRegressor((16,), max_epochs=20, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseDeepStack._parameter_constraints,
        "loss": [StrOptions({"auto", *_losses.REGRESSOR_LOSSES})],
        "semi_supervised": [StrOptions({"label_propagation"}), None],
        "self_training_rounds": [Interval(Integral, 1, None, closed="left")],
        "propagation_neighbors": [Interval(Integral, 1, None, closed="left")],
    }
    _monitors = ("val_loss", "val_r2")
    # (A refit on labeled rows alone kept the last fit's.)
    _unlabeled_results = ("n_pseudo_labeled_",)

    # The base's parameters are repeated here on purpose: scikit-learn reads
    # an estimator's parameters from its __init__ signature, which must list
    # them all (no **kwargs), and a generated ``__signature__`` would hide them
    # from IDEs, type checkers and readers. tests/test_structure.py
    # (test_parameters_match_the_base) fails when the two lists drift apart.
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
        semi_supervised=None,
        self_training_rounds=3,
        propagation_neighbors=10,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            input_dropout=input_dropout,
            batch_norm=batch_norm,
            l1=l1,
            l2=l2,
            loss=loss,
            focal_gamma=focal_gamma,
            huber_delta=huber_delta,
            optimizer=optimizer,
            learning_rate=learning_rate,
            momentum=momentum,
            nesterov=nesterov,
            batch_size=batch_size,
            max_epochs=max_epochs,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            patience_growth=patience_growth,
            tol=tol,
            lr_schedule=lr_schedule,
            lr_patience=lr_patience,
            lr_factor=lr_factor,
            monitor=monitor,
            scoring=scoring,
            max_halvings=max_halvings,
            min_learning_rate=min_learning_rate,
            clipnorm=clipnorm,
            on_divergence=on_divergence,
            batch_norm_statistics=batch_norm_statistics,
            standardize=standardize,
            random_state=random_state,
            deterministic=deterministic,
            verbose=verbose,
            callbacks=callbacks,
            log_dir=log_dir,
            checkpoint=checkpoint,
            warm_start=warm_start,
            pretrain=pretrain,
            pretrain_epochs=pretrain_epochs,
            pretrain_layers=pretrain_layers,
            pretrain_corruption=pretrain_corruption,
            pretrain_noise_level=pretrain_noise_level,
            pretrain_sparsity=pretrain_sparsity,
            pretrain_tied_weights=pretrain_tied_weights,
            pretrain_loss=pretrain_loss,
            pretrain_optimizer=pretrain_optimizer,
            pretrain_learning_rate=pretrain_learning_rate,
            pretrain_batch_size=pretrain_batch_size,
            finetune=finetune,
            distribution=distribution,
            reconstruction_weight=reconstruction_weight,
            refit_on_all=refit_on_all,
        )
        self.semi_supervised = semi_supervised
        self.self_training_rounds = self_training_rounds
        self.propagation_neighbors = propagation_neighbors

    def _validate_training_data(self, X, y, *, reset):
        # NaN targets mark unlabeled rows (set aside by ``_prepare``);
        # scikit-learn's validation rejects them, so they are checked filled.
        mask = self._unlabeled_mask(y)
        if mask is not None and np.ndim(y) == 2:
            partial = np.isnan(_float_targets(y)).any(axis=1) & ~mask
            if partial.any():
                # Filled with 0 to pass validation, they trained as targets 0.
                raise ValueError(
                    f"y is NaN in some but not all outputs of {int(partial.sum())} "
                    "row(s) (e.g. row "
                    f"{int(np.flatnonzero(partial)[0])}): a row without a target "
                    "is NaN in every output, and a partly known row cannot be "
                    "trained on; drop those rows or fill their missing outputs."
                )
        if mask is None or not mask.any():
            return super()._validate_training_data(X, y, reset=reset)
        y = _float_targets(y)
        X, filled = super()._validate_training_data(
            X, np.where(np.isnan(y), 0.0, y), reset=reset
        )
        filled = np.array(filled, dtype=np.float64)
        filled[mask] = np.nan
        return X, filled

    def _unlabeled_mask(self, y):
        # NaN marks a row without a target (every output NaN).
        if y is None or not hasattr(y, "__len__"):
            return None
        y = _float_targets(y)
        if y is None or y.ndim not in (1, 2):
            return None
        nan = np.isnan(y)
        return nan if y.ndim == 1 else nan.all(axis=1)

    _unlabeled_mark = "a NaN target"

    def _no_labeled_rows_message(self, n_rows):
        return (
            f"y holds no labeled samples: the target is NaN in all {n_rows} "
            "rows. NaN marks a row without a target (which pretraining, "
            "semi_supervised and the joint loss use as unlabeled data), and "
            "training needs some rows with a target: give some rows a finite "
            "target."
        )

    def _ignored_unlabeled(self, y, mask):
        n_unlabeled = int(np.sum(mask))
        if self.pretrain == "auto":
            hint = (
                "pretrain='auto' pretrains only when they outnumber the labeled "
                "rows: set pretrain='denoising'"
            )
        elif _pretraining.unlabeled_outnumber(n_unlabeled, len(mask) - n_unlabeled):
            hint = "set pretrain='auto' (or 'denoising')"
        else:
            # "auto" would not pretrain on fewer unlabeled rows than labeled.
            hint = "set pretrain='denoising'"

        raise ValueError(
            f"y contains NaN in {int(np.sum(mask))} of {len(mask)} rows. NaN marks "
            "a row without a target, which only pretraining, "
            "semi_supervised='label_propagation' and the joint loss use: "
            f"{hint} to pretrain on "
            "those rows, set semi_supervised='label_propagation' to train on "
            "their propagated targets, set reconstruction_weight > 0 to train "
            "on their reconstruction (the joint loss; reconstruction_weight="
            "'auto' does so only when they outnumber the labeled rows), or drop "
            "them."
        )

    def _learns_from_unlabeled(self):
        return self.semi_supervised is not None

    def _fit_unlabeled(self, run):
        """Target propagation: rounds of spreading the training targets over a
        kNN graph of all training rows and training on labeled plus every
        reached unlabeled row.

        The regression analogue of the classifier's label propagation
        (:func:`~deepstack._self_training.propagate_targets`): the first graph
        is built on the inputs, later ones on the last hidden layer's
        activations; the internal validation split's rows join the labeled
        rows and each round draws a new split (a given ``X_val`` stays).
        """
        self.n_pseudo_labeled_ = []
        (X_train, y_train, weights), redraw = self._rows_to_propagate_from(run)
        X_all = _self_training.stack_rows(X_train, run.X_unlabeled)
        n_labeled, n_unlabeled = X_train.shape[0], run.X_unlabeled.shape[0]
        labeled = np.arange(n_labeled + n_unlabeled) < n_labeled
        targets = np.concatenate([y_train, np.zeros((n_unlabeled, y_train.shape[1]))])
        features = X_all
        if _self_training.neighbors_within(self.propagation_neighbors, len(labeled))[1]:
            warn_neighbors_capped(self.propagation_neighbors, len(labeled))
        for round_ in range(self.self_training_rounds):
            spread = _self_training.propagate_targets(
                features, targets, labeled, self.propagation_neighbors
            )[n_labeled:]
            reached = ~np.isnan(spread).any(axis=1)
            self.n_pseudo_labeled_.append(int(reached.sum()))
            train = (
                _self_training.stack_rows(X_train, run.X_unlabeled[reached]),
                np.concatenate([y_train, spread[reached].astype(np.float32)]),
                None
                if weights is None
                else np.concatenate([weights, np.ones(int(reached.sum()))]),
            )
            features = self._fit_propagation_round(
                run, round_, train, reached, X_all, redraw
            )
            if features is None:
                break

    def _loss_name(self):
        return "squared_error" if self.loss == "auto" else self.loss

    def _encode_target(self, y, *, reset):
        if sp.issparse(y):
            # As scikit-learn's regressors (MLPRegressor, Ridge).
            raise TypeError(
                "DeepStackRegressor takes a dense y; y is a sparse matrix: pass "
                "y.toarray()."
            )
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"DeepStackRegressor needs numeric targets; y has dtype {y.dtype}."
                ) from exc
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        if not np.all(np.isfinite(y)):
            raise ValueError(
                "y contains NaN or infinite values (a NaN target marks a row "
                "without one only for fit: partial_fit, y_val and score take "
                "rows with targets)."
            )
        y2 = y.reshape(len(y), -1).astype(np.float64)
        poisson = self._loss_name() == "poisson"
        if poisson and np.any(y2 < 0):
            raise ValueError(
                "loss='poisson' needs non-negative targets (counts, rates); y has "
                f"{int(np.sum(y2 < 0))} negative values (smallest {y2.min():g})."
            )
        if reset:
            self._single_output = y.ndim == 1
            self.n_outputs_ = y2.shape[1]
            if poisson:
                # The log link keeps predictions positive: no centering, only
                # a scale that puts the mean target at 1.
                self.target_mean_ = np.zeros(self.n_outputs_)
                mean = y2.mean(axis=0) if self.standardize else np.ones(1)
                self.target_scale_ = np.broadcast_to(
                    np.where(mean > 0, mean, 1.0), (self.n_outputs_,)
                ).copy()
            elif self.standardize:
                # Read on a scale of 1: the standard deviation squares the
                # targets, which overflows beyond 1e154.
                size = np.abs(y2).max(axis=0)
                size = np.where(size > 0, size, 1.0)
                self.target_mean_ = (y2 / size).mean(axis=0) * size
                scale = (y2 / size).std(axis=0) * size
                self.target_scale_ = np.where(scale > 0, scale, 1.0)
            else:
                self.target_mean_ = np.zeros(self.n_outputs_)
                self.target_scale_ = np.ones(self.n_outputs_)
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} targets but the network was fitted with "
                f"{self.n_outputs_}."
            )
        return ((y2 - self.target_mean_) / self.target_scale_).astype(np.float32)

    def _output_spec(self):
        # R2 of standardized targets equals R2 in the original units.
        metrics = [_metrics.R2Score(name="r2")] if self.monitor == "val_r2" else []
        activation, loss = _losses.regressor_loss(
            self._loss_name(), huber_delta=self.huber_delta
        )
        return self.n_outputs_, activation, loss, metrics

    def _decode_output(self, raw):
        out = raw * self.target_scale_ + self.target_mean_
        return out[:, 0] if self._single_output else out

    def _serving_outputs(self, x):
        # Decoded in float64, as ``predict`` decodes: in float32 a target's
        # mean of 1e9 is held to steps of 64, which would swamp predictions
        # varying by less.
        raw = keras.ops.cast(self.model_(x, training=False), "float64")
        scale = keras.ops.convert_to_tensor(self.target_scale_, "float64")
        mean = keras.ops.convert_to_tensor(self.target_mean_, "float64")
        return {"predictions": raw * scale + mean}

    def _export_metadata(self):
        return {
            "task": "regression",
            "single_output": bool(self._single_output),
            "outputs": {
                "predictions": "predict, shape (n, n_outputs); column 0 for a 1-D y"
            },
        }

    def predict(self, X):
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs)."""
        return self._decode_output(self._predict_raw(X))

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on ``X, y``, continuing from the last call.

        The first call builds the network; later calls keep its weights,
        optimizer state and target standardization. No validation split is
        drawn.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets, without NaN (rows without a target are for ``fit``).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        # Its own signature, as MLPRegressor's: the base's keyword arguments
        # (the classifier's classes=) failed with "BaseDeepStack.
        # _encode_partial_target() got an unexpected keyword argument".
        return super().partial_fit(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _float_targets(y):
    """``y`` as float64 with its missing values NaN (None in a list, pd.NA
    in nullable columns), or None when it holds no numbers."""
    if sp.issparse(y):
        return None
    try:
        if hasattr(y, "to_numpy"):
            return y.to_numpy(dtype=np.float64, na_value=np.nan)
        y = np.asarray(y)
        if y.dtype.kind in "fO":
            return y.astype(np.float64)
    except (TypeError, ValueError):
        pass
    return None
