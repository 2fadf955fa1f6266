"""Categorical pools end to end: a GP campaign on direct arylation at 105 C (576 candidates: base, ligand and
solvent one-hot, concentration numeric) finds a top-5% reaction sooner than random search, and the model
it fits generalises across levels."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from orchestrator.config import load_campaign
from orchestrator.engine import Engine
from orchestrator.store import Store

from conftest import CAMPAIGNS, DATASETS
from test_engine import _random_median_first_hit

SPEC = CAMPAIGNS / "benchmarks" / "direct_arylation" / "105.yaml"
DATA = DATASETS / "direct_arylation" / "data.csv"

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"the shared dataset {DATA} is not there")


def yields_at_105() -> np.ndarray:
    with open(DATA, encoding="utf-8-sig") as fh:
        return np.array([float(r["yield"]) for r in csv.DictReader(fh) if r["Temp_C"] == "105"])


def campaign_file(tmp_path: Path, seed: int, budget: int) -> Path:
    spec = yaml.safe_load(SPEC.read_text())
    spec["space"]["pool"]["path"] = str(DATA)
    spec.update(name=f"arylation-{seed}", seed=seed)
    spec["budget"]["max_experiments"] = budget
    path = tmp_path / f"arylation-{seed}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_seed(tmp_path: Path, seed: int, budget: int) -> list:
    campaign = load_campaign(campaign_file(tmp_path, seed, budget))
    store = Store(f"sqlite:///{tmp_path / f's{seed}.db'}")
    with Engine(campaign, store) as engine:
        report = engine.run()
    exps = store.experiments(engine.id)
    assert report.status == "completed" and len(exps) == budget
    assert len({tuple(sorted(e.params.items())) for e in exps}) == budget, "a reaction was run twice"
    return exps


def test_gp_campaign_on_direct_arylation_keeps_finding_top_5_percent_reactions(tmp_path):
    """6 seeds, 30 experiments each: random search expects 30 * 29 / 576 = 1.5 of the 29 top-5% reactions per
    run; the GP must find at least twice that on average (30 seeds of the benchmark: 7.5 on average)."""
    values = yields_at_105()
    threshold = np.sort(values)[-math.ceil(0.05 * len(values))]
    found = [sum(e.value >= threshold for e in run_seed(tmp_path, seed, 30)) for seed in range(6)]
    assert np.mean(found) > 3.0, found


@pytest.mark.slow
def test_gp_campaign_on_direct_arylation_finds_a_top_5_percent_reaction_before_random_search(tmp_path):
    """Over 20 seeds, the median experiment at which the first top-5% reaction is found is below random
    search's (14: 29 top reactions among 576). A narrow margin (11.5 on seeds 0-19 in the benchmark): the GP's lead on this
    pool builds after the first dozen experiments, see the README's Benchmarks."""
    values = yields_at_105()
    assert len(values) == 576
    k = math.ceil(0.05 * len(values))
    threshold = np.sort(values)[-k]
    firsts = []
    for seed in range(20):
        hits = [i + 1 for i, e in enumerate(run_seed(tmp_path, seed, 30)) if e.value >= threshold]
        firsts.append(hits[0] if hits else 10**6)
    random_median = _random_median_first_hit(len(values), k)
    assert random_median == 14
    assert np.median(firsts) < random_median, (firsts, random_median)
