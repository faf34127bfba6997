"""The ``deepstack`` console command: a thin layer over :mod:`deepstack.runs`.

Commands: ``fit``, ``predict``, ``evaluate``, ``report``, ``run``. Bad input
ends with one line on standard error, ``deepstack: error: ...``, and exit
status 2; nothing half-written is left behind.
"""

import argparse
import collections
import importlib.util
import json
import os
import sys
import warnings

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process it ended
EXIT_BROKEN_PIPE = 1


def _parser():
    from deepstack._version import __version__

    parser = argparse.ArgumentParser(
        prog="deepstack",
        description="Deep feed-forward networks for tables: fit, predict, report.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = sub.add_parser(
        "fit", help="fit a table (CSV / Parquet / Excel) into a run folder"
    )
    fit.add_argument(
        "data",
        help="training table (.csv, .tsv, either .gz/.bz2/.xz/.zip, .parquet, .xlsx)",
    )
    fit.add_argument("--target", required=True, help="the column to predict")
    fit.add_argument("--out", required=True, help="run folder to write")
    fit.add_argument(
        "--task", choices=["binary", "multiclass", "classification", "regression"]
    )
    fit.add_argument("--test", help="labeled rows for test metrics (else a split)")
    fit.add_argument(
        "--test-size",
        type=float,
        help="share of the rows held out for testing without --test (default 0.2)",
    )
    fit.add_argument("--unlabeled", help="rows without labels, for pretraining")
    fit.add_argument(
        "--pretrain",
        choices=["auto", "autoencoder", "denoising"],
        help="greedy layer-wise pretraining; auto: when unlabeled rows outnumber "
        "labeled ones",
    )
    fit.add_argument("--search", choices=["random", "bayesian", "hyperband", "grid"])
    fit.add_argument("--max-trials", type=int, help="trials of the search (default 10)")
    fit.add_argument(
        "--time-limit",
        help="training budget, e.g. 90s, 20m, 1h: of the search, or of the "
        "network(s), which stop at the first epoch end past it",
    )
    fit.add_argument("--drop", action="append", default=[], metavar="COL")
    fit.add_argument("--categorical", action="append", default=[], metavar="COL")
    fit.add_argument("--weight-col", metavar="COL")
    fit.add_argument(
        "--group-col",
        metavar="COL",
        help="group labels (a user, a patient, a session; not a feature): a "
        "group's rows are never split between training and the rows scoring it",
    )
    fit.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an estimator parameter (JSON value), e.g. --param dropout=0.2",
    )
    fit.add_argument(
        "--bagging",
        default="auto",
        metavar="K",
        help="k-fold bagged networks averaged: 'auto' (by table size; none with "
        "--search or --pretrain), or K (1: a single network)",
    )
    fit.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip scikit-learn's HistGradientBoosting and Dummy models, "
        "otherwise fitted and scored on the same rows for comparison",
    )
    fit.add_argument(
        "--no-log-scale",
        dest="log_scale",
        action="store_false",
        help="read numbers with a long right tail (counts, populations, prices) "
        "as they are; by default as log(1 + x / m), m the median positive value",
    )
    fit.add_argument("--random-state", type=int, default=0)
    _output_options(fit)

    predict = sub.add_parser("predict", help="predict new rows with a saved run")
    predict.add_argument("run", help="run folder")
    predict.add_argument("data", help="table of new rows")
    predict.add_argument(
        "--out",
        help="file to write: CSV, TSV (.gz, .bz2, .xz too) or .parquet (default: "
        "CSV on standard output)",
    )
    predict.add_argument("--proba", action="store_true", help="add probabilities")
    predict.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="COL",
        help="a column of the new rows to copy before the predictions (an id)",
    )
    _chunk_option(predict)
    _backend_option(predict)
    predict.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file"
    )
    predict.add_argument("--quiet", action="store_true", help="no progress display")

    evaluate = sub.add_parser("evaluate", help="metrics of a saved run on labeled rows")
    evaluate.add_argument("run")
    evaluate.add_argument("data")
    _chunk_option(evaluate)
    _backend_option(evaluate)
    evaluate.add_argument(
        "--importance",
        action="store_true",
        help="add each column's importance (the drop in the primary metric when "
        "its values are shuffled; on at most 2000 rows)",
    )

    report = sub.add_parser("report", help="(re)write RUN/report.html")
    report.add_argument("run")
    _backend_option(report)

    run = sub.add_parser("run", help="run a declarative job (a TOML file)")
    run.add_argument("job", help="job file, e.g. pipelines/penguins.toml")
    run.add_argument("--out", help="run folder (overrides the job's [output])")
    _output_options(run)
    return parser


def _chunk_option(parser):
    parser.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=100_000,
        metavar="N",
        help="rows read and predicted at a time (memory follows it; default 100000)",
    )


# The Keras backends a saved run can predict with.
BACKENDS = ("numpy", "tensorflow", "jax", "torch")


def _backend_option(parser):
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend to compute with (default: KERAS_BACKEND if set, else "
        "numpy, which loads seconds faster than TensorFlow; tensorflow, jax or "
        "torch to compute on a GPU)",
    )


def _choose_backend(args):
    """Set ``KERAS_BACKEND`` for a command that trains nothing (predict,
    evaluate, report), before Keras loads.

    ``--backend`` first, then ``KERAS_BACKEND`` from the environment, else
    Keras's NumPy backend: predicting needs no training backend, and NumPy's
    loads without TensorFlow's seconds of start-up. Keras's config file is
    not read: Keras writes ``"tensorflow"`` into it on its first import, so
    it rarely says what the user chose. When Keras is loaded already (the
    command called in a Python process), its backend stays, and a different
    ``--backend`` is an error; so is a backend whose package is missing.
    """
    if args.command not in ("predict", "evaluate", "report"):
        return
    backend = args.backend
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if backend is not None and backend != loaded:
            raise ValueError(
                f"--backend {backend}: Keras is loaded with the {loaded} backend "
                "in this process already; run the command in a new process."
            )
        return
    if backend is None:
        backend = os.environ.get("KERAS_BACKEND") or "numpy"
    if backend in BACKENDS and importlib.util.find_spec(backend) is None:
        raise ValueError(
            f"the {backend} backend of Keras needs the {backend} package, which is "
            "not installed; install it or choose another --backend."
        )
    os.environ["KERAS_BACKEND"] = backend


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _output_options(parser):
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing run folder"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def main(argv=None):
    """Entry point of the console command; returns the exit status."""
    args = None
    try:
        # Ctrl-C at any moment, the seconds of loading Keras and TensorFlow
        # among them, ends with one line and status 130, not a traceback.
        parser = _parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return _command(args)
    except KeyboardInterrupt as stop:
        if args is not None and args.command == "predict" and args.out is None:
            said = "the predictions on standard output stop short"
        else:
            said = "nothing was written"
        # SIGTERM (see _interrupt.terminate_as_interrupt, loaded with Keras).
        signals = sys.modules.get("deepstack._interrupt")
        terminated = isinstance(stop, getattr(signals, "Terminated", ()))
        how = "terminated (SIGTERM)" if terminated else "interrupted"
        print(f"deepstack: {how}; {said}.", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _command(args):
    """Check the paths, load Keras, run the command; its exit status."""
    try:
        _check_paths(args)
        _choose_backend(args)
    except (OSError, ValueError) as exc:
        return _bad_input(exc)
    # Every command saves or loads a run's preprocessor with skops, which
    # imports scikit-learn's estimators and SciPy: these load about a second
    # faster before Keras and TensorFlow than after them.
    import skops.io  # noqa: F401

    # Only now, with the arguments read and the files found, does the
    # command load Keras (help, version and these errors come without its
    # seconds of loading); the installed command keeps TensorFlow's start-up
    # lines off its output.
    from deepstack import _native_log

    try:
        if _native_log.console_command():
            _native_log.quiet_backend_import()
        # Loaded already unless the filter was skipped (not the console
        # command, or TF_CPP_MIN_LOG_LEVEL=0): a failure lands here either way.
        import keras  # noqa: F401
    except (ImportError, ValueError) as exc:  # KERAS_BACKEND=tf, or not installed
        chosen = os.environ.get("KERAS_BACKEND")
        named = "its configured backend" if chosen is None else f"{chosen!r}"
        return _bad_input(ValueError(f"Keras cannot load the backend {named}: {exc}"))
    from deepstack._interrupt import safe_interrupts, terminate_as_interrupt
    from deepstack.callbacks import DivergenceError
    from deepstack.tuning import NoTrialCompletedError

    try:
        # Ctrl-C raises KeyboardInterrupt, as by default, but is not lost
        # where it lands in a garbage-collector callback; SIGTERM raises one
        # too (Terminated), so that a fit's hidden staging folder or a
        # predictions file's temporary one is removed, not left behind.
        with (
            warnings.catch_warnings(),
            safe_interrupts(),
            terminate_as_interrupt(),
        ):
            warnings.simplefilter("always", UserWarning)
            warnings.showwarning = _note
            return _COMMANDS[args.command](args)
    except BrokenPipeError:
        # The reader of standard output (head, less) stopped reading: no
        # traceback, now or when Python flushes standard output at exit.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    # Files not found or existing, ...; a training that diverged, a search
    # without a result: their messages say what to change.
    except (
        ValueError,
        TypeError,
        OSError,
        DivergenceError,
        NoTrialCompletedError,
    ) as exc:
        return _bad_input(exc)


def _bad_input(exc):
    # (An error after a fit's training carries a note saying so.)
    said = " ".join([str(exc), *getattr(exc, "__notes__", ())])
    message = " ".join(said.split()) or type(exc).__name__
    print(f"deepstack: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _not_a_run(args):
    """What to say of a file given as the run folder: the table, say, with
    the run folder after it (the arguments swapped)."""
    said = f"{args.run!r} is a file, not a run folder (the folder fit writes)"
    data = getattr(args, "data", None)
    if data is not None and os.path.isfile(os.path.join(data, "config.json")):
        return (
            f"{said}; the run folder comes first: deepstack {args.command} "
            f"{data} {args.run}."
        )
    return f"{said}."


def _check_paths(args):
    """Raise what the command would raise for a missing table, run folder or
    job file, or for an existing ``predict --out``, in the same words, before
    loading Keras."""
    if args.command == "predict" and args.out:
        from deepstack._folders import check_file_out

        check_file_out(args.out, overwrite=args.overwrite, data=args.data)
    if args.command in ("predict", "evaluate", "report"):
        if os.path.isfile(args.run):
            raise ValueError(_not_a_run(args))
        if not os.path.isdir(args.run):
            raise FileNotFoundError(f"run folder not found: {args.run!r}.")
    if args.command == "run" and not os.path.isfile(args.job):
        raise FileNotFoundError(f"job file not found: {args.job!r}.")
    if args.command == "run" and args.out is None and not _job_has_out(args.job):
        raise ValueError(
            f"The job file {args.job!r} names no run folder ([output] out) and "
            "no --out was given: the run would be saved nowhere."
        )
    tables = []
    if args.command == "fit":
        tables = [("training", args.data), ("test", args.test)]
        tables.append(("unlabeled", args.unlabeled))
    elif args.command in ("predict", "evaluate"):
        tables = [("data", args.data)]
    for what, path in tables:
        if path is not None and not os.path.exists(path):
            raise FileNotFoundError(f"{what} file not found: {path!r}.")


def _silence_stdout():
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no file behind it
        pass


def _note(message, category, *args, **kwargs):
    print(f"deepstack: note: {message}", file=sys.stderr)


def _fit(args):
    from deepstack.runs import fit_table
    from deepstack.tables import TablePreprocessor

    run = fit_table(
        args.data,
        args.target,
        task=args.task,
        test=args.test,
        test_size=args.test_size,
        unlabeled=args.unlabeled,
        drop=args.drop or None,
        categorical=args.categorical or None,
        weight_column=args.weight_col,
        group_column=args.group_col,
        preprocessor=None if args.log_scale else TablePreprocessor(log_skewed=False),
        params=_params(args.param),
        search=args.search,
        max_trials=args.max_trials,
        time_limit=args.time_limit,
        pretrain=args.pretrain,
        # fit_table checks the value (one error line for a bad one).
        bagging=_bagging(args.bagging),
        baselines=args.baselines,
        out=args.out,
        overwrite=args.overwrite,
        random_state=args.random_state,
        progress=False if args.quiet else None,
    )
    _summary(run)
    return _fit_status(run)


def _job_has_out(path):
    """Whether the job file names its run folder (a file TOML cannot read
    does too here: ``run_job`` then says what is wrong with it)."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            output = tomllib.load(handle).get("output", {})
    except (OSError, tomllib.TOMLDecodeError):
        return True
    return not isinstance(output, dict) or "out" in output


def _run(args):
    from deepstack.runs import run_job

    run = run_job(
        args.job,
        out=args.out,
        overwrite=True if args.overwrite else None,
        progress=False if args.quiet else None,
    )
    _summary(run)
    return _fit_status(run)


def _fit_status(run):
    """0, or 130 when a Ctrl-C stopped the training at an epoch's end: the
    run folder is complete, but the fit did not run to its end (a script
    going on to predict should know)."""
    if not run.metrics.get("interrupted"):
        return 0
    print(
        f"deepstack: interrupted; training stopped after epoch "
        f"{run.metrics['n_epochs']}, and the run folder {run.path} is complete "
        "with its best epoch so far.",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


def _predict(args):
    from deepstack.runs import load_run

    run = load_run(args.run)
    n_rows = run.write_predictions(
        args.data,
        sys.stdout if args.out is None else args.out,
        proba=args.proba,
        keep=args.keep,
        chunk_rows=args.chunk_rows,
        progress=False if args.quiet else None,
    )
    if args.out is not None:
        print(f"{n_rows} predictions written to {args.out}")
    return 0


def _evaluate(args):
    from deepstack.runs import load_run
    from deepstack.runs._metrics import PRIMARY

    run = load_run(args.run)
    result = run.evaluate(args.data, chunk_rows=args.chunk_rows)
    primary = PRIMARY[run.task]
    if args.importance and primary not in result:
        # (Why the rows cannot give it was said.)
        _note(f"Column importance needs the {primary}: it is left out.", None)
    elif args.importance:
        importance = run.column_importance(args.data, chunk_rows=args.chunk_rows)
        result["column_importance"] = importance.to_dict("records")
    print(json.dumps(result, indent=2))
    return 0


def _report(args):
    from deepstack.runs import load_run

    path = load_run(args.run).write_report()
    print(f"report written to {path}")
    return 0


_COMMANDS = {
    "fit": _fit,
    "predict": _predict,
    "evaluate": _evaluate,
    "report": _report,
    "run": _run,
}


def _params(pairs):
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--param needs NAME=VALUE; got {pair!r}.")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        if name == "hidden_layer_sizes" and isinstance(parsed, list):
            parsed = tuple(parsed)
        params[name.strip()] = parsed
    return params


def _summary(run):
    metrics = run.metrics
    primary = metrics["primary_metric"]
    test = metrics["test"]
    weighted = ""
    if test.get("weighted_by") is not None:
        weighted = f", weighted by {test['weighted_by']!r}"
    print(
        f"{run.config['source']}: test {primary} {_score(test, primary)} on "
        f"{test['n_samples']} rows{weighted} ({run.task}, target {run.target!r}); "
        f"{metrics['n_epochs']} epoch{'s' if metrics['n_epochs'] != 1 else ''}, "
        f"fit {metrics['times']['fit_s']:.1f} s"
    )
    columns = _columns_line(run.config.get("columns"))
    if columns:
        print(columns)
    search = metrics.get("search")
    if search:
        chosen = ", ".join(f"{k}={v}" for k, v in sorted(search["best_params"].items()))
        print(f"search: {search['n_trials']} trials; chosen {chosen}")
    else:
        from deepstack.runs._record import network_of

        params = run.config["params"]
        bagging = run.config.get("bagging")
        network = network_of(run.estimator)
        # "auto" regularization as the fit resolved it.
        regularization = ", ".join(
            f"{name} {_number(getattr(network, f'{key}_', params[key]))}"
            + (" (auto)" if params[key] == "auto" else "")
            for name, key in (
                ("dropout", "dropout"),
                ("input dropout", "input_dropout"),
                ("L2", "l2"),
            )
        )
        print(
            f"model: hidden layers {params['hidden_layer_sizes']}, {regularization}, "
            f"learning rate {params['learning_rate']}, batch {params['batch_size']}"
            + (f"; {bagging} bagged networks (k-fold)" if bagging else "")
        )
    baselines = metrics.get("baselines")
    if baselines:
        print(
            f"baselines on the same rows (test {primary}): "
            + ", ".join(f"{name} {_score(m, primary)}" for name, m in baselines.items())
        )
    if run.importance is not None and not run.importance.empty:
        top = run.importance.head(3)
        top = top[top["importance"] > 0]
        if top.empty:
            print(
                f"columns that matter most: none measurably (shuffling no column "
                f"lowers the test {primary} on these {test['n_samples']} rows)"
            )
        else:
            print(
                f"columns that matter most (drop in test {primary} when shuffled): "
                + ", ".join(
                    f"{c} {v:+.3f}" for c, v in zip(top["column"], top["importance"])
                )
            )
    if run.path is not None:
        print(f"run folder: {run.path}  (report: {run.path / 'report.html'})")
        print(
            f"predict new rows: deepstack predict {run.path} NEW.csv "
            "--out predictions.csv"
        )


def _columns_line(columns):
    """How many feature columns took each role, and which numbers were read
    on a log scale; None without the column summary."""
    if not columns:
        return None
    from deepstack.tables._roles import ROLES

    roles = collections.Counter(c["role"] for c in columns)
    logged = [c["column"] for c in columns if c.get("log_scale") is not None]
    parts = []
    for role in ROLES:
        if roles[role]:
            part = f"{roles[role]} {role.replace('_', '-')}"
            if role == "numeric" and logged:
                shown = ", ".join(logged[:5]) + (", ..." if len(logged) > 5 else "")
                part += f" ({len(logged)} on a log scale: {shown})"
            parts.append(part)
    return "columns: " + ", ".join(parts)


def _score(metrics, name):
    """A metric to four decimals, or "left out" (a single test row's R²)."""
    value = metrics.get(name)
    return "left out" if value is None else f"{value:.4f}"


def _number(value):
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _bagging(value):
    """``--bagging``: 'auto', or a number of networks ("-1" is a number, and
    fit_table says what is wrong with it)."""
    try:
        return int(value)
    except ValueError:
        return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
