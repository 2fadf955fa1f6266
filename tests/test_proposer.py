"""The Proposer's objective conventions and output transforms."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import alloy_yaml, write_campaign
from orchestrator.config import load_campaign
from orchestrator.proposer import Proposer


def proposer(tmp_path, transform: str, goal: str = "min") -> Proposer:
    text = alloy_yaml(name="p").replace("model: {kind: gp}", f"model: {{kind: gp, transform: {transform}}}")
    text = text.replace("goal: min", f"goal: {goal}")
    return Proposer(load_campaign(write_campaign(tmp_path, text)))


@pytest.mark.parametrize("transform", ["log", "yeo-johnson", "copula"])
@pytest.mark.parametrize("goal", ["min", "max"])
def test_transforms_keep_the_order_of_the_internal_values(tmp_path, transform, goal):
    p = proposer(tmp_path, transform, goal)
    raw = np.array([3.0e5, 2.7e4, 1.4e6, 8.2e4, 2.6e5, 9.0e5])  # positive, spanning decades
    y = p.internal(raw)
    w = p.warp(y)
    assert np.all(np.isfinite(w))
    np.testing.assert_array_equal(np.argsort(w), np.argsort(y))  # monotone increasing: best stays best


def test_log_transform_compresses_decades(tmp_path):
    p = proposer(tmp_path, "log", "min")
    w = p.warp(p.internal(np.array([1e3, 1e4, 1e5, 1e6])))
    np.testing.assert_allclose(np.diff(w), [-np.log(10)] * 3, rtol=1e-6)


def test_copula_gives_normal_scores_of_ranks(tmp_path):
    p = proposer(tmp_path, "copula", "max")
    w = p.warp(np.array([10.0, -3.0, 500.0, 0.0]))
    from scipy.stats import norm

    np.testing.assert_allclose(w, norm.ppf((np.array([3, 1, 4, 2]) - 0.5) / 4))


def test_no_transform_is_the_identity(tmp_path):
    p = proposer(tmp_path, "none", "min")
    np.testing.assert_array_equal(p.warp(np.array([1.0, -2.0, 5.0])), [1.0, -2.0, 5.0])


def test_pool_models_get_the_rank_mixture_unless_the_pool_is_a_mixture(tmp_path):
    """rank_inputs: auto reaches the GP through the proposer: on for a box-shaped pool, off for the alloy
    pool (fractions summing to 1), and the fit reports the mixture's weight."""
    rng = np.random.default_rng(0)
    rows = rng.random((40, 2)) ** 3  # crowded towards 0
    csv = tmp_path / "box.csv"
    csv.write_text("a,b,y\n" + "\n".join(f"{a},{b},{a + b}" for a, b in rows) + "\n")
    box = alloy_yaml(name="box").replace("inputs: [x_Cu, x_Ag, x_Au]", "inputs: [a, b]")
    box = box.split("path: ")[0] + f"path: {csv}\n" + box.split("path: ")[1].split("\n", 1)[1]
    box = box.replace("name: mixing_energy", "name: y")
    results = {}
    for name, text in (("box", box), ("alloy", alloy_yaml(name="alloy"))):
        p = Proposer(load_campaign(write_campaign(tmp_path, text, f"{name}.yaml")))
        cands = p.space.candidates[:8]
        values = [float(sum(v for v in c.values() if isinstance(v, float))) for c in cands]
        prop = p.propose(observed=cands, values=values, busy=[], used=cands, n=1, step=1,
                         rng=np.random.default_rng(0))
        results[name] = (prop.model.rank_weight, prop.fit_info.get("rank_weight"))
    assert results["box"][0] is not None and results["box"][1] == results["box"][0]
    assert results["alloy"] == (None, None)
