"""Transfer learning: the ``transfer`` model kind (``surrogate.TransferSurrogate``).

Modules: ``config.py`` (what a campaign may say), ``sources.py`` (reading and encoding the source data),
``source_model.py`` (a source's GP, fitted once and cached by the data's hash), ``components.py`` (the
GP-based methods), ``finetune.py`` (the fine-tuned network ensemble), ``weights.py`` (pseudo-BMA+ over
the methods), ``surrogate.py`` (the model the campaign uses).
"""

from .config import TransferConfig
from .sources import SourceData, load_sources, subsample
from .surrogate import TransferSurrogate

__all__ = ["SourceData", "TransferConfig", "TransferSurrogate", "load_sources", "subsample"]
