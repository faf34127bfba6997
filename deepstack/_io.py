"""Safe save / load of fitted estimators: no code runs when a model is loaded.

A saved estimator is a directory::

    model.keras      the Keras model with its optimizer state, loaded back with
                     ``keras.saving.load_model(..., safe_mode=True)``
    deepstack.json   class name, format and library versions, ``get_params()``
                     and the fitted attributes that are plain values
    arrays.npz       the array attributes (``classes_``, ``feature_names_in_``,
                     ...), loaded with ``allow_pickle=False``

Unlike a pickle, nothing in these files names code to run: the class is
looked up by name in an allowlist of deepstack's estimators (plus the classes
the caller passes as ``trusted``, as in skops), the parameters go through the
class's own ``__init__``, and every value is a JSON value or a NumPy array of
numbers or strings. The format follows skops' trusted-types model.
"""

import json
import os
import warnings

import keras
import numpy as np
from sklearn.base import is_classifier

from deepstack import _folders
from deepstack._arrays import load_json, load_plain_arrays
from deepstack._warnings import user_stacklevel
from deepstack.layers._tied_dense import load_model as load_tied_model

FORMAT = "deepstack-estimator"
FORMAT_VERSION = 1
# A bagged ensemble: its own state file, the member template in ``estimator/``
# and each fitted member in ``member_<i>/``, each in the estimator format.
ENSEMBLE_FORMAT = "deepstack-ensemble"
_TEMPLATE = "estimator"
_STATE = "deepstack.json"
_ARRAYS = "arrays.npz"
_MODEL = "model.keras"

# The Keras model each class keeps, and the attributes rebuilt from it on load
# (views into that model, not state of their own). ``callbacks_`` holds live
# callback objects bound to the model; it is left out and made again by the
# next fit.
_MODEL_ATTRIBUTE = {
    "DeepStackClassifier": "model_",
    "DeepStackRegressor": "model_",
    "StackedAutoencoder": "autoencoder_",
}
_NOT_SAVED = ("callbacks_", "encoder_", "decoder_")
# What predict reads besides the network: a save with a model lacks none.
_FITTED_ATTRIBUTES = {
    "DeepStackClassifier": ("n_features_in_", "classes_"),
    "DeepStackRegressor": (
        "n_features_in_",
        "n_outputs_",
        "target_mean_",
        "target_scale_",
        "_single_output",
    ),
    "StackedAutoencoder": ("n_features_in_",),
}

# Tags of the JSON values that JSON cannot express directly.
_TAGS = ("__tuple__", "__dict__", "__array__", "__scalar__", "__random_state__")


def _allowed_classes():
    # Imported here: the estimators import the training machinery, which
    # this module does not need for its own work.
    from deepstack.estimators import (
        DeepStackClassifier,
        DeepStackRegressor,
        StackedAutoencoder,
    )

    return (DeepStackClassifier, DeepStackRegressor, StackedAutoencoder)


def _ensemble_classes():
    from deepstack.ensemble import (
        DeepStackBaggingClassifier,
        DeepStackBaggingRegressor,
    )

    return (DeepStackBaggingClassifier, DeepStackBaggingRegressor)


def _class_key(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _base_class(cls):
    """The allowlisted deepstack class that ``cls`` is (or derives from)."""
    for base in _allowed_classes():
        if issubclass(cls, base):
            return base
    return None


# ------------------------------------------------------------------ encoding


class _Encoder:
    """Turns attribute values into JSON values, collecting arrays on the side."""

    def __init__(self):
        self.arrays = {}

    def encode(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value
        if isinstance(value, os.PathLike):
            # (log_dir and checkpoint take a path or its string alike.)
            return os.fsdecode(value)
        if isinstance(value, np.generic):
            return {"__scalar__": [value.dtype.str, self._scalar(value, where)]}
        if isinstance(value, np.ndarray):
            return {"__array__": self._array(value, where)}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return {"__tuple__": items}
        if isinstance(value, dict):
            plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
            if plain:
                return {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {
                "__dict__": [
                    [self.encode(k, where), self.encode(v, f"{where}[{k!r}]")]
                    for k, v in value.items()
                ]
            }
        if isinstance(value, np.random.RandomState):
            name, keys, pos, has_gauss, gauss = value.get_state()
            return {
                "__random_state__": [
                    name,
                    self._array(keys, where),
                    int(pos),
                    int(has_gauss),
                    float(gauss),
                ]
            }
        raise TypeError(
            f"Cannot save {where}: a {type(value).__name__} is neither a plain "
            "value nor a NumPy array, and the safe format stores nothing else."
        )

    def encode_params(self, params):
        """``params`` encoded, an error on one naming it as a parameter with
        what to do (a function or an object given for it is code)."""
        encoded = {}
        for name, value in params.items():
            try:
                encoded[name] = self.encode(value, name)
            except TypeError as error:
                named = " such as a scorer's name" if name == "scoring" else ""
                raise TypeError(
                    f"{error} {name} is a parameter: give it a value the format "
                    f"stores{named}, or call set_params({name}=None) before "
                    "saving and set it again after loading."
                ) from None
        return encoded

    @staticmethod
    def _scalar(value, where):
        if value.dtype.kind not in "biufU":
            raise TypeError(
                f"Cannot save {where}: NumPy scalar of dtype {value.dtype}."
            )
        return value.item()

    def _array(self, array, where):
        key = f"a{len(self.arrays)}"
        kind = array.dtype.kind
        if kind == "O":
            if not all(isinstance(v, str) for v in array.ravel()):
                raise TypeError(
                    f"Cannot save {where}: an object array whose items are not "
                    "all strings (the safe format stores numbers and strings)."
                )
            self.arrays[key] = array.astype(str)
            return [key, "object"]
        if kind not in "biufcUS":
            raise TypeError(f"Cannot save {where}: array of dtype {array.dtype}.")
        self.arrays[key] = array
        return [key, None]


def _decode(value, arrays):
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, content),) = value.items()
        if tag == "__tuple__":
            return tuple(_decode(v, arrays) for v in content)
        if tag == "__dict__":
            return {_decode(k, arrays): _decode(v, arrays) for k, v in content}
        if tag == "__array__":
            return _array(content, arrays)
        if tag == "__scalar__":
            dtype, item = content
            return np.dtype(_plain_dtype(dtype)).type(item)
        if tag == "__random_state__":
            name, ref, pos, has_gauss, gauss = content
            state = np.random.RandomState()
            state.set_state((name, _array(ref, arrays), pos, has_gauss, gauss))
            return state
    return {k: _decode(v, arrays) for k, v in value.items()}


def _plain_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind not in "biufU":
        raise ValueError(f"Refusing a scalar of dtype {dtype} in the saved state.")
    return dtype


def _array(ref, arrays):
    key, kind = ref
    if key not in arrays:
        raise ValueError(f"The saved state refers to a missing array {key!r}.")
    array = arrays[key]
    return array.astype(object) if kind == "object" else array


# -------------------------------------------------------------------- public


def save(estimator, path, *, overwrite=False):
    """Save a fitted or unfitted deepstack estimator in the safe format.

    ``path`` becomes a directory holding ``model.keras`` (the Keras model and
    its optimizer state), ``deepstack.json`` (class, versions, parameters and
    plain fitted attributes) and ``arrays.npz`` (array attributes). Read it
    back with :func:`deepstack.load`, which never runs code from the files.

    Parameters
    ----------
    estimator : DeepStackClassifier, DeepStackRegressor, StackedAutoencoder, \
            DeepStackBaggingClassifier or DeepStackBaggingRegressor
        The estimator to save (a bagged ensemble's template and members are
        saved each in a folder of their own inside ``path``). Its
        ``callbacks`` parameter must be None: arbitrary callback objects
        cannot be stored without code. Set it to
        None, save, and pass the callbacks again after loading. A
        ``distribution`` object (the devices of this process) is saved as
        None with a ``UserWarning``; ``"auto"`` is saved as is. For a
        ``DeepStackSearch``, save its ``best_estimator_``.
    path : str or os.PathLike
        The directory to write. It must not exist or be empty.
    overwrite : bool, default=False
        Replace an existing directory written by ``save``. Other non-empty
        paths are never replaced.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from deepstack import DeepStackClassifier, load, save
    >>> X = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = DeepStackClassifier((4,), max_epochs=2, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "clf")
    >>> save(clf, path)
    >>> np.array_equal(load(path).predict_proba(X), clf.predict_proba(X))
    True
    """
    _save(estimator, path, overwrite=overwrite)


def _save(estimator, path, *, overwrite=False, drop_callbacks=False):
    """``save``; ``drop_callbacks`` stores ``callbacks=None`` instead of refusing.

    The search's checkpoints use it and pass the callbacks (and the
    distribution, stored as None here too, without a warning) again on load.
    """
    if type(estimator) in _ensemble_classes():
        _save_ensemble(estimator, path, overwrite, drop_callbacks)
        return
    cls = type(estimator)
    base = _base_class(cls)
    if base is None:
        hint = ""
        if hasattr(estimator, "best_estimator_") or cls.__name__ == "DeepStackSearch":
            hint = " For a search, save its best_estimator_."
        raise TypeError(
            "deepstack.save stores DeepStackClassifier, DeepStackRegressor, "
            "StackedAutoencoder (and their subclasses) and the bagged ensembles "
            f"of them; got {cls.__name__}.{hint}"
        )
    params = estimator.get_params(deep=False)
    if params.get("callbacks") is not None:
        if not drop_callbacks:
            raise ValueError(
                "Cannot save an estimator whose callbacks parameter is set: "
                "callback objects are code, which the safe format does not "
                "store. Call estimator.set_params(callbacks=None) before "
                "saving and pass the callbacks again after loading."
            )
        params["callbacks"] = None
    distribution = params.get("distribution")
    if distribution is not None and not isinstance(distribution, str):
        # A Keras distribution names this process's devices; the process
        # that loads may have others (prediction needs none).
        if not drop_callbacks:
            warnings.warn(
                f"{cls.__name__} is saved with distribution=None: its "
                f"distribution={distribution!r} holds this process's devices, "
                "which another process may not have. After loading, "
                "set_params(distribution=...) to train data-parallel again, "
                'or use distribution="auto" (a string, saved as is).',
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        params["distribution"] = None
    encoder = _Encoder()
    model_attribute = _MODEL_ATTRIBUTE[base.__name__]
    model = None
    attributes = {}
    for name, value in vars(estimator).items():
        if name in params or name in _NOT_SAVED:
            continue
        if name == model_attribute:
            model = value
            continue
        attributes[name] = encoder.encode(value, name)
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": _class_key(cls),
        "versions": _versions(),
        "params": encoder.encode_params(params),
        "attributes": attributes,
        "model": None if model is None else {"attribute": model_attribute},
    }
    text = json.dumps(state, indent=1)

    with _folders.staged(path, overwrite, _STATE, "deepstack.save") as tmp:
        if model is not None:
            keras.saving.save_model(model, os.path.join(tmp, _MODEL))
        _write_state(tmp, encoder, text)


def _write_state(folder, encoder, text):
    np.savez(os.path.join(folder, _ARRAYS), **encoder.arrays)
    with open(os.path.join(folder, _STATE), "w", encoding="utf-8") as handle:
        handle.write(text)


def _save_ensemble(ensemble, path, overwrite, drop_callbacks):
    params = ensemble.get_params(deep=False)
    template = params.pop("estimator")
    if template is None:
        template = ensemble._member_template()
    members = list(getattr(ensemble, "estimators_", []))
    encoder = _Encoder()
    attributes = {
        name: encoder.encode(value, name)
        for name, value in vars(ensemble).items()
        if name not in params and name not in ("estimator", "estimators_")
    }
    state = {
        "format": ENSEMBLE_FORMAT,
        "format_version": FORMAT_VERSION,
        "class": _class_key(type(ensemble)),
        "versions": _versions(),
        "params": encoder.encode_params(params),
        "template_given": ensemble.estimator is not None,
        "attributes": attributes,
        "n_members": len(members),
    }
    with _folders.staged(path, overwrite, _STATE, "deepstack.save") as tmp:
        _save(template, os.path.join(tmp, _TEMPLATE), drop_callbacks=drop_callbacks)
        for i, member in enumerate(members):
            _save(
                member, os.path.join(tmp, f"member_{i}"), drop_callbacks=drop_callbacks
            )
        _write_state(tmp, encoder, json.dumps(state, indent=1))


def _load_ensemble(path, state, trusted):
    state_file = os.path.join(path, _STATE)
    by_name = {_class_key(cls): cls for cls in _ensemble_classes()}
    cls = by_name.get(state.get("class"))
    if cls is None:
        raise ValueError(
            f"The saved ensemble's class {state.get('class')!r} is not one "
            f"deepstack loads ({sorted(by_name)})."
        )
    arrays = _load_arrays(os.path.join(path, _ARRAYS))
    params = _decode(state.get("params", {}), arrays)
    attributes = _decode(state.get("attributes", {}), arrays)
    n_members = state.get("n_members")
    if (
        not isinstance(params, dict)
        or not isinstance(attributes, dict)
        or not isinstance(n_members, int)
        or n_members < 0
    ):
        raise ValueError(f"{state_file} has malformed params or attributes.")
    known = cls._get_param_names()
    unknown = sorted(set(params) - set(known))
    if unknown or "estimator" in params:
        raise ValueError(
            f"{state_file} has parameters {cls.__name__} lacks: {unknown}."
        )
    _check_attributes(state_file, cls, attributes, known)
    template = load(os.path.join(path, _TEMPLATE), trusted=trusted)
    ensemble = cls(template if state.get("template_given", True) else None, **params)
    _check_params(state_file, ensemble)
    members = [
        load(os.path.join(path, f"member_{i}"), trusted=trusted)
        for i in range(n_members)
    ]
    if members:
        fitted = (
            ("n_features_in_", "classes_")
            if is_classifier(ensemble)
            else ("n_features_in_",)
        )
        _check_fitted(state_file, fitted, attributes)
        attributes["estimators_"] = members
    ensemble.__dict__.update(attributes)
    return ensemble


def _versions():
    import sklearn

    from deepstack._version import __version__

    return {
        "deepstack": __version__,
        "keras": keras.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }


def load(path, *, trusted=None):
    """Load an estimator written by :func:`deepstack.save`, running no code.

    The class is taken from an allowlist (``DeepStackClassifier``,
    ``DeepStackRegressor``, ``StackedAutoencoder``, and the bagged ensembles
    of :mod:`deepstack.ensemble`, whose members are loaded the same way) by
    its name; the Keras
    model is loaded with ``safe_mode=True`` (no lambda layers, only registered
    classes); arrays are loaded with ``allow_pickle=False``. Anything else in
    the files is refused with a ``ValueError``.

    Parameters
    ----------
    path : str or os.PathLike
        A directory written by ``save``.
    trusted : list of classes, default=None
        Further estimator classes (subclasses of deepstack's) that may be
        created, for a subclass of your own. Classes, not names: a name in
        the file never imports anything.

    Returns
    -------
    estimator : object
        The estimator, fitted as it was saved (without ``callbacks_``, which
        the next fit makes again).
    """
    path = os.fspath(path)
    state_file = os.path.join(path, _STATE)
    if not os.path.isfile(state_file):
        raise FileNotFoundError(f"{path} holds no saved deepstack estimator.")
    state = load_json(state_file)
    if isinstance(state, dict) and state.get("format") == ENSEMBLE_FORMAT:
        _check_format_version(path, state)
        return _load_ensemble(path, state, trusted)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{state_file} is not a deepstack save.")
    _check_format_version(path, state)
    cls = _lookup_class(state.get("class"), trusted)
    saved = (state.get("versions") or {}).get("deepstack")
    if saved != _versions()["deepstack"]:
        warnings.warn(
            f"{path} was saved by deepstack {saved}; this is deepstack "
            f"{_versions()['deepstack']}. Check its predictions before relying "
            "on them.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    arrays = _load_arrays(os.path.join(path, _ARRAYS))
    params = _decode(state.get("params", {}), arrays)
    attributes = _decode(state.get("attributes", {}), arrays)
    if not isinstance(params, dict) or not isinstance(attributes, dict):
        raise ValueError(f"{state_file} has malformed params or attributes.")
    known = cls._get_param_names()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"{state_file} has parameters {cls.__name__} lacks: {unknown}."
        )
    _check_attributes(state_file, cls, attributes, known)
    estimator = cls(**params)
    _check_params(state_file, estimator)
    model_spec = state.get("model")
    if model_spec is not None:
        expected = _MODEL_ATTRIBUTE[_base_class(cls).__name__]
        if model_spec != {"attribute": expected}:
            raise ValueError(f"{state_file} names an unexpected model {model_spec!r}.")
        model_file = os.path.join(path, _MODEL)
        if not os.path.isfile(model_file):
            # (Not Keras's "safe mode" refusal: there is nothing to load.)
            raise ValueError(f"{model_file} is missing.")
        try:
            model = load_tied_model(model_file, compile=True, safe_mode=True)
        except Exception as error:
            raise ValueError(
                f"Refusing or unable to load {model_file} in Keras's safe mode: {error}"
            ) from error
        _check_fitted(
            state_file, _FITTED_ATTRIBUTES[_base_class(cls).__name__], attributes
        )
        attributes[expected] = model
    # The class's own unpickling hook: it rebuilds the views into the model
    # (the autoencoder's encoder_ / decoder_).
    estimator.__setstate__({**estimator.__dict__, **attributes})
    return estimator


def _check_attributes(state_file, cls, attributes, params):
    """Refuse a saved attribute that is no fitted state: a name that is no
    identifier, a dunder, a parameter, or a method or property of the class
    (``predict``, which a number would replace)."""
    for name in attributes:
        if (
            not name.isidentifier()
            or name.startswith("__")
            or name in params
            or callable(getattr(cls, name, None))
            or isinstance(getattr(cls, name, None), property)
        ):
            raise ValueError(f"{state_file} has a forbidden attribute name {name!r}.")


def _check_fitted(state_file, names, attributes):
    """Refuse the state of a fitted estimator (it holds a network) that
    lacks one of the fitted attributes ``names`` (an edited file): its
    predict would fail, or answer wrongly, far from the cause."""
    missing = [name for name in names if name not in attributes]
    if missing:
        raise ValueError(
            f"{state_file} holds a fitted network but not its attributes "
            f"{missing}: the file was edited or damaged. Save the estimator "
            "again."
        )


def _check_params(state_file, estimator):
    """Raise, naming the file, for a saved parameter value the estimator
    refuses (as ``fit`` would: an edited file, say)."""
    from deepstack.estimators._base import check_parameters

    try:
        check_parameters(estimator)
    except ValueError as error:
        raise ValueError(
            f"{state_file} holds a parameter value refused: {error}"
        ) from error


def _check_format_version(path, state):
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written in format version {version!r}; this deepstack "
            f"reads versions up to {FORMAT_VERSION}. Upgrade deepstack."
        )


def _lookup_class(name, trusted):
    classes = list(_allowed_classes())
    for cls in trusted or ():
        if not isinstance(cls, type) or _base_class(cls) is None:
            raise TypeError(
                f"trusted must hold subclasses of deepstack's estimators; got {cls!r}."
            )
        classes.append(cls)
    by_name = {_class_key(cls): cls for cls in classes}
    if name not in by_name:
        raise ValueError(
            f"The saved estimator's class {name!r} is not one deepstack loads "
            f"({sorted(by_name)}); pass your own subclass in trusted= if you "
            "wrote it."
        )
    return by_name[name]


def _load_arrays(path):
    return load_plain_arrays(path)
