"""The commands for people in the loop: ``looplab ask``, ``looplab tell`` and ``looplab import``.

``ask FILE|NAME`` prints the batch waiting for a person (and writes it to ``--csv``, a worksheet with ``id``,
one column per input and an empty column for the objective to fill in). The first time, from a FILE, it
creates the campaign; while experiments still wait for results it prints those again instead of proposing
more; once all are told it proposes the next batch (an engine step: see orchestrator/api.py).

``tell NAME ID VALUE`` or ``tell NAME --csv results.csv`` records results (columns ``id`` and the
objective's name or ``value``; a row whose value is empty is skipped, as not measured yet; other columns
that are not inputs are kept as outputs). The whole file is checked before anything is written, then
written in one transaction: a bad row (unknown id, an id of another campaign or already told, a duplicate
id in the file, a value that is not a finite number), a missing column or an empty file is one line naming
the line or column, exit code 2, and the store is unchanged. Results go straight to the store (a
conditional update of experiments still in flight, see ``Store.tell``), so they can be told while a daemon
runs the campaign: it reads them at its next tick.

``import NAME data.csv`` adds measurements made before (see orchestrator/earlier.py).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import sys
import time
import unicodedata
import warnings
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .cli import FLOAT, INT, StoreOpt, _campaign_or_fail, _check_options, _error_line, _existing_store, _fail, _file_url, \
    _fmt_param, _new_sqlite_file, _not_a_data_file, _note, _output_file, _remove_if_empty, _store, _wide_console, \
    _write_stdout, app, console, err_console
from .api import RecordedAfterEnd
from .errors import ConfigError, LeaseHeld, LooplabError, Problem


def _open(target: str, store: Optional[str], source_notes: bool = False):
    """The API Campaign of a campaign file (created in the store the first time) or of a stored name.
    ``source_notes``: for a stored name too, the notes a file's resume gives on a transfer model's sources (a
    source campaign's results newer than this campaign's start, which are not used); they read the sources."""
    from .api import Campaign

    path = Path(target)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        from .store import Store

        c = Campaign.open(path, Store(_file_url(store)) if store else None)
    else:
        from .report import rebuild_campaign

        st = _existing_store(store, write=True)  # ask, tell and import write: a read-only store is said now
        row = _campaign_or_fail(st, target)
        notes: list[str] = []
        campaign = rebuild_campaign(row, notes)
        from .engine import check_data_files

        try:  # a pool, source or physics plugin changed since the campaign started: refused, as by its file
            check_data_files(st, row, campaign)
        except LooplabError as exc:
            _fail(exc)
        if source_notes:
            from .engine import resumed_sources

            resumed_sources(st, row, campaign, notes)
        c = Campaign(campaign, st, row, notes)
    for note in c.notes:  # a stored setting this version refuses, replaced (stored_spec.py)
        _note(note)
    return c


WORKSHEET_STARTS = ("id,", '"id",')  # the first line of ask's worksheet, as written or resaved by a spreadsheet


def _untold_values(path: Path, column: str, waiting: set[str]) -> list[str]:
    """Ids of a worksheet's rows that hold a value in ``column`` for an experiment still waiting (typed in, not
    yet told); a file that is not such a worksheet has none."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error):
        return []
    return [r["id"] for r in rows if r.get("id") in waiting and str(r.get(column) or "").strip()]


def _worksheet(c, batch: list[dict], names: list[str], end: str = "\r\n") -> str:
    """The batch as a worksheet's text: id, the inputs, an empty objective column to fill in."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator=end)
    w.writerow(["id", *names, c.objective])
    for e in batch:
        w.writerow([e["id"], *(repr(v) if isinstance(v, float) else v for v in (e["params"].get(n) for n in names)),
                    ""])
    return out.getvalue()


def _show(c, batch: list[dict], title: str, csv_path: Optional[Path], store: Optional[str] = None) -> None:
    names = list(c.campaign.space.names)
    if csv_path is not None and str(csv_path) == "-":  # the worksheet alone on the standard output, as export's
        err_console.print(title, soft_wrap=True)
        _write_stdout(_worksheet(c, batch, names, end="\n"))
        return
    console.print(title, soft_wrap=True)
    table = Table()
    table.add_column("id", no_wrap=True)
    for n in names:
        table.add_column(n)
    for e in batch:
        table.add_row(e["id"], *(_fmt_param(e["params"].get(n)) for n in names))
    _wide_console().print(table)
    if csv_path is None:
        return
    csv_path = _output_file("--csv", csv_path, ours=WORKSHEET_STARTS)  # again: the store may have been created there
    _not_a_data_file("--csv", csv_path, c.store, c.row, c.campaign)
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            fh.write(_worksheet(c, batch, names))
        os.replace(tmp, csv_path)  # a reader never sees half a worksheet
    except OSError as exc:
        _fail(LooplabError(f"--csv: cannot write '{csv_path}' ({exc.strerror or exc}); choose another path"))
    console.print(f"wrote {len(batch)} experiment(s) to {csv_path}: fill in the '{c.objective}' column, then "
                  f"looplab tell {c.name} --csv {csv_path}" + (f" --store {c.store.display_url}" if store else ""),
                  soft_wrap=True)


@app.command()
def ask(
    target: str = typer.Argument(..., metavar="FILE|NAME",
                                 help="campaign YAML file (creates the campaign the first time) or campaign name"),
    n: Optional[int] = typer.Option(None, "--n", parser=INT, help="experiments to propose (default: the batch size)"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="also write the batch to this CSV worksheet "
                                                                "(id, one column per input, the objective); - "
                                                                "writes it alone to the standard output"),
    store: Optional[str] = StoreOpt,
    wait: float = typer.Option(10.0, parser=FLOAT, help="seconds to wait while another process holds the campaign"),
) -> None:
    """Print the experiments waiting for a person (proposing the next batch once all are told)."""
    _check_options(n=(n, 1, True), wait=(wait, 0, True))
    if csv_path is not None and str(csv_path) != "-":  # before anything is stored or proposed
        csv_path = _output_file("--csv", csv_path, ours=WORKSHEET_STARTS)
        if not csv_path.parent.is_dir():
            _fail(LooplabError(f"--csv: the folder '{csv_path.parent}' does not exist; create it or choose "
                               "another path"))
    new_file = _new_sqlite_file(store)
    # with --csv -, standard output holds the worksheet alone: what a plugin prints while the campaign opens and
    # proposes goes to standard error (fuzz round twenty: a physics plugin's print became the worksheet's first
    # line, and `tell --csv -` then read its header as one column)
    plugins_print = _stdout_to_stderr if str(csv_path) == "-" else contextlib.nullcontext
    try:
        with plugins_print():
            c = _open(target, store, source_notes=True)
        waiting = c.pending()
        if csv_path is not None and str(csv_path) != "-" and csv_path.exists():
            typed = _untold_values(csv_path, c.objective, {e["id"] for e in waiting})
            if typed:
                _fail(LooplabError(f"--csv: '{csv_path}' holds {len(typed)} measured '{c.objective}' value(s) not "
                                   f"yet told (e.g. {typed[0]}); writing would wipe them: looplab tell {c.name} "
                                   f"--csv {csv_path} first, or choose another path"))
        if waiting:
            _show(c, waiting, f"campaign {c.name}: {len(waiting)} experiment(s) still wait for results (tell them "
                              "first; no new ones are proposed until then)", csv_path, store)
            return
        try:
            with plugins_print():
                batch = c.ask(n, wait=wait, unless_waiting=True)
            waiting = [] if batch else c.pending()  # another `ask` proposed them meanwhile
        except LeaseHeld as exc:  # a daemon drives it: it proposes by itself, within a tick
            deadline = time.monotonic() + wait
            while not (waiting := c.pending()) and time.monotonic() < deadline:
                time.sleep(0.5)
            if not waiting:
                raise exc from None
        if waiting:
            _show(c, waiting, f"campaign {c.name}: {len(waiting)} experiment(s) wait for results", csv_path, store)
            return
    except LooplabError as exc:
        if isinstance(exc, ConfigError) and not exc.source and target.endswith((".yaml", ".yml")):
            exc.source = target  # a problem found when the campaign is created (its initial.data) names the file
        if new_file is not None and new_file.exists():  # refused before the campaign was stored
            _remove_if_empty(_store(store), new_file)
        _fail(exc)
        return
    from .store import AWAITING

    if not batch:
        row = c.store.get_campaign(c.name)
        held = [e.id for e in c.store.experiments(row.id) if e.status == AWAITING]
        if held and row.status not in ("completed", "stopped"):  # approval: required holds its batch for a person
            console.print(f"campaign {c.name}: {len(held)} experiment(s) await approval ({', '.join(held[:5])}"
                          f"{', ...' if len(held) > 5 else ''}): looplab approve {c.name} [IDS] (or reject, or edit), "
                          "then ask again", soft_wrap=True)
            return
        again = (f"; to go on: looplab resume {c.name}, then ask again" if row.status in ("paused", "stopped")
                 else "")  # fuzz round eighteen: a paused campaign did not say how to go on
        console.print(f"campaign {c.name} has nothing more to ask: {row.status}"
                      + (f" ({row.message})" if row.message else "") + again, soft_wrap=True)
        return
    ids = {b["id"] for b in batch}
    if any(e.status == AWAITING for e in c.store.experiments(c.row.id) if e.id in ids):
        # approval: required: proposed, but not to run yet (no worksheet: tell would refuse them)
        _show(c, batch, f"campaign {c.name}: {len(batch)} experiment(s) proposed, awaiting approval: looplab "
                        f"approve {c.name} [IDS] (or reject, or edit), then ask again for the worksheet", None, store)
        return
    note = getattr(c.campaign.plugin_configs.get("oracle"), "instructions", "")
    _show(c, batch, f"campaign {c.name}: {len(batch)} experiment(s) to run", csv_path, store)
    said = err_console if csv_path is not None and str(csv_path) == "-" else console  # stdout holds the CSV
    if n is not None and len(batch) != n:
        said.print(f"--n {n}: {len(batch)} proposed, {_why_not_n(c, batch, n)}", soft_wrap=True)
    if note:
        said.print(f"instructions: {note}", soft_wrap=True)


@contextlib.contextmanager
def _stdout_to_stderr():
    """While a plugin may run: Python's standard output, and the process's file descriptor 1 (a C extension's
    printf, ``sys.__stdout__``), go to standard error, so that ``ask --csv -`` writes the worksheet alone (the
    re-run of round twenty: os.write(1, ...) put a thousand lines into it)."""
    for stream in (sys.stdout, sys.__stdout__):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        fd, err = sys.__stdout__.fileno(), sys.__stderr__.fileno()
        saved = os.dup(fd)
    except (AttributeError, OSError, ValueError):  # no real descriptors (an embedding host): Python's stream only
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    os.dup2(err, fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(Exception):
            sys.__stdout__.flush()  # what a plugin left in its buffer belongs to standard error too
        os.dup2(saved, fd)
        os.close(saved)


def _why_not_n(c, batch: list[dict], n: int) -> str:
    """Why ``ask --n N`` proposed another number than N: the budget left, or a first ask's initial design."""
    from .engine import counted

    spec = c.campaign.spec
    exps = c.store.experiments(c.row.id)
    ids = {b["id"] for b in batch}
    if len(batch) > n or (ids and all(e.source == "initial" for e in exps if e.id in ids)):
        return (f"the campaign's initial design, proposed whole by the first ask (initial.n: {spec.initial.n}); "
                "--n applies from the next ask on")
    used = len(counted(exps, spec)) - len(batch)
    if used + len(batch) >= spec.budget.max_experiments:
        return (f"all that is left of the budget ({spec.budget.max_experiments} experiments, {used} already made or "
                f"waiting); raise it with looplab extend {c.name} --budget N")
    size = getattr(c.campaign.space, "size", None)
    if size is not None:
        return f"all the pool's candidates not yet used ({size} in the pool)"
    return "all the acquisition could place apart from the experiments already made (acquisition.min_distance)"


def _changed_input(row: dict, names: list[str], params: dict | None) -> tuple[str, str, str] | None:
    """The first of a worksheet row's input cells that differs from the stored params (name, cell, stored);
    an empty cell, or an id not in the store (Store.tell names it), is not compared."""
    from oracles.csvfile import parse_number

    for name in names if params is not None and names else ():
        cell, was = row[name], params.get(name)
        if cell == "" or was is None:
            continue
        x = parse_number(cell)
        if isinstance(was, (int, float)) and not isinstance(was, bool) and x is not None:
            same = abs(x - float(was)) <= 1e-6 * max(1.0, abs(x), abs(float(was)))  # a spreadsheet's rounding
        else:  # one text in either Unicode form (macOS tools write é as e + a combining accent)
            same = unicodedata.normalize("NFC", cell) == unicodedata.normalize("NFC", str(was))
        if not same:  # the stored value in full where its short form reads as the cell (49.47 for 49.470066;
            shown = _fmt_param(was)  # also when the cell is written 49.470, 4.947e1 or +49.47)
            alike = shown == cell or x is not None and parse_number(shown) == x
            return name, cell, repr(was) if alike else shown
    return None


def _number(text: str, where: str) -> float:
    from oracles.csvfile import number_hint, strict_float

    try:
        x = strict_float(text)
    except ValueError as exc:
        hint = number_hint(text, exc)
        raise LooplabError(f"{where}: '{text}' is not a number{f' ({hint})' if hint else ''}") from None
    if not math.isfinite(x):
        raise LooplabError(f"{where}: {text} is not a finite number; tell only measured values")
    from oracles.base import value_range_problem

    if value_range_problem(x):  # said here, naming VALUE (tell_results would name the id)
        raise LooplabError(f"{where}: {value_range_problem(x)}")
    return x


def _read_results_from_stdin(c) -> tuple[list, list[str], list[int]]:
    """tell --csv -: the worksheet from the standard input (ask --csv - > batch.csv, filled in, piped back),
    read whole into a file named 'stdin' in a folder of its own, so its messages say 'stdin, line N'."""
    import tempfile

    if sys.stdin is None or sys.stdin.isatty():
        raise LooplabError("--csv -: the standard input is a terminal; pipe the worksheet in (looplab tell NAME "
                           "--csv - < batch.csv) or give its file name")
    with tempfile.TemporaryDirectory(prefix="looplab-tell-") as folder:
        path = Path(folder) / "stdin"
        path.write_bytes(sys.stdin.buffer.read())
        return read_results(path, c)


def read_results(path: Path, c) -> tuple[list, list[str], list[int]]:
    """The results of a CSV: (Results, where each came from, lines skipped for an empty value). Every
    problem of the file at once, as a ConfigError naming lines and columns."""
    from oracles.base import Result
    from oracles.csvfile import CsvFileError, describe_columns, output_cell, parse_number, read_table

    from .earlier import objective_column

    try:
        header, records = read_table(path)
    except CsvFileError as exc:
        raise LooplabError(f"--csv: {exc}") from None
    column, problem = objective_column(header, c.objective)
    problems = []
    if "id" not in header:
        problems.append(Problem("--csv", f"{path.name} has no 'id' column ({describe_columns(header)}); use the "
                                         "worksheet `looplab ask --csv` wrote"))
    if problem:
        problems.append(Problem("--csv", f"{path.name} {problem}"))
    if problems:
        raise ConfigError(problems)
    if not records:
        raise LooplabError(f"--csv: {path.name} holds no rows under its header; one row per experiment")
    inputs = set(c.campaign.space.names)
    others = [h for h in header if h not in inputs and h not in ("id", column)]
    shown = [h for h in header if h in inputs]  # the worksheet's input columns: checked against the store
    stored = {e.id: e.params for e in c.store.experiments(c.row.id)} if shown else {}
    results, where, skipped, seen = [], [], [], {}
    for line, cells in records:
        row = dict(zip(header, cells))
        at = f"{path.name}, line {line}"
        eid, text = row["id"], row[column]
        if not eid:
            problems.append(Problem(at, "the id is empty"))
            continue
        if eid in seen:
            problems.append(Problem(at, f"id '{eid}' is also on line {seen[eid]}; tell each experiment once"))
            continue
        seen[eid] = line
        if text == "":
            skipped.append(line)
            continue
        try:
            value = _number(text, f"{at}: {column}")
        except LooplabError as exc:
            problems.append(Problem("", str(exc)))
            continue
        changed = _changed_input(row, shown, stored.get(eid))
        if changed:  # measured elsewhere than proposed: the value would be stored at the proposed params
            name, cell, was = changed
            problems.append(Problem(at, f"{name} is {cell} here but {was} in experiment {eid} as proposed; a "
                                        "result is recorded at the params it was proposed with: measure those, "
                                        "or record this one with looplab import (a new measurement) and leave "
                                        f"{eid} to tell later"))
            continue
        outputs = {}
        for h in others:
            outputs[h] = output_cell(row[h])
        results.append(Result(eid, "succeeded", value, outputs))
        where.append(at)
    if problems:
        raise ConfigError(problems)
    if not results:
        raise LooplabError(f"--csv: {path.name} has no value in its '{column}' column; fill in the measured "
                           "values first")
    return results, where, skipped


@app.command(context_settings={"ignore_unknown_options": True})  # tell ID -5: a negative value, not an option
def tell(
    name: str = typer.Argument(..., help="campaign name"),
    experiment_id: Optional[str] = typer.Argument(None, metavar="[ID]", help="the experiment's id (from ask)"),
    value: Optional[str] = typer.Argument(None, metavar="[VALUE]", help="its measured objective"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="a CSV of results instead: columns id and the "
                                                                "objective's name (or value); - reads it from "
                                                                "the standard input"),
    store: Optional[str] = StoreOpt,
) -> None:
    """Record measured results: one (ID VALUE) or a CSV of them; all or nothing."""
    from oracles.base import Result

    from .api import tell_results

    try:
        if csv_path is not None and (experiment_id is not None or value is not None):
            raise LooplabError("give either ID VALUE or --csv FILE, not both")
        if csv_path is None and (experiment_id is None or value is None):
            raise LooplabError("missing the result: give ID VALUE (e.g. looplab tell NAME NAME-0000-00 0.42) or "
                               "--csv results.csv")
        c = _open(name, store)
        skipped: list[int] = []
        if csv_path is None:
            results = [Result(experiment_id, "succeeded", _number(value, "VALUE"), {})]
            where = ["ID"]
        elif str(csv_path) == "-":
            results, where, skipped = _read_results_from_stdin(c)
        else:
            results, where, skipped = read_results(csv_path, c)
        tell_results(c.store, c.row, results, where=where)
    except LooplabError as exc:
        _fail(exc)
        return
    kind = c.campaign.spec.oracle.kind
    if kind != "manual":  # allowed (a robot's result read off its screen), but not what the oracle measured
        _note(f"campaign {c.name}'s oracle is '{kind}', which measures its experiments itself: the told value "
              f"stands in for its measurement of {len(results)} experiment(s); a result the oracle still "
              "returns for them is ignored")
    ended = c.settle()  # first: an ending cancels what still waits
    left = len(c.pending())
    console.print(f"recorded {len(results)} result(s) for campaign {c.name}; {left} experiment(s) still wait"
                  + (f"; skipped {len(skipped)} row(s) without a value (lines "
                     f"{', '.join(map(str, skipped[:10]))}{'...' if len(skipped) > 10 else ''})" if skipped else "")
                  + (f"; the campaign is {ended}" if ended else ""),
                  soft_wrap=True)


@app.command("import")
def import_data(
    name: str = typer.Argument(..., metavar="FILE|NAME", help="campaign name, or its YAML file (creates the "
                                                               "campaign the first time)"),
    data: Path = typer.Argument(..., help="CSV of earlier measurements: one column per input and the objective "
                                          "(its name, or value)"),
    store: Optional[str] = StoreOpt,
) -> None:
    """Add measurements made before as observations (every row must lie in the space; all or nothing)."""
    try:
        if Path(name).suffix in (".yaml", ".yml") or Path(name).is_file():  # check the rows before creating it
            from .config import load_campaign
            from .earlier import read_earlier, repeated_rows

            campaign = load_campaign(name)
            rows = read_earlier(data, campaign.space, campaign.spec.objective.name, field="")
            if repeated := repeated_rows(data, rows, campaign.space):  # before the campaign is created
                raise ConfigError(repeated)
        c = _open(name, store)
        with warnings.catch_warnings(record=True) as caught:  # RecordedAfterEnd: said as a note below
            warnings.simplefilter("always", RecordedAfterEnd)
            ids = c.import_data(data)
    except ConfigError as exc:
        lines = exc.format().splitlines()
        if len(lines) == 1:  # one problem: one line, saying that nothing was imported
            _error_line(f"{lines[0]}; nothing was imported")
        else:
            for line in lines:
                _error_line(line)
            _error_line(f"{data}: nothing was imported; fix or remove those rows and import again")
        raise typer.Exit(2)
    except LooplabError as exc:
        _fail(exc)
        return
    counts = "count" if c.campaign.spec.initial.count_in_budget else "do not count"
    console.print(f"imported {len(ids)} row(s) of {data} into campaign {c.name} ({ids[0]} to {ids[-1]}); they "
                  f"{counts} toward its budget (initial.count_in_budget)", soft_wrap=True)
    ended = False
    for w in caught:
        if issubclass(w.category, RecordedAfterEnd):
            ended = True
            _note(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if c.campaign.spec.initial.count_in_budget and not ended:  # still running: did the rows use the budget up?
        from .control import budget_of
        from .engine import counted

        row = c.store.get_campaign(c.name)
        used, budget = len(counted(c.store.experiments(row.id), c.campaign.spec)), budget_of(c.store, row)
        if used >= budget:
            _note(f"campaign {c.name} has {used} experiment(s) counted toward its budget of {budget} now (the imported "
                  "rows count: initial.count_in_budget), so it proposes no more; `looplab extend "
                  f"{c.name} --budget N` raises the budget")
