"""A GP whose prior mean is a physical law (``physics-gp``): the GP learns what the law misses.

The law m(x; c) is a physics plugin's closed-form solution with its constants c fitted
by bounded least squares (in log c, from several starts), or, for a law without a closed
form (or with ``mean: pinn``), the mean of a PINN ensemble (``pinn.py``). The model is

    y(x) = s * m(x; c) + g(x),   g ~ GP (the built-in ``gp`` model, on the residuals)

with s the objective's sign (-1 for a min goal). The GP is used as a black box through
its public API (``GPSurrogate.fit/predict/loo/condition/get_state``).

Predictive variance = the GP's variance on the residuals + the variance of the law
propagated from the constants' covariance (delta method: J Cov(log c) J^T, with Cov(log c)
= sigma^2 (J^T J)^-1 from the least-squares fit, sigma^2 = SSR / (n - p)).

A GP fitted to residuals that are only noise can find structure in them, so the law + GP is
itself mixed with the law alone (plus the noise), weighted by their leave-one-out densities
(``residual_weight``). A wrong law should not make the model worse than no law: the model is the mixture of the
physics-mean GP and a plain GP on y, weighted by their exact leave-one-out predictive
densities (pseudo-BMA+, Yao et al. 2018, as the GP's rank mixture does). With the right law
the physics component takes nearly all the weight; with a wrong one, the plain GP does.

With no data (predict before fit) the model is the law with the constants' starting values
(the geometric mean of their bounds unless ``initial`` is set), and its variance is the
variance of the law over the constants' log-uniform prior (64 quasi-random draws).
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from ..errors import LooplabError, plugin_call
from .base import ModelContext, check_training_data
from .physics import (AFTER_RUN, InputMap, PhysicsParams, PhysicsPluginError, build, check_model_config,
                      closed_form, plugin_files, resolve)

STATE_VERSION = 1


class PhysicsLawError(LooplabError, ValueError):
    """The physics plugin's closed form raised: one line naming ``model.params.physics``. A ValueError too, so
    the least-squares fit skips constants where the law cannot be evaluated, as it did before."""


class PhysicsGPConfig(PhysicsParams):
    mean: Literal["auto", "closed-form", "pinn"] = Field(
        default="auto", description="the law as the GP's mean: its closed form with least-squares constants, or "
        "the mean of a PINN ensemble; auto: the closed form when the physics has one")
    mixture: bool = Field(default=True, description="mix with a plain GP, weighted by leave-one-out densities "
                                                    "(protects against a wrong law)")
    variance: Literal["total", "law"] = Field(
        default="total", description="what predict's variance is: total (the GP's and the law's), or law (only "
        "the law's, from the constants' uncertainty: max-variance then measures where the data say most about "
        "the constants)")
    gp: dict[str, Any] = Field(default_factory=dict, description="params of the GP on the residuals "
                               "(those of model kind gp)")
    pinn: dict[str, Any] = Field(default_factory=dict, description="params of the PINN when mean is pinn "
                                 "(ensemble, iterations, ...; the physics block is shared)")

    @field_validator("gp")
    @classmethod
    def _gp(cls, v: dict) -> dict:
        from pydantic import ValidationError

        from ..config import problems_from_validation
        from .gp import GPConfig

        try:
            GPConfig.model_validate(v)
        except ValidationError as exc:  # named key by key, with the GP's keys (the nested dict has no schema)
            problems = problems_from_validation(exc, model=GPConfig, owner="the GP")
            raise ValueError("; ".join(f"{p.path}: {p.message}" for p in problems)) from None
        return v


def _pseudo_bma_plus(d: np.ndarray, rng: np.random.Generator) -> float:
    """Weight of model A in a two-model average from d_i = log p_A(y_i | y_-i) - log p_B(y_i | y_-i)
    (pseudo-BMA+: the GP core's, models/gp/mixture.py)."""
    from .gp.mixture import pseudo_bma_plus_weight

    return pseudo_bma_plus_weight(d, rng)


def _log_normal(y: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    v = np.maximum(v, 1e-300)
    return -0.5 * np.log(2 * math.pi * v) - 0.5 * (y - m) ** 2 / v


NOISE_GUESS = 0.01  # relative measurement error assumed while there are no more measurements than constants


class PhysicsGPSurrogate:
    """GP with a physical law as its mean (closed form with fitted constants, or a PINN ensemble), mixed
    with a plain GP by leave-one-out densities."""

    Config = PhysicsGPConfig
    # the law with its constants' bounds is a prior that one measurement already sharpens: the proposer
    # asks this model from the first observation on (others wait for two)
    min_observations = 1

    def __init__(self, *, config: PhysicsGPConfig, context: ModelContext):
        self.config = config
        self.context = context
        self.phys = build(config)
        self.y_sign = 1.0 if context.y_sign is None else float(context.y_sign)
        self.seed = context.seed
        self._map = InputMap(self.phys, config, context.inputs) if context.inputs else None
        mean = config.mean
        if mean == "auto":
            mean = "closed-form" if self.phys.has_solution else "pinn"
        if mean == "closed-form" and not self.phys.has_solution:
            raise ValueError(f"physics '{config.physics}' has no closed-form solution; use mean: pinn")
        self.mean = mean
        self.names = list(self.phys.constants)
        self._state: dict[str, Any] = {}
        self._fitted = False
        self._vfloor = 1e-12  # the least variance predicted (y's units squared; see fit)
        self.fit_info: dict[str, Any] = {}

    @classmethod
    def from_config(cls, config: PhysicsGPConfig, context: ModelContext | None) -> "PhysicsGPSurrogate":
        return cls(config=config, context=context or ModelContext(seed=0, n_inputs=0))

    @classmethod
    def data_files(cls, config: PhysicsGPConfig, base_dir: Any) -> dict:
        """A physics plugin's source file, fingerprinted with the pool (``physics.plugin_files``)."""
        return plugin_files(config)

    @classmethod
    def check_config(cls, config: PhysicsGPConfig, *, spec: Any, base_dir: Any) -> list:
        from pydantic import ValidationError

        from ..config import problems_from_validation
        from ..errors import Problem

        from ..config import _booleans_for_numbers

        try:
            has_solution = callable(getattr(resolve(config.physics), "solution", None))
        except Exception:  # noqa: BLE001 - an unknown physics is reported by check_model_config
            has_solution = True
        uses_pinn = config.mean == "pinn" or (config.mean == "auto" and not has_solution)
        # the physics block is the model's: a pinn block that set it too would make the PINN learn another law
        # (or other bounds) than the one the campaign names (fuzz round sixteen)
        problems = [Problem(f"pinn.{k}", f"is set by model.params.{k}, which the PINN mean shares; remove it here")
                    for k in config.pinn if k in PhysicsParams.model_fields]
        from .pinn import PINNConfig

        problems += _booleans_for_numbers(PINNConfig, config.pinn, "pinn")
        problems += check_model_config(config, spec=spec, model="physics-gp", base_dir=base_dir,
                                       residual_used=uses_pinn)
        if problems:
            return problems
        if config.mean == "closed-form" and not has_solution:
            problems.append(Problem("mean", f"physics '{config.physics}' has no closed-form solution; use mean: "
                                            "pinn (or auto)"))
        if config.pinn and not uses_pinn:  # it would be ignored
            problems.append(Problem("pinn", f"is read only with mean: pinn (this model's mean is the closed-form "
                                            f"solution of '{config.physics}'); remove it or set mean: pinn"))
        if uses_pinn:  # checked here, not first when the run fits the model (the campaign stored by then)
            try:
                PINNConfig.model_validate({**config.pinn,
                                           **config.model_dump(include=set(PhysicsParams.model_fields))})
            except ValidationError as exc:
                problems += problems_from_validation(exc, prefix="pinn", model=PINNConfig,
                                                     owner="physics-gp's pinn")
        return problems

    # -- the law --------------------------------------------------------------------------

    def _law(self, X: np.ndarray, log_c: np.ndarray) -> np.ndarray:
        """The law's prediction of the measured value at X [N, D] with constants exp(log_c): [N]. Where it
        overflows (exp(-r t) at t < 0 and r near its upper bound) it is inf, without numpy's warning: the fit
        skips such constants (least squares refuses a start whose residuals are not finite)."""
        who = f"model.params.physics: physics '{self.config.physics}' solution()"

        def call() -> np.ndarray:
            # checked at every call (closed_form): sys.exit, and a shape other than one value per point, end the run
            # with one line naming the physics (they ended it with exit 0, or were broadcast, or failed in the GP)
            with np.errstate(over="ignore", invalid="ignore"):
                return closed_form(self.phys, self._map(X), dict(zip(self.names, np.exp(log_c))), len(X), who)

        try:  # the plugin's exception named as the physics', whoever asked (the fit, or the acquisition)
            return plugin_call(call, who, f"on {len(X)} point(s)", AFTER_RUN)
        except PhysicsPluginError:
            raise
        except LooplabError as exc:
            raise PhysicsLawError(str(exc)) from None

    def _jacobian(self, X: np.ndarray, log_c: np.ndarray) -> np.ndarray:
        """d law / d log c at X: [N, C], by central differences."""
        cols = []
        for j in range(len(log_c)):
            h = 1e-5
            up, dn = log_c.copy(), log_c.copy()
            up[j] += h
            dn[j] -= h
            cols.append((self._law(X, up) - self._law(X, dn)) / (2 * h))
        return np.stack(cols, axis=1) if cols else np.zeros((len(X), 0))

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.phys.constants
        return (np.array([math.log(c[n].low) for n in self.names]), np.array([math.log(c[n].high) for n in self.names]))

    def _start(self) -> np.ndarray:
        return np.array([math.log(self.phys.constants[n].start) for n in self.names])

    def _fit_law(self, X: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Least-squares constants (log), their covariance, and the noise sd estimate."""
        from scipy.optimize import least_squares

        lo, hi = self._bounds()
        starts = [self._start()]
        prev = self._state.get("log_constants")
        if prev is not None and len(prev) == len(lo):
            starts.insert(0, np.array(prev, dtype=float))
        for q in (0.2, 0.4, 0.6, 0.8):  # a coarse grid over the bounds: the least-squares surface is not convex
            starts.append(lo + q * (hi - lo))
        best = None
        # residuals in units of the values' own size when it is below 1 (as before above it): least_squares'
        # tolerances are absolute, so values of 1e-13 (a diffusivity in m^2/s) stopped it at its start
        unit = min(1.0, float(np.sqrt(np.mean(raw ** 2)))) or 1.0
        for s in starts:
            s = np.clip(s, lo + 1e-9, hi - 1e-9)
            try:
                r = least_squares(lambda lc: (self._law(X, lc) - raw) / unit, s, bounds=(lo, hi), method="trf",
                                  x_scale=1.0)
            except (ValueError, FloatingPointError):
                continue
            if np.isfinite(r.cost) and (best is None or r.cost < best.cost):
                best = r
        n, p = len(raw), len(lo)
        if best is None:
            log_c, ssr = self._start(), float(np.sum((self._law(X, self._start()) - raw) ** 2))
        else:
            log_c, ssr = best.x, 2.0 * float(best.cost) * unit ** 2
        prior = np.array([self.phys.constants[k].prior_sd_log() ** 2 for k in self.names])
        if n > p:
            sigma2 = ssr / (n - p)
        else:
            # as many constants as measurements: the law fits them exactly and the residuals say nothing of
            # the noise. Assume a 1% measurement error (NOISE_GUESS of the largest |value|) until a
            # measurement more than constants tells: an exact fit is not a certain one, and the prior's
            # whole width would send the next experiment exploring instead of testing the law's answer
            sigma2 = (NOISE_GUESS * float(np.max(np.abs(raw)))) ** 2 + self._vfloor
        J = self._jacobian(X, log_c)
        # the Laplace approximation with the prior's spread (log scale) as a Gaussian prior: a constant the data
        # do not determine (the law flat in it: exp(-r t) = 0 at every measured t) keeps the prior's sd; the
        # pseudo-inverse alone gave it sd 0, a certainty the data never gave
        if not (np.all(np.isfinite(J)) and sigma2 > 0):
            return log_c, np.diag(prior), math.sqrt(max(sigma2, 0.0))
        try:
            cov = np.linalg.inv(J.T @ J / sigma2 + np.diag(1.0 / prior))
        except np.linalg.LinAlgError:
            cov = np.diag(prior)
        return log_c, cov, math.sqrt(max(sigma2, 0.0))

    # -- state ----------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return dict(self._state)

    def set_state(self, state: dict[str, Any]) -> None:
        if state and state.get("schema_version") == STATE_VERSION and state.get("kind") == "physics-gp" \
                and state.get("physics") == self.config.physics:
            self._state = dict(state)

    # -- fit ------------------------------------------------------------------------------

    def _gp(self):
        from .gp import GPConfig, GPSurrogate

        return GPSurrogate.from_config(GPConfig.model_validate(self.config.gp), self.context)

    def _pinn(self):
        from .pinn import PINNConfig, PINNSurrogate

        params = {**self.config.pinn, **self.config.model_dump(include=set(PhysicsParams.model_fields))}
        return PINNSurrogate.from_config(PINNConfig.model_validate(params), self.context)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "PhysicsGPSurrogate":
        """X [N, D] encoded inputs, y [N] in the maximisation convention (y_sign * measured value)."""
        X, y = check_training_data(X, y)
        if self._map is None:
            raise ValueError("physics-gp: the model needs the inputs' physical scales (ModelContext.inputs)")
        t0 = time.perf_counter()
        prev = self._state
        raw = y / self.y_sign
        # variance floors relative to the values' size when it is below 1 (as before above it): a floor of
        # 1e-12 swamped the variances of values around 1e-13
        self._vfloor = 1e-12 * min(1.0, max(float(np.mean(raw ** 2)), 1e-280))
        self._pinn_model = None
        if self.mean == "closed-form":
            self._log_c, self._cov, sigma = self._fit_law(X, raw)
            law = self._law(X, self._log_c)
        else:
            pinn = self._pinn()
            if prev.get("pinn"):
                pinn.set_state(prev["pinn"])
            pinn.fit(X, y)
            self._pinn_model = pinn
            law = pinn.members(X).mean(axis=0)
            sigma = float(pinn.fit_info.get("noise_sd", 0.0))
        gp_phys = self._gp()
        if prev.get("gp_physics"):
            gp_phys.set_state(prev["gp_physics"])
        gp_phys.fit(X, y - self.y_sign * law)
        self._gp_phys, self._gp_plain, self._w, self._wr = gp_phys, None, 1.0, 1.0
        self._law_train = self.y_sign * law
        # the residual GP against the law alone (plus noise): a GP fitted to residuals that are only noise
        # can find structure in them (a short lengthscale) and predict worse than the law
        # with no more measurements than constants the law fits every one exactly, and leave-one-out says
        # nothing (a GP standardised on one value "predicts" it): the law alone until a measurement can
        # check it
        judge = len(y) > len(self.names)
        if not judge:
            self._wr = 0.0
        lp = gp_phys.loo() if judge else None
        self._sigma = sigma
        if lp is not None:
            law_var = self._law_moments(X)[1]
            d = _log_normal(y, self._law_train + lp[0], lp[1]) - _log_normal(y, self._law_train, sigma ** 2 + law_var)
            self._wr = _pseudo_bma_plus(d, np.random.default_rng(self.seed + 1))
            self._loo_law_var = sigma ** 2 + law_var
        state: dict[str, Any] = {"schema_version": STATE_VERSION, "kind": "physics-gp", "physics": self.config.physics,
                                 "mean": self.mean, "gp_physics": gp_phys.get_state(), "n_observations": len(y)}
        if self.config.mixture:
            plain = self._gp()
            if prev.get("gp_plain"):
                plain.set_state(prev["gp_plain"])
            plain.fit(X, y)
            lq = plain.loo() if judge else None
            phys_loo = self._physics_loo() if judge else None
            if phys_loo is not None and lq is not None:
                d = _log_normal(y, *phys_loo) - _log_normal(y, lq[0], lq[1])
                self._w = _pseudo_bma_plus(d, np.random.default_rng(self.seed))
            self._gp_plain = plain
            state["gp_plain"] = plain.get_state()
        state["physics_weight"], state["residual_weight"] = self._w, self._wr
        if self.mean == "closed-form":
            state["log_constants"] = [float(v) for v in self._log_c]
        else:
            state["pinn"] = self._pinn_model.get_state()
        self._state = state
        self._fitted = True
        self.fit_info = {"seconds": time.perf_counter() - t0, "physics_weight": self._w,
                         "residual_weight": self._wr, "noise_sd": sigma,
                         "law_rmse": float(np.sqrt(np.mean((law - raw) ** 2)))}
        return self

    # -- predict --------------------------------------------------------------------------

    def _law_moments(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the law's prediction (measured units) at X."""
        if self._pinn_model is not None:
            P = self._pinn_model.members(X)
            K = P.shape[0]
            return P.mean(axis=0), P.var(axis=0, ddof=1) * (1 + 1 / K)
        J = self._jacobian(X, self._log_c)
        return self._law(X, self._log_c), np.einsum("nc,cd,nd->n", J, self._cov, J)

    def prior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The law before any data, in y's units: mean at the constants' starting values, variance over their
        log-uniform prior. For a law without a closed form: not available (raises)."""
        if self._map is None or not self.phys.has_solution:
            raise RuntimeError("physics-gp: no prior prediction without the inputs' scales and a closed form")
        from scipy.stats import qmc

        lo, hi = self._bounds()
        u = qmc.Sobol(len(lo), scramble=True, seed=self.seed).random(64)
        draws = np.stack([self._law(X, lo + ui * (hi - lo)) for ui in u])
        return self.y_sign * self._law(X, self._start()), draws.var(axis=0)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the latent f at X [N, D], in y's units; arrays [N]."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if not self._fitted:
            return self.prior(X)
        return self._mix(X, self._gp_phys, self._gp_plain)

    def _mix(self, X: np.ndarray, gp_phys: Any, gp_plain: Any) -> tuple[np.ndarray, np.ndarray]:
        lm, lv = self._law_moments(X)
        gm, gv = gp_phys.predict(X)
        wr = self._wr  # the law + residual GP, or the law alone
        m1, v1 = self.y_sign * lm + wr * gm, lv + wr * gv + wr * (1 - wr) * gm ** 2
        if self.config.variance == "law":
            return m1, np.maximum(lv, self._vfloor)
        if gp_plain is None or self._w >= 1.0:
            return m1, v1
        m2, v2 = gp_plain.predict(X)
        w = self._w
        m = w * m1 + (1 - w) * m2
        v = w * (v1 + m1 ** 2) + (1 - w) * (v2 + m2 ** 2) - m ** 2
        return m, np.maximum(v, self._vfloor)

    def loo(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Leave-one-out predictive means and variances (noise included) at the observations, in y's units:
        the GPs' exact LOO with their hyperparameters, the law's constants and the mixture weight fixed at the
        fit on all points (so somewhat optimistic for the law); None when a GP has no closed form."""
        if not self._fitted:
            return None
        phys = self._physics_loo()
        if phys is None:
            return None
        m1, v1 = phys
        if self._gp_plain is None or self._w >= 1.0:
            return m1, v1
        lq = self._gp_plain.loo()
        if lq is None:
            return None
        w = self._w
        m = w * m1 + (1 - w) * lq[0]
        return m, np.maximum(w * (v1 + m1 ** 2) + (1 - w) * (lq[1] + lq[0] ** 2) - m ** 2, self._vfloor)

    def _physics_loo(self) -> tuple[np.ndarray, np.ndarray] | None:
        """LOO means and variances (noise included) of the physics component: the mixture of the law + the
        residual GP and the law alone, weighted by the residual weight."""
        lp = self._gp_phys.loo()
        if lp is None:
            return None
        wr, gm = self._wr, lp[0]
        m = self._law_train + wr * gm
        v = wr * lp[1] + (1 - wr) * self._loo_law_var + wr * (1 - wr) * gm ** 2
        return m, v

    def condition(self, X: np.ndarray) -> "PhysicsGPSurrogate":
        """A copy with fantasy observations at the predicted mean at X (each GP believes its own mean)."""
        other = PhysicsGPSurrogate.__new__(PhysicsGPSurrogate)
        other.__dict__.update(self.__dict__)
        other._gp_phys = self._gp_phys.condition(X)
        other._gp_plain = self._gp_plain.condition(X) if self._gp_plain is not None else None
        return other

    # -- constants ------------------------------------------------------------------------

    def constants(self) -> dict[str, tuple[float, float]]:
        """{name: (value, sd)}: least-squares values with the delta-method sd (or the PINN's); before a fit,
        the starting values with the prior's sd."""
        if self._fitted and self._pinn_model is not None:
            return self._pinn_model.constants()
        log_c = self._log_c if self._fitted else self._start()
        sd_log = np.sqrt(np.diag(self._cov)) if self._fitted else \
            np.array([self.phys.constants[k].prior_sd_log() for k in self.names])
        return {n: (float(math.exp(log_c[i])), float(math.exp(log_c[i]) * sd_log[i])) for i, n in enumerate(self.names)}

    def interval(self, level: float = 0.9) -> dict[str, tuple[float, float]]:
        """Student-t interval (n - p degrees of freedom) of each constant on the log scale (the fit's
        parametrisation), clipped to the constant's bounds."""
        if self._fitted and self._pinn_model is not None:
            return self._pinn_model.interval(level)
        from scipy.stats import norm, t as student

        n = int(self._state.get("n_observations", 0))
        dof = n - len(self.names)
        q = float(student.ppf(0.5 + level / 2, dof)) if dof > 0 else float(norm.ppf(0.5 + level / 2))
        out = {}
        for i, name in enumerate(self.names):
            sd = math.sqrt(self._cov[i, i]) if self._fitted else self.phys.constants[name].prior_sd_log()
            lc = self._log_c[i] if self._fitted else self._start()[i]
            c = self.phys.constants[name]  # never outside the constant's bounds
            out[name] = (max(math.exp(lc - q * sd), c.low), min(math.exp(lc + q * sd), c.high))
        return out
