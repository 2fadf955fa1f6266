"""Gaussian-process surrogate: GPflow GPR, ARD Matérn-5/2, fitted by L-BFGS with restarts.

Inputs arrive in the unit cube; outputs are standardised here. Hyperparameters
(kernel variance, one lengthscale per input, noise variance) are fitted by
maximising the marginal likelihood plus weak priors (GPflow's GPR training
loss) with scipy's L-BFGS-B from the previous step's hyperparameters (warm
start) and, on every ``restart_every``-th fit, without a warm start, or when
the warm start's optimum moved far from it, from a few random starts as well;
the best fit wins. Restarts are rarer above 500 observations (see GPConfig).

For pool campaigns (``rank_inputs``), a second GP is fitted on the inputs
mapped to their rank among the pool's candidates, and predictions are the
mixture of the two, weighted by their exact leave-one-out predictive densities
(pseudo-BMA+, Yao et al. 2018); every prediction path (predict, the
variance bound, fantasies, the pool posterior) mixes both components.

The model of record is a GPflow ``GPR`` built once per process and input
dimension (its parameters, priors and transforms define the loss). The loss
and its gradient are evaluated in numpy (one Cholesky factor and one inverse
per evaluation, the lengthscale gradient by matrix products): the same
function as GPflow's ``training_loss`` (tests/test_sparse_gp.py checks value
and gradient to 1e-8), three to nine times faster than the compiled
TensorFlow function from 50 to 1,000 points (tests/benchmarks/fit_quality.py).
The Cholesky factor at the optimum is reused for prediction.

Prediction uses the fitted hyperparameters with a cached Cholesky factor in
numpy (the same equations as ``GPR.predict_f``; a test checks they agree to
1e-8). Candidates are predicted in cache-sized blocks, the kernel built in
place and one BLAS triangular solve per block, on two threads. For
acquisitions that grow with the variance, ``predict_bound`` gives the mean and
a cheap upper bound on the variance so that only the candidates that could win
are predicted exactly; ``pool_posterior`` updates a pool's variance by a
rank-one downdate per kriging-believer pick (see acquisition/batch.py).

BLAS runs single-threaded inside the GP (``single_threaded_blas``): OpenBLAS's
spinning threads make a 2-thread Cholesky 10-100x slower when other jobs keep
the cores busy; the GP parallelises over blocks of work itself instead.

Above ``sparse_above`` observations the surrogate switches to a sparse GP
(GPflow SGPR with inducing points chosen from the data; see ``sparse.py``)
with the same interface.

A fit that fails (non-finite loss, Cholesky failure) is retried with more
jitter on the noise; if that fails too, the last good hyperparameters are kept
and the failure is logged. The campaign never stops because of a fit.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.linalg import cho_solve, solve_triangular
from scipy.linalg.blas import dtrsm
from scipy.linalg.lapack import dpotrf, dpotri, dpotrs
from scipy.special import expit, gammaln

from oracles.blas import single_threaded_blas

from .base import ModelContext, Standardizer, check_training_data

log = logging.getLogger("looplab.models.gp")

STATE_VERSION = 1
# elements of one [chunk, N] block of the cross-kernel during prediction (2 MB: stays in cache)
_CHUNK_ELEMS = 1 << 18
# above this many kernel elements (candidates x observations) prediction runs on two threads
_THREADED_ELEMS = 1 << 22
# above this many kernel elements predict_bound skips the exact variance
_BOUND_ELEMS = 1 << 20
# a pool's [M, N] solve is kept for kriging-believer batches up to this many elements (256 MB)
_POOL_CACHE_ELEMS = 1 << 25


class GPConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kernel: Literal["matern52", "matern32", "rbf"] = "matern52"
    restarts: int = Field(default=2, ge=0, le=50, description="random restarts besides the warm start")
    restart_every: int = Field(
        default=1, ge=1,
        description="with a warm start from the previous fit, run the random restarts only on every k-th fit "
        "(1 = every fit); they also run when there is no warm start or its optimum moved far from it. Above 500 "
        "observations no more often than every 10th fit, above 1,000 only in those cases; the sparse GP restarts "
        "only without a warm start")
    maxiter: int = Field(default=200, ge=1, description="L-BFGS iterations per start")
    noise_floor: float = Field(default=1e-6, gt=0, description="lower bound of the noise variance (standardised units)")
    lengthscale_prior: bool = Field(default=True, description="Gamma(3, 6) prior on each lengthscale (inputs in [0, 1])")
    sparse_above: int | None = Field(
        default=2000, ge=0,
        description="above this many observations use a sparse GP (GPflow SGPR with inducing points); "
        "null = always the exact GP")
    inducing: int = Field(default=256, ge=8, le=4096, description="inducing points of the sparse GP")
    train_inducing: bool = Field(
        default=False, description="also optimise the inducing points' locations (slower); otherwise they are "
        "chosen from the data by a greedy variance criterion and kept fixed")
    interactions: bool | Literal["auto"] = Field(
        default="auto", description="add the pairwise products x_i*x_j of the encoded inputs as extra ARD inputs "
        "of the kernel. auto: on for pool campaigns with 2 to 4 encoded inputs, where it was measured "
        "(crossed_barrel Top%@50 0.38 -> 0.43, perovskite 0.90 -> 0.95, autoam 0.91 -> 0.97 over 20 seeds), "
        "off for continuous spaces")
    rank_inputs: bool | Literal["auto"] = Field(
        default="auto", description="pool campaigns: fit a second GP on the inputs mapped to their rank among the "
        "pool's candidates (each column's empirical distribution, ties averaged) and predict with the mixture of "
        "the two, weighted by their leave-one-out predictive densities (pseudo-BMA+). It helps where the "
        "candidates are dense in a small part of an input's range or pile up on a few values (autoam Top%@50 "
        "0.92 -> 0.99 over 100 seeds). auto: on for pools whose candidates do not lie on a hyperplane; off for "
        "mixtures (inputs summing to a constant, where it was measured to hurt: perovskite 0.94 -> 0.81 over 40 "
        "seeds) and for continuous spaces, which have no candidates to rank (true forces it on for any pool). "
        "Above 500 observations only the plain GP is fitted (the mixture doubles the fit and was measured on "
        "small campaigns)")


# --------------------------------------------------------------------------- kernels (numpy)

_SCALE = {"matern52": math.sqrt(5.0), "matern32": math.sqrt(3.0), "rbf": 1.0}


def _sdist(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The kernel's argument between rows of A and B, [len(A), len(B)], in ``out``.

    s = sqrt(5) r for Matérn-5/2, sqrt(3) r for Matérn-3/2, and r^2 for the RBF kernel,
    with r the lengthscale-scaled Euclidean distance.
    """
    c = _SCALE[kind] / np.asarray(ls, dtype=np.float64)
    As = A * c
    Bs = B * c
    out = np.empty((len(A), len(B))) if out is None else out
    np.dot(As * -2.0, Bs.T, out=out)
    out += np.einsum("ij,ij->i", As, As)[:, None]
    out += np.einsum("ij,ij->i", Bs, Bs)[None, :]
    np.maximum(out, 0.0, out=out)
    if kind != "rbf":
        np.sqrt(out, out=out)
    return out


def _k_of_s(kind: str, s: np.ndarray, var: float, tmp: np.ndarray | None = None) -> np.ndarray:
    """k from the kernel's argument, in place in ``s`` (``tmp``: scratch of the same shape).

    Matérn-5/2: var * (1 + s + s^2/3) * exp(-s), computed as var/3 * ((s + 1.5)^2 + 0.75) * exp(-s)
    (the same polynomial, two fewer passes over the block).
    """
    if kind == "rbf":
        s *= -0.5
        s += math.log(var)
        return np.exp(s, out=s)
    tmp = np.empty_like(s) if tmp is None else tmp
    if kind == "matern52":
        np.subtract(math.log(var / 3.0), s, out=tmp)
        np.exp(tmp, out=tmp)
        s += 1.5
        np.square(s, out=s)
        s += 0.75
    else:  # matern32: var * (1 + s) * exp(-s)
        np.subtract(math.log(var), s, out=tmp)
        np.exp(tmp, out=tmp)
        s += 1.0
    s *= tmp
    return s


def _cross(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float,
           out: np.ndarray | None = None, tmp: np.ndarray | None = None) -> np.ndarray:
    """k(A, B) [len(A), len(B)], built in place in ``out``."""
    return _k_of_s(kind, _sdist(kind, A, B, ls, out), var, tmp)


def kernel_matrix(kind: str, A: np.ndarray, B: np.ndarray, ls: np.ndarray, var: float) -> np.ndarray:
    return _cross(kind, np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64), ls, var)


def _kernel_and_dk(kind: str, X: np.ndarray, ls: np.ndarray, var: float) -> tuple[np.ndarray, np.ndarray]:
    """K(X, X) (bit for bit what ``kernel_matrix`` gives) and G with
    dK/d(ls_d) = G * (x_id - x_jd)^2 / ls_d^3 (elementwise)."""
    s = _sdist(kind, X, X, ls)
    K = _k_of_s(kind, s.copy(), var)
    if kind == "rbf":
        return K, K
    e = np.exp(-s)
    if kind == "matern52":
        s += 1.0
        s *= e
        s *= var * 5.0 / 3.0  # var * 5/3 * (1 + s) * exp(-s)
        return K, s
    e *= 3.0 * var  # matern32: 3 var exp(-s)
    return K, e


def _softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, u)


def _inv_softplus(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 30.0, x, np.log(np.expm1(np.minimum(x, 30.0))))


def _gamma_logpdf(x, a: float, b: float):
    return a * math.log(b) - gammaln(a) + (a - 1.0) * np.log(x) - b * x


class _Loss:
    """GPflow's GPR training loss and its gradient in the unconstrained parameters, in numpy.

    Parameters u = [lengthscales (D), kernel variance, noise variance], each positive
    through softplus (the noise also shifted by its lower bound), exactly GPflow's
    transforms. Loss = -log N(z | 0, K + noise I) - log priors (Gamma on the constrained
    values, no Jacobian term: GPflow's priors are on the constrained values).
    """

    def __init__(self, kind: str, X: np.ndarray, z: np.ndarray, prior: bool, noise_floor: float):
        self.kind, self.prior, self.floor = kind, prior, noise_floor
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.Xc = self.X - self.X.mean(axis=0)  # distances are shift-invariant; centring helps the gradient
        self.z = np.asarray(z, dtype=np.float64)
        self.n, self.dim = self.X.shape
        self.last: tuple[np.ndarray, np.ndarray] | None = None  # (u, Cholesky factor) of the last evaluation
        self.evaluations = 0

    def params(self, u: np.ndarray) -> tuple[np.ndarray, float, float]:
        d = self.dim
        return _softplus(u[:d]), float(_softplus(u[d])), float(self.floor + _softplus(u[d + 1]))

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        n = self.n
        ls, var, noise = self.params(u)
        K, G = _kernel_and_dk(self.kind, self.X, ls, var)
        Kn = K.copy()
        Kn[np.diag_indices(n)] += noise
        c, info = dpotrf(Kn.T, lower=1, clean=1, overwrite_a=1)  # K is symmetric: K.T is its Fortran view
        if info != 0:
            raise np.linalg.LinAlgError("kernel matrix is not positive definite")
        self.last = (u.copy(), c)
        diag = np.diagonal(c)
        if not np.all(diag > 0):
            raise np.linalg.LinAlgError("kernel matrix is not positive definite")
        alpha, info = dpotrs(c, self.z, lower=1)
        loss = 0.5 * float(self.z @ alpha) + float(np.sum(np.log(diag))) + 0.5 * n * math.log(2.0 * math.pi)
        Kinv, info = dpotri(c, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("could not invert the kernel matrix")
        # W = alpha alpha^T - K^-1 (full symmetric), then dLoss/dK = -W / 2
        W = np.add(Kinv, Kinv.T)
        W[np.diag_indices(n)] -= np.diagonal(Kinv)
        np.negative(W, out=W)
        W += np.outer(alpha, alpha)
        g_noise = -0.5 * float(np.trace(W))
        g_var = -0.5 * float(np.vdot(W, K)) / var
        W *= G  # M = W o G
        m = W.sum(axis=1)
        Xc = self.Xc
        S = 2.0 * (m @ (Xc * Xc)) - 2.0 * np.einsum("id,id->d", Xc, W @ Xc)
        g_ls = -0.5 * S / ls**3
        p_loss, p_ls, p_var, p_noise = neg_log_prior(ls, var, noise, self.prior)
        loss += p_loss
        g_ls = g_ls + p_ls
        g_var += p_var
        g_noise += p_noise
        grad = np.concatenate([g_ls, [g_var, g_noise]]) * expit(u)  # chain rule through softplus
        return loss, grad


# --------------------------------------------------------------------------- prediction (numpy)


def _n_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _parallel(tasks: list) -> list:
    """Run the zero-argument callables, on the GP's worker threads when there are several; their results.

    numpy's elementwise kernels and (single-threaded) BLAS calls release the GIL, so the
    threads run truly in parallel; each task must not itself call ``_parallel``.
    """
    global _executor
    if len(tasks) <= 1:
        return [t() for t in tasks]
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_n_threads(), thread_name_prefix="looplab-gp")
    futures = [_executor.submit(t) for t in tasks]
    return [f.result() for f in futures]


def _run_blocks(n_rows: int, n_cols: int, work) -> None:
    """Call ``work(start, stop, out, tmp)`` over row blocks of an [n_rows, n_cols] kernel block
    (``out``/``tmp``: scratch of at least [stop - start, n_cols]), on several threads when large.
    Blocks are sized to stay in cache; every block's numbers are the same whatever the threading."""
    chunk = max(16, _CHUNK_ELEMS // max(1, n_cols))
    blocks = [(s, min(n_rows, s + chunk)) for s in range(0, n_rows, chunk)]
    threads = min(_n_threads(), len(blocks)) if n_rows * n_cols >= _THREADED_ELEMS else 1

    def run(part: list[tuple[int, int]]) -> None:
        rows = max(b - a for a, b in part)
        out, tmp = np.empty((rows, n_cols)), np.empty((rows, n_cols))
        for a, b in part:
            work(a, b, out[: b - a], tmp[: b - a])

    _parallel([lambda part=blocks[i::threads]: run(part) for i in range(threads)])


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

    def __init__(self, post: _Posterior, Xs: np.ndarray, std: Standardizer, keep_solve: bool = True):
        self.post, self.std = post, std
        self.Xs = np.asarray(Xs, dtype=np.float64)
        keep = keep_solve and len(self.Xs) * len(post.X) <= _POOL_CACHE_ELEMS
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


def _cholesky(K: np.ndarray) -> np.ndarray:
    jitter = 0.0
    scale = float(np.mean(np.diag(K))) if K.size else 1.0
    for _ in range(6):
        try:
            return np.linalg.cholesky(K + jitter * np.eye(len(K)))
        except np.linalg.LinAlgError:
            jitter = scale * (1e-10 if jitter == 0.0 else jitter * 100)
    raise np.linalg.LinAlgError("kernel matrix is not positive definite even with jitter")


# --------------------------------------------------------------------------- GPflow model, numpy loss


# Priors (concentration, rate) of the GP's hyperparameters, on the unit-cube inputs and standardised outputs.
# One definition for the GPflow models and for the numpy losses that evaluate them.
LENGTHSCALE_PRIOR = (3.0, 6.0)
VARIANCE_PRIOR = (2.0, 1.0)
NOISE_PRIOR = (1.1, 0.05)


def neg_log_prior(ls: np.ndarray, var: float, noise: float, lengthscale_prior: bool) -> tuple:
    """-log p(hyperparameters) and its gradient with respect to (lengthscales, variance, noise)."""
    def term(x, ab):
        a, b = ab
        return -_gamma_logpdf(x, a, b), -((a - 1.0) / x - b)

    loss_ls, g_ls = term(ls, LENGTHSCALE_PRIOR) if lengthscale_prior else (np.zeros_like(ls), np.zeros_like(ls))
    loss_var, g_var = term(var, VARIANCE_PRIOR)
    loss_noise, g_noise = term(noise, NOISE_PRIOR)
    return float(np.sum(loss_ls) + loss_var + loss_noise), g_ls, float(g_var), float(g_noise)


def gpflow_parts(dim: int, kind: str, prior: bool, noise_floor: float) -> tuple:
    """The GPflow kernel (with its priors), Gaussian likelihood and variable-shaped data Variables
    shared by the exact and the sparse GP, so both always define the same model."""
    from .tf_quiet import import_tensorflow

    import_tensorflow()  # without TensorFlow's C++ start-up chatter on stderr
    import gpflow
    import tensorflow as tf
    import tensorflow_probability as tfp

    f64 = gpflow.utilities.to_default_float
    kernel_cls = {"matern52": gpflow.kernels.Matern52, "matern32": gpflow.kernels.Matern32,
                  "rbf": gpflow.kernels.SquaredExponential}[kind]
    kernel = kernel_cls(variance=1.0, lengthscales=np.full(dim, 0.3))
    if prior:
        kernel.lengthscales.prior = tfp.distributions.Gamma(*map(f64, LENGTHSCALE_PRIOR))
    kernel.variance.prior = tfp.distributions.Gamma(*map(f64, VARIANCE_PRIOR))
    likelihood = gpflow.likelihoods.Gaussian(variance=max(1e-2, 10 * noise_floor), variance_lower_bound=noise_floor)
    likelihood.variance.prior = tfp.distributions.Gamma(*map(f64, NOISE_PRIOR))
    X = tf.Variable(np.zeros((1, dim)), shape=tf.TensorShape([None, dim]), dtype=tf.float64, trainable=False)
    Y = tf.Variable(np.zeros((1, 1)), shape=tf.TensorShape([None, 1]), dtype=tf.float64, trainable=False)
    return kernel, likelihood, X, Y


class _Fitter:
    """One GPflow GPR per (input dimension, kernel, prior, noise floor) with variable-shaped data.

    The GPR defines the model (kernel, priors, parameter transforms); ``minimize`` runs
    L-BFGS-B on its training loss evaluated by :class:`_Loss` in numpy (``backend =
    "tensorflow"`` uses the compiled GPflow loss instead: same optimum, slower).
    """

    _cache: dict[tuple, "_Fitter"] = {}
    _cache_lock = threading.Lock()
    backend: str = "numpy"

    def __init__(self, dim: int, kind: str, prior: bool, noise_floor: float):
        self.dim, self.kind, self.prior, self.noise_floor = dim, kind, prior, noise_floor
        # first: gpflow_parts imports TensorFlow quietly (tf_quiet); the imports below then cost nothing
        self.kernel, self.likelihood, self.X, self.Y = gpflow_parts(dim, kind, prior, noise_floor)
        import gpflow
        import tensorflow as tf
        self._gpr = gpflow.models.GPR((self.X, self.Y), kernel=self.kernel, likelihood=self.likelihood)
        self._gpr_params: tuple | None = None  # the parameters last copied into the GPflow model
        self.lock = threading.Lock()
        self._params = (np.full(dim, 0.3), 1.0, max(1e-2, 10 * noise_floor))
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        self.last_cholesky: np.ndarray | None = None  # factor of K + noise I at params(), when known
        self.last_evaluations = 0
        self.ftol = 2.220446049250313e-09  # scipy's default relative-reduction tolerance

        # The compiled GPflow loss (traced on first use only): the "tensorflow" backend and the reference
        # the numpy loss is tested against. Data live in variable-shaped Variables: traced once per process.
        variables = [self.kernel.lengthscales.unconstrained_variable, self.kernel.variance.unconstrained_variable,
                     self.likelihood.variance.unconstrained_variable]
        shapes = [v.shape for v in variables]
        sizes = [max(1, int(np.prod(sh))) for sh in shapes]
        self._variables = variables

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
        def loss_and_grad(x):
            for v, part, sh in zip(variables, tf.split(x, sizes), shapes):
                v.assign(tf.reshape(part, sh))
            with tf.GradientTape() as tape:
                loss = self._gpr.training_loss()
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

    @property
    def model(self):
        """The GPflow GPR with the current hyperparameters (its data are the Variables ``X`` and ``Y``)."""
        if self._gpr_params is not self._params:
            ls, var, noise = self._params
            self.kernel.lengthscales.assign(ls)
            self.kernel.variance.assign(var)
            self.likelihood.variance.assign(noise)
            self._gpr_params = self._params
        return self._gpr

    def set_data(self, X: np.ndarray, z: np.ndarray) -> None:
        """Training data for ``minimize`` (numpy; copied into ``X``/``Y`` only by the tensorflow backend)."""
        self._data = (np.asarray(X, dtype=np.float64), np.asarray(z, dtype=np.float64))

    def set_params(self, ls: np.ndarray, var: float, noise: float) -> None:
        self._params = (np.array(ls, dtype=float).reshape(-1), float(var), float(noise))
        self.last_cholesky = None

    def params(self) -> tuple[np.ndarray, float, float]:
        ls, var, noise = self._params
        return ls.copy(), var, noise

    def unconstrained(self) -> np.ndarray:
        ls, var, noise = self._params
        return np.concatenate([_inv_softplus(ls), _inv_softplus([var]), _inv_softplus([noise - self.noise_floor])])

    def loss(self) -> _Loss:
        if self._data is None:
            raise RuntimeError("_Fitter.set_data must be called before fitting")
        return _Loss(self.kind, *self._data, self.prior, self.noise_floor)

    def gpflow_loss_and_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """GPflow's compiled training loss and its gradient at the unconstrained parameters u
        (lengthscales, variance, noise) on the data of ``set_data``: the reference for the numpy loss."""
        X, z = self._data
        self.X.assign(X)
        self.Y.assign(z[:, None])
        loss, grad = self._loss_and_grad(np.asarray(u, dtype=np.float64))
        self._gpr_params = None  # the GPflow parameters are now at u
        return float(loss.numpy()), grad.numpy()

    def minimize(self, maxiter: int) -> float:
        """L-BFGS-B (scipy) on the training loss (negative log marginal likelihood + priors)."""
        from scipy.optimize import minimize

        if self.backend == "tensorflow":
            return self._minimize_tf(maxiter)
        loss_fn = self.loss()

        def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
            try:
                with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # extreme line-search steps
                    loss, grad = loss_fn(u)
            except np.linalg.LinAlgError:
                return 1e30, np.zeros_like(u)  # makes the line search step back
            if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
                return 1e30, np.zeros_like(u)
            return loss, grad

        res = minimize(fun, self.unconstrained(), jac=True, method="L-BFGS-B",
                       options={"maxiter": maxiter, "ftol": self.ftol})
        self.last_evaluations = loss_fn.evaluations
        loss = float(res.fun)
        if not math.isfinite(loss) or loss >= 1e30:
            raise FloatingPointError(f"non-finite training loss ({loss}) or Cholesky failure at every step")
        u = res.x
        self._params = loss_fn.params(u)
        self.last_cholesky = loss_fn.last[1] if loss_fn.last is not None and np.array_equal(loss_fn.last[0], u) \
            else None
        return loss

    def _minimize_tf(self, maxiter: int) -> float:
        from scipy.optimize import minimize

        X, z = self._data
        self.X.assign(X)
        self.Y.assign(z[:, None])
        _ = self.model  # copies the parameters in
        x0 = np.concatenate([np.reshape(v.numpy(), -1) for v in self._variables])
        n = [0]

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            n[0] += 1
            loss, grad = self._loss_and_grad(x)
            loss, grad = float(loss.numpy()), grad.numpy()
            if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
                return 1e30, np.zeros_like(x)  # makes the line search step back
            return loss, grad

        res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                       options={"maxiter": maxiter, "ftol": self.ftol})
        self._loss_and_grad(res.x)  # leave the variables at the optimum
        self.last_evaluations = n[0]
        loss = float(res.fun)
        if not math.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss ({loss})")
        self._params = (np.array(self.kernel.lengthscales.numpy(), dtype=float).reshape(-1),
                        float(self.kernel.variance.numpy()), float(self.likelihood.variance.numpy()))
        self._gpr_params = self._params
        self.last_cholesky = None
        return loss


# --------------------------------------------------------------------------- the surrogate

# above this many observations, random restarts run at most every 10th fit, and above _HUGE_N only
# without a warm start or when the warm start moved far (each costs a whole O(N^3) fit;
# tests/benchmarks/fit_quality.py finds they almost never beat the warm start)
_LARGE_N = 500
_LARGE_N_EVERY = 10
_HUGE_N = 1000
RANK_MAX_N = 500  # the rank mixture's second GP is fitted up to this many observations (it doubles the step)
MAX_DIM_INTERACTIONS = 4  # interactions: auto adds product features up to this many encoded inputs (6 pairs)
# the warm start "moved far" (so restarts run even when not due): any lengthscale or the variance
# changed by more than this factor
_MOVED = 2.0


_SPARSE_KEYS = ("sparse", "inducing_points", "inducing_chosen_at")
_RANK_KEYS = ("ranked", "rank_weight")


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


def loo_log_densities(post: "_Posterior") -> np.ndarray:
    """log p(z_i | z_-i) for each observation: the GP's exact leave-one-out predictive densities [N]."""
    m, v = loo_closed_form(post.L, post.z)
    return -0.5 * np.log(2 * math.pi * v) - 0.5 * (post.z - m) ** 2 / v


BMA_DRAWS = 1000  # Bayesian-bootstrap draws of pseudo-BMA+


def pseudo_bma_plus_weight(d: np.ndarray, rng: np.random.Generator, draws: int = BMA_DRAWS) -> float:
    """The weight of model B in a two-model average, by pseudo-BMA+ (Yao, Vehtari, Simpson and Gelman,
    Bayesian Analysis 13, 917 (2018)), from d_i = log p_B(y_i | y_-i) - log p_A(y_i | y_-i).

    Plain pseudo-BMA weighs by exp(sum_i d_i), which is nearly 0 or 1 as soon as N grows and overfits the
    points at hand. pseudo-BMA+ averages those weights over Bayesian-bootstrap reweightings of the points
    (Dirichlet(1, ..., 1) weights a, sum N * a_i d_i), so the weight reflects how sure the data are."""
    d = np.asarray(d, dtype=float)
    if len(d) == 0:
        return 0.5
    a = rng.dirichlet(np.ones(len(d)), size=draws)
    return float(np.mean(expit(np.clip(len(d) * (a @ d), -700.0, 700.0))))


def on_hyperplane(X: np.ndarray, rtol: float = 1e-2) -> bool:
    """True when the rows of X [M, D] satisfy a linear equation (up to rtol of the spread): mixtures whose
    fractions sum to a constant, one-hot columns, or a column that is a linear function of others."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] < 2 or X.shape[0] <= X.shape[1]:
        return False
    C = X - X.mean(axis=0)
    s = np.linalg.svd(C, compute_uv=False)
    return bool(s[0] > 0 and s[-1] <= rtol * s[0])


class RankWarp:
    """Maps each encoded input to its rank among the pool's candidates, in [0, 1]: the empirical
    distribution of the column (tied values share their average rank), linear between the candidates'
    values. Monotone per column, so distances shrink where candidates are sparse and grow where they
    crowd together or pile up on one value."""

    def __init__(self, candidates: np.ndarray):
        C = np.asarray(candidates, dtype=float)
        self.knots: list[tuple[np.ndarray, np.ndarray]] = []
        m = len(C)
        for col in C.T:
            u, counts = np.unique(col, return_counts=True)
            start = np.concatenate([[0], np.cumsum(counts)[:-1]])
            r = (start + (counts - 1) / 2.0) / max(1, m - 1)
            self.knots.append((u, r))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return np.column_stack([np.interp(X[:, j], u, r) for j, (u, r) in enumerate(self.knots)]) \
            if self.knots else X


_POOL_FACTS: dict[int, tuple[np.ndarray, RankWarp, bool]] = {}  # id(candidates) -> (candidates, warp, on hyperplane)
_POOL_FACTS_LOCK = threading.Lock()


def pool_facts(candidates: np.ndarray) -> tuple[RankWarp, bool]:
    """The rank warp of a pool and whether it lies on a hyperplane, computed once per candidate array (a
    campaign builds a model every step from the same array)."""
    with _POOL_FACTS_LOCK:
        hit = _POOL_FACTS.get(id(candidates))
        if hit is not None and hit[0] is candidates:
            return hit[1], hit[2]
    facts = (candidates, RankWarp(candidates), on_hyperplane(candidates))
    with _POOL_FACTS_LOCK:
        if len(_POOL_FACTS) >= 8:
            _POOL_FACTS.pop(next(iter(_POOL_FACTS)))
        _POOL_FACTS[id(candidates)] = facts  # keeps the array alive, so its id is not reused
    return facts[1], facts[2]


def _mix(m1, v1, m2, v2, w: float):
    """Mean and variance of the mixture (1 - w) N(m1, v1) + w N(m2, v2)."""
    m = (1.0 - w) * m1 + w * m2
    return m, (1.0 - w) * v1 + w * v2 + w * (1.0 - w) * (m1 - m2) ** 2


class _MixturePool:
    """pool_posterior of the rank mixture: each component's pool posterior, mixed on predict."""

    def __init__(self, a, b, w: float):
        self.a, self.b, self.w = a, b, w

    def predict(self) -> tuple[np.ndarray, np.ndarray]:
        (m1, v1), (m2, v2) = self.a.predict(), self.b.predict()
        return _mix(m1, v1, m2, v2, self.w)

    def condition(self, j: int) -> None:
        self.a.condition(j)
        self.b.condition(j)


class GPSurrogate:
    """Gaussian process (GPflow GPR), ARD Matérn kernel, L-BFGS hyperparameter fit with restarts;
    a sparse GP (GPflow SGPR) above ``sparse_above`` observations."""

    Config = GPConfig

    def __init__(self, *, kernel: str = "matern52", restarts: int = 2, restart_every: int = 1, maxiter: int = 200,
                 noise_floor: float = 1e-6, lengthscale_prior: bool = True, sparse_above: int | None = 2000,
                 inducing: int = 256, train_inducing: bool = False, interactions: bool | str = False,
                 rank_inputs: bool | str = False, candidates: np.ndarray | None = None, seed: int = 0):
        self.kernel = kernel
        self.restarts = restarts
        self.restart_every = restart_every
        self.maxiter = maxiter
        self.noise_floor = noise_floor
        self.lengthscale_prior = lengthscale_prior
        self.sparse_above = sparse_above
        self.inducing = inducing
        self.train_inducing = train_inducing
        self.interactions = interactions
        self.seed = seed
        # the rank mixture: only with a pool's candidates to rank
        self._warp = pool_facts(candidates)[0] if rank_inputs is True and candidates is not None else None
        self.rank_inputs = self._warp is not None
        self._ranked: tuple[Any, float] | None = None  # (_Posterior on the ranked inputs, its weight)
        self._pairs: tuple[np.ndarray, np.ndarray] | None = None  # (i, j) of the product features, when on
        self._state: dict[str, Any] | None = None  # last good hyperparameters
        self._post: Any = None  # _Posterior, or sparse.SparsePosterior
        self._std: Standardizer | None = None
        self.fit_info: dict[str, Any] = {}

    @classmethod
    def from_config(cls, config: GPConfig, context: ModelContext | None) -> "GPSurrogate":
        params = dict(config)
        if params["interactions"] == "auto":  # measured on pools only; continuous spaces keep the plain kernel
            params["interactions"] = bool(context is not None and context.pool
                                          and 2 <= context.n_inputs <= MAX_DIM_INTERACTIONS)
        candidates = context.candidates if context is not None and context.pool else None
        if params["rank_inputs"] == "auto":
            params["rank_inputs"] = candidates is not None and not pool_facts(candidates)[1]
        return cls(**params, candidates=candidates, seed=context.seed if context else 0)

    @property
    def sparse(self) -> bool:
        """True when the last fit used the sparse GP."""
        return bool(self._state and self._state.get("sparse"))

    # -- state ----------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return dict(self._state) if self._state else {}

    def set_state(self, state: dict[str, Any]) -> None:
        if state and state.get("schema_version") == STATE_VERSION and state.get("kernel") == self.kernel:
            self._state = dict(state)

    # -- fit --------------------------------------------------------------------------

    def _warm(self, dim: int, prev: dict | None = None) -> tuple[np.ndarray, float, float] | None:
        prev = self._state if prev is None else prev
        if prev and len(prev.get("lengthscales", ())) == dim:
            return np.array(prev["lengthscales"], dtype=float), float(prev["variance"]), \
                max(float(prev["noise"]), self.noise_floor)
        return None

    def _starts(self, dim: int, prev: dict | None = None) -> list[tuple[np.ndarray, float, float]]:
        """The warm start (or a default start), then ``restarts`` random starts."""
        rng = np.random.default_rng(self.seed)
        warm = self._warm(dim, prev)
        starts = [warm if warm is not None else (np.full(dim, 0.3), 1.0, max(1e-2, self.noise_floor))]
        for _ in range(self.restarts):
            ls = np.exp(rng.uniform(math.log(0.05), math.log(1.5), size=dim))
            starts.append((ls, float(np.exp(rng.uniform(-1.0, 1.0))), float(10 ** rng.uniform(-4, -1)) + self.noise_floor))
        return starts

    def _restarts_due(self, n: int, dim: int, prev: dict | None = None) -> bool:
        """Random restarts on this fit? Always without a warm start; otherwise every k-th fit."""
        prev = self._state if prev is None else prev
        if self._warm(dim, prev) is None:
            return True
        if n > _HUGE_N:
            return False
        every = self.restart_every if n <= _LARGE_N else max(self.restart_every, _LARGE_N_EVERY)
        return int(prev.get("fits_since_restarts", 0)) + 1 >= every

    def _features(self, X: np.ndarray) -> np.ndarray:
        """The kernel's inputs: X [N, D], plus the products x_i * x_j (i < j) when interactions are on."""
        X = np.asarray(X, dtype=np.float64)
        if self._pairs is None:
            return X
        i, j = self._pairs
        return np.hstack([X, X[:, i] * X[:, j]])

    def fit(self, X: np.ndarray, y: np.ndarray) -> "GPSurrogate":
        X, y = check_training_data(X, y)
        d = X.shape[1]
        on = (self.interactions is True and d >= 2) or (self.interactions == "auto" and 2 <= d <= MAX_DIM_INTERACTIONS)
        self._pairs = np.triu_indices(d, k=1) if on else None
        if self._warp is not None and len(self._warp.knots) != d:
            raise ValueError(f"rank_inputs: the pool's candidates have {len(self._warp.knots)} encoded inputs, "
                             f"the observations {d}")
        with single_threaded_blas:
            self._fit(X, y)
        self._state["interactions"] = on
        return self

    def _fit(self, X: np.ndarray, y: np.ndarray) -> "GPSurrogate":
        t0 = time.perf_counter()
        self._std = Standardizer(y)
        z = self._std.forward(y)
        F = self._features(X)
        prev = self._state or {}
        self._ranked = None
        if self.sparse_above is not None and len(X) > self.sparse_above:
            from .sparse import fit_sparse

            self._state = {k: v for k, v in prev.items() if k not in _RANK_KEYS} or None
            return fit_sparse(self, F, z, t0)
        prev_plain = {k: v for k, v in prev.items() if k not in _RANK_KEYS}
        state, self._post, info = self._fit_exact(F, z, prev_plain)
        weight = None
        if self._warp is not None and len(X) <= RANK_MAX_N:
            rstate, rpost, rinfo = self._fit_exact(self._features(self._warp(X)), z, prev.get("ranked") or {})
            weight = pseudo_bma_plus_weight(loo_log_densities(rpost) - loo_log_densities(self._post),
                                            np.random.default_rng(self.seed))
            self._ranked = (rpost, weight)
            state["ranked"], state["rank_weight"] = rstate, weight
            for k in ("starts", "evaluations", "failed_starts"):
                info[k] += rinfo[k]
            info["restarted"] = info["restarted"] or rinfo["restarted"]
            info["fallback"] = info["fallback"] or rinfo["fallback"]
        self._state = state
        self.fit_info = {"seconds": time.perf_counter() - t0, **info, "loss": state["loss"], "sparse": False}
        if weight is not None:
            self.fit_info["rank_weight"] = weight
        return self

    def _fit_exact(self, F: np.ndarray, z: np.ndarray, prev: dict) -> tuple[dict, "_Posterior", dict]:
        """Fit one exact GP on features F [N, P] and standardised targets z, warm-started from ``prev``
        (a state dict, possibly empty); returns its new state, posterior and fit counters."""
        n, dim = F.shape
        starts = self._starts(dim, prev)
        due = self._restarts_due(n, dim, prev)
        best: tuple[float, tuple, np.ndarray | None] | None = None
        errors: list[str] = []
        ran = evaluations = 0
        restarted = False
        # a failed fit is retried once with a noise floor 1000x higher (more jitter)
        for floor in (self.noise_floor, self.noise_floor * 1e3):
            fitter = _Fitter.get(dim, self.kernel, self.lengthscale_prior, floor)
            with fitter.lock:
                fitter.set_data(F, z)
                for k, (ls, var, noise) in enumerate(starts):
                    if k == 1 and not due:
                        # the warm start failed, or moved far from the previous optimum: restart after all
                        if best is None or self._moved(best[1], prev):
                            due = True
                        else:
                            break
                    restarted = restarted or k > 0
                    ran += 1
                    try:
                        fitter.set_params(ls, var, max(noise, 2 * floor))
                        loss = fitter.minimize(self.maxiter)
                        evaluations += fitter.last_evaluations
                        if best is None or loss < best[0]:
                            best = (loss, fitter.params(), fitter.last_cholesky)
                    except Exception as exc:  # Cholesky failures, NaNs: try the next start
                        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            if best is not None:
                break
        fallback = False
        chol = None
        if best is None:
            state = {k: v for k, v in prev.items() if k not in _SPARSE_KEYS}
            if self._warm(dim, prev) is None:
                # nothing learned yet: keep defaults that are safe on the unit cube
                state = self._make_state(np.full(dim, 0.3), 1.0, 1e-2, float("nan"))
            log.warning("GP fit failed on every start (%s); keeping the last good hyperparameters",
                        "; ".join(errors[:3]))
            fallback = True
        else:
            loss, (ls, var, noise), chol = best
            state = self._make_state(ls, var, noise, loss)
        state["n_observations"] = n
        state["fits_since_restarts"] = 0 if restarted else int(prev.get("fits_since_restarts", 0)) + 1
        post = _Posterior(self.kernel, F, z, np.array(state["lengthscales"], dtype=float), float(state["variance"]),
                          float(state["noise"]), L=chol)
        info = {"starts": ran, "restarted": restarted, "evaluations": evaluations, "failed_starts": len(errors),
                "fallback": fallback}
        return state, post, info

    def _moved(self, params: tuple[np.ndarray, float, float], prev: dict | None = None) -> bool:
        warm = self._warm(len(params[0]), prev)
        if warm is None:
            return True
        ratio = np.concatenate([params[0] / warm[0], [params[1] / warm[1]]])
        return bool(np.any(np.abs(np.log(ratio)) > math.log(_MOVED)))

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
        with single_threaded_blas:
            m, v = self._post.predict(self._features(X))
            if self._ranked is not None:
                post, w = self._ranked
                m, v = _mix(m, v, *post.predict(self._ranked_features(X)), w)
        return m * self._std.std + self._std.mean, v * self._std.std**2

    def _ranked_features(self, X: np.ndarray) -> np.ndarray:
        return self._features(self._warp(np.asarray(X, dtype=np.float64)))

    @property
    def rank_weight(self) -> float | None:
        """The weight of the GP on ranked inputs in the last fit's mixture (None when it has none)."""
        return None if self._ranked is None else self._ranked[1]

    def loo(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact leave-one-out predictive means and variances (noise included) at the observations, in y's
        units, hyperparameters (and mixture weight) fixed at the fit on all points; None for the sparse GP."""
        self._require_fit()
        if not isinstance(self._post, _Posterior):
            return None
        m, v = loo_closed_form(self._post.L, self._post.z)
        if self._ranked is not None:
            post, w = self._ranked
            m, v = _mix(m, v, *loo_closed_form(post.L, post.z), w)
        return m * self._std.std + self._std.mean, v * self._std.std**2

    def condition(self, X: np.ndarray) -> "GPSurrogate":
        """A copy with fantasy observations at the predicted mean at X (kriging believer)."""
        self._require_fit()
        other = GPSurrogate.__new__(GPSurrogate)
        other.__dict__.update(self.__dict__)
        with single_threaded_blas:
            other._post = self._post.condition(self._features(X))
            if self._ranked is not None:
                # each component believes its own mean at X (the mixture's weight is kept)
                post, w = self._ranked
                other._ranked = (post.condition(self._ranked_features(X)), w)
        return other

    def predict_bound(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Mean at X and an upper bound on the variance (y's units), and whether the bound is the
        exact variance. For many candidates x observations the bound skips the O(N^2) solve per
        candidate, so a caller maximising an acquisition that grows with the variance (EI, UCB)
        predicts exactly only the few candidates whose bound could beat the best score."""
        self._require_fit()
        X = np.asarray(X, dtype=np.float64)
        post = self._post
        if not isinstance(post, _Posterior) or len(X) * len(post.X) < _BOUND_ELEMS:
            m, v = self.predict(X)
            return m, v, True
        def bound(p: _Posterior, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            m, upper = p.predict_bound(F)
            # never below predict's floor, plus a hair of slack against rounding in the exact variance
            return m, np.maximum(upper, 1e-12 * p.var) + 1e-9 * p.var

        with single_threaded_blas:
            m, upper = bound(post, self._features(X))
            if self._ranked is not None:
                # the mixture's variance grows with each component's: mixing the bounds bounds it
                rpost, w = self._ranked
                m, upper = _mix(m, upper, *bound(rpost, self._ranked_features(X)), w)
        return m * self._std.std + self._std.mean, upper * self._std.std**2, False

    def pool_posterior(self, X: np.ndarray):
        """Mean and variance over the candidate set X, updatable by kriging-believer fantasies in place:
        ``predict() -> (mean, variance)`` in y's units, ``condition(j)`` adds a fantasy at row j.
        Same numbers (up to rounding) as ``condition(X[j:j+1])`` followed by ``predict(X)``."""
        self._require_fit()
        if isinstance(self._post, _Posterior):
            pool = PoolPosterior(self._post, self._features(X), self._std)
            if self._ranked is not None:
                post, w = self._ranked
                return _MixturePool(pool, PoolPosterior(post, self._ranked_features(X), self._std), w)
            return pool
        return _RefitPool(self, X)


class _RefitPool:
    """The pool protocol for posteriors without a rank update: condition the model, predict again."""

    def __init__(self, model: GPSurrogate, X: np.ndarray):
        self.model, self.X = model, np.asarray(X, dtype=np.float64)
        self._mv = model.predict(self.X)

    def predict(self) -> tuple[np.ndarray, np.ndarray]:
        return self._mv

    def condition(self, j: int) -> None:
        self.model = self.model.condition(self.X[j : j + 1])
        self._mv = self.model.predict(self.X)
