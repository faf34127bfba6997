"""Small-data speed: a 20-candidate GridSearchCV on digits, and where the time goes.

scikit-learn users fit many small models. This script times
``GridSearchCV(Pipeline(StandardScaler, model), grid, cv=3, n_jobs=1)`` on the
digits training split (70/30 stratified, seed 0) for ``DeepStackClassifier``
(with its compile cache, the default, and with ``compile_cache(enabled=False)``)
and for ``MLPClassifier`` (20 candidates each: 5 network shapes x 2 learning
rates x 2 regularization strengths), one after the other in one process, then
profiles a few deepstack fits with cProfile and splits their time into: input
checks, building + compiling the network, tf.function tracing (graph
building), compiled train / test steps, per-epoch validation, callbacks, the
compile cache's bookkeeping, and prediction (``--methods deepstack_patience5
deepstack_tol1e2 deepstack_batch64`` add variants that train fewer epochs,
shorter patience or a larger ``tol``, or take fewer steps, batch 64). Last,
the first network shape's grid (4 candidates) runs again in two child
processes, one per Keras backend (TensorFlow, JAX), with and without the
cache: small fits on each backend. ``--jax-persistent-cache`` also runs the
whole deepstack grid on JAX twice, in child processes that share a new folder
for JAX's persistent compilation cache: the first compiles and writes it, the
second (a repeated search) reads it.

Run: ``.venv/bin/python benchmarks/gridsearch_speed.py [--quick]``
"""

import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

_common.quiet_warnings()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from deepstack import (  # noqa: E402
    DeepStackClassifier,
    _compile_cache,
    _trainer,
    compile_cache,
)

SHAPES = [(64,), (128,), (64, 64), (128, 128), (256, 256)]


def grids(n_shapes):
    shapes = SHAPES[:n_shapes]
    deepstack_grid = {
        "model__hidden_layer_sizes": shapes,
        "model__learning_rate": [1e-3, 3e-3],
        "model__dropout": [0.1, 0.2],
    }
    mlp_grid = {
        "model__hidden_layer_sizes": shapes,
        "model__learning_rate_init": [1e-3, 3e-3],
        "model__alpha": [1e-4, 1e-3],
    }
    return deepstack_grid, mlp_grid


def deepstack_model(max_epochs, **params):
    kwargs = {"random_state": 0, **params}
    if max_epochs is not None:
        kwargs["max_epochs"] = max_epochs
    return DeepStackClassifier(**kwargs)


def mlp_model(max_epochs):
    kwargs = {"random_state": 0}
    if max_epochs is not None:
        kwargs["max_iter"] = max_epochs
    return MLPClassifier(**kwargs)


def search(model, grid, X, y):
    pipe = Pipeline([("scale", StandardScaler()), ("model", model)])
    return GridSearchCV(pipe, grid, cv=3, n_jobs=1)


METHODS = {
    "deepstack": "deepstack",
    "deepstack_auto": "deepstack, batch_size=auto",
    # Fewer epochs, at a cost in cross-validated accuracy (issue 12, item 3;
    # benchmarks/results/estimator_defaults_speed_select*.md): not defaults.
    "deepstack_patience5": "deepstack, n_iter_no_change=5, lr_patience=3",
    "deepstack_tol1e2": "deepstack, tol=1e-2",
    "deepstack_batch64": "deepstack, batch_size=64",
    "deepstack_uncached": "deepstack, compile_cache off",
    "mlp": "sklearn MLP",
}

# Run only when named in --methods.
EXTRA_ONLY = ("deepstack_patience5", "deepstack_tol1e2", "deepstack_batch64")

# The deepstack variants' parameters (besides the default model's).
EXTRA_PARAMS = {
    "deepstack_auto": {"batch_size": "auto"},
    "deepstack_patience5": {"n_iter_no_change": 5, "lr_patience": 3},
    "deepstack_tol1e2": {"tol": 1e-2},
    "deepstack_batch64": {"batch_size": 64},
}


def time_search(name, model, grid, X, y, X_test, y_test, cache=True):
    gs = search(model, grid, X, y)
    traces, cache_before = _trainer.trace_count(), _compile_cache.info()
    with compile_cache(enabled=cache):
        _, seconds, cpu_seconds = _common.timed_cpu(gs.fit, X, y)
    cache_after = _compile_cache.info()
    n_candidates = len(gs.cv_results_["params"])
    best = gs.best_estimator_[-1]
    result = {
        "method": name,
        "candidates": n_candidates,
        "fits": 3 * n_candidates + 1,
        "wall_seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "seconds_per_fit": seconds / (3 * n_candidates + 1),
        "cpu_seconds_per_fit": cpu_seconds / (3 * n_candidates + 1),
        # Compiled epochs traced, and the compile cache's hits and misses
        # (0 for MLP; a fit that reuses a traced epoch is a hit).
        "traces": _trainer.trace_count() - traces,
        "cache_hits": cache_after["hits"] - cache_before["hits"],
        "cache_misses": cache_after["misses"] - cache_before["misses"],
        "mean_fit_seconds_cv": float(np.mean(gs.cv_results_["mean_fit_time"])),
        "mean_score_seconds_cv": float(np.mean(gs.cv_results_["mean_score_time"])),
        "best_cv_accuracy": float(gs.best_score_),
        "test_accuracy_best": float(gs.score(X_test, y_test)),
        "best_params": {k: str(v) for k, v in gs.best_params_.items()},
        "best_epochs": int(getattr(best, "n_iter_", 0)),
    }
    print(
        f"  {name}: {n_candidates} candidates x 3 folds in {seconds:.1f}s "
        f"(best cv {result['best_cv_accuracy']:.4f}, test "
        f"{result['test_accuracy_best']:.4f})",
        flush=True,
    )
    return result


# ----------------------------------------------------------------- profiling

# (label, predicate on (filename, function name)); the cumulative time of the
# matching functions is summed, so each label lists functions that never call
# each other.
_CATEGORIES = [
    ("deepstack fit (total)", [("estimators/_base.py", "fit")]),
    (
        "input checks + validation split",
        [
            ("estimators/_preparation.py", "_validate_training_data"),
            ("estimators/_preparation.py", "_split"),
        ],
    ),
    ("build + compile network", [("estimators/_preparation.py", "_build_model")]),
    ("keras Model.fit (when used)", [("trainer.py", "fit")]),
    ("fused epoch loop (TensorFlow)", [("deepstack/_trainer.py", "fit_epochs")]),
    (
        "tf.function tracing (graph building)",
        [("tracing_compilation.py", "trace_function")],
    ),
    (
        "compiled train / test steps (execution)",
        [("tracing_compilation.py", "call_function")],
    ),
    (
        "per-epoch validation outside the compiled epoch",
        [("trainer.py", "evaluate"), ("callbacks/_validation.py", "on_epoch_end")],
    ),
    (
        "callbacks (epoch + batch hooks, validation pass included)",
        [
            ("callback_list.py", "on_epoch_begin"),
            ("callback_list.py", "on_epoch_end"),
            ("callback_list.py", "on_train_batch_begin"),
            ("callback_list.py", "on_train_batch_end"),
            ("callback_list.py", "on_train_begin"),
            ("callback_list.py", "on_train_end"),
        ],
    ),
    (
        "compile cache (key, state copies)",
        [("_compile_cache.py", "key"), ("_compile_cache.py", "copy_state")],
    ),
    ("predict / score", [("estimators/_base.py", "_predict_raw")]),
]


def _cumulative(stats, rules):
    total = 0.0
    for (filename, _, funcname), (_, _, _, ct, _) in stats.stats.items():
        for suffix, name in rules:
            if funcname == name and filename.replace(os.sep, "/").endswith(suffix):
                total += ct
    return total


def profile_fits(grid, X, y, max_epochs, n_profiled):
    """cProfile ``n_profiled`` grid fits (3-fold CV of the first candidates)."""
    first = {k: v[:1] for k, v in grid.items()}
    first["model__dropout"] = grid["model__dropout"][: max(1, n_profiled // 3)]
    gs = search(deepstack_model(max_epochs), first, X, y)
    gs.refit = False
    profiler = cProfile.Profile()
    profiler.enable()
    gs.fit(X, y)
    profiler.disable()
    n_fits = 3 * len(gs.cv_results_["params"])
    stats = pstats.Stats(profiler)
    fit_total = _cumulative(stats, _CATEGORIES[0][1])
    rows = []
    values = {label: _cumulative(stats, rules) for label, rules in _CATEGORIES}
    for label, seconds in values.items():
        rows.append(
            {
                "part": label,
                "seconds (all profiled fits)": seconds,
                "seconds per fit": seconds / n_fits,
                "% of deepstack fit": 100.0 * seconds / fit_total
                if fit_total
                else None,
            }
        )
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    return {"n_fits": n_fits, "parts": rows}, text.getvalue()


def compare_backends(args):
    """The first shape's grid, cached and not, in a child process per backend."""
    rows = []
    for backend in ("tensorflow", "jax"):
        print(f"small fits on {backend} ...", flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend)
        searches = _child_searches(
            args, ["deepstack", "deepstack_uncached"], env, shapes=1
        )
        rows += [{"backend": backend, **row} for row in searches]
    return rows


def _child_searches(args, methods, env, shapes=None):
    """The searches of this script run in a child process with ``env`` for
    ``methods``, this run's sizes (``shapes``: that many network shapes
    instead of this run's), no profile and no child processes of its own."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, os.path.abspath(__file__), "--no-profile"]
        command += ["--no-backends", "--methods", *methods, "--out", out]
        if args.quick:
            command.append("--quick")
        sizes = {"shapes": shapes or args.shapes}
        sizes |= {"max_epochs": args.max_epochs, "n_samples": args.n_samples}
        for option, value in sizes.items():
            if value:
                command += ["--" + option.replace("_", "-"), str(value)]
        subprocess.run(command, env=env, check=True, capture_output=True)
        with open(os.path.join(out, "gridsearch_speed.json")) as handle:
            return json.load(handle)["searches"]


def jax_persistent_cache(args):
    """The deepstack grid on JAX in two child processes, one after the other,
    sharing a new folder for JAX's persistent compilation cache: the first
    compiles and writes it, the second reads it."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(
            os.environ,
            KERAS_BACKEND="jax",
            JAX_COMPILATION_CACHE_DIR=cache,
            # Every compilation, the many small ones of eager operations too.
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
        for run in ("cold (compiles, writes the cache)", "warm (reads it)"):
            print(f"JAX with a persistent compilation cache, {run} ...", flush=True)
            (row,) = _child_searches(args, ["deepstack"], env)
            row["method"] = f"deepstack, JAX, {run}"
            files = [os.path.join(cache, name) for name in os.listdir(cache)]
            row["cache_entries"] = len(files)
            row["cache_megabytes"] = sum(map(os.path.getsize, files)) / 1e6
            rows.append(row)
    return rows


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--shapes", type=int, default=None, help="network shapes (x4 candidates)"
    )
    p.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="deepstack max_epochs and MLP max_iter (default: each one's default)",
    )
    p.add_argument("--n-samples", type=int, default=None, help="subsample digits")
    p.add_argument("--profile-fits", type=int, default=None)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=[m for m in METHODS if m not in EXTRA_ONLY],
    )
    p.add_argument(
        "--no-backends",
        action="store_true",
        help="skip the TensorFlow / JAX comparison in child processes",
    )
    p.add_argument(
        "--jax-persistent-cache",
        action="store_true",
        help="also run the deepstack grid on JAX twice in child processes that "
        "share a persistent compilation cache (cold, then warm)",
    )
    args = p.parse_args(argv)
    cfg = {
        "shapes": args.shapes or (1 if args.quick else 5),
        "max_epochs": args.max_epochs or (10 if args.quick else None),
        "profile_fits": args.profile_fits or (3 if args.quick else 6),
    }
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    if args.n_samples:
        X, y = X[: args.n_samples], y[: args.n_samples]
    X, X_test, y, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    deepstack_grid, mlp_grid = grids(cfg["shapes"])
    print(
        f"gridsearch_speed: digits train {X.shape}, {4 * cfg['shapes']} candidates "
        f"x 3 folds, max_epochs {cfg['max_epochs'] or 'default'}, "
        f"{keras.backend.backend()} backend",
        flush=True,
    )
    searches = []
    for method in args.methods:
        if method == "mlp":
            model, grid = mlp_model(cfg["max_epochs"]), mlp_grid
        elif method in EXTRA_PARAMS:
            model = deepstack_model(cfg["max_epochs"], **EXTRA_PARAMS[method])
            grid = deepstack_grid
        else:
            model, grid = deepstack_model(cfg["max_epochs"]), deepstack_grid
        searches.append(
            time_search(
                METHODS[method],
                model,
                grid,
                X,
                y,
                X_test,
                y_test,
                cache=method != "deepstack_uncached",
            )
        )
        keras.backend.clear_session()
    if args.jax_persistent_cache:
        searches += jax_persistent_cache(args)
    mlp = [r for r in searches if r["method"] == METHODS["mlp"]]
    for row in searches:
        row["x_mlp_wall"] = (
            row["wall_seconds"] / mlp[0]["wall_seconds"] if mlp else None
        )
    profile, profile_text = None, ""
    if not args.no_profile:
        print("profiling deepstack fits ...", flush=True)
        profile, profile_text = profile_fits(
            deepstack_grid, X, y, cfg["max_epochs"], cfg["profile_fits"]
        )
    backends = []
    if not args.no_backends:
        backends = compare_backends(args)
    columns = [
        "method",
        "candidates",
        "fits",
        "wall_seconds",
        "cpu_seconds",
        "seconds_per_fit",
        "cpu_seconds_per_fit",
        "x_mlp_wall",
        "traces",
        "best_cv_accuracy",
        "test_accuracy_best",
        "best_epochs",
    ]
    markdown = (
        "### GridSearchCV speed on digits\n\n"
        f"GridSearchCV(Pipeline(StandardScaler, model), cv=3, n_jobs=1) over "
        f"{4 * cfg['shapes']} candidates on the digits training split "
        f"({X.shape[0]} rows); wall time includes the refit of the best "
        f"candidate. Epoch cap: {cfg['max_epochs'] or 'each estimator default'} "
        "(deepstack: early stopping; MLP: max_iter). The searches ran one after "
        "the other in this process; x_mlp_wall: wall time over MLP's."
        + (
            " The JAX rows ran in two child processes, one after the other, "
            "sharing a new folder for JAX's persistent compilation cache "
            "(JAX_COMPILATION_CACHE_DIR, with "
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 and "
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0): the first compiles "
            "and writes it, the second reads it; cache_entries, cache_megabytes: "
            "its files and their size after each."
            if args.jax_persistent_cache
            else ""
        )
        + "\n\n"
        + _common.markdown_table(
            columns + ["cache_entries", "cache_megabytes"] * args.jax_persistent_cache,
            searches,
        )
    )
    if backends:
        markdown += (
            "\n\n### Small fits on each Keras backend\n\n"
            f"The first shape's grid ({SHAPES[0]}, 4 candidates x 3 folds + "
            "refit) in a child process per backend, with and without the "
            "compile cache. With JAX, folds of different row counts each "
            "compile their own epoch (jax.jit specializes on shapes); the cache "
            "reuses the network and the jitted function.\n\n"
            + _common.markdown_table(
                ["backend", "method", "fits", "wall_seconds", "seconds_per_fit"],
                backends,
            )
        )
    if profile is not None:
        markdown += (
            "\n\n### Where a deepstack fit spends its time\n\n"
            f"cProfile over {profile['n_fits']} cross-validation fits (cumulative "
            "seconds; rows overlap: tracing and compiled execution, which "
            "includes the validation pass of the fused loop, are inside the "
            "fused epoch loop or Model.fit).\n\n"
            + _common.markdown_table(
                list(profile["parts"][0]), profile["parts"], digits=2
            )
        )
    results = {
        "config": cfg,
        "searches": searches,
        "profile": profile,
        "backends": backends,
    }
    paths = _common.write_results(
        "gridsearch_speed",
        results,
        markdown,
        out=args.out,
        command=_common.command_line("gridsearch_speed", argv),
    )
    if profile_text:
        with open(os.path.join(args.out, "gridsearch_speed_profile.txt"), "w") as fh:
            fh.write(profile_text)
    print(markdown)
    print("wrote", *paths)
    return results


if __name__ == "__main__":
    main()
