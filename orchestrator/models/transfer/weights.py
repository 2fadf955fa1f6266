"""Weighing models by their leave-one-out predictions: pseudo-BMA+ over K models.

The K-model form of ``gp.mixture.pseudo_bma_plus_weight`` (Yao, Vehtari, Simpson and Gelman, Bayesian
Analysis 13, 917 (2018)): with lpd[k, i] = log p_k(y_i | y_-i), each Bayesian-bootstrap draw a ~
Dirichlet(1, ..., 1) over the N points gives the weights softmax_k(N * a . lpd[k]); the weights are the
mean over draws. For two models this is exactly ``pseudo_bma_plus_weight``. Prior weights multiply
each draw's weights before they are normalised (``auto`` gives "no transfer" half, see config.py).
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax
from scipy.stats import norm

from ..gp.mixture import BMA_DRAWS

MIN_POINTS = 3  # below this many target points every model gets the same weight


def loo_log_density(y: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """log N(y_i; mean_i, var_i) per point [N] (var includes the noise)."""
    return norm.logpdf(np.asarray(y, dtype=float), mean, np.sqrt(np.maximum(var, 1e-12)))


def loo_accuracy_log_density(y: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """log N(y_i; mean_i, mse) per point [N], with mse the model's own mean squared leave-one-out error: a
    score of the leave-one-out means alone (for K models compared this way, the pseudo-BMA+ weights order
    them by their leave-one-out mean squared error).

    Why not the models' own leave-one-out variances: the closed-form leave-one-out keeps the hyperparameters
    fitted to all points, which flatters a flexible model. On direct arylation (105 C target, 90 and 120 C
    sources) the latent-variable GP had the best leave-one-out density on 20 and 50 target rows while its
    leave-one-out RMSE was 1.2-2.7x prior-mean's and its held-out density was far worse (mean log density
    -15 to -79 per held-out row against -5 for prior-mean): it was confident about the many zero yields
    and wrong elsewhere (tests/benchmarks/transfer_supervised.py prints the weights).
    """
    y = np.asarray(y, dtype=float)
    err = y - np.asarray(mean, dtype=float)
    mse = max(float(np.mean(err ** 2)), 1e-12 * float(np.mean(y ** 2)), 1e-300)  # relative: y may be tiny
    return loo_log_density(err, 0.0, np.full(len(err), mse))


def pseudo_bma_plus(lpd: np.ndarray, rng: np.random.Generator, draws: int = BMA_DRAWS,
                    prior: np.ndarray | None = None) -> np.ndarray:
    """Weights [K] (summing to 1) of K models from their log scores lpd [K, N] and their prior weights
    [K] (equal if None): softmax_k(N a . lpd[k] + log prior[k]) averaged over the draws a. Below
    MIN_POINTS points, the prior weights."""
    lpd = np.asarray(lpd, dtype=float)
    k, n = lpd.shape
    log_prior = np.zeros(k) if prior is None else np.log(np.asarray(prior, dtype=float))
    if n < MIN_POINTS:
        return softmax(log_prior)
    a = rng.dirichlet(np.ones(n), size=draws)  # [B, N]
    return softmax(n * (a @ lpd.T) + log_prior, axis=1).mean(axis=0)


def mix(means: list[np.ndarray], variances: list[np.ndarray], w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the mixture sum_k w_k N(mean_k, var_k)."""
    M, V = np.array(means), np.array(variances)
    m = w @ M
    # the mixture's variance is at least the weighted variances' (rounding can push it below)
    return m, np.maximum(w @ (V + M**2) - m**2, w @ V)
