"""Declarative jobs: a TOML file names the data, the target, the model, the search.

The format is described in :func:`read_job`.
"""

from pathlib import Path

import tomllib

from deepstack.runs._fit_table import fit_table
from deepstack.tables import TablePreprocessor

_SECTIONS = {"data", "model", "search", "output"}
_DATA_KEYS = {
    "dataset",
    "path",
    "target",
    "test",
    "test_size",
    "rows",
    "drop",
    "categorical",
    "weight_column",
    "group_column",
    "task",
    "unlabeled",
    "pretrain",
    "random_state",
    "log_scale",
}
_SEARCH_KEYS = {"tuner", "max_trials", "time_limit", "space"}
_OUTPUT_KEYS = {"out", "overwrite"}


def read_job(path):
    """Parse and check a job file; returns a dict of ``fit_table`` arguments.

    Unknown sections or keys, and values of the wrong type, are refused
    with a ``ValueError`` that names the file and the key.

    Parameters
    ----------
    path : path
        The TOML job file. Its ``[data]`` paths are relative to its folder.

    Returns
    -------
    dict
        Keyword arguments of :func:`fit_table` (the table read, as
        ``data``), and ``"source"``: the dataset's name or the data file's
        path, which :func:`run_job` passes as ``name``.

    Notes
    -----
    A job file (see ``pipelines/`` in the repository)::

        [data]
        dataset = "penguins"       # a table shipped with a package, or
        # path = "train.csv"       # a file, relative to the job file
        target = "species"         # default: the dataset's usual target
        test_size = 0.25           # or: test = "test.csv"
        rows = 5000                # optional: a seeded sample of the rows
        drop = ["year"]            # optional; also categorical, weight_column,
                                   # group_column
        task = "multiclass"        # optional; inferred from the target
        # log_scale = false        # numbers with a long right tail as they
                                   # are (default: true, log(1 + x / m))

        [model]                    # estimator parameters over the table defaults
        # bagging = 5              # and the bagged networks ("auto", 1: one)
        # time_limit = "10m"       # and a budget for training (no [search])
        # baselines = false        # and no reference models (default: true)
        hidden_layer_sizes = [64, 64]

        [search]                   # optional
        tuner = "random"
        max_trials = 4
        time_limit = "2m"
        [search.space]             # optional; the default space otherwise
        learning_rate = { float = [1e-4, 1e-2], log = true }
        dropout = [0.1, 0.3]       # a list is a choice

        [output]
        out = "runs/penguins"      # relative to the working directory
        overwrite = false
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"job file not found: {str(path)!r}.")
    try:
        with open(path, "rb") as handle:
            job = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"Cannot read job file {str(path)!r}: {exc}.") from exc
    _check_keys(job, _SECTIONS, f"job file {path.name}")
    for name in sorted(_SECTIONS & set(job)):
        _check_type(job, name, dict, path, "the job file's", f"a table ([{name}])")
    data = job.get("data", {})
    _check_keys(data, _DATA_KEYS, f"{path.name}: [data]")
    search = job.get("search", {})
    _check_keys(search, _SEARCH_KEYS, f"{path.name}: [search]")
    output = job.get("output", {})
    _check_keys(output, _OUTPUT_KEYS, f"{path.name}: [output]")
    for section, types in (("data", _DATA_TYPES), ("search", _SEARCH_TYPES)):
        for key, (kind, shown) in types.items():
            _check_type(job.get(section, {}), key, kind, path, f"[{section}]", shown)
    for key, (kind, shown) in _OUTPUT_TYPES.items():
        _check_type(output, key, kind, path, "[output]", shown)
    if data.get("rows", 1) < 1:
        raise ValueError(
            f"{path.name}: [data] rows (the rows to sample) must be 1 or more; got "
            f"{data['rows']!r}."
        )
    if ("dataset" in data) == ("path" in data):
        raise ValueError(f"{path.name}: [data] needs exactly one of dataset or path.")
    if "dataset" in data:
        from deepstack.datasets import load_table

        frame, default_target = load_table(data["dataset"])
        source = data["dataset"]
    else:
        from deepstack.runs._files import read_table

        source = path.parent / data["path"]
        frame, default_target = read_table(source), None
    target = data.get("target", default_target)
    if target is None:
        raise ValueError(f"{path.name}: [data] needs a target column.")
    if "rows" in data and data["rows"] < frame.shape[0]:
        frame = frame.sample(
            n=data["rows"], random_state=data.get("random_state", 0)
        ).reset_index(drop=True)
    # ``bagging`` (folds of the bagged ensemble), ``time_limit`` (of
    # training) and ``baselines`` are the [model] keys that are not estimator
    # parameters.
    model = dict(job.get("model", {}))
    bagging = model.pop("bagging", "auto")
    baselines = model.pop("baselines", True)
    time_limit = model.pop("time_limit", None)
    if time_limit is not None and search:
        raise ValueError(
            f"{path.name}: with a [search], its time limit goes in [search] "
            "(time_limit), not in [model]."
        )
    log_scale = data.get("log_scale", True)
    arguments = {
        "data": frame,
        "target": target,
        "task": data.get("task"),
        "test_size": data.get("test_size"),
        "drop": _names(data.get("drop")),
        "categorical": _names(data.get("categorical")),
        "weight_column": data.get("weight_column"),
        "group_column": data.get("group_column"),
        "pretrain": data.get("pretrain"),
        "random_state": data.get("random_state", 0),
        "preprocessor": None if log_scale else TablePreprocessor(log_skewed=False),
        "params": _model_params(model, path.name),
        "bagging": bagging,
        "time_limit": time_limit,
        "baselines": baselines,
        "out": output.get("out"),
        "overwrite": output.get("overwrite", False),
        "source": str(source),
    }
    for key in ("test", "unlabeled"):
        if key in data:
            arguments[key] = path.parent / data[key]
    if "search" in job:  # (an empty [search]: the default search)
        arguments.update(
            search=search.get("tuner", "random"),
            max_trials=search.get("max_trials", 10),
            time_limit=search.get("time_limit"),
            search_space=_space(search.get("space"), path.name),
        )
    return arguments


def run_job(path, *, out=None, overwrite=None, progress=None):
    """Run the job file at ``path``; returns the :class:`TableRun`.

    ``out`` and ``overwrite`` override the job's ``[output]`` section.

    Parameters
    ----------
    path : path
        The TOML job file (see :func:`read_job`).
    out : path, default=None
        The run folder to write, in place of the job's ``[output] out``
        (None: the job's, if any).
    overwrite : bool, default=None
        In place of the job's ``[output] overwrite`` (None: the job's).
    progress : bool, default=None
        Progress bars on standard error (None: only on a terminal).

    Returns
    -------
    TableRun
    """
    arguments = read_job(path)
    arguments["name"] = arguments.pop("source")
    if out is not None:
        arguments["out"] = out
    if overwrite is not None:
        arguments["overwrite"] = overwrite
    return fit_table(progress=progress, **arguments)


# The type of each value, and how a message names it.
_TEXT = (str, "text")
_NAMES = ((str, list), "a column name or a list of them")
_DATA_TYPES = {
    "dataset": _TEXT,
    "path": _TEXT,
    "target": _TEXT,
    "test": _TEXT,
    "test_size": ((int, float), "a number"),
    "rows": (int, "a whole number"),
    "drop": _NAMES,
    "categorical": _NAMES,
    "weight_column": _TEXT,
    "group_column": _TEXT,
    "task": _TEXT,
    "unlabeled": _TEXT,
    "pretrain": _TEXT,
    "random_state": (int, "a whole number"),
    "log_scale": (bool, "true or false"),
}
_SEARCH_TYPES = {
    "tuner": _TEXT,
    "max_trials": (int, "a whole number"),
    "time_limit": ((str, int, float), 'seconds or a duration ("20m")'),
    "space": (dict, "a table ([search.space])"),
}
_OUTPUT_TYPES = {"out": _TEXT, "overwrite": (bool, "true or false")}


def _check_type(table, key, kind, path, where, shown):
    """Raise naming the file and the key when ``table[key]`` is not of
    ``kind`` (a TOML true is no number, "false" no boolean)."""
    if key not in table:
        return
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        wrong = True
    else:
        wrong = not isinstance(value, kinds)
    if wrong:
        raise ValueError(f"{path.name}: {where} {key} must be {shown}; got {value!r}.")


def _names(value):
    """Column names from a job: a list, or one name as a string (never its
    letters)."""
    if value is None or isinstance(value, list):
        return value
    return [value]


def _check_keys(table, allowed, where):
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}."
        )


def _model_params(model, job):
    """The estimator parameters of the [model] table of the job file named
    ``job``; TOML has no tuples: the layer sizes' list is one."""
    params = dict(model)
    if "hidden_layer_sizes" in params:
        sizes = params["hidden_layer_sizes"]
        if not isinstance(sizes, list):
            raise ValueError(
                f"{job}: [model] hidden_layer_sizes must be a list of layer "
                f"sizes, e.g. [64, 32] (or [64] for one layer); got {sizes!r}."
            )
        params["hidden_layer_sizes"] = tuple(sizes)
    return params


def _space(space, job):
    """A search space from TOML values (tables with float / int, lists) of
    the job file named ``job``."""
    if space is None:
        return None
    from deepstack.tuning import Float, Int

    result = {}
    for name, value in space.items():
        if isinstance(value, dict):
            _check_keys(
                value, {"float", "int", "log", "step"}, f"{job}: [search.space] {name}"
            )
            kinds = [k for k in ("float", "int") if k in value]
            bounds = value[kinds[0]] if len(kinds) == 1 else None
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise ValueError(
                    f"{job}: [search.space] {name}: a range needs float = [lo, hi] or "
                    f"int = [lo, hi]; got {value!r}."
                )
            low, high = bounds
            options = {k: value[k] for k in ("log", "step") if k in value}
            make = Float if kinds[0] == "float" else Int
            try:
                result[name] = make(low, high, **options)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{job}: [search.space] {name}: {error}") from error
        elif isinstance(value, list):
            result[name] = [tuple(v) if isinstance(v, list) else v for v in value]
        else:
            result[name] = value
    return result
