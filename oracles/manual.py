"""The manual oracle: experiments a person (or an instrument without an API) performs.

``submit`` does nothing outside looplab: the proposed experiments stay ``proposed`` in the store until a
result is told for each, with ``looplab tell`` or ``Campaign.tell`` (orchestrator/api.py). Those write the
result to the store directly (a conditional update of in-flight experiments, see ``Store.tell``), so a
campaign driven by ``looplab run`` or ``looplab daemon`` sees it at its next step; ``poll`` therefore never
has anything to report. A daemon steps such a campaign once per tick (``--interval``), reads the store,
finds nothing new and waits for the next tick: it does not spin.

``looplab ask NAME`` prints (and writes to a CSV worksheet) what is waiting.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from .base import Experiment, Result


class ManualConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instructions: str = Field(default="", description="what the person running the experiments should know; "
                                                      "printed by `looplab ask`")


class ManualOracle:
    """Experiments performed by hand: results arrive through `looplab tell` (or Campaign.tell)."""

    Config = ManualConfig
    # results are written to the store by other processes, never polled: an engine must read the store at
    # every step (see Engine.step's idle shortcut)
    results_in_store = True

    def __init__(self, *, instructions: str = ""):
        self.instructions = instructions

    @classmethod
    def from_config(cls, config: ManualConfig, context: object = None) -> "ManualOracle":
        return cls(instructions=config.instructions)

    def submit(self, experiments: Sequence[Experiment]) -> None:
        """Nothing to send: the experiments wait in the store (status proposed) for a person."""

    def poll(self) -> list[Result]:
        return []  # results are written to the store by `tell`, not reported through the oracle

    def cancel(self, experiment_id: str) -> None:
        """Nothing to call off: an experiment that ends unmeasured is recorded as cancelled by the engine."""

    def job_ids(self) -> dict[str, str]:
        """No instrument has accepted anything: the engine leaves the experiments ``proposed``."""
        return {}
