"""Memory: resident set size (RSS) growth over many consecutive fits in one process.

Each iteration fits a fresh tiny ``DeepStackClassifier`` (a few epochs on
digits), predicts with it, drops it and runs the garbage collector; RSS (psutil)
is read after every fit. Reported: RSS after fits 1, 10, 25 and 50, the growth
per fit (least-squares slope over the fits after the first checkpoint, when
imports and first-call caches have settled) and the number of live Keras
models. Variants, each in a fresh subprocess so they do not share caches:

* ``deepstack``: the estimator as a user calls it (its compile cache on, the
  default: the fits share one compiled network);
* ``deepstack, compile_cache off``: the same inside
  ``deepstack.compile_cache(enabled=False)`` (each fit builds and traces its
  own, as before the cache);
* ``keras``: the same network built, compiled and fitted with plain Keras
  (``keras.Model.fit``), nothing cleared: what Keras itself accumulates;
* ``keras + clear_session``: plain Keras with ``keras.backend.clear_session()``
  after each fit.

Run: ``.venv/bin/python benchmarks/memory.py [--quick]``
"""

import gc
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

VARIANTS = (
    "deepstack",
    "deepstack, compile_cache off",
    "keras",
    "keras + clear_session",
)


def _data(n_samples):
    import numpy as np
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:n_samples].astype(np.float32), y[:n_samples]


def _keras_fit(X, y, cfg, seed, clear):
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(X.shape[1],))
    x = inputs
    for units in cfg["hidden"]:
        x = keras.layers.Dense(units, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.Dropout(0.2, seed=seed)(x)
    outputs = keras.layers.Dense(int(y.max()) + 1, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, y, epochs=cfg["epochs"], batch_size=32, verbose=0)
    model.predict(X, verbose=0)
    del model
    if clear:
        keras.backend.clear_session()


def _deepstack_fit(X, y, cfg, seed):
    from deepstack import DeepStackClassifier

    clf = DeepStackClassifier(
        hidden_layer_sizes=cfg["hidden"],
        max_epochs=cfg["epochs"],
        random_state=seed,
    )
    clf.fit(X, y)
    clf.predict(X)
    del clf


def _live_keras_models():
    import keras

    return sum(1 for o in gc.get_objects() if isinstance(o, keras.Model))


def measure(variant, cfg):
    """Run ``cfg["fits"]`` fits of one variant in this process; RSS per fit."""
    import psutil

    _common.quiet_warnings()
    X, y = _data(cfg["n_samples"])
    process = psutil.Process()
    rss_before = process.memory_info().rss
    rss, seconds = [], []
    from deepstack import compile_cache

    cache = compile_cache(enabled=variant != "deepstack, compile_cache off")
    cache.__enter__()
    for i in range(cfg["fits"]):
        if variant.startswith("deepstack"):
            _, t = _common.timed(_deepstack_fit, X, y, cfg, i)
        else:
            clear = variant == "keras + clear_session"
            _, t = _common.timed(_keras_fit, X, y, cfg, i, clear)
        gc.collect()
        rss.append(process.memory_info().rss)
        seconds.append(t)
    cache.__exit__(None, None, None)
    return {
        "variant": variant,
        "rss_before_first_fit_mb": rss_before / 2**20,
        "rss_mb": [r / 2**20 for r in rss],
        "fit_seconds": seconds,
        "live_keras_models_after": _live_keras_models(),
    }


def _slope(xs, ys):
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def summarize(run, checkpoints):
    rss = run["rss_mb"]
    out = {
        "variant": run["variant"],
        "RSS before (MB)": run["rss_before_first_fit_mb"],
    }
    for c in checkpoints:
        if c <= len(rss):
            out[f"after fit {c} (MB)"] = rss[c - 1]
    # Skip the first fits (imports, first-call caches) when there are enough.
    start = checkpoints[1] if len(checkpoints) > 2 else 1
    xs = list(range(start, len(rss) + 1))
    out["growth per fit (MB)"] = _slope(xs, rss[start - 1 :])
    out[f"growth fits {start}->{len(rss)} (MB)"] = rss[-1] - rss[start - 1]
    out["median fit (s)"] = _common.median(run["fit_seconds"])
    out["live keras.Model after"] = run["live_keras_models_after"]
    return out


def _run_child(variant, cfg):
    """Measure one variant in a fresh interpreter; return its JSON result."""
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        variant,
        "--config",
        json.dumps(cfg),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(
        f"memory child for {variant!r} failed ({proc.returncode}):\n"
        + proc.stderr[-3000:]
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--fits", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--hidden", type=int, nargs="+", default=[32])
    p.add_argument("--n-samples", type=int, default=300)
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=None)
    p.add_argument(
        "--in-process",
        action="store_true",
        help="measure in this process instead of one subprocess per variant",
    )
    p.add_argument("--child", default=None, help=argparse_hidden())
    p.add_argument("--config", default=None, help=argparse_hidden())
    args = p.parse_args(argv)
    if args.child:
        result = measure(args.child, json.loads(args.config))
        print("RESULT " + json.dumps(result), flush=True)
        return result
    fits = args.fits or (20 if args.quick else 50)
    cfg = {
        "fits": fits,
        "epochs": args.epochs or (2 if args.quick else 3),
        "hidden": list(args.hidden),
        "n_samples": args.n_samples,
    }
    variants = args.variants or (
        ["deepstack", "deepstack, compile_cache off"] if args.quick else list(VARIANTS)
    )
    checkpoints = sorted({1, *(c for c in (10, 25, 50) if c < fits), fits})
    print(
        f"memory: {fits} fits per variant, network {cfg['hidden']}, "
        f"{cfg['epochs']} epochs, {cfg['n_samples']} digits rows",
        flush=True,
    )
    runs = []
    for variant in variants:
        run = measure(variant, cfg) if args.in_process else _run_child(variant, cfg)
        runs.append(run)
        print(
            f"  {variant}: RSS {run['rss_mb'][0]:.0f} -> {run['rss_mb'][-1]:.0f} MB",
            flush=True,
        )
    rows = [summarize(r, checkpoints) for r in runs]
    columns = list(rows[0])
    markdown = (
        "### Resident memory over consecutive fits\n\n"
        f"{fits} fits in one process per variant (fresh process each), network "
        f"{cfg['hidden']}, {cfg['epochs']} epochs on {cfg['n_samples']} digits "
        "rows, predict after each fit, then the estimator is dropped and "
        "`gc.collect()` runs. Growth per fit: least-squares slope of RSS after "
        f"fit {checkpoints[1] if len(checkpoints) > 2 else 1}.\n\n"
        + _common.markdown_table(columns, rows, digits=1)
    )
    results = {"config": cfg, "checkpoints": checkpoints, "summary": rows, "runs": runs}
    paths = _common.write_results(
        "memory",
        results,
        markdown,
        out=args.out,
        command=_common.command_line("memory", argv),
    )
    print(markdown)
    print("wrote", *paths)
    return results


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
