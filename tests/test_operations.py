"""What an operator sees: `status` after a daemon stops, a daemon waiting for a lease, the plugin policy,
and the mock robot's shutdown. Real processes, a real SQLite store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from conftest import ROOT, alloy_yaml
from test_daemon import campaign_folder, records, wait_for  # noqa: F401 (records is a fixture)
from test_robot import Robot, lab

from orchestrator.config import load_campaign
from orchestrator.daemon import Daemon
from orchestrator.engine import open_campaign
from orchestrator.store import Store

LONG = "a-campaign-with-a-name-long-enough-to-be-cut-by-an-80-column-table-alloy"


def status(url: str) -> str:
    """`looplab status` with its output piped (not a terminal), as in `looplab status > file`."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    p = subprocess.run([sys.executable, "-m", "orchestrator", "status", "--store", url], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_status_after_a_daemon_stops_says_unfinished_and_after_a_file_is_removed_paused(tmp_path):
    # both budgets far away: with one fit slot (2 workers) one campaign's tick can hold it for its whole 5 s
    # slice while the other waits (CI, 2026-12-02: LONG finished 40 experiments before the other had 6), and
    # neither may finish before the status below is taken and the file removed
    folder = campaign_folder(tmp_path, long=alloy_yaml(name=LONG, seed=1, budget=400, model="random-forest"),
                             other=alloy_yaml(name="removed", seed=2, budget=400, model="random-forest"))
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    store = Store(url)
    d = Daemon(folder, store, interval=0.05, rescan=0.2)
    d.start()
    try:
        wait_for(lambda: all(len(store.experiments(c.id)) >= 6 for c in store.list_campaigns())
                 and len(store.list_campaigns()) == 2)
        out = status(url)
        assert LONG in out, f"the name was cut:\n{out}"
        assert out.count("running") == 2 and f"pid {os.getpid()}" in out
        (folder / "other.yaml").unlink()  # pauses that campaign
        wait_for(lambda: store.lease(store.get_campaign("removed").id) is None, timeout=30)
    finally:
        d.stop()
    # the daemon's own final table lists it too, paused (fuzz round seventeen: only the files still there were)
    gone = [r for r in d.summary() if r["file"] == "other.yaml"]
    assert len(gone) == 1 and gone[0]["state"] == "paused" and "other.yaml was removed" in gone[0]["message"]
    assert gone[0]["counts"].get("succeeded", 0) >= 6
    out = status(url)
    print(out)
    rows = [line for line in out.splitlines() if LONG in line or "removed" in line]
    assert len(rows) == 2 and all("running" not in r for r in rows), out
    # the daemon stopped: nobody drives it; the file removed: the daemon said in the store that it paused it
    assert "unfinished" in rows[0] and LONG in rows[0], out
    assert f"paused: paused by the daemon (pid {os.getpid()}): its file other.yaml was removed" in rows[1], out
    assert all(len(line) <= 400 for line in out.splitlines()), "a piped table should be as wide as its content"


def test_a_daemon_waiting_for_a_lease_says_so_once_and_takes_over_by_itself(tmp_path, records):
    folder = campaign_folder(tmp_path, alloy=alloy_yaml(name="queued", seed=2, budget=6, initial=6))
    store = Store(f"sqlite:///{tmp_path / 'wait.db'}")
    row, _ = open_campaign(store, load_campaign(folder / "alloy.yaml"))
    other = os.getppid()
    store.acquire_lease(row.id, host=socket.gethostname(), pid=other)
    d = Daemon(folder, store, interval=0.05, rescan=0.1, exit_when_done=True)
    d.start()
    try:
        wait_for(lambda: any("waits" in s for s in records.lines), timeout=30)
        time.sleep(1.5)  # some 15 rescans
        waits = [s for s in records.lines if "waits" in s]
        assert len(waits) == 1, waits
        assert f"pid {other} on" in waits[0] and "takes it over by itself" in waits[0]
        assert "Stop that process first" not in waits[0]
        assert not any("changed: reopening" in s for s in records.lines), "a rescan logged a change that was not"
        store.release_lease(row.id, host=socket.gethostname(), pid=other)
        assert d.wait(timeout=120)
    finally:
        d.stop()
    assert len(store.experiments(row.id)) == 6 and store.get_campaign("queued").status == "completed"


def test_installed_only_refuses_import_path_kinds_before_importing_them(tmp_path, records, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "sneaky_plugin.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                               "from oracles.lookup import LookupOracle as Sneaky\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = alloy_yaml(name="sneaky", budget=6, initial=6).replace("{kind: lookup}", "{kind: 'sneaky_plugin:Sneaky'}")
    folder = campaign_folder(tmp_path, sneaky=text)
    store = Store(f"sqlite:///{tmp_path / 'policy.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2, plugins="installed-only")
    d.start()
    try:
        wait_for(lambda: d.summary() and d.summary()[0]["state"] == "invalid", timeout=30)
    finally:
        d.stop()
    message = d.summary()[0]["message"]
    assert "oracle.kind 'sneaky_plugin:Sneaky'" in message and "--plugins installed-only" in message
    assert not marker.exists(), "the plugin's module was imported"
    assert store.get_campaign("sneaky") is None

    # the default policy runs it (the module is imported: a campaign file is trusted code)
    d = Daemon(folder, store, interval=0.05, rescan=0.2, exit_when_done=True)
    d.start()
    try:
        assert d.wait(timeout=120)
    finally:
        d.stop()
    assert marker.exists() and store.get_campaign("sneaky").status == "completed"


def test_installed_only_refuses_an_import_path_inside_params_before_importing_it(tmp_path, records, monkeypatch):
    """Fuzz round seventeen: only the top-level kinds were checked, so a physics plugin named in a model's params
    was imported from the watched folder (its code ran) before the file was refused for another reason."""
    from orchestrator import plugins

    marker = tmp_path / "imported"
    (tmp_path / "sneaky_law.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                            "from orchestrator.models.physics import NewtonCooling as Law\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = ("name: law\nspace:\n  parameters:\n    - {name: t, type: float, low: 0.0, high: 300.0}\n"
            "    - {name: T_env, type: float, low: 10.0, high: 40.0}\nobjective: {name: T, goal: min}\n"
            "oracle: {kind: function, params: {function: sphere}}\n"
            "model: {kind: physics-gp, params: {physics: 'sneaky_law:Law', settings: {T0: 100.0}}}\n"
            "budget: {max_experiments: 8}\n")
    folder = campaign_folder(tmp_path, law=text)
    d = Daemon(folder, Store(f"sqlite:///{tmp_path / 'policy.db'}"), interval=0.05, rescan=0.2,
               plugins="installed-only")
    d.start()
    try:
        wait_for(lambda: d.summary() and d.summary()[0]["state"] == "invalid", timeout=60)
    finally:
        d.stop()
    message = d.summary()[0]["message"]
    assert "model.params.physics: 'sneaky_law:Law' is an import path, which this daemon (--plugins " \
           "installed-only) refuses" in message, message
    assert not marker.exists(), "the plugin's module was imported"
    assert plugins._refused_by is None  # a stopped daemon leaves the process as it found it


def test_the_mock_robot_shuts_down_cleanly_on_sigterm(tmp_path):
    robot = Robot(tmp_path, lab(), name="term").start()
    try:
        robot.post([{"id": "t-1", "campaign": "c", "params": {"x1": 1.0, "x2": 2.0}}])
        os.kill(robot.proc.pid, signal.SIGTERM)
        robot.proc.wait(timeout=30)
        assert robot.proc.returncode == 0, robot.stderr()
        assert "mock robot stopped (SIGTERM)" in robot.stderr() and "Traceback" not in robot.stderr()
        robot.start()  # the job survived the shutdown
        assert [j["id"] for j in robot.jobs()] == ["t-1"]
    finally:
        robot.close()
