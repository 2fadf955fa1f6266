"""The robot oracle pointed at a URL that is not a looplab robot: one line, once, naming oracle.params.url.

A real ``python -m http.server`` on a free loopback port plays the wrong server (no mocks): it answers
GET /jobs with its HTML 404 page, or, when its folder holds a file named ``jobs``, with that file.
"""

from __future__ import annotations

import logging
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
