"""The Python ask/tell API (orchestrator/api.py): same proposals as `looplab run`, tell and its validation,
off-plan results, best/experiments/predict, two processes and the lease."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ALLOY_POOL, ROOT, alloy_yaml, write_campaign
from oracles.lookup import LookupTable
from orchestrator import Campaign
from orchestrator.cli import app
from orchestrator.errors import ConfigError, LeaseHeld, LooplabError
from orchestrator.store import Store

runner = CliRunner()
INPUTS = ("x_Cu", "x_Ag", "x_Au")


def _lookup():
    table = LookupTable(ALLOY_POOL, INPUTS, "mixing_energy")
    return lambda params: float(table.values[table.find(params, nearest=False)])


def _proposed(url: str, name: str) -> list[tuple]:
    st = Store(url)
    row = st.get_campaign(name)
    exps = st.experiments(row.id)
    st.close()
    return [(e.id, e.source, tuple(round(e.params[k], 12) for k in INPUTS)) for e in exps]


@pytest.mark.parametrize("model,batch", [("gp", 2), ("random-forest", 3)])
def test_ask_tell_reproduces_looplab_run(tmp_path: Path, model: str, batch: int):
    """Driving a pool campaign by ask/tell with the lookup oracle's values proposes exactly what `looplab run`
    proposes for the same seed: same ids (step numbering), same sources, same params, same order."""
    spec = write_campaign(tmp_path, alloy_yaml(name="same", seed=11, budget=10, model=model, batch_size=batch,
                                               initial=3))
    run_url = f"sqlite:///{tmp_path / 'run.db'}"
    result = runner.invoke(app, ["run", str(spec), "--store", run_url, "-q"])
    assert result.exit_code == 0, result.output
    by_run = _proposed(run_url, "same")

    ask_url = f"sqlite:///{tmp_path / 'ask.db'}"
    value = _lookup()
    c = Campaign.open(spec, store=ask_url)
    asked = 0
    while batch_ := c.ask():
        asked += 1
        for e in batch_:
            c.tell(e["id"], value(e["params"]))
    by_ask = _proposed(ask_url, "same")
    assert len(by_run) == 10 and asked >= 3
    assert by_ask == by_run
    assert {s for _, s, _ in by_ask} >= {"initial", "model"}
    assert c.best()["value"] == min(value(dict(zip(INPUTS, p))) for _, _, p in by_run)
    c.close()


def test_ask_is_pending_aware_and_tell_validates(tmp_path: Path):
    spec = write_campaign(tmp_path, alloy_yaml(name="pend", seed=2, budget=10, model="random-forest",
                                               batch_size=2, initial=2))
    c = Campaign.open(spec, store=f"sqlite:///{tmp_path / 's.db'}")
    value = _lookup()
    first = c.ask()
    assert [e["id"] for e in first] == ["pend-0000-00", "pend-0000-01"]
    for e in first:
        c.tell(e["id"], value(e["params"]))
    a = c.ask()
    b = c.ask(n=3)  # a's two still wait: b's three are proposed around them, never the same candidates
    assert [e["id"] for e in a] == ["pend-0001-00", "pend-0001-01"]
    assert [e["id"] for e in b] == ["pend-0002-00", "pend-0002-01", "pend-0002-02"]
    keys = {tuple(e["params"][k] for k in INPUTS) for e in first + a + b}
    assert len(keys) == 7
    assert [e["id"] for e in c.pending()] == [e["id"] for e in a + b]
    before = c.experiments()
    for bad, match in [(("nope", 1.0), "no experiment 'nope'"), ((a[0]["id"], float("nan")), "not a finite"),
                       ((a[0]["id"], "0.3"), "not a number"), ((a[0]["id"], {"other": 1.0}), "no 'mixing_energy'"),
                       ((first[0]["id"], 0.5), "already has a result")]:
        with pytest.raises(LooplabError, match=match):
            c.tell(*bad)
    assert c.experiments() == before
    c.tell(a[0]["id"], {"mixing_energy": -0.01, "lattice_constant": 3.9})
    got = [e for e in Store(c.store.url).experiments(c.row.id) if e.id == a[0]["id"]][0]
    assert (got.status, got.value, got.outputs) == ("succeeded", -0.01, {"lattice_constant": 3.9})
    # the budget: 2 + 2 + 3 = 7 proposed, 3 left, then nothing more
    assert len(c.ask(n=5)) == 3 and c.ask() == []
    c.close()


def test_off_plan_results_count_and_are_checked(tmp_path: Path):
    spec = write_campaign(tmp_path, """
name: offplan
seed: 4
space:
  parameters:
    - {name: x, type: float, low: 0.0, high: 1.0}
    - {name: k, type: int, low: 1, high: 5}
    - {name: c, type: categorical, choices: [a, b]}
objective: {name: y, goal: max}
oracle: {kind: manual}
model: {kind: random-forest}
initial: {n: 2}
budget: {max_experiments: 4}
""")
    c = Campaign.open(spec, store=f"sqlite:///{tmp_path / 's.db'}")
    eid = c.tell(params={"x": 0.5, "k": 3, "c": "b"}, value=2.0)
    assert eid == "offplan-x0000"
    for params, match in [({"x": 1.5, "k": 3, "c": "b"}, "x = 1.5 is outside its bounds"),
                          ({"x": 0.5, "k": 2.5, "c": "b"}, "not a whole number"),
                          ({"x": 0.5, "k": 2, "c": "z"}, "'z' is not one of its choices"),
                          ({"x": 0.5, "k": 2}, "no value for c"),
                          ({"x": 0.5, "k": 2, "c": "b", "kk": 4}, "kk is not an input of campaign offplan .did you "
                                                                   "mean 'k'..; its inputs: x, k, c")]:
        with pytest.raises(LooplabError, match=match):
            c.tell(params=params, value=1.0)
    with pytest.raises(LooplabError, match="not both"):
        c.tell("offplan-0000-00", 1.0, params={"x": 0.5, "k": 3, "c": "b"})
    assert c.best() == {"id": "offplan-x0000", "params": {"x": 0.5, "k": 3, "c": "b"}, "value": 2.0,
                        "source": "off-plan"}
    # the off-plan observation stands in for one of the initial design's 2 points: 1 is drawn
    batch = c.ask(n=5)
    assert [e["id"] for e in batch] == ["offplan-0000-00"]
    c.tell(batch[0]["id"], 1.5)
    batch = c.ask(n=5)  # the off-plan experiment counts toward the budget of 4: 2 left
    assert [e["id"] for e in batch] == ["offplan-0001-00", "offplan-0001-01"]
    assert c.tell(params={"x": 0.25, "k": 1, "c": "a"}, value=1.0) == "offplan-x0001"
    rows = c.experiments()
    assert [r["source"] for r in rows] == ["off-plan", "initial", "model", "model", "off-plan"]
    assert c.ask() == []
    c.close()


def test_predict_returns_mean_sd_and_acquisition(tmp_path: Path):
    """A GP on a 1-D quadratic: the prediction at a measured point is close to it, with a small sd; far from
    the data the sd is larger."""
    spec = write_campaign(tmp_path, """
name: pred
seed: 0
space:
  parameters: [{name: x, type: float, low: 0.0, high: 1.0}]
objective: {name: y, goal: min}
oracle: {kind: manual}
model: {kind: gp}
acquisition: {kind: ei}
budget: {max_experiments: 20}
""")
    c = Campaign.open(spec, store=f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(LooplabError, match="at least 2"):
        c.predict({"x": 0.5})
    for x in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        c.tell(params={"x": x}, value=(x - 0.3) ** 2)
    near, far = c.predict([{"x": 0.3}, {"x": 0.95}])
    print(f"predict at 0.3: {near}; at 0.95: {far}")
    assert abs(near["mean"] - 0.0) < 0.01 and near["sd"] < far["sd"]
    assert math.isfinite(near["acquisition"]) and math.isfinite(far["acquisition"])
    with pytest.raises(LooplabError, match="outside its bounds"):
        c.predict({"x": 2.0})
    c.close()


def test_predict_names_what_is_wrong_with_its_points(tmp_path: Path):
    spec = write_campaign(tmp_path, (ROOT / "campaigns" / "branin_gp_ei.yaml").read_text())
    c = Campaign.open(spec, store=f"sqlite:///{tmp_path / 's.db'}")
    for i, e in enumerate(c.ask()):
        c.tell(e["id"], float(i))
    assert set(c.predict({"x1": 1.0, "x2": 2.0})) == {"mean", "sd", "acquisition"}
    for params, message in [({"x1": 1.0, "x2": 2.0, "x_2": 3.0}, "params[0]: x_2 is not an input of campaign "
                                                                 "branin-gp-ei (did you mean 'x2'?)"),
                            ([], "params: the list is empty"),
                            (3, "params: expected a dict of input values, a list of them or a DataFrame (got int 3)"),
                            ([{"x1": 1, "x2": 2}, "x1=3"], "it holds str 'x1=3'")]:
        with pytest.raises(LooplabError) as err:
            c.predict(params)
        assert message in str(err.value)
    with pytest.raises(LooplabError, match="expected a whole number of experiments .got 'a'."):
        c.extend("a")


def test_open_by_name_and_dict(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = {"name": "d", "space": {"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]},
            "objective": {"name": "y", "goal": "max"}, "oracle": {"kind": "manual"},
            "model": {"kind": "random-forest"}, "initial": {"n": 2}, "budget": {"max_experiments": 5}}
    c = Campaign.open(spec, store=url)
    ids = [e["id"] for e in c.ask()]
    again = Campaign.open("d", store=url)
    assert [e["id"] for e in again.pending()] == ids
    changed = dict(spec, seed=5)
    with pytest.raises(ConfigError, match="seed"):
        Campaign.open(changed, store=url)
    with pytest.raises(LooplabError, match="neither a campaign file"):
        Campaign.open("nothere", store=url)
    for wrong in (None, [spec], 3):
        with pytest.raises(LooplabError, match="spec: expected a campaign file's path, a spec dict or a campaign's"):
            Campaign.open(wrong, store=url)


def test_ask_while_another_process_holds_the_lease(tmp_path: Path):
    """A second process that holds the campaign (as a daemon would) makes ask wait, then fail naming it;
    tell still records a result meanwhile."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = write_campaign(tmp_path, alloy_yaml(name="held", budget=10, model="random-forest", batch_size=2,
                                               initial=2))
    c = Campaign.open(spec, store=url)
    first = c.ask()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from orchestrator.store import Store
        st = Store({url!r}); row = st.get_campaign("held")
        st.acquire_lease(row.id, host=__import__("socket").gethostname(), pid=__import__("os").getpid())
        print("held", flush=True); time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LeaseHeld, match="being run by another process"):
            c.ask(wait=0.5)
        c.tell(first[0]["id"], -0.02)  # recorded without the lease
        assert [e["id"] for e in c.pending()] == [first[1]["id"]]
    finally:
        holder.kill()
        holder.wait()
    c.tell(first[1]["id"], -0.01)
    assert len(c.ask()) == 2  # the holder is gone (same host, pid dead): its lease is taken over


def test_tell_off_plan_and_import_on_sqlite_and_postgresql(tmp_path: Path, any_store_url: str):
    """The writes made without the lease (Store.tell, Store.add_measured) on both backends: all or nothing."""
    spec = write_campaign(tmp_path, alloy_yaml(name="both", budget=8, model="random-forest", batch_size=2,
                                               initial=2).replace("kind: lookup", "kind: manual"))
    c = Campaign.open(spec, store=any_store_url)
    first = c.ask()
    before = c.experiments()
    with pytest.raises(ConfigError):  # one good, one unknown: neither is written
        from oracles.base import Result
        from orchestrator.api import tell_results

        tell_results(c.store, c.row, [Result(first[0]["id"], "succeeded", 1.0), Result("zz", "succeeded", 2.0)])
    assert c.experiments() == before
    c.tell(first[0]["id"], -0.01)
    assert c.tell(params={"x_Cu": 0.0, "x_Ag": 0.0, "x_Au": 1.0}, value=0.0) == "both-x0000"
    (tmp_path / "e.csv").write_text("x_Cu,x_Ag,x_Au,mixing_energy\n0.0,0.03125,0.96875,-0.0019\n")
    assert c.import_data(tmp_path / "e.csv") == ["both-i0000"]
    assert [(r["id"], r["status"], r["source"]) for r in c.experiments()] == [
        (first[0]["id"], "succeeded", "initial"), (first[1]["id"], "proposed", "initial"),
        ("both-x0000", "succeeded", "off-plan"), ("both-i0000", "succeeded", "imported")]
    c.close()


def test_ask_with_the_approval_gate_returns_the_waiting_batch_and_approve_and_reject_work(tmp_path: Path):
    """With `approval: required`, ask() returns the batch it wrote as awaiting approval; approve and reject
    from the API change the store as the CLI does; a rejected row is never asked again; telling a result of
    an experiment that still awaits approval is refused and changes nothing."""
    spec = write_campaign(tmp_path, alloy_yaml(name="gated", seed=3, budget=8, model="random-forest",
                                               batch_size=2, initial=2, extra="approval: required"))
    c = Campaign.open(spec, store=f"sqlite:///{tmp_path / 'g.db'}")
    first = c.ask()
    assert len(first) == 2 and [e["id"] for e in c.awaiting()] == [e["id"] for e in first]
    value = _lookup()
    with pytest.raises(LooplabError, match="awaiting approval"):
        c.tell(first[0]["id"], value(first[0]["params"]))
    assert all(e["status"] == "awaiting_approval" for e in c.experiments())
    rejected = first[1]
    assert c.reject([rejected["id"]], reason="no Au today") == [rejected["id"]]
    assert c.approve() == [first[0]["id"]]
    c.tell(first[0]["id"], value(first[0]["params"]))
    seen = [rejected["params"]]
    while batch := c.ask():
        c.approve([e["id"] for e in batch])
        for e in batch:
            seen.append(e["params"])
            c.tell(e["id"], value(e["params"]))
    assert seen.count(rejected["params"]) == 1  # the rejected row never came back
    statuses = [e["status"] for e in c.experiments()]
    assert statuses.count("rejected") == 1 and statuses.count("succeeded") == 8
    c.close()
