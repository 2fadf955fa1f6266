"""The Oracle protocol, the records it exchanges, and a base class for synchronous plugins.

An oracle performs experiments. The engine talks to it through three calls::

    submit(experiments)   fast; idempotent per experiment id (submitting an id again is a no-op)
    poll() -> results     never blocks; returns each finished experiment's Result once
    cancel(experiment_id) best effort

A plugin whose experiment is a plain function call subclasses
:class:`SyncOracle` and implements ``evaluate(params) -> float | dict``; the
base class provides submit/poll/cancel, validates what ``evaluate`` returns and
turns exceptions into failed results (the campaign goes on).

An oracle that can only realise some points (whole atoms in a supercell, a
dispenser's smallest step) may say so with a classmethod
``realise(config, params) -> params``: ``config`` is its validated ``Config``
(None for an oracle without one), ``params`` one proposal; it returns the params
the experiment will actually measure, and must be idempotent. The proposer writes
the realised params to the store and never proposes a point whose realised params
equal those of an experiment already in the store (measured, in flight or failed).

This package never imports ``orchestrator``: a plugin author needs only this.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Sequence, runtime_checkable

Status = Literal["succeeded", "failed", "timed_out", "cancelled"]


@dataclass(frozen=True)
class Experiment:
    """One experiment to perform: a stable id and its parameters."""

    id: str
    params: dict[str, Any]
    campaign: str = ""


@dataclass(frozen=True)
class Result:
    """What an oracle reports for a finished experiment.

    ``value`` is the objective (None unless succeeded); ``outputs`` holds every
    other measured quantity and provenance (JSON-serialisable); ``error`` says
    why an experiment failed.
    """

    experiment_id: str
    status: Status
    value: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class OracleContext:
    """What the engine tells an oracle about the campaign it serves."""

    campaign: str
    base_dir: Path
    objective: str
    inputs: tuple[str, ...]
    seed: int = 0
    pool_path: Path | None = None
    pool_where: dict | None = None  # the pool's row filter ({column: value or [values]}), if any
    pool_categorical: tuple[str, ...] = ()  # the pool's declared categorical inputs: levels as written (text)


@runtime_checkable
class Oracle(Protocol):
    def submit(self, experiments: Sequence[Experiment]) -> None: ...

    def poll(self) -> Sequence[Result]: ...

    def cancel(self, experiment_id: str) -> None: ...


@dataclass(frozen=True)
class ConfigProblem:
    """A problem with an oracle's params, found by its ``check_config`` before any run.

    ``path`` is relative to the oracle's ``params:`` block (e.g. ``column``).
    """

    path: str
    message: str


def to_result(experiment_id: str, returned: Any, objective: str) -> Result:
    """Validate what ``evaluate`` returned and make a Result of it.

    Accepted: a finite real number, or a dict holding a finite real number under
    the objective's name (other keys are kept as outputs, and must be JSON-like).
    Anything else is a failed result saying what was wrong.
    """
    outputs: dict[str, Any] = {}
    value = returned
    if isinstance(returned, dict):
        if objective not in returned:
            return Result(experiment_id, "failed",
                          error=f"evaluate returned a dict without the objective '{objective}' "
                                f"(keys: {', '.join(map(str, returned)) or 'none'})")
        value = returned[objective]
        outputs = {k: v for k, v in returned.items() if k != objective}  # keys made text by checked()
    boolean = isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b"  # numpy's too
    if boolean or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        return Result(experiment_id, "failed",
                      error=f"evaluate returned {type(value).__name__} ({_short(value)}); expected a real number")
    try:
        number = float(value)
    except OverflowError:  # an int (10**400) or a Fraction beyond a float's range
        number = math.inf
    except (TypeError, ValueError):
        return Result(experiment_id, "failed", error=f"evaluate returned {_short(value)}; expected a real number")
    except Exception as exc:  # noqa: BLE001 - the object's own __float__ failed: the experiment's failure
        return Result(experiment_id, "failed", error=f"evaluate returned {_short(value)}, whose float() raised "
                                                     f"{type(exc).__name__}: {exc}; expected a real number")
    if math.isinf(number) and _finite_number(value):  # 10**400, Decimal("1e400"): a number, but not a float's
        return Result(experiment_id, "failed", error=f"evaluate returned {_short(value)}, too large for a float "
                                                     "(beyond +/-1.8e308); report the objective in other units "
                                                     "(or its logarithm)")
    if not math.isfinite(number):
        return Result(experiment_id, "failed", error=f"evaluate returned a non-finite value ({number})")
    if number == 0.0 and _nonzero(value):  # Decimal("1e-400") would be stored as 0
        return Result(experiment_id, "failed", error=f"evaluate returned {_short(value)}, too small for a float (it "
                                                     "would be stored as 0); report the objective in other units "
                                                     "(or its logarithm)")
    return checked(Result(experiment_id, "succeeded", value=number, outputs=outputs))


def _finite_number(value: Any) -> bool:
    """Whether ``value`` (whose float overflowed) is itself a finite number: an int, a Fraction, a finite Decimal."""
    try:
        finite = getattr(value, "is_finite", None)
        return bool(finite()) if callable(finite) else isinstance(value, numbers.Rational)
    except Exception:  # noqa: BLE001 - an object that cannot say: taken as the infinity it converted to
        return False


def _nonzero(value: Any) -> bool:
    try:
        return bool(value != 0)
    except Exception:  # noqa: BLE001 - an object that cannot say: taken as the 0 it converted to
        return False


def json_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    """``outputs`` as JSON types, as the store keeps them: keys as text; tuples, lists and numpy arrays as lists;
    numpy scalars as numbers; NaN and infinities as null (missing: JSON has no NaN, and PostgreSQL refuses it);
    an int beyond a float's range, and anything else, as its text. ValueError naming the key of a circular
    reference, of nesting deeper than 50, or of an object whose conversion raises."""
    def clean(v: Any, where: str, depth: int, seen: frozenset) -> Any:
        try:
            return convert(v, where, depth, seen)
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - an object whose tolist, str or keys raise
            raise ValueError(f"'{where}' could not be read ({type(exc).__name__}: {exc})") from None

    def convert(v: Any, where: str, depth: int, seen: frozenset) -> Any:
        if depth > 50:
            raise ValueError(f"'{where}' nests deeper than 50 levels")
        if isinstance(v, (dict, list, tuple)):
            if id(v) in seen:
                raise ValueError(f"'{where}' holds itself (a circular reference)")
            seen = seen | {id(v)}
            if isinstance(v, dict):
                return {str(k): clean(x, f"{where}.{k}", depth + 1, seen) for k, x in _text_keys(v, f"'{where}'")}
            return [clean(x, f"{where}[{i}]", depth + 1, seen) for i, x in enumerate(v)]
        if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):  # numpy scalars and arrays
            return clean(v.tolist(), where, depth + 1, seen)  # + 1: a tolist() that returns itself ends
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, int) and not isinstance(v, bool) and abs(v).bit_length() > 1024:  # beyond a float
            return _short(v)  # as text: an int of thousands of digits cannot even be written (int_max_str_digits)
        if v is None or isinstance(v, (bool, int, str)):
            return v
        return str(v)

    return {str(k): clean(v, str(k), 0, frozenset()) for k, v in _text_keys(dict(outputs or {}), "the outputs")}


def _text_keys(d: dict, where: str) -> list:
    """``d``'s items; ValueError when two keys are the same as text ({1: a, "1": b}: one would silently replace
    the other when the keys become JSON's text)."""
    seen: dict[str, Any] = {}
    for k in d:
        if seen.setdefault(str(k), k) is not k:
            raise ValueError(f"two keys of {where} are the same as text ({seen[str(k)]!r} and {k!r})")
    return list(d.items())


def checked(result: Result) -> Result:
    """``result`` as the store can keep it: outputs as JSON (``json_outputs``) and a value a model can take
    (``within_range``); a failed result saying why when its outputs cannot be JSON. The engine passes every
    oracle's results through it (a plugin's, a robot's)."""
    try:
        outputs = json_outputs(result.outputs)
    except ValueError as exc:
        return Result(result.experiment_id, "failed", error=f"the outputs are not JSON: {exc}; return numbers, text, "
                                                            "lists and dicts of them")
    return within_range(Result(result.experiment_id, result.status, result.value, outputs, result.error))


# objective values beyond this magnitude cannot be modelled: their variance (the square) overflows a float
MAX_OBJECTIVE = 1e150


def value_range_problem(value: float) -> str:
    """Why a finite objective value cannot be recorded ('' if it can)."""
    if abs(value) > MAX_OBJECTIVE:
        return (f"the value {value:g} is beyond +/-{MAX_OBJECTIVE:g}, too large to model (its square overflows a "
                "float); report the objective in other units (or its logarithm)")
    return ""


def within_range(result: Result) -> Result:
    """``result``, or a failed one saying why when its value is too large to model."""
    if result.status == "succeeded" and result.value is not None:
        why = value_range_problem(float(result.value))
        if why:
            return Result(result.experiment_id, "failed", outputs=dict(result.outputs or {}), error=why)
    return result


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python turns into text (int_max_str_digits)
        return f"an int of more than {sys.get_int_max_str_digits()} digits"
    except Exception as exc:  # noqa: BLE001 - an object whose own repr raises
        return f"a {type(value).__name__} whose repr raised {type(exc).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def raised_at(exc: BaseException) -> str:
    """' at FILE:LINE' of the innermost frame that raised ``exc`` ('' without a traceback): where a plugin's
    failure happened, for one-line errors."""
    tb = traceback.extract_tb(exc.__traceback__)
    return f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""


def run_experiment(oracle: "SyncOracle", experiment: Experiment) -> Result:
    """Run one experiment through ``oracle.evaluate_experiment`` and make a Result of it.

    Exceptions and invalid return values become failed results with the reason;
    ``outputs['wall_seconds']`` records how long the call took. Executors (the
    engine's process pool, a Dask worker) and :class:`SyncOracle` itself all
    call this, so an experiment fails the same way wherever it runs.
    """
    t0 = time.perf_counter()
    try:
        returned = oracle.evaluate_experiment(experiment)
    except (Exception, SystemExit) as exc:  # the plugin's failure is the experiment's, not the campaign's (a
        # sys.exit() in evaluate used to end the whole run with that exit code, silently)
        what = f"evaluate called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        result = Result(experiment.id, "failed", error=f"{what}{raised_at(exc)}")
    else:
        try:
            result = to_result(experiment.id, returned, getattr(oracle, "objective", "value"))
        except Exception as exc:  # noqa: BLE001 - what evaluate returned could not even be inspected
            result = Result(experiment.id, "failed", error=f"evaluate returned what could not be read "
                                                           f"({type(exc).__name__}: {exc})")
    outputs = dict(result.outputs)
    outputs.setdefault("wall_seconds", round(time.perf_counter() - t0, 6))
    return Result(result.experiment_id, result.status, result.value, outputs, result.error)


class SyncOracle:
    """Base class for an oracle whose experiment is a function call: implement ``evaluate``.

    ``evaluate(params)`` returns the objective (a number) or a dict holding it
    and any other outputs. An oracle that needs the experiment's id (to seed a
    random choice, or to name a file) overrides ``evaluate_experiment`` instead.
    Exceptions and invalid return values become failed results with the reason.

    Where it runs: the engine runs synchronous oracles in an executor chosen by
    the campaign's ``executor:`` block (a local process pool by default, or a
    Dask cluster). Each worker builds its own instance from the plugin's
    config, so an instance must not rely on state set up by another process.
    ``default_executor`` is what a campaign without an ``executor:`` block
    gets; cheap oracles (a table lookup, an analytic function) say ``inline``,
    meaning: evaluate in the engine's process at submit time. ``default_timeout``
    (seconds) applies when the campaign sets no ``executor.timeout``.

    Used on its own (``oracle.submit`` / ``oracle.poll``), the base class
    evaluates in the calling process, which is what tests and notebooks want.
    """

    objective: str = "value"
    default_executor: ClassVar[str] = "local"
    default_timeout: ClassVar[float | None] = None  # seconds, when the campaign's executor.timeout is not set

    def __init__(self) -> None:
        self._done: dict[str, Result] = {}
        self._delivered: set[str] = set()

    def _ensure_init(self) -> None:
        if not hasattr(self, "_done"):
            SyncOracle.__init__(self)

    def evaluate(self, params: dict[str, Any]) -> float | dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate_experiment(self, experiment: Experiment) -> float | dict[str, Any]:
        """Evaluate one experiment; the default calls ``evaluate(params)``."""
        return self.evaluate(dict(experiment.params))

    def submit(self, experiments: Sequence[Experiment]) -> None:
        self._ensure_init()
        for exp in experiments:
            if exp.id in self._done:
                continue  # idempotent
            self._done[exp.id] = run_experiment(self, exp)

    def poll(self) -> list[Result]:
        self._ensure_init()
        fresh = [r for i, r in self._done.items() if i not in self._delivered]
        self._delivered.update(r.experiment_id for r in fresh)
        return fresh

    def cancel(self, experiment_id: str) -> None:
        self._ensure_init()
        if experiment_id not in self._done:
            self._done[experiment_id] = Result(experiment_id, "cancelled", error="cancelled before it ran")
