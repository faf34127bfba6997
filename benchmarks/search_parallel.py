"""Wall time of the same random search with ``n_jobs=1`` and ``n_jobs=2``.

``DeepStackSearch(DeepStackClassifier(...), tuner="random", max_trials=16)``
on scikit-learn's bundled digits (1,797 rows, 64 features), over the default
search space, run once with ``n_jobs=1`` (trials one after another in this
process) and once with ``n_jobs=2`` (two worker processes, each limited to
half of the CPU threads). Both searches draw the same 16 trials; the script
checks that they score them the same, and reports the wall time of each
search (without the refit) and the speed-up.

Run it on a quiet machine (the speed-up is what two cores give when nothing
else runs)::

    .venv/bin/python benchmarks/search_parallel.py

``--quick`` (4 trials, 3 epochs, 600 rows) only checks that it runs. Writes
``search_parallel.json`` and ``search_parallel.md`` into
``benchmarks/results/``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402


def run_search(X, y, *, n_jobs, trials, max_epochs, seed):
    from deepstack import DeepStackClassifier, DeepStackSearch

    search = DeepStackSearch(
        DeepStackClassifier(max_epochs=max_epochs, random_state=seed),
        tuner="random",
        max_trials=trials,
        n_jobs=n_jobs,
        refit=False,
        random_state=seed,
    )
    search.fit(X, y)
    return search


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=None, help="default 16 (4 quick)")
    p.add_argument("--max-epochs", type=int, default=None, help="default 30 (3 quick)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    trials = args.trials or (4 if args.quick else 16)
    max_epochs = args.max_epochs or (3 if args.quick else 30)

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype("float32")
    if args.quick:
        X, y = X[:600], y[:600]

    rows, scores = [], {}
    for n_jobs in (1, 2):
        search, seconds = _common.timed(
            run_search,
            X,
            y,
            n_jobs=n_jobs,
            trials=trials,
            max_epochs=max_epochs,
            seed=args.seed,
        )
        scores[n_jobs] = [float(s) for s in search.results_["score"]]
        rows.append(
            {
                "n_jobs": n_jobs,
                "trials": search.n_trials_,
                "search time (s)": search.search_time_,
                "fit call (s)": seconds,
                "best validation score": search.best_score_,
                "epochs run (all trials)": float(sum(search.results_["n_epochs"])),
            }
        )
        print(rows[-1], flush=True)
    speedup = rows[0]["search time (s)"] / rows[1]["search time (s)"]
    same = scores[1] == scores[2]
    for row in rows:
        row["speed-up"] = rows[0]["search time (s)"] / row["search time (s)"]
    columns = list(rows[0])
    markdown = (
        "### The same random search, one trial at a time and two at a time\n\n"
        f"digits ({X.shape[0]} rows), `DeepStackClassifier(max_epochs="
        f"{max_epochs})`, default search space, {trials} trials, "
        f"`random_state={args.seed}`; search time without the refit.\n\n"
        + _common.markdown_table(columns, rows, digits=3)
        + f"\n\nSpeed-up of `n_jobs=2`: {speedup:.2f}x. Same trials and scores "
        f"with both: {'yes' if same else 'NO'}.\n"
    )
    _common.write_results(
        "search_parallel",
        {
            "quick": args.quick,
            "trials": trials,
            "max_epochs": max_epochs,
            "rows": rows,
            "speedup": speedup,
            "same_scores": same,
            "scores": {str(k): v for k, v in scores.items()},
        },
        markdown,
        out=args.out,
        command=_common.command_line("search_parallel", argv),
    )
    return rows


if __name__ == "__main__":
    main()
