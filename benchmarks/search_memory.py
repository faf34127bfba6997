"""Memory of a long DeepStackSearch: do trials release their Keras state?

Runs one search of 30 trials (random search over learning rate, width and
depth of a small network) in this process and records the resident set size
(RSS) at the start of every trial's ``fit``, i.e. after the previous trial's
estimator was dropped and the Keras session cleared. As a baseline it then
fits the same estimator the same number of times in a plain loop (with
``keras.backend.clear_session()`` between fits, no search), so that growth
caused by the search machinery can be told from growth of repeated Keras
fits. Reports the RSS per trial and the growth per trial over the last 20
trials (least-squares slope) of both, and writes ``search_memory.json`` and
``search_memory.md`` into ``benchmarks/results/``.

Usage::

    python benchmarks/search_memory.py [--trials 30]
"""

import argparse
import gc
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

from deepstack import DeepStackClassifier, DeepStackSearch, Float, Int  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
_RSS = []


class RecordingClassifier(DeepStackClassifier):
    """Records the process RSS (MiB) when a trial starts fitting."""

    def fit(self, X, y, **kwargs):
        _RSS.append(psutil.Process().memory_info().rss / 2**20)
        return super().fit(X, y, **kwargs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)

    X, y = make_classification(
        n_samples=2000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    search = DeepStackSearch(
        RecordingClassifier(max_epochs=3),
        {
            "learning_rate": Float(1e-4, 1e-1, log=True),
            "n_layers": Int(1, 3),
            "units": Int(16, 256, step=2, log=True),
        },
        tuner="random",
        max_trials=args.trials,
        refit=False,
        random_state=0,
    )
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start

    rss = np.array(_RSS[: args.trials])
    slope = _slope(rss)

    # Baseline in the same process: the same fits without any search.
    del _RSS[:]
    baseline_rng = np.random.RandomState(0)
    for _ in range(args.trials):
        keras.backend.clear_session()
        gc.collect()
        params = {
            "learning_rate": float(10 ** baseline_rng.uniform(-4, -1)),
            "hidden_layer_sizes": (int(2 ** baseline_rng.randint(4, 9)),)
            * int(baseline_rng.randint(1, 4)),
        }
        RecordingClassifier(max_epochs=3, random_state=0, **params).fit(X, y)
    baseline = np.array(_RSS[: args.trials])
    baseline_slope = _slope(baseline)
    report = {
        "benchmark": "search_memory",
        "command": f"python benchmarks/search_memory.py --trials {args.trials}",
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs",
        "trials": int(len(rss)),
        "seconds": seconds,
        "rss_mib_per_trial": [round(float(v), 1) for v in rss],
        "rss_first_mib": float(rss[0]),
        "rss_last_mib": float(rss[-1]),
        "rss_max_mib": float(rss.max()),
        "growth_mib_per_trial_last_20": slope,
        "baseline_rss_mib_per_fit": [round(float(v), 1) for v in baseline],
        "baseline_growth_mib_per_fit_last_20": baseline_slope,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "search_memory.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    marks = sorted({0, 4, 9, 19, len(rss) - 1} & set(range(len(rss))))
    lines = [
        "# Memory over a long search",
        "",
        f"Command: `{report['command']}` ({report['machine']}); "
        f"{report['trials']} trials in {seconds:.0f} s.",
        "",
        "| trial / fit | search: RSS at trial start (MiB) | plain fit loop (MiB) |",
        "|---:|---:|---:|",
        *[f"| {i + 1} | {rss[i]:.0f} | {baseline[i]:.0f} |" for i in marks],
        "",
        f"Growth over the last 20: search {slope:.2f} MiB per trial, plain fit "
        f"loop {baseline_slope:.2f} MiB per fit (the plain loop runs after the "
        "search, in the same process).",
        "",
    ]
    with open(os.path.join(args.out, "search_memory.md"), "w") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))


def _slope(values):
    tail = np.asarray(values[-20:], dtype=float)
    if len(tail) < 2:
        return 0.0
    return float(np.polyfit(np.arange(len(tail)), tail, 1)[0])


if __name__ == "__main__":
    main()
