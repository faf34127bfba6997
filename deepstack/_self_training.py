"""Self-training: confident predictions on unlabeled rows become labels.

Pure NumPy. The classifier (``semi_supervised="self_training"``) alternates
fine-tuning and :func:`select_pseudo_labels` on the rows still unlabeled.
"""

import numpy as np
import scipy.sparse as sp


def log_proba_from_logits(z):
    """Log class probabilities (float64) from the network's logits.

    ``z`` has one column (two classes, sigmoid) or one column per class
    (softmax); the result has one column per class.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros_like(z[:, 0]), z[:, 0]])
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def select_pseudo_labels(proba, threshold):
    """The rows whose most probable class reaches ``threshold``.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Class probabilities.
    threshold : float
        Minimum probability of the predicted class, in (0, 1].

    Returns
    -------
    selected : ndarray of bool, shape (n_samples,)
        The confident rows.
    labels : ndarray of int64, shape (n_selected,)
        Their predicted class indices (argmax; ties go to the first class).
    """
    proba = np.asarray(proba, dtype=np.float64)
    selected = proba.max(axis=1) >= threshold
    return selected, np.argmax(proba[selected], axis=1).astype(np.int64)


def stack_rows(a, b):
    """Rows of ``a`` then ``b`` (NumPy arrays or scipy sparse matrices)."""
    if sp.issparse(a) or sp.issparse(b):
        return sp.vstack([a, b], format="csr")
    return np.concatenate([a, b])
