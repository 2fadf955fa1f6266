"""Live atomistic experiments: relax a decorated alloy supercell with ASE's EMT potential.

Each experiment is a real calculation, done in the worker process that runs it:

1. the composition fractions are read from the experiment's parameters
   (``x_<Element>`` by default), normalised to sum to 1 and turned into
   integer atom counts for the supercell by largest-remainder rounding (the
   realised counts and fractions are reported);
2. the supercell is ``ase.build.bulk(<prototype>, a=a0).repeat(repeat)``, with
   ``a0`` from a parameter, from the config, or by Vegard's law from the
   relaxed pure-element lattice constants;
3. the species are placed on its sites in a random order, seeded by the
   experiment id (``decoration_seed: experiment``) or by the composition
   (``decoration_seed: composition``: a deterministic function of the counts,
   exactly as ``campaigns/data/make_alloy_pool.py`` does it);
4. ``ase.calculators.emt.EMT`` is attached and positions and cell are relaxed
   (``ase.filters.FrechetCellFilter`` + BFGS, FIRE or LBFGS, ``fmax``/``steps``);
5. every property is computed and reported; the one the campaign optimises is
   the objective.

Properties (all per atom, so supercells of different sizes compare):

``mixing_energy`` (eV/atom)
    E/N - sum_i x_i E_i, with E_i the energy per atom of pure element i in the
    *same prototype* (fcc/bcc/hcp), relaxed with the same optimiser settings.
``formation_energy`` (eV/atom)
    E/N - sum_i x_i E_i, with E_i the energy per atom of pure element i in its
    *own ground-state structure* (``ase.data.reference_states``; fcc for every
    metal EMT covers). For the fcc prototype it therefore equals the mixing
    energy; for bcc or hcp it includes the cost of the structure change.
``total_energy`` (eV/atom)
    E/N; ``supercell_energy`` in the outputs is E itself (eV).
``volume`` (Angstrom^3/atom)
    of the final structure.
``bulk_modulus`` (GPa)
    from an ``ase.eos.EquationOfState`` fit of E(V) over ``eos_points`` volumes
    within +-``eos_strain`` of the final volume (homogeneous scaling of the
    final structure, internal positions not re-relaxed at each volume).

Pure-element references are relaxed once per process (lazily, on the first
experiment that needs them) and cached; ``from_config`` does no calculation.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import random
import sqlite3
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from .base import ConfigProblem, Experiment, OracleContext, SyncOracle
from .blas import single_threaded_blas

PROPERTIES = ("mixing_energy", "formation_energy", "total_energy", "volume", "bulk_modulus")
PROTOTYPES = ("fcc", "bcc", "hcp")
# EMT has parameters for these, but only as adsorbates on metal surfaces: a bulk crystal of them is meaningless
ADSORBATE_ONLY = ("H", "C", "N", "O")
# atoms per conventional cell, for the effective lattice constant (cube root of the volume per conventional cell)
_CONVENTIONAL_ATOMS = {"fcc": 4, "bcc": 2}
_IDEAL_COVERA = math.sqrt(8.0 / 3.0)

EOS_KINDS = Literal["birchmurnaghan", "sj", "murnaghan", "birch", "vinet", "pouriertarantola", "taylor",
                    "antonschmidt", "p3"]


# ----------------------------------------------------------------------------- elements


def emt_elements() -> tuple[str, ...]:
    """Elements ASE's EMT has parameters for (``ase.calculators.emt.parameters``)."""
    from ase.calculators.emt import parameters

    return tuple(sorted(parameters))


def bulk_elements() -> tuple[str, ...]:
    """Elements this oracle accepts: EMT's, minus those EMT only describes as adsorbates."""
    return tuple(e for e in emt_elements() if e not in ADSORBATE_ONLY)


def element_problem(symbol: str) -> str | None:
    """Why ``symbol`` cannot be an element of an EMT alloy, or None if it can."""
    supported = bulk_elements()
    if symbol in supported:
        return None
    listed = ", ".join(supported)
    if symbol in ADSORBATE_ONLY:
        return (f"'{symbol}': ASE's EMT describes {symbol} only as an adsorbate on metal surfaces, not as a bulk "
                f"crystal; use metals EMT supports: {listed}")
    from ase.data import atomic_numbers

    what = "is not supported by ASE's EMT calculator" if symbol in atomic_numbers else "is not a chemical element"
    return f"'{symbol}' {what}; EMT supports {listed} (symbols are case-sensitive, e.g. 'Cu')"


# ----------------------------------------------------------------------------- config


class EMTConfig(BaseModel):
    """Params of the ``ase-emt`` oracle."""

    model_config = ConfigDict(extra="forbid")

    elements: list[str] | None = Field(
        default=None, min_length=1,
        description="the species, in this order (it orders the composition seed); default: read from the space's "
                    "parameters named <fraction_prefix><Element>, in their order")
    fraction_prefix: str = Field(default="x_", min_length=1,
                                 description="the fraction of element E is the parameter '<prefix>E'")
    fractions: dict[str, str] | None = Field(
        default=None, description="explicit element -> parameter name mapping (overrides fraction_prefix)")
    prototype: Literal["fcc", "bcc", "hcp"] = Field(default="fcc", description="crystal structure of the alloy")
    cubic: bool = Field(default=True, description="fcc/bcc: start from the conventional cubic cell "
                                                  "(4 or 2 atoms) rather than the 1-atom primitive one; "
                                                  "hcp always uses its 2-atom cell")
    repeat: PositiveInt | tuple[PositiveInt, PositiveInt, PositiveInt] = Field(
        default=2, description="supercell repetition of the cell: n (n x n x n) or [n1, n2, n3]")
    repeat_param: str | None = Field(default=None, description="an int parameter giving n (n x n x n); "
                                                               "overrides repeat")
    lattice_constant: float | None = Field(default=None, gt=0,
                                           description="starting lattice constant a (Angstrom) for every "
                                                       "experiment; default: Vegard's law")
    lattice_param: str | None = Field(default=None, description="a float parameter giving the starting lattice "
                                                                "constant a (Angstrom)")
    max_atoms: int = Field(default=1000, ge=1, description="an experiment with more atoms fails instead of running")
    relax: bool = Field(default=True, description="relax the structure (false: single point at the start geometry)")
    relax_cell: bool = Field(default=True, description="relax the cell too (FrechetCellFilter), not only positions")
    optimizer: Literal["BFGS", "FIRE", "LBFGS"] = "BFGS"
    fmax: float = Field(default=0.02, gt=0, description="force convergence criterion (eV/Angstrom)")
    steps: int = Field(default=200, ge=1, le=100_000, description="maximum optimiser steps per relaxation")
    require_converged: bool = Field(default=False, description="fail an experiment whose relaxation did not "
                                                               "converge within steps")
    property: Literal["mixing_energy", "formation_energy", "total_energy", "volume", "bulk_modulus"] | None = Field(
        default=None, description="what the objective is; default: the property named like the objective")
    decoration_seed: Literal["experiment", "composition"] = Field(
        default="experiment",
        description="experiment: a random decoration per experiment id; composition: one fixed decoration per "
                    "composition, so the objective is a deterministic function of composition")
    seed: int = Field(default=2026, ge=0, description="base seed of the decoration (2026: the pool's)")
    eos: EOS_KINDS = Field(default="birchmurnaghan", description="equation of state fitted for bulk_modulus")
    eos_points: int = Field(default=7, ge=5, le=51, description="volumes sampled for the EOS fit")
    eos_strain: float = Field(default=0.06, gt=0, le=0.3, description="relative volume range (+-) of the EOS fit")
    ase_db: str | None = Field(default=None, description="ASE database (.db, relative to the campaign file) that "
                                                         "receives each final structure, keyed by experiment id")
    ase_db_timeout: float = Field(default=120.0, gt=0, description="seconds to keep retrying a locked database")

    @field_validator("elements")
    @classmethod
    def _elements_supported(cls, elements: list[str] | None) -> list[str] | None:
        if elements is None:
            return None
        problems = [p for e in elements if (p := element_problem(e))]
        if problems:
            raise ValueError("; ".join(problems))
        dup = sorted({e for e in elements if elements.count(e) > 1})
        if dup:
            raise ValueError(f"{', '.join(dup)} listed more than once; list each element once")
        return elements

    @field_validator("fractions")
    @classmethod
    def _fractions_supported(cls, fractions: dict[str, str] | None) -> dict[str, str] | None:
        if fractions is None:
            return None
        if not fractions:
            raise ValueError("is empty: map each element to the parameter holding its fraction, e.g. {Cu: c1}")
        problems = [p for e in fractions if (p := element_problem(e))]
        if problems:
            raise ValueError("; ".join(problems))
        names = list(fractions.values())
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"parameter(s) {', '.join(dup)} given for more than one element")
        return fractions

    @field_validator("ase_db")
    @classmethod
    def _db_suffix(cls, path: str | None) -> str | None:
        if path is not None and not path.endswith(".db"):
            raise ValueError(f"must be an SQLite file ending in .db (got '{path}'), e.g. ase_db: runs/structures.db")
        return path

    @model_validator(mode="after")
    def _consistent(self) -> EMTConfig:
        if self.lattice_constant is not None and self.lattice_param is not None:
            raise ValueError("give lattice_constant (one value for all) or lattice_param (a parameter), not both")
        if self.elements is not None and self.fractions is not None and set(self.elements) != set(self.fractions):
            raise ValueError(f"elements ({', '.join(self.elements)}) and the keys of fractions "
                             f"({', '.join(self.fractions)}) must name the same elements; or drop elements:")
        return self


def composition_map(config: EMTConfig, names: Sequence[str]) -> list[tuple[str, str]]:
    """(element, parameter name) pairs, in species order.

    From ``fractions`` if given, else ``elements`` with ``fraction_prefix``, else
    every name in ``names`` that starts with the prefix (in their order).
    """
    if config.fractions:
        order = config.elements or list(config.fractions)
        return [(e, config.fractions[e]) for e in order]
    prefix = config.fraction_prefix
    if config.elements:
        return [(e, prefix + e) for e in config.elements]
    skip = {config.lattice_param, config.repeat_param}
    return [(n[len(prefix):], n) for n in names if n.startswith(prefix) and len(n) > len(prefix) and n not in skip]


# eV/A: after a relaxation, a force this large means the atoms overlap (a converged one is below fmax, about 0.05;
# one cut short by steps at a sane lattice constant stays near 1)
FAR_FROM_EQUILIBRIUM = 10.0


def largest_remainder(fractions: Sequence[float], n: int) -> list[int]:
    """Integer counts summing to ``n`` closest to ``fractions * n`` (Hamilton's method).

    Every count gets the floor of its share; the atoms left over go to the
    largest remainders (ties to the earlier element). ``fractions`` must sum to 1.
    """
    raw = [f * n for f in fractions]
    counts = [math.floor(r + 1e-9) for r in raw]
    left = n - sum(counts)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


# ----------------------------------------------------------------------------- calculations


@dataclass(frozen=True)
class Reference:
    """A relaxed pure element in one prototype."""

    element: str
    prototype: str
    a: float  # effective lattice constant (Angstrom)
    c: float | None  # hcp only
    energy_per_atom: float  # eV/atom
    volume_per_atom: float
    converged: bool
    n_steps: int


# (element, prototype, cubic, optimizer, fmax, steps) -> Reference; filled lazily, once per process
_REFERENCES: dict[tuple, Reference] = {}


def _emt():
    from ase.calculators.emt import EMT

    return EMT()


def relax(atoms: Any, *, cell: bool, optimizer: str, fmax: float, steps: int) -> tuple[bool, int, float]:
    """Relax ``atoms`` in place (EMT must be attached). Returns (converged, steps taken, max atomic force).

    ``converged`` is judged as the optimiser does (with the cell filter, its
    generalised forces include the stress); the max force is on the atoms, eV/Angstrom.
    """
    from ase import optimize
    from ase.filters import FrechetCellFilter

    target = FrechetCellFilter(atoms) if cell else atoms
    opt = getattr(optimize, optimizer)(target, logfile=None)
    opt.run(fmax=fmax, steps=steps)
    generalised = target.get_forces()
    converged = bool(np.sqrt((generalised**2).sum(axis=1).max()) < fmax)
    forces = atoms.get_forces()
    return converged, int(opt.nsteps), float(np.sqrt((forces**2).sum(axis=1).max()))


def _start_lattice(element: str, prototype: str) -> tuple[float, float | None]:
    """A starting (a, c) for the pure element in ``prototype``: its reference state's, or the same volume per atom."""
    from ase.build import bulk
    from ase.data import atomic_numbers, reference_states

    state = reference_states[atomic_numbers[element]] or {}
    if state.get("symmetry") == prototype and "a" in state:
        covera = state.get("c/a", _IDEAL_COVERA) if prototype == "hcp" else None
        return float(state["a"]), (float(state["a"]) * covera if covera else None)
    ground = bulk(element)
    v = ground.get_volume() / len(ground)
    if prototype == "hcp":
        a = (4.0 * v / (math.sqrt(3.0) * _IDEAL_COVERA)) ** (1.0 / 3.0)
        return a, a * _IDEAL_COVERA
    return (v * _CONVENTIONAL_ATOMS[prototype]) ** (1.0 / 3.0), None


def _build(symbol: str, prototype: str, a: float, c: float | None, cubic: bool):
    from ase.build import bulk

    if prototype == "hcp":
        return bulk(symbol, "hcp", a=a, c=c)
    return bulk(symbol, prototype, a=a, cubic=cubic)


@functools.lru_cache(maxsize=None)
def _cell_atoms(prototype: str, cubic: bool) -> int:
    """Atoms in one cell of the prototype (any element: the count depends on the structure only)."""
    return len(_build("Cu", prototype, 4.0, 4.0 * _IDEAL_COVERA, cubic))


def effective_lattice(atoms: Any, prototype: str, repeat: Sequence[int] = (1, 1, 1)) -> tuple[float, float | None]:
    """(a, c) of a structure: for fcc/bcc the cube root of the volume per conventional cell; for hcp the
    cell lengths divided by the repetition."""
    if prototype == "hcp":
        lengths = atoms.cell.lengths()
        return float((lengths[0] / repeat[0] + lengths[1] / repeat[1]) / 2), float(lengths[2] / repeat[2])
    n_conventional = len(atoms) / _CONVENTIONAL_ATOMS[prototype]
    return float((atoms.get_volume() / n_conventional) ** (1.0 / 3.0)), None


def reference(element: str, prototype: str, *, cubic: bool, optimizer: str, fmax: float, steps: int) -> Reference:
    """The relaxed pure element (positions and cell), computed once per process and cached."""
    cubic = cubic and prototype != "hcp"
    key = (element, prototype, cubic, optimizer, float(fmax), int(steps))
    ref = _REFERENCES.get(key)
    if ref is None:
        a0, c0 = _start_lattice(element, prototype)
        atoms = _build(element, prototype, a0, c0, cubic)
        atoms.calc = _emt()
        converged, n_steps, _ = relax(atoms, cell=True, optimizer=optimizer, fmax=fmax, steps=steps)
        a, c = effective_lattice(atoms, prototype)
        n = len(atoms)
        ref = Reference(element, prototype, a, c, float(atoms.get_potential_energy() / n),
                        float(atoms.get_volume() / n), converged, n_steps)
        _REFERENCES[key] = ref
    return ref


def ground_prototype(element: str, fallback: str) -> str:
    """The element's own crystal structure (``ase.data.reference_states``) if fcc/bcc/hcp, else ``fallback``."""
    from ase.data import atomic_numbers, reference_states

    sym = (reference_states[atomic_numbers[element]] or {}).get("symmetry")
    return sym if sym in PROTOTYPES else fallback


def bulk_modulus(atoms: Any, *, eos: str = "birchmurnaghan", points: int = 7, strain: float = 0.06) -> tuple[float, float]:
    """Bulk modulus (GPa) and equilibrium volume per atom from an EOS fit around ``atoms``' volume.

    The structure is scaled homogeneously to ``points`` volumes in
    [1 - strain, 1 + strain] x V; ``atoms`` itself is not changed.
    """
    from ase.eos import EquationOfState
    from ase.units import GPa
    from scipy.optimize import OptimizeWarning

    probe = atoms.copy()
    probe.calc = _emt()
    cell0 = atoms.get_cell()
    volumes, energies = [], []
    for factor in np.linspace(1.0 - strain, 1.0 + strain, points):
        probe.set_cell(cell0 * factor ** (1.0 / 3.0), scale_atoms=True)
        volumes.append(probe.get_volume())
        energies.append(probe.get_potential_energy())
    with warnings.catch_warnings(record=True) as caught:  # scipy's, printed during a run otherwise
        warnings.simplefilter("always", OptimizeWarning)
        v0, _e0, b = EquationOfState(volumes, energies, eos=eos).fit(warn=False)
    b_gpa = float(b) / GPa
    if any(issubclass(w.category, OptimizeWarning) for w in caught):
        # the fit's covariance could not be estimated: E(V) is flat over the strained volumes (Ag at a = 9 A,
        # beyond the potential's cutoff, gave B = 2.6e-7 GPa), so B is not determined by the energies
        raise ValueError(f"the {eos} equation-of-state fit is undetermined (B = {b_gpa:.3g} GPa): the energy "
                         f"hardly changes over +-{strain:g} of the volume (atoms out of each other's reach?); relax "
                         "the structure first (relax: true) or choose a lattice constant nearer equilibrium")
    if not (math.isfinite(b_gpa) and b_gpa > 0 and math.isfinite(float(v0))):
        raise ValueError(f"the {eos} equation-of-state fit failed (B = {b_gpa:g} GPa, V0 = {float(v0):g}); "
                         "relax the structure first (relax: true) or change eos_strain/eos")
    return b_gpa, float(v0) / len(atoms)


def _id_words(text: str) -> list[int]:
    """Four 32-bit words of the SHA-256 of ``text``: a seed that is stable across processes and runs."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


def structure_hash(atoms: Any) -> str:
    """Short hash of the site decoration (the chemical symbols in site order)."""
    return hashlib.sha256(" ".join(atoms.get_chemical_symbols()).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- ASE database


def _db_text(value: str) -> str:
    """A string ASE's database stores as text (it refuses strings that read as numbers or booleans)."""
    from ase.db.core import str_represents

    if any(str_represents(value, t) for t in (bool, int, float)):
        return f"'{value}'"
    return value


def looplab_store_at(path: Path | str) -> str:
    """Why ``path`` may not be an ASE database ('' if it may): it is a looplab store (ASE would add its tables
    to the store, which is looplab's alone)."""
    import sqlite3

    try:
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                return ""
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {t for (t,) in conn.execute("select name from sqlite_master where type = 'table'")}
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        return ""
    return "is a looplab store (it holds campaigns and experiments)" if {"campaigns", "experiments"} <= tables else ""


def write_structure(path: Path | str, atoms: Any, *, experiment_id: str, key_value_pairs: dict[str, Any],
                    data: dict[str, Any] | None = None, timeout: float = 120.0) -> int:
    """Write ``atoms`` to the ASE database ``path`` as the one row of ``experiment_id``; returns its row id.

    An existing row of the same experiment id is overwritten (re-running an
    experiment never duplicates it). The look-up and the write happen in one
    ``BEGIN IMMEDIATE`` transaction, so processes writing at once are
    serialised by SQLite; "database is locked" (and the race of two processes
    creating a new file) is retried with backoff for up to ``timeout`` seconds.
    """
    from ase.db import connect

    store = looplab_store_at(path)
    if store:
        raise RuntimeError(f"ase_db: {Path(path).name} {store}; give ASE a database file of its own")
    key = _db_text(experiment_id)
    kvp = {"experiment_id": key, **key_value_pairs}
    deadline = time.monotonic() + timeout
    delay = 0.02
    jitter = random.Random(f"{os.getpid()}:{experiment_id}")  # a local generator: nothing global is touched
    while True:
        try:
            # no lock file: it is left behind for good when a worker is killed mid-write (a timeout)
            db = connect(str(path), type="db", use_lock_file=False)
            with db:
                # ASE creates the tables of a new file statement by statement; doing it inside an IMMEDIATE
                # transaction makes the creation atomic, so another process never sees half a schema
                db.connection.execute("BEGIN IMMEDIATE")
                db.count()
            with db:
                db.connection.execute("BEGIN IMMEDIATE")
                ids = [row.id for row in db.select(experiment_id=key)]
                row_id = db.write(atoms, key_value_pairs=kvp, data=data or {}, id=ids[0] if ids else None)
            if len(ids) > 1:  # duplicates written by something else: keep one row per experiment
                db.delete(ids[1:])
            return int(row_id)
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            retriable = any(s in text for s in ("locked", "busy", "already exists", "no such table"))
            if not retriable or time.monotonic() + delay > deadline:
                hint = f" (still locked after {timeout:g} s; raise ase_db_timeout)" if retriable else ""
                raise RuntimeError(f"could not write experiment {experiment_id} to the ASE database {path}: "
                                   f"{exc}{hint}") from exc
            time.sleep(delay * (0.5 + jitter.random()))
            delay = min(delay * 2, 1.0)


# ----------------------------------------------------------------------------- the oracle


class EMTOracle(SyncOracle):
    """Relaxes a decorated alloy supercell with ASE's EMT and returns its mixing energy (or another property)."""

    Config = EMTConfig
    # a safety net for the local executor (a campaign's executor.timeout overrides it): a 32-atom relaxation
    # takes about a second; 1000 atoms (max_atoms) need about a second per step, so 200 steps fit in ten minutes
    default_timeout = 600.0

    def __init__(self, *, config: EMTConfig, inputs: Sequence[str] = (), objective: str = "mixing_energy",
                 base_dir: Path | str = ".", campaign: str = ""):
        super().__init__()
        self.config = config
        self.inputs = tuple(inputs)
        self.objective = objective
        self.campaign = campaign
        self.base_dir = Path(base_dir)
        self.composition = composition_map(config, self.inputs)
        self.property = config.property or objective
        if not self.composition:
            raise ValueError(f"no composition parameters: none of the inputs ({', '.join(self.inputs) or 'none'}) "
                             f"is named '{config.fraction_prefix}<Element>'; list elements: or map fractions:")
        if self.property not in PROPERTIES:
            raise ValueError(f"the objective '{objective}' is not a property the EMT oracle computes "
                             f"({', '.join(PROPERTIES)}); set property: to choose one")
        self.elements = tuple(e for e, _ in self.composition)
        self.db_path = Path(os.path.realpath(self.base_dir / config.ase_db)) if config.ase_db else None

    @classmethod
    def from_config(cls, config: EMTConfig, context: OracleContext) -> EMTOracle:
        """Cheap: stores the settings; references are relaxed on first use, in the worker that needs them."""
        return cls(config=config, inputs=context.inputs, objective=context.objective, base_dir=context.base_dir,
                   campaign=context.campaign)

    # -- validation ---------------------------------------------------------------------------

    @classmethod
    def written_files(cls, config: EMTConfig, base_dir: Any) -> dict[str, Path]:
        """The files this oracle writes, by param (the engine refuses one that is the store's own file)."""
        return {"ase_db": Path(base_dir) / config.ase_db} if config.ase_db else {}

    @classmethod
    def check_config(cls, config: EMTConfig, *, spec: Any, base_dir: Any) -> list[ConfigProblem]:
        space = spec.space
        if space.parameters is not None:
            params = {p.name: p for p in space.parameters}
            names = list(params)
        else:
            params, names = {}, list(space.pool.inputs)
        listed = ", ".join(names)
        problems: list[ConfigProblem] = []

        # options the calculation would not read: the EOS fit's without bulk_modulus, the relaxation's without it
        given = {k for k in config.model_fields_set
                 if getattr(config, k) != type(config).model_fields[k].get_default(call_default_factory=True)}
        prop = config.property or spec.objective.name
        for key in sorted(given & {"eos", "eos_points", "eos_strain"}):
            if prop != "bulk_modulus":
                problems.append(ConfigProblem(key, f"is read only for property bulk_modulus (this campaign's is "
                                                   f"{prop}); remove it"))
        for key in sorted(given & {"relax_cell", "optimizer", "fmax", "steps", "require_converged"}):
            if not config.relax:
                problems.append(ConfigProblem(key, "is an option of the relaxation, which relax: false turns off; "
                                                   "remove it or set relax: true"))

        pairs = composition_map(config, names)
        if not pairs:
            problems.append(ConfigProblem(
                "elements", f"no composition parameters: the space has no parameter named "
                            f"'{config.fraction_prefix}<Element>' (parameters: {listed}); name the fractions like "
                            f"x_Cu, x_Ag or list elements: and map them to parameters with fractions:"))
        inferred = config.elements is None and config.fractions is None
        for element, name in pairs:
            if inferred:
                why = element_problem(element)
                if why:
                    problems.append(ConfigProblem(
                        "elements", f"the parameter '{name}' reads as element '{element}' (fraction_prefix "
                                    f"'{config.fraction_prefix}'), but {why}"))
                continue
            where = f"fractions.{element}" if config.fractions else "elements"
            if name not in names:
                problems.append(ConfigProblem(
                    where, f"the space has no parameter '{name}' for the fraction of {element} (parameters: "
                           f"{listed}); add a float parameter '{name}' to space.parameters (and to its sum "
                           f"constraint), or map {element} to an existing parameter with fractions:"))
            elif getattr(params.get(name), "type", "float") == "categorical":
                problems.append(ConfigProblem(where, f"'{name}' is categorical; a fraction must be a float parameter"))

        for element, name in pairs:  # a fraction below 0 or above 1 cannot be a share of the atoms
            p = params.get(name)
            low, high = getattr(p, "low", 0.0), getattr(p, "high", 1.0)
            if p is not None and getattr(p, "type", None) == "float" and (low < 0 or high > 1):
                problems.append(ConfigProblem(
                    f"fractions.{element}" if config.fractions else "elements",
                    f"'{name}' (the fraction of {element}) ranges over [{low:g}, {high:g}]; a fraction lies in "
                    "[0, 1]: set its low and high within that"))
        read = {n for _, n in pairs} | {config.lattice_param, config.repeat_param}
        unread = [n for n in names if n not in read]
        if pairs and unread:  # the model would search an input the calculation never sees
            problems.append(ConfigProblem(
                "elements", f"the EMT calculation does not read the input(s) {', '.join(unread)}: each input "
                            f"is the fraction of an element ({', '.join(e for e, _ in pairs)}), lattice_param or "
                            "repeat_param; remove them from the space, or list their elements"))

        for field, kind in (("lattice_param", "float"), ("repeat_param", "int")):
            name = getattr(config, field)
            if name is None:
                continue
            if name not in names:
                problems.append(ConfigProblem(field, f"the space has no parameter '{name}' (parameters: {listed})"))
            elif name in params and params[name].type != kind:
                problems.append(ConfigProblem(field, f"'{name}' must be a {kind} parameter (it is "
                                                     f"{params[name].type})"))
            elif any(name in c.parameters for c in (spec.space.constraints or ())):
                # a length (or a count) in a sum of fractions: the stored points broke the sum, and an EMT cell
                # of a 0.5 A lattice made the run hang
                problems.append(ConfigProblem(field, f"'{name}' is in a sum constraint with the composition's "
                                                     "fractions; give the lattice constant (or the repetition) a "
                                                     "parameter of its own, outside the constraint"))
            elif field == "lattice_param" and name in params and getattr(params[name], "low", 1.0) < 1.0:
                # below 1 A the atoms overlap: EMT's neighbour lists grow huge and a calculation can run for hours
                problems.append(ConfigProblem(field, f"'{name}' ranges down to {params[name].low:g}; a lattice "
                                                     "constant is a length in angstrom, about 2.5-6 for metals: "
                                                     "give it a low of 1 or more"))

        if config.property is None and spec.objective.name not in PROPERTIES:
            problems.append(ConfigProblem(
                "property", f"the objective '{spec.objective.name}' is not a property the EMT oracle computes "
                            f"({', '.join(PROPERTIES)}); rename objective.name to one of them, or set property: "
                            f"to the one reported as '{spec.objective.name}'"))

        if config.repeat_param is None:
            rep = (config.repeat,) * 3 if isinstance(config.repeat, int) else tuple(config.repeat)
            per_cell = {"fcc": 4, "bcc": 2}.get(config.prototype, 2) if (config.cubic or config.prototype == "hcp") else 1
            n_atoms = per_cell * int(np.prod(rep))
            if n_atoms > config.max_atoms:
                problems.append(ConfigProblem("repeat", f"gives {n_atoms} atoms, more than max_atoms "
                                                        f"({config.max_atoms}); lower repeat or raise max_atoms"))

        if config.ase_db is not None:
            db = Path(os.path.realpath(Path(base_dir) / config.ase_db))
            if not db.parent.is_dir():
                problems.append(ConfigProblem("ase_db", f"the folder {db.parent} does not exist (paths are relative "
                                                        "to the campaign file); create it or change the path"))
            elif looplab_store_at(db):
                problems.append(ConfigProblem("ase_db", f"{db.name} {looplab_store_at(db)}: ASE would write its "
                                                        "tables into it; give ASE a database file of its own"))
        if "cubic" in given and config.prototype == "hcp":
            problems.append(ConfigProblem("cubic", "is read for fcc and bcc only (hcp always uses its 2-atom cell); "
                                                   "remove it"))
        return problems

    # -- what an experiment realises -----------------------------------------------------------

    @classmethod
    def realise(cls, config: EMTConfig, params: dict[str, Any]) -> dict[str, Any]:
        """The params an experiment actually measures: the fractions rounded to whole atoms of the supercell
        (largest remainder, exactly as the calculation does), every other param unchanged. The proposer
        applies this hook before it writes a proposal, so it never proposes a composition already measured
        or in flight (see oracles/base.py, ``realise``)."""
        pairs = [(e, n) for e, n in composition_map(config, list(params)) if n in params]
        values = [max(float(params[n]), 0.0) for _, n in pairs]
        total = sum(values)
        if not pairs or not math.isfinite(total) or total <= 0:
            return dict(params)  # the calculation refuses it; nothing to round
        if config.repeat_param is not None:
            try:
                k = int(params[config.repeat_param])
            except (KeyError, TypeError, ValueError):
                return dict(params)
            rep = (k, k, k)
        else:
            rep = (config.repeat,) * 3 if isinstance(config.repeat, int) else tuple(config.repeat)
        n = _cell_atoms(config.prototype, config.cubic) * rep[0] * rep[1] * rep[2]
        out = dict(params)
        for (_, name), count in zip(pairs, largest_remainder([v / total for v in values], n)):
            out[name] = count / n
        return out

    # -- one experiment ------------------------------------------------------------------------

    def evaluate(self, params: dict[str, Any], experiment_id: str = "") -> dict[str, Any]:
        """Evaluate ``params`` directly (notebooks); ``experiment_id`` seeds the decoration in experiment mode."""
        return self.evaluate_experiment(Experiment(id=experiment_id, params=dict(params), campaign=self.campaign))

    def composition_counts(self, params: dict[str, Any], n_atoms: int) -> tuple[list[int], list[float]]:
        """Integer counts per element for ``n_atoms`` sites, and the fractions asked for (normalised)."""
        values = []
        for element, name in self.composition:
            if name not in params:
                raise KeyError(f"the experiment has no parameter '{name}' (the fraction of {element}); "
                               f"it has {', '.join(params) or 'none'}")
            x = float(params[name])
            if not math.isfinite(x) or x < -1e-9:
                raise ValueError(f"the fraction {name} = {x:g} must be a finite number >= 0")
            values.append(max(x, 0.0))
        total = sum(values)
        if total <= 0:
            raise ValueError(f"the fractions ({', '.join(n for _, n in self.composition)}) are all zero; "
                             "at least one must be positive")
        fractions = [v / total for v in values]
        return largest_remainder(fractions, n_atoms), fractions

    def _repeat(self, params: dict[str, Any]) -> tuple[int, int, int]:
        cfg = self.config
        if cfg.repeat_param is not None:
            value = params[cfg.repeat_param]
            n = int(value)
            if n != value or n < 1:
                raise ValueError(f"the supercell repetition {cfg.repeat_param} = {value!r} must be an integer >= 1")
            return (n, n, n)
        return (cfg.repeat,) * 3 if isinstance(cfg.repeat, int) else tuple(cfg.repeat)

    def _references(self, prototype: str) -> dict[str, Reference]:
        cfg = self.config
        return {e: reference(e, prototype, cubic=cfg.cubic, optimizer=cfg.optimizer, fmax=cfg.fmax, steps=cfg.steps)
                for e in self.elements}

    def evaluate_experiment(self, experiment: Experiment) -> dict[str, Any]:
        t0 = time.perf_counter()
        with single_threaded_blas:
            result = self._calculate(experiment)
        result["wall_seconds"] = round(time.perf_counter() - t0, 6)
        return result

    def _calculate(self, experiment: Experiment) -> dict[str, Any]:
        import ase

        cfg = self.config
        params = experiment.params
        proto = cfg.prototype

        # sites and composition
        rep = self._repeat(params)
        cell_atoms = _cell_atoms(proto, cfg.cubic)
        n = cell_atoms * rep[0] * rep[1] * rep[2]
        if n > cfg.max_atoms:
            raise ValueError(f"the supercell would have {n} atoms, more than max_atoms ({cfg.max_atoms})")
        counts, asked = self.composition_counts(params, n)
        x = [c / n for c in counts]

        # references (relaxed once per process) and the starting lattice
        t_ref = time.perf_counter()
        refs = self._references(proto)
        ground = {e: (refs[e] if ground_prototype(e, proto) == proto else
                      reference(e, ground_prototype(e, proto), cubic=cfg.cubic, optimizer=cfg.optimizer,
                                fmax=cfg.fmax, steps=cfg.steps)) for e in self.elements}
        ref_seconds = time.perf_counter() - t_ref
        vegard_a = sum(xi * refs[e].a for xi, e in zip(x, self.elements))
        if cfg.lattice_param is not None:
            a0 = float(params[cfg.lattice_param])
            source = f"param {cfg.lattice_param}"
        elif cfg.lattice_constant is not None:
            a0, source = float(cfg.lattice_constant), "config"
        else:
            a0, source = vegard_a, "vegard"
        if not (math.isfinite(a0) and a0 > 0):
            raise ValueError(f"the lattice constant ({source}) is {a0:g}; it must be a positive length in Angstrom")
        c0 = None
        if proto == "hcp":
            c0 = a0 * sum(xi * refs[e].c for xi, e in zip(x, self.elements)) / vegard_a

        # the decorated supercell
        atoms = _build(self.elements[0], proto, a0, c0, cfg.cubic).repeat(rep)
        species = [e for e, c in zip(self.elements, counts) for _ in range(c)]
        if cfg.decoration_seed == "composition":
            entropy = [cfg.seed, *counts]
        else:
            entropy = [cfg.seed, *_id_words(experiment.id)]
        rng = np.random.default_rng(np.random.SeedSequence(entropy))
        atoms.set_chemical_symbols(list(rng.permutation(species)))
        atoms.calc = _emt()

        # relaxation
        if cfg.relax:
            converged, n_steps, max_force = relax(atoms, cell=cfg.relax_cell, optimizer=cfg.optimizer,
                                                  fmax=cfg.fmax, steps=cfg.steps)
        else:
            forces = atoms.get_forces()
            max_force = float(np.sqrt((forces**2).sum(axis=1).max()))
            converged, n_steps = max_force < cfg.fmax, 0
        if cfg.require_converged and not converged:
            raise RuntimeError(f"the relaxation did not converge within steps = {cfg.steps} (max force "
                               f"{max_force:.3g} eV/A, fmax = {cfg.fmax:g}); raise steps or fmax, or set "
                               "require_converged: false")
        if cfg.relax and not converged and max_force > FAR_FROM_EQUILIBRIUM:
            # not a slow relaxation but a structure far from any crystal (a lattice constant of 1 A): its energy
            # (-24,646 eV/atom for Ag at 1 A) is meaningless, and it became a campaign's best
            raise RuntimeError(f"the relaxation ended far from equilibrium (max force {max_force:.3g} eV/A after "
                               f"{n_steps} steps; fmax = {cfg.fmax:g}): the energy of such a structure means "
                               "nothing; check the lattice constant and cell, or raise steps")

        # properties
        energy = float(atoms.get_potential_energy())
        props: dict[str, float] = {
            "mixing_energy": energy / n - sum(xi * refs[e].energy_per_atom for xi, e in zip(x, self.elements)),
            "formation_energy": energy / n - sum(xi * ground[e].energy_per_atom for xi, e in zip(x, self.elements)),
            "total_energy": energy / n,
            "volume": float(atoms.get_volume()) / n,
        }
        notes = []
        try:
            props["bulk_modulus"], v0 = bulk_modulus(atoms, eos=cfg.eos, points=cfg.eos_points, strain=cfg.eos_strain)
        except Exception as exc:
            if self.property == "bulk_modulus":
                raise
            notes.append(f"bulk_modulus not computed: {type(exc).__name__}: {exc}")
            v0 = None
        a_eff, c_eff = effective_lattice(atoms, proto, rep)

        outputs: dict[str, Any] = {k: float(v) for k, v in props.items()}
        outputs.update({
            "property": self.property,
            "supercell_energy": energy,
            "lattice_constant": a_eff,
            "lattice_constant_start": float(a0),
            "lattice_constant_source": source,
            "n_atoms": int(n),
            "formula": atoms.get_chemical_formula(mode="metal"),
            "prototype": proto,
            "repeat": "x".join(map(str, rep)),
        })
        if c_eff is not None:
            outputs["lattice_c"] = c_eff
        if v0 is not None:
            outputs["eos_volume"] = v0
        for (element, _), count, xi, want in zip(self.composition, counts, x, asked):
            outputs[f"count_{element}"] = int(count)
            outputs[f"fraction_{element}"] = float(xi)
        outputs["composition_error"] = float(max(abs(xi - w) for xi, w in zip(x, asked)))
        outputs.update({
            "decoration": cfg.decoration_seed,
            "decoration_hash": structure_hash(atoms),
            "relaxed": bool(cfg.relax),
            "relax_cell": bool(cfg.relax and cfg.relax_cell),
            "optimizer": cfg.optimizer if cfg.relax else "none",
            "n_steps": int(n_steps),
            "max_force": float(max_force),
            "converged": bool(converged),
            "calculator": "EMT",
            "ase_version": ase.__version__,
            "reference_seconds": round(ref_seconds, 6),
        })
        if notes:
            outputs["notes"] = "; ".join(notes)

        if self.db_path is not None:
            kvp: dict[str, Any] = {k: v for k, v in props.items()}
            kvp["volume_per_atom"] = kvp.pop("volume")
            kvp.update({"converged": bool(converged), "n_steps": int(n_steps), "max_force_final": float(max_force),
                        "decoration": cfg.decoration_seed, "prototype_name": proto})
            kvp.update({f"count_{e}": int(c) for e, c in zip(self.elements, counts)})
            if experiment.campaign:
                kvp["campaign"] = _db_text(experiment.campaign)
            data = {"params": {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool))}}
            outputs["ase_db_id"] = write_structure(self.db_path, atoms, experiment_id=experiment.id,
                                                   key_value_pairs=kvp, data=data, timeout=cfg.ase_db_timeout)

        return {self.objective: props[self.property], **outputs}


__all__ = [
    "PROPERTIES",
    "EMTConfig",
    "EMTOracle",
    "bulk_modulus",
    "composition_map",
    "element_problem",
    "largest_remainder",
    "reference",
    "write_structure",
]
