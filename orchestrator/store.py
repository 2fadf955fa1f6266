"""The durable state store: campaigns, experiments, model snapshots and step logs.

SQLAlchemy 2 over any URL; the default is a SQLite file in WAL mode with full
synchronous writes, so a killed process loses nothing it committed. The store
is the single source of truth: everything needed to resume a campaign is here,
as JSON (with a ``schema_version``), never pickle.

Experiment ids are ``<campaign>-<step:04d>-<position:02d>`` (retries append
``-r<attempt>``): stable, so submitting the same experiment again is
recognisably the same experiment.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from .errors import LeaseHeld, StoreError

SCHEMA_VERSION = 1
DEFAULT_URL = "sqlite:///looplab.db"
IN_FLIGHT = ("proposed", "submitted", "running")
FINAL = ("succeeded", "failed", "timed_out", "cancelled")
STATUSES = IN_FLIGHT + FINAL


def default_url() -> str:
    return os.environ.get("LOOPLAB_STORE", DEFAULT_URL)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class CampaignRow(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, index=True)
    schema_version: Mapped[int] = mapped_column(Integer, default=SCHEMA_VERSION)
    spec: Mapped[dict] = mapped_column(JSON)
    base_dir: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="running")
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ExperimentRow(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # order of creation within the campaign
    step: Mapped[int] = mapped_column(Integer)  # the engine step (batch) that proposed it
    position: Mapped[int] = mapped_column(Integer)  # place within that batch
    params: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # the objective, as measured
    outputs: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    retry_of: Mapped[str | None] = mapped_column(String(160), nullable=True)
    job_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="model")  # initial | model | random | retry
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SnapshotRow(Base):
    __tablename__ = "model_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(200))
    n_observations: Mapped[int] = mapped_column(Integer)
    state: Mapped[dict] = mapped_column(JSON)  # {"schema_version": ..., ...}
    fit_info: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StepRow(Base):
    __tablename__ = "steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    n_observed: Mapped[int] = mapped_column(Integer)
    best: Mapped[float | None] = mapped_column(Float, nullable=True)
    fit_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    acquisition_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    proposed: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(20), default="model")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LeaseRow(Base):
    """Which process runs a campaign: at most one at a time (a `looplab run` or a daemon)."""

    __tablename__ = "leases"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    renewed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


LEASE_TTL = 120.0  # seconds without renewal after which another host may take a campaign over


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _lease_lapsed(holder_host: str, holder_pid: int, age: float, *, host: str, ttl: float) -> bool:
    """A lease is free for the taking when its holder is gone: on this host, its pid no longer exists;
    on another host (whose processes we cannot see), it was not renewed for ``ttl`` seconds."""
    return (holder_host == host and not _pid_alive(holder_pid)) or age > ttl


@dataclass
class Campaign:
    id: int
    name: str
    spec: dict
    base_dir: str
    status: str
    message: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Experiment:
    id: str
    seq: int
    step: int
    position: int
    params: dict
    status: str
    value: float | None = None
    outputs: dict | None = None
    error: str | None = None
    attempt: int = 0
    retry_of: str | None = None
    job_id: str | None = None
    source: str = "model"
    created_at: datetime | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None


def _campaign(row: CampaignRow) -> Campaign:
    return Campaign(row.id, row.name, row.spec, row.base_dir, row.status, row.message, row.created_at, row.updated_at)


def _experiment(row: ExperimentRow) -> Experiment:
    return Experiment(row.id, row.seq, row.step, row.position, dict(row.params), row.status, row.value,
                      dict(row.outputs or {}), row.error, row.attempt, row.retry_of, row.job_id, row.source,
                      row.created_at, row.submitted_at, row.finished_at)


def _json_safe(value: Any) -> Any:
    """Round-trip through JSON so only JSON types reach the database."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


class Store:
    """All reads and writes of campaign state. Each public method is one transaction."""

    def __init__(self, url: str | None = None, *, writable: bool = True):
        self.url = url or default_url()
        kwargs: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[-1] if "///" in self.url else ""
            if path and path != ":memory:" and not path.startswith("file:"):
                _make_folder(Path(path.split("?", 1)[0]).expanduser(), self.url)
            kwargs["connect_args"] = {"timeout": 30}
        try:
            self.engine = create_engine(self.url, **kwargs)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise StoreError(f"--store: cannot use '{self.url}' as a database URL ({exc}); "
                             "use e.g. sqlite:///path/to/looplab.db or postgresql+psycopg://user@host/db") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            Base.metadata.create_all(self.engine)
            if writable and self.engine.dialect.name == "sqlite":
                _check_writable(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(_open_error(self.url, exc)) from None
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    # -- campaigns --------------------------------------------------------------------

    def get_campaign(self, name: str) -> Campaign | None:
        with self._session() as s:
            row = s.scalar(select(CampaignRow).where(CampaignRow.name == name))
            return _campaign(row) if row else None

    def create_campaign(self, name: str, spec: dict, base_dir: str) -> Campaign:
        with self._session.begin() as s:
            row = CampaignRow(name=name, spec=_json_safe(spec), base_dir=base_dir, schema_version=SCHEMA_VERSION)
            s.add(row)
            s.flush()
            return _campaign(row)

    def update_campaign(self, campaign_id: int, **fields: Any) -> None:
        fields["updated_at"] = utcnow()
        if "spec" in fields:
            fields["spec"] = _json_safe(fields["spec"])
        with self._session.begin() as s:
            s.execute(update(CampaignRow).where(CampaignRow.id == campaign_id).values(**fields))

    # -- leases -----------------------------------------------------------------------

    def acquire_lease(self, campaign_id: int, *, host: str, pid: int, ttl: float = LEASE_TTL) -> None:
        """Take (or renew) the right to run the campaign, for process ``pid`` on ``host``.

        Free, already ours, or held by a process that is gone (on this host: its pid no longer
        exists; elsewhere: not renewed for ``ttl`` seconds) -> ours. Otherwise raise LeaseHeld.
        """
        from sqlalchemy.exc import IntegrityError

        now = utcnow()
        try:
            with self._session.begin() as s:
                row = s.get(LeaseRow, campaign_id, with_for_update=True)
                if row is None:
                    s.add(LeaseRow(campaign_id=campaign_id, host=host, pid=pid, acquired_at=now, renewed_at=now))
                    return
                ours = row.host == host and row.pid == pid
                age = (now - row.renewed_at).total_seconds()
                if not ours and not _lease_lapsed(row.host, row.pid, age, host=host, ttl=ttl):
                    name = s.get(CampaignRow, campaign_id).name
                    raise LeaseHeld(
                        f"campaign '{name}' is being run by another process (pid {row.pid} on {row.host}, "
                        f"since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC, last seen {age:.0f} s ago): a `looplab "
                        "run` or `looplab daemon` on the same store. Stop that process first"
                        + ("" if row.host == host else f"; if it is gone, its claim lapses {ttl:.0f} s after it "
                                                       "was last seen"))
                if not ours:
                    row.host, row.pid, row.acquired_at = host, pid, now
                row.renewed_at = now
        except IntegrityError:  # another process inserted its lease between our read and our insert
            self.acquire_lease(campaign_id, host=host, pid=pid, ttl=ttl)

    def release_lease(self, campaign_id: int, *, host: str, pid: int) -> None:
        with self._session.begin() as s:
            row = s.get(LeaseRow, campaign_id)
            if row is not None and row.host == host and row.pid == pid:
                s.delete(row)

    def lease(self, campaign_id: int, *, ttl: float = LEASE_TTL) -> dict | None:
        """Who holds the campaign's lease: host, pid, acquired_at, renewed_at, age (seconds since it was
        last renewed) and lapsed (True when its holder is gone: another process would take it over now,
        by the rule of ``acquire_lease``); None when nobody holds it."""
        with self._session() as s:
            row = s.get(LeaseRow, campaign_id)
            if row is None:
                return None
            age = (utcnow() - row.renewed_at).total_seconds()
            return {"host": row.host, "pid": row.pid, "acquired_at": row.acquired_at,
                    "renewed_at": row.renewed_at, "age": age,
                    "lapsed": _lease_lapsed(row.host, row.pid, age, host=socket.gethostname(), ttl=ttl)}

    def list_campaigns(self) -> list[Campaign]:
        with self._session() as s:
            return [_campaign(r) for r in s.scalars(select(CampaignRow).order_by(CampaignRow.id))]

    # -- experiments ------------------------------------------------------------------

    def experiments(self, campaign_id: int, statuses: Iterable[str] | None = None) -> list[Experiment]:
        with self._session() as s:
            q = select(ExperimentRow).where(ExperimentRow.campaign_id == campaign_id)
            if statuses is not None:
                q = q.where(ExperimentRow.status.in_(list(statuses)))
            return [_experiment(r) for r in s.scalars(q.order_by(ExperimentRow.seq))]

    def counts(self, campaign_id: int) -> dict[str, int]:
        with self._session() as s:
            rows = s.execute(select(ExperimentRow.status, func.count()).where(ExperimentRow.campaign_id == campaign_id)
                             .group_by(ExperimentRow.status)).all()
        return {status: n for status, n in rows}

    def add_experiments(self, campaign_id: int, experiments: Sequence[Experiment]) -> None:
        """Write new experiments (status proposed) in one transaction, before any dispatch."""
        with self._session.begin() as s:
            seq = s.scalar(select(func.coalesce(func.max(ExperimentRow.seq), -1))
                           .where(ExperimentRow.campaign_id == campaign_id))
            for e in experiments:
                seq += 1
                e.seq = seq
                e.created_at = utcnow()
                s.add(ExperimentRow(id=e.id, campaign_id=campaign_id, seq=seq, step=e.step, position=e.position,
                                    params=_json_safe(e.params), status=e.status, attempt=e.attempt,
                                    retry_of=e.retry_of, source=e.source, created_at=e.created_at, outputs={}))

    def mark_submitted(self, ids: Sequence[str], job_ids: dict[str, str] | None = None) -> None:
        now = utcnow()
        with self._session.begin() as s:
            for i in ids:
                values: dict[str, Any] = {"status": "submitted", "submitted_at": now}
                if job_ids and i in job_ids:
                    values["job_id"] = job_ids[i]
                s.execute(update(ExperimentRow).where(ExperimentRow.id == i, ExperimentRow.status == "proposed")
                          .values(**values))

    def mark_running(self, ids: Sequence[str]) -> None:
        with self._session.begin() as s:
            s.execute(update(ExperimentRow).where(ExperimentRow.id.in_(list(ids)),
                                                  ExperimentRow.status.in_(("proposed", "submitted")))
                      .values(status="running"))

    def record_results(self, campaign_id: int, results: Sequence[Any]) -> list[str]:
        """Record finished results in one transaction; returns the ids actually updated.

        A result for an experiment already final (or unknown) is ignored, so
        recording the same results twice changes nothing.
        """
        updated = []
        now = utcnow()
        with self._session.begin() as s:
            for r in results:
                row = s.get(ExperimentRow, r.experiment_id)
                if row is None or row.campaign_id != campaign_id or row.status in FINAL:
                    continue
                row.status = r.status
                row.value = r.value if r.status == "succeeded" else None
                row.outputs = _json_safe(r.outputs or {})
                row.error = r.error
                row.finished_at = now
                updated.append(row.id)
        return updated

    # -- snapshots and steps ------------------------------------------------------------

    def add_snapshot(self, campaign_id: int, step: int, kind: str, n_observations: int, state: dict,
                     fit_info: dict) -> None:
        with self._session.begin() as s:
            s.add(SnapshotRow(campaign_id=campaign_id, step=step, kind=kind, n_observations=n_observations,
                              state=_json_safe(state), fit_info=_json_safe(fit_info)))

    def latest_snapshot(self, campaign_id: int, before_step: int | None = None) -> dict | None:
        with self._session() as s:
            q = select(SnapshotRow).where(SnapshotRow.campaign_id == campaign_id)
            if before_step is not None:
                q = q.where(SnapshotRow.step < before_step)
            row = s.scalar(q.order_by(SnapshotRow.step.desc(), SnapshotRow.id.desc()).limit(1))
            return dict(row.state) if row else None

    def constants(self, campaign_id: int) -> list[dict]:
        """The learned physical constants recorded with each model snapshot, in step order:
        [{"step", "n_observations", "constants": {name: [mean, sd]}}], snapshots without constants left out."""
        with self._session() as s:
            rows = s.execute(select(SnapshotRow.step, SnapshotRow.n_observations, SnapshotRow.fit_info)
                             .where(SnapshotRow.campaign_id == campaign_id)
                             .order_by(SnapshotRow.step, SnapshotRow.id)).all()
        return [{"step": step, "n_observations": n, "constants": dict(info["constants"])}
                for step, n, info in rows if isinstance(info, dict) and info.get("constants")]

    def add_step(self, campaign_id: int, **fields: Any) -> None:
        with self._session.begin() as s:
            s.add(StepRow(campaign_id=campaign_id, **fields))

    def steps(self, campaign_id: int) -> list[dict]:
        with self._session() as s:
            rows = s.scalars(select(StepRow).where(StepRow.campaign_id == campaign_id).order_by(StepRow.id))
            return [{c: getattr(r, c) for c in ("step", "n_observed", "best", "fit_seconds",
                                                "acquisition_seconds", "proposed", "source", "created_at")}
                    for r in rows]


def open_existing(url: str | None = None) -> Store:
    """Open a store that must already exist (for status, export, report).

    A SQLite file that does not exist is an error: opening it would create an
    empty database at a mistyped path and report "no campaigns".
    """
    url = url or default_url()
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).expanduser().exists():
            raise StoreError(f"--store: no database at '{path}' (from {url}); give the URL the campaign ran "
                             "with, e.g. --store sqlite:///runs/demo.db")
    return Store(url, writable=False)


def _make_folder(path: Path, url: str) -> None:
    """Create the folder of a SQLite file; StoreError when the path is a folder, or a part of it is a file
    or cannot be made."""
    if path.is_dir():
        raise StoreError(f"--store: '{path}' (from {url}) is a folder; give a database file, e.g. "
                         f"sqlite:///{path / 'looplab.db'}")
    folder = path.resolve().parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise StoreError(f"--store: cannot put a database at '{path}' (from {url}): '{blocker}' is a file, "
                         "not a folder; give a path in a folder") from None
    except OSError as exc:
        raise StoreError(f"--store: cannot create the folder '{folder}' for {url} ({exc.strerror or exc}); "
                         "give a path in a folder you can write to") from None


def _check_writable(engine) -> None:
    """Fail now, not at the first write of a step, when a SQLite store cannot be written (read-only file)."""
    with engine.begin() as conn:
        conn.execute(update(CampaignRow).where(CampaignRow.id < 0).values(name=CampaignRow.name))


def _open_error(url: str, exc: SQLAlchemyError) -> str:
    """One line for a store that cannot be opened, with what to do about it."""
    orig = getattr(exc, "orig", None)  # the driver's own error, without SQLAlchemy's SQL and links
    text = str(orig if orig is not None else exc).strip()
    detail = text.splitlines()[0] if text else type(exc).__name__
    hint = ""
    low = detail.lower()
    if "readonly" in low or "read-only" in low:
        hint = "; the file (or its folder) is read-only: make it writable or give another path"
    elif "not a database" in low or "malformed" in low:
        hint = "; the file is not a looplab (SQLite) database: give another path (the file was left unchanged)"
    elif "unable to open" in low:
        hint = "; check that the folder exists and that you can write to it"
    return f"--store: cannot open '{url}': {detail}{hint}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
