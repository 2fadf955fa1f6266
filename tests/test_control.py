"""Campaign control: `looplab pause | resume | stop | extend`, obeyed by a running daemon (a real APScheduler
thread) and by `looplab run` (a real process) within one tick, and `looplab status` telling the true state.

Real SQLite store, the real lookup oracle on the committed alloy pool, a random forest (cheap fits). What is
measured: the number of experiments proposed after a pause took effect (must stay 0), after a resume (must
grow), after a stop; how long the daemon took to apply each wish (printed, and bounded by a few ticks).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, alloy_yaml, write_campaign
from typer.testing import CliRunner

from orchestrator import control
from orchestrator.cli import app
from orchestrator.config import load_campaign
from orchestrator.daemon import Daemon
from orchestrator.engine import Engine
from orchestrator.store import Store

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TICK = 0.2  # the daemon's interval in these tests


def cli(*args: str):
    r = runner.invoke(app, list(args), env={"COLUMNS": "300"})
    return r.exit_code, ANSI.sub("", r.stdout), ANSI.sub("", r.stderr)


def status_cell(url: str, name: str) -> str:
    """The `status` column of `looplab status` for the campaign: what a user reads."""
    code, out, err = cli("status", "--store", url)
    assert code == 0, err
    lines = out.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("│ " + name + " "))
    parts = [[c.strip() for c in lines[i].split("│")][2]]
    # a long cell wraps onto the next lines of its row (rich shrinks the widest columns when the table is
    # wider than the terminal, e.g. with a long "predicted best"): those lines have an empty name cell
    for ln in lines[i + 1:]:
        cells = [c.strip() for c in ln.split("│")]
        if not ln.startswith("│") or len(cells) < 3 or cells[1]:
            break
        parts.append(cells[2])
    return " ".join(p for p in parts if p)


def wait_for(cond, timeout: float = 60.0) -> float:
    """Seconds until ``cond()`` held (fails after ``timeout``)."""
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out waiting"
        time.sleep(0.02)
    return time.monotonic() - t0


def count(store: Store, name: str) -> int:
    row = store.get_campaign(name)
    return len(store.experiments(row.id)) if row else 0


def status(store: Store, name: str) -> str:
    row = store.get_campaign(name)
    return row.status if row else ""


def daemon_on(tmp_path: Path, **files: str) -> tuple[Daemon, Store, str, Path]:
    folder = tmp_path / "campaigns"
    folder.mkdir()
    for stem, text in files.items():
        (folder / f"{stem}.yaml").write_text(text)
    url = f"sqlite:///{tmp_path / 'd.db'}"
    store = Store(url)
    d = Daemon(folder, store, interval=TICK, rescan=0.3, slice_seconds=0.5, workers=2)
    d.start()
    return d, store, url, folder


def long_campaign(name: str, budget: int = 300) -> str:
    return alloy_yaml(name=name, budget=budget, initial=2, model="random-forest")


def test_a_running_daemon_obeys_pause_resume_and_stop_within_a_tick(tmp_path):
    d, store, url, _ = daemon_on(tmp_path, a=long_campaign("ctl"))
    try:
        wait_for(lambda: count(store, "ctl") >= 5)
        assert status_cell(url, "ctl") == "running"

        code, out, err = cli("pause", "ctl", "--reason", "furnace down", "--store", url)
        assert code == 0, err
        assert "pause of 'ctl' requested" in out and f"pid {os.getpid()}" in out
        took = wait_for(lambda: status(store, "ctl") == "paused")
        n = count(store, "ctl")
        time.sleep(10 * TICK)  # ten ticks
        after_pause = count(store, "ctl") - n
        print(f"\npause applied {took:.2f} s after the command (tick {TICK} s); new experiments in the "
              f"{10 * TICK:.1f} s after: {after_pause}")
        assert after_pause == 0
        assert took < 3.0
        assert status_cell(url, "ctl") == f"paused: paused by {control.who()}: furnace down"
        code, out, _ = cli("pause", "ctl", "--store", url)
        assert code == 0 and "already paused" in out

        code, out, err = cli("resume", "ctl", "--store", url)
        assert code == 0, err
        took = wait_for(lambda: count(store, "ctl") >= n + 3)
        print(f"after resume: 3 new experiments within {took:.2f} s")
        assert status(store, "ctl") == "running" and status_cell(url, "ctl") == "running"

        code, out, err = cli("stop", "ctl", "--reason", "enough", "--store", url)
        assert code == 0, err
        took = wait_for(lambda: status(store, "ctl") == "stopped")
        m = count(store, "ctl")
        time.sleep(10 * TICK)
        print(f"stop applied {took:.2f} s after the command; new experiments after: {count(store, 'ctl') - m}")
        assert count(store, "ctl") == m and took < 3.0
        row = store.get_campaign("ctl")
        assert not store.experiments(row.id, ["awaiting_approval", "proposed", "submitted", "running"])
        assert status_cell(url, "ctl") == f"stopped: stopped by {control.who()}: enough"
        assert [r["state"] for r in d.summary()] == ["stopped"]
        assert store.lease(row.id) is None  # the daemon let it go
        code, out, _ = cli("stop", "ctl", "--store", url)
        assert code == 0 and "already stopped" in out
        code, _, err = cli("pause", "ctl", "--store", url)
        assert code == 2 and "has stopped" in err and "looplab resume ctl" in err

        # resume undoes a stop: the daemon picks the campaign up at its next scan
        code, out, err = cli("resume", "ctl", "--store", url)
        assert code == 0, err
        took = wait_for(lambda: count(store, "ctl") >= m + 2)
        print(f"after resuming the stopped campaign: 2 new experiments within {took:.2f} s")
        assert status(store, "ctl") == "running"
    finally:
        d.stop()


def test_extend_raises_the_budget_and_a_completed_campaign_runs_on_in_the_daemon(tmp_path):
    d, store, url, _ = daemon_on(tmp_path, b=long_campaign("ext", budget=5))
    try:
        wait_for(lambda: status(store, "ext") == "completed")
        assert count(store, "ext") == 5 and status_cell(url, "ext") == "completed: budget reached"
        code, _, err = cli("extend", "ext", "--budget", "5", "--store", url)
        assert code == 2 and "--budget: 5 is not above the campaign's budget of 5 (5 experiment(s)" in err
        code, _, err = cli("resume", "ext", "--store", url)
        assert code == 2 and "looplab extend ext --budget N" in err

        code, out, err = cli("extend", "ext", "--budget", "9", "--store", url)
        assert code == 0, err
        assert "raised from 5 to 9" in out and "runs again" in out
        took = wait_for(lambda: count(store, "ext") > 5)
        print(f"\nextend: the completed campaign proposed again {took:.2f} s later (rescan 0.3 s)")
        wait_for(lambda: status(store, "ext") == "completed")
        assert count(store, "ext") == 9
        code, out, _ = cli("status", "--store", url)
        assert "9/9" in out and status_cell(url, "ext") == "completed: budget reached"

        # extended while it runs: it goes on to the new budget without stopping
        code, out, err = cli("extend", "ext", "--budget", "12", "--store", url)
        assert code == 0
        wait_for(lambda: count(store, "ext") == 12 and status(store, "ext") == "completed")
        time.sleep(5 * TICK)
        assert count(store, "ext") == 12
    finally:
        d.stop()


def test_a_removed_file_shows_paused_with_the_reason_and_resumes_when_put_back(tmp_path):
    d, store, url, folder = daemon_on(tmp_path, c=long_campaign("gone"))
    try:
        wait_for(lambda: count(store, "gone") >= 3)
        path = folder / "c.yaml"
        text = path.read_text()
        path.unlink()
        wait_for(lambda: status(store, "gone") == "paused")
        n = count(store, "gone")
        cell = status_cell(url, "gone")
        assert cell.startswith(f"paused: paused by the daemon (pid {os.getpid()}): its file c.yaml was removed")
        assert "put it back to resume" in cell
        time.sleep(5 * TICK)
        assert count(store, "gone") == n
        path.write_text(text)
        wait_for(lambda: count(store, "gone") >= n + 2)
        assert status(store, "gone") == "running" and status_cell(url, "gone") == "running"
    finally:
        d.stop()


def test_a_paused_engine_still_records_results_in_flight(tmp_path, any_store_url):
    """Pause stops proposals, not results: an experiment dispatched before the pause is recorded after it.
    SQLite, then a real PostgreSQL."""
    store = Store(any_store_url)
    spec = write_campaign(tmp_path, alloy_yaml(name="inflight", budget=20, initial=2, model="random-forest"))
    with Engine(load_campaign(spec), store) as engine:
        first = engine.step()  # proposes and dispatches the initial design; the lookup answers at the next poll
        assert first.proposed == 2 and first.in_flight == 2
        control.pause(store, "inflight", reason="check")
        report = engine.step()
        assert report.recorded == 2 and report.proposed == 0 and report.status == "paused"
        assert status(store, "inflight") == "paused"
        for _ in range(3):
            assert engine.step().proposed == 0
        control.resume(store, "inflight")
        assert engine.step().proposed == 1
        assert status(store, "inflight") == "running"


def test_looplab_run_obeys_pause_resume_and_stop(tmp_path):
    """A `looplab run` process: paused it proposes nothing and says why; stopped, it exits with the summary."""
    spec = write_campaign(tmp_path, long_campaign("byrun"))
    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"

    def n() -> int:
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                return conn.execute("select count(*) from experiments").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", str(spec), "--store", url,
                             "--poll-interval", str(TICK)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, COLUMNS="200"))
    try:
        wait_for(lambda: n() >= 4, timeout=120)
        store = Store(url)
        code, out, err = cli("pause", "byrun", "--reason", "lunch", "--store", url)
        assert code == 0 and "requested" in out, err
        wait_for(lambda: status(store, "byrun") == "paused")
        k = n()
        time.sleep(10 * TICK)
        assert n() == k
        cli("resume", "byrun", "--store", url)
        wait_for(lambda: n() >= k + 3)
        code, out, err = cli("stop", "byrun", "--reason", "done here", "--store", url)
        assert code == 0, err
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"paused by {control.who()}: lunch: nothing new is proposed until `looplab resume byrun`" in out
    assert f"campaign byrun: stopped (stopped by {control.who()}: done here)" in out
    assert status(Store(url), "byrun") == "stopped"


def test_a_campaign_the_daemon_paused_after_failed_steps_says_so_in_the_store(tmp_path, monkeypatch):
    real_step = Engine.step

    def step(self):
        if self.spec.name == "crashy":
            raise RuntimeError("the instrument driver crashed")
        return real_step(self)

    monkeypatch.setattr(Engine, "step", step)
    d, store, url, _ = daemon_on(tmp_path, e=long_campaign("crashy"))
    try:
        wait_for(lambda: status(store, "crashy") == "paused")
    finally:
        d.stop()
    assert status_cell(url, "crashy") == (f"paused: paused by the daemon (pid {os.getpid()}): 3 failed steps in a "
                                          "row: RuntimeError: the instrument driver crashed; fix the cause and "
                                          "touch e.yaml to resume")


def test_a_daemon_holds_a_gated_batch_and_dispatches_it_within_a_tick_of_approval(tmp_path):
    gated = alloy_yaml(name="gate", budget=6, initial=2, batch_size=2, model="random-forest",
                       extra="approval: required")
    d, store, url, folder = daemon_on(tmp_path, g=gated)
    try:
        wait_for(lambda: count(store, "gate") == 2)
        time.sleep(10 * TICK)  # ten ticks: nothing dispatched, nothing more proposed
        row = store.get_campaign("gate")
        assert [e.status for e in store.experiments(row.id)] == ["awaiting_approval"] * 2
        code, out, _ = cli("status", "--store", url)
        assert "2 await approval by a person (looplab approve gate)" in out
        control.approve(store, "gate", ["gate-0000-00"])
        took = wait_for(lambda: {e.id: e.status for e in store.experiments(row.id)}["gate-0000-00"] == "succeeded")
        print(f"\napproved experiment recorded {took:.2f} s after the approval (tick {TICK} s)")
        assert took < 3.0
        # approval switched off in the file: what waits is approved, and the campaign runs to its end
        (folder / "g.yaml").write_text(gated.replace("approval: required", "approval: none"))
        wait_for(lambda: status(store, "gate") == "completed")
        exps = store.experiments(row.id)
        assert len(exps) == 6 and {e.status for e in exps} == {"succeeded"}
        assert {r["by"] for r in store.reviews(row.id)} == {control.who(), "the campaign file (approval: none)"}
    finally:
        d.stop()


def test_a_store_written_before_resume_reset_the_failure_count_is_upgraded_and_still_readable(tmp_path):
    db = tmp_path / "old.db"
    url = f"sqlite:///{db}"
    store = Store(url)
    cid = store.create_campaign("old", {"objective": {"goal": "min"}, "budget": {"max_experiments": 3}}, "").id
    store.set_control(cid, state="paused", reason="lunch", by="ann")
    store.close()
    with sqlite3.connect(db) as conn:  # as written by looplab before campaign_control had failures_from
        conn.execute("ALTER TABLE campaign_control DROP COLUMN failures_from")
    read_only = Store(url, create=False)
    assert read_only.control(cid).state == "paused" and read_only.control(cid).failures_from == 0
    result = CliRunner().invoke(app, ["status", "--store", url], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "pause requested by ann: lunch" in result.output, result.output
    with sqlite3.connect(db) as conn:  # a read command neither needs nor adds the column
        assert "failures_from" not in [r[1] for r in conn.execute("pragma table_info(campaign_control)")]
    store = Store(url)  # a writing one adds it
    assert store.set_control(cid, state="running", failures_from=7).failures_from == 7
    assert store.control(cid).state == "running" and store.control(cid).failures_from == 7


def test_extend_refuses_a_campaign_that_a_stop_rule_ended(tmp_path):
    """A campaign completed by budget.stop_at: extend said it runs again, and the next ask ended it at once
    (fuzz round seven). The rule, not the budget, is what to change."""
    from orchestrator import Campaign
    from orchestrator.control import extend
    from orchestrator.errors import LooplabError

    spec = tmp_path / "c.yaml"
    spec.write_text("name: ext\nspace:\n  parameters:\n    - {name: x, type: float, low: 0, high: 1}\n"
                    "objective: {name: y, goal: max}\noracle: {kind: manual}\nmodel: {kind: random-forest}\n"
                    "acquisition: {kind: ucb, batch_size: 2}\ninitial: {n: 2}\n"
                    "budget: {max_experiments: 4, stop_at: 10}\n")
    c = Campaign.open(spec, store=f"sqlite:///{tmp_path / 's.db'}")
    first = c.ask()
    c.tell(first[0]["id"], 11.0)
    assert c.store.get_campaign("ext").status == "completed"
    with pytest.raises(LooplabError, match="completed because stop_at reached .best 11., not because of its budget"):
        extend(c.store, "ext", 10)
    import numpy as np

    from orchestrator.control import resume

    with pytest.raises(LooplabError, match="completed because stop_at reached"):
        extend(c.store, "ext", np.int64(10))  # a numpy integer is a whole number (fuzz round twelve)

    # fuzz round twelve: resume sent such a campaign to extend, which refuses it
    with pytest.raises(LooplabError, match=r"has completed \(stop_at reached \(best 11\)\); to run it further change "
                                           r"that rule in the campaign file \(budget.stop_at or budget.patience\)"):
        resume(c.store, "ext")
    c.close()


POOL4 = "a,b,y\n0,0,1\n0,1,2\n1,0,3\n1,1,4\n"


def _tiny_pool(tmp_path: Path, approval: str, budget: int) -> Path:
    (tmp_path / "p.csv").write_text(POOL4)
    spec = tmp_path / f"tiny_{approval}_{budget}.yaml"
    spec.write_text("name: tiny\nspace:\n  pool: {path: p.csv, inputs: [a, b]}\nobjective: {name: y, goal: max}\n"
                    f"oracle: {{kind: lookup}}\nmodel: {{kind: random-forest}}\ninitial: {{n: 2}}\n"
                    f"approval: {approval}\nbudget: {{max_experiments: {budget}}}\n")
    return spec


def test_rows_a_stop_cancelled_unmeasured_are_proposed_again_after_resume(tmp_path):
    """Fuzz round eighteen: a pool campaign stopped while two rows awaited approval, then resumed, never proposed
    those rows again (ended 'exhausted' with half the pool unmeasured). They were never measured, so they are
    candidates again; the summary counts them apart from the budget."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = cli("run", str(_tiny_pool(tmp_path, "required", 4)), "--store", url, "--max-steps", "1", "-q")
    assert code == 0, err
    assert cli("stop", "tiny", "--store", url)[0] == 0
    assert cli("resume", "tiny", "--store", url)[0] == 0
    code, out, err = cli("run", str(_tiny_pool(tmp_path, "none", 4)), "--store", url, "-q")
    assert code == 0, err
    assert "completed (the search space is exhausted (and its budget reached))" in out and "2 cancelled" in out, out
    st = Store(url)
    exps = st.experiments(st.get_campaign("tiny").id)
    st.close()
    assert [e.status for e in exps].count("cancelled") == 2
    measured = sorted((e.params["a"], e.params["b"]) for e in exps if e.status == "succeeded")
    assert measured == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_a_campaign_with_nothing_left_to_propose_is_not_extended_and_min_distance_may_change(tmp_path):
    """Fuzz round eighteen: extend accepted a campaign whose pool was used up, or whose min_distance ruled out
    every point left, and the next run ended it again at once; the message of the latter did not name
    min_distance, and the file with a smaller one was refused as a different setup."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert cli("run", str(_tiny_pool(tmp_path, "none", 10)), "--store", url, "-q")[0] == 0
    code, out, err = cli("extend", "tiny", "--budget", "20", "--store", url)
    assert code == 2 and "every candidate of its space is measured, waiting or rejected" in err, err
    code, out, err = cli("resume", "tiny", "--store", url)
    assert code == 2 and "a higher budget has nothing to propose" in err, err
    # the budget used up with the last row (the re-run's case 92): said as exhausted too, so extend refuses it
    other = f"sqlite:///{tmp_path / 'o.db'}"
    code, out, err = cli("run", str(_tiny_pool(tmp_path, "none", 4)), "--store", other, "-q")
    assert code == 0 and "completed (the search space is exhausted (and its budget reached))" in out, out
    code, out, err = cli("extend", "tiny", "--budget", "10", "--store", other)
    assert code == 2 and "a higher budget has nothing to propose" in err, err

    text = ("name: far\nspace:\n  parameters:\n    - {name: x1, type: float, low: -5.0, high: 10.0}\n"
            "    - {name: x2, type: float, low: 0.0, high: 15.0}\nobjective: {name: value, goal: min}\n"
            "oracle: {kind: function, params: {function: branin}}\nmodel: {kind: random-forest}\n"
            "acquisition: {kind: ei, min_distance: 0.45}\ninitial: {n: 2}\nbudget: {max_experiments: 12}\n")
    spec = tmp_path / "far.yaml"
    spec.write_text(text)
    code, out, err = cli("run", str(spec), "--store", url, "-q")
    assert code == 0, err
    said = " ".join(out.split())
    assert "the search space is exhausted: no point left lies at least acquisition.min_distance (0.45 of each " \
           "input's range)" in said, said
    code, out, err = cli("extend", "far", "--budget", "13", "--store", url)
    assert code == 2 and "lower it in the campaign file" in err, err
    spec.write_text(text.replace("min_distance: 0.45", "min_distance: 0.01"))
    code, out, err = cli("run", str(spec), "--store", url, "-q")
    assert code == 0 and "completed (budget reached)" in out, out + err
    st = Store(url)
    assert len(st.experiments(st.get_campaign("far").id)) == 12
    st.close()


def test_a_discrete_space_whose_every_point_is_measured_is_not_blamed_on_min_distance(tmp_path):
    """Two 0/1 inputs have four points: once all four are measured the space is exhausted, whatever
    min_distance is; the message does not tell the user to lower it."""
    from orchestrator import Campaign

    spec = tmp_path / "disc.yaml"
    spec.write_text("name: disc\nspace:\n  parameters:\n    - {name: a, type: int, low: 0, high: 1}\n"
                    "    - {name: c, type: categorical, choices: [x, y]}\nobjective: {name: value, goal: min}\n"
                    "oracle: {kind: manual}\nmodel: {kind: random-forest}\ninitial: {n: 2}\n"
                    "budget: {max_experiments: 10}\n")
    c = Campaign.open(spec, store=f"sqlite:///{tmp_path / 's.db'}")
    while batch := c.ask():
        for e in batch:
            c.tell(e["id"], float(e["params"]["a"]))
    row = c.store.get_campaign("disc")
    assert len(c.experiments()) == 4
    assert (row.status, row.message) == ("completed", "the search space is exhausted")
    c.close()
