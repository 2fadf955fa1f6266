"""Choosing the next experiments from what has been measured: no store, no oracle, no I/O.

The engine wraps a :class:`Proposer` with durability (it loads observations and
the warm-start state from the store and writes proposals back); the benchmark
runner drives one directly in memory. Both therefore choose exactly alike.
"""

from __future__ import annotations

import functools
import json
import math
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from acquisition.batch import Geometry, select_continuous, select_from_pool

from . import plugins
from .config import Campaign, CategoricalParameter, IntParameter
from .errors import LooplabError, plugin_call
from .models.base import ModelContext
from .predicted import predicted_best

log = logging.getLogger("looplab.proposer")
LARGE_DATA = 5000  # observations above which the run says, once, that each step's fit takes a while
SLOW_BATCH = 20.0  # seconds of choosing one batch before the run says how far it is (once per batch)

Params = dict[str, Any]

# a point a person rejected (approval: required) is never proposed again: in a pool, its row; in a continuous
# space, anything whose realised encoding (integers rounded, constraints applied) lies within this Euclidean
# distance of it in the encoded unit cube
REJECTED_RADIUS = 0.02


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator of proposing step ``step``: a resumed campaign redraws the same numbers."""
    return np.random.default_rng([seed % (2**32), step])


@dataclass
class Proposal:
    params: list[Params]
    source: str  # initial | model | random
    fit_seconds: float = 0.0
    acquisition_seconds: float = 0.0
    model: Any = None
    fitted: bool = False  # True when this call fitted a new model (the caller may snapshot it)
    fit_info: dict = field(default_factory=dict)


class Proposer:
    """The campaign's choice of experiments: initial design, then model + acquisition."""

    def __init__(self, campaign: Campaign, *, store: Any = None, sources: Any = None):
        """store: where a transfer model finds its campaign sources; sources: source data to use instead
        of the model's own (the benchmark's random fraction of them)."""
        self.campaign = campaign
        self.store = store
        self._sources = sources
        self._warned_bounds: set[tuple[str, str]] = set()  # learned constants said to sit at a bound
        self.spec = campaign.spec
        self._said_large = False
        self.space = campaign.space
        self.goal = self.spec.objective.goal
        self.target = self.spec.objective.target_value
        acq_cls = campaign.plugin_classes["acquisition"]
        acq_config = campaign.plugin_configs["acquisition"]
        if getattr(acq_cls, "uses_raw_objective", False) and getattr(acq_config, "target", 0) is None:
            acq_config = acq_config.model_copy(update={"target": self.target})
        self.acquisition = plugins.build(acq_cls, acq_config)
        if not type(self.acquisition).__module__.startswith("acquisition."):  # a user's: its scores are checked
            self.acquisition = CheckedAcquisition(self.acquisition, self.spec.acquisition.kind)
        self.raw_acquisition = bool(getattr(self.acquisition, "uses_raw_objective", False))
        # the oracle's rounding (oracles/base.py, ``realise``): continuous spaces only (a pool row is realisable)
        oracle_cls = campaign.plugin_classes.get("oracle")
        hook = getattr(oracle_cls, "realise", None)
        self._realise = None
        # a space of int and categorical parameters only has finitely many points: a design or a random draw
        # must not repeat one (on two 0/1 ints, initial.n: 10 measured 4 points 2-3 times each)
        self._discrete = not self.space.is_pool and all(
            isinstance(p, (IntParameter, CategoricalParameter)) for p in self.space.parameters)
        self._warned_log = False  # model.transform: log met a value at or below zero (warned once)
        if callable(hook) and not self.space.is_pool:
            oracle_config = campaign.plugin_configs.get("oracle")
            self._realise = lambda p: dict(hook(oracle_config, dict(p)))

    # -- objective conventions ---------------------------------------------------------------

    def internal(self, raw: np.ndarray) -> np.ndarray:
        """Measured values -> what the model is fitted on (maximisation convention)."""
        raw = np.asarray(raw, dtype=float)
        if self.raw_acquisition or self.goal == "max":
            return raw
        if self.goal == "min":
            return -raw
        return -np.abs(raw - self.target)

    def y_sign(self) -> float | None:
        """y seen by the model = y_sign * measured value; None when it is no such affine map."""
        if self.spec.model.transform != "none" and not self.raw_acquisition:
            return None
        if self.raw_acquisition or self.goal == "max":
            return 1.0
        return -1.0 if self.goal == "min" else None

    def warp(self, y: np.ndarray) -> np.ndarray:
        """The model spec's output transform, applied to values already in the maximisation convention.

        Monotone increasing, so "improvement" keeps its direction; acquisitions then work on this scale.
        """
        kind = self.spec.model.transform
        y = np.asarray(y, dtype=float)
        if kind == "none" or self.raw_acquisition or len(y) < 3:
            return y
        if kind == "copula":
            from scipy.stats import norm, rankdata

            return norm.ppf((rankdata(y) - 0.5) / len(y))
        if kind == "log":
            return self._log(y)
        from scipy.stats import yeojohnson

        return yeojohnson(y)[0]

    def _log(self, y: np.ndarray) -> np.ndarray:
        """``model.transform: log`` of values in the maximisation convention.

        A target goal's values are minus the distance to the target: the log of the distance, negated (its
        zero, the target hit, sits 1% of the largest distance below the nearest). A max or min goal's
        measured values are logged as they are; the log is not defined at or below zero, so a measured value
        there (from an oracle whose values ``looplab validate`` could not read in advance) shifts all of them
        to start 1% of their range above zero, with a warning once per campaign. The former shift, to 1e-9
        above zero, made that one value a -20 outlier that the model then chased.
        """
        if self.goal == "target":
            d = -y
            return -np.log(d + 0.01 * max(float(d.max()), 1e-12))
        sign = 1.0 if self.goal == "max" else -1.0  # a min goal's values were negated: undo the sign
        pos = sign * y
        low = float(pos.min())
        if low > 0:
            return sign * np.log(pos)
        if not self._warned_log:
            self._warned_log = True
            log.warning("campaign=%s model.transform: log needs positive values, and %s was measured at %g; the "
                        "values are shifted to start at 1%% of their range above zero (yeo-johnson is a power "
                        "transform defined for any sign)", self.spec.name, self.spec.objective.name, low)
        span = float(pos.max()) - low
        return sign * np.log(pos - low + (0.01 * span if span > 0 else 1.0))

    def score(self, raw: float) -> float:
        """Higher is better, for any goal."""
        if self.goal == "max":
            return raw
        if self.goal == "min":
            return -raw
        return -abs(raw - self.target)

    # -- what an experiment realises ------------------------------------------------------------

    def realise(self, params: Params) -> Params:
        """The params the oracle will actually measure (its ``realise`` hook; unchanged without one)."""
        return self._realise(params) if self._realise is not None else dict(params)

    def key(self, params: Params) -> tuple:
        """Identity of a point for de-duplication: its values, floats to 9 decimals."""
        return tuple(round(float(v), 9) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                     for v in (params[n] for n in self.space.names))

    def _fresh(self, params: Sequence[Params], taken: "_Seen | set[tuple]") -> list[Params]:
        """Realise each proposal and keep those whose realised point is new (not in ``taken``, which grows)."""
        seen = taken if isinstance(taken, _Seen) else _Seen(self, keys=taken)
        out = []
        for p in params:
            r = self.realise(p)
            if seen.new(r):
                seen.add(r)
                out.append(r)
        return out

    # -- choices --------------------------------------------------------------------------------

    def initial_design(self, rng: np.random.Generator, n: int | None = None,
                       used: Sequence[Params] = ()) -> list[Params]:
        """``n`` (default ``initial.n``) space-filling points; a pool's rows in ``used`` are left out, and
        with an oracle that realises its params (whole atoms), so are realised points already in ``used``."""
        n = self.spec.initial.n if n is None else n
        method = self.spec.initial.method
        if self.space.is_pool:
            taken = {i for p in used if (i := self.space.index_of(p)) is not None}
            return [dict(self.space.candidates[i]) for i in self.space.sample_indices(n, method, rng, taken)]
        points = self.space.sample(n, method, rng)
        if self._realise is None and not self._discrete:
            return points
        keys = {self.key(self.realise(p)) for p in used}
        fresh = self._fresh(points, set(keys))
        return fresh + self._fresh_random(n - len(fresh), rng, keys | {self.key(p) for p in fresh})

    def random(self, n: int, rng: np.random.Generator, used: Sequence[Params] = (),
               rejected: Sequence[Params] = ()) -> list[Params]:
        if self.space.is_pool:
            taken = {i for p in [*used, *rejected] if (i := self.space.index_of(p)) is not None}
            return [dict(self.space.candidates[i]) for i in self.space.sample_indices(n, "random", rng, taken)]
        dedupe = self._realise is not None or self._discrete
        keys = {self.key(self.realise(p)) for p in [*used, *rejected]} if dedupe else set()

        def draw(k: int) -> list[Params]:
            if not dedupe:
                return self.space.sample(k, "random", rng)
            out = self._fresh_random(k, rng, set(keys))
            keys.update(self.key(p) for p in out)
            return out

        rows = draw(n)
        near = self.near_rejected(rejected)
        for _ in range(20):  # draw again in place of samples too close to a rejected point
            if near is None or not rows:
                break
            rows = [r for r, bad in zip(rows, near(self.space.encode(rows))) if not bad]
            if len(rows) < n:
                rows += draw(n - len(rows))
        if near is not None and rows:  # never a rejected point, even if that leaves fewer (or none: exhausted)
            rows = [r for r, bad in zip(rows, near(self.space.encode(rows))) if not bad]
        return rows

    def near_rejected(self, rejected: Sequence[Params]):
        """None without rejected points; else a function of encoded points [N, D] -> [N] bool: True where the
        point, as it would be realised (decoded: integers rounded, constraints applied), lies within
        ``REJECTED_RADIUS`` of a rejected one. Continuous spaces only (a pool excludes the rows themselves)."""
        if not rejected or self.space.is_pool:
            return None
        R = self.space.encode(list(rejected))

        def near(X: np.ndarray) -> np.ndarray:
            Xr = self.space.encode(self.space.decode(X))
            d2 = np.sum((Xr[:, None, :] - R[None, :, :]) ** 2, axis=2)
            return np.any(d2 < REJECTED_RADIUS**2, axis=1)

        return near

    def _fresh_random(self, n: int, rng: np.random.Generator, taken: set[tuple], tries: int = 20) -> list[Params]:
        """Up to ``n`` random points whose realised params are new (fewer if the space is nearly exhausted)."""
        out: list[Params] = []
        for _ in range(tries):
            if len(out) >= n:
                break
            out += self._fresh(self.space.sample(max(4 * (n - len(out)), 16), "random", rng), taken)
        return out[:n]

    @property
    def sources(self) -> Any:
        """The model's source data (transfer learning), read once per campaign; None for other models."""
        loader = getattr(self.campaign.plugin_classes["model"], "load_sources", None)
        if self._sources is None and callable(loader):
            self._sources = loader(self.campaign.plugin_configs["model"], campaign=self.campaign,
                                   store=self.store, internal=self.internal)
        return self._sources

    def build_model(self, step: int, warm_state: dict | None = None):
        model = plugins.build(self.campaign.plugin_classes["model"], self.campaign.plugin_configs["model"],
                              ModelContext(seed=int(step_rng(self.spec.seed, step).integers(2**31)),
                                           n_inputs=self.space.dim, pool=bool(self.space.is_pool),
                                           candidates=self.space.X if self.space.is_pool else None,
                                           groups=self.space.column_groups(),
                                           sources=self.sources,
                                           inputs=self.space.scales(), y_sign=self.y_sign()))
        if warm_state and hasattr(model, "set_state"):
            model.set_state(warm_state)
        return model

    def min_observations(self) -> int:
        """Observations the model needs before it proposes (fewer: random points). Most models need two; one
        whose prior says most (physics-gp) declares ``min_observations``, and a transfer model whose sources
        already predict the target declares 0 through ``min_observations_for(config)``."""
        cls = self.campaign.plugin_classes["model"]
        per_config = getattr(cls, "min_observations_for", None)
        need = per_config(self.campaign.plugin_configs["model"]) if callable(per_config) \
            else getattr(cls, "min_observations", 2)
        return max(0, int(need))

    def _predicted_incumbent(self, model: Any, rng: np.random.Generator) -> float:
        """The incumbent before any observation: the model's best predicted mean over the candidates (the
        pool, or random points of a continuous space), so EI looks for improvement on what it believes."""
        X = self.space.X if self.space.is_pool else self.space.encode(self.space.sample(1024, "random", rng))
        mean = model.predict(X)[0]
        if self.raw_acquisition:  # the acquisition's incumbent is the closest distance to the target
            return float(np.min(np.abs(mean - self.target)))
        return float(np.max(mean))

    def propose(self, *, observed: Sequence[Params], values: Sequence[float], busy: Sequence[Params],
                used: Sequence[Params], n: int, step: int, rng: np.random.Generator,
                model: Any = None, warm_state: dict | None = None, rejected: Sequence[Params] = ()) -> Proposal:
        """``n`` new experiments.

        observed/values: succeeded experiments and their measured objective (raw units);
        busy: experiments running or failed (added as fantasies: not proposed again);
        used: every experiment so far (a pool never proposes a candidate twice);
        rejected: points a person rejected: never proposed again (see ``REJECTED_RADIUS``);
        model: a model already fitted on exactly these observations, to reuse; otherwise one
        is built (warm-started from ``warm_state``) and fitted.
        """
        if len(values) < self.min_observations():
            # too little data for the model (e.g. the initial design failed, or initial.n is 0): sample at random
            return Proposal(self.random(n, rng, used, rejected), "random")
        raw = np.asarray(values, dtype=float)
        fitted, fit_s, info = False, 0.0, {}
        if model is None:
            if len(raw) > LARGE_DATA and not self._said_large:  # a long silent first step otherwise (50,000 rows
                self._said_large = True  # of initial.data: 40 s per random-forest fit, twice for a batch of 2)
                log.warning("campaign=%s: model '%s' is fitted on all %d observations at every step (and refitted "
                            "with each point of a batch, as a fantasy), so each step takes a while", self.spec.name,
                            self.spec.model.kind, len(raw))
            t0 = time.perf_counter()
            model = self._model_call("to start", lambda: self.build_model(step, warm_state))
            X_obs = self.space.encode(list(observed))
            self._model_call(f"to fit {len(raw)} observations", lambda: model.fit(X_obs, self.warp(self.internal(raw))))
            self._check_predictions(model, X_obs[:5])
            self._check_predictions(model, self._probe_points, "at points it has not measured")
            self._check_predictions(model, self._probe_points[:1], "for a single point")  # scalars for one row
            fit_s = time.perf_counter() - t0
            fitted, info = True, dict(getattr(model, "fit_info", {}) or {})
            if hasattr(model, "constants"):  # physics-informed models: recorded with the snapshot
                info["constants"] = self._constants(model)
                info.update(self._at_bounds(model, info["constants"]))
            try:  # recorded with the snapshot, so `looplab status` shows it without refitting
                info["predicted_best"] = predicted_best(self, model, observed, raw)
            except Exception:  # a model that cannot predict at its own data must not stop the campaign
                info["predicted_best"] = None
        t0 = time.perf_counter()
        y = self.warp(self.internal(raw))
        if not len(y):  # a model that predicts before any observation: its best predicted mean is the incumbent
            best = self._predicted_incumbent(model, rng)
        elif self.raw_acquisition:
            best = float(np.min(np.abs(raw - self.target)))
        else:
            best = float(np.max(y))
        if getattr(self.acquisition, "incumbent", "observed") == "model" and not self.raw_acquisition and len(y):
            best = float(np.max(model.predict(self.space.encode(list(observed)))[0]))
        pending_X = self.space.encode(list(busy)) if busy else None
        checked = self.acquisition if isinstance(self.acquisition, CheckedAcquisition) else None
        if checked is not None:
            checked.scored = False
        if self.space.is_pool:
            available = np.ones(self.space.size, dtype=bool)
            for p in [*used, *rejected]:
                i = self.space.index_of(p)
                if i is not None:
                    available[i] = False
            if not available.any():
                return Proposal([], "model", fit_s, 0.0, model, fitted, info)
            idx = self._model_call("while choosing the next experiments", lambda: select_from_pool(
                model, self.acquisition, self.space.X, n, best=best, available=available, pending_X=pending_X,
                raw=self.raw_acquisition, progress=self._progress()), role="acquisition")
            params = [dict(self.space.candidates[i]) for i in idx]
        else:
            n_raw = min(4096, max(1024, 256 * self.space.dim))
            raw_candidates = self.space.encode(self.space.sample(n_raw, "sobol", rng))
            A, b = self.space.linear_equalities()
            onehot = tuple((g.columns.start, g.columns.stop) for g in self.space.column_groups()
                           if g.kind == "categorical")
            geo = Geometry(mask=self.space.refine_mask(), A_eq=A, b_eq=b, onehot=onehot)
            X = self._model_call("while choosing the next experiments", lambda: select_continuous(
                model, self.acquisition, raw_candidates, n, best=best, geometry=geo, pending_X=pending_X,
                raw=self.raw_acquisition, excluded=self.near_rejected(rejected), progress=self._progress()),
                role="acquisition")
            params = self.space.decode(X)
            if self._realise is not None or self.spec.acquisition.min_distance_value > 0:
                params = self._model_call("while choosing the next experiments", lambda: self._realisable(
                    params, raw_candidates, used, n, model, best, pending_X, rng), role="acquisition")
        if checked is not None and params:
            checked.check_chosen()
        return Proposal(params, "model", fit_s, time.perf_counter() - t0, model, fitted, info)

    def _progress(self) -> Callable[[int, int], None]:
        """A batch's progress callback: once a batch has taken SLOW_BATCH seconds, it says (once) how far it is,
        so that a large batch (a 1,000-well plate) is not minutes of silence. No time left is promised: each
        point takes longer than the one before (every chosen point joins the model as a fantasy)."""
        start, said = time.monotonic(), []

        def tick(done: int, q: int) -> None:
            elapsed = time.monotonic() - start
            if not said and done < q and elapsed > SLOW_BATCH:
                said.append(True)
                log.warning("campaign=%s choosing a batch of %d experiments on the model takes a while: %d of %d "
                            "chosen after %.0f s, each next one slower", self.spec.name, q, done, q, elapsed)
        return tick

    def _model_call(self, what: str, call: Any, role: str = "model") -> Any:
        """``call()`` of the model plugin (or the acquisition's, ``role``; see errors.plugin_call): its
        exception is one line saying the campaign is kept (it used to end the run in a traceback)."""
        who = (f"model.kind: model '{self.spec.model.kind}'" if role == "model" else
               f"acquisition.kind: acquisition '{self.spec.acquisition.kind}' (with model '{self.spec.model.kind}')")
        return plugin_call(call, who, what, "the campaign and its results are kept: fix the plugin, or choose "
                                            "another kind, and run again")

    def model_state(self, model: Any) -> dict:
        """The model's ``get_state()`` (its hyperparameters, stored with every step), checked: a dict that JSON
        can hold; {} for a model without one. Otherwise one line naming the model (it was a traceback)."""
        if not hasattr(model, "get_state"):
            return {}
        state = self._model_call("to give its state (get_state)", model.get_state)
        problem = "" if isinstance(state, dict) else f"returned {type(state).__name__}, not a dict"
        if not problem:
            def arrays(o: Any) -> Any:  # numpy arrays and scalars are stored as lists and numbers (DESIGN.md)
                if hasattr(o, "tolist"):
                    return o.tolist()
                raise TypeError(f"a {type(o).__name__} is neither JSON nor an array")

            try:
                json.dumps(state, default=arrays)
            except (TypeError, ValueError) as exc:
                problem = f"returned what JSON cannot hold ({exc}); give numbers, text, lists and arrays"
        if problem:
            raise LooplabError(f"model.kind: model '{self.spec.model.kind}' get_state() {problem}; the campaign and "
                               "its results are kept: fix the plugin, or choose another kind, and run again")
        return state

    def _constants(self, model: Any) -> dict:
        """A physics-informed model's ``constants()`` as {name: [mean, sd]}; one line naming the model when it is
        not {name: (mean, sd)} of numbers."""
        got = self._model_call("to give its learned constants (constants)", model.constants)
        try:
            out = {str(k): [float(m), float(sd)] for k, (m, sd) in dict(got).items()}
            bad = next((k for k, pair in out.items() if not all(map(math.isfinite, pair))), None)
            if bad is not None:  # stored, nan would be null, which status, report and export cannot show
                raise ValueError(f"{bad} is {out[bad][0]:g} ± {out[bad][1]:g}, not finite")
            return out
        except (TypeError, ValueError, OverflowError) as exc:
            raise LooplabError(f"model.kind: model '{self.spec.model.kind}' constants() must return {{name: (mean, "
                               f"sd)}} with numbers ({type(exc).__name__}: {exc}); the campaign and its results are "
                               "kept: fix the plugin and run again") from None

    def _at_bounds(self, model: Any, constants: dict) -> dict:
        """{"at_bound": {name: "low 1e-05" or "high 1"}} for a learned constant within 1% of one of its bounds
        (a physics plugin's Constant low/high): the data may want a value beyond it, and the value is then
        the bound's, not a measurement's. Logged once per campaign and constant; {} when none is."""
        bounds = getattr(getattr(model, "phys", None), "constants", None)
        if not isinstance(bounds, dict):
            return {}
        at = {}
        for name, (m, _) in constants.items():
            b = bounds.get(name)
            for side, edge in (("low", getattr(b, "low", None)), ("high", getattr(b, "high", None))):
                if edge and edge > 0 and 0 < m < math.inf and abs(math.log(m) - math.log(edge)) < 0.01:
                    at[name] = f"{side} {edge:g}"
                    if (name, side) not in self._warned_bounds:
                        self._warned_bounds.add((name, side))
                        log.warning("campaign=%s the learned constant %s = %.6g sits at its %s bound "
                                    "(model.params.constants.%s.%s = %g): the data may want a value beyond it; "
                                    "widen the bound if that is physically possible", self.spec.name, name, m,
                                    "lower" if side == "low" else "upper", name, side, edge)
        return {"at_bound": at} if at else {}

    def _check_predictions(self, model: Any, X: np.ndarray, where: str = "at its own observations") -> None:
        """A fitted model's predictions at a few points (observed ones, and ``_probe_points``) must be a mean
        and a variance per point, 1-D arrays, finite, the variance not below zero; otherwise the acquisition
        would rank nonsense silently (nan away from the data), or fail naming itself (an (n, 1) column)."""
        if not len(X):
            return
        out = self._model_call(f"to predict {where}", lambda: model.predict(X))
        problem = ""
        try:
            mean, var = out
            shapes = (np.shape(mean), np.shape(var))
            mean = np.asarray(mean, dtype=float).reshape(-1)
            var = np.asarray(var, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            problem = f"returned {type(out).__name__}, not a pair (mean, variance) of arrays"
        else:
            if mean.shape != (len(X),) or var.shape != (len(X),):
                problem = (f"returned {mean.size} mean(s) and {var.size} variance(s) for {len(X)} point(s); "
                           "predict(X) gives one of each per row of X")
            elif shapes != ((len(X),), (len(X),)):
                problem = (f"returned a mean of shape {shapes[0]} and a variance of shape {shapes[1]} for "
                           f"{len(X)} point(s); predict(X) gives two 1-D arrays of shape ({len(X)},)")
            elif not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
                problem = f"returned a mean or variance that is not finite (nan or inf) {where}"
            elif np.any(var < -1e-9 * max(1.0, float(np.max(np.abs(var))))):
                problem = f"returned a negative variance ({float(np.min(var)):g}) {where}"
        if problem:
            raise LooplabError(f"model.kind: model '{self.spec.model.kind}' predict(X) {problem}; the campaign and "
                               "its results are kept: fix the model, or choose another kind, and run again")

    @functools.cached_property
    def _probe_points(self) -> np.ndarray:
        """Five fixed points of the space, encoded, where a fitted model's predictions are checked besides its
        observations: pool candidates spread over the pool, or points drawn with a fixed seed (the campaign's
        own random stream is not touched, so the proposals stay what they were); made once per proposer."""
        if self.space.is_pool:
            return self.space.X[np.unique(np.linspace(0, self.space.size - 1, 5).astype(int))]
        return self.space.encode(self.space.sample(5, "random", np.random.default_rng(0)))

    def _realisable(self, params: list[Params], raw_candidates: np.ndarray, used: Sequence[Params], n: int,
                    model: Any, best: float, pending_X: np.ndarray | None, rng: np.random.Generator) -> list[Params]:
        """The proposals, realised by the oracle's hook; one whose realised point is already in the store (or
        earlier in the batch), or closer to one than ``acquisition.min_distance`` in every [0, 1]-scaled input,
        is replaced by the best of the candidates that realise to new points: the raw candidates, realised and
        de-duplicated, scored as a pool (kriging believer over the kept proposals)."""
        taken = _Seen(self, used=used)
        kept = self._fresh(params, taken)
        if len(kept) >= n:
            return kept[:n]
        pool = self._fresh(self.space.decode(raw_candidates), taken.copy())
        if pool:
            busy = [x for x in (pending_X, self.space.encode(kept) if kept else None) if x is not None]
            idx = select_from_pool(model, self.acquisition, self.space.encode(pool), n - len(kept), best=best,
                                   pending_X=np.vstack(busy) if busy else None, raw=self.raw_acquisition)
            kept += self._fresh([pool[i] for i in idx], taken)
        if len(kept) < n:
            kept += self._fresh_random(n - len(kept), rng, taken)
        return kept


class CheckedAcquisition:
    """A plugin acquisition whose scores are checked: one number per candidate, never nan or +inf (-inf, a
    candidate ruled out, is allowed). Otherwise one line naming it: nan scores used to be ranked silently."""

    def __init__(self, inner: Any, kind: str):
        self._inner, self._kind = inner, kind
        self.scored = False  # a score above -inf since the proposer last reset it: some candidate was not ruled out

    def __getattr__(self, name: str) -> Any:  # uses_raw_objective, incumbent, params...
        return getattr(self._inner, name)

    def __call__(self, mean: np.ndarray, variance: np.ndarray, *, best: float) -> np.ndarray:
        scores = self._inner(mean, variance, best=best)
        n = int(np.size(mean))
        try:
            out = np.asarray(scores, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            out = None
        problem = ("returned " + type(scores).__name__ + ", not an array of numbers" if out is None else
                   f"returned {out.size} score(s) for {n} candidate(s); give one per candidate" if out.size != n else
                   "returned nan or +inf scores" if np.isnan(out).any() or np.isposinf(out).any() else "")
        if problem:
            raise LooplabError(f"acquisition.kind: acquisition '{self._kind}' {problem}; the campaign and its "
                               "results are kept: fix the plugin, or choose another kind, and run again")
        self.scored = self.scored or bool(np.any(out > -np.inf))
        return out

    def check_chosen(self) -> None:
        """After a step's choice: if every score the plugin gave was -inf, it ruled out every candidate, and
        what was proposed is nobody's choice (it was proposed silently, marked as the model's)."""
        if not self.scored:
            raise LooplabError(f"acquisition.kind: acquisition '{self._kind}' scored every candidate -inf (ruled "
                               "out), so none is its choice; the campaign and its results are kept: fix the plugin "
                               "(or end the campaign: looplab stop NAME), and run again")


class _Seen:
    """The points a proposal must not repeat: realised params already in the store or earlier in the batch,
    equal (``Proposer.key``) or, with ``acquisition.min_distance`` d > 0, within d of one in every encoded
    column (each in [0, 1]; a categorical input's one-hot columns therefore differ by 1 across levels)."""

    def __init__(self, proposer: Proposer, *, used: Sequence[Params] = (), keys: set[tuple] | None = None):
        self.proposer = proposer
        self.tol = float(proposer.spec.acquisition.min_distance_value)
        self.keys: set[tuple] = set(keys or ())
        self.X = np.zeros((0, proposer.space.dim))
        realised = [proposer.realise(p) for p in used]
        for r in realised:
            self.keys.add(proposer.key(r))
        if self.tol > 0 and realised:
            self.X = proposer.space.encode(realised)

    def copy(self) -> "_Seen":
        other = _Seen(self.proposer, keys=self.keys)
        other.X = self.X.copy()
        return other

    def new(self, r: Params) -> bool:
        if self.proposer.key(r) in self.keys:
            return False
        if self.tol <= 0 or not len(self.X):
            return True
        x = self.proposer.space.encode([r])[0]
        return bool(np.min(np.max(np.abs(self.X - x), axis=1)) >= self.tol)

    def add(self, r: Params) -> None:
        self.keys.add(self.proposer.key(r))
        if self.tol > 0:
            self.X = np.vstack([self.X, self.proposer.space.encode([r])])
