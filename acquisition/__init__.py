"""Acquisition functions and batch selection (numpy/scipy only; no orchestrator imports)."""

from .functions import (
    ExpectedImprovement,
    MaxVariance,
    ProbabilityOfImprovement,
    TargetCloseness,
    UpperConfidenceBound,
)

__all__ = ["ExpectedImprovement", "MaxVariance", "ProbabilityOfImprovement", "TargetCloseness",
           "UpperConfidenceBound"]
