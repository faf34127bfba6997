"""Helpers shared by the benchmark scripts: timing, environment, JSON + Markdown output.

The scripts in ``benchmarks/`` import this module as ``_common`` (they are run
as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``).
Only deepstack's public API, Keras, scikit-learn, NumPy and psutil are used.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(HERE, "results")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parser(description):
    """An ``argparse`` parser with the options every script shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--quick",
        action="store_true",
        help="reduced run (fewer seeds / epochs / repeats), about a minute",
    )
    p.add_argument(
        "--out",
        default=RESULTS_DIR,
        help="folder for the JSON and Markdown results (default: benchmarks/results)",
    )
    return p


def command_line(name, argv):
    """The command that reproduces a run of ``benchmarks/NAME.py`` with ``argv``."""
    return " ".join([".venv/bin/python", f"benchmarks/{name}.py", *argv])


@contextmanager
def timer():
    """``with timer() as t: ...`` then ``t()`` gives the elapsed seconds."""
    start = time.perf_counter()
    end = [None]

    def elapsed():
        return (end[0] if end[0] is not None else time.perf_counter()) - start

    try:
        yield elapsed
    finally:
        end[0] = time.perf_counter()


def timed(fn, *args, **kwargs):
    """``(result, seconds)`` of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def timed_cpu(fn, *args, **kwargs):
    """``(result, wall seconds, CPU seconds of this process)`` of one call.

    CPU time (all threads of the process) is less disturbed than wall time
    when other jobs share the machine.
    """
    cpu = time.process_time()
    result, wall = timed(fn, *args, **kwargs)
    return result, wall, time.process_time() - cpu


def mean_std(values):
    """``(mean, std)`` of a list of numbers (population std; 0 for one value)."""
    values = [float(v) for v in values]
    if not values:
        return float("nan"), float("nan")
    mean = statistics.fmean(values)
    std = statistics.pstdev(values) if len(values) > 1 else 0.0
    return mean, std


def label_budget_row(dataset, fraction, n_labeled, method, scores, seconds, score):
    """A summary row of a few-labels benchmark: one method at one label
    budget, ``score`` (the column's name) as mean ± std over the seeds."""
    mean, std = mean_std(scores)
    return {
        "dataset": dataset,
        "labels": f"{fraction:.0%} ({n_labeled})",
        "method": method,
        score: f"{mean:.4f} ± {std:.4f}",
        "fit s": mean_std(seconds)[0],
        "seeds": len(scores),
    }


def onehot_table(n_rows=12_000, seed=0):
    """A generated table of the shape of a census table after one-hot encoding.

    4 numeric and 6 categorical columns (25, 20, 20, 15, 12 and 7 levels,
    one-hot encoded: 103 columns); the binary label comes from a nonlinear
    rule of the columns, with 10% of the labels flipped.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(n_rows, 4))
    levels = (25, 20, 20, 15, 12, 7)
    columns = [numeric]
    score = np.sin(2 * numeric[:, 0]) + numeric[:, 1] * numeric[:, 2]
    for i, k in enumerate(levels):
        codes = rng.integers(0, k, size=n_rows)
        effect = rng.normal(size=k)
        score += effect[codes] * (numeric[:, 3] if i == 1 else 1.0) * 0.7
        columns.append(np.eye(k)[codes])
    y = (score > np.median(score)).astype(np.int64)
    flip = rng.random(n_rows) < 0.10
    y[flip] = 1 - y[flip]
    return np.hstack(columns).astype(np.float32), y


def training_rows(n_rows, validation_fraction=0.1):
    """The rows a deepstack fit on ``n_rows`` trains on: those left after its
    early-stopping split (``validation_fraction``, the estimators' default
    0.1), as the estimator counts them."""
    from deepstack._split import n_validation

    return n_rows - n_validation(n_rows, validation_fraction)


def standardized(X_train, X_other, y_train, y_other):
    """``(X_train, X_other, y_train, y_other)`` with both inputs standardized
    by ``X_train``'s mean and standard deviation, as float32."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X_train)
    return (
        scaler.transform(X_train).astype("float32"),
        scaler.transform(X_other).astype("float32"),
        y_train,
        y_other,
    )


def median(values):
    return float(statistics.median([float(v) for v in values]))


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        if package == "deepstack":  # run from a checkout, not installed
            import deepstack

            return deepstack.__version__
        return None


def environment():
    """Versions, backend and CPU facts, recorded beside every result."""
    import keras

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        affinity = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = None
    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "load_average_1_5_15": load,
        "keras_backend": keras.backend.backend(),
    }
    for package in (
        "deepstack",
        "keras",
        "tensorflow",
        "jax",
        "scikit-learn",
        "numpy",
        "psutil",
    ):
        info[package] = _version(package)
    return info


def _fmt(value, digits):
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if value is None:
        return "-"
    return str(value)


def markdown_table(columns, rows, digits=3):
    """A GitHub Markdown table; ``rows`` are dicts keyed by ``columns``."""
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append(
            "| " + " | ".join(_fmt(row.get(c), digits) for c in columns) + " |"
        )
    return "\n".join(lines)


def write_results(name, results, markdown, *, out=RESULTS_DIR, command=None):
    """Write ``out/NAME.json`` and ``out/NAME.md``; return their paths.

    ``results`` is any JSON-serializable dict; the environment and the
    command are added to it. ``markdown`` is the body of the Markdown file
    (tables and notes); a header with the command and environment is added.
    """
    os.makedirs(out, exist_ok=True)
    env = environment()
    command = command or command_line(name, sys.argv[1:])
    payload = {"benchmark": name, "command": command, "environment": env, **results}
    json_path = os.path.join(out, f"{name}.json")
    md_path = os.path.join(out, f"{name}.md")
    with open(json_path, "w") as handle:
        json.dump(payload, handle, indent=2, default=_jsonable)
        handle.write("\n")
    header = (
        f"<!-- written by {command} -->\n\n"
        f"Command: `{command}`\n\n"
        f"Environment: {env['date_utc']}, Python {env['python']}, "
        f"deepstack {env['deepstack']}, Keras {env['keras']} "
        f"({env['keras_backend']} backend), TensorFlow {env['tensorflow']}, "
        f"scikit-learn {env['scikit-learn']}, NumPy {env['numpy']}; "
        f"{env['cpus_usable']} usable CPU cores ({env['processor']}), "
        f"load average {env['load_average_1_5_15']}.\n\n"
    )
    with open(md_path, "w") as handle:
        handle.write(header + markdown.rstrip() + "\n")
    return json_path, md_path


def publish(script, name, results, markdown, out, argv):
    """Write ``out/NAME.json`` and ``.md`` for a run of ``benchmarks/SCRIPT.py``
    with ``argv`` (None: this process's arguments), then print the Markdown."""
    argv = sys.argv[1:] if argv is None else argv
    paths = write_results(
        name, results, markdown, out=out, command=command_line(script, argv)
    )
    print(markdown)
    print("wrote", *paths)
    return paths


def _jsonable(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def quiet_warnings():
    """Silence convergence / deprecation chatter that would flood the output."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from sklearn.exceptions import ConvergenceWarning

        warnings.filterwarnings("ignore", category=ConvergenceWarning)
    except ImportError:  # pragma: no cover
        pass
