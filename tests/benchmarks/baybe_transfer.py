"""BayBE's transfer learning on looplab's direct-arylation protocol: the same seeds, the same source rows.

What it measures
----------------
Fitzner et al. (Digital Discovery 2025) published BayBE's transfer-learning figures on direct arylation
(target 105 C, sources 90 and 120 C, batch 2, 20 experiments). looplab's README compares its own runs with
those figures, which come from other seeds and other source draws. This script runs BayBE 0.15 on
looplab's own draws, so that every BayBE run is paired with a looplab run:

- for seed s and fraction f, each source knows round(f * rows) of its rows (at least 2), drawn as
  ``looplab benchmark --transfer-fraction`` draws them: numpy ``default_rng([s, 271828])``, one
  ``choice(rows, k, replace=False)`` per source, sources in temperature order, rows in the CSV's order;
  before a run it checks that it draws the rows pinned in ``arylation_source_draws.json`` (looplab's own
  draws, which ``tests/test_transfer.py`` checks looplab still makes), and exits 2 if not;
- the known source rows are BayBE measurements of their tasks (a ``TaskParameter`` over the three
  temperatures, the target active), so BayBE's first batch already comes from its model; this is
  ``looplab benchmark --initial 0`` (and BayBE's own benchmark, which passes them as initial data);
- substances are ``SubstanceParameter``s with BayBE's RDKit 2D descriptors (its default decorrelation),
  the concentration a ``NumericalDiscreteParameter``; BayBE's default recommender and surrogate (a GP
  with a task kernel); ``torch.manual_seed(s)``;
- 10 batches of 2 from the 576 target conditions; each "experiment" is a look-up of the measured yield.

It writes the best yield so far after each experiment, per seed, to a JSON whose layout is that of
looplab's ``benchmark.json`` (``strategies[].runs[].best_so_far``), and ``compare`` pairs it with a
looplab benchmark.json seed by seed: the looplab strategies at BayBE's source fraction, the mean best yield after 10 and 20
experiments, and looplab minus BayBE with its paired standard error.

Installing BayBE (NOT a looplab dependency; keep it in its own venv)
--------------------------------------------------------------------
    python3.11 -m venv /tmp/baybe-venv && /tmp/baybe-venv/bin/pip install "baybe[chem]==0.15.*"

Command line (from the repository root; one campaign takes 0.5-3 minutes on one core, up to 7)
----------------------------------------------------------------------------------------------
    OMP_NUM_THREADS=1 /tmp/baybe-venv/bin/python tests/benchmarks/baybe_transfer.py run \\
        --fraction 0.2 --seeds 30 --out runs/baybe/b105_20.json
    .venv/bin/python tests/benchmarks/baybe_transfer.py compare runs/bench/benchmark.json runs/baybe/b105_20.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "datasets" / "direct_arylation" / "data.csv"
INPUTS = ["Base", "Ligand", "Solvent", "Concentration"]
# looplab's benchmark (orchestrator/benchmark.py, SOURCE_DRAW_KEY) draws a seed's source rows with
# default_rng([seed, 271828]); repeated here because BayBE's venv has no looplab to import it from.
# PINNED holds draws of looplab's: `run` checks its own against them (tests/test_transfer.py checks looplab's)
DRAW_KEY = 271828
PINNED = Path(__file__).with_name("arylation_source_draws.json")


def source_rows(df, sources: list[int], fraction: float, seed: int):
    """The rows of each source temperature a seed knows, drawn as looplab's benchmark draws them."""
    import pandas as pd

    rng = np.random.default_rng([seed, DRAW_KEY])
    known = []
    for t in sources:
        rows = df[df.Temp_C == t].dropna(subset=INPUTS + ["yield"]).reset_index(drop=True)
        k = min(len(rows), max(2, int(round(fraction * len(rows)))))
        known.append(rows.iloc[np.sort(rng.choice(len(rows), size=k, replace=False))])
    out = pd.concat(known)[INPUTS + ["Temp_C", "yield"]].copy()
    out["Temp_C"] = out["Temp_C"].astype(str)
    return out


def check_draws(df, target: int, sources: list[int]) -> None:
    """Exit 2 unless this script draws the source rows looplab's benchmark draws (the pinned seeds)."""
    pinned = json.loads(PINNED.read_text())
    if pinned["target"] != target or pinned["sources"] != sources:
        return  # pinned for 105 C only; other targets use the same code path
    for d in pinned["draws"]:
        rows = source_rows(df, sources, d["fraction"], d["seed"])
        got = [[round(float(v), 4) for v in rows[rows.Temp_C == str(t)]["yield"]] for t in sources]
        if got != d["yields"]:
            _fail(f"seed {d['seed']}, fraction {d['fraction']}: this script's source draw differs from "
                  f"looplab's pinned one ({PINNED.name}); make source_rows() draw as "
                  f"orchestrator.benchmark.source_draw does")


def run(args: argparse.Namespace) -> None:
    import pandas as pd
    import torch
    from baybe import Campaign
    from baybe.objectives import SingleTargetObjective
    from baybe.parameters import NumericalDiscreteParameter, SubstanceParameter, TaskParameter
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    df = pd.read_csv(args.data)
    temps = sorted(int(t) for t in df.Temp_C.unique())
    sources = [t for t in temps if t != args.target]
    check_draws(df, args.target, sources)
    params = [SubstanceParameter(name=c, data=dict(zip(df[c], df[c + "_SMILES"])), encoding="RDKIT2DDESCRIPTORS")
              for c in ("Base", "Ligand", "Solvent")]
    params.append(NumericalDiscreteParameter(name="Concentration", values=sorted(df.Concentration.unique())))
    params.append(TaskParameter(name="Temp_C", values=[str(t) for t in temps], active_values=[str(args.target)]))
    space = SearchSpace.from_product(params)
    objective = SingleTargetObjective(NumericalTarget(name="yield"))
    measured = df[df.Temp_C == args.target].set_index(INPUTS)["yield"]
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        t0 = time.time()
        torch.manual_seed(seed)
        campaign = Campaign(searchspace=space, objective=objective)
        campaign.add_measurements(source_rows(df, sources, args.fraction, seed))
        best, trace = -np.inf, []
        for _ in range(args.budget // 2):
            batch = campaign.recommend(batch_size=2).copy()
            batch["yield"] = [float(measured.loc[tuple(r[k] for k in INPUTS)]) for _, r in batch.iterrows()]
            campaign.add_measurements(batch)
            for y in batch["yield"]:
                best = max(best, y)
                trace.append(best)
        runs.append({"seed": seed, "best_so_far": trace, "seconds": time.time() - t0})
        print(f"seed {seed}: best {trace[min(10, len(trace)) - 1]:.1f} after {min(10, len(trace))}, "
              f"{trace[-1]:.1f} after {len(trace)} "
              f"({time.time() - t0:.0f} s)", flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"strategies": [{"name": f"baybe {args.fraction}",
                                                              "transfer_fraction": args.fraction, "runs": runs}]}))


def _fraction(strategy: dict) -> float | None:
    """A strategy's source fraction: its ``transfer_fraction`` (looplab, and this script's runs), or, for runs
    written before this script stored it, the last word of its name ("baybe 0.2")."""
    if strategy.get("transfer_fraction") is not None or strategy["name"].split()[0] != "baybe":
        return strategy.get("transfer_fraction")
    return float(strategy["name"].split()[-1])


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def compare(args: argparse.Namespace) -> None:
    """Each looplab strategy at BayBE's source fraction against BayBE's runs, on the seeds both have, after 10
    experiments and after the last experiment both runs reached."""
    def strategies(path: str) -> list[dict]:
        try:
            return json.loads(Path(path).read_text())["strategies"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _fail(f"{path}: not a benchmark JSON with 'strategies' ({exc})")

    baybe = strategies(args.baybe)[0]
    fraction = _fraction(baybe)
    theirs = {r["seed"]: r["best_so_far"] for r in baybe["runs"]}
    paired = [s for s in strategies(args.looplab) if s.get("transfer_fraction") == fraction]
    if not paired:
        _fail(f"{args.looplab} has no strategy at BayBE's source fraction {fraction}: run looplab benchmark "
              f"with --transfer-fraction {fraction}")
    for strategy in paired:
        by_seed = {r["seed"]: r["best_so_far"] for r in strategy["runs"]}
        seeds = sorted(set(by_seed) & set(theirs))
        if len(seeds) < 2:
            print(f"{strategy['name']:<40} {len(seeds)} seed(s) in common: nothing to pair")
            continue
        last = min(min(len(by_seed[s]), len(theirs[s])) for s in seeds)
        cells = []
        for k in sorted({min(10, last), last}):
            a = np.array([by_seed[s][k - 1] for s in seeds])
            b = np.array([theirs[s][k - 1] for s in seeds])
            d = a - b
            cells.append(f"@{k}: {a.mean():5.1f} vs {b.mean():5.1f}, {d.mean():+5.2f} ± {d.std(ddof=1) / np.sqrt(len(d)):.2f}"
                         f" (ahead on {int(np.sum(d > 0))}, behind on {int(np.sum(d < 0))})")
        print(f"{strategy['name']:<40} {len(seeds)} seeds  " + "   ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run BayBE (needs baybe[chem] installed)")
    r.add_argument("--data", default=str(DATA))
    r.add_argument("--target", type=int, default=105)
    r.add_argument("--fraction", type=float, required=True)
    r.add_argument("--seeds", type=int, default=30)
    r.add_argument("--first-seed", type=int, default=0)
    r.add_argument("--budget", type=int, default=20)
    r.add_argument("--out", required=True)
    c = sub.add_parser("compare", help="pair a looplab benchmark.json with BayBE's runs, seed by seed")
    c.add_argument("looplab")
    c.add_argument("baybe")
    args = ap.parse_args()
    if args.cmd == "run" and (args.budget < 2 or args.budget % 2):
        ap.error(f"--budget: {args.budget} is not a positive even number (BayBE recommends batches of 2)")
    run(args) if args.cmd == "run" else compare(args)


if __name__ == "__main__":
    main()
