"""A GP with a mean function: a known model of the objective (a source model, a physical law) as the prior
mean, with a learned scale and offset; the GP learns what the mean function misses.

    f(x) = a * m(x) + b + g(x),   g ~ GP(0, k)   (the GP of ``surrogate.py``, on the residuals)

The scale a and offset b are the posterior mode of a Bayesian linear regression of the observations on
m(X), with priors a ~ N(1, 1) and b ~ N(0, s^2) (s: the spread of the mean function and the data), so a
few points cannot fling them far from "the mean function as it is", and many points fit them freely. The
scale is kept at 0 or above: the mean function is a model of the same objective, so it may be trusted
less (a toward 0) but never turned upside down. A negative scale is what an unrelated mean function gets
in a closed loop: the acquisition measures where a m(x) is high, the objective is not high there, the
regression answers with a < 0, and the search then follows the mean function's low places instead
(direct arylation with a permuted source and EI: a between -0.7 and -1.6 at every step of two seeds
printed by hand). The GP is then fitted to y - a m(X) - b with the usual hyperparameter fit (priors,
restarts, warm start).

- With no observations the model predicts the mean function itself (a = 1, b = 0), with the mean
  function's own variance (if it has one) plus the GP's prior variance, set from the mean function's spread.
- With a mean function that is wrong, a shrinks toward 0 as the data accumulate and the residual GP takes
  over: the model degrades toward a plain GP rather than below it.
- Variance: the residual GP's variance plus a^2 times the mean function's own variance (e.g. a source
  model's predictive variance), so the acquisition knows where the mean function itself is unsure.

The mean function is any callable ``m(X [N, D]) -> (mean [N], variance [N])`` on the encoded inputs.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..base import ModelError
from .surrogate import GPSurrogate

MeanFunction = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
STATE_VERSION = 1


def fit_scale_offset(m: np.ndarray, y: np.ndarray, spread: float, positive: bool = True) -> tuple[float, float]:
    """Posterior mode of (a, b) in y ~ a m + b + noise, priors a ~ N(1, 1), b ~ N(0, spread^2), and with
    ``positive`` a >= 0 (where the unconstrained mode has a < 0, the constrained one has a = 0 and b the
    mode given a = 0: the posterior is Gaussian, so its mode on the boundary is there). The noise variance
    is taken as a tenth of the data's variance (at least 1e-6 spread^2)."""
    m, y = np.asarray(m, float), np.asarray(y, float)
    if len(y) == 0:
        return 1.0, 0.0
    noise = max(0.1 * float(np.var(y)), 1e-6 * spread**2, 1e-300)  # relative: values may be in tiny units
    A = np.column_stack([m, np.ones_like(m)])
    prior_prec = np.diag([1.0, 1.0 / spread**2])
    prior_mean = np.array([1.0, 0.0])
    H = A.T @ A / noise + prior_prec
    g = A.T @ y / noise + prior_prec @ prior_mean
    a, b = np.linalg.solve(H, g)
    if positive and a < 0:
        a, b = 0.0, g[1] / H[1, 1]
    return float(a), float(b)


class MeanGP:
    """GP with the prior mean ``a * mean(x) + b`` (see the module docstring)."""

    def __init__(self, *, base: GPSurrogate, mean: MeanFunction, learn_scale: bool = True):
        self.base, self.mean, self.learn_scale = base, mean, learn_scale
        self.scale, self.offset = 1.0, 0.0
        self._n = 0
        self._m_train = np.zeros(0)  # the mean function at the observations
        self.fit_info: dict[str, Any] = {}

    def _mean_at(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, v = self.mean(np.asarray(X, dtype=np.float64))
        m = np.asarray(m, dtype=np.float64).reshape(-1)
        v = np.zeros_like(m) if v is None else np.maximum(np.asarray(v, dtype=np.float64).reshape(-1), 0.0)
        if len(m) != len(X) or not np.all(np.isfinite(m)):
            raise ModelError("the mean function must return one finite value per row")
        return m, v

    def fit(self, X: np.ndarray, y: np.ndarray) -> "MeanGP":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        self._n = len(y)
        if self._n == 0:
            self.scale, self.offset = 1.0, 0.0
            self.fit_info = {"scale": 1.0, "offset": 0.0, "observations": 0}
            return self
        m, _ = self._mean_at(X)
        self._m_train = m
        spread = float(max(np.std(m), np.std(y), np.abs(y - m).max(initial=0.0),
                           1e-9 * max(np.abs(m).max(initial=0.0), np.abs(y).max(initial=0.0)), 1e-150))
        if self.learn_scale:
            self.scale, self.offset = fit_scale_offset(m, y, spread)
        self.base.fit(X, y - (self.scale * m + self.offset))
        self.fit_info = {**self.base.fit_info, "scale": self.scale, "offset": self.offset,
                         "observations": self._n}
        return self

    def restore(self, X: np.ndarray, y: np.ndarray, state: dict[str, Any]) -> "MeanGP":
        """This model conditioned on (X, y) with the scale, offset and GP hyperparameters of ``state`` (an
        earlier fit's ``get_state()``), without fitting them; ``ValueError`` when the state does not fit."""
        if not state or state.get("schema_version") != STATE_VERSION or state.get("kind") != "mean-gp":
            raise ValueError("restore takes the state of a MeanGP's fit")
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        self._n = len(y)
        if self._n == 0:
            self.scale, self.offset = 1.0, 0.0
            return self
        m, _ = self._mean_at(X)
        self._m_train = m
        self.scale, self.offset = float(state["scale"]), float(state["offset"])
        self.base.restore(X, y - (self.scale * m + self.offset), state.get("gp") or {})
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance at X [M, D]: a m(X) + b + the residual GP's, in y's units."""
        m, v = self._mean_at(X)
        if self._n == 0:
            return m, v + self._no_data_variance(m)
        gm, gv = self.base.predict(X)
        return self.scale * m + self.offset + gm, gv + self.scale**2 * v

    def _no_data_variance(self, m: np.ndarray) -> np.ndarray:
        """Before any observation: the residual's prior variance, from the mean function's spread."""
        return np.full(len(m), max(float(np.var(m)), 1e-12 * float(np.mean(m * m)) if len(m) else 0.0, 1e-300))

    def condition(self, X: np.ndarray) -> "MeanGP":
        """Fantasies at the predicted mean (the residual GP's kriging believer; a and b kept)."""
        if self._n == 0:
            return self
        other = MeanGP.__new__(MeanGP)
        other.__dict__.update(self.__dict__)
        other.base = self.base.condition(X)
        return other

    def loo(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Leave-one-out predictions at the observations (a, b and the GP's hyperparameters fixed)."""
        if self._n == 0:
            return None
        got = self.base.loo()
        if got is None:
            return None
        m_res, v = got
        return m_res + self.scale * self._m_train + self.offset, v

    def get_state(self) -> dict[str, Any]:
        return {"schema_version": STATE_VERSION, "kind": "mean-gp", "scale": self.scale, "offset": self.offset,
                "gp": self.base.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        if state and state.get("schema_version") == STATE_VERSION and state.get("kind") == "mean-gp":
            self.base.set_state(state.get("gp") or {})
