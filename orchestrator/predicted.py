"""Questions to the model: where does it put the best, how sure is it, and which inputs matter.

A measured best can be a lucky noisy reading. The model's *predicted best* is
the measured point with the highest posterior mean (the model's guess of the
noise-free objective there), with that mean and its standard deviation
converted back to the objective's units. Only measured points are candidates:
the answer is a recipe that was actually run, and its mean is backed by data
(an optimum of the mean elsewhere in a continuous space would be an
extrapolation; that is what the acquisition explores).

For the report, :func:`slices` cuts the model along each input through a point
(one-dimensional slices; a categorical input gives one value per level) and
:func:`relevance` says how much each input moves the prediction: from the GP's
lengthscales (1/lengthscale, normalised) when the model has one per input, and
for every model as a sensitivity of the posterior mean (how much it varies
along each input's slices through many random points).

Shapes: encoded inputs X [N, D] with every column in [0, 1]; a model's
``predict(X)`` gives mean and variance [N] in the model's (maximised, warped) units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

Params = dict[str, Any]


# ----------------------------------------------------------------------------- the predicted best


def _to_objective(proposer: Any, raw: np.ndarray) -> tuple[Any, str]:
    """A function from the model's units to the objective's, and the scale it gives: ``value`` (the objective
    itself) or ``distance`` (|objective - target| for a target goal, whose sign the model does not keep).

    The model is fitted on warp(internal(raw)) (Proposer.warp, Proposer.internal): internal is affine in raw
    except for a target goal; a model.transform is undone by interpolating between the measured values."""
    if proposer.raw_acquisition:
        return (lambda t: np.asarray(t, dtype=float)), "value"
    internal = proposer.internal(raw)
    warped = proposer.warp(internal)
    if np.allclose(warped, internal):
        unwarp = lambda t: np.asarray(t, dtype=float)  # noqa: E731
    else:
        order = np.argsort(warped)
        xs, ys = warped[order], internal[order]
        unwarp = lambda t: np.interp(t, xs, ys)  # noqa: E731 - monotone, clipped to the measured range
    if proposer.goal == "max":
        return unwarp, "value"
    if proposer.goal == "min":
        return (lambda t: -unwarp(t)), "value"
    return (lambda t: -unwarp(t)), "distance"


def predicted_best(proposer: Any, model: Any, observed: Sequence[Params], raw: Sequence[float]) -> dict | None:
    """The measured point the model rates best, as a JSON-able dict (None with fewer than 2 points).

    ``{"params", "mean", "sd", "measured", "n", "scale", "over"}``: mean and sd in the objective's units
    (``scale`` ``distance``: of |objective - target|), ``measured`` the value read there, ``n`` the number of
    measured points the model was fitted on, ``over``: where the best was looked for ("measured points")."""
    raw = np.asarray(raw, dtype=float)
    if len(raw) < 2:
        return None
    X = proposer.space.encode(list(observed))
    m, v = model.predict(X)
    m = np.asarray(m, dtype=float).ravel()
    sd = np.sqrt(np.maximum(np.asarray(v, dtype=float).ravel(), 0.0))
    if proposer.raw_acquisition:  # the model sees the raw objective: rate points by the goal's score
        i = int(np.argmax([proposer.score(float(t)) for t in m]))
    else:
        i = int(np.argmax(m))
    convert, scale = _to_objective(proposer, raw)
    mean = float(convert(m[i]))
    spread = float(abs(convert(m[i] + sd[i]) - convert(m[i] - sd[i])) / 2.0)
    if not (math.isfinite(mean) and math.isfinite(spread)):  # a plugin's nan away from the checked points: no
        return None  # answer (stored, nan would be null, and every reader would have to guard against it)
    measured = float(raw[i]) if scale == "value" else float(abs(raw[i] - proposer.target))
    return {"params": dict(observed[i]), "mean": mean, "sd": spread, "measured": measured, "n": int(len(raw)),
            "scale": scale, "over": "measured points"}


def describe(pred: dict | None, *, unit: str | None = None, with_n: bool = False) -> str:
    """``0.402 ± 0.011`` (or ``|Δ target| 0.01 ± 0.02``), optionally ``(model after 38 experiments)``."""
    if not pred or not isinstance(pred.get("mean"), (int, float)) or not isinstance(pred.get("sd"), (int, float)):
        return "-"  # none, or one stored with nan (null since 2026-12-05) by an older build
    u = f" {unit}" if unit else ""
    text = f"{pred['mean']:.4g} ± {pred['sd']:.2g}{u}"
    if pred.get("scale") == "distance":
        text = "|Δ target| " + text
    if with_n:
        text += f" (model of {pred['n']} points)"
    return text


# ----------------------------------------------------------------------------- slices and relevance


@dataclass
class Slice:
    """The model along one input through a centre point, all other inputs held there.

    ``axis``: the input's values (numbers, or level names for a categorical input); ``X`` [K, D] the encoded
    points; ``mean``, ``sd`` [K] in the model's units; ``kind`` numeric | levels."""

    name: str
    kind: str
    axis: list
    X: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    columns: slice


def _group_values(space: Any, group: Any, n: int = 101) -> tuple[str, list, np.ndarray]:
    """(kind, axis values, encoded column values [K, width]) of one input over its whole range."""
    if group.kind == "numeric":
        u = np.linspace(0.0, 1.0, n)
        if space.is_pool:
            scale = next((s for s in space.scales() if s.name == group.name), None)
            lo, hi = (scale.low, scale.high) if scale is not None else (0.0, 1.0)
            axis = list(lo + u * (hi - lo))
        else:
            p = next(p for p in space.parameters if p.name == group.name)
            if getattr(p, "log", False):
                axis = list(np.exp(np.log(p.low) + u * (np.log(p.high) - np.log(p.low))))
            else:
                axis = list(p.low + u * (p.high - p.low))
        return "numeric", axis, u[:, None]
    # categorical or descriptors: one row per level
    if space.is_pool:
        if group.name in space.features:
            levels, F = space.features[group.name]
            return "levels", list(levels), np.asarray(F, dtype=float)
        levels = sorted({str(c[group.name]) for c in space.candidates})
        return "levels", levels, np.eye(len(levels))
    p = next(p for p in space.parameters if p.name == group.name)
    if group.name in space.features:
        return "levels", list(p.choices), np.asarray(space.features[group.name], dtype=float)
    return "levels", list(p.choices), np.eye(len(p.choices))


def slices(space: Any, model: Any, centre: np.ndarray) -> list[Slice]:
    """One :class:`Slice` per input through the encoded point ``centre`` [D]."""
    out = []
    centre = np.asarray(centre, dtype=float).ravel()
    for g in space.column_groups():
        kind, axis, cols = _group_values(space, g)
        X = np.repeat(centre[None, :], len(axis), axis=0)
        X[:, g.columns] = cols
        m, v = model.predict(X)
        out.append(Slice(g.name, kind, axis, X, np.asarray(m, float).ravel(),
                         np.sqrt(np.maximum(np.asarray(v, float).ravel(), 0.0)), g.columns))
    return out


def lengthscale_relevance(space: Any, state: dict | None) -> dict[str, float] | None:
    """1/lengthscale per input, normalised to sum 1, when the GP state has one lengthscale per encoded column
    (a categorical input: its shortest column's); None otherwise (tied, product features, other models)."""
    ls = (state or {}).get("lengthscales")
    if not isinstance(ls, list) or len(ls) != space.dim or (state or {}).get("interactions"):
        return None
    inv = 1.0 / np.maximum(np.asarray(ls, dtype=float), 1e-12)
    raw = {g.name: float(np.max(inv[g.columns])) for g in space.column_groups()}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()} if total > 0 else None


def sensitivity(space: Any, model: Any, rng: np.random.Generator, n_points: int = 64) -> dict[str, float]:
    """How much the posterior mean moves along each input, normalised to sum 1: at ``n_points`` random points
    of the space (pool: random candidates), the standard deviation of the mean along the input's slice
    (21 values of a numeric input, every level of a categorical one), averaged over the points."""
    if space.is_pool:
        idx = rng.choice(space.size, size=min(n_points, space.size), replace=False)
        base = space.X[idx]
    else:
        base = space.encode(space.sample(n_points, "random", rng))
    raw = {}
    for g in space.column_groups():
        _, axis, cols = _group_values(space, g, n=21)
        k = len(axis)
        X = np.repeat(base, k, axis=0)
        X[:, g.columns] = np.tile(cols, (len(base), 1))
        m, _ = model.predict(X)
        raw[g.name] = float(np.mean(np.std(np.asarray(m, float).reshape(len(base), k), axis=1)))
    total = sum(raw.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in raw.items()}


def near_slice(X_obs: np.ndarray, centre: np.ndarray, columns: slice, radius: float = 0.2) -> np.ndarray:
    """Which observations [N] lie near a slice: root-mean-square distance over the other encoded columns
    at most ``radius`` (every column is in [0, 1])."""
    keep = np.ones(X_obs.shape[1], dtype=bool)
    keep[columns] = False
    if not keep.any():
        return np.ones(len(X_obs), dtype=bool)
    d = np.sqrt(np.mean((X_obs[:, keep] - np.asarray(centre)[keep]) ** 2, axis=1))
    return d <= radius


__all__ = ["predicted_best", "describe", "Slice", "slices", "lengthscale_relevance", "sensitivity", "near_slice"]
