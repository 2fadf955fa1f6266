"""A physics plugin written as a user would (the README's example): logistic growth of a culture.

dN/dt = g N (1 - N / K), N(0) = N0; unknown constants g (growth rate, per hour) and K (carrying
capacity); closed form N(t) = K / (1 + (K / N0 - 1) exp(-g t)). Used by tests/test_physics.py through
its import path ``physics_example:LogisticGrowth``, as a campaign would name it.
"""

import numpy as np
import tensorflow as tf
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.models.physics import Constant, Physics


class LogisticGrowth(Physics):
    """Logistic growth dN/dt = g N (1 - N/K), N(0) = N0."""

    inputs = ("t",)                      # hours; mapped to the campaign parameter of the same name
    output = "N"                         # the measured objective
    constants = {"g": Constant(0.01, 10.0, unit="1/h"), "K": Constant(1.0, 1e4)}
    derivatives = ("t",)                 # the residual needs dN/dt

    class Config(BaseModel):             # known settings, given as the model's settings:
        model_config = ConfigDict(extra="forbid")
        N0: float = Field(default=10.0, gt=0, description="population at t = 0")

    def __init__(self, *, N0: float = 10.0):
        super().__init__(N0=N0)
        self.N0 = N0

    def residual(self, x, y, dy, c):     # TensorFlow ops, elementwise
        return dy["t"] - c["g"] * y * (1.0 - y / c["K"])

    def conditions(self, x, c):          # N(0) = N0 at every collocation point's other inputs
        return [({"t": tf.zeros_like(x["t"])}, tf.fill(tf.shape(x["t"]), tf.constant(self.N0, x["t"].dtype)))]

    def solution(self, x, c):            # optional closed form, numpy
        return c["K"] / (1.0 + (c["K"] / self.N0 - 1.0) * np.exp(-c["g"] * x["t"]))
