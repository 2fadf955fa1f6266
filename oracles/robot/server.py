"""The mock lab robot: a FastAPI service in front of the simulated lab (lab.py).

Started by ``looplab mock-robot serve`` (loopback by default), it behaves the way
a real instrument's HTTP API does: it accepts batches of experiments, runs them
on a few parallel stations, and answers questions about their jobs, sometimes
slowly, sometimes with a 503, and its instruments sometimes fail. The
OpenAPI page is at ``/docs`` (``/openapi.json`` for the schema).

Endpoints::

    POST   /jobs                 submit a batch {"experiments": [{"id", "params", "campaign"}]} (idempotent by id)
    GET    /jobs/{id}            one job (404 if unknown)
    GET    /jobs?status=&campaign=&ids=&limit=   jobs, oldest first (status and ids: comma-separated)
    DELETE /jobs/{id}            cancel a queued or running job
    GET    /health               liveness, lab clock, station use, requests served (never faulted)

Bad requests get a 4xx with a ``detail`` naming what is wrong, never a 500: a body over
1 MB or a job whose params take over 64 kB of JSON is answered 413, JSON nested over
32 levels deep 400, params that do not fit the ground truth (or overflow it) become a job
that failed with the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import socket
import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .config import RobotConfig, RobotConfigError, load_config
from .lab import STATUSES, Lab, LabError, SettingsChanged

log = logging.getLogger("looplab.robot.server")

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,199}$"
UNFAULTED = ("/health", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")
MAX_BODY_BYTES = 1_000_000  # one request (a batch of up to 1000 experiments)
MAX_PARAMS_BYTES = 64_000  # one job's params, as JSON (they are stored and sent back with every GET /jobs)
MAX_JSON_DEPTH = 32  # nested lists and objects in a request (a job needs 4)


# ----------------------------------------------------------------------------- API models


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="stable experiment id; posting it again returns the same job "
                    "(letters, digits and _ . : @ + -; no commas, so ids can be listed in ?ids=)")
    params: dict[str, Any] = Field(description="parameter name -> value")
    campaign: str = Field(default="", max_length=200, description="campaign the experiment belongs to (for filtering)")


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiments: list[ExperimentIn] = Field(min_length=1, max_length=1000)


class Job(BaseModel):
    """One experiment on the robot. Times are lab seconds on the robot's simulated clock."""

    id: str
    campaign: str
    params: dict[str, Any]
    status: JobStatus
    value: float | None = Field(description="the measurement (succeeded jobs only)")
    outputs: dict[str, Any] = Field(description="station, wait_s, duration_s, noise_sd")
    error: str | None = Field(description="why the job failed or was cancelled")
    station: int | None = Field(description="station that ran (or runs) the job, 1-based")
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    posts: int = Field(description="how many POST /jobs requests named this id")


class SubmitResponse(BaseModel):
    jobs: list[Job] = Field(description="one per distinct id of the request, in request order")
    created: list[str] = Field(description="ids that were new")
    existing: list[str] = Field(description="ids the robot already had (returned unchanged)")


class JobList(BaseModel):
    count: int
    jobs: list[Job]


class Health(BaseModel):
    status: Literal["ok"]
    name: str
    clock: float = Field(description="lab seconds now")
    speedup: float
    stations: int
    busy: int
    queued: int
    jobs: int
    counts: dict[str, int]
    ground_truth: str
    parameters: list[str]
    restarts: int = Field(description="times this database was opened before this run")
    db: str
    requests: dict[str, int] = Field(default_factory=dict,
                                     description="requests served since start (simulated 503s not counted), by method and route "
                                                 "(e.g. 'GET /jobs'), so a client's polling can be measured")


class ErrorDetail(BaseModel):
    detail: str


# ----------------------------------------------------------------------------- request limits


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def json_depth(body: bytes) -> int:
    """How deeply the JSON text ``body`` nests lists and objects (brackets inside strings do not count)."""
    import numpy as np

    chars = np.frombuffer(_JSON_STRING.sub(b"", body), dtype=np.uint8)
    steps = np.isin(chars, (ord("["), ord("{"))).astype(np.int64) - np.isin(chars, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


class RequestLimits:
    """ASGI middleware: read a request's body (at most MAX_BODY_BYTES, else 413) and refuse JSON nested
    deeper than MAX_JSON_DEPTH or that Python cannot read (400), before FastAPI parses it."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = (f"the request body is over {MAX_BODY_BYTES:,} bytes; send fewer experiments per request "
                     f"(and at most {MAX_PARAMS_BYTES:,} bytes of params per job)")
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _answer(scope, receive, send, 413, too_large)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _answer(scope, receive, send, 413, too_large)
                return
            if not message.get("more_body", False):
                break
        problem = _json_problem(bytes(body))
        if problem:
            await _answer(scope, receive, send, 400, problem)
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _json_problem(body: bytes) -> str | None:
    depth = json_depth(body)
    if depth > MAX_JSON_DEPTH:
        return (f"the JSON body nests lists and objects {depth} levels deep; at most {MAX_JSON_DEPTH} are "
                "accepted (a job's params are a flat object of numbers and strings)")
    try:
        json.loads(body or b"null")
    except json.JSONDecodeError:
        return None  # FastAPI answers 422 with where the JSON breaks
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        return f"the JSON body cannot be read: {exc}"
    return None


def _json_safe(value: Any) -> Any:
    """``value`` with every inf or nan float written as text ('inf', 'nan'), so that it can be sent as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


async def _answer(scope: dict, receive: Any, send: Any, status: int, detail: str) -> None:
    from starlette.responses import JSONResponse

    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


# ----------------------------------------------------------------------------- the app


def create_app(cfg: RobotConfig, lab: Lab, *, tick: float = 0.1):
    """The FastAPI app serving ``lab``; a background thread advances and persists its clock."""
    from fastapi import FastAPI, HTTPException, Query, Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    stop = threading.Event()

    def ticker() -> None:
        while not stop.wait(tick):
            try:
                lab.advance()
            except Exception:  # pragma: no cover - keep ticking; requests report their own errors
                log.exception("advancing the lab failed")

    @asynccontextmanager
    async def lifespan(app):
        thread = threading.Thread(target=ticker, name="lab-clock", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=2)
            lab.close()

    app = FastAPI(
        title=f"looplab mock robot ({cfg.name})",
        version="1",
        description=("A simulated lab robot: experiments queue FIFO for "
                     f"{cfg.stations} station(s); ground truth {lab.truth.description}. "
                     "Times are lab seconds on a clock running "
                     f"{cfg.speedup:g}x real time. Jobs are kept in SQLite, so a restart loses none."),
        lifespan=lifespan,
    )
    app.add_middleware(RequestLimits)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        # FastAPI's own answer echoes the input, and JSON has no inf or nan (1e999 parses as inf): a 500
        return JSONResponse(status_code=422, content={"detail": _json_safe(jsonable_encoder(exc.errors()))})
    fault_rng = random.Random(f"{cfg.seed}-http")
    http = cfg.http
    served: dict[str, int] = {}

    @app.middleware("http")
    async def count(request: Request, call_next):
        path = request.url.path
        route = "/jobs/{id}" if path.startswith("/jobs/") else path
        key = f"{request.method} {route}"
        served[key] = served.get(key, 0) + 1
        return await call_next(request)

    @app.middleware("http")
    async def misbehave(request: Request, call_next):
        if request.url.path in UNFAULTED or not (http.error_probability or http.slow_probability):
            return await call_next(request)
        if fault_rng.random() < http.error_probability:
            return JSONResponse(status_code=503, headers={"Retry-After": "1"},
                                content={"detail": "robot busy (simulated 503); retry later"})
        response = await call_next(request)  # handled; only the answer is late
        if fault_rng.random() < http.slow_probability:
            await asyncio.sleep(http.slow_seconds)
        return response

    def _raise(exc: LabError):
        raise HTTPException(status_code=exc.status, detail=exc.detail)

    errors = {404: {"model": ErrorDetail, "description": "no such job"},
              503: {"model": ErrorDetail, "description": "simulated overload; retry later"}}

    @app.post("/jobs", response_model=SubmitResponse, summary="Submit experiments (idempotent by id)",
              responses={400: {"model": ErrorDetail, "description": "JSON too deeply nested or unreadable"},
                         409: {"model": ErrorDetail, "description": "an id is known with different params"},
                         413: {"model": ErrorDetail, "description": f"body over {MAX_BODY_BYTES:,} bytes, or a "
                                                                    f"job's params over {MAX_PARAMS_BYTES:,}"},
                         503: errors[503]})
    def submit_jobs(body: SubmitRequest) -> SubmitResponse:
        for e in body.experiments:
            size = len(json.dumps(e.params))
            if size > MAX_PARAMS_BYTES:
                raise HTTPException(413, detail=f"experiment '{e.id}': its params take {size:,} bytes of JSON; a "
                                                f"job's params may take at most {MAX_PARAMS_BYTES:,} (send "
                                                "parameter values, not data)")
        try:
            jobs, created, existing = lab.submit(e.model_dump() for e in body.experiments)
        except LabError as exc:
            _raise(exc)
        return SubmitResponse(jobs=jobs, created=created, existing=existing)

    @app.get("/jobs", response_model=JobList, summary="List jobs, oldest first", responses={503: errors[503]})
    def list_jobs(status: str | None = Query(None, description="comma-separated statuses, e.g. succeeded,failed"),
                  campaign: str | None = Query(None, description="only this campaign's jobs"),
                  ids: str | None = Query(None, description="comma-separated job ids"),
                  limit: int | None = Query(None, ge=1, le=100000)) -> JobList:
        statuses = None
        if status is not None:
            statuses = [s.strip() for s in status.split(",") if s.strip()]
            bad = [s for s in statuses if s not in STATUSES]
            if bad or not statuses:
                raise HTTPException(422, detail=f"status: unknown status {', '.join(repr(b) for b in bad) or '(empty)'}"
                                                f"; expected a comma-separated list of {', '.join(STATUSES)}")
        id_list = None if ids is None else [i.strip() for i in ids.split(",") if i.strip()]
        jobs = lab.list(statuses=statuses, campaign=campaign, ids=id_list, limit=limit)
        return JobList(count=len(jobs), jobs=jobs)

    @app.get("/jobs/{job_id}", response_model=Job, summary="One job", responses=errors)
    def get_job(job_id: str) -> Job:
        try:
            return Job(**lab.get(job_id))
        except LabError as exc:
            _raise(exc)

    @app.delete("/jobs/{job_id}", response_model=Job, summary="Cancel a queued or running job",
                responses={**errors, 409: {"model": ErrorDetail, "description": "the job already finished"}})
    def cancel_job(job_id: str) -> Job:
        try:
            return Job(**lab.cancel(job_id))
        except LabError as exc:
            _raise(exc)

    @app.get("/health", response_model=Health, summary="Liveness and lab state (never slowed or refused)")
    def health() -> Health:
        return Health(**lab.health(), requests=dict(served))

    return app


# ----------------------------------------------------------------------------- serving


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RobotConfigError([f"--host: cannot resolve '{host}' ({exc.strerror})"]) from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        hint = "; is another robot running? stop it or choose another --port" if exc.errno in (98, 48) else ""
        raise RobotConfigError([f"--port: cannot listen on {host}:{port} ({exc.strerror or exc}){hint}"]) from None
    sock.set_inheritable(True)
    return sock  # bound, not yet listening: the caller listens once the robot is ready


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build(config_path: str | Path | None, db: str | Path | None) -> tuple[RobotConfig, Lab]:
    """Load the config, fit the ground truth and open the database (errors: RobotConfigError)."""
    from .truth import build_truth

    cfg, base = load_config(config_path)
    src = None if config_path is None else str(config_path)
    # a bad database path is said where it was given: the --db option, or the config file's db key
    option, where = ("--db", None) if db is not None or cfg.db is None else ("db", src)
    if db is not None:
        db_path = Path(db)
    elif cfg.db is not None:
        db_path = Path(cfg.db) if Path(cfg.db).is_absolute() else base / cfg.db
    else:
        db_path = Path("mock-robot.db")
    try:
        truth = build_truth(cfg.ground_truth, seed=cfg.seed)
    except ValueError as exc:
        raise RobotConfigError([str(exc)], src) from None
    if db_path.is_dir():
        raise RobotConfigError([f"{option}: '{db_path}' is a folder; give a file path"], where)
    if not db_path.parent.is_dir():
        raise RobotConfigError([f"{option}: folder '{db_path.parent}' does not exist"], where)
    try:
        lab = Lab(cfg, truth, db_path)
    except SettingsChanged as exc:  # one line per config key that differs, then the ways out
        raise RobotConfigError(exc.lines, src) from None
    except ValueError as exc:
        raise RobotConfigError([f"{option}: {exc}"], where) from None
    except Exception as exc:  # sqlite3.DatabaseError: not a database, locked, unwritable
        raise RobotConfigError([f"{option}: cannot use '{db_path}' as the robot's database ({exc})"], where) from None
    return cfg, lab


def serve(*, config_path: str | Path | None = None, host: str = "127.0.0.1", port: int = 8765,
          db: str | Path | None = None, log_level: str = "warning") -> None:
    """Run the robot until interrupted. Prints one line saying where it listens; errors: RobotConfigError."""
    import uvicorn

    if not 0 <= port <= 65535:
        raise RobotConfigError([f"--port: must be between 0 and 65535 (got {port})"])
    sock = _bind(host, port)  # a port in use or a bad host is refused before the database is created
    try:
        cfg, lab = build(config_path, db)  # before listening: clients see "refused", not a silent wait, during a fit
    except BaseException:
        sock.close()
        raise
    sock.listen(2048)
    port = sock.getsockname()[1]
    url = _url(host, port)
    app = create_app(cfg, lab)
    print(f"mock robot '{cfg.name}' listening on {url} (API docs: {url}/docs); {cfg.stations} station(s), "
          f"speedup {cfg.speedup:g}, ground truth {lab.truth.description}; jobs in {lab.db_path}", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: {host} is not loopback: anyone who can reach this host can submit and cancel jobs "
              "(the API has no authentication)", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
