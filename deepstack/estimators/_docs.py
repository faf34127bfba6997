"""Docstring fragments shared by the supervised estimators."""

COMMON_PARAMETERS = """\
    hidden_layer_sizes : tuple of int, default=(256, 256)
        Units of each hidden layer (empty tuple: a linear / logistic model).
    activation : {"relu", "tanh", "sigmoid", "elu", "selu", "gelu", "linear"}, \
default="relu"
        Activation of the hidden layers.
    dropout : float in [0, 1), default=0.2
        Drop rate of hidden units during training; prediction uses the
        expectation (inverted dropout, no rescaling at test time).
    input_dropout : float in [0, 1), default=0.0
        Drop rate of the inputs during training.
    batch_norm : bool, default=True
        Normalize each hidden pre-activation (Dense without bias -> batch
        normalization -> activation); prediction uses the population
        statistics.
    l1, l2 : float >= 0, default=0.0
        Weight decay of every kernel (biases are not penalized).
    optimizer : {"adam", "sgd", "adagrad", "rmsprop"}, default="adam"
        Mini-batch optimizer. "sgd" uses ``momentum`` and ``nesterov``.
    learning_rate : float > 0, default=1e-3
        Initial learning rate.
    momentum : float in [0, 1), default=0.9
        Momentum of "sgd".
    nesterov : bool, default=False
        Nesterov momentum for "sgd".
    batch_size : int, default=32
        Mini-batch size (capped at the number of training samples).
    max_epochs : int, default=200
        Most epochs per ``fit``.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data (stratified for
        classifiers), stop after ``n_iter_no_change`` epochs without
        improvement of the validation loss and restore the best weights.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out for validation.
    n_iter_no_change : int, default=10
        Patience of early stopping (the look-ahead), in epochs.
    tol : float, default=1e-4
        Smallest decrease of the monitored loss that counts as improvement.
    lr_schedule : {"halving", "constant"}, default="halving"
        "halving": keep the learning rate while the monitored loss improves,
        halve it after ``lr_patience`` epochs without improvement.
    lr_patience : int, default=5
        Epochs without improvement before the learning rate is cut.
    lr_factor : float in (0, 1), default=0.5
        Multiplier applied at each cut.
    standardize : bool, default=True
        Standardize inputs inside the network with the training set's mean
        and standard deviation (constant columns are only centered).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, dropout, shuffling and the validation
        split; the same integer gives the same model on CPU.
    verbose : int, default=0
        Keras progress output (0 silent, 1 progress bar, 2 one line per epoch).
    callbacks : list of keras.callbacks.Callback, default=None
        Extra callbacks, deep-copied at each fit and run after deepstack's
        own; the fitted copies are in ``callbacks_``.
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimizer state."""

COMMON_ATTRIBUTES = """\
    model_ : keras.Model
        The trained network.
    history_ : dict of str to list of float
        Per-epoch values: ``loss``, ``val_loss``, metrics, ``learning_rate``.
    n_iter_ : int
        Epochs trained in total.
    best_epoch_ : int
        0-based index into ``history_`` of the epoch whose weights were kept.
    callbacks_ : list of keras.callbacks.Callback
        The callbacks of the last fit: deepstack's defaults, then the user's.
    n_outputs_ : int
        Output units of the network.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names."""
