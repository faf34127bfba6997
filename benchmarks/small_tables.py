"""Small classification tables: the default classifier against MLPClassifier, paired.

On a table of a few hundred rows, one test split cannot rank two good
classifiers: wine's 54 test rows move accuracy by 1.9 points per row, and a
handful of seeds leaves the ranking to chance. This script fits every method
on the same folds of repeated stratified K-fold cross-validation over the
whole bundled table (default 10 repeats of 5 folds: 50 fits per method and
table) and reports, per table:

* each method's mean accuracy over the folds (± the standard deviation over
  the folds);
* its paired difference to ``MLPClassifier((256, 256))`` fold by fold: the
  mean, a standard error corrected for the overlap of the training sets
  (Nadeau and Bengio's corrected resampled t-test:
  ``sqrt((1 / J + n_test / n_train) * var(d))`` over the ``J`` differences
  ``d``; the naive ``std / sqrt(J)`` would understate it), and the number of
  folds won, tied and lost.

This is an evaluation, not a selection: no default is chosen here (the
estimators' defaults were chosen by ``benchmarks/estimator_defaults.py`` on
training rows only). Every method runs behind ``StandardScaler``;
``random_state`` is the fold's index for every method. Methods:
``deepstack`` (``DeepStackClassifier()``), ``mlp``, ``bagging``
(``DeepStackBaggingClassifier()``: five default networks, each early-stopped
on its own fold of the training rows, as the main job ``deepstack fit``
trains), ``hgb`` (``HistGradientBoostingClassifier()``, a reference).

    .venv/bin/python benchmarks/small_tables.py
    .venv/bin/python benchmarks/small_tables.py --datasets wine iris \\
        --methods deepstack mlp bagging hgb --repeats 10
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

DATASETS = ("wine", "breast_cancer", "iris")
METHODS = ("deepstack", "mlp", "bagging", "hgb")
BASELINE = "mlp"


def _model(method, seed, max_epochs):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from deepstack import DeepStackClassifier
    from deepstack.ensemble import DeepStackBaggingClassifier

    epochs = {} if max_epochs is None else {"max_epochs": max_epochs}
    if method == "deepstack":
        model = DeepStackClassifier(random_state=seed, **epochs)
    elif method == "bagging":
        model = DeepStackBaggingClassifier(
            DeepStackClassifier(**epochs), random_state=seed
        )
    elif method == "mlp":
        iters = {} if max_epochs is None else {"max_iter": max_epochs}
        model = MLPClassifier(hidden_layer_sizes=(256, 256), random_state=seed, **iters)
    elif method == "hgb":
        model = HistGradientBoostingClassifier(random_state=seed)
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(f"unknown method {method!r}")
    return make_pipeline(StandardScaler(), model)


def _folds(y, n_splits, repeats):
    import numpy as np
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(
        n_splits=n_splits, n_repeats=repeats, random_state=0
    )
    return list(splitter.split(np.zeros((len(y), 1)), y))


def paired(differences, n_train, n_test):
    """``(mean, corrected standard error)`` of per-fold differences
    (Nadeau and Bengio's correction for overlapping training sets)."""
    import numpy as np

    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return float(d.mean()), float("nan")
    variance = d.var(ddof=1) * (1.0 / d.size + n_test / n_train)
    return float(d.mean()), math.sqrt(variance)


def run(args):
    import numpy as np
    from sklearn import datasets

    records = []
    for name in args.datasets:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        folds = _folds(y, args.folds, args.repeats)
        if args.quick:
            folds = folds[: args.folds]
        for index, (train, test) in enumerate(folds):
            for method in args.methods:
                model = _model(method, index, args.max_epochs)
                _, seconds = _common.timed(model.fit, X[train], y[train])
                accuracy = float(np.mean(model.predict(X[test]) == y[test]))
                record = {
                    "dataset": name,
                    "fold": index,
                    "method": method,
                    "accuracy": accuracy,
                    "n_train": int(len(train)),
                    "n_test": int(len(test)),
                    "fit_s": seconds,
                }
                records.append(record)
                print(
                    f"  {name} fold {index} {method}: {accuracy:.4f} ({seconds:.1f}s)",
                    flush=True,
                )
    return records


def summarize(records, methods):
    """One row per table and method: mean accuracy, and the paired
    difference to the baseline when the baseline ran."""
    import numpy as np

    rows = []
    for name in dict.fromkeys(r["dataset"] for r in records):
        of = [r for r in records if r["dataset"] == name]
        by = {
            m: {r["fold"]: r for r in of if r["method"] == m}
            for m in methods
            if any(r["method"] == m for r in of)
        }
        base = by.get(BASELINE)
        for method, fits in by.items():
            scores = [fits[k]["accuracy"] for k in sorted(fits)]
            mean, std = _common.mean_std(scores)
            row = {
                "dataset": name,
                "method": method,
                "folds": len(scores),
                "accuracy": f"{mean:.4f} ± {std:.4f}",
                "accuracy_mean": mean,
                "fit_s": _common.median([f["fit_s"] for f in fits.values()]),
            }
            if base is not None and method != BASELINE:
                shared = sorted(set(fits) & set(base))
                d = np.array(
                    [fits[k]["accuracy"] - base[k]["accuracy"] for k in shared]
                )
                one = fits[shared[0]]
                diff, se = paired(d, one["n_train"], one["n_test"])
                row.update(
                    {
                        f"minus_{BASELINE}": diff,
                        "corrected_se": se,
                        "wins": int(np.sum(d > 0)),
                        "ties": int(np.sum(d == 0)),
                        "losses": int(np.sum(d < 0)),
                    }
                )
            rows.append(row)
    return rows


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="deepstack max_epochs and MLP max_iter (default: each one's default)",
    )
    p.add_argument("--name", default="small_tables")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = 1
    _common.quiet_warnings()
    records = run(args)
    rows = summarize(records, args.methods)
    columns = [
        "dataset",
        "method",
        "folds",
        "accuracy",
        f"minus_{BASELINE}",
        "corrected_se",
        "wins",
        "ties",
        "losses",
        "fit_s",
    ]
    markdown = (
        "### Small tables: paired repeated cross-validation\n\n"
        f"RepeatedStratifiedKFold({args.folds} folds x {args.repeats} repeats, "
        "random_state=0) over each whole bundled table; every method fitted on "
        "the same folds behind StandardScaler. accuracy: mean ± std over the "
        f"folds; minus_{BASELINE}: mean paired difference to MLPClassifier((256, "
        "256)) fold by fold; corrected_se: its standard error corrected for "
        "overlapping training sets (Nadeau and Bengio); wins / ties / losses: "
        "folds; fit_s: median seconds per fit.\n\n"
        + _common.markdown_table(columns, rows, digits=4)
        + "\n"
    )
    _common.publish(
        "small_tables",
        args.name,
        {
            "datasets": args.datasets,
            "methods": args.methods,
            "folds": args.folds,
            "repeats": args.repeats,
            "records": records,
            "summary": rows,
        },
        markdown,
        args.out,
        argv,
    )
    return rows


if __name__ == "__main__":
    main()
