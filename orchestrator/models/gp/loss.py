"""The exact GP's training loss and its gradient, in numpy: GPflow's GPR ``training_loss``.

Loss(u) = -log N(z | 0, K + noise I) - log p(hyperparameters), with the unconstrained parameters
u = [free lengthscales (Q), kernel variance, noise variance], each positive through softplus (the noise
shifted by its floor), exactly GPflow's transforms. One Cholesky factor and one inverse per evaluation;
the lengthscale gradient by matrix products. It is three to nine times faster than GPflow's compiled
TensorFlow function from 50 to 1,000 points (tests/benchmarks/fit_quality.py), and
tests/test_sparse_gp.py and tests/test_gp_core.py check value and gradient against GPflow's to 1e-8
(``fitter.Fitter`` evaluates GPflow's), tied lengthscales included.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotri, dpotrs
from scipy.special import expit

from .kernels import AdditivePairs, Kernel, Tie, additive_kernel_and_gradient, as_kernel, kernel_and_dk
from .kernels import lengthscale_gradient
from .priors import LengthscalePrior, neg_log_prior, neg_log_weight_prior, softplus


def gaussian_nll_parts(K: np.ndarray, z: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """-log N(z | 0, K) and what its gradient needs, from one Cholesky factor and one inverse.

    K: [N, N] covariance (noise included; overwritten), z: [N] targets. Returns (loss, c, W): c the lower
    Cholesky factor, W = alpha alpha^T - K^-1 (alpha = K^-1 z), so that dLoss/dK = -W / 2. Raises
    LinAlgError when K is not positive definite.
    """
    n = len(z)
    c, info = dpotrf(K.T, lower=1, clean=1, overwrite_a=1)  # K is symmetric: K.T is its Fortran view
    if info != 0:
        raise np.linalg.LinAlgError("kernel matrix is not positive definite")
    diag = np.diagonal(c)
    if not np.all(diag > 0):
        raise np.linalg.LinAlgError("kernel matrix is not positive definite")
    alpha, info = dpotrs(c, z, lower=1)
    loss = 0.5 * float(z @ alpha) + float(np.sum(np.log(diag))) + 0.5 * n * math.log(2.0 * math.pi)
    Kinv, info = dpotri(c, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("could not invert the kernel matrix")
    W = np.add(Kinv, Kinv.T)  # dpotri fills one triangle: symmetrise
    W[np.diag_indices(n)] -= np.diagonal(Kinv)
    np.negative(W, out=W)
    W += np.outer(alpha, alpha)
    return loss, c, W


def guarded(loss_fn):
    """``loss_fn`` for scipy's L-BFGS-B: a Cholesky failure or a non-finite value (an extreme line-search
    step) becomes a loss of 1e30 with a zero gradient, which makes the line search step back."""

    def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                loss, grad = loss_fn(u)
        except np.linalg.LinAlgError:
            return 1e30, np.zeros_like(u)
        if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
            return 1e30, np.zeros_like(u)
        return loss, grad

    return fun


class ExactLoss:
    """Negative log marginal likelihood plus negative log priors of an exact GP, and its gradient in u."""

    def __init__(self, kind: "str | Kernel", X: np.ndarray, z: np.ndarray, prior: LengthscalePrior,
                 noise_floor: float, tie: Tie | None = None):
        self.kernel = as_kernel(kind)
        self.kind, self.prior, self.floor = self.kernel.kind, prior, noise_floor
        # the sum + product kernel: one more parameter, its additive share w = sigmoid(u[-1]), unless it is fixed
        self.additive = self.kernel.additive
        self.fits_weight = self.kernel.fits_weight
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.Xc = self.X - self.X.mean(axis=0)  # distances are shift-invariant; centring helps the gradient
        self.z = np.asarray(z, dtype=np.float64)
        self.n, self.dim = self.X.shape
        self.tie = tie if tie is not None else Tie.none(self.dim)
        self.q = self.tie.n_free
        # the sum + product kernel: every pair's squared differences, once (when they fit in memory)
        self.pairs = AdditivePairs(self.kernel, self.X) if self.additive and AdditivePairs.fits(self.n, self.dim) \
            else None
        self.last: tuple[np.ndarray, np.ndarray] | None = None  # (u, Cholesky factor) of the last evaluation
        self.evaluations = 0

    @property
    def size(self) -> int:
        """Length of u: free lengthscales, variance, noise (and the additive share)."""
        return self.q + 2 + int(self.fits_weight)

    def params(self, u: np.ndarray) -> tuple[np.ndarray, float, float]:
        """(free lengthscales [Q], variance, noise) at u."""
        q = self.q
        return softplus(u[:q]), float(softplus(u[q])), float(self.floor + softplus(u[q + 1]))

    def weight(self, u: np.ndarray) -> float:
        """The sum + product kernel's additive share w at u (0 for the product kernel)."""
        if not self.fits_weight:
            return self.kernel.weight if self.additive else 0.0
        return float(expit(u[self.q + 2]))

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        if self.additive:
            return self._additive(u)
        n = self.n
        ls_free, var, noise = self.params(u)
        ls = self.tie.expand(ls_free)
        K, G = kernel_and_dk(self.kind, self.X, ls, var)
        Kn = K.copy()
        Kn[np.diag_indices(n)] += noise
        loss, c, W = gaussian_nll_parts(Kn, self.z)  # W = alpha alpha^T - K^-1: dLoss/dK = -W / 2
        self.last = (u.copy(), c)
        g_noise = -0.5 * float(np.trace(W))
        g_var = -0.5 * float(np.vdot(W, K)) / var
        W *= G  # M = W o G
        g_ls = self.tie.reduce(-0.5 * lengthscale_gradient(W, self.Xc) / ls**3)
        p_loss, p_ls, p_var, p_noise = neg_log_prior(ls_free, var, noise, self.prior)
        loss += p_loss
        g_ls = g_ls + p_ls
        g_var += p_var
        g_noise += p_noise
        grad = np.concatenate([g_ls, [g_var, g_noise]]) * expit(u)  # chain rule through softplus
        return loss, grad

    def _additive(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """The loss and gradient of the sum + product kernel (``kernels.Kernel``); u ends with logit(w)."""
        n = self.n
        ls_free, var, noise = self.params(u)
        w = self.weight(u)
        ls = self.tie.expand(ls_free)
        K, gradient = additive_kernel_and_gradient(self.kernel.with_weight(w), self.Xc, ls, var, self.pairs)
        Kn = K.copy()
        Kn.flat[:: n + 1] += noise
        loss, c, W = gaussian_nll_parts(Kn, self.z)
        self.last = (u.copy(), c)
        g_noise = -0.5 * float(np.trace(W))
        g_var = -0.5 * float(np.vdot(W, K)) / var
        dls, dw = gradient(W)  # sum_ij W_ij dK_ij / d(ls_d), and / dw
        g_ls = self.tie.reduce(-0.5 * dls)
        g_w = -0.5 * dw
        p_loss, p_ls, p_var, p_noise = neg_log_prior(ls_free, var, noise, self.prior)
        grad = np.concatenate([g_ls + p_ls, [g_var + p_var, g_noise + p_noise]]) * expit(u[: self.q + 2])
        if not self.fits_weight:
            return loss + p_loss, grad
        w_loss, w_grad = neg_log_weight_prior(w)
        return loss + p_loss + w_loss, np.concatenate([grad, [(g_w + w_grad) * w * (1.0 - w)]])
