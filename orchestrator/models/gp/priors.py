"""Hyperparameter priors of the GP and the transforms that keep hyperparameters positive.

Inputs live in the unit cube and outputs are standardised, so one set of priors serves every campaign:

- kernel variance ~ Gamma(2, 1), noise variance ~ Gamma(1.1, 0.05) (above a floor);
- lengthscales, by a named preset (:func:`lengthscale_prior`):

  ``gamma``       Gamma(3, 6) on every lengthscale: mode 0.33, little mass above 1. looplab's prior for
                  numeric inputs since its first benchmarks (pvlab pools).
  ``dim-scaled``  LogNormal(sqrt(2) + ln(d) / 2, sqrt(3)), d the number of lengthscales the kernel has
                  (its input dimension as it sees it: a one-hot input counts its columns unless they are
                  tied to one lengthscale; product features count too): the
                  prior of Hvarfner, Hellsten and Nardi, "Vanilla Bayesian optimization performs great in
                  high dimensions" (ICML 2024), adopted by BoTorch in 2024. Its median grows as sqrt(d),
                  so the kernel's correlations do not vanish as inputs are added; a one-hot categorical
                  input, whose levels are sqrt(2) apart, keeps a correlation between levels the data can
                  then shorten.
  ``long``        Gamma(2, 0.2) on every lengthscale: mode 5, mean 10. For kernels over many correlated
                  columns, such as chemical descriptors (RDKit's 2D descriptors of a base, a ligand and a
                  solvent: about 90 columns), whose squared distances add up over the columns, so that
                  lengthscales near 1 leave two substances all but uncorrelated. It is the prior EDBO
                  (Shields et al., Nature 2021) chose for 50-100 descriptor columns, which BayBE uses for
                  descriptor-encoded substances. The multi-task GP's ``auto`` puts it on descriptor columns
                  (``auto_prior(kinds, descriptors="long")``), whether multi-task is the transfer method or
                  one of the transfer model's ``auto`` methods (measured: README, Transfer learning).
  ``none``        no prior on the lengthscales (maximum marginal likelihood).
  ``auto``        (the default) ``gamma`` on the lengthscales of numeric inputs (and of chemical-descriptor
                  columns, which are numbers in [0, 1] too), ``none`` on those of one-hot categorical
                  columns (:class:`PerLengthscalePrior`). Why: the levels of a one-hot input are sqrt(2)
                  apart, so a prior made for numeric inputs, or any prior whose density peaks below 1
                  (Gamma(3, 6) peaks at 0.33; the dim-scaled LogNormal at exp(mu - 3) = 0.2 sqrt(d), since
                  the fit maximises the density of l itself), pulls the levels' correlation toward zero
                  and the GP learns nothing that carries from one level to another. Measured on the
                  categorical pools (README, Benchmarks).

A prior is on the lengthscale's value, not its logarithm, with no Jacobian term (GPflow's convention), so
a fit maximises its density in l: a LogNormal(mu, s) pulls toward exp(mu - s^2), not toward its median.

Every prior is on the constrained (positive) value with no Jacobian term, as GPflow's priors are, so
the numpy losses and GPflow's ``training_loss`` are the same function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from scipy.special import gammaln

# (concentration, rate) of the Gamma priors on the kernel variance and the noise variance
VARIANCE_PRIOR = (2.0, 1.0)
NOISE_PRIOR = (1.1, 0.05)
GAMMA_LENGTHSCALE = (3.0, 6.0)
LONG_LENGTHSCALE = (2.0, 0.2)
# Beta(a, b) prior on the additive share w of the sum + product kernel (kernels.Kernel): without it a few
# points' marginal likelihood drives w to 0 or 1 (measured on direct arylation: w = 0 in most fits of 2-10
# points), and the logistic transform then keeps it there
WEIGHT_PRIOR = (2.0, 2.0)
PRESETS = ("auto", "gamma", "dim-scaled", "long", "none")


def softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, u)


def inv_softplus(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 30.0, x, np.log(np.expm1(np.minimum(x, 30.0))))


@lru_cache(maxsize=None)
def _gamma_log_constant(a: float, b: float) -> float:
    return a * math.log(b) - float(gammaln(a))


def _gamma_logpdf(x, a: float, b: float):
    return _gamma_log_constant(a, b) + (a - 1.0) * np.log(x) - b * x


@dataclass(frozen=True)
class LengthscalePrior:
    """A prior on each lengthscale: ``family`` "gamma" (a = concentration, b = rate), "lognormal"
    (a = mean and b = standard deviation of log l) or "none"."""

    family: str
    a: float = 0.0
    b: float = 0.0

    def neg_log(self, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-log p(l) for each lengthscale and its derivative in l, both [Q]."""
        ls = np.asarray(ls, dtype=np.float64)
        if self.family == "gamma":
            return -_gamma_logpdf(ls, self.a, self.b), -((self.a - 1.0) / ls - self.b)
        if self.family == "lognormal":
            z = (np.log(ls) - self.a) / self.b
            loss = np.log(ls) + math.log(self.b * math.sqrt(2.0 * math.pi)) + 0.5 * z * z
            return loss, (1.0 + z / self.b) / ls
        return np.zeros_like(ls), np.zeros_like(ls)

    def tfp(self):
        """The same prior as a tensorflow-probability distribution (None for "none"), for GPflow."""
        import tensorflow_probability as tfp
        from gpflow.utilities import to_default_float as f64

        if self.family == "gamma":
            return tfp.distributions.Gamma(f64(self.a), f64(self.b))
        if self.family == "lognormal":
            return tfp.distributions.LogNormal(f64(self.a), f64(self.b))
        return None

    def describe(self) -> str:
        if self.family == "gamma":
            return f"Gamma({self.a:g}, {self.b:g})"
        if self.family == "lognormal":
            return f"LogNormal({self.a:.3f}, {self.b:.3f})"
        return "none"


LONG = LengthscalePrior("gamma", *LONG_LENGTHSCALE)  # the ``long`` preset


@dataclass(frozen=True)
class PerLengthscalePrior:
    """One prior per free lengthscale (``parts[k]`` for lengthscale k): the ``auto`` preset's form."""

    parts: tuple[LengthscalePrior, ...]
    family: str = "mixed"

    @cached_property
    def _by_part(self) -> tuple[tuple[LengthscalePrior, np.ndarray], ...]:
        """Each distinct prior and the lengthscales it is on (computed once: a loss evaluates it every step)."""
        return tuple((part, np.array([k for k, p in enumerate(self.parts) if p == part]))
                     for part in dict.fromkeys(self.parts))

    def neg_log(self, ls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ls = np.asarray(ls, dtype=np.float64)
        loss, grad = np.empty_like(ls), np.empty_like(ls)
        for part, on in self._by_part:
            loss[on], grad[on] = part.neg_log(ls[on])
        return loss, grad

    def tfp(self):
        """None: GPflow's kernel has one prior for all its lengthscales (Fitter adds this one in numpy)."""
        return None

    def describe(self) -> str:
        return ", ".join(sorted({p.describe() for p in self.parts}))


def auto_prior(kinds: list[str], descriptors: str = "gamma") -> LengthscalePrior | PerLengthscalePrior:
    """The ``auto`` preset for free lengthscales of these kinds (numeric | categorical | descriptors): the
    ``gamma`` preset on numeric columns, none on one-hot categorical ones, and the ``descriptors`` preset
    (``gamma`` or ``long``) on descriptor columns."""
    gamma, none = LengthscalePrior("gamma", *GAMMA_LENGTHSCALE), LengthscalePrior("none")
    desc = lengthscale_prior(descriptors, len(kinds))
    parts = tuple(none if k == "categorical" else desc if k == "descriptors" else gamma for k in kinds)
    if all(p == gamma for p in parts):
        return gamma  # numeric spaces: exactly the gamma preset
    return PerLengthscalePrior(parts)


def start_range(part: LengthscalePrior) -> tuple[float, float, float]:
    """(low, first, high) for a lengthscale under ``part``: the default start, and the range (log-uniform) of
    random starts. Gamma(3, 6) lengthscales start at 0.3 and restart in [0.05, 1.5], ``long`` ones at 3 and
    in [0.5, 30]; lengthscales without a Gamma prior at 1 and in [0.1, 10]."""
    if part == LONG:
        return 0.5, 3.0, 30.0
    if part.family == "gamma":
        return 0.05, 0.3, 1.5
    return 0.1, 1.0, 10.0


# The shortest lengthscale a fit may reach where no Gamma prior keeps it from 0 (one-hot columns under
# ``auto``, the ``none`` and ``dim-scaled`` presets): inputs live in [0, 1], and below this the kernel's
# squared distances (|a|^2 + |b|^2 - 2 a.b, scaled by 1/l^2) lose every digit to rounding, so a point's
# kernel with itself falls below the variance and fantasy updates fail. At 1e-3 a level that differs is
# already uncorrelated (exp(-1000)).
MIN_LENGTHSCALE = 1e-3


def lengthscale_bounds(prior, n_free: int, n_other: int) -> list[tuple[float | None, None]] | None:
    """L-BFGS-B bounds on the unconstrained parameters, the free lengthscales first and then ``n_other``
    unbounded ones: a floor of MIN_LENGTHSCALE for every lengthscale without a Gamma prior; None (no bounds
    at all) when every one has it, so numeric fits are unchanged."""
    parts = prior.parts if isinstance(prior, PerLengthscalePrior) else (prior,) * n_free
    if all(p.family == "gamma" for p in parts):
        return None
    low = float(inv_softplus(MIN_LENGTHSCALE))
    return [(None, None) if p.family == "gamma" else (low, None) for p in parts] + [(None, None)] * n_other


def into_bounds(u: np.ndarray, bounds: list | None) -> np.ndarray:
    """A start vector moved up to the lower bounds it is below (L-BFGS-B wants a feasible start)."""
    if bounds is None:
        return u
    return np.array([x if lo is None else max(x, lo) for x, (lo, _) in zip(u, bounds)])


def lengthscale_prior(preset: str, n_inputs: int) -> LengthscalePrior:
    """The named preset for a kernel with ``n_inputs`` lengthscales (see the module docstring; ``auto``
    needs the lengthscales' kinds: :func:`auto_prior`)."""
    if preset == "gamma":
        return LengthscalePrior("gamma", *GAMMA_LENGTHSCALE)
    if preset == "dim-scaled":
        return LengthscalePrior("lognormal", math.sqrt(2.0) + 0.5 * math.log(max(1, n_inputs)), math.sqrt(3.0))
    if preset == "long":
        return LONG
    if preset == "none":
        return LengthscalePrior("none")
    raise ValueError(f"unknown lengthscale prior {preset!r} (choose from {', '.join(PRESETS)})")


def neg_log_gamma(x: float, ab: tuple[float, float]) -> tuple[float, float]:
    """-log Gamma(x | a, b) (a: concentration, b: rate) and its derivative in x: the variance and noise priors."""
    a, b = ab
    return float(-_gamma_logpdf(x, a, b)), float(-((a - 1.0) / x - b))


def neg_log_prior(ls: np.ndarray, var: float, noise: float, prior: LengthscalePrior | PerLengthscalePrior) -> tuple:
    """-log p(hyperparameters) and its gradient with respect to (lengthscales, variance, noise)."""
    loss_ls, g_ls = prior.neg_log(ls)
    loss_var, g_var = neg_log_gamma(var, VARIANCE_PRIOR)
    loss_noise, g_noise = neg_log_gamma(noise, NOISE_PRIOR)
    return float(np.sum(loss_ls) + loss_var + loss_noise), g_ls, float(g_var), float(g_noise)


def neg_log_weight_prior(w: float) -> tuple[float, float]:
    """-log Beta(w | WEIGHT_PRIOR) and its derivative in w."""
    a, b = WEIGHT_PRIOR
    const = gammaln(a) + gammaln(b) - gammaln(a + b)
    loss = const - (a - 1.0) * math.log(w) - (b - 1.0) * math.log1p(-w)
    return float(loss), float(-(a - 1.0) / w + (b - 1.0) / (1.0 - w))
