"""The preparation step every training run of ``BaseDeepStack`` starts with.

``PreparationMixin`` gives the base ``_prepare``: the parameters checked,
``X, y`` validated, the rows without a target set aside, the targets
encoded, the sample weights scaled, the run's seed drawn, the validation
split drawn, and the network built and compiled on the training rows, all
returned as one :class:`Preparation`. ``partial_fit`` and the refit on all
rows use its parts (validation, sample weights, seed, building).
:func:`prepare_training`, :func:`network_target` and
:func:`validate_features` give the learning-rate finder, the keras-tuner
HyperModel, the search's data checks and the diagnostics the same steps
without reaching into the estimator's private methods.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import is_regressor
from sklearn.utils import check_random_state

from deepstack import _defaults, _lr_finder, _network, _pretraining, _random
from deepstack._compat import check_sample_weight
from deepstack._split import n_validation, train_validation_split
from deepstack.estimators._checks import (
    renamed_input_error,
    renamed_warnings,
    validated,
    warn_of_a_second_early_stopping,
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


class PreparationMixin:
    """The preparation step and its parts (input validation, encoded
    targets, sample weights, seed, validation split, the built network),
    for ``BaseDeepStack``."""

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
        warn_of_a_second_early_stopping(self)
        X, y = self._validate_training_data(X, y, reset=reset)
        unlabeled = self._resolve_unlabeled(y, reset=reset, sparse=sp.issparse(X))
        if unlabeled is not None and np.all(unlabeled):
            raise ValueError(self._no_labeled_rows_message(len(unlabeled)))
        X, y, sample_weight, X_unlabeled = _pretraining.split_unlabeled(
            unlabeled, X, y, sample_weight
        )
        if X_unlabeled is not None:
            _check_labeled_weights(sample_weight, X.shape[0], X_unlabeled.shape[0])
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

    def _validate_X(self, X, *, reset=False):
        return validated(
            self, X, reset=reset, accept_sparse="csr", ensure_min_samples=1
        )

    def _validate_training_data(self, X, y, *, reset):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        return validated(
            self,
            X,
            y,
            reset=reset,
            accept_sparse="csr",
            multi_output=True,
            y_numeric=False,
        )

    def _encode_rows(self, X, y, names=("X", "y")):
        """Validate ``X`` and encode ``y`` with the fitted target encoding;
        errors name them ``names`` (``X_val``, ``y_val``)."""
        try:
            with renamed_warnings(*names):
                X = self._validate_X(X)
                if not (hasattr(y, "iloc") or sp.issparse(y)):
                    y = np.asarray(y)
                y = self._encode_target(y, reset=False)
        except (ValueError, TypeError) as exc:
            if names == ("X", "y"):
                raise
            raise renamed_input_error(exc, *names) from exc
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"{names[0]} and {names[1]} have different numbers of samples: "
                f"{X.shape[0]} and {y.shape[0]}."
            )
        return X, y

    def _sample_weights(self, X, y_enc, sample_weight):
        if sample_weight is not None:
            # Read in float64: only the ratios count, so weights of 1e-50 or
            # 1e300 are valid, and float32 would make them 0 or infinite.
            sample_weight = check_sample_weight(sample_weight, X, dtype=np.float64)
            negative = np.flatnonzero(sample_weight < 0)
            if negative.size:
                raise ValueError(
                    f"sample_weight must be non-negative; {negative.size} rows "
                    f"have negative weights (first: {negative[:5].tolist()})."
                )
        sample_weight = self._sample_weight_from_target(y_enc, sample_weight)
        if sample_weight is not None:
            # Scaled to mean 1: only the weights' ratios count, as in
            # scikit-learn's MLP (which divides by their sum). Keras divides
            # the weighted loss by the batch's rows, so a common factor
            # acted as a learning-rate multiplier (with SGD) and shifted the
            # balance against the weight penalty. Divided by the largest
            # first, so that the sum of huge weights cannot overflow.
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            largest = sample_weight.max()
            if largest > 0:
                sample_weight = sample_weight / largest
                total = sample_weight.sum()
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
        if sample_weight is not None:
            _check_split_weights(train[2], val[2], self.validation_fraction)
        return tuple(train), tuple(val)

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
            # Given the sample weights to leave out the rows of weight 0
            # (the joint loss's unlabeled rows), not to weight the others:
            # deepstack/_metrics.py.
            weighted_metrics=metrics,
            jit_compile=_network.jit_compile(),
        )


def _check_labeled_weights(sample_weight, n_labeled, n_unlabeled):
    """Refuse weights that are 0 on every labeled row: scikit-learn's
    "Sample weights must contain at least one non-zero number." blamed
    weights that were not all zero (the unlabeled rows' were set aside)."""
    weights = np.asarray(sample_weight) if sample_weight is not None else None
    if weights is None or weights.shape != (n_labeled,):
        return  # (checked as any sample_weight is, after)
    if weights.dtype.kind in "biuf" and not weights.any():
        raise ValueError(
            f"sample_weight is 0 on all {weights.size} labeled rows. The "
            f"{n_unlabeled} rows without a label are set aside (they weigh "
            "nothing in the supervised loss, whatever their sample_weight): "
            "give weight to labeled rows."
        )


def _check_split_weights(train_weights, val_weights, validation_fraction):
    """Refuse a validation split that leaves one side every row's weight 0.

    Keras divides a weighted loss by the rows, so weight 0 on every row of
    a side makes its loss the weight penalty alone: the network learned
    nothing from its training rows, or early stopping watched a constant
    validation loss and kept an early epoch, without a word.
    """
    for side, weights in (("training", train_weights), ("validation", val_weights)):
        if not np.any(weights):
            raise ValueError(
                f"sample_weight (times class_weight, if set) is 0 on all "
                f"{len(weights)} {side} rows of the split drawn with "
                f"validation_fraction={validation_fraction}: their loss would hold "
                "nothing but the weight penalty. Give weight to more rows, pass X_val "
                "and y_val, or set early_stopping=False."
            )


def prepare_training(estimator, X, y, sample_weight=None, **options):
    """``estimator``'s preparation step (``BaseDeepStack._prepare``) for the
    code that trains its network outside ``fit``: the learning-rate finder
    and :class:`~deepstack.DeepStackHyperModel`. ``options`` are ``_prepare``'s
    (``build``, ``split``, ``max_samples``, ``X_val``, ``y_val``)."""
    return estimator._prepare(X, y, sample_weight, **options)


def network_target(estimator, y):
    """``y`` encoded as the fitted ``estimator``'s network trains on it."""
    return estimator._encode_target(np.asarray(y), reset=False)


def validate_features(estimator, X):
    """``X`` checked against what ``estimator`` was prepared or fitted on."""
    return estimator._validate_X(X)
