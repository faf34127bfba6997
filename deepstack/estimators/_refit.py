"""Refit on all training rows: the validation split's rows join training.

Early stopping finds the number of epochs (and the learning-rate schedule
that halving chose) on a validation split; the final network is then
trained again from the same initialization on the training and validation
rows together for that many epochs, replaying the recorded rates (Keras's
``LearningRateScheduler``). On a few hundred rows the 10% split both wastes
data and stops noisily.
"""

import numpy as np

from deepstack._self_training import stack_rows


def all_rows(train, validation):
    """``(X, y, sample_weight)`` of the training and validation rows together.

    A missing weight (None) on one side is ones there when the other side
    has weights.

    Examples
    --------
    >>> X, y, w = all_rows((np.zeros((3, 2)), np.zeros(3), None),
    ...                    (np.ones((1, 2)), np.ones(1), None))
    >>> X.shape, y.tolist(), w
    ((4, 2), [0.0, 0.0, 0.0, 1.0], None)
    """
    (X, y, w), (X_val, y_val, w_val) = train, validation
    weights = None
    if w is not None or w_val is not None:
        w = np.ones(X.shape[0], dtype=np.float32) if w is None else w
        w_val = np.ones(X_val.shape[0], dtype=np.float32) if w_val is None else w_val
        weights = np.concatenate([w, w_val])
    return stack_rows(X, X_val), np.concatenate([y, y_val]), weights
