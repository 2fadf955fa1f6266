"""Source data: earlier results a transfer model learns from, read and encoded like the campaign's own.

A source is a CSV file (``{path, objective, columns, where}``) or the succeeded experiments of another
campaign in the same store (``{campaign: NAME}``), as they were when the campaign started
(``frozen_sources``). Its rows are encoded with the campaign's space, so a categorical level maps to the
same column as in the campaign, and its objective is put in the campaign's maximisation convention (a
``min`` goal negated) by the caller (``Proposer.internal``).

Pool campaigns: a source row need not be a candidate of the pool (e.g. another temperature's grid). Each
input is encoded the way the pool encodes it: a categorical or descriptor input by copying the columns
of a candidate with the same level, a numeric input by the pool's own affine scaling (values outside the
pool's range land outside [0, 1]).
"""

from __future__ import annotations

import hashlib
import math
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from oracles.csvfile import CsvFileError, describe_columns, parse_number, strict_float, unreadable_number

from ...config import _short as _shown  # a value as an error quotes it, cut to 60 characters
from ...errors import ConfigError, Problem, SourceNotReady
from .config import CampaignSource, CsvSource, TransferConfig

WHERE = "model.params.source"


@dataclass(frozen=True)
class SourceData:
    """One source, encoded: X [N, D] in the campaign's encoding, y [N] in the maximisation convention."""

    name: str  # the CSV path or "campaign NAME"
    X: np.ndarray
    y: np.ndarray
    digest: str  # sha256 of X and y: the key its fitted source model is cached under
    ids: tuple[str, ...] = ()  # a campaign source's experiment ids, in the order of the rows (see ``frozen``)
    note: str = ""  # what the run says of it when it starts (rows left out as incomplete)

    @classmethod
    def make(cls, name: str, X: np.ndarray, y: np.ndarray, ids: Sequence[str] = (), note: str = "") -> "SourceData":
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        h = hashlib.sha256()
        h.update(np.asarray(X.shape, dtype=np.int64).tobytes())
        h.update(X.tobytes())
        h.update(y.tobytes())
        return cls(name, X, y, h.hexdigest()[:16], tuple(ids), note)

    def subset(self, idx: np.ndarray) -> "SourceData":
        return SourceData.make(self.name, self.X[idx], self.y[idx], [self.ids[k] for k in idx] if self.ids else ())


def campaign_inputs(spec: Any) -> list[str]:
    """The campaign's input names from its spec (pool inputs or parameter names)."""
    if spec.space.pool is not None:
        return list(spec.space.pool.inputs)
    return [p.name for p in spec.space.parameters]


def _read_csv(src: CsvSource, base_dir: Path) -> tuple[Path, list[str], list[tuple[int, list[str]]]]:
    """The source's header and its records ``(line, cells)`` after ``where`` (the pool's own reader)."""
    from oracles.csvfile import filter_rows, read_table

    path = Path(os.path.realpath(Path(base_dir) / src.path))
    header, records = read_table(path)
    return path, header, filter_rows(header, records, {k: v for k, v in src.where.items() if k in header})


def _column_problems(src: CsvSource, where: str, inputs: Sequence[str], path: Path, header: list[str]
                     ) -> list[Problem]:
    """What keeps a CSV source's columns from matching the campaign: inputs the file does not have (named),
    a ``columns:`` key that is not a campaign input, a missing objective or ``where`` column."""
    problems = []
    for key in src.columns:
        if key not in inputs:
            problems.append(Problem(f"{where}.columns.{key}", f"'{key}' is not an input of the campaign "
                                                              f"(inputs: {', '.join(inputs)})"))
    for key in src.fixed:
        if key not in inputs:
            problems.append(Problem(f"{where}.fixed.{key}", f"'{key}' is not an input of the campaign (inputs: "
                                                            f"{', '.join(inputs)}); fixed names the campaign's "
                                                            "inputs the source held at one value"))
        elif key in src.columns:
            problems.append(Problem(f"{where}.fixed.{key}", f"'{key}' is both read from the column "
                                                            f"'{src.columns[key]}' (columns:) and fixed at "
                                                            f"{_shown(src.fixed[key])}; keep one of the two"))
        elif key in header and key not in src.columns.values():  # a column read as another input is no clash
            problems.append(Problem(f"{where}.fixed.{key}", f"{path.name} has a column '{key}', and fixed says the "
                                                            f"source held '{key}' at {_shown(src.fixed[key])}; remove "
                                                            "it from fixed to read the column, or map the input to "
                                                            "another column with columns:"))
    read = [n for n in inputs if n not in src.fixed]
    missing = [(n, src.columns.get(n, n)) for n in read if src.columns.get(n, n) not in header]
    if missing:
        named = ", ".join(f"'{c}'" + (f" (for input '{n}')" if c != n else "") for n, c in missing)
        problems.append(Problem(f"{where}.path", f"{path.name} lacks the column(s) {named} of the campaign's "
                                                 f"inputs ({describe_columns(header)}); add them, map each input "
                                                 "to a column with columns: {INPUT: COLUMN}, or, for an input "
                                                 "the source held at one value, give it with fixed: {INPUT: "
                                                 "VALUE}"))
    if src.objective not in header:
        problems.append(Problem(f"{where}.objective", f"{path.name} has no column '{src.objective}' "
                                                      f"({describe_columns(header)})"))
    read_as = {n: src.columns.get(n, n) for n in read}
    as_input = [n for n, c in read_as.items() if c == src.objective]
    if as_input:
        problems.append(Problem(f"{where}.objective", f"'{src.objective}' is the column read as the campaign's input "
                                                      f"'{as_input[0]}'; the objective must be another column"))
    shared = sorted({c for c in read_as.values() if list(read_as.values()).count(c) > 1})
    for c in shared:
        names = [n for n, col in read_as.items() if col == c]
        problems.append(Problem(f"{where}.columns", f"the inputs {', '.join(map(repr, names))} are all read from "
                                                    f"the column '{c}'; each input needs a column of its own"))
    for col in src.where:
        if col not in header:
            problems.append(Problem(f"{where}.where.{col}", f"{path.name} has no column '{col}'"))
    return problems


def check_csv_sources(config: TransferConfig, inputs: Sequence[str], base_dir: Path, space: Any = None
                      ) -> list[Problem]:
    """Problems with the CSV sources (``looplab validate``), each file read once: a missing file, columns
    that do not match the campaign, an objective that is not a finite number, fewer than 2 usable rows, a
    constant objective; with the campaign's ``space``, also the rows' inputs as the run will encode them
    (a level the pool lacks, text or a value far outside the campaign's range in a numeric input)."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}  # the rows of each source, by a digest: the same rows twice are one source twice
    for i, src in enumerate(config.source):
        if isinstance(src, CsvSource):
            try:
                _, params, values, lines, _ = _csv_rows(src, i, inputs, base_dir)
                if space is not None:
                    check_fixed(space, src, i, params[0])
                    encode_rows(space, params, f"{WHERE}[{i}]", lines)
            except ConfigError as exc:
                problems += [Problem(p.path.removeprefix("model.params."), p.message) for p in exc.problems]
                continue
            rows = sorted(repr((tuple(_same_cell(r[n]) for n in inputs), y)) for r, y in zip(params, values))
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            if digest in seen:  # the same file spelt another way, other `where` words for the same rows, a copy
                problems.append(Problem(f"source[{i}]", f"holds the same {len(rows)} rows as source[{seen[digest]}] "
                                                        "(the same file or a copy of it, with the same rows "
                                                        "selected); give each source once"))
            seen.setdefault(digest, i)
    return problems


def campaign_source_problems(config: TransferConfig, inputs: Sequence[str], space: Any = None) -> list[Problem]:
    """``looplab validate`` for campaign sources (their rows are read at the run): no campaign twice; each
    ``fixed`` key an input of the campaign, each value one the campaign's space can encode (``check_fixed``)."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, src in enumerate(config.source):
        if isinstance(src, CampaignSource):
            if src.campaign in first:
                problems.append(Problem(f"source[{i}].campaign", f"campaign '{src.campaign}' is "
                                                                 f"source[{first[src.campaign]}] too: its results "
                                                                 "are one source; give it once"))
            first.setdefault(src.campaign, i)
        if not isinstance(src, CampaignSource) or not src.fixed:
            continue
        unknown = [k for k in src.fixed if k not in inputs]
        problems += [Problem(f"source[{i}].fixed.{k}", f"'{k}' is not an input of the campaign (inputs: "
                                                       f"{', '.join(inputs)}); fixed names the campaign's inputs "
                                                       "the source held at one value") for k in unknown]
        if unknown or space is None:
            continue
        if getattr(space, "is_pool", False):
            probe = {n: str(space.candidates[0][n]) for n in inputs}
        else:
            probe = {p.name: str(p.choices[0]) if getattr(p, "choices", None) else str(p.low)
                     for p in space.parameters}
        try:
            check_fixed(space, src, i, {**probe, **{n: str(v) for n, v in src.fixed.items()}})
        except ConfigError as exc:
            problems += [Problem(p.path.removeprefix("model.params."), p.message) for p in exc.problems]
    return problems


def target_rows_problems(config: TransferConfig, spec: Any, base_dir: Path) -> list[Problem]:
    """CSV sources that hold the campaign's own answers: rows of the pool file its lookup oracle reads, with
    the looked-up column as their objective. The model would know those results before measuring them (a
    leak, not transfer). The same file with other rows (``where: {Temp_C: 90}`` against the pool's 105) is
    a source like any other."""
    from oracles.csvfile import filter_rows, read_table

    pool = spec.space.pool
    params = spec.oracle.params if isinstance(spec.oracle.params, dict) else {}
    if pool is None or spec.oracle.kind != "lookup":
        return []
    table = Path(os.path.realpath(Path(base_dir) / (params.get("path") or pool.path)))
    column = params.get("column") or spec.objective.name
    problems = []
    for i, src in enumerate(config.source):
        if not isinstance(src, CsvSource):
            continue
        if Path(os.path.realpath(Path(base_dir) / src.path)) != table:
            problems += _copied_answers(src, i, table, column, spec, base_dir)  # a copy of its rows, perhaps
            continue
        if src.objective != column:
            continue
        try:
            _, header, kept = _read_csv(src, base_dir)
            if params.get("path"):  # a lookup table of its own: every one of its rows is an answer
                answers = {line for line, _ in kept}
            else:
                answers = {line for line, _ in filter_rows(header, read_table(table)[1], dict(pool.where or {}))}
        except (CsvFileError, KeyError, OSError):
            continue  # the file's own problems are reported by the other checks
        leaked = sorted(line for line, _ in kept if line in answers)
        if leaked:
            lines = ", ".join(map(str, leaked[:3])) + (", ..." if len(leaked) > 3 else "")
            kept_by = ", ".join(f"{k} = {v}" for k, v in pool.where.items()) if pool.where else ""
            first = next(iter(pool.where), "")
            hint = (f"; the pool keeps the rows with {kept_by}: select the source's with another value (where: "
                    f"{{{first}: VALUE}})" if pool.where else "; select other rows with where:, or name another file")
            problems.append(Problem(f"source[{i}]", f"{len(leaked)} of its {len(kept)} rows (lines {lines} of "
                                                     f"{table.name}) are the pool's own candidates with their "
                                                     f"'{column}', the results the lookup oracle returns: the model "
                                                     f"would know them before they are measured{hint}"))
    return problems


COPY_SHARE = 0.9  # a source whose rows at the pool's candidates hold the pool's own answers this often is a copy
COPY_ROWS = 5  # ... over at least this many rows, with at least two different values among them


def _copied_answers(src: CsvSource, i: int, table: Path, column: str, spec: Any, base_dir: Path) -> list[Problem]:
    """A CSV source in another file whose rows at the pool's candidates hold exactly the results the lookup
    oracle returns there: a copy of the pool (or of part of it) under another name, a leak like the same file.
    Related data agree only in part (direct arylation at 90 C has the 105 C yield at 27% of the conditions,
    nearly all of them 0), so it takes COPY_SHARE of at least COPY_ROWS rows, with two values among them."""
    from oracles.csvfile import filter_rows, read_table

    pool = spec.space.pool
    inputs = list(pool.inputs)
    try:
        header, records = read_table(table)
        if not (spec.oracle.params or {}).get("path"):
            records = filter_rows(header, records, dict(pool.where or {}))
        at = {n: header.index(n) for n in [*inputs, column]}
        answers = {}
        for _, cells in records:
            y = parse_number(cells[at[column]])
            if y is not None:
                answers[tuple(_same_cell(cells[at[n]]) for n in inputs)] = y
        _, params, values, _, _ = _csv_rows(src, i, inputs, base_dir)
    except (CsvFileError, ConfigError, KeyError, ValueError, OSError):
        return []  # the files' own problems are reported by the other checks
    both = [(answers[k], y) for row, y in zip(params, values)
            if (k := tuple(_same_cell(row[n]) for n in inputs)) in answers]
    same = [y for answer, y in both if answer == y]
    if len(both) < COPY_ROWS or len(same) < COPY_SHARE * len(both) or len(set(same)) < 2:
        return []
    return [Problem(f"source[{i}]", f"{len(same)} of its {len(both)} rows at the pool's candidates hold exactly the "
                                     f"'{column}' the lookup oracle returns there (from {table.name}): it looks like "
                                     "a copy of the pool, and the model would know the results before they are "
                                     "measured; give data measured under other conditions (another temperature, "
                                     "an earlier campaign), or remove the source")]


def _same_cell(text: str) -> Any:
    """A cell as the pool compares it: a number by its value ('0.10' is 0.1), text as written."""
    number = parse_number(text)
    return number if number is not None else text


def _csv_rows(src: CsvSource, i: int, inputs: Sequence[str], base_dir: Path
              ) -> tuple[str, list[dict], list[float], list[str], int]:
    """The source's usable rows: params (text cells), objective values, each row's place ("FILE, line N"),
    and how many rows (after ``where``) were left out as incomplete."""
    where = f"{WHERE}[{i}]"
    try:
        path, header, records = _read_csv(src, base_dir)
    except CsvFileError as exc:
        hint = "" if (Path(base_dir) / src.path).exists() else " (paths are relative to the campaign file)"
        raise ConfigError([Problem(f"{where}.path", f"{exc}{hint}")]) from None
    problems = _column_problems(src, where, inputs, path, header)
    if problems:
        raise ConfigError(problems)
    col = {name: header.index(name) for name in header}
    params, values, lines = [], [], []
    bad: list[Problem] = []  # every such line, not only the first (fuzz round nineteen)
    for line, cells in records:
        text = cells[col[src.objective]]
        row = {n: str(src.fixed[n]) if n in src.fixed else cells[col[src.columns.get(n, n)]] for n in inputs}
        if text == "" or any(v == "" or v.lower() == "nan" for n, v in row.items() if n not in src.fixed):
            continue  # an incomplete line: an empty or `nan` cell (pandas writes missing values so)
        y = parse_number(text)
        if y is None or math.isinf(y):
            why = unreadable_number(text) if y is None else ""  # '1e-400': too small for a float
            bad.append(Problem(f"{WHERE}[{i}].objective", f"{path.name}, line {line}: '{text}' in column "
                                                          f"'{src.objective}' is not a "
                                                          f"{'finite ' if y is not None else ''}number"
                                                          + (f" ({why})" if why else "")))
            continue
        if math.isnan(y):
            continue  # 'nan' as a missing value (pandas writes them so): an incomplete line
        params.append(row)  # text cells: encode_rows reads numbers where the space has numbers
        values.append(y)
        lines.append(f"{path.name}, line {line}")
    if bad:
        raise ConfigError(bad)
    if len(values) < 2:
        raise ConfigError([Problem(f"{WHERE}[{i}]", f"{path.name} has {len(values)} usable row(s) (complete, "
                                                    "matching `where`); a source needs at least 2")])
    _check_objective(values, f"{WHERE}[{i}].objective", f"column '{src.objective}' of {path.name}")
    _not_one_point(params, inputs, f"{WHERE}[{i}]", f"{path.name}'s {len(values)} usable rows")
    return str(path), params, values, lines, len(records) - len(values)


def _not_one_point(params: list[dict], inputs: Sequence[str], where: str, what: str) -> None:
    """Replicates of one point (or rows that ``fixed`` puts at one point) say nothing of how the objective
    varies with the inputs: a ConfigError naming the inputs."""
    points = {tuple(_same_cell(row[n]) for n in inputs) for row in params}
    if len(points) == 1:
        raise ConfigError([Problem(where, f"{what} are all at the same inputs "
                                          f"({', '.join(f'{n}={params[0][n]}' for n in inputs)}): a source says how "
                                          "the objective varies with the inputs, and these rows do not; give rows "
                                          "at other inputs too, or remove the source")])


def _check_objective(values: list[float], where: str, what: str) -> None:
    """A source whose objective is the same everywhere has nothing to transfer; it is most likely the wrong
    column (or a placeholder), so it is an error rather than a source that silently does nothing. Values so
    large that their spread overflows (every model standardises its data) are an error too."""
    with np.errstate(over="ignore", invalid="ignore"):
        spread = float(np.std(np.asarray(values, dtype=float)))
    if not math.isfinite(spread):
        raise ConfigError([Problem(where, f"{what} holds values too large to compute with (from {min(values):g} "
                                          f"to {max(values):g}: their variance overflows); rescale the column, "
                                          "e.g. to other units")])
    if max(values) == min(values):
        raise ConfigError([Problem(where, f"{what} has the same value ({values[0]:g}) in all {len(values)} usable "
                                          "rows: a constant source tells the target nothing; check that it is "
                                          "the objective's column, or remove the source")])
    from ..base import spread_of

    if spread_of(np.asarray(values, dtype=float)) == 0.0:  # below rounding, or below 1e-150: constant to a model
        raise ConfigError([Problem(where, f"{what} varies only by rounding or by less than 1e-150 (from "
                                          f"{min(values):g} to {max(values):g}): to a model it is constant; rescale "
                                          "the column (other units), or remove the source")])


def _campaign_rows(src: CampaignSource, i: int, inputs: Sequence[str], store: Any, frozen: Sequence[str] | None
                   ) -> tuple[str, list[dict], list[float], list[str]]:
    """The source campaign's succeeded experiments: all of them, or only those in ``frozen`` (the ids this
    campaign learnt from when it started, see ``frozen_sources``), in the store's order."""
    where = f"{WHERE}[{i}].campaign"
    if store is None:
        raise ConfigError([Problem(where, "a campaign source needs a store: run the campaign with "
                                          "`looplab run --store URL` (not in a benchmark)")])
    row = store.get_campaign(src.campaign)
    if row is None:
        names = [c.name for c in store.list_campaigns()]
        raise SourceNotReady([Problem(where, f"no campaign '{src.campaign}' in the store"
                                             + (f" (campaigns: {', '.join(names)})" if names else
                                                " (it holds no campaign)")
                                             + "; run the source campaign into this --store first, or give its "
                                               "results as a CSV source {path, objective}")])
    exps = [e for e in store.experiments(row.id, ["succeeded"]) if e.value is not None]
    if frozen is not None:
        keep = set(frozen)
        exps = [e for e in exps if e.id in keep]
        if len(exps) < len(keep):
            raise ConfigError([Problem(where, f"{len(keep) - len(exps)} of the {len(keep)} results of campaign "
                                              f"'{src.campaign}' this campaign started from are no longer in the "
                                              "store, so the source it learns from changed since it started; "
                                              "put that store back, or start a new campaign (another name or "
                                              "--store)")])
    params, values = [], []
    fixed = {n: str(v) for n, v in src.fixed.items()}
    for e in exps:
        held = [n for n in fixed if n in e.params]
        if held:
            raise ConfigError([Problem(f"{WHERE}[{i}].fixed.{held[0]}", f"campaign '{src.campaign}' has the input "
                                       f"'{held[0]}', and fixed says it held '{held[0]}' at "
                                       f"{_shown(src.fixed[held[0]])}; "
                                       "remove it from fixed to read the campaign's values")])
        missing = [n for n in inputs if n not in e.params and n not in fixed]
        if missing:
            raise ConfigError([Problem(where, f"campaign '{src.campaign}' lacks the input(s) {', '.join(missing)} "
                                              "of this campaign; if it held them at one value, give it with fixed: "
                                              "{INPUT: VALUE}")])
        params.append({n: fixed[n] if n in fixed else e.params[n] for n in inputs})
        values.append(float(e.value))
    if len(values) < 2:
        raise SourceNotReady([Problem(where, f"campaign '{src.campaign}' has {len(values)} succeeded "
                                             "experiment(s); a source needs at least 2")])
    _check_objective(values, where, f"the objective of campaign '{src.campaign}'")
    _not_one_point(params, inputs, f"{WHERE}[{i}]", f"the {len(values)} results of campaign '{src.campaign}'"
                   + (" (with fixed)" if fixed else ""))
    return f"campaign {src.campaign}", params, values, [e.id for e in exps]


def frozen_key(i: int) -> str:
    """The key, in the campaign's recorded data files (``Store.campaign_files``), of source ``i``'s ids."""
    return f"{WHERE}[{i}].campaign"


def frozen_sources(sources: Sequence[SourceData], config: TransferConfig) -> dict:
    """What to record when a campaign starts: each campaign source's experiment ids. A campaign learns from a
    source campaign as it was at its start, also when it is resumed after the source grew, so that a resumed
    run proposes what an uninterrupted one would (``load_sources(frozen=...)`` reads only those)."""
    return {frozen_key(i): {"campaign": src.campaign, "experiments": list(s.ids)}
            for i, (src, s) in enumerate(zip(config.source, sources)) if isinstance(src, CampaignSource)}


def _goal(objective: dict) -> str:
    goal = objective.get("goal")
    if goal == "target":
        return f"seeks {objective.get('target_value')} in '{objective.get('name')}'"
    return f"{goal or 'max'}imises '{objective.get('name')}'"


def _stored_inputs(spec: dict) -> list[str]:
    """A stored campaign spec's input names (pool inputs or parameter names)."""
    space = spec.get("space") or {}
    if isinstance(space.get("pool"), dict):
        return list(space["pool"].get("inputs") or [])
    return [p.get("name") for p in space.get("parameters") or [] if isinstance(p, dict)]


LARGE_SOURCE = 5000  # rows of a source above which its one-off GP fit is long enough to be said


def _same_lookup(spec: dict, base_dir: str, target: dict | None, target_dir: str | None) -> str | None:
    """The table both campaigns look their results up in, when ``spec`` (a source campaign's) and ``target``
    measure by the same lookup: the same pool file, rows, objective column and table."""
    def lookup(s: dict, folder: str) -> tuple | None:
        oracle, pool, goal = s.get("oracle") or {}, (s.get("space") or {}).get("pool") or {}, s.get("objective") or {}
        if oracle.get("kind") != "lookup" or not pool.get("path"):
            return None
        params = oracle.get("params") or {}
        table = params.get("path") or pool["path"]
        return (os.path.realpath(Path(folder) / pool["path"]), os.path.realpath(Path(folder) / table),
                json.dumps(pool.get("where") or {}, sort_keys=True), params.get("column") or goal.get("name"))
    if not target or target_dir is None:
        return None
    theirs, ours = lookup(spec, base_dir), lookup(target, target_dir)
    return Path(ours[1]).name if theirs is not None and theirs == ours else None


def source_notes(config: TransferConfig, *, store: Any, sources: Sequence[SourceData], objective: dict,
                 inputs: Sequence[str], then: dict | None, target: dict | None = None,
                 target_dir: str | None = None) -> list[str]:
    """Notes on the sources when a campaign starts or resumes: a CSV source's rows left out as incomplete; a
    source campaign whose objective or goal differs from the campaign's ``objective`` (its values are used
    as this objective's), or with inputs the campaign lacks (its results are pooled over them), or, given
    the record of the campaign's start (``then``), with results newer than that (not used)."""
    said = [s.note for s in sources if s.note]
    methods = set(config.auto_methods) if config.method == "auto" else {config.method}
    if methods & {"prior-mean", "latent-variable"}:  # these fit a GP on each source, once, at the first step
        said += [f"source[{i}] {Path(s.name).name}: {len(s.y):,} rows; its GP (sparse above 2,000 rows) is fitted "
                 "once, at the first step, which takes a while (measured on 2 cores: 10 s for 6,000 rows, 134 s for "
                 "50,000), and is kept in the store for every later step"
                 for i, s in enumerate(sources) if len(s.y) > LARGE_SOURCE]
    for key, rec in frozen_sources(sources, config).items():
        source = store.get_campaign(rec["campaign"])
        spec = source.spec if source is not None and isinstance(source.spec, dict) else {}
        extra = [n for n in _stored_inputs(spec) if n not in inputs]
        if extra:
            said.append(f"source campaign '{rec['campaign']}' has the input(s) {', '.join(extra)}, which this "
                        "campaign lacks: its results are pooled over them (two of its results at the same values "
                        "of this campaign's inputs may differ by what those did); keep them fixed in the source, "
                        "or add them to this campaign's space")
        table = _same_lookup(spec, getattr(source, "base_dir", "") or "", target, target_dir)
        if table:  # as the CSV check refuses a copy of the pool (fuzz round nineteen: a campaign source passed)
            said.append(f"source campaign '{rec['campaign']}' looked its results up in the same table as this one "
                        f"({table}): they are this campaign's own answers, so the model knows them before they are "
                        "measured; for a benchmark give a source measured under other conditions, and for earlier "
                        "results of the same task use initial.data (looplab export it to a CSV)")
        theirs = spec.get("objective")
        if isinstance(theirs, dict) and theirs.get("name") != objective["name"]:
            said.append(f"source campaign '{rec['campaign']}' {_goal(theirs)} where this one {_goal(objective)}: its "
                        f"measured values are used as values of '{objective['name']}' (a transfer model learns how "
                        "the two relate; remove the source if they are not the same kind of quantity)")
        elif isinstance(theirs, dict) and _goal(theirs) != _goal(objective):
            said.append(f"source campaign '{rec['campaign']}' {_goal(theirs)} where this one {_goal(objective)}: its "
                        "results are used as measured (they tell the model about the objective where that campaign "
                        "looked, which may be far from where this one looks)")
        if then and key in then and source is not None:
            current = {e.id for e in store.experiments(source.id, ["succeeded"]) if e.value is not None}
            newer = len(current - set(then[key].get("experiments", [])))
            if newer:
                said.append(f"source campaign '{rec['campaign']}' has {newer} result(s) newer than this campaign's "
                            "start; they are not used (a campaign learns from its sources as they were when it "
                            "started, so that a resumed run proposes what an uninterrupted one would); to use them, "
                            "start a new campaign (another name or --store)")
    return said


def _number(value: Any) -> bool:
    try:
        strict_float(value)
        return True
    except (TypeError, ValueError):
        return False


def encode_rows(space: Any, rows: Sequence[dict], where: str, places: Sequence[str] = ()) -> np.ndarray:
    """Source rows -> the campaign's encoding [N, D] (see the module docstring for pools); ConfigError naming
    the input and row (``places[k]``: its file line or experiment) of a value that cannot be encoded or lies
    far outside the campaign's range."""
    def at(k: int) -> str:
        return places[k] if k < len(places) else f"row {k + 1} of the source's usable rows"

    X = _encode(space, rows, where, at)
    _check_range(space, X, rows, where, at)
    return X


def _encode(space: Any, rows: Sequence[dict], where: str, at: Callable[[int], str]) -> np.ndarray:
    if not getattr(space, "is_pool", False):
        problems = []
        for p in space.parameters:
            choices = getattr(p, "choices", None)
            if choices is None:
                continue
            bad = sorted({str(r[p.name]) for r in rows} - {str(c) for c in choices})
            if bad:
                problems.append(Problem(where, f"input '{p.name}' has level(s) {', '.join(bad[:5])} that are not "
                                               f"among its choices ({', '.join(map(str, choices))})"))
        if problems:
            raise ConfigError(problems)
        fixed = []
        for k, r in enumerate(rows):
            row = {}
            for name in space.names:
                try:
                    row[name] = _as_choice(space, name, r[name])
                except (TypeError, ValueError):
                    raise ConfigError([Problem(where, f"input '{name}' is '{r[name]}', not a number, at {at(k)}; "
                                                      "fill in a number or drop the row")]) from None
            fixed.append(row)
        bad = next(((k, n) for k, r in enumerate(fixed) for n in space.names
                    if isinstance(r[n], float) and not math.isfinite(r[n])), None)
        if bad is not None:
            raise ConfigError([Problem(where, f"input '{bad[1]}' is {fixed[bad[0]][bad[1]]} at {at(bad[0])}; fill it "
                                              "in or drop the row")])
        logs = [p.name for p in space.parameters if getattr(p, "log", False)]
        bad = next(((k, n) for k, r in enumerate(fixed) for n in logs if r[n] <= 0), None)
        if bad is not None:  # the log scale's encoding has no value there (it was "math domain error")
            k, name = bad
            raise ConfigError([Problem(where, f"input '{name}' is {fixed[k][name]:g} at {at(k)}, but '{name}' is on "
                                              "a log scale (log: true): a source value must be above 0; fix it or "
                                              "drop the row")])
        return space.encode(fixed)
    X = np.zeros((len(rows), space.dim))
    cands, CX = space.candidates, space.X
    for g in space.column_groups():
        values = [c[g.name] for c in cands]
        if g.kind == "numeric":
            v = np.array(values, dtype=float)
            lo, hi = int(np.argmin(v)), int(np.argmax(v))
            col = g.columns.start
            slope = (CX[hi, col] - CX[lo, col]) / (v[hi] - v[lo]) if v[hi] > v[lo] else 0.0
            try:
                x = np.array([strict_float(r[g.name]) for r in rows])
            except (TypeError, ValueError):
                k = next(k for k, r in enumerate(rows) if not _number(r[g.name]))  # fuzz round nineteen: name it
                raise ConfigError([Problem(where, f"input '{g.name}' is numeric in the pool but the source has the "
                                                  f"text '{str(rows[k][g.name])[:40]}' in it at {at(k)}; fill in a "
                                                  "number or drop the row")]) from None
            if not np.all(np.isfinite(x)):
                raise ConfigError([Problem(where, f"input '{g.name}' has a value that is not a finite number "
                                                  f"({x[~np.isfinite(x)][0]}) at {at(int(np.argmin(np.isfinite(x))))}; "
                                                  "fix it or drop the row")])
            X[:, col] = CX[lo, col] + slope * (x - v[lo])
            continue
        first: dict[str, int] = {}
        for j, v in enumerate(values):
            first.setdefault(str(v), j)
        bad = sorted({str(r[g.name]) for r in rows} - set(first))
        if bad:
            raise ConfigError([Problem(where, f"input '{g.name}' has level(s) {', '.join(bad[:5])} that the pool "
                                              f"does not have (levels: {', '.join(sorted(first)[:10])})")])
        X[:, g.columns] = CX[[first[str(r[g.name])] for r in rows]][:, g.columns]
    return X


def check_fixed(space: Any, src: Any, i: int, row: dict) -> None:
    """ConfigError naming ``source[i].fixed.INPUT`` for each fixed value the campaign's space cannot encode:
    text for a numeric input, a level the input does not have, a value not above 0 on a log scale or far
    outside the campaign's range. ``row``: one of the source's rows (the fixed values filled in)."""
    problems, numeric = [], []
    for name, value in getattr(src, "fixed", {}).items():
        text, field, shown_value = str(value), f"{WHERE}[{i}].fixed.{name}", _shown(value)
        if getattr(space, "is_pool", False):
            group = next(g for g in space.column_groups() if g.name == name)
            is_number, log = group.kind == "numeric", False
            levels = [] if is_number else sorted({str(c[name]) for c in space.candidates})
        else:
            p = space._by_name[name]
            choices = getattr(p, "choices", None)
            is_number, log, levels = choices is None, bool(getattr(p, "log", False)), [str(c) for c in choices or ()]
        if not is_number:
            if text not in levels:
                shown = ", ".join(levels[:10]) + (", ..." if len(levels) > 10 else "")
                same = [lv for lv in levels if unicodedata.normalize("NFC", lv) == unicodedata.normalize("NFC", text)]
                why = (f" (it is the level '{same[0]}' written in another Unicode form: composed and decomposed "
                       "accents; retype it)" if same else "")
                problems.append(Problem(field, f"{shown_value} is not a level of '{name}' (levels: {shown}){why}; "
                                               f"give the level '{name}' had in every row of the source, as the "
                                               "campaign spells it"))
            continue
        try:
            x = strict_float(text)
        except (TypeError, ValueError):
            problems.append(Problem(field, f"{shown_value} is not a number, and '{name}' is numeric in the "
                                           f"campaign; give the number '{name}' had in every row of the source"))
            continue
        if not math.isfinite(x):
            problems.append(Problem(field, f"{shown_value} is not a finite number; give the number '{name}' had in "
                                           "every row of the source"))
            continue
        if log and x <= 0:
            problems.append(Problem(field, f"{shown_value} is not above 0, and '{name}' is on a log scale (log: "
                                           "true); give a value above 0"))
            continue
        numeric.append(name)
    if not problems and numeric:
        X = _encode(space, [row], f"{WHERE}[{i}].fixed", lambda k: "fixed")[0]
        for g in space.column_groups():
            if g.name in numeric and not (np.isfinite(X[g.columns.start]) and abs(X[g.columns.start]) <= FAR):
                problems.append(Problem(f"{WHERE}[{i}].fixed.{g.name}", f"{_shown(src.fixed[g.name])} is more than "
                                        f"{FAR:g} times the campaign's range of '{g.name}' away from it (a typo, or "
                                        "another unit?)"))
    if problems:
        raise ConfigError(problems)


def _as_choice(space: Any, name: str, value: Any) -> Any:
    p = space._by_name[name]
    choices = getattr(p, "choices", None)
    if choices is None:
        return strict_float(value)
    return next(c for c in choices if str(c) == str(value))


FAR = 1e3  # campaign ranges: a source input further than this from the campaign's own is a mistake


def _check_range(space: Any, X: np.ndarray, rows: Sequence[dict], where: str, at: Callable[[int], str]) -> None:
    """A numeric source input far outside the campaign's range (1e308 where the pool spans 1 to 5: a typo or
    another unit) would overflow the GP's kernel; refuse it, naming the input, the value and the row. The
    campaign's encoding spans about [0, 1] per input, so an encoded value beyond FAR is FAR ranges away."""
    far = ~np.isfinite(X) | (np.abs(X) > FAR)
    if not far.any():
        return
    k, col = (int(v) for v in np.argwhere(far)[0])
    name = next((g.name for g in space.column_groups() if col in range(g.columns.start, g.columns.stop)), "?")
    raise ConfigError([Problem(where, f"input '{name}' is {rows[k].get(name)} at {at(k)}, more than {FAR:g} times "
                                      f"the campaign's range of '{name}' away from it (a typo, or another unit?); fix "
                                      "the value or drop the row")])


def load_sources(config: TransferConfig, *, space: Any, inputs: Sequence[str], base_dir: Path, store: Any,
                 internal: Callable[[np.ndarray], np.ndarray], frozen: dict | None = None
                 ) -> tuple[SourceData, ...]:
    """Every source of ``config``, encoded with ``space``; raises ConfigError naming what is wrong. ``frozen``:
    the ids recorded when the campaign started (``frozen_sources``); a campaign source without them (a new
    campaign, or one started before they were recorded) gives all its succeeded experiments."""
    out = []
    for i, src in enumerate(config.source):
        ids: list[str] = []
        note = ""
        if isinstance(src, CsvSource):
            name, params, values, places, skipped = _csv_rows(src, i, inputs, base_dir)
            check_fixed(space, src, i, params[0])
            if skipped:
                note = (f"source[{i}] {Path(name).name}: {len(values)} of its {len(values) + skipped} rows"
                        f"{' (after where)' if src.where else ''} are used; {skipped} incomplete row(s) (an empty "
                        "or nan cell in an input or the objective) are left out")
        else:
            record = (frozen or {}).get(frozen_key(i))
            keep = record.get("experiments") if isinstance(record, dict) and record.get("campaign") == src.campaign \
                else None
            name, params, values, ids = _campaign_rows(src, i, inputs, store, keep)
            places = [f"experiment {e}" for e in ids]
            check_fixed(space, src, i, params[0])
        X = encode_rows(space, params, f"{WHERE}[{i}]", places)
        for said in (_wider_than_the_campaign(space, X, params), _flat_in_the_pool(space, params)):
            if said:
                note = "; ".join(filter(None, [note, f"source[{i}] {Path(name).name}: {said}"]))
        out.append(SourceData.make(name, X, internal(np.asarray(values, dtype=float)), ids, note))
    return tuple(out)


WIDE = 10.0  # a source input spanning this many times the campaign's range of it is said at the start


def _wider_than_the_campaign(space: Any, X: np.ndarray, rows: Sequence[dict]) -> str:
    """A note when a numeric source input spans WIDE times or more the campaign's range of it (0-100 for a
    campaign's 0-1: percent for fractions?), which FAR (a mistake beyond doubt) lets through: '' if none."""
    said, times = [], []
    for g in space.column_groups():
        if g.kind != "numeric" or not len(X):
            continue
        col = X[:, g.columns.start]
        if col.max() - col.min() >= WIDE:
            values = [float(r[g.name]) for r in rows]
            said.append(f"'{g.name}' ({min(values):g} to {max(values):g})")
            times.append(col.max() - col.min())
    if not said:
        return ""
    return (f"input{'s' if len(said) > 1 else ''} {', '.join(said)} span{'' if len(said) > 1 else 's'} up to "
            f"{max(times):.0f} times the campaign's range (other units, such as percent for fractions?)")


def _flat_in_the_pool(space: Any, rows: Sequence[dict]) -> str:
    """A note when the source has other values of a numeric input that is the same in every candidate of the
    pool: the pool gives that input no scale, so the model cannot tell them apart ('' if none)."""
    if not getattr(space, "is_pool", False) or not rows:
        return ""
    said = []
    for g in space.column_groups():
        if g.kind != "numeric":
            continue
        values = {_same_cell(str(c[g.name])) for c in space.candidates}
        if len(values) != 1:
            continue
        (pool,) = values
        other = sorted({v for r in rows if (v := _same_cell(str(r[g.name]))) != pool}, key=str)
        if other:
            shown = ", ".join(_shown(v) for v in other[:3]) + (", ..." if len(other) > 3 else "")
            said.append(f"input '{g.name}' is {_shown(pool)} in every candidate of the pool, so the model cannot "
                        f"tell the source's other values of it ({shown}) from {_shown(pool)}: those rows count as if "
                        f"measured at {g.name} = {_shown(pool)}")
    return "; ".join(said)


def subsample(sources: Sequence[SourceData], fraction: float, rng: np.random.Generator) -> tuple[SourceData, ...]:
    """``fraction`` of each source's rows drawn at random without replacement (at least 2 per source)."""
    out = []
    for s in sources:
        k = min(len(s.y), max(2, int(round(fraction * len(s.y)))))
        out.append(s.subset(np.sort(rng.choice(len(s.y), size=k, replace=False))))
    return tuple(out)
