"""Dataset lookup: the oracle answers with the objective of the matching row of a CSV.

This is how pool-based benchmarks simulate a campaign on published data: the
candidates are the rows of a table and "performing an experiment" is reading
its measured objective. Rows with the same inputs are averaged. Optional
Gaussian ``noise`` simulates measurement error (seeded, so reproducible).
"""

from __future__ import annotations

import os
import math
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .base import ConfigProblem, OracleContext, SyncOracle, value_range_problem
from .csvfile import CsvFileError, describe_columns, filter_rows, parse_number, read_table, unreadable_number


class LookupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, description="CSV file (relative to the campaign file); default: the pool's")
    column: str | None = Field(default=None, description="objective column; default: the objective's name")
    noise: float = Field(default=0.0, ge=0.0, description="standard deviation of Gaussian noise added to each answer")
    match: Literal["exact", "nearest"] = Field(
        default="exact", description="exact: params must equal a row; nearest: the closest row (scaled inputs)")


def _cell(text: str) -> Any:
    """A table cell as a number, read as the pool reads one (strictly: '0.000_000' and full-width digits are
    not numbers, and 1e-400 is not 0), else its text."""
    x = parse_number(text)
    return x if x is not None else text.strip()


def _value(param: Any) -> Any:
    """An experiment's param as the table's cells are read: text as a cell (a number if it is one), else a float."""
    return _cell(param) if isinstance(param, str) else float(param)


def _key(values: list[Any]) -> tuple:
    return tuple(round(v, 9) if isinstance(v, float) else str(v) for v in values)


def objective_problem(file: str, header: list[str], records: list, column: str, where: dict | None = None
                      ) -> str | None:
    """What keeps ``column`` of a table (``read_table``'s header and records, filtered by ``where``) from
    being an objective, or None: every kept row needs a finite number there, within the range a model can
    take (``value_range_problem``); the first empty, text, non-finite or too large cell is named by its line."""
    j = header.index(column)
    records = filter_rows(header, records, where)
    numbers = 0
    first_bad = None
    first_huge = None  # (line, why) of the first value too large to model
    distinct: set[float] = set()  # up to two of the finite values: is the column constant?
    for line, cells in records:
        x = parse_number(cells[j])
        if x is not None and math.isfinite(x):
            numbers += 1
            if len(distinct) < 2:
                distinct.add(x)
            if first_huge is None and value_range_problem(x):
                first_huge = (line, value_range_problem(x))
        elif first_bad is None:
            hint = unreadable_number(cells[j])  # a number a float cannot hold as written (1e-400)
            what = ("empty" if cells[j] == "" else "not finite" if x is not None else
                    f"a number a float cannot hold as written ({hint})" if hint else "text, not a number")
            first_bad = (line, what)
    if records and not numbers:
        return f"the objective column '{column}' of {file} holds no numbers; is it the right column?"
    if numbers >= 2 and len(distinct) == 1:
        return (f"the objective column '{column}' of {file} holds the same value ({distinct.pop():g}) in all "
                f"{numbers} rows: there is nothing to optimise; is it the right column?")
    if first_bad is not None:
        line, what = first_bad
        return (f"{file}, line {line}: the objective '{column}' is {what}; every candidate row needs "
                "a measured value (fill it in or remove the row)")
    if first_huge is not None:
        line, why = first_huge
        return f"{file}, line {line}: the objective '{column}': {why}"
    return None


def _log_problem(file: str, header: list[str], records: list, column: str, where: dict) -> list[ConfigProblem]:
    """``model.transform: log`` on a table whose objective reaches zero or below (the log is undefined there)."""
    j = header.index(column)
    low = min(((parse_number(cells[j]), line) for line, cells in filter_rows(header, records, where)
               if parse_number(cells[j]) is not None), default=None)
    if low is None or low[0] > 0:
        return []
    return [ConfigProblem("model.transform", f"log needs positive values, and the objective column '{column}' of "
                                             f"{file} holds {low[0]:g} (line {low[1]}); use yeo-johnson (a power "
                                             "transform defined for any sign), copula, or none")]


def _missing_choices(file: str, header: list[str], records: list, parameters: list) -> list[ConfigProblem]:
    """A categorical parameter's choice that its column of the table never holds: no experiment with it could
    be answered (exact finds no row; nearest needs the level to match, or would answer with another level's
    value when the levels are numbers)."""
    problems = []
    for i, p in enumerate(parameters):
        if p.type != "categorical":
            continue
        j = header.index(p.name)
        held: dict[tuple, str] = {}  # each level the column holds, as first written
        for _, cells in records:
            held.setdefault(_key([_cell(cells[j])]), cells[j].strip())
        missing = [c for c in p.choices if _key([_value(c)]) not in held]
        if missing:
            levels = list(held.values())
            shown = ", ".join(levels[:10]) + (f", ... ({len(levels)} levels)" if len(levels) > 10 else "")
            them = "them" if len(missing) > 1 else "it"
            problems.append(ConfigProblem(
                f"space.parameters[{i}].choices",
                f"{', '.join(repr(c) for c in missing)} {'are' if len(missing) > 1 else 'is'} not in the column "
                f"'{p.name}' of {file} (it holds {shown}), so the lookup oracle could not answer an experiment "
                f"with {them}; remove {them} from the choices or add rows for {them} to {file}"))
    return problems


def _missing_ints(file: str, header: list[str], records: list, parameters: list) -> list[ConfigProblem]:
    """Under ``match: exact``: an int parameter's values (low to high) that its column of the table never
    holds. An experiment at one of them finds no row and fails (nearest answers it with the closest row)."""
    problems = []
    for i, p in enumerate(parameters):
        if p.type != "int":
            continue
        j = header.index(p.name)
        held = set()
        for _, cells in records:
            v = _cell(cells[j])
            if isinstance(v, float) and v.is_integer() and p.low <= v <= p.high:
                held.add(int(v))
        size = p.high - p.low + 1
        if len(held) == size:
            continue
        first = [v for v in range(p.low, min(p.high, p.low + len(held) + 10) + 1) if v not in held][:5]
        shown = ", ".join(map(str, sorted(held)[:10])) + (", ..." if len(held) > 10 else "")
        problems.append(ConfigProblem(
            f"space.parameters[{i}]",
            f"'{p.name}' takes the {size:,} whole values from {p.low} to {p.high}, but the column '{p.name}' of {file} "
            f"holds {len(held):,} of them ({shown or 'none'}), so with match: exact an experiment at "
            f"{', '.join(map(str, first))}{', ...' if size - len(held) > len(first) else ''} would find no row; set "
            "low and high to the table's values, use match: nearest (the closest row), or make the space a pool of "
            "the table (space.pool: {path: ..., inputs: [...]})"))
    return problems


def _held_range(header: list[str], records: list, name: str) -> tuple[float, float, float] | None:
    """(lowest, highest, widest step between neighbouring values) of a numeric column, or None."""
    j = header.index(name)
    held = sorted({v for _, cells in records if isinstance(v := _cell(cells[j]), float) and math.isfinite(v)})
    if not held:
        return None  # text in a numeric column: said by the other checks
    return held[0], held[-1], max((b - a for a, b in zip(held, held[1:])), default=0.0)


def _beyond(file: str, name: str, low: float, high: float, held: tuple[float, float, float], what: str) -> str | None:
    """Why ``what`` (a parameter, or the pool's candidates) reaching ``name`` from low to high is beyond the table
    under match: nearest, or None within half its widest step of the table's range."""
    lo, hi, step = held
    if low >= lo - step / 2 and high <= hi + step / 2:
        return None
    return (f"{what} from {low:g} to {high:g}, but the column '{name}' of {file} holds {lo:g} to {hi:g}: with match: "
            "nearest an experiment beyond the table would be answered by the row at its edge and recorded as measured "
            "where it was proposed")


def _beyond_the_table(file: str, header: list[str], records: list, parameters: list) -> list[ConfigProblem]:
    """Under ``match: nearest``: a numeric parameter whose range reaches past its column's values by more than
    half the table's widest step between neighbouring values. An experiment out there is answered by the row at
    the table's edge and recorded as measured where it was proposed (fuzz round twenty: a space of -100 to 100
    over a table of 0 to 0.7 reported the best 'measured' at a = 85). Within half a step it is the rounding to
    the table's grid that nearest is for."""
    problems = []
    for i, p in enumerate(parameters):
        if p.type not in ("float", "int") or p.name not in header or (held := _held_range(header, records, p.name)) \
                is None:
            continue
        why = _beyond(file, p.name, p.low, p.high, held, f"'{p.name}' ranges")
        if why:
            problems.append(ConfigProblem(f"space.parameters[{i}]", f"{why}; set low: {held[0]:g} and high: "
                                                                    f"{held[1]:g} (the table's range), or add rows "
                                                                    "that cover the range"))
    return problems


def _pool_beyond_the_table(pool: Any, pool_path: Path, path: Path) -> list[ConfigProblem]:
    """The same for a pool looked up in a table of its own under ``match: nearest``: its candidates' numeric inputs
    against the table's columns (the re-run of round twenty: a pool of -100 to 100 over a table of 0 to 0.7
    reported a best 'measured' at a = 80)."""
    try:
        p_header, p_records = read_table(pool_path)
        p_records = filter_rows(p_header, p_records, dict(pool.where or {}))
        t_header, t_records = read_table(path)
    except (CsvFileError, KeyError, OSError, ValueError):
        return []  # the files' own problems are reported by the other checks
    problems = []
    for name in pool.inputs:
        if name in (pool.categorical or ()) or name not in t_header or name not in p_header:
            continue
        mine, held = _held_range(p_header, p_records, name), _held_range(t_header, t_records, name)
        if mine is None or held is None:
            continue
        why = _beyond(path.name, name, mine[0], mine[1], held, f"the pool's candidates reach '{name}'")
        if why:
            problems.append(ConfigProblem("path", f"{why}; look them up in a table that covers the pool, or drop "
                                                  "the candidates beyond it from the pool"))
    return problems


def _unanswered_candidates(config: Any, pool: Any, pool_path: Path, path: Path, column: str) -> list[ConfigProblem]:
    """A pool looked up in a table of its own: candidates the table has no row for (a categorical level
    it lacks, as written; under exact, also numbers it lacks) could only fail when proposed."""
    try:
        header, records = read_table(pool_path)
        records = filter_rows(header, records, dict(pool.where or {}))
        table = LookupTable(path, tuple(pool.inputs), column, dict(pool.where or {}), tuple(pool.categorical or ()))
    except (CsvFileError, KeyError, OSError, ValueError):
        return []  # the files' own problems are reported by the other checks
    col = {name: header.index(name) for name in header}
    text = set(pool.categorical or ())
    seen, missing = set(), []
    for line, cells in records:
        params = {n: cells[col[n]] if n in text else _cell(cells[col[n]]) for n in pool.inputs}
        key = _key(list(params.values()))
        if key in seen:
            continue
        seen.add(key)
        if table.find(params, nearest=config.match == "nearest") is None:
            missing.append((line, params))
    if not missing:
        return []
    shown = "; ".join(f"line {line}: " + ", ".join(f"{k}={v}" for k, v in params.items())
                      for line, params in missing[:3])
    return [ConfigProblem("path", f"{path.name} has no row for {len(missing)} of the pool's {len(seen)} candidates "
                                  f"({shown}{'; ...' if len(missing) > 3 else ''} of {pool_path.name}), so the lookup "
                                  "oracle could not answer them; add their rows, or drop them from the pool (a "
                                  "categorical level is matched as written: 01 is not 1)")]


def _stop_at_problem(path: Path, inputs: tuple[str, ...], column: str, pool: Any, spec: Any) -> list[ConfigProblem]:
    """budget.stop_at that every row of the table meets: the campaign would end at its first result, whatever
    it measured (stop_at 5 on mixing energies of at most 0.046 with goal min ended it after the initial design
    at rank 148 of 561, exit 0: fuzz round eighteen)."""
    try:
        table = LookupTable(path, inputs, column, dict(pool.where or {}) if pool is not None else None,
                            tuple(pool.categorical or ()) if pool is not None else ())
    except (KeyError, OSError, ValueError):
        return []  # reported by the checks above
    v, stop, goal = np.asarray(table.values, dtype=float), float(spec.budget.stop_at), spec.objective.goal
    if not len(v):
        return []
    if goal == "target":
        far = np.abs(v - float(spec.objective.target_value))
        if far.max() > stop:
            return []
        said = f"every row of {path.name} is within {stop:g} of the target (the farthest {far.max():g})"
    elif goal == "max" and v.min() >= stop or goal == "min" and v.max() <= stop:
        worst = v.min() if goal == "max" else v.max()
        said = (f"every row of {path.name} meets it ({column} from {v.min():g} to {v.max():g}; the worst, "
                f"{worst:g}, is already {'at or above' if goal == 'max' else 'at or below'} {stop:g})")
    else:
        return []
    return [ConfigProblem("budget.stop_at", f"{said}, so the campaign would end at its first result, whatever it "
                                            "measured; set a stricter stop_at, or remove it")]


class LookupTable:
    """The rows of a CSV keyed by their inputs, duplicates averaged.

    ``where`` keeps only the rows whose cells equal given values (the pool's row filter); rows whose
    objective is not a finite number are left out (``looplab validate`` reports them). ``text``: inputs
    keyed by their cells' text, as a pool keeps a declared categorical column (levels ``1``, ``01`` and
    ``1.0`` are three); the others by their number where the cell is one.
    """

    def __init__(self, path: Path, inputs: tuple[str, ...], column: str, where: dict | None = None,
                 text: Sequence[str] = ()):
        self.text = frozenset(text)
        try:
            header, records = read_table(path)
        except CsvFileError as exc:
            raise OSError(str(exc)) from None
        missing = [c for c in (*inputs, column, *(where or {})) if c not in header]
        if missing:
            raise KeyError(f"{path.name} lacks column(s) {', '.join(missing)} ({describe_columns(header)})")
        records = filter_rows(header, records, where)
        col = {name: header.index(name) for name in header}
        sums: dict[tuple, list] = {}
        self.lines: dict[tuple, list[int]] = {}  # the file's lines of each key (more than one: averaged)
        for line, cells in records:
            y = parse_number(cells[col[column]])
            if y is None or not math.isfinite(y):
                continue
            values = [cells[col[n]] if n in self.text else _cell(cells[col[n]]) for n in inputs]
            entry = sums.setdefault(_key(values), [values, 0.0, 0])
            entry[1] += y
            entry[2] += 1
            self.lines.setdefault(_key(values), []).append(line)
        self.inputs = inputs
        self.rows = [v for v, _, _ in sums.values()]
        self.values = np.array([s / c for _, s, c in sums.values()])
        self.index = {k: i for i, k in enumerate(sums)}
        numeric = [j for j in range(len(inputs)) if all(isinstance(r[j], float) for r in self.rows)]
        self._numeric = numeric
        if numeric:
            M = np.array([[r[j] for j in numeric] for r in self.rows])
            lo, hi = M.min(0), M.max(0)
            self._lo, self._span = lo, np.where(hi > lo, hi - lo, 1.0)
            self._M = (M - lo) / self._span

    def find(self, params: dict[str, Any], nearest: bool) -> int | None:
        values = [str(params[n]).strip() if n in self.text else _value(params[n]) for n in self.inputs]
        i = self.index.get(_key(values))
        if i is not None or not nearest or not self._numeric:
            return i
        # nearest row among those whose non-numeric inputs match
        x = (np.array([values[j] for j in self._numeric]) - self._lo) / self._span
        d = np.sum((self._M - x) ** 2, axis=1)
        other = [j for j in range(len(self.inputs)) if j not in self._numeric]
        for j in other:
            d = np.where([str(r[j]) == str(values[j]) for r in self.rows], d, np.inf)
        k = int(np.argmin(d))
        return k if np.isfinite(d[k]) else None


class LookupOracle(SyncOracle):
    """Answers with the objective of the matching row of a CSV dataset (optionally with noise)."""

    Config = LookupConfig
    default_executor = "inline"  # microseconds per experiment: a process hop would only add latency

    def __init__(self, *, path: Path, inputs: tuple[str, ...], column: str, noise: float = 0.0,
                 match: str = "exact", seed: int = 0, where: dict | None = None, text: Sequence[str] = ()):
        super().__init__()
        self.path = Path(path)
        self.inputs = tuple(inputs)
        self.column = column
        self.objective = column
        self.noise = noise
        self.match = match
        self.seed = seed
        self.where = dict(where or {})
        self.table = LookupTable(self.path, self.inputs, column, self.where, text)

    @staticmethod
    def _resolve(config: LookupConfig, base_dir: Path, pool_path: Path | None) -> Path | None:
        if config.path is not None:
            return Path(os.path.realpath(Path(base_dir) / config.path))
        return pool_path

    @classmethod
    def from_config(cls, config: LookupConfig, context: OracleContext) -> "LookupOracle":
        path = cls._resolve(config, context.base_dir, context.pool_path)
        return cls(path=path, inputs=context.inputs, column=config.column or context.objective,
                   noise=config.noise, match=config.match, seed=context.seed, where=context.pool_where,
                   text=context.pool_categorical)

    @classmethod
    def check_config(cls, config: LookupConfig, *, spec: Any, base_dir: Path) -> list[ConfigProblem]:
        return cls._match_problems(config, spec) + cls._table_problems(config, spec, base_dir)

    @staticmethod
    def _match_problems(config: LookupConfig, spec: Any) -> list[ConfigProblem]:
        """match: exact on a space with a float parameter: its points almost never equal a row, so every
        experiment would fail ("no row matches"). A space of int and categorical parameters may use exact."""
        if spec.space.pool is not None or config.match != "exact":
            return []
        floats = [p.name for p in spec.space.parameters if p.type == "float"]
        if not floats:
            return []
        default = "" if "match" in config.model_fields_set else " (the default)"
        return [ConfigProblem("match", f"exact{default} needs each proposed point to equal a row of the table, "
                                       f"but the float parameter '{floats[0]}' takes values between the rows, so "
                                       "almost every experiment would find no row; use match: nearest (the closest "
                                       "row), or make the space a pool of the table (space.pool: {path: ..., "
                                       "inputs: [...]})")]

    @classmethod
    def _table_problems(cls, config: LookupConfig, spec: Any, base_dir: Path) -> list[ConfigProblem]:
        pool = spec.space.pool
        pool_path = Path(os.path.realpath(Path(base_dir) / pool.path)) if pool is not None else None
        path = cls._resolve(config, base_dir, pool_path)
        if path is None:
            return [ConfigProblem("path", "required: the space is not a pool, so name the CSV to look results up in")]
        inputs = tuple(pool.inputs) if pool is not None else tuple(p.name for p in spec.space.parameters)
        where = dict(pool.where) if pool is not None else {}
        column = config.column or spec.objective.name
        try:
            header, records = read_table(path)
        except CsvFileError as exc:
            # the pool's own file is reported by the space (space.pool.path), once
            return [] if config.path is None else [ConfigProblem("path", str(exc))]
        problems = []
        if config.column is not None and config.column in inputs:  # each experiment would "measure" its input
            return [ConfigProblem("column", f"'{config.column}' is an input of the space; the looked-up column "
                                            "is the measured result: name the objective's column")]
        if column not in header:
            note = "" if config.column else "; column defaults to objective.name, so set one of them"
            problems.append(ConfigProblem("column", f"'{column}' is not a column of {path.name} "
                                                    f"({describe_columns(header)}){note}"))
        for name in (*inputs, *where) if config.path is not None else ():  # the pool's file: checked by the space
            if name not in header:
                problems.append(ConfigProblem("path", f"{path.name} has no column for '{name}'"))
        if problems:
            return problems
        if any(name not in header for name in where):
            return []  # reported by the space (space.pool.where)
        msg = objective_problem(path.name, header, records, column, where)
        if msg:
            return [ConfigProblem("column", msg)]
        if pool is None:
            problems += _missing_choices(path.name, header, records, spec.space.parameters)
            if config.match == "exact":
                problems += _missing_ints(path.name, header, records, spec.space.parameters)
            else:
                problems += _beyond_the_table(path.name, header, records, spec.space.parameters)
        elif config.path is not None and path != pool_path:
            problems += _unanswered_candidates(config, pool, pool_path, path, column)
            if config.match == "nearest":
                problems += _pool_beyond_the_table(pool, pool_path, path)
        if spec.model.transform == "log" and spec.objective.goal != "target":  # a target goal logs distances
            problems += _log_problem(path.name, header, records, column, where)
        if not problems and spec.budget.stop_at is not None:
            problems += _stop_at_problem(path, inputs, column, pool, spec)
        return problems

    @classmethod
    def config_notes(cls, config: LookupConfig, *, spec: Any, base_dir: Path) -> list[ConfigProblem]:
        """A table of its own (not the pool's file) with rows of the same inputs: their objectives are averaged,
        which the user may not have meant (other conditions in the same file, a forgotten filter). A pool's own
        file says so in its description ("from N rows ... averaged")."""
        pool = spec.space.pool
        pool_path = Path(os.path.realpath(Path(base_dir) / pool.path)) if pool is not None else None
        path = cls._resolve(config, base_dir, pool_path)
        if config.path is None or path is None or path == pool_path:
            return []
        inputs = tuple(pool.inputs) if pool is not None else tuple(p.name for p in spec.space.parameters)
        try:
            table = LookupTable(path, inputs, config.column or spec.objective.name,
                                dict(pool.where or {}) if pool is not None else None,
                                tuple(pool.categorical or ()) if pool is not None else ())
        except (KeyError, OSError, ValueError):
            return []  # reported by check_config
        repeated = [lines for lines in table.lines.values() if len(lines) > 1]
        if not repeated:
            return []
        rows = sum(len(lines) for lines in table.lines.values())
        example = ", ".join(map(str, repeated[0][:4])) + (", ..." if len(repeated[0]) > 4 else "")
        how = " (or make it the pool's file too and keep one condition with space.pool.where)" if pool else ""
        return [ConfigProblem("path", f"{path.name} has {rows} rows for {len(table.lines)} distinct inputs: "
                                      f"{len(repeated)} input(s) have several rows (e.g. lines {example}), and the "
                                      "oracle answers with their mean; if those rows are other conditions, remove "
                                      f"them from {path.name}{how}")]

    def evaluate(self, params: dict[str, Any]) -> dict[str, Any]:
        i = self.table.find(params, nearest=self.match == "nearest")
        if i is None:
            raise LookupError(f"no row of {self.path.name} matches {params}")
        value = float(self.table.values[i])
        if self.noise:
            rng = np.random.default_rng([self.seed % (2**32), i])
            value += float(rng.normal(0.0, self.noise))
        return {self.column: value, "row": i}

    # ground truth, for summaries and benchmarks (maximisation is the caller's business)
    def rank(self, value: float, goal: str, target: float | None = None) -> tuple[int, int]:
        """1-based rank of ``value`` among the table's values for this goal, and the table size."""
        v = self.table.values
        if goal == "max":
            better = np.sum(v > value + 1e-12)
        elif goal == "min":
            better = np.sum(v < value - 1e-12)
        else:
            better = np.sum(np.abs(v - target) < abs(value - target) - 1e-12)
        return int(better) + 1, len(v)
