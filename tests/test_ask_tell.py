"""The Python ask/tell API (orchestrator/api.py): same proposals as `looplab run`, tell and its validation,
off-plan results, best/experiments/predict, two processes and the lease."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ALLOY_POOL, ROOT, alloy_yaml, write_campaign
from oracles.lookup import LookupTable
from orchestrator import Campaign
from orchestrator.api import NothingProposed, RecordedAfterEnd
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
    assert len(c.ask(n=5)) == 3
    with pytest.warns(NothingProposed, match="its budget of 10 experiments is used up and 7 experiment"):
        assert c.ask() == []
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
    with pytest.warns(NothingProposed, match="its budget of 4 experiments is used up"):
        assert c.ask() == []
    for eid in ("offplan-0001-00", "offplan-0001-01"):
        c.tell(eid, 0.5)  # the budget is used up with nothing waiting: completed
    assert c.store.get_campaign("offplan").status == "completed"
    # an off-plan result told after the end is kept as data, and said (fuzz round seven: accepted silently)
    with pytest.warns(RecordedAfterEnd, match=r"campaign offplan is completed \(budget reached\): the off-plan "
                                              r"result offplan-x0002 is recorded as data \(6 experiment\(s\) of a "
                                              r"budget of 4\); the campaign stays completed"):
        assert c.tell(params={"x": 0.75, "k": 2, "c": "a"}, value=0.2) == "offplan-x0002"
    assert c.store.get_campaign("offplan").status == "completed"
    c.close()


def test_an_off_plan_result_at_a_waiting_experiments_point_is_refused(tmp_path: Path):
    """Round nineteen's leftover: `tell(params=...)` at the point of an experiment still waiting (for approval,
    or for its result) was accepted, so the point was measured twice (`import` of the same row was refused).
    Now it is refused naming the experiment and what to do, nothing is written, and after the waiting
    experiment is rejected the measurement is recorded."""
    spec = write_campaign(tmp_path, alloy_yaml(name="twice", seed=3, budget=8, model="random-forest",
                                               batch_size=2, initial=2, extra="approval: required"))
    c = Campaign.open(spec, store=f"sqlite:///{tmp_path / 'g.db'}")
    first = c.ask()
    awaiting, approved = first
    c.approve([approved["id"]])
    before = c.experiments()
    for e, says in [(awaiting, f"which awaits approval .*reject\\('{awaiting['id']}'\\)"),
                    (approved, f"which waits for its result \\(proposed\\): tell this value as its result "
                               f"instead \\(tell\\('{approved['id']}', value\\)\\)")]:
        with pytest.raises(ConfigError, match=f"params: this pool row is that of experiment {e['id']}, {says}"):
            c.tell(params=dict(e["params"]), value=-0.01)
    assert c.experiments() == before
    c.reject([awaiting["id"]])
    assert c.tell(params=dict(awaiting["params"]), value=-0.01) == "twice-x0000"
    # fuzz round twenty: the same call again (a script re-run) recorded the measurement twice
    before = c.experiments()
    with pytest.raises(ConfigError, match="params: the same inputs and value as experiment twice-x0000 .off-plan., "
                                          "already recorded"):
        c.tell(params=dict(awaiting["params"]), value=-0.01)
    assert c.experiments() == before
    assert c.tell(params=dict(awaiting["params"]), value=-0.02) == "twice-x0001"  # another value: a repeat
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
    with pytest.raises(LooplabError, match="budget: expected a whole number of experiments .got str 'a'."):
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


HAND = """
name: {name}
seed: 0
space:
  parameters:
    - {{name: temperature_C, type: float, low: 40.0, high: 120.0}}
    - {{name: time_min, type: float, low: 5.0, high: 60.0}}
objective: {{name: yield_pct, goal: max}}
oracle: {{kind: manual}}
model: {{kind: random-forest}}
acquisition: {{kind: ei, batch_size: {batch}}}
initial: {{n: 3}}
budget: {{max_experiments: {budget}{in_flight}}}
"""


def _hand(tmp_path: Path, name: str = "hand", *, batch: int = 3, budget: int = 15, max_in_flight: int | None = None,
          extra: str = "") -> Campaign:
    in_flight = f", max_in_flight: {max_in_flight}" if max_in_flight else ""
    spec = write_campaign(tmp_path, HAND.format(name=name, batch=batch, budget=budget, in_flight=in_flight) + extra,
                          f"{name}.yaml")
    return Campaign.open(spec, store=f"sqlite:///{tmp_path / (name + '.db')}")


def _silently(call):
    """call() with a NothingProposed warning turned into an error: it must say nothing."""
    import warnings


    with warnings.catch_warnings():
        warnings.simplefilter("error", NothingProposed)
        return call()


def test_ask_fills_the_free_slots_and_says_why_it_proposes_nothing(tmp_path: Path):
    """ask() proposes as the engine's step: up to budget.max_in_flight experiments (default: the batch size) wait
    at once, so asking again without telling proposes only the free slots, and none once they are full: then a
    NothingProposed warning says why (the slots, the budget used up, a pause), never a silent []. ask(n) proposes
    n more whatever waits; a campaign that has ended returns [] without a warning."""

    c = _hand(tmp_path, batch=2, max_in_flight=3)
    first = c.ask()  # the initial design: initial.n = 3 experiments, which fill max_in_flight: 3
    assert [e["id"] for e in first] == ["hand-0000-00", "hand-0000-01", "hand-0000-02"]
    with pytest.warns(NothingProposed, match=r"campaign hand: ask\(\) proposed nothing: 3 experiment\(s\) wait for "
                                             r"results, as many as may wait at once \(budget.max_in_flight: 3"):
        assert c.ask() == []
    c.tell(first[0]["id"], 50.0)
    assert [e["id"] for e in _silently(c.ask)] == ["hand-0001-00"]  # 1 slot free of 3 (the batch would be 2)
    c.tell(first[1]["id"], 60.0)
    c.tell(first[2]["id"], 70.0)
    assert [e["id"] for e in _silently(c.ask)] == ["hand-0002-00", "hand-0002-01"]  # 2 free: a batch of 2
    with pytest.warns(NothingProposed, match="tell some results first, ask.n=....* or raise budget.max_in_flight"):
        assert c.ask() == []
    more = _silently(lambda: c.ask(n=4))  # n: more experiments whatever waits, around the waiting ones
    assert [e["id"] for e in more] == [f"hand-0003-0{i}" for i in range(4)]
    assert len(c.pending()) == 7
    assert len(_silently(lambda: c.ask(n=100))) == 5  # what is left of the budget of 15: 3 + 1 + 2 + 4 + 5
    with pytest.warns(NothingProposed, match="its budget of 15 experiments is used up and 12 experiment.s. wait for "
                                             r"results; tell their results \(or raise the budget with extend\(\)\)"):
        assert c.ask(n=1) == []
    c.pause(reason="lunch")
    with pytest.warns(NothingProposed, match="it is paused by .*: lunch; resume.. it first"):
        assert c.ask() == []
    c.resume()
    for e in c.pending():
        c.tell(e["id"], 1.0)
    assert _silently(c.ask) == []  # completed: the budget is reached; the end of a `while c.ask()` loop, quietly
    assert c.store.get_campaign("hand").status == "completed"
    c.close()


def test_ask_with_the_default_max_in_flight_says_the_batch_size_limits_it(tmp_path: Path):
    """The repro of the report: batch size 3, no max_in_flight; ask() twice, then after telling 2 of 3."""

    c = _hand(tmp_path)
    first = c.ask()
    with pytest.warns(NothingProposed, match=r"3 experiment\(s\) wait for results, as many as may wait at once "
                                             r"\(budget.max_in_flight: 3; default: the batch size\)"):
        assert c.ask() == []
    c.tell(first[0]["id"], 1.0)
    c.tell(first[1]["id"], 2.0)
    assert len(_silently(c.ask)) == 2
    with pytest.warns(NothingProposed, match="max_in_flight: 3"):
        assert c.ask() == []
    c.close()


def test_threads_sharing_a_campaign_take_turns(tmp_path: Path):
    """Four threads ask and tell at once through one Campaign object (and two through a second object of the same
    campaign): every call succeeds (no LeaseLost: the steps of one process take turns), each thread gets its own
    experiments, and every result is recorded."""
    import threading

    c = _hand(tmp_path, budget=40)
    for e in c.ask():
        c.tell(e["id"], e["params"]["time_min"] / 10)
    other = Campaign.open("hand", store=c.store.url)
    start = threading.Barrier(6)
    got: dict[int, list[str]] = {}
    errors: list[str] = []

    def worker(k: int, campaign: Campaign) -> None:
        try:
            start.wait()
            mine = []
            for _ in range(2):
                batch = campaign.ask(n=2)
                for e in batch:
                    campaign.tell(e["id"], e["params"]["temperature_C"] / 10)
                mine += [e["id"] for e in batch]
            got[k] = mine
        except Exception as exc:  # noqa: BLE001 - any error is the failure this test looks for
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(k, c if k < 4 else other)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and sorted(got) == list(range(6))
    ids = [i for k in got for i in got[k]]
    assert all(len(got[k]) == 4 for k in got) and len(set(ids)) == 24
    rows = c.experiments()
    assert len(rows) == 27 and all(r["status"] == "succeeded" for r in rows)
    assert len({(r["temperature_C"], r["time_min"]) for r in rows}) == 27
    other.close()
    c.close()


def test_wrong_arguments_are_errors_naming_the_argument(tmp_path: Path):
    """A wrong type or value of an argument is a ConfigError naming the argument, what it expects and what it got
    (never a TypeError, AttributeError or OverflowError from deep inside), and nothing is written."""
    c = _hand(tmp_path, name="args", extra="approval: required\n")
    batch = c.ask()
    eid = batch[0]["id"]
    url = c.store.url
    calls = [
        (lambda: Campaign.open(tmp_path / "args.yaml", store=5),
         "store", "expected a store URL such as 'sqlite:///runs/lab.db', a Store, or None (the default store) "
                  "(got int 5)"),
        (lambda: Campaign.open({"name": "z"}, store=url, base_dir=5),
         "base_dir", "expected the folder (a str or Path) relative paths of a dict spec are read from (got int 5)"),
        (lambda: c.ask(wait="x"), "wait", "expected a finite number of seconds >= 0 (got str 'x')"),
        (lambda: c.ask(wait=-1), "wait", "expected a finite number of seconds >= 0 (got int -1)"),
        (lambda: c.ask(wait=float("nan")), "wait", "expected a finite number of seconds >= 0 (got float nan)"),
        (lambda: c.ask(n=0), "n", "expected a whole number of experiments >= 1, or None (fill the free slots) "
                                  "(got int 0)"),
        (lambda: c.import_data(5), "path", "expected the path (a str or Path) of a CSV file of measurements "
                                           "(got int 5)"),
        (lambda: c.approve(5), "ids", "expected an experiment id or a list of them (got int 5)"),
        (lambda: c.approve([]), "ids", "the list is empty; give the id of at least one experiment"),
        (lambda: c.approve([eid, 5]), "ids", "expected experiment ids (str); the list holds int 5"),
        (lambda: c.reject(None), "ids", "expected the ids of the experiments to reject (there is no 'all': see "
                                        "awaiting()) (got NoneType None)"),
        (lambda: c.reject([]), "ids", "the list is empty; give the id of at least one experiment"),
        (lambda: c.reject(eid, reason=5), "reason", "expected a text (str) (got int 5)"),
        (lambda: c.edit(5, temperature_C=50.0), "id", "expected the id (a str) of an experiment awaiting approval "
                                                      "(got int 5)"),
        (lambda: c.pause(reason=["x"]), "reason", "expected a text (str) (got list ['x'])"),
        (lambda: c.tell(5, 1.0), "id", "expected the id (a str) of an experiment from ask() (got int 5)"),
        (lambda: c.tell(params=[1.0, 2.0], value=1.0), "params", "expected a dict of input values "
                                                                  "(got list [1.0, 2.0])"),
        # fuzz round twelve
        (lambda: Campaign.open(tmp_path / "args.yaml", store=""), "store", "expected a store URL such as "
         "'sqlite:///runs/lab.db', a Store, or None (the default store) (got str '')"),
        (lambda: c.ask(unless_waiting="no"), "unless_waiting", "expected True or False (got str 'no')"),
        (lambda: c.extend(2.5), "budget", "expected a whole number of experiments (got float 2.5)"),
        (lambda: c.extend(np.int64(3)), "budget", "3 is not above the campaign's budget of 15 (3 experiment(s) "
                                                  "counted so far); give a larger number (to lower a budget, edit "
                                                  "budget.max_experiments in the campaign file)"),
        (lambda: c.tell(eid, np.complex128(5 + 3j)), "value", "the value (5+3j) is not a real number"),
        # fuzz round twenty: a one-element array was stored as its element, while [7.0] was refused
        (lambda: c.tell(eid, np.array([[7.0]])), "value", "the value array([[7.]]) is an array of shape (1, 1), not "
                                                          "one number; tell each experiment's value on its own "
                                                          "(value.item() for one element)"),
        (lambda: c.tell(eid, {"yield_pct": 5.0, "value": 7.0}), "value", "the outputs hold both 'yield_pct' (the "
                                                                         "objective) and 'value': keep one of them "
                                                                         "for the objective (rename the other)"),
        (lambda: c.tell(eid, {"yield_pct": 5.0, " ": 7.0}), "value", "the outputs hold a key ' ' with no name; "
                                                                      "name each output"),
        (lambda: c.tell(params={"temperature_C": 50.0, "time_min": 10.0}, value=1e200), "value",
         "the value 1e+200 is beyond +/-1e+150, too large to model (its square overflows a float); report the "
         "objective in other units (or its logarithm)"),
    ]
    before = c.experiments()
    for call, field, message in calls:
        with pytest.raises(ConfigError) as err:
            call()
        assert [(p.path, p.message) for p in err.value.problems] == [(field, message)]
    assert c.experiments() == before and len(c.awaiting()) == 3
    assert Store(url).get_campaign("z") is None
    pooled = {"name": "pooled", "space": {"pool": {"path": "pool.csv", "inputs": ["x"]}}, "initial": {"n": 2},
              "objective": {"name": "y", "goal": "max"}, "oracle": {"kind": "manual"}, "budget": {"max_experiments": 4}}
    with pytest.raises(ConfigError, match="base_dir: '.*args.yaml' is not a folder; give the folder the dict spec's"):
        Campaign.open(pooled, store=url, base_dir=tmp_path / "args.yaml")  # fuzz round twelve: said 'campaign file'
    with pytest.raises(ConfigError, match=f"file not found .paths are relative to base_dir, here {tmp_path}."):
        Campaign.open(pooled, store=url, base_dir=tmp_path)
    spec = {"name": "sets", "space": {"parameters": [{"name": "c", "type": "categorical", "choices": {"a", "b"}}]},
            "objective": {"name": "y", "goal": "max"}, "oracle": {"kind": "manual"}, "budget": {"max_experiments": 4}}
    with pytest.raises(ConfigError, match=r"space.parameters\[0\].choices: is a set, whose order changes from one "
                                          "Python process to the next"):
        Campaign.open(spec, store=url)
    assert c.approve(eid) == [eid]  # one id, as a str, still works
    c.close()


def test_tell_refuses_a_value_a_float_cannot_hold(tmp_path: Path):
    """10**400 (an int, a Fraction, a Decimal) is too large for a float, and Decimal("1e-400") or
    Fraction(1, 10**400) would be stored as 0 (the CLI refuses '1e-400' alike): ConfigErrors naming the value,
    nothing recorded. Zero itself, and Decimal or Fraction values a float holds, are recorded."""
    from decimal import Decimal
    from fractions import Fraction

    c = _hand(tmp_path, name="tiny")
    a, b, d = (e["id"] for e in c.ask())
    for value, message in [(10**400, "the value 1000000000.* is too large for a float .beyond \\+/-1.8e308."),
                           (-10**400, "the value -1000000000.* is too large for a float"),
                           (Fraction(10**400, 3), "the value Fraction.1000.* is too large for a float"),
                           (Decimal("1e400"), "the value Decimal..1E.400.. is too large for a float"),
                           ({"yield_pct": 10**400}, "the value 1000.* is too large for a float"),
                           (Decimal("1e-400"), "the value Decimal..1E-400.. is too small for a float: it would be "
                                               "stored as 0"),
                           (Decimal("-1e-400"), "the value Decimal..-1E-400.. is too small for a float"),
                           (Fraction(1, 10**400), "the value Fraction.1, 1000.* is too small for a float")]:
        with pytest.raises(ConfigError, match="^value: " + message):
            c.tell(a, value)
    import numpy as np

    for boolean in (np.bool_(True), np.array([True])):  # recorded as 1 (fuzz round nine); Python's True is refused
        with pytest.raises(ConfigError, match="^value: the value .* (is not a number|is an array of shape)"):
            c.tell(a, boolean)
    loop: dict = {}
    loop["me"] = loop  # outputs that hold themselves: the store could not write them (fuzz round eight)
    with pytest.raises(ConfigError, match="^value: the outputs are not JSON: 'notes.me' holds itself"):
        c.tell(a, {"yield_pct": 1.0, "notes": loop})
    with pytest.raises(ConfigError, match="^value: the outputs are not JSON: two keys of the outputs are the same "
                                          "as text .1 and '1'."):  # one replaced the other (fuzz round nine)
        c.tell(a, {"yield_pct": 1.0, 1: "int", "1": "text"})
    assert [e["id"] for e in c.pending()] == [a, b, d]
    c.tell(a, Decimal("0"))
    c.tell(b, Fraction(3, 2))
    c.tell(d, Decimal("-1e-300"))
    assert [e["value"] for e in c.experiments()] == [0.0, 1.5, -1e-300]
    c.close()


def test_one_file_imported_by_four_processes_at_once_is_stored_once(tmp_path: Path, any_store_url: str):
    """Found by the fuzz round of 2026-12-04 (evening): the check that refuses a file imported twice read the
    store before the write transaction, so four processes importing one file at once stored its rows 2-4
    times. It is made inside the transaction now: one import succeeds, the others are refused."""
    spec = write_campaign(tmp_path, alloy_yaml(name="race", budget=8, model="random-forest").replace(
        "kind: lookup", "kind: manual"))
    Campaign.open(spec, store=any_store_url).close()
    data = tmp_path / "d.csv"
    data.write_text("x_Cu,x_Ag,x_Au,mixing_energy\n0.5,0.25,0.25,-0.01\n1.0,0.0,0.0,0.0\n")
    code = textwrap.dedent(f"""
        import sys
        from orchestrator import Campaign
        from orchestrator.errors import ConfigError
        c = Campaign.open("race", store={any_store_url!r})
        try:
            print("imported", len(c.import_data({str(data)!r})))
        except ConfigError as exc:
            print("refused", "was the file imported before?" in str(exc))
        """)
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=240) for p in procs]
    lines = sorted(out.strip() for out, _ in outs)
    assert lines == ["imported 2", "refused True", "refused True", "refused True"], outs
    c = Campaign.open("race", store=any_store_url)
    assert sorted(e["x_Cu"] for e in c.experiments() if e["source"] == "imported") == [0.5, 1.0]


def test_a_told_result_that_completes_the_campaign_ends_it_at_once(tmp_path: Path):
    """An ask/tell campaign has no step between tells: the tell that uses up the budget (here one lowered
    below what was asked, in the file) or reaches budget.stop_at ends it then, so `status` does not show it
    running until the next ask; the tell says so."""
    c = _hand(tmp_path, batch=3, budget=15)
    first = c.ask()
    c.tell(first[0]["id"], 50.0)
    more = c.ask(n=2)
    spec = tmp_path / "hand.yaml"
    spec.write_text(spec.read_text().replace("max_experiments: 15", "max_experiments: 3"))
    c.close()
    url = f"sqlite:///{tmp_path / 'hand.db'}"
    c = Campaign.open(spec, store=url)  # the file's lower budget: 5 asked, 1 told
    for e in first[1:] + more[:1]:
        c.tell(e["id"], 40.0)
        assert c.store.get_campaign("hand").status == "running"  # one still waits
    c.pause(reason="lunch")  # paused with nothing left, it has ended all the same (found by round seven)
    res = CliRunner().invoke(app, ["tell", "hand", more[1]["id"], "45", "--store", url])
    assert res.exit_code == 0, res.output
    assert "0 experiment(s) still wait; the campaign is completed: budget reached" in " ".join(res.output.split())
    row = c.store.get_campaign("hand")
    assert (row.status, row.message) == ("completed", "budget reached")
    assert _silently(c.ask) == []
    c.close()

    spec = write_campaign(tmp_path, HAND.format(name="goal", batch=3, budget=15, in_flight=", stop_at: 60"),
                          "goal.yaml")
    c = Campaign.open(spec, store=url)
    batch = c.ask()
    c.tell(batch[0]["id"], 30.0)
    assert c.store.get_campaign("goal").status == "running"
    c.pause(reason="lunch")  # a stop rule ends a paused campaign too, as a step would (found by round seven)
    c.tell(batch[1]["id"], 61.0)  # reaches stop_at: the campaign ends; what still waits is cancelled
    row = c.store.get_campaign("goal")
    assert (row.status, row.message) == ("completed", "stop_at reached (best 61)")
    assert [e.status for e in c.store.experiments(row.id)] == ["succeeded", "succeeded", "cancelled"]
    c.close()
