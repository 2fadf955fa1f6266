"""looplab's engine: campaign config, search spaces, the store, the loop and the CLI.

Importing this package is cheap: TensorFlow and GPflow are imported only by
the model modules that need them.
"""

import os

# TensorFlow prints C++ start-up chatter to stderr unless told otherwise.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def __getattr__(name: str):
    """``from orchestrator import Campaign``: the Python ask/tell API (orchestrator/api.py), imported on use."""
    if name == "Campaign":
        from .api import Campaign

        return Campaign
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
