"""Acquisition functions: score candidates from a model's predictive mean and variance.

Every function here follows one contract (DESIGN.md)::

    acq(mean, variance, *, best) -> scores      # arrays of shape [N]; higher is better

``mean`` and ``variance`` describe the latent objective f at N candidates in
the campaign's *maximisation* convention (a ``min`` goal is negated before the
model sees it), ``best`` is the incumbent (best value observed so far, same
units). The exception is :class:`TargetCloseness`, whose model predicts the raw
measured quantity; see its docstring.

Only numpy and scipy are used, so this package imports no orchestrator code
and a plugin author can depend on it alone.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import erfcx, log_ndtr, ndtr

_LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)
_VAR_FLOOR = 1e-18  # relative to the largest variance scored at once (see _sigma)
_TINY = 1e-300


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _sigma(variance: np.ndarray) -> np.ndarray:
    """The predictive sd, floored at 1e-9 of the largest one scored at once: relative, because an objective
    in tiny units (values of 1e-25) has variances far below any absolute floor, which made every candidate's
    sd the floor and EI the same for all (the pool was then proposed in file order)."""
    v = np.asarray(variance, dtype=float)
    top = float(np.max(v)) if v.size else 0.0
    return np.sqrt(np.maximum(v, max(_VAR_FLOOR * top, _TINY) if np.isfinite(top) else _VAR_FLOOR))


def log_h(z: np.ndarray) -> np.ndarray:
    """log(z * Phi(z) + phi(z)), accurate for every z (the core of log-EI).

    For z > -1 it is computed directly. Below, h(z) = phi(z) * (1 + z * Phi(z) / phi(z))
    and Phi(z)/phi(z) = sqrt(pi/2) * erfcx(-z / sqrt(2)), which stays accurate where
    Phi(z) underflows. For z < -1e6, h(z) ~ phi(z) / z^2 (asymptotic series).
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(zu * ndtr(zu) + np.exp(-0.5 * zu**2 - _LOG_2PI_HALF))
    mid = (~upper) & (z > -1e6)
    zm = z[mid]
    out[mid] = -0.5 * zm**2 - _LOG_2PI_HALF + np.log1p(zm * _SQRT_HALF_PI * erfcx(-zm / math.sqrt(2.0)))
    far = z <= -1e6
    zf = np.maximum(z[far], -1e150)  # below, z**2 overflows (a margin xi of 1e300): the same very low value
    out[far] = -0.5 * zf**2 - _LOG_2PI_HALF - 2.0 * np.log(-zf)
    return out


class ExpectedImprovement:
    """Expected improvement over the incumbent, returned as log(EI) so it never collapses to 0.

    EI(x) = sigma * (z Phi(z) + phi(z)) with z = (mu - best - xi) / sigma. The log is
    monotone, so the argmax is the same, but far from the incumbent (z << 0) log-EI
    still ranks candidates where plain EI is 0.0 in floating point.
    """

    class Config(_Params):
        xi: float = Field(default=0.0, ge=0.0, description="improvement margin, in the objective's units")
        incumbent: Literal["observed", "model"] = Field(
            default="observed",
            description="observed: the best measured value; model: the best predicted mean at the measured "
            "points (plug-in EI, steadier when measurements are noisy)")

    def __init__(self, *, xi: float = 0.0, incumbent: str = "observed"):
        self.xi = xi
        self.incumbent = incumbent

    def __call__(self, mean: np.ndarray, variance: np.ndarray, *, best: float) -> np.ndarray:
        sigma = _sigma(variance)
        z = (np.asarray(mean, dtype=float) - best - self.xi) / sigma
        return np.log(sigma) + log_h(z)


class ProbabilityOfImprovement:
    """Probability of improving on the incumbent by at least xi, returned as log(PI)."""

    class Config(_Params):
        xi: float = Field(default=0.0, ge=0.0)

    def __init__(self, *, xi: float = 0.0):
        self.xi = xi

    def __call__(self, mean: np.ndarray, variance: np.ndarray, *, best: float) -> np.ndarray:
        z = (np.asarray(mean, dtype=float) - best - self.xi) / _sigma(variance)
        return log_ndtr(z)


class UpperConfidenceBound:
    """Optimism under uncertainty: mean + sqrt(beta) * standard deviation (looplab's default acquisition).

    The default beta = 0.3 (mean + 0.55 sd) was chosen on the five pvlab benchmark pools (20 seeds,
    2 random initial points): it was best or tied on every pool among beta in {0.01, 0.1, 0.3, 0.6, 1, 2},
    EI, plug-in EI and PI. Larger beta explores more.
    """

    class Config(_Params):
        beta: float = Field(default=0.3, gt=0.0, description="exploration weight; larger explores more")

    def __init__(self, *, beta: float = 0.3):
        self.beta = beta

    def __call__(self, mean: np.ndarray, variance: np.ndarray, *, best: float) -> np.ndarray:
        return np.asarray(mean, dtype=float) + math.sqrt(self.beta) * _sigma(variance)


class MaxVariance:
    """Pure exploration: the predictive variance (ignores the mean and the incumbent)."""

    class Config(_Params):
        pass

    def __call__(self, mean: np.ndarray, variance: np.ndarray, *, best: float) -> np.ndarray:
        return np.asarray(variance, dtype=float).copy()


class TargetCloseness:
    """Expected reduction of the distance to a target value (for ``goal: target``).

    Here the model predicts the raw measured quantity y ~ N(mean, variance) and
    ``best`` is the smallest distance |y - target| measured so far. The score is
    E[max(0, best - |y - target|)], in closed form: the expected amount by which a
    measurement at x beats the closest one so far.
    """

    uses_raw_objective = True

    class Config(_Params):
        target: float | None = Field(default=None, description="defaults to objective.target_value")

    def __init__(self, *, target: float | None = None):
        self.target = target

    def __call__(self, mean: np.ndarray, variance: np.ndarray, *, best: float) -> np.ndarray:
        if self.target is None:
            raise ValueError("TargetCloseness needs a target value")
        s = _sigma(variance)
        m = np.asarray(mean, dtype=float) - self.target  # g = y - target ~ N(m, s^2)
        b = max(float(best), 0.0)

        def mass_and_moment(a1: float, a2: float) -> tuple[np.ndarray, np.ndarray]:
            z1, z2 = (a1 - m) / s, (a2 - m) / s
            mass = ndtr(z2) - ndtr(z1)
            pdf1 = np.exp(-0.5 * z1**2 - _LOG_2PI_HALF)
            pdf2 = np.exp(-0.5 * z2**2 - _LOG_2PI_HALF)
            return mass, m * mass + s * (pdf1 - pdf2)  # P(a1<g<a2), E[g; a1<g<a2]

        p_pos, m_pos = mass_and_moment(0.0, b)
        p_neg, m_neg = mass_and_moment(-b, 0.0)
        return np.maximum(b * p_pos - m_pos + b * p_neg + m_neg, 0.0)
