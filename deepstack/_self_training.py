"""Pseudo-labels for unlabeled rows: self-training and label propagation.

Pure functions on arrays. The classifier's ``semi_supervised="self_training"``
alternates fine-tuning and :func:`select_pseudo_labels` on the rows still
unlabeled; ``semi_supervised="label_propagation"`` alternates fine-tuning and
:func:`propagate_labels` over a k-nearest-neighbour graph of all rows.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg
from sklearn.neighbors import NearestNeighbors

#: ``propagation_neighbors="auto"``'s candidates.
NEIGHBORS = (5, 10, 20)


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


def bandwidth(distances):
    """The Gaussian weights' width: the median distance of a row to its
    farthest listed neighbour (the largest distance if that is 0, else 1)."""
    distances = np.asarray(distances, dtype=np.float64)
    sigma = float(np.median(distances[:, -1]))
    if sigma <= 0:
        sigma = float(distances.max()) or 1.0
    return sigma


def neighbors_within(n_neighbors, n_rows):
    """``n_neighbors`` capped at the ``n_rows - 1`` other rows that a graph
    of ``n_rows`` rows links each row to (as the graph functions cap it),
    and whether it was capped."""
    k = max(1, min(int(n_neighbors), n_rows - 1))
    return k, k < int(n_neighbors)


def _other_neighbors(features, n_neighbors):
    """Distances to and indices of each row's nearest other rows."""
    n = features.shape[0]
    k, _ = neighbors_within(n_neighbors, n)
    distances, neighbors = (
        NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    )
    # Duplicate rows may list another row first: drop each row's own entry,
    # or the farthest one where it is missing.
    own = neighbors == np.arange(n)[:, None]
    own[~own.any(axis=1), -1] = True
    return distances[~own].reshape(n, k), neighbors[~own].reshape(n, k)


def knn_bandwidth(features, n_neighbors):
    """:func:`bandwidth` of the kNN graph of ``features``."""
    return bandwidth(_other_neighbors(features, n_neighbors)[0])


def knn_affinity(features, n_neighbors):
    """A symmetric k-nearest-neighbour graph with Gaussian edge weights.

    Each row is linked to its ``n_neighbors`` nearest other rows (Euclidean
    distance) with weight ``exp(-d**2 / sigma**2)``, ``sigma`` the median
    distance of a row to its ``n_neighbors``-th neighbour (so the weights do
    not depend on the features' scale); the graph is made symmetric by
    adding its transpose (Zhou et al. 2004; Iscen et al. 2019 use the same
    construction).

    Parameters
    ----------
    features : ndarray or sparse matrix of shape (n_samples, n_features)
    n_neighbors : int
        Neighbours of each row, the row itself not counted (at most
        ``n_samples - 1``).

    Returns
    -------
    affinity : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
    """
    n = features.shape[0]
    distances, neighbors = _other_neighbors(features, n_neighbors)
    k = distances.shape[1]
    weights = np.exp(-((distances / bandwidth(distances)) ** 2))
    affinity = sp.csr_matrix(
        (weights.ravel(), (np.repeat(np.arange(n), k), neighbors.ravel())),
        shape=(n, n),
    )
    return (affinity + affinity.T).tocsr()


def _spreading_system(features, n_neighbors, alpha):
    """``I - alpha D^-1/2 W D^-1/2`` for the graph of :func:`knn_affinity`."""
    affinity = knn_affinity(features, n_neighbors)
    degree = np.asarray(affinity.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.maximum(degree, np.finfo(np.float64).tiny))
    return sp.eye(affinity.shape[0], format="csr") - alpha * (
        sp.diags(scale) @ affinity @ sp.diags(scale)
    )


def propagate_labels(features, labels, n_classes, n_neighbors, alpha=0.9):
    """Class distributions of every row by label spreading over a kNN graph.

    Zhou et al. (2004), "Learning with Local and Global Consistency", the
    propagation step of Iscen et al. (2019), "Label Propagation for Deep
    Semi-supervised Learning": with ``S`` the symmetrically normalized
    affinity of :func:`knn_affinity` and ``Y`` the one-hot labels (zero rows
    for unlabeled rows), solves ``(I - alpha S) F = Y`` by conjugate
    gradients and normalizes the rows of ``F``.

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
        Neighbours of each row in the graph, the row itself not counted.
    alpha : float in (0, 1), default=0.9
        How far labels spread: 0 keeps them where they are, near 1 lets them
        travel many hops.

    Returns
    -------
    distributions : ndarray of shape (n_samples, n_classes)
        Each row's class distribution (rows sum to 1; uniform for a row that
        no label reaches).
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = labels.shape[0]
    system = _spreading_system(features, n_neighbors, alpha)
    seeds = np.zeros((n, n_classes))
    labeled = labels >= 0
    seeds[labeled, labels[labeled]] = 1.0
    found = np.zeros_like(seeds)
    for c in range(n_classes):
        if seeds[:, c].any():
            found[:, c] = cg(system, seeds[:, c], rtol=1e-10, maxiter=1000)[0]
    found = np.clip(found, 0.0, None)
    totals = found.sum(axis=1, keepdims=True)
    # A row no label reaches solves to exactly 0 (the zero start is exact).
    reached = totals > 1e-12
    return np.where(reached, found / np.where(reached, totals, 1), 1.0 / n_classes)


def propagate_targets(features, targets, labeled, n_neighbors, alpha=0.9):
    """Real-valued targets of every row by spreading over a kNN graph.

    The regression analogue of :func:`propagate_labels`: solves
    ``(I - alpha S) F = Y`` for the targets (zero on unlabeled rows) and for
    the labeled rows' indicator, and divides the first by the second, so
    that each row gets a weighted mean of the labeled rows' targets (nearer
    ones in the graph weigh more; a constant target spreads unchanged).

    Parameters
    ----------
    features : ndarray or sparse matrix of shape (n_samples, n_features)
    targets : ndarray of shape (n_samples, n_outputs)
        Read only on the labeled rows.
    labeled : ndarray of bool of shape (n_samples,)
    n_neighbors : int
        Neighbours of each row in the graph, the row itself not counted.
    alpha : float in (0, 1), default=0.9

    Returns
    -------
    spread : ndarray of shape (n_samples, n_outputs)
        NaN on the rows that no labeled row reaches.
    """
    targets = np.asarray(targets, dtype=np.float64).reshape(len(labeled), -1)
    labeled = np.asarray(labeled, dtype=bool)
    system = _spreading_system(features, n_neighbors, alpha)
    seeds = np.column_stack(
        [labeled.astype(np.float64), np.where(labeled[:, None], targets, 0.0)]
    )
    found = np.column_stack(
        [
            cg(system, seeds[:, c], rtol=1e-10, maxiter=1000)[0]
            for c in range(seeds.shape[1])
        ]
    )
    mass = found[:, :1]
    reached = mass[:, 0] > 1e-12
    spread = np.full(targets.shape, np.nan)
    spread[reached] = found[reached, 1:] / mass[reached]
    return spread


def graph_proba(train_features, distributions, features, n_neighbors, sigma):
    """Class distributions of new rows from their nearest training rows.

    The inductive step of label spreading: each new row takes the mean of
    its ``n_neighbors`` nearest training rows' propagated distributions,
    weighted by ``exp(-d**2 / sigma**2)`` (as in :func:`knn_affinity`).

    Parameters
    ----------
    train_features : ndarray of shape (n_train, n_features)
    distributions : ndarray of shape (n_train, n_classes)
        The training rows' class distributions (:func:`propagate_labels`).
    features : ndarray of shape (n_samples, n_features)
        The new rows.
    n_neighbors : int
    sigma : float
        The training graph's :func:`bandwidth`.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
        Rows sum to 1.
    """
    k = max(1, min(int(n_neighbors), train_features.shape[0]))
    distances, neighbors = (
        NearestNeighbors(n_neighbors=k).fit(train_features).kneighbors(features)
    )
    # Relative to each row's nearest neighbour, so that a row far from every
    # training row still averages its neighbours instead of underflowing.
    weights = np.exp(-((distances**2 - distances[:, :1] ** 2) / sigma**2))
    proba = np.einsum("nk,nkc->nc", weights, distributions[neighbors])
    return proba / proba.sum(axis=1, keepdims=True)


def choose_neighbors(
    features, labels, n_classes, candidates, *, alpha=0.9, repeats=3, seed=0
):
    """The number of graph neighbours whose propagation best recovers
    held-out labels.

    Each of ``repeats`` rounds hides a random 30 % of the labeled rows (at
    least one), propagates the rest with each candidate and counts the hidden
    rows whose most probable class is their label; only labeled rows are
    scored. Ties go to the first candidate.

    Parameters
    ----------
    features : ndarray or sparse matrix of shape (n_samples, n_features)
    labels : ndarray of int of shape (n_samples,)
        Class indices; -1 marks an unlabeled row.
    n_classes : int
    candidates : sequence of int
    alpha : float, default=0.9
    repeats : int, default=3
    seed : int, default=0

    Returns
    -------
    n_neighbors : int
        The best candidate.
    scores : list of float
        Each candidate's held-out accuracy (mean over the repeats).
    """
    labels = np.asarray(labels, dtype=np.int64)
    labeled = np.flatnonzero(labels >= 0)
    rng = np.random.RandomState(seed)
    n_held = max(1, int(round(0.3 * labeled.shape[0])))
    hits = np.zeros(len(candidates))
    for _ in range(repeats):
        held = rng.choice(labeled, size=n_held, replace=False)
        hidden = labels.copy()
        hidden[held] = -1
        for i, k in enumerate(candidates):
            found = propagate_labels(features, hidden, n_classes, k, alpha)
            hits[i] += np.sum(found[held].argmax(axis=1) == labels[held])
    scores = (hits / (repeats * n_held)).tolist()
    return int(candidates[int(np.argmax(scores))]), scores


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
