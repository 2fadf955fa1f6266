"""Gaussian-process surrogate: GPflow GPR, ARD Matérn-5/2, fitted by L-BFGS with restarts.

Inputs arrive in the unit cube; outputs are standardised here. Hyperparameters
(kernel variance, one lengthscale per input, noise variance) are fitted by
maximising the marginal likelihood plus weak priors with GPflow's Scipy
(L-BFGS-B) optimizer, from the previous step's hyperparameters (warm start)
and from a few random starts; the best fit wins.

The GPflow model is built once per process and input dimension with
variable-shaped data, so its compiled loss is reused by every later fit instead
of being traced again (tracing costs about a second; a fit of 50 points then
takes tens of milliseconds).

Prediction uses the fitted hyperparameters with a cached Cholesky factor in
numpy (the same equations as ``GPR.predict_f``; a test checks they agree to
1e-8), which makes predicting over large pools and adding kriging-believer
fantasies cheap.

A fit that fails (non-finite loss, Cholesky failure) is retried with more
jitter on the noise; if that fails too, the last good hyperparameters are kept
and the failure is logged. The campaign never stops because of a fit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.linalg import cho_solve, solve_triangular

from .base import ModelContext, Standardizer, check_training_data

log = logging.getLogger("looplab.models.gp")

STATE_VERSION = 1
_CHUNK = 8192


class GPConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kernel: Literal["matern52", "matern32", "rbf"] = "matern52"
    restarts: int = Field(default=2, ge=0, le=50, description="random restarts besides the warm start")
    maxiter: int = Field(default=200, ge=1)
    noise_floor: float = Field(default=1e-6, gt=0, description="lower bound of the noise variance (standardised units)")
    lengthscale_prior: bool = Field(default=True, description="Gamma(3, 6) prior on each lengthscale (inputs in [0, 1])")


# --------------------------------------------------------------------------- kernels (numpy)


def _scaled_dist(A: np.ndarray, B: np.ndarray, ls: np.ndarray) -> np.ndarray:
    A = A / ls
    B = B / ls
    d2 = np.sum(A * A, 1)[:, None] + np.sum(B * B, 1)[None, :] - 2.0 * A @ B.T
    return np.sqrt(np.maximum(d2, 0.0))


def kernel_matrix(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float) -> np.ndarray:
    r = _scaled_dist(A, B, ls)
    if kind == "matern52":
        s = math.sqrt(5.0) * r
        return var * (1.0 + s + s * s / 3.0) * np.exp(-s)
    if kind == "matern32":
        s = math.sqrt(3.0) * r
        return var * (1.0 + s) * np.exp(-s)
    return var * np.exp(-0.5 * r * r)


class _Posterior:
    """GP posterior for fixed hyperparameters: data, Cholesky factor and weights."""

    def __init__(self, kind: str, X: np.ndarray, z: np.ndarray, ls: np.ndarray, var: float, noise: float,
                 L: np.ndarray | None = None):
        self.kind, self.X, self.z, self.ls, self.var, self.noise = kind, X, z, ls, var, noise
        if L is None:
            K = kernel_matrix(kind, X, X, ls, var)
            K[np.diag_indices_from(K)] += noise
            L = _cholesky(K)
        self.L = L
        self.alpha = cho_solve((L, True), z)

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.empty(len(Xs))
        var = np.empty(len(Xs))
        for start in range(0, len(Xs), _CHUNK):
            part = Xs[start : start + _CHUNK]
            Ks = kernel_matrix(self.kind, self.X, part, self.ls, self.var)
            mean[start : start + len(part)] = Ks.T @ self.alpha
            V = solve_triangular(self.L, Ks, lower=True, check_finite=False)
            var[start : start + len(part)] = self.var - np.sum(V * V, axis=0)
        return mean, np.maximum(var, 1e-12 * self.var)

    def condition(self, Xf: np.ndarray) -> "_Posterior":
        """Add fantasies at the posterior mean by a block update of the Cholesky factor."""
        zf, _ = self.predict(Xf)
        K12 = kernel_matrix(self.kind, self.X, Xf, self.ls, self.var)
        K22 = kernel_matrix(self.kind, Xf, Xf, self.ls, self.var)
        K22[np.diag_indices_from(K22)] += self.noise
        B = solve_triangular(self.L, K12, lower=True, check_finite=False)
        L22 = _cholesky(K22 - B.T @ B)
        n, m = len(self.X), len(Xf)
        L = np.zeros((n + m, n + m))
        L[:n, :n] = self.L
        L[n:, :n] = B.T
        L[n:, n:] = L22
        return _Posterior(self.kind, np.vstack([self.X, Xf]), np.concatenate([self.z, zf]),
                          self.ls, self.var, self.noise, L=L)


def _cholesky(K: np.ndarray) -> np.ndarray:
    jitter = 0.0
    scale = float(np.mean(np.diag(K))) if K.size else 1.0
    for _ in range(6):
        try:
            return np.linalg.cholesky(K + jitter * np.eye(len(K)))
        except np.linalg.LinAlgError:
            jitter = scale * (1e-10 if jitter == 0.0 else jitter * 100)
    raise np.linalg.LinAlgError("kernel matrix is not positive definite even with jitter")


# --------------------------------------------------------------------------- GPflow fitting


class _Fitter:
    """One GPflow GPR per (input dimension, kernel, prior) with variable-shaped data."""

    _cache: dict[tuple, "_Fitter"] = {}
    _cache_lock = threading.Lock()

    def __init__(self, dim: int, kind: str, prior: bool, noise_floor: float):
        import gpflow
        import tensorflow as tf
        import tensorflow_probability as tfp

        f64 = gpflow.utilities.to_default_float
        kernel_cls = {"matern52": gpflow.kernels.Matern52, "matern32": gpflow.kernels.Matern32,
                      "rbf": gpflow.kernels.SquaredExponential}[kind]
        self.kernel = kernel_cls(variance=1.0, lengthscales=np.full(dim, 0.3))
        if prior:
            self.kernel.lengthscales.prior = tfp.distributions.Gamma(f64(3.0), f64(6.0))
        self.kernel.variance.prior = tfp.distributions.Gamma(f64(2.0), f64(1.0))
        self.X = tf.Variable(np.zeros((1, dim)), shape=tf.TensorShape([None, dim]), dtype=tf.float64, trainable=False)
        self.Y = tf.Variable(np.zeros((1, 1)), shape=tf.TensorShape([None, 1]), dtype=tf.float64, trainable=False)
        self.likelihood = gpflow.likelihoods.Gaussian(variance=max(1e-2, 10 * noise_floor),
                                                     variance_lower_bound=noise_floor)
        self.likelihood.variance.prior = tfp.distributions.Gamma(f64(1.1), f64(0.05))
        self.model = gpflow.models.GPR((self.X, self.Y), kernel=self.kernel, likelihood=self.likelihood)
        self.lock = threading.Lock()

        # One compiled function: unconstrained parameters (flat) -> (training loss, gradient).
        # Data live in variable-shaped Variables, so it is traced once per process, not per fit.
        variables = list(self.model.trainable_variables)
        shapes = [v.shape for v in variables]
        sizes = [max(1, int(np.prod(sh))) for sh in shapes]
        self._variables = variables

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
        def loss_and_grad(x):
            for v, part, sh in zip(variables, tf.split(x, sizes), shapes):
                v.assign(tf.reshape(part, sh))
            with tf.GradientTape() as tape:
                loss = self.model.training_loss()
            grads = tape.gradient(loss, variables)
            return loss, tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)

        self._loss_and_grad = loss_and_grad

    @classmethod
    def get(cls, dim: int, kind: str, prior: bool, noise_floor: float) -> "_Fitter":
        key = (dim, kind, prior, noise_floor)
        with cls._cache_lock:
            if key not in cls._cache:
                cls._cache[key] = cls(dim, kind, prior, noise_floor)
            return cls._cache[key]

    def set_params(self, ls: np.ndarray, var: float, noise: float) -> None:
        self.kernel.lengthscales.assign(ls)
        self.kernel.variance.assign(var)
        self.likelihood.variance.assign(noise)

    def params(self) -> tuple[np.ndarray, float, float]:
        return (np.array(self.kernel.lengthscales.numpy(), dtype=float).reshape(-1),
                float(self.kernel.variance.numpy()), float(self.likelihood.variance.numpy()))

    def minimize(self, maxiter: int) -> float:
        """L-BFGS-B (scipy) on GPflow's training loss (negative log marginal likelihood + priors)."""
        from scipy.optimize import minimize

        x0 = np.concatenate([np.reshape(v.numpy(), -1) for v in self._variables])

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grad = self._loss_and_grad(x)
            loss, grad = float(loss.numpy()), grad.numpy()
            if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
                return 1e30, np.zeros_like(x)  # makes the line search step back
            return loss, grad

        res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
        self._loss_and_grad(res.x)  # leave the variables at the optimum
        loss = float(res.fun)
        if not math.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss ({loss})")
        return loss


class GPSurrogate:
    """Gaussian process (GPflow GPR), ARD Matérn kernel, L-BFGS hyperparameter fit with restarts."""

    Config = GPConfig

    def __init__(self, *, kernel: str = "matern52", restarts: int = 2, maxiter: int = 200,
                 noise_floor: float = 1e-6, lengthscale_prior: bool = True, seed: int = 0):
        self.kernel = kernel
        self.restarts = restarts
        self.maxiter = maxiter
        self.noise_floor = noise_floor
        self.lengthscale_prior = lengthscale_prior
        self.seed = seed
        self._state: dict[str, Any] | None = None  # last good hyperparameters
        self._post: _Posterior | None = None
        self._std: Standardizer | None = None
        self.fit_info: dict[str, Any] = {}

    @classmethod
    def from_config(cls, config: GPConfig, context: ModelContext | None) -> "GPSurrogate":
        return cls(**dict(config), seed=context.seed if context else 0)

    # -- state ----------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return dict(self._state) if self._state else {}

    def set_state(self, state: dict[str, Any]) -> None:
        if state and state.get("schema_version") == STATE_VERSION and state.get("kernel") == self.kernel:
            self._state = dict(state)

    # -- fit --------------------------------------------------------------------------

    def _starts(self, dim: int) -> list[tuple[np.ndarray, float, float]]:
        rng = np.random.default_rng(self.seed)
        starts = []
        prev = self._state
        if prev and len(prev["lengthscales"]) == dim:
            starts.append((np.array(prev["lengthscales"]), prev["variance"], max(prev["noise"], self.noise_floor)))
        else:
            starts.append((np.full(dim, 0.3), 1.0, max(1e-2, self.noise_floor)))
        for _ in range(self.restarts):
            ls = np.exp(rng.uniform(math.log(0.05), math.log(1.5), size=dim))
            starts.append((ls, float(np.exp(rng.uniform(-1.0, 1.0))), float(10 ** rng.uniform(-4, -1)) + self.noise_floor))
        return starts

    def fit(self, X: np.ndarray, y: np.ndarray) -> "GPSurrogate":
        X, y = check_training_data(X, y)
        t0 = time.perf_counter()
        self._std = Standardizer(y)
        z = self._std.forward(y)
        best: tuple[float, tuple] | None = None
        errors: list[str] = []
        # a failed fit is retried once with a noise floor 1000x higher (more jitter)
        for floor in (self.noise_floor, self.noise_floor * 1e3):
            fitter = _Fitter.get(X.shape[1], self.kernel, self.lengthscale_prior, floor)
            with fitter.lock:
                fitter.X.assign(X)
                fitter.Y.assign(z[:, None])
                for ls, var, noise in self._starts(X.shape[1]):
                    try:
                        fitter.set_params(ls, var, max(noise, 2 * floor))
                        loss = fitter.minimize(self.maxiter)
                        if best is None or loss < best[0]:
                            best = (loss, fitter.params())
                    except Exception as exc:  # Cholesky failures, NaNs: try the next start
                        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            if best is not None:
                break
        fallback = False
        if best is None:
            if not self._state:
                # nothing learned yet: keep defaults that are safe on the unit cube
                self._state = self._make_state(np.full(X.shape[1], 0.3), 1.0, 1e-2, float("nan"))
            log.warning("GP fit failed on every start (%s); keeping the last good hyperparameters",
                        "; ".join(errors[:3]))
            fallback = True
        else:
            loss, (ls, var, noise) = best
            self._state = self._make_state(ls, var, noise, loss)
        s = self._state
        ls = np.array(s["lengthscales"], dtype=float)
        self._post = _Posterior(self.kernel, X, z, ls, float(s["variance"]), float(s["noise"]))
        self.fit_info = {
            "seconds": time.perf_counter() - t0,
            "starts": 1 + self.restarts,
            "failed_starts": len(errors),
            "fallback": fallback,
            "loss": s["loss"],
        }
        return self

    def _make_state(self, ls: np.ndarray, var: float, noise: float, loss: float) -> dict[str, Any]:
        return {
            "schema_version": STATE_VERSION,
            "kernel": self.kernel,
            "lengthscales": [float(v) for v in ls],
            "variance": float(var),
            "noise": float(noise),
            "loss": None if not math.isfinite(loss) else float(loss),
        }

    # -- predict ----------------------------------------------------------------------

    def _require_fit(self) -> None:
        if self._post is None or self._std is None:
            raise RuntimeError("GPSurrogate.predict called before fit")

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the latent f at X [N, D], in y's units; arrays [N]."""
        self._require_fit()
        m, v = self._post.predict(np.asarray(X, dtype=np.float64))
        return m * self._std.std + self._std.mean, v * self._std.std**2

    def condition(self, X: np.ndarray) -> "GPSurrogate":
        """A copy with fantasy observations at the predicted mean at X (kriging believer)."""
        self._require_fit()
        other = GPSurrogate.__new__(GPSurrogate)
        other.__dict__.update(self.__dict__)
        other._post = self._post.condition(np.asarray(X, dtype=np.float64))
        return other
