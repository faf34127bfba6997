"""Ctrl-C during training: stop at the end of the epoch, or not at all.

deepstack's rule (the one Keras users know from skorch): the first SIGINT
during the epochs of a fit stops training at the end of the current epoch;
the fit then finishes normally (best weights restored, every fitted
attribute describing them) and warns. A SIGINT before the first epoch of the
call has ended, or a second one, raises ``KeyboardInterrupt`` at once, and
the estimator is put back as it was before the call (see
``estimators/_rollback.py``).

The console command also turns SIGTERM into an interrupt
(:func:`terminate_as_interrupt`), at once, never at an epoch's end.
"""

import _thread
import contextlib
import gc
import signal
import threading

import keras


class EpochBoundaryStop(keras.callbacks.Callback):
    """Stops training at the end of the epoch in which SIGINT arrived.

    Use it through :func:`stop_at_epoch_end`, which installs the handler.

    Attributes
    ----------
    epochs_done : int
        Epochs completed since training began.
    interrupted : bool
        Whether a SIGINT asked training to stop.
    """

    def __init__(self):
        super().__init__()
        self.epochs_done = 0
        self.interrupted = False

    def on_train_begin(self, logs=None):
        self.epochs_done = 0
        self.interrupted = False

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done += 1
        if self.interrupted:
            self.model.stop_training = True

    def handle(self, signum, frame):
        """The SIGINT handler: ask for a stop, or raise if nothing is done yet."""
        if self.interrupted or self.epochs_done == 0:
            interrupt(frame)
            return
        self.interrupted = True
        for stops in _watchers:
            stops.append(self)


# The lists of :func:`watched_stops` blocks now running.
_watchers = []


@contextlib.contextmanager
def watched_stops():
    """Yield a list that receives the :class:`EpochBoundaryStop` of each fit
    that a Ctrl-C stops at an epoch's end inside the block.

    For a caller that records that training was cut short (the main job):
    the fit itself returns normally, and only warns.
    """
    stops = []
    _watchers.append(stops)
    try:
        yield stops
    finally:
        _watchers.remove(stops)


def _may_install():
    # Only the main thread may set handlers; a handler the user (or a search
    # running trials) installed is theirs to keep; the console command's
    # (:func:`safe_interrupts`) is Python's default, made safe.
    return threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT)
        in (signal.default_int_handler, _default_interrupt)
    )


@contextlib.contextmanager
def stop_at_epoch_end():
    """Yield an :class:`EpochBoundaryStop`; its handler serves SIGINT meanwhile.

    Where the handler cannot be installed (another thread, a custom SIGINT
    handler), SIGINT keeps its usual effect and the callback does nothing.
    """
    stopper = EpochBoundaryStop()
    if not _may_install():
        yield stopper
        return
    with _installed(stopper.handle):
        yield stopper


def interrupt(frame, error=KeyboardInterrupt, signum=signal.SIGINT):
    """Raise ``error`` from the handler of ``signum`` (SIGINT) called in
    ``frame``.

    Python drops an exception raised inside a garbage-collector callback
    (it prints "Exception ignored" and goes on), and jax, which TensorFlow
    imports where it is installed, registers one: a Ctrl-C that lands there
    would be lost. Then the signal is delivered again 50 ms later, from
    another thread, to land once the callback has returned.
    """
    callbacks = {getattr(c, "__code__", None) for c in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks:
            # (Not at once: the handler would run again inside the callback.)
            timer = threading.Timer(0.05, _thread.interrupt_main, (signum,))
            timer.daemon = True
            timer.start()
            return
        frame = frame.f_back
    raise error


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler, a container stopping), raised as
    an interrupt by :func:`terminate_as_interrupt`'s handler.

    A ``KeyboardInterrupt``: what cleans up after a Ctrl-C (a run's hidden
    staging folder, a predictions file half-written beside its name, an
    estimator's state) cleans up after it too. Unlike the first Ctrl-C
    during a fit's epochs, it never waits for the epoch to end.
    """


def _terminate(signum, frame):
    interrupt(frame, Terminated, signum)


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM raises :class:`Terminated` inside the block, rather than
    ending the process at once and leaving what it was writing.

    Only in the main thread, and only over the default action: a SIGTERM
    handler of the caller's own is kept.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame):
    interrupt(frame)


def _default_interrupt(signum, frame):
    # As _raise_interrupt, but another handler: under this one, a fit may
    # install its own (see _may_install).
    interrupt(frame)


@contextlib.contextmanager
def safe_interrupts():
    """SIGINT raises ``KeyboardInterrupt``, as Python's default handler
    does, but is not lost inside a garbage-collector callback (see
    :func:`interrupt`); a fit under it still stops at an epoch's end."""
    with _installed(_default_interrupt) if _may_install() else contextlib.nullcontext():
        yield


@contextlib.contextmanager
def hard_interrupts():
    """SIGINT raises ``KeyboardInterrupt`` at once, also inside nested fits.

    A search runs its trials under it: a Ctrl-C should stop the search, not
    cut one trial short and go on with the next.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with _installed(_raise_interrupt):
        yield


@contextlib.contextmanager
def checked_interrupts():
    """Yield a function that raises ``KeyboardInterrupt`` if SIGINT came.

    Work done in pieces (a file predicted a chunk at a time) calls it
    between pieces, so that a Ctrl-C stops it there: Python drops an
    exception raised inside a garbage-collector callback (jax, which
    TensorFlow imports where it is installed, registers one), and a
    ``KeyboardInterrupt`` raised wherever the signal happens to land can be
    lost so. A second SIGINT raises at once. Where the handler cannot be
    installed (another thread, a custom SIGINT handler), SIGINT keeps its
    usual effect and the function does nothing.
    """
    asked = []

    def handle(signum, frame):
        if asked:
            interrupt(frame)
            return
        asked.append(signum)

    def check():
        if asked:
            raise KeyboardInterrupt

    if not _may_install():
        yield lambda: None
        return
    with _installed(handle):
        yield check


@contextlib.contextmanager
def _installed(handler):
    """``handler`` serves SIGINT inside the block; the previous one after."""
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
