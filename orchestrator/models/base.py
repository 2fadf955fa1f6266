"""The surrogate-model protocol and helpers shared by the built-in models.

A surrogate is fitted on encoded inputs X [N, D] (every column in [0, 1]) and
targets y [N] in the maximisation convention, and predicts the mean and
variance of the latent function at new inputs, in y's units.

Optional abilities (checked with ``hasattr``/``isinstance``):

- ``condition(X) -> Surrogate``: the model with fantasy observations at its
  own predicted mean at X, hyperparameters unchanged (batch selection);
- ``get_state() -> dict`` / ``set_state(dict)``: hyperparameters as JSON, so a
  resumed campaign warm-starts exactly as the uninterrupted one would;
- ``fit_info``: a dict describing the last fit (seconds, restarts, fallbacks);
- ``constants() -> {name: (mean, sd)}``: learned physical constants with their spread
  (physics-informed models); the engine records them with every fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import LooplabError


@runtime_checkable
class Surrogate(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> "Surrogate": ...

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class Conditionable(Protocol):
    def condition(self, X: np.ndarray) -> "Surrogate": ...


@runtime_checkable
class Stateful(Protocol):
    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ModelContext:
    """What the engine tells a model when it builds one for a step."""

    seed: int
    n_inputs: int
    pool: bool = False  # the campaign chooses among the candidates of a pool (a CSV), not a continuous space
    # a pool's encoded candidates [M, D] (None for continuous spaces): models may adapt to where they lie
    candidates: Any = field(default=None, compare=False, repr=False)
    # the space's column groups (space.column_groups(): name, encoded columns, kind numeric | categorical |
    # descriptors), so a model can treat a categorical input's columns as one input; None: all numeric
    groups: Any = field(default=None, compare=False, repr=False)
    # transfer learning: the campaign's source data, read and encoded once by the proposer (a tuple of
    # models.transfer.SourceData) for models whose class has ``load_sources``; None otherwise
    sources: Any = field(default=None, compare=False, repr=False)
    # the numeric inputs' physical scales (encoded column -> physical value), for models that need the
    # physical inputs (physics-informed models); categorical inputs are not listed
    inputs: tuple["InputScale", ...] = ()
    # y given to fit = y_sign * measured value (-1 for a min goal); None when y is not an affine function of
    # the measurement (a target goal scored by distance, or a model.transform other than none)
    y_sign: float | None = 1.0


@dataclass(frozen=True)
class InputScale:
    """How encoded column ``column`` (in [0, 1]) maps to the physical value of input ``name``."""

    name: str
    column: int
    low: float
    high: float
    log: bool = False

    def physical(self, u: np.ndarray) -> np.ndarray:
        """Physical values of encoded values u (any shape)."""
        u = np.asarray(u, dtype=np.float64)
        if self.log:
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)


class ModelError(LooplabError):
    pass


def check_training_data(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ModelError(f"X must be [N, D] and y [N]; got X {X.shape} and y {y.shape}")
    if X.shape[0] == 0:
        raise ModelError("cannot fit a model on zero observations")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ModelError("training data contain NaN or infinite values")
    return X, y


def spread_of(y: np.ndarray) -> float:
    """The standard deviation of ``y``, or 0 when it is no more than rounding: below 1e-12 of y's magnitude,
    or below 1e-150 (its square would underflow). Relative, so an objective measured in small units (a
    diffusivity of 1e-13 m^2/s) is not taken for a constant: an absolute floor of 1e-12 made the GP
    model such objectives as flat."""
    std = float(np.std(y))
    return std if std > max(1e-12 * abs(float(np.mean(y))), 1e-150) else 0.0


class Standardizer:
    """y -> (y - mean) / std, with std = 1 when y is constant (see :func:`spread_of`) or has one value."""

    def __init__(self, y: np.ndarray):
        self.mean = float(np.mean(y))
        self.std = spread_of(y) or 1.0

    def forward(self, y: np.ndarray) -> np.ndarray:
        return (y - self.mean) / self.std
