"""Broken physics plugins for the validation tests (loaded by import path, like a user's)."""

import math
import zlib

import numpy as np

from oracles.base import SyncOracle
from orchestrator.models.physics import Constant, Physics


class WrongShape(Physics):
    """Its residual returns one number for the whole batch."""

    inputs = ("t",)
    output = "y"
    constants = {"k": Constant(0.1, 10.0)}
    derivatives = ("t",)

    def residual(self, x, y, dy, c):
        import tensorflow as tf

        return tf.reduce_sum(dy["t"] + c["k"] * y)


class Raises(Physics):
    """Its residual uses a name that does not exist."""

    inputs = ("t",)
    output = "y"
    constants = {"k": Constant(0.1, 10.0)}
    derivatives = ("t",)

    def residual(self, x, y, dy, c):
        return dy["time"] + c["k"] * y



class CoolingOracle(SyncOracle):
    """Newton cooling (r = 0.005/s, T0 = 100 C) measured with noise sd 0.5 C (the noise seeded by the params)."""

    def evaluate(self, params):
        t, env = float(params["t"]), float(params["T_env"])
        rng = np.random.default_rng(zlib.crc32(f"{t:.9g},{env:.9g}".encode()))
        return env + (100.0 - env) * math.exp(-0.005 * t) + 0.5 * float(rng.standard_normal())


class SolutionRaisesOnBigBatches(Physics):
    """Newton cooling whose closed form refuses more than 50 points: passes validate's 8-point sample, then
    fails when the acquisition scores its candidates."""

    from orchestrator.models.physics import NewtonCooling as _Cool

    inputs, output, constants, derivatives = _Cool.inputs, _Cool.output, _Cool.constants, _Cool.derivatives
    residual = _Cool.residual

    def solution(self, x, c):
        if np.size(x["t"]) > 50:
            raise ValueError("solution refuses big batches")
        return x["T_env"] + (100.0 - x["T_env"]) * np.exp(-c["r"] * x["t"])


class CoolingFromTenSeconds(Physics):
    """Newton cooling whose law is defined only for t > 5 (a log(t - 5) term, times 0): fine on a pool whose t
    starts at 10, not finite on [0, 1]."""

    from orchestrator.models.physics import NewtonCooling as _Cool

    inputs, output, constants, derivatives = _Cool.inputs, _Cool.output, _Cool.constants, _Cool.derivatives

    def residual(self, x, y, dy, c):
        import tensorflow as tf

        return dy["t"] - c["r"] * (x["T_env"] - y) + 0.0 * tf.math.log(x["t"] - 5.0)

    def solution(self, x, c):
        t = np.asarray(x["t"], dtype=float)
        return x["T_env"] + (100.0 - x["T_env"]) * np.exp(-c["r"] * t) + 0.0 * np.log(t - 5.0)


class SolutionRaises(Physics):
    """Newton cooling whose residual is fine and whose closed form always raises."""

    from orchestrator.models.physics import NewtonCooling as _Cool

    inputs, output, constants, derivatives = _Cool.inputs, _Cool.output, _Cool.constants, _Cool.derivatives
    residual = _Cool.residual

    def solution(self, x, c):
        raise ValueError("t too large for my closed form")


# fuzz round sixteen: plugins that passed validate and failed at run, or ended validate without a word
class _CoolingLaw(Physics):
    from orchestrator.models.physics import NewtonCooling as _Cool

    inputs, output, constants, derivatives = _Cool.inputs, _Cool.output, _Cool.constants, _Cool.derivatives
    residual = _Cool.residual


class Exits(_CoolingLaw):
    def residual(self, x, y, dy, c):
        raise SystemExit(3)


class Sleeps(_CoolingLaw):
    def residual(self, x, y, dy, c):
        import time

        time.sleep(30)
        return dy["t"]


class Float32Residual(_CoolingLaw):
    def residual(self, x, y, dy, c):
        import tensorflow as tf

        return tf.cast(dy["t"] - c["r"] * (x["T_env"] - y), tf.float32)


class NumpyResidual(_CoolingLaw):
    def residual(self, x, y, dy, c):  # eagerly fine; in a tf.function np.exp meets a symbolic tensor
        return dy["t"] - c["r"] * np.exp(0.0 * x["t"]) * (x["T_env"] - y)


class NoConstants(_CoolingLaw):
    constants = {}


class InputsString(_CoolingLaw):
    inputs = "time"


class ConditionsNaN(_CoolingLaw):
    def conditions(self, x, c):
        return [({**x, "t": 0.0 * x["t"]}, np.nan * x["t"])]


class ConditionsNotPairs(_CoolingLaw):
    def conditions(self, x, c):
        return "nope"


class ConstantNameWithSpace(_CoolingLaw):
    from orchestrator.models.physics import Constant as _Constant

    constants = {"my rate": _Constant(1e-4, 0.1)}
