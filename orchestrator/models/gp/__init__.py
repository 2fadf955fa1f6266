"""The Gaussian-process surrogate and the GP core every GP model of looplab shares.

``GPSurrogate`` (entry point ``gp``) is the default model. Its core, in one module per concept, is what
other GP models build on: kernels (incl. tied lengthscales for categorical inputs), priors and their
presets, the numpy training loss checked against GPflow, the posterior, the rank mixture, the sparse GP.
Two GPs are built from the same core: ``multitask.MultiTaskGP`` (several tasks, a learned task covariance:
transfer learning) and ``mean.MeanGP`` (a known model of the objective as the prior mean: a source model or
a physical law).
"""

from .config import GPConfig
from .fitter import Fitter, gpflow_parts
from .kernels import Tie, kernel_matrix
from .mixture import RankWarp, mix, on_hyperplane, pool_facts, pseudo_bma_plus_weight
from .posterior import Posterior, PoolPosterior, loo_closed_form, loo_log_densities
from .priors import LengthscalePrior, lengthscale_prior
from .surrogate import GPSurrogate

__all__ = [
    "Fitter", "GPConfig", "GPSurrogate", "LengthscalePrior", "PoolPosterior", "Posterior", "RankWarp", "Tie",
    "gpflow_parts", "kernel_matrix", "lengthscale_prior", "loo_closed_form", "loo_log_densities", "mix",
    "on_hyperplane", "pool_facts", "pseudo_bma_plus_weight",
]
