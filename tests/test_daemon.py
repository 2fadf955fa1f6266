"""The daemon: several campaigns at once on APScheduler, safe to kill, watching its folder.

Real threads, a real SQLite file, real GPflow fits; the kill test SIGKILLs a real
`looplab daemon` process. A campaign run by the daemon, pool or continuous, must
pick exactly what `Engine.run` picks on its own (same ids, params and values, bit
for bit): running alongside others, or being killed and restarted, changes nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path

import pytest
from conftest import ROOT, alloy_yaml
from test_kill_resume import looplab, sigkill_after

from orchestrator.config import load_campaign
from orchestrator.daemon import Daemon, DaemonError
from orchestrator.engine import Engine
from orchestrator.store import Store

BRANIN = """
name: {name}
seed: 3
space:
  parameters:
    - {{name: x1, type: float, low: -5.0, high: 10.0}}
    - {{name: x2, type: float, low: 0.0, high: 15.0}}
objective: {{name: value, goal: min}}
oracle: {{kind: function, params: {{function: branin}}}}
model: {{kind: gp}}
acquisition: {{kind: ei, batch_size: 2}}
initial: {{n: 4, method: sobol}}
budget: {{max_experiments: {budget}}}
"""


def reference(path: Path, tmp_path: Path) -> list[tuple]:
    """(id, params, value) of an uninterrupted `Engine.run` of the file, on its own store."""
    store = Store(f"sqlite:///{tmp_path / ('ref-' + path.stem + '.db')}")
    campaign = load_campaign(path)
    with Engine(campaign, store) as engine:
        engine.run(poll_interval=0.01)
    row = store.get_campaign(campaign.name)
    return [(e.id, e.params, e.value) for e in store.experiments(row.id)]


def stored(store: Store, name: str) -> list[tuple]:
    row = store.get_campaign(name)
    return [(e.id, e.params, e.value) for e in store.experiments(row.id)] if row else []


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def records():
    h = Records()
    root = logging.getLogger("looplab")
    old = root.level
    root.addHandler(h)
    root.setLevel(logging.INFO)
    yield h
    root.removeHandler(h)
    root.setLevel(old)


def campaign_folder(tmp_path: Path, **files: str) -> Path:
    """tmp_path/campaigns holding one file per keyword (stem=YAML text)."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    for stem, text in files.items():
        (folder / f"{stem}.yaml").write_text(text)
    return folder


def wait_for(cond, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def test_two_campaigns_at_once_match_their_solo_runs(tmp_path, records):
    folder = campaign_folder(tmp_path, alloy=alloy_yaml(name="alloy-d", seed=4, budget=16),
                             branin=BRANIN.format(name="branin-d", budget=14))
    alloy, branin = folder / "alloy.yaml", folder / "branin.yaml"
    store = Store(f"sqlite:///{tmp_path / 'daemon.db'}")

    d = Daemon(folder, store, interval=0.05, workers=2, rescan=0.5, exit_when_done=True)
    d.start()
    try:
        assert d.wait(timeout=240), "the campaigns did not finish"
    finally:
        d.stop()

    # exact for continuous campaigns too: GP fits run on one BLAS thread whichever thread fits
    assert stored(store, "alloy-d") == reference(alloy, tmp_path), "the daemon proposed differently from a solo run"
    assert stored(store, "branin-d") == reference(branin, tmp_path), "the daemon proposed differently from a solo run"
    for name in ("alloy-d", "branin-d"):
        assert store.get_campaign(name).status == "completed"
    assert [r["state"] for r in d.summary()] == ["completed", "completed"]

    steps = [line for line in records.lines if " step=" in line and "source=model" in line]
    assert steps and all("fit_s=" in s and "acq_s=" in s for s in steps)
    # they ran at the same time: the alloy's steps are not all before or all after branin's
    order = [("alloy-d" in s) for s in steps]
    first_b, last_b = order.index(False), len(order) - 1 - order[::-1].index(False)
    assert any(order[first_b:last_b]), "the campaigns ran one after the other"


def test_bad_files_are_reported_and_changes_are_picked_up(tmp_path, records):
    folder = campaign_folder(tmp_path, good=alloy_yaml(name="good", seed=1, budget=10),
                             bad=alloy_yaml(name="bad", seed=2, budget=10).replace("kind: ei", "kind: eei"),
                             twin=alloy_yaml(name="good", seed=9, budget=10))
    good, bad = folder / "good.yaml", folder / "bad.yaml"
    store = Store(f"sqlite:///{tmp_path / 'daemon.db'}")

    d = Daemon(folder, store, interval=0.05, workers=2, rescan=0.2)
    d.start()
    try:
        wait_for(lambda: store.get_campaign("good") is not None
                 and store.get_campaign("good").status == "completed")
        text = "\n".join(records.lines)
        assert "bad.yaml cannot be run" in text and "acquisition.kind" in text and "did you mean 'ei'" in text
        assert "twin.yaml cannot be run" in text and "already run from good.yaml" in text
        assert store.get_campaign("bad") is None

        # fixing the file starts the campaign
        bad.write_text(alloy_yaml(name="bad", seed=2, budget=10))
        wait_for(lambda: store.get_campaign("bad") is not None and store.get_campaign("bad").status == "completed")

        # raising a finished campaign's budget extends it; a forbidden change is refused, naming the field
        good.write_text(alloy_yaml(name="good", seed=1, budget=14))
        wait_for(lambda: len(stored(store, "good")) == 14 and store.get_campaign("good").status == "completed")
        good.write_text(alloy_yaml(name="good", seed=7, budget=14))
        wait_for(lambda: any("good.yaml" in s and "seed" in s for s in records.lines if "differs" in s
                             or "cannot be run" in s))
        assert len(stored(store, "good")) == 14
    finally:
        d.stop()
    # extended to 14, the campaign is what a 14-experiment run would have been
    solo = tmp_path / "solo"
    solo.mkdir()
    (solo / "good.yaml").write_text(alloy_yaml(name="good", seed=1, budget=14))
    assert stored(store, "good") == reference(solo / "good.yaml", tmp_path)


def test_stopping_while_the_last_tick_closes_a_slow_executor_does_not_hang(tmp_path, monkeypatch):
    """Regression: stop() once waited inside APScheduler's lock while the finishing tick removed its own
    job (which needs that lock); closing a process pool (slow) in that tick made it hang for good."""
    import threading

    folder = campaign_folder(tmp_path, alloy=alloy_yaml(name="slow-close", seed=1, budget=8))
    closing = threading.Event()

    def slow_close(self) -> None:
        closing.set()
        time.sleep(1.0)

    monkeypatch.setattr(Engine, "close", slow_close)
    store = Store(f"sqlite:///{tmp_path / 'daemon.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2, exit_when_done=True)
    d.start()
    stopper = threading.Thread(target=lambda: (closing.wait(120), d.stop()), daemon=True)
    stopper.start()
    stopper.join(timeout=60)
    assert not stopper.is_alive(), "stop() hung while a tick was closing its campaign's executor"
    assert store.get_campaign("slow-close").status == "completed"
    assert len(stored(store, "slow-close")) == 8


def test_a_second_daemon_on_the_same_folder_is_refused(tmp_path):
    folder = campaign_folder(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'daemon.db'}")
    d = Daemon(folder, store, rescan=10)
    d.start()
    try:
        with pytest.raises(DaemonError, match=f"already running on {folder}"):
            Daemon(folder, store).start()
        env = dict(os.environ, COLUMNS="200")
        p = subprocess.run([sys.executable, "-m", "orchestrator", "daemon", str(folder), "--store",
                            f"sqlite:///{tmp_path / 'daemon.db'}"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 2
        assert f"another looplab daemon (pid {os.getpid()}) is already running" in p.stderr
        assert "Traceback" not in p.stderr
    finally:
        d.stop()
    with pytest.raises(DaemonError, match="is not a folder"):
        Daemon(tmp_path / "nope", store)
    with pytest.raises(DaemonError, match="--interval must be > 0"):
        Daemon(folder, store, interval=0)


def test_sigkilled_daemon_resumes_every_campaign_without_loss_or_repeat(tmp_path):
    folder = campaign_folder(tmp_path, alloy=alloy_yaml(name="alloy-k", seed=6, budget=22),
                             branin=BRANIN.format(name="branin-k", budget=20))
    files = {"alloy-k": folder / "alloy.yaml", "branin-k": folder / "branin.yaml"}
    db = tmp_path / "daemon.db"
    args = ("daemon", str(folder), "--store", f"sqlite:///{db}", "--interval", "0.05")

    killed_at = sigkill_after(looplab(*args), db, 20)
    assert 20 <= killed_at < 42, "nothing left to resume"
    before = {name: [e for e in stored(Store(f"sqlite:///{db}"), name) if e[2] is not None] for name in files}

    again = looplab(*args, "--exit-when-done")
    try:
        _, err = again.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        again.send_signal(signal.SIGTERM)
        _, err = again.communicate(timeout=60)
        raise AssertionError(f"the restarted daemon did not finish; its log:\n{err[-4000:]}") from None
    assert again.returncode == 0, err
    assert "resumed with" in err  # at least one campaign was picked up midway

    store = Store(f"sqlite:///{db}")
    for name, path in files.items():
        got = stored(store, name)
        assert len({e[0] for e in got}) == len(got) and len(got) == (22 if name == "alloy-k" else 20)
        assert all(e[2] is not None for e in got), "an experiment was lost"
        assert got[:len(before[name])] == before[name], "a recorded result was changed or repeated"
        assert got == reference(path, tmp_path), f"{name}: the resumed run differs from a solo run"


def test_one_process_at_a_time_runs_a_campaign(tmp_path, records, any_store_url):
    """The store's lease: a second process is refused while the first lives; a dead one is taken over."""
    import socket

    from orchestrator.errors import LeaseHeld

    folder = campaign_folder(tmp_path, alloy=alloy_yaml(name="leased", seed=2, budget=8))
    spec = folder / "alloy.yaml"
    store = Store(any_store_url)
    from orchestrator.engine import open_campaign

    row, _ = open_campaign(store, load_campaign(spec))
    host, other = socket.gethostname(), os.getppid()  # the parent process: alive, and not us

    store.acquire_lease(row.id, host=host, pid=other)
    with pytest.raises(LeaseHeld, match=f"pid {other} on {host}"):
        store.acquire_lease(row.id, host=host, pid=os.getpid())
    store.acquire_lease(row.id, host=host, pid=other)  # renewing one's own lease is fine

    # `looplab run` is refused with a clear error, and touches nothing
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="200")
    p = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(spec), "--store", any_store_url],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"campaign 'leased' is being run by another process (pid {other} on {host}" in p.stderr
    assert stored(store, "leased") == []

    # the daemon waits for it, then runs it once the other process lets go
    d = Daemon(folder, store, interval=0.05, rescan=0.2, exit_when_done=True)
    d.start()
    try:
        wait_for(lambda: any("leased" in s and "waits" in s for s in records.lines), timeout=30)
        assert d.summary()[0]["state"] == "waiting"
        store.release_lease(row.id, host=host, pid=other)
        assert d.wait(timeout=120)
    finally:
        d.stop()
    assert len(stored(store, "leased")) == 8
    assert store.lease(row.id) is None  # released when the daemon closed the campaign

    # a dead process's lease (same host) is taken over at once; another host's only once it lapses
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    store.acquire_lease(row.id, host=host, pid=int(dead))
    store.acquire_lease(row.id, host=host, pid=os.getpid())
    assert store.lease(row.id)["pid"] == os.getpid()
    store.release_lease(row.id, host=host, pid=os.getpid())
    store.acquire_lease(row.id, host="elsewhere", pid=1)
    with pytest.raises(LeaseHeld, match="lapses 120 s after it was last seen"):
        store.acquire_lease(row.id, host=host, pid=os.getpid())
    store.acquire_lease(row.id, host=host, pid=os.getpid(), ttl=-1)  # as if 120 s had passed
    assert store.lease(row.id)["host"] == host


def test_a_campaign_that_keeps_failing_is_paused_and_the_others_go_on(tmp_path, records, monkeypatch):
    folder = campaign_folder(tmp_path, good=alloy_yaml(name="fine", seed=1, budget=8),
                             bad=alloy_yaml(name="broken-step", seed=2, budget=8))
    real_step = Engine.step

    def step(self):
        if self.spec.name == "broken-step":
            raise RuntimeError("the instrument driver crashed")
        return real_step(self)

    monkeypatch.setattr(Engine, "step", step)
    store = Store(f"sqlite:///{tmp_path / 'daemon.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2, exit_when_done=True)
    d.start()
    try:
        assert d.wait(timeout=120)
    finally:
        d.stop()
    states = {r["campaign"]: (r["state"], r["message"]) for r in d.summary()}
    assert states["fine"][0] == "completed" and len(stored(store, "fine")) == 8
    assert states["broken-step"] == ("paused", "3 failed steps in a row: RuntimeError: the instrument driver crashed")
    assert any("campaign=broken-step paused after 3 failed steps" in s for s in records.lines)


TIMED = """
name: {name}
seed: 5
space:
  parameters:
    - {{name: x1, type: float, low: 0.0, high: 1.0}}
    - {{name: x2, type: float, low: 0.0, high: 1.0}}
objective: {{name: value, goal: max}}
oracle: {{kind: "oracles_for_tests:Timed", params: {{first: {first}, spacing: {spacing}}}}}
model: {{kind: "models_for_tests:SlowForest", params: {{seconds: {seconds}, n_estimators: 10}}}}
acquisition: {{kind: ucb, batch_size: 1}}
initial: {{n: {n}, method: sobol}}
budget: {{max_experiments: {budget}}}
"""


def test_a_slow_first_fit_does_not_delay_another_campaigns_recording(tmp_path, monkeypatch):
    """Campaign 'slow' fits a model that sleeps 6 s; campaign 'steady' (its initial design only) has a result
    ready every 0.7 s meanwhile. Each is recorded within 1.5 s of being ready, also during the slow fit (under
    the old global warm-up lock, the first fit held every other campaign's tick for its whole length)."""
    import models_for_tests
    import oracles_for_tests

    # neither model needs TensorFlow: skip the daemon's background import of it (its own thread in any case)
    monkeypatch.setattr(Daemon, "_import_heavy", lambda self: self._imported.set())

    folder = campaign_folder(
        tmp_path, slow=TIMED.format(name="slow", first=0.1, spacing=0.1, seconds=6.0, n=2, budget=3),
        steady=TIMED.format(name="steady", first=0.5, spacing=0.7, seconds=0.0, n=14, budget=14))
    store = Store(f"sqlite:///{tmp_path / 'daemon.db'}")
    d = Daemon(folder, store, interval=0.1, rescan=0.5, workers=2, exit_when_done=True)
    offset = time.time() - time.monotonic()
    d.start()
    try:
        assert d.wait(timeout=120)
    finally:
        d.stop()
    assert {r["campaign"]: r["state"] for r in d.summary()} == {"slow": "completed", "steady": "completed"}
    fits = [f for f in models_for_tests.FITS if f[1] - f[0] >= 6.0]
    assert len(fits) == 1
    fit_start, fit_end = fits[0]
    row = store.get_campaign("steady")
    delays = {}
    for e in store.experiments(row.id):
        ready = oracles_for_tests.READY[e.id]
        recorded = e.finished_at.replace(tzinfo=timezone.utc).timestamp() - offset
        delays[e.id] = (ready, recorded - ready)
    during = [d_ for ready, d_ in delays.values() if fit_start <= ready <= fit_end - 1.0]
    assert len(during) >= 5, (fit_start, fit_end, delays)  # the slow fit overlapped steady's results
    assert max(d_ for _, d_ in delays.values()) < 1.5, delays


def test_a_daemon_of_forests_never_imports_tensorflow_until_a_gp_campaign_arrives(tmp_path, monkeypatch):
    """The background import of TensorFlow (10-40 s of a shared core) starts only when a campaign's model
    needs it: a forest campaign runs to its budget without it; a GP campaign added later starts it, once."""
    calls = []

    def fake_import(self):
        calls.append(time.monotonic())
        self._imported.set()

    monkeypatch.setattr(Daemon, "_import_heavy", fake_import)
    folder = campaign_folder(tmp_path, rf=alloy_yaml(name="rf", seed=1, budget=9, model="random-forest"))
    store = Store(f"sqlite:///{tmp_path / 'heavy.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2)
    d.start()
    try:
        wait_for(lambda: (row := store.get_campaign("rf")) is not None and row.status == "completed", timeout=60)
        assert len(store.experiments(store.get_campaign("rf").id)) == 9  # four forest fits ran
        assert calls == [] and not d._imported.is_set()
        (folder / "gp.yaml").write_text(alloy_yaml(name="gp", seed=2, budget=7, model="gp"))
        wait_for(lambda: (row := store.get_campaign("gp")) is not None and row.status == "completed", timeout=120)
    finally:
        d.stop()
    assert len(calls) == 1


@pytest.mark.parametrize("slice_seconds, started", [(0.5, 4), (600, 8)])
def test_a_file_that_comes_to_name_another_campaign_pauses_the_one_it_named(tmp_path, slice_seconds, started):
    """Found by the fuzz round of 2026-12-04 (evening): with `name:` edited in a watched file, the daemon started
    the new campaign and left the old one 'running' in the store, its lease held, for ever, without a word.
    It is paused, with the reason, as for a removed file. Fuzz round thirteen: within a long time slice the
    old campaign, said to be paused, ran on for the rest of its tick (17 more experiments); it stops at its
    next step, as for a removed file."""
    folder = campaign_folder(tmp_path, f1=alloy_yaml(name="f1", seed=3, budget=120, model="random-forest"))
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2, slice_seconds=slice_seconds)
    d.start()
    try:
        wait_for(lambda: store.get_campaign("f1") is not None
                 and len(store.experiments(store.get_campaign("f1").id)) >= started)
        path = folder / "f1.yaml"
        path.write_text(path.read_text().replace("name: f1", "name: f1renamed"))
        cid = store.get_campaign("f1").id
        wait_for(lambda: store.get_campaign("f1renamed") is not None and store.lease(cid) is None, timeout=60)
    finally:
        d.stop()
    row = store.get_campaign("f1")
    assert row.status == "paused" and "f1.yaml now names campaign 'f1renamed'" in row.message, (row.status, row.message)
    assert len(store.experiments(cid)) < 60


def test_a_campaign_file_replaced_by_a_dangling_link_is_withdrawn_and_said(tmp_path, caplog):
    """Fuzz round thirteen: a running campaign's file replaced by a link to nowhere was neither reported nor
    paused (its entry stood for the broken link too), and the campaign ran on. It is withdrawn as a removed
    file is, and the link is said once as a broken link."""
    folder = campaign_folder(tmp_path, f1=alloy_yaml(name="f1", seed=3, budget=120, model="random-forest"))
    store = Store(f"sqlite:///{tmp_path / 'l.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2, slice_seconds=0.5)
    with caplog.at_level(logging.INFO, logger="looplab"):
        d.start()
        try:
            wait_for(lambda: store.get_campaign("f1") is not None and len(store.experiments(store.get_campaign("f1").id)) >= 4)
            path = folder / "f1.yaml"
            path.unlink()
            path.symlink_to(tmp_path / "nowhere" / "f1.yaml")
            cid = store.get_campaign("f1").id
            wait_for(lambda: store.lease(cid) is None and "which is not a file" in caplog.text, timeout=60)
        finally:
            d.stop()
    row = store.get_campaign("f1")
    assert row.status == "paused" and "f1.yaml was removed" in row.message, (row.status, row.message)
    assert caplog.text.count("a link to ") == 1


def test_two_files_that_swap_campaigns_both_run_on(tmp_path):
    """Fuzz round thirteen: with two files' contents swapped, the first reopened was refused ('already run from
    b.yaml', the other file not reread yet) and never looked at again, so its new campaign stayed paused. A file
    refused for a name another file holds is retried at every scan."""
    a_text = alloy_yaml(name="ca", seed=3, budget=400, model="random-forest")
    b_text = alloy_yaml(name="cb", seed=4, budget=400, model="random-forest")
    folder = campaign_folder(tmp_path, a=a_text, b=b_text)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2, slice_seconds=0.3)
    d.start()
    try:
        wait_for(lambda: all(store.get_campaign(n) is not None and len(store.experiments(store.get_campaign(n).id))
                             >= 4 for n in ("ca", "cb")))
        (folder / "a.yaml").write_text(b_text)
        (folder / "b.yaml").write_text(a_text)
        counts = {n: len(store.experiments(store.get_campaign(n).id)) for n in ("ca", "cb")}
        wait_for(lambda: all(len(store.experiments(store.get_campaign(n).id)) >= counts[n] + 4 for n in ("ca", "cb")),
                 timeout=60)
    finally:
        d.stop()
    assert {e.path.name: (e.name, e.state) for e in d.entries.values()} == {"a.yaml": ("cb", "running"),
                                                                          "b.yaml": ("ca", "running")}


def test_removing_a_file_stops_a_tick_in_progress_at_its_next_step(tmp_path):
    """Regression (CI, 2026-12-02): the scan paused a removed campaign only after the tick in progress
    ended, and a tick runs up to its time slice, so a fast campaign ran out its whole budget instead."""
    folder = campaign_folder(tmp_path, gone=alloy_yaml(name="gone", seed=3, budget=120, model="random-forest"))
    store = Store(f"sqlite:///{tmp_path / 'gone.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2, slice_seconds=600)
    d.start()
    try:
        wait_for(lambda: store.get_campaign("gone") is not None and len(store.experiments(store.get_campaign("gone").id)) >= 8)
        (folder / "gone.yaml").unlink()
        cid = store.get_campaign("gone").id
        wait_for(lambda: store.lease(cid) is None, timeout=60)
    finally:
        d.stop()
    row = store.get_campaign("gone")
    assert row.status == "paused" and "gone.yaml was removed" in row.message, (row.status, row.message)
    assert len(store.experiments(cid)) < 60


def test_a_database_restart_under_a_daemon_is_waited_out_not_a_paused_campaign(restartable_postgres, caplog):
    """Fuzz round thirteen: a daemon on PostgreSQL whose server was stopped for 10 s logged six tracebacks, had
    three ticks fail within a second and paused the campaign, which then stayed paused after the server came
    back. The store being unreachable is not a failed step: the campaign waits (said once), is reopened when
    the server answers, and goes on with nothing lost or repeated."""
    import psycopg

    pg = restartable_postgres
    with psycopg.connect(f"{pg.url}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE d")
    folder = Path(pg.folder) / "campaigns"
    folder.mkdir()
    (folder / "rfb.yaml").write_text(alloy_yaml(name="rfb", seed=3, budget=200, model="random-forest"))
    store = Store(f"{pg.url}/d")
    d = Daemon(folder, store, interval=0.05, rescan=0.3)
    with caplog.at_level(logging.INFO, logger="looplab"):
        d.start()
        try:
            wait_for(lambda: store.get_campaign("rfb") is not None and len(store.experiments(store.get_campaign("rfb").id)) >= 10)
            pg.stop("fast")
            time.sleep(3)
            pg.start()
            wait_for(lambda: "campaign=rfb the store answers again" in caplog.text, timeout=60)
            row = store.get_campaign("rfb")
            n = len(store.experiments(row.id))
            wait_for(lambda: len(store.experiments(row.id)) >= n + 5, timeout=60)  # it goes on
        finally:
            d.stop()
    assert store.get_campaign("rfb").status != "paused"
    said = [r.getMessage() for r in caplog.records if "the store is unreachable" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("campaign=rfb the store is unreachable (")
    assert "Traceback" not in caplog.text and "failed steps in a row" not in caplog.text
    exps = store.experiments(store.get_campaign("rfb").id)
    assert len({e.id for e in exps}) == len(exps) and len({tuple(sorted(e.params.items())) for e in exps}) == len(exps)
    store.close()


def test_a_campaign_file_written_in_two_parts_is_read_whole(tmp_path):
    """Fuzz round seventeen: a file copied in two parts started its campaign from the first half (valid, with the
    default model and initial design), and the whole file was then refused as a different setup. A new or changed
    file is read once it has not changed for a moment (min(2 s, 4 rescans))."""
    first = ("name: part\nseed: 7\nbudget: {max_experiments: 4}\nspace:\n  parameters:\n"
             "    - {name: x1, type: float, low: -5.0, high: 10.0}\n    - {name: x2, type: float, low: 0.0, high: 15.0}\n"
             "objective: {name: value, goal: min}\noracle: {kind: function, params: {function: branin}}\n")
    folder = campaign_folder(tmp_path)
    path = folder / "a.yaml"
    path.write_text(first)
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.2, exit_when_done=True)
    d.start()
    try:
        time.sleep(0.3)
        with open(path, "a") as fh:
            fh.write("model: {kind: random-forest}\ninitial: {n: 2}\n")
        assert d.wait(timeout=120)
    finally:
        d.stop()
    spec = store.get_campaign("part").spec
    assert spec["model"]["kind"] == "random-forest" and spec["initial"]["n"] == 2
    assert d.summary()[0]["state"] == "completed"


def test_a_file_whose_mode_changes_is_read_again(tmp_path):
    """Fuzz round seventeen: a file made readable again (chmod changes only its ctime) stayed invalid until it was
    touched, though the daemon said it retries when the file changes. Here its content is fixed with its old mtime
    put back (as a chmod leaves it), so only its ctime tells that it changed."""
    folder = campaign_folder(tmp_path, a=alloy_yaml(name="moded", budget=4, initial=2, model="random-forest")
                             .replace("goal: min", "goal: mni"))
    path = folder / "a.yaml"
    old = path.stat()
    d = Daemon(folder, Store(f"sqlite:///{tmp_path / 'd.db'}"), interval=0.05, rescan=0.1)
    d.start()
    try:
        wait_for(lambda: d.summary() and d.summary()[0]["state"] == "invalid", timeout=60)
        path.write_text(path.read_text().replace("goal: mni", "goal: min"))
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
        time.sleep(0.2)
        os.chmod(path, 0o600)
        wait_for(lambda: d.summary()[0]["state"] == "completed", timeout=120)
    finally:
        d.stop()


def test_campaign_files_in_a_subfolder_are_said_to_be_not_watched(tmp_path, records):
    """Fuzz round seventeen: campaign files sorted into a subfolder were ignored without a word."""
    folder = campaign_folder(tmp_path)
    (folder / "week1").mkdir()
    (folder / "week1" / "a.yaml").write_text(alloy_yaml(name="deep", budget=4, initial=2, model="random-forest"))
    d = Daemon(folder, Store(f"sqlite:///{tmp_path / 'd.db'}"), interval=0.05, rescan=0.2, exit_when_done=True)
    d.start()
    try:
        assert d.wait(timeout=60)
    finally:
        d.stop()
    said = [s for s in records.lines if "subfolder(s)" in s]
    assert len(said) == 1 and "week1 hold campaign files, which this daemon does not run" in said[0], records.lines


def test_a_campaign_file_renamed_while_running_is_one_row_of_the_final_table(tmp_path):
    """The re-run of round seventeen: after a.yaml was renamed b.yaml mid-run, the table listed the campaign
    twice, paused under a.yaml ("put it back to resume") and completed under b.yaml."""
    folder = campaign_folder(tmp_path, a=alloy_yaml(name="rn", budget=12, initial=2, model="random-forest"))
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.1, exit_when_done=True)
    d.start()
    try:
        wait_for(lambda: store.get_campaign("rn") is not None and len(store.experiments(store.get_campaign("rn").id)) >= 2,
                 timeout=60)
        (folder / "a.yaml").rename(folder / "b.yaml")
        assert d.wait(timeout=120)
    finally:
        d.stop()
    rows = [r for r in d.summary() if r["campaign"] == "rn"]
    assert [(r["file"], r["state"]) for r in rows] == [("b.yaml", "completed")], rows


def test_a_person_s_pause_stands_when_the_campaign_file_goes_and_comes_back(tmp_path, records):
    """Fuzz round nineteen: a campaign paused with `looplab pause --reason human-hold`, its file then moved out and
    back: the daemon wrote its own pause over the person's ("put it back to resume", which did not resume it), and
    said "resumed" when the file came back, though the campaign stayed paused."""
    from orchestrator import control

    folder = campaign_folder(tmp_path, a=alloy_yaml(name="hp", seed=3, budget=120, model="random-forest"))
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.1, slice_seconds=0.3)
    d.start()
    try:
        wait_for(lambda: store.get_campaign("hp") is not None
                 and len(store.experiments(store.get_campaign("hp").id)) >= 4, timeout=60)
        control.pause(store, "hp", reason="human-hold", by="alice@lab")
        wait_for(lambda: store.get_campaign("hp").status == "paused", timeout=60)
        cid = store.get_campaign("hp").id
        (folder / "a.yaml").rename(tmp_path / "a.yaml")
        wait_for(lambda: store.lease(cid) is None, timeout=60)
        assert store.get_campaign("hp").message == "paused by alice@lab: human-hold"
        (tmp_path / "a.yaml").rename(folder / "a.yaml")
        wait_for(lambda: store.lease(cid) is not None, timeout=60)
    finally:
        d.stop()
    row = store.get_campaign("hp")
    assert (row.status, row.message) == ("paused", "paused by alice@lab: human-hold")
    said = [s for s in records.lines if s.startswith("campaign=hp file")]
    assert "was removed; the campaign stays paused by alice@lab: human-hold (put the file back, then looplab " \
           "resume hp)" in said[-2], said
    assert said[-1].startswith("campaign=hp file=a.yaml opened with ") and said[-1].endswith(
        "so far; it stays paused by alice@lab: human-hold (looplab resume hp to go on)"), said


def test_exit_when_done_does_not_wait_for_a_campaign_a_person_paused(tmp_path, records):
    """Fuzz round nineteen: with --exit-when-done, a campaign paused with `looplab pause` kept the daemon running for
    good, and the final table called it unfinished. It waits for that person, not for the daemon: the daemon exits,
    saying it is paused and how to go on."""
    from orchestrator import control

    folder = campaign_folder(tmp_path, a=alloy_yaml(name="pz", seed=3, budget=120, model="random-forest"))
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.1, exit_when_done=True)
    d.start()
    try:
        wait_for(lambda: store.get_campaign("pz") is not None
                 and len(store.experiments(store.get_campaign("pz").id)) >= 4, timeout=60)
        control.pause(store, "pz", reason="furnace down", by="alice@lab")
        assert d.wait(timeout=30), "the daemon waited for a campaign a person paused"
    finally:
        d.stop()
    assert [(r["state"], r["message"]) for r in d.summary()] == [
        ("paused", "paused by alice@lab: furnace down; looplab resume pz, then start the daemon again")]
    assert "campaign=pz is paused by alice@lab: furnace down: the daemon exits without it (--exit-when-done); " \
           "looplab resume pz, then start the daemon again" in records.lines


def test_a_campaign_file_that_is_a_link_is_named_as_it_is_in_the_folder(tmp_path, records):
    """Fuzz round nineteen: c/a.yaml -> ../t1.yaml was said by its target ("file t1.yaml was removed"), also when the
    link was pointed at another file. It is named a.yaml, and pointing it elsewhere is a change of a.yaml."""
    folder = campaign_folder(tmp_path)
    (tmp_path / "t1.yaml").write_text(alloy_yaml(name="l1", seed=3, budget=120, model="random-forest"))
    (tmp_path / "t2.yaml").write_text(alloy_yaml(name="l2", seed=4, budget=120, model="random-forest"))
    link = folder / "a.yaml"
    link.symlink_to("../t1.yaml")
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    d = Daemon(folder, store, interval=0.05, rescan=0.1, slice_seconds=0.3)
    d.start()
    try:
        wait_for(lambda: store.get_campaign("l1") is not None, timeout=60)
        (folder / ".next").symlink_to("../t2.yaml")
        (folder / ".next").replace(link)  # ln -sfn ../t2.yaml a.yaml
        wait_for(lambda: store.get_campaign("l2") is not None and store.lease(store.get_campaign("l2").id) is not None
                 and store.lease(store.get_campaign("l1").id) is None, timeout=60)
        link.unlink()
        wait_for(lambda: store.lease(store.get_campaign("l2").id) is None, timeout=60)
    finally:
        d.stop()
    assert "its file a.yaml now names campaign 'l2'" in store.get_campaign("l1").message
    assert "its file a.yaml was removed" in store.get_campaign("l2").message
    said = "\n".join(records.lines)
    assert "campaign=l1 file=a.yaml started" in said and "t1.yaml" not in said and "t2.yaml" not in said, said


def test_a_file_that_never_settles_is_said_and_listed_when_the_daemon_stops(tmp_path, records):
    """Fuzz round nineteen: a file touched every 0.5 s was never read, without a word, and the daemon stopped saying
    there was no campaign file in its folder. It is said once it has kept changing for 5 settle times (10 s with
    the default --rescan; here 2 s), and the final table lists it as never settled."""
    folder = campaign_folder(tmp_path, a=alloy_yaml(name="ns", budget=4, initial=2, model="random-forest"))
    d = Daemon(folder, Store(f"sqlite:///{tmp_path / 'd.db'}"), interval=0.05, rescan=0.1)  # settles in 0.4 s
    d.start()
    try:
        end = time.monotonic() + 3.5
        while time.monotonic() < end:
            os.utime(folder / "a.yaml")
            time.sleep(0.1)
    finally:
        d.stop()
    said = [s for s in records.lines if "still changing" in s]
    assert len(said) == 1 and said[0].startswith("file=a.yaml is still changing (for ") and \
        "s now): the daemon reads it once it has not changed for 0.4 s; if a program keeps writing it" in said[0], said
    rows = d.summary()
    assert [(r["file"], r["state"]) for r in rows] == [("a.yaml", "changing")]
    assert rows[0]["message"].startswith("never settled: it kept changing until the daemon stopped")


def test_files_refused_for_the_store_or_another_file_say_so_not_looplab_validate(tmp_path):
    """Fuzz round nineteen: a file refused because the store's campaign of that name has another setup ended as
    "invalid: fix them (looplab validate)", and looplab validate said ok. Each refused file says why: the file
    itself (validate says so too), the store, or another file of the same campaign name."""
    from orchestrator.engine import open_campaign

    (tmp_path / "orig.yaml").write_text(alloy_yaml(name="mvs", seed=1, budget=4, initial=2, model="random-forest"))
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    open_campaign(store, load_campaign(tmp_path / "orig.yaml"))
    folder = campaign_folder(tmp_path, a=alloy_yaml(name="mvs", seed=2, budget=4, initial=2, model="random-forest"),
                             b=alloy_yaml(name="bad", budget=4).replace("goal: min", "goal: mni"),
                             c=alloy_yaml(name="twin", budget=4, initial=2, model="random-forest"),
                             d=alloy_yaml(name="twin", seed=5, budget=4, initial=2, model="random-forest"))
    d = Daemon(folder, store, interval=0.05, rescan=0.1, exit_when_done=True)
    d.start()
    try:
        assert d.wait(timeout=60)
    finally:
        d.stop()
    rows = {r["file"]: (r["state"], r["refused"]) for r in d.summary()}
    assert rows == {"a.yaml": ("invalid", "store"), "b.yaml": ("invalid", "file"), "c.yaml": ("completed", ""),
                    "d.yaml": ("invalid", "name")}, rows
    assert d.summary()[0]["message"] == ("seed: differs from the stored campaign 'mvs' (looplab validate does not look "
                                         "at the store): restore what changed, give the campaign another name, or use "
                                         "another --store")
