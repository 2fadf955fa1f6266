"""Sparse GP for many observations: GPflow SGPR (Titsias' collapsed bound) with inducing points.

``GPSurrogate`` switches to this model above ``sparse_above`` observations (see
``surrogate.py``); the surrogate's interface stays the same (fit, predict, condition,
JSON state, which includes the inducing points).

- Inducing points: M = min(``inducing``, N) points chosen from the observations
  by greedy conditional variance (a pivoted Cholesky factorisation of the kernel
  matrix: each next point is the observation the points so far explain least;
  Burt, Rasmussen & van der Wilk, JMLR 21 (2020)) under the warm-start
  hyperparameters. A warm-started fit keeps the previous fit's points (from the
  state; topped up greedily if there are fewer than M), so the loss surface
  barely moves between steps and L-BFGS converges in a few evaluations; they are
  chosen afresh when there are none, when the data grew by 10% since they were
  chosen, and (then the fit is repeated) when the fitted hyperparameters moved
  far from those they were chosen with. With ``train_inducing`` their locations
  are then optimised too, by GPflow's compiled SGPR loss (slower).
- Hyperparameters: the same kernel, priors and transforms as the exact GP, fitted
  by L-BFGS-B on GPflow's SGPR training loss (negative collapsed ELBO minus log
  priors), from the warm start only (random restarts only without one). The loss
  and its gradient are evaluated in numpy, O(N M^2) over blocks of observations
  on two threads (a test checks both against GPflow's to 1e-8); the compiled
  TensorFlow function took about 0.4 s per evaluation at N = 5,000, M = 384.
- Prediction: GPflow's ``SGPR.predict_f`` equations in numpy, chunked over the
  candidates: O(M^2) per candidate.
- Fantasies (kriging believer): the fantasy points are added to the data at their
  predicted mean and, where the inducing points do not already explain them, to
  the inducing points as well (hyperparameters fixed), and the posterior is
  recomputed: O(N M^2). The variance at a fantasy point then drops as it does
  for the exact GP, so a batch spreads out (elsewhere the new inducing points can
  move the approximate variance by a hair, either way).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import solve_triangular
from scipy.linalg.blas import dtrsm
from scipy.linalg.lapack import dpotrf, dpotri
from scipy.special import expit

from oracles.blas import single_threaded_blas

from .fitter import gpflow_parts
from .loss import guarded
from .kernels import Tie, cross as _cross, cross_and_dk as _cross_and_dk, kernel_and_dk as _kernel_and_dk
from .kernels import kernel_matrix, lengthscale_gradient as _ls_grad_sym
from .priors import LengthscalePrior, inv_softplus as _inv_softplus, neg_log_prior, softplus as _softplus
from .threads import n_threads as _n_threads, parallel as _parallel, run_blocks as _run_blocks

if TYPE_CHECKING:
    from .surrogate import GPSurrogate

log = logging.getLogger("looplab.models.gp")

JITTER = 1e-6  # GPflow's default jitter on Kuu
# the loss's O(N M^2) work is split over threads above this many Kuf elements
_PARALLEL_ELEMS = 1 << 18


# --------------------------------------------------------------------------- inducing points


def greedy_inducing(kind: str, X: np.ndarray, ls: np.ndarray, var: float, m: int, tol: float = 1e-8,
                    initial: np.ndarray | None = None) -> np.ndarray:
    """Up to m inducing points: ``initial`` (kept first, if given) then rows of X chosen by greedy
    conditional variance (a pivoted Cholesky factorisation).

    Each step takes the row whose prior variance is least explained by the points taken so
    far; it stops early when every row is explained to within ``tol * var``. O(N m^2).
    """
    n = len(X)
    d = np.full(n, float(var))
    rows = np.empty((m, n))
    chosen: list[np.ndarray] = []
    k0 = 0
    if initial is not None and len(initial):
        Z0 = np.asarray(initial, dtype=np.float64)[:m]
        Kzz = kernel_matrix(kind, Z0, Z0, ls, var)
        Kzz[np.diag_indices_from(Kzz)] += JITTER
        k0 = len(Z0)
        rows[:k0] = solve_triangular(np.linalg.cholesky(Kzz), kernel_matrix(kind, Z0, X, ls, var), lower=True,
                                     check_finite=False)
        d -= np.sum(rows[:k0] ** 2, axis=0)
        chosen = list(Z0)
    for k in range(k0, m):
        j = int(np.argmax(d))
        if d[j] <= tol * var:
            break
        kj = _cross(kind, X[j : j + 1], X, ls, var)[0]
        e = kj - rows[:k, j] @ rows[:k] if k else kj
        e /= math.sqrt(d[j])
        rows[k] = e
        d -= e * e
        d[j] = 0.0
        chosen.append(X[j])
    return np.array(chosen).reshape(-1, X.shape[1])


def _residual_variance(kind: str, Z: np.ndarray, Xn: np.ndarray, ls: np.ndarray, var: float) -> np.ndarray:
    """Prior variance at Xn not explained by the inducing points Z: k(x, x) - Q(x, x)."""
    Kuu = kernel_matrix(kind, Z, Z, ls, var)
    Kuu[np.diag_indices_from(Kuu)] += JITTER
    L = np.linalg.cholesky(Kuu)
    V = solve_triangular(L, kernel_matrix(kind, Z, Xn, ls, var), lower=True, check_finite=False)
    return var - np.sum(V * V, axis=0)


# --------------------------------------------------------------------------- the SGPR loss (numpy)


class SGPRLoss:
    """GPflow's SGPR training loss (negative collapsed ELBO minus log priors) and its gradient
    in the unconstrained hyperparameters [lengthscales (D), variance, noise], inducing points fixed.

    ELBO = -N/2 log 2 pi - sum log diag LB - N/2 log s2 - (N var / s2 - tr(A A^T)) / 2
           - (y^T y / s2 - c^T c) / 2,
    with L L^T = Kuu + jitter I, A = L^-1 Kuf / s, B = A A^T + I = LB LB^T, c = LB^-1 A y / s.
    """

    def __init__(self, kind: str, X: np.ndarray, z: np.ndarray, Z: np.ndarray, prior: LengthscalePrior,
                 noise_floor: float, tie: Tie | None = None):
        self.kind, self.prior, self.floor = kind, prior, noise_floor
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.Z = np.ascontiguousarray(Z, dtype=np.float64)
        shift = self.X.mean(axis=0)
        self.Xc, self.Zc = self.X - shift, self.Z - shift
        self.z = np.asarray(z, dtype=np.float64)
        self.yy = float(self.z @ self.z)
        self.n, self.dim = self.X.shape
        self.tie = tie if tie is not None else Tie.none(self.dim)
        self.evaluations = 0

    def params(self, u: np.ndarray) -> tuple[np.ndarray, float, float]:
        """(free lengthscales [Q], variance, noise) at u."""
        d = self.tie.n_free
        return _softplus(u[:d]), float(_softplus(u[d])), float(self.floor + _softplus(u[d + 1]))

    def _blocks(self) -> list[slice]:
        n, m = self.n, len(self.Z)
        k = _n_threads() if n * m >= _PARALLEL_ELEMS else 1
        edges = np.linspace(0, n, k + 1).astype(int)
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss and gradient; the O(N M^2) work runs over blocks of observations on the GP's threads."""
        self.evaluations += 1
        n, m = self.n, len(self.Z)
        ls_free, var, noise = self.params(u)
        ls = self.tie.expand(ls_free)
        beta = 1.0 / noise
        sigma = math.sqrt(noise)
        y = self.z
        Kuu, Guu = _kernel_and_dk(self.kind, self.Z, ls, var)
        Kj = Kuu.copy()
        Kj[np.diag_indices(m)] += JITTER
        L, info = dpotrf(Kj.T, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("Kuu is not positive definite")
        blocks = self._blocks()
        kuf: list[tuple[np.ndarray, np.ndarray]] = [None] * len(blocks)  # type: ignore[list-item]

        def forward(i: int, sl: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            Kuf, Guf = _cross_and_dk(self.kind, self.Z, self.X[sl], ls, var)  # [m, n_b]
            kuf[i] = (Kuf, Guf)
            A = dtrsm(1.0 / sigma, L, np.asfortranarray(Kuf), lower=1)  # L^-1 Kuf / s
            return A @ A.T, A @ y[sl], Kuf @ y[sl]

        parts = _parallel([lambda i=i, sl=sl: forward(i, sl) for i, sl in enumerate(blocks)])
        AAT = sum(p[0] for p in parts)
        Ay = sum(p[1] for p in parts) / sigma
        b = sum(p[2] for p in parts)  # Kuf y
        B = AAT.copy()
        B[np.diag_indices(m)] += 1.0
        LB, info = dpotrf(B.T, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("B is not positive definite")
        c = solve_triangular(LB, Ay, lower=True, check_finite=False)
        tr_aat = float(np.trace(AAT))
        elbo = (-0.5 * n * math.log(2.0 * math.pi) - float(np.sum(np.log(np.diagonal(LB))))
                - 0.5 * n * math.log(noise) - 0.5 * (n * var / noise - tr_aat) - 0.5 * (self.yy / noise - c @ c))

        # -- gradient of the ELBO w.r.t. Kuu, Kuf and beta = 1 / noise; with P = Kuu + beta Kuf Kfu,
        # R = Kuu^-1 - P^-1 and v = P^-1 Kuf y:
        #   dELBO/dKuf  = beta R Kuf + beta^2 v (y - beta Kfu v)^T
        #   dELBO/dKuu  = R/2 - (beta/2) Kuu^-1 Kuf Kfu Kuu^-1 - (beta^2/2) v v^T
        #   dELBO/dbeta = tr(R Kuf Kfu)/2 + beta y^T Kfu v - (beta^2/2) |Kfu v|^2 + N/(2 beta) - y^T y/2 - N var/2
        Binv, info = dpotri(LB, lower=1)
        Binv = Binv + np.tril(Binv, -1).T
        C = -Binv
        C[np.diag_indices(m)] += 1.0  # I - B^-1
        Linv = solve_triangular(L, np.eye(m), lower=True, check_finite=False)
        R = Linv.T @ C @ Linv
        v = noise * solve_triangular(L, solve_triangular(LB, c, lower=True, trans="T", check_finite=False),
                                     lower=True, trans="T", check_finite=False)
        Zc = self.Zc

        def backward(i: int, sl: slice) -> tuple[float, float, np.ndarray, np.ndarray, float]:
            Kuf, Guf = kuf[i]
            Kfv = Kuf.T @ v
            r = y[sl] - beta * Kfv
            G = R @ Kuf
            G *= beta
            G += (beta * beta) * np.outer(v, r)  # dELBO/dKuf for this block
            g_var = float(np.vdot(G, Kuf))
            G *= Guf
            Xc = self.Xc[sl]
            ls_part = G.sum(axis=0) @ (Xc * Xc) - 2.0 * np.einsum("id,id->d", Zc, G @ Xc)
            return g_var, float(Kfv @ Kfv), G.sum(axis=1), ls_part, 0.0

        parts = _parallel([lambda i=i, sl=sl: backward(i, sl) for i, sl in enumerate(blocks)])
        vdot_kuf = sum(p[0] for p in parts)
        kfv2 = sum(p[1] for p in parts)
        rowsum = sum(p[2] for p in parts)
        ls_cross = rowsum @ (Zc * Zc) + sum(p[3] for p in parts)
        S = Linv.T @ AAT @ Linv  # beta Kuu^-1 Kuf Kfu Kuu^-1
        G_Kuu = 0.5 * R - 0.5 * S - 0.5 * beta * beta * np.outer(v, v)
        G_beta = (0.5 * noise * float(np.vdot(C, AAT)) + beta * float(b @ v) - 0.5 * beta * beta * kfv2
                  + 0.5 * n * noise - 0.5 * self.yy - 0.5 * n * var)
        g_noise = -beta * beta * G_beta
        g_var = (float(np.vdot(G_Kuu, Kuu)) + vdot_kuf) / var - 0.5 * beta * n
        g_ls = self.tie.reduce((_ls_grad_sym(G_Kuu * Guu, Zc) + ls_cross) / ls**3)
        # loss = -ELBO - log priors
        loss = -elbo
        grad_ls, grad_var, grad_noise = -g_ls, -g_var, -g_noise
        p_loss, p_ls, p_var, p_noise = neg_log_prior(ls_free, var, noise, self.prior)
        loss += p_loss
        grad_ls = grad_ls + p_ls
        grad_var += p_var
        grad_noise += p_noise
        grad = np.concatenate([grad_ls, [grad_var, grad_noise]]) * expit(u)
        return float(loss), grad


def _minimize(loss_fn, u0: np.ndarray, maxiter: int) -> tuple[float, np.ndarray]:
    from scipy.optimize import minimize

    res = minimize(guarded(loss_fn), u0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
    loss = float(res.fun)
    if not math.isfinite(loss) or loss >= 1e30:
        raise FloatingPointError(f"non-finite SGPR training loss ({loss}) or Cholesky failure at every step")
    return loss, res.x


def _unconstrained(ls: np.ndarray, var: float, noise: float, floor: float) -> np.ndarray:
    return np.concatenate([_inv_softplus(ls), _inv_softplus([var]), _inv_softplus([max(noise - floor, 1e-12)])])


# --------------------------------------------------------------------------- GPflow SGPR


class _SGPRModel:
    """A GPflow SGPR per (input dimension, kernel, prior, noise floor) with variable-shaped data and
    inducing points: the reference the numpy loss and prediction are tested against, and the
    optimiser of trainable inducing points (its compiled loss is traced on first use)."""

    _cache: dict[tuple, "_SGPRModel"] = {}
    _cache_lock = threading.Lock()

    def __init__(self, dim: int, kind: str, prior: LengthscalePrior, noise_floor: float):
        self.dim, self.kind, self.prior, self.noise_floor = dim, kind, prior, noise_floor
        # first: gpflow_parts imports TensorFlow quietly (tf_quiet); the imports below then cost nothing
        self.kernel, self.likelihood, self.X, self.Y = gpflow_parts(dim, kind, prior, noise_floor)
        import gpflow
        import tensorflow as tf
        self.Z = gpflow.Parameter(np.zeros((1, dim)), shape=[None, dim])
        self.model = gpflow.models.SGPR((self.X, self.Y), self.kernel, gpflow.inducing_variables.InducingPoints(self.Z),
                                        likelihood=self.likelihood)
        self.lock = threading.Lock()
        variables = [self.kernel.lengthscales.unconstrained_variable, self.kernel.variance.unconstrained_variable,
                     self.likelihood.variance.unconstrained_variable, self.Z.unconstrained_variable]
        self._variables = variables

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
        def loss_and_grad(x):
            n_z = tf.shape(x)[0] - (dim + 2)
            parts = tf.split(x, tf.stack([dim, 1, 1, n_z]))
            variables[0].assign(parts[0])
            variables[1].assign(tf.reshape(parts[1], []))
            variables[2].assign(tf.reshape(parts[2], []))
            variables[3].assign(tf.reshape(parts[3], [-1, dim]))
            with tf.GradientTape() as tape:
                loss = self.model.training_loss()
            grads = tape.gradient(loss, variables)
            return loss, tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)

        self._loss_and_grad = loss_and_grad

    @classmethod
    def get(cls, dim: int, kind: str, prior: LengthscalePrior, noise_floor: float) -> "_SGPRModel":
        key = (dim, kind, prior, noise_floor)
        with cls._cache_lock:
            if key not in cls._cache:
                cls._cache[key] = cls(dim, kind, prior, noise_floor)
            return cls._cache[key]

    def load(self, X: np.ndarray, z: np.ndarray, Z: np.ndarray, ls: np.ndarray, var: float, noise: float) -> None:
        self.X.assign(X)
        self.Y.assign(np.asarray(z, dtype=np.float64)[:, None])
        self.Z.assign(Z)
        self.kernel.lengthscales.assign(ls)
        self.kernel.variance.assign(var)
        self.likelihood.variance.assign(noise)

    def minimize(self, maxiter: int) -> tuple[float, tuple[np.ndarray, float, float], np.ndarray]:
        """L-BFGS-B on the training loss over hyperparameters and inducing locations."""
        from scipy.optimize import minimize

        x0 = np.concatenate([np.reshape(v.numpy(), -1) for v in self._variables])

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            loss, grad = self._loss_and_grad(x)
            loss, grad = float(loss.numpy()), grad.numpy()
            if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
                return 1e30, np.zeros_like(x)
            return loss, grad

        res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
        self._loss_and_grad(res.x)
        loss = float(res.fun)
        if not math.isfinite(loss) or loss >= 1e30:
            raise FloatingPointError(f"non-finite SGPR training loss ({loss})")
        params = (np.array(self.kernel.lengthscales.numpy(), dtype=float).reshape(-1),
                  float(self.kernel.variance.numpy()), float(self.likelihood.variance.numpy()))
        return loss, params, np.array(self.Z.numpy(), dtype=float)


# --------------------------------------------------------------------------- posterior (numpy)


class SparsePosterior:
    """SGPR posterior for fixed hyperparameters and inducing points (GPflow's predict_f in numpy).

    (No attributes ``L`` and ``z``: those name the exact GP's factor and targets, which a
    closed-form leave-one-out reads.)
    """

    def __init__(self, kind: str, X: np.ndarray, targets: np.ndarray, Z: np.ndarray, ls: np.ndarray, var: float,
                 noise: float):
        self.kind, self.X, self.targets, self.Z = kind, X, targets, Z
        self.ls, self.var, self.noise = ls, var, noise
        m = len(Z)
        sigma = math.sqrt(noise)
        Kuu = kernel_matrix(kind, Z, Z, ls, var)
        Kuu[np.diag_indices(m)] += JITTER
        self.Luu = np.asfortranarray(np.linalg.cholesky(Kuu))
        Kuf = kernel_matrix(kind, Z, X, ls, var)
        A = dtrsm(1.0 / sigma, self.Luu, np.asfortranarray(Kuf), lower=1)
        B = A @ A.T
        B[np.diag_indices(m)] += 1.0
        self.LB = np.asfortranarray(np.linalg.cholesky(B))
        self.c = solve_triangular(self.LB, A @ targets / sigma, lower=True, check_finite=False)

    @property
    def n_inducing(self) -> int:
        return len(self.Z)

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Xs = np.asarray(Xs, dtype=np.float64)
        M, m = len(Xs), len(self.Z)
        mean, var = np.empty(M), np.empty(M)

        def work(a: int, b: int, out: np.ndarray, tmp: np.ndarray) -> None:
            KT = _cross(self.kind, Xs[a:b], self.Z, self.ls, self.var, out, tmp)  # k(Xs, Z) [b-a, m]
            T1 = dtrsm(1.0, self.Luu, KT.T, lower=1, overwrite_b=1)  # L^-1 Kus, in place
            q1 = np.einsum("ij,ij->i", KT, KT)
            T2 = dtrsm(1.0, self.LB, T1, lower=1, overwrite_b=1)  # LB^-1 L^-1 Kus, in place
            mean[a:b] = KT @ self.c
            var[a:b] = self.var + np.einsum("ij,ij->i", KT, KT) - q1
            del T2

        _run_blocks(M, m, work)
        return mean, np.maximum(var, 1e-12 * self.var)

    def condition(self, Xf: np.ndarray) -> "SparsePosterior":
        """Fantasies at the predicted mean: added to the data and, where the inducing points do not
        explain them (residual variance above 1e-6 var), to the inducing points; hyperparameters fixed."""
        Xf = np.asarray(Xf, dtype=np.float64)
        zf, _ = self.predict(Xf)
        Z = self.Z
        for x in Xf:  # one at a time, so near-duplicate fantasies do not both become inducing points
            if _residual_variance(self.kind, Z, x[None, :], self.ls, self.var)[0] > 1e-6 * self.var:
                Z = np.vstack([Z, x])
        return SparsePosterior(self.kind, np.vstack([self.X, Xf]), np.concatenate([self.targets, zf]), Z,
                               self.ls, self.var, self.noise)


# --------------------------------------------------------------------------- fitting


def fit_sparse(model: "GPSurrogate", X: np.ndarray, z: np.ndarray, t0: float) -> "GPSurrogate":
    """Fit ``model`` (a GPSurrogate, already standardised: z) as a sparse GP; sets its state and posterior."""
    with single_threaded_blas:
        return _fit_sparse(model, X, z, t0)


def _fit_sparse(model: "GPSurrogate", X: np.ndarray, z: np.ndarray, t0: float) -> "GPSurrogate":
    n = len(X)
    tie = model._tie if model._tie is not None else Tie.none(X.shape[1])
    dim = tie.n_free  # free lengthscales
    kind, floor = model.kernel, model.noise_floor
    m = min(model.inducing, n)
    warm = model._warm(dim)
    prev = model._state or {}
    starts = model._starts(dim)
    if warm is not None:
        starts = starts[:1]  # random restarts cost a whole O(N M^2) fit each: only without a warm start
    ls0, var0, _ = starts[0]
    ls0 = tie.expand(ls0)  # one lengthscale per column, for the kernels
    errors: list[str] = []
    evaluations = 0

    def attempt(Z: np.ndarray, ls: np.ndarray, var: float, noise: float) -> tuple[float, tuple] | None:
        nonlocal evaluations
        loss_fn = SGPRLoss(kind, X, z, Z, model.prior, floor, tie)
        try:
            loss, u = _minimize(loss_fn, _unconstrained(ls, var, max(noise, 2 * floor), floor), model.maxiter)
        except Exception as exc:  # noqa: BLE001 - Cholesky failures, NaNs: try the next start
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            return None
        finally:
            evaluations += loss_fn.evaluations
        return loss, loss_fn.params(u)

    # Inducing points: the previous fit's, kept (topped up greedily if fewer than m), so that the loss
    # surface barely moves between steps and the warm start converges in a few evaluations; chosen
    # afresh when there are none, when the data grew by 10% since they were chosen, or when the
    # hyperparameters moved far from those they were chosen with.
    kept = prev.get("inducing_points") if prev.get("sparse") and warm is not None else None
    chosen_n = int(prev.get("inducing_chosen_at", 0) or 0)
    if kept is not None and len(kept) and len(kept[0]) == X.shape[1] and n < 1.1 * chosen_n:
        Z = greedy_inducing(kind, X, ls0, var0, m, initial=np.array(kept, dtype=float))
    else:
        Z, chosen_n = greedy_inducing(kind, X, ls0, var0, m), n
    best: tuple[float, tuple, np.ndarray] | None = None
    for ls, var, noise in starts:
        got = attempt(Z, ls, var, noise)
        if got is not None and (best is None or got[0] < best[0]):
            best = (got[0], got[1], Z)
    reselected = False
    if best is not None and (warm is None or model._moved(best[1])):
        ls, var, noise = best[1]
        Z2 = greedy_inducing(kind, X, tie.expand(ls), var, m)
        got = attempt(Z2, ls, var, noise)
        if got is not None:
            best, chosen_n, reselected = (got[0], got[1], Z2), n, True
    # GPflow's SGPR optimises the inducing points: untied lengthscales under one prior only
    if best is not None and model.train_inducing and tie.index is None and isinstance(model.prior, LengthscalePrior):
        loss, (ls, var, noise), Zb = best
        ref = _SGPRModel.get(dim, kind, model.prior, floor)
        try:
            with ref.lock:
                ref.load(X, z, Zb, ls, var, noise)
                best = ref.minimize(model.maxiter)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    fallback = False
    if best is None:
        if not model._state:
            model._state = model._make_state(np.full(dim, 0.3), 1.0, 1e-2, float("nan"))
        log.warning("sparse GP fit failed on every start (%s); keeping the last good hyperparameters",
                    "; ".join(errors[:3]))
        fallback = True
    else:
        loss, (ls, var, noise), Z = best
        model._state = model._make_state(ls, var, noise, loss)
    s = model._state
    s["sparse"] = True
    s["inducing_points"] = [[float(v) for v in row] for row in Z]
    s["inducing_chosen_at"] = chosen_n
    s["n_observations"] = n
    s["fits_since_restarts"] = 0 if len(starts) > 1 else int(prev.get("fits_since_restarts", 0)) + 1
    model._post = SparsePosterior(kind, X, z, Z, tie.expand(np.array(s["lengthscales"], dtype=float)),
                                  float(s["variance"]), float(s["noise"]))
    model.fit_info = {
        "seconds": time.perf_counter() - t0,
        "starts": len(starts),
        "restarted": len(starts) > 1,
        "evaluations": evaluations,
        "failed_starts": len(errors),
        "fallback": fallback,
        "loss": s["loss"],
        "sparse": True,
        "inducing": len(Z),
        "reselected_inducing": reselected,
    }
    return model
