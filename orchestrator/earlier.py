"""Measurements made outside the engine's plan: earlier data imported, and off-plan results.

``initial: {data: earlier.csv}`` in a campaign file and ``looplab import NAME data.csv`` read a CSV with one
column per input and one for the objective (its name, or ``value``); any other column is kept as an output.
Each row must lie in the campaign's space:

- pool campaigns: the inputs must equal a candidate's (numbers compared to 9 significant digits, text
  levels as written); the experiment is stored with the candidate's own values, so the pool never proposes
  it again;
- parameter spaces: floats and ints within their bounds (ints whole), categorical levels among the
  choices, sum constraints met (to 1e-6 of the total).

Rows outside the space are refused, every one of them with its line number (the first 20 are printed, then
"and N more"), and nothing is written. Rows inside become succeeded experiments with source ``imported``
(ids ``<campaign>-i0000``...), step -1: they are observations for the model, not steps of the engine.

A result told for params the engine never proposed (``Campaign.tell(params=..., value=...)``) goes through
the same check and becomes a succeeded experiment with source ``off-plan`` (ids ``<campaign>-x0000``...).
"""

from __future__ import annotations

import math
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracles.base import value_range_problem
from oracles.csvfile import CsvFileError, describe_columns, output_cell, parse_number, read_table, \
    unreadable_number

from .config import CategoricalParameter, FloatParameter, IntParameter
from .errors import ConfigError, Problem
from .store import Experiment

RELATIVE_TOLERANCE = 1e-9  # of a parameter's range: a bound written with a few digits fewer still counts


@dataclass(frozen=True)
class Measured:
    """One measurement of a point of the space: where it came from (a line of a file, or None)."""

    line: int | None
    params: dict[str, Any]
    value: float
    outputs: dict[str, Any]


def _number(cell: Any) -> float | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    return parse_number(str(cell).strip())


def _not_a_number(name: str, cell: Any) -> str:
    """Why ``cell`` of ``name`` is not a finite number: a number a float cannot hold as written (1e-400 would be
    stored as 0), or not a finite number at all."""
    hint = unreadable_number(str(cell).strip()) if isinstance(cell, str) else ""
    return f"{name} = '{cell}': {hint}" if hint else f"{name} = '{cell}' is not a finite number"


def check_point(space: Any, values: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``values`` (text cells of a CSV row or Python values) as a point of ``space``: (params, None), or
    (None, what is wrong) naming the input."""
    missing = [n for n in space.names if n not in values]
    if missing:
        return None, f"no value for {', '.join(missing)}"
    if space.is_pool:
        params = {}
        for name in space.names:
            cell = values[name]
            if name in space.categorical:
                params[name] = str(cell).strip()
                continue
            x = _number(cell)
            if x is None or not math.isfinite(x):
                return None, _not_a_number(name, cell)
            params[name] = x
        i = space.index_of(params)
        if i is None:
            shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
            return None, f"{shown} is not a candidate of the pool {Path(space.path).name}{_unknown_level(space, params)}"
        return dict(space.candidates[i]), None
    params = {}
    for p in space.parameters:
        cell = values[p.name]
        if isinstance(p, CategoricalParameter):
            text = str(cell).strip()
            x = _number(cell)
            nfc = unicodedata.normalize("NFC", text)  # é as e + a combining accent is é
            found = [c for c in p.choices if unicodedata.normalize("NFC", str(c)) == nfc
                     or (x is not None and isinstance(c, (int, float)) and not isinstance(c, bool) and float(c) == x)]
            if not found:
                return None, (f"{p.name} = '{text}' is not one of its choices "
                              f"({', '.join(str(c) for c in p.choices)}){_did_you_mean(text, p.choices)}")
            params[p.name] = found[0]
            continue
        x = _number(cell)
        if x is None or not math.isfinite(x):
            return None, _not_a_number(p.name, cell)
        slack = RELATIVE_TOLERANCE * (p.high - p.low)
        if not p.low - slack <= x <= p.high + slack:
            return None, f"{p.name} = {x:g} is outside its bounds [{p.low:g}, {p.high:g}]"
        if isinstance(p, IntParameter):
            if x != round(x):
                return None, f"{p.name} = {x:g} is not a whole number (an int parameter)"
            params[p.name] = int(round(x))
        elif isinstance(p, FloatParameter):
            params[p.name] = min(max(x, float(p.low)), float(p.high))
    for c in space.constraints:
        total = sum(float(params[n]) for n in c.parameters)
        if abs(total - c.total) > 1e-6 * max(1.0, abs(c.total)):
            return None, f"{' + '.join(c.parameters)} = {total:g}, but the sum constraint needs {c.total:g}"
    return params, None


def _did_you_mean(text: str, levels: Any) -> str:
    """'; did you mean 'X'?' for a level written in another case or spacing (potassium acetate for Potassium
    acetate was only 'not a candidate': fuzz round eighteen), else ''."""
    folded = " ".join(text.split()).casefold()
    same = [str(v) for v in levels if " ".join(str(v).split()).casefold() == folded]
    return f"; did you mean '{same[0]}'?" if same else ""


def _unknown_level(space: Any, params: dict[str, Any]) -> str:
    """For a pool row that is no candidate: the first categorical value that is no level of the pool at all."""
    for name in space.categorical:
        levels = space.levels.get(name) or sorted({str(c[name]) for c in space.candidates})  # SMILES-encoded: rare
        if str(params[name]) not in levels:
            return f": {name} '{params[name]}' is none of its levels{_did_you_mean(params[name], levels)}"
    return ""


def objective_column(header: list[str], objective: str) -> tuple[str | None, str | None]:
    """The column holding the objective: its name, or ``value``; (column, None) or (None, problem)."""
    found = [c for c in dict.fromkeys((objective, "value")) if c in header]
    if len(found) == 2:
        return None, (f"has both '{objective}' and 'value' columns; keep one of them for the objective")
    if not found:
        return None, f"has no column '{objective}' (the objective) or 'value' ({describe_columns(header)})"
    return found[0], None


def read_earlier(path: Path, space: Any, objective: str, *, field: str) -> list[Measured]:
    """Every row of the CSV at ``path`` as a measurement inside ``space``; ConfigError listing every row
    outside it (with its line), or what is wrong with the file. ``field`` prefixes the problems (the YAML
    field, or the file)."""
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):  # its 'line 5: 4 fields' said nothing of what it is (fuzz 18)
        raise ConfigError([Problem(field, f"{path.name} is a YAML file (a campaign file?), not a CSV of measurements; "
                                          "give a CSV with a column per input and the objective (looplab export "
                                          "NAME -f csv writes one)")])
    try:
        header, records = read_table(path)
    except CsvFileError as exc:
        raise ConfigError([Problem(field, str(exc))]) from None
    missing = [n for n in space.names if n not in header]
    column, problem = objective_column(header, objective)
    if missing or problem:
        lines = []
        if missing:
            lines.append(Problem(field, f"{path.name} has no column for the input(s) {', '.join(missing)} "
                                        f"({describe_columns(header)}); name one column after each input"))
        if problem:
            lines.append(Problem(field, f"{path.name} {problem}"))
        raise ConfigError(lines)
    if not records:
        raise ConfigError([Problem(field, f"{path.name} holds no rows under its header; add the measurements, "
                                          "one per line")])
    others = [c for c in header if c not in space.names and c != column]
    out, problems = [], []
    for line, cells in records:
        row = dict(zip(header, cells))
        params, why = check_point(space, row)
        y = parse_number(row[column])
        if why is None and (y is None or not math.isfinite(y)):
            why = _not_a_number(f"the objective '{column}'", row[column])
        elif why is None and value_range_problem(y):
            why = f"the objective '{column}': {value_range_problem(y)}"
        if why is not None:
            problems.append(Problem(field, f"{path.name}, line {line}: {why}"))
            continue
        outputs = {}
        for c in others:
            outputs[c] = output_cell(row[c])
        out.append(Measured(line, params, float(y), outputs))
    if problems:  # every row outside, by line (ConfigError prints the first 20, then "and N more")
        raise ConfigError(problems)
    return out


def point_key(space: Any, params: dict[str, Any]) -> tuple | None:
    """Identity of a point of ``space``, for "the same point" as the engine sees it: in a pool, its row (None
    for no row of the pool); in a parameter space, its values with floats to 9 decimals (``Proposer.key``)."""
    try:
        if space.is_pool:
            i = space.index_of(params)
            return None if i is None else ("row", i)
        return tuple(round(float(v), 9) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                     for v in (params.get(n) for n in space.names))
    except (KeyError, TypeError, ValueError, OverflowError):  # params of another shape (stored long ago)
        return None


def measured_key(space: Any, params: dict[str, Any], value: Any) -> tuple:
    """A measurement's identity: its point and its value (a repeat with another value is a new measurement)."""
    point = point_key(space, params)
    if point is None:
        point = tuple(sorted((k, str(v)) for k, v in params.items()))
    return point, repr(float(value))


def repeated_rows(path: Path, rows: list[Measured], space: Any, field: str = "") -> list[Problem]:
    """A problem (of ``field``) for each row of one file with the same inputs and value as an earlier row of it:
    an exact duplicate would count one measurement twice, as a file imported twice would (a fuzz round found
    both rows of such a file imported, while the file imported again was refused)."""
    first: dict[tuple, int | None] = {}
    problems = []
    for m in rows:
        k = measured_key(space, m.params, m.value)
        if k in first:
            problems.append(Problem(field, f"{Path(path).name}, line {m.line}: the same inputs and value as line "
                                        f"{first[k]} (an exact duplicate would count one measurement twice); "
                                        "keep one of them (a repeat with another value is a new measurement)"))
        else:
            first[k] = m.line
    return problems


def lookup_table_problem(spec: Any, base_dir: Path, path: Path, field: str) -> Problem | None:
    """A file of measurements (``initial.data``, ``looplab import``) that is the very table the campaign's lookup
    oracle answers from: every row would be recorded as measured before the campaign chose one (fuzz round
    twenty: a budget of 4 ended with 64 'earlier' results and the pool exhausted). None for another file."""
    import filecmp

    from oracles.lookup import LookupOracle

    from . import plugins

    params = spec.oracle.params if isinstance(spec.oracle.params, dict) else {}
    pool = getattr(spec.space, "pool", None)
    table = params.get("path") or (pool.path if pool is not None else None)
    try:  # the built-in by its name or by its import path (oracles.lookup:LookupOracle), or a subclass of it
        lookup = issubclass(plugins.resolve("oracle", spec.oracle.kind), LookupOracle)
    except Exception:  # noqa: BLE001 - an unknown kind: said by the other checks
        lookup = False
    if not lookup or not isinstance(table, str):
        return None
    mine, theirs = Path(base_dir) / table, Path(base_dir) / path
    try:  # the very file, or a copy of it byte for byte (the re-run of round twenty)
        same = os.path.samefile(mine, theirs)
        copy = not same and filecmp.cmp(mine, theirs, shallow=False)
    except (OSError, ValueError):
        return None  # a file that is not there: said by the other checks
    if not (same or copy):
        return None
    return Problem(field, f"{Path(path).name} is the table the lookup oracle answers from{' (a copy of it)' * copy}: "
                          "its rows are this campaign's own results, so every one would be recorded as measured "
                          "before the campaign chose any; give a CSV of measurements made elsewhere")


def read_initial_data(spec: Any, base_dir: Path, space: Any) -> list[Measured]:
    """The rows of a campaign's ``initial.data`` (``read_earlier``), refusing the lookup oracle's own table
    (``lookup_table_problem``) and a row given twice (``repeated_rows``) as ``looplab import`` does: ConfigError
    naming ``initial.data``."""
    if own := lookup_table_problem(spec, base_dir, Path(spec.initial.data), "initial.data"):
        raise ConfigError([own])
    path = Path(base_dir) / spec.initial.data
    rows = read_earlier(path, space, spec.objective.name, field="initial.data")
    if repeated := repeated_rows(path, rows, space, field="initial.data"):
        raise ConfigError(repeated)
    return rows


def imported_experiments(campaign: str, rows: list[Measured], *, start: int, source: str = "imported",
                         step: int = -1) -> list[Experiment]:
    """Succeeded experiments for measured rows, ids ``<campaign>-i<k>`` (``-x<k>`` for off-plan ones)."""
    letter = "i" if source == "imported" else "x"
    out = []
    for k, m in enumerate(rows):
        outputs = dict(m.outputs)
        if m.line is not None:
            outputs.setdefault("line", m.line)
        out.append(Experiment(id=f"{campaign}-{letter}{start + k:04d}", seq=-1, step=step, position=start + k,
                              params=dict(m.params), status="succeeded", value=float(m.value), outputs=outputs,
                              source=source))
    return out
