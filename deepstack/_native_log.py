"""TensorFlow's native start-up lines, kept off the console command's output.

TensorFlow logs through Abseil, and what it writes while it loads (before
``absl::InitializeLog`` runs) ignores ``TF_CPP_MIN_LOG_LEVEL``: every
``deepstack`` command would open with half a dozen INFO lines about oneDNN,
CPU instructions and missing CUDA drivers, and, on a machine without a GPU
driver, an error line saying that CUDA failed to initialize.
:func:`quiet_backend_import` imports Keras and lists TensorFlow's devices
(when CUDA is tried) with the process's standard error captured, then writes
back every line that is not one of those: warnings, other errors and
tracebacks still show. ``TF_CPP_MIN_LOG_LEVEL=0`` turns the filter off.

Only the console command uses it (:func:`console_command`: the package's
``__init__`` checks it before anything imports Keras); ``import deepstack``
in a user's program leaves TensorFlow's logging alone.
"""

import os
import re
import sys
import tempfile

_ABSL_NOTICE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called "
    r"are written to STDERR$"
)
# Abseil's INFO lines: "I0000 00:00:1795986273.381869   31034 port.cc:153] ...".
_INFO = re.compile(r"^I\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
# The second line of TensorFlow's INFO line about CPU instructions.
_INSTRUCTIONS = re.compile(
    r"^To enable the following instructions: .* rebuild TensorFlow with the "
    r"appropriate compiler flags\.$"
)
_NO_DRIVER = "Could not find cuda drivers on your machine, GPU will not be used"
_CUINIT = re.compile(r"^E\d{4} .* cuda_platform\.cc:\d+\] failed call to cuInit: ")


def unexpected_lines(lines):
    """The lines of ``lines`` that are not TensorFlow's start-up chatter.

    Dropped: Abseil's notice about logging before initialization, INFO
    lines, the continuation of the CPU-instructions INFO line, and the
    failed ``cuInit`` error when an INFO line has said that no CUDA driver
    exists (a machine without a GPU driver). Everything else is kept, in
    order.
    """
    lines = list(lines)
    no_driver = any(_INFO.match(line) and _NO_DRIVER in line for line in lines)
    return [
        line
        for line in lines
        if not (
            _ABSL_NOTICE.match(line)
            or _INFO.match(line)
            or _INSTRUCTIONS.match(line)
            or (no_driver and _CUINIT.match(line))
        )
    ]


def console_command():
    """Whether this process is the installed ``deepstack`` console command."""
    argv = getattr(sys, "argv", None) or [""]
    name = os.path.basename(argv[0])
    return name in ("deepstack", "deepstack.exe")


def quiet_backend_import():
    """Import Keras (and initialize TensorFlow's devices) with the start-up
    chatter filtered out of standard error.

    Does nothing when Keras is already imported (there is nothing left to
    filter) or when ``TF_CPP_MIN_LOG_LEVEL`` is ``0`` (the user asked for
    every line).
    """
    if "keras" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices()
        finally:
            # Also when the import fails: its traceback follows these lines.
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            for line in unexpected_lines(text.splitlines()):
                print(line, file=sys.stderr)
