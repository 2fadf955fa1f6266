"""The model of one source: a GP fitted once per campaign, cached by the source data's hash.

The fit is the GP's own (``GPSurrogate``, the campaign's column groups, no rank mixture or product
features; the sparse GP above 2,000 rows, rebuilt from its hyperparameters and inducing points), seeded
from the data's hash. Its hyperparameters (JSON) travel in the transfer model's state,
which the engine stores with every step's snapshot; a later step, or a campaign resumed after a crash in
another process, rebuilds the posterior from those hyperparameters without fitting again. The posterior is
always rebuilt from the JSON hyperparameters, also right after the first fit, so a resumed campaign
predicts bit for bit what the uninterrupted one did. A process keeps the rebuilt models in memory (keyed
by the hash and the hyperparameters), so a campaign's steps do not refactorise the source's kernel.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np

from ..gp import GPSurrogate
from .sources import SourceData

_CACHE: dict[str, GPSurrogate] = {}
_LOCK = threading.Lock()
_MAX = 16


def _new_gp(groups: list | None, seed: int) -> GPSurrogate:
    return GPSurrogate(groups=groups, seed=seed, interactions=False, rank_inputs=False)


def _restore(gp: GPSurrogate, X: np.ndarray, y: np.ndarray, state: dict[str, Any]) -> GPSurrogate:
    """``gp``'s posterior on (X, y) for the hyperparameters in ``state``, without fitting."""
    return gp.restore(X, y, state)


def source_gp(source: SourceData, groups: list | None, state: dict[str, Any] | None = None
              ) -> tuple[GPSurrogate, dict[str, Any]]:
    """The fitted GP of ``source`` and its state; fitted only when ``state`` (a previous fit's) is None."""
    seed = int(source.digest[:8], 16)
    if state:
        key = source.digest + json.dumps(state, sort_keys=True)
        with _LOCK:
            hit = _CACHE.get(key)
        if hit is not None:
            return hit, state
    if not state:
        gp = _new_gp(groups, seed)
        gp.fit(source.X, source.y)
        state = json.loads(json.dumps(gp.get_state()))
    gp = _restore(_new_gp(groups, seed), source.X, source.y, state)
    with _LOCK:
        if len(_CACHE) >= _MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[source.digest + json.dumps(state, sort_keys=True)] = gp
    return gp, state
