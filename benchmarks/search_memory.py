"""Memory of a long DeepStackSearch: does it stay bounded?

One search of ``--trials`` trials (random search over learning rate, width
and depth of a small network), run three ways, each in a fresh interpreter:

* ``search, in process``: ``DeepStackSearch(trials_per_process=None)``, every
  trial fitted in the search's own process;
* ``search, workers``: ``DeepStackSearch(trials_per_process=N)``, trials
  fitted in a worker process that is replaced every N trials;
* ``plain fit loop``: the same estimators fitted in a loop without any search
  (``keras.backend.clear_session()`` between fits), to tell growth caused by
  the search machinery from growth of repeated Keras fits.

The resident set size (RSS, psutil) is logged when each trial starts fitting,
by the process that fits it, and the search's own process is sampled every
0.2 s. Reported: RSS at trials 1, 5, 10, 20, 30, the growth per trial over the
last 20 trials (least-squares slope) of the fitting process, and the peak RSS
of the search's process and of any worker. Writes ``search_memory.json`` and
``search_memory.md`` into ``benchmarks/results/``.

Usage::

    python benchmarks/search_memory.py [--trials 30] [--trials-per-process 10]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402

MODES = ("search, in process", "search, workers", "plain fit loop")
_LOG = "DEEPSTACK_BENCH_RSS_LOG"


def _recording_classifier():
    import psutil

    from deepstack import DeepStackClassifier

    class RecordingClassifier(DeepStackClassifier):
        """Logs ``pid rss_mib`` of the fitting process when a fit starts."""

        def fit(self, X, y, **kwargs):
            rss = psutil.Process().memory_info().rss / 2**20
            with open(os.environ[_LOG], "a") as handle:
                handle.write(f"{os.getpid()} {rss:.1f}\n")
            return super().fit(X, y, **kwargs)

    return RecordingClassifier


def run_mode(mode, trials, trials_per_process, log):
    """Run one mode here; return the RSS log and the peak RSS of this process."""
    import gc

    import keras
    import numpy as np
    import psutil
    from sklearn.datasets import make_classification

    from deepstack import DeepStackSearch, Float, Int

    _common.quiet_warnings()
    os.environ[_LOG] = log
    process = psutil.Process()
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample():
        while not done.wait(0.2):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    X, y = make_classification(
        n_samples=2000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    estimator = _recording_classifier()(max_epochs=3)
    start = time.perf_counter()
    if mode == "plain fit loop":
        rng = np.random.RandomState(0)
        for _ in range(trials):
            keras.backend.clear_session()
            gc.collect()
            params = {
                "learning_rate": float(10 ** rng.uniform(-4, -1)),
                "hidden_layer_sizes": (int(2 ** rng.randint(4, 9)),)
                * int(rng.randint(1, 4)),
            }
            estimator.set_params(random_state=0, **params).fit(X, y)
    else:
        DeepStackSearch(
            estimator,
            {
                "learning_rate": Float(1e-4, 1e-1, log=True),
                "n_layers": Int(1, 3),
                "units": Int(16, 256, step=2, log=True),
            },
            tuner="random",
            max_trials=trials,
            refit=False,
            trials_per_process=trials_per_process if "workers" in mode else None,
            random_state=0,
        ).fit(X, y)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    peak[0] = max(peak[0], process.memory_info().rss)
    with open(log) as handle:
        rows = [line.split() for line in handle if line.strip()]
    return {
        "mode": mode,
        "seconds": seconds,
        "main_pid": os.getpid(),
        "pids": [int(pid) for pid, _ in rows],
        "rss_mib": [float(rss) for _, rss in rows],
        "main_peak_mib": peak[0] / 2**20,
    }


def _slope(values):
    import numpy as np

    tail = np.asarray(values[-20:], dtype=float)
    if len(tail) < 2:
        return 0.0
    return float(np.polyfit(np.arange(len(tail)), tail, 1)[0])


def _child(mode, trials, trials_per_process):
    with tempfile.TemporaryDirectory() as scratch:
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            mode,
            "--trials",
            str(trials),
            "--trials-per-process",
            str(trials_per_process),
            "--log",
            os.path.join(scratch, "rss.log"),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{mode!r} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def summarize(run):
    rss = run["rss_mib"]
    in_workers = run["main_pid"] not in run["pids"]
    row = {"mode": run["mode"], "processes fitting": len(set(run["pids"]))}
    for k in (1, 5, 10, 20, 30):
        if k <= len(rss):
            row[f"trial {k} (MiB)"] = rss[k - 1]
    row["growth per trial, last 20 (MiB)"] = _slope(rss)
    row["search process peak (MiB)"] = run["main_peak_mib"]
    row["worker peak at a trial start (MiB)"] = max(rss) if in_workers else None
    row["time (s)"] = run["seconds"]
    return row


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--trials", type=int, default=None, help="default 30 (8 with --quick)"
    )
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--trials-per-process", type=int, default=10)
    p.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    p.add_argument("--log", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = run_mode(args.child, args.trials, args.trials_per_process, args.log)
        print("RESULT " + json.dumps(result))
        return
    trials = args.trials or (8 if args.quick else 30)
    runs = []
    for mode in args.modes:
        print(f"{mode} ...", flush=True)
        runs.append(_child(mode, trials, args.trials_per_process))
    rows = [summarize(run) for run in runs]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    markdown = "\n".join(
        [
            "### Memory over a long search",
            "",
            f"{trials} trials per mode, each mode in a fresh interpreter; "
            f"workers: `trials_per_process={args.trials_per_process}`. RSS is "
            "read by the process that fits, when each trial starts; the "
            "search process's peak is sampled every 0.2 s.",
            "",
            _common.markdown_table(columns, rows, digits=1),
        ]
    )
    _common.write_results(
        "search_memory",
        {"trials": trials, "trials_per_process": args.trials_per_process, "runs": runs},
        markdown,
        out=args.out,
        command=_common.command_line("search_memory", argv),
    )
    print(markdown)


if __name__ == "__main__":
    main()
