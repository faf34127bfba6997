"""The classifier's rows without a label: scikit-learn's -1 convention,
self-training and label propagation (``semi_supervised``).

A mixin of :class:`~deepstack.estimators.DeepStackClassifier`, left of
:class:`~deepstack.estimators._base.BaseDeepStack`: it fills the base's hooks
for unlabeled rows (``_unlabeled_mask``, ``_resolve_unlabeled``,
``_fit_unlabeled``, ...); the pseudo-labels themselves come from the pure
functions of ``deepstack/_self_training.py``.
"""

import warnings

import numpy as np
import scipy.sparse as sp

from deepstack import _network, _self_training
from deepstack._warnings import user_stacklevel
from deepstack.estimators._unlabeled import stopped_in_round


class SemiSupervisedMixin:
    """Rows labeled -1 as unlabeled data, and the semi-supervised rounds."""

    _unlabeled_mark = "the label -1 (an integer; the text '-1' is a class)"

    def _unlabeled_mask(self, y):
        # scikit-learn's convention: -1 marks an unlabeled sample. The base
        # sets such rows aside only with pretraining or self-training, which
        # use them; otherwise -1 stays a class label (as in {-1, 1} binary
        # targets), with a warning (``_ignored_unlabeled``).
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.dtype.kind not in "biufO":
            return None
        if y.dtype.kind != "O":
            return y == -1
        return np.array([bool(label == -1) for label in y], dtype=bool)

    def _no_labeled_rows_message(self, n_rows):
        return (
            "y holds no labeled samples: every label is -1, which marks an "
            "unlabeled sample when pretraining or semi_supervised uses "
            "unlabeled rows. Label some samples (-1 cannot then be a class "
            "label; relabel e.g. {-1, 1} targets as {0, 1})."
        )

    def _ignored_unlabeled(self, y, mask):
        if np.all(mask):
            # As a class, -1 would be the only one: the fit failed on "at
            # least 2 classes; got only one class: -1", after a warning that
            # the rows were read as a class.
            raise ValueError(self._no_labeled_rows_message(len(mask)))
        labels = set(np.unique(np.asarray(y)[~mask]).tolist())
        if labels == {1}:
            # {-1, 1} binary targets: -1 is the negative class.
            return
        warnings.warn(
            f"y contains -1 ({int(np.sum(mask))} of {len(mask)} rows), which "
            "scikit-learn's semi-supervised estimators read as 'unlabeled', but "
            "pretrain and semi_supervised are off (semi_supervised='auto' and "
            "pretrain='auto' act only when unlabeled rows outnumber labeled "
            "ones), so -1 is fitted as a class label. Set "
            "semi_supervised='label_propagation' (and/or pretrain='denoising') "
            "to use those rows as unlabeled data, or relabel them if -1 is a "
            "real class.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )

    def _resolved_semi_supervised(self):
        """``semi_supervised`` with "auto" resolved by the last ``fit``."""
        if self.semi_supervised != "auto":
            return self.semi_supervised
        return getattr(self, "_auto_semi_supervised", None)

    def _resolve_unlabeled(self, y, *, reset, sparse=False):
        if reset and self.semi_supervised == "auto":
            # The rule of pretrain="auto": a -1 class rarely outnumbers all
            # the others, unlabeled rows usually do (benchmarks/
            # semi_supervised.py: label propagation wins at 5-25 % labels).
            many = self._many_unlabeled(y, self._unlabeled_mask(y))
            self._auto_semi_supervised = "label_propagation" if many else None
        mask = super()._resolve_unlabeled(y, reset=reset, sparse=sparse)
        if reset and mask is not None:
            self._say_auto_read_unlabeled(mask)
        return mask

    def _say_auto_read_unlabeled(self, mask):
        """Warn where only an "auto" choice read the -1 rows as unlabeled
        (-1 may be a real class); not where a parameter asked for them."""
        weight = self.reconstruction_weight
        asked = (
            self.semi_supervised not in ("auto", None)
            or self.pretrain not in ("auto", None)
            or (weight != "auto" and float(weight) > 0)
        )
        engaged = [
            f"{name}='auto'"
            for name, resolved in (
                ("semi_supervised", self._resolved_semi_supervised),
                ("pretrain", self._resolved_pretrain),
            )
            if getattr(self, name) == "auto" and resolved() is not None
        ]
        if asked or not engaged:
            return
        warnings.warn(
            f"y holds -1 in {int(np.sum(mask))} of {len(mask)} rows, more than "
            "the labeled rows: they are read as unlabeled (scikit-learn's "
            f"semi-supervised convention) by {' and '.join(engaged)}. If -1 is "
            "a class, set semi_supervised=None (and pretrain=None).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )

    def _many_unlabeled(self, y, mask):
        # The labeled rows must hold 2 classes at least: in {-1, 1} targets
        # (or {-1, 0}) -1 is a class, however many rows hold it.
        if not super()._many_unlabeled(y, mask):
            return False
        return len(np.unique(np.asarray(y)[~mask])) >= 2

    def _learns_from_unlabeled(self):
        return self._resolved_semi_supervised() is not None

    _unlabeled_results = (
        "X_",
        "label_distributions_",
        "graph_bandwidth_",
        "propagation_neighbors_",
        "n_pseudo_labeled_",
    )

    def _uses_graph(self):
        """Whether predictions mix in the label-propagation graph."""
        return self.graph_weight > 0 and hasattr(self, "label_distributions_")

    def _fit_unlabeled(self, run):
        if self._multilabel:
            return
        self.n_pseudo_labeled_ = []
        if self._resolved_semi_supervised() == "label_propagation":
            self._propagate(run)
        else:
            self._self_train(run)

    def _self_train(self, run):
        """Self-training: rounds of pseudo-labeling the confident unlabeled
        rows and training on labeled plus pseudo-labeled rows.

        Each round predicts the rows still unlabeled, adds those whose most
        probable class reaches ``pseudo_label_threshold`` (labeled with that
        class) to the training rows and continues training from the current
        weights; the validation split keeps only true labels. Stops after
        ``self_training_rounds`` rounds or when a round adds no row.
        """
        X_train, y_train, weights = run.train
        remaining = run.X_unlabeled
        logits = _network.logits_model(self.model_)
        for round_ in range(self.self_training_rounds):
            if remaining.shape[0] == 0:
                break
            proba = np.exp(
                _self_training.log_proba_from_logits(
                    _network.forward(logits, remaining)
                )
            )
            selected, labels = _self_training.select_pseudo_labels(
                proba, self.pseudo_label_threshold
            )
            if not selected.any():
                break
            self.n_pseudo_labeled_.append(int(selected.sum()))
            X_train = _self_training.stack_rows(X_train, remaining[selected])
            y_train = np.concatenate([y_train, self._network_target(labels)])
            if weights is not None:
                weights = np.concatenate([weights, np.ones(labels.shape[0])])
            remaining = remaining[~selected]
            if self._fit_network(
                self._joint_rows((X_train, y_train, weights), remaining),
                run.validation,
                epochs=self.max_epochs,
                seed=run.seed + round_ + 1,
                after_interrupt=stopped_in_round(round_, self.self_training_rounds),
            ):
                break

    def _propagate(self, run):
        """Label propagation (Iscen et al. 2019): rounds of spreading the
        training labels over a kNN graph of all training rows and training on
        labeled plus every propagated row.

        The first graph is built on the inputs, later ones on the last hidden
        layer's activations of the network trained so far. Each round labels
        every unlabeled row that a label reaches with its most probable
        propagated class
        (weighted by the distribution's confidence with
        ``pseudo_label_weights="confidence"``) and continues training from
        the current weights on the labeled rows plus these. The internal
        validation split's rows join the labeled rows and each round draws
        a new split from labeled plus propagated rows; a given ``X_val``
        takes no part in the graph.
        """
        (X_train, y_train, weights), redraw = self._rows_to_propagate_from(run)
        X_all = _self_training.stack_rows(X_train, run.X_unlabeled)
        n_labeled, n_unlabeled = X_train.shape[0], run.X_unlabeled.shape[0]
        known = np.concatenate([self._class_indices(y_train), np.full(n_unlabeled, -1)])
        n_classes = len(self.classes_)
        features = X_all
        n_neighbors = self.propagation_neighbors
        if n_neighbors == "auto":
            n_neighbors, _ = _self_training.choose_neighbors(
                features, known, n_classes, _self_training.NEIGHBORS, seed=run.seed
            )
        # The graph links each row to the others at most: the attribute says
        # how many it did link (it said 100 for a graph of 40 rows).
        n_neighbors, capped = _self_training.neighbors_within(
            n_neighbors, X_all.shape[0]
        )
        if capped and self.propagation_neighbors != "auto":
            warn_neighbors_capped(self.propagation_neighbors, X_all.shape[0])
        self.propagation_neighbors_ = n_neighbors
        for round_ in range(self.self_training_rounds):
            distributions = _self_training.propagate_labels(
                features, known, n_classes, n_neighbors
            )
            if round_ == 0 and not sp.issparse(X_all):
                # The input-space graph, kept for prediction (graph_weight).
                self.X_ = np.asarray(X_all)
                self.label_distributions_ = distributions
                self.graph_bandwidth_ = _self_training.knn_bandwidth(
                    self.X_, n_neighbors
                )
            distributions = distributions[n_labeled:]
            # Rows that no label reaches (uniform) get none.
            reached = distributions.max(axis=1) > 1.0 / n_classes + 1e-9
            distributions = distributions[reached]
            self.n_pseudo_labeled_.append(int(reached.sum()))
            extra = np.ones(distributions.shape[0])
            if self.pseudo_label_weights == "confidence":
                extra = _self_training.confidence_weights(distributions)
            base = np.ones(n_labeled) if weights is None else weights
            train = (
                _self_training.stack_rows(X_train, run.X_unlabeled[reached]),
                np.concatenate(
                    [y_train, self._network_target(distributions.argmax(axis=1))]
                ),
                None
                if weights is None and self.pseudo_label_weights is None
                else np.concatenate([base, extra]).astype(np.float32),
            )
            features = self._fit_propagation_round(
                run, round_, train, reached, X_all, redraw
            )
            if features is None:
                break


def warn_neighbors_capped(n_neighbors, n_rows):
    """Say that ``propagation_neighbors`` exceeds the ``n_rows - 1`` other
    rows that label propagation's graph can link a row to."""
    warnings.warn(
        f"propagation_neighbors={n_neighbors} exceeds the {n_rows - 1} other "
        f"rows of label propagation's graph ({n_rows} training rows, labeled "
        f"and unlabeled): each row is linked to all {n_rows - 1}. Set "
        "propagation_neighbors lower to keep the graph local.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
