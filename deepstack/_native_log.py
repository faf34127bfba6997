"""TensorFlow's native start-up lines, kept off the console command's output.

TensorFlow logs through Abseil, and what it writes while it loads (before
``absl::InitializeLog`` runs) ignores ``TF_CPP_MIN_LOG_LEVEL``: every
``deepstack`` command would open with half a dozen INFO lines about oneDNN,
CPU instructions and missing CUDA drivers, and, on a machine without a GPU
driver, an error line saying that CUDA failed to initialize.
:func:`quiet_backend_import` imports Keras and lists TensorFlow's devices
(when CUDA is tried) with the process's standard error going through a pipe;
a thread passes every line that is not one of those on at once (so that a
fatal message before a crash still shows): warnings, other errors and
tracebacks still show. ``TF_CPP_MIN_LOG_LEVEL=0`` turns the filter off.

Only the console command uses it (:func:`console_command`: the command
checks it once its arguments are read, before anything imports Keras);
``import deepstack`` in a user's program leaves TensorFlow's logging alone.
"""

import os
import re
import sys
import threading

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


class _Filter:
    """Decides line by line, in order, whether a line is start-up chatter."""

    def __init__(self):
        self.no_driver = False

    def chatter(self, line):
        if _INFO.match(line):
            self.no_driver = self.no_driver or _NO_DRIVER in line
            return True
        return bool(
            _ABSL_NOTICE.match(line)
            or _INSTRUCTIONS.match(line)
            or (self.no_driver and _CUINIT.match(line))
        )


def unexpected_lines(lines):
    """The lines of ``lines`` that are not TensorFlow's start-up chatter.

    Dropped: Abseil's notice about logging before initialization, INFO
    lines, the continuation of the CPU-instructions INFO line, and a failed
    ``cuInit`` error after an INFO line has said that no CUDA driver exists
    (a machine without a GPU driver). Everything else is kept, in order.
    """
    keep = _Filter()
    return [line for line in lines if not keep.chatter(line)]


def _forward(read_fd, out_fd):
    """Copy the lines arriving on ``read_fd`` that are not chatter to
    ``out_fd``, each as soon as it is complete, until the pipe closes."""
    keep = _Filter()
    with os.fdopen(read_fd, "rb") as pipe:
        for raw in pipe:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if not keep.chatter(line):
                os.write(out_fd, raw if raw.endswith(b"\n") else raw + b"\n")


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
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    forwarder = threading.Thread(target=_forward, args=(read_fd, saved), daemon=True)
    forwarder.start()
    try:
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
    finally:
        # Also when the import fails: its traceback follows the lines passed on.
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the thread ends
        # A child process started during the import would hold a copy of the
        # write end; then the thread keeps forwarding (to ``saved``, left
        # open) and the command goes on.
        forwarder.join(timeout=5)
        if not forwarder.is_alive():
            os.close(saved)
