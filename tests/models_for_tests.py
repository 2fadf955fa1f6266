"""Model plugins used by the tests, loaded by import path (``models_for_tests:Name``) like a user's."""

from __future__ import annotations

import time

import numpy as np

from pydantic import Field

from orchestrator.models.base import ModelContext
from orchestrator.models.forest import ForestConfig, RandomForestSurrogate

# (start, end) of every SlowForest fit in this process, in time.monotonic() seconds
FITS: list[tuple[float, float]] = []


class SlowForestConfig(ForestConfig):
    seconds: float = Field(default=5.0, ge=0, description="seconds each fit sleeps before fitting")


class SlowForest(RandomForestSurrogate):
    """The random forest, with a fit that first sleeps ``seconds`` (a slow first fit or a slow import)."""

    Config = SlowForestConfig

    def __init__(self, *, seconds: float = 5.0, **kw):
        super().__init__(**kw)
        self.seconds = seconds

    @classmethod
    def from_config(cls, config: SlowForestConfig, context: ModelContext | None) -> "SlowForest":
        return cls(**config.model_dump(), seed=context.seed if context is not None else 0)

    def fit(self, X, y):
        start = time.monotonic()
        time.sleep(self.seconds)
        super().fit(X, y)
        FITS.append((start, time.monotonic()))
        return self


class FitRaises:
    """A user's model whose fit raises (its maths failed on these data)."""

    def fit(self, X, y):
        raise ValueError("singular matrix in my model")

    def predict(self, X):
        return np.zeros(len(X)), np.ones(len(X))


class NanPredict:
    """A user's model that fits, then predicts nan: the acquisition would rank nonsense."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.full(len(X), np.nan), np.ones(len(X))


class WrongShape:
    """A user's model that predicts three values whatever it is asked."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(3), np.ones(3)


class NanAcquisition:
    """A user's acquisition that scores every candidate nan."""

    def __call__(self, mean, variance, *, best):
        return np.full(len(mean), np.nan)


class RaisingAcquisition:
    """A user's acquisition that raises."""

    def __call__(self, mean, variance, *, best):
        raise RuntimeError("my acquisition broke")


class StateObject:
    """A user's model whose get_state() holds an object that is neither JSON nor an array."""

    def fit(self, X, y):
        self.m = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.m), np.ones(len(X))

    def get_state(self):
        return {"w": np.arange(3), "solver": object()}

    def set_state(self, state):
        pass


class NeedsArgument(StateObject):
    """A model whose constructor needs an argument no param can give (no Config)."""

    def __init__(self, alpha):
        self.alpha = alpha


class NanAwayFromData:
    """A user's model that predicts its observations, and nan everywhere else (fuzz round eight: it passed the
    check at the observed points, and the acquisition ranked the nans silently)."""

    def fit(self, X, y):
        self.X, self.y = np.asarray(X), np.asarray(y)
        return self

    def predict(self, X):
        hit = [np.flatnonzero(np.all(np.isclose(self.X, x), axis=1)) for x in np.asarray(X)]
        return np.array([self.y[h[0]] if len(h) else np.nan for h in hit]), np.ones(len(X))


class ColumnMean:
    """A user's model whose mean is an (n, 1) column (fuzz round eight: the error blamed the built-in acquisition
    and quoted scipy)."""

    def fit(self, X, y):
        self.m = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full((len(X), 1), self.m), np.ones(len(X))


class RulesOutAll:
    """A user's acquisition that scores every candidate -inf (fuzz round eight: experiments were still proposed,
    marked as the model's choice)."""

    def __call__(self, mean, variance, *, best):
        return np.full(len(mean), -np.inf)


class NanAfterChecks:
    """A user's model whose predictions pass the engine's checks after a fit (its first three predict calls: the
    observed points, five unmeasured ones, one point), then turn nan (fuzz round nine: the predicted best, stored with nan as null, crashed `run`'s summary and every
    later `looplab status` of the store)."""

    def fit(self, X, y):
        self.m, self.calls = float(np.mean(y)), 0
        return self

    def predict(self, X):
        self.calls += 1
        return np.full(len(X), self.m if self.calls <= 3 else np.nan), np.ones(len(X))


class NanConstant(StateObject):
    """A user's physics-informed model whose learned constant is nan (stored as null, status and the report could
    not show it)."""

    def get_state(self):
        return {}

    def constants(self):
        return {"r": (float("nan"), 1.0)}


class ScalarForOne(StateObject):
    """A user's model that returns Python scalars when asked about one point (fuzz round nine: the error named the
    built-in acquisition, at batch.py, not the model's shapes)."""

    def predict(self, X):
        if len(X) == 1:
            return self.m, 1.0
        return np.full(len(X), self.m), np.ones(len(X))

    def get_state(self):
        return {}
