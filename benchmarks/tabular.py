"""The main job against scikit-learn on the bundled tables: accuracy / R² and time.

For each table and seed, one shuffled 80/20 split (stratified for classes)
is shared by every method:

- ``deepstack``: ``deepstack.fit_table(train, target, test=test)`` with its
  defaults (what ``deepstack fit`` runs: 5-fold bagged networks up to 20,000
  training rows, see ``table_defaults.py``);
- ``deepstack search``: the same with ``search="bayesian"`` (``--trials``);
- ``HistGradientBoosting``: ``skrub.tabular_pipeline`` around
  ``HistGradientBoostingClassifier`` / ``Regressor`` (skrub's recommended
  preprocessing for trees: native categorical support);
- ``MLP``: ``MLPClassifier`` / ``MLPRegressor((256, 256),
  early_stopping=True)`` behind deepstack's ``TablePreprocessor``.

Times are wall seconds of the whole fit, preprocessing included.

    .venv/bin/python benchmarks/tabular.py --seeds 0 1 2
    .venv/bin/python benchmarks/tabular.py --seeds 0 --with-search --trials 8
"""

import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TABLES = {
    # name: (dataset, target, task, rows kept or None)
    "penguins": ("penguins", "species", "multiclass", None),
    "wine": ("wine", "target", "multiclass", None),
    "breast_cancer": ("breast_cancer", "target", "binary", None),
    "digits": ("digits", "target", "multiclass", None),
    "mnist1d": ("mnist1d", "target", "multiclass", None),
    "diamonds_cut": ("diamonds", "cut", "multiclass", 10_000),
    "diabetes": ("diabetes", "target", "regression", None),
    "diamonds_price": ("diamonds", "price", "regression", 10_000),
    "txhousing": ("txhousing", "median", "regression", None),
    "midwest": ("midwest", "percollege", "regression", None),
}
QUICK_TABLES = ["penguins", "diabetes"]


def load(name, seed):
    from sklearn.model_selection import train_test_split

    from deepstack.datasets import load_table

    dataset, target, task, rows = TABLES[name]
    frame, _ = load_table(dataset)
    if rows is not None and rows < len(frame):
        frame = frame.sample(n=rows, random_state=0).reset_index(drop=True)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    if task == "regression" and name == "diamonds_price":
        frame[target] = frame[target].astype(float)
    stratify = frame[target] if task != "regression" else None
    train, test = train_test_split(
        frame, test_size=0.2, random_state=seed, stratify=stratify
    )
    return train, test, target, task


def score(task, y_true, y_pred):
    from sklearn.metrics import accuracy_score, r2_score

    if task == "regression":
        return float(r2_score(y_true, y_pred))
    return float(accuracy_score(np.asarray(y_true).astype(str), y_pred.astype(str)))


def run_deepstack(
    train, test, target, task, seed, *, search=None, trials=8, max_epochs=None
):
    import deepstack

    start = time.perf_counter()
    options = {}
    if search is not None:
        options = {"search": search, "max_trials": trials}
    if max_epochs is not None:
        options["params"] = {"max_epochs": max_epochs}
    run = deepstack.fit_table(
        train, target, test=test, random_state=seed, progress=False, **options
    )
    elapsed = time.perf_counter() - start
    metric = run.metrics["primary_metric"]
    return run.metrics["test"][metric], elapsed, run.metrics["n_epochs"]


def run_sklearn(kind, train, test, target, task, seed):
    import skrub
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline

    from deepstack.tables import TablePreprocessor

    regression = task == "regression"
    if kind == "HistGradientBoosting":
        model = skrub.tabular_pipeline(
            HistGradientBoostingRegressor(random_state=seed)
            if regression
            else HistGradientBoostingClassifier(random_state=seed)
        )
    else:
        mlp = MLPRegressor if regression else MLPClassifier
        model = make_pipeline(
            TablePreprocessor(),
            mlp(
                hidden_layer_sizes=(256, 256),
                early_stopping=True,
                random_state=seed,
                max_iter=500,
            ),
        )
    X_train, y_train = train.drop(columns=target), train[target].to_numpy()
    X_test, y_test = test.drop(columns=target), test[target].to_numpy()
    if not regression:
        y_train = y_train.astype(str)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    return score(task, y_test, model.predict(X_test)), elapsed, None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tables", nargs="+", choices=sorted(TABLES))
    parser.add_argument("--with-search", action="store_true")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--name", default="tabular")
    parser.add_argument(
        "--max-epochs", type=int, help="cap deepstack's epochs (for smoke runs)"
    )
    args = parser.parse_args(argv)
    _common.quiet_warnings()
    warnings.filterwarnings("ignore", category=UserWarning)
    tables = args.tables or (QUICK_TABLES if args.quick else list(TABLES))
    seeds = args.seeds[:1] if args.quick else args.seeds
    methods = ["deepstack", "HistGradientBoosting", "MLP"]
    if args.with_search:
        methods.insert(1, "deepstack search")
    records = []
    for name in tables:
        for seed in seeds:
            train, test, target, task = load(name, seed)
            if args.quick:
                train = train.iloc[:200]
            for method in methods:
                if method == "deepstack":
                    result = run_deepstack(
                        train, test, target, task, seed, max_epochs=args.max_epochs
                    )
                elif method == "deepstack search":
                    result = run_deepstack(
                        train,
                        test,
                        target,
                        task,
                        seed,
                        search="bayesian",
                        trials=args.trials,
                        max_epochs=args.max_epochs,
                    )
                else:
                    result = run_sklearn(method, train, test, target, task, seed)
                value, seconds, epochs = result
                records.append(
                    {
                        "table": name,
                        "task": task,
                        "seed": seed,
                        "method": method,
                        "score": value,
                        "fit_s": seconds,
                        "epochs": epochs,
                        "n_train": len(train),
                    }
                )
                print(
                    f"{name:15s} seed {seed} {method:22s} {value:.4f} {seconds:7.1f} s",
                    flush=True,
                )
    frame = pd.DataFrame(records)
    summary = (
        frame.groupby(["table", "method"], sort=False)
        .agg(
            score=("score", "mean"),
            score_std=("score", "std"),
            fit_s=("fit_s", "median"),
            n=("seed", "count"),
        )
        .reset_index()
    )
    rows = []
    for name in tables:
        part = summary[summary["table"] == name].set_index("method")
        task = TABLES[name][2]
        row = {"table": name, "metric": "R²" if task == "regression" else "accuracy"}
        for method in methods:
            mean, std = part.loc[method, "score"], part.loc[method, "score_std"]
            spread = "" if np.isnan(std) else f" ± {std:.3f}"
            row[method] = f"{mean:.4f}{spread}"
            row[f"{method} s"] = f"{part.loc[method, 'fit_s']:.1f}"
        rows.append(row)
    columns = ["table", "metric"]
    for method in methods:
        columns += [method, f"{method} s"]
    markdown = (
        f"Mean ± std of the test score over seeds {seeds}; fit time is the "
        "median wall time in seconds.\n\n" + _common.markdown_table(columns, rows)
    )
    print(markdown)
    _common.write_results(
        args.name,
        {"seeds": seeds, "tables": tables, "records": records},
        markdown,
        out=args.out,
        command=_common.command_line("tabular", argv),
    )
    return frame


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
