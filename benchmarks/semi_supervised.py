"""Semi-supervised classification with few labels: deepstack vs scikit-learn.

Data: scikit-learn's digits (1797 x 64; 70/30 stratified split, seed 0) and
mnist1d generated procedurally by ``mnist1d.data.make_dataset`` (4000/1000
split; nothing is downloaded). For each seed and label fraction (5 %, 10 %,
25 %), a stratified draw of the training labels is kept and the rest are set
to -1 (unlabeled); every method sees the same rows.

Methods:

* ``LabelSpreading`` (``kernel="knn"``), ``LabelPropagation``
  (``kernel="knn"``): ``n_neighbors`` chosen among ``--neighbors`` by
  validation on the labeled training rows only (a stratified 30 % of them is
  held out, its labels hidden, for each candidate; the winner is refitted on
  every row);
* ``SelfTraining(MLP)``: ``SelfTrainingClassifier(MLPClassifier(hidden),
  threshold=0.9)`` (fixed settings, as in issue 18);
* ``deepstack (labeled only)``: ``DeepStackClassifier(hidden)`` on the
  labeled rows;
* ``deepstack pretrain=auto``: the same on all rows with ``pretrain="auto"``
  (denoising pretraining, since most rows are unlabeled);
* ``deepstack self_training``: ``semi_supervised="self_training"``, its
  ``pseudo_label_threshold`` chosen among ``--thresholds`` by the same
  validation as the scikit-learn anchors;
* ``deepstack auto+self_training``: both;
* ``deepstack label_propagation``: ``semi_supervised="label_propagation"``
  (rounds of label spreading over a Gaussian-weighted kNN graph, first of the
  inputs, then of the network's last hidden layer, and training on the
  propagated labels; predictions mix in the input graph by ``graph_weight``),
  ``propagation_neighbors`` among ``--propagation-neighbors`` ("auto": chosen
  inside ``fit`` on held-out labeled rows) and ``graph_weight`` among
  ``--graph-weights`` chosen by the same validation as the scikit-learn
  anchors (``graph_weight`` only changes predictions: one fit per
  ``propagation_neighbors`` candidate scores every weight; ties go to the
  first, the estimator's default 0.5).
* ``deepstack joint``: ``semi_supervised=None`` with the joint loss
  (``reconstruction_weight``: the supervised loss of the labeled rows plus
  that weight times the reconstruction loss of all rows, through a decoder
  tied to the hidden layers), the weight chosen among
  ``--reconstruction-weights`` by the same validation;
* ``deepstack label_propagation+joint``: label propagation (as above) with
  the joint loss in every round, the weight (and ``graph_weight``) chosen by
  the same validation.

Inputs are scaled to [0, 1] (by the training maximum) for every method.
Test accuracy is on the full test split; mean and standard deviation over
seeds; fit seconds include the validation-based selection.

Run: ``.venv/bin/python benchmarks/semi_supervised.py [--quick]``
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

_common.quiet_warnings()

import numpy as np  # noqa: E402
from pretraining_scarce_labels import hide_labels, load  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.semi_supervised import (  # noqa: E402
    LabelPropagation,
    LabelSpreading,
    SelfTrainingClassifier,
)

from deepstack import DeepStackClassifier  # noqa: E402

METHODS = (
    "LabelSpreading",
    "LabelPropagation",
    "SelfTraining(MLP)",
    "deepstack_labeled_only",
    "deepstack_auto",
    "deepstack_self_training",
    "deepstack_auto_self_training",
    "deepstack_label_propagation",
    "deepstack_joint",
    "deepstack_label_propagation_joint",
)


def validation_split(y_partial, seed, fraction=0.3):
    """A stratified ``fraction`` of the labeled rows (at least one per class)."""
    rng = np.random.RandomState(1000 + seed)
    held = np.zeros(len(y_partial), dtype=bool)
    for label in np.unique(y_partial[y_partial != -1]):
        rows = np.flatnonzero(y_partial == label)
        n = min(len(rows) - 1, max(1, int(round(fraction * len(rows)))))
        held[rng.choice(rows, size=n, replace=False)] = True
    return held


def select(candidates, X, y_partial, seed, labeled_only=False, options=({},)):
    """The candidate (and prediction-time ``options``, parameters that need
    no refit) with the best accuracy on held-out labeled rows, refitted on
    every row; ``(fitted, chosen, validation accuracies)``."""
    if len(candidates) == 1 and len(options) == 1:
        model = clone(candidates[0]).set_params(**options[0])
        return fit(model, X, y_partial, labeled_only), model, []
    held = validation_split(y_partial, seed)
    y_fit = y_partial.copy()
    y_fit[held] = -1
    scores = []
    for candidate in candidates:
        model = fit(clone(candidate), X, y_fit, labeled_only)
        for option in options:
            model.set_params(**option)
            scores.append(float(np.mean(model.predict(X[held]) == y_partial[held])))
    best, option = divmod(int(np.argmax(scores)), len(options))
    chosen = clone(candidates[best]).set_params(**options[option])
    return fit(clone(chosen), X, y_partial, labeled_only), chosen, scores


def fit(model, X, y_partial, labeled_only):
    if labeled_only:
        keep = y_partial != -1
        return model.fit(X[keep], y_partial[keep])
    return model.fit(X, y_partial)


def options(method, args):
    """Prediction-time settings chosen with the candidates (no refit)."""
    if method in ("deepstack_label_propagation", "deepstack_label_propagation_joint"):
        return [{"graph_weight": w} for w in args.graph_weights]
    return [{}]


def candidates(method, args, seed):
    if method == "LabelSpreading":
        return [LabelSpreading(kernel="knn", n_neighbors=k) for k in args.neighbors]
    if method == "LabelPropagation":
        return [
            LabelPropagation(kernel="knn", n_neighbors=k, max_iter=2000)
            for k in args.neighbors
        ]
    if method == "SelfTraining(MLP)":
        mlp = MLPClassifier(tuple(args.hidden), max_iter=args.max_epochs)
        mlp.set_params(random_state=seed)
        return [SelfTrainingClassifier(mlp, threshold=0.9)]
    common = dict(
        hidden_layer_sizes=tuple(args.hidden),
        max_epochs=args.max_epochs,
        pretrain_epochs=args.pretrain_epochs,
        pretrain_noise_level=args.noise_level,
        random_state=seed,
    )
    if method == "deepstack_labeled_only":
        return [DeepStackClassifier(semi_supervised=None, **common)]
    if method == "deepstack_auto":
        # Pretraining alone (the default semi_supervised="auto" would add
        # label propagation).
        return [DeepStackClassifier(pretrain="auto", semi_supervised=None, **common)]
    if method == "deepstack_label_propagation":
        return [
            DeepStackClassifier(
                semi_supervised="label_propagation", propagation_neighbors=k, **common
            )
            for k in args.propagation_neighbors
        ]
    if method == "deepstack_joint":
        return [
            DeepStackClassifier(semi_supervised=None, reconstruction_weight=w, **common)
            for w in args.reconstruction_weights
        ]
    if method == "deepstack_label_propagation_joint":
        return [
            DeepStackClassifier(
                semi_supervised="label_propagation",
                propagation_neighbors=k,
                reconstruction_weight=w,
                **common,
            )
            for k in args.propagation_neighbors
            for w in args.reconstruction_weights
        ]
    pretrain = "auto" if method == "deepstack_auto_self_training" else None
    return [
        DeepStackClassifier(
            pretrain=pretrain,
            semi_supervised="self_training",
            pseudo_label_threshold=t,
            **common,
        )
        for t in args.thresholds
    ]


def neighbors(text):
    return text if text == "auto" else int(text)


def main(argv):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"])
    p.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.25])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", type=int, default=None, help="default 5 (1 with --quick)")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--neighbors", type=int, nargs="+", default=[5, 10, 20])
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.8, 0.95])
    p.add_argument(
        "--propagation-neighbors",
        type=neighbors,
        nargs="+",
        default=[5],
        metavar="K",
        help="ints or 'auto'",
    )
    # Validation ties (a few dozen held-out rows) go to the first: the
    # estimator's default.
    p.add_argument("--graph-weights", type=float, nargs="+", default=[0.5, 0.0, 0.75])
    p.add_argument(
        "--reconstruction-weights", type=float, nargs="+", default=[0.1, 0.3, 1.0]
    )
    p.add_argument("--noise-level", type=float, default=0.5)
    p.add_argument(
        "--pretrain-epochs", type=int, default=None, help="default 30 (5 with --quick)"
    )
    p.add_argument(
        "--max-epochs", type=int, default=None, help="default 200 (30 with --quick)"
    )
    p.add_argument("--name", default="semi_supervised")
    args = p.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 5)
    args.pretrain_epochs = args.pretrain_epochs or (5 if args.quick else 30)
    args.max_epochs = args.max_epochs or (30 if args.quick else 200)

    runs, rows = [], []
    for dataset in args.datasets:
        X_train, X_test, y_train, y_test = load(dataset)
        scale = float(np.max(np.abs(X_train))) or 1.0
        X_train, X_test = X_train / scale, X_test / scale
        for fraction in args.fractions:
            for method in args.methods:
                accuracies, seconds = [], []
                for seed in range(seeds):
                    y_partial = hide_labels(y_train, fraction, seed)
                    (model, chosen, scores), t = _common.timed(
                        select,
                        candidates(method, args, seed),
                        X_train,
                        y_partial,
                        seed,
                        labeled_only=method == "deepstack_labeled_only",
                        options=options(method, args),
                    )
                    acc = float(np.mean(model.predict(X_test) == y_test))
                    accuracies.append(acc)
                    seconds.append(t)
                    runs.append(
                        {
                            "dataset": dataset,
                            "label_fraction": fraction,
                            "method": method,
                            "seed": seed,
                            "n_labeled": int((y_partial != -1).sum()),
                            "chosen": repr(chosen),
                            "validation_accuracies": scores,
                            "test_accuracy": acc,
                            "fit_seconds": t,
                            "pseudo_labeled": getattr(model, "n_pseudo_labeled_", None),
                        }
                    )
                    print(dataset, fraction, method, seed, f"{acc:.4f}", f"{t:.1f}s")
                rows.append(
                    _common.label_budget_row(
                        dataset,
                        fraction,
                        runs[-1]["n_labeled"],
                        method,
                        accuracies,
                        seconds,
                        "test accuracy",
                    )
                )
    table = _common.markdown_table(list(rows[0]), rows, digits=1)
    settings = {
        "hidden": args.hidden,
        "neighbors": args.neighbors,
        "thresholds": args.thresholds,
        "propagation_neighbors": args.propagation_neighbors,
        "graph_weights": args.graph_weights,
        "reconstruction_weights": args.reconstruction_weights,
        "noise_level": args.noise_level,
        "pretrain_epochs": args.pretrain_epochs,
        "max_epochs": args.max_epochs,
        "seeds": seeds,
    }
    markdown = (
        "Few labels: a stratified fraction of the training labels kept, the rest "
        "-1. Settings chosen by validation on labeled training rows only (see the "
        f"script's docstring). Settings: {settings}.\n\n" + table
    )
    _common.write_results(
        args.name,
        {"settings": settings, "runs": runs, "summary": rows},
        markdown,
        out=args.out,
        command=_common.command_line("semi_supervised", argv),
    )
    print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
