"""The GP surrogate: GPflow GPR with an ARD Matérn kernel, hyperparameters fitted by L-BFGS with restarts.

Inputs arrive in the unit cube (encoded by the search space); outputs are standardised here. The pieces
live in their own modules of this package:

- ``kernels.py``: the Matérn and RBF kernels in numpy, and tied lengthscales (categorical inputs);
- ``priors.py``: the hyperparameter priors, with the named lengthscale presets (gamma, dim-scaled, long);
- ``loss.py``: the exact GP's training loss and gradient in numpy (GPflow's, checked to 1e-8);
- ``fitter.py``: the GPflow model of record and the L-BFGS-B fit;
- ``posterior.py``: prediction, fantasies, pool updates and leave-one-out for fixed hyperparameters;
- ``mixture.py``: the rank mixture of pool campaigns;
- ``sparse.py``: the sparse GP (SGPR) used above ``sparse_above`` observations.

Hyperparameters (kernel variance, one lengthscale per input or per categorical input, noise variance)
maximise the marginal likelihood plus priors, fitted from the previous step's hyperparameters (warm
start) and, on every ``restart_every``-th fit, without a warm start, or when the warm start's optimum
moved far from it, from a few random starts as well; the best fit wins. Restarts are rarer above 500
observations. The Cholesky factor at the optimum is reused for prediction.

Categorical inputs: the model learns the space's column groups from ``ModelContext.groups``. A
categorical input's encoded columns (one-hot, or chemical descriptors) share one lengthscale
when ``tie_categorical`` is on (off by default), and the lengthscales of one-hot columns carry no prior
while numeric inputs keep Gamma(3, 6) (``lengthscale_prior: auto``; ``priors.py`` says why); see the
README's Benchmarks section for what that was measured on. With ``categorical_kernel: additive`` (``auto``,
the default, chooses it for pool campaigns with a categorical input, one-hot or descriptor-encoded) the
exact GP's kernel is the
sum + product kernel (``kernels.Kernel``): the product kernel plus one kernel per input, sharing the
lengthscales; the additive part's share of the variance is ``additive_weight`` (0.5), or fitted with them when
that is None (state ``additive_weight``).

A fit that fails (non-finite loss, Cholesky failure) is retried with more jitter on the noise; if that
fails too, the last good hyperparameters are kept and the failure is logged. The campaign never stops
because of a fit.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from oracles.blas import single_threaded_blas

from ..base import ModelContext, Standardizer, check_training_data
from .config import GPConfig
from .fitter import Fitter
from .kernels import Kernel, Tie
from .mixture import MixturePool, mix, pool_facts, pseudo_bma_plus_weight
from .posterior import Posterior, PoolPosterior, loo_closed_form, loo_log_densities
from .priors import GAMMA_LENGTHSCALE, LengthscalePrior, PerLengthscalePrior, auto_prior, start_range
from .priors import lengthscale_prior as prior_preset

log = logging.getLogger("looplab.models.gp")

STATE_VERSION = 1
# above this many kernel elements predict_bound skips the exact variance
_BOUND_ELEMS = 1 << 20
# above this many observations, random restarts run at most every 10th fit, and above _HUGE_N only
# without a warm start or when the warm start moved far (each costs a whole O(N^3) fit;
# tests/benchmarks/fit_quality.py finds they almost never beat the warm start)
_LARGE_N = 500
_LARGE_N_EVERY = 10
_HUGE_N = 1000
RANK_MAX_N = 500  # the rank mixture's second GP is fitted up to this many observations (it doubles the step)
MAX_DIM_INTERACTIONS = 4  # interactions: auto adds product features up to this many numeric inputs (6 pairs)
# the warm start "moved far" (so restarts run even when not due): any lengthscale or the variance
# changed by more than this factor
_MOVED = 2.0

_SPARSE_KEYS = ("sparse", "inducing_points", "inducing_chosen_at")
_RANK_KEYS = ("ranked", "rank_weight")


def _groups_of(context: ModelContext | None) -> list | None:
    groups = getattr(context, "groups", None) if context is not None else None
    return list(groups) if groups else None


def _all_numeric(groups: list | None) -> bool:
    return groups is None or all(g.kind == "numeric" for g in groups)


def _categorical(groups: list | None) -> bool:
    """Has the space a categorical input (one-hot, or encoded by chemical descriptors or fingerprints)?"""
    return groups is not None and any(g.kind in ("categorical", "descriptors") for g in groups)


class GPSurrogate:
    """Gaussian process (GPflow GPR), ARD Matérn kernel, L-BFGS hyperparameter fit with restarts;
    a sparse GP (GPflow SGPR) above ``sparse_above`` observations."""

    Config = GPConfig

    def __init__(self, *, kernel: str = "matern52", restarts: int = 2, restart_every: int = 1, maxiter: int = 200,
                 noise_floor: float = 1e-6, lengthscale_prior: bool | str = "auto", tie_categorical: bool = False,
                 categorical_kernel: str = "product", additive_weight: float | None = 0.5,
                 sparse_above: int | None = 2000, inducing: int = 256, train_inducing: bool = False,
                 interactions: bool | str = False, rank_inputs: bool | str = False,
                 candidates: np.ndarray | None = None, groups: list | None = None, seed: int = 0):
        self.kernel = kernel
        self.restarts = restarts
        self.restart_every = restart_every
        self.maxiter = maxiter
        self.noise_floor = noise_floor
        self.groups = list(groups) if groups else None  # the space's column groups (ModelContext.groups)
        if lengthscale_prior in (True, False):
            lengthscale_prior = "gamma" if lengthscale_prior else "none"
        if lengthscale_prior == "auto" and _all_numeric(self.groups):
            lengthscale_prior = "gamma"  # what auto means for numeric inputs (same name, same warm starts)
        self.lengthscale_prior: str = lengthscale_prior  # the preset's name
        # the prior of each free lengthscale, set at fit (``_kernel_tie``: d of dim-scaled, kinds of auto)
        self.prior: LengthscalePrior | PerLengthscalePrior = prior_preset(
            "gamma" if lengthscale_prior == "auto" else lengthscale_prior, 1)
        self._free_kinds: list[str] = []  # the kind of input of each free lengthscale (set by fit)
        self.tie_categorical = tie_categorical
        if categorical_kernel not in ("auto", "product", "additive"):
            raise ValueError(f"categorical_kernel: {categorical_kernel!r} is not one of auto, product, additive")
        if categorical_kernel == "auto":  # measured on categorical pools (a pool: its candidates are given)
            categorical_kernel = "additive" if candidates is not None and _categorical(self.groups) else "product"
        # the sum + product kernel only where an input is categorical (or descriptor-encoded)
        self.categorical_kernel = categorical_kernel if not _all_numeric(self.groups) else "product"
        self.additive_weight = additive_weight  # None: fitted
        self._form: Kernel = Kernel(kernel)  # the exact GP's kernel form (set by fit: groups of the additive one)
        self._tie: Tie | None = None  # tied lengthscales of the kernel's columns (set by fit)
        self.sparse_above = sparse_above
        self.inducing = inducing
        self.train_inducing = train_inducing
        self.interactions = interactions
        self.seed = seed
        # the rank mixture: only with a pool's candidates to rank
        self._warp = pool_facts(candidates)[0] if rank_inputs is True and candidates is not None else None
        self.rank_inputs = self._warp is not None
        self._ranked: tuple[Any, float] | None = None  # (Posterior on the ranked inputs, its weight)
        self._pairs: tuple[np.ndarray, np.ndarray] | None = None  # (i, j) of the product features, when on
        self._state: dict[str, Any] | None = None  # last good hyperparameters
        self._post: Any = None  # Posterior, or sparse.SparsePosterior
        self._std: Standardizer | None = None
        self.fit_info: dict[str, Any] = {}

    @classmethod
    def check_config(cls, config: GPConfig, *, spec: Any, base_dir: Any) -> list:
        """Options the campaign would leave unread, refused rather than ignored: those of categorical inputs on a
        space whose inputs are all numeric, rank_inputs: true without a pool to rank, and the sparse GP's
        options with sparse_above: null (never sparse)."""
        from pathlib import Path

        from ...config import given_fields
        from ...errors import Problem
        from ...space import build_space

        given = set(given_fields(config))
        categorical = [k for k in ("tie_categorical", "categorical_kernel", "additive_weight") if k in given]
        problems = []
        if config.sparse_above is None:  # the exact GP always: the sparse GP's own options are never read
            problems += [Problem(k, "is read only by the sparse GP, and sparse_above: null keeps the exact GP "
                                    "always: remove it, or set sparse_above") for k in ("inducing", "train_inducing")
                         if k in given]
        if config.rank_inputs is True and getattr(spec.space, "pool", None) is None:
            problems.append(Problem("rank_inputs", "ranks a pool's candidates, and this campaign's space is "
                                                   "continuous (no pool): remove it"))
        if categorical:
            try:
                space = build_space(spec.space, Path(base_dir))
            except Exception:  # noqa: BLE001 - the space's own check reports it
                return problems
            if all(g.kind == "numeric" for g in space.column_groups()):
                problems += [Problem(k, "is read only where an input is categorical, and every input of this "
                                        "campaign is numeric: remove it") for k in categorical]
        return problems

    @classmethod
    def from_config(cls, config: GPConfig, context: ModelContext | None) -> "GPSurrogate":
        params = dict(config)
        groups = _groups_of(context)
        numeric = _all_numeric(groups)
        if params["interactions"] == "auto":  # measured on numeric pools only; elsewhere the plain kernel
            params["interactions"] = bool(context is not None and context.pool and numeric
                                          and 2 <= context.n_inputs <= MAX_DIM_INTERACTIONS)
        candidates = context.candidates if context is not None and context.pool else None
        if params["rank_inputs"] == "auto":
            params["rank_inputs"] = candidates is not None and numeric and not pool_facts(candidates)[1]
        return cls(**params, candidates=candidates, groups=groups, seed=context.seed if context else 0)

    @property
    def sparse(self) -> bool:
        """True when the last fit used the sparse GP."""
        return bool(self._state and self._state.get("sparse"))

    # -- state ----------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return dict(self._state) if self._state else {}

    def set_state(self, state: dict[str, Any]) -> None:
        if state and state.get("schema_version") == STATE_VERSION and state.get("kernel") == self.kernel \
                and state.get("lengthscale_prior", "gamma") == self.lengthscale_prior:
            self._state = dict(state)

    # -- fit --------------------------------------------------------------------------

    def _warm(self, dim: int, prev: dict | None = None) -> tuple[np.ndarray, float, float] | None:
        prev = self._state if prev is None else prev
        if prev and len(prev.get("lengthscales", ())) == dim:
            ls, variance, noise = np.array(prev["lengthscales"], dtype=float), float(prev["variance"]), \
                float(prev["noise"])
            if np.all(np.isfinite(ls)) and np.all(ls > 0) and all(math.isfinite(v) and v > 0 for v in (variance, noise)):
                return ls, variance, max(noise, self.noise_floor)
            # a stored state edited or damaged (a negative lengthscale, a nan variance): numpy warned of a log of
            # a negative number and the fit started from nonsense (fuzz round twenty)
            log.warning("the stored GP hyperparameters are not all positive finite numbers (lengthscales %s, "
                        "variance %g, noise %g); the fit starts from the default instead", ls.tolist(), variance, noise)
        return None

    def _starts(self, dim: int, prev: dict | None = None) -> list[tuple[np.ndarray, float, float]]:
        """The warm start (or a default start), then ``restarts`` random starts."""
        rng = np.random.default_rng(self.seed)
        warm = self._warm(dim, prev)
        # each lengthscale's default start and random-start range follow its prior (priors.start_range)
        parts = self.prior.parts if isinstance(self.prior, PerLengthscalePrior) else (self.prior,) * dim
        if len(parts) != dim:
            parts = (LengthscalePrior("gamma", *GAMMA_LENGTHSCALE),) * dim
        lo, first, hi = (np.array(v) for v in zip(*(start_range(p) for p in parts)))
        starts = [warm if warm is not None else (first.copy(), 1.0, max(1e-2, self.noise_floor))]
        for _ in range(self.restarts):
            ls = np.exp(rng.uniform(np.log(lo), np.log(hi), size=dim))
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
        on = (self.interactions is True and d >= 2) or (self.interactions == "auto" and _all_numeric(self.groups)
                                                          and 2 <= d <= MAX_DIM_INTERACTIONS)
        self._pairs = np.triu_indices(d, k=1) if on else None
        self._tie = self._kernel_tie(d)
        self._form = self._kernel_form(d)
        if self.lengthscale_prior == "auto":
            self.prior = auto_prior(self._free_kinds)
        else:
            self.prior = prior_preset(self.lengthscale_prior, self._tie.n_free)
        if self._warp is not None and len(self._warp.knots) != d:
            raise ValueError(f"rank_inputs: the pool's candidates have {len(self._warp.knots)} encoded inputs, "
                             f"the observations {d}")
        with single_threaded_blas:
            self._fit(X, y)
        self._state["interactions"] = on
        return self

    def restore(self, X: np.ndarray, y: np.ndarray, state: dict[str, Any]) -> "GPSurrogate":
        """This GP conditioned on (X, y) with the hyperparameters of ``state`` (a previous fit's
        ``get_state()``), without fitting them: a model rebuilt from its stored state, e.g. a transfer
        source's GP. The exact GP (no rank mixture), or the sparse GP with the state's inducing points;
        ``ValueError`` when the state does not fit."""
        X, y = check_training_data(X, y)
        self.set_state(state)
        if not self._state:
            raise ValueError("restore takes the state of a fit of a GP with the same settings")
        d = X.shape[1]
        on = bool(self._state.get("interactions")) and d >= 2
        self._pairs = np.triu_indices(d, k=1) if on else None
        self._tie = self._kernel_tie(d)
        self._form = self._kernel_form(d)
        if len(self._state["lengthscales"]) != self._tie.n_free:
            raise ValueError(f"the state has {len(self._state['lengthscales'])} lengthscales, the data need "
                             f"{self._tie.n_free}")
        self._std = Standardizer(y)
        ls = self._tie.expand(np.array(self._state["lengthscales"], dtype=float))
        var, noise = float(self._state["variance"]), float(self._state["noise"])
        with single_threaded_blas:
            if self._state.get("sparse"):
                from .sparse import SparsePosterior

                Z = np.array(self._state.get("inducing_points") or [], dtype=float)
                if Z.ndim != 2 or Z.shape[1] != len(ls):
                    raise ValueError("the state's inducing points do not fit the data")
                self._post = SparsePosterior(self.kernel, self._features(X), self._std.forward(y), Z, ls, var, noise)
            else:
                self._post = Posterior(self._form.with_weight(float(self._state.get("additive_weight", 0.0))),
                                       self._features(X), self._std.forward(y), ls, var, noise)
        self._ranked = None
        return self

    def _kernel_tie(self, d: int) -> Tie:
        """The lengthscale of each kernel column: a categorical input's columns share one (when
        ``tie_categorical``); numeric inputs and product features have their own."""
        pairs = 0 if self._pairs is None else len(self._pairs[0])
        groups = self.groups
        if not groups or sum(g.columns.stop - g.columns.start for g in groups) != d:
            self._free_kinds = ["numeric"] * (d + pairs)
            return Tie.none(d + pairs)
        widths = [g.columns.stop - g.columns.start for g in groups] + [1] * pairs
        tied = [self.tie_categorical and g.kind != "numeric" for g in groups] + [False] * pairs
        kinds = [g.kind for g in groups] + ["numeric"] * pairs
        self._free_kinds = [k for k, w, t in zip(kinds, widths, tied) for _ in range(1 if t else w)]
        return Tie.from_groups(widths, tied)

    def _kernel_form(self, d: int) -> Kernel:
        """The exact GP's kernel: with ``categorical_kernel: additive`` the sum + product kernel over the
        space's inputs (each group of columns one term; each product feature its own)."""
        pairs = 0 if self._pairs is None else len(self._pairs[0])
        groups = self.groups
        if self.categorical_kernel != "additive" or not groups \
                or sum(g.columns.stop - g.columns.start for g in groups) != d:
            return Kernel(self.kernel)
        ranges = [(g.columns.start, g.columns.stop) for g in groups] + [(d + k, d + k + 1) for k in range(pairs)]
        if self.additive_weight is not None:
            return Kernel(self.kernel, tuple(ranges), float(self.additive_weight), fixed=True)
        return Kernel(self.kernel, tuple(ranges))

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

    def _fit_exact(self, F: np.ndarray, z: np.ndarray, prev: dict) -> tuple[dict, "Posterior", dict]:
        """Fit one exact GP on features F [N, P] and standardised targets z, warm-started from ``prev``
        (a state dict, possibly empty); returns its new state, posterior and fit counters."""
        n = len(F)
        tie = self._tie if self._tie is not None else Tie.none(F.shape[1])
        dim = tie.n_free  # free lengthscales
        starts = self._starts(dim, prev)
        form = self._form if self._form.additive and sum(b - a for a, b in self._form.groups) == F.shape[1] \
            else Kernel(self.kernel)
        # the sum + product kernel's additive share: from the previous fit (or 1/2), random on restarts
        rng_w = np.random.default_rng(self.seed + 1)
        weights = [float(prev.get("additive_weight", 0.5))] + list(rng_w.uniform(0.1, 0.9, len(starts) - 1))
        due = self._restarts_due(n, dim, prev)
        best: tuple[float, tuple, np.ndarray | None, float] | None = None
        errors: list[str] = []
        ran = evaluations = 0
        restarted = False
        # a failed fit is retried once with a noise floor 1000x higher (more jitter)
        for floor in (self.noise_floor, self.noise_floor * 1e3):
            fitter = Fitter.get(F.shape[1], form, self.prior, floor, tie)
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
                        fitter.set_params(ls, var, max(noise, 2 * floor), weights[k])
                        loss = fitter.minimize(self.maxiter)
                        evaluations += fitter.last_evaluations
                        if best is None or loss < best[0]:
                            best = (loss, fitter.params(), fitter.last_cholesky, fitter.weight)
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
            loss, (ls, var, noise), chol, weight = best
            state = self._make_state(ls, var, noise, loss)
            if form.additive:
                state["additive_weight"] = weight
        state["n_observations"] = n
        state["fits_since_restarts"] = 0 if restarted else int(prev.get("fits_since_restarts", 0)) + 1
        if form.fits_weight:
            form = form.with_weight(float(state.get("additive_weight", 0.5)))
        post = Posterior(form, F, z, tie.expand(np.array(state["lengthscales"], dtype=float)),
                         float(state["variance"]), float(state["noise"]), L=chol)
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
            "lengthscale_prior": self.lengthscale_prior,
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
                m, v = mix(m, v, *post.predict(self._ranked_features(X)), w)
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
        if not isinstance(self._post, Posterior):
            return None
        m, v = loo_closed_form(self._post.L, self._post.z)
        if self._ranked is not None:
            post, w = self._ranked
            m, v = mix(m, v, *loo_closed_form(post.L, post.z), w)
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
        if not isinstance(post, Posterior) or len(X) * len(post.X) < _BOUND_ELEMS:
            m, v = self.predict(X)
            return m, v, True
        def bound(p: Posterior, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            m, upper = p.predict_bound(F)
            # never below predict's floor, plus a hair of slack against rounding in the exact variance
            return m, np.maximum(upper, 1e-12 * p.var) + 1e-9 * p.var

        with single_threaded_blas:
            m, upper = bound(post, self._features(X))
            if self._ranked is not None:
                # the mixture's variance grows with each component's: mixing the bounds bounds it
                rpost, w = self._ranked
                m, upper = mix(m, upper, *bound(rpost, self._ranked_features(X)), w)
        return m * self._std.std + self._std.mean, upper * self._std.std**2, False

    def pool_posterior(self, X: np.ndarray):
        """Mean and variance over the candidate set X, updatable by kriging-believer fantasies in place:
        ``predict() -> (mean, variance)`` in y's units, ``condition(j)`` adds a fantasy at row j.
        Same numbers (up to rounding) as ``condition(X[j:j+1])`` followed by ``predict(X)``."""
        self._require_fit()
        if isinstance(self._post, Posterior):
            pool = PoolPosterior(self._post, self._features(X), self._std)
            if self._ranked is not None:
                post, w = self._ranked
                return MixturePool(pool, PoolPosterior(post, self._ranked_features(X), self._std), w)
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

