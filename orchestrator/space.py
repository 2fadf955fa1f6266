"""Search spaces: parameters (with mixture constraints) or a pool of candidates.

Models see every space through the same encoding: each input scaled to
[0, 1] (floats linearly or on a log scale, ints linearly and rounded back),
categorical inputs one-hot. ``encode`` maps parameter dicts to an [N, D]
float64 array and ``decode`` maps back.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import (
    CategoricalParameter,
    FloatParameter,
    IntParameter,
    PoolSpec,
    SpaceSpec,
    SumConstraint,
)
from .errors import ConfigError, LooplabError, Problem

Params = dict[str, Any]


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

    def __init__(self, *, parameters: Sequence, constraints: Sequence[SumConstraint] = ()):
        self.parameters = list(parameters)
        self.constraints = list(constraints)
        self.names = [p.name for p in self.parameters]
        self._by_name = {p.name: p for p in self.parameters}
        # encoded column slices, one per parameter
        self.slices: dict[str, slice] = {}
        col = 0
        for p in self.parameters:
            width = len(p.choices) if isinstance(p, CategoricalParameter) else 1
            self.slices[p.name] = slice(col, col + width)
            col += width
        self.dim = col
        self._constrained = {n for c in self.constraints for n in c.parameters}

    # -- encoding ---------------------------------------------------------------------

    def encode(self, rows: Sequence[Params]) -> np.ndarray:
        X = np.zeros((len(rows), self.dim))
        for i, row in enumerate(rows):
            for p in self.parameters:
                s = self.slices[p.name]
                v = row[p.name]
                if isinstance(p, CategoricalParameter):
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
    """A finite set of candidates read from a CSV (duplicate inputs collapsed)."""

    is_pool = True

    def __init__(self, *, path: Path, inputs: list[str], rows: list[Params]):
        self.path = path
        self.names = list(inputs)
        self.candidates = rows
        self.size = len(rows)
        self._index = {self.key(r): i for i, r in enumerate(rows)}
        cols = []
        self._scales = []
        for name in self.names:
            values = [r[name] for r in rows]
            if all(isinstance(v, float) for v in values):
                a = np.array(values)
                lo, hi = a.min(), a.max()
                self._scales.append((name, sum(c.shape[1] for c in cols), float(lo), float(hi)))
                cols.append(((a - lo) / (hi - lo))[:, None] if hi > lo else np.zeros((len(a), 1)))
            else:
                levels = sorted({str(v) for v in values})
                onehot = np.zeros((len(values), len(levels)))
                for i, v in enumerate(values):
                    onehot[i, levels.index(str(v))] = 1.0
                cols.append(onehot)
        self.X = np.hstack(cols) if cols else np.zeros((len(rows), 0))
        self.dim = self.X.shape[1]

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
        return f"pool of {self.size} candidates over {', '.join(self.names)}"


def _key_value(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return round(float(v), 9)
    return str(v)


def _parse_cell(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text.strip()


def read_csv_columns(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file (raises OSError / ValueError on bad files)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k is not None} for r in reader]
    return header, rows


def load_pool(spec: PoolSpec, base_dir: Path) -> PoolSpace:
    path = (base_dir / spec.path).resolve()
    if not path.is_file():
        raise ConfigError([Problem("space.pool.path", f"file not found: {path} (paths are relative to the campaign file)")])
    try:
        header, raw = read_csv_columns(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError([Problem("space.pool.path", f"cannot read {path} as CSV: {exc}")]) from None
    if not header:
        raise ConfigError([Problem("space.pool.path", f"{path.name} is empty: it needs a header line naming its columns, then one candidate per line")])
    problems = []
    for i, name in enumerate(spec.inputs):
        if name not in header:
            problems.append(Problem(f"space.pool.inputs[{i}]", f"column '{name}' is not in {path.name} (columns: {', '.join(header)})"))
    if problems:
        raise ConfigError(problems)
    seen: dict[tuple, int] = {}
    rows: list[Params] = []
    for r in raw:
        row = {n: _parse_cell(r[n]) for n in spec.inputs}
        if any(v == "" for v in row.values()):
            continue  # incomplete line
        k = tuple(_key_value(row[n]) for n in spec.inputs)
        if k not in seen:
            seen[k] = len(rows)
            rows.append(row)
    if not rows:
        raise ConfigError([Problem("space.pool.path", f"{path.name} has no complete candidate rows")])
    return PoolSpace(path=path, inputs=spec.inputs, rows=rows)


def build_space(spec: SpaceSpec, base_dir: Path) -> ParameterSpace | PoolSpace:
    if spec.pool is not None:
        return load_pool(spec.pool, base_dir)
    problems = []
    names = [p.name for p in spec.parameters]
    for i, n in enumerate(names):
        if names.index(n) != i:
            problems.append(Problem(f"space.parameters[{i}].name", f"'{n}' is used twice; names must be unique"))
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
            elif n in used:
                problems.append(Problem(where, f"'{n}' is already in another constraint"))
            used.add(n)
        ps = [by_name[n] for n in c.parameters if isinstance(by_name.get(n), FloatParameter)]
        if len(ps) == len(c.parameters):
            lo, hi = sum(p.low for p in ps), sum(p.high for p in ps)
            if not lo - 1e-12 <= c.total <= hi + 1e-12:
                problems.append(Problem(f"space.constraints[{k}].total", f"cannot be reached within the bounds (the parameters sum to between {lo:g} and {hi:g}, got total {c.total:g})"))
    if problems:
        raise ConfigError(problems)
    return ParameterSpace(parameters=spec.parameters, constraints=spec.constraints)
