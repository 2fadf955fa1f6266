"""EMT relaxations per minute: one local worker, two local workers, and a 2-worker Dask cluster.

Run: .venv/bin/python tests/benchmarks/emt_throughput.py [--n 40] [--atoms 32]

Each run sends the same N experiments (random Cu-Ag-Au compositions, a
32-atom fcc supercell decorated per experiment id, positions and cell relaxed
with EMT to fmax 0.02 eV/A, at most 200 BFGS steps) through an executor, the
way the engine does (submit all, then poll), and times them from the first
submit to the last result. The executor's start-up (spawning workers,
starting the Dask cluster) is timed separately, and every worker first does
one untimed experiment, so that the pure-element references (relaxed once per
worker process) are not part of the rate.

Prints a table and writes runs/benchmarks/emt_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from oracles.ase_emt import EMTOracle
from oracles.base import Experiment, OracleContext
from orchestrator.executors import DaskExecutor, LocalExecutor, OracleRecipe

OUT = Path("runs/benchmarks")


def compositions(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    x = rng.dirichlet(np.ones(3), size=n)
    return [{"x_Cu": float(a), "x_Ag": float(b), "x_Au": float(c)} for a, b, c in x]


def drain(ex, ids: set[str], timeout: float = 3600.0) -> dict:
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(ids) and time.monotonic() < deadline:
        got.update({r.experiment_id: r for r in ex.poll() if r.experiment_id in ids})
        time.sleep(0.01)
    return got


def measure(name: str, make, points: list[dict], workers: int) -> dict:
    t0 = time.perf_counter()
    ex = make()
    try:
        warm = [Experiment(f"warm-{i}", points[i]) for i in range(workers)]
        ex.submit(warm)
        drain(ex, {e.id for e in warm})
        startup = time.perf_counter() - t0
        batch = [Experiment(f"{name}-{i:03d}", p) for i, p in enumerate(points)]
        t1 = time.perf_counter()
        ex.submit(batch)
        results = drain(ex, {e.id for e in batch})
        wall = time.perf_counter() - t1
    finally:
        ex.close()
    ok = [r for r in results.values() if r.status == "succeeded"]
    steps = [r.outputs["n_steps"] for r in ok]
    return {"executor": name, "workers": workers, "experiments": len(points), "succeeded": len(ok),
            "startup_s": round(startup, 2), "wall_s": round(wall, 2),
            "relaxations_per_min": round(60 * len(ok) / wall, 1),
            "median_steps": statistics.median(steps) if steps else None,
            "mean_experiment_s": round(statistics.mean(r.outputs["wall_seconds"] for r in ok), 3) if ok else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="experiments per executor")
    ap.add_argument("--repeat", type=int, default=2, help="n x n x n conventional cells (2: 32 atoms)")
    args = ap.parse_args()

    config = EMTOracle.Config(elements=["Cu", "Ag", "Au"], repeat=args.repeat, relax=True, fmax=0.02, steps=200)
    ctx = OracleContext(campaign="throughput", base_dir=Path("."), objective="mixing_energy",
                        inputs=("x_Cu", "x_Ag", "x_Au"))
    recipe = OracleRecipe.of(EMTOracle, config, ctx)
    points = compositions(args.n)
    runs = [
        ("local-1", lambda: LocalExecutor(recipe, workers=1, timeout=600), 1),
        ("local-2", lambda: LocalExecutor(recipe, workers=2, timeout=600), 2),
        ("dask-2", lambda: DaskExecutor(recipe, address="local", workers=2, timeout=600), 2),
    ]
    rows = [measure(name, make, points, w) for name, make, w in runs]
    load = os.getloadavg()[0]
    print(f"EMT relaxations, {4 * args.repeat ** 3}-atom fcc Cu-Ag-Au, {args.n} experiments each, "
          f"{os.cpu_count()} cores, load average {load:.2f}")
    print(f"{'executor':<10}{'workers':>8}{'start-up s':>12}{'wall s':>9}{'relax/min':>11}{'s/exp':>8}{'steps':>7}")
    for r in rows:
        print(f"{r['executor']:<10}{r['workers']:>8}{r['startup_s']:>12.2f}{r['wall_s']:>9.2f}"
              f"{r['relaxations_per_min']:>11.1f}{r['mean_experiment_s']:>8.3f}{r['median_steps']:>7}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "emt_throughput.json").write_text(json.dumps({"load": load, "runs": rows}, indent=2))
    print(f"wrote {OUT / 'emt_throughput.json'}")


if __name__ == "__main__":
    main()
