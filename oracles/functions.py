"""Analytic test functions with known optima, and an oracle that evaluates them.

Used to check that campaigns find known optima (tests, demos) and, later, as
the ground truth of the mock lab robot. Each function takes a vector in its
native domain, in the order of the campaign's parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .base import ConfigProblem, OracleContext, SyncOracle


def branin(x: np.ndarray) -> float:
    x1, x2 = float(x[0]), float(x[1])
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann3(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_H3_A * (x - _H3_P) ** 2, axis=1))))


def hartmann6(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def sphere(x: np.ndarray) -> float:
    return float(np.sum(np.asarray(x, dtype=float) ** 2))


@dataclass(frozen=True)
class TestFunction:
    fn: Callable[[np.ndarray], float]
    dim: int | None  # None: any dimension
    bounds: tuple[tuple[float, float], ...] | None
    goal: str
    optimum: float
    argmin: tuple[float, ...] | None


FUNCTIONS: dict[str, TestFunction] = {
    "branin": TestFunction(branin, 2, ((-5.0, 10.0), (0.0, 15.0)), "min", 0.397887357729739, (math.pi, 2.275)),
    "hartmann3": TestFunction(hartmann3, 3, ((0.0, 1.0),) * 3, "min", -3.86278214782076, (0.114614, 0.555649, 0.852547)),
    "hartmann6": TestFunction(hartmann6, 6, ((0.0, 1.0),) * 6, "min", -3.32236801141551,
                              (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)),
    "sphere": TestFunction(sphere, None, None, "min", 0.0, None),
}


class FunctionOracle(SyncOracle):
    """Evaluates an analytic test function (branin, hartmann3, hartmann6, sphere), optionally noisy."""

    default_executor = "inline"  # microseconds per experiment: a process hop would only add latency

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

        function: Literal["branin", "hartmann3", "hartmann6", "sphere"]
        noise: float = Field(default=0.0, ge=0.0, description="standard deviation of Gaussian noise added")

    def __init__(self, *, function: str, inputs: tuple[str, ...], objective: str = "value",
                 noise: float = 0.0, seed: int = 0):
        super().__init__()
        self.function = function
        self.inputs = tuple(inputs)
        self.objective = objective
        self.noise = noise
        self.seed = seed

    @classmethod
    def from_config(cls, config: "FunctionOracle.Config", context: OracleContext) -> "FunctionOracle":
        return cls(function=config.function, inputs=context.inputs, objective=context.objective,
                   noise=config.noise, seed=context.seed)

    @classmethod
    def check_config(cls, config: "FunctionOracle.Config", *, spec: Any, base_dir: Any) -> list:
        tf = FUNCTIONS[config.function]
        params = spec.space.parameters or []
        if spec.space.pool is not None:
            return []
        if tf.dim is not None and len(params) != tf.dim:
            return [ConfigProblem("function", f"'{config.function}' takes {tf.dim} inputs but the space has {len(params)}")]
        categorical = [p.name for p in params if getattr(p, "type", None) == "categorical"]
        if categorical:  # every experiment would fail: the function reads each input as a number
            return [ConfigProblem("function", f"'{config.function}' takes numbers, and the input "
                                              f"{categorical[0]} is categorical; make it a float or int input, "
                                              "or use another oracle")]
        return []

    def evaluate(self, params: dict[str, Any]) -> float:
        x = np.array([float(params[n]) for n in self.inputs])
        value = FUNCTIONS[self.function].fn(x)
        if self.noise:
            # noise seeded by the point, so a repeated evaluation is reproducible
            h = abs(hash((self.seed, tuple(np.round(x, 12))))) % (2**32)
            value += float(np.random.default_rng(h).normal(0.0, self.noise))
        return value
