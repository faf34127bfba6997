"""Does greedy autoencoder pretraining help when labels are scarce?

Data: scikit-learn's digits (1797 x 64; 70/30 stratified split, seed 0) and,
with ``--datasets digits mnist1d``, mnist1d generated procedurally by
``mnist1d.data.make_dataset`` (4000/1000 split; nothing is downloaded).

For each seed, ``--label-fraction`` (10 %) of the training labels are kept
(a stratified draw that depends on the seed) and the rest are set to -1
(unlabeled). The same ``DeepStackClassifier`` is trained

* ``none``: on the labeled rows only (``pretrain=None``; the -1 rows are
  dropped by the script, since without pretraining -1 would be a class);
* ``autoencoder`` / ``denoising``: with ``pretrain=...`` on all training rows
  (labeled + unlabeled), then fine-tuned on the labeled rows;
* ``denoising-head``: as ``denoising`` with ``finetune="head"``.

Test accuracy is on the full test split. Mean and standard deviation over
seeds are reported.

Run: ``.venv/bin/python benchmarks/pretraining_scarce_labels.py [--quick]``
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

_common.quiet_warnings()

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from deepstack import DeepStackClassifier  # noqa: E402

VARIANTS = {
    "none": {},
    "autoencoder": {"pretrain": "autoencoder"},
    "denoising": {"pretrain": "denoising"},
    "denoising-head": {"pretrain": "denoising", "finetune": "head"},
}


def load(name):
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return train_test_split(
            X.astype(np.float32), y, test_size=0.3, stratify=y, random_state=0
        )
    if name == "mnist1d":
        from mnist1d.data import get_dataset_args, make_dataset

        data = make_dataset(get_dataset_args())
        return (
            data["x"].astype(np.float32),
            data["x_test"].astype(np.float32),
            data["y"],
            data["y_test"],
        )
    raise ValueError(name)


def hide_labels(y, fraction, seed):
    """Keep a stratified ``fraction`` of the labels, set the rest to -1."""
    rng = np.random.RandomState(seed)
    keep = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        n = max(2, int(round(fraction * len(rows))))
        keep[rng.choice(rows, size=n, replace=False)] = True
    y = np.asarray(y).copy()
    y[~keep] = -1
    return y


def main(argv):
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["digits"])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS))
    p.add_argument("--seeds", type=int, default=None, help="default 5 (2 with --quick)")
    p.add_argument("--label-fraction", type=float, default=0.1)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128])
    p.add_argument("--activation", default="relu")
    p.add_argument(
        "--pretrain-epochs", type=int, default=None, help="default 30 (5 with --quick)"
    )
    p.add_argument("--pretrain-learning-rate", type=float, default=1e-3)
    p.add_argument("--noise-level", type=float, default=0.2)
    p.add_argument("--corruption", default="mask")
    p.add_argument(
        "--max-epochs", type=int, default=None, help="default 200 (30 with --quick)"
    )
    p.add_argument("--name", default="pretraining_scarce_labels")
    args = p.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 5)
    pretrain_epochs = args.pretrain_epochs or (5 if args.quick else 30)
    max_epochs = args.max_epochs or (30 if args.quick else 200)

    common = dict(
        hidden_layer_sizes=tuple(args.hidden),
        activation=args.activation,
        max_epochs=max_epochs,
        pretrain_epochs=pretrain_epochs,
        pretrain_learning_rate=args.pretrain_learning_rate,
        pretrain_noise_level=args.noise_level,
        pretrain_corruption=args.corruption,
        # Pretraining alone, without label propagation (semi_supervised="auto").
        semi_supervised=None,
    )
    runs, rows = [], []
    for dataset in args.datasets:
        X_train, X_test, y_train, y_test = load(dataset)
        for variant in args.variants:
            accuracies, seconds = [], []
            for seed in range(seeds):
                y_partial = hide_labels(y_train, args.label_fraction, seed)
                labeled = y_partial != -1
                params = {**common, **VARIANTS[variant], "random_state": seed}
                clf = DeepStackClassifier(**params)
                if variant == "none":
                    _, t = _common.timed(clf.fit, X_train[labeled], y_partial[labeled])
                else:
                    _, t = _common.timed(clf.fit, X_train, y_partial)
                acc = float(clf.score(X_test, y_test))
                accuracies.append(acc)
                seconds.append(t)
                runs.append(
                    {
                        "dataset": dataset,
                        "variant": variant,
                        "seed": seed,
                        "n_labeled": int(labeled.sum()),
                        "n_unlabeled": int((~labeled).sum()),
                        "test_accuracy": acc,
                        "fit_seconds": t,
                        "finetune_epochs": clf.n_iter_,
                        "pretrain_epochs_per_layer": [
                            h["n_epochs"] for h in clf.pretraining_history_
                        ],
                    }
                )
                print(dataset, variant, seed, f"{acc:.4f}", f"{t:.1f}s", flush=True)
            mean, std = _common.mean_std(accuracies)
            rows.append(
                {
                    "dataset": dataset,
                    "variant": variant,
                    "labeled / unlabeled": f"{runs[-1]['n_labeled']} / "
                    f"{runs[-1]['n_unlabeled']}",
                    "test accuracy (mean ± std)": f"{mean:.4f} ± {std:.4f}",
                    "fit s (mean)": _common.mean_std(seconds)[0],
                    "seeds": seeds,
                }
            )
    columns = list(rows[0])
    table = _common.markdown_table(columns, rows, digits=1)
    settings = ", ".join(f"{k}={v!r}" for k, v in common.items())
    markdown = (
        f"Scarce labels: {args.label_fraction:.0%} of the training labels kept, "
        f"the rest -1. DeepStackClassifier({settings}); other parameters at "
        "their defaults.\n\n" + table
    )
    _common.write_results(
        args.name,
        {
            "settings": {**common, "label_fraction": args.label_fraction},
            "runs": runs,
            "summary": rows,
        },
        markdown,
        out=args.out,
        command=_common.command_line("pretraining_scarce_labels", argv),
    )
    print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
