"""Medium tables on a CPU: DeepStackClassifier against MLPClassifier, side by side.

A generated public table of the shape of a census table after one-hot
encoding (``make_classification``: 30,000 rows x 100 columns, 30 informative,
binary, 3% flipped labels, seed 0), standardized, split 70/30 (stratified,
seed 0); with ``--table onehot``, the census-shaped table of
``benchmarks/_common.py`` instead (4 numeric and 6 one-hot categorical
columns, 103 in all, a nonlinear binary label with 10% flipped; the tables
of the estimator defaults' large-table round). Each variant fits on the
21,000 training rows in a fresh interpreter
(the backend is chosen per process) and is scored on the 9,000 held-out
rows; the variants run in turn, repeat after repeat (A B C A B C ...). A busy
machine does not slow them alike (the MLP's BLAS threads suffer most: 3.3 s on
the quiet machine, 87.5 s under a load average of 6-8), so compare runs made on
a quiet machine. Variants:

- ``mlp``: ``MLPClassifier((256, 256), early_stopping=True)``;
- ``deepstack``: ``DeepStackClassifier()`` (TensorFlow, the fused loop; its
  default ``batch_size="auto"`` follows the training rows: 32 up to 3,200,
  then about rows / 100 as a power of two, at most 512; 256 here, with the
  learning rate scaled by ``sqrt(256 / 32)``; from 10,000 training rows its
  early stopping waits 5 epochs, growing to a quarter of the epochs up to
  the best one);
- ``deepstack_batch32``: the same with ``batch_size=32``, the classifier's
  default before the large-table round;
- ``deepstack_auto_batch_same_rate``: the batch of ``"auto"`` (256) given as
  a number, so the learning rate stays 1e-3 (``batch_size="auto"`` before the
  rate followed it);
- ``deepstack_jax``: the default on the JAX backend (the epoch as one XLA
  computation);
- ``deepstack_10_epochs``: the default with ``max_epochs=10``, a budget for
  when time matters more than the last points of accuracy (early stopping
  still runs inside it);
- ``deepstack_fixed_patience``: the default with ``n_iter_no_change=10,
  patience_growth=0`` (the classifier's default before the large-table
  patience: 10 epochs without improvement, whatever the rows).

Wall and CPU seconds of each fit are recorded (CPU time suffers less when
other jobs share the machine).

Run: ``.venv/bin/python benchmarks/medium_table.py [--quick]``
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

VARIANTS = [
    "mlp",
    "deepstack",
    "deepstack_batch32",
    "deepstack_auto_batch_same_rate",
    "deepstack_jax",
    "deepstack_10_epochs",
    "deepstack_fixed_patience",
]
# The epoch budget of the ``_10_epochs`` variants.
EPOCH_BUDGET = 10


def table(n_rows, n_features, seed=0, kind="dense"):
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    if kind == "onehot":
        X, y = _common.onehot_table(n_rows, seed)
    else:
        X, y = make_classification(
            n_samples=n_rows,
            n_features=n_features,
            n_informative=min(30, n_features),
            n_redundant=min(20, max(0, n_features - 30)),
            flip_y=0.03,
            class_sep=0.8,
            random_state=seed,
        )
    return _common.standardized(
        *train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    )


def worker(variant, n_rows, n_features, max_epochs, kind="dense"):
    """Fit one variant in this process; print its result as JSON."""
    _common.quiet_warnings()
    X_train, X_test, y_train, y_test = table(n_rows, n_features, kind=kind)
    n_fit = _common.training_rows(X_train.shape[0])
    if variant == "mlp":
        from sklearn.neural_network import MLPClassifier

        kwargs = {} if max_epochs is None else {"max_iter": max_epochs}
        model = MLPClassifier((256, 256), early_stopping=True, random_state=0, **kwargs)
    else:
        from deepstack import DeepStackClassifier

        kwargs = {"random_state": 0}
        if max_epochs is not None:
            kwargs["max_epochs"] = max_epochs
        if variant == "deepstack_batch32":
            kwargs["batch_size"] = 32
        if variant == "deepstack_auto_batch_same_rate":
            from deepstack._network import auto_batch_size

            kwargs["batch_size"] = auto_batch_size(n_fit)
        if variant == "deepstack_fixed_patience":
            kwargs.update(n_iter_no_change=10, patience_growth=0.0)
        if variant.endswith("_10_epochs"):
            kwargs["max_epochs"] = min(EPOCH_BUDGET, max_epochs or EPOCH_BUDGET)
        model = DeepStackClassifier(**kwargs)
    _, wall, cpu = _common.timed_cpu(model.fit, X_train, y_train)
    epochs = model.n_iter_
    batch_size = model.batch_size
    if variant == "mlp":  # MLPClassifier's "auto"
        batch_size = min(200, X_train.shape[0])
    elif batch_size == "auto":
        batch_size = f"auto ({model._batch_size(n_fit)})"
    print(
        json.dumps(
            {
                "variant": variant,
                "fit_seconds": wall,
                "fit_cpu_seconds": cpu,
                "epochs": int(epochs),
                "batch_size": batch_size,
                "accuracy": float(model.score(X_test, y_test)),
            }
        )
    )


def run_variant(variant, n_rows, n_features, max_epochs, kind="dense"):
    backend = "jax" if "_jax" in variant else "tensorflow"
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONHASHSEED": "0"}
    argv = [sys.executable, os.path.abspath(__file__), "--worker", variant]
    argv += ["--rows", str(n_rows), "--features", str(n_features), "--table", kind]
    if max_epochs is not None:
        argv += ["--max-epochs", str(max_epochs)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=30000)
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    p.add_argument(
        "--table",
        choices=("dense", "onehot"),
        default="dense",
        help="dense: make_classification (the default); onehot: the census-shaped "
        "table of benchmarks/_common.py (103 one-hot and numeric columns, "
        "10%% flipped labels; --features is ignored); results in "
        "medium_table_onehot.*",
    )
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        worker(args.worker, args.rows, args.features, args.max_epochs, args.table)
        return None
    if args.quick and "--rows" not in argv:
        args.rows = 3000
    runs = [
        run_variant(variant, args.rows, args.features, args.max_epochs, args.table)
        for _ in range(args.repeats)
        for variant in args.variants
    ]
    summary = []
    mlp = [r["fit_seconds"] for r in runs if r["variant"] == "mlp"]
    for variant in args.variants:
        mine = [r for r in runs if r["variant"] == variant]
        seconds = _common.median([r["fit_seconds"] for r in mine])
        summary.append(
            {
                "variant": variant,
                "batch_size": mine[0]["batch_size"],
                "fit_seconds": seconds,
                "x_mlp_time": seconds / _common.median(mlp) if mlp else float("nan"),
                "fit_cpu_seconds": _common.median([r["fit_cpu_seconds"] for r in mine]),
                "epochs": _common.median([r["epochs"] for r in mine]),
                "accuracy": _common.median([r["accuracy"] for r in mine]),
            }
        )
    if not mlp:
        for row in summary:
            del row["x_mlp_time"]
    columns = list(summary[0])
    columns_note = (
        "103 one-hot and numeric" if args.table == "onehot" else args.features
    )
    markdown = (
        f"# Medium table on a CPU ({args.table}: {args.rows} rows x {columns_note} "
        f"columns, 70/30 split, {args.repeats} repeat(s), median)\n\n"
        + _common.markdown_table(columns, summary)
    )
    return _common.write_results(
        "medium_table_onehot" if args.table == "onehot" else "medium_table",
        {
            "table": args.table,
            "rows": args.rows,
            "features": args.features,
            "repeats": args.repeats,
            "runs": runs,
            "summary": summary,
        },
        markdown,
        out=args.out,
        command=_common.command_line("medium_table", argv),
    )


if __name__ == "__main__":
    main()
