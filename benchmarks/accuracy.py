"""Accuracy and fit time: deepstack against scikit-learn's MLP and Keras's own wrapper.

Datasets: scikit-learn's digits and breast_cancer (classification, 70/30
stratified split, seed 0), diabetes (regression, 70/30 split, seed 0) and
mnist1d (generated procedurally by ``mnist1d.data.make_dataset``; its own
4000/1000 split; nothing is downloaded).

Methods, each as ``Pipeline(StandardScaler(), model)`` and one fit per seed:

* ``deepstack``: ``DeepStackClassifier()`` / ``DeepStackRegressor()`` with their
  defaults (2x256 ReLU, batch norm, dropout 0.2, Adam 1e-3, batch 32, early
  stopping with learning-rate halving) and ``random_state=seed``;
* ``sklearn MLP``: ``MLPClassifier`` / ``MLPRegressor`` with
  ``hidden_layer_sizes=(256, 256)``, otherwise scikit-learn's defaults;
* ``keras SKLearn*``: ``keras.wrappers.SKLearnClassifier`` /
  ``SKLearnRegressor`` around the same network and training protocol as
  deepstack's defaults, written in plain Keras (Keras ``EarlyStopping`` with
  restored weights and ``ReduceLROnPlateau`` on a 10 % validation split).

For regression the two baselines get standardized targets too
(``TransformedTargetRegressor``), as deepstack standardizes its targets.

Optional rows (added only when the installed deepstack has the feature, so the
script runs either way): ``--with-pretraining`` (``pretrain="autoencoder"``)
and ``--with-tuned`` (``DeepStackSearch`` around the default estimator).

Run: ``.venv/bin/python benchmarks/accuracy.py [--quick]``
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

_common.quiet_warnings()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import deepstack  # noqa: E402
from deepstack import DeepStackClassifier, DeepStackRegressor  # noqa: E402

DATASETS = ("digits", "breast_cancer", "diabetes", "mnist1d")
REGRESSION = {"diabetes"}


# ---------------------------------------------------------------------- data


def load(name, n_train=None):
    """``(X_train, X_test, y_train, y_test)`` for one dataset."""
    if name == "mnist1d":
        from mnist1d.data import get_dataset_args, make_dataset

        # Procedural generation (templates + random transforms); no download.
        data = make_dataset(get_dataset_args())
        split = data["x"], data["x_test"], data["y"], data["y_test"]
    else:
        loader = {
            "digits": load_digits,
            "breast_cancer": load_breast_cancer,
            "diabetes": load_diabetes,
        }[name]
        X, y = loader(return_X_y=True)
        stratify = None if name in REGRESSION else y
        split = train_test_split(X, y, test_size=0.3, stratify=stratify, random_state=0)
    X_train, X_test, y_train, y_test = split
    if n_train is not None:
        X_train, y_train = X_train[:n_train], y_train[:n_train]
    return (
        np.asarray(X_train, dtype=np.float32),
        np.asarray(X_test, dtype=np.float32),
        np.asarray(y_train),
        np.asarray(y_test),
    )


# ------------------------------------------------------------------- methods


def _keras_network(X, y, seed, n_outputs, output_activation, loss):
    """deepstack's default network, written with plain Keras layers."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(X.shape[1],))
    x = inputs
    for _ in range(2):
        x = keras.layers.Dense(256, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
        x = keras.layers.Dropout(0.2, seed=seed)(x)
    outputs = keras.layers.Dense(n_outputs, activation=output_activation)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=loss,
    )
    return model


def _keras_classifier_model(X, y, seed):
    # The wrapper one-hot encodes the labels.
    return _keras_network(X, y, seed, y.shape[1], "softmax", "categorical_crossentropy")


def _keras_regressor_model(X, y, seed):
    n_outputs = 1 if y.ndim == 1 else y.shape[1]
    return _keras_network(X, y, seed, n_outputs, None, "mse")


def _keras_fit_kwargs(max_epochs):
    return {
        "epochs": max_epochs,
        "batch_size": 32,
        "validation_split": 0.1,
        "verbose": 0,
        "callbacks": [
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=10,
                min_delta=1e-4,
                restore_best_weights=True,
            ),
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=5, min_delta=1e-4
            ),
        ],
    }


def _scaled_target(model):
    return TransformedTargetRegressor(regressor=model, transformer=StandardScaler())


def _keras_regressor(**params):
    """``keras.wrappers.SKLearnRegressor`` whose clone keeps ``fit_kwargs``.

    Keras 3.15's ``SKLBase.__sklearn_clone__`` drops ``fit_kwargs`` (so a
    clone, e.g. inside ``TransformedTargetRegressor``, trains for one epoch);
    this subclass clones with all parameters.
    """
    from keras.wrappers import SKLearnRegressor

    class KerasRegressor(SKLearnRegressor):
        def __sklearn_clone__(self):
            return type(self)(**self.get_params(deep=False))

    return KerasRegressor(**params)


def make_methods(regression, seed, cfg):
    """``{name: fitted-later Pipeline}`` for one dataset type and seed."""
    max_epochs = cfg["max_epochs"]
    ds_kwargs = {"random_state": seed}
    if max_epochs is not None:
        ds_kwargs["max_epochs"] = max_epochs
    mlp_kwargs = {"hidden_layer_sizes": (256, 256), "random_state": seed}
    if max_epochs is not None:
        mlp_kwargs["max_iter"] = max_epochs
    keras_epochs = max_epochs or 200
    if regression:
        methods = {
            "deepstack": DeepStackRegressor(**ds_kwargs),
            "sklearn MLP": _scaled_target(MLPRegressor(**mlp_kwargs)),
            "keras SKLearnRegressor": _scaled_target(
                _keras_regressor(
                    model=_keras_regressor_model,
                    model_kwargs={"seed": seed},
                    fit_kwargs=_keras_fit_kwargs(keras_epochs),
                )
            ),
        }
        estimator_cls = DeepStackRegressor
    else:
        from keras.wrappers import SKLearnClassifier

        methods = {
            "deepstack": DeepStackClassifier(**ds_kwargs),
            "sklearn MLP": MLPClassifier(**mlp_kwargs),
            "keras SKLearnClassifier": SKLearnClassifier(
                model=_keras_classifier_model,
                model_kwargs={"seed": seed},
                fit_kwargs=_keras_fit_kwargs(keras_epochs),
            ),
        }
        estimator_cls = DeepStackClassifier
    methods.update(optional_methods(estimator_cls, ds_kwargs, seed, cfg))
    return {name: make_pipeline(StandardScaler(), m) for name, m in methods.items()}


def optional_methods(estimator_cls, ds_kwargs, seed, cfg):
    """Rows for features that other parts of deepstack add ("with pretraining",
    "tuned"); each is present only when asked for and available."""
    methods = {}
    if cfg["with_pretraining"] and pretraining_available(estimator_cls):
        methods["deepstack + pretraining"] = estimator_cls(
            pretrain="autoencoder", **ds_kwargs
        )
    if cfg["with_tuned"] and tuning_available():
        methods["deepstack tuned"] = deepstack.DeepStackSearch(
            estimator_cls(**ds_kwargs),
            max_trials=cfg["tuned_trials"],
            random_state=seed,
        )
    return methods


def pretraining_available(estimator_cls=DeepStackClassifier):
    return "pretrain" in estimator_cls().get_params()


def tuning_available():
    return hasattr(deepstack, "DeepStackSearch")


# ---------------------------------------------------------------- benchmark


def run(cfg):
    records = []
    for dataset in cfg["datasets"]:
        X_train, X_test, y_train, y_test = load(dataset, cfg["n_train"])
        regression = dataset in REGRESSION
        print(
            f"{dataset}: train {X_train.shape}, test {X_test.shape}",
            flush=True,
        )
        for seed in cfg["seeds"]:
            for method, model in make_methods(regression, seed, cfg).items():
                if cfg["methods"] and method not in cfg["methods"]:
                    continue
                _, seconds = _common.timed(model.fit, X_train, y_train)
                score = float(model.score(X_test, y_test))
                records.append(
                    {
                        "dataset": dataset,
                        "task": "regression" if regression else "classification",
                        "metric": "r2" if regression else "accuracy",
                        "method": method,
                        "seed": seed,
                        "score": score,
                        "fit_seconds": seconds,
                        "epochs": _epochs_run(model[-1]),
                    }
                )
                print(
                    f"  seed {seed} {method:28s} score {score:.4f}  "
                    f"fit {seconds:7.2f}s  epochs {records[-1]['epochs']}",
                    flush=True,
                )
                keras.backend.clear_session()
    return records


def _epochs_run(model):
    model = getattr(model, "regressor_", model)
    if hasattr(model, "n_iter_"):
        return int(model.n_iter_)
    history = getattr(model, "history_", None)
    if history is not None and hasattr(history, "history"):
        return len(history.history.get("loss", []))
    return None


def summarize(records):
    rows = []
    keys = []
    for r in records:
        key = (r["dataset"], r["method"])
        if key not in keys:
            keys.append(key)
    for dataset, method in keys:
        rs = [r for r in records if r["dataset"] == dataset and r["method"] == method]
        score_mean, score_std = _common.mean_std([r["score"] for r in rs])
        time_mean, time_std = _common.mean_std([r["fit_seconds"] for r in rs])
        epochs = [r["epochs"] for r in rs if r["epochs"] is not None]
        rows.append(
            {
                "dataset": dataset,
                "metric": rs[0]["metric"],
                "method": method,
                "seeds": len(rs),
                "score_mean": score_mean,
                "score_std": score_std,
                "fit_seconds_mean": time_mean,
                "fit_seconds_std": time_std,
                "epochs_mean": float(np.mean(epochs)) if epochs else None,
            }
        )
    return rows


def to_markdown(rows, cfg, notes):
    table_rows = [
        {
            "dataset": r["dataset"],
            "method": r["method"],
            "test score": f"{r['score_mean']:.4f} ± {r['score_std']:.4f}",
            "metric": r["metric"],
            "fit time (s)": f"{r['fit_seconds_mean']:.2f} ± {r['fit_seconds_std']:.2f}",
            "epochs": None if r["epochs_mean"] is None else f"{r['epochs_mean']:.1f}",
            "seeds": r["seeds"],
        }
        for r in rows
    ]
    columns = ["dataset", "method", "test score", "metric", "fit time (s)", "epochs"]
    columns.append("seeds")
    text = (
        "### Accuracy and fit time\n\n"
        f"Mean ± standard deviation over seeds {list(cfg['seeds'])}; every model "
        "in a Pipeline after StandardScaler; digits / breast_cancer / diabetes "
        "split 70/30 (stratified for classification) with seed 0, mnist1d its "
        "own generated 4000/1000 split. Score: test accuracy (classification) "
        "or R² (regression).\n\n" + _common.markdown_table(columns, table_rows)
    )
    if notes:
        text += "\n\n" + "\n".join(f"- {n}" for n in notes)
    return text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--methods", nargs="+", default=None, help="only these rows")
    p.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="cap on epochs (deepstack max_epochs, MLP max_iter, Keras epochs)",
    )
    p.add_argument("--n-train", type=int, default=None, help="subsample training rows")
    p.add_argument("--with-pretraining", action="store_true")
    p.add_argument("--with-tuned", action="store_true")
    p.add_argument("--tuned-trials", type=int, default=10)
    p.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="write one table from the runs in these accuracy.json files "
        "(e.g. seeds run separately) instead of running",
    )
    args = p.parse_args(argv)
    cfg = {
        "datasets": args.datasets
        or (("digits", "breast_cancer", "diabetes") if args.quick else DATASETS),
        "seeds": args.seeds or ([0] if args.quick else [0, 1, 2, 3, 4]),
        "methods": args.methods,
        "max_epochs": args.max_epochs or (30 if args.quick else None),
        "n_train": args.n_train,
        "with_pretraining": args.with_pretraining,
        "with_tuned": args.with_tuned,
        "tuned_trials": args.tuned_trials,
    }
    notes = []
    if cfg["max_epochs"] is not None:
        notes.append(f"Epochs capped at {cfg['max_epochs']} for every method.")
    if args.with_pretraining and not (
        pretraining_available(DeepStackClassifier)
        and pretraining_available(DeepStackRegressor)
    ):
        notes.append("'with pretraining' rows skipped: no `pretrain` parameter yet.")
    if args.with_tuned and not tuning_available():
        notes.append("'tuned' rows skipped: deepstack has no DeepStackSearch yet.")
    for n in notes:
        print("note:", n)
    if args.merge:
        records = []
        for path in args.merge:
            with open(path) as handle:
                records += json.load(handle)["runs"]
        cfg["seeds"] = sorted({r["seed"] for r in records})
        cfg["merged_from"] = list(args.merge)
    else:
        # The Keras wrappers call model.predict with its default progress bar.
        keras.config.disable_interactive_logging()
        records = run(cfg)
    rows = summarize(records)
    markdown = to_markdown(rows, cfg, notes)
    results = {"config": cfg, "summary": rows, "runs": records, "notes": notes}
    paths = _common.write_results(
        "accuracy",
        results,
        markdown,
        out=args.out,
        command=_common.command_line("accuracy", argv),
    )
    print(markdown)
    print("wrote", *paths)
    return results


if __name__ == "__main__":
    main()
