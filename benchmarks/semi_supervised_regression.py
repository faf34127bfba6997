"""Semi-supervised regression with few targets: deepstack vs labeled-only anchors.

scikit-learn has no semi-supervised regressor, so the anchors are the usual
regressors trained on the labeled rows only. Data (all offline): scikit-learn's
diabetes (442 x 10) and ``make_friedman1`` (3,000 rows, noise 1, 10 features of
which 5 matter), each split 70/30 (seed 0). For each seed and label fraction
(5 %, 10 %, 25 %), a random draw of the training targets is kept and the rest
are set to NaN (unlabeled); every method sees the same rows. Features are
standardized with the statistics of all training rows (labeled or not, as a
user would); the anchors get standardized targets (deepstack standardizes its
own).

Methods:

* ``MLPRegressor``: ``MLPRegressor(hidden)`` on the labeled rows;
* ``KNeighborsRegressor``: distance-weighted, ``n_neighbors`` chosen among 3,
  5, 10 by 5-fold cross-validation on the labeled rows;
* ``HistGradientBoosting``: ``HistGradientBoostingRegressor()`` on the labeled
  rows;
* ``deepstack_labeled_only``: ``DeepStackRegressor(hidden)`` on the labeled
  rows;
* ``deepstack_pretrain``: the same on all rows with ``pretrain="auto"``
  (denoising pretraining on every row, since most are unlabeled);
* ``deepstack_label_propagation``: ``semi_supervised="label_propagation"``
  with its defaults (rounds of spreading the targets over a Gaussian-weighted
  kNN graph of all training rows, then training on labeled plus propagated
  rows);
* ``deepstack_joint``: the joint loss, ``reconstruction_weight`` (default
  0.1, fixed beforehand: the weight the classifier's validation chose in most
  fits of ``semi_supervised.py``), on all rows.

No setting is chosen on the test rows. Test R² on the full test split; mean
and standard deviation over seeds; fit seconds include any selection.

Run: ``.venv/bin/python benchmarks/semi_supervised_regression.py [--quick]``
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

_common.quiet_warnings()

import numpy as np  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import load_diabetes, make_friedman1  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neighbors import KNeighborsRegressor  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from deepstack import DeepStackRegressor  # noqa: E402

METHODS = (
    "MLPRegressor",
    "KNeighborsRegressor",
    "HistGradientBoosting",
    "deepstack_labeled_only",
    "deepstack_pretrain",
    "deepstack_label_propagation",
    "deepstack_joint",
)
# Methods that see only the labeled rows.
LABELED_ONLY = {
    "MLPRegressor",
    "KNeighborsRegressor",
    "HistGradientBoosting",
    "deepstack_labeled_only",
}


def load(name):
    """``X_train, X_test, y_train, y_test`` (features standardized on the
    training rows)."""
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
    elif name == "friedman1":
        X, y = make_friedman1(n_samples=3000, noise=1.0, random_state=0)
    else:
        raise ValueError(name)
    return _common.standardized(*train_test_split(X, y, test_size=0.3, random_state=0))


def hide_targets(y, fraction, seed):
    """Keep a random ``fraction`` of the targets (at least 10), NaN the rest."""
    rng = np.random.RandomState(seed)
    n = max(10, int(round(fraction * len(y))))
    keep = np.zeros(len(y), dtype=bool)
    keep[rng.choice(len(y), size=n, replace=False)] = True
    y = np.asarray(y, dtype=np.float64).copy()
    y[~keep] = np.nan
    return y


def _standardized_targets(model):
    return TransformedTargetRegressor(model, transformer=StandardScaler())


def model(method, args, seed):
    hidden = tuple(args.hidden)
    if method == "MLPRegressor":
        return _standardized_targets(
            MLPRegressor(
                hidden_layer_sizes=hidden, max_iter=args.max_epochs, random_state=seed
            )
        )
    if method == "KNeighborsRegressor":
        return _standardized_targets(
            GridSearchCV(
                KNeighborsRegressor(weights="distance"),
                {"n_neighbors": [3, 5, 10]},
                cv=5,
            )
        )
    if method == "HistGradientBoosting":
        return HistGradientBoostingRegressor(random_state=seed)
    common = dict(
        hidden_layer_sizes=hidden, max_epochs=args.max_epochs, random_state=seed
    )
    if method == "deepstack_labeled_only":
        return DeepStackRegressor(**common)
    if method == "deepstack_pretrain":
        return DeepStackRegressor(
            pretrain="auto", pretrain_epochs=args.pretrain_epochs, **common
        )
    if method == "deepstack_label_propagation":
        return DeepStackRegressor(semi_supervised="label_propagation", **common)
    if method == "deepstack_joint":
        return DeepStackRegressor(
            reconstruction_weight=args.reconstruction_weight, **common
        )
    raise ValueError(method)


def fit(estimator, method, X, y_partial):
    if method in LABELED_ONLY:
        keep = ~np.isnan(y_partial)
        return estimator.fit(X[keep], y_partial[keep])
    return estimator.fit(X, y_partial)


def main(argv):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["friedman1", "diabetes"])
    p.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.25])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", type=int, default=None, help="default 5 (1 with --quick)")
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    p.add_argument(
        "--pretrain-epochs", type=int, default=None, help="default 20 (3 with --quick)"
    )
    p.add_argument(
        "--max-epochs", type=int, default=None, help="default 200 (10 with --quick)"
    )
    p.add_argument("--reconstruction-weight", type=float, default=0.1)
    p.add_argument("--name", default="semi_supervised_regression")
    args = p.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 5)
    args.pretrain_epochs = args.pretrain_epochs or (3 if args.quick else 20)
    args.max_epochs = args.max_epochs or (10 if args.quick else 200)

    runs, rows = [], []
    for dataset in args.datasets:
        X_train, X_test, y_train, y_test = load(dataset)
        for fraction in args.fractions:
            for method in args.methods:
                scores, seconds = [], []
                for seed in range(seeds):
                    y_partial = hide_targets(y_train, fraction, seed)
                    fitted, t = _common.timed(
                        fit, model(method, args, seed), method, X_train, y_partial
                    )
                    score = float(r2_score(y_test, fitted.predict(X_test)))
                    scores.append(score)
                    seconds.append(t)
                    runs.append(
                        {
                            "dataset": dataset,
                            "label_fraction": fraction,
                            "method": method,
                            "seed": seed,
                            "n_labeled": int((~np.isnan(y_partial)).sum()),
                            "test_r2": score,
                            "fit_seconds": t,
                            "pseudo_labeled": getattr(
                                fitted, "n_pseudo_labeled_", None
                            ),
                        }
                    )
                    print(dataset, fraction, method, seed, f"{score:.4f}", f"{t:.1f}s")
                rows.append(
                    _common.label_budget_row(
                        dataset,
                        fraction,
                        runs[-1]["n_labeled"],
                        method,
                        scores,
                        seconds,
                        "test R²",
                    )
                )
    table = _common.markdown_table(list(rows[0]), rows, digits=1)
    settings = {
        "hidden": args.hidden,
        "pretrain_epochs": args.pretrain_epochs,
        "max_epochs": args.max_epochs,
        "reconstruction_weight": args.reconstruction_weight,
        "seeds": seeds,
    }
    markdown = (
        "Few targets: a random fraction of the training targets kept, the rest "
        "NaN (unlabeled). Anchors train on the labeled rows only (scikit-learn "
        f"has no semi-supervised regressor). Settings: {settings}.\n\n" + table
    )
    _common.write_results(
        args.name,
        {"settings": settings, "runs": runs, "summary": rows},
        markdown,
        out=args.out,
        command=_common.command_line("semi_supervised_regression", argv),
    )
    print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
