"""What one training step of a small fit costs on a CPU, and where it goes.

A grid search on digits runs thousands of 32-row steps of a 64-256-256-10
network. This script measures the cost of one such step inside
``DeepStackClassifier.fit`` (the fused epoch loop) for the default network
and for variants that each remove one part of the step: batch normalization,
dropout, all regularization, Adam (for SGD), and a tiny network (the fixed
cost of a step). A step's cost is taken from two fits that differ only in
their number of epochs (early stopping off, the compile cache warm), so the
per-fit costs (building, tracing, the final evaluation) cancel:
``(t(long) - t(short)) / (steps of the extra epochs)``. On TensorFlow it also
times the step's matrix products alone (the same three forward and five
backward products in a ``tf.while_loop``), the arithmetic floor.

Run it once per backend, e.g. with one thread per process:

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \\
        .venv/bin/python benchmarks/step_cost.py
    KERAS_BACKEND=jax .venv/bin/python benchmarks/step_cost.py --name step_cost_jax
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

VARIANTS = {
    "default": {},
    "no batch norm": {"batch_norm": False},
    "no dropout": {"dropout": 0.0, "input_dropout": 0.0},
    "no batch norm, dropout or L2": {
        "batch_norm": False,
        "dropout": 0.0,
        "input_dropout": 0.0,
        "l2": 0.0,
    },
    "SGD with momentum": {"optimizer": "sgd"},
    "tiny (16,), SGD, no regularization": {
        "hidden_layer_sizes": (16,),
        "batch_norm": False,
        "dropout": 0.0,
        "input_dropout": 0.0,
        "l2": 0.0,
        "optimizer": "sgd",
    },
}


def _data(n_samples):
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype("float32")
    return X[:n_samples], y[:n_samples]


def _fit_seconds(params, X, y, epochs, repeats):
    from deepstack import DeepStackClassifier

    def make():
        return DeepStackClassifier(
            random_state=0, max_epochs=epochs, n_iter_no_change=10_000, **params
        )

    make().fit(X, y)  # warm the compile cache for this configuration
    times = [_common.timed(make().fit, X, y)[1] for _ in range(repeats)]
    return min(times)


def _matmul_floor(batch_size, steps):
    """ms per step of the default network's eight matrix products alone."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def tensor(*shape):
        return tf.constant(rng.standard_normal(shape).astype("float32"))

    x, w1 = tensor(batch_size, 64), tensor(64, 256)
    w2, w3 = tensor(256, 256), tensor(256, 10)

    @tf.function(autograph=False)
    def run(n):
        def body(i, total):
            h1 = x @ w1
            h2 = h1 @ w2
            out = h2 @ w3
            d2 = out @ tf.transpose(w3)
            d1 = d2 @ tf.transpose(w2)
            grads = (
                tf.transpose(h2) @ out,
                tf.transpose(h1) @ d2,
                tf.transpose(x) @ d1,
            )
            return i + 1, total + sum(tf.reduce_sum(g) for g in grads)

        return tf.while_loop(lambda i, t: i < n, body, (0, 0.0))

    run(tf.constant(10))
    _, seconds = _common.timed(run, tf.constant(steps))
    return 1000 * seconds / steps


def main(argv=None):
    import keras

    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=None)
    p.add_argument("--n-samples", type=int, default=1257)
    p.add_argument("--short-epochs", type=int, default=10)
    p.add_argument("--long-epochs", type=int, default=60)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--name", default="step_cost")
    args = p.parse_args(argv)
    if args.quick:
        args.short_epochs, args.long_epochs, args.repeats = 1, 2, 1
    names = args.variants or list(VARIANTS)
    _common.quiet_warnings()
    X, y = _data(args.n_samples)
    batch_size = 32
    # The estimator holds out 10% of the rows for early stopping's
    # validation; the steps are over the other 90%.
    from deepstack._split import n_validation

    fitting_rows = X.shape[0] - n_validation(X.shape[0], 0.1)
    steps_per_epoch = -(-fitting_rows // batch_size)
    extra_steps = steps_per_epoch * (args.long_epochs - args.short_epochs)
    rows = []
    for name in names:
        params = VARIANTS[name]
        short = _fit_seconds(params, X, y, args.short_epochs, args.repeats)
        long = _fit_seconds(params, X, y, args.long_epochs, args.repeats)
        ms = 1000 * (long - short) / extra_steps
        rows.append(
            {
                "variant": name,
                "ms_per_step": ms,
                "short_fit_s": short,
                "long_fit_s": long,
            }
        )
        print(f"  {name}: {ms:.3f} ms per step", flush=True)
    floor = None
    if keras.backend.backend() == "tensorflow":
        floor = _matmul_floor(batch_size, 200 if args.quick else 2000)
        rows.append(
            {"variant": "matrix products alone (tf.while_loop)", "ms_per_step": floor}
        )
    default = next((r["ms_per_step"] for r in rows if r["variant"] == "default"), None)
    for row in rows:
        row["x_default"] = None if default is None else row["ms_per_step"] / default
    markdown = (
        f"### Cost of one training step ({keras.backend.backend()} backend)\n\n"
        f"digits ({X.shape[0]} rows x 64; {fitting_rows} fitting rows, "
        f"{steps_per_epoch} steps of {batch_size} an epoch), "
        f"`DeepStackClassifier(random_state=0, n_iter_no_change=10000, ...)`; "
        f"ms_per_step = (fit of {args.long_epochs} epochs - fit of "
        f"{args.short_epochs}) / {extra_steps} steps, best of {args.repeats} "
        "fits each after a warm-up fit.\n\n"
        + _common.markdown_table(
            ["variant", "ms_per_step", "x_default", "short_fit_s", "long_fit_s"],
            rows,
        )
        + "\n"
    )
    _common.publish(
        "step_cost",
        args.name,
        {
            "batch_size": batch_size,
            "steps_per_epoch": steps_per_epoch,
            "short_epochs": args.short_epochs,
            "long_epochs": args.long_epochs,
            "repeats": args.repeats,
            "rows": rows,
        },
        markdown,
        args.out,
        argv,
    )
    return rows


if __name__ == "__main__":
    main()
