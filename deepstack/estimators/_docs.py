"""Docstring fragments shared by the supervised estimators."""

COMMON_PARAMETERS = """\
    hidden_layer_sizes : tuple of int, default=(256, 256)
        Units of each hidden layer (empty tuple: a linear / logistic model).
    activation : {"relu", "tanh", "sigmoid", "elu", "selu", "gelu", "linear"}, \
default="relu"
        Activation of the hidden layers.
    dropout : float in [0, 1) or "auto", default="auto"
        Drop rate of hidden units during training; prediction uses the
        expectation (inverted dropout, no rescaling at test time). "auto":
        0.3. The value used is in ``dropout_``.
    input_dropout : float in [0, 1) or "auto", default="auto"
        Drop rate of the inputs during training. "auto": 0.1 with 64 features
        or more, else 0 (dropping one of a few informative columns discards
        real information). The value used is in ``input_dropout_``.
    batch_norm : bool or "auto", default="auto"
        Normalize each hidden pre-activation (Dense without bias -> batch
        normalization -> activation); prediction uses the population
        statistics. "auto": on for classifiers, off for regressors (on a few
        hundred rows its batch statistics cost the regressor much of its R²;
        ``benchmarks/results/estimator_defaults_regression_select.md``). The
        value used is in ``batch_norm_``.
    l1 : float >= 0, default=0.0
        L1 penalty on every kernel (biases are not penalized).
    l2 : float >= 0 or "auto", default="auto"
        L2 weight decay on every kernel: ``l2 * sum(w ** 2)`` is added to the
        loss. "auto": 1e-3. The value used is in ``l2_``. The "auto" rules
        were chosen on validation splits of the training rows of nine public
        datasets, never on the test rows that are reported
        (``benchmarks/estimator_defaults.py``, results in
        ``benchmarks/results/estimator_defaults_selection.md``; the
        regressors' by 5-fold cross-validation inside the training rows,
        ``estimator_defaults_regression_select.md``); on digits (64 features)
        they give the former defaults, 0.3, 0.1 and 1e-3 with batch
        normalization.
    loss : str, default="auto"
        The training loss, which is also the validation loss that early
        stopping and learning-rate halving watch. Classifier: "log_loss"
        (the cross-entropy; what "auto" means) or "focal" (the focal loss
        ``-(1 - p_t) ** focal_gamma * log(p_t)``, which down-weights samples
        already classified confidently: for class imbalance). Regressor:
        "squared_error" (what "auto" means), "absolute_error", "huber"
        (squared below ``huber_delta``, absolute above) or "poisson" (Keras's
        Poisson loss ``mu - y * log(mu)``, the negative log-likelihood up to
        a term of ``y`` alone, so its values can be negative; with a log
        link: the output is ``exp`` of the last
        layer, so predictions are positive; targets must be non-negative and
        are only scaled, by their mean, not centered). The regressor's
        losses see standardized targets when ``standardize=True``. ``score``
        stays accuracy / R² whatever the loss.
    focal_gamma : float >= 0, default=2.0
        Focusing parameter of ``loss="focal"`` (0: the cross-entropy).
    huber_delta : float > 0, default=1.0
        Threshold of ``loss="huber"`` between its squared and absolute
        parts, in standard deviations of the target when
        ``standardize=True`` (else in target units).
    optimizer : {"adam", "sgd", "adagrad", "rmsprop"}, default="adam"
        Mini-batch optimizer. "sgd" uses ``momentum`` and ``nesterov``.
    learning_rate : float > 0 or "auto", default=1e-3
        Initial learning rate. "auto" runs ``deepstack.find_learning_rate``'s
        search on (a subset of) the training split before training: the
        largest rate, halving from 1.0, whose short run does not diverge,
        times 0.5. The rate used is in ``learning_rate_``.
    momentum : float in [0, 1), default=0.9
        Momentum of "sgd".
    nesterov : bool, default=False
        Nesterov momentum for "sgd".
    batch_size : int or "auto", default="auto" (classifier), 32 (regressor)
        Mini-batch size (capped at the number of training samples). "auto"
        follows the number of training rows: 32 up to 3,200 rows, then about
        rows / 100 rounded to a power of two, at most 512 (about 100 steps an
        epoch; on a CPU each step of a small network costs its dispatch, not
        its arithmetic), and ``learning_rate`` is then the rate for a batch of
        32: training uses it times ``sqrt(batch / 32)`` (in
        ``learning_rate_``), which kept the accuracy of batch 32 on the large
        tables where a larger batch at the same rate lost it. Classifiers
        default to "auto" (2.2-3.3x faster fits than batch 32 on the two
        21,000-row tables of ``benchmarks/medium_table.py``, and the same or
        better validation accuracy in the round that chose it; no change up
        to 3,200 rows); regressors keep 32, unmeasured on large tables.
    max_epochs : int, default=200
        Most epochs per ``fit``.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data (stratified for
        classifiers), stop after ``n_iter_no_change`` epochs without
        improvement of the validation loss and restore the best weights.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out for validation.
    n_iter_no_change : int or "auto", default: classifier "auto", regressor 10
        Patience of early stopping (the look-ahead), in epochs. "auto": 10,
        and 5 for a classifier fitting on 10,000 rows or more (with
        ``patience_growth="auto"``, see below); in ``n_iter_no_change_``.
    patience_growth : float >= 0 or "auto", default: classifier "auto", \
regressor 0.0
        Let the patience grow with training: early stopping waits at least
        ``ceil(patience_growth * k)`` epochs when the best epoch so far is
        the ``k``-th (``n_iter_no_change`` at least). With a short
        ``n_iter_no_change``, fits whose loss flattens early stop early and
        fits that keep improving slowly keep their look-ahead. "auto": 0.25
        for a classifier fitting on 10,000 rows or more, else 0 (a fixed
        patience); in ``patience_growth_``. Chosen on recorded default fits
        (``benchmarks/stop_rules.py``): a 21,000-row table then
        stops at 19 epochs instead of 62, 1.4x the MLP's time instead of
        3.6x, 2 points ahead of it (``benchmarks/results/medium_table.md``),
        and the 26-class tables keep their epochs.
    tol : float, default=1e-4
        Smallest decrease of the monitored loss that counts as improvement.
    lr_schedule : {"halving", "decay", "constant"}, default="halving"
        "halving": keep the learning rate while the monitored quantity
        improves, multiply it by ``lr_factor`` after ``lr_patience`` epochs
        without improvement (see ``max_halvings``, ``min_learning_rate``).
        "decay": divide it geometrically by 100 over ``max_epochs`` epochs.
        "constant": keep it.
    lr_patience : int, default=5
        Epochs without improvement before the learning rate is cut.
    lr_factor : float in (0, 1), default=0.5
        Multiplier applied at each cut.
    monitor : {"val_loss", "val_accuracy", "val_r2"}, default="val_loss"
        Validation quantity watched by early stopping and learning-rate
        halving: "val_accuracy" for the classifier, "val_r2" for the
        regressor (then logged in ``history_``). Without a validation set
        the same quantity on the training data is watched.
    scoring : str, callable or None, default=None
        A scikit-learn scorer (a name such as "roc_auc", "neg_log_loss",
        "balanced_accuracy", "neg_mean_absolute_error", or a callable
        ``f(estimator, X, y)``, greater is better) computed on the validation
        rows at the end of every epoch and logged as ``val_score`` in
        ``history_``; early stopping and learning-rate halving then watch it
        instead of ``monitor``. ``DeepStackSearch`` scores its trials with it
        too. Ignored without a validation set and by ``partial_fit``. Costs
        one prediction on the validation rows per epoch. A score that is NaN
        (roc_auc of validation rows of one class) is said once, in a
        ``RuntimeWarning``.
    max_halvings : int or None, default=None
        With ``lr_schedule="halving"``, stop training when the rate would be
        cut once more after this many cuts (None: no limit).
    min_learning_rate : float, default=1e-6
        With ``lr_schedule="halving"``, stop training instead of cutting the
        rate below this value.
    clipnorm : float > 0 or None, default=None
        Clip each gradient to this norm before the update.
    on_divergence : {"raise", "warn"}, default="raise"
        When the training loss becomes NaN / infinite or explodes, training
        stops and the last good weights are restored; then ``fit`` raises
        ``deepstack.callbacks.DivergenceError`` ("raise": the fit is undone,
        as for any exception, and a fresh estimator stays unfitted) or warns
        and keeps those weights ("warn"), naming the learning rate to try.
    batch_norm_statistics : {"population", "moving"}, default="population"
        After ``fit``, "population" sets each batch-normalization layer's
        mean and variance to the exact statistics of its inputs over the
        training split (one pass, first layer to last); "moving" keeps
        Keras's moving averages. ``partial_fit`` keeps the moving averages.
    standardize : bool, default=True
        Standardize inputs inside the network with the training set's mean
        and standard deviation (constant columns are only centered); the
        regressor also standardizes its targets (``target_mean_``,
        ``target_scale_``; predictions come back in target units). The
        statistics are those of the fit that built the network: a
        warm-started fit and later ``partial_fit`` calls keep them (a first
        ``partial_fit`` chunk sets them).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, dropout, shuffling and the validation
        split; the same integer gives the same model on CPU.
    deterministic : bool, default=False
        Make fit and predict reproducible on every device: when fitting or
        predicting, turn on the backend's op determinism
        (``tf.config.experimental.enable_op_determinism`` under TensorFlow)
        and the highest float32 matmul precision (no TF32 on NVIDIA GPUs;
        JAX's "highest" precision); both then stay on for the rest of the
        process. The cost: deterministic GPU kernels and full-precision
        matmuls are slower (TF32 matmuls are several times faster on Ampere
        and later GPUs); on CPU there is little difference. Set
        ``random_state`` too.
    verbose : int, default=0
        Keras progress output (0 silent, 1 progress bar, 2 one line per
        epoch). Keras's own bar, drawn once per epoch with the epoch's logs
        (each epoch is one compiled call); training stays on the fused loop.
    callbacks : list of keras.callbacks.Callback, default=None
        Extra callbacks, deep-copied at each fit and run after deepstack's
        own; the fitted copies are in ``callbacks_``. Epoch-level hooks keep
        the fused epoch loop; a callback with per-batch hooks
        (``on_train_batch_end``, ...) makes training take ``Model.fit``, one
        batch per compiled call, so that it sees every batch (slower). A
        callback whose class sets ``pretraining = True`` also follows each
        pretrained layer's training (and, if it has
        ``on_pretrain_layer_begin(layer, n_layers, epochs)``, is told which
        layer starts).
    log_dir : str, os.PathLike or None, default=None
        Write every epoch's logged values (``loss``, ``val_loss``, metrics,
        ``val_score``, ``learning_rate``) as TensorBoard scalars into this
        folder (``deepstack.callbacks.EpochTensorBoard``, an epoch-level
        callback: training keeps its fused loop); view them with
        ``tensorboard --logdir <folder>``.
    checkpoint : str, os.PathLike or None, default=None
        Make a long fit resumable: at the end of every epoch, save the
        training state (weights, optimizer state and iteration counter,
        dropout generator states, the callbacks' state, the history so far
        and the epoch index) into this folder, as JSON and NumPy arrays
        (loaded without pickle), written under a temporary name and renamed
        into place. A fit that finds a checkpoint there (one killed, even
        with SIGKILL) continues from it and ends with the weights an
        uninterrupted fit would have (exactly, on the same machine; with
        ``verbose`` > 0, ``Model.fit`` then draws its batches as the fused
        loop does, with a seeded permutation per epoch, so they differ from
        those of a fit without ``checkpoint``). The checkpoint must come from a
        fit with the same parameters and data, else ``ValueError``; with
        ``random_state=None`` the resumed fit reuses the seed it stored.
        Pretraining (``pretrain``) runs again before resuming. The folder's
        checkpoints are deleted when the fit ends (the folder too, if then
        empty). Ignored by ``partial_fit`` and by warm-start fits that
        continue a fitted model. One folder per fit: fits running at the
        same time (parallel cross-validation folds) must not share one.
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimizer state. The
        learning rate, the epochs and the stopping rule apply to each fit;
        a parameter the network was built with (``hidden_layer_sizes``,
        ``activation``, ``dropout``, ``loss``, ``optimizer``,
        ``reconstruction_weight``, ``finetune`` after pretraining, ...) cannot
        change in between: ``fit`` then raises a ``ValueError`` naming it
        (``partial_fit`` too). The semi-supervised results
        (``n_pseudo_labeled_``, the label-propagation graph) are the last
        fit's: none after a fit whose ``y`` has no rows without a label.
    pretrain : {"autoencoder", "denoising", "auto"} or None, default=None
        Initialize the hidden layers by greedy layer-wise autoencoder
        pretraining before fine-tuning (see ``StackedAutoencoder``):
        "denoising" corrupts each layer's input with ``pretrain_corruption``.
        "auto": "denoising" when ``y`` marks more rows unlabeled (-1 for the
        classifier, NaN for the regressor) than labeled and ``X`` is dense,
        no pretraining otherwise (pretraining takes no sparse ``X``).
        Pretraining sees the inputs as the network does (standardized when
        ``standardize=True``). With pretraining set, rows of ``y`` equal to -1
        are unlabeled samples (the classifier's semi-supervised mode):
        they are used for pretraining (and self-training or label
        propagation, see ``semi_supervised``) only, and fine-tuning, the
        validation split and scores use the labeled rows. Without pretraining
        or ``semi_supervised``, -1 is an ordinary label, with a ``UserWarning``
        unless the labels are {-1, 1}. For the regressor -1 is always an
        ordinary target value; a NaN target marks an unlabeled row (used for
        pretraining and the regressor's ``semi_supervised``; an error without
        either). ``partial_fit`` and
        warm-started refits do not pretrain.
    pretrain_epochs : int, default=20
        Most epochs of each layer's autoencoder (early-stopped on a
        ``validation_fraction`` split of the reconstruction loss when
        ``early_stopping=True``, with patience ``n_iter_no_change``).
    pretrain_layers : int or None, default=None
        How many hidden layers (from the bottom) to pretrain; None: all.
    pretrain_corruption : {"mask", "gaussian"}, default="mask"
        Corruption of "denoising": zero a fraction ``pretrain_noise_level`` of
        the inputs, or add Gaussian noise with that standard deviation.
    pretrain_noise_level : float >= 0, default=0.2
        Strength of the denoising corruption: with "mask" a fraction in
        [0, 1) (1 is refused: nothing would be left to reconstruct from),
        with "gaussian" a standard deviation, any value (above 1 too).
    pretrain_sparsity : float >= 0, default=0.0
        L1 penalty on the hidden codes during pretraining.
    pretrain_tied_weights : bool, default=True
        Decoders use the transpose of their encoder's kernel.
    pretrain_loss : {"auto", "cross_entropy", "squared_error"}, default="auto"
        Reconstruction loss; "auto" is the cross-entropy of a sigmoid
        reconstruction for a layer whose inputs all lie in [0, 1] with the
        largest 0.5 at least, else the squared error of a linear one.
    pretrain_optimizer : {"adam", "sgd", "adagrad", "rmsprop"}, default="adam"
        Optimizer of the pretraining.
    pretrain_learning_rate : float > 0, default=1e-3
        Learning rate of the pretraining.
    pretrain_batch_size : int, default=32
        Mini-batch size of the pretraining.
    finetune : {"all", "head"}, default="all"
        After pretraining, train the whole network ("all") or keep the
        pretrained layers frozen and train only the layers above ("head").
    distribution : None, "auto" or keras.distribution.Distribution, default=None
        Data-parallel training (JAX backend): a Keras distribution such as
        ``keras.distribution.DataParallel()``; the network's variables are
        replicated on its devices and each mini-batch is split over them,
        whatever its size (``Model.fit``'s path, taken with per-batch
        callbacks or a large sparse ``X``, places a batch that does not split
        evenly whole on every device: the same updates, with a
        ``UserWarning``). A network
        built on one device (loaded, unpickled, warm-started) is laid out on
        the devices when it trains. "auto": all local devices with JAX when
        there are two or more, else one device (always one on TensorFlow). A
        distribution object with TensorFlow raises ``ValueError``. ``fit``
        trains under the distribution; prediction does not need it (it runs
        on one device). Pickling and ``deepstack.save`` store a distribution
        object as None, with a ``UserWarning`` (it names this process's
        devices); "auto" is stored as is.
    reconstruction_weight : float >= 0 or "auto", default="auto"
        The joint loss: fine-tuning minimizes the supervised loss plus this
        times the loss of reconstructing the network's (standardized) inputs
        from its last hidden layer, through a decoder tied to the hidden
        layers (the transposes of their kernels, biases of its own). The
        reconstruction is computed on every training row, and rows without
        a label (-1 for the classifier, NaN for the regressor) join the
        training rows for it alone: they add nothing to the supervised
        loss, which the labeled rows' weights scale to their mean (weights
        times all rows over labeled rows). Squared error; the cross-entropy
        of a sigmoid reconstruction for inputs in [0, 1] (the largest 0.5
        at least) with ``standardize=False`` (``pretrain_loss="auto"``'s
        rule). Validation
        losses leave the reconstruction out, and prediction and ``export``
        do not compute it. 0: no decoder, the network and its training as
        without the parameter. Needs a hidden layer. "auto": 0.1 for the
        regressor when its NaN-target rows outnumber the labeled rows and
        neither ``pretrain`` nor ``semi_supervised`` uses them (measured: above
        the labeled rows alone at every label budget, and above target
        propagation and pretraining on average); 0 otherwise, and always 0
        for the classifier (with its default label propagation it did not
        gain). The value used is in ``reconstruction_weight_``.
    refit_on_all : bool, default=False
        After early stopping has chosen the epoch count (``best_epoch_ + 1``)
        on the internal validation split, train a fresh network from the
        same initialization on the training and validation rows together
        for that many epochs, replaying the learning rates recorded for
        them (``history_["learning_rate"]``); it becomes ``model_``.
        ``history_``, ``n_iter_`` and ``best_epoch_`` describe the first
        run, ``refit_history_`` the refit. Costs up to one more training
        run. Needs ``early_stopping=True`` and no ``X_val``, and does not
        combine with ``pretrain``, ``checkpoint`` or rows without a label
        (``ValueError``); warm-started fits do not refit. Off by default:
        on wine, breast_cancer and iris (fewer than 500 training rows) it
        did not raise the 5-fold cross-validation accuracy inside the
        training rows
        (``benchmarks/results/estimator_defaults_small_round2_refit_select.md``)."""

COMMON_ATTRIBUTES = """\
    model_ : keras.Model
        The trained network.
    history_ : dict of str to list of float
        Per-epoch values: ``loss``, ``val_loss``, metrics, ``learning_rate``;
        every list holds ``n_iter_`` values, NaN for the epochs of a call
        that logged no such value (``val_*`` in a ``partial_fit`` epoch).
        The metrics (``accuracy``, ``r2`` and their ``val_*``) count each
        row once, unweighted by ``sample_weight`` or ``class_weight``; the
        training ones leave out rows of weight 0 (the joint loss's
        unlabeled rows). The losses are weighted.
    n_iter_ : int
        Epochs trained in total.
    dropout_, input_dropout_, l2_ : float
        The drop rates and L2 weight decay of the network (``"auto"``
        resolved from the number of features and the task at ``fit``, or at
        the first ``partial_fit``).
    batch_norm_ : bool
        Whether the network has batch normalization (``"auto"`` resolved by
        the task).
    reconstruction_weight_ : float
        The joint loss's weight (``"auto"`` resolved at ``fit``; 0: no joint
        loss).
    refit_on_all_ : bool
        Whether ``model_`` is the refit on all training rows (False also
        when a Ctrl-C stopped the fit).
    refit_history_ : dict of str to list of float
        Per-epoch ``loss``, metrics and ``learning_rate`` of the refit on all
        rows (empty without it).
    learning_rate_ : float
        The initial learning rate of training (chosen by the search when
        ``learning_rate="auto"``).
    best_epoch_ : int
        0-based index into ``history_`` of the epoch whose weights were kept.
    n_iter_no_change_, patience_growth_ : int, float
        Early stopping's patience and its growth in the last fit ("auto"
        resolved from the training rows).
    pretraining_history_ : list of dict
        One dict per pretrained layer (per-epoch ``loss`` / ``val_loss`` of the
        reconstruction, ``loss_function``, ``n_epochs``, ``best_epoch``,
        ``fit_seconds``, ``cut_short``); empty without pretraining. A
        :class:`~deepstack.callbacks.TimeLimit` among ``callbacks`` (a
        search's ``time_limit``) stops pretraining too: the layer in training
        at its next epoch end, and the layers above it are not pretrained.
    callbacks_ : list of keras.callbacks.Callback
        The callbacks of the last fit: deepstack's defaults, then the user's.
    n_outputs_ : int
        Output units of the network.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names."""
