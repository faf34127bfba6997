"""Choosing the classifier's regularization defaults on digits.

Each configuration overrides some of ``DeepStackClassifier``'s defaults and is
trained in ``StandardScaler -> DeepStackClassifier`` on digits (70/30 stratified
split, seed 0) for ``random_state`` 0..4; the table gives the mean test accuracy
over seeds 0-2 (the quality bar) and 0-4, every seed's accuracy and the epochs
run. The first row is the current default.

Run: ``.venv/bin/python benchmarks/digits_defaults.py [--quick]``
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

CONFIGS = (
    {},
    {"dropout": 0.2, "input_dropout": 0.0, "l2": 0.0},
    {"dropout": 0.2, "input_dropout": 0.0},
    {"input_dropout": 0.0},
    {"l2": 3e-3},
)


COLUMNS = (
    "configuration",
    "mean (seeds 0-2)",
    "mean ± std",
    "per seed",
    "epochs",
    "s per fit",
)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--max-epochs", type=int, default=None, help="cap on max_epochs")
    args = p.parse_args(argv)
    _common.quiet_warnings()
    import numpy as np
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from deepstack import DeepStackClassifier
    from deepstack.datasets import digits_split

    X_train, X_test, y_train, y_test = digits_split()
    seeds = args.seeds or ((0, 1, 2) if args.quick else (0, 1, 2, 3, 4))
    cap = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    configs = CONFIGS[:2] if args.quick else CONFIGS
    rows, raw = [], []
    for config in configs:
        scores, epochs, start = [], [], time.perf_counter()
        for seed in seeds:
            model = make_pipeline(
                StandardScaler(),
                DeepStackClassifier(random_state=seed, **config, **cap),
            ).fit(X_train, y_train)
            scores.append(model.score(X_test, y_test))
            epochs.append(model[-1].n_iter_)
        elapsed = time.perf_counter() - start
        label = ", ".join(f"{k}={v}" for k, v in config.items()) or "defaults"
        rows.append(
            dict(
                zip(
                    COLUMNS,
                    [
                        label,
                        f"{np.mean(scores[:3]):.4f}",
                        f"{np.mean(scores):.4f} ± {np.std(scores):.4f}",
                        " ".join(f"{s:.4f}" for s in scores),
                        " ".join(str(e) for e in epochs),
                        f"{elapsed / len(seeds):.1f}",
                    ],
                )
            )
        )
        raw.append({"config": config, "scores": scores, "epochs": epochs})
        print(rows[-1], flush=True)
    table = _common.markdown_table(COLUMNS, rows)
    _common.write_results(
        "digits_defaults",
        {"seeds": list(seeds), "runs": raw},
        "### DeepStackClassifier defaults on digits\n\n" + table,
        out=args.out,
        command=_common.command_line("digits_defaults", argv),
    )


if __name__ == "__main__":
    main()
