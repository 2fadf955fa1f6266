"""Search spaces: parameters (with mixture constraints) or a pool of candidates.

Models see every space through the same encoding: each input scaled to
[0, 1] (floats linearly or on a log scale, ints linearly and rounded back),
categorical inputs one-hot, or, when their levels are molecules with a SMILES
each, by RDKit descriptors or fingerprints (orchestrator/encodings.py).
``encode`` maps parameter dicts to an [N, D] float64 array and ``decode`` maps
back; ``column_groups`` says which encoded columns belong to which input.

A pool's input columns are typed on purpose: numbers, unless declared in
``categorical`` (text levels, kept as written, one-hot in sorted order); a
column that mixes numbers and text, an all-text column not declared, an empty,
``nan`` or infinite input cell are errors naming the column and line.
"""

from __future__ import annotations

import os
import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from oracles.csvfile import parse_number, unreadable_number

from .config import (
    CategoricalParameter,
    FloatParameter,
    IntParameter,
    PoolSpec,
    SpaceSpec,
    SumConstraint,
    look_alike,
    look_alike_message,
)
from .errors import ConfigError, LooplabError, Problem

Params = dict[str, Any]


@dataclass(frozen=True)
class ColumnGroup:
    """The encoded columns of one input: ``X[:, columns]`` holds it.

    kind: ``numeric`` (one column in [0, 1]), ``categorical`` (one-hot, one column per level) or
    ``descriptors`` (a level's chemical descriptors or fingerprint bits, each column in [0, 1]).
    A space's groups cover every encoded column exactly once, in order.
    """

    name: str
    columns: slice
    kind: Literal["numeric", "categorical", "descriptors"]

    @property
    def width(self) -> int:
        return self.columns.stop - self.columns.start


def _design_unit(n: int, d: int, method: str, rng: np.random.Generator) -> np.ndarray:
    """n points in [0, 1]^d by random, scrambled Sobol or Latin hypercube sampling."""
    from scipy.stats import qmc

    if d == 0:
        return np.zeros((n, 0))
    seed = int(rng.integers(2**31))
    if method == "random":
        return rng.random((n, d))
    if method == "sobol":
        sampler = qmc.Sobol(d, scramble=True, seed=seed)
        m = max(1, math.ceil(math.log2(max(n, 2))))
        return sampler.random_base2(m)[:n]
    if method == "lhs":
        return qmc.LatinHypercube(d, seed=seed).random(n)
    raise ValueError(f"unknown design method {method!r}")


class ParameterSpace:
    """A box of float/int/categorical parameters with optional sum constraints."""

    is_pool = False
    size = None

    def __init__(self, *, parameters: Sequence, constraints: Sequence[SumConstraint] = (),
                 features: dict[str, np.ndarray] | None = None):
        """``features`` maps a categorical parameter encoded by its molecules to [L, K] features, row l
        those of ``choices[l]`` (orchestrator/encodings.py); other categorical parameters are one-hot."""
        self.parameters = list(parameters)
        self.constraints = list(constraints)
        self.features = dict(features or {})
        self.names = [p.name for p in self.parameters]
        self._by_name = {p.name: p for p in self.parameters}
        # encoded column slices, one per parameter
        self.slices: dict[str, slice] = {}
        col = 0
        for p in self.parameters:
            if p.name in self.features:
                width = self.features[p.name].shape[1]
            else:
                width = len(p.choices) if isinstance(p, CategoricalParameter) else 1
            self.slices[p.name] = slice(col, col + width)
            col += width
        self.dim = col
        self._constrained = {n for c in self.constraints for n in c.parameters}

    def column_groups(self) -> list[ColumnGroup]:
        """One group per parameter, in order (see :class:`ColumnGroup`)."""
        def kind(p) -> str:
            if p.name in self.features:
                return "descriptors"
            return "categorical" if isinstance(p, CategoricalParameter) else "numeric"

        return [ColumnGroup(p.name, self.slices[p.name], kind(p)) for p in self.parameters]

    # -- encoding ---------------------------------------------------------------------

    def encode(self, rows: Sequence[Params]) -> np.ndarray:
        X = np.zeros((len(rows), self.dim))
        for i, row in enumerate(rows):
            for p in self.parameters:
                s = self.slices[p.name]
                v = row[p.name]
                if p.name in self.features:
                    X[i, s] = self.features[p.name][p.choices.index(v)]
                elif isinstance(p, CategoricalParameter):
                    X[i, s.start + p.choices.index(v)] = 1.0
                elif isinstance(p, FloatParameter) and p.log:
                    X[i, s.start] = (math.log(v) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
                else:
                    X[i, s.start] = (float(v) - p.low) / (p.high - p.low)
        return X

    def decode(self, X: np.ndarray) -> list[Params]:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = []
        for x in X:
            row: Params = {}
            for p in self.parameters:
                s = self.slices[p.name]
                if p.name in self.features:  # the choice whose features are nearest
                    F = self.features[p.name]
                    row[p.name] = p.choices[int(np.argmin(np.sum((F - x[s]) ** 2, axis=1)))]
                    continue
                if isinstance(p, CategoricalParameter):
                    row[p.name] = p.choices[int(np.argmax(x[s]))]
                    continue
                u = float(np.clip(x[s.start], 0.0, 1.0))
                if isinstance(p, FloatParameter) and p.log:
                    row[p.name] = float(math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low))))
                elif isinstance(p, IntParameter):
                    row[p.name] = int(round(p.low + u * (p.high - p.low)))
                else:
                    row[p.name] = float(p.low + u * (p.high - p.low))
            for c in self.constraints:
                self._project(row, c)
            out.append(row)
        return out

    def scales(self) -> tuple:
        """The numeric parameters' encoding, as ``models.base.InputScale`` (categoricals left out)."""
        from .models.base import InputScale

        return tuple(InputScale(p.name, self.slices[p.name].start, float(p.low), float(p.high),
                                bool(getattr(p, "log", False)))
                     for p in self.parameters if not isinstance(p, CategoricalParameter))

    def _project(self, row: Params, c: SumConstraint) -> None:
        """Make the constrained values sum to the total exactly, staying in bounds."""
        ps = [self._by_name[n] for n in c.parameters]
        x = np.array([row[p.name] for p in ps], dtype=float)
        lo = np.array([p.low for p in ps])
        hi = np.array([p.high for p in ps])
        x = np.clip(x, lo, hi)
        for _ in range(len(ps) + 1):
            gap = c.total - x.sum()
            if abs(gap) < 1e-12:
                break
            room = (hi - x) if gap > 0 else (x - lo)
            if room.sum() <= 0:
                break
            x = np.clip(x + gap * room / room.sum(), lo, hi)
        for p, v in zip(ps, x):
            row[p.name] = float(v)

    # -- geometry for the optimiser ---------------------------------------------------

    def refine_mask(self) -> np.ndarray:
        """Encoded columns a continuous optimiser may move (floats and ints)."""
        mask = np.zeros(self.dim, dtype=bool)
        for p in self.parameters:
            if not isinstance(p, CategoricalParameter):
                mask[self.slices[p.name].start] = True
        return mask

    def linear_equalities(self) -> tuple[np.ndarray, np.ndarray]:
        """A, b with A @ x_encoded = b for every sum constraint."""
        A = np.zeros((len(self.constraints), self.dim))
        b = np.zeros(len(self.constraints))
        for k, c in enumerate(self.constraints):
            total = c.total
            for n in c.parameters:
                p = self._by_name[n]
                A[k, self.slices[n].start] = p.high - p.low
                total -= p.low
            b[k] = total
        return A, b

    # -- sampling ---------------------------------------------------------------------

    def sample(self, n: int, method: str, rng: np.random.Generator) -> list[Params]:
        """n parameter dicts by a space-filling design, honouring the constraints."""
        free = [p for p in self.parameters if p.name not in self._constrained]
        widths = [len(c.parameters) - 1 for c in self.constraints]
        d = len(free) + sum(widths)
        rows: list[Params] = []
        attempts = 0
        while len(rows) < n:
            attempts += 1
            if attempts > 50:
                raise LooplabError(
                    "cannot sample points that satisfy the constraints: the bounds leave almost "
                    "no room on the simplex; widen the bounds of the constrained parameters"
                )
            want = (n - len(rows)) * (1 if not self.constraints else 4 * attempts)
            U = _design_unit(want, d, method, rng)
            for u in U:
                row = self._from_unit(u, free, widths)
                if row is not None:
                    rows.append(row)
                    if len(rows) == n:
                        break
        return rows

    def _from_unit(self, u: np.ndarray, free: list, widths: list[int]) -> Params | None:
        row: Params = {}
        for j, p in enumerate(free):
            if isinstance(p, CategoricalParameter):
                row[p.name] = p.choices[min(int(u[j] * len(p.choices)), len(p.choices) - 1)]
            elif isinstance(p, IntParameter):
                row[p.name] = min(p.low + int(u[j] * (p.high - p.low + 1)), p.high)
            elif p.log:
                row[p.name] = float(math.exp(math.log(p.low) + u[j] * (math.log(p.high) - math.log(p.low))))
            else:
                row[p.name] = float(p.low + u[j] * (p.high - p.low))
        col = len(free)
        for c, w in zip(self.constraints, widths):
            # k-1 uniforms -> uniform point on the k-simplex by sorted spacings
            cuts = np.sort(u[col : col + w])
            col += w
            s = np.diff(np.concatenate([[0.0], cuts, [1.0]]))
            ps = [self._by_name[name] for name in c.parameters]
            lows = np.array([p.low for p in ps])
            x = lows + (c.total - lows.sum()) * s
            if np.any(x > np.array([p.high for p in ps]) + 1e-12):
                return None
            for p, v in zip(ps, x):
                row[p.name] = float(v)
        return row

    def describe(self) -> str:
        parts = [p.name for p in self.parameters]
        return f"{len(parts)} parameters ({', '.join(parts)})"


class PoolSpace:
    """A finite set of candidates read from a CSV (duplicate inputs collapsed).

    ``categorical`` inputs hold text levels; the others numbers. ``features`` maps a categorical input
    encoded by its molecules to ``(levels, F)``: F is [L, K], row l the features of ``levels[l]``
    (see orchestrator/encodings.py); every other categorical input is one-hot over its sorted levels.
    """

    is_pool = True

    def __init__(self, *, path: Path, inputs: list[str], rows: list[Params], categorical: Sequence[str] = (),
                 features: dict[str, tuple[list[str], np.ndarray]] | None = None,
                 where: dict[str, Any] | None = None, n_rows: int | None = None, notes: Sequence[str] = ()):
        self.path = path
        self.notes = list(notes)  # what a user should know of a valid pool (said by validate and at the start)
        self.names = list(inputs)
        self.candidates = rows
        self.size = len(rows)
        self.n_rows = len(rows) if n_rows is None else int(n_rows)  # the file's kept rows (repeats collapsed)
        self.categorical = [n for n in self.names if n in set(categorical)]
        self.features = dict(features or {})
        self.where = dict(where or {})
        self._index = {self.key(r): i for i, r in enumerate(rows)}
        self.levels: dict[str, list[str]] = {}  # each one-hot input's levels, sorted (for messages)
        cols = []
        self._groups: list[ColumnGroup] = []
        start = 0
        self._scales = []
        for name in self.names:
            values = [r[name] for r in rows]
            if name in self.features:
                levels, F = self.features[name]
                pos = {lv: i for i, lv in enumerate(levels)}
                cols.append(F[[pos[str(v)] for v in values]])
                kind = "descriptors"
            elif name in self.categorical or not all(isinstance(v, float) for v in values):
                levels = sorted({str(v) for v in values})
                self.levels[name] = levels
                pos = {lv: i for i, lv in enumerate(levels)}
                onehot = np.zeros((len(values), len(levels)))
                onehot[np.arange(len(values)), [pos[str(v)] for v in values]] = 1.0
                cols.append(onehot)
                kind = "categorical"
            else:
                a = np.array(values)
                lo, hi = a.min(), a.max()
                self._scales.append((name, sum(c.shape[1] for c in cols), float(lo), float(hi)))
                cols.append(((a - lo) / (hi - lo))[:, None] if hi > lo else np.zeros((len(a), 1)))
                kind = "numeric"
            width = cols[-1].shape[1]
            self._groups.append(ColumnGroup(name, slice(start, start + width), kind))
            start += width
        self.X = np.hstack(cols) if cols else np.zeros((len(rows), 0))
        self.dim = self.X.shape[1]

    def column_groups(self) -> list[ColumnGroup]:
        """One group per input, in order (see :class:`ColumnGroup`)."""
        return list(self._groups)

    def subset(self, keep: Sequence[int]) -> "PoolSpace":
        """The pool of the candidates ``keep`` (indices), with the same typing and encodings."""
        return PoolSpace(path=self.path, inputs=self.names, rows=[self.candidates[i] for i in keep],
                         categorical=self.categorical, features=self.features, where=self.where)

    def key(self, params: Params) -> tuple:
        return tuple(_key_value(params[n]) for n in self.names)

    def scales(self) -> tuple:
        """The numeric columns' encoding, as ``models.base.InputScale`` (categoricals left out)."""
        from .models.base import InputScale

        return tuple(InputScale(n, c, lo, hi) for n, c, lo, hi in self._scales)

    def index_of(self, params: Params) -> int | None:
        return self._index.get(self.key(params))

    def encode(self, rows: Sequence[Params]) -> np.ndarray:
        idx = []
        for r in rows:
            i = self.index_of(r)
            if i is None:
                raise LooplabError(f"params {r} are not a candidate of the pool {self.path}")
            idx.append(i)
        return self.X[idx] if idx else np.zeros((0, self.dim))

    def sample_indices(self, n: int, method: str, rng: np.random.Generator, exclude: set[int]) -> list[int]:
        """n distinct pool rows: random draws, or the rows nearest a space-filling design."""
        free = [i for i in range(self.size) if i not in exclude]
        n = min(n, len(free))
        if method == "random" or self.dim == 0:
            return [int(i) for i in rng.choice(free, size=n, replace=False)]
        U = _design_unit(n, self.dim, method, rng)
        chosen: list[int] = []
        avail = np.array(free)
        for u in U:
            d = np.sum((self.X[avail] - u) ** 2, axis=1)
            j = int(np.argmin(d))
            chosen.append(int(avail[j]))
            avail = np.delete(avail, j)
        return chosen

    def describe(self) -> str:
        repeats = ""
        if self.n_rows > self.size:  # said, so that a forgotten `where:` (averaging other conditions) shows
            repeats = (f" (from {self.n_rows} rows: rows with the same inputs are one candidate, their objectives "
                       "averaged)")
        return f"pool of {self.size} candidates{repeats} over {', '.join(self.names)}"


def _key_value(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return round(float(v), 9)
    return str(v)


def _is_missing(text: str) -> bool:
    return text == "" or text.lower() == "nan"


def _column_problem(name: str, cells: list[tuple[int, str]], file: str) -> str | None:
    """What is wrong with the numeric input column ``name`` (its (line, cell) pairs), or None."""
    first_text = None
    numbers = 0
    lo = hi = None  # (value, line) of the smallest and largest number
    for line, text in cells:
        if text == "":
            return f"{file}, line {line}: the cell of '{name}' is empty; fill it in or remove the row"
        x = parse_number(text)
        if x is None:
            hint = unreadable_number(text)
            if hint:  # a number after all, that a float cannot hold (1e-400), or in other digits: not text
                return (f"{file}, line {line}: the cell of '{name}' is a number a float cannot hold as written: "
                        f"{hint}; fix the cell (other units?) or remove the row")
            first_text = first_text or line
            continue
        if not math.isfinite(x):
            return (f"{file}, line {line}: '{name}' is {text.lower()}; an input must be a finite number "
                    "(fix the cell or remove the row)")
        numbers += 1
        lo = (x, line) if lo is None or x < lo[0] else lo
        hi = (x, line) if hi is None or x > hi[0] else hi
    if first_text is None:
        if lo is not None and not math.isfinite(hi[0] - lo[0]):  # the [0, 1] scaling would overflow
            return (f"{file}: the column '{name}' spans {lo[0]:g} (line {lo[1]}) to {hi[0]:g} (line {hi[1]}), too "
                    "wide a range to scale; check those cells (a typo, or another unit?)")
        return None
    if numbers:
        return (f"{file}: the column '{name}' mixes numbers and text (first text on line {first_text}); "
                f"fix that cell, or declare the column in space.pool.categorical if it holds levels")
    return (f"{file}: the column '{name}' holds text; declare it as categorical (space.pool.categorical: "
            f"[{name}]) to use its values as levels")


def _smiles_of_levels(name: str, column: str, pairs: list[tuple[int, str, str]], file: str
                      ) -> tuple[list[str], list[str]] | str:
    """Sorted levels of ``name`` and the SMILES of each, from (line, level, smiles) triples; or an error."""
    found: dict[str, tuple[str, int]] = {}
    for line, level, smi in pairs:
        if smi == "":
            return f"{file}, line {line}: the level '{level}' of '{name}' has no SMILES in column '{column}'"
        if level in found and found[level][0] != smi:
            return (f"{file}: the level '{level}' of '{name}' has two different SMILES in column '{column}' "
                    f"(lines {found[level][1]} and {line}); give each level one SMILES")
        found.setdefault(level, (smi, line))
    levels = sorted(found)
    return levels, [found[lv][0] for lv in levels]


def load_pool(spec: PoolSpec, base_dir: Path) -> PoolSpace:
    """Read, type and encode a pool CSV; raise ConfigError naming the field, file and line of a problem."""
    from oracles.csvfile import CsvFileError, describe_columns, filter_rows, read_table, unmatched_where

    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", str(spec.path)):
        raise ConfigError([Problem("space.pool.path", f"'{spec.path}' is a URL; looplab reads a pool from a local "
                                                      "file: download it and give its path")])
    path = Path(os.path.realpath(base_dir / spec.path))  # a loop of links: not found, no OSError
    try:
        header, records = read_table(path)
    except CsvFileError as exc:
        hint = " (paths are relative to the campaign file)" if not path.exists() else ""
        raise ConfigError([Problem("space.pool.path", f"{exc}{hint}")]) from None
    file = path.name
    problems = []
    for i, name in enumerate(spec.inputs):
        if name not in header:
            problems.append(Problem(f"space.pool.inputs[{i}]", f"column '{name}' is not in {file} "
                                                               f"({describe_columns(header)})"))
    for name in spec.where:
        if name not in header:
            problems.append(Problem(f"space.pool.where.{name}", f"column '{name}' is not in {file} "
                                                                f"({describe_columns(header)})"))
    for name, column in spec.smiles.items():
        if column not in header:
            problems.append(Problem(f"space.pool.smiles.{name}", f"column '{column}' is not in {file} "
                                                                 f"({describe_columns(header)})"))
    if problems:
        raise ConfigError(problems)
    unmatched = unmatched_where(header, records, spec.where, file)
    if unmatched:
        raise ConfigError([Problem(f"space.pool.where.{name}", f"{m}; check the value") for name, m in unmatched])
    records = filter_rows(header, records, spec.where)
    if not records:
        if spec.where:
            wanted = ", ".join(f"{k} = {v}" for k, v in spec.where.items())
            raise ConfigError([Problem("space.pool.where", f"no row of {file} has {wanted}; check the values")])
        raise ConfigError([Problem("space.pool.path", f"{file} has no candidate rows (only a header line)")])

    col = {name: header.index(name) for name in header}
    for i, name in enumerate(spec.inputs):
        column_cells = [(line, cells[col[name]]) for line, cells in records]
        if name in spec.categorical:
            bad = next(((line, text) for line, text in column_cells if _is_missing(text)), None)
            if bad is not None:
                what = "is empty" if bad[1] == "" else f"is '{bad[1]}', read as a missing value (rename the level)"
                problems.append(Problem(f"space.pool.inputs[{i}]", f"{file}, line {bad[0]}: the categorical input "
                                                                   f"'{name}' {what}; fill it in or remove the row"))
        else:
            msg = _column_problem(name, column_cells, file)
            if msg:
                problems.append(Problem(f"space.pool.inputs[{i}]", msg))
    if problems:
        raise ConfigError(problems)

    categorical = set(spec.categorical)
    seen: set[tuple] = set()
    rows: list[Params] = []
    for _, cells in records:
        row = {n: cells[col[n]] if n in categorical else float(cells[col[n]]) for n in spec.inputs}
        k = tuple(_key_value(row[n]) for n in spec.inputs)
        if k not in seen:
            seen.add(k)
            rows.append(row)

    features: dict[str, tuple[list[str], np.ndarray]] = {}
    encode = spec.encoding.kind != "one-hot"
    if encode and spec.smiles and not _rdkit_ready(spec.encoding, "space.pool.encoding", problems):
        encode = False  # said once for the pool, not once per input
    notes = []
    for name, column in spec.smiles.items():
        pairs = [(line, cells[col[name]], cells[col[column]]) for line, cells in records]
        found = _smiles_of_levels(name, column, pairs, file)
        if isinstance(found, str):
            problems.append(Problem(f"space.pool.smiles.{name}", found))
        elif encode:
            problems += _encode_levels(name, *found, spec.encoding, features, f"space.pool.smiles.{name}",
                                       "space.pool.encoding")
            notes += _twin_pool_levels(name, dict(zip(*found)), features, spec.encoding.kind)
    if problems:
        raise ConfigError(problems)
    return PoolSpace(path=path, inputs=spec.inputs, rows=rows, categorical=spec.categorical, features=features,
                     where=spec.where, n_rows=len(records), notes=notes)


def _twin_pool_levels(name: str, smiles: dict[str, str], features: dict, kind: str) -> list[str]:
    """A note for a pool input two of whose levels have identical features (one molecule under two names):
    both stay proposable (each candidate is its own row), but the model sees their candidates as one point
    and cannot learn how their results differ. Not refused: two suppliers of one solvent may be meant."""
    twins = _twins(*features[name]) if name in features else []
    if not twins:
        return []
    from .encodings import twin_advice

    a, b = twins[0]
    more = f" (and {len(twins) - 1} more such pair(s))" if len(twins) > 1 else ""
    what, fix = twin_advice(kind, smiles[a], smiles[b], one="one level")
    if not fix.startswith("make"):  # two molecules: a finer encoding tells them apart
        fix = f"{fix}, or use encoding: one-hot"
    else:
        fix = f"if they are one substance {fix}, if they differ (a supplier, a purity) use encoding: one-hot"
    return [f"space.pool.smiles.{name}: the levels '{a}' ({smiles[a]}) and '{b}' ({smiles[b]}) {what}{more}: the "
            f"model sees their candidates as one point and cannot learn how their results differ; {fix}"]


def _rdkit_ready(encoding, where: str, problems: list[Problem]) -> bool:
    """Whether RDKit can be imported; if not, a problem at ``where`` saying how to install it."""
    from .encodings import rdkit_available

    if rdkit_available():
        return True
    problems.append(Problem(where, f"encoding: {encoding.kind} needs RDKit: pip install 'looplab[chem]' "
                                   "(or use encoding: one-hot)"))
    return False


def _encode_levels(name: str, levels: list[str], smiles: list[str], encoding, out: dict, where: str,
                   encoding_where: str) -> list[Problem]:
    """Put ``name``'s level features into ``out``; the problems when they cannot be made."""
    from .encodings import EncodingError, level_features

    problems: list[Problem] = []
    if not _rdkit_ready(encoding, encoding_where, problems):
        return problems
    try:
        F = level_features(levels, smiles, encoding)
    except EncodingError as exc:
        return [Problem(where, f"'{name}': {exc}")]
    if F.shape[1] == 0:
        finer = "raise encoding.radius or encoding.bits, or " if encoding.kind == "fingerprints" else ""
        return [Problem(where, f"'{name}': the {encoding.kind} of its levels do not differ; {finer}use encoding: "
                               "one-hot")]
    out[name] = (list(levels), F)
    return []


def _twin_levels(p: Any, features: dict, where: str) -> list[Problem]:
    """Choices of a parameter space whose features are identical (one molecule under two names, CCO and OCC):
    a point decodes to the choice with the nearest features, always the first of them, so the others could
    never be proposed by the model. (In a pool each candidate is its own row: both stay proposable.)"""
    twins = _twins(*features[p.name]) if p.name in features else []
    if not twins:
        return []
    from .encodings import twin_advice

    twin, level = twins[0]
    what, fix = twin_advice(p.encoding.kind, p.smiles[twin], p.smiles[level], one="one choice")
    return [Problem(where, f"'{twin}' ({p.smiles[twin]}) and '{level}' ({p.smiles[level]}) of '{p.name}' {what}: "
                           f"the model cannot tell them apart and would only ever propose '{twin}'; {fix}, or use "
                           "encoding: one-hot")]


def _twins(levels: Sequence[str], F: np.ndarray) -> list[tuple[str, str]]:
    """Pairs (first, later) of levels whose feature rows are identical (one molecule under two names)."""
    first: dict[bytes, str] = {}
    pairs = []
    for level, row in zip(levels, F):
        twin = first.setdefault(np.asarray(row, dtype=float).tobytes(), level)
        if twin != level:
            pairs.append((twin, level))
    return pairs


def build_space(spec: SpaceSpec, base_dir: Path) -> ParameterSpace | PoolSpace:
    if spec.pool is not None:
        return load_pool(spec.pool, base_dir)
    problems = []
    names = [p.name for p in spec.parameters]
    for i, n in enumerate(names):
        if names.index(n) != i:
            problems.append(Problem(f"space.parameters[{i}].name", f"'{n}' is used twice; names must be unique"))
    for i, j in look_alike(names):  # fuzz round twenty: 'café' and 'cafe' + U+0301 were two parameters
        problems.append(Problem(f"space.parameters[{j}].name", look_alike_message(names[i], names[j])))
    by_name = {p.name: p for p in spec.parameters}
    used: set[str] = set()
    for k, c in enumerate(spec.constraints):
        for j, n in enumerate(c.parameters):
            p = by_name.get(n)
            where = f"space.constraints[{k}].parameters[{j}]"
            if p is None:
                problems.append(Problem(where, f"no parameter named '{n}' (parameters: {', '.join(names)})"))
            elif not isinstance(p, FloatParameter) or p.log:
                problems.append(Problem(where, f"'{n}' must be a float parameter without log: true to be in a sum"))
            elif n in c.parameters[:j]:
                problems.append(Problem(where, f"'{n}' is listed twice in this constraint; list each parameter once"))
            elif n in used:
                problems.append(Problem(where, f"'{n}' is already in another constraint"))
            used.add(n)
        ps = [by_name[n] for n in c.parameters if isinstance(by_name.get(n), FloatParameter)]
        if len(ps) == len(c.parameters):
            lo, hi = sum(p.low for p in ps), sum(p.high for p in ps)
            if not lo - 1e-12 <= c.total <= hi + 1e-12:
                problems.append(Problem(f"space.constraints[{k}].total", f"cannot be reached within the bounds (the parameters sum to between {lo:g} and {hi:g}, got total {c.total:g})"))
            elif min(c.total - lo, hi - c.total) <= 1e-9 * max(1.0, hi - lo):
                problems.append(Problem(f"space.constraints[{k}].total", f"{c.total:g} is the {'least' if c.total - lo < hi - c.total else 'most'} "
                                        f"the parameters can sum to within their bounds ({lo:g} to {hi:g}): a single "
                                        "point, nothing to search; widen the bounds or change the total"))
    features: dict[str, tuple[list[str], np.ndarray]] = {}
    for i, p in enumerate(spec.parameters):
        if isinstance(p, CategoricalParameter) and p.smiles is not None and p.encoding.kind != "one-hot":
            levels = [str(c) for c in p.choices]
            problems += _encode_levels(p.name, levels, [p.smiles[c] for c in levels], p.encoding, features,
                                       f"space.parameters[{i}].smiles", f"space.parameters[{i}].encoding")
            problems += _twin_levels(p, features, f"space.parameters[{i}].smiles")
    if problems:
        raise ConfigError(problems)
    space = ParameterSpace(parameters=spec.parameters, constraints=spec.constraints,
                           features={n: F for n, (_, F) in features.items()})
    if spec.constraints:  # what the initial design and the optimiser will have to do, tried now
        try:
            space.sample(8, "random", np.random.default_rng(0))
        except LooplabError as exc:
            raise ConfigError([Problem("space.constraints", str(exc))]) from None
    return space
