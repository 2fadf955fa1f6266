"""The robot oracle pointed at a URL that is not a looplab robot: one line, once, naming oracle.params.url.
And the mock robot's own config and database: bad values are refused naming the key, exit 2.

A real ``python -m http.server`` on a free loopback port plays the wrong server (no mocks): it answers
GET /jobs with its HTML 404 page, or, when its folder holds a file named ``jobs``, with that file.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from oracles.base import Experiment
from oracles.robot.client import RobotOracle

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(tmp_path):
    """A plain HTTP file server over an empty folder (yields its URL and the folder); killed at teardown."""
    folder = tmp_path / "www"
    folder.mkdir()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url + "/", timeout=1)
            break
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, "http.server did not start"
            time.sleep(0.05)
    yield url, folder
    proc.kill()
    proc.wait(timeout=10)


def _not_a_robot(url: str, answered: str) -> str:
    return (f"oracle.params.url: {url} is not a looplab robot (GET /jobs answered {answered}); "
            "check the URL and its port")


def test_a_404_html_page_fails_the_experiments_at_once_with_one_line_said_once(http_server, caplog):
    url, _ = http_server
    oracle = RobotOracle(url=url, timeout=2, retries=3, backoff=0.01, campaign="c")
    caplog.set_level(logging.INFO, logger="looplab.oracles.robot")
    try:
        oracle.submit([Experiment(f"e{k}", {"x1": k, "x2": 1.0}) for k in range(3)])
        first = oracle.poll()
        oracle.submit([Experiment("e3", {"x1": 3, "x2": 1.0})])  # a later batch: failed too, not said again
        second = oracle.poll()
    finally:
        oracle.close()
    reason = _not_a_robot(url, "HTTP 404: an HTML page titled 'Error response'")
    assert [(r.experiment_id, r.status, r.error) for r in first] == [(f"e{k}", "failed", reason) for k in range(3)]
    assert [(r.experiment_id, r.status, r.error) for r in second] == [("e3", "failed", reason)]
    assert [r.getMessage() for r in caplog.records] == [reason]  # once; no retries, no per-experiment strikes


def test_a_page_that_is_not_the_robots_json_at_first_contact_is_not_a_robot(http_server):
    """A server that answers GET /jobs with 200 and a page (here: a file named jobs) is not a robot either."""
    url, folder = http_server
    (folder / "jobs").write_text("<!DOCTYPE html>\n<html>\n  <head>\n    <title>\n      Team wiki\n    </title>\n"
                                 "  </head>\n  <body>" + "lorem ipsum " * 500 + "</body>\n</html>\n")
    oracle = RobotOracle(url=url, timeout=2, retries=1, backoff=0.01, campaign="c")
    try:
        oracle.submit([Experiment("e0", {"x1": 0.0, "x2": 1.0})])
        got = oracle.poll()
    finally:
        oracle.close()
    assert [(r.status, r.error) for r in got] == [
        ("failed", _not_a_robot(url, "HTTP 200: an HTML page titled 'Team wiki'"))]


def test_looplab_run_against_a_plain_http_server_says_it_once_in_one_line(http_server, tmp_path):
    """The fuzz case: the run printed 249 lines (every poll warning dumped the whole 404 page) and every
    experiment failed with 'malformed answer'."""
    url, _ = http_server
    spec = tmp_path / "robot_html.yaml"
    spec.write_text(f"""name: robot-html
seed: 0
space:
  parameters:
    - {{name: x1, type: float, low: -5.0, high: 10.0}}
    - {{name: x2, type: float, low: 0.0, high: 15.0}}
objective: {{name: value, goal: min}}
oracle:
  kind: robot
  params: {{url: "{url}", timeout: 2, retries: 1, backoff: 0.1, outbox_deadline: 10, unreachable_deadline: 10,
           max_submit_seconds: 5}}
model: {{kind: random-forest}}
acquisition: {{kind: ei, batch_size: 2}}
initial: {{n: 2}}
budget: {{max_experiments: 4}}
""")
    db = tmp_path / "s.db"
    env = dict(os.environ, COLUMNS="400", NO_COLOR="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(spec), "--store", f"sqlite:///{db}",
                           "--poll-interval", "0.05"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    output = proc.stdout + proc.stderr
    reason = _not_a_robot(url, "HTTP 404: an HTML page titled 'Error response'")
    assert "Traceback" not in output and "<html" not in output.lower() and "malformed" not in output, output
    warnings = [ln for ln in output.splitlines() if ln.startswith("WARNING")]
    assert len(warnings) == 1 and warnings[0].split(None, 1)[1].strip() == reason, output
    assert len(output.splitlines()) < 20, output
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select status, error from experiments order by seq").fetchall()
    assert rows == [("failed", reason)] * 4


@pytest.fixture
def endless_server():
    """A real TCP server on loopback that answers every request with 200 and a JSON body that never ends: sent a
    byte every 0.2 s (each within any read timeout), or in 64 kB chunks as fast as the client reads them. The
    fixture gives a function: ``url = endless_server("trickle")`` or ``endless_server("flood")``. Stops at
    teardown."""
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    mode = []

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: 1000000000000\r\n\r\n{\"count\": 0, \"jobs\": [")
                while not stop.is_set():
                    if mode[0] == "trickle":
                        stop.wait(0.2)
                        conn.sendall(b" ")
                    else:
                        conn.sendall(b" " * 65536)
            except OSError:
                return  # the client gave up and closed the connection

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    def start(how: str) -> str:
        mode.append(how)
        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    stop.set()
    time.sleep(0.3)
    listener.close()


def test_a_robot_trickling_its_answer_is_a_timeout_and_the_run_ends(endless_server, tmp_path):
    """Fuzz round ten: a robot that sent its answer a byte at a time held `looplab run` for ever (httpx's timeout
    bounds each read, not the whole answer). The whole answer must now arrive within the request's timeout; the
    experiments wait in the outbox and fail after outbox_deadline, as with a robot that does not answer."""
    spec = tmp_path / "trickle.yaml"
    spec.write_text(f"""name: robot-trickle
seed: 0
space:
  parameters:
    - {{name: x1, type: float, low: -5.0, high: 10.0}}
objective: {{name: value, goal: min}}
oracle:
  kind: robot
  params: {{url: "{endless_server('trickle')}", timeout: 1, poll_timeout: 1, retries: 1, backoff: 0.1,
           outbox_deadline: 4, max_submit_seconds: 3}}
model: {{kind: random-forest}}
acquisition: {{kind: ei, batch_size: 2}}
initial: {{n: 2}}
budget: {{max_experiments: 2}}
""")
    db = tmp_path / "s.db"
    env = dict(os.environ, COLUMNS="400", NO_COLOR="1", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "run", str(spec), "--store", f"sqlite:///{db}",
                           "--poll-interval", "0.2"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert "the answer did not arrive whole within 1 s" in output, output
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select status, error from experiments order by seq").fetchall()
    assert [status for status, _ in rows] == ["failed", "failed"], output
    assert all("did not arrive whole within 1 s" in error for _, error in rows), rows


def test_an_answer_that_never_ends_is_malformed_past_64_mb(endless_server):
    """The answer is read into memory: a robot (or a wrong URL) streaming without end must not fill it."""
    oracle = RobotOracle(url=endless_server("flood"), timeout=60, retries=1, backoff=0.01, max_malformed=1,
                         campaign="c")
    try:
        oracle.submit([Experiment("e0", {"x1": 0.0})])
        got = oracle.poll()
    finally:
        oracle.close()
    assert [(r.status, "the answer is longer than 64 MB" in r.error) for r in got] == [("failed", True)], got


# ----------------------------------------------------------------------------- the mock robot's own config
# Fuzz round seventeen (/tmp/fuzzQ cases 26-37, 46, 56, 59): config values that made the lab unusable, or that
# it took silently, and databases shared by two truths or two robots.


def _config_error(data: dict) -> str:
    from oracles.robot.config import RobotConfigError, parse_config

    with pytest.raises(RobotConfigError) as err:
        parse_config(data, "rc.yaml")
    return "\n".join(err.value.lines)


def _serve(*args: str):
    from typer.testing import CliRunner

    from orchestrator.cli import app

    return CliRunner().invoke(app, ["mock-robot", "serve", "--port", "0", *args])


BRANIN = {"kind": "function", "function": "branin", "parameters": ["x1", "x2"]}


@pytest.mark.parametrize("data, line", [
    ({"noise": float("inf")}, "rc.yaml: noise: input should be a finite number (got inf)"),
    ({"ground_truth": {"kind": "cooling", "k": float("inf")}},
     "rc.yaml: ground_truth.k: input should be a finite number (got inf)"),
    ({"ground_truth": {"kind": "cooling", "T0": float("nan")}},
     "rc.yaml: ground_truth.T0: input should be a finite number (got nan)"),
    ({"http": {"slow_seconds": float("nan")}}, "rc.yaml: http.slow_seconds: input should be a finite number (got nan)"),
    ({"duration": {"mean": float("inf"), "jitter": 30}},
     "rc.yaml: duration.mean: input should be a finite number (got inf)"),
    ({"duration": {"mean": 1e308, "jitter": 9e307}},  # every job stayed running for ever
     "rc.yaml: duration.mean: input should be less than or equal to 86400 (got 1e+308)"),
    ({"speedup": 1e308}, "rc.yaml: speedup: input should be less than or equal to 1000000 (got 1e+308)"),
    ({"noise": 1e307}, "rc.yaml: noise: input should be less than or equal to 1e+150 (got 1e+307)"),  # overflowed
    ({"speedup": 1e-6, "duration": {"mean": 60, "jitter": 0}},
     "rc.yaml: speedup: an experiment would take 60,000,000 real seconds on average (duration.mean 60 / speedup "
     "1e-06); at most 86,400 (a day) is accepted: raise speedup or lower duration.mean"),
])
def test_non_finite_and_absurd_numbers_in_a_robot_config_are_refused_naming_the_key(data, line):
    assert _config_error(data) == line


def test_the_largest_accepted_numbers_still_make_a_usable_lab(tmp_path):
    from oracles.robot.config import parse_config
    from oracles.robot.lab import Lab
    from oracles.robot.truth import build_truth

    cfg = parse_config({"speedup": 1e6, "duration": {"mean": 86400, "jitter": 0}, "seed": 2**32 - 1, "noise": 1.0,
                        "ground_truth": BRANIN})
    real = [0.0]  # seconds on the wall clock: a day of lab time passes in 0.0864
    lab = Lab(cfg, build_truth(cfg.ground_truth), tmp_path / "r.db", monotonic=lambda: real[0])
    try:
        lab.submit([{"id": "e1", "params": {"x1": 1.0, "x2": 2.0}}])
        real[0] = 0.1
        job = lab.get("e1")
    finally:
        lab.close()
    assert job["status"] == "succeeded" and math.isfinite(job["value"]) and job["finished_at"] == 86400.0


def test_a_quoted_number_in_a_robot_config_is_refused_naming_the_key():
    """`stations: "3"` was taken as 3 (fuzz round seventeen); campaign files refuse quoted numbers."""
    assert _config_error({"stations": "3"}) == "rc.yaml: stations: must be a number, not the string '3' (remove " \
                                               "the quotes)"
    assert _config_error({"duration": {"mean": "60"}}).startswith("rc.yaml: duration.mean: must be a number, not ")


@pytest.mark.parametrize("seed, line", [
    (-1, "seed: input should be greater than or equal to 0 (got -1)"),  # scikit-learn's random_state message
    (5_000_000_000, "seed: input should be less than or equal to 4294967295 (got 5000000000)"),
    (2**64, "seed: input should be less than or equal to 4294967295 (got 18446744073709551616)"),  # was seed 0
    (-2**64, "seed: input should be greater than or equal to 0 (got -18446744073709551616)"),
])
def test_a_seed_outside_32_bits_is_refused_naming_seed(seed, line):
    assert _config_error({"seed": seed, "ground_truth": {"kind": "emulator", "path": "t.csv"}}) == f"rc.yaml: {line}"


def test_an_empty_parameter_list_or_fault_reason_is_refused():
    assert _config_error({"ground_truth": {"kind": "function", "function": "sphere", "parameters": []}}) == \
        "rc.yaml: ground_truth.parameters: is empty; list at least one parameter name"
    assert _config_error({"ground_truth": {"kind": "cooling", "T0_param": ""}}) == \
        "rc.yaml: ground_truth.T0_param: string should have at least 1 character (got '')"
    assert _config_error({"faults": {"probability": 0.5, "reasons": ["pipette clogged", " "]}}) == \
        "rc.yaml: faults.reasons[1]: is empty; say what went wrong (e.g. 'pipette clogged'), or leave reasons out " \
        "for the defaults"


def test_a_ground_truth_that_overflows_fails_the_job_with_the_reason_not_as_an_instrument_fault():
    from oracles.robot.config import parse_config
    from oracles.robot.truth import InvalidParams, build_truth

    cool = build_truth(parse_config({"ground_truth": {"kind": "cooling"}}).ground_truth)
    with pytest.raises(InvalidParams, match=r"cannot be computed at t=0, T0=1e\+308, T_env=-1e\+308 \(it is inf\)"):
        cool.evaluate({"t": 0, "T0": 1e308, "T_env": -1e308})


def test_a_key_written_twice_or_an_alias_bomb_is_refused_with_its_line(tmp_path):
    from oracles.robot.config import RobotConfigError, load_config

    twice = tmp_path / "twice.yaml"
    twice.write_text("name: lab\nstations: 3\nspeedup: 600\nstations: 1\n")  # was served with 1 station
    with pytest.raises(RobotConfigError) as err:
        load_config(twice)
    assert err.value.lines == [f"{twice}: line 4, column 1: key 'stations' appears twice in one mapping (first at "
                               "line 2); keep one of them"]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text('a: &a ["x","x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh")) + "stations: *h\n")
    start = time.monotonic()
    with pytest.raises(RobotConfigError, match=r"line 4, column \d+: aliases expand to more than 10,000 values"):
        load_config(bomb)  # was 46 s and 2.7 GB, then MemoryError
    assert time.monotonic() - start < 2
    yes = tmp_path / "yes.yaml"
    yes.write_text("seed: yes\n")  # YAML 1.2 booleans, as before: 'yes' is text
    with pytest.raises(RobotConfigError, match=r"seed: input should be a valid integer.*'yes'"):
        load_config(yes)


def test_a_bad_db_in_the_config_file_names_its_key_and_a_bad_db_option_names_the_option(tmp_path):
    (tmp_path / "sub").mkdir()
    for value, line in [("sub", f"db: '{tmp_path / 'sub'}' is a folder; give a file path"),
                        ("nowhere/r.db", f"db: folder '{tmp_path / 'nowhere'}' does not exist"),
                        ("''", "db: is empty; give the database file's name (relative to this file), or leave db "
                               "out for ./mock-robot.db")]:
        cfg = tmp_path / "rc.yaml"
        cfg.write_text(f"speedup: 600\ndb: {value}\n")
        res = _serve("--config", str(cfg))
        assert res.exit_code == 2 and res.output.strip() == f"error {cfg}: {line}", res.output
    cfg.write_text("speedup: 600\ndb: robot.db\n")
    res = _serve("--config", str(cfg), "--db", str(tmp_path / "sub"))  # the option wins, and is named
    assert res.exit_code == 2 and res.output.strip() == f"error --db: '{tmp_path / 'sub'}' is a folder; give a file " \
                                                        "path", res.output


def test_a_pipe_as_config_is_read_once_and_a_folder_as_emulator_csv_is_said(tmp_path, monkeypatch):
    from oracles.robot.config import RobotConfigError, load_config

    monkeypatch.chdir(tmp_path)
    fifo = tmp_path / "rc.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as fh:
            fh.write("stations: 3\ndb: robot.db\n")

    writer = threading.Thread(target=write)
    writer.start()
    cfg, base = load_config(fifo)  # was "--config: file not found"
    writer.join(timeout=10)
    assert (cfg.stations, base) == (3, tmp_path)  # paths in a pipe's text are relative to the current folder
    monkeypatch.setattr("oracles.robot.config.PIPE_SECONDS", 0.2)
    with pytest.raises(RobotConfigError) as err:  # nothing writes to it: said, not waited for for ever
        load_config(fifo)
    assert err.value.lines == [f"{fifo}: --config: is a pipe that gave no text within 0.2 s; give the robot config "
                               "file itself"]
    (tmp_path / "data.csv").mkdir()
    emu = tmp_path / "emu.yaml"
    emu.write_text("ground_truth: {kind: emulator, path: data.csv}\n")
    with pytest.raises(RobotConfigError) as err:
        load_config(emu)
    assert err.value.lines == [f"{emu}: ground_truth.path: CSV file '{tmp_path / 'data.csv'}' is a folder, not a CSV "
                               "file"]


def _robot(tmp_path: Path, text: str, db: str = "robot.db"):
    from oracles.robot.server import build

    cfg = tmp_path / "rc.yaml"
    cfg.write_text(text + f"\nspeedup: 600\ndb: {db}\n")
    return build(cfg, None)[1]


def test_a_restart_with_another_truth_seed_or_noise_on_a_db_with_jobs_is_refused(tmp_path):
    from oracles.robot.config import RobotConfigError

    branin = "seed: 1\nnoise: 0.0\nground_truth: {kind: function, function: branin, parameters: [x1, x2]}"
    sphere = "seed: 99\nnoise: 5.0\nground_truth: {kind: function, function: sphere, parameters: [x1, x2]}"
    _robot(tmp_path, sphere).close()  # no job yet: another truth may follow
    lab = _robot(tmp_path, branin)
    lab.submit([{"id": "e1", "params": {"x1": 1.0, "x2": 2.0}}])
    lab.close()
    db = tmp_path / "robot.db"
    with pytest.raises(RobotConfigError) as err:
        _robot(tmp_path, sphere)  # measured 21.63 then 10.70 for the same params
    src = tmp_path / "rc.yaml"
    assert err.value.lines == [
        f"{src}: ground_truth.function: is \"sphere\", but '{db}' was first started with \"branin\"",
        f"{src}: noise: is 5.0, but '{db}' was first started with 0.0",
        f"{src}: seed: is 99, but '{db}' was first started with 1",
        f"{src}: '{db}' holds 1 job(s) measured with its first settings, and a campaign would mix them with these: "
        "give this config another database file (db: in the file, or --db), or restore the first settings to go on "
        "with its jobs"]
    with pytest.raises(RobotConfigError) as err:  # another kind: only the kind is named, not each of its keys
        _robot(tmp_path, "seed: 1\nground_truth: {kind: cooling}")
    assert err.value.lines[:-1] == [f"{src}: ground_truth.kind: is \"cooling\", but '{db}' was first started with "
                                    "\"function\""]
    _robot(tmp_path, branin.replace("seed: 1", "seed: 1\nstations: 5")).close()  # the lab's pace may change
    _robot(tmp_path, sphere, db="other.db").close()


def test_two_robots_on_one_db_are_refused_and_a_killed_robots_lock_does_not_block(tmp_path):
    from oracles.robot.config import RobotConfigError

    cfg = tmp_path / "rc.yaml"
    cfg.write_text("speedup: 600\ndb: robot.db\n")
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "mock-robot", "serve", "--port", "0",
                             "--config", str(cfg)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert "listening on" in proc.stdout.readline()
        with pytest.raises(RobotConfigError) as err:
            _robot(tmp_path, "")
        assert err.value.lines == [f"{cfg}: db: '{tmp_path / 'robot.db'}' is in use by another mock robot (pid "
                                   f"{proc.pid}; its lock is '{tmp_path / 'robot.db.lock'}'): stop that robot first, "
                                   "or give this one another database file"]
    finally:
        proc.kill()
        proc.wait(timeout=10)
    lab = _robot(tmp_path, "")  # killed: its lock died with it
    try:
        with pytest.raises(RobotConfigError, match=f"in use by another mock robot \\(pid {os.getpid()};"):
            _robot(tmp_path, "")
    finally:
        lab.close()
    _robot(tmp_path, "").close()


def test_a_refused_robot_lock_leaves_no_new_database(tmp_path):
    """The re-run of round nineteen: a hard-linked DB.lock was refused, but the robot had already created an
    empty r.db. The lock is now taken before the database is opened."""
    from oracles.robot.config import parse_config
    from oracles.robot.lab import Lab
    from oracles.robot.truth import build_truth

    (tmp_path / "keep.txt").write_text("my notes\n")
    os.link(tmp_path / "keep.txt", tmp_path / "r.db.lock")
    cfg = parse_config({"ground_truth": BRANIN})
    with pytest.raises(ValueError, match="is a hard link"):
        Lab(cfg, build_truth(cfg.ground_truth), tmp_path / "r.db")
    assert not (tmp_path / "r.db").exists() and (tmp_path / "keep.txt").read_text() == "my notes\n"


@pytest.mark.parametrize("dangling", [False, True])
def test_a_robot_lock_that_is_a_symbolic_link_is_said_to_be_one(tmp_path, dangling):
    """Fuzz round twenty: a DB.lock that is a symbolic link gave the raw 'Too many levels of symbolic links' and
    advice to remove it 'if it is a folder or a link'. It is named as a link now; the target is untouched."""
    from oracles.robot.config import parse_config
    from oracles.robot.lab import Lab
    from oracles.robot.truth import build_truth

    target = tmp_path / "notes.txt"
    if not dangling:
        target.write_text("my notes\n")
    os.symlink(target, tmp_path / "r.db.lock")
    cfg = parse_config({"ground_truth": BRANIN})
    with pytest.raises(ValueError) as err:
        Lab(cfg, build_truth(cfg.ground_truth), tmp_path / "r.db")
    assert str(err.value) == (f"the lock file '{tmp_path / 'r.db.lock'}' is a symbolic link (the robot writes its pid "
                              "into its lock file, so it never follows one); it is left as it is: move it away")
    assert (target.read_text() == "my notes\n") if not dangling else not target.exists()
    assert not (tmp_path / "r.db").exists()
