"""Oracle plugins used by the tests, loaded by import path (``oracles_for_tests:Name``) like a user's."""

from __future__ import annotations

import math
import os
import time

from pydantic import BaseModel, ConfigDict
from sqlalchemy import create_engine, text

from oracles.base import OracleContext, SyncOracle


class Flaky(SyncOracle):
    """Sphere-like objective that raises whenever x1 > threshold (a broken region of the space), or always
    while the file ``broken_while`` exists (an instrument that is broken, then repaired)."""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        threshold: float = 0.7
        broken_while: str | None = None

    def __init__(self, *, threshold: float = 0.7, broken_while: str | None = None):
        super().__init__()
        self.threshold = threshold
        self.broken_while = broken_while

    def evaluate(self, params):
        if self.broken_while and os.path.exists(self.broken_while):
            raise RuntimeError("instrument broken: lamp out")
        if params["x1"] > self.threshold:
            raise RuntimeError(f"instrument fault at x1={params['x1']:.3f}")
        return -((params["x1"] - 0.3) ** 2) - (params["x2"] - 0.5) ** 2


class Exits(SyncOracle):
    """Calls sys.exit(3) in evaluate, as a script turned into a plugin might."""

    def evaluate(self, params):
        import sys

        sys.exit(3)


class Garbage(SyncOracle):
    """Returns a different kind of garbage depending on where it is asked."""

    def evaluate(self, params):
        x = params["x1"]
        if x < 0.25:
            return float("nan")
        if x < 0.5:
            return "twelve"
        if x < 0.75:
            return {"not_the_objective": 1.0}
        return math.inf


class ChecksStoreOnSubmit(SyncOracle):
    """Fails loudly if an experiment reaches it before the store has a row for it."""

    default_executor = "inline"  # the test inspects this instance, so it must live in the engine's process

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        store: str

    def __init__(self, *, store: str):
        super().__init__()
        self.engine = create_engine(store)
        self.seen_status: dict[str, str] = {}

    @classmethod
    def from_config(cls, config, context: OracleContext):
        return cls(store=config.store)

    def submit(self, experiments):
        with self.engine.connect() as conn:
            for e in experiments:
                row = conn.execute(text("select status from experiments where id = :i"), {"i": e.id}).first()
                self.seen_status[e.id] = row[0] if row else "MISSING"
        super().submit(experiments)

    def evaluate(self, params):
        return -((params["x1"] - 0.5) ** 2)


class Slow(SyncOracle):
    """A smooth objective that takes ``seconds`` per experiment; hangs (an hour) where x1 > hang_above,
    and kills its own process where x1 < die_below."""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        seconds: float = 0.0
        hang_above: float = 2.0
        die_below: float = -1.0

    def __init__(self, *, seconds: float = 0.0, hang_above: float = 2.0, die_below: float = -1.0):
        super().__init__()
        self.seconds, self.hang_above, self.die_below = seconds, hang_above, die_below

    def evaluate(self, params):
        x1 = params["x1"]
        if x1 < self.die_below:
            os._exit(3)  # as a segfaulting calculator would: no exception, the process is gone
        time.sleep(3600 if x1 > self.hang_above else self.seconds)
        return {"value": -((x1 - 0.3) ** 2) - (params.get("x2", 0.5) - 0.5) ** 2, "pid": os.getpid()}


class Async:
    """An asynchronous oracle (no evaluate): answers every experiment on the next poll with x1."""

    def __init__(self) -> None:
        self._pending: list = []

    def submit(self, experiments):
        self._pending += list(experiments)

    def poll(self):
        from oracles.base import Result

        out, self._pending = [Result(e.id, "succeeded", value=e.params["x1"]) for e in self._pending], []
        return out

    def cancel(self, experiment_id):
        pass


class Tally(SyncOracle):
    """A smooth objective of x1 (and x2) that appends the id of every experiment it runs to ``log``, one a
    line: how many times each experiment was really run, across processes and kills."""

    default_executor = "inline"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        log: str

    def __init__(self, *, log: str):
        super().__init__()
        self.log = log

    @classmethod
    def from_config(cls, config, context: OracleContext):
        return cls(log=config.log)

    def submit(self, experiments):
        self._ensure_init()
        with open(self.log, "a") as f:
            for e in [e for e in experiments if e.id not in self._done]:  # the others it ignores
                f.write(e.id + "\n")
                f.flush()
                os.fsync(f.fileno())
        super().submit(experiments)

    def evaluate(self, params):
        return -((params["x1"] - 0.3) ** 2) - (params.get("x2", 0.5) - 0.5) ** 2


class IgnoresX3(SyncOracle):
    """A bowl in x1 and x2 (minimum 0 at x1 = 0.3, x2 = 0.7) plus an offset per catalyst level (A: 0, B: 0.5,
    C: 1.5); x3 is read and ignored, so a model's relevance must rank it last (tests/test_report_slices.py)."""

    OFFSET = {"A": 0.0, "B": 0.5, "C": 1.5}

    def evaluate(self, params):
        x1, x2 = float(params["x1"]), float(params["x2"])
        float(params["x3"])
        return 4.0 * (x1 - 0.3) ** 2 + 2.0 * (x2 - 0.7) ** 2 + self.OFFSET[params["catalyst"]]


class WholeAtoms(SyncOracle):
    """An EMT-like oracle on an 8-atom cell: fractions x_a + x_b + x_c = 1 are realised as whole atoms (multiples
    of 1/8, 45 compositions), and it declares so with ``realise``; a smooth bowl with its minimum near
    (0.25, 0.5, 0.25). It counts how often each realised composition is evaluated (in its process)."""

    N = 8
    seen: dict = {}
    objective = "energy"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

    @classmethod
    def realise(cls, config, params):
        names = ("x_a", "x_b", "x_c")
        total = sum(float(params[n]) for n in names)
        raw = [float(params[n]) / total * cls.N for n in names]
        counts = [math.floor(r + 1e-9) for r in raw]
        for i in sorted(range(3), key=lambda i: -(raw[i] - counts[i]))[:cls.N - sum(counts)]:
            counts[i] += 1
        return {**params, **{n: c / cls.N for n, c in zip(names, counts)}}

    def evaluate(self, params):
        x = self.realise(None, params)
        key = (x["x_a"], x["x_b"], x["x_c"])
        WholeAtoms.seen[key] = WholeAtoms.seen.get(key, 0) + 1
        return {"energy": (x["x_a"] - 0.25) ** 2 + (x["x_b"] - 0.5) ** 2 + 0.5 * (x["x_c"] - 0.25) ** 2,
                "atoms": [int(round(v * self.N)) for v in key]}


# experiment id -> time.monotonic() at which Timed made its result available
READY: dict[str, float] = {}


class Timed:
    """An asynchronous oracle whose experiment at position p (of its step) is ready ``first + p * spacing``
    seconds after it was submitted (value x1); READY records when each one became available."""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        first: float = 1.0
        spacing: float = 1.0

    def __init__(self, *, first: float = 1.0, spacing: float = 1.0):
        self.first, self.spacing = first, spacing
        self._due: dict[str, tuple[float, object]] = {}

    @classmethod
    def from_config(cls, config, context: OracleContext):
        return cls(**config.model_dump())

    def submit(self, experiments):
        now = time.monotonic()
        for e in experiments:
            if e.id not in self._due:
                position = int(e.id.rsplit("-", 1)[1])
                self._due[e.id] = (now + self.first + position * self.spacing, e)

    def poll(self):
        from oracles.base import Result

        now = time.monotonic()
        out = []
        for i, (due, e) in list(self._due.items()):
            if due <= now:
                READY.setdefault(i, due)
                out.append(Result(i, "succeeded", value=float(e.params["x1"])))
                del self._due[i]
        return out

    def cancel(self, experiment_id):
        self._due.pop(experiment_id, None)


class AsyncBroken:
    """An asynchronous oracle plugin with one of a plugin author's mistakes (``mistake``), made while the file
    ``while_exists`` exists (then fixed, without changing the campaign)."""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        mistake: str
        while_exists: str

    def __init__(self, *, mistake: str, while_exists: str):
        self._mistake, self.while_exists, self._pending = mistake, while_exists, []

    @property
    def mistake(self) -> str:
        return self._mistake if os.path.exists(self.while_exists) else "none"

    def submit(self, experiments):
        if self.mistake == "submit-raises":
            raise ConnectionError("instrument offline")
        self._pending += list(experiments)

    def poll(self):
        from oracles.base import Result

        out, self._pending = self._pending, []
        if self.mistake == "poll-raises":
            raise TimeoutError("instrument did not answer")
        if self.mistake == "poll-none":
            return None
        if self.mistake == "poll-text":
            return ["done" for _ in out]
        if self.mistake == "unknown-id":
            return [Result("other-" + e.id, "succeeded", value=1.0) for e in out]
        if self.mistake == "bad-status":
            return [Result(e.id, "great", value=1.0) for e in out]
        return [Result(e.id, "succeeded", value=e.params["x1"]) for e in out]

    def cancel(self, experiment_id):
        pass


class Constant(SyncOracle):
    """Answers 5 to every experiment: an oracle that does not read its inputs (a misconfigured one)."""

    def evaluate(self, params):
        return 5.0


class OddNumbers(SyncOracle):
    """Values and outputs at the edges of what a float and JSON hold, by where it is asked (fuzz round eight):
    10**400, Decimal("1e-400"), numpy's True, outputs that hold themselves, (k = 4) a smooth objective with
    outputs holding NaN and infinities, then a value whose float() raises, an output int of 5,000 digits, and an
    output whose str() raises."""

    def evaluate(self, params):
        from decimal import Decimal

        import numpy as np

        x = params["k"] / 10 + 0.05
        y = -((x - 0.3) ** 2)
        if x < 0.1:
            return 10**400
        if x < 0.2:
            return Decimal("1e-400")
        if x < 0.3:
            return np.bool_(True)
        if x < 0.5:
            loop: dict = {"a": 1}
            loop["self"] = loop
            return {"value": y, "extra": loop}
        if x < 0.6:
            return {"value": y, "width": float("nan"), "peaks": [1.0, float("inf"), np.float64("-inf")],
                    "nested": {"k": np.nan}}

        class Odd:  # a value whose float() fails, or an output whose text fails (fuzz round nine)
            def __float__(self):
                return 1 / 0

            def __str__(self):
                raise RuntimeError("no text")

        if x < 0.7:
            return Odd()
        if x < 0.8:
            return {"value": y, "count": 10**5000, "keys": {(1, 2): "a tuple", None: "none"}}
        return {"value": y, "extra": Odd()}


class LeavesThread(SyncOracle):
    """Starts a worker thread that is not a daemon and never ends (a plugin's forgotten helper thread)."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        threading.Thread(target=time.sleep, args=(3600,), name="instrument-watcher").start()

    def evaluate(self, params):
        return -((params["x1"] - 0.3) ** 2)


class FirstTryFails:
    """An asynchronous oracle whose first attempt at every experiment fails (a transient fault: a bubble in
    the line) and whose retries (ids ending -r1, -r2, ...) succeed with x1."""

    def __init__(self) -> None:
        self._pending: list = []

    def submit(self, experiments):
        self._pending += list(experiments)

    def poll(self):
        from oracles.base import Result

        out = [Result(e.id, "succeeded", value=e.params["x1"]) if "-r" in e.id else
               Result(e.id, "failed", error="bubble in the line") for e in self._pending]
        self._pending = []
        return out

    def cancel(self, experiment_id):
        pass
