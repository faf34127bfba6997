"""What a search directory was searched with, so that a resume can check it.

keras-tuner reloads whatever trials a directory holds when ``overwrite=False``
and never asks whether they belong to the search now running: a search on
other data, or over another space, would return the old trials' scores (no
trial runs) and refit their parameters as the winner. So a search writes its
identity beside keras-tuner's files, as the estimators' ``checkpoint`` does
for a fit (:meth:`deepstack._checkpoint.Checkpoint.check`), and a resumed
search refuses a directory whose identity differs from its own.

The identity is a flat ``{key: string}`` dict, so that what differs can be
named key by key: the estimator's kind and parameters, each range of the
search space, the search settings that change what a trial means, and a
SHA-256 digest of the data.
"""

import json
import os
import re
import tempfile
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from deepstack import _checkpoint
from deepstack._arrays import load_json
from deepstack._warnings import user_stacklevel

FORMAT = "deepstack-search"
FORMAT_VERSION = 1
FILE = "deepstack_search.json"
# keras-tuner's own record of a tuner in the project directory: its presence
# without ours means trials of a search that wrote no identity.
_TUNER_FILE = re.compile(r"^.+\.json$")
# Search parameters that change what a trial is or how it is scored. The
# others (max_trials, time_limit, n_jobs, refit, verbose, ...) may change
# between a search and its resume: e.g. a larger max_trials extends it.
SEARCH_KEYS = (
    "tuner",
    "objective",
    "validation_fraction",
    "cv",
    "tuner_options",
    "start_from_estimator",
    "random_state",
)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def search_identity(estimator_kind, estimator_params, space, search_params, data):
    """The identity of a search, as a flat dict of strings.

    Parameters
    ----------
    estimator_kind : str
        The estimator's type (``"classifier"``, ``"regressor"``, ...).
    estimator_params : dict
        The estimator's ``get_params(deep=False)``.
    space : ResolvedSpace
        The search space, checked against the estimator.
    search_params : dict
        The search's parameters named in :data:`SEARCH_KEYS`.
    data : list
        ``[X, y, sample_weight, X_val, y_val]`` as given to ``fit`` (None
        where absent), and ``groups`` after them when given.

    Returns
    -------
    identity : dict of str
    """
    identity = {"estimator": str(estimator_kind)}
    for name, text in _checkpoint.parameters(estimator_params).items():
        identity[f"estimator.{name}"] = _stable(text)
    ranges = {**space.ranges, **space.constants}
    for name in sorted(ranges):
        identity[f"search_space.{name}"] = _stable(repr(ranges[name]))
    for name, text in _checkpoint.parameters(search_params).items():
        identity[name] = _stable(text)
    identity["data"] = data_digest(data)
    return identity


def _stable(text):
    """``text`` without object addresses, which differ in every process."""
    return _ADDRESS.sub("", text)


def data_digest(arrays):
    """A SHA-256 digest of ``arrays``: ndarrays, lists, DataFrames, sparse."""
    return _checkpoint.data_fingerprint([_hashable(a) for a in arrays])


def _hashable(values):
    """``values`` as what :func:`deepstack._checkpoint.data_fingerprint` reads:
    None, a sparse matrix or a numeric ndarray (object columns hashed)."""
    if values is None or sp.issparse(values):
        return values
    if isinstance(values, pd.DataFrame | pd.Series):
        # Row hashes of the values, plus the column names: a renamed column
        # is another feature.
        rows = pd.util.hash_pandas_object(values, index=False).to_numpy()
        names = getattr(values, "columns", [getattr(values, "name", None)])
        labels = pd.util.hash_array(np.asarray([str(n) for n in names], dtype=object))
        return np.concatenate([rows, labels])
    array = np.asarray(values)
    if array.dtype.kind in "biuf":
        return array
    # Strings, objects, dates: bytes of objects are addresses, so hash values.
    flat = pd.util.hash_array(np.asarray(array, dtype=object).ravel())
    return flat.reshape(array.shape)


def check(project_dir, identity):
    """Raise ``ValueError`` if ``project_dir`` holds another search's trials.

    A directory without an identity file holds nothing to resume, or trials
    of a search that wrote none (an older deepstack): the latter cannot be
    checked, which is warned about.
    """
    path = os.path.join(project_dir, FILE)
    if not os.path.exists(path):
        if _has_tuner_state(project_dir):
            warnings.warn(
                f"{project_dir} holds a search without a record of its data and "
                f"parameters ({FILE}); its trials are resumed unchecked. Use "
                "overwrite=True if they belong to another search.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return
    stored = load_json(path)
    if (
        not isinstance(stored, dict)
        or stored.get("format") != FORMAT
        or not isinstance(stored.get("identity"), dict)
    ):
        raise ValueError(
            f"{path} is not a deepstack search record; use overwrite=True to "
            "start afresh there, or another directory."
        )
    if stored.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {stored.get('format_version')!r}; this "
            f"deepstack reads version {FORMAT_VERSION}. Use overwrite=True to "
            "start afresh there, or another directory."
        )
    differences = _differences(stored["identity"], identity)
    if differences:
        raise ValueError(
            f"The search directory {project_dir} holds the trials of another "
            f"search ({'; '.join(differences)}). A search resumes only with the "
            "same estimator, search space, tuner settings and data: use "
            "overwrite=True to start afresh there, or another directory (or "
            "project_name)."
        )


def _has_tuner_state(project_dir):
    if not os.path.isdir(project_dir):
        return False
    return any(_TUNER_FILE.match(name) for name in os.listdir(project_dir))


def _differences(then, now):
    """What differs between two identities, one phrase per key."""
    out = []
    for key in sorted(set(then) | set(now)):
        old, new = then.get(key, "(absent)"), now.get(key, "(absent)")
        if old == new:
            continue
        if key == "data":
            out.append("data: X, y, sample_weight, X_val, y_val or groups differ")
        else:
            out.append(f"{key}: {old} then, {new} now")
    return out


def write(project_dir, identity):
    """Store ``identity`` in ``project_dir`` (written whole, then renamed)."""
    os.makedirs(project_dir, exist_ok=True)
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "identity": identity}
    handle, temporary = tempfile.mkstemp(prefix=".deepstack_search-", dir=project_dir)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(record, out, indent=1, sort_keys=True)
        # Atomic: the processes of a distributed search may write it at once.
        os.replace(temporary, os.path.join(project_dir, FILE))
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
