#!/usr/bin/env python3
"""Generate a candidate pool of fcc Cu-Ag-Au ternary alloys with EMT mixing energies.

What it computes
----------------
For every composition (nCu, nAg, nAu) of an fcc supercell with N sites
(default: the 4-atom conventional cubic cell repeated 2x2x2, N = 32, giving
561 compositions with nCu + nAg + nAu = 32) the script

1. builds the supercell with a starting lattice constant from Vegard's law,
   a_0 = x_Cu * a_Cu + x_Ag * a_Ag + x_Au * a_Au, where a_X are the relaxed
   lattice constants of the pure elements under the same potential;
2. places the atoms on the lattice sites in a random order (a random
   "decoration").  The random generator is seeded from a fixed base seed and
   the composition itself, so every run produces exactly the same structures;
3. relaxes atomic positions *and* the cell (shape and volume) with ASE's
   Effective Medium Theory (EMT) potential;
4. reports the mixing energy per atom

       E_mix = E_total / N - sum_i x_i * E_i ,

   where E_i is the energy per atom of the relaxed pure element i.

Physical meaning
----------------
E_mix is the energy gained (negative) or paid (positive) per atom when the
pure fcc metals are mixed into this particular random arrangement, at zero
temperature and without any configurational entropy.  Negative values
indicate a tendency to mix, positive values a tendency to phase-separate.
In this pool Ag-Au is negative across the binary (down to about -0.015
eV/atom near Ag0.45Au0.55), Cu-Ag strongly positive (large size mismatch, up
to +0.046), and random Cu-Au positive too: under EMT only *ordered* Cu-Au is
favourable (L1_2 Cu3Au about -0.010, L1_0 CuAu about -0.008 eV/atom, checked
with the same settings), not a random decoration, whereas real disordered
Cu-Au mixes exothermically.  So the pool reflects EMT's view of random
alloys, not real thermodynamics.  Because each composition is represented by
a single random decoration of a small cell, the numbers carry some
configurational "noise";
that is acceptable (even desirable) for a benchmark pool for closed-loop
optimisation, where mixing_energy is the objective to be minimised.

The "lattice_constant" column is the cube root of the relaxed volume per
conventional 4-atom cell, i.e. an effective cubic lattice constant in
Angstrom (the relaxed cell may be slightly non-cubic).

Output
------
A CSV file with the header

    x_Cu,x_Ag,x_Au,lattice_constant,mixing_energy

and one row per composition.  Fractions have 6 decimals and are printed so
that the three of them sum to exactly 1.000000.

How to regenerate
-----------------
From the repository root, with ASE installed (ASE >= 3.23 for
FrechetCellFilter; older versions fall back to ExpCellFilter):

    python campaigns/data/make_alloy_pool.py

which writes campaigns/data/alloy_cuagau_emt.csv.  Options:

    --out PATH     output CSV path (default: alloy_cuagau_emt.csv next to
                   this script)
    --ncells N     supercell repetition of the conventional cell per axis
                   (default 2 -> 32 atoms, 561 compositions)
    --seed S       base seed of the site decoration (default 2026)
    --fmax F       force convergence criterion in eV/Angstrom (default 0.02)
    --steps K      maximum optimizer steps per relaxation (default 200)
    --workers W    number of worker processes (default 2)

The computation is deterministic: re-running with the same options gives an
identical file.
"""

from __future__ import annotations

import os

# Each worker process handles one small structure at a time, so threaded
# linear algebra would only oversubscribe the CPU cores.  These variables
# must be set before numpy is imported to have an effect.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.optimize import BFGS

try:  # ASE >= 3.23
    from ase.filters import FrechetCellFilter as CellFilter
except ImportError:  # older ASE releases
    try:
        from ase.filters import ExpCellFilter as CellFilter
    except ImportError:
        from ase.constraints import ExpCellFilter as CellFilter


# The three species, in the fixed order used for compositions and columns.
ELEMENTS = ("Cu", "Ag", "Au")

# Atoms in the conventional (cubic) fcc cell.
ATOMS_PER_CONVENTIONAL_CELL = 4

# Rough experimental lattice constants (Angstrom), used only as the starting
# point of the pure-element relaxations; the EMT values are computed.
EXPERIMENTAL_LATTICE_CONSTANTS = {"Cu": 3.61, "Ag": 4.09, "Au": 4.08}

DEFAULT_OUT = Path(__file__).resolve().parent / "alloy_cuagau_emt.csv"
CSV_HEADER = ["x_Cu", "x_Ag", "x_Au", "lattice_constant", "mixing_energy"]


# ---------------------------------------------------------------------------
# Relaxation helpers
# ---------------------------------------------------------------------------

def relax(atoms, fmax: float, steps: int) -> tuple[bool, int]:
    """Relax positions and cell of ``atoms`` in place with EMT.

    Returns ``(converged, n_steps)``.  The optimizer log is silenced.
    """
    atoms.calc = EMT()
    cell_filter = CellFilter(atoms)
    optimizer = BFGS(cell_filter, logfile=None)
    optimizer.run(fmax=fmax, steps=steps)
    # Re-check convergence explicitly on the final state rather than relying
    # on the return value of run(), whose meaning changed across versions.
    max_force = np.sqrt((cell_filter.get_forces() ** 2).sum(axis=1).max())
    return bool(max_force < fmax), int(optimizer.nsteps)


def effective_lattice_constant(atoms) -> float:
    """Cube root of the volume per conventional 4-atom cell (Angstrom)."""
    n_conventional_cells = len(atoms) / ATOMS_PER_CONVENTIONAL_CELL
    return float((atoms.get_volume() / n_conventional_cells) ** (1.0 / 3.0))


def relax_pure_elements(fmax: float, steps: int) -> dict[str, dict[str, float]]:
    """Relax each pure fcc element; return its lattice constant and E/atom."""
    references = {}
    for element in ELEMENTS:
        atoms = bulk(element, "fcc",
                     a=EXPERIMENTAL_LATTICE_CONSTANTS[element], cubic=True)
        converged, _ = relax(atoms, fmax=fmax, steps=steps)
        if not converged:
            print(f"warning: pure {element} relaxation did not converge",
                  file=sys.stderr)
        references[element] = {
            "a": effective_lattice_constant(atoms),
            "energy_per_atom": atoms.get_potential_energy() / len(atoms),
        }
    return references


# ---------------------------------------------------------------------------
# Composition grid and per-composition calculation
# ---------------------------------------------------------------------------

def composition_grid(n_sites: int) -> list[tuple[int, int, int]]:
    """All (nCu, nAg, nAu) with non-negative counts summing to ``n_sites``."""
    return [
        (n_cu, n_ag, n_sites - n_cu - n_ag)
        for n_cu in range(n_sites + 1)
        for n_ag in range(n_sites - n_cu + 1)
    ]


def decorated_supercell(counts: tuple[int, int, int], a_start: float,
                        ncells: int, base_seed: int):
    """Build the fcc supercell and randomly place the species on its sites.

    The generator is seeded from the base seed *and* the composition, so the
    decoration of a composition does not depend on the order in which the
    compositions are processed or on the number of worker processes.
    """
    # The element given to bulk() is a placeholder; all symbols are replaced.
    atoms = bulk("Cu", "fcc", a=a_start, cubic=True).repeat((ncells,) * 3)
    species = [element
               for element, count in zip(ELEMENTS, counts)
               for _ in range(count)]
    assert len(species) == len(atoms)
    rng = np.random.default_rng(np.random.SeedSequence([base_seed, *counts]))
    atoms.set_chemical_symbols(list(rng.permutation(species)))
    return atoms


def compute_composition(task: tuple) -> dict:
    """Worker: relax one composition and return its row data.

    ``task`` is ``(counts, references, ncells, base_seed, fmax, steps)``.
    """
    counts, references, ncells, base_seed, fmax, steps = task
    n_sites = sum(counts)
    fractions = [count / n_sites for count in counts]

    # Vegard's law: composition-weighted average of pure lattice constants.
    a_vegard = sum(x * references[element]["a"]
                   for x, element in zip(fractions, ELEMENTS))

    atoms = decorated_supercell(counts, a_vegard, ncells, base_seed)
    converged, n_steps = relax(atoms, fmax=fmax, steps=steps)

    energy_per_atom = atoms.get_potential_energy() / n_sites
    reference_energy = sum(x * references[element]["energy_per_atom"]
                           for x, element in zip(fractions, ELEMENTS))
    return {
        "counts": counts,
        "lattice_constant": effective_lattice_constant(atoms),
        "mixing_energy": energy_per_atom - reference_energy,
        "converged": converged,
        "n_steps": n_steps,
    }


def format_row(result: dict) -> list[str]:
    """Format one result as CSV fields (fractions sum to exactly 1)."""
    n_cu, n_ag, n_au = result["counts"]
    n_sites = n_cu + n_ag + n_au
    x_cu = round(n_cu / n_sites, 6)
    x_ag = round(n_ag / n_sites, 6)
    # Derive x_Au from the rounded values so the printed triple sums to 1.
    x_au = round(1.0 - x_cu - x_ag, 6)
    # Round-off can leave pure elements at e.g. -1e-15 eV, which would print
    # as "-0.000000"; adding 0.0 to the rounded value turns -0.0 into 0.0.
    mixing_energy = round(result["mixing_energy"], 6) + 0.0
    return [
        f"{x_cu:.6f}",
        f"{x_ag:.6f}",
        f"{x_au:.6f}",
        f"{result['lattice_constant']:.5f}",
        f"{mixing_energy:.6f}",
    ]


# ---------------------------------------------------------------------------
# Main program
# ---------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compute EMT mixing energies of random fcc Cu-Ag-Au "
                    "alloys on a full composition grid and write a CSV pool.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output CSV path (default: %(default)s)")
    parser.add_argument("--ncells", type=int, default=2,
                        help="repetitions of the 4-atom conventional cell per "
                             "axis (default: %(default)s -> 32 atoms)")
    parser.add_argument("--seed", type=int, default=2026,
                        help="base seed for the site decoration "
                             "(default: %(default)s)")
    parser.add_argument("--fmax", type=float, default=0.02,
                        help="force convergence criterion in eV/Angstrom "
                             "(default: %(default)s)")
    parser.add_argument("--steps", type=int, default=200,
                        help="maximum optimizer steps per relaxation "
                             "(default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2,
                        help="number of worker processes "
                             "(default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()

    # 1. Pure-element references (computed once, shared with all workers).
    references = relax_pure_elements(fmax=args.fmax, steps=args.steps)
    for element in ELEMENTS:
        ref = references[element]
        print(f"{element}: a = {ref['a']:.5f} A, "
              f"E = {ref['energy_per_atom']:.6f} eV/atom", file=sys.stderr)

    # 2. One task per composition.
    n_sites = ATOMS_PER_CONVENTIONAL_CELL * args.ncells ** 3
    compositions = composition_grid(n_sites)
    tasks = [(counts, references, args.ncells, args.seed, args.fmax, args.steps)
             for counts in compositions]
    print(f"{len(tasks)} compositions, {n_sites} atoms each, "
          f"{args.workers} workers", file=sys.stderr)

    # 3. Relax in parallel.  Results arrive out of order; they are keyed by
    #    composition and written in grid order afterwards.
    results = {}
    with multiprocessing.Pool(processes=args.workers) as pool:
        for done, result in enumerate(
                pool.imap_unordered(compute_composition, tasks, chunksize=1),
                start=1):
            results[result["counts"]] = result
            if done % 10 == 0 or done == len(tasks):
                elapsed = time.perf_counter() - start
                print(f"\r  {done}/{len(tasks)} done, {elapsed:.0f} s elapsed",
                      end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    # 4. Write the CSV in grid order.
    ordered = [results[counts] for counts in compositions]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for result in ordered:
            writer.writerow(format_row(result))

    # 5. Summary.
    wall_time = time.perf_counter() - start
    unconverged = [r for r in ordered if not r["converged"]]
    print(f"wrote {len(ordered)} rows to {args.out}")
    print(f"wall time: {wall_time:.1f} s")
    print(f"relaxations not converged within {args.steps} steps "
          f"(fmax={args.fmax}): {len(unconverged)}")
    print(f"optimizer steps: median {np.median([r['n_steps'] for r in ordered]):.0f}, "
          f"max {max(r['n_steps'] for r in ordered)}")
    print("5 lowest mixing energies (eV/atom):")
    print("  " + ",".join(CSV_HEADER))
    for result in sorted(ordered, key=lambda r: r["mixing_energy"])[:5]:
        print("  " + ",".join(format_row(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
