"""The daemon: every campaign file in a folder, run at once, for as long as it takes.

``looplab daemon DIR --store URL`` watches ``DIR`` for campaign YAML files and
drives each campaign with its own :class:`~orchestrator.engine.Engine` on an
APScheduler ``BackgroundScheduler`` (3.x): one interval job per campaign, run
on a thread pool of ``workers`` threads, never two ticks of one campaign at once
(``max_instances=1``, missed ticks coalesced). A tick calls ``Engine.step`` until
the campaign is waiting on experiments in flight, is done, or has had its time
slice, so one slow campaign cannot starve the others. No lock is shared by
all ticks: heavy libraries are imported by a thread of their own, and only a
model step goes through the fit gate (``_fit_gate``: a bounded number of fits
at once, which defers a proposal rather than block a worker), so a slow import
or fit never holds up other campaigns' polling and recording.

Nothing the daemon needs lives only in its memory: experiments are written to
the store before they are dispatched and results as they arrive, exactly as
with ``looplab run``. The scheduler's jobs are rebuilt from the folder at start
(an APScheduler job store would only duplicate what the campaign files and the
store already say), so a daemon that is killed (even with SIGKILL) and started
again resumes every campaign without losing or repeating an experiment.

The folder is rescanned every ``rescan`` seconds:

- a new file starts a campaign (or resumes it, if the store already has it);
- a changed file is reopened under the usual rules (budget, failure policy,
  description, executor, approval and acquisition.min_distance may change; anything else is refused, naming the
  fields, and the campaign goes on with the file it had);
- a removed file pauses its campaign (its state stays in the store, with status
  ``paused`` and the reason; putting the file back resumes it). A campaign a person
  paused (``looplab pause``) keeps that pause and its reason: only ``looplab resume`` ends it;
- a file is named as it is in the folder (a link by its own name; pointed at another
  file, it is a changed file); one still changing after 5 settle times is said, once;
- a campaign that ``looplab extend`` (or ``resume``) made ``running`` again
  after it had completed (or stopped) is picked up again;
- a file with errors is reported once per version, with every problem, and
  retried when it changes. It never stops the other campaigns;
- a campaign that another process is running (its lease in the store, see
  ``Store.acquire_lease``) waits, and is tried again at every scan: the daemon
  takes it over by itself once that process is gone.

A user's ``looplab pause | resume | stop`` reaches a running campaign through the
store: its engine reads the wish at every step, so it is obeyed at the next tick.

A campaign whose tick raises is retried on its next tick; after
``MAX_TICK_ERRORS`` errors in a row it is paused until its file changes. A
campaign whose lease another process took over (this daemon was paused or cut
off past the lease's TTL: ``LeaseLost``) is not an error: the daemon stops
driving it, writes nothing more for it, and waits for it as above.

``plugins="installed-only"`` refuses campaign files whose oracle, model or
acquisition ``kind`` is an import path (``package.module:Class``), before any
of their code is imported: only plugins installed as packages run.

One daemon per folder: a lock file (``.looplab-daemon.lock``) refuses a second.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracles import pidlock

from . import plugins as plugins_module
from .errors import ConfigError, LeaseHeld, LeaseLost, LooplabError, SourceNotReady
from .store import unreachable

log = logging.getLogger("looplab.daemon")

LOCK_NAME = ".looplab-daemon.lock"
MAX_TICK_ERRORS = 3
PLUGIN_POLICIES = ("any", "installed-only")
SETTLE_SECONDS = 2.0  # how long a new or changed campaign file must stay unchanged before the daemon reads it
SAY_CHANGING = 5  # a file still changing after this many settle times is said (once), 10 s by default
DIFFERS = "differs from the campaign of the same name in the store"  # engine.open_campaign's refusal of a changed setup


class DaemonError(LooplabError):
    """The daemon cannot start (folder missing, another daemon running, bad settings)."""


@dataclass
class Entry:
    """One campaign file as the daemon knows it."""

    path: Path  # as named in the folder (a link too: its name, not its target's)
    mtime: float  # when the file last changed (content or mode: the later of its mtime and ctime)
    target: Path | None = None  # the file read (a link's target): a link pointed elsewhere is a changed file
    name: str | None = None
    engine: Any = None  # Engine while the campaign runs
    state: str = "new"  # running | completed | stopped | paused | invalid | waiting (another process runs it,
    #                     or a campaign it learns from has no results yet: ``for_source``)
    message: str = ""
    for_source: bool = False
    sources: frozenset = frozenset()  # the campaigns it learns from ({campaign: NAME} sources), once read
    outage: bool = False  # the store was unreachable at the last try (said once per outage)
    clash: bool = False  # refused because another file names its campaign: retried at every scan
    failed: bool = False  # ended in this daemon on its failure rate, or with failures and no result
    refused: str = ""  # why it is invalid: file (looplab validate says so too) | store (conflicts with the store's
    #                    campaign of that name, which validate does not read) | name (another file's) | other
    held: str = ""  # "paused by alice@lab: why" while a person's pause holds it with nothing in flight
    errors: int = 0
    warm: bool = False  # a model step has run (heavy imports done)
    people: tuple = ()  # what it last said the campaign waits on people for (said once per change)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # set by the scan when the file is removed, before it waits for ``lock``: a tick in progress stops at its
    # next step instead of running out its time slice (and maybe the whole budget) on a withdrawn campaign
    withdrawn: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.state == "running"


CAMPAIGN_FILES = "*.yaml or *.yml, any case, not hidden"


def _campaign_file_name(name: str) -> bool:
    """A campaign file's name: ends in .yaml or .yml in any case (B.YAML, saved by some tools), and is not
    hidden (.a.yaml: an editor's backup or lock file, or a file put aside on purpose)."""
    return not name.startswith(".") and name.lower().endswith((".yaml", ".yml"))


def _path_back(start: str, goal: str, learns_from: dict) -> list[str]:
    """The chain of sources from campaign ``start`` back to ``goal`` ([start, ..., goal]), or [] if none."""
    todo, came = [start], {start: None}
    while todo:
        name = todo.pop()
        if name == goal:
            chain = [name]
            while came[chain[-1]] is not None:
                chain.append(came[chain[-1]])
            return chain[::-1]
        for src in learns_from.get(name, ()):
            if src not in came:
                came[src] = name
                todo.append(src)
    return []


class Daemon:
    """Runs every campaign in ``directory`` against ``store`` (see the module docstring)."""

    def __init__(self, directory: str | Path, store: Any, *, interval: float = 1.0, workers: int = 2,
                 rescan: float = 5.0, slice_seconds: float = 5.0, exit_when_done: bool = False,
                 plugins: str = "any"):
        problems = []
        if plugins not in PLUGIN_POLICIES:
            problems.append(f"--plugins must be one of {', '.join(PLUGIN_POLICIES)} (got '{plugins}')")
        if interval <= 0:
            problems.append(f"--interval must be > 0 seconds (got {interval})")
        if rescan <= 0:
            problems.append(f"--rescan must be > 0 seconds (got {rescan})")
        if workers < 1:
            problems.append(f"--workers must be at least 1 (got {workers})")
        if problems:
            raise DaemonError("; ".join(problems))
        self.directory = Path(os.path.realpath(Path(directory).expanduser()))  # not resolve(): a loop of links raises
        if not self.directory.is_dir():
            raise DaemonError(f"DIR: '{directory}' is not a folder; give the folder that holds the campaign "
                              "YAML files")
        # a callable: the store is opened only once the arguments are known to be good (a refused daemon
        # leaves no new database behind)
        self.store = store() if callable(store) else store
        self.interval, self.workers, self.rescan = float(interval), int(workers), float(rescan)
        self.slice_seconds = float(slice_seconds)
        self.exit_when_done = exit_when_done
        self.plugins = plugins
        self.entries: dict[Path, Entry] = {}
        self._entries_lock = threading.RLock()
        self._scheduler: Any = None
        self._lock_fd: int | None = None
        self._scanned = threading.Event()
        self._scans = 0  # scans completed
        self._skipped: set[Path] = set()  # folders and devices named like campaign files, said once
        self._withdrawn: dict[Path, Entry] = {}  # campaigns paused because their file went, for summary()
        self._idle_from: int | None = None  # scans completed when only campaigns waiting for a source were left
        # Heavy libraries (TensorFlow, GPflow) are imported once, by a thread of their own, outside every
        # campaign's tick (concurrent first imports from several threads are slow at best and can deadlock),
        # once the campaigns found at start have ticked or one wants a fit (``_start_imports``). Until that
        # is done, model steps wait (``_fit_gate``); polling, recording and initial designs go on. Then each campaign's first fit (a plugin may import its own libraries there) runs one
        # at a time, and at most workers - 1 fits at once (no more than there are cores), so one worker thread
        # is always free for polling and recording. A tick whose fit must wait records what arrived and proposes at a later tick.
        self._imported = threading.Event()
        self._import_started = False
        self._unticked: set[Path] = set()  # campaigns scheduled by the first scan that have not ticked yet
        self._first_fit = threading.Lock()
        self._fits = threading.BoundedSemaphore(max(1, min(self.workers - 1, os.cpu_count() or 1)))
        self.stopping = threading.Event()
        self.store_gone: Path | None = None  # the SQLite store's file, when it was removed under the daemon
        self.folder_gone: str | None = None  # why the watched folder cannot be read, while it cannot
        # a new or changed file is read once it has not changed for this long (fuzz round seventeen: a file
        # written in two parts ran its first half with the defaults, and the whole file was then refused)
        self._settle = min(SETTLE_SECONDS, 4 * rescan)
        self._settling: dict[Path, float] = {}  # files the last scan left until they stop changing: since when
        self._said_changing: set[Path] = set()  # those of them said to be still changing (once each)

    # -- start / stop -------------------------------------------------------------------------

    def start(self) -> None:
        """Take the folder's lock, scan it, and start the scheduler (returns at once)."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self._take_lock()
        if self.plugins == "installed-only":  # also the import paths inside params (a physics plugin's)
            plugins_module.refuse_import_paths("this daemon (--plugins installed-only)")
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(self.workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        # APScheduler reports a skipped run (the previous tick still busy) at WARNING; that is normal here
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self._scheduler.start()
        self._scheduler.add_job(self.scan, "interval", seconds=self.rescan, id="looplab-scan",
                                next_run_time=_now())
        threading.Thread(target=self._heartbeat, name="looplab-heartbeat", daemon=True).start()
        log.info("daemon watching %s (store %s): %d worker thread(s), tick every %gs, rescan every %gs%s",
                 self.directory, getattr(self.store, "display_url", "?"), self.workers, self.interval, self.rescan,
                 "; only installed plugins" if self.plugins == "installed-only" else "")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (or, with ``exit_when_done``, until every campaign has ended).
        Returns True if it ended that way, False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self.stopping.is_set():
            if self.exit_when_done and self._scanned.is_set() and self.all_done():
                self._say_held()
                return True
            if end is not None and time.monotonic() > end:
                return False
            self.stopping.wait(0.2)
        return True

    def stop(self) -> None:
        """Stop scheduling, let running ticks finish, release executors and the lock."""
        self.stopping.set()
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            # not shutdown(wait=True): APScheduler holds its job-store lock while it waits, and a tick that
            # is just finishing its campaign removes its own job, which needs that lock (a deadlock, seen
            # when closing a process pool made the last tick slow). Waiting on each campaign's lock below
            # lets running ticks end instead.
            scheduler.shutdown(wait=False)
        with self._entries_lock:
            for e in self.entries.values():
                with e.lock:
                    self._close(e)
        if self.plugins == "installed-only":
            plugins_module.refuse_import_paths(None)
        self._release_lock()

    @staticmethod
    def _needs_heavy_imports(e: Entry) -> bool:
        """Whether the campaign's model may import TensorFlow: every model but those that declare
        ``imports_tensorflow = False`` (the random forest), plugins included."""
        cls = e.engine.campaign.plugin_classes.get("model") if e.engine is not None else None
        return cls is not None and bool(getattr(cls, "imports_tensorflow", True))

    def _start_imports(self) -> None:
        """Start the heavy imports (once): when a campaign first wants a model fit, or once every campaign
        found at start has had its first tick. Not at once: an import holds Python's interpreter lock for
        seconds, and the initial designs of hundreds of campaigns would wait for it. Not at all while no
        campaign's model needs them (a daemon of random forests never pays 10-40 s of TensorFlow)."""
        with self._entries_lock:
            if self._import_started or not any(self._needs_heavy_imports(e) for e in self.entries.values()):
                return
            self._import_started = True
        threading.Thread(target=self._import_heavy, name="looplab-imports", daemon=True).start()

    def _import_heavy(self) -> None:
        """Import TensorFlow and GPflow (quietly) once, so that no campaign's tick pays for it."""
        started = time.monotonic()
        try:
            from .models.tf_quiet import import_tensorflow

            import_tensorflow()
            log.info("TensorFlow and GPflow imported in %.1f s", time.monotonic() - started)
        except ImportError:
            pass  # not installed: the models that need them say so at their first fit
        except Exception:  # a broken installation: the models that need it fail at their first fit, with why
            log.exception("importing TensorFlow failed")
        finally:
            self._imported.set()

    def _fit_gate(self, e: Entry):
        """The campaign's ``Engine.fit_gate``: a context manager holding this daemon's fit slots, or None
        ("not now") while the heavy imports run, another campaign's first fit runs, or every fit slot is taken."""

        def gate():
            if not self._imported.is_set() and self._needs_heavy_imports(e):
                self._start_imports()
                return None
            if not self._fits.acquire(blocking=False):
                return None
            first = not e.warm
            if first and not self._first_fit.acquire(blocking=False):
                self._fits.release()
                return None
            return _Held(self._fits, self._first_fit if first else None)

        return gate

    def _heartbeat(self) -> None:
        """Renew the lease of every campaign this daemon drives, every quarter of the lease's TTL, from its own
        thread: a campaign whose tick is busy (a long fit, a slow import) is still known to be in good hands.
        A paused daemon (SIGSTOP) renews nothing, so after the TTL another process takes its campaigns over, and
        the fence refuses this daemon's writes when it wakes up."""
        period = max(0.05, getattr(self.store, "lease_ttl", 120.0) / 4)
        while not self.stopping.wait(period):
            with self._entries_lock:
                engines = [e.engine for e in self.entries.values() if e.engine is not None]
            if not engines:
                continue
            beat = time.monotonic()
            try:  # one transaction for all (hundreds of campaigns must not take turns at the store's lock)
                lost = self.store.renew_leases([engine.fence for engine in engines])
            except Exception as exc:  # the store is briefly unreachable: the next beat tries again
                log.warning("could not renew the leases of %d campaign(s): %s", len(engines),
                            unreachable(exc) or f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                continue
            for engine in engines:  # a lost one: its tick finds out at its next write, and stops driving it
                if engine.id not in lost:
                    engine._lease_renewed = beat

    def all_done(self) -> bool:
        with self._entries_lock:
            entries = list(self.entries.values())
        # a campaign a person paused waits for that person, not for this daemon: it does not keep it running
        if self._settling or any((e.active and not e.held) or (e.state == "waiting" and not e.for_source)
                                 for e in entries):
            self._idle_from = None  # running, or waiting for another process's lease
            return False
        if not any(e.state == "waiting" for e in entries):
            return True
        # left: campaigns waiting for a source campaign that no campaign of this daemon runs now. Done once a
        # whole scan has found them still waiting (the source may have ended after the last scan)
        if self._idle_from is None:
            self._idle_from = self._scans
        return self._scans >= self._idle_from + 2

    def _say_held(self) -> None:
        """On exit (--exit-when-done): say each campaign a person's pause holds, and how to go on with it."""
        with self._entries_lock:
            held = [e for e in self.entries.values() if e.active and e.held]
        for e in held:
            log.info("campaign=%s is %s: the daemon exits without it (--exit-when-done); looplab resume %s, then "
                     "start the daemon again", e.name, e.held, e.name)

    def summary(self) -> list[dict]:
        """One row per campaign file: name, state, message, counts from the store; ``refused``: why an invalid
        file is (see ``Entry.refused``)."""
        rows = []
        with self._entries_lock:
            driven = {e.name for e in self.entries.values()}  # a renamed file: its campaign is another file's now
            # a file never read because it kept changing is listed too (fuzz round nineteen: the table was empty, and
            # said there was no campaign file in the folder)
            unread = [Entry(path=p, mtime=0.0, state="changing",
                            message=f"never settled: it kept changing until the daemon stopped, and a file is read "
                                    f"once it has not changed for {self._settle:g} s; stop what keeps writing it")
                      for p in self._settling if p not in self.entries]
            entries = sorted([*self.entries.values(), *unread, *(w for p, w in self._withdrawn.items()
                                                                  if p not in self.entries and w.name not in driven)],
                             key=lambda e: str(e.path))
        for e in entries:
            counts: dict = {}
            if e.name is not None:
                row = self.store.get_campaign(e.name)
                if row is not None:
                    counts = self.store.counts(row.id)
            state, message = e.state, e.message
            if e.active and e.held:  # not "unfinished": it waits for the person who paused it
                state, message = "paused", f"{e.held}; looplab resume {e.name}, then start the daemon again"
            rows.append({"file": e.path.name, "campaign": e.name, "state": state, "message": message,
                         "counts": counts, "failed": e.failed, "refused": e.refused if state == "invalid" else ""})
        return rows

    # -- the lock -------------------------------------------------------------------------

    def _take_lock(self) -> None:
        path = self.directory / LOCK_NAME
        try:
            self._lock_fd = pidlock.take(path)
        except pidlock.PidLockError as exc:
            if exc.problem == pidlock.HELD:
                raise DaemonError(f"another looplab daemon (pid {exc.detail}) is already running on "
                                  f"{self.directory}; stop it first (its lock is {path})") from None
            what = {pidlock.FOLDER: "is a folder",
                    pidlock.LINK: "is a link (the daemon writes its pid into its lock file, so it never follows one)",
                    pidlock.NOT_REGULAR: "is not a regular file",
                    pidlock.HARD_LINK: f"is a hard link ({exc.detail}; the daemon writes its pid into its lock file, "
                                       "which would replace the other name's content)",
                    pidlock.FOREIGN: "holds something other than a pid, so it is no lock file a daemon wrote (it is "
                                     "left as it is)",
                    pidlock.UNLOCKABLE: f"cannot be locked ({exc.detail}; put DIR on a local disk)",
                    }.get(exc.problem, f"cannot be opened ({exc.detail})")
            fix = "make the folder writable" if exc.problem == pidlock.UNOPENABLE else "move it away"
            raise DaemonError(f"DIR: the daemon's lock file {path} {what}; {fix}, then start the daemon "
                              "again") from None

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            pidlock.release(self._lock_fd)
            self._lock_fd = None

    # -- the folder ------------------------------------------------------------------------

    def scan(self) -> None:
        """Pick up new, changed and removed campaign files."""
        try:
            self._scan()
        except Exception:  # never let the scan job die: the folder may be briefly unreadable
            log.exception("scanning %s failed; retrying in %gs", self.directory, self.rescan)
        finally:
            self._scans += 1
            if not self._scanned.is_set():
                self._scanned.set()
                if not self._unticked:
                    self._start_imports()

    def _scan(self) -> None:
        gone = getattr(self.store, "sqlite_file", None)
        if gone is not None and not gone.exists() and self.store_gone is None:
            # deleted (or moved) while open: SQLite writes on into the unlinked file, and everything is lost
            # when the daemon stops; stop now, and say so
            self.store_gone = gone
            log.error("the store's file %s was removed while the daemon ran: what was written to it is gone with "
                      "it; the daemon stops (put the file back, or start again with a store that exists)", gone)
            self.stopping.set()
            return
        try:
            found = {p for p in self.directory.iterdir() if _campaign_file_name(p.name)}
            # a file is known by its name in the folder, a link too (fuzz round nineteen: c/a.yaml -> ../t1.yaml was
            # said as "t1.yaml was removed"). Two names for one file are one campaign: the name it runs under,
            # else the file's own name rather than a link's, else the first
            targets: dict[Path, Path] = {}
            for p in sorted(found, key=lambda p: (p not in self.entries, p.is_symlink(), p.name)):
                if p.is_file():
                    targets.setdefault(Path(os.path.realpath(p)), p)
            target_of = {p: t for t, p in targets.items()}
            files = sorted(target_of)
            if not self.directory.is_dir():  # moved away while it was listed: its files would look removed
                raise FileNotFoundError(2, "No such file or directory")
            if self.folder_gone is not None:
                log.info("the folder %s can be read again: its campaign files are picked up", self.directory)
            self.folder_gone = None
        except OSError as exc:  # the folder was removed (or made unreadable) meanwhile: as if it were empty
            found, files, target_of = set(), [], {}
            if self.folder_gone is None:  # said once: each campaign's pause alone did not say why (fuzz round 17)
                self.folder_gone = exc.strerror or type(exc).__name__
                log.error("the daemon's folder %s cannot be read any more (%s): its campaigns are paused as if their "
                          "files were removed; put the folder back (or make it readable) and they resume",
                          self.directory, self.folder_gone)
        broken = sorted(p for p in found if p.is_symlink() and not p.exists())  # dangling, or a loop of links
        if self._scans == 0 and not self.folder_gone:
            self._say_subfolders()
        for p in sorted(p for p in found if p.exists() and not p.is_file() and p not in self._skipped):
            self._skipped.add(p)  # a folder (or a device) named like a campaign file: not one, said once
            log.warning("file=%s is %s, not a campaign file: skipped", p.name,
                        "a folder" if p.is_dir() else "not a regular file (a device?)")
        with self._entries_lock:
            # gone: not a file any more; a broken link keeps only the entry that says so (a campaign's file
            # replaced by a dangling link is withdrawn like a removed one, then said once as a broken link)
            for path in [p for p in self.entries if p not in files and not (
                    p in broken and self.entries[p].engine is None and self.entries[p].state == "invalid")]:
                e = self.entries.pop(path)
                e.withdrawn.set()
                engine = e.engine
                # a person's pause stands, with its reason: the daemon wrote its own over it, whose advice ("put
                # it back to resume") did not resume it (fuzz round nineteen)
                person = self._paused_by_person(engine.id) if e.active and engine is not None else ""
                if person:
                    log.warning("campaign=%s file %s was removed; the campaign stays %s (put the file back, then "
                                "looplab resume %s)", e.name, path.name, person, e.name)
                elif e.active:
                    log.warning("campaign=%s file %s was removed: campaign paused (its state stays in the "
                                "store; put the file back to resume)", e.name, path.name)
                self._unschedule(e)
                with e.lock:
                    if e.active and e.engine is not None:
                        if person:
                            why = (f"{person}; its file {path.name} was also removed from the daemon's folder: put "
                                   f"it back, then looplab resume {e.name}")
                        else:
                            why = f"its file {path.name} was removed from the daemon's folder; put it back to resume"
                            self._paused(e, why)
                        # kept for the final table, which listed only the files still there (fuzz round 17)
                        self._withdrawn[path] = Entry(path=path, mtime=e.mtime, name=e.name, state="paused",
                                                      message=why)
                    self._close(e)
            settling: dict[Path, float] = {}
            now = time.monotonic()
            for path in files:
                try:
                    st = path.stat()
                    # a chmod changes only the ctime: a file made readable again was never retried (fuzz round 17)
                    mtime = max(st.st_mtime, st.st_ctime)
                except OSError:
                    continue  # removed between glob and stat
                e = self.entries.get(path)
                changed = e is None or e.mtime != mtime or e.target != target_of[path]
                if changed and 0 <= time.time() - mtime < self._settle:
                    # still being written (a copy in two parts ran its first half): read later
                    since = settling[path] = self._settling.get(path, now)
                    if now - since > SAY_CHANGING * self._settle and path not in self._said_changing:
                        # said once: a file that never settles was never read, without a word (fuzz round nineteen)
                        self._said_changing.add(path)
                        log.warning("file=%s is still changing (for %.0f s now): the daemon reads it once it has not "
                                    "changed for %g s; if a program keeps writing it, stop that program (or write "
                                    "the file elsewhere and move it in)", path.name, now - since, self._settle)
                    continue
                if not changed:
                    if e.state == "waiting" or e.clash:  # another process had it, or another file named its
                        self._open(e)  # campaign (two files swapped contents): try again (quietly)
                    elif e.state in ("completed", "stopped") and self._reopened(e):
                        log.info("campaign=%s is running again (looplab extend or resume): reopening", e.name)
                        self._open(e)
                    continue
                if e is None:
                    e = self.entries[path] = Entry(path=path, mtime=mtime, target=target_of[path])
                    self._withdrawn.pop(path, None)  # back: its own entry says what it does now
                else:
                    e.mtime, e.target = mtime, target_of[path]
                    log.info("file=%s changed: reopening", path.name)
                self._open(e)
            self._settling = settling
            self._said_changing &= set(settling)  # one that settled is said again if it keeps changing anew
            scheduler = self._scheduler
            if settling and scheduler is not None and not self.stopping.is_set():
                # looked at again once they have had time to settle, not only at the next rescan (which may be a
                # minute away); a one-off scan, replaced while files keep changing
                from datetime import timedelta

                try:
                    scheduler.add_job(self.scan, "date", run_date=_now() + timedelta(seconds=self._settle),
                                      id="looplab-settle", replace_existing=True)
                except Exception:  # noqa: BLE001 - the scheduler shutting down: the next start scans anyway
                    pass
            for link in broken:  # skipped silently before: said once, and counted as an invalid file
                if link not in self.entries:
                    e = self.entries[link] = Entry(path=link, mtime=0.0)
                    try:
                        target = os.readlink(link)
                    except OSError:
                        target = "?"
                    self._refuse(e, f"{link}: a link to {target}, which is not a file (it does not exist, or the "
                                    "links loop); fix the link or remove it")

    def _say_subfolders(self) -> None:
        """At the first scan: subfolders holding campaign files are not watched, which was silent (fuzz round
        seventeen: a user who sorted campaigns into folders saw none of them run)."""
        try:
            held = sorted(d.name for d in self.directory.iterdir() if d.is_dir() and not d.name.startswith(".")
                          and any(_campaign_file_name(f.name) for f in d.iterdir()))
        except OSError:
            return
        if held:
            log.warning("subfolder(s) %s hold campaign files, which this daemon does not run: it watches %s itself, "
                        "not its subfolders (move the files up, or start a daemon on each folder)",
                        ", ".join(held[:5]) + (", ..." if len(held) > 5 else ""), self.directory)

    def _check_sources_ended(self, e: Entry, campaign: Any) -> None:
        """A new campaign whose source campaign runs in this daemon waits until that one has ended
        (SourceNotReady): a campaign learns from its source as it is when it starts (``engine.open_campaign``),
        so starting at the source's first two results would leave it those two for good."""
        from .models.transfer.sources import WHERE

        sources = getattr(campaign.plugin_configs.get("model"), "source", None) or []
        wanted = {getattr(src, "campaign", None): i for i, src in enumerate(sources)} if isinstance(sources, list) \
            else {}
        wanted.pop(None, None)
        e.sources = frozenset(wanted)
        if not wanted or self.store.get_campaign(campaign.name) is not None:
            return
        with self._entries_lock:
            running = [o.name for o in self.entries.values()
                       if o is not e and o.name in wanted and o.state not in ("completed", "stopped", "invalid")]
            learns_from = {o.name: o.sources for o in self.entries.values() if o.name is not None}
        from .errors import Problem

        for n in running:
            cycle = _path_back(n, campaign.name, learns_from)
            if cycle:  # each waits for the other to end: neither would ever start
                chain = [campaign.name, *cycle]
                who = "neither" if len(chain) == 3 else f"none of the {len(chain) - 1}"  # a -> b -> a: two
                raise ConfigError([Problem(f"{WHERE}[{wanted[n]}].campaign", f"campaign '{n}' learns from this "
                                           f"campaign too ({' -> '.join(chain)}), so {who} could ever start: "
                                           "each starts once the one it learns from has ended; remove one of the "
                                           "sources")])
        if running:
            raise SourceNotReady([Problem(f"{WHERE}[{wanted[n]}].campaign",
                                          f"campaign '{n}' is one of this daemon's and has not ended: this "
                                          "campaign starts once it has, to learn from all its results")
                                  for n in running])

    def _open(self, e: Entry) -> None:
        try:
            self._open_unguarded(e)
        except Exception as exc:
            why = unreachable(exc)
            if not why:
                raise
            self._store_down(e, why)

    def _store_down(self, e: Entry, why: str) -> None:
        """The store cannot be reached (a database server restarting, a SQLite file locked by another program):
        not a failed step. The campaign is closed (its in-flight experiments are submitted again when it is
        reopened, as after a kill) and waits; every rescan tries to reopen it. Said once per outage."""
        if not e.outage:
            log.warning("campaign=%s the store is unreachable (%s): the campaign waits for it, and goes on where it "
                        "was once the store answers (tried at every rescan); nothing is lost", e.name or e.path.name,
                        why)
        e.outage = True
        self._close(e)
        e.state, e.message, e.for_source = "waiting", f"the store is unreachable ({why})", False

    def _open_unguarded(self, e: Entry) -> None:
        from .config import load_campaign
        from .engine import Engine, open_campaign

        if self.plugins == "installed-only":
            refused = import_path_kinds(e.path)
            if refused:
                self._refuse(e, f"{e.path}: {refused}: import-path plugins are refused by this daemon "
                                "(--plugins installed-only); install the plugin as a package and use its name",
                             "other")
                return
        try:
            campaign = load_campaign(e.path, initial_data=False)  # read by the engine if it creates it
        except LooplabError as exc:
            self._refuse(e, _describe(exc), "file")
            return
        name = campaign.name
        if e.name and e.name != name:  # the file now names another campaign: the one it named is left, and said so
            log.warning("campaign=%s file %s now names campaign '%s': campaign %s paused (its state stays in the "
                        "store; a file naming it again resumes it)", e.name, e.path.name, name, e.name)
            e.withdrawn.set()  # a tick in progress stops at its next step, as for a removed file (it ran on for
            with e.lock:  # the rest of its time slice: 17 more experiments after "paused" was said)
                if e.active and e.engine is not None:
                    self._paused(e, f"its file {e.path.name} now names campaign '{name}'; a file naming "
                                    f"'{e.name}' again resumes it")
                self._close(e)
                e.withdrawn.clear()  # the entry goes on, with the campaign the file names now
            e.name = None
        clash = [o for o in self.entries.values() if o is not e and o.name == name]
        if clash:
            text = (f"name: campaign '{name}' is already run from {clash[0].path.name}; give each file its own "
                    "campaign name")
            if not (e.clash and e.state == "invalid" and e.message == text):  # said once; retried at every scan
                self._refuse(e, text, "name")
            e.clash = True
            return
        e.clash = False
        with e.lock:
            try:
                self._check_sources_ended(e, campaign)
                row, resumed = open_campaign(self.store, campaign)
            except SourceNotReady as exc:  # a campaign it learns from has no results yet: retried every scan
                if e.state != "waiting" or e.message != str(exc):
                    log.warning("campaign=%s file=%s waits for its source campaign (not started until it has "
                                "results): %s", name, e.path.name, exc)
                e.name, e.state, e.message, e.for_source = name, "waiting", str(exc), True
                return
            except LooplabError as exc:
                differs = [p.path for p in getattr(exc, "problems", ()) if p.message == DIFFERS]
                # looplab validate does not read the store, so "fix them (looplab validate)" did not fit
                # (fuzz round nineteen): the row says what conflicts, and the ways out
                self._refuse(e, _describe(exc), "store" if differs else "other",
                             f"{', '.join(differs)}: {'differ' if len(differs) > 1 else 'differs'} from the stored "
                             f"campaign '{name}' (looplab validate does not look at the store): restore what "
                             "changed, give the campaign another name, or use another --store" if differs else "")
                return
            e.for_source = False  # a later wait (a lost lease) is not a wait for a source
            self._close(e)
            e.name, e.errors = name, 0
            if row.status in ("completed", "stopped"):
                e.state, e.message = row.status, row.message or ""
                log.info("campaign=%s file=%s is already %s (%s); raise its budget in the file to extend it",
                         name, e.path.name, row.status, row.message or "")
                self._unschedule(e)
                return
            try:
                e.engine = Engine(campaign, self.store, campaign_row=row)
                e.engine.fit_gate = self._fit_gate(e)
            except (LeaseHeld, LeaseLost) as exc:  # another process runs it: try again at the next scan
                self._wait(e, exc)
                return
            except LooplabError as exc:
                self._refuse(e, str(exc), "other")
                return
            now = self.store.get_campaign(name)  # read again under the lease: the last holder may have ended it
            if now is not None and now.status in ("completed", "stopped"):
                self._close(e)
                e.state, e.message = now.status, now.message or ""
                log.info("campaign=%s file=%s is already %s (%s)", name, e.path.name, now.status, now.message or "")
                self._unschedule(e)
                return
            e.state, e.message, e.held = "running", "", ""
            person = self._paused_by_person(row.id)
            if person:  # its status says so, not a message the daemon wrote before (one that predates this check)
                self.store.update_campaign(row.id, fence=e.engine.fence, status="paused", message=person)
        counts = self.store.counts(row.id)
        if person:  # not "resumed": a person paused it (fuzz round nineteen), and only they can resume it
            log.info("campaign=%s file=%s opened with %d experiment(s) so far; it stays %s (looplab resume %s to go "
                     "on)", name, e.path.name, sum(counts.values()), person, name)
        else:
            log.info("campaign=%s file=%s %s with %d experiment(s) so far", name, e.path.name,
                     "resumed" if resumed else "started", sum(counts.values()))
        if e.outage:
            log.info("campaign=%s the store answers again", name)
            e.outage = False
        self._schedule(e)

    def _reopened(self, e: Entry) -> bool:
        """Whether an ended campaign is marked running again in the store (`looplab extend` raised the budget of
        a completed one, or `looplab resume` undid a stop)."""
        try:
            row = self.store.get_campaign(e.name) if e.name else None
        except Exception:  # the store is briefly unreachable: the next scan asks again
            return False
        return row is not None and row.status == "running"

    def _paused(self, e: Entry, why: str) -> None:
        """Say in the store that the daemon stopped driving the campaign, and why (under its lease)."""
        try:
            self.store.update_campaign(e.engine.id, fence=e.engine.fence, status="paused",
                                       message=f"paused by the daemon (pid {os.getpid()}): {why}")
        except Exception as exc:  # the store itself may be what fails; the log says it anyway
            log.warning("campaign=%s could not record its pause in the store: %s", e.name, exc)

    def _paused_by_person(self, campaign_id: int) -> str:
        """'paused by alice@lab: why' while a person's ``looplab pause`` holds the campaign, else ''."""
        from .control import asked

        try:
            control = self.store.control(campaign_id)
        except Exception:  # the store is briefly unreachable: the daemon's own pause is written (or said) instead
            return ""
        return asked("paused", control) if control.state == "paused" else ""

    def _wait(self, e: Entry, exc: Exception) -> None:
        """Another process drives the campaign: wait for it, and say so once."""
        holder = getattr(exc, "holder", None)
        if holder:
            text = (f"pid {holder['pid']} on {holder['host']} runs it (last seen {holder['age']:.0f} s ago); this "
                    "daemon takes it over by itself when that process exits, or once it has not been seen for "
                    f"{holder['ttl']:.0f} s")
        else:
            text = f"{exc}; this daemon takes it over by itself when that process is gone"
        if e.state != "waiting":
            log.warning("campaign=%s file=%s waits: %s", e.name, e.path.name, text)
        e.state, e.message, e.for_source = "waiting", text, False

    def _refuse(self, e: Entry, text: str, why: str = "file", message: str = "") -> None:
        """A file that cannot be run (``why``: see ``Entry.refused``; ``message``: its row's, instead of the
        first line of ``text``). A campaign already running goes on with the version it had."""
        if e.engine is not None and e.active:
            log.error("file=%s the changed file cannot be used; campaign %s goes on as it was:\n%s",
                      e.path.name, e.name, text)
            return
        self._unschedule(e)
        first = text.splitlines()[0] if text else "invalid"
        e.state, e.message, e.refused = "invalid", message or first.removeprefix(f"{e.path}: "), why
        log.error("file=%s cannot be run (fix it; the daemon retries when the file changes):\n%s", e.path.name, text)

    # -- jobs ------------------------------------------------------------------------------

    def _job_id(self, e: Entry) -> str:
        return f"looplab-campaign:{e.path}"

    def _schedule(self, e: Entry) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        if not self._scanned.is_set():
            self._unticked.add(e.path)
        scheduler.add_job(self.tick, "interval", args=[e.path], seconds=self.interval, id=self._job_id(e),
                          replace_existing=True, next_run_time=_now())

    def _unschedule(self, e: Entry) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        from apscheduler.jobstores.base import JobLookupError

        try:
            scheduler.remove_job(self._job_id(e))
        except JobLookupError:
            pass

    @staticmethod
    def _close(e: Entry) -> None:
        if e.engine is not None:
            try:
                e.engine.close()
            except Exception:  # an executor that fails to shut down must not block the others
                log.exception("campaign=%s closing its executor failed", e.name)
            e.engine = None

    def tick(self, path: Path) -> None:
        """Step one campaign until it waits on results, ends, or its time slice is used up."""
        with self._entries_lock:
            e = self.entries.get(path)
            if self._unticked:
                self._unticked.discard(path)
                if not self._unticked and self._scanned.is_set():
                    self._start_imports()
        if e is None or self.stopping.is_set():
            return
        with e.lock:
            if e.engine is None or not e.active or e.withdrawn.is_set():
                return
            deadline = time.monotonic() + self.slice_seconds
            try:
                while not self.stopping.is_set() and not e.withdrawn.is_set():
                    report = e.engine.step()
                    e.errors = 0
                    if report.source == "model":
                        e.warm = True
                    if report.done:
                        e.state, e.message = report.status, report.message
                        # ended on its failures, or with no result at all: not a success (`run` exits 1)
                        e.failed = report.by_failures or (report.n_observed == 0 and report.n_failed > 0)
                        log.info("campaign=%s %s: %s; %d succeeded, %d failed, best %s", e.name, report.status,
                                 report.message, report.n_observed, report.n_failed,
                                 "none" if report.best is None else f"{report.best:.6g}")
                        from .engine import _failure_reasons, same_value_note

                        exps = self.store.experiments(e.engine.id)
                        same = same_value_note(e.name, e.engine.spec.objective.name, exps,
                                               e.engine.spec.objective.target_value)
                        if same:
                            log.warning("campaign=%s %s", e.name, same)
                        if e.failed and not report.by_failures:  # a failure-rate stop gives its reasons itself
                            failed = [x for x in exps if x.status in ("failed", "timed_out")]
                            log.error("campaign=%s none of its %d experiment(s) succeeded; reasons: %s", e.name,
                                      len(failed), _failure_reasons(failed))
                        self._close(e)
                        break
                    self._say_who_it_waits_for(e, report)
                    # a person's pause, nothing left in flight: it waits for that person (see all_done)
                    e.held = report.message if report.status == "paused" and not report.in_flight else ""
                    if report.deferred or (not report.proposed and not report.recorded):
                        break  # waiting on experiments in flight, or for a fit slot: the next tick goes on
                    if time.monotonic() > deadline:
                        break
            except LeaseLost as exc:  # not a failed step: another process drives the campaign now
                log.warning("campaign=%s %s", e.name, exc)
                self._close(e)
                e.state, e.message, e.errors = "waiting", str(exc), 0
            except Exception as exc:
                down = unreachable(exc)
                if down:  # a database restart must not pause the campaign: it waits for the store
                    self._store_down(e, down)
                    self._unschedule(e)
                    return
                e.errors += 1
                ours = isinstance(exc, LooplabError)  # a user-facing error: its message says it all
                what = str(exc) if ours else f"{type(exc).__name__}: {exc}"
                log.error("campaign=%s step failed (%d in a row): %s", e.name, e.errors, what, exc_info=not ours)
                if e.errors >= MAX_TICK_ERRORS:
                    e.state, e.message = "paused", f"{e.errors} failed steps in a row: {what}"
                    log.error("campaign=%s paused after %d failed steps in a row; every result so far is in "
                              "the store. Fix the cause and touch %s to resume", e.name, e.errors, e.path.name)
                    if e.engine is not None:
                        self._paused(e, f"{e.message}; fix the cause and touch {e.path.name} to resume")
                    self._close(e)
        if not e.active:
            self._unschedule(e)


    @staticmethod
    def _say_who_it_waits_for(e: Entry, report: Any) -> None:
        """Log once, when it changes, that a campaign waits for a person: its batch awaits approval, or its
        oracle is ``manual`` and its experiments wait for results told by hand (a daemon cannot run those)."""
        manual = e.engine.spec.oracle.kind == "manual"
        people = (report.awaiting, report.in_flight if manual else 0)
        if people == e.people:
            return
        e.people = people
        if report.awaiting:
            log.info("campaign=%s waits for a person: %d experiment(s) await approval (looplab approve %s [IDS], "
                     "or reject, or edit)", e.name, report.awaiting, e.name)
        if manual and report.in_flight:
            log.info("campaign=%s waits for a person: %d experiment(s) to run by hand (looplab ask %s lists them; "
                     "looplab tell %s ID VALUE records each)", e.name, report.in_flight, e.name, e.name)


class _Held:
    """Releases the fit slot (and the first-fit lock) that ``Daemon._fit_gate`` acquired."""

    def __init__(self, *locks: Any):
        self.locks = [lock for lock in locks if lock is not None]

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        for lock in self.locks:
            lock.release()


def import_path_kinds(path: Path) -> str:
    """The fields of a campaign file whose ``kind`` is an import path (``package.module:Class``), e.g.
    ``oracle.kind 'mylab.x:Y'``; empty if none. Reads the YAML as nodes only (no alias expansion, nothing
    imported); a file that does not parse is left to the loader to report."""
    import yaml

    try:
        root = yaml.compose(path.read_text(errors="replace"))
    except Exception:
        return ""
    found = []
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value in ("oracle", "model", "acquisition") and isinstance(value, yaml.MappingNode):
                for k, v in value.value:
                    if k.value == "kind" and isinstance(v, yaml.ScalarNode) and ":" in str(v.value):
                        found.append(f"{key.value}.kind '{v.value}'")
    return ", ".join(found)


def _describe(exc: LooplabError) -> str:
    """Every problem of a config error, one per line; otherwise the message."""
    return exc.format() if isinstance(exc, ConfigError) else str(exc)


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
