"""The Proposer's objective conventions and output transforms."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT, alloy_yaml, write_campaign
from orchestrator.config import load_campaign
from orchestrator.errors import ConfigError
from orchestrator.proposer import Proposer


BRANIN = (ROOT / "campaigns" / "branin_gp_ei.yaml").read_text()


def proposer(tmp_path, transform: str, goal: str = "min") -> Proposer:
    """A continuous campaign (its oracle's values are not known in advance) with the given transform and goal."""
    text = BRANIN.replace("  kind: gp\n", f"  kind: gp\n  transform: {transform}\n")
    text = text.replace("goal: min", f"goal: {goal}" + ("\n  target_value: 5.0" if goal == "target" else ""))
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


@pytest.mark.parametrize("goal", ["min", "max"])
def test_log_of_a_value_at_or_below_zero_warns_once_and_makes_no_outlier(tmp_path, goal, caplog):
    """The log is undefined at zero: the values are shifted to start 1% of their range above zero (the old
    shift, to 1e-9 above, put the zero at -20 on a scale where the others spanned 2.3), with one warning."""
    p = proposer(tmp_path, "log", goal)
    raw = np.array([0.0, 1.0, 5.0, 10.0])
    with caplog.at_level("WARNING", logger="looplab.proposer"):
        w = p.warp(p.internal(raw))
        p.warp(p.internal(raw - 3.0))
    assert [r.getMessage().count("log needs positive values") for r in caplog.records] == [1]
    assert "value was measured at 0" in caplog.records[0].getMessage()
    np.testing.assert_array_equal(np.argsort(w), np.argsort(p.internal(raw)))
    assert np.ptp(w) == pytest.approx(np.log(101.0), rel=1e-9)  # (10 + 0.1) / 0.1: a bounded range


def test_log_of_a_target_goal_is_the_log_distance(tmp_path):
    p = proposer(tmp_path, "log", "target")
    raw = np.array([5.0, 5.1, 6.0, 15.0])  # distances 0, 0.1, 1, 10 from the target 5
    w = p.warp(p.internal(raw))
    np.testing.assert_array_equal(np.argsort(-w), [0, 1, 2, 3])  # nearer is better
    np.testing.assert_allclose(np.diff(w[1:]), [-np.log(1.1 / 0.2), -np.log(10.1 / 1.1)])


def test_log_on_a_table_that_reaches_zero_is_refused(tmp_path):
    """A lookup oracle's values are known: validate refuses log on a column that holds zero or less."""
    text = alloy_yaml(name="p").replace("model: {kind: gp}", "model: {kind: gp, transform: log}")
    with pytest.raises(ConfigError) as err:
        load_campaign(write_campaign(tmp_path, text))
    assert "model.transform: log needs positive values, and the objective column 'mixing_energy'" in str(err.value)
    assert "use yeo-johnson" in str(err.value)


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


def test_a_large_batch_says_how_far_it_is_and_refines_fewer_starts_per_point(tmp_path, monkeypatch, caplog):
    """Fuzz round ten: batch_size 1000 on a continuous space chose for minutes without a word (3 minutes for
    the first batch, longer for each next one). A batch past SLOW_BATCH seconds now says how far it is, once,
    and a batch past BIG_BATCH points refines fewer starts per point."""
    import acquisition.batch as batch
    import orchestrator.proposer as proposer_module

    path = write_campaign(tmp_path, """
name: plate
seed: 0
space:
  parameters:
    - {name: x1, type: float, low: 0, high: 1}
    - {name: x2, type: float, low: 0, high: 1}
objective: {name: y, goal: max}
oracle: {kind: function, params: {function: sphere}}
model: {kind: gp}
acquisition: {kind: ei, batch_size: 40}
initial: {n: 4}
budget: {max_experiments: 100}
""")
    refined = []
    real_refine = batch._refine
    monkeypatch.setattr(batch, "_refine", lambda *a, **k: refined.append(1) or real_refine(*a, **k))
    monkeypatch.setattr(proposer_module, "SLOW_BATCH", 0.0)
    rng = np.random.default_rng(0)
    observed = [{"x1": a, "x2": b} for a, b in rng.random((4, 2))]
    with caplog.at_level("WARNING", logger="looplab.proposer"):
        proposal = Proposer(load_campaign(path)).propose(
            observed=observed, values=[-(p["x1"] - 0.3) ** 2 for p in observed], busy=[], used=observed, n=40,
            step=1, rng=rng)
    assert len(proposal.params) == 40
    said = [r.getMessage() for r in caplog.records if "takes a while" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("campaign=plate choosing a batch of 40 experiments on the model "
                                                 "takes a while: 1 of 40 chosen after ")
    assert len(refined) == 40 * (5 * batch.BIG_BATCH // 40)  # 2 starts per point, not 5


def test_a_model_fitted_on_many_observations_says_so_once(tmp_path, monkeypatch, caplog):
    """Fuzz round twelve: 50,000 rows of initial.data made the first `ask` silent for over 150 s (a random
    forest refitted on all of them for each point of the batch). Above LARGE_DATA observations the proposer
    says so, once."""
    import orchestrator.proposer as proposer_module

    monkeypatch.setattr(proposer_module, "LARGE_DATA", 3)
    path = write_campaign(tmp_path, """
name: many
space:
  parameters:
    - {name: x1, type: float, low: 0, high: 1}
objective: {name: y, goal: max}
oracle: {kind: manual}
model: {kind: random-forest}
initial: {n: 2}
budget: {max_experiments: 10}
""")
    proposer = Proposer(load_campaign(path))
    observed = [{"x1": x} for x in (0.1, 0.4, 0.7, 0.9)]
    with caplog.at_level("WARNING", logger="looplab.proposer"):
        for step in (1, 2):
            proposer.propose(observed=observed, values=[0.1, 0.5, 0.2, 0.3], busy=[], used=observed, n=1, step=step,
                             rng=np.random.default_rng(step))
    said = [r.getMessage() for r in caplog.records if "is fitted on all" in r.getMessage()]
    assert said == ["campaign=many: model 'random-forest' is fitted on all 4 observations at every step (and refitted "
                    "with each point of a batch, as a fantasy), so each step takes a while"]
