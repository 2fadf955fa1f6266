"""The pieces a transfer model mixes: each method as a surrogate of the target task.

Every component has ``name``, ``fit(X, y)``, ``predict(X) -> (mean, var)``, ``condition(X)``,
``loo() -> (mean, var) | None`` (leave-one-out predictions at the target points, noise included),
``get_state()/set_state()`` and ``rebuilt(X, y, state)`` (the component as an earlier step fitted it: its
stored hyperparameters conditioned on that step's rows, without a fit; ``auto`` scores what it predicted
for the rows measured since). They are built from a :class:`Setup`: the step's model context, the
campaign's sources and their source GPs (fitted on first use).

- ``none``: the base model alone (no transfer);
- ``prior-mean``: the source GPs' mean prediction is the prior mean of the target GP (``MeanGP``: learned
  scale and offset, shrunk toward 1 and 0 with few points); several sources: their average;
- ``latent-variable``: each source GP's predicted mean, scaled by that source's range of y to about
  [0, 1], is one more numeric input of the base model;
- ``multi-task``: one GP over the sources' and the target's observations (``MultiTaskGP``, an intrinsic
  coregionalisation kernel), each source its own task.

The fine-tuned network is in ``finetune.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Callable

import numpy as np

from ..base import ModelContext, ModelError


@dataclass
class Setup:
    context: ModelContext
    sources: tuple  # SourceData, in the campaign's order
    fit_sources: Callable[[], list]  # a fitted GPSurrogate per source (called once, by the methods that use them)
    make_base: Callable[[ModelContext], Any]  # the base model for a context
    make_gp: Callable[[ModelContext], Any]  # a GPSurrogate for a context (the GP-only methods' target GP)
    multitask_rows: int = 400  # at most this many source rows in the multi-task GP
    multitask_scale: str = "per-task"  # the multi-task GP's standardisation: per-task | shared
    multitask_lengthscale_prior: str = "auto"  # the multi-task GP's lengthscale prior (a GP core preset)
    multitask_target_kernel: str = "shared"  # the target's own variance on the shared input kernel, or its own

    @cached_property
    def source_gps(self) -> list:
        """The source GPs, fitted (or rebuilt from the campaign's state) on first use: multi-task and
        fine-tune learn from the source rows themselves and never need them."""
        return self.fit_sources()

    def source_mean(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sources' GPs' average prediction at X [N, D]: mean [N], variance [N]."""
        preds = [gp.predict(X) for gp in self.source_gps]
        return np.mean([m for m, _ in preds], axis=0), np.mean([v for _, v in preds], axis=0)


class _Wrapped:
    """A component that holds one surrogate and maps X before it sees it."""

    name = ""

    def __init__(self, model: Any):
        self.model = model

    def _x(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "_Wrapped":
        self.model.fit(self._x(X), y)
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.predict(self._x(X))

    def condition(self, X: np.ndarray) -> "_Wrapped":
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.model = self.model.condition(self._x(X))
        return other

    def loo(self) -> tuple[np.ndarray, np.ndarray] | None:
        f = getattr(self.model, "loo", None)
        return f() if callable(f) else None

    def rebuilt(self, X: np.ndarray, y: np.ndarray, state: dict[str, Any]) -> "_Wrapped | None":
        """This component conditioned on (X, y) with the hyperparameters of ``state`` (an earlier fit's),
        not fitted; None when its model cannot be rebuilt that way (no ``restore``, or the state does not
        fit)."""
        restore = getattr(self.model, "restore", None)
        if not state or not callable(restore):
            return None
        try:
            self.model = restore(self._x(X), np.asarray(y, dtype=float), state)
        except (ValueError, KeyError, TypeError, ModelError):
            return None
        return self

    def get_state(self) -> dict[str, Any]:
        return self.model.get_state() if hasattr(self.model, "get_state") else {}

    def set_state(self, state: dict[str, Any]) -> None:
        if state and hasattr(self.model, "set_state"):
            self.model.set_state(state)

    @property
    def fit_info(self) -> dict:
        return dict(getattr(self.model, "fit_info", {}) or {})


class NoTransfer(_Wrapped):
    name = "none"

    def __init__(self, setup: Setup):
        super().__init__(setup.make_base(setup.context))


class PriorMean(_Wrapped):
    name = "prior-mean"

    def __init__(self, setup: Setup):
        from ..gp.mean import MeanGP

        # the source GPs are fitted here, in the step's fit (and so in its state), not at a first prediction
        self.source_gps = setup.source_gps
        super().__init__(MeanGP(base=setup.make_gp(setup.context), mean=setup.source_mean))


class LatentVariable(_Wrapped):
    name = "latent-variable"

    def __init__(self, setup: Setup):
        from ...space import ColumnGroup

        ctx = setup.context
        self.gps = setup.source_gps
        self.ranges = []
        for s in setup.sources:
            lo, hi = float(np.min(s.y)), float(np.max(s.y))
            self.ranges.append((lo, hi - lo if hi > lo else 1.0))
        d, k = ctx.n_inputs, len(self.gps)
        groups = ctx.groups
        if groups:
            groups = tuple(groups) + tuple(ColumnGroup(f"source {j}", slice(d + j, d + j + 1), "numeric")
                                           for j in range(k))
        candidates = self._x(ctx.candidates) if ctx.candidates is not None else None
        super().__init__(setup.make_base(replace(ctx, n_inputs=d + k, groups=groups, candidates=candidates)))

    def _x(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        cols = [(gp.predict(X)[0] - lo) / span for gp, (lo, span) in zip(self.gps, self.ranges)]
        return np.column_stack([X] + cols)


class MultiTask(_Wrapped):
    name = "multi-task"

    def __init__(self, setup: Setup):
        from ..gp.multitask import MultiTaskGP

        ctx = setup.context
        self.sources = thin(setup.sources, setup.multitask_rows)
        super().__init__(MultiTaskGP(seed=ctx.seed, groups=list(ctx.groups) if ctx.groups else None,
                                     scale=setup.multitask_scale,
                                     lengthscale_prior=setup.multitask_lengthscale_prior,
                                     target_kernel=setup.multitask_target_kernel))

    def _rows(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sources' rows and the target's, with each row's task (0: the target; j + 1: source j)."""
        X = np.asarray(X, dtype=np.float64)
        Xa = np.vstack([s.X for s in self.sources] + [X])
        ya = np.concatenate([s.y for s in self.sources] + [np.asarray(y, dtype=float)])
        task = np.concatenate([np.full(len(s.y), j + 1) for j, s in enumerate(self.sources)]
                              + [np.zeros(len(X), dtype=int)]).astype(int)
        return Xa, ya, task

    def fit(self, X: np.ndarray, y: np.ndarray) -> "MultiTask":
        self.model.fit(*self._rows(X, y))
        return self

    def rebuilt(self, X: np.ndarray, y: np.ndarray, state: dict[str, Any]) -> "MultiTask | None":
        try:
            self.model = self.model.restore(*self._rows(X, y), state)
        except (ValueError, KeyError, TypeError):
            return None
        return self

    def task_covariance(self) -> np.ndarray:
        return self.model.task_covariance()

    def source_fit(self) -> tuple[np.ndarray, np.ndarray]:
        """Each source's leave-one-out R^2 in this GP and its number of rows, in the order of the sources."""
        r2, n = self.model.task_loo_r2()
        return r2[1:], n[1:]


def thin(sources: tuple, limit: int) -> tuple:
    """The sources with at most ``limit`` rows in all: each keeps its share (proportional to its size) of
    rows drawn at random from its hash, so every step and a resumed campaign use the same rows."""
    total = sum(len(s.y) for s in sources)
    if total <= limit:
        return tuple(sources)
    out = []
    for s in sources:
        k = max(2, int(limit * len(s.y) / total))
        rng = np.random.default_rng(int(s.digest[:8], 16))
        out.append(s.subset(np.sort(rng.choice(len(s.y), size=min(k, len(s.y)), replace=False))))
    return tuple(out)


COMPONENTS = {c.name: c for c in (NoTransfer, PriorMean, LatentVariable, MultiTask)}
