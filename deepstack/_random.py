"""Seeding what deepstack owns, and nothing of the user's."""

import random

import keras
import numpy as np


def seed_backend(seed):
    """Seed Keras's and the backend's generators; keep the process-wide ones.

    ``keras.utils.set_random_seed`` also reseeds Python's ``random`` and
    NumPy's global generator, so a user's own draws after a fit would repeat
    from one fit to the next. deepstack draws nothing from those two (its
    NumPy generators are its own, its Keras layers get explicit seeds), so
    their states are put back as they were.

    Parameters
    ----------
    seed : int
        Seed of the backend's op seeds (``tf.random.set_seed`` under
        TensorFlow, which drives ``Model.fit``'s shuffling) and of Keras's
        global seed.
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()  # noqa: NPY002 (the user's global state)
    try:
        keras.utils.set_random_seed(int(seed))
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
