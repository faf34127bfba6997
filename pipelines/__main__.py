"""Run a named job: ``python -m pipelines digits``."""

import sys

from pipelines._jobs import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
