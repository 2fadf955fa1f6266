"""Sends experiments to a lab robot's HTTP API (the mock robot, or an instrument with the same API).

An asynchronous oracle: ``submit`` hands experiments to the robot and returns,
``poll`` collects the ones that finished. It is written for an unreliable
instrument and never raises into the engine:

* **submit** asks the robot which ids it already has (``GET /jobs?ids=``) and
  posts only the others, so an engine restart (which submits every in-flight
  experiment again) never posts an id twice. Connection errors, timeouts and
  5xx answers are retried with exponential back-off (``retries``, ``backoff``,
  bounded by ``max_submit_seconds``); every attempt asks again which ids the
  robot has, so a post whose answer was lost is not repeated either. If the
  robot stays unreachable the experiments wait in an *outbox* that each later
  poll tries to deliver; only after ``outbox_deadline`` seconds are they
  reported failed, with the reason. Experiments the robot had accepted are
  reported failed once it has not answered for ``unreachable_deadline``
  seconds (default: ``outbox_deadline``), and it is asked to cancel them if it
  comes back: a campaign whose robot died ends by its failure policy or its
  budget instead of waiting for ever.
* **poll** asks the robot about every outstanding id (``GET /jobs?ids=``, a few
  hundred ids per request, ``poll_timeout``, no retry loop) and returns each
  finished job's Result exactly once. The robot oracles of one process (a
  daemon's campaigns) share their polls: one request asks about the
  outstanding ids of all of them, and its answer serves every other campaign
  that polls within ``poll_share`` seconds and has not yet seen it; a
  campaign that has seen it asks anew. A daemon with hundreds of campaigns on
  one robot asks it once per tick, not once per campaign per tick. An
  unreachable robot means ``[]`` and one warning per outage. A malformed answer
  (not JSON, a missing field, a value that is not a finite number) is logged and
  asked again on later polls; after ``max_malformed`` malformed answers the
  experiment is reported failed with the reason. A job the robot no longer
  knows (its database was replaced) goes back to the outbox.
* **not a robot**: a URL that answers ``GET /jobs`` with 404 or 405 (every
  looplab robot serves it), or whose first answers are not the robot's JSON
  (an HTML page, another program's API), is not a looplab robot: asking again
  only repeats the answer, so the experiments concerned fail at once, with one
  line naming ``oracle.params.url``, logged once.
* **cancel** removes an experiment from the outbox, or asks the robot to cancel
  it (one attempt now, retried on later polls if the robot is unreachable).

Faulted jobs become ``Result(status="failed", error=<the robot's reason>)``;
cancelled ones ``"cancelled"``. The objective is the job's ``value``; outputs
hold the robot's outputs plus its station and timings (lab seconds).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..base import ConfigProblem, Experiment, OracleContext, Result

log = logging.getLogger("looplab.oracles.robot")

CHUNK = 50  # ids per GET /jobs?ids=... while submitting (keeps URLs short)
POLL_URL_CHARS = 6000  # at most this many characters of ids per GET /jobs?ids=... while polling
FRESH = 0.2  # seconds: a shared poll this young is not asked again (a campaign stepping twice in a row)
MAX_ANSWER_BYTES = 64 * 2**20  # a longer answer is malformed (a few hundred jobs take a few hundred kB)
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class _Transient(Exception):
    """The robot did not answer usefully this time (connection, timeout, 5xx); try again later."""

    def __init__(self, reason: str, retry_after: float | None = None, *, answered: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.answered = answered  # the robot answered (5xx, 429, 408): busy rather than gone


class _Malformed(Exception):
    """The robot answered, but the answer makes no sense."""


class _NotARobot(Exception):
    """The URL answers, but not as a looplab robot (a wrong URL or port); the message is the one line to show."""


class _Refused(Exception):
    """The robot refused the request (4xx): asking again will not help."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass
class _Waiting:
    experiment: Experiment
    since: float  # monotonic time it entered the outbox
    last_error: str = ""


@dataclass
class _Strikes:
    count: int = 0
    reason: str = ""


class RobotOracle:
    """Runs experiments on a lab robot over HTTP (the mock robot or a real one); retries, never loses one."""

    # how to reach the robot, not what it measures: a campaign may resume with other values (a robot restarted on
    # another port was refused as a different setup, and the campaign polled the dead URL: fuzz round seventeen)
    resumable_params = ("url", "timeout", "poll_timeout", "retries", "backoff", "backoff_max", "max_submit_seconds",
                        "outbox_deadline", "unreachable_deadline", "max_malformed", "poll_share")

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")

        url: str = Field(default="http://127.0.0.1:8765", description="the robot's base URL (http or https)")
        timeout: float = Field(default=5.0, gt=0, le=600, description="seconds per request while submitting")
        poll_timeout: float = Field(default=2.0, gt=0, le=600,
                                    description="seconds per request while polling or cancelling (never retried "
                                                "inside a poll)")
        retries: int = Field(default=3, ge=0, le=50, description="extra attempts of a submit after a connection "
                                                                 "error, timeout or 5xx")
        backoff: float = Field(default=0.25, ge=0, le=600, description="seconds before the first retry; doubles "
                                                                       "with each retry")
        backoff_max: float = Field(default=4.0, ge=0, le=3600, description="longest wait between two retries")
        max_submit_seconds: float = Field(default=15.0, gt=0, le=3600,
                                          description="a submit gives up retrying after this long (the experiments "
                                                      "stay in the outbox)")
        outbox_deadline: float = Field(default=600.0, gt=0, le=30 * 86400,
                                       description="seconds an experiment may wait for an unreachable robot before "
                                                   "it is reported failed")
        unreachable_deadline: float | None = Field(
            default=None, gt=0, le=30 * 86400,
            description="seconds the robot may go without answering while it holds accepted experiments before "
                        "they are reported failed (a robot that comes back is asked to cancel them); default: "
                        "outbox_deadline")
        max_malformed: int = Field(default=5, ge=1, le=1000,
                                   description="malformed answers about an experiment before it is reported failed")
        poll_share: float = Field(default=1.0, ge=0, le=60,
                                  description="seconds one poll's answer may serve the other campaigns of this "
                                              "process that poll the same robot (one request per robot, not one "
                                              "per campaign); 0: each campaign asks for itself")

        @field_validator("url")
        @classmethod
        def _url(cls, url: str) -> str:
            return check_url(url)

        @model_validator(mode="after")
        def _backoff(self) -> RobotOracle.Config:
            if self.backoff > self.backoff_max:
                raise ValueError(f"backoff ({self.backoff:g}) is larger than backoff_max ({self.backoff_max:g})")
            return self

    def __init__(self, *, url: str = "http://127.0.0.1:8765", timeout: float = 5.0, poll_timeout: float = 2.0,
                 retries: int = 3, backoff: float = 0.25, backoff_max: float = 4.0, max_submit_seconds: float = 15.0,
                 outbox_deadline: float = 600.0, unreachable_deadline: float | None = None,
                 max_malformed: int = 5, poll_share: float = 1.0,
                 campaign: str = "", objective: str = "value",
                 transport: httpx.BaseTransport | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.url = with_environment(check_url(url))  # ${VAR}s filled in here only: the store keeps the names
        self.shown_url = shown_url(self.url)  # in logs and stored errors: without a password
        self.timeout = timeout
        self.poll_timeout = poll_timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.max_submit_seconds = max_submit_seconds
        self.outbox_deadline = outbox_deadline
        self.unreachable_deadline = outbox_deadline if unreachable_deadline is None else unreachable_deadline
        self.max_malformed = max_malformed
        self.campaign = campaign
        self.objective = objective
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._outbox: dict[str, _Waiting] = {}  # not yet accepted by the robot
        self._accepted: dict[str, Experiment] = {}  # the robot has them; results not yet delivered
        self._ready: dict[str, Result] = {}  # results to hand out at the next poll
        self._delivered: set[str] = set()
        self._cancels: set[str] = set()  # cancellations the robot has not confirmed
        self._strikes: dict[str, _Strikes] = {}
        self._running: set[str] = set()  # accepted ids the robot said are running
        self._down_since: float | None = None
        self._last_warning = -math.inf
        self._robot_answered = False  # GET /jobs has answered as a robot does (until then, any other answer
        # means the URL is not a robot)
        self._said_not_a_robot = False
        self.poll_share = poll_share
        self._shared = _SharedPolls.join(self) if poll_share > 0 else None
        self._seen = 0  # the last shared answer this oracle used

    @classmethod
    def from_config(cls, config: RobotOracle.Config, context: OracleContext) -> RobotOracle:
        return cls(**config.model_dump(), campaign=context.campaign, objective=context.objective)

    @classmethod
    def check_config(cls, config: RobotOracle.Config, *, spec: Any, base_dir: Any) -> list[ConfigProblem]:
        problems = []
        if config.timeout > config.max_submit_seconds:
            problems.append(ConfigProblem("max_submit_seconds", f"is shorter than one request's timeout "
                                          f"({config.max_submit_seconds:g} < {config.timeout:g})"))
        return problems

    @classmethod
    def config_notes(cls, config: RobotOracle.Config, *, spec: Any, base_dir: Any) -> list[ConfigProblem]:
        """A secret written in the URL works, but the store keeps the campaign file's text: say how to keep it
        out."""
        secret = written_secret(config.url)
        if secret is None:
            return []
        return [ConfigProblem("url", f"the {secret} in the URL is written in the campaign file, so the store's copy "
                              "of the campaign keeps it (output shows it as ***); to keep it out of both, write an "
                              "environment variable's name in its place (http://user:${ROBOT_TOKEN}@host:8765) and "
                              "export ROBOT_TOKEN=... in the shell that runs looplab")]

    # -- the protocol ------------------------------------------------------------------------------

    @classmethod
    def address(cls, params: dict[str, Any]) -> str | None:
        """Where these params (the campaign file's ``oracle.params``, unvalidated) lead now: the ``url`` with its
        ``${NAME}``s filled in and its user info masked; None without a url, or with a variable not set (said
        when the oracle is built). The store records it when a campaign starts, and a resume that leads
        elsewhere with experiments in flight is said (``engine._moved_oracle_note``)."""
        url = params.get("url", cls.Config.model_fields["url"].default) if isinstance(params, dict) else None
        if not isinstance(url, str):
            return None
        try:  # as the connection uses it: httpx's form (HTTP://, /./, port 08765), without a trailing slash (each
            # was said as a move to another robot: fuzz round twenty and its re-run)
            return shown_url(str(httpx.URL(with_environment(url.strip()))).rstrip("/"))
        except (ValueError, httpx.InvalidURL):
            return None

    def submit(self, experiments: Sequence[Experiment]) -> None:
        """Hand experiments to the robot; returns once it accepted them or retrying ran out (never raises)."""
        now = self._clock()
        for e in experiments:
            if e.id in self._delivered or e.id in self._ready or e.id in self._accepted or e.id in self._outbox:
                continue  # idempotent
            self._outbox[e.id] = _Waiting(e, now)
        if self._outbox:
            self._deliver(retry=True)

    def poll(self) -> list[Result]:
        """Finished results, each once; returns quickly whether or not the robot answers (never raises)."""
        try:
            reachable = self._deliver(retry=False) if self._outbox else True
            if reachable:  # a robot that did not answer just now is not asked again in the same poll
                for i in list(self._cancels):
                    self._cancel_on_robot(i)
                self._collect()
        except Exception:  # never raise into the engine; what is ready is still handed out
            log.exception("robot oracle: unexpected error while polling %s", self.shown_url)
        out = [r for i, r in self._ready.items() if i not in self._delivered]
        self._delivered.update(r.experiment_id for r in out)
        self._ready.clear()
        return out

    def cancel(self, experiment_id: str) -> None:
        """Best effort: an experiment still in the outbox is dropped; one on the robot is cancelled there."""
        if experiment_id in self._outbox:
            del self._outbox[experiment_id]
            self._done(Result(experiment_id, "cancelled", error="cancelled before the robot accepted it"))
        elif experiment_id in self._accepted:
            try:
                self._cancel_on_robot(experiment_id)
            except Exception:  # best effort, never raised into the engine
                log.exception("robot oracle: unexpected error while cancelling %s", experiment_id)

    def job_ids(self) -> dict[str, str]:
        """Robot job id of every experiment the robot accepted and has not finished (the robot uses the id)."""
        return {i: i for i in self._accepted}

    def running_ids(self) -> list[str]:
        """Experiments the robot reported as running (at the last poll), so the store can say so."""
        return [i for i in self._running if i in self._accepted]

    def close(self) -> None:
        if self._shared is not None:
            self._shared.leave(self)
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- HTTP -----------------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, transport=self._transport, timeout=self.timeout,
                                        headers={"user-agent": "looplab-robot-oracle/1"})
        return self._client

    def _request(self, method: str, path: str, *, timeout: float, **kw: Any) -> httpx.Response:
        """One request whose whole answer arrives within ``timeout`` seconds (httpx's own timeout bounds each
        read, so a robot trickling its answer a byte at a time would otherwise hold the run for ever) and is
        at most MAX_ANSWER_BYTES long."""
        deadline = time.monotonic() + timeout
        try:
            with self._http().stream(method, path, timeout=timeout, **kw) as streamed:
                # an answer made in memory (httpx.MockTransport in the tests) arrives already whole
                response = streamed if streamed.is_stream_consumed else _whole(streamed, deadline, timeout)
        except httpx.TimeoutException as exc:
            raise _Transient(f"no answer within {timeout:g} s ({type(exc).__name__})") from None
        except httpx.DecodingError as exc:  # e.g. Content-Encoding: gzip over a body that is not gzip
            raise _Malformed(f"the answer's body could not be decoded ({exc})") from None
        except httpx.TransportError as exc:
            if self.url.startswith("https:") and "WRONG_VERSION_NUMBER" in str(exc):  # it answered TLS in plain HTTP
                raise _NotARobot(f"oracle.params.url: {self.shown_url} answers in plain HTTP, not TLS; write http:// "
                                 "instead of https://") from None  # was waited out as an outage (fuzz round 17)
            raise _Transient(f"{type(exc).__name__}: {exc or 'connection failed'}") from None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise _Transient(f"HTTP {response.status_code}: {_detail(response)}", _retry_after(response),
                             answered=True)
        if response.status_code >= 400:
            raise _Refused(response.status_code, f"HTTP {response.status_code}: {_detail(response)}")
        return response

    def _jobs(self, ids: list[str], timeout: float) -> tuple[dict[str, dict], list[str]]:
        """The robot's jobs among ``ids``: (well-formed jobs by id, problems with items naming no id).

        Raises _NotARobot when the URL answers 404 or 405 (every looplab robot serves GET /jobs), or has never
        answered as a robot and does not now (an HTML page, another program's JSON)."""
        response = None
        try:
            response = self._request("GET", "/jobs", params={"ids": ",".join(ids)}, timeout=timeout)
            items = _json_list(response)
        except (_Refused, _Malformed) as exc:
            missing = isinstance(exc, _Refused) and exc.status in (404, 405)
            if missing or not self._robot_answered:
                what = str(exc) if isinstance(exc, _Refused) or response is None else \
                    f"HTTP {response.status_code}: {_detail(response)}"
                raise _NotARobot(f"oracle.params.url: {self.shown_url} is not a looplab robot (GET /jobs answered "
                                 f"{what}); check the URL and its port") from None
            raise
        self._robot_answered = True
        jobs: dict[str, dict] = {}
        orphans: list[str] = []
        for k, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                first = jobs.setdefault(item["id"], item)
                if first is not item and first != item:  # which one holds? neither is taken: a malformed answer
                    jobs[item["id"]] = {_CONTRADICTION: f"GET /jobs listed {item['id']} twice, differently "
                                                        f"({_short(first.get(_CONTRADICTION, first), 60)} and "
                                                        f"{_short(item, 60)})"}
            else:
                orphans.append(f"jobs[{k}] is not a job with an id (got {_short(item)})")
        asked = set(ids)
        strangers = [i for i in jobs if i not in asked]
        if strangers:  # ids it was not asked about (renamed or prefixed): the asked ones must not seem lost
            orphans.append(f"GET /jobs?ids=... listed job id(s) it was not asked about ({_short(strangers, 80)}); "
                           "a robot answers with the ids looplab posted")
        return jobs, orphans

    # -- submitting -------------------------------------------------------------------------------------

    def _deliver(self, *, retry: bool) -> bool:
        """Move outbox experiments to the robot: retried with back-off inside submit, one attempt inside poll.

        Returns False if the robot could not be reached at all (no answer, not even a 5xx).
        """
        reachable = True
        started = self._clock()
        delay = self.backoff
        attempts = 1 + (self.retries if retry else 0)
        timeout = self.timeout if retry else self.poll_timeout
        for attempt in range(attempts):
            try:
                self._deliver_once(timeout)
                self._up()
                break
            except _NotARobot as exc:  # asking again would get the same answer
                self._not_a_robot(str(exc), list(self._outbox))
                break
            except _Transient as exc:
                reason, answered = exc.reason, exc.answered
                wait = min(max(delay, exc.retry_after or 0.0), self.backoff_max)
            except (_Malformed, _Refused) as exc:  # a refused GET /jobs?ids= counts as a malformed answer
                reason, answered = f"malformed answer: {exc}", True
                for i in list(self._outbox):
                    self._strike(i, reason)
                wait = min(delay, self.backoff_max)
            except Exception as exc:  # never raise into the engine: keep the experiments, say why
                reason, answered = f"{type(exc).__name__}: {exc}", False
                log.exception("robot oracle: unexpected error while submitting to %s", self.shown_url)
                wait = min(delay, self.backoff_max)
            for w in self._outbox.values():
                w.last_error = reason
            last = attempt + 1 == attempts
            if last or self._clock() - started + wait > self.max_submit_seconds:
                self._down(reason, answered)
                reachable = answered
                break
            log.debug("robot at %s: %s; retrying in %.2f s", self.shown_url, reason, wait)
            self._sleep(wait)
            delay *= 2
        self._expire_outbox()
        return reachable

    def _deliver_once(self, timeout: float) -> None:
        ids = list(self._outbox)
        for chunk in _chunks(ids, CHUNK):
            known, _ = self._jobs(chunk, timeout)  # ask first: never post an id the robot has
            for i in chunk:
                if i in known and i in self._outbox:
                    clash = _other_params(known[i], self._outbox[i].experiment)
                    if clash:
                        self._fail_clash(self._outbox[i].experiment, clash)
                    else:
                        self._accept(i)
            unknown = [self._outbox[i].experiment for i in chunk if i in self._outbox]
            if not unknown:
                continue
            body = {"experiments": [{"id": e.id, "params": dict(e.params), "campaign": e.campaign or self.campaign}
                                    for e in unknown]}
            try:
                response = self._request("POST", "/jobs", json=body, timeout=timeout)
            except _Refused as exc:
                if len(unknown) > 1:  # find out which experiment the robot objects to
                    for e in unknown:
                        self._post_one(e, timeout)
                    continue
                self._fail_refused(unknown[0], str(exc))
                continue
            _json_list(response)  # a 2xx answer that makes no sense: the next attempt asks which ids it has
            for e in unknown:
                self._accept(e.id)

    def _post_one(self, e: Experiment, timeout: float) -> None:
        body = {"experiments": [{"id": e.id, "params": dict(e.params), "campaign": e.campaign or self.campaign}]}
        try:
            self._request("POST", "/jobs", json=body, timeout=timeout)
        except _Refused as exc:
            self._fail_refused(e, str(exc))
            return
        self._accept(e.id)

    def _fail_refused(self, e: Experiment, reason: str) -> None:
        self._outbox.pop(e.id, None)
        self._done(Result(e.id, "failed", error=f"the robot refused the experiment: {reason}"))

    def _fail_clash(self, e: Experiment, theirs: str) -> None:
        """The robot holds a job of this id with other params: a campaign of the same name run before (in
        another store, or one deleted) used the id. Its result is not this experiment's (fuzz round nineteen:
        7 of 12 such results were stored at the new params)."""
        self._outbox.pop(e.id, None)
        self._done(Result(e.id, "failed", error=(
            f"the robot at {self.shown_url} already holds a job {e.id} with other params ({theirs}; this experiment's: "
            f"{_short(dict(e.params), 120)}): a campaign named '{e.campaign or self.campaign}' used the id before, "
            "in another store or one since removed, so its result is not this experiment's; give this campaign "
            "another name, or start the robot on a new database")))

    def _accept(self, experiment_id: str) -> None:
        waiting = self._outbox.pop(experiment_id, None)
        if waiting is not None and experiment_id not in self._ready:
            self._accepted[experiment_id] = waiting.experiment

    def _expire_outbox(self) -> None:
        now = self._clock()
        for i, w in list(self._outbox.items()):
            if now - w.since >= self.outbox_deadline:
                del self._outbox[i]
                self._done(Result(i, "failed", error=f"the robot at {self.shown_url} did not accept the experiment within "
                                                     f"outbox_deadline = {self.outbox_deadline:g} s; last error: "
                                                     f"{w.last_error or 'unknown'}"))

    # -- polling -------------------------------------------------------------------------------------------

    def _ask(self, ids: list[str]) -> list[_Answer]:
        """The robot's answer about ``ids``, one per request (an answer's ``error``: that request failed)."""
        answers = []
        for chunk in _url_chunks(ids):
            try:
                jobs, orphans = self._jobs(chunk, self.poll_timeout)
                answers.append(_Answer(chunk, jobs, orphans))
            except (_Transient, _Malformed, _Refused, _NotARobot) as exc:
                answers.append(_Answer(chunk, error=exc))
                if isinstance(exc, _Transient):
                    break  # not reachable now: the rest waits for the next poll
        return answers

    def _collect(self) -> None:
        ids = list(self._accepted)
        if not ids:
            return
        answers = self._shared.answers(self, ids) if self._shared is not None else self._ask(ids)
        for answer in answers:
            chunk, jobs, orphans = [i for i in answer.ids if i in self._accepted], answer.jobs, answer.orphans
            if isinstance(answer.error, _Transient):
                self._down(answer.error.reason, answer.error.answered)
                return
            if isinstance(answer.error, _NotARobot):
                self._not_a_robot(str(answer.error), chunk)
                continue
            if answer.error is not None:
                for i in chunk:
                    self._strike(i, f"malformed answer to GET /jobs: {answer.error}")
                continue
            self._up()
            for i in chunk:
                job = jobs.get(i)
                if job is None:
                    if orphans:
                        self._strike(i, "; ".join(orphans[:3]))
                    else:
                        self._lost(i)
                    continue
                try:
                    result = self._to_result(i, job)
                except _Malformed as exc:
                    self._strike(i, str(exc))
                    continue
                self._strikes.pop(i, None)
                if result is None and job.get("status") == "running":
                    self._running.add(i)
                if result is not None:
                    self._running.discard(i)
                    self._accepted.pop(i, None)
                    self._cancels.discard(i)
                    self._done(result)

    def _lost(self, experiment_id: str) -> None:
        e = self._accepted.pop(experiment_id)
        log.warning("the robot at %s no longer knows experiment %s (was its database replaced?); submitting it again",
                    self.shown_url, experiment_id)
        self._outbox[experiment_id] = _Waiting(e, self._clock())

    def _to_result(self, experiment_id: str, job: dict) -> Result | None:
        if _CONTRADICTION in job:
            raise _Malformed(job[_CONTRADICTION])
        status = job.get("status")
        if status not in JOB_STATUSES:
            raise _Malformed(f"status {_short(status)} is not one of {', '.join(JOB_STATUSES)}")
        if status in ("queued", "running"):
            return None
        outputs = job.get("outputs", {})
        if outputs is None:
            outputs = {}
        if not isinstance(outputs, dict):
            raise _Malformed(f"outputs must be an object (got {_short(outputs)})")
        outputs = dict(outputs)
        for key in ("station", "submitted_at", "started_at", "finished_at"):
            if job.get(key) is not None:
                outputs.setdefault(key if key == "station" else f"robot_{key}", job[key])
        error = job.get("error")
        if error is not None and not isinstance(error, str):
            raise _Malformed(f"error must be a string (got {_short(error)})")
        if status == "succeeded":
            if "value" not in job:
                raise _Malformed("a succeeded job without a value")
            value = job["value"]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Malformed(f"value {_short(value)} is not a finite number")
            try:
                number = float(value)
            except OverflowError:  # a JSON integer of hundreds of digits: math.isfinite raised, every poll
                raise _Malformed(f"value {_short(value)} is too large for a float (beyond +/-1.8e308)") from None
            if not math.isfinite(number):
                raise _Malformed(f"value {_short(value)} is not a finite number")
            return Result(experiment_id, "succeeded", value=number, outputs=outputs)
        if status == "failed":
            return Result(experiment_id, "failed", outputs=outputs,
                          error=error or "the robot reported a failure without a reason")
        return Result(experiment_id, "cancelled", outputs=outputs, error=error or "cancelled on the robot")

    def _strike(self, experiment_id: str, reason: str) -> None:
        s = self._strikes.setdefault(experiment_id, _Strikes())
        s.count += 1
        s.reason = reason
        log.warning("robot at %s: malformed answer about %s (%d of %d allowed): %s", self.shown_url, experiment_id,
                    s.count, self.max_malformed, reason)
        if s.count >= self.max_malformed:
            self._fail(experiment_id, f"the robot's answer about this experiment was malformed {s.count} times "
                                      f"(max_malformed = {self.max_malformed}); last: {reason}")

    def _fail(self, experiment_id: str, error: str) -> None:
        """Forget ``experiment_id`` (outbox, accepted, strikes, running) and report it failed with ``error``."""
        self._outbox.pop(experiment_id, None)
        self._accepted.pop(experiment_id, None)
        self._strikes.pop(experiment_id, None)
        self._running.discard(experiment_id)
        self._done(Result(experiment_id, "failed", error=error))

    def _not_a_robot(self, reason: str, ids: list[str]) -> None:
        """Fail ``ids`` at once with ``reason`` (the URL is not a robot); the reason is logged once."""
        if not self._said_not_a_robot:
            self._said_not_a_robot = True
            log.warning("%s", reason)
        for i in ids:
            self._fail(i, reason)

    # -- cancelling -------------------------------------------------------------------------------------

    def _cancel_on_robot(self, experiment_id: str) -> None:
        try:
            response = self._request("DELETE", f"/jobs/{experiment_id}", timeout=self.poll_timeout)
        except _Transient as exc:
            self._cancels.add(experiment_id)
            log.info("robot at %s: could not cancel %s now (%s); will try again", self.shown_url, experiment_id,
                        exc.reason)
            return
        except _Refused as exc:
            self._cancels.discard(experiment_id)
            if exc.status == 404 and experiment_id in self._accepted:
                self._accepted.pop(experiment_id)
                self._done(Result(experiment_id, "cancelled", error="cancelled (the robot did not know the job)"))
            return  # 409: it already finished; the next poll reports how
        self._cancels.discard(experiment_id)
        try:
            job = response.json()
            result = self._to_result(experiment_id, job) if isinstance(job, dict) else None
        except (ValueError, _Malformed):
            result = None  # the next poll asks again
        if result is not None and experiment_id in self._accepted:
            self._accepted.pop(experiment_id)
            self._done(result)

    # -- bookkeeping ----------------------------------------------------------------------------------

    def _done(self, result: Result) -> None:
        if result.experiment_id not in self._delivered:
            self._ready.setdefault(result.experiment_id, result)

    def _down(self, reason: str, answered: bool = False) -> None:
        """One warning per outage (repeated each minute); a robot that answers 5xx is warned about
        only once that has lasted 5 s (one 503 is routine for a busy instrument)."""
        now = self._clock()
        if self._down_since is None:
            self._down_since = now
        if answered and now - self._down_since < 5.0:
            log.info("robot at %s: %s; retrying", self.shown_url, reason)
            return
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            log.warning("robot at %s unreachable (%s); %d experiment(s) waiting in the outbox, %d awaiting results; "
                        "retrying on later polls", self.shown_url, reason, len(self._outbox), len(self._accepted))
        if self._accepted and now - self._down_since >= self.unreachable_deadline:
            self._give_up(reason, now - self._down_since)

    def _give_up(self, reason: str, silent: float) -> None:
        """Report what the robot holds as failed: it has not answered for ``unreachable_deadline`` seconds. It
        may have run them, so it is asked (on later polls, if it comes back) to cancel what it still has."""
        log.warning("robot at %s has not answered for %.0f s (unreachable_deadline = %g s): reporting the %d "
                    "experiment(s) it holds as failed", self.shown_url, silent, self.unreachable_deadline,
                    len(self._accepted))
        for i in list(self._accepted):
            self._cancels.add(i)
            self._fail(i, f"the robot at {self.shown_url} accepted this experiment, then did not answer for "
                          f"{silent:.0f} s (unreachable_deadline = {self.unreachable_deadline:g} s); last error: "
                          f"{reason}. Its result, if the robot still has one, is not recorded")

    def _up(self) -> None:
        if self._down_since is not None:
            if self._last_warning > -math.inf:
                log.warning("robot at %s reachable again after %.1f s", self.shown_url, self._clock() - self._down_since)
            self._down_since = None
            self._last_warning = -math.inf


# ----------------------------------------------------------------------------- shared polls


@dataclass
class _Answer:
    """What one GET /jobs?ids= said: the jobs it returned by id, items naming no id, or why it failed."""

    ids: list[str]
    jobs: dict[str, dict] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    error: Exception | None = None


@dataclass
class _Round:
    """One shared poll: when it was asked, which ids it asked about, and the answers."""

    seq: int
    taken: float  # time.monotonic() when it was asked
    answers: list[_Answer]
    index: dict[str, int]  # id -> position of its answer in answers


class _SharedPolls:
    """The robot oracles of this process that poll one robot (same URL, same transport) share one request.

    An oracle that polls either uses the latest round (asked less than ``poll_share`` seconds ago and not
    used by it before), or learns nothing new (it used the latest round, asked less than FRESH seconds ago:
    a campaign that steps again right after recording or proposing; a lone oracle always asks), or asks a new one about the
    outstanding ids of every oracle here, in as few requests as the URL length allows. An id that is not in the round it uses was accepted after that round was
    asked: it is left for the next one. Each oracle still decides alone what an answer means for its own
    experiments (results, strikes, lost jobs), so every result is handed out exactly once, as before.
    """

    _registry: dict[tuple, _SharedPolls] = {}
    _registry_lock = threading.Lock()
    _seq = itertools.count(1)

    def __init__(self) -> None:
        self.oracles: weakref.WeakSet[RobotOracle] = weakref.WeakSet()
        self.lock = threading.Lock()  # one request at a time: the others wait for its answer and use it
        self.round: _Round | None = None

    @classmethod
    def join(cls, oracle: RobotOracle) -> _SharedPolls:
        # the transport itself, not its id(): a transport freed after an earlier oracle could pass its id on
        # to a new one, which then read that oracle's last round (a test's flake: a result left for later)
        key = (oracle.url, oracle._transport)
        with cls._registry_lock:
            shared = cls._registry.get(key)
            if shared is None:
                shared = cls._registry[key] = cls()
            shared.oracles.add(oracle)
        return shared

    def leave(self, oracle: RobotOracle) -> None:
        with self._registry_lock:
            self.oracles.discard(oracle)

    def answers(self, oracle: RobotOracle, ids: list[str]) -> list[_Answer]:
        with self.lock:
            r = self.round
            age = math.inf if r is None else time.monotonic() - r.taken
            if r is not None and r.seq <= oracle._seen and age < FRESH and len(self.oracles) > 1:
                return []  # it has this answer already, and the robot was asked just now: no news
            if r is None or r.seq <= oracle._seen or age >= oracle.poll_share:
                r = self.round = self._ask(oracle)
            oracle._seen = r.seq
        positions = sorted({r.index[i] for i in ids if i in r.index})
        return [r.answers[k] for k in positions]

    def _ask(self, oracle: RobotOracle) -> _Round:
        with self._registry_lock:
            others = list(self.oracles)
        wanted = dict.fromkeys(oracle._accepted.copy())
        for other in others:
            if other is not oracle:
                wanted.update(dict.fromkeys(other._accepted.copy()))
        taken = time.monotonic()
        answers = oracle._ask(list(wanted))
        index = {i: k for k, a in enumerate(answers) for i in a.ids}
        return _Round(next(self._seq), taken, answers, index)


# ----------------------------------------------------------------------------- helpers


def _url_chunks(ids: list[str]):
    """``ids`` in runs whose comma-separated text stays within POLL_URL_CHARS (one GET each)."""
    run: list[str] = []
    size = 0
    for i in ids:
        if run and size + len(i) + 1 > POLL_URL_CHARS:
            yield run
            run, size = [], 0
        run.append(i)
        size += len(i) + 1
    if run:
        yield run



ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def with_environment(url: str) -> str:
    """``url`` with each ``${NAME}`` replaced by the environment variable NAME (a password or token kept out of
    the campaign file, and so out of the store's copy of it); ValueError naming a variable that is not set or
    empty, or a ``$`` form that is not ``${NAME}``.

    A value in the user info is percent-encoded, so a token holding ``/`` or ``@`` stays the token; elsewhere
    (host, port, path) a value holding a space or any of ``/?#@`` is refused, since it would change which
    server the URL names (fuzz round nineteen: TOK='secret/rest' made the host 'secret')."""
    shown = shown_url(url)
    authority = re.match(r"^[^:/?#]*://[^/?#]*", url)
    userinfo_end = url.rfind("@", 0, authority.end()) if authority else -1
    for odd in _DOLLAR.finditer(url):
        if not ENV_REFERENCE.fullmatch(odd.group(0)):  # the user info's own text is never shown: a password's
            what = "a $ in its user info" if odd.start() < userinfo_end else f"'{odd.group(0)}'"
            raise ValueError(f"'{shown}' has {what}, which is not an environment variable as looplab reads them: "
                             "write ${NAME} (braces, a name of letters, digits and _ that starts with no digit), or "
                             "%24 for a $ meant literally")

    def value(m: re.Match) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ValueError(f"'{shown}' names the environment variable {name}, which is not set; "
                             f"export it (export {name}=...) in the shell that runs looplab")
        text = os.environ[name]
        if not text:
            raise ValueError(f"'{shown}' names the environment variable {name}, which is set but empty; give it "
                             "its value, or remove ${" + name + "} from the URL")
        if m.start() < userinfo_end:
            return quote(text, safe="")
        if any(c.isspace() or c in "/?#@" for c in text):
            raise ValueError(f"'{shown}': the environment variable {name} holds a space or one of / ? # @, which "
                             "would change the server the URL names; write that part of the URL out, or use "
                             "${NAME} for a password or token only (before the @)")
        return text
    return ENV_REFERENCE.sub(value, url)


_DOLLAR = re.compile(r"\$(\{[^}]*\}?|[A-Za-z_0-9]*)")  # ${NAME}, and the $ forms looplab does not read


def check_url(url: str) -> str:
    """The robot's base URL without a trailing slash, its ``${NAME}``s kept (checked filled in); ValueError
    saying what is wrong."""
    kept = url.strip().rstrip("/")
    text = with_environment(url.strip())
    shown = shown_url(url)  # every message without the user info (a password, or a token as the user name)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"'{shown}' is not a valid URL ({exc}); expected e.g. http://127.0.0.1:8765") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"'{shown}' must start with http:// or https:// (e.g. http://127.0.0.1:8765)")
    if not parts.hostname:
        raise ValueError(f"'{shown}' names no host (e.g. http://127.0.0.1:8765)")
    host = parts.hostname
    try:  # what the connection will do with it: a..b, a 70-character label or xn--zz failed at every request
        if ":" not in host:  # not an IPv6 literal
            if any(c.isspace() or not c.isprintable() for c in host):
                raise UnicodeError("it holds a space or a control character")
            odd = next((c for c in host if c.isascii() and not (c.isalnum() or c in ".-_")), None)
            if odd is not None:  # 127.0.0.1\evil.com, 127.0.0.1%2f: no connection could use it (fuzz round twenty)
                raise UnicodeError(f"it holds '{odd}', which no host name holds")
            host.encode("idna")  # empty or over-long labels
            if not host.isascii() or any(label.lower().startswith("xn--") for label in host.split(".")):
                import idna  # httpx's own IDNA 2008 codec (xn--zz is no valid A-label)

                idna.encode(host, uts46=True)
    except Exception as exc:  # noqa: BLE001 - the codec's and httpx's own errors
        raise ValueError(f"'{shown}': the host '{host}' is not a valid host name ({str(exc) or type(exc).__name__}); "
                         "give a name such as robot.lab.example or an address such as 127.0.0.1") from None
    if parts.query or parts.fragment:
        raise ValueError(f"'{shown}' must be a base URL without ?query or #fragment")
    bad = next((c for c in parts.path if c.isspace() or not c.isprintable()), None)
    if bad is not None:  # every request failed with httpx's InvalidURL and a traceback (fuzz round twenty)
        raise ValueError(f"'{shown.encode('unicode_escape').decode()}': its path holds the character "
                         f"U+{ord(bad):04X}, which a URL cannot carry; remove it (or percent-encode it: "
                         f"{quote(bad, safe='')})")
    try:
        httpx.URL(text)
    except Exception as exc:  # noqa: BLE001 - httpx's InvalidURL: a full-width host such as １２７.０.０.１
        fix = "write the host in ASCII, e.g. http://127.0.0.1:8765" if not host.isascii() else \
            "write it as a name such as robot.lab.example or an address such as 127.0.0.1"
        raise ValueError(f"'{shown}' is not a URL a connection can use ({exc}); {fix}") from None
    if port == 0:
        raise ValueError(f"'{shown}' has port 0, which no robot listens on; give the port the robot "
                         "printed when it started (e.g. 8765)")
    return kept


def written_secret(url: str) -> str | None:
    """What secret the URL's user info writes out literally ("password", or "token" for a user name given
    alone, as tokens often are), or None when there is none or it is a ${NAME}."""
    m = re.match(r"^[^:/?#]*://([^/?#]*)@", url.strip())
    if m is None:
        return None
    user, colon, password = m.group(1).partition(":")
    if colon:
        return "password" if ENV_REFERENCE.sub("", password) else None
    return "token" if ENV_REFERENCE.sub("", user) else None


def shown_url(url: str) -> str:
    """``url`` with its user info, if any, replaced by ***: for logs, messages and stored errors. The whole of it:
    a token is often given as the user name (http://TOKEN@host), and a URL too broken to parse is masked all
    the same (fuzz round seventeen: both were printed, logged and stored in clear)."""
    return re.sub(r"^([^:/?#]*://)[^?#]*@", r"\1***@", url.strip())


def _other_params(job: dict, e: Experiment) -> str | None:
    """The params of a robot job that differ from the experiment's (as text), or None when they are the same or
    the robot does not say (a robot need not send them back)."""
    theirs = job.get("params") if isinstance(job, dict) else None
    if not isinstance(theirs, dict) or theirs == dict(e.params):
        return None
    return _short(theirs, 120)


def _chunks(items: list, n: int):
    for k in range(0, len(items), n):
        yield items[k:k + n]


def _short(value: Any, limit: int = 80) -> str:
    try:
        return _line(repr(value), limit)
    except ValueError:  # an int of more digits than Python turns into text
        return "an int of thousands of digits"


_CONTRADICTION = object()  # the key of a job that GET /jobs listed twice, differently (no JSON key can equal it)


def _line(text: str, limit: int) -> str:
    """``text`` on one line (runs of white space made one space), cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _whole(streamed: httpx.Response, deadline: float, timeout: float) -> httpx.Response:
    """The streamed answer read whole by ``deadline`` (monotonic seconds), decoded as its headers say."""
    raw = bytearray()
    for chunk in streamed.iter_raw():
        raw += chunk
        if len(raw) > MAX_ANSWER_BYTES:
            raise _Malformed(f"the answer is longer than {MAX_ANSWER_BYTES // 2**20} MB")
        if time.monotonic() > deadline:
            raise _Transient(f"the answer did not arrive whole within {timeout:g} s ({len(raw)} bytes had come)")
    # httpx reads a body given whole at once, decoding it as the headers say (gzip and the like): a body that
    # does not decode raises httpx.DecodingError here
    return httpx.Response(streamed.status_code, headers=streamed.headers, content=bytes(raw),
                          request=streamed.request)


def _detail(response: httpx.Response) -> str:
    """What an answer says, on one line: its JSON ``detail``, else an HTML page's title, else the start of its
    text (an error page's whole HTML made every warning a screenful)."""
    try:
        detail = response.json().get("detail")
    except Exception:
        detail = None
    if detail is not None:
        return _line(detail, 200) if isinstance(detail, str) else _short(detail, 200)
    title = re.search(r"<title[^>]*>(.*?)</title>", response.text, re.IGNORECASE | re.DOTALL)
    if title:
        return f"an HTML page titled '{_line(title.group(1), 60)}'"
    return _line(response.text, 80) or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _json_list(response: httpx.Response) -> list:
    try:
        body = response.json()
    except ValueError as exc:
        if "digits" in str(exc):  # Python's limit on converting a long integer (4,300 digits)
            raise _Malformed("it holds an integer of more than 4,300 digits, which no measurement needs") from None
        raise _Malformed(f"not JSON (got {_short(response.text)})") from None
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
        raise _Malformed(f"expected an object with a 'jobs' list (got {_short(body)})")
    return body["jobs"]
