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


def import_tensorflow() -> None:
    if "gpflow" in sys.modules or os.environ.get("LOOPLAB_TF_LOGS") == "1":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import gpflow  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery (the cuInit message) happens here
        _ = tf.constant(0.0) + 0.0
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
