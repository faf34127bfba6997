"""DeepStackClassifier: a deep feed-forward classifier with a scikit-learn API."""

import warnings
from numbers import Integral, Real

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from deepstack import _losses, _metrics, _network, _random, _self_training
from deepstack._compat import Interval, StrOptions
from deepstack._warnings import user_stacklevel
from deepstack.estimators import _docs
from deepstack.estimators._base import BaseDeepStack
from deepstack.estimators._checks import refuse_missing_labels
from deepstack.estimators._semi_supervised import SemiSupervisedMixin


class DeepStackClassifier(ClassifierMixin, SemiSupervisedMixin, BaseDeepStack):
    __doc__ = f"""Deep feed-forward network classifier (dropout, batch norm, Keras 3).

    A softmax output (sigmoid for two classes) over ``hidden_layer_sizes``
    Dense layers with Glorot-uniform weights and zero biases, trained by
    mini-batch SGD / Adagrad / RMSProp / Adam on the cross-entropy (or
    ``loss``), with early stopping and learning-rate halving on a stratified
    validation split. A 0/1 indicator matrix ``y`` (multilabel targets) gets
    one sigmoid output per label.

    Parameters
    ----------
{_docs.COMMON_PARAMETERS}
    class_weight : dict, list of dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn. For
        multilabel targets, a list of one ``{{0: w0, 1: w1}}`` dict per label
        or "balanced" (per label); a sample's weight is the product of its
        labels' weights (scikit-learn's multi-output convention).
        ``partial_fit`` refuses "balanced", as ``SGDClassifier`` does: a
        chunk's class counts are not the data's (pass the weights of
        ``sklearn.utils.class_weight.compute_class_weight`` as a dict).
    semi_supervised : {"auto", "self_training", "label_propagation"} or \
None, default="auto"
        Learn from the rows of ``y`` equal to -1 (unlabeled, scikit-learn's
        convention) during fine-tuning too. "label_propagation" (Zhou et al.
        2004; Iscen et al. 2019): after fine-tuning on the labeled rows, each
        of ``self_training_rounds`` rounds spreads the labels over a
        k-nearest-neighbour graph of all training rows
        (``propagation_neighbors`` neighbours each, Gaussian edge weights,
        made symmetric;
        the class distributions ``F`` solve ``(I - 0.9 S) F = Y`` with ``S``
        the normalized graph and ``Y`` the one-hot labels; the first graph on
        the inputs as given, later ones on the last hidden layer's
        activations), labels every unlabeled row that a label reaches with
        its most probable class and continues training on labeled plus
        propagated rows; the internal validation split's rows join the
        labeled ones and each round draws its split from labeled plus
        propagated rows (a given ``X_val`` stays as it is). Predictions then
        mix in the first graph (``graph_weight``). "self_training": after
        fine-tuning on the labeled rows, each round labels the unlabeled rows
        whose predicted class has probability at least
        ``pseudo_label_threshold`` with that class, adds them to the training
        rows and continues training (the validation split keeps only true
        labels), for at most ``self_training_rounds`` rounds or until a round
        adds no row. "auto" (default): "label_propagation" when ``y`` marks
        more rows unlabeled than labeled and the labeled rows hold two classes
        at least (the rule of ``pretrain="auto"``; so not for {-1, 1} or
        {-1, 0} binary targets, whose -1 is a class), with a warning that
        names the rows read as unlabeled; None otherwise: a -1 in fewer rows
        is fitted as a class, with a warning.
        Each combines with ``pretrain``.
    pseudo_label_threshold : float in (0, 1], default=0.9
        Least predicted-class probability for a pseudo-label
        (self-training).
    self_training_rounds : int, default=3
        Most rounds of self-training, or rounds of label propagation.
    propagation_neighbors : int or "auto", default="auto"
        Neighbours of each row in label propagation's graph, the row itself
        not counted. "auto": 5, 10 or 20, whichever best recovers the labels
        of a random 30 % of the labeled rows hidden from the first graph
        (three draws; labeled rows only, no training).
    pseudo_label_weights : {"confidence"} or None, default=None
        Label propagation's weight of a propagated row: "confidence", one
        minus the normalized entropy of its propagated class distribution
        (in [0, 1]; Iscen et al.); None, 1 like a labeled row.
    graph_weight : float in [0, 1], default=0.5
        After label propagation, ``predict_proba`` is ``(1 - graph_weight)``
        times the network's probabilities plus ``graph_weight`` times the
        first graph's: a new row takes the mean of the propagated class
        distributions of its ``propagation_neighbors_`` nearest training
        rows (in the input space, Gaussian weights; the inductive step of
        label spreading). ``predict`` follows ``predict_proba``;
        ``decision_function`` stays the network's. 0: the network alone
        (needed by ``export``); it may be changed after ``fit``. The graph
        keeps the training rows (``X_``); dense inputs only (sparse ones use
        the network alone).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels; for multilabel targets the label indices
        ``0 .. n_labels - 1`` (scikit-learn's convention).
{_docs.COMMON_ATTRIBUTES}
    n_pseudo_labeled_ : list of int
        With ``semi_supervised`` (and unlabeled rows): how many rows each
        self-training or label-propagation round pseudo-labeled.
    propagation_neighbors_ : int
        Label propagation: the graph's neighbours (``propagation_neighbors``
        or the one "auto" chose), at most the training rows less one (a
        larger ``propagation_neighbors`` is capped, with a warning).
    X_ : ndarray of shape (n_train, n_features)
        Label propagation on dense inputs: the training rows of the graph
        that predictions mix in (labeled rows first, without a given
        ``X_val``).
    label_distributions_ : ndarray of shape (n_train, n_classes)
        Their propagated class distributions (the first graph's).
    graph_bandwidth_ : float
        The graph's Gaussian width: the median distance of a training row to
        its ``propagation_neighbors_``-th nearest other row.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from deepstack import DeepStackClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = DeepStackClassifier((16,), max_epochs=20, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseDeepStack._parameter_constraints,
        "loss": [StrOptions({"auto", *_losses.CLASSIFIER_LOSSES})],
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
        "semi_supervised": [
            StrOptions({"auto", "self_training", "label_propagation"}),
            None,
        ],
        "pseudo_label_threshold": [Interval(Real, 0.0, 1.0, closed="right")],
        "self_training_rounds": [Interval(Integral, 1, None, closed="left")],
        "propagation_neighbors": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "pseudo_label_weights": [StrOptions({"confidence"}), None],
        "graph_weight": [Interval(Real, 0.0, 1.0, closed="both")],
    }
    _monitors = ("val_loss", "val_accuracy")

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
        batch_size="auto",
        max_epochs=200,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change="auto",
        patience_growth="auto",
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
        class_weight=None,
        semi_supervised="auto",
        pseudo_label_threshold=0.9,
        self_training_rounds=3,
        propagation_neighbors="auto",
        pseudo_label_weights=None,
        graph_weight=0.5,
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
        self.class_weight = class_weight
        self.semi_supervised = semi_supervised
        self.pseudo_label_threshold = pseudo_label_threshold
        self.self_training_rounds = self_training_rounds
        self.propagation_neighbors = propagation_neighbors
        self.pseudo_label_weights = pseudo_label_weights
        self.graph_weight = graph_weight

    # Fitted with one label per sample unless ``_encode_target`` says
    # otherwise (also for estimators unpickled from older versions).
    _multilabel = False

    # ------------------------------------------------------------------ hooks

    def _validate_training_data(self, X, y, *, reset):
        refuse_missing_labels(y)
        return super()._validate_training_data(X, y, reset=reset)

    def _encode_target(self, y, *, reset):
        y = _dense(y)
        if y.ndim == 2 and y.shape[1] > 1:
            return self._encode_multilabel(y, reset=reset)
        if not reset and self._multilabel:
            raise ValueError(
                f"y has shape {y.shape}; the estimator was fitted on a multilabel "
                f"indicator matrix of {self.n_outputs_} labels."
            )
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if reset:
            self._multilabel = False
            self.classes_, encoded = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(
                    "DeepStackClassifier needs samples of at least 2 classes in y; "
                    f"got only one class: {self.classes_.tolist()[0]!r}."
                )
            self.n_outputs_ = 1 if len(self.classes_) == 2 else len(self.classes_)
        else:
            encoded = self._label_indices(y, "y")
        return self._network_target(encoded)

    def _encode_multilabel(self, y, *, reset):
        """A 0/1 indicator matrix: one sigmoid output per label."""
        kind = type_of_target(y)
        if kind == "multiclass-multioutput" and _marks_unlabeled(y):
            # The message below blamed multi-output multiclass targets.
            rows = np.flatnonzero((y == -1).any(axis=1))
            raise ValueError(
                f"y is a multilabel indicator matrix with -1 in {rows.size} rows "
                f"(first: {rows[:5].tolist()}): -1 marks an unlabeled row only "
                "in a 1-D y (semi_supervised, pretrain); an indicator matrix "
                "holds 0/1 only. Drop those rows (pretraining on them: fit a "
                "StackedAutoencoder on all rows first)."
            )
        if kind != "multilabel-indicator":
            raise ValueError(
                f"DeepStackClassifier takes a 1-D y or a 0/1 multilabel indicator "
                f"matrix; y has shape {y.shape} and is {kind!r} (multi-output "
                "multiclass targets are not supported: fit one classifier per "
                "column, e.g. with sklearn.multioutput.MultiOutputClassifier)."
            )
        if reset:
            self._multilabel = True
            # scikit-learn's convention (LabelBinarizer, MLPClassifier): the
            # label indices.
            self.classes_ = np.arange(y.shape[1])
            self.n_outputs_ = y.shape[1]
        elif not self._multilabel or y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has shape {y.shape}; the estimator was fitted on "
                + (
                    f"{self.n_outputs_} labels."
                    if self._multilabel
                    else "one label per sample."
                )
            )
        values = np.unique(y)
        if not np.isin(values, (0, 1)).all():
            # type_of_target calls any 2-D y of two values an indicator; a
            # {-1, 1} or {1, 2} matrix made the cross-entropy unbounded.
            raise ValueError(
                "A multilabel y must be a 0/1 indicator matrix; it holds "
                f"{values.tolist()[:10]}. Map each column to 0/1 (e.g. y == 1)."
            )
        return y.astype(np.float32)

    def _encode_partial_target(self, y, *, first, classes=None):
        if not first:
            if classes is not None and not np.array_equal(
                np.unique(np.asarray(classes)), self.classes_
            ):
                # As SGDClassifier: the output layer has the first call's.
                raise ValueError(
                    f"classes={np.unique(np.asarray(classes)).tolist()} is not the "
                    "same as on the first call to partial_fit, "
                    f"{self.classes_.tolist()}."
                )
            return self._encode_target(y, reset=False)
        y = _dense(y)
        if y.ndim == 2 and y.shape[1] > 1:
            # An indicator matrix names its labels by its columns, as
            # scikit-learn's MLPClassifier reads them: classes, if given,
            # must be those column indices.
            if classes is not None and not np.array_equal(
                np.unique(np.asarray(classes)), np.arange(y.shape[1])
            ):
                raise ValueError(
                    f"classes={np.unique(np.asarray(classes)).tolist()} does not "
                    f"name the {y.shape[1]} columns of the multilabel indicator "
                    f"y: pass classes={list(range(y.shape[1]))} or None."
                )
            return self._encode_multilabel(y, reset=True)
        if classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: the "
                "network's output layer needs every class up front."
            )
        self._multilabel = False
        self.classes_ = np.unique(np.asarray(classes))
        try:
            # (NumPy warns of the cast of a NaN that the check then refuses.)
            with np.errstate(invalid="ignore"):
                check_classification_targets(self.classes_)
        except ValueError as exc:
            # scikit-learn's words name y ("Input y contains NaN.").
            raise ValueError(
                f"classes={np.asarray(classes).tolist()} of partial_fit must be "
                f"class labels: {exc}"
            ) from exc
        if len(self.classes_) < 2:
            raise ValueError("classes must hold at least 2 classes.")
        self.n_outputs_ = 1 if len(self.classes_) == 2 else len(self.classes_)
        y = column_or_1d(y, warn=True)
        return self._network_target(self._label_indices(y, "y"))

    def _label_indices(self, y, what):
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"{what} contains labels not seen during fit: {unknown.tolist()}; "
                f"known classes: {self.classes_.tolist()}."
            )
        return np.searchsorted(self.classes_, y)

    def _network_target(self, encoded):
        if self.n_outputs_ == 1:
            return encoded.astype(np.float32).reshape(-1, 1)
        return encoded.astype(np.int32)

    def _class_indices(self, y_network):
        return np.asarray(y_network).reshape(-1).astype(np.int64)

    def _output_spec(self):
        multilabel = self._multilabel
        activation, loss = _losses.classifier_loss(
            "log_loss" if self.loss == "auto" else self.loss,
            self.n_outputs_,
            multilabel=multilabel,
            focal_gamma=self.focal_gamma,
        )
        if self.n_outputs_ == 1 or multilabel:
            accuracy = _metrics.BinaryAccuracy(name="accuracy")
        else:
            accuracy = _metrics.SparseCategoricalAccuracy(name="accuracy")
        return self.n_outputs_, activation, loss, [accuracy]

    def _decode_target(self, y_encoded):
        if self._multilabel:
            return np.asarray(y_encoded).astype(np.int64)
        return self.classes_[self._class_indices(y_encoded)]

    def _sample_weight_from_target(self, y_encoded, sample_weight):
        if self.class_weight is None:
            return sample_weight
        if self._multilabel:
            # scikit-learn's multi-output convention (as in its forests): a
            # list of one dict per label, or "balanced" per label; a
            # sample's weight is the product of its labels' weights.
            labels = np.asarray(y_encoded).astype(np.int64)
            weights = compute_sample_weight(self.class_weight, labels)
        elif isinstance(self.class_weight, list):
            # (scikit-learn reads it as one dict, and names the classes.)
            raise ValueError(
                "class_weight is a list (one dict per label, for a multilabel "
                "indicator y), but y has one label per sample: pass a dict "
                "{class: weight} or 'balanced'."
            )
        elif isinstance(self.class_weight, dict):
            # Read against every class, as SGDClassifier does: scikit-learn's
            # compute_sample_weight checks the keys against the classes of
            # these rows (a partial_fit chunk may lack the weighted one).
            # A key that is no class (a typo, or a class absent from a
            # cross-validation fold's rows) is left out, said so; scikit-
            # learn ignored it silently when every class had a weight, and
            # blamed the classes it does name otherwise.
            classes = set(self.classes_.tolist())
            unknown = [k for k in self.class_weight if k not in classes]
            if unknown:
                warnings.warn(
                    f"class_weight names {unknown}, not a class of y (the classes "
                    f"are {self.classes_.tolist()}); its weight is not used.",
                    UserWarning,
                    stacklevel=user_stacklevel(),
                )
            per_class = np.array(
                [_class_weight(self.class_weight, c) for c in self.classes_.tolist()]
            )
            weights = per_class[self._class_indices(y_encoded)]
        else:
            labels = self.classes_[self._class_indices(y_encoded)]
            weights = compute_sample_weight(self.class_weight, labels)
        what = "class_weight"
        if sample_weight is not None:
            weights, what = weights * sample_weight, "class_weight x sample_weight"
        # Checked as sample_weight is (a negative weight trains the network
        # to misclassify).
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError(
                f"The weights {what} gives must be finite and non-negative."
            )
        if not weights.any():
            raise ValueError(
                f"The weights {what} gives are all zero: nothing to learn from."
            )
        return weights

    def _stratify(self, y_encoded):
        if self._multilabel:
            return None
        return self._class_indices(y_encoded)

    def _decode_output(self, raw):
        if self._multilabel:
            return (raw > 0.5).astype(np.int64)
        return self.classes_[np.argmax(self._proba(raw), axis=1)]

    @staticmethod
    def _proba(raw):
        if raw.shape[1] == 1:
            p = raw[:, 0]
            return np.column_stack([1.0 - p, p])
        return raw

    def _serving_outputs(self, x):
        z = _network.logits_model(self.model_)(x, training=False)
        if self._multilabel:
            p = keras.ops.sigmoid(z)
            return {"probabilities": p, "labels": keras.ops.cast(p > 0.5, "int64")}
        if self.n_outputs_ == 1:
            p = keras.ops.sigmoid(z[:, 0])
            p = keras.ops.stack([1.0 - p, p], axis=1)
        else:
            p = keras.ops.softmax(z, axis=1)
        # argmax of the 0/1 "is a maximum" matrix: the first maximum, as
        # NumPy's argmax. Keras's float argmax tests the sign bit with a
        # Bitcast that ONNX cannot express; an integer argmax does not.
        is_max = keras.ops.cast(p >= keras.ops.max(p, axis=1, keepdims=True), "int32")
        return {"probabilities": p, "class_index": keras.ops.argmax(is_max, axis=1)}

    def _export_metadata(self):
        outputs = {"probabilities": "predict_proba: one column per entry of classes"}
        if self._multilabel:
            outputs["labels"] = "predict: the 0/1 indicator matrix"
        else:
            outputs["class_index"] = "predict: classes[class_index]"
        return {
            "task": "multilabel" if self._multilabel else "classification",
            "classes": self.classes_.tolist(),
            "outputs": outputs,
        }

    # ------------------------------------------------------------- public API

    def predict(self, X):
        """Most probable class of each sample (multilabel: each label whose
        probability exceeds 0.5).

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or the 0/1 indicator matrix for multilabel targets.
        """
        if self._uses_graph():
            return self.classes_[np.argmax(self.predict_log_proba(X), axis=1)]
        return self._decode_output(self._predict_raw(X))

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in ``classes_`` order.

        For multilabel targets, each label's probability (the columns do not
        sum to 1).

        Computed from the logits in float64: a float32 sigmoid / softmax
        rounds confident probabilities to exactly 0 or 1.
        """
        return np.exp(self.predict_log_proba(X))

    def decision_function(self, X):
        """Pre-softmax (pre-sigmoid) outputs: shape (n_samples,) for 2 classes,
        (n_samples, n_labels) for multilabel targets."""
        z = self._logits(X)
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_log_proba(self, X):
        """Log of ``predict_proba``, computed stably from the logits."""
        X = self._validated(X)
        z = self._forward_logits(X)
        if self._multilabel:
            # log(sigmoid(z)), label by label.
            return -np.logaddexp(0.0, -z)
        log_proba = _self_training.log_proba_from_logits(z)
        if not self._uses_graph():
            return log_proba
        graph = _self_training.graph_proba(
            self.X_,
            self.label_distributions_,
            X,
            self.propagation_neighbors_,
            self.graph_bandwidth_,
        )
        w = self.graph_weight
        with np.errstate(divide="ignore"):
            return np.log((1.0 - w) * np.exp(log_proba) + w * graph)

    def _logits(self, X):
        return self._forward_logits(self._validated(X))

    def _validated(self, X):
        check_is_fitted(self, "model_")
        if self.deterministic:
            _random.enable_determinism()
        return self._validate_X(X)

    def _forward_logits(self, X):
        # Batched like ``predict``: one forward pass over all rows would hold
        # every layer's activations for all of them at once.
        return _network.forward(_network.logits_model(self.model_), X)

    def export(self, path, format="tf_saved_model", *, overwrite=False):
        if self._uses_graph():
            raise ValueError(
                "export writes the network only, but this classifier's "
                "predictions mix in its label-propagation graph over the "
                f"training rows (graph_weight={self.graph_weight}). Call "
                "set_params(graph_weight=0) first to export (and predict with) "
                "the network alone."
            )
        return super().export(path, format, overwrite=overwrite)

    export.__doc__ = BaseDeepStack.export.__doc__

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on ``X, y``.

        A label unseen during fit counts as an error, as for scikit-learn's
        classifiers (a cross-validation fold that holds a class its
        training folds lack is scored, not NaN). A multilabel ``y`` must
        have the fitted number of labels.
        """
        check_is_fitted(self, "model_")
        dense = _dense(y)
        if self._multilabel or (dense.ndim == 2 and dense.shape[1] > 1):
            self._encode_target(dense, reset=False)
        return super().score(X, y, sample_weight=sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on ``X, y``; ``classes`` is required on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever appear; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        if _balanced(self.class_weight):
            # Balanced on each chunk's counts, a class's weight changed from
            # call to call (and a chunk of one class was not reweighted).
            raise ValueError(
                "class_weight='balanced' is not supported for partial_fit: a "
                "chunk's class counts are not the data's. Compute the weights "
                "once over all the labels (sklearn.utils.class_weight."
                "compute_class_weight) and pass them as a dict (or a list of "
                "dicts for a multilabel y)."
            )
        return super().partial_fit(X, y, sample_weight=sample_weight, classes=classes)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = True
        return tags


def _dense(y):
    """``y`` as an array; a sparse multilabel indicator (as scikit-learn's
    ``type_of_target`` and ``MLPClassifier`` take it) made dense: it holds
    one small integer per label."""
    return y.toarray() if sp.issparse(y) else np.asarray(y)


def _class_weight(class_weight, label):
    """The weight the dict ``class_weight`` gives the class ``label`` (1 if
    none), as a float."""
    weight = class_weight.get(label, 1.0)
    try:
        return float(weight)
    except (TypeError, ValueError) as exc:
        # float() said "float() argument must be a string or a real number,
        # not 'NoneType'", naming neither the parameter nor the class.
        raise ValueError(
            f"class_weight gives class {label!r} the weight {weight!r}; a weight "
            "must be a number (leave a class out of the dict to weight it 1)."
        ) from exc


def _marks_unlabeled(y):
    """Whether the numeric matrix ``y`` is 0/1 but for cells of -1."""
    if y.dtype.kind not in "biuf":
        return False
    values = np.unique(y)
    return -1 in values and np.isin(values, (-1, 0, 1)).all()


def _balanced(class_weight):
    """Whether ``class_weight`` is (or, per label, holds) "balanced"."""
    if isinstance(class_weight, str):
        return class_weight == "balanced"
    return isinstance(class_weight, list) and "balanced" in class_weight
