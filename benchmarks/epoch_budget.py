"""Epoch budgets: what capping the default classifier's epochs would cost.

Issue 12 asks for the default fit within 2x of ``MLPClassifier``'s wall time
on a medium table and in a grid search on digits. On the medium table an
epoch of deepstack's fused loop takes 1.2x the MLP's time and most of the gap
was epochs (66 against 15 before the large-table patience,
``benchmarks/results/medium_table_fixed_patience/medium_table.md``): the
default trained until the validation loss stopped improving for 10 epochs.
This script measures the
lever left,
a budget on the epochs (``max_epochs``, fixed or following the rows), on the
rows that choose defaults: for each dataset and seed, the 75/25 inner split of
the training rows that ``benchmarks/estimator_defaults.py`` selects on (test
rows are never read). It is an evaluation: it changes no default.

For each dataset and seed: the default ``DeepStackClassifier`` (behind
``StandardScaler``), then the same with each budget's ``max_epochs``, scored
on the inner validation rows, after a 1-epoch warm-up fit of the same shapes
(the compile cache then serves every timed fit alike, so no time includes
graph tracing). A budget that the default's early stopping
already met (the default stopped within it) is the default's fit itself, not
refitted: capping the epochs changes nothing before the cap.

Budgets: fixed caps (``--epochs``, default 10 20 50) and sample budgets
(``--samples``: the cap is ``ceil(samples / fitting rows)``, the rows the
network trains on after its early-stopping split). Reference:
``MLPClassifier((256, 256), early_stopping=True)`` on the same rows.
Datasets: those of ``estimator_defaults.py`` (``classes26_20k`` and
``onehot_30k`` are the large-table round's, the issue's sizes) and
``medium``, the 21,000 training rows of ``benchmarks/medium_table.py``'s
dense table (split 75/25 like the others).

    .venv/bin/python benchmarks/epoch_budget.py
    .venv/bin/python benchmarks/epoch_budget.py --datasets digits medium \\
        --seeds 0 --epochs 20 --samples 500000

Every run also reports the time to the MLP's accuracy: for each seed, the
cheapest of its fits (a budget or the default) that scored at least the MLP's
accuracy on the same rows, and that fit's wall time as a multiple of the
MLP's. ``--summarize`` computes both tables again from an earlier run's JSON
file, without fitting anything:

    .venv/bin/python benchmarks/epoch_budget.py \\
        --summarize benchmarks/results/epoch_budget.json \\
        --name epoch_budget_time_to_mlp
"""

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

DATASETS = (
    "digits",
    "mnist1d",
    "onehot",
    "classes26",
    "onehot_30k",
    "classes26_20k",
    "medium",
)
BASELINE = "MLPClassifier((256, 256), early_stopping=True)"


def load(name, seed):
    """The inner split ``(X_fit, X_val, y_fit, y_val)``, standardized."""
    import estimator_defaults
    import medium_table

    if name == "medium":
        # medium_table standardizes the table itself; its split is fixed.
        X_train, _, y_train, _ = medium_table.table(30_000, 100)
    else:
        X_train, _, y_train, _, _ = estimator_defaults.load(name, seed)
    return _common.standardized(
        *estimator_defaults.inner_split(X_train, y_train, "classification", seed)
    )


def _scored(model, X_fit, X_val, y_fit, y_val):
    """Fit ``model``; its wall time, epochs and validation accuracy."""
    _, seconds = _common.timed(model.fit, X_fit, y_fit)
    return {
        "seconds": seconds,
        "epochs": int(model.n_iter_),
        "accuracy": float(model.score(X_val, y_val)),
    }


def fit_default(X_fit, X_val, y_fit, y_val, seed, max_epochs=None):
    from deepstack import DeepStackClassifier

    extra = {} if max_epochs is None else {"max_epochs": max_epochs}
    model = DeepStackClassifier(random_state=seed, **extra)
    result = _scored(model, X_fit, X_val, y_fit, y_val)
    result["batch_size"] = int(model._batch_size(_common.training_rows(len(y_fit))))
    return result


def fit_mlp(X_fit, X_val, y_fit, y_val, seed):
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier((256, 256), early_stopping=True, random_state=seed)
    return _scored(model, X_fit, X_val, y_fit, y_val)


def _triple(fit):
    """``(epochs, accuracy, seconds)`` of a fit, as the records keep budgets."""
    return fit["epochs"], fit["accuracy"], fit["seconds"]


def run(args):
    records = []
    for name in args.datasets:
        for seed in args.seeds:
            X_fit, X_val, y_fit, y_val = load(name, seed)
            # Trace this shape's graphs once: the compile cache then serves
            # every timed fit alike, the first one included.
            fit_default(X_fit, X_val, y_fit, y_val, seed, 1)
            default = fit_default(X_fit, X_val, y_fit, y_val, seed, args.max_epochs)
            mlp = fit_mlp(X_fit, X_val, y_fit, y_val, seed)
            n_rows = _common.training_rows(len(y_fit))
            record = {
                "dataset": name,
                "seed": seed,
                "fit_rows": int(X_fit.shape[0]),
                "train_rows": n_rows,
                "default": default,
                "mlp": mlp,
                "budgets": {},
            }
            fits = {}
            budgets = [(f"{cap} epochs", cap) for cap in args.epochs]
            budgets += [
                (f"{n:g} samples", max(1, math.ceil(n / n_rows))) for n in args.samples
            ]
            limit = args.max_epochs or 200
            stopped = default["epochs"] < limit  # early stopping ended it
            for budget, cap in budgets:
                if cap >= limit or (stopped and cap >= default["epochs"]):
                    fit = default  # the cap does not bind: the same fit
                else:
                    if cap not in fits:
                        fits[cap] = fit_default(X_fit, X_val, y_fit, y_val, seed, cap)
                    fit = fits[cap]
                record["budgets"][budget] = _triple(fit)
            records.append(record)
            print(
                f"{name} seed {seed}: default {default['accuracy']:.4f} in "
                f"{default['epochs']} epochs, {default['seconds']:.1f} s; "
                f"MLP {mlp['accuracy']:.4f}, {mlp['seconds']:.1f} s",
                flush=True,
            )
    return records


def summarize(records, budgets):
    """One row per dataset and method (the MLP, the default, each budget)."""
    rows = []
    for name in dict.fromkeys(r["dataset"] for r in records):
        mine = [r for r in records if r["dataset"] == name]
        mlp_seconds = _mean([r["mlp"]["seconds"] for r in mine])
        mlp_accuracy = _mean([r["mlp"]["accuracy"] for r in mine])
        cells = {
            "MLP": [_triple(r["mlp"]) for r in mine],
            "default": [_triple(r["default"]) for r in mine],
        }
        for budget in budgets:
            cells[budget] = [tuple(r["budgets"][budget]) for r in mine]
        for method, values in cells.items():
            seconds = _mean([v[2] for v in values])
            accuracy = _mean([v[1] for v in values])
            rows.append(
                {
                    "dataset": name,
                    "train_rows": mine[0]["train_rows"],
                    "seeds": len(mine),
                    "method": method,
                    "epochs": _mean([v[0] for v in values]),
                    "accuracy": accuracy,
                    "minus_mlp": accuracy - mlp_accuracy,
                    "seconds": seconds,
                    "x_mlp_seconds": seconds / mlp_seconds,
                }
            )
    return rows


def time_to_mlp(records):
    """One row per dataset: the cheapest fit of each seed that reached the
    MLP's accuracy on the same rows, as a multiple of the MLP's time."""
    rows = []
    for name in dict.fromkeys(r["dataset"] for r in records):
        reached = []
        mine = [r for r in records if r["dataset"] == name]
        for r in mine:
            fits = [_triple(r["default"]), *map(tuple, r["budgets"].values())]
            good = [f for f in fits if f[1] >= r["mlp"]["accuracy"]]
            if good:
                epochs, _, seconds = min(good, key=lambda f: f[2])
                reached.append((epochs, seconds / r["mlp"]["seconds"]))
        ratios = [ratio for _, ratio in reached]
        rows.append(
            {
                "dataset": name,
                "seeds": len(mine),
                "seeds_reached": len(reached),
                "epochs": _mean([e for e, _ in reached]),
                "x_mlp_seconds": _mean(ratios),
                "max_x_mlp_seconds": max(ratios) if ratios else None,
            }
        )
    return rows


def _mean(values):
    return sum(values) / len(values) if values else None


def report(records, budgets):
    """The Markdown body: every budget, then the time to the MLP's accuracy."""
    rows = summarize(records, budgets)
    reach = time_to_mlp(records)
    return (
        rows,
        reach,
        (
            "### Epoch budgets for the default classifier\n\n"
            "Inner validation split of each seed's training rows (75/25; test rows "
            "never read). The default DeepStackClassifier is fitted with no budget "
            "(default) and with each budget's max_epochs, after a 1-epoch warm-up fit "
            "(the compile cache then serves every timed fit alike), "
            "and scored on the inner validation rows; `N samples`: max_epochs = "
            "ceil(N / the rows it trains on after its early-stopping split). A "
            "budget the default's early stopping already met reuses the default fit. "
            f"MLP: {BASELINE} on the same rows. Means over the seeds of the epochs, "
            "the accuracy, its difference to the MLP's (minus_mlp) and the fit's "
            "wall time, also as a multiple of the MLP's (x_mlp_seconds).\n\n"
            + _common.markdown_table(list(rows[0]), rows, digits=4)
            + "\n\n### Time to the MLP's accuracy\n\n"
            "For each seed, the cheapest of the fits above (the default or a "
            "budget) whose accuracy is at least the MLP's on the same rows; "
            "seeds_reached: the seeds where one was; epochs, x_mlp_seconds: the "
            "means of that fit's epochs and wall time as a multiple of the MLP's "
            "over those seeds; max_x_mlp_seconds: the largest. The budgets measured "
            "are the only points of the curve, so these are upper bounds.\n\n"
            + _common.markdown_table(list(reach[0]), reach, digits=3)
            + "\n"
        ),
    )


def add_fit_options(p):
    """``--datasets``, ``--seeds`` and ``--max-epochs`` of the default fits
    (shared with ``stop_rules.py``, which records the same fits)."""
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="the recorded fits' max_epochs (default: the estimator's)",
    )


def main(argv=None):
    p = _common.parser(__doc__.splitlines()[0])
    add_fit_options(p)
    p.add_argument("--epochs", nargs="*", type=int, default=[10, 20, 50])
    p.add_argument("--samples", nargs="*", type=float, default=[2e5, 5e5, 1e6])
    p.add_argument(
        "--summarize",
        metavar="JSON",
        help="summarize an earlier run's results file instead of fitting",
    )
    p.add_argument("--name", default="epoch_budget")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds = args.seeds[:1]
    if args.summarize:
        with open(args.summarize) as handle:
            earlier = json.load(handle)
        records, budgets = earlier["records"], earlier["budgets"]
        args.datasets, args.seeds = earlier["datasets"], earlier["seeds"]
    else:
        _common.quiet_warnings()
        records = run(args)
        budgets = [f"{c} epochs" for c in args.epochs]
        budgets += [f"{s:g} samples" for s in args.samples]
    rows, reach, markdown = report(records, budgets)
    if args.summarize:
        markdown = (
            f"The fits of `{earlier['command']}` "
            f"({earlier['environment']['date_utc']}, load average "
            f"{earlier['environment']['load_average_1_5_15']}), "
            f"read from `{args.summarize}`; nothing was fitted again.\n\n" + markdown
        )
    _common.publish(
        "epoch_budget",
        args.name,
        {
            "datasets": args.datasets,
            "seeds": args.seeds,
            "budgets": budgets,
            "records": records,
            "summary": rows,
            "time_to_mlp": reach,
            "summarized_from": args.summarize,
        },
        markdown,
        args.out,
        argv,
    )
    return rows


if __name__ == "__main__":
    main()
