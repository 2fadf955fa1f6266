"""The ``looplab`` command line (typer + rich).

Commands: run, validate, schema, status, export, report, benchmark, plugins, mock-robot; approve, reject, edit,
pause, resume, stop, extend (in cli_control.py); ask, tell and import (cli_manual.py). User errors print one
line per problem and exit with code 2; they never show a traceback.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import logging
import math
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .errors import ConfigError, LooplabError, Problem, reveal


# click's UsageError, whether typer uses click or its own copy of it (typer >= 0.2x)
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _OneLineErrors(typer.core.TyperGroup):
    """A mistyped command, option or argument is one ``error`` line (exit 2), like every other bad input,
    instead of click's usage text and boxed message."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            if not exc.format_message():  # a group called without a command: typer has printed its help
                raise
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            _error_line(f"{exc.format_message()} (see: {where} --help)")
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="looplab: closed-loop autonomous experiment campaigns (Bayesian optimisation over real oracles).",
)
# markup is off: campaign names, params and error messages are user text and print verbatim
console = Console(highlight=False, markup=False)
err_console = Console(stderr=True, highlight=False, markup=False)


def _error_line(line: str) -> None:
    if line.startswith("--store:") and os.environ.get("LOOPLAB_STORE") and \
            not any(a == "--store" or a.startswith("--store=") for a in sys.argv[1:]):
        line = "--store (from $LOOPLAB_STORE):" + line[len("--store:"):]  # the user gave no --store: say whence
    err_console.print(Text("error ", style="red") + Text(reveal(line)), soft_wrap=True)


def _note(line: str) -> None:
    err_console.print(Text("note ", style="yellow") + Text(reveal(line)), soft_wrap=True)

def _given_store(value: Optional[str]) -> Optional[str]:
    """--store "" (an unset shell variable: --store "$STORE") is a mistake, not a request for the default."""
    if value is not None and not value.strip():
        raise typer.BadParameter("is empty; give a database URL, e.g. --store sqlite:///runs/looplab.db, or leave "
                                 "--store out for $LOOPLAB_STORE or sqlite:///looplab.db")
    return value


StoreOpt = typer.Option(None, "--store", callback=_given_store,
                        help="SQLAlchemy database URL (default: $LOOPLAB_STORE, else sqlite:///looplab.db)")


def _strict(kind: type):
    """A parser of an int / float option, without what Python's int() and float() also accept: digit
    separators ('1_0' is 10) and digits of other scripts (the full-width '５' is 5)."""
    name = "integer" if kind is int else "number"

    def parse(value):
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
        from oracles.csvfile import plain_digits

        text = str(value).strip()
        if not plain_digits(text):
            raise typer.BadParameter(f"{text!r} is not a number: write it in plain ASCII digits, without '_'")
        try:
            return kind(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a valid {name}") from None

    parse.__name__ = name
    return parse


INT, FLOAT = _strict(int), _strict(float)
OPTION_MAX = 1e9  # any count or number of seconds above this is a typo (10^9 s is 31 years; 10^12 s overflowed
# the scheduler's dates)


DAY = 86400.0  # seconds: the longest wait between two polls or scans that makes sense


def _check_options(**checks: tuple) -> None:
    """Exit 2 with one line per option out of range. Each check is ``name=(value, lowest, lowest_allowed)``,
    at most ``OPTION_MAX``; or ``name=(value, lowest, lowest_allowed, highest, why)`` for an option with a
    sensible bound of its own (seconds), ``why`` saying what a larger value would do."""
    problems = []
    for name, (value, low, inclusive, *bound) in checks.items():
        if value is None:
            continue
        option = "--" + name.replace("_", "-")
        high, why = bound if bound else (OPTION_MAX, "")
        if not math.isfinite(value):
            problems.append(Problem(option, f"must be a finite number (got {value})"))
        elif value < low or (value == low and not inclusive):
            least = f"at least {low:g}" if inclusive else f"greater than {low:g}"
            problems.append(Problem(option, f"must be {least} (got {value:g})"))
        elif value > high:
            problems.append(Problem(option, f"must be at most {high:g}{' s' if why else ''} (got {value:g})"
                                            + (f": {why}" if why else "")))
    if problems:
        _fail(ConfigError(problems))


def _fail(exc: LooplabError) -> None:
    if isinstance(exc, ConfigError):
        for line in exc.format().splitlines():
            _error_line(line)
    else:
        _error_line(str(exc))
    raise typer.Exit(2)


SQLITE_MAGIC = b"SQLite format 3\x00"


def _output_file(option: str, path: Path, *, suffix: str = ".csv", data: tuple[str, ...] = (),
                 ours: tuple[str, ...] = ()) -> Path:
    """The file an output option (``export --out``, ``ask --csv``, ``--log-file``) may write, symlinks
    followed: refused when it is not a regular file (a folder, a device, a pipe), a hard link, a SQLite database (a store)
    or one of its -wal/-shm/-journal files, a YAML file (a campaign), has a suffix in ``data`` (a log appended
    to a pool's CSV), or, given ``ours`` (the starts of what this command writes), is a non-empty file that
    starts otherwise (a pool, a source, anybody's spreadsheet: replacing it would lose it)."""
    from .report import file_head

    real = Path(os.path.realpath(path))
    for end in ("-wal", "-shm", "-journal"):
        base = real.with_name(real.name[: -len(end)]) if real.name.endswith(end) else None
        if base is not None and base.is_file() and file_head(base).startswith(SQLITE_MAGIC):
            _fail(LooplabError(f"{option}: '{path}' belongs to the SQLite database '{base.name}' (its {end[1:]} "
                               "file); writing to it would damage the store: choose another path"))
    try:  # the path as given: /dev/stdout on a pipe resolves to 'pipe:[N]', which no path names
        st = os.stat(path)
    except OSError:  # a new file (or a loop of links, said when it is opened)
        return real
    if not stat.S_ISREG(st.st_mode):
        _fail(LooplabError(f"{option}: '{path}' exists and is not a regular file (a folder, device or pipe); "
                           "choose a file path"))
    if st.st_nlink > 1:  # fuzz round nineteen: a log "hard-linked" to the campaign file or the pool was appended to it
        _fail(LooplabError(f"{option}: '{path}' is a hard link (the same file has {st.st_nlink} names), so writing "
                           "to it would change what its other names hold (a campaign file, a pool, a store?); "
                           "choose another path"))
    try:
        with open(real, "rb") as fh:
            head = fh.read(200)  # enough for a store's magic and for the first line of what ``ours`` writes
    except OSError as exc:
        _fail(LooplabError(f"{option}: cannot read '{path}' ({exc.strerror or exc}); choose another path"))
    if head.startswith(SQLITE_MAGIC):
        _fail(LooplabError(f"{option}: '{path}' is a SQLite database (a store?); writing to it would damage it: "
                           "choose another path"))
    if real.suffix.lower() in (".yaml", ".yml"):
        _fail(LooplabError(f"{option}: '{path}' is a YAML file (a campaign file?); writing to it would damage "
                           f"it: choose a {suffix} path"))
    if real.suffix.lower() in data:
        _fail(LooplabError(f"{option}: '{path}' is a {real.suffix} file (data?); writing to it would damage it: "
                           f"choose a {suffix} path"))
    if ours and head:
        first = head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()[0:1] or [""]
        if not any(first[0].startswith(start) for start in ours):
            _fail(LooplabError(f"{option}: '{path}' exists and was not written by this command (it starts "
                               f"'{first[0][:40]}'); writing would replace it: choose another path, or remove "
                               "the file first"))
    return real


def _not_a_data_file(option: str, real: Path, st: Any, row: Any, campaign: Any = None) -> None:
    """Refuse to write an output over a data file the campaign reads (its pool, lookup table, transfer
    sources: fingerprinted in the store when it started; and, given the loaded ``campaign``, its
    initial.data, read once and not fingerprinted), found whatever its first line."""
    files = dict(st.campaign_files(row.id) or {})
    data = getattr(getattr(getattr(campaign, "spec", None), "initial", None), "data", None)
    if data:
        files["initial.data"] = {"path": str(Path(campaign.base_dir) / data)}
    for field, rec in files.items():
        try:
            same = real.exists() and os.path.samefile(real, rec.get("path", ""))
        except OSError:
            same = False
        if same:
            _fail(LooplabError(f"{option}: '{real}' is the campaign's {field} file; writing to it would destroy "
                               "the campaign's data: choose another path"))


def _sqlite_file(store: Optional[str]) -> Optional[Path]:
    """The SQLite file of --store (or $LOOPLAB_STORE), None for another database or an in-memory one."""
    from .store import default_url

    url = store or default_url()
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not path.startswith("file:"):
            from .store import StoreError, check_sqlite_path

            try:  # a path no file can have (too long, spaces at its ends): said before anything looks at it
                check_sqlite_path(url)
            except StoreError as exc:
                _fail(exc)
            return Path(path).expanduser()
    return None


def _new_sqlite_file(store: Optional[str]) -> Optional[Path]:
    """The SQLite file of --store if it does not exist yet (opening the store will create it), else None."""
    path = _sqlite_file(store)  # a link (even a dangling one) is the user's: never removed as "ours"
    return path if path is not None and not path.exists() and not path.is_symlink() else None


def _remove_if_empty(st, new_file: Optional[Path]) -> None:
    """Remove the SQLite store this command created (``new_file``) if no campaign was stored in it: a command
    that stopped on an error leaves no empty database behind."""
    if new_file is None or st is None:
        return
    try:
        if st.list_campaigns():
            return
        st.close()
    except Exception:  # a store that cannot even list its campaigns: left as it is, for the user to look at
        return
    for path in (new_file, *(Path(f"{new_file}{end}") for end in ("-wal", "-shm", "-journal"))):
        path.unlink(missing_ok=True)


def _not_the_store(log_file: Path, store: Optional[str]) -> None:
    """--log-file must not be the SQLite file of --store (which may not exist yet: then both would write it)."""
    from .store import default_url

    path = _sqlite_file(store)
    if path is None:
        return
    real = os.path.realpath(log_file)
    if os.path.realpath(path) == real:
        _fail(LooplabError(f"--log-file: '{log_file}' is the store's database file (--store "
                           f"{store or default_url()}); choose a .log path"))
    for end in ("-wal", "-shm", "-journal"):  # SQLite deletes them at close, with a log written into them
        if os.path.realpath(path) + end == real:
            _fail(LooplabError(f"--log-file: '{log_file}' is the {end[1:]} file of the store's database (--store "
                               f"{store or default_url()}), which SQLite writes and deletes; choose a .log path"))


class _LogFile(logging.FileHandler):
    """A --log-file that stops, with one warning line, when it cannot be written any more (a full disk),
    instead of printing a traceback for every log line."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if not self.failed:
            self.failed = True
            exc = sys.exc_info()[1]
            reason = getattr(exc, "strerror", None) or exc
            _error_line(f"warning --log-file: cannot write to '{self.baseFilename}' ({reason}); its lines go to "
                        "the terminal only from now on (the store has every result)")
        try:
            self.close()
        except OSError:
            pass

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)


def _log_file(log_file: Path) -> logging.FileHandler:
    """The handler of a --log-file (appended to), or exit 2 with one line naming the option."""
    if Path(log_file).suffix.lower() in (".yaml", ".yml"):  # a new one too: a daemon would read it as a campaign
        _fail(LooplabError(f"--log-file: '{log_file}' is named like a campaign file (a daemon watching its folder "
                           "would read it as one); choose a .log path"))
    path = _output_file("--log-file", log_file, suffix=".log", data=(".csv", ".tsv", ".json", ".py"))
    try:
        return _LogFile(path)
    except OSError as exc:
        _error_line(f"--log-file: cannot write to '{log_file}' ({exc.strerror}); give a file in a folder "
                    "that exists and that you can write to")
        raise typer.Exit(2) from None


def _store(url: Optional[str]):
    from .store import Store

    return Store(_file_url(url))


def _existing_store(url: Optional[str], *, write: bool = False):
    """For commands that read a store (``write``: or change a campaign in it): a mistyped SQLite path is an
    error, not a new empty database; with ``write``, a store that cannot be written is refused at once."""
    from .store import open_existing

    return open_existing(_file_url(url), write=write)


def _file_url(url: Optional[str]) -> Optional[str]:
    """A command's store must outlive it: an in-memory SQLite URL is refused, and sqlite://name.db (two
    slashes, which SQLAlchemy reads as a host) gets the spelling it meant."""
    from .store import default_url, is_memory_url

    given = url or default_url()
    if is_memory_url(given):
        raise LooplabError(f"--store: '{given}' is a database in memory, which is gone when the command ends; "
                           "give a file, e.g. --store sqlite:///runs/looplab.db")
    if given.startswith("sqlite://") and not given.startswith("sqlite:///"):
        path = given[len("sqlite://"):]
        raise LooplabError(f"--store: '{given}' has two slashes; a SQLite file needs three (relative path: "
                           f"sqlite:///{path}) or four (absolute: sqlite:////path/to/{path.rsplit('/', 1)[-1]})")
    return url


def _campaign_or_fail(store, name: str):
    """The stored campaign ``name``, or a LooplabError naming close matches (orchestrator.control.campaign)."""
    from .control import campaign  # imports the store module: kept out of `looplab --help`

    return campaign(store, name)


# ----------------------------------------------------------------------------- validate / schema


@app.command()
def validate(files: list[Path] = typer.Argument(..., help="campaign YAML files")) -> None:
    """Check campaign files without running anything (exit 2 if any is invalid)."""
    from .config import campaign_notes, load_campaign

    bad = 0
    for f in files:
        try:
            c = load_campaign(f)
        except ConfigError as exc:
            bad += 1
            for line in exc.format().splitlines():
                _error_line(line)
            continue
        s = c.spec
        size = getattr(c.space, "size", None) if c.space.is_pool else None
        over = (f" (more than the pool's {size} candidates: the campaign stops when every one is measured)"
                if size is not None and s.budget.max_experiments > size else "")
        console.print(Text("ok ", style="green") + Text(
            f"{f}: campaign '{s.name}', {c.space.describe()}; objective {s.objective.goal} {s.objective.name}; "
            f"oracle {s.oracle.kind}, model {s.model.kind}, acquisition {s.acquisition.kind} "
            f"(batch {s.acquisition.batch_size}); budget {s.budget.max_experiments}{over}"
            + ("; each batch waits for approval" if s.approval == "required" else "")), soft_wrap=True)
        for note in campaign_notes(c):  # valid, but maybe not what is meant (a constant input, twin molecules)
            _note(f"{f}: {note}")
    if bad:
        raise typer.Exit(2)


@app.command()
def schema() -> None:
    """Print the JSON Schema of campaign files (for editor completion)."""
    from .config import json_schema

    print(json.dumps(json_schema(), indent=2))


# ----------------------------------------------------------------------------- run


@app.command()
def run(
    file: Path = typer.Argument(..., help="campaign YAML file"),
    store: Optional[str] = StoreOpt,
    max_steps: Optional[int] = typer.Option(None, parser=INT,
        help="stop after this many proposing steps (resume later); "
             "at least 1"),
    poll_interval: float = typer.Option(0.5, parser=FLOAT,
        help="seconds between polls while experiments run (> 0)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no per-step lines, only the summary"),
    log_file: Optional[Path] = typer.Option(None, help="also write the structured per-step log lines to this file"),
) -> None:
    """Run a campaign (or resume it: the same file against the same store continues where it stopped)."""
    from rich.logging import RichHandler
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .config import load_campaign
    from .engine import Engine, open_campaign

    _check_options(max_steps=(max_steps, 1, True),
                   poll_interval=(poll_interval, 0, False, DAY,
                                  "polling less often than daily would leave results unrecorded for days"))
    fh = None
    made_log = log_file is not None and not log_file.exists()
    if log_file is not None:  # opened first: a log file that cannot be written must not leave a stored campaign
        if os.path.realpath(log_file) == os.path.realpath(file):
            _fail(LooplabError(f"--log-file: '{log_file}' is the campaign file; choose a .log path"))
        _not_the_store(log_file, store)
        fh = _log_file(log_file)
    st = None
    new_file = _new_sqlite_file(store)
    try:
        campaign = load_campaign(file, initial_data=False)  # read by the engine if it creates it
        st = _store(store)
        notes: list[str] = []
        row, resumed = open_campaign(st, campaign, notes)
    except LooplabError as exc:
        if isinstance(exc, ConfigError) and not exc.source:  # a transfer source's rows, read before the start
            exc.source = file.name
        _remove_if_empty(st, new_file)  # refused before it was stored (a missing source campaign)
        if fh is not None:  # nothing ran: leave no empty log file behind (one that was there stays as it was)
            fh.close()
            if made_log and log_file.stat().st_size == 0:
                log_file.unlink()
        _fail(exc)
        return
    for note in notes:
        _note(note)
    spec = campaign.spec
    counts = st.counts(row.id)
    verb = "resuming" if resumed else "starting"
    console.print(f"{verb} campaign '{spec.name}' ({campaign.space.describe()}) "
                  f"in {st.display_url}; {sum(counts.values())} experiment(s) so far", soft_wrap=True)

    progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                        TextColumn("best {task.fields[best]}", markup=False), TimeElapsedColumn(), console=console,
                        transient=True, disable=quiet)
    # warnings (e.g. a failed model fit) go to the console; the structured INFO lines to --log-file
    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    handler.setLevel(logging.WARNING)
    handlers: list[logging.Handler] = [handler]
    if fh is not None:
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        fh.setLevel(logging.INFO)
        handlers.append(fh)
    root = logging.getLogger("looplab")
    for h in handlers:
        root.addHandler(h)
    root.setLevel(logging.INFO)
    engine = None
    try:
        with progress:
            task = progress.add_task(spec.name, total=spec.budget.max_experiments, best="-")
            engine = Engine(campaign, st, campaign_row=row)
            describe = getattr(engine.oracle, "describe", None)
            if callable(describe) and not quiet:
                console.print(f"experiments run in: {describe()}", soft_wrap=True)

            shown = {"status": "running", "hand": False}  # what was said last: once per change
            by_hand = bool(getattr(engine.oracle, "results_in_store", False))  # the manual oracle: a person tells

            def on_step(r) -> None:
                done = r.n_observed + r.n_failed
                best = "-" if r.best is None else f"{r.best:.6g}"
                progress.update(task, completed=done, best=best)
                if r.proposed and not quiet:
                    timing = f" fit {r.fit_seconds:.2f}s acq {r.acquisition_seconds:.2f}s" if r.source == "model" else ""
                    weights = r.scored_weights or r.weights  # a transfer model's methods (scored: the gate acted)
                    if weights:
                        timing += (" weights " + " ".join(f"{k} {v:.2f}" for k, v in weights.items())
                                   + (": none alone predicts" if r.scored_weights else ""))
                    console.print(f"step {r.step:>3} {r.source:<7} observed {r.n_observed:>4} failed {r.n_failed:>3} "
                                  f"best {best}{timing}", highlight=False, soft_wrap=True)
                if not r.done:  # what it waits for (a person, or a resume), once per change; -q too: the run
                    was, shown["status"] = shown["status"], r.status  # would otherwise sit silent
                    at = "" if store is None else f" --store {st.display_url}"
                    if r.status == "paused" and was != "paused":
                        console.print(f"{r.message}: nothing new is proposed until `looplab resume {spec.name}`; "
                                      "results in flight are still recorded", soft_wrap=True)
                    elif r.awaiting and r.proposed:
                        console.print(f"{r.awaiting} experiment(s) await approval: looplab approve {spec.name} "
                                      f"[IDS]{at} (or reject, or edit); waiting", soft_wrap=True)
                    elif r.in_flight and by_hand and (r.proposed or not shown["hand"]):  # also when resumed
                        shown["hand"] = True  # with a batch that `looplab ask` handed out: it said nothing
                        console.print(f"{r.in_flight} experiment(s) wait for results told by hand: looplab ask "
                                      f"{spec.name}{at} lists them, looplab tell {spec.name} ID VALUE{at} records "
                                      "one; waiting (Ctrl-C stops; the same command resumes)", soft_wrap=True)

            report = engine.run(poll_interval=poll_interval, max_steps=max_steps, on_step=on_step)
    except LooplabError as exc:
        if isinstance(exc, ConfigError) and not exc.source:  # found while running (e.g. a transfer source's rows)
            exc.source = file.name
        _fail(exc)
        return
    except KeyboardInterrupt:
        err_console.print("interrupted: every result so far is in the store; run the same command to resume")
        raise typer.Exit(130)
    finally:
        if engine is not None:
            engine.close()  # worker processes / Dask client
        for h in handlers:
            root.removeHandler(h)
    _summary(engine, report)
    if report.by_failures:  # the campaign did not run to its end: a script must not take it for success
        raise typer.Exit(1)
    if report.done and report.n_observed == 0 and report.n_failed:  # ended, and not one result to show for it
        from .engine import _failure_reasons

        failed = [e for e in engine.store.experiments(engine.id) if e.status in ("failed", "timed_out")]
        err_console.print(Text("error ", style="red") + Text(
            f"campaign {spec.name}: none of its {report.n_failed} experiment(s) succeeded; reasons: "
            f"{_failure_reasons(failed)}"), soft_wrap=True)
        raise typer.Exit(1)


def _summary(engine, report) -> None:
    from collections import Counter

    from .engine import same_value_note
    from .store import UNCOUNTED

    spec = engine.spec
    exps = engine.store.experiments(engine.id)
    best = engine.best_experiment(exps)
    table = Table(title=f"campaign {spec.name}: {report.status}" + (f" ({report.message})" if report.message else ""),
                  show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    ended = [e for e in exps if e.status in ("succeeded", "failed", "timed_out")]
    uncounted = Counter(e.status for e in exps if e.status in UNCOUNTED)  # shown, or 6 of a budget of 4 puzzles
    aside = "".join(f", {n} {status}" for status, n in sorted(uncounted.items()))
    table.add_row("experiments", f"{len(exps)} ({report.n_observed} succeeded, {report.n_failed} failed, "
                                 f"{report.in_flight} in flight{aside}) of a budget of "
                                 f"{max(spec.budget.max_experiments, engine.store.control(engine.id).budget or 0)}")
    if best is not None:
        order = ended.index(best) + 1 if best in ended else best.seq + 1
        unit = f" {spec.objective.unit}" if spec.objective.unit else ""
        table.add_row(f"best {spec.objective.name}", f"{best.value:.6g}{unit} ({spec.objective.goal}; measured)")
        pred = engine.predicted_best(exps)
        if pred:
            from .predicted import describe

            at = "the same point" if pred["params"] == best.params else \
                ", ".join(f"{k}={_fmt_param(v)}" for k, v in pred["params"].items())
            table.add_row("predicted best", f"{describe(pred, unit=spec.objective.unit)} at {at} (model mean ± sd "
                                            f"of {pred['n']} points; measured there {pred['measured']:.6g})")
        units = {p.name: p.unit for p in spec.space.parameters or [] if getattr(p, "unit", None)}
        table.add_row("best params", ", ".join(f"{k}={_fmt_param(v)}" + (f" {units[k]}" if k in units else "")
                                               for k, v in best.params.items()))
        table.add_row("found at", f"experiment {order} of {len(ended)} (id {best.id})")
        rank = getattr(engine.oracle, "rank", None)
        if callable(rank):
            r, n = rank(best.value, spec.objective.goal, spec.objective.target_value)
            table.add_row("rank in pool", f"{r} of {n} (top {100.0 * r / n:.3g}%)")
    _wide_console().print(table)
    same = same_value_note(spec.name, spec.objective.name, exps,  # a model learns nothing: most likely a wrong setup
                           spec.objective.target_value)
    if same:
        _note(same)


def _fmt_param(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# ----------------------------------------------------------------------------- daemon


@app.command()
def daemon(
    directory: str = typer.Argument(..., help="folder of campaign YAML files (new, changed and removed files "
                                               "are picked up while it runs)"),
    store: Optional[str] = StoreOpt,
    workers: int = typer.Option(2, parser=INT, help="campaigns stepped at the same time (threads)"),
    interval: float = typer.Option(1.0, parser=FLOAT,
        help="seconds between two ticks of one campaign (each tick polls, records "
             "and proposes)"),
    rescan: float = typer.Option(5.0, parser=FLOAT, help="seconds between two scans of the folder"),
    exit_when_done: bool = typer.Option(False, "--exit-when-done",
                                        help="exit once every campaign has ended (default: keep watching)"),
    log_file: Optional[Path] = typer.Option(None, help="also write the log lines to this file"),
    plugins: str = typer.Option("any", help="any: a campaign's kind may be an import path package.module:Class "
                                            "(its code runs in the daemon); installed-only: refuse such files, "
                                            "run only plugins installed as packages"),
) -> None:
    """Run every campaign in a folder at once, until stopped (Ctrl-C or SIGTERM); safe to kill and restart."""
    import signal

    from .daemon import Daemon

    if not directory.strip():  # Path("") is the current folder, which the user did not name (fuzz round 17)
        _fail(LooplabError("DIR: is empty; give the folder of campaign files (. for the current one)"))
    directory = Path(directory)
    if directory.is_dir() and not os.access(directory, os.R_OK | os.X_OK):  # a Path argument said so before
        _fail(LooplabError(f"DIR: '{directory}' cannot be read (permission denied); make it readable (chmod u+rx) "
                           "or run the daemon as its owner"))
    _check_options(workers=(workers, 1, True),
                   interval=(interval, 0, False, DAY,
                             "a campaign ticked less often than daily leaves results unrecorded for days"),
                   rescan=(rescan, 0, False, DAY,
                           "a folder scanned less often than daily misses new campaign files for days"))
    db = _sqlite_file(store)  # checked before the log handlers are added: _fail exits
    if db is not None and db.suffix.lower() in (".yaml", ".yml") and directory.is_dir() \
            and os.path.realpath(db.parent) == os.path.realpath(directory):
        _fail(LooplabError(f"--store: '{db}' is in the daemon's folder and ends in {db.suffix}, so the daemon would "
                           "read its own database as a campaign file; give the store another name (runs.db) or "
                           "another folder"))
    # one plain line per event (a daemon's output is read in log files and journals, not only terminals)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        _not_the_store(log_file, store)
        from .daemon import LOCK_NAME

        if os.path.realpath(log_file) == os.path.realpath(directory / LOCK_NAME):  # a second daemon read it as a pid
            _fail(LooplabError(f"--log-file: '{log_file}' is the daemon's lock file of {directory}; choose a .log "
                               "path"))
        handlers.append(_log_file(log_file))
    for h in handlers:
        h.setFormatter(fmt)
    root = logging.getLogger("looplab")
    for h in handlers:
        h.setLevel(logging.INFO)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    d = None
    new_file = _new_sqlite_file(store)
    try:
        d = Daemon(directory, lambda: _store(store), interval=interval, workers=workers, rescan=rescan,
                   exit_when_done=exit_when_done, plugins=plugins)
        signal.signal(signal.SIGTERM, lambda *_: d.stopping.set())
        d.start()
        try:
            d.wait()
        except KeyboardInterrupt:
            pass
    except LooplabError as exc:
        if d is not None:  # refused at the start (its folder's lock): the store it created is removed again
            d.stop()
            _remove_if_empty(d.store, new_file)
            d = None
        _fail(exc)
        return
    finally:
        if d is not None:
            d.stop()
        for h in handlers:
            root.removeHandler(h)
    if d.store_gone is not None:  # not "every result is in the store": the store is gone
        _error_line(f"the store's file {d.store_gone} was removed while the daemon ran, with everything written to "
                    "it; the daemon stopped. Start it again with a store that exists (the campaigns start anew)")
        raise typer.Exit(1)
    if d.folder_gone is not None:  # its campaigns were paused for it: not "every campaign has ended"
        _error_line(f"the daemon's folder {d.directory} could not be read when it stopped ({d.folder_gone}); its "
                    "campaigns are paused, with every result in the store: put the folder back and start the daemon "
                    "again to resume them")
        raise typer.Exit(1)
    table = Table(title="daemon stopped: every result so far is in the store; start it again to resume",
                  title_justify="left")
    for col in ("campaign", "state", "experiments", "file"):
        table.add_column(col)
    notes = []
    for r in d.summary():
        c = r["counts"]
        exps = (f"{sum(c.values())} ({c.get('succeeded', 0)} ok, "
                f"{c.get('failed', 0) + c.get('timed_out', 0)} failed)") if c else "-"
        state = "unfinished" if r["state"] == "running" else r["state"]  # the daemon stopped midway
        table.add_row(r["campaign"] or "-", state, exps, r["file"])
        if r["message"]:
            notes.append(f"{r['file']}: {r['message']}")
    _wide_console().print(table)
    for note in notes:
        console.print(note, soft_wrap=True)
    rows = d.summary()  # read before an empty store is removed below
    invalid = [r["file"] for r in rows if r["state"] == "invalid"]
    waiting = [r["file"] for r in rows if r["state"] == "waiting"]
    if exit_when_done:  # nothing ran (no campaign file, or none valid): the store created at the start is removed
        _remove_if_empty(d.store, new_file)
    if exit_when_done and waiting and not invalid:  # ended waiting for a source no campaign here fills
        _error_line(f"{len(waiting)} campaign file(s) never started: they wait for a source campaign that no "
                    f"campaign of this daemon runs ({', '.join(waiting[:3])}{', ...' if len(waiting) > 3 else ''}; "
                    "the reasons are above): run their sources first, or fix the source names")
        raise typer.Exit(2)
    if exit_when_done and invalid:  # a script must see that some files did not run
        by_cause: dict[str, list[str]] = {}  # validate does not read the store: "looplab validate" fits only
        for r in rows:  # the files it refuses (fuzz round nineteen)
            if r["state"] == "invalid":
                by_cause.setdefault(r.get("refused") or "file", []).append(r["file"])
        for cause, files in by_cause.items():
            n, names = len(files), f"{', '.join(files[:3])}{', ...' if len(files) > 3 else ''}"
            if cause == "file":
                _error_line(f"{n} campaign file(s) were invalid and did not run ({names}): fix them (looplab "
                            "validate) and start the daemon again")
            elif cause == "store":
                _error_line(f"{n} campaign file(s) did not run ({names}): they differ from the campaign of the same "
                            "name in the store (the fields are above); restore what changed, give the campaign "
                            "another name, or use another --store")
            elif cause == "name":
                _error_line(f"{n} campaign file(s) did not run ({names}): they name a campaign another file of the "
                            "folder runs; give each file its own campaign name")
            else:
                _error_line(f"{n} campaign file(s) did not run ({names}); the reasons are above")
        raise typer.Exit(2)
    failed = [r["file"] for r in rows if r["failed"]]
    if exit_when_done and failed:  # as `looplab run` exits 1: a script must not take them for successes
        _error_line(f"{len(failed)} campaign(s) ended on their failures ({', '.join(failed[:3])}"
                    f"{', ...' if len(failed) > 3 else ''}; the reasons are above): see looplab status NAME")
        raise typer.Exit(1)
    if not table.row_count:
        from .daemon import CAMPAIGN_FILES

        console.print(f"no campaign file ({CAMPAIGN_FILES}) in {d.directory}: is it the right folder?",
                      soft_wrap=True)


# ----------------------------------------------------------------------------- status / export


def _lease_text(lease: dict | None) -> str:
    """Who runs a campaign now, from its lease: a live `looplab run`/daemon, or one that is gone."""
    if lease is None:
        return "-"
    who = f"pid {lease['pid']} on {lease['host']}"
    if lease["lapsed"]:  # its pid has exited (same host), or it has not renewed within the TTL
        return f"nobody: {who} last seen {lease['age']:.0f} s ago has lapsed; the next run takes over"
    return f"{who}, seen {lease['age']:.0f} s ago"


def _wide_console() -> Console:
    """The console for tables: piped into a file or another program (not a terminal, no $COLUMNS), rich
    would cut every table to 80 columns; there, tables take the width their contents need."""
    import os

    if (console.is_terminal or os.environ.get("COLUMNS")) and console.width >= 60:
        return console
    # a terminal (or $COLUMNS) narrower than 60: rich would cut every cell to "…"; wrapped lines lose nothing
    return Console(highlight=False, markup=False, width=1000 if not console.is_terminal else 100)


@app.command()
def status(name: Optional[str] = typer.Argument(None, help="campaign name (all campaigns if omitted)"),
           store: Optional[str] = StoreOpt) -> None:
    """Show campaigns in the store (or one campaign's recent experiments), and what waits for whom."""
    from . import control

    try:
        st = _existing_store(store)
        from .store import check_spec

        if name is not None and not name.strip():
            raise LooplabError("NAME: is empty; give a campaign's name, or leave NAME out to list them all")
        rows = [_campaign_or_fail(st, name)] if name else [check_spec(c) for c in st.list_campaigns()]
    except LooplabError as exc:
        _fail(exc)
        return
    if not rows:
        console.print(f"no campaigns in {st.display_url}")
        return
    out = _wide_console()
    table = Table(title=f"campaigns in {st.display_url}", title_justify="left")
    for col in ("name", "status", "done/budget", "failed", "in flight", "best", "predicted best", "run by",
                "waiting for",
                "updated (UTC)"):
        table.add_column(col)
    from .engine import same_value_note

    same_notes = []  # campaigns whose results are all one value: they learn nothing, most likely a wrong setup
    for c in rows:
        exps = st.experiments(c.id)
        same_notes.append(same_value_note(c.name, c.spec["objective"].get("name", "the objective"), exps,
                                          c.spec["objective"].get("target_value")))
        goal = c.spec["objective"]["goal"]
        target = c.spec["objective"].get("target_value")
        ok = [e for e in exps if e.status == "succeeded" and e.value is not None]
        key = {"max": lambda e: e.value, "min": lambda e: -e.value}.get(goal, lambda e: -abs(e.value - target))
        best = max(ok, key=key) if ok else None
        lease = st.lease(c.id)
        wish = st.control(c.id)  # pause / stop / a raised budget (looplab pause, stop, extend)
        finished = [e for e in exps if e.status in ("succeeded", "failed", "timed_out")]
        free = [] if (c.spec.get("initial") or {}).get("count_in_budget") else \
            [e for e in finished if e.source == "imported"]  # earlier data that does not use up the budget
        table.add_row(c.name, control.state_text(st, c, lease, wish),
                      f"{len(finished) - len(free)}/{control.budget_of(st, c, wish)}"
                      + (f" (+{len(free)} imported)" if free else ""),
                      str(sum(e.status in ("failed", "timed_out") for e in exps)),
                      str(sum(e.status in ("proposed", "submitted", "running") for e in exps)),
                      "-" if best is None else f"{best.value:.6g}{_unit(c.spec)}", _predicted_text(st, c),
                      _lease_text(lease), control.waits_text(c, exps, wish),
                      f"{c.updated_at:%Y-%m-%d %H:%M:%S}")
    out.print(table)
    for same in filter(None, same_notes):
        _note(same)
    learned = [(c.name, st.constants(c.id)) for c in rows]
    learned = [(n, k) for n, k in learned if k]
    if learned:  # models that learn physical constants (pinn, physics-gp) record them with every fit
        t = Table(title="learned constants (mean ± sd, latest fit)", title_justify="left")
        for col in ("campaign", "constant", "value", "sd", "relative sd", "after experiments", "fits"):
            t.add_column(col)
        pinned = []
        for cname, history in learned:
            last = history[-1]
            for k, (m, sd) in last["constants"].items():
                edge = last.get("at_bound", {}).get(k)
                side, value = edge.split() if edge else ("", "")
                where = "lower" if side == "low" else "upper"
                t.add_row(cname, k, f"{m:.6g}" + (f" (at its {where} bound)" if edge else ""), f"{sd:.3g}",
                          f"{100 * sd / abs(m):.2f}%" if m else "-", str(last["n_observations"]), str(len(history)))
                if edge:
                    pinned.append(f"campaign {cname}: the learned {k} sits at its {where} bound "
                                  f"(model.params.constants.{k}.{side} = {value}): the data may want a value beyond "
                                  "it, so it is the bound's, not a measurement; widen the bound if that is "
                                  "physically possible")
        out.print(t)
        for line in pinned:
            _note(line)
    if name:
        exps = st.experiments(rows[0].id)[-15:]
        t = Table(title="latest experiments", title_justify="left")
        for col in ("#", "id", "status", "params", "value", "error"):
            t.add_column(col, overflow="fold")
        for e in exps:
            t.add_row(str(e.seq + 1), e.id, e.status, ", ".join(f"{k}={_fmt_param(v)}" for k, v in e.params.items()),
                      "" if e.value is None else f"{e.value:.6g}", e.error or "")
        out.print(t)
        waiting = st.experiments(rows[0].id, ["awaiting_approval"])
        if waiting:  # the approval gate: every one, not only the latest
            edited = {r["experiment_id"] for r in st.reviews(rows[0].id) if r["action"] == "edited"}
            t = Table(title="awaiting approval (looplab approve | reject | edit)", title_justify="left")
            for col in ("id", "params", "edited"):
                t.add_column(col, overflow="fold")
            for e in waiting:
                t.add_row(e.id, ", ".join(f"{k}={_fmt_param(v)}" for k, v in e.params.items()),
                          "yes" if e.id in edited else "")
            out.print(t)


def _unit(spec: dict) -> str:
    unit = (spec.get("objective") or {}).get("unit")
    return f" {unit}" if unit else ""


def _predicted_text(st, c) -> str:
    """The model's predicted best as recorded with the campaign's latest fit (no refit: status stays fast)."""
    from .predicted import describe

    pred = st.latest_prediction(c.id)
    return describe(pred, unit=(c.spec.get("objective") or {}).get("unit"), with_n=True) if pred else "-"


EXPORT_FIELDS = ["seq", "id", "step", "position", "status", "value", "error", "attempt", "retry_of", "source",
                 "job_id", "created_at", "submitted_at", "finished_at"]


@app.command()
def export(name: str = typer.Argument(..., help="campaign name"),
           format: Optional[str] = typer.Option(None, "--format", "-f", help="csv or json [default: the --out "
                                                                           "file's suffix, else csv]"),
           out: Optional[Path] = typer.Option(None, "--out", "-o", help="file to write ('-' or none: standard "
                                                                        "output)"),
           store: Optional[str] = StoreOpt) -> None:
    """Export every experiment of a campaign, in order, with params, result, status and timestamps."""
    if format is not None and format not in ("csv", "json"):
        _fail(LooplabError(f"--format: expected csv or json (got '{format}')"))
    out = None if out is not None and str(out) == "-" else out
    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    if format is None:
        format = "json" if suffix == "json" else "csv"
    elif suffix in ("csv", "json") and suffix != format:  # a .json file of CSV text (or the reverse)
        _fail(LooplabError(f"--out: '{out}' ends in .{suffix} but --format is {format}; give --format {suffix}, "
                           f"or a file ending in .{format}"))
    target = None if out is None else _output_file("--out", out, ours=('{', 'seq,') if format == "json" else ('seq,',))
    try:
        st = _existing_store(store)
        row = _campaign_or_fail(st, name)
        if target is not None:
            _not_a_data_file("--out", target, st, row)
        exps = st.experiments(row.id)
        # learned physical constants (pinn, physics-gp): those of the fit that proposed each experiment
        learned = st.constants(row.id)
    except LooplabError as exc:
        _fail(exc)
        return
    # one column per input of the campaign's space (its stored spec), so a campaign with no experiment yet has
    # the same header as one with some (fuzz F12); then any other key an experiment's params have
    space = row.spec.get("space") or {}
    inputs = (space.get("pool") or {}).get("inputs") or [p.get("name") for p in space.get("parameters") or []
                                                         if isinstance(p, dict)]
    param_names = list(dict.fromkeys([*(str(n) for n in inputs), *(k for e in exps for k in e.params)]))
    by_step = {h["step"]: h["constants"] for h in learned}
    const_names = list(dict.fromkeys(k for h in learned for k in h["constants"]))
    const_cols = [f"{k}_{what}" for k in const_names for what in ("mean", "sd")]
    records = []
    for e in exps:
        rec = {f: getattr(e, f) for f in EXPORT_FIELDS}
        got = by_step.get(e.step, {})
        for k in const_names:
            rec[f"{k}_mean"], rec[f"{k}_sd"] = got.get(k, (None, None))
        for f in ("created_at", "submitted_at", "finished_at"):
            rec[f] = rec[f].isoformat() + "Z" if rec[f] else None
        rec["params"] = e.params
        rec["outputs"] = e.outputs
        records.append(rec)
    if format == "json":
        doc = {"campaign": row.name, "objective": row.spec["objective"], "experiments": records}
        if learned:
            doc["constants"] = learned
        text = json.dumps(doc, indent=2)
    else:
        text = _export_csv(records, param_names, const_cols, row.spec["objective"].get("name", "value"))
    if target is None:
        _write_stdout(text if text.endswith("\n") else text + "\n")
    else:
        tmp = target.with_name(f".{target.name}.tmp")
        try:  # whole or not at all: a full disk left a truncated CSV where the earlier export was
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:  # no such folder, or a file where one should be: nothing was written
                pass
            _fail(LooplabError(f"--out: cannot write '{out}' ({exc.strerror or exc}); choose another path"))
        console.print(f"wrote {len(records)} experiments to {out}")


def _write_stdout(text: str) -> None:
    """Write to the standard output; a full disk or a closed pipe is one error line (exit 2), not a traceback
    (and not a second one when Python flushes the output at exit)."""
    try:
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:  # data: UTF-8 whatever the terminal's encoding (an ASCII one escaped the levels)
            sys.stdout.flush()
            buffer.write(text.encode("utf-8", "backslashreplace"))
            buffer.flush()
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    except OSError as exc:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is left unwritten goes nowhere
        except (OSError, ValueError):
            pass
        _fail(LooplabError(f"standard output: cannot write ({exc.strerror or exc}); free some space or use "
                           "--out FILE"))


def _free(name: str, prefix: str, taken: set) -> str:
    """``name``, prefixed again until no column has it yet; then taken."""
    while name in taken:
        name = prefix + name
    taken.add(name)
    return name


def _export_csv(records: list[dict], param_names: list[str], const_cols: list[str], objective: str) -> str:
    """One row per experiment: the bookkeeping fields, one column per parameter (``param_NAME`` when NAME is a
    bookkeeping field), the objective under its own name (``value`` if that name is already a column), then
    one column per output the oracle reported (``output_NAME`` when NAME is already a column; lists and
    mappings as JSON), then learned constants."""
    head, tail = EXPORT_FIELDS[:5], EXPORT_FIELDS[6:]
    # an input named like a bookkeeping column (a pool column 'status' or 'step') gets the prefix param_
    # (param_param_step when another input is called param_step: no two columns share a name)
    taken = set(EXPORT_FIELDS) | set(param_names) | set(const_cols)
    param_cols = [_free(f"param_{p}", "param_", taken) if p in EXPORT_FIELDS else p for p in param_names]
    value_col = "value" if objective in taken - {"value"} else objective  # 'value' is no input's column
    taken.add(value_col)
    output_names = list(dict.fromkeys(k for rec in records for k in (rec["outputs"] or {})))
    earlier = set(head + param_cols + [value_col] + tail + const_cols)
    taken |= set(output_names)
    output_cols = [_free(f"output_{k}", "output_", taken) if k in earlier else k for k in output_names]

    def cell(v):
        if v is None:
            return ""
        return json.dumps(v) if isinstance(v, (dict, list)) else v

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head + param_cols + [value_col] + tail + output_cols + const_cols)
    for rec in records:
        outputs = rec["outputs"] or {}
        w.writerow([rec[f] for f in head] + [rec["params"].get(p) for p in param_names] + [cell(rec["value"])]
                   + [cell(rec[f]) for f in tail] + [cell(outputs.get(k)) for k in output_names]
                   + [cell(rec[f]) for f in const_cols])
    return buf.getvalue()


def _output_folder(out: Optional[str], what: str, default: str) -> None:
    """--out of a command that writes a folder of files (report, benchmark): not empty (an unset shell
    variable would write into the current folder), not '-' (there is no one stream to write), and, if it
    exists, a folder this user can write (a benchmark would find out only after hours of runs)."""
    if out is None:
        return
    if not out.strip():
        _fail(LooplabError(f"--out: is empty; give the folder to write {what} into (default: {default})"))
    if out == "-":
        _fail(LooplabError(f"--out: '-' is not a folder; this command writes {what}, not one stream: give a folder"))
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        _fail(LooplabError(f"--out: '{out}' exists and is not a folder; give a folder"))
    if path.is_dir():  # tried, not asked (os.access): root may not write into an immutable or read-only folder
        import tempfile

        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".looplab-write-check-"):
                pass
        except OSError as exc:
            _fail(LooplabError(f"--out: the folder '{out}' cannot be written ({exc.strerror or exc}); give another "
                               "folder"))


@app.command()
def report(name: str = typer.Argument(..., help="campaign name"),
           store: Optional[str] = StoreOpt,
           out: Optional[str] = typer.Option(None, "--out", "-o", help="folder to write into [default: runs/report/NAME/]")) -> None:
    """Write a campaign report: PNG plots and one self-contained HTML page; prints the page's path."""
    from .report import write_report  # matplotlib/TensorFlow load inside, when needed

    _output_folder(out, "an HTML page and its PNG plots", "runs/report/NAME/")
    try:
        st = _existing_store(store)
        row = _campaign_or_fail(st, name)
        result = write_report(st, row, Path(out) if out is not None else Path("runs") / "report" / name)
    except LooplabError as exc:
        _fail(exc)
        return
    for note in result.notes:
        _note(note)
    print(result.html)


@app.command("plugins")
def list_plugins() -> None:
    """List installed oracles, models and acquisition functions."""
    from .plugins import all_installed

    table = Table(title="installed plugins", title_justify="left")
    for col in ("group", "kind", "source"):
        table.add_column(col, no_wrap=True)  # names are what a user types or installs: never cut them short
    table.add_column("description")
    for info in all_installed():
        table.add_row(info.role, info.kind, info.source, info.description())
    _wide_console().print(table)


# ----------------------------------------------------------------------------- benchmark


@app.command()
def benchmark(
    file: Path = typer.Argument(..., help="campaign YAML file: its goal, model and acquisition (and its pool "
                                          "unless --dataset is given)"),
    dataset: Optional[Path] = typer.Option(None, help="CSV pool: every column but the last is an input, the "
                                                      "last is the objective"),
    seeds: int = typer.Option(10, parser=INT, help="runs per strategy (seeds 0..N-1, the same for every strategy)"),
    first_seed: int = typer.Option(0, parser=INT,
        help="start the seeds here: K..K+N-1 (fresh seeds, to check that a choice "
             "made on seeds 0..N-1 holds)"),
    budget: int = typer.Option(50, parser=INT, help="experiments per run, the initial ones included"),
    strategies: Optional[str] = typer.Option(None, help="comma list of model:acquisition:batch, e.g. "
                                                        "gp:ei:1,random-forest:ei:1,gp:ucb(beta=4):1 (default: "
                                                        "the campaign's own); random search is always added"),
    out: Optional[str] = typer.Option(None, help="output folder (default: runs/benchmark/NAME-DATASET)"),
    workers: int = typer.Option(2, parser=INT, help="parallel processes"),
    initial: int = typer.Option(2, parser=INT,
        help="random initial experiments per run (0: none; a transfer model proposes "
             "the first batch from its sources, other models draw it at random)"),
    transfer_fraction: Optional[str] = typer.Option(
        None, help="transfer models: comma list of fractions of the source rows each seed knows (drawn at random "
                   "per seed), e.g. 0.01,0.05,0.1,0.2; runs the base model without transfer on the same seeds"),
    reach: Optional[float] = typer.Option(None, parser=FLOAT,
        help="with --transfer-fraction: the objective value whose "
             "experiments-to-reach are reported (default: the pool's top 1%)"),
    permute_source: bool = typer.Option(False, "--permute-source",
                                        help="with --transfer-fraction: permute the known source rows' objective "
                                             "across rows (a misleading source: the negative-transfer check)"),
) -> None:
    """Measure a pool campaign over many seeds against random search (Top%, EF, AF; JSON and plots)."""
    from .benchmark import run_command

    _output_folder(out, "benchmark.json and its plots", "runs/benchmark/NAME-DATASET/")
    try:
        run_command(file, dataset=dataset, seeds=seeds, budget=budget, strategies=strategies,
                    out=None if out is None else Path(out),
                    workers=workers, initial=initial, console=console, first_seed=first_seed,
                    transfer_fraction=transfer_fraction, reach=reach, permute_source=permute_source)
    except LooplabError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing was written")
        raise typer.Exit(130)


# ----------------------------------------------------------------------------- mock robot

mock_robot_app = typer.Typer(no_args_is_help=True, help="The mock lab robot: a simulated instrument behind an HTTP API.")
app.add_typer(mock_robot_app, name="mock-robot")


@mock_robot_app.command("serve")
def mock_robot_serve(
    port: int = typer.Option(8765, parser=INT, help="TCP port (0: any free port)"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback by default; the API has no auth)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c",
                                          help="robot config YAML (default: Branin on 2 stations, real-time clock)"),
    db: Optional[Path] = typer.Option(None, help="SQLite file of the robot's jobs (default: the config's db, "
                                                 "else ./mock-robot.db)"),
) -> None:
    """Run the mock robot until interrupted; prints where it listens and where its API docs are."""
    import signal

    from oracles.robot.config import RobotConfigError
    from oracles.robot.server import serve

    class Terminated(Exception):
        pass

    def on_sigterm(*_) -> None:
        raise Terminated

    # uvicorn shuts down gracefully on SIGTERM (running requests finish, the jobs' database is closed), then
    # raises the signal again with the handler it found: this one, so the robot exits 0 instead of dying of it
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        serve(config_path=config, host=host, port=port, db=db)
    except Terminated:
        err_console.print("mock robot stopped (SIGTERM); its jobs are kept in its database")
    except RobotConfigError as exc:
        for line in exc.lines:
            _error_line(line)
        raise typer.Exit(2)
    except KeyboardInterrupt:
        raise typer.Exit(130)


from . import cli_control  # noqa: E402,F401  (registers approve, reject, edit, pause, resume, stop, extend)
from . import cli_manual  # noqa: E402,F401  (registers ask, tell and import: people in the loop)


def _sane_streams() -> None:
    """Standard streams that never stop a command: a closed one (``>&-``) writes nowhere, and text that the
    stream's encoding cannot show (PYTHONIOENCODING=ascii, a C locale) is written escaped, not raised."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w"))
        elif hasattr(stream, "reconfigure") and (stream.encoding or "").lower().replace("-", "") != "utf8":
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def _store_trouble(exc: BaseException) -> Optional[str]:
    """What a database error raised past a command means for its user, or None if it is not one."""
    from .store import driver_message

    text = driver_message(exc)
    if text is None:
        return None
    low = text.lower()
    if "locked" in low:
        why = ("another program holds the SQLite file's write lock (a database browser with unsaved changes, a "
               "backup tool?); close it and run the command again")
    elif "disk" in low or "full" in low or "i/o" in low:
        why = "the disk is full or failing, or the file cannot grow (a quota?); free space and run the command again"
    elif "readonly" in low or "read-only" in low or "read only" in low or "permission" in low:
        why = "the store cannot be written by this user; give a writable --store"
    else:
        why = "the database server is unreachable or refused the query; once it is back, run the command again"
    return (f"the store failed mid-command ({text}): {why}. What was recorded before stays recorded; a campaign "
            "resumes where it stopped")


def main() -> None:
    _sane_streams()
    try:
        _guarded()
    except SystemExit as done:
        _leave_threads(done.code)
        raise
    _leave_threads(0)  # click ends with SystemExit; this in case a command returns


def _leave_threads(code: object, wait: float = 5.0) -> None:
    """Exit without waiting for ever on threads a plugin left running. Python waits at exit for every thread
    not started with daemon=True: a plugin's forgotten worker thread kept `looplab run` from ever returning
    after the campaign was done (fuzz round ten). Such threads get ``wait`` seconds to end; then the command
    says so and exits at once with its own exit code (the store is closed by then: nothing is lost)."""
    deadline = time.monotonic() + wait
    for thread in _lingering():
        thread.join(max(0.0, deadline - time.monotonic()))
    left = _lingering()
    if not left:
        return
    names = ", ".join(f"'{t.name}'" for t in left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    _note(f"a plugin left {len(left)} thread(s) running ({names}), not started with daemon=True; looplab does "
          "not wait for them and exits (start a plugin's threads with daemon=True, or stop them in its close())")
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def _lingering() -> list[threading.Thread]:
    """Threads Python would wait for at exit: not daemons, and not the workers of a concurrent.futures pool
    (the GP's own, or a plugin's), which Python's exit tells to stop and which end once their task is done."""
    from concurrent.futures import thread as pool

    workers = getattr(pool, "_threads_queues", {})  # the live pool workers (a private table; none if renamed)
    return [t for t in threading.enumerate() if t.is_alive() and not t.daemon and t is not threading.main_thread()
            and t not in workers]


def _guarded() -> None:
    try:
        app()
    except LooplabError as exc:  # pragma: no cover - commands catch their own
        _error_line(str(exc))
        sys.exit(2)
    except OSError as exc:
        if exc.errno == errno.ENOENT and _cwd_gone():
            _error_line("the current folder no longer exists (removed while the shell stood in it): cd to an "
                        "existing folder and run the command again")
            sys.exit(2)
        if exc.errno != errno.ENAMETOOLONG:
            _unexpected(exc)
        # any path a command is given (a campaign file, --store, --out, --csv, --log-file, a folder): Python's
        # Path.exists() and is_file() raise on a name over the file system's limit instead of saying False
        name = str(exc.filename or "a path")
        shown = name if len(name) <= 80 else name[:60] + "..." + name[-12:]
        if exc.filename and all(len(os.fsencode(part)) <= 255 for part in name.split("/")):  # the whole is too long
            _error_line(f"'{shown}': path too long ({len(os.fsencode(name))} bytes; a whole path is at most 4095 "
                        "bytes on this system); choose a shorter path")
        else:
            _error_line(f"'{shown}': file name too long (each name in a path is at most 255 bytes on most file "
                        "systems); choose a shorter name")
        sys.exit(2)
    except Exception as exc:  # the last guard: one line and a saved traceback, never a bare one
        _unexpected(exc)


def _cwd_gone() -> bool:
    try:
        os.getcwd()
        return False
    except OSError:
        return True


def _unexpected(exc: BaseException) -> None:
    """An error no command caught: the store's trouble said plainly (exit 1), anything else one line with the
    traceback saved to a file for a bug report (exit 1). LOOPLAB_TRACEBACK=1 raises it instead."""
    if os.environ.get("LOOPLAB_TRACEBACK"):
        raise exc
    said = _store_trouble(exc)
    if said is not None:
        _error_line(said)
        sys.exit(1)
    import tempfile
    import traceback

    where = "(it could not be saved)"
    try:
        fd, path = tempfile.mkstemp(prefix="looplab-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(" ".join(sys.argv) + "\n\n" + "".join(traceback.format_exception(exc)))
        where = path
    except OSError:
        pass
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    _error_line(f"unexpected {type(exc).__name__}: {first} (a looplab bug or an unforeseen condition; the "
                f"traceback is in {where}: please report it). What was recorded before stays recorded.")
    sys.exit(1)
