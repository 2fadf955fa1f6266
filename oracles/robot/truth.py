"""What the mock robot "measures": the noiseless ground truth of an experiment's params.

Built from the ``ground_truth:`` block of the robot config (see config.py):
an analytic test function, an emulator fitted to a CSV dataset, or Newton's law
of cooling. ``evaluate(params)`` raises :class:`InvalidParams` (naming the
parameter) when the params do not fit the ground truth, or when the ground truth
cannot be computed there (a value so large that it overflows); the robot then
fails that job with the reason instead of running it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..functions import FUNCTIONS
from .config import CoolingTruth, EmulatorTruth, FunctionTruth


class InvalidParams(ValueError):
    """The experiment's params do not fit the robot's ground truth."""


def _number(params: dict[str, Any], name: str, expected: list[str]) -> float:
    if name not in params:
        raise InvalidParams(f"missing parameter '{name}' (this robot's ground truth takes {', '.join(expected)}; "
                            f"got {', '.join(map(str, params)) or 'none'})")
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParams(f"parameter '{name}' must be a number (got {_short(value)})")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the range of a float (> 1.8e308)
        raise InvalidParams(f"parameter '{name}' is too large for a number (an integer of "
                            f"{len(str(abs(value)))} digits)") from None
    if not math.isfinite(value):
        raise InvalidParams(f"parameter '{name}' must be finite (got {value})")
    return value


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Truth:
    """Callable ground truth: ``evaluate(params) -> float``; ``description`` for /health.

    Subclasses implement ``_value``; ``evaluate`` turns an arithmetic failure there (an overflow, or a
    model that refuses an input too large for it) into InvalidParams, so the job fails with the reason.
    """

    parameters: list[str]
    description: str

    def evaluate(self, params: dict[str, Any]) -> float:
        try:
            with np.errstate(over="raise", invalid="raise"):  # numpy overflow: an error, not a silent inf
                value = self._value(params)  # first: a missing parameter is said before an unknown one
        except InvalidParams:
            raise
        except (ArithmeticError, ValueError) as exc:
            value, why = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
        else:  # Python's floats overflow silently (1e308 - -1e308 is inf): the job would read "detector saturated"
            why = None if math.isfinite(value) else f"it is {value}"
        if why is not None:
            given = ", ".join(f"{n}={_short(params.get(n), 30)}" for n in self.parameters if n in params)
            raise InvalidParams(f"the ground truth cannot be computed at {given} ({why}); keep the parameters "
                                "within the ranges the lab supports")
        unknown = [str(k) for k in params if k not in self.parameters]
        if unknown:  # a campaign input the instrument never sets: its best value would be reported as if it mattered
            raise InvalidParams(f"unknown parameter(s) {', '.join(map(repr, unknown))}: this robot's ground truth "
                                f"takes {', '.join(self.parameters)} and would ignore the rest; remove them from the "
                                "campaign's space (or name the robot's parameters in its config)")
        return value

    def _value(self, params: dict[str, Any]) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class FunctionGroundTruth(Truth):
    def __init__(self, spec: FunctionTruth):
        self.fn = FUNCTIONS[spec.function].fn
        self.parameters = list(spec.parameters or [])
        self.description = spec.describe()

    def _value(self, params: dict[str, Any]) -> float:
        x = np.array([_number(params, n, self.parameters) for n in self.parameters])
        return float(self.fn(x))


class CoolingGroundTruth(Truth):
    def __init__(self, spec: CoolingTruth):
        self.spec = spec
        self.parameters = spec.parameters
        self.description = spec.describe()

    def _value(self, params: dict[str, Any]) -> float:
        s = self.spec
        t = _number(params, s.time_param, self.parameters)
        if t < 0:
            raise InvalidParams(f"parameter '{s.time_param}' is a time and must be >= 0 (got {t:g})")
        T0 = _number(params, s.T0_param, self.parameters) if s.T0_param and s.T0_param in params else s.T0
        env = _number(params, s.T_env_param, self.parameters) if s.T_env_param and s.T_env_param in params \
            else s.T_env
        return float(env + (T0 - env) * math.exp(-s.k * t))


class EmulatorGroundTruth(Truth):
    """A scikit-learn regressor trained on the CSV at start-up (duplicated inputs are fine)."""

    def __init__(self, spec: EmulatorTruth, *, seed: int = 0):
        import csv

        self.parameters = list(spec.parameters or [])
        self.description = spec.describe()
        inputs, output = list(spec.inputs or []), spec.output
        X, y = [], []
        with open(spec.path, newline="", encoding="utf-8") as fh:
            for line, raw in enumerate(csv.DictReader(fh), start=2):
                row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
                try:
                    xs = [float(row[c]) for c in inputs]
                    target = float(row[output])
                except (KeyError, ValueError):
                    bad = next((c for c in [*inputs, output] if not _is_float(row.get(c, ""))), "?")
                    raise ValueError(f"ground_truth.path: {spec.path} line {line}: column '{bad}' is not a number "
                                     f"(got {row.get(bad)!r}); the emulator needs numeric columns") from None
                if all(map(math.isfinite, xs)) and math.isfinite(target):
                    X.append(xs)
                    y.append(target)
        if len(X) < 3:
            raise ValueError(f"ground_truth.path: {spec.path} has {len(X)} usable row(s); the emulator needs at least 3")
        self.X, self.y = np.asarray(X), np.asarray(y)
        self.model = _fit(spec.model, self.X, self.y, seed)

    def _value(self, params: dict[str, Any]) -> float:
        x = np.array([[_number(params, n, self.parameters) for n in self.parameters]])
        return float(self.model.predict(x)[0])


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _fit(kind: str, X: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "random-forest":
        from sklearn.ensemble import RandomForestRegressor

        model = RandomForestRegressor(n_estimators=200, min_samples_leaf=1, random_state=seed, n_jobs=1)
    else:
        import warnings

        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0) * Matern(length_scale=np.ones(X.shape[1]), nu=2.5) + WhiteKernel(1e-2)
        model = GaussianProcessRegressor(kernel=kernel, normalize_y=True, n_restarts_optimizer=0, random_state=seed)
        warnings.filterwarnings("ignore", module="sklearn.gaussian_process")
    pipe = make_pipeline(StandardScaler(), model)
    pipe.fit(X, y)
    return pipe


def build_truth(spec: Any, *, seed: int = 0) -> Truth:
    if isinstance(spec, FunctionTruth):
        return FunctionGroundTruth(spec)
    if isinstance(spec, CoolingTruth):
        return CoolingGroundTruth(spec)
    if isinstance(spec, EmulatorTruth):
        return EmulatorGroundTruth(spec, seed=seed)
    raise TypeError(f"unknown ground truth {spec!r}")  # pragma: no cover - the config's union is closed
