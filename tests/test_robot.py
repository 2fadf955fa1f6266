"""The mock lab robot (a real HTTP service in a subprocess) and the oracle that talks to it.

Every robot here is started as ``python -m orchestrator mock-robot serve`` on a
free loopback port, waited for on /health, and killed at teardown. Lab time
runs hundreds of times faster than real time, so an experiment takes 0.02 to
0.3 s. The malformed-answer cases use ``httpx.MockTransport`` (the real robot
never sends them).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from conftest import CAMPAIGNS, DATASETS, ROOT

from oracles.base import Experiment, OracleContext
from oracles.functions import branin
from oracles.robot.client import RobotOracle
from oracles.robot.config import (
    DEFAULT_REASONS,
    RobotConfigError,
    load_config,
    parse_config,
)

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="200")
FAULT_RE = re.compile(r"^instrument fault at station (\d+): (.+)$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class Robot:
    """A mock robot subprocess: start, kill -9, restart on the same port and database."""

    def __init__(self, tmp_path: Path, config: dict, name: str = "robot", port: int | None = None):
        self.dir = tmp_path
        self.config_path = tmp_path / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.db = tmp_path / f"{name}.db"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        # one client (making a client per request costs ~50 ms); no keep-alive, so a restart leaves no stale socket
        self.http = httpx.Client(base_url=self.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))

    def start(self, timeout: float = 60) -> Robot:
        self.starts += 1
        with open(self.dir / f"{self.name}.{self.starts}.out", "w") as out, \
                open(self.dir / f"{self.name}.{self.starts}.err", "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "mock-robot", "serve", "--port", str(self.port),
                 "--config", str(self.config_path), "--db", str(self.db)],
                cwd=ROOT, env=ENV, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"robot exited with {self.proc.returncode}: {self.stderr()}")
            try:
                if self.http.get("/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"robot did not answer /health within {timeout} s: {self.stderr()}")

    def stdout(self) -> str:
        return (self.dir / f"{self.name}.{self.starts}.out").read_text()

    def stderr(self) -> str:
        return (self.dir / f"{self.name}.{self.starts}.err").read_text()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        self.http.close()

    # -- HTTP, retried over simulated 503s ------------------------------------------------------

    def request(self, method: str, path: str, **kw) -> httpx.Response:
        for _ in range(200):
            r = self.http.request(method, path, **kw)
            if r.status_code != 503:
                return r
            time.sleep(0.01)
        raise AssertionError("the robot kept answering 503")

    def post(self, experiments: list[dict]) -> httpx.Response:
        return self.request("POST", "/jobs", json={"experiments": experiments})

    def jobs(self, **params) -> list[dict]:
        r = self.request("GET", "/jobs", params=params)
        assert r.status_code == 200, r.text
        return r.json()["jobs"]

    def health(self) -> dict:
        return self.request("GET", "/health").json()


@pytest.fixture
def robots(tmp_path):
    made: list[Robot] = []

    def make(config: dict, name: str = "robot", port: int | None = None, start: bool = True) -> Robot:
        robot = Robot(tmp_path, config, name=name, port=port)
        made.append(robot)
        return robot.start() if start else robot

    yield make
    for robot in made:
        robot.close()


def lab(**overrides) -> dict:
    """A robot config: fast (speedup 1000, 20-60 lab s per experiment, so 0.02-0.06 s real)."""
    cfg = {"seed": 1, "stations": 4, "speedup": 1000, "duration": {"mean": 40, "jitter": 20}, "noise": 0.0,
           "ground_truth": {"kind": "function", "function": "branin", "parameters": ["x1", "x2"]}}
    for k, v in overrides.items():
        cfg[k] = v
    return cfg


def points(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"x1": float(rng.uniform(-5, 10)), "x2": float(rng.uniform(0, 15))} for _ in range(n)]


def exps(prefix: str, n: int, campaign: str = "c", seed: int = 0) -> list[dict]:
    return [{"id": f"{prefix}-{k:03d}", "params": p, "campaign": campaign} for k, p in enumerate(points(n, seed))]


def oracle_experiments(prefix: str, n: int, seed: int = 0) -> list[Experiment]:
    return [Experiment(e["id"], e["params"], e["campaign"]) for e in exps(prefix, n, seed=seed)]


def poll_until(oracle: RobotOracle, n: int, timeout: float = 30) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += oracle.poll()
        time.sleep(0.02)
    assert len(got) == n, f"got {len(got)} of {n} results in {timeout} s"
    return got


# ----------------------------------------------------------------------------- the HTTP API


@pytest.fixture
def slow_robot(robots):
    """One station, lab time at real speed: a job stays running (60 s) while the test looks at it."""
    return robots(lab(stations=1, speedup=1, duration={"mean": 60, "jitter": 0}), name="slow")


def test_api_post_is_idempotent_get_list_filter_cancel_404_and_openapi(slow_robot):
    r = slow_robot
    assert re.search(r"listening on http://127\.0\.0\.1:\d+ \(API docs: http://127\.0\.0\.1:\d+/docs\)", r.stdout())

    first = r.post(exps("a", 3))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["created"] == ["a-000", "a-001", "a-002"] and body["existing"] == []
    assert [j["status"] for j in body["jobs"]] == ["running", "queued", "queued"]
    assert body["jobs"][0]["station"] == 1
    for key in ("id", "campaign", "params", "status", "value", "outputs", "error", "station", "submitted_at",
                "started_at", "finished_at", "posts"):
        assert key in body["jobs"][0]

    # the same id again returns the existing job (and counts the post), never a second job
    again = r.post(exps("a", 1) + [{"id": "d-000", "params": {"x1": 0.0, "x2": 1.0}, "campaign": "other"}]).json()
    assert again["existing"] == ["a-000"] and again["created"] == ["d-000"]
    assert again["jobs"][0]["submitted_at"] == body["jobs"][0]["submitted_at"]
    assert again["jobs"][0]["posts"] == 2
    assert len(r.jobs()) == 4
    assert [j["posts"] for j in r.jobs()] == [2, 1, 1, 1]
    conflict = r.post([{"id": "a-000", "params": {"x1": 9.0, "x2": 9.0}}])
    assert conflict.status_code == 409 and "a-000" in conflict.json()["detail"]
    assert "different params" in conflict.json()["detail"]

    # bad requests name the field
    bad = r.post([{"id": "no,commas", "params": {}}])
    assert bad.status_code == 422 and "id" in json.dumps(bad.json()["detail"])
    bad = r.request("POST", "/jobs", json={"experiments": [{"id": "x"}]})
    assert bad.status_code == 422 and "params" in json.dumps(bad.json()["detail"])
    # params that do not fit the ground truth: a job that failed at once, with the reason
    invalid = r.post([{"id": "f-000", "params": {"x1": 1.0}}]).json()["jobs"][0]
    assert invalid["status"] == "failed" and "missing parameter 'x2'" in invalid["error"]

    # GET one, GET unknown
    assert r.request("GET", "/jobs/a-000").json()["status"] == "running"
    missing = r.request("GET", "/jobs/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]

    # lists and filters
    assert [j["id"] for j in r.jobs(status="queued")] == ["a-001", "a-002", "d-000"]
    assert len(r.jobs(status="queued,running")) == 4
    assert [j["id"] for j in r.jobs(ids="d-000,a-001,zzz")] == ["a-001", "d-000"]
    assert [j["id"] for j in r.jobs(campaign="other")] == ["d-000"]
    assert [j["id"] for j in r.jobs(campaign="other", status="running")] == []
    bogus = r.request("GET", "/jobs", params={"status": "done"})
    assert bogus.status_code == 422 and "status" in bogus.json()["detail"] and "succeeded" in bogus.json()["detail"]

    # DELETE: a queued job, a running one (its station takes the next), twice, unknown, finished
    assert r.request("DELETE", "/jobs/a-001").json()["status"] == "cancelled"
    cancelled = r.request("DELETE", "/jobs/a-000").json()
    assert cancelled["status"] == "cancelled" and "running" in cancelled["error"]
    nxt = r.request("GET", "/jobs/a-002").json()
    assert nxt["status"] == "running" and nxt["station"] == 1 and nxt["started_at"] == cancelled["finished_at"]
    assert r.request("DELETE", "/jobs/a-000").status_code == 200
    assert r.request("DELETE", "/jobs/nope").status_code == 404
    finished = r.request("DELETE", "/jobs/f-000")
    assert finished.status_code == 409 and "already failed" in finished.json()["detail"]

    # OpenAPI documents it all
    spec = r.request("GET", "/openapi.json").json()
    assert {"/jobs", "/jobs/{job_id}", "/health"} <= set(spec["paths"])
    assert {"get", "post"} <= set(spec["paths"]["/jobs"]) and "delete" in spec["paths"]["/jobs/{job_id}"]
    assert {"posts", "station", "status", "value", "error"} <= set(spec["components"]["schemas"]["Job"]["properties"])
    docs = r.request("GET", "/docs")
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    health = r.health()
    assert health["status"] == "ok" and health["stations"] == 1 and health["busy"] == 1
    assert health["ground_truth"] == "branin(x1, x2)"


# ----------------------------------------------------------------------------- the simulation


def test_bad_requests_get_a_4xx_or_a_failed_job_and_the_client_fails_only_the_oversized_one(robots):
    """A real robot (uvicorn in a subprocess): 413 over 1 MB (answered before the body is read) and
    over 64 kB of params per job, 400 for JSON nested 100,000 deep, a failed job (not a 500) for
    params that overflow Branin; the robot oracle then fails only the oversized experiment."""
    r = robots(lab(), name="limits")
    json_header = {"content-type": "application/json"}
    huge = json.dumps({"experiments": [{"id": "huge", "params": {"x1": 1.0, "x2": 1.0, "note": "x" * 10_000_000}}]})
    answer = r.request("POST", "/jobs", content=huge, headers=json_header)
    assert answer.status_code == 413 and "over 1,000,000 bytes" in answer.json()["detail"]
    deep = '{"experiments": [{"id": "deep", "params": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}]}"
    answer = r.request("POST", "/jobs", content=deep, headers=json_header)
    assert answer.status_code == 400 and "100004 levels deep" in answer.json()["detail"]
    answer = r.post([{"id": "overflow", "params": {"x1": 1e300, "x2": 1.0}}])
    assert answer.status_code == 200
    job = answer.json()["jobs"][0]
    assert job["status"] == "failed" and "the ground truth cannot be computed at x1=1e+300" in job["error"]

    oracle = RobotOracle(url=r.url, timeout=5.0, poll_timeout=1.0, retries=5, backoff=0.01, backoff_max=0.05,
                         campaign="c")
    batch = oracle_experiments("ok", 3) + [Experiment("fat", {"x1": 1.0, "x2": 1.0, "note": "x" * 70_000}, "c")]
    oracle.submit(batch)
    got = {x.experiment_id: x for x in poll_until(oracle, 4)}
    assert got["fat"].status == "failed" and "HTTP 413" in got["fat"].error and "64,000" in got["fat"].error
    assert all(got[f"ok-{k:03d}"].status == "succeeded" for k in range(3))
    assert "fat" not in {j["id"] for j in r.jobs()} and "huge" not in {j["id"] for j in r.jobs()}
    assert r.health()["status"] == "ok"


def test_stations_limit_concurrency_fifo_durations_speedup_and_exact_values(robots):
    r = robots(lab(stations=2, speedup=400, duration={"mean": 40, "jitter": 20}, seed=4), name="fifo")
    c0, t0 = r.health()["clock"], time.monotonic()
    time.sleep(0.5)
    c1, t1 = r.health()["clock"], time.monotonic()
    assert 0.6 < (c1 - c0) / (400 * (t1 - t0)) < 1.4, "the lab clock should run 400x real time"

    sent = exps("s", 10)
    r.post(sent)
    done = wait_for(lambda: (j := r.jobs(campaign="c")) and all(x["status"] == "succeeded" for x in j) and j,
                    timeout=20, what="10 jobs to finish")
    assert [j["id"] for j in done] == [e["id"] for e in sent]
    # stations: never more than two at once, both used; FIFO: started in submission order
    events = sorted([(j["started_at"], 1) for j in done] + [(j["finished_at"], -1) for j in done],
                    key=lambda e: (e[0], e[1]))
    busy, peak = 0, 0
    for _, d in events:
        busy += d
        peak = max(peak, busy)
    assert peak == 2
    assert {j["station"] for j in done} == {1, 2}
    starts = [j["started_at"] for j in done]
    assert starts == sorted(starts)
    for j in done:
        assert 20 - 1e-6 <= j["finished_at"] - j["started_at"] <= 60 + 1e-6
        assert j["outputs"]["station"] == j["station"]
        assert j["value"] == branin(np.array([j["params"]["x1"], j["params"]["x2"]]))  # noise 0: the truth
    # a station is never idle while a job waits: each job starts when it was posted or when one freed up
    ends = sorted(j["finished_at"] for j in done)
    for j in done[2:]:
        assert j["started_at"] == pytest.approx(j["submitted_at"]) or any(
            j["started_at"] == pytest.approx(e) for e in ends)


def test_noise_and_faults_are_drawn_per_job_id_and_reproducible(robots):
    cfg = lab(seed=9, stations=50, noise=0.5, faults={"probability": 0.25})
    a = robots(cfg, name="a")
    b = robots(cfg, name="b")
    sent = exps("n", 60)
    a.post(sent)
    b.post(list(reversed(sent[30:])))  # another order, another time, another robot
    b.post(sent[:30])

    def finished(robot):
        jobs = robot.jobs()
        return jobs if all(j["status"] in ("succeeded", "failed") for j in jobs) else None

    ja = {j["id"]: j for j in wait_for(lambda: finished(a), 20, "robot a")}
    jb = {j["id"]: j for j in wait_for(lambda: finished(b), 20, "robot b")}
    faults = [j for j in ja.values() if j["status"] == "failed"]
    assert 5 <= len(faults) <= 28  # 25% of 60
    for j in faults:
        m = FAULT_RE.match(j["error"])
        assert m and int(m.group(1)) == j["station"] and m.group(2) in DEFAULT_REASONS, j["error"]
        assert j["value"] is None
    residuals = np.array([j["value"] - branin(np.array([j["params"]["x1"], j["params"]["x2"]]))
                          for j in ja.values() if j["status"] == "succeeded"])
    assert 0.3 < residuals.std() < 0.75 and abs(residuals.mean()) < 0.3
    for i, j in ja.items():  # same seed, same id: same fate
        k = jb[i]
        assert (j["status"], j["value"]) == (k["status"], k["value"])
        assert j["finished_at"] - j["started_at"] == pytest.approx(k["finished_at"] - k["started_at"])
        if j["status"] == "failed":
            assert FAULT_RE.match(j["error"]).group(2) == FAULT_RE.match(k["error"]).group(2)


def test_http_faults_503_and_slow_answers_but_health_always_answers(robots):
    r = robots(lab(http={"error_probability": 0.5, "slow_probability": 0.5, "slow_seconds": 0.15}), name="flaky")
    t0 = time.monotonic()
    codes = [r.http.get("/jobs").status_code for _ in range(30)]
    assert time.monotonic() - t0 > 0.3  # some answers were late (about 1 in 4)
    assert 5 <= codes.count(503) <= 25 and set(codes) == {200, 503}
    refused = [r.http.post("/jobs", json={"experiments": [{"id": "h", "params": {}}]}) for _ in range(6)]
    for x in refused:
        assert x.status_code in (200, 503)
        if x.status_code == 503:
            assert "simulated 503" in x.json()["detail"] and x.headers["retry-after"] == "1"
    accepted = sum(x.status_code == 200 for x in refused)
    assert [j["posts"] for j in r.jobs()] == ([accepted] if accepted else [])  # a 503'd request was not handled
    t0 = time.monotonic()
    assert all(r.http.get("/health").status_code == 200 for _ in range(20))
    assert time.monotonic() - t0 < 2  # /health is never refused nor slowed


# ----------------------------------------------------------------------------- persistence


def test_kill_9_and_restart_loses_no_job_and_the_clock_continues(robots):
    r = robots(lab(stations=1, speedup=100, duration={"mean": 30, "jitter": 0}), name="persist")
    r.post(exps("p", 5))  # 0.3 s each, one after the other
    wait_for(lambda: r.jobs(status="succeeded"), 10, "the first job to finish")
    before = {j["id"]: j for j in r.jobs()}
    clock = r.health()["clock"]
    assert {j["status"] for j in before.values()} >= {"succeeded", "queued"}
    r.kill()
    time.sleep(0.3)
    r.start()
    after = {j["id"]: j for j in r.jobs()}
    assert set(after) == set(before)
    assert all(j["posts"] == 1 for j in after.values())
    for i, j in before.items():
        if j["status"] == "succeeded":
            assert after[i] == j
    health = r.health()
    assert health["restarts"] == 1 and health["clock"] >= clock  # the lab clock went on from where it stood
    done = wait_for(lambda: (j := r.jobs()) and all(x["status"] == "succeeded" for x in j) and j, 10,
                    "queued and running jobs to finish after the restart")
    for prev, nxt in itertools.pairwise(done):  # the station went straight on to the next job, across the restart
        assert nxt["started_at"] == pytest.approx(prev["finished_at"])
        assert nxt["finished_at"] - nxt["started_at"] == pytest.approx(30)
    again = r.post(exps("p", 5)).json()
    assert again["existing"] == [f"p-{k:03d}" for k in range(5)] and all(j["posts"] == 2 for j in again["jobs"])


# ----------------------------------------------------------------------------- the client


def test_client_retries_503_and_lost_answers_without_posting_twice(robots):
    r = robots(lab(stations=4, http={"error_probability": 0.4, "slow_probability": 0.2, "slow_seconds": 0.5}),
               name="flaky")
    oracle = RobotOracle(url=r.url, timeout=0.25, poll_timeout=0.25, retries=40, backoff=0.01, backoff_max=0.05,
                         max_submit_seconds=60, campaign="c")
    batches = [oracle_experiments("q", 12)[k:k + 4] for k in range(0, 12, 4)]
    results = []
    for batch in batches:
        oracle.submit(batch)
        assert set(oracle.job_ids()) >= {e.id for e in batch}, "submit returns once the robot accepted them"
        results += oracle.poll()
    results += poll_until(oracle, 12 - len(results))
    assert sorted(x.experiment_id for x in results) == [f"q-{k:03d}" for k in range(12)]
    assert {x.status for x in results} == {"succeeded"}
    for x in results:
        assert math.isfinite(x.value) and x.outputs["station"] in (1, 2, 3, 4)
        assert x.outputs["robot_finished_at"] >= x.outputs["robot_started_at"]
    assert [j["posts"] for j in r.jobs()] == [1] * 12
    oracle.submit(batches[0])  # already delivered: nothing is posted again, nothing is reported again
    assert oracle.poll() == [] and [j["posts"] for j in r.jobs()] == [1] * 12


def test_a_job_of_the_same_id_with_other_params_is_not_taken_as_the_experiments_result(robots):
    """Fuzz round nineteen: the same campaign name run again in a fresh store took over the robot's jobs of the
    first run (same ids), and stored their values at the new params (7 of 12 wrong). A job with the same params
    is still adopted: that is how a resumed campaign picks up what it posted before."""
    r = robots(lab(), name="ids")
    first = RobotOracle(url=r.url, campaign="c")
    first.submit(oracle_experiments("c", 3, seed=0))
    poll_until(first, 3)
    again = RobotOracle(url=r.url, campaign="c")  # a fresh store: the same ids, other params for two of them
    fresh = oracle_experiments("c", 3, seed=1)
    fresh[0] = oracle_experiments("c", 1, seed=0)[0]
    again.submit(fresh)
    got = {x.experiment_id: x for x in poll_until(again, 3)}
    assert got["c-000"].status == "succeeded" and got["c-000"].value == branin(np.array([fresh[0].params["x1"], fresh[0].params["x2"]]))
    for i in ("c-001", "c-002"):
        assert got[i].status == "failed" and f"already holds a job {i} with other params" in got[i].error
        assert "give this campaign another name, or start the robot on a new database" in got[i].error
    assert [j["posts"] for j in r.jobs()] == [1, 1, 1]


def test_robot_oracle_keeps_the_oracle_contract(robots):
    """The plugin author kit on the robot client: a robot with 30% instrument faults and 10% 503s."""
    from oracles.testing import check_oracle

    r = robots(lab(stations=3, faults={"probability": 0.3}, http={"error_probability": 0.1}), name="contract")
    oracle = RobotOracle(url=r.url, timeout=1.0, poll_timeout=0.5, retries=20, backoff=0.01, backoff_max=0.05,
                         campaign="c")
    results = check_oracle(oracle, oracle_experiments("k", 10), failing=Experiment("k-bad", {"x1": 1.0}, "c"),
                           timeout=60, poll_budget=1.5)
    faults = [x for x in results.values() if x.status == "failed" and x.experiment_id != "k-bad"]
    assert faults and all("instrument fault" in x.error for x in faults)
    assert "x2" in results["k-bad"].error
    assert all(j["posts"] == 1 for j in r.jobs())


def test_client_survives_the_robot_being_down(robots, caplog):
    r = robots(lab(stations=2, speedup=300), name="late", start=False)
    oracle = RobotOracle(url=r.url, timeout=0.5, poll_timeout=0.3, retries=2, backoff=0.01, campaign="c")
    t0 = time.monotonic()
    oracle.submit(oracle_experiments("o", 3))  # nobody listens: kept in the outbox, no exception
    assert time.monotonic() - t0 < 3
    assert oracle.poll() == [] and oracle.job_ids() == {}
    assert any("unreachable" in m for m in caplog.messages)

    r.start()
    got = poll_until(oracle, 3, timeout=20)
    assert sorted(x.experiment_id for x in got) == ["o-000", "o-001", "o-002"]
    assert [j["posts"] for j in r.jobs()] == [1, 1, 1]

    # accepted, then the robot dies: polls return nothing (and do not hang); after a restart the results come
    oracle.submit(oracle_experiments("p", 3))
    assert set(oracle.job_ids()) == {"p-000", "p-001", "p-002"}
    r.kill()
    t0 = time.monotonic()
    assert oracle.poll() == [] and time.monotonic() - t0 < 1.5
    r.start()
    got = poll_until(oracle, 3, timeout=20)
    assert sorted(x.experiment_id for x in got) == ["p-000", "p-001", "p-002"]
    assert all(j["posts"] == 1 for j in r.jobs())


def test_jobs_held_by_a_robot_that_stops_answering_fail_after_the_deadline_and_are_cancelled(robots):
    """A robot killed while it holds accepted jobs used to leave the campaign waiting with no end. After
    unreachable_deadline the jobs are failed with the reason; a robot that comes back is told to cancel them,
    and a result it still reports is not handed out a second time."""
    r = robots(lab(stations=1, speedup=1), name="dies")  # real-time: the jobs are still queued or running
    oracle = RobotOracle(url=r.url, poll_timeout=0.3, retries=0, unreachable_deadline=1.0, campaign="c")
    oracle.submit(oracle_experiments("q", 3))
    assert set(oracle.job_ids()) == {"q-000", "q-001", "q-002"}
    r.kill()
    t0 = time.monotonic()
    got = poll_until(oracle, 3, timeout=20)
    assert 1.0 <= time.monotonic() - t0 < 10
    for x in got:
        assert x.status == "failed" and "unreachable_deadline = 1 s" in x.error and "not recorded" in x.error
    assert oracle.job_ids() == {}
    r.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(j["status"] in ("queued", "running") for j in r.jobs()):
        assert oracle.poll() == []  # nothing is reported twice
        time.sleep(0.05)
    assert {j["status"] for j in r.jobs()} == {"cancelled"}


@pytest.mark.parametrize("userinfo, secret", [("lab:s3cret", "s3cret"), ("ghp_S3cretT0ken", "S3cret")])
def test_a_password_in_the_robot_url_is_never_logged_or_stored_and_port_0_is_refused(caplog, userinfo, secret):
    """A token given as the user name too (fuzz round seventeen: it was logged and stored in every error)."""
    oracle = RobotOracle(url=f"http://{userinfo}@127.0.0.1:{free_port()}", retries=0, outbox_deadline=0.2,
                         poll_timeout=0.1, timeout=0.1, max_submit_seconds=1)
    oracle.submit(oracle_experiments("pw", 1))
    time.sleep(0.25)
    failed = oracle.poll()
    assert failed and "http://***@127.0.0.1" in failed[0].error and secret not in failed[0].error
    assert caplog.messages and not any(secret in m for m in caplog.messages)
    with pytest.raises(ValueError, match="has port 0, which no robot listens on"):
        RobotOracle.Config(url="http://127.0.0.1:0")


@pytest.mark.parametrize("url, shown", [
    ("http://ghp_S3cretT0ken@127.0.0.1:0", "'http://***@127.0.0.1:0' has port 0"),  # a token as the user name
    ("htps://admin:hunter2@127.0.0.1:8765", "'htps://***@127.0.0.1:8765' must start with http://"),
    ("http://admin:hunter2@127.0.0.1:99999", "'http://***@127.0.0.1:99999' is not a valid URL (Port out of range"),
])
def test_the_user_info_of_a_robot_url_is_masked_whole_in_every_message(url, shown):
    """Fuzz round seventeen: a URL with a typo was echoed whole by validate, password included."""
    with pytest.raises(ValueError) as err:
        RobotOracle.Config(url=url)
    said = err.value.errors()[0]["msg"]  # what validate prints (pydantic's own str() repeats the input)
    assert said.removeprefix("Value error, ").startswith(shown), said
    assert "hunter2" not in said and "S3cret" not in said


def test_a_robot_url_reads_its_credentials_from_the_environment_and_the_store_keeps_the_name(monkeypatch,
                                                                                              tmp_path):
    """${NAME} in the URL is filled in from the environment when the oracle is built; the campaign's stored spec
    keeps ${NAME}, never the token (fuzz round seventeen: a password in the URL was stored as written)."""
    from orchestrator.config import load_campaign
    from orchestrator.engine import open_campaign
    from orchestrator.store import Store

    monkeypatch.setenv("LOOPLAB_TEST_TOKEN", "tok3n")
    url = "http://${LOOPLAB_TEST_TOKEN}@127.0.0.1:8765"
    assert RobotOracle.Config(url=url).url == url
    oracle = RobotOracle(url=url)
    assert oracle.url == "http://tok3n@127.0.0.1:8765" and oracle.shown_url == "http://***@127.0.0.1:8765"
    path = tmp_path / "r.yaml"
    path.write_text((ROOT / "campaigns" / "robot_branin.yaml").read_text().replace("http://127.0.0.1:8765", url))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    open_campaign(store, load_campaign(path))
    assert store.get_campaign("robot-branin").spec["oracle"]["params"]["url"] == url
    store.close()
    monkeypatch.delenv("LOOPLAB_TEST_TOKEN")
    with pytest.raises(ValueError) as err:
        RobotOracle.Config(url=url)
    assert "names the environment variable LOOPLAB_TEST_TOKEN, which is not set; export it" in str(err.value)


@pytest.mark.parametrize("url, said", [
    ("http://${TOK}@127.0.0.1:8765", "http://secret%2Frest%3D%3D@127.0.0.1:8765"),  # the host stays 127.0.0.1
    ("http://u:${TOK}@127.0.0.1:8765", "http://u:secret%2Frest%3D%3D@127.0.0.1:8765"),
    ("http://$TOK@127.0.0.1:8765", "has a $ in its user info, which is not an environment variable"),
    ("http://${TOK:-x}@127.0.0.1:8765", "has a $ in its user info, which is not an environment variable"),
    ("http://${A${TOK}}@127.0.0.1:8765", "has a $ in its user info, which is not an environment variable"),
    ("http://127.0.0.1:8765/$x", "has '$x', which is not an environment variable as looplab reads them: write "
                                 "${NAME} (braces"),
    ("http://127.0.0.1:${EMPTY}", "names the environment variable EMPTY, which is set but empty"),
    ("http://${TOK}:8765", "the environment variable TOK holds a space or one of / ? # @, which would change the "
                           "server the URL names"),
])
def test_environment_variables_in_a_robot_url_cannot_change_the_server_it_names(url, said, monkeypatch):
    """Fuzz round nineteen: ${NAME} was spliced in raw (a token holding / made its first part the host, and the
    messages hid it), and $TOK, ${}, ${TOK:-x} and an empty variable were taken as they stood."""
    monkeypatch.setenv("TOK", "secret/rest==")
    monkeypatch.setenv("EMPTY", "")
    if said.startswith("http"):
        assert RobotOracle(url=url).url == said
        return
    with pytest.raises(ValueError) as err:
        RobotOracle.Config(url=url)
    assert said in str(err.value) and "secret" not in str(err.value)


@pytest.mark.parametrize("userinfo, note", [
    ("bob:s3cret@", "the password in the URL is written in the campaign file"),
    ("tok3n@", "the token in the URL is written in the campaign file"),
    ("bob:${LOOPLAB_TEST_TOKEN}@", None), ("${LOOPLAB_TEST_TOKEN}@", None), ("", None),
])
def test_validate_notes_a_secret_written_in_the_robot_url(userinfo, note, monkeypatch, tmp_path):
    """The store keeps the campaign file's text, so a password written in the URL is stored (left from fuzz round
    seventeen): validate says so, and how to write it as ${NAME} instead."""
    from orchestrator.config import campaign_notes, load_campaign

    monkeypatch.setenv("LOOPLAB_TEST_TOKEN", "tok3n")
    path = tmp_path / "r.yaml"
    path.write_text((ROOT / "campaigns" / "robot_branin.yaml").read_text().replace(
        "http://127.0.0.1:8765", f"'http://{userinfo}127.0.0.1:8765'"))
    notes = [n for n in campaign_notes(load_campaign(path)) if n.startswith("oracle.params.url")]
    if note is None:
        assert notes == []
    else:
        assert len(notes) == 1 and note in notes[0] and "export ROBOT_TOKEN=..." in notes[0]


@pytest.mark.parametrize("host, why", [
    ("a..b", "label empty or too long"), ("a" * 70, "label too long"), ("xn--zz", "Invalid A-label"),
    ("exa mple.com", "holds a space"),
    # fuzz round twenty: passed validate, then waited out outbox_deadline as an outage
    ("127.0.0.1\\evil.com", "it holds '\\', which no host name holds"), ("127.0.0.1%2f", "it holds '%'"),
])
def test_a_robot_host_that_no_connection_can_use_is_refused_at_validate(host, why):
    """Fuzz round seventeen: such hosts passed validate, and every request of the run logged a traceback (idna,
    punycode) and was waited out as an outage."""
    with pytest.raises(ValueError) as err:
        RobotOracle.Config(url=f"http://{host}:8765")
    assert f"the host '{host}' is not a valid host name (" in str(err.value) and why in str(err.value), err.value
    for fine in ("my_robot", "robot-1.lab.example", "[::1]", "bücher.example"):
        RobotOracle.Config(url=f"http://{fine}:8765")


@pytest.mark.parametrize("url, said", [
    ("http://127.0.0.1:8765/a\x01b", "its path holds the character U+0001, which a URL cannot carry"),
    ("http://\uff11\uff12\uff17.0.0.1:8765", "is not a URL a connection can use (Invalid IDNA hostname"),
    ("http://127.0.0.01:8765", "(Invalid IPv4 address: '127.0.0.01'); write it as a name such as robot.lab.example"),
])
def test_a_robot_url_that_httpx_cannot_send_is_refused_at_validate(url, said):
    """Fuzz round twenty: a control character in the path, or a host in full-width digits, passed validate, and
    the run logged a traceback (httpx.InvalidURL) at every submit until outbox_deadline failed them."""
    with pytest.raises(ValueError) as err:
        RobotOracle.Config(url=url)
    assert said in str(err.value), err.value


def test_https_to_a_plain_http_robot_fails_at_once_saying_to_write_http(tmp_path):
    """Fuzz round seventeen: [SSL: WRONG_VERSION_NUMBER] was taken for an outage, and each batch waited out
    outbox_deadline (600 s by default)."""
    robot = Robot(tmp_path, lab(), name="tls").start()
    oracle = RobotOracle(url=robot.url.replace("http://", "https://"), timeout=2, retries=3, backoff=0.01,
                         outbox_deadline=600)
    try:
        oracle.submit(oracle_experiments("tls", 2))
        t0 = time.monotonic()
        failed = oracle.poll()
        assert time.monotonic() - t0 < 30
    finally:
        oracle.close()
        robot.kill()
    assert [r.status for r in failed] == ["failed", "failed"]
    assert "answers in plain HTTP, not TLS; write http:// instead of https://" in failed[0].error


def test_a_robot_campaign_resumes_with_another_url_and_timeouts_but_not_another_setup(tmp_path):
    """Fuzz round seventeen: a robot restarted on another port could not be followed (the edited url was refused
    as a different setup, and the campaign polled the dead URL). The robot's connection settings may change."""
    from orchestrator.config import load_campaign
    from orchestrator.engine import open_campaign
    from orchestrator.errors import ConfigError
    from orchestrator.store import Store

    text = (ROOT / "campaigns" / "robot_branin.yaml").read_text()
    path = tmp_path / "r.yaml"
    path.write_text(text)
    from orchestrator.store import Experiment as Stored

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    row, _ = open_campaign(store, load_campaign(path))
    store.add_experiments(row.id, [Stored("robot-branin-0000-00", 0, 0, 0, {"x1": 1.0, "x2": 2.0}, "proposed")])
    store.mark_submitted(["robot-branin-0000-00"])
    path.write_text(text.replace("http://127.0.0.1:8765", "http://127.0.0.1:9999").replace("timeout: 5", "timeout: 9"))
    notes: list[str] = []
    _, resumed = open_campaign(store, load_campaign(path), notes)
    assert resumed and store.get_campaign("robot-branin").spec["oracle"]["params"]["url"] == "http://127.0.0.1:9999"
    # fuzz round nineteen: the experiments in flight went to the new robot without a word
    assert notes == ["oracle.params.url: changed from http://127.0.0.1:8765 to http://127.0.0.1:9999 with 1 "
                     "experiment(s) in flight (robot-branin-0000-00): those the new address does not hold are "
                     "submitted to it again, and what the old one still measures is not read; if the old robot is "
                     "still running, run once with its url to collect them first"]
    # fuzz round twenty: a trailing '/' leads to the same robot, and was said as a move (its re-run: HTTP://, /./
    # and a port written 09999 too)
    for same in ("http://127.0.0.1:9999/", "HTTP://127.0.0.1:9999", "http://127.0.0.1:9999/./", "http://127.0.0.1:09999"):
        path.write_text(text.replace("http://127.0.0.1:8765", same).replace("timeout: 5", "timeout: 9"))
        notes = []
        open_campaign(store, load_campaign(path), notes)
        assert notes == [], same
    path.write_text(text.replace("x2, type: float, low: 0.0", "x2, type: float, low: 1.0"))
    with pytest.raises(ConfigError, match="space.parameters"):
        open_campaign(store, load_campaign(path))
    store.close()


def test_a_url_whose_variable_now_leads_elsewhere_is_said_with_experiments_in_flight(tmp_path, monkeypatch):
    """The re-run of round nineteen: url: http://127.0.0.1:${PORT} with another PORT moved the experiments in
    flight to another robot without the note a written-out change gets (the file's text was the same)."""
    from orchestrator.config import load_campaign
    from orchestrator.engine import open_campaign
    from orchestrator.store import Experiment as Stored
    from orchestrator.store import Store

    path = tmp_path / "r.yaml"
    path.write_text((ROOT / "campaigns" / "robot_branin.yaml").read_text().replace(
        "http://127.0.0.1:8765", "'http://127.0.0.1:${LOOPLAB_TEST_PORT}'"))
    monkeypatch.setenv("LOOPLAB_TEST_PORT", "45702")
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    row, _ = open_campaign(store, load_campaign(path))
    store.add_experiments(row.id, [Stored("robot-branin-0000-00", 0, 0, 0, {"x1": 1.0, "x2": 2.0}, "proposed")])
    store.mark_submitted(["robot-branin-0000-00"])
    notes: list[str] = []
    open_campaign(store, load_campaign(path), notes)
    assert notes == []  # the same address
    monkeypatch.setenv("LOOPLAB_TEST_PORT", "45703")
    open_campaign(store, load_campaign(path), notes)
    assert len(notes) == 1 and notes[0].startswith("oracle.params.url: changed from http://127.0.0.1:45702 to "
                                                   "http://127.0.0.1:45703 with 1 experiment(s) in flight"), notes
    open_campaign(store, load_campaign(path), notes)  # said once: the store now holds the new address
    assert len(notes) == 1
    store.close()


def test_unreachable_deadline_follows_outbox_deadline_unless_set():
    assert RobotOracle(outbox_deadline=42).unreachable_deadline == 42
    assert RobotOracle(outbox_deadline=42, unreachable_deadline=7).unreachable_deadline == 7


def test_outbox_deadline_fails_experiments_with_the_reason_once():
    oracle = RobotOracle(url=f"http://127.0.0.1:{free_port()}", retries=0, outbox_deadline=0.3, poll_timeout=0.2)
    oracle.submit(oracle_experiments("d", 2))
    assert oracle.poll() == []
    time.sleep(0.35)
    failed = oracle.poll()
    assert sorted(x.experiment_id for x in failed) == ["d-000", "d-001"]
    for x in failed:
        assert x.status == "failed" and "outbox_deadline = 0.3 s" in x.error and "ConnectError" in x.error
    assert oracle.poll() == []


class FakeRobot:
    """An httpx MockTransport handler: accepts posts, answers GET /jobs from ``answer(poll, ids)``."""

    def __init__(self, answer: Callable[[int, list[str]], httpx.Response]):
        self.answer = answer
        self.posts: dict[str, int] = {}
        self.gets = 0
        self.deleted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            if any(e["id"].startswith("bad") for e in body["experiments"]):
                return httpx.Response(422, json={"detail": "params: x1 must be below 10"})
            for e in body["experiments"]:
                self.posts[e["id"]] = self.posts.get(e["id"], 0) + 1
            return httpx.Response(200, json={"jobs": [], "created": [], "existing": []})
        if request.method == "DELETE":
            self.deleted.append(request.url.path.rsplit("/", 1)[1])
            return httpx.Response(409, json={"detail": "already finished"})
        ids = request.url.params.get("ids", "").split(",")
        if not self.posts:  # asked before anything was posted: nothing known
            return httpx.Response(200, json={"count": 0, "jobs": []})
        self.gets += 1
        return self.answer(self.gets, [i for i in ids if i in self.posts])


def job(i: str, status: str = "succeeded", **kw) -> dict:
    base = {"id": i, "campaign": "c", "params": {}, "status": status, "value": 1.5, "outputs": {},
            "error": None, "station": 1, "submitted_at": 0.0, "started_at": 0.0, "finished_at": 1.0, "posts": 1}
    return {**base, **kw}


def test_malformed_answers_are_retried_then_failed_with_the_reason(caplog):
    def answer(n: int, ids: list[str]) -> httpx.Response:
        if n <= 2:
            return httpx.Response(200, text="<html>proxy error</html>")
        jobs = {"m1": job("m1", value="abc"), "m2": job("m2", value=float("nan")), "m3": job("m3", status=None),
                "m4": job("m4", value=2.5), "m5": job("m5", status="running")}
        if n >= 6:
            jobs["m5"] = job("m5", status="failed", value=None, error="instrument fault at station 1: pipette clogged")
        body = json.dumps({"count": len(ids), "jobs": [jobs[i] for i in ids if i in jobs]})  # NaN as JSON's NaN
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    fake = FakeRobot(answer)
    oracle = RobotOracle(url="http://robot.test", transport=httpx.MockTransport(fake), max_malformed=3)
    oracle.submit([Experiment(f"m{k}", {"x": k}) for k in range(1, 6)])
    assert fake.posts == {f"m{k}": 1 for k in range(1, 6)}
    assert oracle.poll() == [] and oracle.poll() == []  # bad JSON twice: logged, asked again
    assert any("not JSON" in m for m in caplog.messages)
    third = {x.experiment_id: x for x in oracle.poll()}
    assert set(third) == {"m1", "m2", "m3", "m4"}
    assert third["m4"].status == "succeeded" and third["m4"].value == 2.5
    assert "value 'abc' is not a finite number" in third["m1"].error and "malformed 3 times" in third["m1"].error
    assert "value nan is not a finite number" in third["m2"].error
    assert "status None is not one of" in third["m3"].error
    assert oracle.running_ids() == ["m5"]
    assert oracle.poll() == [] and oracle.poll() == []  # m5 is running: well-formed, so its strikes were cleared
    last = oracle.poll()
    assert [(x.experiment_id, x.status, x.error) for x in last] == [
        ("m5", "failed", "instrument fault at station 1: pipette clogged")]
    assert oracle.poll() == []


def test_a_huge_integer_value_and_a_job_listed_twice_differently_are_malformed_answers(caplog):
    """Fuzz round eight: a succeeded job whose value was a 401-digit JSON integer made every poll log an
    OverflowError traceback, and the run never ended; a job listed twice with other values was recorded with the
    last one, silently. Both are malformed answers now (struck, then failed with the reason); a job listed twice
    the same is one job."""
    def answer(n: int, ids: list[str]) -> httpx.Response:
        body = '{"count": 4, "jobs": [%s]}' % ", ".join([
            json.dumps(job("h1")).replace('"value": 1.5', '"value": 1' + "0" * 400),
            json.dumps(job("d1", value=1.0)), json.dumps(job("d1", value=-1e6)),
            json.dumps(job("s1", value=2.0)), json.dumps(job("s1", value=2.0))])
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    oracle = RobotOracle(url="http://robot.test", transport=httpx.MockTransport(FakeRobot(answer)), max_malformed=2)
    oracle.submit([Experiment(i, {"x": 1}) for i in ("h1", "d1", "s1")])
    first = {x.experiment_id: x for x in oracle.poll()}
    assert [(i, x.status, x.value) for i, x in first.items()] == [("s1", "succeeded", 2.0)]
    assert "Traceback" not in caplog.text and "OverflowError" not in caplog.text
    second = {x.experiment_id: x for x in oracle.poll()}
    assert set(second) == {"h1", "d1"} and all(x.status == "failed" for x in second.values())
    assert "value 1000000000" in second["h1"].error and "is too large for a float (beyond +/-1.8e308)" in \
        second["h1"].error
    assert "GET /jobs listed d1 twice, differently" in second["d1"].error and "malformed 2 times" in second["d1"].error


def test_an_integer_of_thousands_of_digits_anywhere_is_a_malformed_answer_said_as_such(caplog):
    """Round nine's note: a 5,000-digit integer in any field (not only the value) made the answer 'not JSON',
    quoting the start of a well-formed body."""
    def answer(n: int, ids: list[str]) -> httpx.Response:
        body = json.dumps({"count": 1, "jobs": [job("g1")]}).replace('"station": 1', '"station": 1' + "0" * 5000)
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    oracle = RobotOracle(url="http://robot.test", transport=httpx.MockTransport(FakeRobot(answer)), max_malformed=1)
    oracle.submit([Experiment("g1", {"x": 1})])
    (got,) = oracle.poll()
    assert got.status == "failed" and "an integer of more than 4,300 digits" in got.error, got.error


def test_a_robot_answering_with_renamed_ids_is_malformed_not_lost(caplog):
    """Fuzz round ten: a robot that lists each job under another id (r1-v2) made every poll take r1 for lost and
    post it again: 149 posts of 2 experiments in 60 s, and no end. Ids it was not asked about are a malformed
    answer now; a robot that lists every job, the asked ones among them, is still read."""
    def answer(n: int, ids: list[str]) -> httpx.Response:
        jobs = [job(f"{i}-v2") for i in ids if i.startswith("r")] + [job(i) for i in ids if i.startswith("a")]
        return httpx.Response(200, json={"count": len(jobs) + 1, "jobs": jobs + [job("someone-elses")]})

    robot = FakeRobot(answer)
    oracle = RobotOracle(url="http://robot.test", transport=httpx.MockTransport(robot), max_malformed=2)
    oracle.submit([Experiment(i, {"x": 1}) for i in ("r1", "a1")])
    first = {x.experiment_id: x for x in oracle.poll()}
    assert [(i, x.status, x.value) for i, x in first.items()] == [("a1", "succeeded", 1.5)]
    second = {x.experiment_id: x for x in oracle.poll()}
    assert second["r1"].status == "failed" and "listed job id(s) it was not asked about" in second["r1"].error
    assert robot.posts == {"r1": 1, "a1": 1} and "submitting it again" not in caplog.text


def test_refused_experiments_fail_alone_and_lost_jobs_are_submitted_again():
    def answer(n: int, ids: list[str]) -> httpx.Response:
        # the robot lost r2 after accepting it (its database was replaced), until it is posted again
        shown = [i for i in ids if not (i == "r2" and fake.posts["r2"] < 2)]
        return httpx.Response(200, json={"count": len(shown), "jobs": [job(i, value=float(len(i))) for i in shown]})

    fake = FakeRobot(answer)
    oracle = RobotOracle(url="http://robot.test/", transport=httpx.MockTransport(fake))
    oracle.submit([Experiment("r1", {"x": 1}), Experiment("bad1", {"x": 99}), Experiment("r2", {"x": 2})])
    assert fake.posts == {"r1": 1, "r2": 1}
    first = {x.experiment_id: x for x in oracle.poll()}
    assert first["bad1"].status == "failed"
    assert first["bad1"].error == "the robot refused the experiment: HTTP 422: params: x1 must be below 10"
    assert first["r1"].status == "succeeded" and "r2" not in first
    second = poll_until(oracle, 1, timeout=2)
    assert second[0].experiment_id == "r2" and fake.posts["r2"] == 2  # posted again: the robot had lost it


def test_cancel_drops_outbox_experiments_and_cancels_running_jobs(slow_robot):
    r = slow_robot
    oracle = RobotOracle(url=r.url, poll_timeout=1, campaign="c")
    oracle.submit(oracle_experiments("k", 2))
    oracle.cancel("k-000")  # running on the robot
    got = {x.experiment_id: x for x in oracle.poll()}
    assert got["k-000"].status == "cancelled" and "running" in got["k-000"].error
    assert r.request("GET", "/jobs/k-000").json()["status"] == "cancelled"
    assert r.request("GET", "/jobs/k-001").json()["status"] == "running"

    dead = RobotOracle(url=f"http://127.0.0.1:{free_port()}", retries=0, poll_timeout=0.2)
    dead.submit(oracle_experiments("z", 1))
    dead.cancel("z-000")
    [x] = dead.poll()
    assert x.status == "cancelled" and "before the robot accepted it" in x.error


def test_client_config_is_validated_with_field_names(tmp_path):
    from pydantic import ValidationError

    from orchestrator.config import load_campaign
    from orchestrator.errors import ConfigError

    with pytest.raises(ValidationError, match="must start with http:// or https://"):
        RobotOracle.Config(url="localhost:8765")
    text = (CAMPAIGNS / "robot_branin.yaml").read_text().replace("url: http://127.0.0.1:8765", "url: ftp://robot")
    text = text.replace("retries: 4", "retries: -1")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_campaign(bad)
    paths = {p.path for p in err.value.problems}
    assert {"oracle.params.url", "oracle.params.retries"} <= paths
    assert load_campaign(CAMPAIGNS / "robot_branin.yaml").spec.oracle.kind == "robot"
    ctx = OracleContext(campaign="c", base_dir=tmp_path, objective="yield", inputs=("x1", "x2"))
    oracle = RobotOracle.from_config(RobotOracle.Config(url="http://10.0.0.5:9000/"), ctx)
    assert oracle.url == "http://10.0.0.5:9000" and oracle.objective == "yield"


# ----------------------------------------------------------------------------- robot config and ground truths


def test_robot_config_errors_name_the_field(tmp_path):
    from typer.testing import CliRunner

    from orchestrator.cli import app

    def errors(cfg: Any) -> str:
        with pytest.raises(RobotConfigError) as err:
            parse_config(cfg)
        return "\n".join(err.value.lines)

    assert "stations: input should be greater than or equal to 1" in errors({"stations": 0})
    assert "unknown key; did you mean 'stations'?" in errors({"station": 3})
    assert "ground_truth: unknown kind 'magic'" in errors({"ground_truth": {"kind": "magic"}})
    assert "ground_truth.parameters: 'branin' takes 2 inputs" in errors(
        {"ground_truth": {"kind": "function", "function": "branin", "parameters": ["a"]}})
    assert "duration.jitter: must be smaller than mean" in errors({"duration": {"mean": 10, "jitter": 20}})
    assert "faults.probability: input should be less than or equal to 1" in errors({"faults": {"probability": 2}})
    assert "seed: must be a number, not the boolean true" in errors({"seed": True})  # was read as seed 1
    # fuzz round twelve: scikit-learn's "Found array with 0 feature(s)", naming no field
    assert "ground_truth.inputs: is empty; list the CSV's input columns" in errors(
        {"ground_truth": {"kind": "emulator", "path": "t.csv", "inputs": []}})
    yes = tmp_path / "yes.yaml"
    yes.write_text("seed: yes\nstations: 2\n")  # YAML 1.1 read yes as true, and so as seed 1
    with pytest.raises(RobotConfigError, match="seed: input should be a valid integer.*'yes'"):
        load_config(yes)
    path = tmp_path / "emu.yaml"
    path.write_text("ground_truth: {kind: emulator, path: nowhere.csv}\n")
    with pytest.raises(RobotConfigError, match=r"ground_truth\.path: CSV file .*nowhere\.csv' not found"):
        load_config(path)

    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("stations: many\n")
    res = runner.invoke(app, ["mock-robot", "serve", "--config", str(bad), "--port", "0"])
    assert res.exit_code == 2 and "stations: input should be a valid integer" in res.output
    assert "Traceback" not in res.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        res = runner.invoke(app, ["mock-robot", "serve", "--port", str(taken.getsockname()[1]),
                                  "--db", str(tmp_path / "robot.db")])
    assert res.exit_code == 2 and "--port: cannot listen on 127.0.0.1" in res.output
    res = runner.invoke(app, ["mock-robot", "serve", "--port", "0", "--db", str(tmp_path / "no" / "robot.db")])
    assert res.exit_code == 2 and "--db: folder" in res.output and "does not exist" in res.output

    for path in sorted((CAMPAIGNS / "robot").glob("*.yaml")):  # the shipped robot configs load
        cfg, _ = load_config(path)
        assert cfg.db and cfg.speedup >= 100, path


def test_ground_truths_cooling_and_emulator(tmp_path):
    from oracles.robot.truth import InvalidParams, build_truth

    cool = build_truth(parse_config({"ground_truth": {"kind": "cooling", "T_env": 20, "k": 0.1, "T0": 80}}).ground_truth)
    assert cool.evaluate({"t": 0}) == pytest.approx(80)
    assert cool.evaluate({"t": 10}) == pytest.approx(20 + 60 * math.exp(-1))
    assert cool.evaluate({"t": 10, "T0": 100}) == pytest.approx(20 + 80 * math.exp(-1))
    with pytest.raises(InvalidParams, match="'t' is a time and must be >= 0"):
        cool.evaluate({"t": -1})
    with pytest.raises(InvalidParams, match="missing parameter 't'"):
        cool.evaluate({"time": 1})

    csv_path = DATASETS / "pvlab" / "crossed_barrel.csv"
    if not csv_path.is_file():
        pytest.skip("shared datasets not available")
    cfg_path = tmp_path / "emu.yaml"
    cfg_path.write_text(f"ground_truth: {{kind: emulator, path: {csv_path}, model: random-forest}}\n")
    cfg, _ = load_config(cfg_path)
    assert cfg.ground_truth.parameters == ["n", "theta", "r", "t"] and cfg.ground_truth.output == "toughness"
    emu = build_truth(cfg.ground_truth, seed=0)
    rows = emu.X[:20]
    pred = np.array([emu.evaluate(dict(zip(emu.parameters, x))) for x in rows])
    assert np.abs(pred - emu.y[:20]).max() < 0.25 * (emu.y.max() - emu.y.min())
    with pytest.raises(InvalidParams, match="missing parameter 'theta'"):
        emu.evaluate({"n": 6, "r": 1.5, "t": 1.0})


# ----------------------------------------------------------------------------- campaigns against the robot


def robot_campaign(tmp_path: Path, url: str, *, name: str, budget: int = 30) -> Path:
    """campaigns/robot_branin.yaml, pointed at ``url`` (and quicker retries)."""
    spec = yaml.safe_load((CAMPAIGNS / "robot_branin.yaml").read_text())
    spec["name"] = name
    spec["budget"]["max_experiments"] = budget
    spec["oracle"]["params"].update(url=url, timeout=2, backoff=0.05, backoff_max=0.5)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def robot_lab(**overrides) -> dict:
    """campaigns/robot/branin.yaml, with a database chosen by the test."""
    cfg = yaml.safe_load((CAMPAIGNS / "robot" / "branin.yaml").read_text())
    cfg.pop("db")
    cfg.update(overrides)
    return cfg


def store_rows(db: Path) -> list[dict]:
    with sqlite3.connect(db, timeout=10) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("select id, status, value, error from experiments order by seq")]


def check_store_matches_robot(rows: list[dict], jobs: list[dict], budget: int) -> None:
    assert len(rows) == budget and {r["status"] for r in rows} <= {"succeeded", "failed"}
    assert sorted(j["id"] for j in jobs) == sorted(r["id"] for r in rows), "the robot and the store disagree"
    assert [j["posts"] for j in jobs] == [1] * len(jobs), "an experiment was posted twice"
    by_id = {j["id"]: j for j in jobs}
    for r in rows:
        j = by_id[r["id"]]
        assert r["status"] == j["status"]
        if r["status"] == "failed":
            assert r["error"] == j["error"] and FAULT_RE.match(r["error"]), r
        else:
            assert r["value"] == j["value"]


def test_campaign_with_20_percent_instrument_faults_reaches_its_budget(robots, tmp_path):
    from orchestrator.config import load_campaign
    from orchestrator.engine import Engine
    from orchestrator.store import Store

    r = robots(robot_lab(seed=5), name="lab")
    db = tmp_path / "campaign.db"
    campaign = load_campaign(robot_campaign(tmp_path, r.url, name="faulty"))
    engine = Engine(campaign, Store(f"sqlite:///{db}"))
    report = engine.run(poll_interval=0.02)
    engine.oracle.close()
    assert report.status == "completed" and report.message == "budget reached"
    rows = store_rows(db)
    jobs = r.jobs(campaign="faulty")
    failed = [j for j in jobs if j["status"] == "failed"]
    assert len(failed) >= 3, "the robot should have faulted on some experiments"
    assert sorted((j["id"], j["error"]) for j in failed) == sorted(
        (x["id"], x["error"]) for x in rows if x["status"] == "failed")
    check_store_matches_robot(rows, jobs, 30)


def looplab_run(spec: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestrator", "run", str(spec), "--store", f"sqlite:///{db}",
                             "--poll-interval", "0.05", "--quiet"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute("select count(*) from experiments").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_robot_restart_and_campaign_sigkill_lose_nothing_and_post_nothing_twice(robots, tmp_path):
    r = robots(robot_lab(seed=5, speedup=300), name="lab")  # 0.1 to 0.3 s per experiment
    spec = robot_campaign(tmp_path, r.url, name="survivor", budget=24)
    db = tmp_path / "campaign.db"
    proc = looplab_run(spec, db)
    try:
        in_flight: list[str] = []

        def busy_robot():  # at least 9 experiments, and some of them queued or running on the robot
            if proc.poll() is not None:
                return True
            if count(db) < 9:
                return False
            in_flight[:] = [j["id"] for j in r.jobs(campaign="survivor", status="queued,running")]
            return bool(in_flight)

        wait_for(busy_robot, 180, "9 experiments, some of them on the robot", interval=0.01)
        assert proc.poll() is None, proc.communicate()[1]
        r.kill()  # the robot dies mid-campaign ...
        time.sleep(1.0)  # ... the campaign keeps polling an unreachable robot ...
        assert proc.poll() is None
        r.start()  # ... and the robot comes back on the same database
        assert r.health()["restarts"] == 1
        wait_for(lambda: count(db) >= 15 or proc.poll() is not None, 180, "15 experiments", interval=0.02)
        assert proc.poll() is None, proc.communicate()[1]
        os.kill(proc.pid, signal.SIGKILL)  # now the campaign dies
        proc.communicate()
        killed_at = count(db)
        assert killed_at < 24
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    resumed = looplab_run(spec, db)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming campaign 'survivor'" in out
    jobs = r.jobs(campaign="survivor")
    rows = store_rows(db)
    check_store_matches_robot(rows, jobs, 24)
    done = {j["id"]: j for j in jobs}
    assert in_flight and all(done[i]["status"] in ("succeeded", "failed") for i in in_flight), \
        "a job in flight when the robot was killed was lost"
    assert any(j["status"] == "failed" for j in jobs)


def test_experiments_the_robot_has_not_accepted_stay_proposed_until_it_does(robots, tmp_path):
    """The robot is down when the campaign starts: its first batch waits in the oracle's outbox and the store
    says 'proposed' (not 'submitted'); once the robot is up, the batch is accepted and marked submitted."""
    from orchestrator.config import load_campaign
    from orchestrator.engine import Engine
    from orchestrator.store import Store

    r = robots(robot_lab(seed=2, speedup=50), name="latebot", start=False)
    path = robot_campaign(tmp_path, r.url, name="late", budget=6)
    spec = yaml.safe_load(path.read_text())
    spec["oracle"]["params"].update(retries=0, max_submit_seconds=2, timeout=0.5)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    store = Store(f"sqlite:///{tmp_path / 'late.db'}")
    with Engine(load_campaign(path), store) as engine:
        engine.step()
        first = store.experiments(engine.id)
        assert len(first) == 6 and {e.status for e in first} == {"proposed"}
        r.start()
        wait_for(lambda: engine.step() and {e.status for e in store.experiments(engine.id)} != {"proposed"},
                 30, "the robot to accept the batch")
        accepted = [e for e in store.experiments(engine.id) if e.status != "proposed"]
        assert accepted and all(e.job_id == e.id for e in accepted if e.status in ("submitted", "running"))
        report = engine.run(poll_interval=0.05)
    assert report.status == "completed"
    assert [j["posts"] for j in r.jobs()] == [1] * 6


SHARED = """
name: {name}
seed: {seed}
space:
  parameters:
    - {{name: x1, type: float, low: -5.0, high: 10.0}}
    - {{name: x2, type: float, low: 0.0, high: 15.0}}
objective: {{name: value, goal: min}}
oracle: {{kind: robot, params: {{url: "{url}", poll_share: 1.0}}}}
model: {{kind: random-forest, params: {{n_estimators: 10}}}}
acquisition: {{kind: ucb, batch_size: 2}}
initial: {{n: 2, method: sobol}}
budget: {{max_experiments: 2}}
"""


def test_a_daemons_campaigns_share_one_poll_of_their_robot(robots, tmp_path, monkeypatch):
    """12 campaigns of one daemon (ticks every 0.5 s) on one robot whose experiments take 12 s: while they
    wait, the robot is asked about their jobs once per tick in all (a campaign that has seen the last
    answer asks anew, for everyone), not 12 times per tick; every job is posted once and every result is
    recorded once.

    The counting window closes half a second before the first-posted job finishes (lab clock, speedup 1),
    so a slow machine that spreads the 24 posts over seconds gets a shorter window, not a finished job in
    it; the bounds on the count scale with the window's ticks."""
    from orchestrator.daemon import Daemon
    from orchestrator.store import Store

    duration = 12.0
    monkeypatch.setattr(Daemon, "_import_heavy", lambda self: self._imported.set())  # no model step here
    robot = robots(lab(stations=24, speedup=1, duration={"mean": duration, "jitter": 0}))
    folder = tmp_path / "campaigns"
    folder.mkdir()
    n = 12
    for k in range(n):
        (folder / f"c{k:02d}.yaml").write_text(SHARED.format(name=f"shared-{k:02d}", seed=k, url=robot.url))
    store = Store(f"sqlite:///{tmp_path / 'daemon.db'}")
    d = Daemon(folder, store, interval=0.5, rescan=60, workers=2, exit_when_done=True)
    d.start()
    try:
        wait_for(lambda: robot.health()["jobs"] == 2 * n, 30, "every campaign's initial design on the robot")
        first_post = min(j["submitted_at"] for j in robot.jobs())
        time.sleep(1.0)
        opened = robot.health()
        window = min(5.0, first_post + duration - 0.5 - opened["clock"])
        assert window >= 2.0, f"posting the 24 jobs took {opened['clock'] - first_post - 1:.1f} s; no window left"
        time.sleep(window)
        after = robot.health()["requests"]
        assert robot.health()["counts"]["succeeded"] == 0  # the window saw waiting campaigns only
        assert d.wait(timeout=60)
    finally:
        d.stop()
    before = opened["requests"]
    gets = after.get("GET /jobs", 0) - before.get("GET /jobs", 0)
    ticks = window / 0.5
    # about one per tick; unshared it would be 12 per tick (120 in a 5 s window)
    assert ticks / 2 <= gets <= ticks + 2, (window, before, after)
    assert after.get("POST /jobs", 0) == before.get("POST /jobs", 0)
    jobs = robot.jobs()
    assert len(jobs) == 2 * n and all(j["posts"] == 1 for j in jobs)
    for k in range(n):
        row = store.get_campaign(f"shared-{k:02d}")
        assert row.status == "completed"
        exps = store.experiments(row.id)
        assert [e.status for e in exps] == ["succeeded", "succeeded"]
        assert {e.value for e in exps} == {j["value"] for j in jobs if j["campaign"] == f"shared-{k:02d}"}
