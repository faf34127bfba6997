"""Snapshots of variables that stay where the variables live.

Callbacks that keep the best or the last good weights take a snapshot at
many epochs. ``model.get_weights()`` copies every weight to host memory (and,
on a GPU, across the bus); a backend copy stays on the device and costs about
nothing next to an epoch.
"""

import keras


def snapshot(variables):
    """Copies of the current values of ``variables``, on their device.

    Copies, not references: with JAX, ``Model.fit`` donates the variables'
    buffers to its compiled step, which frees them.
    """
    return [keras.ops.copy(v) for v in variables]


def restore(variables, values):
    """Assign a :func:`snapshot` back to ``variables``."""
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def all_finite(variables):
    """Whether every floating-point value of ``variables`` is finite (one
    number crosses to the host)."""
    checks = [
        keras.ops.all(keras.ops.isfinite(v))
        for v in variables
        if "float" in keras.backend.standardize_dtype(v.dtype)
    ]
    return not checks or bool(keras.ops.all(keras.ops.stack(checks)))
