"""Search spaces: estimator parameters mapped onto keras-tuner hyperparameters.

A search space is a plain dict ``{parameter name: range}``. A range is one of
the small helper types below (:class:`Int`, :class:`Float`, :class:`Choice`,
:class:`Boolean`), a list (a choice among its values) or any other value (a
constant set on every trial). Hyperparameter names equal the estimator's
parameter names, with two exceptions that together describe
``hidden_layer_sizes``: ``n_layers`` and ``units`` give
``hidden_layer_sizes = (units,) * n_layers``.
"""

import contextlib
import dataclasses
import math
from numbers import Integral, Real

import keras_tuner
import numpy as np
from sklearn.base import is_regressor

from deepstack import _defaults

N_LAYERS = "n_layers"
UNITS = "units"
ARCHITECTURE = "hidden_layer_sizes"
HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round")
HYPERBAND_PAST_TRIAL = "tuner/trial_id"
PRETRAIN = "autoencoder"


@dataclasses.dataclass(frozen=True)
class Int:
    """An integer range ``[low, high]`` for one estimator parameter.

    Parameters
    ----------
    low, high : int
        Inclusive bounds.
    step : int, default=None
        Spacing of the values (a factor when ``log=True``, e.g. ``step=2``
        gives 32, 64, 128, ...). None samples every integer (linear) or
        anywhere on the log scale.
    log : bool, default=False
        Sample uniformly on the log scale (``low`` must be positive).
    default : int, default=None
        The value grid search starts from; None takes the estimator's own
        value when it lies in the range, else ``low``.
    """

    low: int
    high: int
    step: int | None = None
    log: bool = False
    default: int | None = None

    def __post_init__(self):
        _check_bounds(self, Integral)

    def declare(self, hp, name, fallback=None):
        return hp.Int(
            name,
            int(self.low),
            int(self.high),
            step=self.step,
            sampling="log" if self.log else "linear",
            default=_default(self, fallback),
        )

    def contains(self, value):
        return _is_number(value, Integral) and self.low <= value <= self.high


@dataclasses.dataclass(frozen=True)
class Float:
    """A real range ``[low, high]`` for one estimator parameter.

    Parameters
    ----------
    low, high : float
        Inclusive bounds.
    step : float, default=None
        Spacing of the values (a factor when ``log=True``); None samples
        continuously (grid search then takes 10 evenly spaced values).
    log : bool, default=False
        Sample uniformly on the log scale, as suits learning rates.
    default : float, default=None
        The value grid search starts from; None takes the estimator's own
        value when it lies in the range, else ``low``.
    """

    low: float
    high: float
    step: float | None = None
    log: bool = False
    default: float | None = None

    def __post_init__(self):
        _check_bounds(self, Real)

    def declare(self, hp, name, fallback=None):
        return hp.Float(
            name,
            float(self.low),
            float(self.high),
            step=self.step,
            sampling="log" if self.log else "linear",
            default=_default(self, fallback),
        )

    def contains(self, value):
        return _is_number(value, Real) and self.low <= value <= self.high


@dataclasses.dataclass(frozen=True)
class Choice:
    """A choice among ``values`` (any Python values, e.g. tuples or None).

    Plain lists in a search space mean the same thing. Values keras-tuner
    cannot hold (tuples, None, mixed types) are searched by their ``repr``
    and turned back into the original objects for the estimator.

    Parameters
    ----------
    values : sequence
        The candidates, at least one.
    default : object, default=None
        The value grid search starts from; None takes the estimator's own
        value when it is one of ``values``, else the first value.
    """

    values: tuple
    default: object = None

    def __post_init__(self):
        # numpy scalars (a list made from an array) as the Python values
        # they hold, which the estimator's own values compare equal to.
        values = tuple(_plain(v) for v in self.values)
        if not values:
            raise ValueError("Choice needs at least one value.")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "default", _plain(self.default))

    @property
    def _native(self):
        kinds = {_native_kind(v) for v in self.values}
        return len(kinds) == 1 and None not in kinds

    def _encoded(self):
        if self._native:
            return list(self.values), {v: v for v in self.values}
        labels = [repr(v) for v in self.values]
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"Choice values must have distinct reprs; got {list(self.values)!r}."
            )
        return labels, dict(zip(labels, self.values))

    def declare(self, hp, name, fallback=None):
        labels, _ = self._encoded()
        default = _default(self, fallback)
        if default is not None:
            default = labels[_index(self.values, default)]
        return hp.Choice(name, labels, default=default)

    def decode(self, label):
        return self._encoded()[1][label]

    def contains(self, value):
        return _index(self.values, value) is not None


@dataclasses.dataclass(frozen=True)
class Boolean:
    """On or off (e.g. ``batch_norm``).

    Parameters
    ----------
    default : bool, default=None
        The value grid search starts from; None takes the estimator's own
        value when it is a bool, else False.
    """

    default: bool | None = None

    def declare(self, hp, name, fallback=None):
        return hp.Boolean(name, default=bool(_default(self, fallback) or False))

    def contains(self, value):
        return isinstance(value, bool)


RANGES = (Int, Float, Choice, Boolean)


def default_search_space(estimator, *, wide=False):
    """The space :class:`DeepStackSearch` explores when ``search_space=None``.

    By default the space is centred on the estimator's own configuration,
    which with deepstack's defaults is the region the defaults study found
    good (``benchmarks/estimator_defaults.py``): a few trials then refine a
    good network instead of landing mostly on poor ones. ``wide=True`` gives
    the broad ranges, for long searches:

    ===================  ================================  =======================
    parameter            default                           ``wide=True``
    ===================  ================================  =======================
    ``learning_rate``    ``Float(r/4, 4*r, log=True)``     ``Float(1e-4, 1e-1,
                                                           log=True)``
    ``dropout``          ``Float(d-0.2, d+0.2)``, within   ``Float(0.0, 0.6)``
                         [0, 0.6]
    ``n_layers``         ``Int(1, 3)``                     ``Int(1, 3)``
    ``units``            ``Int(64, 512, step=2,            ``Int(32, 512, step=2,
                         log=True)``                       log=True)``
    ``batch_norm``       ``Boolean()``                     ``Boolean()``
    ``optimizer``        ``Choice(["adam", "rmsprop"])``   ``Choice(["adam",
                                                           "rmsprop", "sgd"])``
    ``pretrain_epochs``  ``Choice([0, 5, 10, 20])``        ``Choice([0, 5, 10,
                                                           20])``
    ===================  ================================  =======================

    ``r`` and ``d`` are the estimator's ``learning_rate`` and ``dropout``;
    ``r`` is 1e-3 when ``learning_rate`` is ``"auto"``, ``d`` the value
    ``dropout="auto"`` resolves to (0.3).
    ``n_layers`` and ``units`` set ``hidden_layer_sizes = (units,) *
    n_layers``. ``pretrain_epochs`` is searched only for estimators with
    ``pretrain`` and ``pretrain_epochs`` parameters: a trial with 0 epochs
    sets ``pretrain=None`` (no pretraining), one with more epochs keeps the
    estimator's ``pretrain`` or, when that is None, sets
    ``pretrain="autoencoder"``. Parameters the estimator lacks are left out.
    For scikit-learn's ``MLPClassifier`` / ``MLPRegressor``, whose
    ``learning_rate`` is the schedule, the rate's range is on
    ``learning_rate_init`` (and ``r`` its value).

    In :class:`DeepStackSearch` (and :class:`DeepStackHyperModel`), the
    point of the ranges' defaults, the first trial, fits the estimator
    exactly as given, also where a range cannot hold its value
    (``learning_rate="auto"``, ``hidden_layer_sizes=(128, 64)``,
    ``pretrain_epochs=7``).

    Parameters
    ----------
    estimator : estimator
        A deepstack estimator (its parameter names decide what is searched).
    wide : bool, default=False
        The broad ranges instead of the ones centred on the estimator.

    Returns
    -------
    space : dict
        ``{parameter name: range}``.

    Raises
    ------
    ValueError
        When the estimator has none of these parameters, e.g. a ``Pipeline``
        (whose parameters are its steps'): give the search space yourself.
    """
    params = estimator.get_params(deep=False)
    # scikit-learn's MLP keeps its rate in learning_rate_init (its
    # learning_rate is the schedule, "constant"): search the number.
    rate_name = "learning_rate"
    if "learning_rate_init" in params and not (
        _is_number(params.get("learning_rate"), Real)
        or params.get("learning_rate") == "auto"
    ):
        rate_name = "learning_rate_init"
    if wide:
        space = {
            "learning_rate": Float(1e-4, 1e-1, log=True),
            "dropout": Float(0.0, 0.6),
            N_LAYERS: Int(1, 3),
            UNITS: Int(32, 512, step=2, log=True),
            "batch_norm": Boolean(),
            "optimizer": Choice(("adam", "rmsprop", "sgd")),
        }
        pretrain_epochs = Choice((0, 5, 10, 20))
    else:
        rate = params.get(rate_name, 1e-3)
        if not _is_number(rate, Real) or rate <= 0:
            rate = 1e-3
        dropout = _resolve_auto(params, estimator).get("dropout", 0.3)
        if not _is_number(dropout, Real):
            dropout = 0.3
        dropout = min(max(float(dropout), 0.0), 0.6)
        space = {
            "learning_rate": Float(rate / 4, rate * 4, log=True),
            "dropout": Float(
                round(max(0.0, dropout - 0.2), 6), round(min(0.6, dropout + 0.2), 6)
            ),
            N_LAYERS: Int(1, 3),
            UNITS: Int(64, 512, step=2, log=True),
            "batch_norm": Boolean(),
            "optimizer": Choice(("adam", "rmsprop")),
        }
        pretrain_epochs = Choice((0, 5, 10, 20))
    space = {rate_name if n == "learning_rate" else n: r for n, r in space.items()}
    if "pretrain" in params and "pretrain_epochs" in params:
        space["pretrain_epochs"] = pretrain_epochs
    if ARCHITECTURE not in params:
        space.pop(N_LAYERS)
        space.pop(UNITS)
    space = {name: r for name, r in space.items() if name in params or name in _PSEUDO}
    if not space:
        raise ValueError(_no_default_space(estimator))
    return space


def _no_default_space(estimator):
    """Why :func:`default_search_space` has no range for ``estimator``, and
    what to give instead."""
    said = (
        f"default_search_space cannot build a space for "
        f"{type(estimator).__name__}: it has none of the parameters the default "
        "space searches (learning_rate, dropout, hidden_layer_sizes, "
        "batch_norm, optimizer, pretrain_epochs)."
    )
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        step = steps[-1][0]
        said += (
            " For a Pipeline, give search_space with the step's parameter "
            f"names, e.g. {{'{step}__learning_rate': Float(1e-4, 1e-1, "
            f"log=True), '{step}__dropout': [0.0, 0.2]}}, or search the "
            "estimator itself and put the search in the Pipeline."
        )
    else:
        said += " Give search_space yourself."
    return said


_PSEUDO = (N_LAYERS, UNITS)


def _resolve_auto(params, estimator):
    """``params`` with ``dropout``, ``l2`` and ``batch_norm`` ``"auto"`` as fit
    resolves them (they do not depend on the data's shape), so that the
    default space is centred, and the first trial starts, where the estimator
    would train."""
    names = ("dropout", "l2", "batch_norm")
    auto = [name for name in names if params.get(name) == "auto"]
    if not auto:
        return params
    resolved = _defaults.regularization(1, regression=is_regressor(estimator))
    return {**params, **{name: resolved[name] for name in auto}}


class ResolvedSpace:
    """A search space checked against one estimator.

    Splits the user's dict into searched ranges and constants, declares the
    ranges as keras-tuner hyperparameters and turns a trial's values back into
    estimator parameters.
    """

    def __init__(self, search_space, estimator, *, reserved=(), wide=False):
        if isinstance(search_space, str) and search_space == "wide":
            search_space, wide = None, True
        # Nested names (``step__param`` for a Pipeline) are valid keys too.
        params = estimator.get_params(deep=True)
        space = (
            default_search_space(estimator, wide=wide)
            if search_space is None
            else search_space
        )
        if not isinstance(space, dict):
            raise TypeError(
                'search_space must be a dict {parameter name: range}, "wide" or '
                f"None; got {space!r}."
            )
        unknown = [k for k in space if k not in params and k not in _PSEUDO]
        if unknown:
            raise ValueError(
                f"search_space names parameters that {type(estimator).__name__} "
                f"does not have: {sorted(unknown)}. Valid names: "
                f"{sorted(params) + list(_PSEUDO)}."
            )
        if (N_LAYERS in space or UNITS in space) and ARCHITECTURE in space:
            raise ValueError(
                "search_space may give either hidden_layer_sizes or n_layers / "
                "units, not both."
            )
        if (N_LAYERS in space or UNITS in space) and ARCHITECTURE not in params:
            raise ValueError(
                f"n_layers / units need a hidden_layer_sizes parameter, which "
                f"{type(estimator).__name__} does not have."
            )
        clash = [k for k in reserved if k in space]
        if clash:
            raise ValueError(
                f"search_space must not contain {clash}: Hyperband sets it to "
                "each trial's epoch budget. Give the full budget as the "
                "estimator's value, or as tuner_options['max_epochs']."
            )
        self.ranges, self.constants = {}, {}
        for name, value in space.items():
            if isinstance(value, range):
                raise ValueError(
                    f"search_space gives {name}={value!r}, a range object: give "
                    f"a list for a choice (list({value!r})) or Int(low, high) "
                    "for an integer range."
                )
            if isinstance(value, list):
                value = Choice(tuple(value))
            if isinstance(value, RANGES):
                self.ranges[name] = value
            else:
                self.constants[name] = value
        for name in _PSEUDO:
            value = self.constants.pop(name, None)
            if value is not None:
                self.ranges[name] = Choice((value,))
        if not self.ranges:
            raise ValueError(
                "search_space has nothing to search: give at least one range "
                "(Int, Float, Choice, Boolean or a list of values; a tuple, "
                f"an array or any other value is a constant); got {dict(space)!r}."
            )
        self.estimator_params = _resolve_auto(params, estimator)
        self._check_layers(estimator)
        self._check_values(estimator)
        # The default space is deepstack's, centred on the estimator: the
        # point of its ranges' defaults (the first trial's) stands for the
        # estimator exactly as given, also where a range cannot hold its
        # value (learning_rate="auto", hidden_layer_sizes=(128, 64),
        # pretrain_epochs=7). A user's space means what it says.
        self._own = params
        self._given = None
        if search_space is None:
            self._given = self._point(self.hyperparameters().values)

    def _check_layers(self, estimator):
        """Raise if ``n_layers`` / ``units`` cannot make ``hidden_layer_sizes``:
        values that are not whole numbers (``n_layers >= 0``, ``units >= 1``),
        or one of them searched alone where the estimator's own layers do not
        supply the other (``hidden_layer_sizes=()`` has no width to repeat)."""
        searched = [name for name in _PSEUDO if name in self.ranges]
        if not searched:
            return
        least = {N_LAYERS: 0, UNITS: 1}
        for name in searched:
            spec = self.ranges[name]
            if isinstance(spec, Int):
                values = [spec.low, spec.high]
            elif isinstance(spec, Choice):
                values = list(spec.values)
            else:
                values = [spec]
            for value in values:
                if not _is_number(value, Integral) or value < least[name]:
                    raise ValueError(
                        f"search_space gives {name}={value!r}; {name} takes "
                        f"whole numbers >= {least[name]} (an Int range, a list "
                        "or one int)."
                    )
        sizes = self.estimator_params.get(ARCHITECTURE)
        if len(searched) == 1 and not (_is_sequence(sizes) and len(sizes)):
            other = UNITS if searched[0] == N_LAYERS else N_LAYERS
            raise ValueError(
                f"search_space gives {searched[0]} without {other}, and "
                f"{type(estimator).__name__}'s hidden_layer_sizes={sizes!r} "
                f"has no {'width' if other == UNITS else 'layers'} to take it "
                f"from: give {other} too (a range or one value)."
            )

    def _check_values(self, estimator):
        """Raise before the first trial if a value of the space is one the
        estimator refuses (``dropout`` 1.5): each choice, each range's
        bounds and each constant, as a trial would set them, against the
        estimator's own parameter checks. (A trial would fail at fit, each
        with keras-tuner's traceback.)"""
        from sklearn.base import clone

        from deepstack.estimators._base import check_parameters

        own = estimator.get_params(deep=False)
        candidates = [(name, value, None) for name, value in self.constants.items()]
        for name, spec in self.ranges.items():
            if isinstance(spec, Choice):
                candidates += [(name, value, spec) for value in spec.values]
            elif isinstance(spec, Int):
                candidates += [(name, int(b), spec) for b in (spec.low, spec.high)]
            elif isinstance(spec, Float):
                # A trial gets floats, even from Float(16, 64).
                candidates += [(name, float(b), spec) for b in (spec.low, spec.high)]
        for name, value, spec in candidates:

            def check(value, name=name):
                params = self._estimator_params({**self.constants, name: value})
                params = {k: v for k, v in params.items() if k in own}
                check_parameters(clone(estimator).set_params(**params))

            try:
                check(value)
            except (ValueError, TypeError) as exc:  # (InvalidParameterError)
                hint = ""
                if isinstance(spec, Float) and value.is_integer():
                    with contextlib.suppress(ValueError, TypeError):
                        check(int(value))
                        hint = (
                            f" ({spec!r} gives each trial a float; use Int for "
                            "an integer parameter.)"
                        )
                raise ValueError(
                    f"search_space gives {name}={value!r}, which "
                    f"{type(estimator).__name__} refuses: {exc}{hint}"
                ) from None

    def _fallback(self, name):
        """The estimator's own value of ``name`` (the grid's starting point)."""
        sizes = self.estimator_params.get(ARCHITECTURE)
        if name == N_LAYERS:
            return len(sizes) if _is_sequence(sizes) else None
        if name == UNITS:
            return sizes[0] if _is_sequence(sizes) and len(sizes) else None
        if (
            name == "pretrain_epochs"
            and "pretrain" not in self.ranges
            and self.estimator_params.get("pretrain", "") is None
        ):
            return 0  # the estimator does not pretrain
        return self.estimator_params.get(name)

    def hyperparameters(self):
        """A ``keras_tuner.HyperParameters`` declaring every range."""
        hp = keras_tuner.HyperParameters()
        self.declare(hp)
        return hp

    def declare(self, hp):
        """Declare the ranges on ``hp`` and return the estimator parameters."""
        for name, value in self.ranges.items():
            fallback = self._fallback(name)
            if fallback is not None and not value.contains(fallback):
                fallback = None
            value.declare(hp, name, fallback)
        return self.params(hp.values)

    def params(self, values):
        """Estimator parameters from a trial's hyperparameter values."""
        params = dict(self.constants)
        for name, value in values.items():
            if name.startswith("tuner/") or name not in self.ranges:
                continue
            spec = self.ranges[name]
            if isinstance(spec, Choice):
                value = spec.decode(value)
            elif isinstance(spec, Int):
                value = int(value)
            elif isinstance(spec, Float):
                value = float(value)
            elif isinstance(spec, Boolean):
                value = bool(value)
            params[name] = value
        params = self._estimator_params(params)
        if self._given is not None and self._point(values) == self._given:
            names = set(params) | (set(self.ranges) & set(self._own))
            params = {name: self._own[name] for name in names}
        return params

    def _point(self, values):
        """The searched hyperparameters' values (no ``tuner/`` entries)."""
        return {name: values[name] for name in self.ranges if name in values}

    def _estimator_params(self, params):
        """Decoded values as the estimator's parameters: ``n_layers`` and
        ``units`` make ``hidden_layer_sizes``, ``pretrain_epochs=0`` no
        pretraining."""
        n_layers = params.pop(N_LAYERS, None)
        units = params.pop(UNITS, None)
        if n_layers is not None or units is not None:
            if n_layers is None:
                n_layers = self._fallback(N_LAYERS)
            if units is None:
                units = self._fallback(UNITS)
            params[ARCHITECTURE] = (int(units),) * int(n_layers)
        if ARCHITECTURE in params and _is_sequence(params[ARCHITECTURE]):
            params[ARCHITECTURE] = tuple(params[ARCHITECTURE])
        if (
            "pretrain_epochs" in self.ranges
            and "pretrain" in self.estimator_params
            and "pretrain" not in self.ranges
            and "pretrain" not in self.constants
        ):
            # pretrain_epochs=0 means "no pretraining"; a positive number
            # switches on the estimator's pretraining (autoencoders if it has
            # none set).
            if params.get("pretrain_epochs", 1) > 0:
                params["pretrain"] = self.estimator_params["pretrain"] or PRETRAIN
            else:
                params["pretrain"] = None
                params.pop("pretrain_epochs")
        return params


def _check_bounds(spec, kind):
    if not (_is_number(spec.low, kind) and _is_number(spec.high, kind)):
        raise TypeError(
            f"{type(spec).__name__} bounds must be numbers; got low={spec.low!r}, "
            f"high={spec.high!r}."
        )
    if spec.low > spec.high:
        raise ValueError(
            f"{type(spec).__name__} needs low <= high; got {spec.low} > {spec.high}."
        )
    if not isinstance(spec.log, bool | np.bool_):
        # ("no" is true: a log scale nobody asked for.)
        raise TypeError(
            f"{type(spec).__name__} log must be True or False; got {spec.log!r}."
        )
    if spec.log and spec.low <= 0:
        raise ValueError(
            f"{type(spec).__name__}(log=True) needs low > 0; got low={spec.low}."
        )
    if spec.step is not None and (
        not _is_number(spec.step, Real) or spec.step <= 0 or math.isnan(spec.step)
    ):
        raise ValueError(f"step must be a positive number; got {spec.step!r}.")


def _default(spec, fallback):
    return spec.default if spec.default is not None else fallback


def _is_number(value, kind):
    return isinstance(value, kind) and not isinstance(value, bool)


def _is_sequence(value):
    return isinstance(value, list | tuple)


def _native_kind(value):
    if isinstance(value, bool):
        return bool
    if isinstance(value, int | str | float):
        return type(value)
    return None


def _plain(value):
    """A numpy scalar as its Python value; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _index(values, value):
    value = _plain(value)
    for i, candidate in enumerate(values):
        if type(candidate) is type(value) and candidate == value:
            return i
        if _is_sequence(candidate) and _is_sequence(value):
            if tuple(candidate) == tuple(value):
                return i
    return None
