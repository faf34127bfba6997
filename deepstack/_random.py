"""Seeding what deepstack owns, and nothing of the user's."""

import random

import keras
import numpy as np

from deepstack import _compat


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
        # keras.utils.set_random_seed, keeping TensorFlow's compiled
        # functions (the compile cache's traced epochs) when it can.
        _compat.set_random_seed(int(seed))
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002


def enable_determinism():
    """Deterministic ops and full-precision float32 matmuls, process-wide.

    TensorFlow: ``tf.config.experimental.enable_op_determinism`` (every op
    picks a deterministic kernel, or raises where it has none) and no TF32
    (``enable_tensor_float_32_execution(False)``: on Ampere and later GPUs
    TF32 matmuls round inputs to 10 mantissa bits). JAX: the "highest"
    default matmul precision (its op determinism is an XLA flag that must be
    set before JAX starts: ``XLA_FLAGS=--xla_gpu_deterministic_ops=true``).
    TensorFlow offers no public way back, so both stay on.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
