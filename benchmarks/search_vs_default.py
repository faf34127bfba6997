"""Does a small search beat no search? Tuned against default on the bundled sets.

For each of scikit-learn's bundled tables (iris, wine, breast cancer, digits:
classification; diabetes: regression), split 70 / 30 (stratified for the
classifiers, ``random_state=0``):

- ``default``: ``DeepStackClassifier(random_state=0)`` (or the regressor)
  fitted on the training part;
- ``tuned``: ``DeepStackSearch(<the same estimator>, tuner="random",
  max_trials=6, cv=5, random_state=0)`` over the default search space
  (centred on the estimator): each trial scored by 5-fold cross-validation
  on the training part, the chosen parameters refit on the training part.
  The search keeps the first trial (the estimator itself) unless another
  beats it by more than one standard error of the paired fold differences
  (``min_improvement="auto"``).

Reported per set: the search's validation score of its first trial (the
estimator itself), of its best trial (never lower, by construction) and of
the trial it chose, and
the test scores (accuracy or R^2) of ``default`` and ``tuned``, which the
search does not see. Writes ``search_vs_default.json`` and
``search_vs_default.md`` into ``benchmarks/results/``::

    .venv/bin/python benchmarks/search_vs_default.py [--max-trials 6] [--cv 5]

``--quick`` (2 trials, 5 epochs, iris and diabetes) only checks that it runs.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

SETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")


def load(name):
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return X.astype("float32"), y, name != "diabetes"


def run_set(name, *, max_trials, max_epochs, seed, cv):
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    from deepstack import DeepStackClassifier, DeepStackRegressor, DeepStackSearch

    X, y, classifier = load(name)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=y if classifier else None
    )
    cls = DeepStackClassifier if classifier else DeepStackRegressor
    estimator = cls(random_state=seed, max_epochs=max_epochs)
    default, default_s = _common.timed(clone(estimator).fit, X_train, y_train)
    search = DeepStackSearch(
        estimator, tuner="random", max_trials=max_trials, cv=cv, random_state=seed
    )
    _, search_s = _common.timed(search.fit, X_train, y_train)
    default_test = float(default.score(X_test, y_test))
    tuned_test = float(search.score(X_test, y_test))
    return {
        "set": name,
        "rows (train)": len(X_train),
        "validation, first trial (the estimator)": float(search.results_["score"][0]),
        "validation, best trial": float(max(search.results_["score"])),
        "validation, chosen trial": float(search.best_score_),
        "chosen trial": int(search.best_index_),
        "test, default": default_test,
        "test, tuned": tuned_test,
        "tuned >= default (test)": "yes" if tuned_test >= default_test else "no",
        "default fit (s)": default_s,
        "search + refit (s)": search_s,
        "best params": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in search.best_params_.items()
        },
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--max-trials", type=int, default=None, help="default 6 (2 quick)")
    p.add_argument("--max-epochs", type=int, default=None, help="default 200 (5 quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--cv", type=int, default=5, help="folds per trial; 0: one validation split"
    )
    args = p.parse_args(argv)
    max_trials = args.max_trials or (2 if args.quick else 6)
    max_epochs = args.max_epochs or (5 if args.quick else 200)
    sets = ("iris", "diabetes") if args.quick else SETS

    rows = []
    for name in sets:
        rows.append(
            run_set(
                name,
                max_trials=max_trials,
                max_epochs=max_epochs,
                seed=args.seed,
                cv=args.cv or None,
            )
        )
        print(rows[-1], flush=True)
    columns = [c for c in rows[0] if c != "best params"]
    wins = sum(r["tuned >= default (test)"] == "yes" for r in rows)
    markdown = (
        "### A small search against no search\n\n"
        f"Random search, {max_trials} trials over the default (centred) space, "
        f"`max_epochs={max_epochs}`, `random_state={args.seed}`, "
        + (
            f"`cv={args.cv}` on the training rows (the first trial kept unless "
            "another beats it by more than one standard error of the paired "
            "fold differences)"
            if args.cv
            else "one validation split"
        )
        + "; 70 / 30 split. "
        "Scores: accuracy (classifiers), R^2 (diabetes).\n\n"
        + _common.markdown_table(columns, rows, digits=4)
        + f"\n\nTuned >= default on the test split: {wins} of {len(rows)} sets.\n"
    )
    _common.write_results(
        "search_vs_default",
        {
            "quick": args.quick,
            "max_trials": max_trials,
            "max_epochs": max_epochs,
            "cv": args.cv or None,
            "rows": rows,
        },
        markdown,
        out=args.out,
        command=_common.command_line("search_vs_default", argv),
    )
    return rows


if __name__ == "__main__":
    main()
