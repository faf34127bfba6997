"""The ``deepstack`` console command."""

import argparse
import importlib
import sys

import deepstack


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="deepstack", description="Deep feed-forward networks for scikit-learn."
    )
    parser.add_argument("--version", action="version", version=deepstack.__version__)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a job from the repository's pipelines/")
    run.add_argument("job", nargs="?", default="digits")
    run.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command != "run":
        parser.print_help()
        return 0
    try:
        jobs = importlib.import_module("pipelines._jobs")
    except ImportError:
        print(
            "deepstack run needs the repository's pipelines/ folder; run it from "
            "the repository root.",
            file=sys.stderr,
        )
        return 2
    return jobs.main([args.job, "--random-state", str(args.random_state)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
