"""The approval gate (``approval: required``): batches wait for a person, who approves, rejects or edits them.

Real SQLite (and PostgreSQL where the store is what is tested), the real engine stepped in-process, the real
CLI (typer's runner, or `looplab run` processes that are SIGKILLed). Cheap models (random forest) on small
pools keep it fast; the one continuous test fits a real GP.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, alloy_yaml, edit_stored_spec, write_campaign
from typer.testing import CliRunner

from orchestrator import control
from orchestrator.cli import app
from orchestrator.config import load_campaign
from orchestrator.engine import Engine
from orchestrator.errors import LooplabError
from orchestrator.store import Store

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def cli(*args: str):
    """Run `looplab ARGS` in-process: (exit code, stdout, stderr), colours stripped."""
    r = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return r.exit_code, ANSI.sub("", r.stdout), ANSI.sub("", r.stderr)


def gated_alloy(tmp_path: Path, *, name: str = "gated", budget: int = 12, batch: int = 2, initial: int = 2) -> Path:
    return write_campaign(tmp_path, alloy_yaml(name=name, budget=budget, batch_size=batch, initial=initial,
                                               model="random-forest", extra="approval: required"), f"{name}.yaml")


def snapshot(db: Path) -> list[tuple]:
    """Everything approval and control write: experiments, decisions, campaign status and wishes."""
    with sqlite3.connect(db) as conn:
        out = [tuple(r) for r in conn.execute("select id, params, status, value, error from experiments order by seq")]
        out += [tuple(r) for r in conn.execute("select experiment_id, action, params, new_params from reviews")]
        out += [tuple(r) for r in conn.execute("select name, status, message from campaigns")]
        out += [tuple(r) for r in conn.execute("select state, reason, budget from campaign_control")]
    return out


def statuses(store: Store, name: str) -> dict[str, str]:
    return {e.id: e.status for e in store.experiments(store.get_campaign(name).id)}


def test_a_gated_batch_waits_until_approved_then_runs_once(tmp_path, any_store_url):
    url = any_store_url  # SQLite, then a real PostgreSQL
    store = Store(url)
    with Engine(load_campaign(gated_alloy(tmp_path)), store) as engine:
        report = engine.step()
        assert report.proposed == 2 and report.awaiting == 2 and report.in_flight == 0
        for _ in range(5):  # nothing is dispatched, nothing new is proposed while the batch waits
            report = engine.step()
            assert report.proposed == 0 and report.recorded == 0
        assert statuses(store, "gated") == {"gated-0000-00": "awaiting_approval", "gated-0000-01": "awaiting_approval"}

        code, out, err = cli("approve", "gated", "gated-0000-01", "--store", url)
        assert code == 0, err
        assert "approved 1 experiment(s) of 'gated': gated-0000-01" in out
        assert f"pid {os.getpid()}" in out  # this process holds the campaign: it dispatches at its next step
        engine.step()  # dispatches the approved one (the lookup oracle answers at once)
        engine.step()  # records it
        st = statuses(store, "gated")
        # the slot it freed is filled by a new proposal, which waits in its turn
        assert st == {"gated-0000-00": "awaiting_approval", "gated-0000-01": "succeeded",
                      "gated-0001-00": "awaiting_approval"}
        assert [e.id for e in store.experiments(engine.id, ["submitted", "running", "proposed"])] == []

        code, out, _ = cli("approve", "gated", "--store", url)  # every one still waiting
        assert code == 0 and "gated-0000-00, gated-0001-00" in out
        for _ in range(3):
            engine.step()
        st = statuses(store, "gated")
        assert st["gated-0000-00"] == st["gated-0001-00"] == "succeeded"
        assert sum(s == "awaiting_approval" for s in st.values()) == 2  # the next batch, waiting in its turn
        decisions = store.reviews(engine.id)
        assert [(d["experiment_id"], d["action"]) for d in decisions] == [
            ("gated-0000-01", "approved"), ("gated-0000-00", "approved"), ("gated-0001-00", "approved")]


def test_reject_and_edit_from_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store = Store(url)
    with Engine(load_campaign(gated_alloy(tmp_path, budget=4)), store) as engine:
        engine.step()
        first = store.experiments(engine.id)
        code, out, err = cli("reject", "gated", "gated-0000-00", "--reason", "too much gold", "--store", url)
        assert code == 0, err
        assert "rejected 1 experiment(s) of 'gated': gated-0000-00" in out
        rejected = store.experiments(engine.id, ["rejected"])
        assert [e.error for e in rejected] == [f"rejected by {control.who()}: too much gold"]

        # edit the other one to a pool row nobody has used (the params are those of a real row)
        space = load_campaign(gated_alloy(tmp_path, budget=4)).space
        used = {space.index_of(e.params) for e in first}
        row = next(r for i, r in enumerate(space.candidates) if i not in used)
        code, out, err = cli("edit", "gated", "gated-0000-01", *[f"{k}={v}" for k, v in row.items()], "--store", url)
        assert code == 0, err
        assert "edited gated-0000-01" in out and "still awaits approval" in out
        edited = {e.id: e for e in store.experiments(engine.id)}["gated-0000-01"]
        assert edited.params == row and edited.status == "awaiting_approval"
        history = [d for d in store.reviews(engine.id) if d["action"] == "edited"]
        assert history[0]["params"] == first[1].params and history[0]["new_params"] == row

        # the rejected one does not count toward the budget of 4: the campaign proposes in its place
        code, _, _ = cli("approve", "gated", "--store", url)
        assert code == 0
        report = engine.run(poll_interval=0.01, max_steps=1)  # dispatches the edited one; proposes one more
        assert report.awaiting >= 1
        while not report.done:
            control.approve(store, "gated")
            report = engine.step()
        exps = store.experiments(engine.id)
        assert report.status == "completed" and report.message == "budget reached"
        assert sum(e.status == "succeeded" for e in exps) == 4  # 4 run, plus the rejected one
        assert [e.id for e in exps if e.status == "rejected"] == ["gated-0000-00"]
        assert {e.id: e.params for e in exps}["gated-0000-01"] == row  # it ran with the edited params


def small_pool(tmp_path: Path, n: int = 12) -> Path:
    path = tmp_path / "pool.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y", "f"])
        for i in range(n):
            w.writerow([i, (7 * i) % n, float((i - 4) ** 2 + 0.5 * ((7 * i) % n))])
    return path


def test_a_rejected_pool_row_never_comes_back_to_the_end_of_the_pool(tmp_path):
    """Twelve rows, batches of two; every proposal whose x is odd is rejected, the others approved. The campaign
    runs until the pool is exhausted: every row was proposed exactly once, the rejected ones never again."""
    pool = small_pool(tmp_path)
    spec = write_campaign(tmp_path, f"""
name: small
space: {{pool: {{path: {pool}, inputs: [x, y]}}}}
objective: {{name: f, goal: min}}
oracle: {{kind: lookup}}
model: {{kind: random-forest}}
acquisition: {{kind: ei, batch_size: 2}}
initial: {{n: 2}}
budget: {{max_experiments: 12}}
approval: required
""")
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    rejected_x: list[float] = []
    with Engine(load_campaign(spec), store) as engine:
        for _ in range(200):
            report = engine.step()
            if report.done:
                break
            waiting = store.experiments(engine.id, ["awaiting_approval"])
            bad = [e.id for e in waiting if int(e.params["x"]) % 2]
            if bad:
                control.reject(store, "small", bad, reason="odd x")
                rejected_x += [e.params["x"] for e in waiting if e.id in bad]
            if len(bad) < len(waiting):
                control.approve(store, "small", [e.id for e in waiting if e.id not in bad])
    exps = store.experiments(engine.id)
    assert report.done and report.status == "completed", report
    assert report.message == "the search space is exhausted"
    xs = [e.params["x"] for e in exps]
    assert sorted(xs) == [float(i) for i in range(12)]  # every row exactly once: none proposed twice
    assert sorted(rejected_x) == [1.0, 3.0, 5.0, 7.0, 9.0, 11.0]
    assert {e.params["x"] for e in exps if e.status == "rejected"} == set(rejected_x)
    assert {e.params["x"] for e in exps if e.status == "succeeded"} == {0.0, 2.0, 4.0, 6.0, 8.0, 10.0}


def test_a_rejected_continuous_point_is_never_proposed_again(tmp_path):
    """On a continuous space the acquisition's optimum is stable: proposing twice from the same data and random
    numbers picks the same point (the check could fail), and with that point rejected it picks one farther than
    REJECTED_RADIUS away (in the encoded unit cube, as realised), at every later step too."""
    from orchestrator.proposer import REJECTED_RADIUS, Proposer, step_rng

    spec = write_campaign(tmp_path, """
name: cont
space:
  parameters:
    - {name: x1, type: float, low: 0.0, high: 1.0}
    - {name: x2, type: int, low: 0, high: 20}
objective: {name: f, goal: max}
oracle: {kind: function, params: {function: sphere}}
model: {kind: gp}
acquisition: {kind: ei}
initial: {n: 6}
budget: {max_experiments: 20}
""")
    campaign = load_campaign(spec)
    proposer = Proposer(campaign)
    rng = np.random.default_rng(0)
    observed = campaign.space.sample(8, "sobol", rng)
    values = [-(p["x1"] - 0.3) ** 2 - ((p["x2"] - 12) / 20) ** 2 for p in observed]

    def propose(rejected, step=8):
        prop = proposer.propose(observed=observed, values=values, busy=[], used=observed, n=1, step=step,
                                rng=step_rng(0, step), rejected=rejected)
        return prop.params[0]

    def distance(a, b):
        X = campaign.space.encode([a, b])
        return float(np.linalg.norm(X[0] - X[1]))

    first = propose([])
    assert distance(first, propose([])) < REJECTED_RADIUS  # the same point again, without a rejection
    rejected = [first]
    for step in range(8, 11):  # three more rejections in a row
        p = propose(rejected, step)
        assert min(distance(p, r) for r in rejected) > REJECTED_RADIUS, (p, rejected)
        rejected.append(p)


TINY = """
name: {name}
seed: 0
space:
  parameters:
    - {{name: a, type: int, low: 0, high: 1}}
    - {{name: b, type: int, low: 0, high: 1}}
objective: {{name: value, goal: min}}
oracle: {{kind: function, params: {{function: sphere}}}}
model: {{kind: random-forest}}
acquisition: {{kind: ei, batch_size: 1}}
initial: {{n: {n}}}
budget: {{max_experiments: 10}}
{extra}
"""


def test_a_small_space_whose_every_point_was_rejected_completes_as_exhausted(tmp_path):
    """Found by the fuzz round of 2026-12-04 (evening): on two 0/1 ints with every proposal rejected, the
    random draws (no observation yet, so no model) came back to rejected points for ever, and the campaign
    never ended. Each of the 4 points is proposed once; then the campaign is completed, exhausted."""
    from orchestrator import Campaign

    spec = write_campaign(tmp_path, TINY.format(name="tiny", n=2, extra="approval: required"), "tiny.yaml")
    with Campaign.open(spec, store=f"sqlite:///{tmp_path / 't.db'}") as c:
        proposed = []
        for _ in range(6):
            c.ask()
            waiting = c.awaiting()
            if not waiting:
                break
            proposed += [(e["params"]["a"], e["params"]["b"]) for e in waiting]
            c.reject([e["id"] for e in waiting], reason="no")
        assert sorted(proposed) == [(0, 0), (0, 1), (1, 0), (1, 1)], proposed
        row = c.store.get_campaign("tiny")
        assert row.status == "completed" and "exhausted" in (row.message or ""), (row.status, row.message)


def test_an_initial_design_larger_than_a_finite_space_measures_each_point_once(tmp_path):
    """initial.n: 10 on a space of 4 points measured each point 2-3 times, silently; now each once, and the
    campaign ends exhausted after 4 experiments."""
    spec = write_campaign(tmp_path, TINY.format(name="tiny", n=10, extra=""), "tiny.yaml")
    url = f"sqlite:///{tmp_path / 't.db'}"
    code, out, err = cli("run", str(spec), "--store", url, "-q")
    assert code == 0, out + err
    exps = Store(url).experiments(1)
    assert sorted((e.params["a"], e.params["b"]) for e in exps) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert "the search space is exhausted" in out


def test_edit_is_validated_against_the_space(tmp_path):
    """A continuous space: bounds, whole numbers, levels, the sum constraint; each refusal names the param."""
    spec = write_campaign(tmp_path, """
name: mix
space:
  parameters:
    - {name: a, type: float, low: 0.0, high: 1.0}
    - {name: b, type: float, low: 0.0, high: 1.0}
    - {name: n, type: int, low: 1, high: 5}
    - {name: solvent, type: categorical, choices: [water, ethanol]}
  constraints:
    - {type: sum, parameters: [a, b], total: 1.0}
objective: {name: f}
oracle: {kind: manual}
model: {kind: random-forest}
initial: {n: 2}
budget: {max_experiments: 4}
approval: required
""")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    store = Store(url)
    with Engine(load_campaign(spec), store) as engine:
        engine.step()
    before = snapshot(tmp_path / "m.db")
    for args, phrase in [
        (["a=1.5", "b=-0.5"], "a: 1.5 is outside its bounds [0, 1]"),
        (["n=2.5"], "n: must be a whole number (got 2.5)"),
        (["n=9"], "n: 9 is outside its bounds [1, 5]"),
        (["solvent=acetone"], "solvent: 'acetone' is not one of its levels: water, ethanol"),
        (["a=0.9"], "a+b: sum to"),
        (["c=1"], "c: not a parameter of campaign 'mix'"),
        (["a=nan"], "a: must be a finite number"),
        (["a"], "PARAMS: 'a' is not param=value"),
        (["a=0.2", "a=0.3"], "a: given twice"),
    ]:
        code, out, err = cli("edit", "mix", "mix-0000-00", *args, "--store", url)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1 and phrase in lines[0], (args, err)
        assert "Traceback" not in err and out == ""
        assert snapshot(tmp_path / "m.db") == before, args
    # a model setting this version refuses (as a later or earlier version may have stored it): edit reads only
    # the space
    edit_stored_spec(url, "mix", lambda spec: spec["model"].update(transform="no-such-transform"))
    code, out, err = cli("edit", "mix", "mix-0000-00", "a=0.25", "b=0.75", "n=5", "solvent=ethanol", "--store", url)
    assert code == 0, err
    e = {e.id: e for e in store.experiments(store.get_campaign("mix").id)}["mix-0000-00"]
    assert e.params == {"a": 0.25, "b": 0.75, "n": 5, "solvent": "ethanol"}


def test_every_bad_input_is_one_line_exit_2_and_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    db = tmp_path / "g.db"
    store = Store(url)
    with Engine(load_campaign(gated_alloy(tmp_path, budget=4)), store) as engine:
        engine.step()
        control.approve(store, "gated", ["gated-0000-00"])
        engine.step()
        engine.step()  # gated-0000-00 succeeded, gated-0000-01 waits
    assert statuses(store, "gated")["gated-0000-00"] == "succeeded"
    before = snapshot(db)
    cases = [
        (["approve", "nope"], "NAME: no campaign named 'nope'"),
        (["approve", "gatd"], "Did you mean gated?"),
        (["approve", "gated", "gated-9999-00"], "no experiment gated-9999-00 in campaign 'gated'"),
        (["approve", "gated", "gated-0000-00"], "gated-0000-00 (succeeded) is not awaiting approval"),
        (["approve", "gated", "gated-0000-01", "gated-0000-00"], "nothing was changed"),
        (["reject", "gated", "gated-0000-00"], "gated-0000-00 (succeeded) is not awaiting approval"),
        (["reject", "gated"], "Missing argument"),
        (["edit", "gated", "gated-0000-00", "x_Cu=0.5"], "gated-0000-00 (succeeded) is not awaiting approval"),
        (["edit", "gated", "gated-7", "x_Cu=0.5"], "ID: no experiment 'gated-7' in campaign 'gated'"),
        (["edit", "gated", "gated-0000-01", "x_Cuu=0.5"], "x_Cuu: not a parameter of campaign 'gated'. Did you mean x_Cu?"),
        (["edit", "gated", "gated-0000-01", "x_Cu=0.5"], "x_Cu=0.5: no row of the pool"),
        (["edit", "gated", "gated-0000-01", "x_Cu=lots"], "x_Cu: must be a number (got 'lots')"),
        (["extend", "gated", "--budget", "4"], "--budget: 4 is not above the campaign's budget of 4"),
        (["extend", "gated", "--budget", "2"], "--budget: 2 is not above"),
        (["extend", "gated", "--budget", "many"], "'--budget'"),
        (["extend", "gated"], "Missing option '--budget'"),
        (["pause", "nope"], "no campaign named 'nope'"),
        (["resume", "nope"], "no campaign named 'nope'"),
        (["stop", "nope"], "no campaign named 'nope'"),
        (["status", "nope"], "no campaign named 'nope'"),
    ]
    for args, phrase in cases:
        code, out, err = cli(*args, "--store", url)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2, (args, out, err)
        assert len(lines) == 1 and lines[0].startswith("error ") and phrase in lines[0], (args, err)
        assert "Traceback" not in err
        assert snapshot(db) == before, args
    # the edit that would take a row another experiment used
    used = store.experiments(store.get_campaign("gated").id)[0].params
    code, _, err = cli("edit", "gated", "gated-0000-01", *[f"{k}={v!r}" for k, v in used.items()], "--store", url)
    assert code == 2 and "this pool row is already experiment gated-0000-00 (succeeded)" in err
    assert snapshot(db) == before
    # a store path that does not exist is not created
    code, _, err = cli("approve", "gated", "--store", f"sqlite:///{tmp_path / 'typo.db'}")
    assert code == 2 and "no database at" in err and not (tmp_path / "typo.db").exists()
    # the Python functions raise the same one-line errors
    with pytest.raises(LooplabError, match="not awaiting approval"):
        control.reject(store, "gated", ["gated-0000-00"])
    with pytest.raises(LooplabError, match="--budget: 3 is not above"):
        control.extend(store, "gated", 3)
    assert snapshot(db) == before


def test_edit_to_the_params_of_another_or_a_rejected_experiment_is_refused_in_a_continuous_space(tmp_path):
    """Fuzz round (F12): in a continuous space, an edit to the exact params of another experiment of the
    campaign, or of a rejected one (never proposed again), was accepted; a pool refused the row. Now both
    refuse it, naming the experiment and its status; a point merely near one is still an edit."""
    spec = write_campaign(tmp_path, """
name: appr
seed: 1
space:
  parameters:
    - {name: x1, type: float, low: -5.0, high: 10.0}
    - {name: x2, type: float, low: 0.0, high: 15.0}
objective: {name: f, goal: min}
oracle: {kind: manual}
model: {kind: random-forest}
acquisition: {kind: ucb, batch_size: 3}
initial: {n: 3}
budget: {max_experiments: 9}
approval: required
""")
    url = f"sqlite:///{tmp_path / 'a.db'}"
    db = tmp_path / "a.db"
    store = Store(url)
    with Engine(load_campaign(spec), store) as engine:
        engine.step()
    control.approve(store, "appr", ["appr-0000-00"])
    control.reject(store, "appr", ["appr-0000-01"], reason="no")
    params = {e.id: e.params for e in store.experiments(store.get_campaign("appr").id)}
    before = snapshot(db)
    for other, status in [("appr-0000-00", "proposed"), ("appr-0000-01", "rejected")]:
        code, out, err = cli("edit", "appr", "appr-0000-02", *[f"{k}={v!r}" for k, v in params[other].items()],
                             "--store", url)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error "), (other, err)
        assert f"these are the params of experiment {other} ({status})" in lines[0], err
        assert "Traceback" not in err and snapshot(db) == before
    assert "a rejected point is never proposed again" in err
    with pytest.raises(LooplabError, match="these are the params of experiment appr-0000-00"):
        control.edit(store, "appr", "appr-0000-02", dict(params["appr-0000-00"]))
    assert snapshot(db) == before
    near = {k: v + 1e-3 for k, v in params["appr-0000-00"].items()}  # another point: still an edit
    code, out, err = cli("edit", "appr", "appr-0000-02", *[f"{k}={v!r}" for k, v in near.items()], "--store", url)
    assert code == 0 and "edited appr-0000-02" in out, err
    assert statuses(store, "appr")["appr-0000-02"] == "awaiting_approval"


def test_an_import_of_a_pool_row_awaiting_approval_is_refused_until_it_is_rejected(tmp_path):
    """Fuzz round (F13): `import` of a pool row that an experiment awaiting approval holds was accepted (the row
    would be measured twice), while `edit` to it was refused. Now it is refused, naming the experiment and what
    to do; after `reject` the row imports."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    db = tmp_path / "g.db"
    store = Store(url)
    with Engine(load_campaign(gated_alloy(tmp_path, budget=6)), store) as engine:
        engine.step()
    waiting = store.experiments(store.get_campaign("gated").id)[0]
    assert waiting.status == "awaiting_approval"
    data = tmp_path / "imp.csv"
    data.write_text("x_Cu,x_Ag,x_Au,mixing_energy\n" + ",".join(repr(v) for v in waiting.params.values()) + ",-0.01\n")
    before = snapshot(db)
    code, out, err = cli("import", "gated", str(data), "--store", url)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error imp.csv, line 2: "), err
    assert f"this pool row is that of experiment {waiting.id}, which awaits approval" in lines[0]
    assert f"looplab reject gated {waiting.id}" in lines[0] and "nothing was imported" in lines[0]
    assert "Traceback" not in err and snapshot(db) == before
    control.reject(store, "gated", [waiting.id])
    code, out, err = cli("import", "gated", str(data), "--store", url)
    assert code == 0 and "imported 1 row(s)" in out, err


def test_the_gate_survives_sigkill_and_an_approved_batch_runs_exactly_once(tmp_path):
    """`looplab run` processes SIGKILLed while a batch waits and after it was approved: a waiting batch stays
    waiting (and unrun), an approved one is run once by the oracle (its log of runs), whatever was killed."""
    tally = tmp_path / "runs.log"
    tally.touch()
    spec = write_campaign(tmp_path, f"""
name: killgate
space:
  parameters:
    - {{name: x1, type: float, low: 0.0, high: 1.0}}
    - {{name: x2, type: float, low: 0.0, high: 1.0}}
objective: {{name: f, goal: max}}
oracle: {{kind: "oracles_for_tests:Tally", params: {{log: "{tally}"}}}}
model: {{kind: random-forest}}
acquisition: {{kind: ucb, batch_size: 2}}
initial: {{n: 2}}
budget: {{max_experiments: 4}}
approval: required
""")
    db = tmp_path / "k.db"
    url = f"sqlite:///{db}"
    env = {"PYTHONPATH": str(Path(__file__).parent)}  # the Tally oracle, by import path

    def run_until(cond, kill: bool = True):
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", str(spec), "--store", url,
                                 "--poll-interval", "0.05"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="120", **env))
        end = time.monotonic() + 120
        while not cond() and proc.poll() is None:
            assert time.monotonic() < end, "timed out"
            time.sleep(0.05)
        if kill:
            assert proc.poll() is None, proc.communicate()
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out, err

    def rows():
        if not db.exists():
            return {}
        with sqlite3.connect(db) as conn:
            try:
                return dict(conn.execute("select id, status from experiments").fetchall())
            except sqlite3.OperationalError:
                return {}

    def waiting():
        return [i for i, s in rows().items() if s == "awaiting_approval"]

    run_until(lambda: len(waiting()) == 2)
    assert rows() == {"killgate-0000-00": "awaiting_approval", "killgate-0000-01": "awaiting_approval"}
    assert tally.read_text() == ""  # nothing reached the oracle
    store = Store(url)
    assert control.approve(store, "killgate") == ["killgate-0000-00", "killgate-0000-01"]
    assert tally.read_text() == ""  # no process runs it: approved, not yet dispatched
    # the next run dispatches them, records them, proposes the next batch: killed while that one waits
    run_until(lambda: len(waiting()) == 2 and sum(s == "succeeded" for s in rows().values()) == 2)
    assert tally.read_text().split() == ["killgate-0000-00", "killgate-0000-01"]
    step1 = waiting()
    control.approve(store, "killgate", step1)
    code, out, err = run_until(lambda: False, kill=False)  # runs to its end
    assert code == 0, err
    assert "completed (budget reached)" in out
    runs = tally.read_text().split()
    assert sorted(runs) == sorted(["killgate-0000-00", "killgate-0000-01", *step1])  # each exactly once
    assert set(rows().values()) == {"succeeded"}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_written_before_the_gate_existed_is_read_and_upgraded(tmp_path, backend, request):
    """The new tables (campaign_control, reviews) are simply missing from an older store: it reads as 'nothing
    asked', and the first command that writes creates them. Both backends."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    with Engine(load_campaign(gated_alloy(tmp_path, budget=4)), store) as engine:
        engine.step()
    with store.engine.begin() as conn:  # as the code before this change left it
        conn.execute(text("DROP TABLE reviews"))
        conn.execute(text("DROP TABLE campaign_control"))
    store.close()
    code, out, err = cli("status", "gated", "--store", url)
    assert code == 0, err
    assert "2 await approval by a person (looplab approve gated)" in out
    code, out, err = cli("approve", "gated", "gated-0000-00", "--store", url)
    assert code == 0, err
    code, out, err = cli("pause", "gated", "--reason", "lunch", "--store", url)
    assert code == 0 and "paused" in out, err
    store = Store(url)
    row = store.get_campaign("gated")
    assert row.status == "paused" and store.control(row.id).reason == "lunch"
    assert [d["action"] for d in store.reviews(row.id)] == ["approved"]
    code, out, err = cli("extend", "gated", "--budget", "9", "--store", url)
    assert code == 0 and "raised from 4 to 9" in out, err
    assert control.budget_of(store, store.get_campaign("gated")) == 9


def test_ask_under_the_gate_says_the_batch_awaits_approval_and_writes_no_worksheet(tmp_path):
    """Found by the fuzz round of 2026-12-04 (night): the proposing ask said '2 experiment(s) to run' and wrote
    the worksheet, though tell refuses experiments awaiting approval. After approve, ask writes it."""
    spec = write_campaign(tmp_path, alloy_yaml(name="g", budget=6, model="random-forest", initial=2,
                                               extra="approval: required").replace("kind: lookup", "kind: manual"),
                          "g.yaml")
    url, sheet = f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "w.csv"
    code, out, err = cli("ask", str(spec), "--store", url, "--csv", str(sheet))
    assert code == 0, err
    assert "2 experiment(s) proposed, awaiting approval: looplab approve g" in " ".join(out.split()), out
    assert "to run" not in out and not sheet.exists()
    assert cli("approve", "g", "--store", url)[0] == 0
    code, out, err = cli("ask", "g", "--store", url, "--csv", str(sheet))
    assert code == 0 and sheet.exists() and len(sheet.read_text().splitlines()) == 3, out + err
