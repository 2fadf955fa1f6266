"""A multi-task GP: one GP over the observations of several tasks, with a learned task covariance.

The intrinsic coregionalisation model (ICM): k((x, s), (x', t)) = B[s, t] * c(x, x'), with c the input
kernel of ``kernels.py`` (Matérn or RBF, ARD, unit variance; a one-hot input's columns share one lengthscale) and
B = w w^T + diag(kappa) the task covariance, w and kappa positive (softplus), so that every pair of tasks
is positively correlated: a source can only pull the target in its own direction, and a source that does
not help is switched off by a small w relative to kappa. Task 0 is the target; tasks 1.. are sources
(earlier campaigns, cheaper calculations, related tasks). This is the model of BoTorch's MultiTaskGP and
BayBE's task parameters, with rank-one positive correlations.

With ``target_kernel="own"`` the target's own variance kappa_0 multiplies a kernel of the target's own
instead, k((x, 0), (x', 0)) = w_0^2 c(x, x') + kappa_0 c_0(x, x'), c_0 with lengthscales of its own under
the plain GP's prior (the linear model of coregionalisation, restricted to the target): the target can vary
along inputs its sources ignore. It costs nothing measurable per evaluation (c_0 is on the target's rows
only). Measured: a target with structure its source lacks is learned far better (tests); on direct
arylation, whose temperatures share their structure, it transfers less (README, Transfer learning).

Each task's targets are standardised on their own (``scale="per-task"``: transfer carries shapes across
tasks, not levels or units), or all by one mean and spread (``"shared"``: the tasks measure the same
quantity in the same units, so a source's levels carry over too); each task has its own noise variance, and
the hyperparameters u = [free lengthscales (Q), w (T), kappa (T), noise (T)] maximise the marginal
likelihood plus priors (lengthscales: the preset of ``priors.py``; under ``auto``, Gamma(3, 6) on numeric
columns, none on one-hot ones and ``long``, Gamma(2, 0.2), on descriptor columns, which keeps ~90
descriptor columns' substances correlated; w ~ Gamma(2, 1); kappa ~ Gamma(1.1, 1);
noise ~ Gamma(1.1, 0.05) above a floor) by L-BFGS-B from the previous step's values (the warm start). The
default start runs when there is no warm start, when the warm start failed, and when the observations have
grown by ``regrow`` (10%) since it last ran; the ``restarts`` random starts run only when every earlier
start failed. The source rows, which dominate N, do not change from step to step, so one or two new target
rows rarely move the optimum far, and each start costs a whole fit (230 source rows: 0.05-0.3 s for the
warm start, 0.2-0.5 s for the default start). Until 2026-12-02 the default start also ran after a warm
start that had moved far (a lengthscale or a task's scale by more than 2x), which made those steps twice as
slow: in tests/benchmarks/transfer_speed.py's slow steps it ended within 0.6 nats of the warm start's loss
(5 of 5; better in 2, by 0.002 and 0.03 nats), and on direct arylation (RDKit descriptors, 1/5/10/20% of
the sources; 105 C over 100 seeds, 90 and 120 C over 50) dropping it moved the best yields of multi-task
and auto after 10 and 20 experiments by -0.6 to +0.6, each within 1.5 paired SE (the experiments to a
yield of 90 by -0.4 to +0.3; one cell, multi-task at 10%, +0.33 +/- 0.14). Random starts on every restart
(the rule until 2026-12-01) cost 2-3 s a step and changed nothing: on direct arylation (multi-task,
5/10/20% of the sources, 50 seeds) every pick was the same with RDKit descriptors, and with one-hot inputs
best yield after 10 experiments was +1.4 +/- 0.7 (5%) and +0.1 +/- 0.4 (20%) without them. The loss and
its gradient are in numpy; tests/test_multitask_gp.py checks both against the same model built from
GPflow's kernels.

Predictions are for the target task. ``condition`` adds fantasies on the target task (kriging believer
batches). Cost: O((N_source + N_target)^3) per loss evaluation, the same as the exact GP on all rows.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.optimize import minimize
from scipy.special import expit, gammaln

from oracles.blas import single_threaded_blas

from ..base import ModelError, spread_of
from .kernels import KINDS, Tie, kernel_and_dk, kernel_matrix, lengthscale_gradient
from .loss import gaussian_nll_parts, guarded
from .posterior import cholesky
from .priors import LengthscalePrior, PerLengthscalePrior, auto_prior, into_bounds, inv_softplus, lengthscale_bounds
from .priors import LONG, lengthscale_prior, softplus, start_range

STATE_VERSION = 1
SCALES = ("per-task", "shared")
TIES = ("one-hot", "all", "none")  # whose columns share one lengthscale per input: one-hot inputs', every
# categorical input's (descriptors too), nobody's
W_PRIOR = (2.0, 1.0)        # Gamma(concentration, rate) on each task's shared-component weight w_t
KAPPA_PRIOR = (1.1, 1.0)    # on each task's own variance kappa_t
NOISE_PRIOR = (1.1, 0.05)   # on each task's noise variance (standardised units)
# descriptor columns' preset under "auto" (numeric: gamma; one-hot: none); it is in the state, so that a state
# fitted under another one (builds before 2026-12-03 gave auto's multi-task GP gamma there) is not warm-started
DESCRIPTOR_PRESET = "long"
TARGET_KERNELS = ("shared", "own")  # the target's own variance kappa_0 times the shared input kernel, or a
# kernel of its own (own lengthscales, under the plain GP's prior)
# L-BFGS-B stops when a step lowers the loss by less than FTOL times its value (scipy's default: 2.2e-9).
# The loss is a few hundred nats with 230 source rows, so 1e-6 stops at improvements below ~1e-3 nats; on
# direct arylation (105 C, RDKit descriptors, 50 seeds at 1/5/10/20% of the sources) it halved the fit
# time and left the best yields level (multi-task: -0.2 to +0.7 +/- 0.1-1.1; auto: -0.3 to +0.6).
FTOL = 1e-6


def _gamma_neg_log(x: np.ndarray, ab: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = ab
    return -(a * math.log(b) - gammaln(a) + (a - 1.0) * np.log(x) - b * x), -((a - 1.0) / x - b)


class MultiTaskLoss:
    """-log N(z | 0, (c(X, X) o B[t, t]) + diag(noise[t])) - log priors, and its gradient in u."""

    def __init__(self, kind: str, X: np.ndarray, z: np.ndarray, task: np.ndarray, n_tasks: int,
                 prior: LengthscalePrior | PerLengthscalePrior, noise_floor: float, tie: Tie,
                 own_prior: LengthscalePrior | PerLengthscalePrior | None = None):
        self.kind, self.prior, self.floor, self.tie = kind, prior, noise_floor, tie
        # target_kernel "own": kappa_0 multiplies a kernel of the target's own (lengthscales u[q + 3T:], prior
        # ``own_prior``), on the target's rows only
        self.own_prior = own_prior
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.Xc = self.X - self.X.mean(axis=0)
        self.z = np.asarray(z, dtype=np.float64)
        self.task = np.asarray(task, dtype=int)
        self.T = n_tasks
        self.E = np.eye(n_tasks)[self.task]  # [N, T] one-hot of each row's task
        self.q = tie.n_free
        self.on = np.flatnonzero(self.task == 0)  # the target's rows
        # the target's rows, centred (for its own kernel's lengthscale gradient)
        self.X0c = self.X[self.on] - self.X[self.on].mean(axis=0) if own_prior is not None and len(self.on) \
            else self.X[:0]
        self.evaluations = 0

    def own_lengthscales(self, u: np.ndarray) -> np.ndarray | None:
        """The target kernel's free lengthscales [Q] at u (None: the target shares the input kernel)."""
        return None if self.own_prior is None else softplus(u[self.q + 3 * self.T:])

    def params(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(free lengthscales [Q], w [T], kappa [T], noise [T]) at u."""
        q, T = self.q, self.T
        return (softplus(u[:q]), softplus(u[q:q + T]), softplus(u[q + T:q + 2 * T]),
                self.floor + softplus(u[q + 2 * T:q + 3 * T]))

    def __call__(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        n, t, on = len(self.z), self.task, self.on
        ls_free, w, kappa, noise = self.params(u)
        ls = self.tie.expand(ls_free)
        own = self.own_prior is not None
        # the task covariance on the shared input kernel (kappa_0 is on the target's own kernel when it has one)
        B = np.outer(w, w) + np.diag(kappa * (np.arange(self.T) > 0) if own else kappa)
        C, G = kernel_and_dk(self.kind, self.X, ls, 1.0)  # input kernel (unit variance) and its dk factor
        Bm = B[t][:, t]
        K = C * Bm
        if own:
            ls0_free = self.own_lengthscales(u)
            ls0 = self.tie.expand(ls0_free)
            C0, G0 = kernel_and_dk(self.kind, self.X[on], ls0, 1.0)
            K[np.ix_(on, on)] += kappa[0] * C0
        K[np.diag_indices(n)] += noise[t]
        loss, _, W = gaussian_nll_parts(K, self.z)  # W = alpha alpha^T - K^-1: dLoss/dK = -W / 2
        g_noise = -0.5 * (self.E.T @ np.diagonal(W))
        dB = -0.5 * (self.E.T @ (W * C) @ self.E)  # dLoss/dB [T, T], symmetric
        g_w = 2.0 * (dB @ w)
        g_kappa = np.diagonal(dB).copy()
        if own:  # kappa_0 multiplies the target's own kernel
            W0 = W[np.ix_(on, on)]
            g_kappa[0] = -0.5 * float(np.vdot(W0, C0))
        M = np.multiply(W, G, out=G)  # G is not needed after this
        M *= Bm
        g_ls = self.tie.reduce(-0.5 * lengthscale_gradient(M, self.Xc) / ls**3)
        # priors
        p_ls, pg_ls = self.prior.neg_log(ls_free)
        p_w, pg_w = _gamma_neg_log(w, W_PRIOR)
        p_k, pg_k = _gamma_neg_log(kappa, KAPPA_PRIOR)
        p_n, pg_n = _gamma_neg_log(noise, NOISE_PRIOR)
        loss += float(np.sum(p_ls) + np.sum(p_w) + np.sum(p_k) + np.sum(p_n))
        parts = [g_ls + pg_ls, g_w + pg_w, g_kappa + pg_k, g_noise + pg_n]
        if own:
            S0 = lengthscale_gradient(W0 * G0 * kappa[0], self.X0c)
            p0, pg0 = self.own_prior.neg_log(ls0_free)
            loss += float(np.sum(p0))
            parts.append(self.tie.reduce(-0.5 * S0 / ls0**3) + pg0)
        grad = np.concatenate(parts) * expit(u)
        return loss, grad


class MultiTaskGP:
    """ICM multi-task GP; predictions for task 0 (the target). See the module docstring."""

    def __init__(self, *, seed: int = 0, groups: list | None = None, kernel: str = "matern52",
                 lengthscale_prior: str = "auto", tie_categorical: str = "one-hot",
                 restarts: int = 2, ftol: float = FTOL, target_kernel: str = "shared",
                 maxiter: int = 200, noise_floor: float = 1e-6, regrow: float = 0.1, scale: str = "per-task"):
        if kernel not in KINDS:
            raise ModelError(f"kernel must be one of {', '.join(KINDS)} (got {kernel!r})")
        if scale not in SCALES:
            raise ModelError(f"scale must be one of {', '.join(SCALES)} (got {scale!r})")
        self.scale = scale
        self.seed, self.kernel, self.restarts, self.maxiter, self.noise_floor = seed, kernel, restarts, maxiter, \
            noise_floor
        self.groups = list(groups) if groups else None
        numeric = self.groups is None or all(g.kind == "numeric" for g in self.groups)
        self.lengthscale_prior = "gamma" if lengthscale_prior == "auto" and numeric else lengthscale_prior
        if tie_categorical not in TIES:
            raise ModelError(f"tie_categorical must be one of {', '.join(TIES)} (got {tie_categorical!r})")
        self.tie_categorical = tie_categorical
        if target_kernel not in TARGET_KERNELS:
            raise ModelError(f"target_kernel must be one of {', '.join(TARGET_KERNELS)} (got {target_kernel!r})")
        self.target_kernel = target_kernel
        self.regrow = regrow
        self.ftol = ftol
        self._state: dict[str, Any] | None = None
        self.fit_info: dict[str, Any] = {}
        self._fitted: dict[str, Any] | None = None

    # -- state ----------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return dict(self._state) if self._state else {}

    def set_state(self, state: dict[str, Any]) -> None:
        if state and state.get("schema_version") == STATE_VERSION and state.get("kind") == "multitask" \
                and state.get("kernel") == self.kernel and state.get("lengthscale_prior") == self.lengthscale_prior \
                and state.get("descriptor_prior", "gamma") == DESCRIPTOR_PRESET \
                and state.get("target_kernel", "shared") == self.target_kernel:
            self._state = dict(state)

    # -- fit --------------------------------------------------------------------------

    def _tie(self, d: int) -> tuple[Tie, list[str]]:
        """The kernel's tied lengthscales and the kind of input of each free one (as GPSurrogate's)."""
        g = self.groups
        if not g or sum(x.columns.stop - x.columns.start for x in g) != d:
            return Tie.none(d), ["numeric"] * d
        widths = [x.columns.stop - x.columns.start for x in g]
        tied = [self.tie_categorical == "all" and x.kind != "numeric"
                 or self.tie_categorical == "one-hot" and x.kind == "categorical" for x in g]
        kinds = [x.kind for x, w, t in zip(g, widths, tied) for _ in range(1 if t else w)]
        return Tie.from_groups(widths, tied), kinds

    def _warm(self, q: int, T: int) -> dict | None:
        prev = self._state
        if prev and len(prev.get("lengthscales", ())) == q and len(prev.get("w", ())) == T \
                and len(prev.get("own_lengthscales") or ()) == (q if self.target_kernel == "own" else 0):
            return prev
        return None

    def _default_start_due(self, n: int, q: int, T: int) -> bool:
        """Does the default start run after the warm start? (When there is no warm start, or the
        observations grew by ``regrow`` since it last ran; the state keeps that count
        as ``n_at_restarts``, its name from when random starts ran with it.)"""
        prev = self._warm(q, T)
        if prev is None:
            return True
        since = int(prev.get("n_at_restarts") or 0)
        return n >= since * (1.0 + self.regrow) or n < since

    def _ranges(self, q: int, prior: LengthscalePrior | PerLengthscalePrior) -> tuple[np.ndarray, ...]:
        """log (low, first, high) of each lengthscale's start: 0.3 (in [0.05, 1.5]) with the gamma preset, 3
        (in [0.5, 30]) under the long prior (descriptor columns under auto), else 1 (in [0.1, 10])."""
        parts = prior.parts if isinstance(prior, PerLengthscalePrior) else (prior,) * q
        ranges = [start_range(p) if self.lengthscale_prior == "gamma" or p == LONG else (0.1, 1.0, 10.0)
                  for p in parts]
        return tuple(np.log(np.array(v)) for v in zip(*ranges)) if q else (np.zeros(0),) * 3

    def _starts(self, q: int, T: int, prior: LengthscalePrior | PerLengthscalePrior,
                own_prior: LengthscalePrior | PerLengthscalePrior | None = None) -> list[np.ndarray]:
        """Unconstrained start vectors: the previous fit's (when it fits), a default, then random ones (the
        target kernel's own lengthscales last, when it has them, by the same rule as the shared ones: under
        ``auto`` with other than numeric inputs they start at 1, where the plain GP starts Gamma(3, 6)
        lengthscales at 0.3)."""
        rng = np.random.default_rng(self.seed)
        lo, first, hi = self._ranges(q, prior)
        lo0, first0, hi0 = self._ranges(q if own_prior is not None else 0, own_prior)
        floor = self.noise_floor

        def pack(ls, w, kappa, noise, own=()):
            return np.concatenate([inv_softplus(ls), inv_softplus(w), inv_softplus(kappa),
                                   inv_softplus(np.maximum(np.asarray(noise) - floor, 1e-12)), inv_softplus(own)])

        starts = []
        prev = self._warm(q, T)
        if prev is not None:
            starts.append(pack(prev["lengthscales"], prev["w"], prev["kappa"], prev["noise"],
                               prev.get("own_lengthscales") or ()))
        starts.append(pack(np.exp(first), np.full(T, 0.9), np.full(T, 0.2), np.full(T, 0.01 + floor), np.exp(first0)))
        for _ in range(self.restarts):
            starts.append(pack(np.exp(rng.uniform(lo, hi, q)), rng.uniform(0.2, 1.5, T),
                               np.exp(rng.uniform(math.log(0.01), math.log(1.0), T)),
                               10 ** rng.uniform(-4, -1, T) + floor, np.exp(rng.uniform(lo0, hi0, len(lo0)))))
        return starts

    def _own_prior(self, kinds: list[str], q: int) -> LengthscalePrior | PerLengthscalePrior | None:
        """The prior on the target kernel's own lengthscales (None when the target shares the input kernel):
        the plain GP's (under auto, Gamma(3, 6) on numeric and descriptor columns, none on one-hot ones)."""
        if self.target_kernel != "own":
            return None
        return auto_prior(kinds, descriptors="gamma") if self.lengthscale_prior == "auto" \
            else lengthscale_prior(self.lengthscale_prior, q)

    def fit(self, X: np.ndarray, y: np.ndarray, task: np.ndarray) -> "MultiTaskGP":
        """X [N, D] encoded inputs, y [N] (maximisation convention), task [N]: 0 = target, 1.. = sources."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        task = np.asarray(task, dtype=int).reshape(-1)
        if X.ndim != 2 or len(X) != len(y) or len(y) != len(task):
            raise ModelError(f"X must be [N, D] with y and task [N]; got X {X.shape}, y {y.shape}, task {task.shape}")
        if len(y) == 0 or not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise ModelError("a multi-task GP needs finite observations, at least one")
        if task.min() < 0:
            raise ModelError("task ids must be 0 (the target) or positive (sources)")
        t0 = time.perf_counter()
        T = int(task.max()) + 1 if len(task) else 1
        T = max(T, 1)
        means, stds, z = self._standardise(y, task, T)
        tie, kinds = self._tie(X.shape[1])
        prior = auto_prior(kinds, descriptors=DESCRIPTOR_PRESET) if self.lengthscale_prior == "auto" \
            else lengthscale_prior(self.lengthscale_prior, tie.n_free)  # d: the kernel's lengthscales
        own_prior = self._own_prior(kinds, tie.n_free)
        loss_fn = MultiTaskLoss(self.kernel, X, z, task, T, prior, self.noise_floor, tie, own_prior)

        fun = guarded(loss_fn)
        best = None
        bounds = lengthscale_bounds(prior, tie.n_free, 3 * T)
        if own_prior is not None:
            own_bounds = lengthscale_bounds(own_prior, tie.n_free, 0)
            if bounds is not None or own_bounds is not None:
                bounds = (bounds or [(None, None)] * (tie.n_free + 3 * T)) + (own_bounds or [(None, None)] * tie.n_free)
        warm = self._warm(tie.n_free, T)
        due = self._default_start_due(len(y), tie.n_free, T)
        restarted, starts = False, 0
        with single_threaded_blas:
            sure = 2 if warm is not None else 1  # the warm start (when there is one) and the default start
            for k, u0 in enumerate(self._starts(tie.n_free, T, prior, own_prior)):
                if k == 1 and warm is not None and not due and best is not None:
                    break  # the warm start's fit is the fit (the default start is not due)
                if k >= sure and best is not None:
                    break  # the random starts are the fallback when every earlier start failed
                restarted, starts = restarted or k > 0, starts + 1
                res = minimize(fun, into_bounds(u0, bounds), jac=True, method="L-BFGS-B", bounds=bounds,
                               options={"maxiter": self.maxiter, "ftol": self.ftol})
                if res.fun < 1e30 and (best is None or res.fun < best[0]):
                    best = (float(res.fun), res.x)
        if best is None:
            if not self._state:
                raise ModelError("the multi-task GP's fit failed on every start")
            prev = self._state
            ls, w, kappa, noise = (np.array(prev[k], dtype=float) for k in ("lengthscales", "w", "kappa", "noise"))
            own = np.array(prev["own_lengthscales"], dtype=float) if own_prior is not None else None
            loss = float("nan")
        else:
            loss = best[0]
            ls, w, kappa, noise = loss_fn.params(best[1])
            own = loss_fn.own_lengthscales(best[1])
        self._state = {"schema_version": STATE_VERSION, "kind": "multitask", "kernel": self.kernel,
                       "lengthscale_prior": self.lengthscale_prior, "descriptor_prior": DESCRIPTOR_PRESET,
                       "lengthscales": [float(v) for v in ls],
                       "w": [float(v) for v in w], "kappa": [float(v) for v in kappa],
                       "noise": [float(v) for v in noise], "loss": loss if math.isfinite(loss) else None,
                       "n_observations": int(len(y)), "n_tasks": T,
                       "n_at_restarts": int(len(y)) if restarted or warm is None
                       else int((warm or {}).get("n_at_restarts") or 0),
                       "target_kernel": self.target_kernel,
                       "own_lengthscales": None if own is None else [float(v) for v in own]}
        self._fitted = {"X": X, "z": z, "task": task, "means": means, "stds": stds, "ls": tie.expand(ls),
                        "noise": noise, **self._task_parts(w, kappa, None if own is None else tie.expand(own))}
        self._factor()
        self.fit_info = {"seconds": time.perf_counter() - t0, "loss": self._state["loss"], "tasks": T,
                         "evaluations": loss_fn.evaluations, "starts": starts, "fallback": best is None,
                         "restarted": restarted,
                         "task_correlation": self.task_correlations()[0].tolist()}
        return self

    def _standardise(self, y: np.ndarray, task: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each task's mean and spread [T] and the standardised targets z [N]: per task (a task with fewer
        than two points borrows the pooled scale), or one shared by every task (scale="shared": the tasks
        measure the same quantity in the same units)."""
        pooled_mean, pooled_std = float(np.mean(y)), spread_of(y) or 1.0
        means, stds = np.full(T, pooled_mean), np.full(T, pooled_std)
        for k in range(T if self.scale == "per-task" else 0):
            yk = y[task == k]
            if len(yk) >= 2 and spread_of(yk) > 0:
                means[k], stds[k] = np.mean(yk), np.std(yk)
            else:
                means[k], stds[k] = (np.mean(yk) if len(yk) else pooled_mean), pooled_std
        return means, stds, (y - means[task]) / stds[task]

    def restore(self, X: np.ndarray, y: np.ndarray, task: np.ndarray, state: dict[str, Any]) -> "MultiTaskGP":
        """This GP conditioned on (X, y, task) with the hyperparameters of ``state`` (an earlier fit's
        ``get_state()``), without fitting them; ``ValueError`` when the state does not fit the data."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        task = np.asarray(task, dtype=int).reshape(-1)
        if not state or state.get("kind") != "multitask" or state.get("schema_version") != STATE_VERSION:
            raise ValueError("restore takes the state of a multi-task GP's fit")
        T = len(state["w"])
        tie, _ = self._tie(X.shape[1])
        own = state.get("own_lengthscales") if self.target_kernel == "own" else None
        if len(y) == 0 or task.max() >= T or len(state["lengthscales"]) != tie.n_free \
                or state.get("target_kernel", "shared") != self.target_kernel \
                or (self.target_kernel == "own" and len(own or ()) != tie.n_free):
            raise ValueError("the state's tasks or lengthscales do not fit the data")
        means, stds, z = self._standardise(y, task, T)
        w, kappa = np.asarray(state["w"], dtype=float), np.asarray(state["kappa"], dtype=float)
        self._state = dict(state)
        self._fitted = {"X": X, "z": z, "task": task, "means": means, "stds": stds,
                        "ls": tie.expand(np.asarray(state["lengthscales"], dtype=float)),
                        "noise": np.asarray(state["noise"], dtype=float),
                        **self._task_parts(w, kappa, None if own is None else tie.expand(np.asarray(own, dtype=float)))}
        self._factor()
        return self

    @staticmethod
    def _task_parts(w: np.ndarray, kappa: np.ndarray, ls_own: np.ndarray | None) -> dict:
        """B = w w^T + diag(kappa), the task covariance, and Bs, the shared input kernel's part of it (B less
        kappa_0 when the target has a kernel of its own, which kappa_0 then multiplies)."""
        B = np.outer(w, w) + np.diag(kappa)
        if ls_own is None:
            return {"B": B, "Bs": B, "ls_own": None, "kappa0": 0.0}
        Bs = B.copy()
        Bs[0, 0] -= kappa[0]
        return {"B": B, "Bs": Bs, "ls_own": ls_own, "kappa0": float(kappa[0])}

    def _factor(self) -> None:
        """The Cholesky factor of the training covariance and alpha = K^-1 z, with BLAS on one thread (as
        the loss and ``restore``: OpenBLAS's last bits differ between one thread and two, and a resumed
        campaign must propose exactly what an uninterrupted one does)."""
        with single_threaded_blas:
            self._set_factor()

    def _set_factor(self) -> None:
        f = self._fitted
        B, t = f["Bs"], f["task"]
        K = kernel_matrix(self.kernel, f["X"], f["X"], f["ls"], 1.0) * B[t][:, t]
        if f["ls_own"] is not None:
            on = np.flatnonzero(t == 0)
            K[np.ix_(on, on)] += f["kappa0"] * kernel_matrix(self.kernel, f["X"][on], f["X"][on], f["ls_own"], 1.0)
        K[np.diag_indices_from(K)] += f["noise"][t]
        f["L"] = cholesky(K)
        f["alpha"] = cho_solve((f["L"], True), f["z"])

    # -- predict ----------------------------------------------------------------------

    def _require_fit(self) -> dict:
        if self._fitted is None:
            raise RuntimeError("MultiTaskGP.predict called before fit")
        return self._fitted

    def _latent(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the target task's latent f at Xs, standardised units."""
        f = self._require_fit()
        B, t = f["B"], f["task"]
        Xs = np.asarray(Xs, dtype=np.float64)
        with single_threaded_blas:
            Ks = kernel_matrix(self.kernel, Xs, f["X"], f["ls"], 1.0) * f["Bs"][0, t][None, :]
            if f["ls_own"] is not None:
                on = np.flatnonzero(t == 0)
                Ks[:, on] += f["kappa0"] * kernel_matrix(self.kernel, Xs, f["X"][on], f["ls_own"], 1.0)
            mean = Ks @ f["alpha"]
            V = solve_triangular(f["L"], Ks.T, lower=True, check_finite=False)
            var = B[0, 0] - np.einsum("ij,ij->j", V, V)
        return mean, np.maximum(var, 1e-12 * B[0, 0])

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the target task's latent f at X [M, D], in the target's units."""
        f = self._require_fit()
        m, v = self._latent(X)
        return m * f["stds"][0] + f["means"][0], v * f["stds"][0] ** 2

    def condition(self, X: np.ndarray) -> "MultiTaskGP":
        """A copy with fantasy target observations at the predicted mean at X (hyperparameters kept)."""
        f = self._require_fit()
        X = np.asarray(X, dtype=np.float64)
        zf, _ = self._latent(X)
        other = MultiTaskGP.__new__(MultiTaskGP)
        other.__dict__.update(self.__dict__)
        other._fitted = dict(f, X=np.vstack([f["X"], X]), z=np.concatenate([f["z"], zf]),
                             task=np.concatenate([f["task"], np.zeros(len(X), dtype=int)]))
        other._factor()
        return other

    def _loo_z(self) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out means and variances (noise included) of every row, standardised units, hyperparameters
        fixed (Rasmussen and Williams 2006, eq. 5.12)."""
        f = self._require_fit()
        with single_threaded_blas:
            Kinv = cho_solve((f["L"], True), np.eye(len(f["z"])))
        d = np.diag(Kinv)
        return f["z"] - (Kinv @ f["z"]) / d, 1.0 / d

    def loo(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Leave-one-out predictive means and variances (noise included) at the target's observations, in the
        target's units, hyperparameters fixed (the sources stay in the conditioning set)."""
        f = self._require_fit()
        m, v = self._loo_z()
        on = f["task"] == 0
        return m[on] * f["stds"][0] + f["means"][0], v[on] * f["stds"][0] ** 2

    def task_loo_r2(self) -> tuple[np.ndarray, np.ndarray]:
        """How well each task's rows are predicted from all the other rows: the leave-one-out R^2 [T]
        (1 - the squared leave-one-out errors over the squared deviations from the task's mean; 0 for a task with
        fewer than two rows or no spread) and each task's number of rows [T]. A source whose objective was
        shuffled across its rows scores about 0; one with structure the inputs explain scores well above it."""
        f = self._require_fit()
        m, _ = self._loo_z()
        z, task = f["z"], f["task"]
        T = len(f["B"])
        r2, n = np.zeros(T), np.zeros(T, dtype=int)
        for k in range(T):
            on = task == k
            n[k] = int(on.sum())
            spread = float(np.sum((z[on] - z[on].mean()) ** 2))
            if n[k] >= 2 and spread > 0:
                r2[k] = 1.0 - float(np.sum((z[on] - m[on]) ** 2)) / spread
        return r2, n

    def task_covariance(self) -> np.ndarray:
        """B [T, T] in standardised units: w w^T + diag(kappa)."""
        return self._require_fit()["B"].copy()

    def task_correlations(self) -> np.ndarray:
        """The correlation matrix of the tasks [T, T] (row 0: the target's correlation with each task)."""
        B = self.task_covariance()
        s = np.sqrt(np.diag(B))
        return B / np.outer(s, s)


def cross_task_kernel(kind: str, A: np.ndarray, B_in: np.ndarray, ls: np.ndarray, B: np.ndarray,
                      ta: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """k((a, s), (b, t)) = B[s, t] c(a, b): the ICM kernel between two sets of rows (for tests and reports)."""
    return kernel_matrix(kind, A, B_in, ls, 1.0) * B[np.asarray(ta)][:, np.asarray(tb)]

