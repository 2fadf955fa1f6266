"""Random-forest surrogate: scikit-learn RandomForestRegressor, mean and variance across trees."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .base import ModelContext, Standardizer, check_training_data


class ForestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_estimators: int = Field(default=200, ge=2, le=5000)
    min_samples_leaf: int = Field(default=1, ge=1)
    max_features: float = Field(default=1.0, gt=0, le=1, description="fraction of inputs tried at each split")


class RandomForestSurrogate:
    """Random forest (scikit-learn); uncertainty is the spread of the trees' predictions."""

    Config = ForestConfig
    imports_tensorflow = False  # a daemon of forests never waits for TensorFlow's import (orchestrator/daemon.py)

    def __init__(self, *, n_estimators: int = 200, min_samples_leaf: int = 1, max_features: float = 1.0,
                 seed: int = 0):
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.seed = seed
        self._forest = None
        self._std: Standardizer | None = None
        self._X: np.ndarray | None = None
        self._z: np.ndarray | None = None
        self.fit_info: dict[str, Any] = {}

    @classmethod
    def from_config(cls, config: ForestConfig, context: ModelContext | None) -> "RandomForestSurrogate":
        return cls(**dict(config), seed=context.seed if context else 0)

    def _fit_forest(self, X: np.ndarray, z: np.ndarray) -> None:
        from sklearn.ensemble import RandomForestRegressor

        self._forest = RandomForestRegressor(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=self.seed % (2**32),
            n_jobs=1,
        ).fit(X, z)
        self._X, self._z = X, z

    def fit(self, X: np.ndarray, y: np.ndarray) -> "RandomForestSurrogate":
        X, y = check_training_data(X, y)
        t0 = time.perf_counter()
        self._std = Standardizer(y)
        self._fit_forest(X, self._std.forward(y))
        self.fit_info = {"seconds": time.perf_counter() - t0}
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance over trees at X [N, D], in y's units; arrays [N]."""
        if self._forest is None:
            raise RuntimeError("RandomForestSurrogate.predict called before fit")
        X = np.asarray(X, dtype=np.float64)
        per_tree = np.stack([t.predict(X) for t in self._forest.estimators_])
        mean = per_tree.mean(axis=0)
        # a small floor keeps acquisitions informative where every tree agrees
        var = per_tree.var(axis=0) + 1e-6
        return mean * self._std.std + self._std.mean, var * self._std.std**2

    def condition(self, X: np.ndarray) -> "RandomForestSurrogate":
        """A copy refitted with fantasy observations at its predicted mean (kriging believer)."""
        mean, _ = self.predict(X)
        other = RandomForestSurrogate(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                      max_features=self.max_features, seed=self.seed)
        other._std = self._std
        other._fit_forest(np.vstack([self._X, X]), np.concatenate([self._z, self._std.forward(mean)]))
        return other

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass
