"""Plugins whose own checks fail with an exception pydantic does not turn into a validation error."""

from pydantic import BaseModel, field_validator

from oracles.base import SyncOracle


class DividingOracle(SyncOracle):
    """Its Config validator divides by a param: zero raises ZeroDivisionError."""

    class Config(BaseModel):
        scale: float = 1.0

        @field_validator("scale")
        @classmethod
        def _inverse(cls, scale: float) -> float:
            return 1.0 / scale  # ZeroDivisionError for scale: 0

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def evaluate(self, params):
        return self.scale * sum(params.values())


class CheckingOracle(DividingOracle):
    """Its check_config looks up a key that is not there."""

    @classmethod
    def check_config(cls, config, *, spec, base_dir):
        return {"calibrated": []}["calibration"]


class Unreachable(SyncOracle):
    """Every experiment fails the way a lost instrument does: the reason holds a URL (colons)."""

    def evaluate(self, params):
        raise RuntimeError("the robot at http://127.0.0.1:9/jobs did not answer: connection refused")
