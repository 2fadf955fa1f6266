"""The GP's settings: what a campaign's ``model: {kind: gp, params: ...}`` may say."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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
    maxiter: int = Field(default=200, ge=1, le=10_000, description="L-BFGS iterations per start (a fit converges in tens to hundreds)")
    noise_floor: float = Field(default=1e-6, gt=0, le=0.5,
                               description="lower bound of the noise variance, in standardised units (the "
                                           "observations' variance is 1: a floor of 0.5 or more would call half "
                                           "of it noise at least), at most 0.5")
    lengthscale_prior: bool | Literal["auto", "gamma", "dim-scaled", "long", "none"] = Field(
        default="auto", description="prior on the lengthscales (inputs in [0, 1]; see models/gp/priors.py): auto = "
        "Gamma(3, 6) on numeric inputs (and descriptor columns), none on one-hot categorical columns, whose levels "
        "are sqrt(2) apart (measured: README, Benchmarks); gamma = Gamma(3, 6) on each; dim-scaled = "
        "LogNormal(sqrt(2) + ln(d)/2, sqrt(3)) with d the number of lengthscales (Hvarfner et al., ICML 2024); "
        "long = Gamma(2, 0.2), mode 5 (EDBO's prior for many descriptor columns; the multi-task GP's auto on "
        "descriptor columns); none. true = gamma, false = none")
    tie_categorical: bool = Field(
        default=False, description="one lengthscale per categorical input over all its encoded columns: an "
        "exchangeable kernel over its levels (one-hot) or an isotropic one over its descriptors. Off by default: "
        "one lengthscale per level (per encoded column) lets the GP learn that some levels differ from the rest "
        "(measured: direct arylation 105 C, 30 seeds, Top%@50 0.41 untied against 0.34 tied)")
    categorical_kernel: Literal["auto", "product", "additive"] = Field(
        default="auto", description="the kernel where the space has a categorical (or descriptor-encoded) "
        "input: product = one ARD Matérn over all encoded columns; additive = that product kernel plus a sum of "
        "one Matérn per input (a categorical input's columns are one, each numeric input its own), sharing the "
        "lengthscales; the additive part's share of the variance is additive_weight (sum + product, as in "
        "mixed-variable GPs). auto: additive for pool campaigns with a categorical input, one-hot or encoded by "
        "descriptors or fingerprints, where it was measured (direct arylation 90/105/120 C one-hot and with RDKit "
        "descriptors, and perovskites, 30 seeds at batch 1, 100 at batch 2: at or above the product kernel "
        "everywhere; README, Categorical pools), product elsewhere (continuous spaces: not measured). Ignored "
        "when every input is numeric, and by the sparse GP (above sparse_above observations the product kernel "
        "is used)")
    additive_weight: float | None = Field(
        default=0.5, gt=0.0, lt=1.0, description="categorical_kernel: additive: the additive part's share of the "
        "kernel variance, fixed; null = fitted with the other hyperparameters (Beta(2, 2) prior). Fixed at 0.5 by "
        "default: at batch 2 on direct arylation 105 C (100 seeds) it beat the fitted share by 3 points of mean "
        "best yield after 10 experiments (README, Categorical pools)")
    sparse_above: int | None = Field(
        default=2000, ge=0,
        description="above this many observations use a sparse GP (GPflow SGPR with inducing points); "
        "null = always the exact GP")
    inducing: int = Field(default=256, ge=8, le=4096, description="inducing points of the sparse GP")
    train_inducing: bool = Field(
        default=False, description="also optimise the inducing points' locations (slower); otherwise they are "
        "chosen from the data by a greedy variance criterion and kept fixed. Numeric inputs only: ignored "
        "when a categorical input's lengthscales are tied")
    interactions: bool | Literal["auto"] = Field(
        default="auto", description="add the pairwise products x_i*x_j of the encoded inputs as extra ARD inputs "
        "of the kernel. auto: on for pool campaigns with 2 to 4 numeric inputs (no categorical ones), where it was measured "
        "(crossed_barrel Top%@50 0.38 -> 0.43, perovskite 0.90 -> 0.95, autoam 0.91 -> 0.97 over 20 seeds), "
        "off for continuous spaces")
    rank_inputs: bool | Literal["auto"] = Field(
        default="auto", description="pool campaigns: fit a second GP on the inputs mapped to their rank among the "
        "pool's candidates (each column's empirical distribution, ties averaged) and predict with the mixture of "
        "the two, weighted by their leave-one-out predictive densities (pseudo-BMA+). It helps where the "
        "candidates are dense in a small part of an input's range or pile up on a few values (autoam Top%@50 "
        "0.92 -> 0.99 over 100 seeds). auto: on for pools of numeric inputs whose candidates do not lie on a hyperplane; off for "
        "mixtures (inputs summing to a constant, where it was measured to hurt: perovskite 0.94 -> 0.81 over 40 "
        "seeds) and for continuous spaces, which have no candidates to rank (true forces it on for any pool). "
        "Above 500 observations only the plain GP is fitted (the mixture doubles the fit and was measured on "
        "small campaigns)")
