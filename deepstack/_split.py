"""The validation split: one implementation for fit, pretraining and search."""

import math

import numpy as np
from sklearn.model_selection import train_test_split


def n_validation(n_samples, validation_fraction):
    """Rows held out for validation: ``ceil(validation_fraction * n_samples)``."""
    return math.ceil(validation_fraction * n_samples)


def stratify_labels(labels, n_val):
    """``labels`` if a stratified split of ``n_val`` rows can be drawn, else None.

    Stratification needs at least two rows of every class and room for one
    row of each class in the validation set; otherwise the split falls back
    to a plain shuffled one.
    """
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1:
        return None
    _, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2 or n_val < len(counts):
        return None
    return labels


def train_validation_split(*arrays, n_val, seed, stratify=None):
    """Split each of ``arrays`` (None entries stay None) into training and
    validation parts: ``(train parts, validation parts)`` as lists.

    ``n_val`` rows go to validation, drawn by ``train_test_split`` with
    ``random_state=seed``, stratified on ``stratify`` when
    :func:`stratify_labels` allows it.
    """
    present = [a for a in arrays if a is not None]
    stratify = stratify_labels(stratify, n_val)
    parts = train_test_split(
        *present, test_size=n_val, random_state=seed, stratify=stratify
    )
    train, val = iter(parts[0::2]), iter(parts[1::2])
    train_parts = [None if a is None else next(train) for a in arrays]
    val_parts = [None if a is None else next(val) for a in arrays]
    return train_parts, val_parts
