"""looplab's engine: campaign config, search spaces, the store, the loop and the CLI.

Importing this package is cheap: TensorFlow and GPflow are imported only by
the model modules that need them.
"""

import os

# TensorFlow prints C++ start-up chatter to stderr unless told otherwise.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
