"""Resumable fits: the training state at epoch boundaries, in the safe format.

A checkpoint directory holds at most a few ``epoch-NNNNNN`` folders, each
written beside them under a temporary name and renamed into place (a rename
is atomic), so a fit killed at any moment, even with SIGKILL, leaves only
complete checkpoints behind; the newest one counts. Each folder holds::

    state.json   format, the fit's fingerprint (parameters and data), its
                 seed, the epochs done, whether training had stopped, the
                 history so far, the learning rate and the callbacks' plain
                 attributes (best value, wait counters, halvings, ...)
    arrays.npz   the model's variables (weights, batch-norm statistics and
                 the dropout layers' generator states), the optimizer's
                 (iteration counter, learning rate, slots) and the callbacks'
                 arrays (best weights snapshot, last good weights), loaded
                 with ``allow_pickle=False``

Nothing in them names code: loading one assigns numbers to the variables of
the network the resumed fit has built again from the same arguments.
"""

import hashlib
import json
import os
import re
import shutil
import tempfile

import keras
import numpy as np
import scipy.sparse as sp

from deepstack._arrays import load_json, load_plain_arrays

FORMAT = "deepstack-checkpoint"
FORMAT_VERSION = 1
_STATE = "state.json"
_ARRAYS = "arrays.npz"
_FOLDER = re.compile(r"^epoch-(\d{6,})$")
# Attributes of a Keras callback that are wiring, not run state.
_WIRING = {"_model", "model", "params", "validation_data"}


class _Arrays:
    """Plain values as JSON, with NumPy arrays set aside (as ``_io`` does:
    that module imports the estimators, which import this one)."""

    def __init__(self):
        self.arrays = {}

    def add(self, array):
        if array.dtype.kind not in "biuf":
            raise TypeError(f"array of dtype {array.dtype}")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return key

    def encode(self, value):
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return value.item()
        if isinstance(value, np.ndarray):
            return {"__array__": self.add(value)}
        if isinstance(value, list | tuple):
            items = [self.encode(v) for v in value]
            return items if isinstance(value, list) else {"__tuple__": items}
        raise TypeError(type(value).__name__)


def _decode(value, arrays):
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        if set(value) == {"__array__"}:
            return _array(value["__array__"], arrays)
        raise ValueError(f"Unexpected value {value!r} in a checkpoint.")
    return value


def _array(key, arrays):
    if key not in arrays:
        raise ValueError(f"The checkpoint refers to a missing array {key!r}.")
    return arrays[key]


def _load_arrays(path):
    return load_plain_arrays(path)


def parameters(params):
    """``get_params()`` as comparable strings, the same in every process."""
    return {name: _describe(name, value) for name, value in sorted(params.items())}


def _describe(name, value):
    if name == "random_state" and not isinstance(value, int | np.integer):
        # None or a generator: the checkpoint keeps the seed drawn from it.
        return type(value).__name__
    if name == "callbacks" and value is not None:
        return repr([_describe_callback(cb) for cb in value])
    if callable(value):
        # A function's repr holds its address, new in every process.
        qualname = getattr(value, "__qualname__", type(value).__name__)
        return f"{getattr(value, '__module__', '')}.{qualname}"
    return repr(value)


_PLAIN = (bool, int, float, str, type(None), np.integer, np.floating)


def _describe_callback(callback):
    """A callback's class and settings: its public attributes of plain
    values (``monitor``, ``patience``, ...), so that a resume with another
    ``EarlyStopping(patience=7)`` is no resume of one with ``patience=2``."""
    settings = {
        key: value
        for key, value in sorted(vars(callback).items())
        if not key.startswith("_") and isinstance(value, _PLAIN)
    }
    return f"{type(callback).__name__}{settings!r}"


def data_fingerprint(arrays):
    """A SHA-256 digest of ``arrays`` (ndarrays, scipy sparse matrices, None)."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        if sp.issparse(array):
            array = array.tocsr()
            parts = [array.data, array.indices, array.indptr]
            digest.update(f"sparse{array.shape}".encode())
        else:
            parts = [np.asarray(array)]
        for part in parts:
            part = np.ascontiguousarray(part)
            digest.update(f"{part.dtype.str}{part.shape}".encode())
            digest.update(part.tobytes())
    return digest.hexdigest()


class Checkpoint:
    """The newest complete checkpoint of a directory (see :func:`read`).

    Attributes
    ----------
    path : str
    state : dict
        The decoded ``state.json``.
    arrays : dict of ndarray
    """

    def __init__(self, path, state, arrays):
        self.path = path
        self.state = state
        self.arrays = arrays

    @property
    def seed(self):
        return int(self.state["seed"])

    @property
    def epochs_done(self):
        return int(self.state["epochs_done"])

    @property
    def stopped(self):
        return bool(self.state["stopped"])

    @property
    def history(self):
        return {k: list(v) for k, v in self.state["history"].items()}

    def check(self, params, fingerprint):
        """Raise ``ValueError`` unless this checkpoint is of the same fit."""
        saved = self.state.get("params") or {}
        changed = sorted(
            name
            for name in set(saved) | set(params)
            if saved.get(name) != params.get(name)
        )
        if changed:
            details = ", ".join(
                f"{n}: {saved.get(n, '(absent)')} then, {params.get(n, '(absent)')} now"
                for n in changed
            )
            raise ValueError(
                f"The checkpoint in {os.path.dirname(self.path)} was written by a "
                f"fit with other parameters ({details}). Fit with the same "
                "parameters to resume it, or remove the directory (or choose "
                "another checkpoint) to start afresh."
            )
        if self.state.get("data") != fingerprint:
            raise ValueError(
                f"The checkpoint in {os.path.dirname(self.path)} was written by a "
                "fit on other data (X, y, sample_weight or X_val, y_val differ). "
                "Fit on the same data to resume it, or remove the directory (or "
                "choose another checkpoint) to start afresh."
            )


def _folders(directory):
    """``(epochs, name)`` of the complete checkpoint folders, oldest first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _FOLDER.match(name)
        if match and os.path.isfile(os.path.join(directory, name, _STATE)):
            found.append((int(match.group(1)), name))
    return sorted(found)


def read(directory):
    """The newest checkpoint in ``directory``, or None if it holds none."""
    if directory is None:
        return None
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"checkpoint={directory!r} exists and is not a directory.")
    folders = _folders(directory)
    if not folders:
        return None
    path = os.path.join(directory, folders[-1][1])
    state_file = os.path.join(path, _STATE)
    state = load_json(state_file)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{state_file} is not a deepstack checkpoint.")
    if state.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{state_file} has format version {state.get('format_version')!r}; "
            f"this deepstack reads version {FORMAT_VERSION}. Remove the directory "
            "to start afresh."
        )
    arrays = _load_arrays(os.path.join(path, _ARRAYS))
    return Checkpoint(path, state, arrays)


def remove(directory):
    """Delete the checkpoints (and leftovers) in ``directory``, then the
    directory itself if nothing else is in it."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if _FOLDER.match(name) or name.startswith(".checkpoint-"):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    try:
        os.rmdir(directory)
    except OSError:
        pass  # the user keeps files of their own there


def _variables(model):
    """The model's variables (with the generators' states) and the optimizer's."""
    optimizer = getattr(model, "optimizer", None)
    return list(model.variables) + list(getattr(optimizer, "variables", None) or [])


def _plain(value):
    """Backend tensors as NumPy arrays, recursively in lists and tuples."""
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if keras.ops.is_tensor(value) or isinstance(value, keras.Variable):
        return np.asarray(keras.ops.convert_to_numpy(value))
    return value


def _callback_state(callback, encoder):
    """The plain attributes of ``callback``, encoded; others are left out."""
    state = {}
    for name, value in vars(callback).items():
        if name in _WIRING:
            continue
        mark = len(encoder.arrays)
        try:
            state[name] = encoder.encode(_plain(value))
        except TypeError:
            # A writer, a scoring function...: made again by on_train_begin.
            for key in list(encoder.arrays)[mark:]:
                del encoder.arrays[key]
    return state


class EpochCheckpoint(keras.callbacks.Callback):
    """Write the training state every ``every`` epochs; restore it at the start.

    Put it last among the callbacks: it restores the others' state after
    their ``on_train_begin`` and saves it after their ``on_epoch_end``.

    Parameters
    ----------
    directory : str or os.PathLike
    callbacks : list of keras.callbacks.Callback
        The callbacks whose state is saved and restored.
    state : dict
        What identifies the fit: ``params`` (see :func:`parameters`),
        ``data`` (see :func:`data_fingerprint`), ``seed`` and
        ``learning_rate``; stored in every checkpoint.
    resume : Checkpoint or None
        The checkpoint to start from.
    every : int, default=1
        Epochs between checkpoints (the epoch at which training stops is
        always saved).
    """

    def __init__(self, directory, callbacks, state, resume=None, every=1):
        super().__init__()
        self.directory = os.fspath(directory)
        self.callbacks = list(callbacks)
        self.state = dict(state)
        self.resume = resume
        self.every = int(every)

    def on_train_begin(self, logs=None):
        self.history = {}
        if self.resume is None:
            return
        self.history = self.resume.history
        self._restore(self.resume)

    def _restore(self, checkpoint):
        state, arrays = checkpoint.state, checkpoint.arrays
        variables = _variables(self.model)
        values = [_array(key, arrays) for key in state["variables"]]
        shapes = [tuple(v.shape) for v in variables]
        if shapes != [tuple(v.shape) for v in values]:
            raise ValueError(
                f"The checkpoint in {self.directory} does not fit this network "
                "(its variables differ); remove the directory to start afresh."
            )
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
        saved = state["callbacks"]
        names = [type(cb).__name__ for cb in self.callbacks]
        if [entry["class"] for entry in saved] != names:
            raise ValueError(
                f"The checkpoint in {self.directory} was written with the "
                f"callbacks {[e['class'] for e in saved]}, this fit has {names}."
            )
        for callback, entry in zip(self.callbacks, saved, strict=True):
            for name, value in entry["state"].items():
                if not name.isidentifier() or name.startswith("__"):
                    raise ValueError(f"Forbidden attribute {name!r} in a checkpoint.")
                setattr(callback, name, _decode(value, arrays))

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        stopped = bool(self.model.stop_training)
        if stopped or (epoch + 1) % self.every == 0:
            self._write(epoch + 1, stopped)

    def _write(self, epochs_done, stopped):
        encoder = _Arrays()
        variables = [
            encoder.add(np.asarray(keras.ops.convert_to_numpy(v)))
            for v in _variables(self.model)
        ]
        callbacks = [
            {"class": type(cb).__name__, "state": _callback_state(cb, encoder)}
            for cb in self.callbacks
        ]
        state = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            **self.state,
            "epochs_done": int(epochs_done),
            "stopped": stopped,
            "history": self.history,
            "variables": variables,
            "callbacks": callbacks,
        }
        os.makedirs(self.directory, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".checkpoint-", dir=self.directory)
        try:
            np.savez(os.path.join(tmp, _ARRAYS), **encoder.arrays)
            with open(os.path.join(tmp, _STATE), "w", encoding="utf-8") as handle:
                json.dump(state, handle)
            name = f"epoch-{epochs_done:06d}"
            target = os.path.join(self.directory, name)
            if os.path.exists(target):
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        # The new one is in place: the older ones can go.
        for _, old in _folders(self.directory):
            if old != name:
                shutil.rmtree(os.path.join(self.directory, old), ignore_errors=True)
