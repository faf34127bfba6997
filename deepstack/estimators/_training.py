"""Training the estimator's network: the one seam and what it composes.

``TrainingMixin`` gives ``BaseDeepStack`` the training half of ``fit``:
greedy pretraining of the built network, the starting learning rate (the
parameter, scaled to the batch, or the finder's), the default callbacks
(divergence guard, early stopping, learning-rate halving) before the
user's, the seam ``_train`` that every run goes through
(:func:`deepstack._trainer.train` with the compile cache), the history and
divergence report, the refit on all rows, and the devices it runs on
(``distribution``). :func:`train_network` gives
:class:`~deepstack.DeepStackHyperModel` the same run for a network it built.
"""

import contextlib
import copy
import functools
import math
import warnings

import keras
import scipy.sparse as sp
from sklearn.base import is_regressor
from sklearn.metrics import check_scoring

from deepstack import (
    _checkpoint,
    _compile_cache,
    _defaults,
    _interrupt,
    _lr_finder,
    _network,
    _pretraining,
    _trainer,
)
from deepstack._warnings import user_stacklevel
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


class TrainingMixin:
    """Pretraining, the training seam and its callbacks, for ``BaseDeepStack``."""

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
                stacklevel=user_stacklevel(),
            )
            return
        self._set_population_statistics(model, X)
        self.model_ = model
        self.refit_history_ = {
            key: [float(v) for v in values] for key, values in history.items()
        }

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
        after_interrupt="",
    ):
        """Train ``self.model_``; ``saving`` (see ``_checkpoint_identity``)
        writes checkpoints into ``checkpoint``, ``resume`` continues one.

        Returns whether a Ctrl-C stopped the training at an epoch's end: the
        caller then trains no more (its rounds, ...), which
        ``after_interrupt`` adds to the warning.
        """
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
                "are kept and the fitted attributes describe them."
                + (f" {after_interrupt}" if after_interrupt else ""),
                RuntimeWarning,
                stacklevel=user_stacklevel(),
            )
        if not partial:
            # Partial fits see one chunk at a time: its statistics would
            # replace the moving averages over the whole stream.
            self._set_population_statistics(self.model_, train[0])
        self._report_divergence()
        return stopper.interrupted

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
            # (fit is then undone: see _rollback.py.)
            raise DivergenceError(
                f"{message} fit left the estimator as it was before the call; "
                "on_divergence='warn' keeps the diverged network instead."
            )
        warnings.warn(message, RuntimeWarning, stacklevel=user_stacklevel())

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
        if _trainer.fused(model, train[0], callbacks):
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
                        point_at(callback, model)

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


def detached(callback):
    """A shallow copy of ``callback`` without its reference to the model."""
    callback = copy.copy(callback)
    point_at(callback, None)
    return callback


def point_at(callback, model):
    """Set ``callback.model`` alone: Keras's base ``set_model``, not an
    override's (``TensorBoard.set_model`` opens new event files and writes
    the model's summary again)."""
    keras.callbacks.Callback.set_model(callback, model)
