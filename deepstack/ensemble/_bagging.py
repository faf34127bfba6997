"""K-fold bagging of deepstack networks (AutoGluon's recipe).

The training rows are cut into ``n_folds`` folds; member ``i`` trains on every
fold but fold ``i`` and early-stops on fold ``i`` (its validation set), so
every row is used for training by ``n_folds - 1`` members and no row is spent
on validation alone. Predictions are the members' mean (soft voting for
classifiers), and each row's prediction by the member that did not train on
it gives an out-of-fold estimate of the ensemble's score on the training rows.
"""

import inspect
import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    clone,
    is_classifier,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
)
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from deepstack import _interrupt
from deepstack._compat import HasMethods, Interval, check_sample_weight
from deepstack._warnings import user_stacklevel
from deepstack.callbacks import TimeLimit
from deepstack.estimators._rollback import rolls_back_on_exception
from deepstack.estimators._unlabeled import unlabeled_rows


class _BaseBagging(BaseEstimator):
    """Shared fit and averaging; subclasses set the default member."""

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "n_folds": [Interval(numbers.Integral, 2, None, closed="left")],
        "time_limit": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self, estimator=None, *, n_folds=5, time_limit=None, random_state=None
    ):
        self.estimator = estimator
        self.n_folds = n_folds
        self.time_limit = time_limit
        self.random_state = random_state

    def _default_member(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _member_template(self):
        return self._default_member() if self.estimator is None else self.estimator

    @rolls_back_on_exception
    def fit(self, X, y, sample_weight=None, *, groups=None):
        """Train ``n_folds`` members, member ``i`` validated on fold ``i``.

        Ctrl-C, or an error in any member's fit, stops the whole ensemble and
        leaves it as it was before the call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Rows marked unlabeled (-1 for classes, NaN for regression
            targets) are read as a single member fit on every row would read
            them (its ``pretrain``, ``semi_supervised`` and
            ``reconstruction_weight``, resolved on all of ``y`` and the same
            for every member): they train the members, and are left out of
            the members' validation, ``classes_`` and ``oof_score_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample loss weights of each member's training rows.
        groups : array-like of shape (n_samples,), default=None
            A group label a row (a patient, a user, a session): the rows of a
            group fall in one fold, so that no member early-stops on rows
            whose group it trained on (scikit-learn's ``GroupKFold``,
            ``StratifiedGroupKFold`` for classifiers where every class has
            ``n_folds`` groups). There must be ``n_folds`` groups at least.

        Returns
        -------
        self : object
        """
        self._validate_params()
        template = self._member_template()
        if not _takes_validation_set(template):
            # Found otherwise in the first member's fit, by a TypeError that
            # does not say why it was given X_val.
            name = type(template).__name__
            raise TypeError(
                f"{name}.fit takes no X_val, y_val: each member of "
                f"{type(self).__name__} early-stops on its own fold, given as "
                "X_val, y_val. Use a deepstack estimator (DeepStackClassifier, "
                "DeepStackRegressor) as the member."
            )
        if template.get_params().get("refit_on_all"):
            # The member would refuse the validation fold it is given.
            raise ValueError(
                "refit_on_all=True does not fit a bagged ensemble's members: each "
                "early-stops on its own fold (given as X_val), and together they "
                "train on every row. Set refit_on_all=False on the member."
            )
        shape = np.asarray(y).shape  # (np.shape calls no __array__)
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            # scikit-learn's check would say "y should be a 1d array".
            member = type(template).__name__
            raise ValueError(
                f"{type(self).__name__} takes one target a row, y of shape "
                f"(n_samples,); got shape {shape}. Multilabel and multi-output "
                f"targets are not bagged: fit {member} on them directly."
            )
        # Rows marked unlabeled (-1 classes, NaN targets) as a single member
        # fit on all rows reads them, pinned for every member; they train
        # the members (pretraining, semi-supervised learning) but are never
        # validated or scored on.
        unlabeled, pinned = unlabeled_rows(template, y, sparse=sp.issparse(X))
        if pinned:
            template = clone(template).set_params(**pinned)
        if unlabeled is not None and not is_classifier(self):
            y = np.array(y, dtype=np.float64)
            y[unlabeled] = 0.0
        # scikit-learn's checks (names, shapes, finite values, sparse CSR);
        # the members check the rest. They see arrays: the ensemble keeps the
        # column names (``feature_names_in_``) and checks them at predict.
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            y_numeric=not is_classifier(self),
            reset=True,
        )
        labeled = np.ones(len(y), dtype=bool) if unlabeled is None else ~unlabeled
        if unlabeled is not None and not is_classifier(self):
            y = y.astype(np.float64)
            y[unlabeled] = np.nan
        if is_classifier(self):
            check_classification_targets(y)
        if labeled.sum() < 2 * self.n_folds:
            raise ValueError(
                f"{int(labeled.sum())} samples with a target are too few for "
                f"n_folds={self.n_folds} (each member validates on such rows "
                "of its own fold); use fewer folds or a single estimator."
            )
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X, np.float32)
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (X.shape[0],):
                raise ValueError(
                    f"groups must hold one label a sample ({X.shape[0]}); got shape "
                    f"{groups.shape}."
                )
            n_groups = len(np.unique(groups))
            if n_groups < self.n_folds:
                raise ValueError(
                    f"{n_groups} groups are too few for n_folds={self.n_folds}; "
                    "use fewer folds or a single estimator."
                )
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_folds)
        fold_seed = int(rng.randint(np.iinfo(np.int32).max))
        self._start(y[labeled])
        fold_of_row = np.empty(X.shape[0], dtype=np.int64)
        # As in a search: Ctrl-C stops the whole ensemble at once (a member
        # cut short at an epoch boundary would leave the others to run).
        with _interrupt.hard_interrupts(), warnings.catch_warnings():
            # A -1 class: the check above warned once for all rows.
            warnings.filterwarnings("ignore", message="y contains -1")
            members, oof = self._fit_members(
                template,
                X,
                y,
                sample_weight,
                seeds,
                fold_seed,
                fold_of_row,
                groups,
                labeled,
            )
        self.estimators_ = members
        self.time_limit_reached_ = any(self.cut_short_)
        self.fold_of_row_ = fold_of_row
        self.oof_prediction_ = oof
        weights = None if sample_weight is None else sample_weight[labeled]
        self.oof_score_ = self._score_output(y[labeled], oof[labeled], weights)
        first = members[0]
        # The report and the run folder show one learning curve: the first
        # member's (each member has its own in ``estimators_[i].history_``).
        self.history_ = dict(first.history_)
        self.best_epoch_ = first.best_epoch_
        self.n_iter_ = int(first.n_iter_)
        self.n_iters_ = [int(m.n_iter_) for m in members]
        return self

    def _fit_members(
        self, template, X, y, sample_weight, seeds, fold_seed, rows, groups, labeled
    ):
        """Fit member ``i`` on every fold but ``i``; ``rows`` gets each row's fold.
        Only ``labeled`` rows of fold ``i`` validate member ``i``.

        With ``time_limit``, member ``i`` gets an equal share of the time left
        when it starts (a :class:`~deepstack.callbacks.TimeLimit`), so that a
        member that stops early leaves its time to the others."""
        oof = None
        members = []
        end = None if self.time_limit is None else time.time() + self.time_limit
        own = template.get_params().get("callbacks") if end is not None else None
        self.cut_short_ = []
        for i, (train, val) in enumerate(self._folds(y, fold_seed, groups)):
            member = clone(template).set_params(random_state=int(seeds[i]))
            if end is not None:
                now = time.time()
                limit = TimeLimit(now + max(end - now, 0.0) / (self.n_folds - i))
                member.set_params(callbacks=[*(own or []), limit])
            weights = None if sample_weight is None else sample_weight[train]
            known = self._known(y[train], y[val]) & labeled[val]
            validation = {"X_val": X[val][known], "y_val": y[val][known]}
            if not known.any():
                # Every row of the fold is of a class the member never trains
                # on (the class's groups all fell in it): no row to stop on.
                warnings.warn(
                    f"Fold {i + 1} of {self.n_folds} holds only classes that the "
                    f"other folds lack ({_labels(y[val])}): its member early-stops "
                    "on a split of its own training rows instead.",
                    UserWarning,
                    stacklevel=user_stacklevel(),
                )
                validation = {}
            member.fit(X[train], y[train], weights, **validation)
            self.cut_short_.append(end is not None and TimeLimit.stopped(member))
            if end is not None:
                # A later fit of the member must not inherit a deadline that
                # has passed.
                member.set_params(callbacks=own)
            prediction = self._member_output(member, X[val])
            if oof is None:
                oof = np.zeros((X.shape[0], *prediction.shape[1:]), np.float64)
            oof[val] = prediction
            rows[val] = i
            members.append(member)
        return members, oof

    def _folds(self, y, seed, groups=None):
        if groups is not None:
            splitter = GroupKFold(self.n_folds, shuffle=True, random_state=seed)
            return splitter.split(np.zeros(len(y)), y, groups)
        return KFold(self.n_folds, shuffle=True, random_state=seed).split(y)

    def _known(self, y_train, y_val):
        """The validation rows a member trained on ``y_train`` can score."""
        return np.ones(len(y_val), dtype=bool)

    def _start(self, y):
        pass

    def _mean_output(self, X):
        check_is_fitted(self, "estimators_")
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        total = None
        for member in self.estimators_:
            output = self._member_output(member, X)
            total = output if total is None else total + output
        return total / len(self.estimators_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.sparse = True
        return tags


class DeepStackBaggingClassifier(ClassifierMixin, _BaseBagging):
    """K-fold bagged ensemble of classifiers, probabilities averaged.

    Member ``i`` (a clone of ``estimator``) trains on all folds but fold ``i``
    and early-stops on fold ``i``; ``predict_proba`` is the members' mean.
    The folds are stratified by class when every class has ``n_folds`` rows
    or more. A member whose training folds lack a class gives it probability
    0, and that class's rows are left out of its validation fold.

    Parameters
    ----------
    estimator : classifier, default=None
        The member to clone (a :class:`~deepstack.DeepStackClassifier` with
        its defaults when None). Its ``fit`` must take ``X_val, y_val``.
    n_folds : int, default=5
        Number of folds, and of members; fitting costs about ``n_folds``
        single fits.
    time_limit : float or None, default=None
        Seconds for training all members, one after another: each member
        gets an equal share of the time left when it starts (a
        :class:`~deepstack.callbacks.TimeLimit` among its callbacks, which
        stops it at the end of the first epoch past its share, keeping its
        best epoch's weights). Every member trains at least one epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds and each member's ``random_state``.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members, member ``i`` validated on fold ``i``.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    fold_of_row_ : ndarray of shape (n_samples,)
        The fold of each training row (the member that did not train on it).
    oof_prediction_ : ndarray of shape (n_samples, n_classes)
        Each training row's probabilities by the member that did not train on
        it (out of fold).
    oof_score_ : float
        Accuracy of ``oof_prediction_`` (weighted by ``sample_weight``).
        Each member early-stopped on its own fold, so it leans slightly
        optimistic.
    history_ : dict
        The first member's per-epoch logs.
    best_epoch_, n_iter_ : int
        The first member's best epoch and number of epochs.
    n_iters_ : list of int
        Every member's number of epochs.
    cut_short_ : list of bool
        Whether ``time_limit`` stopped each member (before its early stopping
        did).
    time_limit_reached_ : bool
        Whether ``time_limit`` stopped any member.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Input column names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from deepstack import DeepStackClassifier
    >>> from deepstack.ensemble import DeepStackBaggingClassifier
    >>> X = np.random.default_rng(0).normal(size=(60, 3)).astype("float32")
    >>> y = (X[:, 0] > 0).astype(int)
    >>> member = DeepStackClassifier((4,), max_epochs=2)
    >>> bag = DeepStackBaggingClassifier(member, n_folds=3, random_state=0)
    >>> bag.fit(X, y).predict_proba(X).shape
    (60, 2)
    """

    def _default_member(self):
        from deepstack.estimators import DeepStackClassifier

        return DeepStackClassifier()

    def _start(self, y):
        self.classes_ = np.unique(y)

    def _folds(self, y, seed, groups=None):
        if groups is not None:
            # Every class in n_folds groups at least: stratified by class.
            pairs = np.unique(np.stack([y.astype(str), groups.astype(str)]), axis=1)
            if np.unique(pairs[0], return_counts=True)[1].min() >= self.n_folds:
                splitter = StratifiedGroupKFold(
                    self.n_folds, shuffle=True, random_state=seed
                )
                return splitter.split(np.zeros(len(y)), y, groups)
            return super()._folds(y, seed, groups)
        counts = np.unique(y, return_counts=True)[1]
        if counts.min() >= self.n_folds:
            splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=seed)
            return splitter.split(np.zeros(len(y)), y)
        return super()._folds(y, seed)

    def _known(self, y_train, y_val):
        # A class absent from a member's training folds (a class of fewer
        # rows than folds) is no class of the member's: its rows are left out
        # of the member's validation (the out-of-fold prediction still covers
        # them).
        return np.isin(y_val, y_train)

    def _member_output(self, member, X):
        """The member's probabilities in this ensemble's ``classes_`` order
        (a member whose training folds lacked a class gives it 0)."""
        proba = member.predict_proba(X)
        columns = np.searchsorted(self.classes_, member.classes_)
        out = np.zeros((proba.shape[0], len(self.classes_)), np.float64)
        out[:, columns] = proba
        return out

    def _score_output(self, y, proba, sample_weight=None):
        predicted = self.classes_[np.argmax(proba, axis=1)]
        return float(accuracy_score(y, predicted, sample_weight=sample_weight))

    def predict_proba(self, X):
        """Mean of the members' probabilities, one column per ``classes_``."""
        return self._mean_output(X)

    def predict(self, X):
        """The class of highest mean probability."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class DeepStackBaggingRegressor(RegressorMixin, _BaseBagging):
    """K-fold bagged ensemble of regressors, predictions averaged.

    Member ``i`` (a clone of ``estimator``) trains on all folds but fold ``i``
    and early-stops on fold ``i``; ``predict`` is the members' mean.

    Parameters
    ----------
    estimator : regressor, default=None
        The member to clone (a :class:`~deepstack.DeepStackRegressor` with its
        defaults when None). Its ``fit`` must take ``X_val, y_val``.
    n_folds : int, default=5
        Number of folds, and of members.
    time_limit : float or None, default=None
        Seconds for training all members, one after another: each member
        gets an equal share of the time left when it starts (a
        :class:`~deepstack.callbacks.TimeLimit` among its callbacks, which
        stops it at the end of the first epoch past its share, keeping its
        best epoch's weights). Every member trains at least one epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds and each member's ``random_state``.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members, member ``i`` validated on fold ``i``.
    fold_of_row_ : ndarray of shape (n_samples,)
        The fold of each training row.
    oof_prediction_ : ndarray of shape (n_samples,)
        Each training row's prediction by the member that did not train on it.
    oof_score_ : float
        R² of ``oof_prediction_`` (weighted by ``sample_weight``; slightly
        optimistic: each member early-stopped on its own fold). Rows without
        a target (NaN) are spread over the folds like the labeled ones.
    history_ : dict
        The first member's per-epoch logs.
    best_epoch_, n_iter_ : int
        The first member's best epoch and number of epochs.
    n_iters_ : list of int
        Every member's number of epochs.
    cut_short_ : list of bool
        Whether ``time_limit`` stopped each member (before its early stopping
        did).
    time_limit_reached_ : bool
        Whether ``time_limit`` stopped any member.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Input column names, when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from deepstack import DeepStackRegressor
    >>> from deepstack.ensemble import DeepStackBaggingRegressor
    >>> X = np.random.default_rng(0).normal(size=(60, 3)).astype("float32")
    >>> y = X[:, 0] - X[:, 1]
    >>> member = DeepStackRegressor((4,), max_epochs=2)
    >>> bag = DeepStackBaggingRegressor(member, n_folds=3, random_state=0)
    >>> bag.fit(X, y).predict(X).shape
    (60,)
    """

    def _default_member(self):
        from deepstack.estimators import DeepStackRegressor

        return DeepStackRegressor()

    def _member_output(self, member, X):
        return np.asarray(member.predict(X), np.float64)

    def _score_output(self, y, prediction, sample_weight=None):
        return float(r2_score(y, prediction, sample_weight=sample_weight))

    def _folds(self, y, seed, groups=None):
        labeled = ~np.isnan(y)
        if labeled.all() or min(labeled.sum(), (~labeled).sum()) < self.n_folds:
            return super()._folds(y, seed, groups)
        # Rows without a target (NaN) spread over the folds like the others,
        # so that every fold holds labeled rows to validate its member on.
        if groups is not None:
            splitter = StratifiedGroupKFold(
                self.n_folds, shuffle=True, random_state=seed
            )
            return splitter.split(np.zeros(len(y)), labeled, groups)
        splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=seed)
        return splitter.split(np.zeros(len(y)), labeled)

    def predict(self, X):
        """Mean of the members' predictions."""
        return self._mean_output(X)


def _takes_validation_set(estimator):
    """Whether ``estimator.fit`` accepts ``X_val`` and ``y_val`` (by name, or
    through ``**kwargs`` as a Pipeline's routed parameters)."""
    try:
        parameters = inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):  # no signature to read: let fit say
        return True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return True
    return "X_val" in parameters and "y_val" in parameters


def is_bagging(estimator):
    """Whether ``estimator`` is one of deepstack's bagged ensembles.

    Parameters
    ----------
    estimator : object
        Any object (fitted or not).

    Returns
    -------
    bool
        True for a :class:`DeepStackBaggingClassifier` or
        :class:`DeepStackBaggingRegressor` (or a subclass).
    """
    return isinstance(estimator, _BaseBagging)


def bagging_for(estimator, n_folds, random_state=None):
    """The bagged ensemble of clones of ``estimator`` (classifier or regressor).

    Parameters
    ----------
    estimator : estimator
        The network to bag; a classifier gets a
        :class:`DeepStackBaggingClassifier`, anything else a
        :class:`DeepStackBaggingRegressor`. It is stored, not cloned or
        fitted here (the ensemble clones it at fit).
    n_folds : int
        The ensemble's ``n_folds``: one member per fold.
    random_state : int, RandomState instance or None, default=None
        The ensemble's ``random_state``: seeds the folds and each member's
        ``random_state``.

    Returns
    -------
    DeepStackBaggingClassifier or DeepStackBaggingRegressor
        Unfitted.
    """
    cls = (
        DeepStackBaggingClassifier
        if is_classifier(estimator)
        else DeepStackBaggingRegressor
    )
    return cls(estimator, n_folds=n_folds, random_state=random_state)


def _labels(values, shown=3):
    """Up to ``shown`` distinct ``values``, quoted, for a message."""
    distinct = [str(v) for v in dict.fromkeys(np.asarray(values).tolist())]
    return ", ".join(repr(v) for v in distinct[:shown]) + (
        ", ..." if len(distinct) > shown else ""
    )
