"""Shared pieces of the benchmark scripts: a test function, a campaign-like step loop, timing helpers.

Not a test module (no ``test_`` prefix) and nothing runs on import.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RUNS = ROOT / "runs" / "benchmarks"
CROSSED_BARREL = (ROOT / ".." / "shared" / "datasets" / "pvlab" / "crossed_barrel.csv").resolve()

_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
               [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]], dtype=float)
_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]], dtype=float)
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(X: np.ndarray) -> np.ndarray:
    """Hartmann-6 on the unit cube, negated so that larger is better (maximum 3.32237)."""
    X = np.atleast_2d(X)
    out = np.zeros(len(X))
    for i in range(4):
        out += _ALPHA[i] * np.exp(-np.sum(_A[i] * (X - _P[i]) ** 2, axis=1))
    return out


def load_avg() -> str:
    try:
        a, b, c = os.getloadavg()
        return f"load average {a:.1f} / {b:.1f} / {c:.1f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def quiet_tensorflow() -> None:
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore")


@dataclass
class StepTimes:
    fit: list[float] = field(default_factory=list)  # wall seconds
    acq: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # CPU seconds of the whole step (all threads)
    info: list[dict[str, Any]] = field(default_factory=list)

    @property
    def step(self) -> list[float]:
        return [f + a for f, a in zip(self.fit, self.acq)]

    def median(self, what: str) -> float:
        return statistics.median(getattr(self, what))


class Campaign:
    """What ``Proposer.propose`` does for a pool campaign, minus config/store bookkeeping:
    build the model (seeded per step, warm-started from the previous fit), fit it on every
    observation, then EI over the remaining pool with ``select_from_pool``."""

    def __init__(self, X: np.ndarray, y: np.ndarray, pool: np.ndarray, *, model_params: dict | None = None,
                 seed: int = 0, q: int = 1, groups: list | None = None):
        from acquisition.functions import ExpectedImprovement

        self.X, self.y, self.pool = X, y, pool
        self.params = dict(model_params or {})
        self.seed, self.q = seed, q
        self.groups = groups  # the space's column groups (categorical inputs), as the proposer passes them
        self.acq = ExpectedImprovement()
        self.warm: dict | None = None
        self.step_no = 0
        self.available = np.ones(len(pool), dtype=bool)

    def step(self, n: int, times: StepTimes | None = None) -> list[int]:
        """One step on the first n observations; returns the chosen pool rows."""
        from acquisition.batch import select_from_pool
        from orchestrator.models.base import ModelContext
        from orchestrator.models.gp import GPSurrogate

        self.step_no += 1
        c0 = time.process_time()
        t0 = time.perf_counter()
        # built as the proposer builds a pool campaign's GP, so its pool defaults apply (product features,
        # the rank mixture)
        context = ModelContext(seed=int(np.random.default_rng([self.seed, self.step_no]).integers(2**31)),
                               n_inputs=self.pool.shape[1], pool=True, candidates=self.pool, groups=self.groups)
        model = GPSurrogate.from_config(GPSurrogate.Config(**self.params), context)
        if self.warm:
            model.set_state(self.warm)
        model.fit(self.X[:n], self.y[:n])
        t1 = time.perf_counter()
        idx = select_from_pool(model, self.acq, self.pool, self.q, best=float(np.max(self.y[:n])),
                               available=self.available)
        t2 = time.perf_counter()
        c2 = time.process_time()
        self.warm = model.get_state()
        self.model = model
        if times is not None:
            times.fit.append(t1 - t0)
            times.acq.append(t2 - t1)
            times.cpu.append(c2 - c0)
            times.info.append(dict(model.fit_info))
        return idx


def hartmann_problem(n_obs: int, n_pool: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n_obs, 6))
    pool = rng.random((n_pool, 6))
    return X, hartmann6(X), pool


def run_steps(n_obs: int, n_pool: int, repeats: int, *, model_params: dict | None = None, q: int = 1,
              seed: int = 0) -> StepTimes:
    """``repeats`` consecutive steps at n_obs - repeats + 1 ... n_obs observations (one new
    observation per step, each warm-started from the previous step's fit), after one untimed
    step (the first fit of a process also pays for building the GPflow model).

    Above 1,000 observations the untimed step itself is warm-started from an exact fit on the
    first 1,000, as a campaign crossing into the sparse GP is warm-started from its exact fits.
    """
    X, y, pool = hartmann_problem(n_obs, n_pool, seed)
    camp = Campaign(X, y, pool, model_params=model_params, seed=seed, q=q)
    start = max(2, n_obs - repeats + 1)
    if start - 1 > 1000:
        from orchestrator.models.gp import GPSurrogate

        camp.warm = GPSurrogate(seed=seed).fit(X[:1000], y[:1000]).get_state()
    camp.step(start - 1)
    times = StepTimes()
    for n in range(start, n_obs + 1):
        camp.step(n, times)
    return times


def fmt_s(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"
