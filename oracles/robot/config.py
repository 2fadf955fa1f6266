"""The mock robot's configuration: a pydantic model read from YAML, with errors that name the field.

Every duration is in *lab seconds*: the robot's simulated clock runs ``speedup``
times faster than the wall clock, so ``duration.mean: 60`` with ``speedup: 600``
takes 0.1 s of real time. Relative paths (``db``, ``ground_truth.path``) are
relative to the config file's folder.

This module imports nothing heavy (no FastAPI, no scikit-learn), so loading and
checking a config is fast.
"""

from __future__ import annotations

import csv
import difflib
import os
import stat
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from oracles import safe_yaml

FUNCTION_DIMS = {"branin": 2, "hartmann3": 3, "hartmann6": 6, "sphere": None}

MAX_LAB_SECONDS = 86_400.0  # an experiment's mean duration, in lab seconds (a day) and in real seconds
MAX_NOISE = 1e150  # looplab records no objective beyond +/-1e150 (its square overflows a float)
MAX_SPEEDUP = 1e6  # lab seconds per real second: a 60 s measurement then takes 60 microseconds
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seeds are 32-bit
PIPE_SECONDS = 10  # how long a pipe given as --config may take to deliver its text

DEFAULT_REASONS = [
    "pipette clogged",
    "gripper dropped the vial",
    "spectrometer lamp failed",
    "hotplate over-temperature",
    "sample holder misaligned",
]


class RobotConfigError(Exception):
    """A robot config (or a ``mock-robot serve`` option) is invalid; ``lines`` holds one problem each."""

    def __init__(self, lines: list[str], source: str | None = None):
        self.lines = [f"{source}: {line}" if source else line for line in lines]
        super().__init__("\n".join(self.lines))


class _Strict(BaseModel):
    """Unknown keys are refused, and so is a boolean or a quoted number where a number is meant (``seed: true`` was
    read as 1), and an infinite or NaN number (``noise: .inf`` made every measurement 'detector saturated')."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if field is None or not _numeric_only(field.annotation):
                    continue
                if isinstance(value, bool):
                    raise ValueError(f"{name}: must be a number, not the boolean {str(value).lower()}")
                if isinstance(value, str) and _is_number(value):  # stations: "3" was taken as 3 (campaign files
                    raise ValueError(f"{name}: must be a number, not the string {value[:40]!r} (remove the "
                                     "quotes)")  # refuse it too); other text gets pydantic's own message
        return data


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_only(annotation: Any) -> bool:
    """Is this field's type int or float (or Optional of one), with no bool in it?"""
    import typing

    args = typing.get_args(annotation) or (annotation,)
    kinds = {a for a in args if a is not type(None)}
    return bool(kinds) and all(a in (int, float) for a in kinds)


def _reason(text: str) -> str:
    if not text.strip():  # a fault then read "instrument fault at station 1: " and nothing more
        raise ValueError("is empty; say what went wrong (e.g. 'pipette clogged'), or leave reasons out for the "
                         "defaults")
    return text


# ----------------------------------------------------------------------------- ground truths


class FunctionTruth(_Strict):
    """An analytic test function of oracles/functions.py, evaluated at the experiment's params."""

    kind: Literal["function"]
    function: Literal["branin", "hartmann3", "hartmann6", "sphere"] = "branin"
    parameters: list[str] | None = Field(
        default=None, description="experiment parameter names, in the function's input order "
        "(default x1, x2, ...; required for sphere)")

    @model_validator(mode="after")
    def _names(self) -> FunctionTruth:
        dim = FUNCTION_DIMS[self.function]
        if self.parameters is None:
            if dim is None:
                raise ValueError("parameters: sphere takes any number of inputs; list their names")
            self.parameters = [f"x{i + 1}" for i in range(dim)]
        elif not self.parameters:  # sphere() measured 0 and refused every parameter
            raise ValueError("parameters: is empty; list at least one parameter name")
        elif dim is not None and len(self.parameters) != dim:
            raise ValueError(f"parameters: '{self.function}' takes {dim} inputs but {len(self.parameters)} "
                             f"name(s) are listed ({', '.join(self.parameters) or 'none'})")
        _unique(self.parameters, "parameters")
        return self

    def describe(self) -> str:
        return f"{self.function}({', '.join(self.parameters or [])})"


class EmulatorTruth(_Strict):
    """A scikit-learn model fitted at start-up to a CSV's input columns -> output column."""

    kind: Literal["emulator"]
    path: str = Field(description="CSV file (relative to the robot config file)")
    inputs: list[str] | None = Field(default=None, description="input columns (default: every column but the last)")
    output: str | None = Field(default=None, description="output column (default: the last column)")
    parameters: list[str] | None = Field(
        default=None, description="experiment parameter names, one per input column in the same order "
        "(default: the input column names)")
    model: Literal["gaussian-process", "random-forest"] = "gaussian-process"

    @model_validator(mode="after")
    def _names(self) -> EmulatorTruth:
        if self.inputs is not None:
            if not self.inputs:
                raise ValueError("inputs: is empty; list the CSV's input columns, or leave inputs out to read every "
                                 "column but the output")
            _unique(self.inputs, "inputs")
        if self.parameters is not None:
            _unique(self.parameters, "parameters")
            if self.inputs is not None and len(self.parameters) != len(self.inputs):
                raise ValueError(f"parameters: {len(self.parameters)} name(s) for {len(self.inputs)} input column(s); "
                                 "give one name per input column")
        return self

    def describe(self) -> str:
        return f"{self.model} emulator of {Path(self.path).name}: {self.output}({', '.join(self.parameters or [])})"


class CoolingTruth(_Strict):
    """Newton's law of cooling: T(t) = T_env + (T0 - T_env) * exp(-k t)."""

    kind: Literal["cooling"]
    T_env: float = Field(default=20.0, description="temperature of the environment, unless the experiment sets it")
    k: float = Field(default=0.05, gt=0, description="rate constant (per unit of t)")
    T0: float = Field(default=90.0, description="temperature the sample is heated to, unless the experiment sets it")
    time_param: str = Field(default="t", min_length=1, description="experiment parameter holding the time t (>= 0)")
    T0_param: str | None = Field(default="T0", min_length=1,
                                 description="optional experiment parameter overriding T0")
    T_env_param: str | None = Field(default="T_env", min_length=1, description="optional experiment parameter "
                                    "setting the environment's temperature of that experiment (overrides T_env)")

    @model_validator(mode="after")
    def _distinct(self) -> CoolingTruth:
        if self.T0_param is not None and self.T0_param == self.time_param:
            raise ValueError(f"T0_param: must differ from time_param (both are '{self.time_param}')")
        if self.T_env_param is not None and self.T_env_param in (self.time_param, self.T0_param):
            raise ValueError(f"T_env_param: must differ from time_param and T0_param (got '{self.T_env_param}')")
        return self

    @property
    def parameters(self) -> list[str]:
        return [self.time_param] + [p for p in (self.T0_param, self.T_env_param) if p]

    def describe(self) -> str:
        env = self.T_env_param or f"{self.T_env:g}"
        return (f"cooling T({self.time_param}) = {env} + ({self.T0_param or 'T0'} - {env})"
                f"*exp(-{self.k:g} {self.time_param}), T0 = {self.T0:g}, T_env = {self.T_env:g}")


GroundTruth = Annotated[FunctionTruth | EmulatorTruth | CoolingTruth, Field(discriminator="kind")]


def _unique(names: list[str], field: str) -> None:
    seen = set()
    for n in names:
        if not n:
            raise ValueError(f"{field}: a name is empty")
        if n in seen:
            raise ValueError(f"{field}: '{n}' is listed twice")
        seen.add(n)


# ----------------------------------------------------------------------------- the lab


class DurationSpec(_Strict):
    mean: float = Field(default=60.0, gt=0, le=MAX_LAB_SECONDS,
                        description="lab seconds an experiment takes on average (at most a day)")
    jitter: float = Field(default=10.0, ge=0, description="half-width of the uniform spread around the mean (lab s)")

    @model_validator(mode="after")
    def _positive(self) -> DurationSpec:
        if self.jitter >= self.mean:
            raise ValueError(f"jitter: must be smaller than mean (got jitter {self.jitter:g} >= mean {self.mean:g}), "
                             "so that every duration is positive")
        return self


class FaultSpec(_Strict):
    probability: float = Field(default=0.0, ge=0, le=1, description="chance that an experiment ends in an instrument fault")
    reasons: list[Annotated[str, AfterValidator(_reason)]] = Field(
        default_factory=lambda: list(DEFAULT_REASONS), min_length=1,
        description="what went wrong, one picked per faulted experiment")


class HttpFaultSpec(_Strict):
    """Misbehaviour of the HTTP API itself (every endpoint but /health and the docs)."""

    error_probability: float = Field(default=0.0, ge=0, le=1,
                                     description="chance that a request is refused with 503 before it is handled")
    slow_probability: float = Field(default=0.0, ge=0, le=1,
                                    description="chance that the answer is delayed by slow_seconds (after the "
                                    "request was handled, so a client that times out does not know the outcome)")
    slow_seconds: float = Field(default=2.0, ge=0, le=600, description="real seconds of a slow answer's delay")


class RobotConfig(_Strict):
    """A simulated lab: stations working through a FIFO queue, a ground truth, noise and faults."""

    name: str = Field(default="mock-robot", min_length=1)
    seed: int = Field(default=0, ge=0, le=MAX_SEED,
                      description="with the job id, seeds every job's duration, noise and fault (and an "
                                  "emulator's fit)")
    stations: int = Field(default=2, ge=1, le=1000, description="experiments that run at once")
    speedup: float = Field(default=1.0, gt=0, le=MAX_SPEEDUP, description="lab seconds per real second")
    duration: DurationSpec = Field(default_factory=DurationSpec)
    noise: float = Field(default=0.0, ge=0, le=MAX_NOISE,  # near 1e307 a noisy value overflowed to 'saturated'
                         description="standard deviation of the Gaussian measurement noise")
    faults: FaultSpec = Field(default_factory=FaultSpec)
    http: HttpFaultSpec = Field(default_factory=HttpFaultSpec)
    db: str | None = Field(default=None, description="SQLite file of the robot's jobs (relative to this file); "
                                                     "--db overrides it")
    ground_truth: GroundTruth = Field(default_factory=lambda: FunctionTruth(kind="function"))

    @field_validator("db")
    @classmethod
    def _db_named(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():  # '' named the config's folder
            raise ValueError("is empty; give the database file's name (relative to this file), or leave db out "
                             "for ./mock-robot.db")
        return v

    @model_validator(mode="after")
    def _real_time(self) -> RobotConfig:
        real = self.duration.mean / self.speedup
        if real > MAX_LAB_SECONDS:  # every job would stay running for days, and a campaign with it
            raise ValueError(f"speedup: an experiment would take {real:,.0f} real seconds on average (duration.mean "
                             f"{self.duration.mean:g} / speedup {self.speedup:g}); at most {MAX_LAB_SECONDS:,.0f} "
                             "(a day) is accepted: raise speedup or lower duration.mean")
        return self


# ----------------------------------------------------------------------------- loading


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function", "emulator", "cooling") and out.endswith("ground_truth"):
            continue  # the union tag pydantic puts in the path
        else:
            out += ("." if out else "") + str(part)
    return out


def _fields_at(loc: tuple) -> list[str]:
    model: Any = RobotConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            return []
        if part in ("function", "emulator", "cooling") and model is GroundTruth:
            model = {"function": FunctionTruth, "emulator": EmulatorTruth, "cooling": CoolingTruth}[part]
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        ann = field.annotation
        model = GroundTruth if part == "ground_truth" else ann
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def problems(exc: ValidationError) -> list[str]:
    """One readable line per pydantic error: ``field.path: what is wrong``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = _loc(loc)
        msg = err["msg"]
        etype = err["type"]
        if etype == "extra_forbidden":
            allowed = _fields_at(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
            msg = "unknown key; " + (f"did you mean '{close[0]}'? " if close else "") + \
                  (f"allowed keys: {', '.join(allowed)}" if allowed else "remove it")
        elif etype == "missing":
            msg = "required field is missing"
        elif etype == "union_tag_invalid":
            msg = f"unknown kind {err.get('ctx', {}).get('tag')!r}; expected one of 'function', 'emulator', 'cooling'"
        elif etype == "union_tag_not_found":
            msg = "missing 'kind' (one of 'function', 'emulator', 'cooling')"
        elif etype == "value_error":
            msg = msg.removeprefix("Value error, ")
            head, sep, rest = msg.partition(": ")
            if sep and head.isidentifier():  # a validator naming a sub-field: "parameters: ..."
                path, msg = (f"{path}.{head}" if path else head), rest
        else:
            msg = (msg[0].lower() + msg[1:]) if msg else etype
            msg = safe_yaml.bound_message(etype, err.get("ctx")) or msg  # 1e150, not 151 digits
            if "input" in err and etype not in ("model_type", "dict_type"):
                msg += f" (got {safe_yaml._short(repr(err['input']), 80)})"
            elif etype in ("model_type", "dict_type"):
                msg = f"must be a mapping of keys (got {err.get('input')!r})"
        lines.append(f"{path}: {msg}" if path else msg)
    return lines


def parse_config(data: Any, source: str | None = None) -> RobotConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RobotConfigError([f"a robot config must be a mapping of keys (got a {type(data).__name__})"], source)
    try:
        return RobotConfig.model_validate(data)
    except ValidationError as exc:
        raise RobotConfigError(problems(exc), source) from None


def load_config(path: str | Path | None) -> tuple[RobotConfig, Path]:
    """Read and check a robot config file; returns (config, folder). ``None``: the defaults, in the cwd.

    The file is read as campaign files are (oracles/safe_yaml.py: YAML 1.2 scalars, no key twice, bounded
    aliases, nesting and size). A pipe (``--config <(...)``) is read once; paths in it are relative to the cwd.
    """
    if path is None:
        cfg, base = RobotConfig(), Path.cwd()
    else:
        path = Path(path)
        text, pipe = _read(path)
        try:
            data = safe_yaml.load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            strict = isinstance(exc, (safe_yaml.StrictYAMLError, yaml.constructor.ConstructorError))
            raise RobotConfigError([f"{where}: {problem}" if strict else f"YAML syntax error at {where}: {problem}"],
                                   str(path)) from None
        cfg, base = parse_config(data, str(path)), Path.cwd() if pipe else path.resolve().parent
    check_files(cfg, base, None if path is None else str(path))
    return cfg, base


def _read(path: Path) -> tuple[str, bool]:
    """The text of a robot config file or pipe (at most safe_yaml.MAX_BYTES), and whether it was a pipe."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        what = "file not found (check the path)" if isinstance(exc, FileNotFoundError) else \
            f"cannot read it ({exc.strerror or exc})"
        raise RobotConfigError([f"--config: {what}"], str(path)) from None
    if stat.S_ISDIR(mode):
        raise RobotConfigError(["--config: is a folder, not a robot config file"], str(path))
    pipe = stat.S_ISFIFO(mode)
    if not (pipe or stat.S_ISREG(mode)):
        raise RobotConfigError(["--config: is not a regular file (a device or socket); give a robot config file"],
                               str(path))
    limit, data = safe_yaml.MAX_BYTES, b""
    deadline = time.monotonic() + PIPE_SECONDS
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe with no writer yet: opened, not waited for
        try:
            while len(data) <= limit:
                try:
                    chunk = os.read(fd, limit + 1 - len(data))
                except BlockingIOError:  # a pipe's writer has not written (all) yet
                    chunk = None
                if chunk:
                    data += chunk
                elif chunk == b"" and (data or not pipe):  # the end (a pipe: once its writer has written)
                    break
                elif time.monotonic() > deadline:
                    what = "did not end" if data else "gave no text"
                    raise RobotConfigError([f"--config: is a pipe that {what} within {PIPE_SECONDS:g} s; give the "
                                            "robot config file itself"], str(path))
                else:
                    time.sleep(0.02)
        finally:
            os.close(fd)
    except OSError as exc:
        raise RobotConfigError([f"cannot read the file: {exc.strerror or exc}"], str(path)) from None
    if len(data) > limit:
        raise RobotConfigError([f"the file is over {limit / 1e3:,.0f} kB; a robot config is a few lines: is it the "
                                "right file?"], str(path))
    try:
        return data.decode("utf-8"), pipe
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RobotConfigError([f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it "
                                "as UTF-8"], str(path)) from None


def check_files(cfg: RobotConfig, base: Path, source: str | None = None) -> None:
    """Check what needs the file system: the emulator's CSV exists and has the named, numeric columns.

    Fills in the emulator's default ``inputs``, ``output`` and ``parameters``.
    """
    gt = cfg.ground_truth
    if not isinstance(gt, EmulatorTruth):
        return
    csv_path = Path(gt.path) if Path(gt.path).is_absolute() else base / gt.path
    if not csv_path.is_file():
        what = "is a folder, not a CSV file" if csv_path.is_dir() else \
            "is not a regular file (a pipe, device or socket); give a CSV file" if csv_path.exists() else \
            "not found (paths are relative to the robot config file)"
        raise RobotConfigError([f"ground_truth.path: CSV file '{csv_path}' {what}"], source)
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            header = [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError) as exc:
        raise RobotConfigError([f"ground_truth.path: cannot read '{csv_path}': {exc}"], source) from None
    if len(header) < 2:
        raise RobotConfigError([f"ground_truth.path: '{csv_path.name}' needs at least two columns (got "
                                f"{', '.join(header) or 'none'})"], source)
    bad = []
    output = gt.output if gt.output is not None else header[-1]
    inputs = gt.inputs if gt.inputs is not None else [h for h in header if h != output]
    for field, names in (("inputs", inputs), ("output", [output])):
        missing = [n for n in names if n not in header]
        if missing:
            bad.append(f"ground_truth.{field}: no column {', '.join(repr(m) for m in missing)} in {csv_path.name} "
                       f"(columns: {', '.join(header)})")
    if output in inputs:
        bad.append(f"ground_truth.output: '{output}' is also an input column")
    if gt.parameters is not None and len(gt.parameters) != len(inputs):
        bad.append(f"ground_truth.parameters: {len(gt.parameters)} name(s) for {len(inputs)} input column(s)")
    if bad:
        raise RobotConfigError(bad, source)
    gt.inputs, gt.output = inputs, output
    gt.parameters = gt.parameters if gt.parameters is not None else list(inputs)
    gt.path = str(csv_path)


def json_schema() -> dict:
    return RobotConfig.model_json_schema()
