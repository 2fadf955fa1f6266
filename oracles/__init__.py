"""Oracles: the Oracle protocol and the built-in oracles. Plugins need only this package."""

from .base import ConfigProblem, Experiment, Oracle, OracleContext, Result, SyncOracle

__all__ = ["ConfigProblem", "Experiment", "Oracle", "OracleContext", "Result", "SyncOracle"]
