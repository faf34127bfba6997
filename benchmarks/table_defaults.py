"""How the main job's defaults were chosen: inner validation on training rows.

For each table and seed, ``benchmarks/tabular.py``'s 80/20 split is drawn
and its test rows are thrown away unseen. The training rows are split again,
75/25 (stratified for classes, seeded), and each candidate configuration of
``deepstack.fit_table`` is fitted on the inner 75% and scored on the inner
25%. The configuration with the best mean inner score becomes the default;
``benchmarks/tabular.py`` then reports the test rows once.

Candidates: ``single`` (one network, the table defaults), ``bag5`` (5-fold
bagging of the same network), and the variants given by ``--variants``
(``NAME:bagging:param=value,...``; a ``table__`` parameter is the
``TablePreprocessor``'s, given as ``fit_table(preprocessor=...)``).

    .venv/bin/python benchmarks/table_defaults.py --seeds 0
    .venv/bin/python benchmarks/table_defaults.py --seeds 0 1 --candidates bag5 \
        --variants bag5_no_log:5:table__log_skewed=false
"""

import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import pandas as pd  # noqa: E402
from tabular import TABLES, load, score  # noqa: E402

CANDIDATES = {
    "single": (None, {}),
    "bag5": (5, {}),
}


def inner_split(train, target, task, seed):
    from sklearn.model_selection import train_test_split

    stratify = train[target] if task != "regression" else None
    return train_test_split(
        train, test_size=0.25, random_state=1000 + seed, stratify=stratify
    )


def parse_variant(text):
    name, bagging, *rest = text.split(":")
    params = {}
    for item in ",".join(rest).split(","):
        if item:
            key, value = item.split("=", 1)
            params[key] = json.loads(value)
    return name, (None if bagging in ("", "none") else int(bagging), params)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _common.parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--tables", nargs="+", choices=sorted(TABLES))
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--variants", nargs="*", default=[])
    parser.add_argument("--name", default="table_defaults")
    args = parser.parse_args(argv)
    _common.quiet_warnings()
    warnings.filterwarnings("ignore", category=UserWarning)
    import deepstack
    from deepstack.tables import TablePreprocessor

    candidates = {k: CANDIDATES[k] for k in args.candidates}
    candidates.update(parse_variant(v) for v in args.variants)
    tables = args.tables or (["penguins", "diabetes"] if args.quick else list(TABLES))
    seeds = args.seeds[:1] if args.quick else args.seeds
    records = []
    for name in tables:
        for seed in seeds:
            train, _unseen_test, target, task = load(name, seed)
            inner_train, inner_val = inner_split(train, target, task, seed)
            if args.quick:
                inner_train = inner_train.iloc[:150]
            for candidate, (bagging, params) in candidates.items():
                params = dict(params)
                if args.quick:
                    params["max_epochs"] = 5
                table = {
                    k.removeprefix("table__"): params.pop(k)
                    for k in list(params)
                    if k.startswith("table__")
                }
                start = time.perf_counter()
                run = deepstack.fit_table(
                    inner_train,
                    target,
                    test=inner_val,
                    random_state=seed,
                    progress=False,
                    bagging=bagging,
                    params=params,
                    preprocessor=TablePreprocessor(**table) if table else None,
                )
                seconds = time.perf_counter() - start
                X_val = inner_val.drop(columns=target)
                value = score(task, inner_val[target], run.predict(X_val))
                records.append(
                    {
                        "table": name,
                        "seed": seed,
                        "candidate": candidate,
                        "inner_val": value,
                        "fit_s": seconds,
                    }
                )
                print(
                    f"{name:15s} seed {seed} {candidate:16s} {value:.4f} "
                    f"{seconds:7.1f} s",
                    flush=True,
                )
    frame = pd.DataFrame(records)
    mean = frame.pivot_table(
        index="table", columns="candidate", values="inner_val", aggfunc="mean"
    )
    seconds = frame.pivot_table(
        index="table", columns="candidate", values="fit_s", aggfunc="median"
    )
    columns = ["table", *[f"{c}" for c in candidates], *[f"{c} s" for c in candidates]]
    rows = []
    for name in tables:
        row = {"table": name}
        for c in candidates:
            row[c] = f"{mean.loc[name, c]:.4f}"
            row[f"{c} s"] = f"{seconds.loc[name, c]:.1f}"
        rows.append(row)
    markdown = (
        f"Inner validation score (accuracy or R²; 25% of the training rows, "
        f"never the test rows) averaged over seeds {seeds}; fit time is the "
        "median wall time in seconds. Candidates: "
        + "; ".join(
            f"`{c}`: bagging={b}, params={json.dumps(p)}"
            for c, (b, p) in candidates.items()
        )
        + ".\n\n"
        + _common.markdown_table(columns, rows)
    )
    print(markdown)
    _common.write_results(
        args.name,
        {"seeds": seeds, "tables": tables, "records": records},
        markdown,
        out=args.out,
        command=_common.command_line("table_defaults", argv),
    )
    return frame


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
