"""Choosing a batch: kriging believer over a pool or over a continuous space.

The model is duck-typed: ``predict(X) -> (mean, variance)`` and, for batches,
``condition(X) -> model``, which returns the model with fantasy observations at
its own predicted mean at X and the hyperparameters unchanged (kriging
believer). Experiments already running ("pending") are added as fantasies
first, so a batch never re-proposes what is in flight. Models without
``condition`` fall back to the top-q scores (stated in the log by the caller).

Inputs are encoded arrays ([N, D], every column in [0, 1]); the caller owns the
encoding. This module imports no orchestrator code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import minimize

Acq = Callable[..., np.ndarray]
LEVEL_BLOCK = 512  # levels of one categorical input scored at once by the level sweep
BIG_BATCH = 16  # points per continuous batch refined with every start; larger batches share that effort


def _with_pending(model, pending_X: np.ndarray | None, best: float, raw: bool):
    """Condition on experiments in flight; their fantasies may raise the incumbent."""
    if pending_X is None or len(pending_X) == 0 or not _can_condition(model):
        return model, best
    if not raw:
        mu, _ = model.predict(pending_X)
        best = max(best, float(np.max(mu)))
    return model.condition(pending_X), best


def _can_condition(model) -> bool:
    return callable(getattr(model, "condition", None))


def _updated_best(model, x: np.ndarray, best: float, raw: bool) -> float:
    """A fantasy observation at the predicted mean may become the new incumbent."""
    if raw:
        return best
    mu, _ = model.predict(x[None, :])
    return max(best, float(mu[0]))


def select_from_pool(
    model,
    acq: Acq,
    X: np.ndarray,
    q: int,
    *,
    best: float,
    available: np.ndarray | None = None,
    pending_X: np.ndarray | None = None,
    raw: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Indices of q distinct rows of X, chosen greedily by kriging believer.

    ``available`` masks out rows already measured or in flight (never proposed
    twice). ``raw`` is True for acquisitions on the raw objective (target), whose
    ``best`` is a distance and is not updated by fantasies.

    Each pick is the argmax of the acquisition over the available rows under the
    model conditioned on the earlier picks. Two optional model abilities make this
    cheaper without changing the picks (beyond floating-point rounding):
    ``predict_bound`` (mean and an upper bound on the variance; for acquisitions that
    never decrease with the variance only the candidates whose bound could win are
    predicted exactly, see :func:`_argmax`), and ``pool_posterior`` (the pool's mean
    and variance updated in place by each fantasy instead of predicted again).
    ``progress(chosen, q)`` is called after each pick (a long batch says how far it is).
    """
    avail = np.ones(len(X), dtype=bool) if available is None else available.copy()
    q = min(q, int(avail.sum()))
    m, best = _with_pending(model, pending_X, best, raw)
    if not _can_condition(model):
        mu, var = m.predict(X)
        scores = np.where(avail, acq(mu, var, best=best), -np.inf)
        return [int(i) for i in np.argsort(-scores, kind="stable")[:q]]
    chosen: list[int] = []
    bounded = _monotone_in_variance(acq) and callable(getattr(m, "predict_bound", None))
    pool = None
    if not bounded and q > 1 and callable(getattr(m, "pool_posterior", None)):
        pool = m.pool_posterior(X)
    for k in range(q):
        if bounded:
            j = _argmax(m, acq, X, avail, best)
        else:
            mu, var = pool.predict() if pool is not None else m.predict(X)
            scores = np.where(avail, acq(mu, var, best=best), -np.inf)
            j = int(np.argmax(scores))
        chosen.append(j)
        avail[j] = False
        if progress is not None:
            progress(k + 1, q)
        if k < q - 1:
            if pool is not None:
                if not raw:
                    best = max(best, float(mu[j]))  # the fantasy at the predicted mean
                pool.condition(j)
            else:
                best = _updated_best(m, X[j], best, raw)
                m = m.condition(X[j : j + 1])
    return chosen


def _monotone_in_variance(acq) -> bool:
    """Acquisitions known never to decrease when the variance grows at a fixed mean."""
    from .functions import ExpectedImprovement, MaxVariance, UpperConfidenceBound

    return type(acq) in (ExpectedImprovement, UpperConfidenceBound, MaxVariance)


_BLOCK = 256  # candidates predicted exactly by _argmax's first block (then doubling)


def _argmax(model, acq: Acq, X: np.ndarray, avail: np.ndarray, best: float) -> int:
    """``argmax(where(avail, acq(*model.predict(X)), -inf))`` for an acquisition nondecreasing in
    the variance, predicting exactly only the candidates that could win.

    ``model.predict_bound(X)`` gives the exact mean and a variance never below the exact
    one, so ``acq(mean, bound)`` bounds each candidate's score from above. Candidates are
    predicted exactly in decreasing order of that bound until the next bound falls below
    the best exact score; ties go to the lowest index, as with ``np.argmax``.
    """
    mu, var_hi, exact = model.predict_bound(X)
    upper = np.where(avail, acq(mu, var_hi, best=best), -np.inf)
    if exact:
        return int(np.argmax(upper))
    if np.isnan(upper).any():  # no ordering to prune by: score every candidate
        mu, var = model.predict(X)
        return int(np.argmax(np.where(avail, acq(mu, var, best=best), -np.inf)))
    order = np.argsort(-upper, kind="stable")
    best_j, best_s = int(order[0]), -np.inf
    start, block = 0, _BLOCK
    while start < len(order):
        idx = order[start : start + block]
        start, block = start + block, min(2 * block, 8192)
        # a hair of slack: the bound and the exact score are computed by different formulas
        idx = idx[upper[idx] >= best_s - 1e-9 * (1.0 + abs(best_s))]
        if idx.size == 0 or not np.isfinite(upper[idx[0]]):
            break
        m_i, v_i = model.predict(X[idx])
        s_i = acq(m_i, v_i, best=best)
        for i, s in zip(idx, s_i):
            if s > best_s or (s == best_s and i < best_j):
                best_j, best_s = int(i), float(s)
    return best_j


@dataclass
class Geometry:
    """Where a continuous optimiser may move: ``mask`` columns in [0, 1], with A x = b; ``onehot``: the
    (start, stop) columns of each one-hot categorical input, whose levels are enumerated (not relaxed)."""

    mask: np.ndarray
    A_eq: np.ndarray
    b_eq: np.ndarray
    onehot: tuple[tuple[int, int], ...] = ()


def _sweep_levels(score: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, geo: Geometry,
                  sweeps: int = 2) -> tuple[np.ndarray, float]:
    """Coordinate ascent over the categorical inputs: for each one-hot input in turn, score x0 with every
    one of its levels (the other inputs fixed) and keep the best; repeat while it improves."""
    x, sx = x0.copy(), float(score(x0[None, :])[0])
    for _ in range(sweeps):
        improved = False
        for a, b in geo.onehot:
            best_level, best_s = -1, -np.inf
            for lo in range(0, b - a, LEVEL_BLOCK):  # in blocks: 10,000 levels at once took 1.6 GB of variants
                n = min(LEVEL_BLOCK, b - a - lo)
                variants = np.repeat(x[None, :], n, axis=0)
                variants[:, a:b] = 0.0
                variants[np.arange(n), a + lo + np.arange(n)] = 1.0
                s = score(variants)
                s = np.where(np.isfinite(s), s, -np.inf)
                j = int(np.argmax(s))
                if s[j] > best_s:  # strictly: the first of equal scores, as one argmax over every level
                    best_level, best_s = lo + j, float(s[j])
            if best_level >= 0 and best_s > sx + 1e-12 * abs(sx):  # relative: scores in tiny units are tiny
                x = x.copy()
                x[a:b] = 0.0
                x[a + best_level] = 1.0
                sx, improved = best_s, True
        if not improved:
            break
    return x, sx


def _refine(score: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, geo: Geometry, maxiter: int) -> np.ndarray:
    """Improve x0 by moving the masked columns (L-BFGS-B, or SLSQP when there are equalities)."""
    free = np.flatnonzero(geo.mask)
    if free.size == 0:
        return x0

    def f(z: np.ndarray) -> float:
        x = x0.copy()
        x[free] = z
        v = float(score(x[None, :])[0])
        return -v if np.isfinite(v) else 1e300

    bounds = [(0.0, 1.0)] * free.size
    if geo.A_eq.shape[0]:
        A = geo.A_eq[:, free]
        b = geo.b_eq - geo.A_eq[:, ~geo.mask] @ x0[~geo.mask]
        cons = [{"type": "eq", "fun": lambda z: A @ z - b, "jac": lambda z: A}]
        res = minimize(f, x0[free], method="SLSQP", bounds=bounds, constraints=cons,
                       options={"maxiter": maxiter, "ftol": 1e-9})
        z = np.clip(res.x, 0.0, 1.0)
        if np.max(np.abs(A @ z - b)) > 1e-6:
            return x0  # the optimiser left the constraint surface: keep the start
    else:
        res = minimize(f, x0[free], method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter})
        z = np.clip(res.x, 0.0, 1.0)
    x = x0.copy()
    x[free] = z
    return x


def select_continuous(
    model,
    acq: Acq,
    raw_candidates: np.ndarray,
    q: int,
    *,
    best: float,
    geometry: Geometry,
    pending_X: np.ndarray | None = None,
    n_refine: int = 5,
    maxiter: int = 60,
    raw: bool = False,
    excluded: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """q points [q, D]: for each, score the raw candidates (e.g. a scrambled Sobol set),
    refine the best ``n_refine`` with a local optimiser (numeric inputs; the levels of categorical inputs
    by enumeration, one input at a time, then the numeric inputs again), keep the best, add it as a
    fantasy and repeat. ``excluded``: points [N, D] -> [N] bool, True where a point must not be chosen
    (scored -inf: e.g. near a point a person rejected). ``progress(chosen, q)`` is called after each point.

    A batch larger than BIG_BATCH refines fewer starts per point (n_refine * BIG_BATCH // q, at least one): a
    plate of 1,000 wells took 3 minutes with 5 starts per point, and each later batch longer (the fantasies
    make the model larger). Batches of up to BIG_BATCH points are chosen as before."""
    if q > BIG_BATCH:
        n_refine = max(1, n_refine * BIG_BATCH // q)
    m, best = _with_pending(model, pending_X, best, raw)
    chosen = []
    for k in range(q):
        def score(Xs: np.ndarray, _m=m, _best=best) -> np.ndarray:
            mu, var = _m.predict(Xs)
            s = acq(mu, var, best=_best)
            return s if excluded is None else np.where(excluded(Xs), -np.inf, s)

        s = score(raw_candidates)
        s = np.where(np.isfinite(s), s, -np.inf)
        order = np.argsort(-s, kind="stable")[:n_refine]
        best_x, best_s = raw_candidates[order[0]], s[order[0]]
        for i in order:
            x = _refine(score, raw_candidates[i], geometry, maxiter)
            sx = float(score(x[None, :])[0])
            if geometry.onehot:
                x2, sx2 = _sweep_levels(score, x, geometry)
                if sx2 > sx:
                    x = _refine(score, x2, geometry, maxiter)
                    sx = float(score(x[None, :])[0])
                    if sx < sx2:  # the numeric refinement is a local search: keep the better of the two
                        x, sx = x2, sx2
            if sx > best_s:
                best_x, best_s = x, sx
        chosen.append(best_x)
        if progress is not None:
            progress(k + 1, q)
        if k < q - 1:
            if _can_condition(m):
                best = _updated_best(m, best_x, best, raw)
                m = m.condition(best_x[None, :])
            else:  # no fantasies: at least do not pick the same raw point again
                raw_candidates = np.delete(raw_candidates, order[0], axis=0)
    return np.vstack(chosen)
