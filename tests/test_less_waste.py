"""Less wasted budget: ``budget.patience`` stops a campaign whose best stalls, and an oracle's ``realise`` hook
keeps the proposer from measuring a realised point twice (whole-atom compositions, as the EMT oracle's)."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from conftest import write_campaign
from orchestrator.cli import app
from orchestrator.config import load_campaign
from orchestrator.engine import Engine
from orchestrator.store import Store

runner = CliRunner()

WHOLE_ATOMS = """
name: whole-atoms
seed: {seed}
space:
  parameters:
    - {{name: x_a, type: float, low: 0.0, high: 1.0}}
    - {{name: x_b, type: float, low: 0.0, high: 1.0}}
    - {{name: x_c, type: float, low: 0.0, high: 1.0}}
  constraints:
    - {{type: sum, parameters: [x_a, x_b, x_c], total: 1.0}}
objective: {{name: energy, goal: min}}
oracle: {{kind: "oracles_for_tests:WholeAtoms"}}
model: {{kind: gp, params: {{restarts: 1}}}}
acquisition: {{kind: ei, batch_size: {batch}}}
initial: {{n: 6}}
budget: {{max_experiments: {budget}{extra}}}
executor: {{kind: inline}}
"""


def run(tmp_path, text: str):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with Engine(load_campaign(write_campaign(tmp_path, text)), store) as engine:
        report = engine.run(poll_interval=0.01)
        return report, store.experiments(engine.id)


@pytest.mark.parametrize("batch", [1, 3])
def test_a_realised_composition_is_never_measured_twice(tmp_path, batch):
    """45 whole-atom compositions, 24 experiments: every stored experiment holds its realised composition
    (multiples of 1/8 summing to 1), and no two experiments share one."""
    report, exps = run(tmp_path, WHOLE_ATOMS.format(seed=batch, batch=batch, budget=24, extra=""))
    assert report.status == "completed" and len(exps) == 24
    keys = [(e.params["x_a"], e.params["x_b"], e.params["x_c"]) for e in exps]
    for k in keys:
        assert all(v * 8 == round(v * 8) for v in k) and math.isclose(sum(k), 1.0)
    assert len(set(keys)) == 24, sorted(keys)
    assert [e.outputs["atoms"] for e in exps] == [[round(v * 8) for v in k] for k in keys]
    best = min(e.value for e in exps)
    print(f"batch {batch}: 24 distinct compositions of 45; best {best:.4f} (the grid's best is 0.0)")
    assert best == 0.0  # (2, 4, 2) atoms: the minimum is on the grid and found


def test_emt_oracle_realises_what_it_calculates():
    """The ASE EMT oracle's realise rounds to the atom counts its calculation uses (32-atom fcc cell)."""
    from oracles.ase_emt import EMTConfig, EMTOracle

    config = EMTConfig(elements=["Cu", "Ag", "Au"], repeat=2)
    oracle = EMTOracle(config=config, inputs=("x_Cu", "x_Ag", "x_Au"))
    for x in ([0.1, 0.3, 0.6], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.52, 0.48], [0.9, 0.05, 0.05]):
        params = dict(zip(("x_Cu", "x_Ag", "x_Au"), x))
        realised = EMTOracle.realise(config, params)
        counts, _ = oracle.composition_counts(params, 32)
        assert [realised[n] for n in ("x_Cu", "x_Ag", "x_Au")] == [c / 32 for c in counts]
        assert EMTOracle.realise(config, realised) == realised  # idempotent


def test_patience_stops_when_the_best_stalls(tmp_path):
    """patience 4: the campaign completes 4 experiments after its last improvement, saying so."""
    report, exps = run(tmp_path, WHOLE_ATOMS.format(seed=0, batch=1, budget=40, extra=", patience: 4"))
    ended = [e for e in exps if e.status == "succeeded"]
    best = min(ended, key=lambda e: (e.value, e.seq))
    after = [e for e in ended if e.seq > best.seq]
    print(f"stopped after {len(ended)} of 40 experiments; best {best.value:.4f} at #{best.seq + 1}")
    assert report.status == "completed" and len(after) == 4 and len(ended) < 40
    assert all(e.value >= best.value for e in after)
    before = [e.value for e in ended if e.seq < best.seq]
    assert not before or best.value < min(before)  # the best was a strict improvement
    assert report.message.startswith("patience: the best") and "budget.patience = 4" in report.message


@pytest.mark.parametrize("value,fragment", [("0", "greater than or equal to 1"), ("2.5", "whole number"),
                                             ("true", "boolean"), ("many", "whole number")])
def test_bad_patience_is_one_line_naming_the_field(tmp_path, value, fragment):
    path = write_campaign(tmp_path, WHOLE_ATOMS.format(seed=0, batch=1, budget=10, extra=f", patience: {value}"))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and "budget.patience" in lines[0] and fragment in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("where,value,field", [
    ("objective", "''", "objective.unit"), ("objective", "[eV]", "objective.unit"),
    ("parameter", "''", "space.parameters[0].unit"), ("parameter", "{a: 1}", "space.parameters[0].unit")])
def test_bad_units_are_one_line_naming_the_field(tmp_path, where, value, field):
    text = WHOLE_ATOMS.format(seed=0, batch=1, budget=10, extra="")
    if where == "objective":
        text = text.replace("goal: min}", f"goal: min, unit: {value}}}")
    else:
        text = text.replace("{name: x_a, type: float, low: 0.0, high: 1.0}",
                            f"{{name: x_a, type: float, low: 0.0, high: 1.0, unit: {value}}}")
    result = runner.invoke(app, ["validate", str(write_campaign(tmp_path, text))])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and f": {field}: " in lines[0], result.output


SPHERE = """
name: repeat
seed: 0
space:
  parameters:
    - {{name: x, type: float, low: -1.0, high: 1.0}}
objective: {{name: value, goal: min}}
oracle: {{kind: function, params: {{function: sphere}}}}
model: {{kind: gp, params: {{restarts: 1}}}}
acquisition: {{kind: ucb, params: {{beta: 0.0001}}{extra}}}
budget: {{max_experiments: 10}}
"""


@pytest.mark.parametrize("extra,repeats", [(", min_distance: 0", True), ("", False)])
def test_min_distance_replaces_a_repeat(tmp_path, extra, repeats):
    """Near-pure exploitation (UCB with beta 1e-4) on x^2 measured at -1, -0.5, 0, 0.5, 1: the model's best is the
    measured x = 0. With min_distance 0 the proposal repeats it; by default (0.001 of the range) it is
    replaced by a candidate at least 0.002 away (in x's units)."""
    from orchestrator.proposer import Proposer, step_rng

    campaign = load_campaign(write_campaign(tmp_path, SPHERE.format(extra=extra)))
    proposer = Proposer(campaign)
    xs = [-1.0, -0.5, 0.0, 0.5, 1.0]
    observed = [{"x": x} for x in xs]
    prop = proposer.propose(observed=observed, values=[x * x for x in xs], busy=[], used=observed, n=1, step=1,
                            rng=step_rng(0, 1))
    x = prop.params[0]["x"]
    print(f"min_distance {'0' if extra else 'default'}: proposed x = {x:.6f}")
    assert (abs(x) < 0.002) is repeats
    if not repeats:
        assert abs(x) < 0.2  # still where the model says the best is


def test_imported_rows_do_not_use_up_patience(tmp_path):
    """Four imported rows with the best first ended a campaign with patience 2 before its first experiment,
    and the same rows in another order did not (fuzz round eight): imported rows have their file's order, not
    the order they were measured in. Now patience counts the campaign's own experiments after the best."""
    (tmp_path / "early.csv").write_text("x1,x2,value\n3.14,2.27,0.4\n0,0,55.6\n1,1,27.7\n2,2,9.6\n")
    spec = write_campaign(tmp_path, "name: early\nseed: 1\nspace:\n  parameters:\n"
                                    "    - {name: x1, type: float, low: -5.0, high: 10.0}\n"
                                    "    - {name: x2, type: float, low: 0.0, high: 15.0}\n"
                                    "objective: {name: value, goal: min}\noracle: {kind: function, params: "
                                    "{function: branin}}\nmodel: {kind: random-forest}\n"
                                    "initial: {n: 0, data: early.csv}\nbudget: {max_experiments: 6, patience: 2}\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = runner.invoke(app, ["run", str(spec), "--store", url, "-q"])
    assert result.exit_code == 0, result.output
    st = Store(url)
    exps = st.experiments(st.get_campaign("early").id)
    own = [e for e in exps if e.source != "imported"]
    assert len(own) >= 2, [(e.id, e.value) for e in exps]
    assert st.get_campaign("early").message.startswith("patience: the best")
