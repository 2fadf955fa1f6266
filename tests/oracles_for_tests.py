"""Oracle plugins used by the tests, loaded by import path (``oracles_for_tests:Name``) like a user's."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict
from sqlalchemy import create_engine, text

from oracles.base import OracleContext, SyncOracle


class Flaky(SyncOracle):
    """Sphere-like objective that raises whenever x1 > threshold (a broken region of the space)."""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        threshold: float = 0.7

    def __init__(self, *, threshold: float = 0.7):
        super().__init__()
        self.threshold = threshold

    def evaluate(self, params):
        if params["x1"] > self.threshold:
            raise RuntimeError(f"instrument fault at x1={params['x1']:.3f}")
        return -((params["x1"] - 0.3) ** 2) - (params["x2"] - 0.5) ** 2


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
