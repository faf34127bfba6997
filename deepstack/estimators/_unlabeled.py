"""Rows without a target: how an estimator reads, sets aside and uses them.

A classifier marks a row unlabeled with -1, a regressor with NaN. Such rows
are set aside for the steps that learn from them (greedy pretraining,
self-training or label propagation, the joint reconstruction loss) and are
otherwise ignored (the classifier says so). ``"auto"`` parameters that
depend on their number (``pretrain``, ``reconstruction_weight``) are
resolved here, once per ``fit``.
"""

import warnings

import numpy as np
from sklearn.base import clone, is_regressor

from deepstack import _defaults, _network, _pretraining, _self_training
from deepstack._warnings import user_stacklevel


class UnlabeledRowsMixin:
    """The unlabeled-row hooks and their resolution, for ``BaseDeepStack``."""

    #: Fitted attributes that the steps learning from unlabeled rows set
    #: (``_fit_unlabeled``): each ``fit`` sets them anew or leaves them out.
    _unlabeled_results = ()

    def _drop_unlabeled_results(self):
        """Forget the last fit's ``_unlabeled_results`` (a new fit, or a
        warm-started one, whose rows may hold none without a label)."""
        for name in self._unlabeled_results:
            self.__dict__.pop(name, None)

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

    def _rows_to_propagate_from(self, run):
        """``run.train`` with the internal validation split's rows joined,
        and whether they were (then each propagation round draws its split
        anew from labeled plus propagated rows).

        An internal split of the few labeled rows is too small to stop on
        (6 rows for 60 labels; benchmarks/semi_supervised.py). A given
        ``X_val, y_val`` stays as it is.
        """
        X, y, weights = run.train
        validation = run.validation
        redraw = validation is not None and not run.validation_given
        if redraw:
            X = _self_training.stack_rows(X, validation[0])
            y = np.concatenate([y, validation[1]])
            if weights is not None:
                weights = np.concatenate([weights, validation[2]])
        return (X, y, weights), redraw

    def _fit_propagation_round(self, run, round_, train, reached, X_all, redraw):
        """Train on one propagation round's rows; the next round's features.

        ``train``: the labeled plus propagated rows; ``reached``: which of
        ``run.X_unlabeled`` a label or target reached (the others join the
        joint loss alone); ``redraw`` (from :meth:`_rows_to_propagate_from`):
        whether the round draws its validation split anew from ``train``.
        Returns the last hidden layer's activations of ``X_all`` (labeled
        then unlabeled rows), on which the next round builds its graph, or
        None when a Ctrl-C stopped the training (no later round runs).
        """
        validation = run.validation
        if redraw:
            train, validation = self._split(*train, None, None, run.seed + round_)
        if self._fit_network(
            self._joint_rows(train, run.X_unlabeled[~reached]),
            validation,
            epochs=self.max_epochs,
            seed=run.seed + round_ + 1,
            after_interrupt=stopped_in_round(round_, self.self_training_rounds),
        ):
            return None
        return _network.forward(_network.hidden_model(self.model_), X_all)

    def _ignored_unlabeled(self, y, mask):
        """Called when ``y`` marks rows as unlabeled that no step will use."""

    def _no_labeled_rows_message(self, n_rows):
        """The error for a ``y`` that marks all its ``n_rows`` rows unlabeled
        (each target says how it marks them)."""
        return (
            f"y holds no labeled samples: all {n_rows} rows are marked "
            "unlabeled. Label some samples."
        )

    # How ``y`` marks a row without a label, for messages.
    _unlabeled_mark = "a missing label"

    def _warn_nothing_unlabeled(self):
        """Say that a ``semi_supervised`` method asked for by name has no
        rows to learn from (as scikit-learn's SelfTrainingClassifier warns
        "y contains no unlabeled samples"): the fit is a supervised one."""
        method = getattr(self, "semi_supervised", None)
        if method in (None, "auto"):
            return
        warnings.warn(
            f"semi_supervised={method!r} has no unlabeled rows to learn from: no "
            f"row of y holds {self._unlabeled_mark}, which marks a row without a "
            "label. The network trains on the labeled rows alone, as with "
            "semi_supervised=None.",
            UserWarning,
            stacklevel=user_stacklevel(),
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
            if reset:
                self._warn_nothing_unlabeled()
            return None
        if self._resolved_pretrain() is None and not self._keeps_unlabeled():
            self._ignored_unlabeled(y, mask)
            return None
        return mask


def stopped_in_round(round_, rounds):
    """What the Ctrl-C warning adds when it stops the 0-based ``round_`` of
    ``rounds`` semi-supervised rounds: no later round runs."""
    later = "; no later round runs" if round_ + 1 < rounds else ""
    return f"It stopped semi-supervised round {round_ + 1} of {rounds}{later}."


def unlabeled_target_rows(estimator, y):
    """Boolean mask of the rows of ``y`` that carry no target for
    ``estimator`` (None when every row does): NaN targets of a regressor,
    -1 labels of a classifier unless -1 is one of its classes (of a fitted
    classifier's ``classes_``; for an unfitted one, as ``fit`` would read
    them, see :func:`unlabeled_rows`). None for another library's estimator.
    """
    if not isinstance(estimator, UnlabeledRowsMixin):
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


def unlabeled_rows(estimator, y, *, sparse=False):
    """How ``estimator.fit`` would read the rows of ``y`` marked unlabeled.

    Returns ``(mask, params)``: the rows ``fit`` sets aside as unlabeled (None
    when it fits every row as labeled), and the values that ``y`` resolves
    for the estimator's "auto" parameters that depend on them (``pretrain``,
    ``semi_supervised``, ``reconstruction_weight``). Fits on parts of ``y``
    (an ensemble's folds) given these ``params`` read the rows alike, however
    the parts' counts fall. ``(None, {})`` for another library's estimator.
    """
    if not isinstance(estimator, UnlabeledRowsMixin):
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
