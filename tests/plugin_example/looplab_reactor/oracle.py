"""Yield of the intermediate B in an isothermal batch reactor running A -> B -> C.

Both steps are first order with Arrhenius rate constants
k_i(T) = A_i exp(-Ea_i / (R T)). Starting from pure A, the fraction of B after
time t is (the classic consecutive-reaction result)

    y_B(t) = k1 / (k2 - k1) * (exp(-k1 t) - exp(-k2 t))      (k1 != k2)

With Ea2 > Ea1, heating speeds up the unwanted second step more than the
first, so the best yield sits at a moderate temperature and a matching time:
a small, honest two-parameter optimisation problem with a known answer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from oracles.base import ConfigProblem, OracleContext, SyncOracle

R = 8.314462618  # J / (mol K)


def rate_constants(temperature_k: float, *, a1: float, ea1: float, a2: float, ea2: float) -> tuple[float, float]:
    return a1 * math.exp(-ea1 / (R * temperature_k)), a2 * math.exp(-ea2 / (R * temperature_k))


def yield_b(temperature_k: float, time_s: float, **constants: float) -> float:
    k1, k2 = rate_constants(temperature_k, **constants)
    if abs(k2 - k1) < 1e-12 * max(k1, k2):
        return k1 * time_s * math.exp(-k1 * time_s)
    return k1 / (k2 - k1) * (math.exp(-k1 * time_s) - math.exp(-k2 * time_s))


class ReactorOracle(SyncOracle):
    """Batch reactor A -> B -> C (Arrhenius kinetics): yield of B at a temperature and a time."""

    class Config(BaseModel):
        """The reactor's chemistry and the measurement (the campaign's ``oracle.params``)."""

        model_config = ConfigDict(extra="forbid")
        a1: float = Field(1.0e7, gt=0, description="pre-exponential factor of A -> B, 1/s")
        ea1: float = Field(60_000.0, gt=0, description="activation energy of A -> B, J/mol")
        a2: float = Field(5.0e10, gt=0, description="pre-exponential factor of B -> C, 1/s")
        ea2: float = Field(90_000.0, gt=0, description="activation energy of B -> C, J/mol")
        noise: float = Field(0.0, ge=0, description="standard deviation of the measured yield")
        temperature: str = Field("temperature", description="the campaign parameter holding T in kelvin")
        time: str = Field("time", description="the campaign parameter holding the reaction time in seconds")

    # a few microseconds per experiment: no need for worker processes
    default_executor = "inline"

    def __init__(self, *, config: "ReactorOracle.Config", objective: str, seed: int = 0):
        super().__init__()
        self.config = config
        self.objective = objective
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_config(cls, config: "ReactorOracle.Config", context: OracleContext) -> "ReactorOracle":
        return cls(config=config, objective=context.objective, seed=context.seed)

    @classmethod
    def check_config(cls, config: "ReactorOracle.Config", *, spec: Any, base_dir: Any) -> list[ConfigProblem]:
        """Runs at `looplab validate`: the space must have the two parameters this oracle reads."""
        names = {p.name for p in (spec.space.parameters or [])}
        return [ConfigProblem(field, f"the space has no parameter '{name}' (it has: {', '.join(sorted(names))}); "
                                     f"add it or set {field} to the parameter's name")
                for field, name in (("temperature", config.temperature), ("time", config.time))
                if name not in names]

    def evaluate(self, params: dict[str, Any]) -> dict[str, float]:
        temperature, time_s = float(params[self.config.temperature]), float(params[self.config.time])
        if temperature <= 0 or time_s < 0:
            raise ValueError(f"temperature must be > 0 K and time >= 0 s (got {temperature}, {time_s})")
        constants = dict(a1=self.config.a1, ea1=self.config.ea1, a2=self.config.a2, ea2=self.config.ea2)
        y = yield_b(temperature, time_s, **constants)
        k1, k2 = rate_constants(temperature, **constants)
        measured = y + (self._rng.normal(0.0, self.config.noise) if self.config.noise else 0.0)
        return {self.objective: measured, "true_yield": y, "conversion": 1.0 - math.exp(-k1 * time_s),
                "k1": k1, "k2": k2}
