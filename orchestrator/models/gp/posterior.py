"""The exact GP's posterior for fixed hyperparameters, in numpy: prediction, fantasies, pool updates, LOO.

Prediction uses the fitted hyperparameters with a cached Cholesky factor (the same equations as GPflow's
``GPR.predict_f``; tests/test_models.py checks they agree to 1e-8). Candidates are predicted in
cache-sized blocks, the kernel built in place and one BLAS triangular solve per block, on the GP's
threads (``threads.py``). For acquisitions that grow with the variance, ``predict_bound`` gives the mean
and a cheap upper bound on the variance, so that only the candidates that could win are predicted
exactly; :class:`PoolPosterior` updates a pool's variance by a rank-one downdate per kriging-believer
pick (see acquisition/batch.py).

The prior mean is zero: the surrogate standardises its targets (and subtracts any mean function,
``mean.py``) before they reach the posterior. Lengthscales here are one per kernel column (tied ones
already expanded, ``kernels.Tie``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.linalg.blas import dtrsm

from oracles.blas import single_threaded_blas

from ..base import Standardizer
from .kernels import Kernel, cross as _cross, kernel_matrix
from .threads import run_blocks as _run_blocks

# a pool's [M, N] solve is kept for kriging-believer batches up to this many elements (256 MB)
POOL_CACHE_ELEMS = 1 << 25


class Posterior:
    """GP posterior for fixed hyperparameters: data, Cholesky factor and weights."""

    def __init__(self, kind: "str | Kernel", X: np.ndarray, z: np.ndarray, ls: np.ndarray, var: float, noise: float,
                 L: np.ndarray | None = None):
        self.kind, self.X, self.z, self.ls, self.var, self.noise = kind, X, z, ls, var, noise
        if L is None:
            K = kernel_matrix(kind, X, X, ls, var)
            K[np.diag_indices_from(K)] += noise
            L = cholesky(K)
        self.L = L
        self.alpha = cho_solve((L, True), z)
        self._LF: np.ndarray | None = None

    @property
    def LF(self) -> np.ndarray:
        """The Cholesky factor in Fortran order (what BLAS wants; no copy per solve)."""
        if self._LF is None:
            self._LF = np.asfortranarray(self.L)
        return self._LF

    def _predict(self, Xs: np.ndarray, keep_solve: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Mean, variance (unfloored) and, if asked, V^T = (L^-1 k(X, Xs))^T [M, N]."""
        Xs = np.asarray(Xs, dtype=np.float64)
        M, N = len(Xs), len(self.X)
        mean, var = np.empty(M), np.empty(M)
        VT = np.empty((M, N)) if keep_solve else None
        LF, alpha = self.LF, self.alpha

        def work(a: int, b: int, out: np.ndarray, tmp: np.ndarray) -> None:
            KT = out if VT is None else VT[a:b]
            _cross(self.kind, Xs[a:b], self.X, self.ls, self.var, KT, tmp)  # k(Xs, X) [m, N]
            mean[a:b] = KT @ alpha
            # V = L^-1 k(X, Xs) in place: KT.T is the Fortran view of the [N, m] block
            dtrsm(1.0, LF, KT.T, lower=1, overwrite_b=1)
            var[a:b] = self.var - np.einsum("ij,ij->i", KT, KT)

        _run_blocks(M, N, work)
        return mean, var, VT

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, var, _ = self._predict(Xs)
        return mean, np.maximum(var, 1e-12 * self.var)

    def predict_bound(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean (exact) and an upper bound on the variance, without the triangular solve.

        The bound is the variance given only the nearest observation (largest kernel value
        k_max): var - k_max^2 / (var + noise). Conditioning on more observations only lowers
        the variance, so the exact variance is never above it.
        """
        Xs = np.asarray(Xs, dtype=np.float64)
        mean, upper = np.empty(len(Xs)), np.empty(len(Xs))
        alpha, scale = self.alpha, 1.0 / (self.var + self.noise)

        def work(a: int, b: int, out: np.ndarray, tmp: np.ndarray) -> None:
            KT = _cross(self.kind, Xs[a:b], self.X, self.ls, self.var, out, tmp)
            mean[a:b] = KT @ alpha
            kmax = KT.max(axis=1)
            upper[a:b] = self.var - kmax * kmax * scale

        _run_blocks(len(Xs), len(self.X), work)
        return mean, upper

    def cross_dot(self, Xs: np.ndarray, w: np.ndarray) -> np.ndarray:
        """k(Xs, X) @ w, without keeping the [M, N] block."""
        out_v = np.empty(len(Xs))

        def work(a: int, b: int, out: np.ndarray, tmp: np.ndarray) -> None:
            out_v[a:b] = _cross(self.kind, Xs[a:b], self.X, self.ls, self.var, out, tmp) @ w

        _run_blocks(len(Xs), len(self.X), work)
        return out_v

    def condition(self, Xf: np.ndarray) -> "Posterior":
        """Add fantasies at the posterior mean by a block update of the Cholesky factor."""
        zf, _ = self.predict(Xf)
        K12 = kernel_matrix(self.kind, self.X, Xf, self.ls, self.var)
        K22 = kernel_matrix(self.kind, Xf, Xf, self.ls, self.var)
        K22[np.diag_indices_from(K22)] += self.noise
        B = solve_triangular(self.L, K12, lower=True, check_finite=False)
        # the fantasies' covariance given the data: posterior covariance + noise. With long lengthscales (a
        # nearly flat kernel) it is a small difference of large numbers, so the jitter scales with the
        # prior variance, not with this matrix's own (possibly rounded-to-zero) diagonal
        S = K22 - B.T @ B
        S = 0.5 * (S + S.T)
        L22 = cholesky(S, scale=self.var + self.noise)
        n, m = len(self.X), len(Xf)
        L = np.zeros((n + m, n + m))
        L[:n, :n] = self.L
        L[n:, :n] = B.T
        L[n:, n:] = L22
        return Posterior(self.kind, np.vstack([self.X, Xf]), np.concatenate([self.z, zf]),
                          self.ls, self.var, self.noise, L=L)


class PoolPosterior:
    """Mean and variance over a fixed candidate set, for kriging-believer batches.

    ``condition(j)`` adds a fantasy observation at candidate j at its predicted mean: the
    mean does not change, and the variance drops by c(x)^2 / (v(x_j) + noise), with c the
    posterior covariance between each candidate and x_j (one rank-one downdate; the
    covariances with earlier fantasies are kept). Mathematically identical to refitting
    the posterior with the fantasy and predicting the pool again, which costs a kernel
    block and a triangular solve over the whole pool; here the pool's solve is kept
    (when it fits in 256 MB) so each fantasy costs one matrix-vector product.
    """

    def __init__(self, post: Posterior, Xs: np.ndarray, std: Standardizer, keep_solve: bool = True):
        self.post, self.std = post, std
        self.Xs = np.asarray(Xs, dtype=np.float64)
        keep = keep_solve and len(self.Xs) * len(post.X) <= POOL_CACHE_ELEMS
        with single_threaded_blas:
            self._mean, self._var, self._VT = post._predict(self.Xs, keep_solve=keep)
        self._updates: list[tuple[np.ndarray, float]] = []

    def predict(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the latent f at every candidate, in y's units."""
        post, std = self.post, self.std
        var = np.maximum(self._var, 1e-12 * post.var)
        return self._mean * std.std + std.mean, var * std.std**2

    def condition(self, j: int) -> None:
        with single_threaded_blas:
            self._condition(j)

    def _condition(self, j: int) -> None:
        post, Xs = self.post, self.Xs
        xj = Xs[j : j + 1]
        c = kernel_matrix(post.kind, Xs, xj, post.ls, post.var)[:, 0]  # prior covariance with x_j
        if self._VT is not None:
            c -= self._VT @ self._VT[j]
        else:
            w = cho_solve((post.L, True), kernel_matrix(post.kind, post.X, xj, post.ls, post.var)[:, 0])
            c -= post.cross_dot(Xs, w)
        for cs, ds in self._updates:
            c -= cs * (cs[j] / ds)
        d = float(self._var[j]) + post.noise
        self._var = self._var - c * c / d
        self._updates.append((c, d))


def cholesky(K: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Lower Cholesky factor of K, adding jitter (1e-10, 1e-8, ..., 1e-2 times ``scale``, by default the
    mean of K's diagonal) to the diagonal until it succeeds."""
    if scale is None:
        scale = float(np.mean(np.diag(K))) if K.size else 1.0
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    jitter = 0.0
    for k in range(6):
        try:
            return np.linalg.cholesky(K + jitter * np.eye(len(K)))
        except np.linalg.LinAlgError:
            jitter = scale * 10.0 ** (2 * k - 10)
    raise np.linalg.LinAlgError("kernel matrix is not positive definite even with jitter")



def loo_closed_form(L: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact leave-one-out predictions of a GP with fixed hyperparameters.

    L: lower Cholesky factor [N, N] of K + noise * I; z: the targets [N] the GP
    was conditioned on (zero prior mean). Returns the LOO predictive means and
    variances [N]; a variance is that of a new measurement (noise included).
    """
    z = np.asarray(z, dtype=float).reshape(-1)
    Kinv = cho_solve((L, True), np.eye(len(z)))
    d = np.diag(Kinv)
    return z - (Kinv @ z) / d, 1.0 / d


def loo_log_densities(post: "Posterior") -> np.ndarray:
    """log p(z_i | z_-i) for each observation: the GP's exact leave-one-out predictive densities [N]."""
    m, v = loo_closed_form(post.L, post.z)
    return -0.5 * np.log(2 * math.pi * v) - 0.5 * (post.z - m) ** 2 / v

