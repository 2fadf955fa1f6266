"""The simulated lab behind the mock robot's HTTP API: stations, a FIFO queue, a clock, SQLite.

Time is *lab time*: seconds on a simulated clock that runs ``speedup`` times
faster than the wall clock. The lab is a discrete-event simulation evaluated
lazily: :meth:`Lab.advance` processes every start and finish whose lab time
has come, in order, so the outcome does not depend on how often it is called.

Each job's fate (its duration, measurement noise, whether and when an
instrument fault strikes, and which fault) is drawn when it is submitted, from
a generator seeded by (robot seed, job id), and written to the database. A
restarted robot, or another robot with the same seed, gives the same answers.

Everything lives in one SQLite file (WAL, synchronous FULL): the jobs, their
drawn fates, and the lab clock (written with every change of a job, and at
least once per real second). After a restart (even a ``kill -9``) the clock
continues from where it was (downtime does not count as lab time: the lab was
switched off), queued jobs are still queued, and running jobs finish at the
lab time they were due, on the station they were running on.

The settings that decide what a job measures (ground truth, seed, noise) are
recorded in the database when it is first used, and a robot started on it with
other ones is refused: its jobs would mix two ground truths. One robot at a time
uses a database: it holds an OS lock on ``DB.lock`` while it runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import pidlock
from .config import EmulatorTruth, RobotConfig
from .truth import InvalidParams, Truth

SCHEMA_VERSION = 1
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")

_SCHEMA = """
create table if not exists meta (key text primary key, value text not null);
create table if not exists jobs (
    seq integer primary key autoincrement,
    id text not null unique,
    campaign text not null default '',
    params text not null,
    status text not null,
    value real,
    outputs text not null default '{}',
    error text,
    station integer,
    submitted_at real not null,
    started_at real,
    finished_at real,
    posts integer not null default 1,
    -- the job's fate, drawn at submission and kept secret until it finishes
    run_for real not null,
    planned_value real,
    planned_error text,
    ends_at real
);
create index if not exists jobs_status on jobs (status);
create index if not exists jobs_campaign on jobs (campaign);
"""


class LabError(Exception):
    """A request the lab refuses: ``status`` is the HTTP status to answer with, ``detail`` says why."""

    def __init__(self, status: int, detail: str):
        self.status = status
        self.detail = detail
        super().__init__(detail)


class SettingsChanged(ValueError):
    """The database's jobs were measured with other settings; ``lines``: one per config key that differs, then
    what to do."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def truth_settings(cfg: RobotConfig) -> dict[str, Any]:
    """What decides a job's measured value, by config key (an emulator's CSV by its content, not its path)."""
    settings = {"seed": cfg.seed, "noise": cfg.noise,
                **{f"ground_truth.{k}": v for k, v in cfg.ground_truth.model_dump().items()}}
    if isinstance(cfg.ground_truth, EmulatorTruth):
        settings["ground_truth.path"] = "sha256:" + hashlib.sha256(Path(cfg.ground_truth.path).read_bytes()).hexdigest()
    return json.loads(json.dumps(settings))  # as read back from the database


def _settings_changed(first: dict[str, Any], now: dict[str, Any], db_path: Path, jobs: int) -> SettingsChanged:
    keys = [k for k in sorted(first.keys() | now.keys()) if first.get(k) != now.get(k)]
    if "ground_truth.kind" in keys:  # another kind of ground truth: its other keys differ with it
        keys = [k for k in keys if not k.startswith("ground_truth.") or k == "ground_truth.kind"]
    lines = [f"{k}: the CSV file's content differs from the one '{db_path}' was first started with"
             if k == "ground_truth.path" else
             f"{k}: is {json.dumps(now.get(k))}, but '{db_path}' was first started with {json.dumps(first.get(k))}"
             for k in keys]
    lines.append(f"'{db_path}' holds {jobs} job(s) measured with its first settings, and a campaign would mix them "
                 "with these: give this config another database file (db: in the file, or --db), or restore the "
                 "first settings to go on with its jobs")
    return SettingsChanged(lines)


def _take_lock(db_path: Path) -> int:
    """An exclusive lock on ``DB.lock`` (its fd), so that one robot at a time uses the database."""
    path = Path(f"{db_path}.lock")
    try:
        return pidlock.take(path)
    except pidlock.PidLockError as exc:
        if exc.problem == pidlock.HELD:
            raise ValueError(f"'{db_path}' is in use by another mock robot (pid {exc.detail}; its lock is '{path}'): "
                             "stop that robot first, or give this one another database file") from None
        if exc.problem in (pidlock.LINK, pidlock.FOLDER, pidlock.NOT_REGULAR, pidlock.HARD_LINK, pidlock.FOREIGN):
            what = {pidlock.LINK: "is a symbolic link (the robot writes its pid into its lock file, so it never "
                                  "follows one)",
                    pidlock.FOLDER: "is a folder",
                    pidlock.NOT_REGULAR: "is not a regular file",
                    pidlock.HARD_LINK: f"is a hard link ({exc.detail}): the robot writes its pid there, which would "
                                       "replace the other name's content",
                    pidlock.FOREIGN: "holds something other than a pid, so no robot wrote it"}[exc.problem]
            raise ValueError(f"the lock file '{path}' {what}; it is left as it is: move it away") from None
        if exc.problem == pidlock.UNLOCKABLE:
            raise ValueError(f"cannot lock '{path}' ({exc.detail}); put the database on a local disk") from None
        raise ValueError(f"cannot open the lock file '{path}' ({exc.detail}); make its folder writable") from None


@dataclass(frozen=True)
class Fate:
    duration: float  # lab seconds the measurement takes
    noise: float  # standard normal draw, scaled by the config's noise
    fault: bool
    fault_fraction: float  # the fault strikes after this fraction of the duration
    reason: str


def job_rng(seed: int, job_id: str) -> np.random.Generator:
    digest = hashlib.sha256(job_id.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *words])


def draw_fate(cfg: RobotConfig, job_id: str) -> Fate:
    """Everything random about a job, from (seed, id) alone; always drawn in the same order."""
    rng = job_rng(cfg.seed, job_id)
    u_duration = rng.uniform(-1.0, 1.0)
    z = rng.standard_normal()
    u_fault = rng.random()
    fraction = rng.uniform(0.1, 0.9)
    which = int(rng.integers(len(cfg.faults.reasons)))
    return Fate(duration=cfg.duration.mean + cfg.duration.jitter * u_duration, noise=float(z),
                fault=bool(u_fault < cfg.faults.probability), fault_fraction=float(fraction),
                reason=cfg.faults.reasons[which])


def _json_number(v: Any) -> Any:
    return v if not isinstance(v, float) or math.isfinite(v) else None


class Lab:
    """The robot's state. Thread-safe: every public method holds one lock."""

    def __init__(self, cfg: RobotConfig, truth: Truth, db_path: str | Path, *,
                 monotonic: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.truth = truth
        self.db_path = Path(db_path)
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._lock_fd = _take_lock(self.db_path)  # first: a refused lock leaves no new, empty database behind
        try:
            self._conn = sqlite3.connect(str(self.db_path), check_same_thread=False, isolation_level=None,
                                         timeout=30)
        except BaseException:
            pidlock.release(self._lock_fd)
            raise
        self._conn.row_factory = sqlite3.Row
        try:
            foreign = sorted({r[0] for r in self._conn.execute("select name from sqlite_master where type = 'table'")}
                             - {"meta", "jobs", "sqlite_sequence"})
            if foreign:  # before anything is written: another program's database (a looplab store) is left as it was
                kind = "a looplab store" if "campaigns" in foreign else "another program's database"
                raise ValueError(f"'{self.db_path}' is {kind} (it has the tables {', '.join(foreign[:5])}); give the "
                                 "robot a file of its own")
            self._open()
        except BaseException:
            self._conn.close()
            pidlock.release(self._lock_fd)
            raise

    def _open(self) -> None:
        """Create the tables, check and record the settings, and read the clock and the stations' state."""
        cfg = self.cfg
        self._conn.execute("pragma journal_mode=wal")
        self._conn.execute("pragma synchronous=full")
        self._conn.executescript(_SCHEMA)
        meta = dict(self._conn.execute("select key, value from meta").fetchall())
        version = int(meta.get("schema_version", SCHEMA_VERSION))
        if version != SCHEMA_VERSION:
            raise ValueError(f"{self.db_path} holds robot schema version {version}; this robot reads version "
                             f"{SCHEMA_VERSION} (give it another database file)")
        settings = truth_settings(cfg)
        jobs = self._conn.execute("select count(*) from jobs").fetchone()[0]
        first = json.loads(meta["truth"]) if "truth" in meta else settings  # a database from before: from now on
        if first != settings and jobs:
            raise _settings_changed(first, settings, self.db_path, jobs)
        latest = self._conn.execute(
            "select max(max(coalesce(finished_at, 0), coalesce(started_at, 0), submitted_at)) from jobs").fetchone()[0]
        self._base = max(float(meta.get("clock", 0.0)), float(latest or 0.0))
        self._t0 = self._monotonic()
        self._persisted = self._base
        with self._tx():
            self._conn.execute("insert or replace into meta values ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._conn.execute("insert or ignore into meta values ('created', ?)", (time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                              time.gmtime()),))
            self._conn.execute("insert or replace into meta values ('truth', ?)", (json.dumps(settings),))
        self.restarts = int(meta.get("starts", 0))
        with self._tx():
            self._conn.execute("insert or replace into meta values ('starts', ?)", (str(self.restarts + 1),))
        # when each station last became free (lab time), derived from the jobs that ran there
        self._free_at = {s: 0.0 for s in range(1, cfg.stations + 1)}
        for station, t in self._conn.execute(
                "select station, max(finished_at) from jobs where station is not null and finished_at is not null "
                "group by station"):
            if station in self._free_at:
                self._free_at[station] = float(t)

    # -- clock and transactions --------------------------------------------------------------------

    def clock(self) -> float:
        """Lab seconds now: where the clock stood at start-up plus real time elapsed times speedup."""
        return self._base + (self._monotonic() - self._t0) * self.cfg.speedup

    def _tx(self):
        conn = self._conn

        class _Tx:
            def __enter__(self_inner):
                conn.execute("begin immediate")

            def __exit__(self_inner, exc_type, exc, tb):
                conn.execute("commit" if exc_type is None else "rollback")
                return False

        return _Tx()

    def _save_clock(self, now: float) -> None:
        self._conn.execute("insert or replace into meta values ('clock', ?)", (repr(now),))
        self._persisted = now

    def close(self) -> None:
        with self._lock:
            try:
                with self._tx():
                    self._save_clock(self.clock())
            finally:
                self._conn.close()
                pidlock.release(self._lock_fd)

    # -- the simulation ----------------------------------------------------------------------------

    def advance(self, *, save_clock: bool = False) -> float:
        """Process every start and finish due by now (lab time); returns now.

        The clock is written with every change, when asked, and otherwise at most once per
        real second (an idle robot does not write ten times a second).
        """
        with self._lock:
            now = self.clock()
            with self._tx():
                changed = self._advance(now)
                if changed or save_clock or now - self._persisted >= self.cfg.speedup:
                    self._save_clock(now)
            return now

    def _advance(self, now: float) -> bool:
        c = self._conn
        changed = False
        while True:
            busy = {r[0] for r in c.execute("select station from jobs where status = 'running'")}
            free = [s for s in sorted(self._free_at) if s not in busy]
            if free:
                for job in c.execute("select seq, submitted_at, run_for from jobs where status = 'queued' "
                                     "order by seq limit ?", (len(free),)).fetchall():
                    station = free.pop(0)
                    start = max(float(job["submitted_at"]), self._free_at[station])
                    c.execute("update jobs set status = 'running', station = ?, started_at = ?, ends_at = ? "
                              "where seq = ?", (station, start, start + float(job["run_for"]), job["seq"]))
                    changed = True
            due = c.execute("select * from jobs where status = 'running' and ends_at <= ? "
                            "order by ends_at, seq limit 1", (now,)).fetchone()
            if due is None:
                return changed
            self._finish(due)
            changed = True

    def _finish(self, row: sqlite3.Row) -> None:
        end = float(row["ends_at"])
        station = int(row["station"])
        outputs = {"station": station, "wait_s": round(float(row["started_at"]) - float(row["submitted_at"]), 6),
                   "duration_s": round(end - float(row["started_at"]), 6)}
        if row["planned_error"] is not None:
            status, value = "failed", None
            error = f"instrument fault at station {station}: {row['planned_error']}"
        else:
            status, value, error = "succeeded", row["planned_value"], None
            outputs["noise_sd"] = self.cfg.noise
        self._conn.execute("update jobs set status = ?, value = ?, error = ?, outputs = ?, finished_at = ? "
                           "where seq = ?", (status, value, error, json.dumps(outputs), end, row["seq"]))
        self._free_at[station] = end

    # -- requests ------------------------------------------------------------------------------------

    def submit(self, experiments: Iterable[dict[str, Any]]) -> tuple[list[dict], list[str], list[str]]:
        """Queue experiments (idempotent by id). Returns (jobs in request order, created ids, existing ids).

        Posting a known id counts one more post and returns the existing job; posting it
        with different params is refused (409). An experiment whose params do not fit the
        ground truth becomes a job that failed at once, with the reason.
        """
        with self._lock:
            now = self.clock()
            order: list[str] = []
            created: list[str] = []
            existing: list[str] = []
            with self._tx():
                self._advance(now)
                batch: dict[str, dict] = {}
                for e in experiments:
                    if e["id"] in batch:
                        if batch[e["id"]]["params"] != e["params"]:
                            raise LabError(409, f"experiment '{e['id']}' appears twice in this request with "
                                                "different params")
                        continue
                    batch[e["id"]] = e
                    order.append(e["id"])
                for job_id, e in batch.items():
                    row = self._conn.execute("select params from jobs where id = ?", (job_id,)).fetchone()
                    if row is not None:
                        if json.loads(row["params"]) != e["params"]:
                            raise LabError(409, f"job '{job_id}' already exists with different params "
                                                f"({row['params']}); an id names one experiment, so use a new id")
                        self._conn.execute("update jobs set posts = posts + 1 where id = ?", (job_id,))
                        existing.append(job_id)
                        continue
                    self._insert(job_id, e, now)
                    created.append(job_id)
                self._advance(now)
                self._save_clock(now)
            jobs = [self._get(i) for i in order]
        return jobs, created, existing

    def _insert(self, job_id: str, e: dict[str, Any], now: float) -> None:
        fate = draw_fate(self.cfg, job_id)
        params = e["params"]
        try:
            truth = self.truth.evaluate(params)
        except InvalidParams as exc:
            self._conn.execute(
                "insert into jobs (id, campaign, params, status, error, submitted_at, finished_at, run_for) "
                "values (?, ?, ?, 'failed', ?, ?, ?, 0)",
                (job_id, e.get("campaign") or "", json.dumps(params), f"invalid params: {exc}", now, now))
            return
        value = truth + self.cfg.noise * fate.noise
        if not math.isfinite(value):
            value = None
        run_for = fate.duration * (fate.fault_fraction if fate.fault else 1.0)
        planned_error = fate.reason if fate.fault else (None if value is not None else "detector saturated")
        self._conn.execute(
            "insert into jobs (id, campaign, params, status, submitted_at, run_for, planned_value, planned_error) "
            "values (?, ?, ?, 'queued', ?, ?, ?, ?)",
            (job_id, e.get("campaign") or "", json.dumps(params), now, run_for, value, planned_error))

    def get(self, job_id: str) -> dict:
        with self._lock:
            self.advance()
            job = self._get(job_id)
        if job is None:
            n = self.count()
            raise LabError(404, f"no job with id '{job_id}' on this robot ({n} job(s) known; POST /jobs to submit one)")
        return job

    def _get(self, job_id: str) -> dict | None:
        row = self._conn.execute("select * from jobs where id = ?", (job_id,)).fetchone()
        return None if row is None else self._public(row)

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("select count(*) from jobs").fetchone()[0])

    def list(self, *, statuses: list[str] | None = None, campaign: str | None = None,
             ids: list[str] | None = None, limit: int | None = None) -> list[dict]:
        with self._lock:
            self.advance()
            where, args = [], []
            if statuses:
                where.append(f"status in ({', '.join('?' * len(statuses))})")
                args += statuses
            if campaign is not None:
                where.append("campaign = ?")
                args.append(campaign)
            if ids is not None:
                if not ids:
                    return []
                where.append(f"id in ({', '.join('?' * len(ids))})")
                args += ids
            sql = "select * from jobs" + (" where " + " and ".join(where) if where else "") + " order by seq"
            if limit is not None:
                sql += " limit ?"
                args.append(limit)
            return [self._public(r) for r in self._conn.execute(sql, args)]

    def cancel(self, job_id: str) -> dict:
        with self._lock:
            now = self.clock()
            with self._tx():
                self._advance(now)
                row = self._conn.execute("select * from jobs where id = ?", (job_id,)).fetchone()
                if row is None:
                    raise LabError(404, f"no job with id '{job_id}' on this robot; nothing to cancel")
                status = row["status"]
                if status == "cancelled":
                    pass  # cancelling twice is a no-op
                elif status in FINAL:
                    raise LabError(409, f"job '{job_id}' already {status}; only a queued or running job can be "
                                        "cancelled")
                else:
                    self._conn.execute("update jobs set status = 'cancelled', finished_at = ?, error = ? where seq = ?",
                                       (now, f"cancelled while {status}", row["seq"]))
                    if status == "running":
                        self._free_at[int(row["station"])] = now
                    self._advance(now)  # a freed station takes the next queued job
                self._save_clock(now)
                return self._get(job_id)

    def health(self) -> dict:
        with self._lock:
            now = self.advance(save_clock=True)
            counts = dict(self._conn.execute("select status, count(*) from jobs group by status").fetchall())
        return {"status": "ok", "name": self.cfg.name, "clock": now, "speedup": self.cfg.speedup,
                "stations": self.cfg.stations, "busy": counts.get("running", 0), "queued": counts.get("queued", 0),
                "jobs": sum(counts.values()), "counts": {s: counts.get(s, 0) for s in STATUSES},
                "ground_truth": self.truth.description, "parameters": list(self.truth.parameters),
                "restarts": self.restarts, "db": str(self.db_path)}

    @staticmethod
    def _public(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "campaign": row["campaign"], "params": json.loads(row["params"]),
                "status": row["status"], "value": _json_number(row["value"]), "outputs": json.loads(row["outputs"]),
                "error": row["error"], "station": row["station"], "submitted_at": row["submitted_at"],
                "started_at": row["started_at"], "finished_at": row["finished_at"], "posts": row["posts"]}
