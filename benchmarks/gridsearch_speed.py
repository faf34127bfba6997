"""Small-data speed: a 20-candidate GridSearchCV on digits, and where the time goes.

scikit-learn users fit many small models. This script times
``GridSearchCV(Pipeline(StandardScaler, model), grid, cv=3, n_jobs=1)`` on the
digits training split (70/30 stratified, seed 0) for ``DeepStackClassifier``
and for ``MLPClassifier`` (20 candidates each: 5 network shapes x 2 learning
rates x 2 regularization strengths), then profiles a few deepstack fits with
cProfile and splits their time into: input checks, building + compiling the
network, tf.function tracing (graph building), compiled train / test steps,
per-epoch validation, callbacks, and prediction.

Run: ``.venv/bin/python benchmarks/gridsearch_speed.py [--quick]``
"""

import cProfile
import io
import os
import pstats
import sys

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

from deepstack import DeepStackClassifier  # noqa: E402

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


def deepstack_model(max_epochs):
    kwargs = {"random_state": 0}
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


def time_search(name, model, grid, X, y, X_test, y_test):
    gs = search(model, grid, X, y)
    _, seconds, cpu_seconds = _common.timed_cpu(gs.fit, X, y)
    n_candidates = len(gs.cv_results_["params"])
    best = gs.best_estimator_[-1]
    result = {
        "method": name,
        "candidates": n_candidates,
        "fits": 3 * n_candidates + 1,
        "wall_seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "seconds_per_fit": seconds / (3 * n_candidates + 1),
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
            ("estimators/_base.py", "_validate_training_data"),
            ("estimators/_base.py", "_split"),
        ],
    ),
    ("build + compile network", [("estimators/_base.py", "_build_model")]),
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
    p.add_argument("--methods", nargs="+", default=["deepstack", "mlp"])
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
        f"x 3 folds, max_epochs {cfg['max_epochs'] or 'default'}",
        flush=True,
    )
    searches = []
    if "deepstack" in args.methods:
        searches.append(
            time_search(
                "deepstack",
                deepstack_model(cfg["max_epochs"]),
                deepstack_grid,
                X,
                y,
                X_test,
                y_test,
            )
        )
        keras.backend.clear_session()
    if "mlp" in args.methods:
        searches.append(
            time_search(
                "sklearn MLP",
                mlp_model(cfg["max_epochs"]),
                mlp_grid,
                X,
                y,
                X_test,
                y_test,
            )
        )
    profile, profile_text = None, ""
    if not args.no_profile:
        print("profiling deepstack fits ...", flush=True)
        profile, profile_text = profile_fits(
            deepstack_grid, X, y, cfg["max_epochs"], cfg["profile_fits"]
        )
    columns = [
        "method",
        "candidates",
        "fits",
        "wall_seconds",
        "cpu_seconds",
        "seconds_per_fit",
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
        "(deepstack: early stopping; MLP: max_iter).\n\n"
        + _common.markdown_table(columns, searches)
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
    results = {"config": cfg, "searches": searches, "profile": profile}
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
