"""Physics plugins: a known law with unknown constants, for the ``pinn`` and ``physics-gp`` models.

A physics plugin is a class (entry-point group ``looplab.physics``, or an import path
``package.module:ClassName``) that declares

- ``inputs``: the names of its independent variables (e.g. ``("t", "T_env")``), mapped to
  campaign parameters (or fixed values) by the model's ``inputs:`` param;
- ``output``: the name of the measured quantity (the campaign's objective, e.g. ``"T"``);
- ``constants``: the unknown constants, ``{name: Constant(low, high)}``; their prior is
  log-uniform between the bounds, and a fitted value always stays inside them;
- ``derivatives``: the inputs whose first derivative of the output the residual needs;
- ``residual(x, y, dy, c) -> tensor [N]``: zero where the law holds, written with TensorFlow
  ops. ``x`` maps each input name to a tensor [N], ``y`` is the output [N], ``dy`` maps each
  name in ``derivatives`` to d output / d input [N] (taken with ``tf.GradientTape``), ``c``
  maps each constant name to a scalar tensor. All in physical units;
- optionally ``conditions(x, c) -> [(x0, y0), ...]``: initial or boundary conditions, each
  the inputs [N] where the output is known and its value there [N] (``x`` are collocation
  points the condition may take its other inputs from);
- optionally ``solution(x, c) -> array [N]``: the closed-form solution in numpy (``x`` maps
  names to arrays [N], ``c`` names to floats). ``physics-gp`` fits the constants of the
  closed form by least squares when there is one.

Settings of the law that are known (an initial temperature, an initial concentration) are
the plugin's pydantic ``Config``, given as the model's ``settings:``; the plugin is built
with ``cls(**settings)``.

The PINN divides the residual by ``output scale / span of the first input in
``derivatives``, so a residual written in physical units has order one.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from oracles.base import MAX_OBJECTIVE

from ..errors import LooplabError, Problem

GROUP = "looplab.physics"
log = logging.getLogger("looplab.physics")


@dataclass(frozen=True)
class Constant:
    """An unknown physical constant: positive, between ``low`` and ``high`` (log-uniform prior)."""

    low: float
    high: float
    initial: float | None = None  # starting value; default the geometric mean of the bounds
    unit: str = ""

    @property
    def start(self) -> float:
        return float(self.initial) if self.initial is not None else math.sqrt(self.low * self.high)

    def prior_sd_log(self) -> float:
        """Standard deviation of log(value) under the log-uniform prior."""
        return (math.log(self.high) - math.log(self.low)) / math.sqrt(12.0)


class Physics:
    """Base class of physics plugins (see the module docstring); subclass and fill in."""

    inputs: tuple[str, ...] = ()
    output: str = "y"
    constants: dict[str, Constant] = {}
    derivatives: tuple[str, ...] = ()

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, **settings: Any):
        self.settings = settings

    def residual(self, x: dict, y: Any, dy: dict, c: dict) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def conditions(self, x: dict, c: dict) -> list[tuple[dict, Any]]:
        return []

    solution = None  # or a method solution(x, c) -> np.ndarray [N]

    @property
    def has_solution(self) -> bool:
        return callable(getattr(self, "solution", None))


# ----------------------------------------------------------------------------- built-ins


class NewtonCooling(Physics):
    """Newton's law of cooling: dT/dt = r (T_env - T), T(0) = T0; constant r (per unit of t)."""

    inputs = ("t", "T_env")
    output = "T"
    constants = {"r": Constant(1e-5, 1.0, unit="1/s")}
    derivatives = ("t",)

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        T0: float = Field(default=100.0, description="temperature at t = 0 (the sample is heated to it)")

    def __init__(self, *, T0: float = 100.0):
        super().__init__(T0=T0)
        self.T0 = float(T0)

    def residual(self, x, y, dy, c):
        return dy["t"] - c["r"] * (x["T_env"] - y)

    def conditions(self, x, c):
        import tensorflow as tf

        x0 = {"t": tf.zeros_like(x["t"]), "T_env": x["T_env"]}
        return [(x0, tf.fill(tf.shape(x["t"]), tf.constant(self.T0, x["t"].dtype)))]

    def solution(self, x, c):
        return x["T_env"] + (self.T0 - x["T_env"]) * np.exp(-c["r"] * x["t"])


class FirstOrderKinetics(Physics):
    """A -> B -> C, both first order: the yield of B, dB/dt = k1 A0 exp(-k1 t) - k2 B, B(0) = 0."""

    inputs = ("t",)
    output = "B"
    constants = {"k1": Constant(1e-4, 10.0, unit="1/s"), "k2": Constant(1e-4, 10.0, unit="1/s")}
    derivatives = ("t",)

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        A0: float = Field(default=1.0, gt=0, description="initial amount of A (1: B is a yield fraction)")

    def __init__(self, *, A0: float = 1.0):
        super().__init__(A0=A0)
        self.A0 = float(A0)

    def residual(self, x, y, dy, c):
        import tensorflow as tf

        return dy["t"] - c["k1"] * self.A0 * tf.exp(-c["k1"] * x["t"]) + c["k2"] * y

    def conditions(self, x, c):
        import tensorflow as tf

        return [({"t": tf.zeros_like(x["t"])}, tf.zeros_like(x["t"]))]

    def solution(self, x, c):
        t, k1, k2 = np.asarray(x["t"], dtype=float), float(c["k1"]), float(c["k2"])
        d = k2 - k1
        if abs(d) < 1e-9 * max(k1, k2):  # the limit k2 -> k1
            return self.A0 * k1 * t * np.exp(-k1 * t)
        # k1/(k2-k1) (e^{-k1 t} - e^{-k2 t}) = k1 e^{-min(k1,k2) t} (1 - e^{-|d| t}) / |d|: stable for small d,
        # and for k1 >> k2 at long times, where the form with e^{-k1 t} (1 - e^{-d t}) / d was 0 * inf = nan
        # (k1 = 5, k2 = 2e-4 beyond t = 71; fuzz round thirteen). For k1 < k2 it is the same expression.
        return self.A0 * k1 * np.exp(-min(k1, k2) * t) * -np.expm1(-abs(d) * t) / abs(d)


BUILTINS = {"newton-cooling": NewtonCooling, "first-order-kinetics": FirstOrderKinetics}


# ----------------------------------------------------------------------------- the models' params


class ConstantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    low: float | None = Field(default=None, gt=0)
    high: float | None = Field(default=None, gt=0)
    initial: float | None = Field(default=None, gt=0)


class PhysicsParams(BaseModel):
    """The physics block shared by ``pinn`` and ``physics-gp``."""

    model_config = ConfigDict(extra="forbid")
    physics: str = Field(description="a physics plugin: newton-cooling, first-order-kinetics, another name in the "
                                     "looplab.physics entry-point group, or an import path package.module:ClassName")
    settings: dict[str, Any] = Field(default_factory=dict, description="the physics plugin's known settings "
                                     "(e.g. T0 of newton-cooling)")
    inputs: dict[str, str | float] = Field(
        default_factory=dict, description="physics input -> campaign parameter name, or a fixed number; "
        "an input not listed is the campaign parameter of the same name")
    constants: dict[str, ConstantSpec] = Field(default_factory=dict, description="override a constant's bounds "
                                               "(low, high) or starting value (initial)")


def resolve(kind: str) -> type:
    """The physics class for ``kind``: a built-in, an installed entry point, or an import path."""
    from importlib.metadata import entry_points

    from .. import plugins
    from .tf_quiet import import_tensorflow

    if ":" in kind or kind not in BUILTINS:
        # a plugin module may import TensorFlow at its top (the README's example does): imported quietly first,
        # its start-up chatter does not reach the terminal (a physics model imports it anyway)
        import_tensorflow()
    if ":" in kind:
        return _physics_class(kind, plugins._import_path(kind))
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if kind in found:
        return _physics_class(kind, plugins._import_path(found[kind].value, installed=True))
    if kind in BUILTINS:  # also when the package's entry points are not installed (a source checkout)
        return BUILTINS[kind]
    import difflib

    names = sorted(set(BUILTINS) | set(found))
    close = difflib.get_close_matches(kind, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    raise plugins.PluginNotFound(f"unknown physics '{kind}'; {hint}installed: {', '.join(names)} "
                                 "(or give an import path package.module:ClassName)")


def _physics_class(kind: str, obj: Any) -> type:
    """``obj`` if it is a physics class (a class with ``residual``); it is not called before that is known
    (``physics: os:system`` used to be called with the plugin's settings)."""
    from .. import plugins

    if not isinstance(obj, type) or not callable(getattr(obj, "residual", None)):
        what = "a class without residual()" if isinstance(obj, type) else f"a {type(obj).__name__}, not a class"
        raise plugins.PluginNotFound(f"'{kind}' is {what}; a physics plugin is a class with residual(x, y, dy, c) "
                                     "(subclass orchestrator.models.physics.Physics)")
    return obj


def build(params: PhysicsParams) -> Physics:
    """The physics plugin of a model's params, with its settings validated and constant bounds applied."""
    cls = resolve(params.physics)
    config = getattr(cls, "Config", None)
    settings = dict(config.model_validate(params.settings)) if isinstance(config, type) and \
        issubclass(config, BaseModel) else dict(params.settings)
    phys = cls(**settings)
    consts = dict(phys.constants)
    for name, over in params.constants.items():
        base = consts[name]
        consts[name] = Constant(over.low or base.low, over.high or base.high,
                                over.initial if over.initial is not None else base.initial, base.unit)
    phys.constants = consts
    return phys


def plugin_files(params: PhysicsParams) -> dict[str, Path]:
    """The source file of a physics plugin that is not built in (an import path or an installed entry point),
    fingerprinted with the campaign's data files (``engine.data_files``): a law edited since the campaign
    started would put two laws' constants under one name (fuzz round sixteen). {} for a built-in law, and for
    a plugin whose class cannot be found (its own checks say so)."""
    import inspect

    try:
        cls = resolve(params.physics)
        source = inspect.getsourcefile(cls)
    except Exception:  # noqa: BLE001
        return {}
    if cls in BUILTINS.values() or not source or not Path(source).is_file():
        return {}
    return {"model.params.physics": Path(source)}


def module_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def check_params(params: PhysicsParams, spec: Any, base_dir: Any = None, residual_used: bool = True
                 ) -> list[Problem]:
    """Every problem with a physics block in a campaign: the plugin resolves, its settings validate, its
    inputs map to numeric campaign parameters, and its residual runs on a sample batch (and, where a PINN
    uses it, in a compiled TensorFlow function, as the PINN runs it)."""
    from pydantic import ValidationError

    from .. import plugins
    from ..config import _booleans_for_numbers

    try:
        cls = resolve(params.physics)
    except plugins.PluginNotFound as exc:
        return [Problem("physics", str(exc))]
    where = f"physics '{params.physics}' ({module_name(cls)})"
    config = getattr(cls, "Config", None)
    if isinstance(config, type) and issubclass(config, BaseModel):  # true or '100' for a number: pydantic reads 1, 100
        found = _booleans_for_numbers(config, params.settings, "settings")
        if found:
            return [Problem(p.path, f"{where}: {p.message}") for p in found]
    declared = _declared_problems(cls)  # what the class declares, before build() reads it
    if declared:
        return [Problem("physics", f"{where}: {declared}")]
    try:
        phys = bounded(lambda: build(params), "could not be built (its __init__ with the settings)")
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        return [Problem(f"settings.{loc}" if loc else "settings", f"{where}: {first['msg']}")]
    except KeyError as exc:
        return [Problem("constants", f"{where} has no constant {exc}; its constants: "
                                     f"{', '.join(getattr(cls, 'constants', {})) or 'none'}")]
    except PluginFailed as exc:
        return [Problem("physics", f"{where} {exc}")]
    except Exception as exc:
        return [Problem("physics", f"{where} could not be built: {type(exc).__name__}: {exc}")]
    declared = _declared_problems(phys)
    if declared:
        return [Problem("physics", f"{where}: {declared}")]
    problems: list[Problem] = []
    for name, c in phys.constants.items():
        if not (math.isfinite(c.low) and math.isfinite(c.high)):
            problems.append(Problem(f"constants.{name}", f"{where} declares bounds [{c.low:g}, {c.high:g}]; bounds "
                                                        f"must be finite: give them with constants: {{{name}: {{low: "
                                                        "..., high: ...}}"))
        elif not (0 < c.low < c.high):
            problems.append(Problem(f"constants.{name}", f"{where}: needs 0 < low < high (got low {c.low:g}, "
                                                        f"high {c.high:g})"))
        elif c.initial is not None and not c.low <= c.initial <= c.high:
            problems.append(Problem(f"constants.{name}.initial", f"{where}: {c.initial:g} is outside the constant's "
                                                                f"bounds [{c.low:g}, {c.high:g}]; start inside them, "
                                                                "or widen low/high"))
    for name in params.inputs:
        if name not in phys.inputs:
            problems.append(Problem(f"inputs.{name}", f"{where} has no input '{name}'; its inputs: "
                                                     f"{', '.join(phys.inputs)}"))
    ranges = {}
    numeric = _numeric_parameters(spec, base_dir)
    for name in phys.inputs:
        target = params.inputs.get(name, name)
        if isinstance(target, (int, float)) and residual_used and name in phys.derivatives:
            problems.append(Problem(f"inputs.{name}", f"{where}: its residual needs the derivative along '{name}', "
                                                     "which a fixed number does not have; map it to a numeric "
                                                     f"campaign parameter with inputs: {{{name}: PARAMETER}}"))
        elif isinstance(target, (int, float)):
            ranges[name] = (float(target), float(target))
        elif target in numeric:
            ranges[name] = numeric[target]
        else:
            problems.append(Problem(f"inputs.{name}", f"{where} needs its input '{name}' from a numeric campaign "
                                    f"parameter, but there is no parameter '{target}' (numeric parameters: "
                                    f"{', '.join(numeric) or 'none'}); map it with inputs: {{{name}: PARAMETER}} "
                                    "or fix it with inputs: {" + name + ": NUMBER}"))
    if problems:
        return problems
    try:
        err = bounded(lambda: sample_check(phys, ranges, compiled=residual_used),
                      "did not finish on a sample batch of 8 points")
    except PluginFailed as exc:
        err = f"its residual, conditions() or solution() {exc}"
    if err:
        problems.append(Problem("physics", f"{where}: {err}"))
    return problems


SAMPLE_SECONDS = 60.0  # what a plugin's build and sample batch may take in validate (a law takes milliseconds)


class PluginFailed(Exception):
    """A physics plugin that called sys.exit or did not return in time, during the checks."""


def bounded(call: Any, what: str) -> Any:
    """``call()`` in a thread of its own: its result or its exception; PluginFailed if it calls sys.exit, or
    has not returned within SAMPLE_SECONDS: validate must not hang on a plugin that sleeps, nor end without a
    word when one exits. The thread of one that does not return is left to finish on its own (a daemon: it
    does not keep the process alive)."""
    import threading

    limit = SAMPLE_SECONDS
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except SystemExit as exc:
            box["exit"] = exc
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True, name="looplab-physics-check")
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise PluginFailed(f"{what}: it had not returned after {limit:g} s (a law takes milliseconds); look for a "
                           "loop or a sleep in the plugin")
    if "exit" in box:
        raise PluginFailed(f"{what}: it called sys.exit({box['exit'].code!r}); a plugin must return or raise")
    if "error" in box:
        raise box["error"]
    return box.get("value")


AFTER_RUN = "the campaign and its results are kept: fix the plugin, or choose another physics, and run again"


class PhysicsPluginError(LooplabError):
    """A physics plugin that misbehaved during a run: it called sys.exit, or its closed form returned other than
    one real number per point. One line naming ``model.params.physics`` (exit 2, the campaign kept). Not a
    ValueError: the least-squares fit, which skips constants where the law raises, must not skip past it."""


def _shape(a: np.ndarray) -> str:
    return "a scalar (shape ())" if a.ndim == 0 else f"shape {a.shape}"


def _values(out: Any) -> np.ndarray:
    """A plugin's returned values as a float array, or as the complex array they are (the caller refuses it:
    ``np.asarray(out, dtype=float)`` dropped the imaginary parts with only numpy's ComplexWarning, and a law
    with a square root of a negative number ran to the end, fuzz round of the plugin values). TypeError or
    ValueError for what is not numbers."""
    a = np.asarray(out)
    return a if np.iscomplexobj(a) else np.asarray(a, dtype=float)


COMPLEX_FIX = ("complex values are refused even where the imaginary part is 0, as the law's output is real: check "
               "the law's domain (a square root or log of a negative number), or return np.real(...) where the law "
               "is real")


def closed_form(phys: Physics, x: dict, c: dict, n: int, who: str) -> np.ndarray:
    """``phys.solution(x, c)`` on ``n`` points, as float values [n], checked at every call: validate's sample
    batch sees only the first calls, and a closed form that returned one value for n points later was
    broadcast by numpy into a completed run (fuzz round nineteen). ``who``: "model.params.physics:
    physics 'NAME' solution()". The plugin's own exceptions pass through (the caller names them); sys.exit,
    values that are not numbers, complex values and a wrong shape raise PhysicsPluginError. A call that has not
    returned after SLOW_CALL_SECONDS is logged (``watch``)."""
    with watch(f"{who} on {n} point(s)"):
        try:
            out = phys.solution(x, c)
        except SystemExit as exc:  # it ended `looplab run` with exit 0 and no word (fuzz round nineteen)
            raise PhysicsPluginError(f"{who} called sys.exit({exc.code!r}) on {n} point(s); a plugin must return its "
                                     f"values or raise an exception; {AFTER_RUN}") from None
    try:
        s = _values(out)
    except (TypeError, ValueError):
        import reprlib

        raise PhysicsPluginError(f"{who} returned {type(out).__name__} {reprlib.repr(out)[:120]} for {n} point(s), "
                                 f"not numbers; it must return one finite value per point (an array of shape "
                                 f"({n},)); {AFTER_RUN}") from None
    if np.iscomplexobj(s):  # cast to real, it ran to the end with numpy's ComplexWarning only
        raise PhysicsPluginError(f"{who} returned complex values ({s.dtype}) for {n} point(s); it must return one "
                                 f"real finite value per point (floats, an array of shape ({n},)); {COMPLEX_FIX}; "
                                 f"{AFTER_RUN}")
    if s.shape != (n,):
        raise PhysicsPluginError(f"{who} returned {_shape(s)} for {n} point(s); it must return one finite value per "
                                 f"point (an array of shape ({n},)); {AFTER_RUN}")
    return s


SLOW_CALL_SECONDS = 30.0  # a plugin call during a run not returned after this long is logged (a law takes ms)
_watch_lock = threading.Lock()
_watched: dict[int, list] = {}  # key -> [start (monotonic), what, said]
_watch_keys = itertools.count()
_watcher: list[threading.Thread] = []


@contextmanager
def watch(what: str) -> Iterator[None]:
    """Log a warning once if the block (a plugin's call, ``what``) has not ended after SLOW_CALL_SECONDS: a plugin
    that blocked during a fit hung the run with no output (fuzz round nineteen). The call itself is
    not interrupted (it runs where it was called); one daemon thread, started at the first call, watches them
    all (a dict entry per call, no thread per call)."""
    key = next(_watch_keys)
    with _watch_lock:
        _watched[key] = [time.monotonic(), what, False]
        if not _watcher:
            thread = threading.Thread(target=_watch_loop, daemon=True, name="looplab-physics-watch")
            _watcher.append(thread)
            thread.start()
    try:
        yield
    finally:
        with _watch_lock:
            _watched.pop(key, None)


def _watch_loop() -> None:
    while True:
        time.sleep(min(1.0, max(SLOW_CALL_SECONDS / 4, 0.05)))
        now, limit = time.monotonic(), SLOW_CALL_SECONDS
        with _watch_lock:
            due = [e for e in _watched.values() if not e[2] and now - e[0] >= limit]
            for e in due:
                e[2] = True
        for start, what, _ in due:
            log.warning("%s has not returned after %.0f s (a law takes milliseconds); looplab keeps waiting for it: "
                        "look for a loop or a sleep in the plugin, or stop the run with Ctrl-C (its results so far "
                        "are kept)", what, now - start)


def _declared_problems(phys: Physics | type) -> str | None:
    """What is wrong with what a plugin declares: its inputs and derivatives (tuples of names, each non-empty and
    given once), its output (a non-empty name), its constants (name -> Constant, at least one)."""
    for attr in ("inputs", "derivatives"):
        names = getattr(phys, attr, ())
        if isinstance(names, str) or not isinstance(names, (tuple, list)) or \
                not all(isinstance(n, str) for n in names):
            return (f"{attr} must be a tuple of names, e.g. ('t',), not {type(names).__name__} {names!r}"[:300])
        blank = [n for n in names if not n.strip()]
        if blank:
            return (f"{attr} has an empty name {blank[0]!r} in {tuple(names)!r}"[:300] + "; give each a name, e.g. "
                    "('t', 'T_env'), or remove it")
        twice = [n for i, n in enumerate(names) if n in names[:i]]
        if twice:  # a name mapped twice, or one derivative taken twice: nonsense that ran (fuzz round)
            return (f"{attr} lists '{twice[0]}' twice in {tuple(names)!r}"[:300] + "; give each name once "
                    "(remove the repeat)")
    if not phys.inputs:
        return "declares no inputs; a law needs at least one, e.g. inputs = ('t',)"
    out = getattr(phys, "output", None)
    if not isinstance(out, str) or not out.strip():
        return (f"output must be the name of the measured quantity, a non-empty string, e.g. output = 'T', not "
                f"{type(out).__name__} {out!r}"[:300])
    consts = getattr(phys, "constants", None)
    if not isinstance(consts, dict) or not all(isinstance(c, Constant) for c in consts.values()):
        return ("constants must be a dict of name -> Constant(low, high), e.g. {'r': Constant(1e-5, 1.0)}, not "
                f"{type(consts).__name__}")
    if not consts:
        return ("declares no constants; a physics model learns at least one unknown constant (for a law with "
                "none, use model kind gp)")
    odd = [k for k in consts if not (isinstance(k, str) and k.isidentifier())]
    if odd:  # they name the export's columns (NAME_mean) and the report's rows
        return f"the constant name {odd[0]!r} is not a name (letters, digits and _, not starting with a digit)"
    for k in phys.derivatives:
        if k not in phys.inputs:
            return f"derivatives lists '{k}', which is not one of its inputs ({', '.join(phys.inputs)})"
    return None


def _numeric_parameters(spec: Any, base_dir: Any = None) -> dict[str, tuple[float, float]]:
    """Each numeric parameter's range; a pool's from its file's rows (after ``where``), where they read as
    numbers (a law may hold only on the pool's range, as log(t - 5) for t from 10), else (0, 1)."""
    space = spec.space
    if space.parameters is not None:
        return {p.name: (float(p.low), float(p.high)) for p in space.parameters if hasattr(p, "low")}
    ranges = {n: (0.0, 1.0) for n in space.pool.inputs if n not in set(space.pool.categorical or ())}
    if base_dir is None:
        return ranges
    from oracles.csvfile import CsvFileError, filter_rows, parse_number, read_table

    try:
        header, records = read_table(Path(base_dir) / space.pool.path)
        records = filter_rows(header, records, dict(space.pool.where or {}))
    except (CsvFileError, KeyError, OSError, ValueError):
        return ranges  # the pool's own problems are reported by the space
    for name in ranges:
        if name in header:
            j = header.index(name)
            values = [parse_number(cells[j]) for _, cells in records]
            finite = [v for v in values if v is not None and math.isfinite(v)]
            if finite and len(finite) == len(values):
                ranges[name] = (min(finite), max(finite))
    return ranges


def sample_check(phys: Physics, ranges: dict[str, tuple[float, float]], n: int = 8, compiled: bool = True
                 ) -> str | None:
    """Run the residual (and conditions, and solution if any) on a sample batch; None if they work,
    otherwise what went wrong. ``compiled``: the residual also inside a tf.function, as the PINN runs it (a
    residual that calls NumPy on its tensors runs eagerly and fails there)."""
    from .tf_quiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    rng = np.random.default_rng(0)
    xs = {k: rng.uniform(lo, hi, n) if hi > lo else np.full(n, lo) for k, (lo, hi) in ranges.items()}
    c = {k: tf.constant(v.start, tf.float64) for k, v in phys.constants.items()}

    def residual() -> Any:
        x = {k: tf.constant(v, tf.float64) for k, v in xs.items()}
        with tf.GradientTape(persistent=True) as tape:
            for v in x.values():
                tape.watch(v)
            y = sum(0.1 * (i + 1) * v for i, v in enumerate(x.values())) + tf.constant(1.0, tf.float64)
        dy = {k: tape.gradient(y, x[k]) for k in phys.derivatives}
        return tf.convert_to_tensor(phys.residual(x, y, dy, c))

    try:
        r = residual()
        if r.shape.rank != 1 or int(r.shape[0]) != n:
            return (f"its residual returned shape {tuple(r.shape)} for a batch of {n}; it must return one value "
                    "per point [N]")
        if r.dtype != tf.float64:  # the PINN's loss adds it to float64 terms
            return (f"its residual returned {r.dtype.name} values; return float64 ones (compute with the "
                    "tensors it is given, which are float64, and do not cast)")
        if not np.all(np.isfinite(r.numpy())):
            return "its residual is not finite on a sample batch"
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"its residual does not run on a sample batch: {type(exc).__name__}: {first[:200]}"
    if compiled:
        try:
            tf.function(residual)()
        except Exception as exc:
            from ..errors import _traced

            text = (_traced(exc) or f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}")[:240]
            return (f"its residual runs eagerly but not in a compiled TensorFlow function, as the PINN runs it "
                    f"({text}); use TensorFlow operations (tf.exp, not np.exp) on the tensors it is given")
    try:
        x = {k: tf.constant(v, tf.float64) for k, v in xs.items()}
        pairs = phys.conditions(x, c)
        if not isinstance(pairs, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 2
                                                           for p in pairs):
            return (f"its conditions() must return a list of (inputs, values) pairs (got "
                    f"{type(pairs).__name__}); return [] for a law without conditions")
        for x0, y0 in pairs:
            values = tf.convert_to_tensor(y0)
            if not isinstance(x0, dict) or set(x0) != set(phys.inputs) or values.shape.rank != 1:
                return "conditions must return (inputs, values) pairs with every input and values [N]"
            if values.dtype.is_complex:  # cast to real, validate passed with numpy's ComplexWarning only
                return (f"its conditions() returned complex values ({values.dtype.name}) where the output is known; "
                        f"they must be real finite values, one per point (float64); {COMPLEX_FIX}")
            if not np.all(np.isfinite(np.asarray(values.numpy(), dtype=float))):
                return "its conditions() returned values that are not finite on a sample batch"
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"its conditions() do not run on a sample batch: {type(exc).__name__}: {first[:200]}"
    if phys.has_solution:
        try:
            s = _values(phys.solution(xs, {k: v.start for k, v in phys.constants.items()}))
        except Exception as exc:  # the closed form's own failure, not the residual's
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return f"its closed form solution() does not run on a sample batch: {type(exc).__name__}: {first[:200]}"
        if np.iscomplexobj(s):  # cast to real, validate passed with numpy's ComplexWarning only
            return (f"its solution returned complex values ({s.dtype}) on a sample batch of {n} points; it must "
                    f"return one real finite value per point (floats); {COMPLEX_FIX}")
        if s.shape != (n,):
            return (f"its solution returned {_shape(s)} for a batch of {n} points; it must return one value per point "
                    f"(an array of shape ({n},))")
        bad = ~np.isfinite(s)
        if bad.any():  # the shape was right: say what was wrong, and where (fuzz round nineteen)
            i = int(np.argmax(bad))
            at = ", ".join(f"{k}={float(v[i]):.6g}" for k, v in xs.items())
            return (f"its solution returned {int(bad.sum())} non-finite value(s) on a sample batch of {n} points "
                    f"(the first, {float(s[i])}, at {at}); it must return one finite value per point: check the "
                    "law's domain against the space's ranges")
        if np.max(np.abs(s)) > MAX_OBJECTIVE:  # finite, but the model's variances would overflow
            return (f"its solution reaches {float(np.max(np.abs(s))):.3g} on the space, beyond +/-"
                    f"{MAX_OBJECTIVE:g}, too large to model; check the settings and fixed inputs (their units?)")
    return None


def check_model_config(config: Any, *, spec: Any, model: str, base_dir: Any = None, residual_used: bool = False
                       ) -> list[Problem]:
    """The ``check_config`` of ``pinn`` and ``physics-gp``: the physics block, and an objective the model can
    read as the law's output (no transform; goal max or min, or target with the target acquisition).
    ``residual_used``: physics-gp with a PINN mean (a pinn always uses its residual)."""
    problems = check_params(config, spec, base_dir, residual_used=model == "pinn" or residual_used)
    if spec.model.transform != "none":
        problems.append(Problem("model.transform", f"model '{model}' fits the law's output itself: use "
                                                   f"model.transform: none (got {spec.model.transform})"))
    if spec.objective.goal == "target" and spec.acquisition.kind != "target":
        problems.append(Problem("acquisition.kind", f"model '{model}' with goal: target needs acquisition.kind: "
                                                    "target (which shows the model the measured values, not their "
                                                    "distance to the target)"))
    return problems


class InputMap:
    """Encoded inputs X [N, D] -> the physics inputs' physical values {name: [N]}."""

    def __init__(self, phys: Physics, params: PhysicsParams, scales: tuple):
        by_name = {s.name: s for s in scales}
        self.parts: dict[str, Any] = {}
        for name in phys.inputs:
            target = params.inputs.get(name, name)
            if isinstance(target, (int, float)):
                self.parts[name] = float(target)
            elif target in by_name:
                self.parts[name] = by_name[target]
            else:
                raise ValueError(f"physics input '{name}': no numeric campaign parameter '{target}'")

    def __call__(self, X: np.ndarray) -> dict[str, np.ndarray]:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return {k: (np.full(len(X), v) if isinstance(v, float) else v.physical(X[:, v.column]))
                for k, v in self.parts.items()}

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {k: ((v, v) if isinstance(v, float) else (v.low, v.high)) for k, v in self.parts.items()}
