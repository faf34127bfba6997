"""Tuned vs. untuned deepstack vs. scikit-learn's MLP on mnist1d.

mnist1d is generated procedurally (``mnist1d.data.make_dataset`` with its
default arguments: 4000 training and 1000 test sequences of length 40, 10
classes); nothing is downloaded. Three models are fit on the training set and
scored on the test set:

- ``MLPClassifier((256, 256), early_stopping=True)`` (scikit-learn),
- the untuned default ``DeepStackClassifier()``,
- ``DeepStackSearch(DeepStackClassifier(), max_trials=20)`` (Bayesian
  optimization over the default search space, best parameters refit on all
  training data).

Writes ``search_mnist1d.json`` and ``search_mnist1d.md`` into
``benchmarks/results/``.

Usage::

    python benchmarks/search_mnist1d.py [--max-trials 20] [--max-epochs 200]
"""

import argparse
import json
import os
import platform
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from mnist1d.data import get_dataset_args, make_dataset  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from deepstack import DeepStackClassifier, DeepStackSearch  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def load_mnist1d():
    data = make_dataset(get_dataset_args())
    X, X_test = data["x"].astype(np.float32), data["x_test"].astype(np.float32)
    return X, data["y"], X_test, data["y_test"]


def timed(model, X, y, X_test, y_test):
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    return float(model.score(X_test, y_test)), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-trials", type=int, default=20)
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=200,
        help="max_epochs of the searched estimator (early stopping usually "
        "ends a trial sooner)",
    )
    parser.add_argument("--tuner", default="bayesian")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="seconds-long check that the script runs (500 training rows, 2 "
        "epochs / iterations, 2 trials): the numbers mean nothing",
    )
    args = parser.parse_args(argv)

    X, y, X_test, y_test = load_mnist1d()
    rows = []
    budget = {}
    if args.quick:
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        X, y = X[:500], y[:500]
        args.max_trials, args.max_epochs = 2, 2
        budget = {"max_epochs": 2}

    mlp = MLPClassifier(
        (256, 256),
        early_stopping=True,
        random_state=args.seed,
        **({"max_iter": 2} if args.quick else {}),
    )
    acc, seconds = timed(mlp, X, y, X_test, y_test)
    rows.append(
        {
            "model": "MLPClassifier((256, 256), early_stopping=True)",
            "test_accuracy": acc,
            "seconds": seconds,
        }
    )
    print(rows[-1], flush=True)

    default = DeepStackClassifier(random_state=args.seed, **budget)
    acc, seconds = timed(default, X, y, X_test, y_test)
    rows.append(
        {
            "model": "DeepStackClassifier() (untuned)",
            "test_accuracy": acc,
            "seconds": seconds,
            "epochs": default.n_iter_,
        }
    )
    print(rows[-1], flush=True)

    search = DeepStackSearch(
        DeepStackClassifier(max_epochs=args.max_epochs),
        tuner=args.tuner,
        max_trials=args.max_trials,
        random_state=args.seed,
    )
    acc, seconds = timed(search, X, y, X_test, y_test)
    rows.append(
        {
            "model": f"DeepStackSearch(DeepStackClassifier(max_epochs="
            f"{args.max_epochs}), tuner={args.tuner!r}, "
            f"max_trials={args.max_trials})",
            "test_accuracy": acc,
            "seconds": seconds,
            "search_seconds": search.search_time_,
            "refit_seconds": search.refit_time_,
            "best_validation_score": search.best_score_,
            "best_params": {k: _plain(v) for k, v in search.best_params_.items()},
        }
    )
    print(rows[-1], flush=True)
    trials = [
        {
            "trial_id": search.results_["trial_id"][i],
            "score": search.results_["score"][i],
            "n_epochs": search.results_["n_epochs"][i],
            "fit_time": search.results_["fit_time"][i],
            "params": {k: _plain(v) for k, v in search.results_["params"][i].items()},
        }
        for i in range(search.n_trials_)
    ]

    report = {
        "benchmark": "search_mnist1d",
        "data": "mnist1d make_dataset(get_dataset_args()): 4000 train / 1000 test",
        "command": "python benchmarks/search_mnist1d.py "
        + f"--max-trials {args.max_trials} --max-epochs {args.max_epochs} "
        + f"--tuner {args.tuner} --seed {args.seed}"
        + (" --quick" if args.quick else ""),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs",
        "models": rows,
        "trials": trials,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "search_mnist1d.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    lines = [
        "# mnist1d: tuned vs. untuned vs. scikit-learn MLP",
        "",
        f"Command: `{report['command']}` ({report['machine']}).",
        "",
        "| model | test accuracy | time (s) |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {r['model']} | {r['test_accuracy']:.3f} | {r['seconds']:.0f} |"
        for r in rows
    ]
    lines += ["", f"Best parameters: `{rows[-1]['best_params']}`", ""]
    with open(os.path.join(args.out, "search_mnist1d.md"), "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


if __name__ == "__main__":
    main()
