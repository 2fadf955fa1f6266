"""Shared fixtures: paths, a temporary store, and a helper that runs a campaign in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGNS = ROOT / "campaigns"
ALLOY_POOL = CAMPAIGNS / "data" / "alloy_cuagau_emt.csv"
DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'looplab.db'}"


def write_campaign(tmp_path: Path, text: str, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def alloy_yaml(*, name: str = "alloy", seed: int = 0, budget: int = 30, model: str = "gp",
               batch_size: int = 1, initial: int = 5, extra: str = "") -> str:
    """A pool campaign over the committed alloy pool (absolute path, so it works from tmp_path)."""
    return f"""
name: {name}
seed: {seed}
space:
  pool:
    path: {ALLOY_POOL}
    inputs: [x_Cu, x_Ag, x_Au]
objective: {{name: mixing_energy, goal: min}}
oracle: {{kind: lookup}}
model: {{kind: {model}}}
acquisition: {{kind: ei, batch_size: {batch_size}}}
initial: {{n: {initial}, method: sobol}}
budget: {{max_experiments: {budget}}}
{extra}
"""
