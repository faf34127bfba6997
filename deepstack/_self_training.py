"""Pseudo-labels for unlabeled rows: self-training and label propagation.

Pure functions on arrays. The classifier's ``semi_supervised="self_training"``
alternates fine-tuning and :func:`select_pseudo_labels` on the rows still
unlabeled; ``semi_supervised="label_propagation"`` alternates fine-tuning and
:func:`propagate_labels` over a k-nearest-neighbour graph of all rows.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.semi_supervised import LabelSpreading


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


def propagate_labels(features, labels, n_classes, n_neighbors):
    """Class distributions of every row by label spreading over a kNN graph.

    Wraps scikit-learn's ``LabelSpreading(kernel="knn")`` (Zhou et al. 2004),
    the propagation step of Iscen et al. (2019), "Label Propagation for Deep
    Semi-supervised Learning".

    Parameters
    ----------
    features : ndarray or sparse matrix of shape (n_samples, n_features)
        The rows' representation the graph is built on.
    labels : ndarray of int of shape (n_samples,)
        Class indices in ``0 .. n_classes - 1``; -1 marks an unlabeled row.
    n_classes : int
        Number of classes (columns of the result), also those absent from
        ``labels``.
    n_neighbors : int
        Neighbours of each row in the graph (at most ``n_samples - 1``).

    Returns
    -------
    distributions : ndarray of shape (n_samples, n_classes)
        Each row's class distribution (rows sum to 1; uniform for a row that
        no label reaches).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n_neighbors = max(1, min(int(n_neighbors), labels.shape[0] - 1))
    # A tolerance far below scikit-learn's 1e-3, which stops before labels
    # reach rows a few hops away (their mass shrinks by alpha=0.2 a hop).
    spreading = LabelSpreading(
        kernel="knn", n_neighbors=n_neighbors, max_iter=1000, tol=1e-12
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        spreading.fit(features, labels)
    found = np.nan_to_num(spreading.label_distributions_, nan=0.0)
    distributions = np.zeros((labels.shape[0], n_classes))
    distributions[:, spreading.classes_] = found
    totals = distributions.sum(axis=1, keepdims=True)
    return np.where(
        totals > 0, distributions / np.where(totals > 0, totals, 1), 1.0 / n_classes
    )


def confidence_weights(distributions):
    """One minus the normalized entropy of each row's class distribution.

    1 for a one-hot row, 0 for a uniform one (Iscen et al. 2019, eq. 11);
    in [0, 1].
    """
    p = np.asarray(distributions, dtype=np.float64)
    n_classes = p.shape[1]
    if n_classes < 2:
        return np.ones(p.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return np.clip(1.0 - entropy / np.log(n_classes), 0.0, 1.0)
