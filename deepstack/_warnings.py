"""Warnings that point at the user's line.

A warning raised inside ``fit`` is read where Python says it came from. A
fixed ``stacklevel`` names the right line only for the one path it was
counted on: the same warning reaches the user through ``fit``, through the
rollback wrapper, a bagged ensemble's members, a search's trials, Keras's
callback list or scikit-learn's ``cross_validate``, each some frames deeper.
:func:`user_stacklevel` counts the frames at the time of the warning instead
(Python 3.12's ``skip_file_prefixes`` does the same; deepstack supports 3.10).
"""

import importlib.util
import os
import sys

#: Packages a fit runs through on its way from the user's line to a warning.
_THROUGH = ("deepstack", "keras", "keras_tuner", "sklearn", "joblib", "tensorflow")


def _folders():
    folders = []
    for name in _THROUGH:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            folders.extend(
                os.path.join(os.path.abspath(f), "")
                for f in spec.submodule_search_locations
            )
    return tuple(folders)


_FOLDERS = None


def user_stacklevel():
    """The ``stacklevel`` for a ``warnings.warn`` in the calling function that
    attributes the warning to the first frame outside deepstack and the
    libraries a fit runs through (Keras, keras-tuner, scikit-learn, joblib,
    TensorFlow): the user's line that called ``fit``, ``predict`` or
    ``fit_table``.

    Examples
    --------
    >>> import warnings
    >>> from deepstack._warnings import user_stacklevel
    >>> def check():
    ...     warnings.warn("looks odd", UserWarning, stacklevel=user_stacklevel())
    """
    global _FOLDERS
    if _FOLDERS is None:
        _FOLDERS = _folders()
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_FOLDERS):
        frame = frame.f_back
        level += 1
    return level
