"""Wrapper overhead: DeepStackClassifier.fit against keras.Model.fit, same work.

Both sides train the same network (standardizing Normalization layer, Dense
without bias -> BatchNormalization -> ReLU -> Dropout per hidden layer, softmax
output), with the same optimizer (Adam), loss, metric, batch size, number of
epochs and shuffling, on the same data; deepstack runs with
``lr_schedule="constant"``. Two variants:

* ``no_validation``: ``early_stopping=False`` (no validation split) against
  ``model.fit`` without validation data;
* ``validation``: deepstack's internal 10 % validation split with early stopping
  that never fires (``n_iter_no_change`` larger than the epochs, best weights
  kept) against ``model.fit(validation_data=...)`` with Keras's ``EarlyStopping``
  doing the same.

Runs alternate (raw, deepstack, deepstack, raw, ...) in one process after one
warm-up of each; the reported ratios are medians over the timed runs. Fit
time includes building and compiling the network on both sides. Prediction
compares ``clf.predict`` with ``model.predict`` (the usual raw Keras call)
and with a direct ``model(X, training=False)`` call.

Run: ``.venv/bin/python benchmarks/overhead.py [--quick]``
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

_common.quiet_warnings()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from deepstack import DeepStackClassifier  # noqa: E402

TARGET_RATIO = 1.10


def raw_network(X, n_classes, hidden, dropout, seed, steps_per_execution=1):
    """The network deepstack builds, written with plain Keras layers."""
    keras.utils.set_random_seed(seed)
    mean = X.mean(axis=0)
    variance = X.var(axis=0)
    variance[variance <= np.finfo(np.float32).tiny] = 1.0
    inputs = keras.Input(shape=(X.shape[1],))
    x = keras.layers.Normalization(mean=mean, variance=variance)(inputs)
    for units in hidden:
        x = keras.layers.Dense(units, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, seed=seed)(x)
    x = keras.layers.Dense(n_classes)(x)
    outputs = keras.layers.Activation("softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def fit_raw(X, y, cfg, seed, validation):
    model = raw_network(
        X,
        int(y.max()) + 1,
        cfg["hidden"],
        cfg["dropout"],
        seed,
        cfg["keras_steps_per_execution"],
    )
    kwargs = {}
    if validation:
        n_val = math.ceil(0.1 * X.shape[0])
        X, Xv, y, yv = train_test_split(
            X, y, test_size=n_val, random_state=seed, stratify=y
        )
        kwargs["validation_data"] = (Xv, yv)
        kwargs["callbacks"] = [
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=cfg["epochs"] + 1,
                min_delta=1e-4,
                restore_best_weights=True,
            )
        ]
    model.fit(
        X,
        y,
        batch_size=cfg["batch_size"],
        epochs=cfg["epochs"],
        shuffle=True,
        verbose=0,
        **kwargs,
    )
    return model


def fit_deepstack(X, y, cfg, seed, validation):
    clf = DeepStackClassifier(
        hidden_layer_sizes=cfg["hidden"],
        dropout=cfg["dropout"],
        batch_norm=True,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=cfg["batch_size"],
        max_epochs=cfg["epochs"],
        early_stopping=validation,
        validation_fraction=0.1,
        n_iter_no_change=cfg["epochs"] + 1,
        lr_schedule="constant",
        random_state=seed,
    )
    return clf.fit(X, y)


def predict_times(clf, model, X, repeats):
    """Median seconds of clf.predict, model.predict and model(X)."""
    out = {"deepstack": [], "keras_predict": [], "keras_call": []}
    for _ in range(repeats):
        _, t = _common.timed(clf.predict, X)
        out["deepstack"].append(t)
        _, t = _common.timed(lambda: np.argmax(model.predict(X, verbose=0), axis=1))
        out["keras_predict"].append(t)
        _, t = _common.timed(
            lambda: np.argmax(
                keras.ops.convert_to_numpy(model(X, training=False)), axis=1
            )
        )
        out["keras_call"].append(t)
    return {k: _common.median(v) for k, v in out.items()}


def run_variant(X, y, X_test, y_test, cfg, validation):
    fit_raw(X, y, cfg, 0, validation)  # warm-up: first-call costs of both paths
    fit_deepstack(X, y, cfg, 0, validation)
    raw_t, ds_t, raw_acc, ds_acc, ratios = [], [], [], [], []
    raw_cpu, ds_cpu, cpu_ratios = [], [], []
    predict = []
    for i in range(cfg["repeats"]):
        seed = i + 1
        order = ("raw", "ds") if i % 2 == 0 else ("ds", "raw")
        times, cpu = {}, {}
        for side in order:
            if side == "raw":
                model, times["raw"], cpu["raw"] = _common.timed_cpu(
                    fit_raw, X, y, cfg, seed, validation
                )
            else:
                clf, times["ds"], cpu["ds"] = _common.timed_cpu(
                    fit_deepstack, X, y, cfg, seed, validation
                )
        raw_t.append(times["raw"])
        ds_t.append(times["ds"])
        ratios.append(times["ds"] / times["raw"])
        raw_cpu.append(cpu["raw"])
        ds_cpu.append(cpu["ds"])
        cpu_ratios.append(cpu["ds"] / cpu["raw"])
        raw_pred = np.argmax(model.predict(X_test, verbose=0), axis=1)
        raw_acc.append(float(np.mean(raw_pred == y_test)))
        ds_acc.append(float(clf.score(X_test, y_test)))
        predict.append(predict_times(clf, model, X_test, cfg["predict_repeats"]))
        print(
            f"  [{'val' if validation else 'no val'}] run {i + 1}/{cfg['repeats']}: "
            f"keras {times['raw']:.2f}s  deepstack {times['ds']:.2f}s  "
            f"ratio {ratios[-1]:.3f} (CPU {cpu['raw']:.2f}s / {cpu['ds']:.2f}s, "
            f"ratio {cpu_ratios[-1]:.3f})",
            flush=True,
        )
    pred = {k: [p[k] for p in predict] for k in predict[0]}
    return {
        "fit_seconds_keras": raw_t,
        "fit_seconds_deepstack": ds_t,
        "fit_ratio_per_run": ratios,
        "fit_ratio_median": _common.median(ratios),
        "fit_seconds_keras_median": _common.median(raw_t),
        "fit_seconds_deepstack_median": _common.median(ds_t),
        "fit_cpu_seconds_keras": raw_cpu,
        "fit_cpu_seconds_deepstack": ds_cpu,
        "fit_cpu_ratio_per_run": cpu_ratios,
        "fit_cpu_ratio_median": _common.median(cpu_ratios),
        "predict_seconds_deepstack_median": _common.median(pred["deepstack"]),
        "predict_seconds_keras_predict_median": _common.median(pred["keras_predict"]),
        "predict_seconds_keras_call_median": _common.median(pred["keras_call"]),
        "predict_ratio_vs_model_predict_median": _common.median(
            [d / k for d, k in zip(pred["deepstack"], pred["keras_predict"])]
        ),
        "predict_ratio_vs_model_call_median": _common.median(
            [d / k for d, k in zip(pred["deepstack"], pred["keras_call"])]
        ),
        "test_accuracy_keras_mean": _common.mean_std(raw_acc)[0],
        "test_accuracy_deepstack_mean": _common.mean_std(ds_acc)[0],
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None, help="timed runs per side")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--keras-steps-per-execution",
        type=int,
        default=1,
        help="steps_per_execution of the raw Keras side (default 1: plain fit)",
    )
    p.add_argument("--n-samples", type=int, default=None, help="subsample digits")
    p.add_argument(
        "--variants",
        nargs="+",
        default=["no_validation", "validation"],
        choices=["no_validation", "validation"],
    )
    args = p.parse_args(argv)
    cfg = {
        "hidden": tuple(args.hidden),
        "dropout": 0.2,
        "batch_size": args.batch_size,
        "epochs": args.epochs or (5 if args.quick else 20),
        "repeats": args.repeats or (3 if args.quick else 7),
        "predict_repeats": 5,
        "keras_steps_per_execution": args.keras_steps_per_execution,
    }
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    if args.n_samples:
        X, y = X[: args.n_samples], y[: args.n_samples]
    X, X_test, y, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    print(
        f"overhead: digits {X.shape}, network {cfg['hidden']}, "
        f"{cfg['epochs']} epochs, batch {cfg['batch_size']}, "
        f"{cfg['repeats']} timed runs per side",
        flush=True,
    )
    variants = {}
    for name in args.variants:
        variants[name] = run_variant(
            X, y, X_test, y_test, cfg, validation=name == "validation"
        )
    rows = []
    for name, v in variants.items():
        rows.append(
            {
                "variant": name,
                "keras fit (s)": v["fit_seconds_keras_median"],
                "deepstack fit (s)": v["fit_seconds_deepstack_median"],
                "fit ratio (wall)": v["fit_ratio_median"],
                "fit ratio (CPU)": v["fit_cpu_ratio_median"],
                "model.predict (ms)": 1e3 * v["predict_seconds_keras_predict_median"],
                "model(X) (ms)": 1e3 * v["predict_seconds_keras_call_median"],
                "deepstack predict (ms)": 1e3 * v["predict_seconds_deepstack_median"],
                "predict ratio vs model.predict": v[
                    "predict_ratio_vs_model_predict_median"
                ],
                "predict ratio vs model(X)": v["predict_ratio_vs_model_call_median"],
            }
        )
    columns = list(rows[0])
    markdown = (
        "### Overhead of DeepStackClassifier against raw Keras\n\n"
        f"Digits ({X.shape[0]} train / {X_test.shape[0]} test rows), network "
        f"{'x'.join(map(str, cfg['hidden']))} with batch norm and dropout "
        f"{cfg['dropout']}, Adam 1e-3, {cfg['epochs']} epochs, batch "
        f"{cfg['batch_size']}; medians over {cfg['repeats']} alternating runs "
        f"per side (fit time includes building and compiling; CPU: process "
        f"time of all threads, steadier on a shared machine). Raw Keras "
        f"steps_per_execution: {cfg['keras_steps_per_execution']}. Target fit "
        f"ratio: at most {TARGET_RATIO:.2f}.\n\n"
        + _common.markdown_table(columns, rows)
    )
    results = {"config": cfg, "target_fit_ratio": TARGET_RATIO, "variants": variants}
    paths = _common.write_results(
        "overhead",
        results,
        markdown,
        out=args.out,
        command=_common.command_line("overhead", argv),
    )
    print(markdown)
    print("wrote", *paths)
    return results


if __name__ == "__main__":
    main()
