"""Import TensorFlow and GPflow without their C++ start-up chatter.

TensorFlow 2.21 prints oneDNN and CUDA notices (and a cuInit error on machines
without a GPU) to file descriptor 2 before its logging is initialised, so
TF_CPP_MIN_LOG_LEVEL cannot silence them. We point descriptor 2 at /dev/null
while TensorFlow imports and initialises its devices, then restore it.
Python exceptions are unaffected. Set LOOPLAB_TF_LOGS=1 to see the chatter.
"""

from __future__ import annotations

import os
import sys
import threading

# one import at a time: descriptor 2 is process-wide, so a second thread redirecting it while the first
# still has it pointed at /dev/null would "restore" /dev/null for good (the daemon steps campaigns in threads)
_lock = threading.Lock()
_done = False


def import_tensorflow() -> None:
    global _done
    if _done or os.environ.get("LOOPLAB_TF_LOGS") == "1":
        return
    with _lock:
        if not _done:
            _import_quietly()
            _done = True


def _import_quietly() -> None:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    # Python's own writes to stderr meanwhile (log records of other threads: the daemon imports TensorFlow
    # in a thread of its own while campaigns run) go to the real stderr, through a duplicate of it
    real = os.fdopen(os.dup(saved), "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                     errors="backslashreplace")
    diverted = _divert(sys.stderr, real)
    try:
        os.dup2(devnull, 2)
        import gpflow  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery (the cuInit message) happens here
        _ = tf.constant(0.0) + 0.0
    finally:
        os.dup2(saved, 2)
        for restore in diverted:
            restore()
        # handlers made during the import (TensorFlow's own logger adds one) took sys.stderr as it was then,
        # the duplicate about to be closed: point them at the real stderr, or every later TensorFlow warning
        # ends in "--- Logging error --- ... I/O operation on closed file"
        _divert(real, sys.stderr)
        real.close()
        os.close(saved)
        os.close(devnull)


def _divert(stream, to) -> list:
    """Point sys.stderr and every logging handler that writes to ``stream`` at ``to``; returns the undo steps."""
    import logging

    undo = []
    loggers = [logging.getLogger()] + [lg for lg in list(logging.Logger.manager.loggerDict.values())
                                       if isinstance(lg, logging.Logger)]
    for logger in loggers:
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is stream:
                handler.setStream(to)
                undo.append(lambda h=handler: h.setStream(stream))
    if sys.stderr is stream:
        sys.stderr = to
        undo.append(lambda: setattr(sys, "stderr", stream))
    return undo
